//! The `[users]` tables: the main file's, and those of the files of `mapping.users_dir`
//! (read here, each with the rules of the main file), kept apart and looked up as one table.

use std::collections::BTreeMap;
use std::path::Path;

use crate::client;
use crate::files::{self, FileError};

use super::raw::{toml_error, RawIds, RawUsersFile};
use super::{check_id, err, plain, read_text, utf8, Config, DirUser, EntryLocation};

impl Config {
    /// Adds the entries of `[users]` of `self.files[file]` (whose text is `text`); a user
    /// already defined is an error naming both places.
    pub(super) fn add_users(
        &mut self,
        file: usize,
        entries: Vec<UsersEntry>,
    ) -> Result<(), FileError> {
        let path = &self.files[file];
        let e = |m: String| err(path, m);
        for UsersEntry { name, line, ids } in &entries {
            let name = client::sanitize::clean(name, 64);
            if ids.is_empty() {
                return Err(e(format!(
                    "line {line}: users.{name}: an empty list of IDs"
                )));
            }
            for id in ids {
                check_id(id).map_err(|m| e(format!("line {line}: users.{name}: {m}")))?;
            }
        }
        // The main file's table has no duplicates (TOML); the users.d entries are checked
        // all at once when every file was read (see `read_users_dir`).
        for UsersEntry { name, line, ids } in entries {
            if file == 0 {
                self.origins
                    .insert(name.clone(), EntryLocation { file, line });
                self.users.insert(name, ids);
            } else {
                let origin = EntryLocation { file, line };
                self.dir_users.push(DirUser { name, ids, origin });
            }
        }
        Ok(())
    }

    /// The users.d entries sorted by name for lookups; a name defined twice (in two files,
    /// twice in one, or also in the main file) is a problem naming both places, reported
    /// once per later definition.
    fn index_dir_users(&mut self) -> Vec<FileError> {
        // Stable: of two definitions, the one read first stays first.
        self.dir_users.sort_by(|a, b| a.name.cmp(&b.name));
        let mut problems = Vec::new();
        let dup = |name: &str, later: EntryLocation, first: EntryLocation| {
            err(
                &self.files[later.file],
                format!(
                    "line {}: users.{}: already defined in {} line {}",
                    later.line,
                    client::sanitize::clean(name, 64),
                    self.files[first.file].display(),
                    first.line
                ),
            )
        };
        for (i, u) in self.dir_users.iter().enumerate() {
            if let Some(first) = self.origins.get(&u.name) {
                problems.push(dup(&u.name, u.origin, *first));
            } else if i > 0 && self.dir_users[i - 1].name == u.name {
                let first = self.dir_users[..i]
                    .iter()
                    .find(|p| p.name == u.name)
                    .map_or(u.origin, |p| p.origin);
                problems.push(dup(&u.name, u.origin, first));
            }
        }
        problems
    }

    /// The IDs of `user` in `[users]` of the main file or of a users.d file, and where.
    pub(crate) fn table_entry(&self, user: &str) -> Option<(&[String], EntryLocation)> {
        if let Some(ids) = self.users.get(user) {
            let origin = self
                .origins
                .get(user)
                .copied()
                .unwrap_or(EntryLocation { file: 0, line: 0 });
            return Some((ids, origin));
        }
        let i = self
            .dir_users
            .binary_search_by(|u| u.name.as_str().cmp(user))
            .ok()?;
        // The first of equal names (a duplicate makes the configuration invalid anyway).
        let i = self.dir_users[..i]
            .partition_point(|u| u.name.as_str() < user)
            .min(i);
        let u = &self.dir_users[i];
        Some((&u.ids, u.origin))
    }

    /// Reads every `*.toml` file of `dir`, in the byte order of their names, each with the
    /// rules of the main file; returns every problem met (a file with a problem adds none
    /// of its entries).
    pub(super) fn read_users_dir(&mut self, dir: &Path) -> Vec<FileError> {
        // The directory and those above it, as for any file in it.
        if let Err(e) = files::check_parents(&dir.join("*.toml")) {
            return vec![e];
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => return vec![err(dir, e.to_string())],
        };
        let mut names = Vec::new();
        for entry in entries {
            match entry {
                Ok(en) => {
                    let name = en.file_name();
                    let b = name.as_encoded_bytes();
                    if b.ends_with(b".toml") && !b.starts_with(b".") {
                        names.push(name);
                    }
                }
                Err(e) => return vec![err(dir, e.to_string())],
            }
        }
        names.sort();
        let mut problems = Vec::new();
        for name in names {
            let path = dir.join(name);
            if let Err(e) = self.read_users_file(&path) {
                problems.push(e);
            }
        }
        problems.extend(self.index_dir_users());
        problems
    }

    fn read_users_file(&mut self, path: &Path) -> Result<(), FileError> {
        // The directory was checked once for all its files (read_users_dir).
        let (bytes, _) = read_text(path, files::Parents::Checked)?;
        let text = utf8(path, &bytes)?;
        // Most files (written by configuration management) are plain lines, read by a
        // fast reader of that subset of TOML; anything else goes to the full parser.
        let entries = match plain::users(text) {
            Some(entries) => entries,
            None => {
                let raw: RawUsersFile =
                    toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
                let raw = raw
                    .users
                    .ok_or_else(|| err(path, "missing table [users]"))?;
                spanned_entries(text, raw)
            }
        };
        self.files.push(path.to_owned());
        self.add_users(self.files.len() - 1, entries)
    }
}

/// One entry of a `[users]` table: the user, the line of its key, its IDs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsersEntry {
    /// The Unix user (the key).
    pub name: String,
    /// The 1-based line of its key.
    pub line: usize,
    /// Its IDs as written (not yet checked).
    pub ids: Vec<String>,
}

/// The entries of a `[users]` table parsed by the TOML parser, with their lines.
pub(super) fn spanned_entries(
    text: &str,
    raw: BTreeMap<toml::Spanned<String>, RawIds>,
) -> Vec<UsersEntry> {
    let lines = LineIndex::new(text);
    raw.into_iter()
        .map(|(name, ids)| {
            let line = lines.line_of(name.span().start);
            let ids = match ids {
                RawIds::One(id) => vec![id],
                RawIds::Many(ids) => ids,
            };
            UsersEntry {
                name: name.into_inner(),
                line,
                ids,
            }
        })
        .collect()
}

/// Byte offset → line number, for the entries of `[users]`.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The 1-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// The entries of a users.d file as the TOML parser reads them; `None` when it refuses the
/// text or finds no `[users]`. What the fast reader ([`plain::users`]) must agree with
/// (see the fuzz target `users`).
#[doc(hidden)]
pub fn toml_users(text: &str) -> Option<Vec<UsersEntry>> {
    let raw: RawUsersFile = toml::from_str(text).ok()?;
    Some(spanned_entries(text, raw.users?))
}
