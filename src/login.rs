//! The login flow, free of PAM: user → IDs → push → tell the terminal → poll → decide,
//! with the message cancelled on every exit that leaves it open. The PAM hook and
//! `passbyme login` both call [`run`]; a [`Ui`] carries everything host-specific.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::client::{sanitize, Error as ClientError, Message, Session, SessionInfo, Status};
use crate::config::{self, Config, Local, Prompt, Unmapped, Unreachable};
use crate::limiter::{self, Begin, Finish, Origin, Store, Ticket, Wait};
use crate::log::Level;

/// How long a cancel may take after the login has ended.
pub const CANCEL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long ending a login may wait for the user's limiter lock (it stops at once on a
/// signal too). Failing only loses this login's counts.
pub const FINISH_LOCK_WAIT: Duration = Duration::from_secs(2);
/// Consecutive failed polls after which the wait is given up.
pub const MAX_POLL_ERRORS: u32 = 3;

/// Who is logging in, and from where. Every field is untrusted.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The Unix user (PAM_USER).
    pub user: String,
    /// The PAM service (sshd, sudo, …).
    pub service: String,
    /// The remote host (PAM_RHOST), if any.
    pub rhost: Option<String>,
    /// The terminal (PAM_TTY), if any.
    pub tty: Option<String>,
}

/// What the login flow needs from its host: the conversation, interruption, logging.
pub trait Ui {
    /// Shows a line to the person (PAM_TEXT_INFO).
    fn info(&mut self, text: &str) -> Result<(), String>;
    /// Asks the person and waits for the answer (PAM_PROMPT_ECHO_ON). If a signal ends
    /// the process while the host waits for the answer, call `abandon` first: it cancels
    /// the push and returns the decision line to log.
    fn prompt(
        &mut self,
        text: &str,
        abandon: &(dyn Fn(i32) -> String + Sync),
    ) -> Result<String, String>;
    /// A signal asked to abandon the login.
    fn interrupted(&mut self) -> Option<i32> {
        None
    }
    /// The status changed (for live progress in `passbyme login`).
    fn progress(&mut self, _status: &Status) {}
    /// Writes one log line.
    fn log(&mut self, level: Level, line: &str);
}

/// How a login ended. Exactly one variant lets the user in without the administrator's
/// explicit fail-open choice: [`Outcome::Approved`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `APPROVED` for this user's ID, for the message this login sent, before the deadline.
    Approved,
    /// A final status other than APPROVED (DENIED, NO_DEVICE, CANCELLED, …).
    Refused(String),
    /// No answer before the deadline (or the message expired); the message was cancelled.
    TimedOut,
    /// A signal abandoned the login; the message was cancelled.
    Interrupted(i32),
    /// The user has no `[users]` entry; the policy decides the PAM code.
    Unmapped(Unmapped),
    /// The user database (NSS) does not know the name: treated as unmapped. Such a name is
    /// often a password typed in the wrong place, so it is logged only in a form that does
    /// not reveal it (length and a short hash), in full only with `debug`.
    UnknownUser(Unmapped),
    /// The module steps aside (exempt group, not in `only_groups`, local login ignored).
    Skipped(String),
    /// A local login (no remote host) refused by policy.
    LocalDenied,
    /// The service could not be reached before a message existed, and the policy is to
    /// let the user in. Logged as a warning.
    FailOpen(String),
    /// The service could not be reached before a message existed; denied.
    Unreachable(String),
    /// The conversation with the person failed.
    ConversationFailed(String),
    /// Approved earlier from the same remote host and service, within the grace period
    /// the administrator configured: no push.
    Grace,
    /// Refused by the push-fatigue limits (rate, lockout, a push already pending), with
    /// no push sent.
    Limited(String),
    /// The configuration or the credentials it names are unusable.
    Config(String),
    /// Anything else (a refused request, a malformed answer).
    Error(String),
}

impl Outcome {
    /// The `decision=` word of the log line.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Refused(_) => "refused",
            Outcome::TimedOut => "timeout",
            Outcome::Interrupted(_) => "interrupted",
            Outcome::Unmapped(_) | Outcome::UnknownUser(_) => "unmapped",
            Outcome::Skipped(_) => "skipped",
            Outcome::LocalDenied => "local-denied",
            Outcome::FailOpen(_) => "fail-open",
            Outcome::Unreachable(_) => "unreachable",
            Outcome::ConversationFailed(_) => "conversation-failed",
            Outcome::Grace => "grace",
            Outcome::Limited(_) => "limited",
            Outcome::Config(_) | Outcome::Error(_) => "error",
        }
    }

    /// A decision that asking again in the same PAM transaction would only repeat with a
    /// new push: the phone's answer (or its silence) and the limits. The hook keeps these
    /// on the handle; transient failures (errors, an unreachable service, a signal, a
    /// failed conversation) are not kept, so a retry in the same transaction may succeed.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Outcome::Approved
                | Outcome::Refused(_)
                | Outcome::TimedOut
                | Outcome::Limited(_)
                | Outcome::Grace
        )
    }

    /// Lets the user in (approval, or the explicit fail-open policy).
    pub fn allows(&self) -> bool {
        matches!(
            self,
            Outcome::Approved | Outcome::FailOpen(_) | Outcome::Grace
        )
    }
}

/// The end of a login: the outcome, and what the log line needs.
#[derive(Debug, Clone)]
pub struct Report {
    /// How it ended.
    pub outcome: Outcome,
    /// The PassBy\[ME\] IDs the user maps to.
    pub ids: Vec<String>,
    /// The message sent, if any.
    pub message_id: Option<String>,
    /// The verification code shown, if any.
    pub code: Option<String>,
    /// From start to decision.
    pub duration: Duration,
    /// What happened to the message at the end: `none`, `final`, `cancelled`, or the error.
    pub settled: String,
    /// The name as the login gave it, when the user database knows it by another spelling
    /// (the request then carries the canonical name).
    pub typed: Option<String>,
}

/// Runs one login and writes its one decision line to the log.
pub fn run(config: &Config, req: &Request, ui: &mut dyn Ui) -> Report {
    let start = Instant::now();
    let mut report = Report {
        outcome: Outcome::Error("not started".into()),
        ids: Vec::new(),
        message_id: None,
        code: None,
        duration: Duration::ZERO,
        settled: "none".into(),
        typed: None,
    };
    let mut pending = Pending::default();
    // Map the name the user database knows, not the spelling typed: with a source that
    // accepts other spellings (SSSD's AD provider is case-insensitive by default), `ALICE`
    // must not escape `alice`'s second factor.
    let canonical;
    let req = match crate::os::lookup_user(&req.user) {
        Ok(Some(account)) => {
            if account.name != req.user {
                report.typed = Some(req.user.clone());
            }
            canonical = Request {
                user: account.name,
                ..req.clone()
            };
            report.outcome = flow(config, &canonical, ui, start, &mut report, &mut pending);
            &canonical
        }
        Ok(None) => {
            ui.log(
                Level::Debug,
                &format!(
                    "user name unknown to the user database: '{}'",
                    sanitize::clean(&req.user, 64)
                ),
            );
            report.outcome = Outcome::UnknownUser(config.policy.unmapped);
            req
        }
        Err(e) => {
            report.outcome = Outcome::Error(format!("user lookup: {e}"));
            req
        }
    };
    let mut interrupted = || ui.interrupted();
    report.settled = pending.settle(Some(&report.outcome), Some(&mut interrupted));
    report.duration = start.elapsed();
    let level = match &report.outcome {
        Outcome::Approved | Outcome::Skipped(_) | Outcome::Grace => Level::Info,
        Outcome::FailOpen(_) => Level::Warning,
        Outcome::Config(_) => Level::Alert,
        Outcome::Error(_) | Outcome::Unreachable(_) => Level::Err,
        _ => Level::Notice,
    };
    ui.log(level, &decision_line(req, &report));
    report
}

fn flow(
    config: &Config,
    req: &Request,
    ui: &mut dyn Ui,
    start: Instant,
    report: &mut Report,
    pending: &mut Pending,
) -> Outcome {
    let Some(ids) = config.users.get(&req.user) else {
        return Outcome::Unmapped(config.policy.unmapped);
    };
    report.ids = ids.clone();
    let policy = &config.policy;
    if !policy.only_groups.is_empty() || !policy.exempt_groups.is_empty() {
        let groups = match crate::os::user_groups(&req.user) {
            Ok(g) => g,
            Err(e) => return Outcome::Error(format!("group lookup: {e}")),
        };
        if let Some(g) = groups.iter().find(|g| policy.exempt_groups.contains(g)) {
            return Outcome::Skipped(format!("member of exempt group {g}"));
        }
        if !policy.only_groups.is_empty() && !groups.iter().any(|g| policy.only_groups.contains(g))
        {
            return Outcome::Skipped("not in only_groups".into());
        }
    }
    if req.rhost.as_deref().is_none_or(str::is_empty) {
        match policy.local {
            Local::Push => {}
            Local::Deny => return Outcome::LocalDenied,
            Local::Ignore => return Outcome::Skipped("local login (policy.local = ignore)".into()),
        }
    }
    let mut cancel_first = None;
    if let Some(limits) = &config.limits {
        let store = match Store::open(limits) {
            Ok(s) => s,
            Err(e) => return Outcome::Config(e),
        };
        let origin = Origin {
            rhost: req.rhost.as_deref(),
            tty: req.tty.as_deref(),
            service: &req.service,
        };
        // The user's own lock, waited for until the login's deadline or a signal.
        let mut interrupted = || ui.interrupted();
        let mut wait = Wait {
            deadline: start + config.login.timeout,
            interrupted: Some(&mut interrupted),
        };
        match store.begin(&req.user, &origin, config.login.timeout, &mut wait) {
            Ok(Begin::Push { ticket, cancel }) => {
                cancel_first = cancel;
                pending.limiter = Some(Claim { store, ticket });
            }
            Ok(Begin::Grace) => return Outcome::Grace,
            Ok(Begin::Refused(why)) => return Outcome::Limited(why),
            Err(limiter::Error::Interrupted(sig)) => return Outcome::Interrupted(sig),
            Err(e) => return Outcome::Limited(e.to_string()),
        }
    }
    let client = match crate::connect::connect(config) {
        Ok(c) => c,
        Err(e) => return Outcome::Config(e.to_string()),
    };
    if let Some(id) = cancel_first {
        // The push of a login that crashed, or that this one replaces (policy).
        let r = client
            .with_deadline(Some(Instant::now() + CANCEL_TIMEOUT))
            .cancel(&id);
        ui.log(
            Level::Info,
            &format!(
                "limits: cancelled earlier message {id}: {}",
                r.map_or_else(|e| e.to_string(), |_| "ok".into())
            ),
        );
    }
    let deadline = start + config.login.timeout;
    let client = client.with_deadline(Some(deadline));

    let Some(n) = crate::os::random_below(90) else {
        return Outcome::Error("no randomness for the verification code".into());
    };
    let code = (n + 10).to_string();
    report.code = Some(code.clone());
    let message = match compose(config, req, ids, &code) {
        Ok(m) => m,
        Err(e) => return Outcome::Error(e),
    };
    let allow = policy.unreachable == Unreachable::Allow;
    let (session, mismatch) = match client.send(&message) {
        Ok(s) => (s, None),
        // Fail-open applies to exactly one failure: no TCP connection to the service could
        // be made (see `client::Error::Unreachable`), before any message exists.
        Err(e @ ClientError::Unreachable(_)) if allow => return Outcome::FailOpen(e.to_string()),
        Err(e @ ClientError::Unreachable(_)) => return Outcome::Unreachable(e.to_string()),
        // A message exists but the answer does not match what was sent: refuse, and keep
        // the message so that it is cancelled like any other.
        Err(ClientError::Mismatch { message_id, reason }) => match client.session(&message_id) {
            Ok(s) => (s, Some(reason)),
            Err(e) => return Outcome::Error(format!("send: malformed response: {reason} ({e})")),
        },
        Err(e @ (ClientError::Api { .. } | ClientError::MalformedResponse(_))) => {
            return Outcome::Error(format!("send: {e}"))
        }
        // Everything else denies as "unavailable"; under `allow`, say why it did not open.
        Err(e) if allow => {
            let why = match &e {
                ClientError::Status { .. } => "the service answered",
                _ if client.has_connected() => "a TCP connection had been made",
                ClientError::Timeout(_) => "the login's own time ran out",
                _ => "not a failure to connect",
            };
            return Outcome::Unreachable(format!("{e} (no fail-open: {why})"));
        }
        Err(e) => return Outcome::Unreachable(e.to_string()),
    };
    // First thing once the POST is answered: hold the session (every exit now cancels it)
    // and record its id with the limiter, so that a crash from here on leaves a push the
    // next login of this user cancels. Logging comes after.
    let recorded = pending.limiter.as_ref().map(|c| {
        let mut interrupted = || ui.interrupted();
        c.store.sent(
            &c.ticket,
            session.message_id(),
            &mut Wait {
                deadline,
                interrupted: Some(&mut interrupted),
            },
        )
    });
    report.message_id = Some(session.message_id().to_owned());
    pending.session = Some((session, ids.clone()));
    if let Some(Err(e)) = recorded {
        ui.log(
            Level::Warning,
            &format!("limits: message id not recorded: {e}"),
        );
    }
    if let Some(id) = &report.message_id {
        ui.log(
            Level::Debug,
            &format!(
                "sent message={id} user={} code={code}",
                sanitize::clean(&req.user, 64)
            ),
        );
    }
    if let Some(reason) = mismatch {
        // Its statuses are not trusted (the session lists none): `Pending` cancels it.
        return Outcome::Error(format!("send: malformed response: {reason}"));
    }
    let Some((session, _)) = pending.session.as_mut() else {
        return Outcome::Error("internal: lost the session".into());
    };
    if let Some(decided) = decide(session.info(), ids) {
        return decided;
    }

    let hint = format!("PassBy[ME]: approve this login on your phone. Verification code: {code}");
    match config.login.prompt {
        Prompt::None => {}
        Prompt::Info => {
            if let Err(e) = ui.info(&hint) {
                return Outcome::ConversationFailed(e);
            }
        }
        Prompt::Enter => {
            // sshd shows a prompt at once, and a plain message only with the next prompt.
            let text = format!("{hint}\nPress Enter once you have approved: ");
            let open = session.clone();
            let seen = report.clone();
            let abandon = move |sig: i32| {
                let mut s = open.clone();
                s.set_client(
                    s.client()
                        .with_deadline(Some(Instant::now() + CANCEL_TIMEOUT)),
                );
                let settled = match s.cancel() {
                    Ok(()) => "cancelled".into(),
                    Err(e) => format!("cancel-failed:\"{}\"", sanitize::clean(&e.to_string(), 120)),
                };
                let r = Report {
                    outcome: Outcome::Interrupted(sig),
                    duration: start.elapsed(),
                    settled,
                    ..seen.clone()
                };
                decision_line(req, &r)
            };
            if let Err(e) = ui.prompt(&text, &abandon) {
                return Outcome::ConversationFailed(e);
            }
        }
    }
    wait(config, session, ids, ui, start, deadline)
}

/// When the login polls the service: every `fast` interval while an answer can come, slower
/// before that and during long waits. The model and the measurements behind the defaults are
/// in BENCHMARKS.md ("Approval latency").
///
/// The protocol has no push towards the client, so an approval is seen at the next poll:
/// approval → decision is uniform in [0, interval] while polling every `interval`. Holding
/// p50 ≤ 100 ms and p99 ≤ 200 ms therefore needs polls ≤ ~190 ms apart whenever an answer can
/// arrive, and an answer can arrive well before the phone's SEEN is polled (a person with the
/// phone in hand answers within a second of SEEN). So: poll every `before` only during the
/// first `fast_after` after the push, when nobody can have answered yet (or until SEEN shows,
/// if sooner); then every `fast`; and once the wait exceeds `slow_after` (the person is not at
/// the phone), let the interval grow in proportion to the wait, up to `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Interval while no answer can come yet; also the cap of the slow-down (`poll_interval`).
    pub before: Duration,
    /// Interval while an answer can come (`poll_interval_seen`).
    pub fast: Duration,
    /// Time after the push when fast polling starts at the latest (`poll_fast_after`).
    pub fast_after: Duration,
    /// Time after the push when the fast interval starts to grow (`poll_slow_after`).
    pub slow_after: Duration,
}

impl Schedule {
    /// The schedule of the `[login]` settings.
    pub fn of(login: &config::Login) -> Schedule {
        Schedule {
            before: login.poll_interval,
            fast: login.poll_interval_seen,
            fast_after: login.poll_fast_after,
            slow_after: login.poll_slow_after,
        }
    }

    /// How long to wait before the next poll, `elapsed` after the push, when the last
    /// status polled was SEEN (`seen`) or not.
    pub fn interval(&self, elapsed: Duration, seen: bool) -> Duration {
        if !seen && elapsed < self.fast_after {
            // Poll at `fast_after` itself rather than up to `before` past it.
            return self.before.min(self.fast_after - elapsed);
        }
        if elapsed <= self.slow_after {
            return self.fast;
        }
        // fast × elapsed / slow_after, in integers (no float can panic or round here).
        let grown = self.fast.as_nanos().saturating_mul(elapsed.as_nanos())
            / self.slow_after.as_nanos().max(1);
        let cap = self.before.max(self.fast).as_nanos();
        Duration::from_nanos(u64::try_from(grown.min(cap)).unwrap_or(u64::MAX))
    }
}

/// Polls until a decision, the deadline or a signal. `pushed` is when the login started
/// (a few milliseconds before the push): the schedule counts from it.
fn wait(
    config: &Config,
    session: &mut Session,
    ids: &[String],
    ui: &mut dyn Ui,
    pushed: Instant,
    deadline: Instant,
) -> Outcome {
    let mut errors = 0;
    let mut last: Option<Status> = None;
    let mut first = config.login.prompt == Prompt::Enter;
    let schedule = Schedule::of(&config.login);
    // Polls are timed from the start of the previous one (or the push), not from its end,
    // so the round trips do not stretch the interval.
    let mut previous = pushed;
    loop {
        let seen = ids
            .iter()
            .any(|id| session.info().status_of(id) == Some(&Status::Seen));
        let at = if first {
            // After a prompt the user may already have approved: look at once.
            Instant::now()
        } else {
            let wait = schedule.interval(previous.saturating_duration_since(pushed), seen);
            previous.checked_add(wait).unwrap_or(deadline)
        };
        first = false;
        if let Some(sig) = sleep_until(at, deadline, ui) {
            return Outcome::Interrupted(sig);
        }
        if Instant::now() >= deadline {
            return Outcome::TimedOut;
        }
        previous = Instant::now();
        match session.refresh() {
            Ok(()) => errors = 0,
            Err(e) => {
                errors += 1;
                if Instant::now() >= deadline {
                    return Outcome::TimedOut;
                }
                ui.log(
                    Level::Warning,
                    &format!("poll failed ({errors}/{MAX_POLL_ERRORS}): {e}"),
                );
                if errors >= MAX_POLL_ERRORS || !retryable(&e) {
                    return Outcome::Error(format!("poll: {e}"));
                }
                continue;
            }
        }
        // An answer that arrives after the deadline does not count.
        if Instant::now() > deadline {
            return Outcome::TimedOut;
        }
        let info = session.info();
        if let Some(st) = ids.iter().find_map(|id| info.status_of(id)) {
            if last.as_ref() != Some(st) {
                ui.progress(st);
                last = Some(st.clone());
            }
        }
        if let Some(decided) = decide(info, ids) {
            return decided;
        }
        if time::OffsetDateTime::now_utc() > info.expiration_date {
            return Outcome::TimedOut;
        }
    }
}

fn retryable(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Timeout(_) | ClientError::Connection(_) | ClientError::Status { .. }
    )
}

/// Sleeps in short slices until `until` (or the deadline), watching for signals.
fn sleep_until(until: Instant, deadline: Instant, ui: &mut dyn Ui) -> Option<i32> {
    let until = until.min(deadline);
    loop {
        if let Some(sig) = ui.interrupted() {
            return Some(sig);
        }
        let now = Instant::now();
        if now >= until {
            return None;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// The decision, if the statuses of this user's IDs make one: a DENIED from any device
/// denies; an exact APPROVED from any approves; all final and none approved refuses.
/// Recipients that are not this user's are ignored.
pub fn decide(info: &SessionInfo, ids: &[String]) -> Option<Outcome> {
    // Every entry the server lists for one of our IDs counts (a hostile or buggy server
    // may list an ID twice): any DENIED denies.
    let statuses: Vec<&Status> = info
        .recipients
        .iter()
        .filter(|r| ids.contains(&r.user_id))
        .map(|r| &r.status)
        .collect();
    if statuses.contains(&&Status::Denied) {
        return Some(Outcome::Refused("DENIED".into()));
    }
    if statuses.iter().any(|s| s.is_approved()) {
        return Some(Outcome::Approved);
    }
    let every_id_final = ids.iter().all(|id| {
        let mut mine = info
            .recipients
            .iter()
            .filter(|r| &r.user_id == id)
            .peekable();
        mine.peek().is_some() && mine.all(|r| r.status.is_final())
    });
    if every_id_final {
        return statuses.first().map(|s| Outcome::Refused(s.to_string()));
    }
    None
}

fn compose(config: &Config, req: &Request, ids: &[String], code: &str) -> Result<Message, String> {
    let host = crate::os::hostname();
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let when = now.format(&fmt).unwrap_or_default();
    let value = |name: &str| {
        Some(match name {
            "user" => sanitize::clean(&req.user, 64),
            "host" => sanitize::clean(&host, 64),
            "service" => sanitize::clean(&req.service, 32),
            "rhost" => req
                .rhost
                .as_deref()
                .map_or("(local)".into(), |r| sanitize::clean(r, 64)),
            "tty" => req
                .tty
                .as_deref()
                .map_or("(none)".into(), |t| sanitize::clean(t, 32)),
            "time" => when.clone(),
            "code" => code.to_owned(),
            _ => return None,
        })
    };
    let subject = crate::template::render(&config.login.subject, value)?;
    let body = crate::template::render(&config.login.body, value)?;
    let mut m = Message::authorization(ids.to_vec(), config.login.availability);
    m.subject = Some(subject);
    m.body = Some(body);
    Ok(m)
}

/// A user name in a form that does not reveal it, for names the user database does not
/// know (often a password typed at the user prompt): its length and the first 24 bits of
/// its SHA-256, enough to tell repeated attempts apart.
pub fn redacted_user(user: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, user.as_bytes());
    let h = digest.as_ref();
    format!(
        "(unknown:len={},sha256={:02x}{:02x}{:02x})",
        user.len(),
        h[0],
        h[1],
        h[2]
    )
}

/// The one decision line: `key=value` pairs, values sanitised.
pub fn decision_line(req: &Request, r: &Report) -> String {
    let mut s = String::with_capacity(200);
    let user = match r.outcome {
        Outcome::UnknownUser(_) => redacted_user(&req.user),
        _ => sanitize::clean(&req.user, 64),
    };
    let _ = write!(
        s,
        "decision={} user={} ids={} service={} rhost={} tty={} duration={:.1}s",
        r.outcome.word(),
        user,
        if r.ids.is_empty() {
            "-".into()
        } else {
            r.ids.join(",")
        },
        sanitize::clean(&req.service, 32),
        req.rhost
            .as_deref()
            .map_or("-".into(), |h| sanitize::clean(h, 64)),
        req.tty
            .as_deref()
            .map_or("-".into(), |t| sanitize::clean(t, 32)),
        r.duration.as_secs_f64(),
    );
    let why = match &r.outcome {
        Outcome::Refused(st) => format!("status={}", sanitize::clean(st, 32)),
        Outcome::Interrupted(sig) => format!("signal={}", crate::os::signal_name(*sig)),
        Outcome::Unmapped(p) => format!("policy=unmapped:{}", format!("{p:?}").to_lowercase()),
        Outcome::UnknownUser(p) => format!(
            "policy=unmapped:{} reason=\"unknown to the user database\"",
            format!("{p:?}").to_lowercase()
        ),
        Outcome::Skipped(why) => format!("policy=\"{why}\""),
        Outcome::LocalDenied => "policy=local:deny".into(),
        Outcome::FailOpen(e) => format!(
            "policy=unreachable:allow error=\"{}\"",
            sanitize::clean(e, 200)
        ),
        Outcome::Unreachable(e) => format!(
            "policy=unreachable:deny error=\"{}\"",
            sanitize::clean(e, 200)
        ),
        Outcome::ConversationFailed(e) | Outcome::Config(e) | Outcome::Error(e) => {
            format!("error=\"{}\"", sanitize::clean(e, 300))
        }
        Outcome::Limited(why) => format!("policy=limits reason=\"{}\"", sanitize::clean(why, 200)),
        Outcome::Grace => "policy=limits:grace".into(),
        Outcome::Approved | Outcome::TimedOut => String::new(),
    };
    if !why.is_empty() {
        s.push(' ');
        s.push_str(&why);
    }
    if let Some(typed) = &r.typed {
        let _ = write!(s, " typed={}", sanitize::clean(typed, 64));
    }
    if let Some(id) = &r.message_id {
        let _ = write!(s, " message={id} settled={}", r.settled);
    }
    s
}

/// The message this login sent, until it is settled: dropping it (on any path, a panic
/// included) cancels a message that is still open, and hands the limiter its result.
/// Whether the message is final is judged by this user's IDs only: statuses the server
/// reports for other recipients prove nothing.
#[derive(Default)]
struct Pending {
    session: Option<(Session, Vec<String>)>,
    limiter: Option<Claim>,
}

/// This login's claim with the limiter: the store and its pending entry.
struct Claim {
    store: Store,
    ticket: Ticket,
}

impl Pending {
    /// Cancels the message unless every one of the user's IDs is final, and records the
    /// result with the limiter. Returns what happened to the message.
    fn settle(
        &mut self,
        outcome: Option<&Outcome>,
        interrupted: Option<&mut dyn FnMut() -> Option<i32>>,
    ) -> String {
        let settled = self.cancel_open();
        if let Some(Claim { store, ticket }) = self.limiter.take() {
            let how = match outcome {
                Some(Outcome::Approved) => Finish::Approved,
                Some(Outcome::Refused(st)) if st == "DENIED" => Finish::Denied,
                _ => Finish::Other,
            };
            // A failure here only loses one count; the pending entry goes stale by itself.
            let _ = store.finish(
                &ticket,
                how,
                &mut Wait {
                    deadline: Instant::now() + FINISH_LOCK_WAIT,
                    interrupted,
                },
            );
        }
        settled
    }

    fn cancel_open(&mut self) -> String {
        let Some((mut session, ids)) = self.session.take() else {
            return "none".into();
        };
        let info = session.info();
        if ids
            .iter()
            .all(|id| info.status_of(id).is_some_and(Status::is_final))
        {
            return "final".into();
        }
        let client = session
            .client()
            .with_deadline(Some(Instant::now() + CANCEL_TIMEOUT));
        session.set_client(client);
        match session.cancel() {
            Ok(()) => "cancelled".into(),
            Err(e) => format!("cancel-failed:\"{}\"", sanitize::clean(&e.to_string(), 120)),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.settle(None, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Recipient;

    fn info(list: &[(&str, &str)]) -> SessionInfo {
        SessionInfo {
            message_id: "m".into(),
            expiration_date: time::OffsetDateTime::UNIX_EPOCH,
            recipients: list
                .iter()
                .map(|(u, s)| Recipient {
                    user_id: (*u).into(),
                    status: Status::parse(s),
                })
                .collect(),
        }
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn defaults() -> Schedule {
        let c = Config::parse(
            std::path::Path::new("/x.toml"),
            "[service]\ncredentials = \"/x.pem\"\n[users]\n",
        )
        .unwrap();
        Schedule::of(&c.login)
    }

    #[test]
    fn the_default_schedule() {
        let s = defaults();
        assert_eq!(
            s,
            Schedule {
                before: MS(1000),
                fast: MS(180),
                fast_after: MS(800),
                slow_after: MS(15_000),
            }
        );
        let at = |ms, seen| s.interval(MS(ms), seen).as_millis();
        // Before anyone can answer: one poll, at 800 ms.
        assert_eq!(at(0, false), 800);
        assert_eq!(at(2, false), 798);
        assert_eq!(at(799, false), 1);
        // From then on every 180 ms, whatever the phone shows, until 15 s.
        for ms in [800, 801, 1000, 1275, 2000, 7000, 14_999, 15_000] {
            assert_eq!(at(ms, false), 180, "{ms} ms, not seen");
            assert_eq!(at(ms, true), 180, "{ms} ms, seen");
        }
        // SEEN before 800 ms: fast at once.
        assert_eq!(at(300, true), 180);
        // Long waits slow down in proportion: 360 ms at 30 s, 720 ms at 60 s, 1 s at most.
        assert_eq!(at(30_000, true), 360);
        assert_eq!(at(30_000, false), 360);
        assert_eq!(at(60_000, true), 720);
        assert_eq!(at(83_333, true), 999);
        assert_eq!(at(600_000, true), 1000);
    }

    #[test]
    fn the_schedule_follows_the_settings() {
        // The earlier default (1 s until SEEN, then 180 ms, no slow-down) is still expressible.
        let old = Schedule {
            fast_after: MS(600_000),
            slow_after: MS(600_000),
            ..defaults()
        };
        let at = |ms, seen| old.interval(MS(ms), seen).as_millis();
        assert_eq!(
            (at(0, false), at(1000, false), at(59_000, false)),
            (1000, 1000, 1000)
        );
        assert_eq!((at(1275, true), at(59_000, true)), (180, 180));
        // Fast from the push; the slow-down never goes below the fast interval.
        let eager = Schedule {
            before: MS(100),
            fast: MS(250),
            fast_after: Duration::ZERO,
            slow_after: MS(1000),
        };
        assert_eq!(eager.interval(Duration::ZERO, false), MS(250));
        assert_eq!(eager.interval(MS(2000), false), MS(250));
        // Extreme values neither panic nor wrap.
        let wild = Schedule {
            before: Duration::MAX,
            fast: Duration::MAX,
            fast_after: Duration::ZERO,
            slow_after: Duration::ZERO,
        };
        assert_eq!(
            wild.interval(Duration::MAX, true),
            Duration::from_nanos(u64::MAX)
        );
        // Every interval the module can be configured to use is one of the settings or
        // between them: never zero before the fast phase ends, never above the cap.
        let s = defaults();
        for ms in (0..120_000).step_by(7) {
            for seen in [false, true] {
                let i = s.interval(MS(ms), seen);
                assert!(i > Duration::ZERO && i <= s.before, "{ms} {seen}: {i:?}");
                if ms >= 800 || seen {
                    assert!(i >= s.fast, "{ms} {seen}: {i:?}");
                }
            }
        }
    }

    #[test]
    fn decisions() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let d = |l: &[(&str, &str)]| decide(&info(l), &ids);
        assert_eq!(
            d(&[("a", "APPROVED"), ("b", "SEEN")]),
            Some(Outcome::Approved)
        );
        assert_eq!(
            d(&[("a", "APPROVED"), ("b", "DENIED")]),
            Some(Outcome::Refused("DENIED".into()))
        );
        assert_eq!(
            d(&[("a", "APPROVED"), ("a", "DENIED")]),
            Some(Outcome::Refused("DENIED".into()))
        );
        assert_eq!(d(&[("a", "NO_DEVICE"), ("b", "SEEN")]), None);
        assert_eq!(
            d(&[("a", "NO_DEVICE"), ("b", "FAILED")]),
            Some(Outcome::Refused("NO_DEVICE".into()))
        );
        assert_eq!(d(&[("a", "NO_DEVICE")]), None, "b not reported: not final");
        assert_eq!(d(&[("mallory", "APPROVED")]), None);
        assert_eq!(d(&[("a", "approved"), ("b", "APPROVED ")]), None);
        assert_eq!(d(&[]), None);
    }
}
