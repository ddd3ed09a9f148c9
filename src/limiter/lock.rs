//! The per-user lock: one lock file per user (`l-…`), taken with `flock` without blocking
//! and retried in short slices until the login's deadline ([`Wait`]) or a signal.

use std::cell::Cell;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::keys::lock_name;
use super::state::{StateError, StateProblem};
use super::StoreError;
use crate::os::FileLock;

/// The longest a lock wait sleeps between two attempts.
const LOCK_SLICE: Duration = Duration::from_millis(20);

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

/// Takes the lock of `user` in `dir`: without blocking, retried in slices of at most 20 ms
/// until the deadline, and abandoned at once when a signal is reported. How long it
/// waited goes to `waited`.
pub(super) fn lock(
    dir: &Path,
    user: &str,
    wait: &mut Wait<'_>,
    waited: &Cell<Duration>,
) -> Result<FileLock, StoreError> {
    let path = dir.join(lock_name(user));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|err| StateError::io(&path, err))?;
    match file.metadata() {
        Ok(m) if m.file_type().is_file() => {}
        Ok(_) => {
            return Err(StateError {
                path,
                problem: StateProblem::NotLockFile,
            }
            .into())
        }
        Err(err) => return Err(StateError::io(&path, err).into()),
    }
    let start = Instant::now();
    let mut slice = Duration::from_millis(1);
    let mut file = file;
    loop {
        file = match FileLock::try_exclusive(file) {
            Ok(Ok(lock)) => {
                waited.set(start.elapsed());
                return Ok(lock);
            }
            Ok(Err(file)) => file,
            Err(err) => {
                return Err(StateError {
                    path,
                    problem: StateProblem::Lock(err),
                }
                .into())
            }
        };
        if let Some(sig) = wait.interrupted.as_mut().and_then(|f| f()) {
            waited.set(start.elapsed());
            return Err(StoreError::Interrupted(sig));
        }
        let now = Instant::now();
        if now >= wait.deadline {
            waited.set(start.elapsed());
            return Err(StoreError::LockTimeout(start.elapsed()));
        }
        std::thread::sleep(slice.min(wait.deadline - now));
        slice = (slice * 2).min(LOCK_SLICE);
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::time::{Duration, Instant};

    use super::super::testing::{from, push, store};
    use super::super::StoreError;
    use super::*;

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
        assert!(matches!(e, StoreError::LockTimeout(_)), "{e:?}");
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
        assert!(matches!(e, StoreError::Interrupted(libc::SIGTERM)), "{e:?}");
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
}
