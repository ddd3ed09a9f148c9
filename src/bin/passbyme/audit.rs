//! Audit lines: every `passbyme` action that changes or sends something (`send`, `cancel`,
//! `login`, `unlock`) writes one line to syslog, facility authpriv, ident `passbyme`:
//!
//! ```text
//! action=send uid=1000 user=alice claimed_sudo_user=bob message=… to=a@x,b@x result=ok
//! ```
//!
//! `uid` is the real uid (`getuid`) and `user` its name in the user database (`?` if none):
//! facts the kernel vouches for. `claimed_sudo_user` is `SUDO_USER` from the environment,
//! present only when set, and named "claimed" because anyone can set it. Every value goes
//! through the module's sanitiser (control characters become `?`, at most 128 characters)
//! and is quoted (`"…"`, with `\"` and `\\`) unless it is made only of letters, digits and
//! `._@+,:/=-`; so no value can end the line or pose as another field.
//!
//! Syslog is reached with the `syslog` crate (its own socket to /dev/log, RFC 3164), not
//! libc's `openlog`. The module keeps its own logging (`pam_syslog`, src/log.rs). A failure
//! to reach syslog never changes the command's result; it is reported once on stderr.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use pam_passbyme::client::sanitize;

/// One audit line being put together: the action and who ran it, then what it did.
pub struct Line {
    text: String,
}

/// `value` as it appears after `key=`.
fn quote(value: &str) -> String {
    let v = sanitize::clean(value, 128);
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@+,:/=-".contains(c));
    if plain {
        v
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

impl Line {
    /// Starts the line for `action`, with the real uid, its name and a claimed SUDO_USER.
    pub fn new(action: &str) -> Line {
        let uid = pam_passbyme::os::uid();
        let name = match pam_passbyme::os::user_name_of(uid) {
            Ok(Some(n)) => n,
            _ => "?".to_owned(),
        };
        let mut line = Line {
            text: format!("action={action}"),
        };
        line.field("uid", &uid.to_string());
        line.field("user", &name);
        if let Some(s) = std::env::var_os("SUDO_USER") {
            line.field("claimed_sudo_user", &s.to_string_lossy());
        }
        line
    }

    /// Adds `key=value` (value sanitised and quoted as needed).
    pub fn field(&mut self, key: &str, value: &str) -> &mut Line {
        let _ = write!(self.text, " {key}={}", quote(value));
        self
    }

    /// Ends the line with `result=WORD` and sends it.
    pub fn result(mut self, word: &str) {
        self.field("result", word);
        self.send();
    }

    /// Ends the line with `result=error error=…` and sends it.
    pub fn error(mut self, err: &anyhow::Error) {
        self.field("result", "error");
        self.field("error", &format!("{err:#}"));
        self.send();
    }

    fn send(self) {
        static REPORTED: AtomicBool = AtomicBool::new(false);
        if let Err(e) = write_syslog(&self.text) {
            if !REPORTED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "passbyme: audit: cannot write to syslog ({e}); not logged: {}",
                    self.text
                );
            }
        }
    }
}

fn write_syslog(text: &str) -> Result<(), syslog::Error> {
    let formatter = syslog::Formatter3164 {
        facility: syslog::Facility::LOG_AUTHPRIV,
        hostname: None,
        process: "passbyme".into(),
        pid: std::process::id(),
    };
    syslog::unix(formatter)?.info(text)
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn values_cannot_break_the_line_or_pose_as_fields() {
        assert_eq!(quote("alice"), "alice");
        assert_eq!(quote("a+approve+after=400ms@x"), "a+approve+after=400ms@x");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("x result=ok"), "\"x result=ok\"");
        assert_eq!(quote("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(quote("evil\nfake line\x1b[2K"), "\"evil?fake line?[2K\"");
        assert_eq!(quote(&"x".repeat(200)).chars().count(), 131);
    }
}
