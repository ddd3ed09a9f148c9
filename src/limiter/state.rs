//! The state file of a user: its format ([`UserState`] and the entries in it), the bounds
//! that keep it below [`MAX_STATE_BYTES`], and reading and writing it whole; and
//! [`StateError`], what goes wrong with a file of the state directory.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::keys::file_name;

/// The largest state file the reader accepts (and so the largest the writer writes).
pub(crate) const MAX_STATE_BYTES: u64 = 64 * 1024;
/// Sources (remote hosts, terminals) remembered per user; the least recently used one
/// that is not locked out makes room for a new one.
pub(crate) const MAX_SOURCES: usize = 32;
/// Grace entries remembered per user (the one ending first makes room).
pub(crate) const MAX_GRACE: usize = 16;

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

impl UserState {
    /// The counters of one source, if it has any.
    pub(crate) fn source(&self, source: &str) -> Option<&SourceState> {
        self.sources.iter().find(|s| s.source == source)
    }

    /// Drops what has expired: pushes out of the window, ended grace periods, sources
    /// with nothing left to remember.
    pub(super) fn prune(&mut self, now: u64, window: u64) {
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
    pub(super) fn source_mut(&mut self, source: &str, now: u64) -> Option<&mut SourceState> {
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

/// Why a file of the state directory (a state file, its temporary file, a lock file, the
/// directory's listing) could not be read, written, locked or removed.
#[derive(Debug)]
pub struct StateError {
    /// The file concerned.
    pub(super) path: PathBuf,
    /// What went wrong with it.
    pub(super) problem: StateProblem,
}

/// What went wrong with a file of the state directory.
#[derive(Debug)]
pub(super) enum StateProblem {
    /// The operating system refused (open, read, write, rename, remove, list).
    Io(std::io::Error),
    /// A state file that is not a regular file of at most [`MAX_STATE_BYTES`].
    NotStateFile,
    /// A state file that is not of the format; `passbyme unlock <user>` (the user name
    /// cleaned for the log) resets it.
    Corrupt(serde_json::Error, String),
    /// A new state (of this many bytes) larger than the reader accepts.
    TooLarge(usize),
    /// The state could not be encoded (the message names no file).
    Encode(serde_json::Error),
    /// A lock file that is not a regular file.
    NotLockFile,
    /// `flock` failed.
    Lock(std::io::Error),
}

impl StateError {
    /// `path`: what the operating system said.
    pub(super) fn io(path: &Path, err: std::io::Error) -> StateError {
        StateError {
            path: path.to_owned(),
            problem: StateProblem::Io(err),
        }
    }
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        match &self.problem {
            StateProblem::Io(err) => write!(f, "{path}: {err}"),
            StateProblem::NotStateFile => {
                write!(f, "{path}: not a regular file of at most 64 KiB")
            }
            StateProblem::Corrupt(err, user) => write!(
                f,
                "{path}: corrupt state ({err}); `passbyme unlock {user}` resets it"
            ),
            StateProblem::TooLarge(len) => write!(
                f,
                "{path}: the new state would be {len} bytes, over the 64 KiB the reader accepts (not written)"
            ),
            StateProblem::Encode(err) => write!(f, "{err}"),
            StateProblem::NotLockFile => write!(f, "{path}: not a regular file"),
            StateProblem::Lock(err) => write!(f, "{path}: lock: {err}"),
        }
    }
}

// No `source()`: the message already says it, and a chain would print it twice.
impl std::error::Error for StateError {}

/// The state file of `user` in `dir`.
pub(super) fn path(dir: &Path, user: &str) -> PathBuf {
    dir.join(file_name(user))
}

/// Reads a user's state: missing = fresh; unreadable or corrupt = an error (the caller
/// refuses the login: no push storm from a broken file). Needs no lock: files are
/// replaced whole.
pub(super) fn read(dir: &Path, user: &str) -> Result<UserState, StateError> {
    let path = path(dir, user);
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&path)
    {
        Ok(f) => f,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(UserState::default()),
        Err(err) => return Err(StateError::io(&path, err)),
    };
    let meta = file.metadata().map_err(|err| StateError::io(&path, err))?;
    if !meta.file_type().is_file() || meta.len() > MAX_STATE_BYTES {
        return Err(StateError {
            path,
            problem: StateProblem::NotStateFile,
        });
    }
    let mut text = String::new();
    file.take(MAX_STATE_BYTES)
        .read_to_string(&mut text)
        .map_err(|err| StateError::io(&path, err))?;
    serde_json::from_str(&text).map_err(|err| StateError {
        problem: StateProblem::Corrupt(err, crate::client::sanitize::clean(user, 64)),
        path,
    })
}

/// Writes a user's state to a temporary file renamed into place, unless it would be
/// larger than the reader accepts.
pub(super) fn write(dir: &Path, user: &str, state: &UserState) -> Result<(), StateError> {
    let path = path(dir, user);
    let text = serde_json::to_vec(state).map_err(|err| StateError {
        path: path.clone(),
        problem: StateProblem::Encode(err),
    })?;
    if text.len() as u64 > MAX_STATE_BYTES {
        return Err(StateError {
            path,
            problem: StateProblem::TooLarge(text.len()),
        });
    }
    let tmp = dir.join(format!(".{}.tmp", file_name(user)));
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|err| StateError::io(&tmp, err))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .map_err(|err| StateError::io(&tmp, err))?;
    fs::rename(&tmp, &path).map_err(|err| StateError::io(&path, err))
}

#[cfg(test)]
mod tests {
    use super::super::keys::key;
    use super::super::testing::{push, store, w};
    use super::super::{now_ms, MAX_PUSHES_BOUND};
    use super::*;

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
}
