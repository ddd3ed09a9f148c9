//! Safe reads of root-owned files: the configuration, the credentials, the key's password,
//! the CA bundle, and the limiter's state directory. Each file is opened once and judged on
//! the open descriptor (absolute path, no symbolic link, a regular file, owned by root, not
//! writable by group or others, not readable by them if secret, a size cap); the directories
//! above it are checked as sshd's StrictModes does.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// A problem with a file, naming the file: it cannot be read safely, or (for the
/// configuration) what it says is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file concerned.
    pub path: PathBuf,
    /// What is wrong, e.g. `login.timeout: must be at least 5s`.
    pub message: String,
}

impl FileError {
    /// An error about `path`.
    pub(crate) fn new(path: &Path, message: impl Into<String>) -> FileError {
        FileError {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for FileError {}

/// Who may read a file: a secret must not be readable by group or others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrecy {
    /// Group/others may read it (but never write it).
    Public,
    /// Only the owner may read it.
    Secret,
}

/// Opens `path` once and checks, on the open descriptor: absolute path, not a symlink, a
/// regular file, owned by root (or by the effective user, for the `passbyme` command run
/// by someone else), not writable by group or others, not readable by them if secret, at
/// most `max` bytes. Returns the content.
pub(crate) fn read_checked(
    path: &Path,
    secrecy: Secrecy,
    max: u64,
) -> Result<Zeroizing<Vec<u8>>, FileError> {
    read_checked_meta(path, secrecy, max, Parents::Check).map(|(content, _)| content)
}

/// Checks every directory above `path`, as sshd's StrictModes does: each must be owned by
/// root (or by the effective user) and writable by nobody else. A root-owned directory
/// with the sticky bit (`/tmp`) passes: others may add entries there, but not rename or
/// remove root's. Symbolic links in the directory part are resolved first, so the
/// directories checked are the ones the file is really in.
pub(crate) fn check_parents(path: &Path) -> Result<(), FileError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    // A missing directory means a missing file: say so about the file, as open(2) would.
    let real = std::fs::canonicalize(parent).map_err(|e| FileError::new(path, e.to_string()))?;
    for dir in real.ancestors() {
        let meta =
            std::fs::symlink_metadata(dir).map_err(|e| FileError::new(dir, e.to_string()))?;
        let sticky = meta.mode() & 0o1000 != 0 && meta.uid() == 0;
        check_owner(path, &format!("its directory {} is", dir.display()), &meta)?;
        if !sticky {
            check_not_writable(path, &format!("its directory {} is", dir.display()), &meta)?;
        }
    }
    Ok(())
}

/// Whether [`read_checked_meta`] checks the directories above the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parents {
    /// Check them (one file).
    Check,
    /// The caller already did, with [`check_parents`] (a directory of many files, as
    /// `mapping.users_dir`).
    Checked,
}

/// [`read_checked`], also returning the metadata of the descriptor that was read (to judge
/// the content's secrecy later without a second open by path, see [`check_secret`]).
pub(crate) fn read_checked_meta(
    path: &Path,
    secrecy: Secrecy,
    max: u64,
    parents: Parents,
) -> Result<(Zeroizing<Vec<u8>>, Metadata), FileError> {
    if !path.is_absolute() {
        return Err(FileError::new(path, "the path must be absolute"));
    }
    if parents == Parents::Check {
        check_parents(path)?;
    }
    let file = File::options()
        .read(true)
        // No symlinks; O_NONBLOCK so a FIFO in place of the file cannot hang the login.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => FileError::new(path, "is a symbolic link (refused)"),
            _ => FileError::new(path, e.to_string()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| FileError::new(path, e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(FileError::new(path, "is not a regular file (refused)"));
    }
    check_owner(path, "is", &meta)?;
    check_not_writable(path, "is", &meta)?;
    if secrecy == Secrecy::Secret {
        check_secret(path, &meta)?;
    }
    let too_large = || FileError::new(path, format!("is larger than {max} bytes (refused)"));
    if meta.len() > max {
        return Err(too_large());
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| FileError::new(path, e.to_string()))?;
    if buf.len() as u64 > max {
        return Err(too_large());
    }
    Ok((buf, meta))
}

/// The secrecy rule on metadata already read: not readable by group or others.
pub(crate) fn check_secret(path: &Path, meta: &Metadata) -> Result<(), FileError> {
    refuse_mode(
        path,
        meta,
        0o044,
        "holds a secret but is readable by group or others",
        ", use chmod 600",
    )
}

/// Not writable by group or others. `what` begins the message: `is` for the file,
/// `its directory /x is` for a parent.
fn check_not_writable(path: &Path, what: &str, meta: &Metadata) -> Result<(), FileError> {
    let says = format!("{what} writable by group or others");
    refuse_mode(path, meta, 0o022, &says, "")
}

/// Refuses a file whose mode has any of `bits`: `<says> (mode 0644; refused<advice>)`.
fn refuse_mode(
    path: &Path,
    meta: &Metadata,
    bits: u32,
    says: &str,
    advice: &str,
) -> Result<(), FileError> {
    let mode = meta.mode() & 0o7777;
    if mode & bits == 0 {
        return Ok(());
    }
    Err(FileError::new(
        path,
        format!("{says} (mode {mode:04o}; refused{advice})"),
    ))
}

/// Owned by root, or by the effective user (the `passbyme` command run by someone else);
/// `what` as for [`check_not_writable`].
fn check_owner(path: &Path, what: &str, meta: &Metadata) -> Result<(), FileError> {
    let uid = meta.uid();
    if uid == 0 || uid == crate::os::euid() {
        return Ok(());
    }
    let says = format!("{what} owned by uid {uid}, not by root (refused)");
    Err(FileError::new(path, says))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh, empty directory for one test.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pbm-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o755);
        dir
    }

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    }

    /// A scratch directory holding `name` with `content` and `mode`.
    fn file_in(tag: &str, name: &str, content: &str, mode: u32) -> (PathBuf, PathBuf) {
        let dir = scratch(tag);
        let f = dir.join(name);
        std::fs::write(&f, content).unwrap();
        chmod(&f, mode);
        (dir, f)
    }

    /// Why `path` is refused.
    fn refusal(path: &Path, secrecy: Secrecy, max: u64) -> String {
        read_checked(path, secrecy, max).unwrap_err().to_string()
    }

    #[test]
    fn file_rules_are_checked_on_the_descriptor() {
        let (dir, f) = file_in("files", "c.toml", "[users]\nalice = \"a@x\"\n", 0o644);
        assert!(read_checked(&f, Secrecy::Public, 1 << 16).is_ok());
        let e = refusal(&f, Secrecy::Secret, 1 << 16);
        assert!(e.contains("readable by group or others (mode 0644"), "{e}");
        chmod(&f, 0o666);
        let e = refusal(&f, Secrecy::Public, 1 << 16);
        assert!(e.contains("writable by group or others"), "{e}");
        chmod(&f, 0o600);
        let e = refusal(&f, Secrecy::Public, 10);
        assert!(e.contains("larger than 10 bytes"), "{e}");
        let l = dir.join("link.toml");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let e = refusal(&l, Secrecy::Public, 1 << 16);
        assert!(e.contains("symbolic link"), "{e}");
        let e = refusal(&dir, Secrecy::Public, 1 << 16);
        assert!(e.contains("not a regular file"), "{e}");
        let e = refusal(Path::new("rel.toml"), Secrecy::Public, 1 << 16);
        assert!(e.contains("must be absolute"), "{e}");
        let e = refusal(&dir.join("none"), Secrecy::Public, 1 << 16);
        assert!(e.contains("No such file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_directories_above_are_checked_too() {
        let dir = scratch("parents");
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        chmod(&sub, 0o755);
        let f = sub.join("secret");
        std::fs::write(&f, "pw\n").unwrap();
        chmod(&f, 0o600);
        assert_eq!(&read_checked(&f, Secrecy::Secret, 64).unwrap()[..], b"pw\n");
        // A directory others may write to: they could swap the file.
        chmod(&sub, 0o777);
        let e = refusal(&f, Secrecy::Secret, 64);
        assert!(
            e.contains(&format!(
                "its directory {} is writable by group or others (mode 0777; refused)",
                sub.display()
            )),
            "{e}"
        );
        // With the sticky bit (as /tmp) a root-owned one passes, anyone else's does not.
        chmod(&sub, 0o1777);
        assert_eq!(check_parents(&f).is_ok(), crate::os::euid() == 0);
        chmod(&sub, 0o755);
        // Through a symbolic link in the directory part, the real directories are judged.
        let link = dir.join("via");
        std::os::unix::fs::symlink(&sub, &link).unwrap();
        assert!(read_checked(&link.join("secret"), Secrecy::Secret, 64).is_ok());
        chmod(&sub, 0o775);
        let e = check_parents(&link.join("secret")).unwrap_err().to_string();
        assert!(
            e.contains(&format!("its directory {} is", sub.display())),
            "{e}"
        );
        chmod(&sub, 0o755);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_secret_is_judged_on_metadata_already_read() {
        let (dir, f) = file_in("meta", "c.toml", "x", 0o644);
        let (content, meta) = read_checked_meta(&f, Secrecy::Public, 64, Parents::Check).unwrap();
        assert_eq!(&content[..], b"x");
        // Made private after the read: the judgement is on what was read, not a new open.
        chmod(&f, 0o600);
        let e = check_secret(&f, &meta).unwrap_err().to_string();
        assert!(
            e.contains("holds a secret but is readable by group or others (mode 0644"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
