//! The login flow, free of PAM: user → IDs → push → tell the terminal → poll → decide,
//! with the message cancelled on every exit that leaves it open. The PAM hook and
//! `passbyme login` both call [`run`] and then [`record`], which writes the one decision line.
//!
//! Everything the flow needs from outside comes through a seam, so that every path is a
//! plain unit test: the host's facts ([`Host`]: the user database, groups, host name,
//! randomness, the clock of the message), the service and the limiter ([`Connect`] builds a
//! [`Backend`] once the login is going to push, before the limiter claims anything), and the
//! person ([`Ui`]).
//!
//! The flow is a list of steps (`Attempt`'s methods), each of which either gives what the
//! next needs or ends the login with its [`Outcome`]. The files:
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the seams to the person ([`Ui`]), [`run`] and the steps before the push |
//! | `api.rs` | the seams to the service and the limiter ([`Api`], [`Connect`], [`Backend`]) |
//! | `lookup.rs` | a user's IDs from the sources of the configuration ([`map_user`]) |
//! | `push.rs` | the push: the message sent, recorded, shown, and the prompt's watchdog |
//! | `poll.rs` | the wait: when to poll ([`Schedule`]) and what the statuses decide ([`decide`]) |
//! | `inflight.rs` | a login under way, which cancels its message on every exit |

use std::time::{Duration, Instant};

use crate::client::Status;
use crate::config::{Config, Local, Mode};
use crate::limiter::{Begin, Origin, Refusal, StoreError, Wait};
use crate::log::{self, Level};
use crate::os::Host;
use crate::outcome::{Audit, Outcome, Report, Request};

mod api;
mod inflight;
mod lookup;
mod poll;
mod push;
#[cfg(test)]
mod tests;

pub(crate) use crate::log::redacted_user;
pub use api::{Api, Backend, Connect, ConnectError, Connector};
pub use lookup::{map_user, Lookup, Source};
pub use poll::{decide, Schedule};

use inflight::InFlight;

/// How long a cancel may take after the login has ended.
pub(crate) const CANCEL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long ending a login may wait for the user's limiter lock (it stops at once on a
/// signal too). Failing only loses this login's counts.
pub(crate) const FINISH_LOCK_WAIT: Duration = Duration::from_secs(2);
/// Consecutive failed polls after which the wait is given up.
pub(crate) const MAX_POLL_ERRORS: u32 = 3;

/// Given the signal that ends the process during a prompt: cancels the push and returns
/// the decision line to log.
pub type Abandon<'a> = dyn Fn(i32) -> String + Sync + 'a;

/// What the login flow needs from the application: the conversation, interruption, logging.
pub trait Ui {
    /// Shows a line to the person (PAM_TEXT_INFO).
    fn info(&mut self, text: &str) -> Result<(), ConversationError>;
    /// Asks the person and waits for the answer (PAM_PROMPT_ECHO_ON). If a signal ends
    /// the process while the host waits for the answer, call `abandon` first.
    fn prompt(&mut self, text: &str, abandon: &Abandon<'_>) -> Result<String, ConversationError>;
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

/// Why the conversation with the person failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationError {
    /// The application gave no conversation function.
    Missing,
    /// The application's conversation function returned this PAM code.
    Code(i32),
    /// The terminal (`passbyme login`) or another conversation failed: why.
    Other(String),
}

impl std::fmt::Display for ConversationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConversationError::Missing => f.write_str("no conversation function"),
            ConversationError::Code(rc) => write!(f, "conversation failed (PAM code {rc})"),
            ConversationError::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ConversationError {}

/// The report of a configuration that cannot be loaded: the user's name is logged only
/// when the user database knows it (or with `debug`), else redacted (it may be a mistyped
/// password).
pub(crate) fn config_failed(
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
    let mut typed = None;
    let mut redacted = None;
    let mut login = InFlight::default();
    // Map the name the user database knows, not the spelling typed: with a source that
    // accepts other spellings (SSSD's AD provider is case-insensitive by default), `ALICE`
    // must not escape `alice`'s second factor.
    let outcome = match host.canonical_user(&req.user) {
        Ok(Some(name)) => {
            if name != req.user {
                typed = Some(std::mem::replace(&mut req.user, name));
            }
            let mut attempt = Attempt {
                config,
                req,
                host,
                ui: &mut *ui,
                start,
                deadline: start + config.login.timeout,
                login,
            };
            let outcome = attempt.steps(connect).unwrap_or_else(|ended| ended);
            login = attempt.login;
            outcome
        }
        Ok(None) => {
            redacted = Some(unknown_user(config, req, ui));
            Outcome::UnknownUser(config.policy.unmapped)
        }
        Err(e) => Outcome::Error(format!("user lookup: {e}")),
    };
    let outcome = match config.policy.mode {
        Mode::Enforce => outcome,
        Mode::Audit => outcome.audited(),
    };
    let mut interrupted = || ui.interrupted();
    let end = login.settle(&outcome, Some(&mut interrupted));
    Report {
        outcome,
        ids: end.ids,
        message_id: end.message_id,
        code: end.code,
        duration: start.elapsed(),
        settled: end.settled,
        typed,
        redacted,
    }
}

/// A name the user database does not know: logged in full only with `debug`; what the
/// decision line shows instead ([`redacted_user`], keyed when the key can be had).
fn unknown_user(config: &Config, req: &Request, ui: &mut dyn Ui) -> String {
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
    redacted_user(&req.user, key.as_ref())
}

/// One login of a user the database knows, step by step. `Err` from a step is how the
/// login ended before the steps did; what must be settled at the end is in `login`.
struct Attempt<'a> {
    config: &'a Config,
    req: &'a Request,
    host: &'a dyn Host,
    ui: &'a mut dyn Ui,
    start: Instant,
    deadline: Instant,
    login: InFlight,
}

impl Attempt<'_> {
    /// The steps in their order: who is exempt, the IDs, local logins, the backend, the
    /// limits, then the push and the wait for the phone ([`Attempt::push_and_wait`]).
    fn steps(&mut self, connect: &mut dyn Connect) -> Result<Outcome, Outcome> {
        self.groups()?;
        let ids = self.ids()?;
        self.login.ids = ids;
        self.local()?;
        // The client first (it reads the secret files): a configuration failure never
        // touches the limiter.
        let backend = connect
            .connect(self.config)
            .map_err(|e| Outcome::Config(e.to_string()))?;
        if self.config.policy.mode == Mode::Audit {
            return Ok(audit_limits(&backend, self.req, self.config.login.timeout));
        }
        let cancel_first = self.claim_limits(&backend)?;
        self.login.backend = Some(backend);
        self.push_and_wait(cancel_first)
    }

    /// The groups first, for every user the database knows, mapped or not: a break-glass
    /// account in an exempt group is skipped whatever the mapping says of it.
    fn groups(&self) -> Result<(), Outcome> {
        let policy = &self.config.policy;
        if policy.only_groups.is_empty() && policy.exempt_groups.is_empty() {
            return Ok(());
        }
        let groups = self
            .host
            .groups(&self.req.user)
            .map_err(|e| Outcome::Error(format!("group lookup: {e}")))?;
        if let Some(g) = groups.iter().find(|g| policy.exempt_groups.contains(g)) {
            return Err(Outcome::Skipped(format!("member of exempt group {g}")));
        }
        if !policy.only_groups.is_empty() && !groups.iter().any(|g| policy.only_groups.contains(g))
        {
            return Err(Outcome::Skipped("not in only_groups".into()));
        }
        Ok(())
    }

    /// The user's PassBy\[ME\] IDs, or the policy for a user no source maps.
    fn ids(&mut self) -> Result<Vec<String>, Outcome> {
        match map_user(self.config, self.host, &self.req.user) {
            Ok(Lookup::Ids(ids, _)) => Ok(ids),
            Ok(Lookup::Unmapped(why)) => {
                self.ui.log(Level::Debug, &format!("unmapped: {why}"));
                Err(Outcome::Unmapped(self.config.policy.unmapped))
            }
            Ok(Lookup::Invalid(e)) => Err(Outcome::Error(e)),
            Err(e) => Err(Outcome::Error(format!("user lookup: {e}"))),
        }
    }

    /// A login with no remote host follows `policy.local`.
    fn local(&self) -> Result<(), Outcome> {
        if self.req.rhost.as_deref().is_some_and(|r| !r.is_empty()) {
            return Ok(());
        }
        match self.config.policy.local {
            Local::Push => Ok(()),
            Local::Deny => Err(Outcome::LocalDenied),
            Local::Ignore => Err(Outcome::Skipped(
                "local login (policy.local = ignore)".into(),
            )),
        }
    }

    /// Claims the push with the limiter, when `[limits]` is on: the user's own lock is
    /// waited for until the login's deadline or a signal. Gives the message of an earlier
    /// push to cancel first, if any; the ticket is kept for the end of the login.
    fn claim_limits(&mut self, backend: &Backend) -> Result<Option<String>, Outcome> {
        let Some(store) = &backend.limiter else {
            return Ok(None);
        };
        let origin = origin(self.req);
        let ui = &mut *self.ui;
        let mut interrupted = || ui.interrupted();
        let mut wait = Wait {
            deadline: self.deadline,
            interrupted: Some(&mut interrupted),
        };
        let timeout = self.config.login.timeout;
        match store.begin(&self.req.user, &origin, timeout, &mut wait) {
            Ok(Begin::Push { ticket, cancel }) => {
                self.login.ticket = Some(ticket);
                Ok(cancel)
            }
            Ok(Begin::Grace) => Err(Outcome::Grace),
            Ok(Begin::Refused(why)) => Err(Outcome::Limited(why)),
            Err(StoreError::Interrupted(sig)) => Err(Outcome::Interrupted(sig)),
            Err(e) => Err(Outcome::Limited(Refusal::other(e.to_string()))),
        }
    }
}

/// Where a login comes from, as the limiter counts it.
fn origin(req: &Request) -> Origin<'_> {
    Origin {
        rhost: req.rhost.as_deref(),
        tty: req.tty.as_deref(),
        service: &req.service,
        target: req.target.as_deref(),
    }
}

/// Audit mode at the push: what the limits would say, read without the user's lock and
/// without writing (nothing counted, no pending slot claimed), then [`Audit::Push`]. The
/// outcomes before the push are made audit outcomes by [`run`].
fn audit_limits(backend: &Backend, req: &Request, timeout: Duration) -> Outcome {
    let Some(store) = &backend.limiter else {
        return Outcome::Audit(Audit::Push);
    };
    match store.peek(&req.user, &origin(req), timeout) {
        Ok(Begin::Push { .. }) => Outcome::Audit(Audit::Push),
        Ok(Begin::Grace) => Outcome::Grace,
        Ok(Begin::Refused(why)) => Outcome::Limited(why),
        Err(e) => Outcome::Limited(Refusal::other(e)),
    }
}
