//! `passbyme report`: the module's decision lines for a time window, counted per user and
//! per source (PAM_RHOST), with the approval latency and the alerts an administrator must
//! act on (push fatigue in progress, any fail-open, users audit mode would lock out).
//!
//! The lines are parsed exactly as src/log.rs writes them, and only by position: the
//! `pam_passbyme(<service>:auth): ` prefix pam_syslog puts before the message, then
//! `decision= user= ids= service= rhost= tty= duration=` in that order, then in audit mode
//! `mode=audit` and `enforce=`. Nothing is read from the fields after those (quoted error
//! texts may hold anything a server or a user typed, `decision=approved` included); they
//! are only shown, sanitised, as the reason of an audit would-deny. A line that does not
//! fit, is not UTF-8 or is longer than [`MAX_LINE`] counts as malformed and nowhere else.
//!
//! Who wrote a line: any local user can write syslog lines under any tag (`logger -t sshd
//! 'pam_passbyme(sshd:auth): decision=approved …'`). A syslog file cannot tell those from
//! the module's; the report says so. The journal can: `_UID`, `_EXE` are set by journald
//! from the sending process (the kernel's credentials and /proc), not by the sender. A
//! journal entry counts only if it comes from uid 0 (sshd's monitor, su, login and most
//! PAM hosts run as root while authenticating) or from one of [`TRUSTED_EXE`] (setuid
//! programs such as sudo keep the invoking user's real uid); every other entry in the
//! module's form is counted as untrusted and raises a warning: it is a forgery attempt
//! or a PAM application run by a user, and neither may count.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use pam_passbyme::client::sanitize::clean;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The longest line read; the module's own lines stay below 2 KiB.
pub const MAX_LINE: usize = 16 * 1024;

/// Programs whose journal entries count whatever their uid (setuid root programs that
/// run PAM with the invoking user's real uid).
pub const TRUSTED_EXE: &[&str] = &[
    "/usr/bin/sudo",
    "/usr/bin/su",
    "/bin/su",
    "/usr/bin/doas",
    "/usr/bin/login",
    "/bin/login",
    "/usr/bin/passwd",
];

/// `passbyme report` and its options.
#[derive(clap::Args)]
#[command(after_long_help = EXIT_HELP)]
pub struct Args {
    /// Read this syslog file (e.g. /var/log/auth.log; `-` for standard input) instead of
    /// the journal.
    #[arg(long, value_name = "FILE", conflicts_with = "journal_json")]
    pub file: Option<PathBuf>,
    /// Read entries saved with `journalctl -o json` from this file (`-` for standard input)
    /// instead of running journalctl.
    #[arg(long, value_name = "FILE")]
    pub journal_json: Option<PathBuf>,
    /// Start of the window: an age (`30m`, `24h`, `7d`), a date (`2026-11-02`, UTC) or a
    /// time (`2026-11-02T08:00:00Z`, `2026-11-02T10:00:00+02:00`).
    #[arg(long, value_name = "WHEN", default_value = "24h")]
    pub since: String,
    /// End of the window, in the same forms (default: now).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Push fatigue: this many denied, unanswered, abandoned or rate-limited logins of one user within
    /// --burst-window raise a CRITICAL alert.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,
    /// The window of --burst.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub burst_window: String,
    /// Print the report as one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

const EXIT_HELP: &str = "\
The first line sums up in the style of monitoring plugins (\"PASSBYME CRITICAL - ...\"),
then the alerts, then the counts per user and per source (PAM_RHOST; - for a local login):
approved, denied (a final answer other than APPROVED), timeout, limited (refused by the
push-fatigue limits, no push), fail-open, errors (error, unreachable, interrupted,
conversation-failed), other (unmapped, skipped, local-denied, grace, repeat), the audit-mode
outcomes (would-push, would-deny, would-skip, would-allow) and the approval latency (p50 and
p95 of the duration of approved logins).

Lines are trusted as far as their source allows: from the journal only entries sent by uid 0
or by sudo, su, doas, login or passwd count (journald records the sender; others are counted
as untrusted and raise a warning); a syslog file cannot prove who wrote a line (any local
user can call logger), so with --file every line in the module's form counts.

Exit status (monitoring-plugin convention):
  0  OK
  1  WARNING   users audit mode would refuse (would-deny), error decisions, entries in the
               module's form from senders the journal does not vouch for
  2  CRITICAL  push fatigue in progress (--burst refusals or unanswered pushes against one
               user within --burst-window), any fail-open
  3  UNKNOWN   the log could not be read (journalctl missing or failing, a file unreadable),
               a usage error";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Level {
    Warning,
    Critical,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }
}

/// What one decision line counts as.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    Approved,
    Denied,
    Timeout,
    /// A push the login gave up on before the phone answered: a signal (Ctrl-C,
    /// LoginGraceTime) or the client leaving.
    Abandoned,
    Limited,
    FailOpen,
    Error,
    Other,
    WouldPush,
    WouldDeny,
    WouldSkip,
    WouldAllow,
}

impl Kind {
    /// Every kind, in the order of the columns.
    const ALL: [Kind; 12] = [
        Kind::Approved,
        Kind::Denied,
        Kind::Timeout,
        Kind::Abandoned,
        Kind::Limited,
        Kind::FailOpen,
        Kind::Error,
        Kind::Other,
        Kind::WouldPush,
        Kind::WouldDeny,
        Kind::WouldSkip,
        Kind::WouldAllow,
    ];

    /// The kind of a `decision=` word (src/login.rs `Outcome::word`), `None` for a word the
    /// module never writes.
    fn of(word: &str) -> Option<Kind> {
        Some(match word {
            "approved" => Kind::Approved,
            "refused" => Kind::Denied,
            "timeout" => Kind::Timeout,
            "limited" => Kind::Limited,
            "fail-open" => Kind::FailOpen,
            "interrupted" | "client-gone" => Kind::Abandoned,
            "error" | "unreachable" | "conversation-failed" => Kind::Error,
            "unmapped" | "skipped" | "local-denied" | "grace" | "repeat" => Kind::Other,
            "would-push" => Kind::WouldPush,
            "would-deny" => Kind::WouldDeny,
            "would-skip" => Kind::WouldSkip,
            "would-allow" => Kind::WouldAllow,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            Kind::Approved => "approved",
            Kind::Denied => "denied",
            Kind::Timeout => "timeout",
            Kind::Abandoned => "abandoned",
            Kind::Limited => "limited",
            Kind::FailOpen => "fail-open",
            Kind::Error => "errors",
            Kind::Other => "other",
            Kind::WouldPush => "would-push",
            Kind::WouldDeny => "would-deny",
            Kind::WouldSkip => "would-skip",
            Kind::WouldAllow => "would-allow",
        }
    }

    /// Counts toward push fatigue: the phone said no or nothing (a login abandoned before
    /// an answer included: pushes sent and dropped are the pattern), or the limits stepped in.
    fn fatigue(self) -> bool {
        matches!(
            self,
            Kind::Denied | Kind::Timeout | Kind::Abandoned | Kind::Limited
        )
    }
}

/// One decision line, as far as the report reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub kind: Kind,
    pub word: String,
    pub user: String,
    pub service: String,
    pub rhost: String,
    pub duration: f64,
    /// In audit mode, what enforce mode would have logged (`enforce=`), if it ended
    /// before the push.
    pub enforce: Option<String>,
    /// The fields after the fixed ones, sanitised, only ever shown.
    pub rest: String,
}

/// A value of a fixed field: non-empty, no quote (quoted values come only later).
fn plain(v: &str) -> Option<&str> {
    (!v.is_empty() && !v.contains('"')).then_some(v)
}

/// Parses a message as the module writes it: `pam_passbyme(<service>:auth): decision=…`.
pub fn parse_message(msg: &str) -> Option<Decision> {
    let rest = msg.strip_prefix("pam_passbyme(")?;
    let (prefix_service, rest) = rest.split_once(":auth): ")?;
    let mut it = rest.splitn(8, ' ');
    let mut field = |key: &str| -> Option<String> {
        it.next()?
            .strip_prefix(key)?
            .strip_prefix('=')
            .and_then(plain)
            .map(str::to_owned)
    };
    let word = field("decision")?;
    let user = field("user")?;
    let _ids = field("ids")?;
    let service = field("service")?;
    let rhost = field("rhost")?;
    let _tty = field("tty")?;
    let duration = field("duration")?;
    let tail = it.next().unwrap_or("");
    let kind = Kind::of(&word)?;
    // pam_syslog's prefix and the line's own field name the same service.
    if service != prefix_service {
        return None;
    }
    let secs = duration.strip_suffix('s')?;
    let (whole, frac) = secs.split_once('.')?;
    if whole.is_empty()
        || whole.len() > 7
        || frac.len() != 1
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let duration: f64 = secs.parse().ok()?;
    let audit = word.starts_with("would-");
    let (enforce, rest) = match tail.strip_prefix("mode=audit") {
        Some(after) if audit && (after.is_empty() || after.starts_with(' ')) => {
            let after = after.trim_start_matches(' ');
            match after.strip_prefix("enforce=") {
                Some(e) => {
                    let (w, r) = e.split_once(' ').unwrap_or((e, ""));
                    Kind::of(w)?;
                    (Some(w.to_owned()), r)
                }
                None if word == "would-push" => (None, after),
                // Every other would- word says what enforce mode would have done.
                None => return None,
            }
        }
        // An audit word without mode=audit, or mode=audit after an enforce word: not ours.
        _ if audit => return None,
        Some(_) => return None,
        None => (None, tail),
    };
    Some(Decision {
        kind,
        word,
        user,
        service,
        rhost,
        duration,
        enforce,
        rest: clean(rest, 300),
    })
}

/// A syslog line: `[<PRI>]TIMESTAMP [HOST] TAG[PID]: MESSAGE`, TIMESTAMP RFC 3339 or the
/// traditional `Mmm dd HH:MM:SS` (no year, no zone: read as UTC in the year of `now`,
/// or the year before if that would lie in the future).
pub fn parse_syslog(line: &str, now: OffsetDateTime) -> Option<(OffsetDateTime, Decision)> {
    let line = match line.strip_prefix('<') {
        Some(r) => {
            let (pri, r) = r.split_once('>')?;
            if pri.is_empty() || pri.len() > 3 || !pri.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            r
        }
        None => line,
    };
    let (when, rest) = timestamp(line, now)?;
    let rest = rest.strip_prefix(' ')?;
    // The tag is the first or second word (after the host) and ends with ':'.
    let (first, after) = rest.split_once(' ')?;
    let msg = if first.ends_with(':') {
        after
    } else {
        let (tag, msg) = after.split_once(' ')?;
        if !tag.ends_with(':') {
            return None;
        }
        msg
    };
    Some((when, parse_message(msg)?))
}

fn timestamp(line: &str, now: OffsetDateTime) -> Option<(OffsetDateTime, &str)> {
    let (first, _) = line.split_once(' ')?;
    if let Ok(t) = OffsetDateTime::parse(first, &Rfc3339) {
        return Some((t, &line[first.len()..]));
    }
    let stamp = line.get(..15)?;
    let fmt = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
    );
    let at = |year: i32| {
        time::PrimitiveDateTime::parse(&format!("{stamp} {year}"), fmt)
            .ok()
            .map(|t| t.assume_utc())
    };
    let mut t = at(now.year())?;
    if t > now + time::Duration::days(1) {
        t = at(now.year() - 1)?;
    }
    Some((t, &line[15..]))
}

/// Parses `--since`/`--until`.
pub fn parse_when(v: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let v = v.trim();
    if let Some(days) = v.strip_suffix('d').and_then(|d| d.parse::<u32>().ok()) {
        return Ok(now - time::Duration::days(i64::from(days)));
    }
    if let Ok(d) = pam_passbyme::duration::parse_duration(v) {
        return Ok(now - d);
    }
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Ok(t);
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(v, date) {
        return Ok(d.midnight().assume_utc());
    }
    let local = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(t) = time::PrimitiveDateTime::parse(v, local) {
        return Ok(t.assume_utc());
    }
    Err(format!(
        "'{}' is not an age (30m, 24h, 7d), a date (2026-11-02) or a time (2026-11-02T08:00:00Z)",
        clean(v, 64)
    ))
}

/// Why a line in the module's form was not counted.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Malformed: truncated, forged out of order, not UTF-8, too long.
    pub malformed: u64,
    /// From the journal, sent by a process it does not vouch for: (uid, exe) → count.
    pub untrusted: BTreeMap<(String, String), u64>,
}

/// Everything read from the source in the window.
#[derive(Default)]
pub struct Input {
    pub decisions: Vec<(OffsetDateTime, Decision)>,
    pub rejected: Rejected,
}

/// Reads lines of at most [`MAX_LINE`] bytes (the rest of a longer line is skipped, the
/// line counted malformed if it is in the module's form), calling `f` on each valid one.
fn each_line(mut r: impl BufRead, mut f: impl FnMut(Result<&str, ()>)) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(1024);
    let mut too_long = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let (chunk, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > MAX_LINE {
            too_long = true;
        } else if !too_long {
            line.extend_from_slice(chunk);
        }
        let used = end.unwrap_or(buf.len());
        r.consume(used);
        if end.is_some() {
            emit(&line, too_long, &mut f);
            line.clear();
            too_long = false;
        }
    }
    if !line.is_empty() || too_long {
        emit(&line, too_long, &mut f);
    }
    Ok(())
}

fn emit(line: &[u8], too_long: bool, f: &mut impl FnMut(Result<&str, ()>)) {
    let ours = line.windows(13).any(|w| w == b"pam_passbyme(");
    match std::str::from_utf8(line) {
        _ if too_long => f(Err(())),
        Ok(s) => f(Ok(s)),
        Err(_) if ours => f(Err(())),
        Err(_) => {}
    }
}

/// The lines of a syslog file within `[since, until]`.
pub fn read_syslog(
    r: impl BufRead,
    since: OffsetDateTime,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> std::io::Result<Input> {
    let mut input = Input::default();
    each_line(r, |line| match line {
        Err(()) => input.rejected.malformed += 1,
        Ok(l) if !l.contains("pam_passbyme(") => {}
        Ok(l) => match parse_syslog(l, now) {
            Some((t, d)) if t >= since && t <= until => input.decisions.push((t, d)),
            Some(_) => {}
            None => input.rejected.malformed += 1,
        },
    })?;
    Ok(input)
}

/// Entries of `journalctl -o json` within `[since, until]`, counted only from senders the
/// journal vouches for (see the module doc).
pub fn read_journal(
    r: impl BufRead,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> std::io::Result<Input> {
    let mut input = Input::default();
    each_line(r, |line| {
        let Ok(line) = line else {
            input.rejected.malformed += 1;
            return;
        };
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            if line.contains("pam_passbyme(") {
                input.rejected.malformed += 1;
            }
            return;
        };
        let msg = match entry.get("MESSAGE") {
            Some(serde_json::Value::String(m)) => m,
            // A MESSAGE that is not UTF-8 comes as an array of bytes: never the module's
            // (it writes only sanitised UTF-8), malformed if it takes the module's form.
            Some(serde_json::Value::Array(bytes)) => {
                let bytes: Vec<u8> = bytes
                    .iter()
                    .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect();
                if bytes.windows(13).any(|w| w == b"pam_passbyme(") {
                    input.rejected.malformed += 1;
                }
                return;
            }
            _ => return,
        };
        if !msg.contains("pam_passbyme(") {
            return;
        }
        let field = |k: &str| entry.get(k).and_then(|v| v.as_str());
        let when = field("__REALTIME_TIMESTAMP")
            .and_then(|us| us.parse::<i128>().ok())
            .and_then(|us| OffsetDateTime::from_unix_timestamp_nanos(us * 1000).ok());
        let (Some(when), Some(d)) = (when, parse_message(msg)) else {
            input.rejected.malformed += 1;
            return;
        };
        if when < since || when > until {
            return;
        }
        let uid = field("_UID").unwrap_or("");
        let exe = field("_EXE").unwrap_or("");
        if uid == "0" || TRUSTED_EXE.contains(&exe) {
            input.decisions.push((when, d));
        } else {
            let key = (clean(uid, 16), clean(exe, 128));
            *input.rejected.untrusted.entry(key).or_default() += 1;
        }
    })?;
    Ok(input)
}

/// Counts of one row (a user, or a source).
#[derive(Default, Clone, Debug)]
pub struct Row {
    pub counts: BTreeMap<Kind, u64>,
    /// Durations of approved logins (seconds).
    pub approvals: Vec<f64>,
}

impl Row {
    fn add(&mut self, d: &Decision) {
        *self.counts.entry(d.kind).or_default() += 1;
        if d.kind == Kind::Approved {
            self.approvals.push(d.duration);
        }
    }

    fn count(&self, k: Kind) -> u64 {
        self.counts.get(&k).copied().unwrap_or(0)
    }

    /// The nearest-rank percentile `p` of the approval durations.
    pub fn latency(&self, p: u32) -> Option<f64> {
        if self.approvals.is_empty() {
            return None;
        }
        let mut v = self.approvals.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let rank = (u64::from(p) * n as u64).div_ceil(100).max(1) as usize;
        v.get(rank.min(n) - 1).copied()
    }
}

/// One alert.
#[derive(Debug, Clone)]
struct Alert {
    level: Level,
    id: &'static str,
    user: Option<String>,
    message: String,
}

/// The whole report.
pub struct Summary {
    users: BTreeMap<String, Row>,
    sources: BTreeMap<String, Row>,
    total: Row,
    alerts: Vec<Alert>,
    rejected: Rejected,
    lines: usize,
}

fn fmt_time(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

/// Counts and alerts of the decisions read.
pub fn summarize(input: Input, burst: u32, burst_window: Duration) -> Summary {
    let mut s = Summary {
        users: BTreeMap::new(),
        sources: BTreeMap::new(),
        total: Row::default(),
        alerts: Vec::new(),
        rejected: input.rejected,
        lines: input.decisions.len(),
    };
    let mut decisions = input.decisions;
    decisions.sort_by_key(|(t, _)| *t);
    let mut fatigue: BTreeMap<&str, Vec<(OffsetDateTime, &str)>> = BTreeMap::new();
    let mut fail_open: BTreeMap<&str, Vec<(OffsetDateTime, &str)>> = BTreeMap::new();
    let mut would_deny: BTreeMap<&str, (u64, String)> = BTreeMap::new();
    let mut errors: Vec<&Decision> = Vec::new();
    for (t, d) in &decisions {
        s.users.entry(d.user.clone()).or_default().add(d);
        s.sources.entry(d.rhost.clone()).or_default().add(d);
        s.total.add(d);
        if d.kind.fatigue() {
            fatigue.entry(&d.user).or_default().push((*t, &d.rhost));
        }
        match d.kind {
            Kind::FailOpen => fail_open.entry(&d.user).or_default().push((*t, &d.rhost)),
            Kind::WouldDeny => {
                let e = would_deny.entry(&d.user).or_default();
                e.0 += 1;
                if e.1.is_empty() {
                    let enforce = d.enforce.as_deref().unwrap_or("?");
                    e.1 = format!("enforce={enforce} {}", d.rest)
                        .trim_end()
                        .to_owned();
                }
            }
            Kind::Error => errors.push(d),
            _ => {}
        }
    }
    let window = time::Duration::try_from(burst_window).unwrap_or(time::Duration::MAX);
    for (user, events) in &fatigue {
        // The largest number of events within any `window`, and where it starts.
        let (mut best, mut at, mut lo) = (0usize, 0usize, 0usize);
        for hi in 0..events.len() {
            while events[hi].0 - events[lo].0 > window {
                lo += 1;
            }
            if hi + 1 - lo > best {
                best = hi + 1 - lo;
                at = lo;
            }
        }
        if best as u64 >= u64::from(burst) {
            let slice = &events[at..at + best];
            let from: BTreeSet<&str> = slice.iter().map(|(_, h)| *h).collect();
            s.alerts.push(Alert {
                level: Level::Critical,
                id: "push-fatigue",
                user: Some(user.to_string()),
                message: format!(
                    "push fatigue: {best} denied, unanswered, abandoned or rate-limited logins of {user} within {} from {} source(s) ({}), {} to {}: someone may be pushing until the person approves",
                    pam_passbyme::duration::format_duration(burst_window),
                    from.len(),
                    from.into_iter().collect::<Vec<_>>().join(", "),
                    fmt_time(slice[0].0),
                    fmt_time(slice[best - 1].0),
                ),
            });
        }
    }
    for (user, events) in &fail_open {
        let from: BTreeSet<&str> = events.iter().map(|(_, h)| *h).collect();
        s.alerts.push(Alert {
            level: Level::Critical,
            id: "fail-open",
            user: Some(user.to_string()),
            message: format!(
                "{} login(s) of {user} let in without the second factor (service unreachable, policy.unreachable = \"allow\") from {}, last at {}",
                events.len(),
                from.into_iter().collect::<Vec<_>>().join(", "),
                events.last().map_or_else(String::new, |e| fmt_time(e.0)),
            ),
        });
    }
    for (user, (n, why)) in &would_deny {
        s.alerts.push(Alert {
            level: Level::Warning,
            id: "audit-would-deny",
            user: Some(user.to_string()),
            message: format!(
                "audit: {user} would be refused in enforce mode ({n} login(s); {why})"
            ),
        });
    }
    if let Some(first) = errors.first() {
        s.alerts.push(Alert {
            level: Level::Warning,
            id: "errors",
            user: None,
            message: format!(
                "{} login(s) ended in an error (first: decision={} user={} {})",
                errors.len(),
                first.word,
                first.user,
                first.rest
            )
            .trim_end()
            .to_owned(),
        });
    }
    for ((uid, exe), n) in &s.rejected.untrusted {
        s.alerts.push(Alert {
            level: Level::Warning,
            id: "untrusted-lines",
            user: None,
            message: format!(
                "{n} journal entr(y/ies) in the module's form from a sender the journal does not vouch for (uid {}, exe {}): not counted; a forgery (logger) or a PAM application run by a user",
                if uid.is_empty() { "?" } else { uid },
                if exe.is_empty() { "?" } else { exe },
            ),
        });
    }
    s.alerts.sort_by_key(|a| std::cmp::Reverse(a.level));
    s
}

impl Summary {
    fn worst(&self) -> Option<Level> {
        self.alerts.iter().map(|a| a.level).max()
    }

    fn first_line(&self) -> String {
        match self.worst() {
            None => format!(
                "PASSBYME OK - {} decision(s): {} approved, no alert",
                self.lines,
                self.total.count(Kind::Approved)
            ),
            Some(w) => {
                let n = |l: Level| self.alerts.iter().filter(|a| a.level == l).count();
                let mut parts = Vec::new();
                for l in [Level::Critical, Level::Warning] {
                    if n(l) > 0 {
                        parts.push(format!("{} {}", n(l), l.word().to_lowercase()));
                    }
                }
                format!(
                    "PASSBYME {} - {}: {}: {}",
                    w.word(),
                    parts.join(", "),
                    self.alerts[0].id,
                    self.alerts[0].message
                )
            }
        }
    }

    fn code(&self) -> u8 {
        match self.worst() {
            None => 0,
            Some(Level::Warning) => 1,
            Some(Level::Critical) => 2,
        }
    }

    fn table(out: &mut String, title: &str, rows: &BTreeMap<String, Row>) {
        let kinds: Vec<Kind> = Kind::ALL
            .iter()
            .copied()
            .filter(|k| rows.values().any(|r| r.count(*k) > 0))
            .collect();
        let width = rows
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len());
        let _ = write!(out, "{title:<width$}");
        for k in &kinds {
            let _ = write!(out, " {:>w$}", k.column(), w = k.column().len().max(3));
        }
        let _ = writeln!(out, " {:>6} {:>6}", "p50", "p95");
        for (name, row) in rows {
            let _ = write!(out, "{name:<width$}");
            for k in &kinds {
                let _ = write!(out, " {:>w$}", row.count(*k), w = k.column().len().max(3));
            }
            let p = |q| row.latency(q).map_or("-".into(), |s| format!("{s:.1}s"));
            let _ = writeln!(out, " {:>6} {:>6}", p(50), p(95));
        }
    }

    fn text(&self, about: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.first_line());
        for a in &self.alerts {
            let tag = match a.level {
                Level::Critical => "FAIL",
                Level::Warning => "WARN",
            };
            let _ = writeln!(out, "{tag}  {}: {}", a.id, a.message);
        }
        let _ = writeln!(out, "{about}");
        let _ = writeln!(
            out,
            "{} decision line(s) counted, {} malformed, {} untrusted",
            self.lines,
            self.rejected.malformed,
            self.rejected.untrusted.values().sum::<u64>()
        );
        if !self.users.is_empty() {
            out.push('\n');
            Summary::table(&mut out, "user", &self.users);
            out.push('\n');
            Summary::table(&mut out, "source", &self.sources);
        }
        out
    }

    fn json(&self, about: &str, since: OffsetDateTime, until: OffsetDateTime) -> String {
        let row = |r: &Row| {
            let mut m = serde_json::Map::new();
            for k in Kind::ALL {
                m.insert(k.column().into(), r.count(k).into());
            }
            m.insert("latency_p50".into(), r.latency(50).into());
            m.insert("latency_p95".into(), r.latency(95).into());
            serde_json::Value::Object(m)
        };
        let rows = |rows: &BTreeMap<String, Row>, key: &str| {
            rows.iter()
                .map(|(n, r)| {
                    let mut v = row(r);
                    v[key] = n.clone().into();
                    v
                })
                .collect::<Vec<_>>()
        };
        let doc = serde_json::json!({
            "summary": self.first_line(),
            "exit": self.code(),
            "since": fmt_time(since),
            "until": fmt_time(until),
            "source": about,
            "decisions": self.lines,
            "malformed": self.rejected.malformed,
            "untrusted": self.rejected.untrusted.values().sum::<u64>(),
            "alerts": self.alerts.iter().map(|a| serde_json::json!({
                "level": a.level.word(),
                "id": a.id,
                "user": a.user,
                "message": a.message,
            })).collect::<Vec<_>>(),
            "total": row(&self.total),
            "users": rows(&self.users, "user"),
            "sources": rows(&self.sources, "source"),
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

fn open(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    Ok(Box::new(std::io::BufReader::new(std::fs::File::open(
        path,
    )?)))
}

/// Runs `passbyme report`.
pub fn run(args: Args) -> ExitCode {
    let unknown = |m: String| {
        println!("PASSBYME UNKNOWN - report: {m}");
        ExitCode::from(3)
    };
    let now = OffsetDateTime::now_utc();
    let since = match parse_when(&args.since, now) {
        Ok(t) => t,
        Err(e) => return unknown(format!("--since: {e}")),
    };
    let until = match args.until.as_deref().map(|u| parse_when(u, now)) {
        None => now,
        Some(Ok(t)) => t,
        Some(Err(e)) => return unknown(format!("--until: {e}")),
    };
    let burst_window = match pam_passbyme::duration::parse_duration(&args.burst_window) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => return unknown("--burst-window: must be above 0".into()),
        Err(e) => return unknown(format!("--burst-window: {e}")),
    };
    let (input, about) = if let Some(path) = &args.file {
        let about = format!(
            "source: {} (a syslog file: the sender of a line cannot be proven; any local user can write one in the module's form)",
            path.display()
        );
        (
            open(path).and_then(|r| read_syslog(r, since, until, now)),
            about,
        )
    } else if let Some(path) = &args.journal_json {
        let about = format!(
            "source: journal entries from {} (counted from uid 0 and {} only)",
            path.display(),
            TRUSTED_EXE.join(", ")
        );
        (
            open(path).and_then(|r| read_journal(r, since, until)),
            about,
        )
    } else {
        let about = format!(
            "source: the journal (journalctl; counted from uid 0 and {} only)",
            TRUSTED_EXE.join(", ")
        );
        (journalctl(since, until), about)
    };
    let input = match input {
        Ok(i) => i,
        Err(e) => return unknown(e.to_string()),
    };
    let s = summarize(input, args.burst, burst_window);
    let about = format!(
        "window: {} to {}; {about}",
        fmt_time(since),
        fmt_time(until)
    );
    if args.json {
        println!("{}", s.json(&about, since, until));
    } else {
        print!("{}", s.text(&about));
    }
    ExitCode::from(s.code())
}

/// `journalctl -o json` for the window, authpriv entries only (the facility is the
/// sender's word: only a filter; trust comes from `_UID`/`_EXE`).
fn journalctl(since: OffsetDateTime, until: OffsetDateTime) -> std::io::Result<Input> {
    let mut child = std::process::Command::new("journalctl")
        .args(["-o", "json", "--no-pager", "-q", "--since"])
        .arg(format!("@{}", since.unix_timestamp()))
        .arg("--until")
        .arg(format!("@{}", until.unix_timestamp()))
        .arg("SYSLOG_FACILITY=10")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("journalctl: {e}")))?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("journalctl: no output"))?;
    let input = read_journal(std::io::BufReader::new(out), since, until);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.by_ref().take(4096).read_to_string(&mut err);
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "journalctl failed ({status}): {}",
            clean(err.trim(), 300)
        )));
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-11-03T12:00:00Z", &Rfc3339).unwrap()
    }

    const OK: &str = "pam_passbyme(sshd:auth): decision=approved user=alice ids=a@x service=sshd rhost=192.0.2.1 tty=ssh duration=2.5s message=m1 settled=final";

    #[test]
    fn a_decision_line_is_read_by_position() {
        let d = parse_message(OK).unwrap();
        assert_eq!(
            (d.kind, d.user.as_str(), d.rhost.as_str(), d.duration),
            (Kind::Approved, "alice", "192.0.2.1", 2.5)
        );
        let d = parse_message("pam_passbyme(sshd:auth): decision=would-deny user=bob ids=- service=sshd rhost=- tty=ssh duration=0.0s mode=audit enforce=unmapped policy=unmapped:deny").unwrap();
        assert_eq!(d.kind, Kind::WouldDeny);
        assert_eq!(d.enforce.as_deref(), Some("unmapped"));
        assert_eq!(d.rest, "policy=unmapped:deny");
    }

    #[test]
    fn forged_and_broken_lines_never_count() {
        for bad in [
            // Fields out of order, missing, or a word the module never writes.
            "pam_passbyme(sshd:auth): user=alice decision=approved ids=a@x service=sshd rhost=x tty=ssh duration=1.0s",
            "pam_passbyme(sshd:auth): decision=approved user=alice",
            "pam_passbyme(sshd:auth): decision=approved user=alice ids=a@x service=sshd rhost=x tty=ssh duration=1.0",
            "pam_passbyme(sshd:auth): decision=allowed user=alice ids=a@x service=sshd rhost=x tty=ssh duration=1.0s",
            // The prefix and the field disagree on the service.
            "pam_passbyme(sudo:auth): decision=approved user=alice ids=a@x service=sshd rhost=x tty=ssh duration=1.0s",
            // A quoted value in a fixed field.
            "pam_passbyme(sshd:auth): decision=approved user=\"alice ids=a@x\" ids=a@x service=sshd rhost=x tty=ssh duration=1.0s",
            // Audit words without mode=audit, and mode=audit after an enforce word.
            "pam_passbyme(sshd:auth): decision=would-deny user=a ids=- service=sshd rhost=x tty=ssh duration=1.0s",
            "pam_passbyme(sshd:auth): decision=approved user=a ids=- service=sshd rhost=x tty=ssh duration=1.0s mode=audit",
            "pam_passbyme(sshd:auth): decision=would-deny user=a ids=- service=sshd rhost=x tty=ssh duration=1.0s mode=audit",
            "pam_passbyme(sshd:auth): decision=approved user=a ids=- service=sshd rhost=x tty=ssh duration=1e9s",
            "pam_passbyme(sshd:auth): decision=approved user=a ids=- service=sshd rhost=x tty=ssh duration=NaNs",
            "xpam_passbyme(sshd:auth): decision=approved user=a ids=- service=sshd rhost=x tty=ssh duration=1.0s",
        ] {
            assert_eq!(parse_message(bad), None, "{bad}");
        }
        // A forged decision inside a quoted value is only ever part of the reason.
        let d = parse_message("pam_passbyme(sshd:auth): decision=refused user=alice ids=a@x service=sshd rhost=x tty=ssh duration=1.0s error=\"x\" decision=approved user=root").unwrap();
        assert_eq!((d.kind, d.user.as_str()), (Kind::Denied, "alice"));
    }

    #[test]
    fn syslog_timestamps_both_forms() {
        let rfc = format!("2026-11-02T10:00:00.123456+01:00 host sshd[12]: {OK}");
        let (t, d) = parse_syslog(&rfc, now()).unwrap();
        assert_eq!(fmt_time(t), "2026-11-02T10:00:00+01:00");
        assert_eq!(d.user, "alice");
        let trad = format!("<86>Nov  2 10:00:00 sshd[12]: {OK}");
        assert_eq!(
            fmt_time(parse_syslog(&trad, now()).unwrap().0),
            "2026-11-02T10:00:00Z"
        );
        let trad = format!("Dec 30 10:00:00 host sshd[12]: {OK}");
        assert_eq!(
            fmt_time(parse_syslog(&trad, now()).unwrap().0),
            "2025-12-30T10:00:00Z"
        );
        assert!(parse_syslog(&format!("Nov  2 10:00:00 host sshd[12] {OK}"), now()).is_none());
    }

    #[test]
    fn huge_and_invalid_lines_are_malformed_not_fatal() {
        let mut text = Vec::new();
        text.extend_from_slice(format!("2026-11-02T10:00:00Z h sshd[1]: {OK}\n").as_bytes());
        text.extend_from_slice(b"2026-11-02T10:00:01Z h sshd[1]: pam_passbyme(sshd:auth): decision=approved user=\xff\n");
        text.extend_from_slice(b"2026-11-02T10:00:02Z h sshd[1]: pam_passbyme(sshd:auth): ");
        text.extend(std::iter::repeat_n(b'a', 3 * MAX_LINE));
        text.push(b'\n');
        text.extend_from_slice(b"2026-11-02T10:00:03Z h cron[1]: \xff\xfe not ours\n");
        text.extend_from_slice(format!("2026-11-02T10:00:04Z h sshd[1]: {OK}").as_bytes());
        let since = now() - time::Duration::days(2);
        let input = read_syslog(&text[..], since, now(), now()).unwrap();
        assert_eq!(input.decisions.len(), 2);
        assert_eq!(input.rejected.malformed, 2);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut r = Row::default();
        assert_eq!(r.latency(50), None);
        r.approvals = (1..=20).map(f64::from).collect();
        assert_eq!(r.latency(50), Some(10.0));
        assert_eq!(r.latency(95), Some(19.0));
        r.approvals = vec![3.0];
        assert_eq!((r.latency(50), r.latency(95)), (Some(3.0), Some(3.0)));
    }

    #[test]
    fn when_forms() {
        let n = now();
        assert_eq!(parse_when("7d", n).unwrap(), n - time::Duration::days(7));
        assert_eq!(
            parse_when("30m", n).unwrap(),
            n - time::Duration::minutes(30)
        );
        assert_eq!(
            fmt_time(parse_when("2026-11-02", n).unwrap()),
            "2026-11-02T00:00:00Z"
        );
        assert_eq!(
            fmt_time(parse_when("2026-11-02T08:00:00", n).unwrap()),
            "2026-11-02T08:00:00Z"
        );
        assert!(parse_when("yesterday", n)
            .unwrap_err()
            .starts_with("'yesterday' is not an age"));
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/report")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn the_journal_counts_only_senders_it_vouches_for() {
        let since = parse_when("2026-12-03", now()).unwrap();
        let until = parse_when("2026-12-04", now()).unwrap();
        let input = read_journal(&fixture("journal.json")[..], since, until).unwrap();
        let users: Vec<&str> = input
            .decisions
            .iter()
            .map(|(_, d)| d.user.as_str())
            .collect();
        assert_eq!(users, ["rp_alice", "rp_bob", "rp_carol", "rp_dave"]);
        assert_eq!(input.rejected.malformed, 1, "the non-UTF-8 message");
        let untrusted: Vec<_> = input.rejected.untrusted.iter().collect();
        assert_eq!(
            untrusted,
            [
                (&("1000".to_owned(), "/usr/bin/logger".to_owned()), &1),
                (&("1000".to_owned(), "/usr/bin/pamtester".to_owned()), &1)
            ]
        );
        let s = summarize(input, 3, Duration::from_secs(600));
        assert_eq!(s.code(), 2, "the fail-open");
        let ids: Vec<&str> = s.alerts.iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            [
                "fail-open",
                "audit-would-deny",
                "untrusted-lines",
                "untrusted-lines"
            ]
        );
        // Outside the window: nothing.
        let input = read_journal(&fixture("journal.json")[..], until, until).unwrap();
        assert!(input.decisions.is_empty());
    }

    #[test]
    fn the_syslog_fixture_reads_as_the_module_wrote_it() {
        let since = parse_when("2026-12-03", now()).unwrap();
        let until = parse_when("2026-12-04", now()).unwrap();
        let at = parse_when("2026-12-31", now()).unwrap();
        let input = read_syslog(&fixture("auth.log")[..], since, until, at).unwrap();
        let kinds: Vec<Kind> = input.decisions.iter().map(|(_, d)| d.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Approved,
                Kind::Denied,
                Kind::FailOpen,
                Kind::WouldDeny
            ]
        );
        assert_eq!(input.rejected, Rejected::default());
        assert_eq!(fmt_time(input.decisions[0].0), "2026-12-03T14:01:55Z");
    }
}
