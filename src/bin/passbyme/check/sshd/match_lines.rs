//! The `Match` lines of an sshd configuration, read as sshd reads them: words split and
//! quoted as sshd does, `Include` globs followed in name order, sshd's `*`/`?` patterns.

use std::path::{Path, PathBuf};

/// sshd's configuration directory (relative `Include` paths are relative to it).
const SSHD_DIR: &str = "/etc/ssh";

/// A `Match` line of the configuration.
pub(super) struct Block {
    pub(super) file: PathBuf,
    pub(super) line: usize,
    /// The words after `Match`, as sshd splits them.
    pub(super) args: Vec<String>,
    /// The line's text after the keyword, for the probe file.
    pub(super) raw: String,
}

impl Block {
    pub(super) fn name(&self) -> String {
        format!("Match {}", self.args.join(" "))
    }
}

/// Splits a configuration line into words as sshd does: whitespace (or one `=` after the
/// keyword) separates, double quotes group, a word starting with `#` ends the line.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        if quoted {
            if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
        } else if c == '"' {
            quoted = true;
            started = true;
        } else if c.is_whitespace() || (c == '=' && out.is_empty()) {
            if started {
                out.push(std::mem::take(&mut cur));
                started = false;
            }
        } else if c == '#' && !started {
            break;
        } else {
            cur.push(c);
            started = true;
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// sshd's pattern matching (`match_pattern`): `*` any run, `?` one character.
pub fn wildmatch(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The files an `Include` word names: relative to /etc/ssh, `*` and `?` in any component
/// expanded in name order (glob(3)).
fn include_files(word: &str) -> Vec<PathBuf> {
    let full = if word.starts_with('/') {
        PathBuf::from(word)
    } else {
        Path::new(SSHD_DIR).join(word)
    };
    let mut found = vec![PathBuf::from("/")];
    for comp in full.components().skip(1) {
        let c = comp.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for dir in &found {
            if c.contains(['*', '?']) {
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') && wildmatch(&c, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| dir.join(n)));
            } else {
                next.push(dir.join(&c));
            }
        }
        found = next;
    }
    found.into_iter().filter(|p| p.is_file()).collect()
}

/// The Match lines of `file` and of what it includes, in the order sshd reads them.
pub(super) fn read_blocks(file: &Path, depth: usize, out: &mut Vec<Block>) -> Result<(), String> {
    if depth > 16 {
        return Err(format!("{}: Include nested too deep", file.display()));
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    for (i, line) in text.lines().enumerate() {
        let w = words(line);
        let Some(key) = w.first() else { continue };
        if key.eq_ignore_ascii_case("include") {
            for word in &w[1..] {
                for f in include_files(word) {
                    read_blocks(&f, depth + 1, out)?;
                }
            }
        } else if key.eq_ignore_ascii_case("match") {
            let t = line.trim_start();
            let raw = t[key.len()..].trim_start_matches(|c: char| c.is_whitespace() || c == '=');
            out.push(Block {
                file: file.to_path_buf(),
                line: i + 1,
                args: w[1..].to_vec(),
                raw: raw.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_patterns() {
        assert_eq!(
            words("Match User alice,bob Address 10.0.0.0/8 # comment"),
            ["Match", "User", "alice,bob", "Address", "10.0.0.0/8"]
        );
        assert_eq!(
            words("  Include=/etc/ssh/sshd_config.d/*.conf"),
            ["Include", "/etc/ssh/sshd_config.d/*.conf"]
        );
        assert_eq!(words("Match User \"a b\""), ["Match", "User", "a b"]);
        assert!(wildmatch("adm*", "admin"));
        assert!(wildmatch("*.conf", "10-x.conf"));
        assert!(!wildmatch("*.conf", "x.conf.bak"));
        assert!(wildmatch("a?c", "abc"));
    }
}
