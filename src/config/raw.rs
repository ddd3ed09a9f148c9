//! The file as TOML gives it (strict: an unknown key is an error), and TOML errors with
//! their line but without the file's text.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::files::FileError;

use super::err;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) service: Option<RawService>,
    #[serde(default)]
    pub(super) login: RawLogin,
    #[serde(default)]
    pub(super) policy: RawPolicy,
    #[serde(default)]
    pub(super) limits: RawLimits,
    #[serde(default)]
    pub(super) mapping: RawMapping,
    /// `language` and the message overrides, keyed by message id: checked by hand, so that
    /// an unknown key is named with the ids that exist.
    #[serde(default)]
    pub(super) messages: BTreeMap<String, String>,
    pub(super) users: Option<BTreeMap<toml::Spanned<String>, RawIds>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMapping {
    pub(super) users_dir: Option<String>,
    pub(super) template: Option<String>,
    pub(super) gecos_field: Option<u32>,
    pub(super) gecos_delimiter: Option<String>,
}

/// A file of `[mapping] users_dir`: a `[users]` table and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUsersFile {
    pub(super) users: Option<BTreeMap<toml::Spanned<String>, RawIds>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) address: Option<String>,
    pub(super) credentials: String,
    pub(super) key: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_file: Option<String>,
    pub(super) ca_bundle: Option<String>,
    pub(super) proxy: Option<String>,
    pub(super) proxy_password_file: Option<String>,
    pub(super) connect_timeout: Option<String>,
    pub(super) request_timeout: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogin {
    pub(super) timeout: Option<String>,
    pub(super) availability: Option<u64>,
    pub(super) poll_interval: Option<String>,
    pub(super) poll_interval_seen: Option<String>,
    pub(super) poll_fast_after: Option<String>,
    pub(super) poll_slow_after: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) body: Option<String>,
    pub(super) prompt: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) mode: Option<String>,
    pub(super) unmapped: Option<String>,
    pub(super) unreachable: Option<String>,
    pub(super) local: Option<String>,
    pub(super) only_groups: Option<Vec<String>>,
    pub(super) exempt_groups: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) enabled: Option<bool>,
    pub(super) state_dir: Option<String>,
    pub(super) max_pushes: Option<u32>,
    pub(super) max_pushes_user: Option<u32>,
    pub(super) window: Option<String>,
    pub(super) lockout_after: Option<u32>,
    pub(super) lockout_after_user: Option<u32>,
    pub(super) lockout: Option<String>,
    pub(super) concurrent: Option<String>,
    pub(super) grace: Option<String>,
    pub(super) grace_local: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawIds {
    One(String),
    Many(Vec<String>),
}

/// A TOML error with its line, and without the file's text: the error is logged at every
/// login and shown in the first line of `passbyme check` that monitoring collects, and the
/// text may be `service.password`. Only the message is used, never the error's `Display`
/// (which quotes the offending line), and the values the message quotes are cut out
/// ([`redact_values`]).
pub(super) fn toml_error(path: &Path, text: &str, e: toml::de::Error) -> FileError {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let msg = redact_values(e.message().trim()).replace('\n', " ");
    match line {
        Some(l) => err(path, format!("line {l}: {msg}")),
        None => err(path, msg),
    }
}

/// What stands for a value cut out of an error message.
pub(crate) const VALUE_NOT_SHOWN: &str = "(value not shown)";

/// `message` with every value serde quotes in it replaced by [`VALUE_NOT_SHOWN`]: the
/// `Unexpected` part of "invalid type: integer `123456`, expected a string" (boolean,
/// integer, floating point, character, string, variant), up to the last ", expected" (what
/// was expected is the program's text, never the file's). Key names (unknown field `x`)
/// are kept: they say what to fix.
pub(crate) fn redact_values(message: &str) -> String {
    const KINDS: [&str; 6] = [
        "boolean `",
        "integer `",
        "floating point `",
        "character `",
        "string \"",
        "variant `",
    ];
    let first = KINDS
        .iter()
        .filter_map(|k| message.find(k).map(|at| (at, k.len() - 1)))
        .min();
    let Some((at, kind)) = first else {
        return message.to_owned();
    };
    let value = at + kind;
    let end = message[value..]
        .rfind(", expected")
        .map_or(message.len(), |e| value + e);
    format!("{}{VALUE_NOT_SHOWN}{}", &message[..value], &message[end..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/passbyme/passbyme.toml"), text).map_err(|e| e.to_string())
    }

    /// Issue 19: serde quotes the value in type errors ("integer `123456`"), and config
    /// errors are logged at every login: an unquoted password reached the log.
    #[test]
    fn config_errors_never_quote_a_value() {
        let cases = [
            (
                "password = 918273645",
                &["918273645"][..],
                3,
                "invalid type: integer (value not shown), expected a string",
            ),
            (
                "password = 7.25e3",
                &["7.25e3", "7250"],
                3,
                "invalid type: floating point (value not shown), expected a string",
            ),
            (
                "password = 0x5EC2E7",
                &["5EC2E7", "6210279"],
                3,
                "invalid type: integer (value not shown), expected a string",
            ),
            (
                "password = Hunter2Secret",
                &["Hunter2Secret"],
                3,
                "string values must be quoted",
            ),
            (
                "password = \"Zq8\\qSecret\"",
                &["Zq8", "qSecret"],
                3,
                "missing escaped value",
            ),
            (
                "password = 'Zq9Secret",
                &["Zq9Secret"],
                3,
                "invalid literal string",
            ),
            (
                "password = [\"Zq11Secret\"]",
                &["Zq11Secret"],
                3,
                "invalid type: sequence, expected a string",
            ),
            (
                "password = \"ok\" Zq13Secret",
                &["Zq13Secret"],
                3,
                "unexpected key or value",
            ),
            (
                "password_file = \"Zq12Secret\"",
                &["Zq12Secret"],
                0,
                "service.password_file: is not an absolute path (value not shown)",
            ),
            (
                "[login]\navailability = \"Zq10\\\", expected Secret\"",
                &["Zq10", "Secret"],
                4,
                "invalid type: string (value not shown), expected u64",
            ),
        ];
        for (line, secrets, at, want) in cases {
            let text = format!("[service]\ncredentials = \"/c.pem\"\n{line}\n[users]\n");
            let e = parse(&text).unwrap_err();
            for s in secrets {
                assert!(!e.contains(s), "{line}: {s} in {e}");
            }
            let head = if at == 0 {
                "/etc/passbyme/passbyme.toml: ".to_string()
            } else {
                format!("/etc/passbyme/passbyme.toml: line {at}: ")
            };
            assert!(e.starts_with(&head), "{line}: {e}");
            assert!(e.contains(want), "{line}: {e}");
        }
        // Key names stay: they say what to fix.
        assert_eq!(
            redact_values("unknown field `pasword`, expected one of `address`, `credentials`"),
            "unknown field `pasword`, expected one of `address`, `credentials`"
        );
        assert_eq!(
            redact_values("invalid value: character ```, expected a digit"),
            "invalid value: character (value not shown), expected a digit"
        );
        assert_eq!(
            redact_values("invalid type: boolean `true`"),
            "invalid type: boolean (value not shown)"
        );
    }
}
