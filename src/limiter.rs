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
//! [`MAX_SOURCES`], grace entries by [`MAX_GRACE`], every key by its encoding), so a
//! state file stays below the [`MAX_STATE_BYTES`] the reader accepts; a state that would
//! not is not written and the login is refused.

use std::cell::Cell;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::duration::{format_duration, Range};
use crate::os::FileLock;

/// The largest state file the reader accepts (and so the largest the writer writes).
pub const MAX_STATE_BYTES: u64 = 64 * 1024;
/// Sources (remote hosts, terminals) remembered per user; the least recently used one
/// that is not locked out makes room for a new one.
pub const MAX_SOURCES: usize = 32;
/// Grace entries remembered per user (the one ending first makes room).
pub const MAX_GRACE: usize = 16;
/// Upper bound of `max_pushes` and `max_pushes_user`.
pub const MAX_PUSHES_BOUND: u32 = 1000;
/// Upper bound of `lockout_after`.
pub const LOCKOUT_AFTER_BOUND: u32 = 100;
/// Upper bound of `lockout_after_user`.
pub const LOCKOUT_AFTER_USER_BOUND: u32 = 1000;
/// The longest a lock wait sleeps between two attempts.
const LOCK_SLICE: Duration = Duration::from_millis(20);

/// What a second login does while a push for the same user is still pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrent {
    /// Refuse the second login, with no push (the default).
    Refuse,
    /// Cancel the first login's push and send a new one.
    Replace,
}

/// The `[limits]` settings.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The state directory. Defaults to [`Limits::DEFAULT_STATE_DIR`].
    pub state_dir: PathBuf,
    /// Pushes allowed per user and source per `window`. Defaults to
    /// [`Limits::DEFAULT_MAX_PUSHES`]; at least 1, at most [`MAX_PUSHES_BOUND`].
    pub max_pushes: u32,
    /// Pushes allowed per user per `window`, all sources together. Defaults to
    /// [`Limits::default_max_pushes_user`]; at least `max_pushes`, at most
    /// [`MAX_PUSHES_BOUND`].
    pub max_pushes_user: u32,
    /// The rate-limit window. Defaults to [`Limits::DEFAULT_WINDOW`], within
    /// [`Limits::WINDOW_RANGE`].
    pub window: Duration,
    /// Denials in a row from one source that lock the user out from that source; 0
    /// disables. Defaults to [`Limits::DEFAULT_LOCKOUT_AFTER`], at most
    /// [`LOCKOUT_AFTER_BOUND`].
    pub lockout_after: u32,
    /// Denials in a row from all sources together that lock the user out from everywhere;
    /// 0 disables. Defaults to [`Limits::default_lockout_after_user`]; 0 or at least
    /// `lockout_after`, at most [`LOCKOUT_AFTER_USER_BOUND`].
    pub lockout_after_user: u32,
    /// How long a lockout lasts. Defaults to [`Limits::DEFAULT_LOCKOUT`], within
    /// [`Limits::LOCKOUT_RANGE`].
    pub lockout: Duration,
    /// A second login while a push is pending. Defaults to [`Concurrent::Refuse`].
    pub concurrent: Concurrent,
    /// After an approval, the same user from the same remote host and service logs in
    /// without a push for this long. Defaults to [`Limits::DEFAULT_GRACE`] (off); else
    /// within [`Limits::GRACE_RANGE`].
    pub grace: Duration,
    /// Let the grace period apply to logins with no remote host, keyed by their terminal
    /// (PAM_TTY; none, no grace). Defaults to false.
    pub grace_local: bool,
}

impl Limits {
    /// `/run/passbyme`.
    pub const DEFAULT_STATE_DIR: &'static str = "/run/passbyme";
    /// 5.
    pub const DEFAULT_MAX_PUSHES: u32 = 5;
    /// 10m.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);
    /// The values `window` accepts: 1s to a day.
    pub const WINDOW_RANGE: Range = Range::new(Duration::from_secs(1), Duration::from_secs(86_400));
    /// 3.
    pub const DEFAULT_LOCKOUT_AFTER: u32 = 3;
    /// 15m.
    pub const DEFAULT_LOCKOUT: Duration = Duration::from_secs(900);
    /// The values `lockout` accepts: 1s to a day.
    pub const LOCKOUT_RANGE: Range =
        Range::new(Duration::from_secs(1), Duration::from_secs(86_400));
    /// 0s: no grace period.
    pub const DEFAULT_GRACE: Duration = Duration::ZERO;
    /// The values `grace` accepts besides 0 (off): 1s to a day.
    pub const GRACE_RANGE: Range = Range::new(Duration::from_secs(1), Duration::from_secs(86_400));

    /// The default `max_pushes_user`: 4 × `max_pushes`, at most [`MAX_PUSHES_BOUND`].
    pub fn default_max_pushes_user(max_pushes: u32) -> u32 {
        max_pushes.saturating_mul(4).min(MAX_PUSHES_BOUND)
    }

    /// The default `lockout_after_user`: 3 × `lockout_after`.
    pub fn default_lockout_after_user(lockout_after: u32) -> u32 {
        lockout_after.saturating_mul(3)
    }
}

impl Default for Limits {
    /// Every field at its documented default.
    fn default() -> Limits {
        Limits {
            state_dir: PathBuf::from(Limits::DEFAULT_STATE_DIR),
            max_pushes: Limits::DEFAULT_MAX_PUSHES,
            max_pushes_user: Limits::default_max_pushes_user(Limits::DEFAULT_MAX_PUSHES),
            window: Limits::DEFAULT_WINDOW,
            lockout_after: Limits::DEFAULT_LOCKOUT_AFTER,
            lockout_after_user: Limits::default_lockout_after_user(Limits::DEFAULT_LOCKOUT_AFTER),
            lockout: Limits::DEFAULT_LOCKOUT,
            concurrent: Concurrent::Refuse,
            grace: Limits::DEFAULT_GRACE,
            grace_local: false,
        }
    }
}

/// A user's state, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserState {
    /// When pushes were sent (Unix ms), within the current window, from every source.
    pub pushes: Vec<u64>,
    /// Denials in a row, from every source.
    pub denials: u32,
    /// Locked out from everywhere until this time (Unix ms); 0 = not locked.
    pub locked_until: u64,
    /// The push now pending, if any.
    pub pending: Option<PendingPush>,
    /// Grace entries (approved user + source + service, until when).
    pub grace: Vec<Grace>,
    /// The same counters per source (remote host, or terminal for a local login).
    #[serde(default)]
    pub sources: Vec<SourceState>,
}

/// One source's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceState {
    /// The source: `host:<PAM_RHOST>`, `tty:<PAM_TTY>` or `local` (`host#…`/`tty#…`: the
    /// SHA-256 of a value too long or with unusual characters).
    pub source: String,
    /// When pushes were sent from it (Unix ms), within the current window.
    pub pushes: Vec<u64>,
    /// Denials in a row from it.
    pub denials: u32,
    /// Locked out from it until this time (Unix ms); 0 = not locked.
    pub locked_until: u64,
    /// The last push from it (Unix ms), to choose which source to forget.
    pub last: u64,
}

/// A push that a login is waiting on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingPush {
    /// The login's process.
    pub pid: u32,
    /// Identifies the login within its process.
    pub token: u64,
    /// When it started (Unix ms).
    pub started: u64,
    /// After this (Unix ms) the entry is stale whatever the process does.
    pub until: u64,
    /// The message, once sent.
    pub message: Option<String>,
}

/// An approval that lets the same login through again without a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grace {
    /// The source key (`host:…`, or `tty:…` for a local login under `grace_local`).
    #[serde(alias = "rhost")]
    pub source: String,
    /// The PAM service (encoded like a source).
    pub service: String,
    /// With `user=invoker` (`su`): the user the approved login became (encoded like a
    /// source). An approved `su bob` must not let `su root` through without a push; an
    /// entry without one only ever matches a login without a target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Until when (Unix ms).
    pub until: u64,
}

/// Every user with state, and that state (or why it cannot be read).
pub type Listing = Vec<(String, Result<UserState, String>)>;

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

/// Which limit refused a login: what the person is told follows it
/// ([`crate::messages`]), never the wording of the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
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
    pub limit: Limit,
    /// The reason, for the log.
    pub reason: String,
}

impl Refusal {
    /// A refusal for a reason other than the counted limits (e.g. the state failing).
    pub fn other(reason: impl Into<String>) -> Refusal {
        Refusal {
            limit: Limit::Other,
            reason: reason.into(),
        }
    }
}

/// Why a change to a user's state did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A signal arrived while waiting for the user's lock.
    Interrupted(i32),
    /// The lock was not free before the deadline (another process holds it).
    LockTimeout(Duration),
    /// Anything else (an unreadable or corrupt file, a full disk, …).
    Failed(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Interrupted(sig) => write!(f, "lock wait interrupted by signal {sig}"),
            Error::LockTimeout(d) => write!(
                f,
                "lock wait timed out after {:.1}s (another process holds this user's lock)",
                d.as_secs_f64()
            ),
            Error::Failed(e) => f.write_str(e),
        }
    }
}

impl From<String> for Error {
    fn from(e: String) -> Error {
        Error::Failed(e)
    }
}

/// How long a change may wait for the user's lock: until `deadline`, or at once when
/// `interrupted` reports a signal (it is asked only while the lock is busy).
pub struct Wait<'a> {
    /// The latest moment to get the lock.
    pub deadline: Instant,
    /// Reports a signal that asks to abandon the wait, if any.
    pub interrupted: Option<&'a mut dyn FnMut() -> Option<i32>>,
}

impl Wait<'static> {
    /// A wait of at most `d` that no signal ends early (the `passbyme` command, tests).
    pub fn bounded(d: Duration) -> Wait<'static> {
        Wait {
            deadline: Instant::now() + d,
            interrupted: None,
        }
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

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The file name for a user: the name itself when it is plainly safe, else the hex of the
/// whole name (up to 128 bytes) or of its SHA-256 (longer names: still one file per name).
/// Always `u-`, `x-` or `h-` and then only `[0-9A-Za-z._-]`: lock files (`l-`) and
/// temporary files (`.`) can never take a user's name.
fn file_name(user: &str) -> String {
    let plain = !user.is_empty()
        && user.len() <= 64
        && !user.starts_with('.')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        format!("u-{user}")
    } else if user.len() <= 128 {
        format!("x-{}", hex(user.as_bytes()))
    } else {
        format!("h-{}", sha256_hex(user.as_bytes()))
    }
}

/// The lock file of a user (one per user: no user waits on another's lock).
fn lock_name(user: &str) -> String {
    format!("l-{}", file_name(user))
}

/// The user a state file belongs to (`None` for lock and other files; hashed names are
/// shown by their file name).
fn user_of(file: &str) -> Option<String> {
    if let Some(u) = file.strip_prefix("u-") {
        return Some(u.to_owned());
    }
    if file.starts_with("h-") {
        return Some(format!("({file})"));
    }
    let hex = file.strip_prefix("x-")?;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    String::from_utf8(bytes?).ok()
}

/// A bounded, unambiguous key for an untrusted value: `kind:value` when the value is short
/// and plain, else `kind#` and its SHA-256.
fn key(kind: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'.' | b'_' | b'-' | b':' | b'/' | b'%' | b'[' | b']' | b'@'
                )
        });
    if plain {
        format!("{kind}:{value}")
    } else {
        format!("{kind}#{}", sha256_hex(value.as_bytes()))
    }
}

impl Origin<'_> {
    /// The source a login is counted under: its remote host, else its terminal.
    pub fn source(&self) -> String {
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

impl UserState {
    /// The counters of one source, if it has any.
    pub fn source(&self, source: &str) -> Option<&SourceState> {
        self.sources.iter().find(|s| s.source == source)
    }

    /// Drops what has expired: pushes out of the window, ended grace periods, sources
    /// with nothing left to remember.
    fn prune(&mut self, now: u64, window: u64) {
        let live = |t: &u64| t + window > now && *t <= now;
        self.pushes.retain(live);
        self.grace.retain(|g| g.until > now);
        for s in &mut self.sources {
            s.pushes.retain(live);
        }
        self.sources
            .retain(|s| !s.pushes.is_empty() || s.locked_until > now || s.denials > 0);
    }

    /// The entry for a source, made (forgetting the least recently used source that is
    /// not locked out if the list is full); `None` when every remembered source is locked.
    fn source_mut(&mut self, source: &str, now: u64) -> Option<&mut SourceState> {
        if let Some(i) = self.sources.iter().position(|s| s.source == source) {
            return self.sources.get_mut(i);
        }
        if self.sources.len() >= MAX_SOURCES {
            let victim = self
                .sources
                .iter()
                .enumerate()
                .filter(|(_, s)| s.locked_until <= now)
                .min_by_key(|(_, s)| s.last)
                .map(|(i, _)| i)?;
            self.sources.remove(victim);
        }
        self.sources.push(SourceState {
            source: source.to_owned(),
            ..SourceState::default()
        });
        self.sources.last_mut()
    }
}

impl Store {
    /// Opens (creating it 0700 if missing) and checks the state directory: a real
    /// directory, owned by root (or the effective user), mode 0700.
    pub fn open(limits: &Limits) -> Result<Store, String> {
        let dir = &limits.state_dir;
        let e = |m: String| format!("limits.state_dir {}: {m}", dir.display());
        if !dir.is_absolute() {
            return Err(e("must be an absolute path".into()));
        }
        // Created or used only below directories nobody else can write (StrictModes).
        crate::files::check_parents(dir).map_err(|err| e(err.message))?;
        match fs::symlink_metadata(dir) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                // Another login may create it at the same moment: that is fine.
                match fs::DirBuilder::new().mode(0o700).create(dir) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(err) => return Err(e(format!("cannot create: {err}"))),
                }
            }
            Err(err) => return Err(e(err.to_string())),
            Ok(_) => {}
        }
        let meta = fs::symlink_metadata(dir).map_err(|err| e(err.to_string()))?;
        if !meta.file_type().is_dir() {
            return Err(e("is not a directory (a symlink or a file; refused)".into()));
        }
        if meta.uid() != 0 && meta.uid() != crate::os::euid() {
            return Err(e(format!(
                "is owned by uid {}, not by root (refused)",
                meta.uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(e(format!(
                "is accessible by group or others (mode {:04o}; refused, use chmod 700)",
                meta.mode() & 0o7777
            )));
        }
        Ok(Store {
            dir: dir.clone(),
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

    fn path(&self, user: &str) -> PathBuf {
        self.dir.join(file_name(user))
    }

    /// Takes the user's own lock: without blocking, retried in slices of at most 20 ms
    /// until the deadline, and abandoned at once when a signal is reported.
    fn lock(&self, user: &str, wait: &mut Wait<'_>) -> Result<FileLock, Error> {
        let path = self.dir.join(lock_name(user));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|err| Error::Failed(format!("{}: {err}", path.display())))?;
        match file.metadata() {
            Ok(m) if m.file_type().is_file() => {}
            Ok(_) => {
                return Err(Error::Failed(format!(
                    "{}: not a regular file",
                    path.display()
                )))
            }
            Err(err) => return Err(Error::Failed(format!("{}: {err}", path.display()))),
        }
        let start = Instant::now();
        let mut slice = Duration::from_millis(1);
        let mut file = file;
        loop {
            file = match FileLock::try_exclusive(file) {
                Ok(Ok(lock)) => {
                    self.last_wait.set(start.elapsed());
                    return Ok(lock);
                }
                Ok(Err(file)) => file,
                Err(err) => return Err(Error::Failed(format!("{}: lock: {err}", path.display()))),
            };
            if let Some(sig) = wait.interrupted.as_mut().and_then(|f| f()) {
                self.last_wait.set(start.elapsed());
                return Err(Error::Interrupted(sig));
            }
            let now = Instant::now();
            if now >= wait.deadline {
                self.last_wait.set(start.elapsed());
                return Err(Error::LockTimeout(start.elapsed()));
            }
            std::thread::sleep(slice.min(wait.deadline - now));
            slice = (slice * 2).min(LOCK_SLICE);
        }
    }

    /// Reads a user's state: missing = fresh; unreadable or corrupt = an error (the caller
    /// refuses the login: no push storm from a broken file). Needs no lock: files are
    /// replaced whole.
    pub fn read(&self, user: &str) -> Result<UserState, String> {
        let path = self.path(user);
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(f) => f,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(UserState::default())
            }
            Err(err) => return Err(format!("{}: {err}", path.display())),
        };
        let meta = file
            .metadata()
            .map_err(|err| format!("{}: {err}", path.display()))?;
        if !meta.file_type().is_file() || meta.len() > MAX_STATE_BYTES {
            return Err(format!(
                "{}: not a regular file of at most 64 KiB",
                path.display()
            ));
        }
        let mut text = String::new();
        file.take(MAX_STATE_BYTES)
            .read_to_string(&mut text)
            .map_err(|err| format!("{}: {err}", path.display()))?;
        serde_json::from_str(&text).map_err(|err| {
            format!(
                "{}: corrupt state ({err}); `passbyme unlock {}` resets it",
                path.display(),
                crate::client::sanitize::clean(user, 64)
            )
        })
    }

    /// Writes a user's state, unless it would be larger than the reader accepts.
    fn write(&self, user: &str, state: &UserState) -> Result<(), String> {
        let path = self.path(user);
        let text = serde_json::to_vec(state).map_err(|e| e.to_string())?;
        if text.len() as u64 > MAX_STATE_BYTES {
            return Err(format!(
                "{}: the new state would be {} bytes, over the 64 KiB the reader accepts (not written)",
                path.display(),
                text.len()
            ));
        }
        let tmp = self.dir.join(format!(".{}.tmp", file_name(user)));
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(&text)
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads, changes and writes a user's state under the user's lock; `f` gets the time
    /// read once the lock is held.
    fn update<T>(
        &self,
        user: &str,
        wait: &mut Wait<'_>,
        f: impl FnOnce(&mut UserState, u64) -> T,
    ) -> Result<T, Error> {
        let _lock = self.lock(user, wait)?;
        let now = now_ms();
        let mut state = self.read(user)?;
        let out = f(&mut state, now);
        self.write(user, &state)?;
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
    ) -> Result<Begin, Error> {
        self.update(user, wait, |st, now| {
            self.judge(user, origin, timeout, st, now)
        })
    }

    /// What [`Store::begin`] would decide now, read without the user's lock and written
    /// nowhere: nothing is counted, no pending slot claimed (audit mode). The ticket of a
    /// `Push` it returns stands for nothing.
    pub fn peek(
        &self,
        user: &str,
        origin: &Origin<'_>,
        timeout: Duration,
    ) -> Result<Begin, String> {
        let mut st = self.read(user)?;
        Ok(self.judge(user, origin, timeout, &mut st, now_ms()))
    }

    /// The rules of [`Store::begin`] on a state read at `now`, changing it as a push
    /// would.
    fn judge(
        &self,
        user: &str,
        origin: &Origin<'_>,
        timeout: Duration,
        st: &mut UserState,
        now: u64,
    ) -> Begin {
        let l = &self.limits;
        let pid = std::process::id();
        let token = (u64::from(crate::os::random_below(u32::MAX).unwrap_or(0)) << 32)
            | u64::from(crate::os::random_below(u32::MAX).unwrap_or(0));
        let source = origin.source();
        let grace = origin.grace(l.grace_local);
        let service = key("service", origin.service);
        let target = origin.target.map(|t| key("target", t));
        let window = ms(l.window);
        {
            st.prune(now, window);
            if st.locked_until > now {
                let secs = (st.locked_until - now).div_ceil(1000);
                return Begin::Refused(Refusal {
                    limit: Limit::LockedOut(secs),
                    reason: format!(
                        "locked out from every source after {} denials in a row, for {secs}s more",
                        st.denials
                    ),
                });
            }
            if let Some(s) = st.source(&source).filter(|s| s.locked_until > now) {
                let secs = (s.locked_until - now).div_ceil(1000);
                return Begin::Refused(Refusal {
                    limit: Limit::LockedOut(secs),
                    reason: format!(
                        "locked out after {} denials in a row from {source}, for {secs}s more",
                        s.denials
                    ),
                });
            }
            if let Some(g) = &grace {
                if !l.grace.is_zero()
                    && st
                        .grace
                        .iter()
                        .any(|e| &e.source == g && e.service == service && e.target == target)
                {
                    return Begin::Grace;
                }
            }
            let mut cancel = None;
            if let Some(p) = &st.pending {
                let live = p.until > now && crate::os::process_alive(p.pid);
                if live && l.concurrent == Concurrent::Refuse {
                    return Begin::Refused(Refusal {
                        limit: Limit::Pending,
                        reason: "another login for this user is waiting for approval".into(),
                    });
                }
                cancel = p.message.clone();
            }
            let from_source = st.source(&source).map_or(0, |s| s.pushes.len());
            if from_source as u64 >= u64::from(l.max_pushes) {
                return Begin::Refused(Refusal {
                    limit: Limit::Rate,
                    reason: format!(
                        "rate limit: {from_source} pushes in the last {} from {source}",
                        format_duration(l.window)
                    ),
                });
            }
            if st.pushes.len() as u64 >= u64::from(l.max_pushes_user) {
                return Begin::Refused(Refusal {
                    limit: Limit::Rate,
                    reason: format!(
                        "rate limit: {} pushes in the last {} for this user from all sources",
                        st.pushes.len(),
                        format_duration(l.window)
                    ),
                });
            }
            let Some(s) = st.source_mut(&source, now) else {
                return Begin::Refused(Refusal::other(format!(
                    "{MAX_SOURCES} sources of this user are locked out; {source} is not remembered"
                )));
            };
            s.pushes.push(now);
            s.last = now;
            st.pushes.push(now);
            st.pending = Some(PendingPush {
                pid,
                token,
                started: now,
                until: now.saturating_add(ms(timeout)).saturating_add(30_000),
                message: None,
            });
            Begin::Push {
                ticket: Ticket {
                    user: user.to_owned(),
                    token,
                    source: source.clone(),
                    grace: grace.clone(),
                    service: service.clone(),
                    target: target.clone(),
                },
                cancel,
            }
        }
    }

    /// Records the message this login sent.
    pub fn sent(
        &self,
        ticket: &Ticket,
        message_id: &str,
        wait: &mut Wait<'_>,
    ) -> Result<(), Error> {
        self.update(&ticket.user, wait, |st, _| {
            if let Some(p) = st.pending.as_mut().filter(|p| p.token == ticket.token) {
                // Bounded like every field: a message id is short.
                p.message = Some(message_id.chars().take(128).collect());
            }
        })
    }

    /// Ends this login: clears its pending entry and updates the counters.
    pub fn finish(&self, ticket: &Ticket, how: Finish, wait: &mut Wait<'_>) -> Result<(), Error> {
        let l = &self.limits;
        let window = ms(l.window);
        self.update(&ticket.user, wait, |st, now| {
            st.prune(now, window);
            if st.pending.as_ref().is_some_and(|p| p.token == ticket.token) {
                st.pending = None;
            }
            match how {
                Finish::Approved => {
                    st.denials = 0;
                    if let Some(s) = st.sources.iter_mut().find(|s| s.source == ticket.source) {
                        s.denials = 0;
                    }
                    if let Some(g) = ticket.grace.as_ref().filter(|_| !l.grace.is_zero()) {
                        st.grace.retain(|e| {
                            !(&e.source == g
                                && e.service == ticket.service
                                && e.target == ticket.target)
                        });
                        if st.grace.len() >= MAX_GRACE {
                            // The one ending first makes room.
                            if let Some(i) = (0..st.grace.len()).min_by_key(|&i| st.grace[i].until)
                            {
                                st.grace.remove(i);
                            }
                        }
                        st.grace.push(Grace {
                            source: g.clone(),
                            service: ticket.service.clone(),
                            target: ticket.target.clone(),
                            until: now.saturating_add(ms(l.grace)),
                        });
                    }
                }
                Finish::Denied => {
                    st.denials = st.denials.saturating_add(1);
                    if l.lockout_after_user > 0 && st.denials >= l.lockout_after_user {
                        st.locked_until = now.saturating_add(ms(l.lockout));
                    }
                    if let Some(s) = st.source_mut(&ticket.source, now) {
                        s.denials = s.denials.saturating_add(1);
                        if l.lockout_after > 0 && s.denials >= l.lockout_after {
                            s.locked_until = now.saturating_add(ms(l.lockout));
                        }
                    }
                }
                Finish::Other => {}
            }
        })
    }

    /// Every user with state, for `passbyme status` (lock and temporary files skipped).
    pub fn list(&self) -> Result<Listing, String> {
        let mut out = Vec::new();
        let entries =
            fs::read_dir(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
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
    pub fn unlock(&self, user: &str, wait: &mut Wait<'_>) -> Result<bool, Error> {
        let _lock = self.lock(user, wait)?;
        match fs::remove_file(self.path(user)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Failed(format!("{}: {e}", self.path(user).display()))),
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn store(tag: &str, f: impl FnOnce(&mut Limits)) -> Store {
        let dir = std::env::temp_dir().join(format!("pbm-lim-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut l = Limits {
            state_dir: dir,
            ..Limits::default()
        };
        f(&mut l);
        Store::open(&l).unwrap()
    }

    fn w() -> Wait<'static> {
        Wait::bounded(Duration::from_secs(5))
    }

    fn from(rhost: Option<&'static str>) -> Origin<'static> {
        Origin {
            rhost,
            tty: Some("pts/9"),
            service: "sshd",
            target: None,
        }
    }

    fn begin(s: &Store, user: &str, o: Origin<'_>) -> Result<Ticket, String> {
        match s
            .begin(user, &o, Duration::from_secs(60), &mut w())
            .map_err(|e| e.to_string())?
        {
            Begin::Push { ticket, .. } => Ok(ticket),
            Begin::Grace => Err("grace".into()),
            Begin::Refused(why) => Err(why.reason),
        }
    }

    fn push(s: &Store, user: &str) -> Result<Ticket, String> {
        begin(s, user, from(Some("192.0.2.1")))
    }

    fn end(s: &Store, t: &Ticket, how: Finish) {
        s.finish(t, how, &mut w()).unwrap();
    }

    /// alice's logins end `how`: two from 192.0.2.1 reach that source's ceiling of 2
    /// (`per_source`); another source has its own budget, up to the user's ceiling of 3
    /// across sources (`per_user`).
    fn source_then_user_ceiling(s: &Store, how: Finish, per_source: &str, per_user: &str) {
        for _ in 0..2 {
            let t = push(s, "alice").unwrap();
            end(s, &t, how);
        }
        assert_eq!(push(s, "alice").unwrap_err(), per_source);
        let t = begin(s, "alice", from(Some("192.0.2.2"))).unwrap();
        end(s, &t, how);
        assert_eq!(
            begin(s, "alice", from(Some("192.0.2.3"))).unwrap_err(),
            per_user
        );
    }

    #[test]
    fn rate_limit_counts_pushes_per_source_and_per_user() {
        let s = store("rate", |l| (l.max_pushes, l.max_pushes_user) = (2, 3));
        source_then_user_ceiling(
            &s,
            Finish::Other,
            "rate limit: 2 pushes in the last 10m from host:192.0.2.1",
            "rate limit: 3 pushes in the last 10m for this user from all sources",
        );
        push(&s, "bob").unwrap();
        let st = s.read("alice").unwrap();
        assert_eq!(st.pushes.len(), 3);
        assert_eq!(st.source("host:192.0.2.1").unwrap().pushes.len(), 2);
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn one_pending_push_per_user_and_stale_entries() {
        let s = store("pending", |_| {});
        let t = push(&s, "alice").unwrap();
        s.sent(&t, "MSG1", &mut w()).unwrap();
        assert_eq!(
            push(&s, "alice").unwrap_err(),
            "another login for this user is waiting for approval"
        );
        // A crashed login: its process is gone, the next login cancels its message.
        s.update("alice", &mut w(), |st, _| {
            st.pending.as_mut().unwrap().pid = 999_999_999
        })
        .unwrap();
        match s
            .begin("alice", &from(None), Duration::from_secs(5), &mut w())
            .unwrap()
        {
            Begin::Push { cancel, .. } => assert_eq!(cancel.as_deref(), Some("MSG1")),
            other => panic!("{other:?}"),
        }
        // The first login finishing does not clear the second's entry.
        end(&s, &t, Finish::Other);
        assert!(s.read("alice").unwrap().pending.is_some());
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn replace_policy_names_the_message_to_cancel() {
        let s = store("replace", |l| l.concurrent = Concurrent::Replace);
        let t = push(&s, "alice").unwrap();
        s.sent(&t, "FIRST", &mut w()).unwrap();
        match s
            .begin("alice", &from(None), Duration::from_secs(5), &mut w())
            .unwrap()
        {
            Begin::Push { cancel, .. } => assert_eq!(cancel.as_deref(), Some("FIRST")),
            other => panic!("{other:?}"),
        }
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn lockout_per_source_then_per_user_and_unlock() {
        let s = store("lock", |l| {
            (l.lockout_after, l.lockout_after_user) = (2, 3);
            (l.max_pushes, l.max_pushes_user) = (100, 100);
        });
        source_then_user_ceiling(
            &s,
            Finish::Denied,
            "locked out after 2 denials in a row from host:192.0.2.1, for 900s more",
            "locked out from every source after 3 denials in a row, for 900s more",
        );
        // Other users are untouched.
        push(&s, "bob").unwrap();
        assert!(s.unlock("alice", &mut w()).unwrap());
        push(&s, "alice").unwrap();
        fs::remove_dir_all(s.dir()).unwrap();
        // An approval resets the user's count and the approving source's.
        let s = store("lock2", |l| l.lockout_after = 2);
        let t = push(&s, "bob").unwrap();
        end(&s, &t, Finish::Denied);
        let t = push(&s, "bob").unwrap();
        end(&s, &t, Finish::Approved);
        let st = s.read("bob").unwrap();
        assert_eq!(st.denials, 0);
        assert_eq!(st.source("host:192.0.2.1").unwrap().denials, 0);
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn sources_are_keyed_unambiguously_and_bounded() {
        let o = |rhost, tty| Origin {
            rhost,
            tty,
            service: "sudo",
            target: None,
        };
        assert_eq!(
            o(Some("198.51.100.7"), Some("pts/1")).source(),
            "host:198.51.100.7"
        );
        assert_eq!(o(Some(""), Some("pts/1")).source(), "tty:pts/1");
        assert_eq!(o(None, None).source(), "local");
        // A host that looks like a terminal key is hashed, not confused with it.
        let odd = o(Some("tty:pts/1 x"), None).source();
        assert!(odd.starts_with("host#") && odd.len() == 69, "{odd}");
        let long = "a".repeat(65);
        assert_eq!(o(Some(&long), None).source().len(), 69);
        // More sources than kept: the least recently used unlocked one is forgotten.
        let s = store("sources", |l| {
            l.max_pushes_user = 1000;
            l.lockout_after = 1;
            l.lockout_after_user = 0;
        });
        let hosts: Vec<String> = (0..MAX_SOURCES + 5)
            .map(|i| format!("10.0.0.{i}"))
            .collect();
        let t = begin(&s, "alice", o(Some(&hosts[0]), None)).unwrap();
        end(&s, &t, Finish::Denied); // host 0 locked out: kept
        for h in &hosts[1..] {
            let t = begin(&s, "alice", o(Some(h), None)).unwrap();
            end(&s, &t, Finish::Other);
        }
        let st = s.read("alice").unwrap();
        assert_eq!(st.sources.len(), MAX_SOURCES);
        assert!(st
            .source("host:10.0.0.0")
            .is_some_and(|s| s.locked_until > 0));
        assert!(
            st.source("host:10.0.0.1").is_none(),
            "the oldest unlocked one went"
        );
        assert!(begin(&s, "alice", o(Some(&hosts[0]), None))
            .unwrap_err()
            .starts_with("locked out after 1 denials in a row from host:10.0.0.0"));
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn grace_is_per_host_and_service_and_per_terminal_for_local_logins() {
        let s = store("grace", |l| l.grace = Duration::from_secs(300));
        let t = push(&s, "alice").unwrap();
        end(&s, &t, Finish::Approved);
        assert_eq!(push(&s, "alice").unwrap_err(), "grace");
        begin(&s, "alice", from(Some("192.0.2.2"))).unwrap();
        // Local logins: no grace unless grace_local, and then per terminal.
        let s2 = store("grace2", |l| l.grace = Duration::from_secs(300));
        let local = |tty| Origin {
            rhost: None,
            tty,
            service: "sudo",
            target: None,
        };
        let t = begin(&s2, "bob", local(Some("pts/1"))).unwrap();
        end(&s2, &t, Finish::Approved);
        let t = begin(&s2, "bob", local(Some("pts/1"))).unwrap();
        end(&s2, &t, Finish::Other);
        let s3 = store("grace3", |l| {
            l.grace = Duration::from_secs(300);
            l.grace_local = true;
        });
        let t = begin(&s3, "bob", local(Some("pts/1"))).unwrap();
        end(&s3, &t, Finish::Approved);
        assert_eq!(
            begin(&s3, "bob", local(Some("pts/1"))).unwrap_err(),
            "grace"
        );
        let t = begin(&s3, "bob", local(Some("pts/2"))).unwrap();
        end(&s3, &t, Finish::Other);
        // user=invoker (su): bob's approval of `su carol` is no grace for `su root` (nor for
        // a login of bob himself); `su carol` again is.
        let su = |target| Origin {
            target,
            ..local(Some("pts/3"))
        };
        let t = begin(&s3, "bob", su(Some("carol"))).unwrap();
        end(&s3, &t, Finish::Approved);
        assert_eq!(begin(&s3, "bob", su(Some("carol"))).unwrap_err(), "grace");
        let t = begin(&s3, "bob", su(Some("root"))).unwrap();
        end(&s3, &t, Finish::Other);
        let t = begin(&s3, "bob", su(None)).unwrap();
        end(&s3, &t, Finish::Other);
        // An entry written before targets were recorded matches only a login without one.
        let mut st = s3.read("bob").unwrap();
        for g in &mut st.grace {
            g.target = None;
        }
        s3.write("bob", &st).unwrap();
        let t = begin(&s3, "bob", su(Some("carol"))).unwrap();
        end(&s3, &t, Finish::Other);
        assert_eq!(begin(&s3, "bob", su(None)).unwrap_err(), "grace");
        let t = begin(&s3, "bob", local(None)).unwrap();
        end(&s3, &t, Finish::Approved);
        let t = begin(&s3, "bob", local(None)).unwrap();
        end(&s3, &t, Finish::Other);
        for d in [s.dir(), s2.dir(), s3.dir()] {
            fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn corrupt_state_refuses_and_odd_names_are_encoded() {
        let s = store("corrupt", |_| {});
        fs::write(s.dir().join("u-alice"), "{not json").unwrap();
        let e = push(&s, "alice").unwrap_err();
        assert!(
            e.contains("corrupt state") && e.contains("passbyme unlock alice"),
            "{e}"
        );
        assert_eq!(file_name("../etc/passwd"), "x-2e2e2f6574632f706173737764");
        assert_eq!(user_of(&file_name("a b\u{7}")).as_deref(), Some("a b\u{7}"));
        assert_eq!(user_of(&file_name("alice")).as_deref(), Some("alice"));
        let (a, b) = ("a".repeat(128) + "1", "a".repeat(128) + "2");
        assert_ne!(
            file_name(&a),
            file_name(&b),
            "long names do not share state"
        );
        assert!(file_name(&a).starts_with("h-") && file_name(&a).len() == 66);
        // Lock files never take a user's name, and the listing skips them.
        for u in ["alice", "l-u-alice", "u-alice", "x-61", "a b"] {
            assert!(user_of(&lock_name(u)).is_none(), "{u}");
            assert_ne!(lock_name(u), file_name("l-u-alice"));
        }
        fs::remove_dir_all(s.dir()).unwrap();
        let s = store("list", |_| {});
        push(&s, "alice").unwrap();
        push(&s, "l-u-alice").unwrap();
        assert!(s.dir().join("l-u-alice").is_file());
        let users: Vec<String> = s.list().unwrap().into_iter().map(|(u, _)| u).collect();
        assert_eq!(users, ["alice", "l-u-alice"]);
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn the_lock_is_per_user_and_its_wait_is_bounded_and_interruptible() {
        let s = store("lockwait", |_| {});
        // Another holder of alice's lock (a separate open file description).
        let held = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(s.dir().join(lock_name("alice")))
            .unwrap();
        let _held = match FileLock::try_exclusive(held).unwrap() {
            Ok(l) => l,
            Err(_) => panic!("lock"),
        };
        // bob is not affected.
        push(&s, "bob").unwrap();
        // alice waits until the deadline, then gives up.
        let start = Instant::now();
        let e = s
            .begin(
                "alice",
                &from(None),
                Duration::from_secs(60),
                &mut Wait::bounded(Duration::from_millis(300)),
            )
            .unwrap_err();
        assert!(matches!(e, Error::LockTimeout(_)), "{e:?}");
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(
            e.to_string().starts_with("lock wait timed out after 0."),
            "{e}"
        );
        // A signal ends the wait at once, whatever the deadline.
        let mut asked = 0;
        let mut sig = || {
            asked += 1;
            (asked >= 3).then_some(libc::SIGTERM)
        };
        let e = s
            .unlock(
                "alice",
                &mut Wait {
                    deadline: Instant::now() + Duration::from_secs(3600),
                    interrupted: Some(&mut sig),
                },
            )
            .unwrap_err();
        assert_eq!(e, Error::Interrupted(libc::SIGTERM));
        assert_eq!(asked, 3);
        // A free lock never asks about signals (an old pending signal does not block).
        let mut never = || -> Option<i32> { panic!("asked while the lock was free") };
        s.unlock(
            "bob",
            &mut Wait {
                deadline: Instant::now(),
                interrupted: Some(&mut never),
            },
        )
        .unwrap();
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn state_files_stay_below_what_the_reader_accepts() {
        // The worst case the bounds allow: every list full, every key at its longest.
        let now = now_ms();
        let long_key = key("host", &"\u{1}".repeat(100));
        let mut st = UserState {
            pushes: vec![u64::MAX; MAX_PUSHES_BOUND as usize],
            denials: u32::MAX,
            locked_until: u64::MAX,
            pending: Some(PendingPush {
                pid: u32::MAX,
                token: u64::MAX,
                started: u64::MAX,
                until: u64::MAX,
                message: Some("\u{1}".repeat(128)),
            }),
            grace: vec![
                Grace {
                    source: long_key.clone(),
                    service: key("service", &"x".repeat(1000)),
                    target: Some(key("target", &"x".repeat(1000))),
                    until: u64::MAX,
                };
                MAX_GRACE
            ],
            sources: Vec::new(),
        };
        // Per-source pushes together never exceed the user's (each push is in both).
        for i in 0..MAX_SOURCES {
            st.sources.push(SourceState {
                source: key("host", &format!("{i}{}", "\u{1}".repeat(100))),
                pushes: vec![u64::MAX; MAX_PUSHES_BOUND as usize / MAX_SOURCES],
                denials: u32::MAX,
                locked_until: u64::MAX,
                last: u64::MAX,
            });
        }
        st.sources[0]
            .pushes
            .extend(vec![u64::MAX; MAX_PUSHES_BOUND as usize % MAX_SOURCES]);
        let size = serde_json::to_vec(&st).unwrap().len() as u64;
        assert!(size <= MAX_STATE_BYTES, "{size} bytes");
        // And a state over the limit is refused, not written: the old one stays.
        let s = store("size", |_| {});
        let t = push(&s, "alice").unwrap();
        let before = fs::read(s.dir().join("u-alice")).unwrap();
        let e = s
            .update("alice", &mut w(), |st, _| {
                st.pending.as_mut().unwrap().message = Some("m".repeat(70_000))
            })
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("over the 64 KiB the reader accepts (not written)"),
            "{e}"
        );
        assert_eq!(fs::read(s.dir().join("u-alice")).unwrap(), before);
        // The message id the module records is cut to a bounded length.
        s.sent(&t, &"m".repeat(70_000), &mut w()).unwrap();
        assert_eq!(
            s.read("alice")
                .unwrap()
                .pending
                .unwrap()
                .message
                .unwrap()
                .len(),
            128
        );
        let _ = now;
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn state_files_of_the_previous_format_still_read() {
        let s = store("oldfmt", |_| {});
        fs::write(
            s.dir().join("u-alice"),
            r#"{"pushes":[],"denials":1,"locked_until":0,"pending":null,"grace":[{"rhost":"192.0.2.1","service":"sshd","until":1}]}"#,
        )
        .unwrap();
        assert_eq!(s.read("alice").unwrap().denials, 1);
        push(&s, "alice").unwrap();
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn the_directory_must_be_below_directories_only_root_writes() {
        use std::os::unix::fs::PermissionsExt;
        let open = std::env::temp_dir().join(format!("pbm-lim-{}-open", std::process::id()));
        let _ = fs::remove_dir_all(&open);
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let l = Limits {
            state_dir: open.join("state"),
            ..Limits::default()
        };
        let e = Store::open(&l).err().unwrap();
        assert!(
            e.contains("is writable by group or others (mode 0777"),
            "{e}"
        );
        assert!(!open.join("state").exists(), "not created there");
        // A root-owned sticky directory (as /tmp) is fine.
        fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
        Store::open(&l).unwrap();
        fs::remove_dir_all(&open).unwrap();
    }

    #[test]
    fn the_directory_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let s = store("perm", |_| {});
        fs::set_permissions(s.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        let l = Limits {
            state_dir: s.dir().to_owned(),
            ..Limits::default()
        };
        let e = Store::open(&l).err().unwrap();
        assert!(
            e.contains("accessible by group or others (mode 0755"),
            "{e}"
        );
        fs::remove_dir_all(s.dir()).unwrap();
    }
}
