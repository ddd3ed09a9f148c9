//! The state directory: created 0700 if missing, and refused unless it is a real
//! directory below directories only root writes, owned by root (or the effective user),
//! mode 0700 ([`DirError`] says why).

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Why the state directory (`limits.state_dir`) cannot be used.
#[derive(Debug)]
pub struct DirError {
    dir: PathBuf,
    problem: DirProblem,
}

/// What is wrong with the state directory.
#[derive(Debug)]
enum DirProblem {
    /// A relative path.
    NotAbsolute,
    /// A directory above it that others can write, or that is missing.
    Parents(crate::files::FileError),
    /// It is missing and cannot be made.
    Create(std::io::Error),
    /// It cannot be looked at.
    Io(std::io::Error),
    /// A symlink or a file.
    NotADirectory,
    /// Owned by this uid, neither root nor the effective user.
    Owner(u32),
    /// Group or others have these permission bits (the mode, `& 0o7777`).
    Mode(u32),
}

impl std::fmt::Display for DirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "limits.state_dir {}: ", self.dir.display())?;
        match &self.problem {
            DirProblem::NotAbsolute => f.write_str("must be an absolute path"),
            DirProblem::Parents(err) => f.write_str(&err.message),
            DirProblem::Create(err) => write!(f, "cannot create: {err}"),
            DirProblem::Io(err) => write!(f, "{err}"),
            DirProblem::NotADirectory => {
                f.write_str("is not a directory (a symlink or a file; refused)")
            }
            DirProblem::Owner(uid) => write!(f, "is owned by uid {uid}, not by root (refused)"),
            DirProblem::Mode(mode) => write!(
                f,
                "is accessible by group or others (mode {mode:04o}; refused, use chmod 700)"
            ),
        }
    }
}

// No `source()`: the message already says it, and a chain would print it twice.
impl std::error::Error for DirError {}

/// Creates `dir` (0700) if missing, and checks it: a real directory, below directories
/// nobody else can write, owned by root (or the effective user), mode 0700.
pub(super) fn prepare(dir: &Path) -> Result<(), DirError> {
    let e = |problem| DirError {
        dir: dir.to_owned(),
        problem,
    };
    if !dir.is_absolute() {
        return Err(e(DirProblem::NotAbsolute));
    }
    // Created or used only below directories nobody else can write (StrictModes).
    crate::files::check_parents(dir).map_err(|err| e(DirProblem::Parents(err)))?;
    match fs::symlink_metadata(dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            // Another login may create it at the same moment: that is fine.
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(e(DirProblem::Create(err))),
            }
        }
        Err(err) => return Err(e(DirProblem::Io(err))),
        Ok(_) => {}
    }
    let meta = fs::symlink_metadata(dir).map_err(|err| e(DirProblem::Io(err)))?;
    if !meta.file_type().is_dir() {
        return Err(e(DirProblem::NotADirectory));
    }
    if meta.uid() != 0 && meta.uid() != crate::os::euid() {
        return Err(e(DirProblem::Owner(meta.uid())));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(e(DirProblem::Mode(meta.mode() & 0o7777)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::super::testing::store;
    use super::super::{Limits, Store};

    #[test]
    fn the_directory_must_be_below_directories_only_root_writes() {
        let open = std::env::temp_dir().join(format!("pbm-lim-{}-open", std::process::id()));
        let _ = fs::remove_dir_all(&open);
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let l = Limits {
            state_dir: open.join("state"),
            ..Limits::default()
        };
        let e = Store::open(&l).err().unwrap().to_string();
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
        let s = store("perm", |_| {});
        fs::set_permissions(s.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        let l = Limits {
            state_dir: s.dir().to_owned(),
            ..Limits::default()
        };
        let e = Store::open(&l).err().unwrap().to_string();
        assert!(
            e.contains("accessible by group or others (mode 0755"),
            "{e}"
        );
        assert!(
            e.starts_with(&format!("limits.state_dir {}: ", s.dir().display())),
            "{e}"
        );
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn a_relative_directory_is_refused_by_its_setting() {
        let l = Limits {
            state_dir: "run/passbyme".into(),
            ..Limits::default()
        };
        assert_eq!(
            Store::open(&l).err().unwrap().to_string(),
            "limits.state_dir run/passbyme: must be an absolute path"
        );
    }
}
