//! Push-fatigue defense: at most one pending push per user, a rate limit and a lockout
//! after repeated denials per (user, source) with a higher ceiling per user, and an opt-in
//! grace period after an approval.
//!
//! The state lives in a root-only directory (default `/run/passbyme`, created 0700), one
//! JSON file per user, modelled on `pam_faillock`'s tally directory. Every change to a
//! user's state happens under an exclusive `flock` on that user's own lock file (`l-…`,
//! never shared between users), taken without blocking and retried in short slices until
//! the login's deadline or a signal; the clock is read once the lock is held. Each state
//! is written to a temporary file renamed into place, so readers never need the lock and
//! a crash leaves either the old or the new state. A pending push records the pid and
//! message of the login that sent it: a later login that finds it with its process gone
//! (a crash) cancels that message and goes on.
//!
//! Every list in a state file is bounded (pushes by `max_pushes_user`, sources by
//! `MAX_SOURCES`, grace entries by `MAX_GRACE`, every key by its encoding), so a
//! state file stays below the `MAX_STATE_BYTES` the reader accepts; a state that would
//! not is not written and the login is refused.
//!
//! Files: `mod.rs` the store's API and the words of its answers; `limits` the settings
//! and their bounds; `state` the state file and its bounds; `keys` names and
//! keys made from untrusted values; `lock` the per-user lock and its [`Wait`]; `dir` the
//! state directory's checks; `rules` what a login may do and how its end counts.

mod dir;
mod keys;
mod limits;
mod lock;
mod rules;
mod state;
#[cfg(test)]
mod testing;

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use dir::DirError;
pub use limits::{
    Concurrent, Limits, LOCKOUT_AFTER_BOUND, LOCKOUT_AFTER_USER_BOUND, MAX_PUSHES_BOUND,
};
pub use lock::Wait;
pub(crate) use state::{StateError, UserState};

use keys::{key, user_of};

/// Every user with state, and that state (or why it cannot be read).
pub(crate) type Listing = Vec<(String, Result<UserState, StateError>)>;

/// What `begin` decided.
#[derive(Debug)]
pub enum Begin {
    /// Send a push; report back through the ticket. `cancel` names an earlier login's
    /// message to cancel first (a crashed login's, or the one replaced).
    Push {
        /// Identifies this login's pending entry.
        ticket: Ticket,
        /// A message to cancel before sending.
        cancel: Option<String>,
    },
    /// Within a grace period: no push needed.
    Grace,
    /// Refused without a push.
    Refused(Refusal),
}

/// Which limit refused a login: what the person is told follows it (the `messages`
/// module picks the text), never the wording of the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// Locked out after denials in a row, for this many more seconds.
    LockedOut(u64),
    /// Too many pushes in the window.
    Rate,
    /// Another login of this user is waiting for approval (`concurrent = "refuse"`).
    Pending,
    /// Anything else: a source the state cannot remember, the state itself failing.
    Other,
}

/// A login refused by the limits, with no push sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which limit.
    pub(crate) limit: Limit,
    /// The reason, for the log.
    pub reason: String,
}

impl Refusal {
    /// A refusal for a reason other than the counted limits (e.g. the state failing).
    pub(crate) fn other(reason: impl std::fmt::Display) -> Refusal {
        Refusal {
            limit: Limit::Other,
            reason: reason.to_string(),
        }
    }
}

/// Why a change to a user's state did not happen.
#[derive(Debug)]
pub enum StoreError {
    /// A signal arrived while waiting for the user's lock.
    Interrupted(i32),
    /// The lock was not free before the deadline (another process holds it).
    LockTimeout(Duration),
    /// A file of the state directory failed (unreadable or corrupt, a full disk, …).
    State(StateError),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Interrupted(sig) => write!(f, "lock wait interrupted by signal {sig}"),
            StoreError::LockTimeout(d) => write!(
                f,
                "lock wait timed out after {:.1}s (another process holds this user's lock)",
                d.as_secs_f64()
            ),
            StoreError::State(e) => write!(f, "{e}"),
        }
    }
}

// No `source()`: the message already says it, and a chain would print it twice.
impl std::error::Error for StoreError {}

impl From<StateError> for StoreError {
    fn from(e: StateError) -> StoreError {
        StoreError::State(e)
    }
}

/// This login's claim on the user's pending slot.
#[derive(Debug, Clone)]
pub struct Ticket {
    user: String,
    token: u64,
    source: String,
    grace: Option<String>,
    service: String,
    target: Option<String>,
}

/// How a login ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Approved: denials reset, grace recorded.
    Approved,
    /// Denied on the phone: counts toward the lockouts.
    Denied,
    /// Anything else: only the pending entry is cleared.
    Other,
}

/// Where a login comes from, as the limiter keys it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    /// PAM_RHOST, if any.
    pub rhost: Option<&'a str>,
    /// PAM_TTY, if any.
    pub tty: Option<&'a str>,
    /// The PAM service.
    pub service: &'a str,
    /// With `user=invoker` (`su`): the user to become; part of the grace key.
    pub target: Option<&'a str>,
}

/// The state directory, opened and checked.
pub struct Store {
    dir: PathBuf,
    limits: Limits,
    last_wait: Cell<Duration>,
}

/// Current time, Unix ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Origin<'_> {
    /// The source a login is counted under: its remote host, else its terminal.
    pub(crate) fn source(&self) -> String {
        match (
            self.rhost.filter(|r| !r.is_empty()),
            self.tty.filter(|t| !t.is_empty()),
        ) {
            (Some(r), _) => key("host", r),
            (None, Some(t)) => key("tty", t),
            (None, None) => "local".into(),
        }
    }

    /// The grace key: the remote host, or (with `grace_local`) the terminal; none for a
    /// local login without a terminal.
    fn grace(&self, grace_local: bool) -> Option<String> {
        match (
            self.rhost.filter(|r| !r.is_empty()),
            self.tty.filter(|t| !t.is_empty()),
        ) {
            (Some(r), _) => Some(key("host", r)),
            (None, Some(t)) if grace_local => Some(key("tty", t)),
            _ => None,
        }
    }
}
impl Store {
    /// Opens (creating it 0700 if missing) and checks the state directory: a real
    /// directory, owned by root (or the effective user), mode 0700.
    pub fn open(limits: &Limits) -> Result<Store, DirError> {
        dir::prepare(&limits.state_dir)?;
        Ok(Store {
            dir: limits.state_dir.clone(),
            limits: limits.clone(),
            last_wait: Cell::new(Duration::ZERO),
        })
    }

    /// The settings this store applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How long the last change waited for its lock (for the benchmark and debug logs).
    pub fn last_lock_wait(&self) -> Duration {
        self.last_wait.get()
    }

    /// Reads a user's state: missing = fresh; unreadable or corrupt = an error (the caller
    /// refuses the login: no push storm from a broken file). Needs no lock: files are
    /// replaced whole.
    pub fn read(&self, user: &str) -> Result<UserState, StateError> {
        state::read(&self.dir, user)
    }

    /// Reads, changes and writes a user's state under the user's lock; `f` gets the time
    /// read once the lock is held.
    fn update<T>(
        &self,
        user: &str,
        wait: &mut Wait<'_>,
        f: impl FnOnce(&mut UserState, u64) -> T,
    ) -> Result<T, StoreError> {
        let _lock = lock::lock(&self.dir, user, wait, &self.last_wait)?;
        let now = now_ms();
        let mut state = self.read(user)?;
        let out = f(&mut state, now);
        state::write(&self.dir, user, &state)?;
        Ok(out)
    }

    /// Decides whether this login may send a push, and claims the pending slot if so.
    /// `timeout` is the login's deadline, to know when a pending entry is stale.
    pub fn begin(
        &self,
        user: &str,
        origin: &Origin<'_>,
        timeout: Duration,
        wait: &mut Wait<'_>,
    ) -> Result<Begin, StoreError> {
        self.update(user, wait, |st, now| {
            rules::decide(&self.limits, user, origin, timeout, st, now)
        })
    }

    /// What [`Store::begin`] would decide now, read without the user's lock and written
    /// nowhere: nothing is counted, no pending slot claimed (audit mode). The ticket of a
    /// `Push` it returns stands for nothing.
    pub(crate) fn peek(
        &self,
        user: &str,
        origin: &Origin<'_>,
        timeout: Duration,
    ) -> Result<Begin, StateError> {
        let mut st = self.read(user)?;
        Ok(rules::decide(
            &self.limits,
            user,
            origin,
            timeout,
            &mut st,
            now_ms(),
        ))
    }

    /// Records the message this login sent.
    pub fn sent(
        &self,
        ticket: &Ticket,
        message_id: &str,
        wait: &mut Wait<'_>,
    ) -> Result<(), StoreError> {
        self.update(&ticket.user, wait, |st, _| {
            if let Some(p) = st.pending.as_mut().filter(|p| p.token == ticket.token) {
                // Bounded like every field: a message id is short.
                p.message = Some(message_id.chars().take(128).collect());
            }
        })
    }

    /// Ends this login: clears its pending entry and updates the counters.
    pub fn finish(
        &self,
        ticket: &Ticket,
        how: Finish,
        wait: &mut Wait<'_>,
    ) -> Result<(), StoreError> {
        self.update(&ticket.user, wait, |st, now| {
            rules::record(&self.limits, ticket, how, st, now)
        })
    }

    /// Every user with state, for `passbyme status` (lock and temporary files skipped).
    pub fn list(&self) -> Result<Listing, StateError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(|e| StateError::io(&self.dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(user) = user_of(&name) {
                let st = self.read(&user);
                out.push((user, st));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Clears a user's state (lockouts, counters, grace), like `faillock --reset`, once
    /// the user's lock is free (waiting as `wait` allows).
    pub fn unlock(&self, user: &str, wait: &mut Wait<'_>) -> Result<bool, StoreError> {
        let _lock = lock::lock(&self.dir, user, wait, &self.last_wait)?;
        let path = state::path(&self.dir, user);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StateError::io(&path, e).into()),
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::testing::{push, store};

    #[test]
    fn corrupt_state_refuses_and_the_listing_skips_lock_files() {
        let s = store("corrupt", |_| {});
        fs::write(s.dir().join("u-alice"), "{not json").unwrap();
        let e = push(&s, "alice").unwrap_err();
        assert!(
            e.contains("corrupt state") && e.contains("passbyme unlock alice"),
            "{e}"
        );
        fs::remove_dir_all(s.dir()).unwrap();
        let s = store("list", |_| {});
        push(&s, "alice").unwrap();
        push(&s, "l-u-alice").unwrap();
        assert!(s.dir().join("l-u-alice").is_file());
        let users: Vec<String> = s.list().unwrap().into_iter().map(|(u, _)| u).collect();
        assert_eq!(users, ["alice", "l-u-alice"]);
        fs::remove_dir_all(s.dir()).unwrap();
    }
}
