//! The fast reader of users.d files: the plain subset of TOML that configuration
//! management writes, read without the TOML parser: 2 to 3 times faster. Kept because
//! users.d is read at every login: with 10,000 users in 100 files it saves about 3 ms a
//! login (2.5 against 5.5 ms), as much as a whole cold login takes; with 1,000 users about
//! 0.4 ms; with 10, nothing worth naming (`cargo bench --bench login -- --users-reader`
//! measures it). Its contract:
//! whatever it accepts means the same in TOML (the fuzz target `users` checks it against
//! [`super::toml_users`]); anything else is left to the TOML parser.

use super::UsersEntry;

/// The entries of a users.d file written in the plain subset of TOML that configuration
/// management writes: blank lines, `#` comments, one `[users]` header first, then one
/// `name = "id"` or `name = ["id", …]` per line (bare keys, basic strings without escapes,
/// trailing comments). Whatever it accepts means the same in TOML, but for a name written
/// twice, which it passes on for `Config::index_dir_users` to report with both lines;
/// `None` for anything else (another form, a control character, CR), which then goes to
/// the full TOML parser, whose errors are the ones reported.
pub fn users(text: &str) -> Option<Vec<UsersEntry>> {
    if text.contains('\r') {
        return None;
    }
    let mut entries = Vec::new();
    let mut in_users = false;
    for (i, line) in text.split('\n').enumerate() {
        let mut rest = line.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            continue;
        }
        if let Some(comment) = rest.strip_prefix('#') {
            plain_comment(comment)?;
            continue;
        }
        if let Some(after) = rest.strip_prefix("[users]") {
            if in_users {
                return None;
            }
            in_users = true;
            plain_end(after)?;
            continue;
        }
        if !in_users {
            return None;
        }
        let key_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        if key_len == 0 {
            return None;
        }
        let key = &rest[..key_len];
        rest = rest[key_len..]
            .trim_start_matches([' ', '\t'])
            .strip_prefix('=')?
            .trim_start_matches([' ', '\t']);
        let ids = if let Some(mut list) = rest.strip_prefix('[') {
            let mut ids = Vec::new();
            loop {
                list = list.trim_start_matches([' ', '\t']);
                if let Some(after) = list.strip_prefix(']') {
                    rest = after;
                    break;
                }
                let (s, after) = plain_string(list)?;
                ids.push(s);
                list = after.trim_start_matches([' ', '\t']);
                if let Some(after) = list.strip_prefix(',') {
                    list = after;
                } else if !list.starts_with(']') {
                    return None;
                }
            }
            ids
        } else {
            let (s, after) = plain_string(rest)?;
            rest = after;
            vec![s]
        };
        plain_end(rest)?;
        entries.push(UsersEntry {
            name: key.to_owned(),
            line: i + 1,
            ids,
        });
    }
    in_users.then_some(entries)
}

/// A basic string without escapes or control characters at the start of `s`.
fn plain_string(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let end = body.find(['"', '\\'])?;
    if body.as_bytes()[end] != b'"' {
        return None;
    }
    let value = &body[..end];
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    Some((value.to_owned(), &body[end + 1..]))
}

/// Only blanks, then nothing or a comment.
fn plain_end(s: &str) -> Option<()> {
    let s = s.trim_start_matches([' ', '\t']);
    match s.strip_prefix('#') {
        Some(c) => plain_comment(c),
        None if s.is_empty() => Some(()),
        None => None,
    }
}

/// TOML allows no control character but tab in a comment.
fn plain_comment(c: &str) -> Option<()> {
    (!c.chars().any(|ch| ch.is_control() && ch != '\t')).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::toml_users;

    #[test]
    fn the_plain_users_reader_agrees_with_toml_or_steps_aside() {
        let toml_entries = |text: &str| {
            let mut v = toml_users(text).unwrap();
            v.sort();
            v
        };
        for text in [
            "[users]\n",
            "# team a\n\n[users] # x\nalice = \"a@x\"\nbob=[\"b1@x\",\"b2@x\",] # two\n\tc-3_d = [ ]\n",
            "[users]\nn = \"\u{e9}t\u{e9}@x\"\nm = [\"a\" , \"b\"]",
        ] {
            let mut plain = users(text).expect(text);
            plain.sort();
            assert_eq!(plain, toml_entries(text), "{text}");
        }
        // Other forms go to the TOML parser (valid or not).
        for text in [
            "",
            "# only a comment\n",
            "alice = \"a@x\"\n",
            "[users]\n\"quoted\" = \"a@x\"\n",
            "[users]\na.b = \"a@x\"\n",
            "[users]\na = 'lit@x'\n",
            "[users]\na = \"esc\\u0041@x\"\n",
            "[users]\na = [\n\"x\"]\n",
            "[users]\n[users]\n",
            "[ users ]\na = \"x\"\n",
            "[users]\r\na = \"x\"\r\n",
            "[users]\na = \"x\" junk\n",
            "[users]\na = \"x\"\n[policy]\n",
            "[users]\na = \"x\u{1}\"\n",
            "[users]\n# bell \u{7}\n",
        ] {
            assert!(users(text).is_none(), "{text:?}");
        }
    }
}
