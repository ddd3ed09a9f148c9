//! Push-fatigue defense: at most one pending push per user, a per-user rate limit, a
//! lockout after repeated denials, and an opt-in grace period after an approval.
//!
//! The state lives in a root-only directory (default `/run/passbyme`, created 0700), one
//! JSON file per user, modelled on `pam_faillock`'s tally directory. Every change happens
//! under an exclusive `flock` on the directory's `lock` file and is written to a temporary
//! file renamed into place, so concurrent logins see each other and a crash leaves either
//! the old or the new state, never a torn one. A pending push records the pid and message
//! of the login that sent it: a later login that finds it with its process gone (a crash)
//! cancels that message and goes on.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::os::FileLock;

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
    /// The state directory. Default `/run/passbyme`.
    pub state_dir: PathBuf,
    /// Pushes allowed per user per `window`. Default 5.
    pub max_pushes: u32,
    /// The rate-limit window. Default 10m.
    pub window: Duration,
    /// Denials in a row that lock the user out; 0 disables. Default 3.
    pub lockout_after: u32,
    /// How long a lockout lasts. Default 15m.
    pub lockout: Duration,
    /// A second login while a push is pending. Default refuse.
    pub concurrent: Concurrent,
    /// After an approval, the same user from the same remote host and service logs in
    /// without a push for this long. Default 0 (off).
    pub grace: Duration,
    /// Let the grace period apply to logins with no remote host. Default false.
    pub grace_local: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            state_dir: PathBuf::from("/run/passbyme"),
            max_pushes: 5,
            window: Duration::from_secs(600),
            lockout_after: 3,
            lockout: Duration::from_secs(900),
            concurrent: Concurrent::Refuse,
            grace: Duration::ZERO,
            grace_local: false,
        }
    }
}

/// A user's state, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserState {
    /// When pushes were sent (Unix ms), within the current window.
    pub pushes: Vec<u64>,
    /// Denials in a row.
    pub denials: u32,
    /// Locked until this time (Unix ms); 0 = not locked.
    pub locked_until: u64,
    /// The push now pending, if any.
    pub pending: Option<PendingPush>,
    /// Grace entries (approved user + remote host + service, until when).
    pub grace: Vec<Grace>,
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
    /// The remote host ("" for none).
    pub rhost: String,
    /// The PAM service.
    pub service: String,
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
    /// Refused without a push; the reason is for the log.
    Refused(String),
}

/// This login's claim on the user's pending slot.
#[derive(Debug, Clone)]
pub struct Ticket {
    user: String,
    token: u64,
}

/// How a login ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Approved: denials reset, grace recorded.
    Approved,
    /// Denied on the phone: counts toward the lockout.
    Denied,
    /// Anything else: only the pending entry is cleared.
    Other,
}

/// The state directory, opened and checked.
pub struct Store {
    dir: PathBuf,
    lock: File,
    limits: Limits,
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

/// The file name for a user: the name itself when it is plainly safe, else the hex of the
/// whole name (up to 128 bytes) or of its SHA-256 (longer names: still one file per name).
fn file_name(user: &str) -> String {
    let plain = !user.is_empty()
        && user.len() <= 64
        && !user.starts_with('.')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if plain {
        format!("u-{user}")
    } else if user.len() <= 128 {
        format!("x-{}", hex(user.as_bytes()))
    } else {
        format!(
            "h-{}",
            hex(ring::digest::digest(&ring::digest::SHA256, user.as_bytes()).as_ref())
        )
    }
}

/// The user a state file belongs to (`None` for hashed names: shown by their file name).
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

impl Store {
    /// Opens (creating it 0700 if missing) and checks the state directory: a real
    /// directory, owned by root (or the effective user), mode 0700.
    pub fn open(limits: &Limits) -> Result<Store, String> {
        let dir = &limits.state_dir;
        let e = |m: String| format!("limits.state_dir {}: {m}", dir.display());
        if !dir.is_absolute() {
            return Err(e("must be an absolute path".into()));
        }
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
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(dir.join("lock"))
            .map_err(|err| e(format!("lock file: {err}")))?;
        Ok(Store {
            dir: dir.clone(),
            lock,
            limits: limits.clone(),
        })
    }

    fn path(&self, user: &str) -> PathBuf {
        self.dir.join(file_name(user))
    }

    /// Reads a user's state: missing = fresh; unreadable or corrupt = an error (the caller
    /// refuses the login: no push storm from a broken file).
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
        if !meta.file_type().is_file() || meta.len() > 64 * 1024 {
            return Err(format!(
                "{}: not a regular file of at most 64 KiB",
                path.display()
            ));
        }
        let mut text = String::new();
        file.take(64 * 1024)
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

    fn write(&self, user: &str, state: &UserState) -> Result<(), String> {
        let path = self.path(user);
        let tmp = self.dir.join(format!(".{}.tmp", file_name(user)));
        let text = serde_json::to_vec(state).map_err(|e| e.to_string())?;
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

    fn update<T>(&self, user: &str, f: impl FnOnce(&mut UserState) -> T) -> Result<T, String> {
        let _lock = FileLock::exclusive(&self.lock).map_err(|e| format!("lock: {e}"))?;
        let mut state = self.read(user)?;
        let out = f(&mut state);
        self.write(user, &state)?;
        Ok(out)
    }

    /// Decides whether this login may send a push, and claims the pending slot if so.
    /// `timeout` is the login's deadline, to know when a pending entry is stale.
    pub fn begin(
        &self,
        user: &str,
        rhost: Option<&str>,
        service: &str,
        timeout: Duration,
    ) -> Result<Begin, String> {
        let l = &self.limits;
        let now = now_ms();
        let pid = std::process::id();
        let token = crate::os::random_below(u32::MAX).unwrap_or(0) as u64 ^ (now << 16);
        self.update(user, |st| {
            st.pushes.retain(|&t| t + ms(l.window) > now && t <= now);
            st.grace.retain(|g| g.until > now);
            if st.locked_until > now {
                return Begin::Refused(format!(
                    "locked out after {} denials in a row, for {}s more",
                    st.denials,
                    (st.locked_until - now).div_ceil(1000)
                ));
            }
            let rhost_key = rhost.unwrap_or("");
            if !l.grace.is_zero()
                && (!rhost_key.is_empty() || l.grace_local)
                && st
                    .grace
                    .iter()
                    .any(|g| g.rhost == rhost_key && g.service == service)
            {
                return Begin::Grace;
            }
            let mut cancel = None;
            if let Some(p) = &st.pending {
                let live = p.until > now && crate::os::process_alive(p.pid);
                if live && l.concurrent == Concurrent::Refuse {
                    return Begin::Refused(
                        "another login for this user is waiting for approval".into(),
                    );
                }
                cancel = p.message.clone();
            }
            if st.pushes.len() as u64 >= l.max_pushes as u64 {
                return Begin::Refused(format!(
                    "rate limit: {} pushes in the last {}",
                    st.pushes.len(),
                    crate::config::format_duration(l.window)
                ));
            }
            st.pushes.push(now);
            st.pending = Some(PendingPush {
                pid,
                token,
                started: now,
                until: now + ms(timeout) + 30_000,
                message: None,
            });
            Begin::Push {
                ticket: Ticket {
                    user: user.to_owned(),
                    token,
                },
                cancel,
            }
        })
    }

    /// Records the message this login sent.
    pub fn sent(&self, ticket: &Ticket, message_id: &str) -> Result<(), String> {
        self.update(&ticket.user, |st| {
            if let Some(p) = st.pending.as_mut().filter(|p| p.token == ticket.token) {
                p.message = Some(message_id.to_owned());
            }
        })
    }

    /// Ends this login: clears its pending entry and updates the counters.
    pub fn finish(
        &self,
        ticket: &Ticket,
        how: Finish,
        rhost: Option<&str>,
        service: &str,
    ) -> Result<(), String> {
        let l = &self.limits;
        let now = now_ms();
        self.update(&ticket.user, |st| {
            if st.pending.as_ref().is_some_and(|p| p.token == ticket.token) {
                st.pending = None;
            }
            match how {
                Finish::Approved => {
                    st.denials = 0;
                    let rhost = rhost.unwrap_or("");
                    if !l.grace.is_zero() && (!rhost.is_empty() || l.grace_local) {
                        st.grace
                            .retain(|g| !(g.rhost == rhost && g.service == service));
                        st.grace.push(Grace {
                            rhost: rhost.to_owned(),
                            service: service.to_owned(),
                            until: now + ms(l.grace),
                        });
                    }
                }
                Finish::Denied => {
                    st.denials = st.denials.saturating_add(1);
                    if l.lockout_after > 0 && st.denials >= l.lockout_after {
                        st.locked_until = now + ms(l.lockout);
                    }
                }
                Finish::Other => {}
            }
        })
    }

    /// Every user with state, for `passbyme status`.
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

    /// Clears a user's state (lockout, counters, grace), like `faillock --reset`.
    pub fn unlock(&self, user: &str) -> Result<bool, String> {
        let _lock = FileLock::exclusive(&self.lock).map_err(|e| format!("lock: {e}"))?;
        match fs::remove_file(self.path(user)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(format!("{}: {e}", self.path(user).display())),
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

    fn push(s: &Store, user: &str) -> Result<Ticket, String> {
        match s.begin(user, Some("192.0.2.1"), "sshd", Duration::from_secs(60))? {
            Begin::Push { ticket, .. } => Ok(ticket),
            Begin::Grace => Err("grace".into()),
            Begin::Refused(why) => Err(why),
        }
    }

    #[test]
    fn rate_limit_counts_pushes_in_the_window() {
        let s = store("rate", |l| l.max_pushes = 2);
        for _ in 0..2 {
            let t = push(&s, "alice").unwrap();
            s.finish(&t, Finish::Other, None, "sshd").unwrap();
        }
        let why = push(&s, "alice").unwrap_err();
        assert_eq!(why, "rate limit: 2 pushes in the last 10m");
        push(&s, "bob").unwrap();
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn one_pending_push_per_user_and_stale_entries() {
        let s = store("pending", |_| {});
        let t = push(&s, "alice").unwrap();
        s.sent(&t, "MSG1").unwrap();
        assert_eq!(
            push(&s, "alice").unwrap_err(),
            "another login for this user is waiting for approval"
        );
        // A crashed login: its process is gone, the next login cancels its message.
        s.update("alice", |st| st.pending.as_mut().unwrap().pid = 999_999_999)
            .unwrap();
        match s
            .begin("alice", None, "sshd", Duration::from_secs(5))
            .unwrap()
        {
            Begin::Push { cancel, .. } => assert_eq!(cancel.as_deref(), Some("MSG1")),
            other => panic!("{other:?}"),
        }
        // The first login finishing does not clear the second's entry.
        s.finish(&t, Finish::Other, None, "sshd").unwrap();
        assert!(s.read("alice").unwrap().pending.is_some());
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn replace_policy_names_the_message_to_cancel() {
        let s = store("replace", |l| l.concurrent = Concurrent::Replace);
        let t = push(&s, "alice").unwrap();
        s.sent(&t, "FIRST").unwrap();
        match s
            .begin("alice", None, "sshd", Duration::from_secs(5))
            .unwrap()
        {
            Begin::Push { cancel, .. } => assert_eq!(cancel.as_deref(), Some("FIRST")),
            other => panic!("{other:?}"),
        }
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn lockout_after_denials_and_unlock() {
        let s = store("lock", |l| {
            l.lockout_after = 2;
            l.max_pushes = 100;
        });
        for _ in 0..2 {
            let t = push(&s, "alice").unwrap();
            s.finish(&t, Finish::Denied, None, "sshd").unwrap();
        }
        assert!(push(&s, "alice")
            .unwrap_err()
            .starts_with("locked out after 2 denials in a row, for 900s more"));
        assert!(s.unlock("alice").unwrap());
        push(&s, "alice").unwrap();
        fs::remove_dir_all(s.dir()).unwrap();
        // An approval resets the count.
        let s = store("lock2", |l| l.lockout_after = 2);
        let t = push(&s, "bob").unwrap();
        s.finish(&t, Finish::Denied, None, "sshd").unwrap();
        let t = push(&s, "bob").unwrap();
        s.finish(&t, Finish::Approved, None, "sshd").unwrap();
        assert_eq!(s.read("bob").unwrap().denials, 0);
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn grace_is_per_host_and_service_and_off_for_local_logins() {
        let s = store("grace", |l| l.grace = Duration::from_secs(300));
        let t = push(&s, "alice").unwrap();
        s.finish(&t, Finish::Approved, Some("192.0.2.1"), "sshd")
            .unwrap();
        assert!(matches!(
            s.begin("alice", Some("192.0.2.1"), "sshd", Duration::from_secs(5))
                .unwrap(),
            Begin::Grace
        ));
        assert!(matches!(
            s.begin("alice", Some("192.0.2.2"), "sshd", Duration::from_secs(5))
                .unwrap(),
            Begin::Push { .. }
        ));
        let s2 = store("grace2", |l| l.grace = Duration::from_secs(300));
        let t = push(&s2, "bob").unwrap();
        s2.finish(&t, Finish::Approved, None, "sudo").unwrap();
        assert!(matches!(
            s2.begin("bob", None, "sudo", Duration::from_secs(5))
                .unwrap(),
            Begin::Push { .. }
        ));
        fs::remove_dir_all(s.dir()).unwrap();
        fs::remove_dir_all(s2.dir()).unwrap();
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
        fs::remove_dir_all(s.dir()).unwrap();
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
