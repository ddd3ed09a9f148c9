//! The login flow, free of PAM: user → IDs → push → tell the terminal → poll → decide,
//! with the message cancelled on every exit that leaves it open. The PAM hook and
//! `passbyme login` both call [`run`] and then [`record`], which writes the one decision line.
//!
//! Everything the flow needs from outside comes through a seam, so that every path is a
//! plain unit test: the host's facts ([`Host`]: the user database, groups, host name,
//! randomness, the clock of the message), the service and the limiter ([`Connect`] builds a
//! [`Backend`] once the login is going to push, before the limiter claims anything), and the
//! person ([`Ui`]).

use std::time::{Duration, Instant};

use crate::client::{self, Client, Error as ClientError, Message, SessionInfo, Status};
use crate::config::{self, Config, Local, MessageId, Mode, Prompt, Unmapped, WhenUnreachable};
use crate::limiter::{self, Begin, Finish, Origin, Store, Ticket, Wait};
use crate::log::{self, Level};
use crate::messages;

pub use crate::log::redacted_user;

/// How long a cancel may take after the login has ended.
pub const CANCEL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long ending a login may wait for the user's limiter lock (it stops at once on a
/// signal too). Failing only loses this login's counts.
pub const FINISH_LOCK_WAIT: Duration = Duration::from_secs(2);
/// The stack of the thread that cancels the push at the deadline while a prompt is open:
/// enough for a TLS request, whatever RUST_MIN_STACK says (under sudo it is the caller's).
const WATCHDOG_STACK: usize = 1 << 20;
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
    /// With `user=invoker` (`su`): the user to become (PAM_USER), while `user` is the one
    /// who ran the program (its real uid), whose phone gets the push.
    pub target: Option<String>,
}

/// What the login flow needs from its host: the conversation, interruption, logging.
/// Given the signal that ends the process during a prompt: cancels the push and returns
/// the decision line to log.
pub type Abandon<'a> = dyn Fn(i32) -> String + Sync + 'a;

pub trait Ui {
    /// Shows a line to the person (PAM_TEXT_INFO).
    fn info(&mut self, text: &str) -> Result<(), String>;
    /// Asks the person and waits for the answer (PAM_PROMPT_ECHO_ON). If a signal ends
    /// the process while the host waits for the answer, call `abandon` first.
    fn prompt(&mut self, text: &str, abandon: &Abandon<'_>) -> Result<String, String>;
    /// A signal asked to abandon the login.
    fn interrupted(&mut self) -> Option<i32> {
        None
    }
    /// The client the login is for has closed its connection (its address): the login is
    /// abandoned. Looked at while the module waits for the phone.
    fn client_gone(&mut self) -> Option<String> {
        None
    }
    /// The status changed (for live progress in `passbyme login`).
    fn progress(&mut self, _status: &Status) {}
    /// Writes one log line.
    fn log(&mut self, level: Level, line: &str);
}

/// The facts of the machine the login runs on. [`crate::os::System`] reads them from the
/// operating system; tests hand in canned ones.
pub trait Host {
    /// The canonical name the user database (NSS) knows `user` by; `Ok(None)` if it does
    /// not know the name, `Err` if the lookup itself failed.
    fn canonical_user(&self, user: &str) -> Result<Option<String>, String>;
    /// The names of the groups `user` belongs to.
    fn groups(&self, user: &str) -> Result<Vec<String>, String>;
    /// The GECOS field of `user` (`pw_gecos`), if any.
    fn gecos(&self, user: &str) -> Result<Option<String>, String>;
    /// This machine's name, for the message.
    fn hostname(&self) -> String;
    /// A uniformly random number below `n` from a secure source; `None` if there is none.
    fn random_below(&self, n: u32) -> Option<u32>;
    /// The time shown in the message.
    fn now(&self) -> time::OffsetDateTime;
}

/// The PassBy\[ME\] calls the flow makes, each bounded by a deadline. [`Client`] is the
/// real one; tests hand in canned answers.
pub trait Service: Sync {
    /// `POST` a message (see [`Client::send`]).
    fn send(&self, message: &Message, deadline: Instant) -> Result<SessionInfo, ClientError>;
    /// `GET` a message's state (see [`Client::track`]).
    fn track(&self, message_id: &str, deadline: Instant) -> Result<SessionInfo, ClientError>;
    /// `DELETE` a message (see [`Client::cancel`]).
    fn cancel(&self, message_id: &str, deadline: Instant) -> Result<SessionInfo, ClientError>;
    /// True once a TCP connection to the service was made (see [`Client::has_connected`]).
    fn has_connected(&self) -> bool;
}

impl Service for Client {
    fn send(&self, message: &Message, deadline: Instant) -> Result<SessionInfo, ClientError> {
        self.with_deadline(Some(deadline))
            .send(message)
            .map(|s| s.info().clone())
    }

    fn track(&self, message_id: &str, deadline: Instant) -> Result<SessionInfo, ClientError> {
        self.with_deadline(Some(deadline))
            .track(message_id)
            .map(|s| s.info().clone())
    }

    fn cancel(&self, message_id: &str, deadline: Instant) -> Result<SessionInfo, ClientError> {
        self.with_deadline(Some(deadline))
            .cancel(message_id)
            .map(|s| s.info().clone())
    }

    fn has_connected(&self) -> bool {
        Client::has_connected(self)
    }
}

/// What a login that is going to push talks to: the service, and the limiter's store when
/// `[limits]` is on.
pub struct Backend {
    /// The PassBy\[ME\] service.
    pub service: Box<dyn Service>,
    /// The push-fatigue state, if enabled.
    pub limiter: Option<Store>,
}

/// Builds the [`Backend`] from the configuration, once the login is going to push (an
/// unmapped, exempt or local login never reads the secret files). A failure is a
/// configuration error.
pub trait Connect {
    /// The service and the limiter, in that order: a credentials failure never touches
    /// the limiter.
    fn connect(&mut self, config: &Config) -> Result<Backend, String>;
}

/// The real [`Connect`]: the client from the configured credentials, then the limiter's
/// state directory.
pub struct Connector;

impl Connect for Connector {
    fn connect(&mut self, config: &Config) -> Result<Backend, String> {
        let client = crate::connect::connect(config).map_err(|e| e.to_string())?;
        let limiter = config.limits.as_ref().map(Store::open).transpose()?;
        Ok(Backend {
            service: Box::new(client),
            limiter,
        })
    }
}

/// How a login ended. Exactly one variant lets the user in without the administrator's
/// explicit fail-open choice: [`Outcome::Approved`] ([`Outcome::Grace`] and
/// [`Outcome::Repeat`] repeat an earlier approval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `APPROVED` for this user's ID, for the message this login sent, before the deadline.
    Approved,
    /// A final status other than APPROVED (DENIED, NO_DEVICE, CANCELLED, …).
    Refused(Status),
    /// No answer before the deadline (or the message expired); the message was cancelled.
    TimedOut,
    /// A signal abandoned the login; the message was cancelled.
    Interrupted(i32),
    /// The client (at this address) closed its connection while the module waited for the
    /// phone; the message was cancelled.
    ClientGone(String),
    /// The user has no `[users]` entry; the policy decides the PAM code.
    Unmapped(Unmapped),
    /// The user database (NSS) does not know the name: treated as unmapped. Such a name is
    /// often a password typed in the wrong place, so it is logged only in a form that does
    /// not reveal it (length and a short hash), in full only with `debug`.
    UnknownUser(Unmapped),
    /// The application gave an empty user name, or one that is not UTF-8 (its length in
    /// bytes; never logged as it is: it may be a password).
    BadUserName(usize),
    /// The application could not give the user name; `again` when it asked to be called
    /// again (PAM_CONV_AGAIN).
    NoUser {
        /// The application asked to be called again.
        again: bool,
        /// What went wrong.
        error: String,
    },
    /// This PAM transaction already decided for this user (no new push): the earlier outcome.
    Repeat(Box<Outcome>),
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
    Limited(limiter::Refusal),
    /// The module arguments, the configuration or the credentials it names are unusable.
    Config(String),
    /// Anything else (a refused request, a malformed answer).
    Error(String),
    /// Audit mode: what enforce mode would have done, with no push sent and no limit
    /// counted. Always PAM_IGNORE.
    Audit(Audit),
}

/// What an audit-mode login found enforce mode would have done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audit {
    /// Everything before the push passed: enforce mode would have sent one.
    Push,
    /// Enforce mode would have ended here, with this outcome and no push.
    Without(Box<Outcome>),
}

impl Audit {
    /// The `decision=` word: `would-push`, or by the PAM code enforce mode would have
    /// returned: `would-allow` (success without a push: a grace period), `would-skip`
    /// (PAM_IGNORE), `would-deny` (every failure).
    pub fn word(&self) -> &'static str {
        let Audit::Without(o) = self else {
            return "would-push";
        };
        match o.as_ref() {
            Outcome::Audit(a) => a.word(),
            Outcome::Repeat(prev) => Audit::Without(prev.clone()).word(),
            Outcome::Approved | Outcome::FailOpen(_) | Outcome::Grace => "would-allow",
            Outcome::Unmapped(Unmapped::Ignore)
            | Outcome::UnknownUser(Unmapped::Ignore)
            | Outcome::Skipped(_) => "would-skip",
            Outcome::Refused(_)
            | Outcome::TimedOut
            | Outcome::Interrupted(_)
            | Outcome::ClientGone(_)
            | Outcome::Unmapped(Unmapped::Deny)
            | Outcome::UnknownUser(Unmapped::Deny)
            | Outcome::BadUserName(_)
            | Outcome::NoUser { .. }
            | Outcome::LocalDenied
            | Outcome::Unreachable(_)
            | Outcome::ConversationFailed(_)
            | Outcome::Limited(_)
            | Outcome::Config(_)
            | Outcome::Error(_) => "would-deny",
        }
    }

    /// What enforce mode would have logged (the inner outcome), if it ended before a push.
    pub fn enforced(&self) -> Option<&Outcome> {
        match self {
            Audit::Push => None,
            Audit::Without(o) => Some(o),
        }
    }
}

impl Outcome {
    /// This outcome as audit mode reports it (unchanged if it already is one).
    pub fn audited(self) -> Outcome {
        match self {
            Outcome::Audit(_) => self,
            o => Outcome::Audit(Audit::Without(Box::new(o))),
        }
    }
}

impl Outcome {
    /// The `decision=` word of the log line.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Refused(_) => "refused",
            Outcome::TimedOut => "timeout",
            Outcome::Interrupted(_) => "interrupted",
            Outcome::ClientGone(_) => "client-gone",
            Outcome::Unmapped(_) | Outcome::UnknownUser(_) | Outcome::BadUserName(_) => "unmapped",
            Outcome::Repeat(_) => "repeat",
            Outcome::Skipped(_) => "skipped",
            Outcome::LocalDenied => "local-denied",
            Outcome::FailOpen(_) => "fail-open",
            Outcome::Unreachable(_) => "unreachable",
            Outcome::ConversationFailed(_) => "conversation-failed",
            Outcome::Grace => "grace",
            Outcome::Limited(_) => "limited",
            Outcome::Config(_) | Outcome::Error(_) | Outcome::NoUser { .. } => "error",
            Outcome::Audit(a) => a.word(),
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
        match self {
            Outcome::Approved | Outcome::FailOpen(_) | Outcome::Grace => true,
            Outcome::Repeat(prev) => prev.allows(),
            // Whatever enforce mode would have done: audit mode never lets anyone in.
            Outcome::Audit(_) => false,
            _ => false,
        }
    }
}

/// Where a user's IDs came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A `[users]` table: the main file or a file of `mapping.users_dir`, and the line.
    File(std::path::PathBuf, usize),
    /// `mapping.template`.
    Template,
    /// `mapping.gecos_field` (the field number).
    Gecos(usize),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path, line) => write!(f, "{} line {line}", path.display()),
            Source::Template => f.write_str("mapping.template"),
            Source::Gecos(n) => write!(f, "mapping.gecos_field {n} (GECOS)"),
        }
    }
}

/// What the sources of IDs say of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// The IDs, and where they came from.
    Ids(Vec<String>, Source),
    /// No source maps the user (why).
    Unmapped(String),
    /// A source gave something that is not a PassBy\[ME\] ID: the login is refused.
    Invalid(String),
}

/// The IDs of the canonical name `user`, from the sources in their order: `[users]` of the
/// main file, then of the files of `mapping.users_dir` (one table: a name in two places is
/// a configuration error), then `mapping.template`, then `mapping.gecos_field`. `Err` when
/// the user database lookup failed.
pub fn map_user(config: &Config, host: &dyn Host, user: &str) -> Result<Mapping, String> {
    if let Some((ids, o)) = config.table_entry(user) {
        let file = config.files.get(o.file).unwrap_or(&config.path).clone();
        return Ok(Mapping::Ids(ids.to_vec(), Source::File(file, o.line)));
    }
    let mapping = &config.mapping;
    if let Some(id) = mapping.template_id(user) {
        let id = id.map_err(|e| format!("mapping.template: {e}"))?;
        return Ok(match config::check_id(&id) {
            Ok(()) => Mapping::Ids(vec![id], Source::Template),
            Err(e) => Mapping::Invalid(format!("mapping.template: for this user it gives {e}")),
        });
    }
    if let Some(g) = &mapping.gecos {
        let Some(gecos) = host.gecos(user)? else {
            return Ok(Mapping::Unmapped("no GECOS field".into()));
        };
        let Some(id) = g.pick(&gecos) else {
            return Ok(Mapping::Unmapped(format!(
                "GECOS has no part {} (delimiter '{}')",
                g.field, g.delimiter
            )));
        };
        return Ok(match config::check_id(id) {
            Ok(()) => Mapping::Ids(vec![id.to_owned()], Source::Gecos(g.field)),
            Err(e) => Mapping::Invalid(format!(
                "mapping.gecos_field: part {} of the GECOS field: {e}",
                g.field
            )),
        });
    }
    Ok(Mapping::Unmapped(match &mapping.users_dir {
        Some(d) => format!(
            "in no [users] table ({} and {})",
            config.path.display(),
            d.display()
        ),
        None => format!("not in [users] of {}", config.path.display()),
    }))
}

/// What became of the message this login sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// No message was sent.
    None,
    /// Every one of the user's IDs had a final status: nothing to cancel.
    Final,
    /// The message was cancelled.
    Cancelled,
    /// The cancel failed (why).
    CancelFailed(String),
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
    /// What happened to the message at the end.
    pub settled: Settled,
    /// The verification code shown, if any.
    pub code: Option<String>,
    /// From start to decision.
    pub duration: Duration,
    /// The name as the login gave it, when the user database knows it by another spelling
    /// (the request then carries the canonical name).
    pub typed: Option<String>,
    /// What the log shows instead of the user name, when it must not show it: a name the
    /// user database does not know ([`redacted_user`]).
    pub redacted: Option<String>,
}

impl Report {
    /// The report of a login decided before the flow ran (arguments, user name,
    /// configuration, a repeated call).
    pub fn early(outcome: Outcome, start: Instant) -> Report {
        Report {
            outcome,
            ids: Vec::new(),
            message_id: None,
            code: None,
            duration: start.elapsed(),
            settled: Settled::None,
            typed: None,
            redacted: None,
        }
    }
}

/// The report of a configuration that cannot be loaded: the user's name is logged only
/// when the user database knows it (or with `debug`), else redacted (it may be a mistyped
/// password).
pub fn config_failed(
    host: &dyn Host,
    user: &str,
    debug: bool,
    error: String,
    start: Instant,
) -> Report {
    let known = debug || matches!(host.canonical_user(user), Ok(Some(_)));
    // No configuration, so no state directory and no key: the length alone.
    Report {
        redacted: (!known).then(|| redacted_user(user, None)),
        ..Report::early(Outcome::Config(error), start)
    }
}

/// Writes the one decision line of a login, at the level its outcome calls for.
pub fn record(ui: &mut dyn Ui, req: &Request, report: &Report) {
    ui.log(
        log::decision_level(&report.outcome),
        &log::decision(req, report),
    );
}

/// Runs one login. `req.user` becomes the name the user database knows (the report's
/// `typed` keeps the spelling given). The caller writes the decision line with [`record`].
pub fn run(
    config: &Config,
    req: &mut Request,
    host: &dyn Host,
    connect: &mut dyn Connect,
    ui: &mut dyn Ui,
) -> Report {
    let start = Instant::now();
    let mut login = Pending::default();
    let mut typed = None;
    let mut redacted = None;
    // Map the name the user database knows, not the spelling typed: with a source that
    // accepts other spellings (SSSD's AD provider is case-insensitive by default), `ALICE`
    // must not escape `alice`'s second factor.
    let outcome = match host.canonical_user(&req.user) {
        Ok(Some(name)) => {
            if name != req.user {
                typed = Some(std::mem::replace(&mut req.user, name));
            }
            flow(config, req, host, connect, ui, start, &mut login)
        }
        Ok(None) => {
            ui.log(
                Level::Debug,
                &format!(
                    "user name unknown to the user database: '{}'",
                    log::clean(&req.user, 64)
                ),
            );
            let key = crate::userkey::load_or_create(&config.state_dir)
                .map_err(|e| {
                    let why = format!("{e}; unknown user names are logged without a hash");
                    ui.log(Level::Warning, &log::event("user-name key", &why));
                })
                .ok();
            redacted = Some(redacted_user(&req.user, key.as_ref()));
            Outcome::UnknownUser(config.policy.unmapped)
        }
        Err(e) => Outcome::Error(format!("user lookup: {e}")),
    };
    let outcome = match config.policy.mode {
        Mode::Enforce => outcome,
        Mode::Audit => outcome.audited(),
    };
    let mut interrupted = || ui.interrupted();
    let settled = login.settle(Some(&outcome), Some(&mut interrupted));
    Report {
        outcome,
        ids: std::mem::take(&mut login.ids),
        message_id: login.message.as_ref().map(|m| m.message_id.clone()),
        code: login.code.take(),
        duration: start.elapsed(),
        settled,
        typed,
        redacted,
    }
}

fn flow(
    config: &Config,
    req: &Request,
    host: &dyn Host,
    connect: &mut dyn Connect,
    ui: &mut dyn Ui,
    start: Instant,
    login: &mut Pending,
) -> Outcome {
    // The groups first, for every user the database knows, mapped or not: a break-glass
    // account in an exempt group is skipped whatever the mapping says of it.
    let policy = &config.policy;
    if !policy.only_groups.is_empty() || !policy.exempt_groups.is_empty() {
        let groups = match host.groups(&req.user) {
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
    let ids = match map_user(config, host, &req.user) {
        Ok(Mapping::Ids(ids, _)) => ids,
        Ok(Mapping::Unmapped(why)) => {
            ui.log(Level::Debug, &format!("unmapped: {why}"));
            return Outcome::Unmapped(config.policy.unmapped);
        }
        Ok(Mapping::Invalid(e)) => return Outcome::Error(e),
        Err(e) => return Outcome::Error(format!("user lookup: {e}")),
    };
    login.ids = ids.clone();
    let ids = &ids;
    if req.rhost.as_deref().is_none_or(str::is_empty) {
        match policy.local {
            Local::Push => {}
            Local::Deny => return Outcome::LocalDenied,
            Local::Ignore => return Outcome::Skipped("local login (policy.local = ignore)".into()),
        }
    }
    // The client first (it reads the secret files): a configuration failure never
    // touches the limiter.
    let backend = match connect.connect(config) {
        Ok(b) => b,
        Err(e) => return Outcome::Config(e),
    };
    if config.policy.mode == Mode::Audit {
        return audit_limits(&backend, req, config.login.timeout);
    }
    let deadline = start + config.login.timeout;
    let mut cancel_first = None;
    if let Some(store) = &backend.limiter {
        let origin = Origin {
            rhost: req.rhost.as_deref(),
            tty: req.tty.as_deref(),
            service: &req.service,
            target: req.target.as_deref(),
        };
        // The user's own lock, waited for until the login's deadline or a signal.
        let mut interrupted = || ui.interrupted();
        let mut wait = Wait {
            deadline,
            interrupted: Some(&mut interrupted),
        };
        match store.begin(&req.user, &origin, config.login.timeout, &mut wait) {
            Ok(Begin::Push { ticket, cancel }) => {
                cancel_first = cancel;
                login.ticket = Some(ticket);
            }
            Ok(Begin::Grace) => return Outcome::Grace,
            Ok(Begin::Refused(why)) => return Outcome::Limited(why),
            Err(limiter::Error::Interrupted(sig)) => return Outcome::Interrupted(sig),
            Err(e) => return Outcome::Limited(limiter::Refusal::other(e.to_string())),
        }
    }
    let backend = login.backend.insert(backend);
    let service = backend.service.as_ref();
    if let Some(id) = cancel_first {
        // The push of a login that crashed, or that this one replaces (policy).
        let r = service.cancel(&id, Instant::now() + CANCEL_TIMEOUT);
        ui.log(
            Level::Info,
            &log::event(
                &format!("limits: cancelled earlier message {}", log::clean(&id, 64)),
                &r.map_or_else(|e| e.to_string(), |_| "ok".into()),
            ),
        );
    }

    let Some(n) = host.random_below(90) else {
        return Outcome::Error("no randomness for the verification code".into());
    };
    let code = (n + 10).to_string();
    login.code = Some(code.clone());
    let message = match compose(config, req, host, ids, &code) {
        Ok(m) => m,
        Err(e) => return Outcome::Error(e),
    };
    let allow = policy.unreachable == WhenUnreachable::Allow;
    let (info, mismatch) = match service.send(&message, deadline) {
        Ok(info) => (info, None),
        // Fail-open applies to exactly one failure: no TCP connection to the service could
        // be made (see `client::Error::Unreachable`), before any message exists.
        Err(e @ ClientError::Unreachable(_)) if allow => return Outcome::FailOpen(e.to_string()),
        Err(e @ ClientError::Unreachable(_)) => return Outcome::Unreachable(e.to_string()),
        // A message exists but the answer does not match what was sent: refuse, and keep
        // the message so that it is cancelled like any other. Its statuses are not
        // trusted: it is kept with none listed.
        Err(ClientError::Mismatch { message_id, reason }) => {
            match client::check_message_id(&message_id) {
                Ok(()) => (
                    SessionInfo {
                        message_id,
                        expiration_date: time::OffsetDateTime::UNIX_EPOCH,
                        recipients: Vec::new(),
                    },
                    Some(reason),
                ),
                Err(e) => {
                    return Outcome::Error(format!(
                        "send: malformed response: {reason} (invalid argument: {e})"
                    ))
                }
            }
        }
        Err(e @ (ClientError::Api { .. } | ClientError::MalformedResponse(_))) => {
            return Outcome::Error(format!("send: {e}"))
        }
        // Everything else denies as "unavailable"; under `allow`, say why it did not open.
        Err(e) if allow => {
            let why = match &e {
                ClientError::Status { .. } => "the service answered",
                _ if service.has_connected() => "a TCP connection had been made",
                ClientError::Timeout(_) => "the login's own time ran out",
                _ => "not a failure to connect",
            };
            return Outcome::Unreachable(format!("{e} (no fail-open: {why})"));
        }
        Err(e) => return Outcome::Unreachable(e.to_string()),
    };
    // First thing once the POST is answered: hold the message (every exit now cancels it)
    // and record its id with the limiter, so that a crash from here on leaves a push the
    // next login of this user cancels. Logging comes after.
    let message_id = info.message_id.clone();
    login.message = Some(info);
    let recorded = match (&backend.limiter, &login.ticket) {
        (Some(store), Some(ticket)) => {
            let mut interrupted = || ui.interrupted();
            Some(store.sent(
                ticket,
                &message_id,
                &mut Wait {
                    deadline,
                    interrupted: Some(&mut interrupted),
                },
            ))
        }
        _ => None,
    };
    if let Some(Err(e)) = recorded {
        ui.log(
            Level::Warning,
            &log::event("limits: message id not recorded", &e.to_string()),
        );
    }
    ui.log(
        Level::Debug,
        &format!(
            "sent message={} user={} code={code}",
            log::clean(&message_id, 64),
            log::clean(&req.user, 64)
        ),
    );
    if let Some(reason) = mismatch {
        // `Pending` cancels it.
        return Outcome::Error(format!("send: malformed response: {reason}"));
    }
    let Some(info) = login.message.as_mut() else {
        return Outcome::Error("internal: lost the message".into());
    };
    if let Some(decided) = decide(info, ids) {
        return decided;
    }

    let hostname = host.hostname();
    let values = messages::Values {
        code: Some(&code),
        ..messages::Values::of(req, &hostname)
    };
    let hint = config.messages.render(MessageId::Approve, &values);
    match config.login.prompt {
        Prompt::None => {}
        Prompt::Info => {
            if let Err(e) = ui.info(&hint) {
                return Outcome::ConversationFailed(e);
            }
        }
        Prompt::Enter => {
            // sshd shows a prompt at once, and a plain message only with the next prompt.
            let enter = config.messages.render(MessageId::Enter, &values);
            let text = format!("{hint}\n{enter}");
            let seen = Report {
                outcome: Outcome::Error("abandoned".into()),
                ids: ids.clone(),
                message_id: Some(message_id.clone()),
                code: Some(code.clone()),
                duration: Duration::ZERO,
                settled: Settled::None,
                typed: None,
                redacted: None,
            };
            let abandon = |sig: i32| {
                let settled = match service.cancel(&message_id, Instant::now() + CANCEL_TIMEOUT) {
                    Ok(_) => Settled::Cancelled,
                    Err(e) => Settled::CancelFailed(e.to_string()),
                };
                let r = Report {
                    outcome: Outcome::Interrupted(sig),
                    duration: start.elapsed(),
                    settled,
                    ..seen.clone()
                };
                log::decision(req, &r)
            };
            // The conversation blocks inside the application until the person answers
            // (sshd: until the client does, or LoginGraceTime): it cannot be interrupted
            // safely. What the deadline can still bound is the push: at the deadline a
            // watchdog cancels it, so the phone cannot approve it later and nothing stays
            // open however long the prompt lasts. The prompt itself ends when the
            // application ends it.
            let answered = std::sync::Mutex::new(false);
            let wake = std::sync::Condvar::new();
            let (answer, expired) = std::thread::scope(|scope| {
                let watchdog = std::thread::Builder::new()
                    .name("pam_passbyme-deadline".into())
                    .stack_size(WATCHDOG_STACK)
                    .spawn_scoped(scope, || {
                        let mut done = answered.lock().unwrap_or_else(|p| p.into_inner());
                        while !*done {
                            let now = Instant::now();
                            if now >= deadline {
                                drop(done);
                                let r = service.cancel(&message_id, now + CANCEL_TIMEOUT);
                                return Some(match r {
                                    Ok(_) => Settled::Cancelled,
                                    Err(e) => Settled::CancelFailed(e.to_string()),
                                });
                            }
                            done = wake
                                .wait_timeout(done, deadline - now)
                                .unwrap_or_else(|p| p.into_inner())
                                .0;
                        }
                        None
                    })
                    .ok();
                let answer = ui.prompt(&text, &abandon);
                *answered.lock().unwrap_or_else(|p| p.into_inner()) = true;
                wake.notify_all();
                let expired = watchdog.and_then(|w| w.join().ok()).flatten();
                (answer, expired)
            });
            if let Some(settled) = expired {
                // Cancelled at the deadline while the prompt was open: the login timed
                // out, whatever the answer (an approval seen now came too late).
                login.settled_early = Some(settled);
                return Outcome::TimedOut;
            }
            if let Err(e) = answer {
                return Outcome::ConversationFailed(e);
            }
            if Instant::now() >= deadline {
                // Answered at the deadline itself, before the watchdog acted: `Pending`
                // cancels the push.
                return Outcome::TimedOut;
            }
        }
    }
    wait(config, service, info, ids, ui, start, deadline)
}

/// Audit mode at the push: what the limits would say, read without the user's lock and
/// without writing (nothing counted, no pending slot claimed), then [`Audit::Push`]. The
/// outcomes before the push are made audit outcomes by [`run`].
fn audit_limits(backend: &Backend, req: &Request, timeout: Duration) -> Outcome {
    let Some(store) = &backend.limiter else {
        return Outcome::Audit(Audit::Push);
    };
    let origin = Origin {
        rhost: req.rhost.as_deref(),
        tty: req.tty.as_deref(),
        service: &req.service,
        target: req.target.as_deref(),
    };
    match store.peek(&req.user, &origin, timeout) {
        Ok(Begin::Push { .. }) => Outcome::Audit(Audit::Push),
        Ok(Begin::Grace) => Outcome::Grace,
        Ok(Begin::Refused(why)) => Outcome::Limited(why),
        Err(e) => Outcome::Limited(limiter::Refusal::other(e)),
    }
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
    service: &dyn Service,
    info: &mut SessionInfo,
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
            .any(|id| info.status_of(id) == Some(&Status::Seen));
        let at = if first {
            // After a prompt the user may already have approved: look at once.
            Instant::now()
        } else {
            let wait = schedule.interval(previous.saturating_duration_since(pushed), seen);
            previous.checked_add(wait).unwrap_or(deadline)
        };
        first = false;
        if let Some(abandoned) = sleep_until(at, deadline, ui) {
            return abandoned;
        }
        if Instant::now() >= deadline {
            return Outcome::TimedOut;
        }
        previous = Instant::now();
        match service.track(&info.message_id, deadline) {
            Ok(fresh) => {
                errors = 0;
                *info = fresh;
            }
            Err(e) => {
                errors += 1;
                if Instant::now() >= deadline {
                    return Outcome::TimedOut;
                }
                ui.log(
                    Level::Warning,
                    &log::event(
                        &format!("poll failed ({errors}/{MAX_POLL_ERRORS})"),
                        &e.to_string(),
                    ),
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

/// Sleeps in short slices until `until` (or the deadline), watching for signals and for
/// the client leaving: either ends the wait with the outcome that abandons the login.
fn sleep_until(until: Instant, deadline: Instant, ui: &mut dyn Ui) -> Option<Outcome> {
    let until = until.min(deadline);
    loop {
        if let Some(sig) = ui.interrupted() {
            return Some(Outcome::Interrupted(sig));
        }
        if let Some(peer) = ui.client_gone() {
            return Some(Outcome::ClientGone(peer));
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
        return Some(Outcome::Refused(Status::Denied));
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
        return statuses.first().map(|s| Outcome::Refused((*s).clone()));
    }
    None
}

fn compose(
    config: &Config,
    req: &Request,
    host: &dyn Host,
    ids: &[String],
    code: &str,
) -> Result<Message, String> {
    let hostname = host.hostname();
    let values = messages::Values {
        time: Some(host.now()),
        code: Some(code),
        ..messages::Values::of(req, &hostname)
    };
    let (subject, body) = messages::push_texts(config, &values).map_err(|e| e.to_string())?;
    let mut m = Message::authorization(ids.to_vec(), config.login.availability());
    m.subject = Some(subject);
    m.body = Some(body);
    Ok(m)
}

/// A login under way: what it talks to, its facts so far, and what must be settled at its
/// end. Dropping it (on any path, a panic included) cancels a message that is still open,
/// and hands the limiter its result. Whether the message is final is judged by this user's
/// IDs only: statuses the server reports for other recipients prove nothing.
#[derive(Default)]
struct Pending {
    backend: Option<Backend>,
    ids: Vec<String>,
    code: Option<String>,
    message: Option<SessionInfo>,
    ticket: Option<Ticket>,
    settled: bool,
    /// Set when the message was already cancelled during the login (at the deadline, while
    /// a prompt was open): what to report instead of cancelling again.
    settled_early: Option<Settled>,
}

impl Pending {
    /// Cancels the message unless every one of the user's IDs is final, and records the
    /// result with the limiter. Returns what happened to the message.
    fn settle(
        &mut self,
        outcome: Option<&Outcome>,
        interrupted: Option<&mut dyn FnMut() -> Option<i32>>,
    ) -> Settled {
        if std::mem::replace(&mut self.settled, true) {
            return Settled::None;
        }
        let settled = self.cancel_open();
        let store = self.backend.as_ref().and_then(|b| b.limiter.as_ref());
        if let (Some(store), Some(ticket)) = (store, self.ticket.take()) {
            let how = match outcome {
                Some(Outcome::Approved) => Finish::Approved,
                Some(Outcome::Refused(Status::Denied)) => Finish::Denied,
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

    fn cancel_open(&mut self) -> Settled {
        let Some(info) = self.message.as_ref() else {
            return Settled::None;
        };
        if let Some(settled) = self.settled_early.take() {
            return settled;
        }
        if self
            .ids
            .iter()
            .all(|id| info.status_of(id).is_some_and(Status::is_final))
        {
            return Settled::Final;
        }
        let Some(backend) = &self.backend else {
            return Settled::CancelFailed("internal: no service".into());
        };
        let r = backend
            .service
            .cancel(&info.message_id, Instant::now() + CANCEL_TIMEOUT);
        match r {
            Ok(_) => Settled::Cancelled,
            Err(e) => Settled::CancelFailed(e.to_string()),
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
            Some(Outcome::Refused(Status::Denied))
        );
        assert_eq!(
            d(&[("a", "APPROVED"), ("a", "DENIED")]),
            Some(Outcome::Refused(Status::Denied))
        );
        assert_eq!(d(&[("a", "NO_DEVICE"), ("b", "SEEN")]), None);
        assert_eq!(
            d(&[("a", "NO_DEVICE"), ("b", "FAILED")]),
            Some(Outcome::Refused(Status::NoDevice))
        );
        assert_eq!(d(&[("a", "NO_DEVICE")]), None, "b not reported: not final");
        assert_eq!(d(&[("mallory", "APPROVED")]), None);
        assert_eq!(d(&[("a", "approved"), ("b", "APPROVED ")]), None);
        assert_eq!(d(&[]), None);
    }

    // -----------------------------------------------------------------------------------
    // The flow's paths, with canned fakes for the host, the service and the person.

    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use crate::limiter::Limits;

    /// A host whose user database knows `alice` (also spelt `ALICE`) and `bob`; `nss-down`
    /// makes the lookup fail. Groups are canned.
    struct FakeHost {
        groups: Result<Vec<String>, String>,
        gecos: Result<Option<String>, String>,
    }

    impl Default for FakeHost {
        fn default() -> FakeHost {
            FakeHost {
                groups: Ok(vec!["users".into()]),
                gecos: Ok(None),
            }
        }
    }

    impl Host for FakeHost {
        fn canonical_user(&self, user: &str) -> Result<Option<String>, String> {
            match user {
                "alice" | "ALICE" => Ok(Some("alice".into())),
                "bob" => Ok(Some("bob".into())),
                "nss-down" => Err("user database lookup failed: timeout".into()),
                _ => Ok(None),
            }
        }
        fn groups(&self, _: &str) -> Result<Vec<String>, String> {
            self.groups.clone()
        }
        fn gecos(&self, _: &str) -> Result<Option<String>, String> {
            self.gecos.clone()
        }
        fn hostname(&self) -> String {
            "testhost".into()
        }
        fn random_below(&self, _: u32) -> Option<u32> {
            Some(32) // code 42
        }
        fn now(&self) -> time::OffsetDateTime {
            time::OffsetDateTime::UNIX_EPOCH
        }
    }

    /// A service with canned answers: one for the send, then one per poll (the last
    /// status repeats once they run out). Records what it was asked.
    #[derive(Default)]
    struct FakeService {
        send: Mutex<Option<Result<SessionInfo, ClientError>>>,
        polls: Mutex<VecDeque<Result<SessionInfo, ClientError>>>,
        connected: bool,
        cancel_fails: bool,
        sent: Mutex<Vec<Message>>,
        cancelled: Mutex<Vec<String>>,
        tracked: Mutex<u32>,
    }

    impl Service for Arc<FakeService> {
        fn send(&self, m: &Message, _: Instant) -> Result<SessionInfo, ClientError> {
            self.sent.lock().unwrap().push(m.clone());
            self.send
                .lock()
                .unwrap()
                .take()
                .unwrap_or_else(|| Err(ClientError::Connection("no canned send".into())))
        }
        fn track(&self, id: &str, _: Instant) -> Result<SessionInfo, ClientError> {
            *self.tracked.lock().unwrap() += 1;
            let mut polls = self.polls.lock().unwrap();
            match polls.len() {
                0 => Ok(msg(id, &[("a@x", "PENDING")])),
                1 => match polls.front() {
                    Some(Ok(i)) => Ok(i.clone()),
                    _ => polls.pop_front().unwrap(),
                },
                _ => polls.pop_front().unwrap(),
            }
        }
        fn cancel(&self, id: &str, _: Instant) -> Result<SessionInfo, ClientError> {
            self.cancelled.lock().unwrap().push(id.into());
            if self.cancel_fails {
                return Err(ClientError::Connection("reset\x1b[2J".into()));
            }
            Ok(msg(id, &[("a@x", "CANCELLED")]))
        }
        fn has_connected(&self) -> bool {
            self.connected
        }
    }

    fn msg(id: &str, list: &[(&str, &str)]) -> SessionInfo {
        SessionInfo {
            message_id: id.into(),
            expiration_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            ..info(list)
        }
    }

    fn pending() -> Result<SessionInfo, ClientError> {
        Ok(msg("m1", &[("a@x", "PENDING")]))
    }

    /// Hands out the fake service, and a limiter store when given one; counts the calls.
    struct FakeConnect {
        service: Arc<FakeService>,
        limits: Option<Limits>,
        fail: Option<String>,
        calls: u32,
    }

    impl Connect for FakeConnect {
        fn connect(&mut self, _: &Config) -> Result<Backend, String> {
            self.calls += 1;
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            Ok(Backend {
                service: Box::new(self.service.clone()),
                limiter: self.limits.as_ref().map(|l| Store::open(l).unwrap()),
            })
        }
    }

    /// The person: answers the prompt, records what is shown and logged; `interrupt_after`
    /// polls of `interrupted`, reports SIGTERM.
    #[derive(Default)]
    struct FakeUi {
        shown: Vec<String>,
        lines: Vec<(Level, String)>,
        conversation_fails: bool,
        interrupt_after: Option<u32>,
        asked: u32,
    }

    impl Ui for FakeUi {
        fn info(&mut self, text: &str) -> Result<(), String> {
            if self.conversation_fails {
                return Err("conversation failed (PAM code 19)".into());
            }
            self.shown.push(text.into());
            Ok(())
        }
        fn prompt(&mut self, text: &str, _: &Abandon<'_>) -> Result<String, String> {
            self.info(text).map(|_| String::new())
        }
        fn interrupted(&mut self) -> Option<i32> {
            self.asked += 1;
            match self.interrupt_after {
                Some(n) if self.asked > n => Some(libc::SIGTERM),
                _ => None,
            }
        }
        fn log(&mut self, level: Level, line: &str) {
            self.lines.push((level, line.into()));
        }
    }

    /// Asserts that a run's outcome matches a pattern, and shows the outcome when not.
    macro_rules! assert_outcome {
        ($run:expr, $($pattern:tt)+) => {
            assert!(
                matches!(&$run.report.outcome, $($pattern)+),
                "{:?}",
                $run.report.outcome
            )
        };
    }

    /// alice → a@x; fast polls, a 2 s deadline, no limits unless a test adds them.
    fn config(extra: &str) -> Config {
        let mut c = Config::parse(
            std::path::Path::new("/x.toml"),
            &format!(
                "[service]\ncredentials = \"/nonexistent/x.pem\"\n[login]\nprompt = \"info\"\n{extra}\n[users]\nalice = \"a@x\"\n"
            ),
        )
        .unwrap();
        c.limits = None;
        // Never /run/passbyme: the key of unknown names goes to a private directory.
        c.state_dir = std::env::temp_dir().join(format!("pbm-flow-{}-state", std::process::id()));
        c.login.timeout = Duration::from_secs(2);
        c.login.poll_interval = MS(20);
        c.login.poll_interval_seen = MS(20);
        c.login.poll_fast_after = Duration::ZERO;
        c
    }

    fn remote(user: &str) -> Request {
        Request {
            user: user.into(),
            service: "sshd".into(),
            rhost: Some("192.0.2.1".into()),
            tty: Some("ssh".into()),
            target: None,
        }
    }

    struct Run {
        report: Report,
        line: String,
        level: Level,
        ui: FakeUi,
        service: Arc<FakeService>,
        connects: u32,
    }

    fn login_with(
        config: &Config,
        req: Request,
        host: &FakeHost,
        service: FakeService,
        limits: Option<Limits>,
        mut ui: FakeUi,
    ) -> Run {
        let service = Arc::new(service);
        let mut connect = FakeConnect {
            service: service.clone(),
            limits,
            fail: None,
            calls: 0,
        };
        let mut req = req;
        let report = run(config, &mut req, host, &mut connect, &mut ui);
        record(&mut ui, &req, &report);
        let (level, line) = ui.lines.last().cloned().unwrap();
        Run {
            report,
            line,
            level,
            ui,
            service,
            connects: connect.calls,
        }
    }

    fn login(config: &Config, user: &str, service: FakeService) -> Run {
        login_with(
            config,
            remote(user),
            &FakeHost::default(),
            service,
            None,
            FakeUi::default(),
        )
    }

    /// Limits in a fresh state directory named after `tag`, changed by `set`; and a login
    /// of alice from a remote host through a store with them.
    fn limited(tag: &str, set: impl FnOnce(&mut Limits)) -> (Limits, impl Fn(FakeService) -> Run) {
        let mut limits = state_dir(tag);
        set(&mut limits);
        let (c, l) = (config(""), limits.clone());
        let go = move |service| {
            login_with(
                &c,
                remote("alice"),
                &FakeHost::default(),
                service,
                Some(l.clone()),
                FakeUi::default(),
            )
        };
        (limits, go)
    }

    /// alice from a remote host through `ui`; the message is never answered.
    fn login_unanswered(ui: FakeUi) -> Run {
        login_with(
            &config(""),
            remote("alice"),
            &FakeHost::default(),
            answering(&[]),
            None,
            ui,
        )
    }

    fn answering(polls: &[&[(&str, &str)]]) -> FakeService {
        FakeService {
            send: Mutex::new(Some(pending())),
            polls: Mutex::new(polls.iter().map(|l| Ok(msg("m1", l))).collect()),
            ..FakeService::default()
        }
    }

    fn state_dir(tag: &str) -> Limits {
        let dir = std::env::temp_dir().join(format!("pbm-flow-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Limits {
            state_dir: dir,
            ..Limits::default()
        }
    }

    #[test]
    fn flow_unmapped_user_follows_the_policy_without_connecting() {
        let r = login(&config(""), "bob", FakeService::default());
        assert_eq!(r.report.outcome, Outcome::Unmapped(Unmapped::Deny));
        assert_eq!(r.connects, 0, "no credentials read for an unmapped user");
        assert!(
            r.line
                .starts_with("decision=unmapped user=bob ids=- service=sshd"),
            "{}",
            r.line
        );
        assert!(r.line.contains("policy=unmapped:deny"), "{}", r.line);
        let c = config("[policy]\nunmapped = \"ignore\"");
        let r = login(&c, "bob", FakeService::default());
        assert_eq!(r.report.outcome, Outcome::Unmapped(Unmapped::Ignore));
        assert!(!r.report.outcome.allows());
    }

    #[test]
    fn flow_unknown_user_is_unmapped_and_redacted_in_the_log() {
        let c = config("");
        let r = login(&c, "hunter2-password", FakeService::default());
        assert_eq!(r.report.outcome, Outcome::UnknownUser(Unmapped::Deny));
        // Issue 19: keyed with the host's key (created by this login), never unkeyed.
        let key = crate::userkey::load(&c.state_dir).unwrap();
        let want = format!(
            "user=(unknown:len=16,hmac={}) ",
            key.tag("hunter2-password")
        );
        assert!(r.line.contains(&want), "{}", r.line);
        assert!(!r.line.contains("sha256"), "{}", r.line);
        assert!(r.line.contains("reason=\"unknown to the user database\""));
        assert_eq!(r.level, Level::Notice);
        // Only the debug line (shown with `debug` only) names it.
        for (level, line) in &r.ui.lines {
            assert!(
                *level == Level::Debug || !line.contains("hunter2"),
                "{line}"
            );
        }
        assert_eq!(r.connects, 0);
    }

    /// Issue 19: without a usable key, no hash at all (a dictionary would confirm an
    /// unkeyed one), and a warning says why.
    #[test]
    fn flow_unknown_user_without_a_key_is_logged_by_length_only() {
        let mut c = config("");
        let dir = std::env::temp_dir().join(format!("pbm-flow-{}-nokey", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        c.state_dir = dir.clone();
        let r = login(&c, "hunter2-password", FakeService::default());
        assert_eq!(r.report.outcome, Outcome::UnknownUser(Unmapped::Deny));
        assert!(
            r.line
                .starts_with("decision=unmapped user=(unknown:len=16) "),
            "{}",
            r.line
        );
        let warned =
            r.ui.lines
                .iter()
                .find(|(l, _)| *l == Level::Warning)
                .map(|(_, t)| t.clone())
                .unwrap();
        assert!(
            warned.starts_with("user-name key: ")
                && warned.contains("(mode 0755; refused)")
                && warned.ends_with("unknown user names are logged without a hash"),
            "{warned}"
        );
        assert!(!dir.join(crate::userkey::FILE).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flow_user_lookup_failure_is_an_error() {
        let r = login(&config(""), "nss-down", FakeService::default());
        assert_eq!(
            r.report.outcome,
            Outcome::Error("user lookup: user database lookup failed: timeout".into())
        );
        assert_eq!(r.level, Level::Err);
    }

    #[test]
    fn flow_maps_the_canonical_name_and_logs_the_spelling_typed() {
        let r = login(&config(""), "ALICE", answering(&[&[("a@x", "APPROVED")]]));
        assert_eq!(r.report.outcome, Outcome::Approved);
        assert!(r.line.contains("user=alice ids=a@x "), "{}", r.line);
        assert!(r.line.contains(" typed=ALICE "), "{}", r.line);
        assert!(r.line.ends_with("message=m1 settled=final"), "{}", r.line);
        assert_eq!(r.level, Level::Info);
    }

    #[test]
    fn flow_exempt_and_only_groups_step_aside_without_connecting() {
        let host = FakeHost {
            groups: Ok(vec!["users".into(), "wheel".into()]),
            ..FakeHost::default()
        };
        let go = |c: &Config, host: &FakeHost| {
            login_with(
                c,
                remote("alice"),
                host,
                FakeService::default(),
                None,
                FakeUi::default(),
            )
        };
        let r = go(&config("[policy]\nexempt_groups = [\"wheel\"]"), &host);
        assert_eq!(
            r.report.outcome,
            Outcome::Skipped("member of exempt group wheel".into())
        );
        assert_eq!(r.connects, 0);
        assert!(
            r.line.contains("policy=\"member of exempt group wheel\""),
            "{}",
            r.line
        );
        let r = go(&config("[policy]\nonly_groups = [\"ops\"]"), &host);
        assert_eq!(
            r.report.outcome,
            Outcome::Skipped("not in only_groups".into())
        );
        assert_eq!(r.connects, 0);
        // In only_groups: the login goes on (and the fake service denies the send).
        let r = go(&config("[policy]\nonly_groups = [\"wheel\"]"), &host);
        assert_eq!(r.connects, 1);
        // Before any mapping: an unmapped member steps aside too, an unmapped non-member
        // of only_groups as well.
        let bob = |c: &Config| {
            login_with(
                c,
                remote("bob"),
                &host,
                FakeService::default(),
                None,
                FakeUi::default(),
            )
        };
        let r = bob(&config("[policy]\nexempt_groups = [\"wheel\"]"));
        assert_eq!(
            r.report.outcome,
            Outcome::Skipped("member of exempt group wheel".into())
        );
        let r = bob(&config("[policy]\nonly_groups = [\"ops\"]"));
        assert_eq!(
            r.report.outcome,
            Outcome::Skipped("not in only_groups".into())
        );
        let r = bob(&config("[policy]\nonly_groups = [\"wheel\"]"));
        assert_eq!(r.report.outcome, Outcome::Unmapped(Unmapped::Deny));
        // A failed group lookup denies.
        let broken = FakeHost {
            groups: Err("getgrouplist failed".into()),
            ..FakeHost::default()
        };
        let r = go(&config("[policy]\nexempt_groups = [\"wheel\"]"), &broken);
        assert_eq!(
            r.report.outcome,
            Outcome::Error("group lookup: getgrouplist failed".into())
        );
    }

    #[test]
    fn flow_local_logins_push_deny_or_ignore() {
        let local = Request {
            rhost: None,
            ..remote("alice")
        };
        let go = |c: &Config, service| {
            login_with(
                c,
                local.clone(),
                &FakeHost::default(),
                service,
                None,
                FakeUi::default(),
            )
        };
        let r = go(&config(""), answering(&[&[("a@x", "APPROVED")]]));
        assert_eq!(r.report.outcome, Outcome::Approved, "default: push");
        assert!(r.line.contains(" rhost=- "), "{}", r.line);
        let r = go(
            &config("[policy]\nlocal = \"deny\""),
            FakeService::default(),
        );
        assert_eq!(r.report.outcome, Outcome::LocalDenied);
        assert!(r.line.contains("policy=local:deny"));
        assert_eq!(r.connects, 0);
        let r = go(
            &config("[policy]\nlocal = \"ignore\""),
            FakeService::default(),
        );
        assert_eq!(
            r.report.outcome,
            Outcome::Skipped("local login (policy.local = ignore)".into())
        );
        assert_eq!(r.connects, 0);
    }

    #[test]
    fn flow_approval_shows_the_code_and_needs_no_cancel() {
        let r = login(
            &config(""),
            "alice",
            answering(&[&[("a@x", "SEEN")], &[("a@x", "APPROVED")]]),
        );
        assert_eq!(r.report.outcome, Outcome::Approved);
        assert_eq!(r.report.code.as_deref(), Some("42"));
        assert_eq!(r.report.settled, Settled::Final);
        assert!(
            r.ui.shown[0].ends_with("Verification code: 42"),
            "{:?}",
            r.ui.shown
        );
        assert!(r.service.cancelled.lock().unwrap().is_empty());
        let sent = r.service.sent.lock().unwrap();
        assert_eq!(sent[0].recipients, vec!["a@x".to_string()]);
        let subject = sent[0].subject.as_deref().unwrap_or_default();
        assert_eq!(subject, "Code 42: log in as alice on testhost?");
        let body = sent[0].body.as_deref().unwrap_or_default();
        assert!(body.contains("1970-01-01"), "the host's clock: {body}");
    }

    #[test]
    fn flow_for_an_invoker_says_who_becomes_whom() {
        // user=invoker: the request's user is who ran su, the target whom they become.
        let req = Request {
            target: Some("root".into()),
            tty: Some("pts/1".into()),
            ..remote("alice")
        };
        let r = login_with(
            &config(""),
            req,
            &FakeHost::default(),
            answering(&[&[("a@x", "APPROVED")]]),
            None,
            FakeUi::default(),
        );
        assert_eq!(r.report.outcome, Outcome::Approved);
        let sent = r.service.sent.lock().unwrap();
        assert_eq!(sent[0].recipients, ["a@x"], "alice's phone, not root's");
        assert_eq!(
            sent[0].subject.as_deref(),
            Some("Code 42: alice wants to become root on testhost?")
        );
        let body = sent[0].body.as_deref().unwrap_or_default();
        assert!(body.contains("User: alice\nBecomes: root\n"), "{body}");
        assert!(
            r.line.contains("decision=approved user=alice ids=a@x "),
            "{}",
            r.line
        );
        assert!(r.line.contains(" target=root"), "{}", r.line);
        // A subject of the administrator's own is kept; {target} is known to it.
        let c = config("subject = \"{user} as {target}\"");
        let req = Request {
            target: Some("root".into()),
            ..remote("alice")
        };
        let r = login_with(
            &c,
            req,
            &FakeHost::default(),
            answering(&[&[("a@x", "APPROVED")]]),
            None,
            FakeUi::default(),
        );
        let sent = r.service.sent.lock().unwrap();
        assert_eq!(sent[0].subject.as_deref(), Some("alice as root"));
    }

    #[test]
    fn flow_mapping_sources_in_their_order() {
        let host = FakeHost {
            gecos: Ok(Some("Bob B,bob@gecos".into())),
            ..FakeHost::default()
        };
        let c = config("[mapping]\ngecos_field = 2");
        assert_eq!(
            map_user(&c, &host, "alice").unwrap(),
            Mapping::Ids(vec!["a@x".into()], Source::File("/x.toml".into(), 8))
        );
        assert_eq!(
            map_user(&c, &host, "bob").unwrap(),
            Mapping::Ids(vec!["bob@gecos".into()], Source::Gecos(2))
        );
        let down = FakeHost {
            gecos: Err("nss down".into()),
            ..FakeHost::default()
        };
        assert_eq!(map_user(&c, &down, "bob").unwrap_err(), "nss down");
        let none = FakeHost::default();
        assert_eq!(
            map_user(&c, &none, "bob").unwrap(),
            Mapping::Unmapped("no GECOS field".into())
        );
        let c = config("[mapping]\ntemplate = \"{user}@t\"");
        assert_eq!(
            map_user(&c, &host, "bob").unwrap(),
            Mapping::Ids(vec!["bob@t".into()], Source::Template)
        );
        // An ID the template makes invalid refuses the login, without connecting.
        let long = "b".repeat(300);
        assert!(matches!(
            map_user(&c, &host, &long).unwrap(),
            Mapping::Invalid(_)
        ));
        let c = config("[mapping]\ngecos_field = 1");
        let bad = FakeHost {
            gecos: Ok(Some("bob at x".into())),
            ..FakeHost::default()
        };
        let r = login_with(
            &c,
            remote("bob"),
            &bad,
            FakeService::default(),
            None,
            FakeUi::default(),
        );
        assert_eq!(
            r.report.outcome,
            Outcome::Error(
                "mapping.gecos_field: part 1 of the GECOS field: 'bob at x' is not a PassBy[ME] ID"
                    .into()
            )
        );
        assert_eq!(r.connects, 0);
        assert!(!r.report.outcome.allows());
    }

    #[test]
    fn flow_each_refusal_carries_its_status() {
        let r = login(&config(""), "alice", answering(&[&[("a@x", "DENIED")]]));
        assert_eq!(r.report.outcome, Outcome::Refused(Status::Denied));
        assert!(
            r.line.contains("status=DENIED message=m1 settled=final"),
            "{}",
            r.line
        );
        assert_eq!(r.level, Level::Notice);
        for (wire, status) in [
            ("NO_DEVICE", Status::NoDevice),
            ("NOT_SEEN", Status::NotSeen),
            ("FAILED", Status::Failed),
            ("DISABLED", Status::Disabled),
            ("CANCELLED", Status::Cancelled),
        ] {
            let r = login(&config(""), "alice", answering(&[&[("a@x", wire)]]));
            assert_eq!(r.report.outcome, Outcome::Refused(status), "{wire}");
            assert!(r.line.contains(&format!("status={wire} ")), "{}", r.line);
            assert!(r.service.cancelled.lock().unwrap().is_empty());
        }
    }

    #[test]
    fn flow_timeout_cancels_the_message() {
        let mut c = config("");
        c.login.timeout = MS(300);
        let r = login(&c, "alice", answering(&[&[("a@x", "SEEN")]]));
        assert_eq!(r.report.outcome, Outcome::TimedOut);
        assert_eq!(r.report.settled, Settled::Cancelled);
        assert_eq!(*r.service.cancelled.lock().unwrap(), vec!["m1".to_string()]);
        assert!(
            r.line.ends_with("message=m1 settled=cancelled"),
            "{}",
            r.line
        );
        assert!(*r.service.tracked.lock().unwrap() >= 1);
    }

    /// A person who answers the Enter prompt only once the push was cancelled (long after
    /// the deadline, as when nobody presses Enter).
    struct LateUi {
        service: Arc<FakeService>,
        lines: Vec<(Level, String)>,
    }

    impl Ui for LateUi {
        fn info(&mut self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn prompt(&mut self, _: &str, _: &Abandon<'_>) -> Result<String, String> {
            let start = Instant::now();
            while self.service.cancelled.lock().unwrap().is_empty() {
                assert!(start.elapsed() < Duration::from_secs(30), "never cancelled");
                std::thread::sleep(MS(5));
            }
            Ok(String::new())
        }
        fn log(&mut self, level: Level, line: &str) {
            self.lines.push((level, line.into()));
        }
    }

    /// Issue 19: the Enter prompt was not bounded by login.timeout.
    #[test]
    fn flow_the_deadline_cancels_the_push_while_the_prompt_is_open() {
        let mut c = config("");
        c.login.prompt = Prompt::Enter;
        c.login.timeout = MS(200);
        // The phone approves at once: too late, the person answered after the deadline.
        let service = Arc::new(answering(&[&[("a@x", "APPROVED")]]));
        let mut connect = FakeConnect {
            service: service.clone(),
            limits: None,
            fail: None,
            calls: 0,
        };
        let mut ui = LateUi {
            service: service.clone(),
            lines: Vec::new(),
        };
        let mut req = remote("alice");
        let r = run(&c, &mut req, &FakeHost::default(), &mut connect, &mut ui);
        assert_eq!(r.outcome, Outcome::TimedOut);
        assert!(!r.outcome.allows());
        assert_eq!(r.settled, Settled::Cancelled);
        // Cancelled once (at the deadline), and never polled: the late answer is not asked.
        assert_eq!(*service.cancelled.lock().unwrap(), vec!["m1".to_string()]);
        assert_eq!(*service.tracked.lock().unwrap(), 0);
        let line = log::decision(&req, &r);
        assert!(
            line.starts_with("decision=timeout user=alice ")
                && line.ends_with("message=m1 settled=cancelled"),
            "{line}"
        );
        // Answered in time: the wait goes on as before.
        c.login.timeout = Duration::from_secs(5);
        let r = login(&c, "alice", answering(&[&[("a@x", "APPROVED")]]));
        assert_eq!(r.report.outcome, Outcome::Approved);
        assert!(r.service.cancelled.lock().unwrap().is_empty());
    }

    #[test]
    fn flow_a_signal_interrupts_and_cancels() {
        let ui = FakeUi {
            interrupt_after: Some(2),
            ..FakeUi::default()
        };
        let r = login_unanswered(ui);
        assert_eq!(r.report.outcome, Outcome::Interrupted(libc::SIGTERM));
        assert_eq!(*r.service.cancelled.lock().unwrap(), vec!["m1".to_string()]);
        assert!(
            r.line
                .contains("signal=SIGTERM message=m1 settled=cancelled"),
            "{}",
            r.line
        );
    }

    #[test]
    fn flow_a_failed_cancel_is_named_sanitised() {
        let mut c = config("");
        c.login.timeout = MS(100);
        let service = FakeService {
            cancel_fails: true,
            ..answering(&[])
        };
        let r = login(&c, "alice", service);
        assert_eq!(r.report.outcome, Outcome::TimedOut);
        assert!(matches!(r.report.settled, Settled::CancelFailed(_)));
        assert!(
            r.line.contains(" settled=cancel-failed:\"") && r.line.ends_with("reset?[2J\""),
            "{}",
            r.line
        );
        assert!(!r.line.contains('\x1b'), "{}", r.line);
    }

    #[test]
    fn flow_fail_open_only_when_no_connection_could_be_made() {
        let allow = config("[policy]\nunreachable = \"allow\"");
        let failing = |e: ClientError, connected| FakeService {
            send: Mutex::new(Some(Err(e))),
            connected,
            ..FakeService::default()
        };
        let r = login(
            &allow,
            "alice",
            failing(ClientError::Unreachable("refused".into()), false),
        );
        assert_outcome!(r, Outcome::FailOpen(_));
        assert!(r.report.outcome.allows());
        assert_eq!(r.level, Level::Warning);
        assert!(r.line.contains("policy=unreachable:allow"), "{}", r.line);
        // Denied under the default policy.
        let r = login(
            &config(""),
            "alice",
            failing(ClientError::Unreachable("refused".into()), false),
        );
        assert!(matches!(r.report.outcome, Outcome::Unreachable(_)));
        assert!(r.line.contains("policy=unreachable:deny"), "{}", r.line);
        // Every other failure denies, and under `allow` says why it did not open.
        for (e, connected, why) in [
            (
                ClientError::Connection("reset".into()),
                true,
                "a TCP connection had been made",
            ),
            (
                ClientError::Timeout("late".into()),
                false,
                "the login's own time ran out",
            ),
            (
                ClientError::Status {
                    status: 503,
                    body: String::new(),
                },
                true,
                "the service answered",
            ),
            (
                ClientError::Tls("bad certificate".into()),
                false,
                "not a failure to connect",
            ),
        ] {
            let r = login(&allow, "alice", failing(e, connected));
            match &r.report.outcome {
                Outcome::Unreachable(m) => {
                    assert!(m.ends_with(&format!("(no fail-open: {why})")), "{m}")
                }
                other => panic!("{other:?}"),
            }
            assert!(!r.report.outcome.allows());
        }
    }

    #[test]
    fn flow_a_mismatched_answer_is_refused_and_cancelled() {
        let service = FakeService {
            send: Mutex::new(Some(Err(ClientError::Mismatch {
                message_id: "m9".into(),
                reason: "the answer lists recipient 'mallory', which was not sent to".into(),
            }))),
            ..FakeService::default()
        };
        let r = login(&config(""), "alice", service);
        assert_outcome!(r, Outcome::Error(e) if e.starts_with("send: malformed response: the answer lists recipient 'mallory'"));
        assert_eq!(*r.service.cancelled.lock().unwrap(), vec!["m9".to_string()]);
        assert!(
            r.line.ends_with("message=m9 settled=cancelled"),
            "{}",
            r.line
        );
        assert!(r.ui.shown.is_empty(), "no hint for a message not trusted");
    }

    #[test]
    fn flow_a_malformed_answer_is_an_error() {
        let service = FakeService {
            send: Mutex::new(Some(Err(ClientError::MalformedResponse("not JSON".into())))),
            ..FakeService::default()
        };
        let r = login(&config(""), "alice", service);
        assert!(matches!(&r.report.outcome, Outcome::Error(e) if e.starts_with("send: ")));
        assert_eq!(r.report.settled, Settled::None);
        // A malformed poll answer, once a message exists: an error, and it is cancelled.
        let service = FakeService {
            send: Mutex::new(Some(pending())),
            polls: Mutex::new(VecDeque::from([
                Err(ClientError::MalformedResponse("bad".into())),
                pending(),
            ])),
            ..FakeService::default()
        };
        let r = login(&config(""), "alice", service);
        assert_outcome!(r, Outcome::Error(e) if e.starts_with("poll: "));
        assert_eq!(r.report.settled, Settled::Cancelled);
        assert_eq!(r.level, Level::Err);
    }

    #[test]
    fn flow_a_failed_conversation_cancels() {
        let ui = FakeUi {
            conversation_fails: true,
            ..FakeUi::default()
        };
        let r = login_unanswered(ui);
        assert!(matches!(r.report.outcome, Outcome::ConversationFailed(_)));
        assert_eq!(r.report.settled, Settled::Cancelled);
        assert!(
            !r.report.outcome.is_final(),
            "a retry in the transaction may succeed"
        );
    }

    #[test]
    fn flow_config_error_never_touches_the_limiter() {
        // The real connector: the credentials file is missing; the state directory does
        // not exist yet and must not be created.
        let mut c = config("");
        let limits = state_dir("config");
        c.limits = Some(limits.clone());
        let mut ui = FakeUi::default();
        let mut req = remote("alice");
        let r = run(&c, &mut req, &FakeHost::default(), &mut Connector, &mut ui);
        assert!(
            matches!(&r.outcome, Outcome::Config(e) if e.contains("/nonexistent")),
            "{:?}",
            r.outcome
        );
        assert!(!limits.state_dir.exists(), "the limiter was not touched");
        record(&mut ui, &req, &r);
        let (level, line) = ui.lines.last().unwrap();
        assert_eq!(*level, Level::Alert);
        assert!(
            line.starts_with("decision=error user=alice ids=a@x "),
            "{line}"
        );
        // With a fake connector that fails: the same outcome, and no send.
        let service = Arc::new(FakeService::default());
        let mut connect = FakeConnect {
            service: service.clone(),
            limits: None,
            fail: Some("x.pem: is a symbolic link (refused)".into()),
            calls: 0,
        };
        let r = run(
            &c,
            &mut remote("alice"),
            &FakeHost::default(),
            &mut connect,
            &mut ui,
        );
        assert_eq!(
            r.outcome,
            Outcome::Config("x.pem: is a symbolic link (refused)".into())
        );
        assert!(service.sent.lock().unwrap().is_empty());
    }

    #[test]
    fn flow_limits_refuse_without_a_push() {
        let (limits, go) = limited("limited", |l| l.max_pushes = 1);
        assert_eq!(
            go(answering(&[&[("a@x", "APPROVED")]])).report.outcome,
            Outcome::Approved
        );
        let r = go(answering(&[&[("a@x", "APPROVED")]]));
        assert_outcome!(r, Outcome::Limited(why) if why.reason.starts_with("rate limit: 1 pushes") && why.limit == limiter::Limit::Rate);
        assert!(r.service.sent.lock().unwrap().is_empty(), "no push");
        assert!(
            r.line.contains("policy=limits reason=\"rate limit"),
            "{}",
            r.line
        );
        let _ = std::fs::remove_dir_all(&limits.state_dir);
    }

    #[test]
    fn flow_audit_never_sends_and_says_what_enforce_would_do() {
        let audit = |extra: &str| {
            let mut c = config(extra);
            c.policy.mode = Mode::Audit;
            c
        };
        // Mapped: everything up to the push, then nothing sent.
        let r = login(&audit(""), "alice", answering(&[&[("a@x", "APPROVED")]]));
        assert_eq!(r.report.outcome, Outcome::Audit(Audit::Push));
        assert!(r.service.sent.lock().unwrap().is_empty(), "no push");
        assert!(r.ui.shown.is_empty(), "nothing shown: {:?}", r.ui.shown);
        assert_eq!(r.level, Level::Info);
        assert_eq!(
            r.line,
            "decision=would-push user=alice ids=a@x service=sshd rhost=192.0.2.1 tty=ssh duration=0.0s mode=audit"
        );
        // Unmapped under deny: the reason enforce mode would have logged.
        let r = login(&audit(""), "bob", FakeService::default());
        assert_eq!(r.report.outcome.word(), "would-deny");
        assert_eq!(r.level, Level::Notice);
        assert_eq!(
            r.line,
            "decision=would-deny user=bob ids=- service=sshd rhost=192.0.2.1 tty=ssh duration=0.0s mode=audit enforce=unmapped policy=unmapped:deny"
        );
        let r = login(
            &audit("[policy]\nunmapped = \"ignore\""),
            "bob",
            FakeService::default(),
        );
        assert!(
            r.line.starts_with("decision=would-skip user=bob "),
            "{}",
            r.line
        );
        assert!(r
            .line
            .ends_with(" mode=audit enforce=unmapped policy=unmapped:ignore"));
        // A configuration error at the credentials: an alert, and still no push.
        let service = Arc::new(answering(&[]));
        let mut connect = FakeConnect {
            service: service.clone(),
            limits: None,
            fail: Some("/etc/passbyme/auth.pem: no such file".into()),
            calls: 0,
        };
        let mut ui = FakeUi::default();
        let mut req = remote("alice");
        let report = run(
            &audit(""),
            &mut req,
            &FakeHost::default(),
            &mut connect,
            &mut ui,
        );
        record(&mut ui, &req, &report);
        assert_eq!(report.outcome.word(), "would-deny");
        assert!(!report.outcome.allows());
        let (level, line) = ui.lines.last().unwrap();
        assert_eq!(*level, Level::Alert);
        assert!(
            line.ends_with(
                " mode=audit enforce=error error=\"/etc/passbyme/auth.pem: no such file\""
            ),
            "{line}"
        );
        assert!(service.sent.lock().unwrap().is_empty());
    }

    #[test]
    fn flow_audit_reads_the_limits_and_changes_nothing() {
        let (limits, go) = limited("audit-limits", |l| l.max_pushes = 1);
        // One real push uses the rate (enforce mode).
        assert_eq!(
            go(answering(&[&[("a@x", "APPROVED")]])).report.outcome,
            Outcome::Approved
        );
        let store = Store::open(&limits).unwrap();
        let before = store.read("alice").unwrap();
        let mut c = config("");
        c.policy.mode = Mode::Audit;
        let r = login_with(
            &c,
            remote("alice"),
            &FakeHost::default(),
            answering(&[&[("a@x", "APPROVED")]]),
            Some(limits.clone()),
            FakeUi::default(),
        );
        assert_eq!(r.report.outcome.word(), "would-deny");
        assert!(r.service.sent.lock().unwrap().is_empty(), "no push");
        assert!(
            r.line.contains(
                " mode=audit enforce=limited policy=limits reason=\"rate limit: 1 pushes"
            ),
            "{}",
            r.line
        );
        assert_eq!(store.read("alice").unwrap(), before, "state unchanged");
        // From another source the rate allows it: would-push, and still nothing counted.
        let mut req = remote("alice");
        req.rhost = Some("192.0.2.9".into());
        let r = login_with(
            &c,
            req,
            &FakeHost::default(),
            answering(&[]),
            Some(limits.clone()),
            FakeUi::default(),
        );
        assert_eq!(r.report.outcome, Outcome::Audit(Audit::Push));
        assert_eq!(store.read("alice").unwrap(), before, "state unchanged");
        let _ = std::fs::remove_dir_all(&limits.state_dir);
    }

    #[test]
    fn flow_denials_count_and_lock_out() {
        let (limits, go) = limited("lockout", |l| l.lockout_after = 1);
        let r = go(answering(&[&[("a@x", "DENIED")]]));
        assert_eq!(r.report.outcome, Outcome::Refused(Status::Denied));
        // The limiter was told it was a denial (Finish::Denied): the source is locked out.
        let r = go(answering(&[&[("a@x", "APPROVED")]]));
        assert_outcome!(r, Outcome::Limited(why) if why.reason.contains("locked out") && matches!(why.limit, limiter::Limit::LockedOut(s) if s > 0));
        let _ = std::fs::remove_dir_all(&limits.state_dir);
    }

    #[test]
    fn flow_grace_after_an_approval_needs_no_push() {
        let (limits, go) = limited("grace", |l| l.grace = Duration::from_secs(300));
        assert_eq!(
            go(answering(&[&[("a@x", "APPROVED")]])).report.outcome,
            Outcome::Approved
        );
        let r = go(FakeService::default());
        assert_eq!(r.report.outcome, Outcome::Grace);
        assert!(r.report.outcome.allows());
        assert!(r.service.sent.lock().unwrap().is_empty());
        assert!(r.line.contains("policy=limits:grace"), "{}", r.line);
        let _ = std::fs::remove_dir_all(&limits.state_dir);
    }

    #[test]
    fn early_decision_lines() {
        let start = Instant::now();
        let req = Request {
            user: String::new(),
            ..remote("")
        };
        let line = |req: &Request, r: Report| crate::log::decision(req, &r);
        let l = line(
            &req,
            Report::early(Outcome::Config("unknown argument 'nullok'".into()), start),
        );
        assert!(
            l.starts_with("decision=error user=- ids=- service=sshd rhost=192.0.2.1"),
            "{l}"
        );
        assert!(l.ends_with("error=\"unknown argument 'nullok'\""), "{l}");
        let l = line(&req, Report::early(Outcome::BadUserName(7), start));
        assert!(l.starts_with("decision=unmapped user=(len=7) "), "{l}");
        let prev = Outcome::Repeat(Box::new(Outcome::Refused(Status::Denied)));
        assert!(!prev.allows());
        let l = line(&remote("alice"), Report::early(prev, start));
        assert!(l.starts_with("decision=repeat user=alice "), "{l}");
        assert!(l.contains("previous=refused"), "{l}");
        // A configuration that cannot be loaded: the name only if the user database knows it.
        let host = FakeHost::default();
        let r = config_failed(&host, "s3cret", false, "config: x".into(), start);
        // No configuration: no key either, so the length alone.
        assert!(line(&remote("s3cret"), r).contains("user=(unknown:len=6) "));
        let r = config_failed(&host, "s3cret", true, "config: x".into(), start);
        assert!(line(&remote("s3cret"), r).contains("user=s3cret "));
        let r = config_failed(&host, "alice", false, "config: x".into(), start);
        assert!(line(&remote("alice"), r).contains("user=alice "));
    }
}
