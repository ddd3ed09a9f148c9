//! The per-host secret that keys the hash of user names the user database does not know.
//!
//! Such a name is often a password typed at the user prompt. The log shows it only as its
//! length and 24 bits of a hash, enough to tell repeated attempts apart; an unkeyed hash
//! would let anyone who reads the log confirm a guess with a dictionary. So the hash is an
//! HMAC-SHA256 under a random 32-byte key that only root can read, created at the first
//! login that needs it: `user-name.key` in the state directory (`limits.state_dir`, default
//! `/run/passbyme`, 0700: a new key per boot, which only stops hashes being compared across
//! reboots). The key is written to a private temporary file and linked into place, so a
//! second login racing the first reads the one complete key that won. A key that is not a
//! root-owned 0600 regular file of 32 bytes is refused, and then no hash is logged at all:
//! never an unkeyed one.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ring::hmac;

/// The key's file name in the state directory.
pub(crate) const FILE: &str = "user-name.key";
/// The key's length in bytes.
pub(crate) const LEN: usize = 32;

/// Why the key cannot be used (then no hash is logged).
#[derive(Debug)]
pub struct KeyError {
    /// The state directory or the key file.
    path: PathBuf,
    problem: KeyProblem,
}

/// What is wrong with the state directory or the key file.
#[derive(Debug)]
enum KeyProblem {
    /// The state directory is a relative path.
    NotAbsolute,
    /// A directory above the state directory that others can write, or that is missing.
    Parents(crate::files::FileError),
    /// The state directory or the key is missing and cannot be made.
    Create(std::io::Error),
    /// The operating system refused (open, read, look at).
    Io(std::io::Error),
    /// The state directory is a symlink or a file.
    NotADirectory,
    /// The key is not a regular file.
    NotAFile,
    /// Owned by this uid, not root.
    Owner(u32),
    /// The state directory is open to group or others (its mode, `& 0o7777`).
    DirMode(u32),
    /// The key's mode (`& 0o7777`) is not 0600.
    KeyMode(u32),
    /// The key is not [`LEN`] bytes.
    Length,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        match &self.problem {
            KeyProblem::NotAbsolute => f.write_str("must be an absolute path"),
            KeyProblem::Parents(err) => f.write_str(&err.message),
            KeyProblem::Create(err) => write!(f, "cannot create: {err}"),
            KeyProblem::Io(err) => write!(f, "{err}"),
            KeyProblem::NotADirectory => f.write_str("is not a directory (refused)"),
            KeyProblem::NotAFile => f.write_str("is not a regular file (refused)"),
            KeyProblem::Owner(uid) => write!(f, "is owned by uid {uid}, not by root (refused)"),
            KeyProblem::DirMode(mode) => write!(
                f,
                "is accessible by group or others (mode {mode:04o}; refused)"
            ),
            KeyProblem::KeyMode(mode) => write!(f, "has mode {mode:04o}, not 0600 (refused)"),
            KeyProblem::Length => write!(f, "is not {LEN} bytes (refused)"),
        }
    }
}

// No `source()`: the message already says it, and a chain would print it twice.
impl std::error::Error for KeyError {}

/// A [`KeyError`] about `path`.
fn error(path: &Path) -> impl Fn(KeyProblem) -> KeyError + '_ {
    move |problem| KeyError {
        path: path.to_owned(),
        problem,
    }
}

/// The key, loaded.
pub struct Key(hmac::Key);

impl Key {
    /// 24 bits of HMAC-SHA256(key, `name`), as six hex digits.
    pub(crate) fn tag(&self, name: &str) -> String {
        let t = hmac::sign(&self.0, name.as_bytes());
        let t = t.as_ref();
        format!("{:02x}{:02x}{:02x}", t[0], t[1], t[2])
    }
}

/// The key in `dir`, created there (and `dir` created 0700) if it does not exist yet.
pub(crate) fn load_or_create(dir: &Path) -> Result<Key, KeyError> {
    let path = dir.join(FILE);
    let e = error(&path);
    check_dir(dir)?;
    match open(&path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            create(dir, &path).map_err(|err| e(KeyProblem::Create(err)))?
        }
        Err(err) => return Err(e(KeyProblem::Io(err))),
        Ok(file) => return read(&path, file),
    }
    read(&path, open(&path).map_err(|err| e(KeyProblem::Io(err)))?)
}

/// The key in `dir`, if it exists and passes the rules (for `passbyme` and the tests).
pub fn load(dir: &Path) -> Result<Key, KeyError> {
    let path = dir.join(FILE);
    let file = open(&path).map_err(|err| error(&path)(KeyProblem::Io(err)))?;
    read(&path, file)
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// The state directory: under directories nobody else can write (StrictModes), created
/// 0700 if missing, a real directory owned by root, mode 0700.
fn check_dir(dir: &Path) -> Result<(), KeyError> {
    let e = error(dir);
    if !dir.is_absolute() {
        return Err(e(KeyProblem::NotAbsolute));
    }
    crate::files::check_parents(dir).map_err(|err| e(KeyProblem::Parents(err)))?;
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(e(KeyProblem::Create(err))),
    }
    let meta = fs::symlink_metadata(dir).map_err(|err| e(KeyProblem::Io(err)))?;
    if !meta.file_type().is_dir() {
        return Err(e(KeyProblem::NotADirectory));
    }
    if meta.uid() != 0 {
        return Err(e(KeyProblem::Owner(meta.uid())));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(e(KeyProblem::DirMode(meta.mode() & 0o7777)));
    }
    Ok(())
}

/// Writes a new key to a private temporary file and links it into place: whichever login
/// links first wins, and every other one then reads that key (`EEXIST` is success).
fn create(dir: &Path, path: &Path) -> std::io::Result<()> {
    use ring::rand::SecureRandom;
    let mut key = zeroize::Zeroizing::new([0u8; LEN]);
    ring::rand::SystemRandom::new()
        .fill(&mut key[..])
        .map_err(|_| std::io::Error::other("no randomness"))?;
    let nonce = crate::os::random_below(u32::MAX).unwrap_or(0);
    let tmp: PathBuf = dir.join(format!(".{FILE}.{}.{nonce:08x}", std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(&key[..])?;
        f.sync_all()?;
        match fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            r => r,
        }
    })();
    let _ = fs::remove_file(&tmp);
    written
}

/// Judges the open key file: a regular file owned by root, mode 0600, exactly [`LEN`] bytes.
fn read(path: &Path, file: File) -> Result<Key, KeyError> {
    let e = error(path);
    let meta = file.metadata().map_err(|err| e(KeyProblem::Io(err)))?;
    if !meta.file_type().is_file() {
        return Err(e(KeyProblem::NotAFile));
    }
    if meta.uid() != 0 {
        return Err(e(KeyProblem::Owner(meta.uid())));
    }
    if meta.mode() & 0o7777 != 0o600 {
        return Err(e(KeyProblem::KeyMode(meta.mode() & 0o7777)));
    }
    let mut key = zeroize::Zeroizing::new(Vec::with_capacity(LEN));
    file.take(LEN as u64 + 1)
        .read_to_end(&mut key)
        .map_err(|err| e(KeyProblem::Io(err)))?;
    if key.len() != LEN {
        return Err(e(KeyProblem::Length));
    }
    Ok(Key(hmac::Key::new(hmac::HMAC_SHA256, &key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pbm-key-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap()
    }

    #[test]
    fn created_once_then_read_and_keyed() {
        let dir = scratch("once");
        let k = load_or_create(&dir).unwrap();
        let meta = fs::metadata(dir.join(FILE)).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o600);
        assert_eq!(meta.len(), LEN as u64);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
        // The same key the next time; a tag is 24 bits, and not the unkeyed SHA-256's.
        let again = load_or_create(&dir).unwrap();
        assert_eq!(k.tag("hunter2"), again.tag("hunter2"));
        assert_eq!(k.tag("hunter2").len(), 6);
        assert_ne!(k.tag("hunter2"), k.tag("hunter3"));
        let sha = ring::digest::digest(&ring::digest::SHA256, b"hunter2");
        let unkeyed = format!(
            "{:02x}{:02x}{:02x}",
            sha.as_ref()[0],
            sha.as_ref()[1],
            sha.as_ref()[2]
        );
        assert_ne!(k.tag("hunter2"), unkeyed);
        // Another host (another key) gives another tag.
        let other = scratch("other");
        assert_ne!(
            load_or_create(&other).unwrap().tag("hunter2"),
            k.tag("hunter2")
        );
        // No temporary file left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&other).unwrap();
    }

    #[test]
    fn logins_racing_for_the_first_key_all_read_the_winner() {
        let dir = scratch("race");
        let tags: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..16)
                .map(|_| s.spawn(|| load_or_create(&dir).unwrap().tag("x")))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(tags.iter().all(|t| t == &tags[0]), "{tags:?}");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "one key, no leftovers"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_that_breaks_the_rules_is_refused() {
        let dir = scratch("rules");
        load_or_create(&dir).unwrap();
        let key = dir.join(FILE);
        chmod(&key, 0o644);
        let e = load_or_create(&dir).err().unwrap().to_string();
        assert!(e.ends_with("has mode 0644, not 0600 (refused)"), "{e}");
        chmod(&key, 0o600);
        if crate::os::euid() == 0 {
            std::os::unix::fs::chown(&key, Some(1), None).unwrap();
            let e = load(&dir).err().unwrap().to_string();
            assert!(
                e.ends_with("is owned by uid 1, not by root (refused)"),
                "{e}"
            );
            std::os::unix::fs::chown(&key, Some(0), None).unwrap();
        }
        fs::write(&key, b"short").unwrap();
        let e = load(&dir).err().unwrap().to_string();
        assert!(e.ends_with("is not 32 bytes (refused)"), "{e}");
        fs::remove_file(&key).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &key).unwrap();
        assert!(load_or_create(&dir).is_err(), "a symlink is refused");
        fs::remove_file(&key).unwrap();
        chmod(&dir, 0o755);
        let e = load_or_create(&dir).err().unwrap().to_string();
        assert!(
            e.contains("is accessible by group or others (mode 0755; refused)"),
            "{e}"
        );
        assert!(!key.exists(), "no key created in an open directory");
        fs::remove_dir_all(&dir).unwrap();
    }
}
