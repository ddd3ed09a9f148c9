//! One line of the log as the module wrote it (the message, and the syslog line around
//! it), read by position; and the times of `--since`/`--until`, and how times are shown.

use pam_passbyme::client::sanitize::clean;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

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
    pub(super) const ALL: [Kind; 12] = [
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

    /// The kind of a `decision=` word (src/outcome.rs `Outcome::word`), `None` for a word the
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

    pub(super) fn column(self) -> &'static str {
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
    pub(super) fn fatigue(self) -> bool {
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

/// A time as the report shows it: RFC 3339, whole seconds.
pub fn fmt_time(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{now, OK};
    use super::*;

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
}
