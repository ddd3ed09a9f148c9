//! The `[messages]` section as plain validated data: the language, and the texts that
//! override the built-in ones, keyed by message id, each checked against that message's
//! placeholders. The texts themselves, and their rendering, are [`crate::messages`]'s.

use std::collections::BTreeMap;
use std::path::Path;

use crate::client;
use crate::files::FileError;
use crate::template::{self, Placeholder, TemplateError};

use super::err;

/// A built-in language. Chosen in the configuration only, never from the environment
/// (`LANG` and friends are the client's to set, and the module does not trust them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// English (the default).
    #[default]
    En,
    /// Hungarian.
    Hu,
    /// German.
    De,
}

impl Language {
    /// Every built-in language.
    pub(crate) const ALL: [Language; 3] = [Language::En, Language::Hu, Language::De];

    /// Its name in the configuration.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Hu => "hu",
            Language::De => "de",
        }
    }

    /// The language a configuration value names.
    pub(crate) fn parse(s: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == s)
    }
}

/// A message the module shows the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageId {
    /// The hint shown once the push is sent, with the verification code.
    Approve,
    /// The prompt after the hint with `login.prompt = "enter"`.
    Enter,
    /// The phone denied the login.
    Denied,
    /// Another final answer than approval or denial (no device, cancelled, …).
    NotApproved,
    /// No answer before the deadline.
    Timeout,
    /// Locked out after too many denials.
    LockedOut,
    /// Too many pushes in the window.
    RateLimited,
    /// Another login of the user is waiting for approval.
    Pending,
    /// The service cannot be reached.
    Unavailable,
    /// Anything else that ended the login without an answer from the phone.
    Error,
}

/// The placeholders every message may use.
const COMMON: [Placeholder; 4] = [
    Placeholder::User,
    Placeholder::Host,
    Placeholder::Service,
    Placeholder::Target,
];

impl MessageId {
    /// Every message, in the order of the manual.
    pub(crate) const ALL: [MessageId; 10] = [
        MessageId::Approve,
        MessageId::Enter,
        MessageId::Denied,
        MessageId::NotApproved,
        MessageId::Timeout,
        MessageId::LockedOut,
        MessageId::RateLimited,
        MessageId::Pending,
        MessageId::Unavailable,
        MessageId::Error,
    ];

    /// Its key in `[messages]`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            MessageId::Approve => "approve",
            MessageId::Enter => "enter",
            MessageId::Denied => "denied",
            MessageId::NotApproved => "not_approved",
            MessageId::Timeout => "timeout",
            MessageId::LockedOut => "locked_out",
            MessageId::RateLimited => "rate_limited",
            MessageId::Pending => "pending",
            MessageId::Unavailable => "unavailable",
            MessageId::Error => "error",
        }
    }

    /// The message a `[messages]` key names.
    pub(crate) fn parse(key: &str) -> Option<MessageId> {
        MessageId::ALL.into_iter().find(|i| i.key() == key)
    }

    /// The placeholders its text may use: `{user}`, `{host}`, `{service}`, `{target}`, and
    /// per message `{code}`, `{timeout}` or `{until}` (see [`Placeholder`]).
    pub(crate) fn placeholders(self) -> Vec<Placeholder> {
        let mut p = COMMON.to_vec();
        match self {
            MessageId::Approve | MessageId::Enter => p.push(Placeholder::Code),
            MessageId::Timeout => p.push(Placeholder::Timeout),
            MessageId::LockedOut => p.push(Placeholder::Until),
            _ => {}
        }
        p
    }

    /// Checks a text for this message: only its placeholders, balanced braces; the approve
    /// hint must show `{code}` (the person compares it with the phone: without it a push
    /// sent by someone else is easy to approve by mistake).
    pub(crate) fn check(self, text: &str) -> Result<(), TemplateError> {
        let used = template::check(text, &self.placeholders())?;
        if self == MessageId::Approve && !used.contains(&Placeholder::Code) {
            return Err(TemplateError::Missing {
                placeholder: Placeholder::Code,
                why: "the person compares it with the phone",
            });
        }
        Ok(())
    }
}

/// The `[messages]` of a configuration: the language and the texts that override it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Messages {
    /// The language of every text not overridden, and of the push's default subject and
    /// body. Defaults to [`Language::En`].
    pub language: Language,
    /// Texts written in `[messages]`, each checked with `MessageId::check`. An empty
    /// text means "say nothing" for an outcome line.
    pub overrides: BTreeMap<MessageId, String>,
}

/// `[messages]`: `language` (default `en`; see [`Language`]) and overrides keyed by message
/// id ([`MessageId`]), each checked against that message's placeholders.
pub(super) fn parse_messages(
    path: &Path,
    raw: BTreeMap<String, String>,
) -> Result<Messages, FileError> {
    let mut m = Messages::default();
    for (key, text) in raw {
        let shown = client::sanitize::clean(&key, 40);
        if key == "language" {
            m.language = Language::parse(&text).ok_or_else(|| {
                let known: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
                err(
                    path,
                    format!(
                        "messages.language: unknown language '{}'; known: {}",
                        client::sanitize::clean(&text, 40),
                        known.join(" ")
                    ),
                )
            })?;
            continue;
        }
        let Some(id) = MessageId::parse(&key) else {
            let known: Vec<&str> = MessageId::ALL.iter().map(|i| i.key()).collect();
            return Err(err(
                path,
                format!(
                    "messages.{shown}: unknown message; known: language {}",
                    known.join(" ")
                ),
            ));
        };
        id.check(&text)
            .map_err(|e| err(path, format!("messages.{shown}: {e}")))?;
        m.overrides.insert(id, text);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_checked() {
        let check = |id: MessageId, t: &str| id.check(t).map_err(|e| e.to_string());
        assert!(check(
            MessageId::Denied,
            "Nope, {user}@{host} ({service}, {target})"
        )
        .is_ok());
        assert!(check(MessageId::LockedOut, "until {until}").is_ok());
        assert!(check(MessageId::Denied, "until {until}")
            .unwrap_err()
            .starts_with("unknown placeholder {until}; known: {user} {host} {service} {target}"));
        assert!(check(MessageId::Timeout, "{code}").is_err());
        assert_eq!(
            check(MessageId::Approve, "Approve on the phone").unwrap_err(),
            "must use {code} (the person compares it with the phone)"
        );
        assert!(check(MessageId::Approve, "Code {code}").is_ok());
        assert!(check(MessageId::Enter, "{unclosed").is_err());
        assert!(check(MessageId::Denied, "").is_ok());
    }

    #[test]
    fn ids_and_languages_round_trip() {
        for id in MessageId::ALL {
            assert_eq!(MessageId::parse(id.key()), Some(id));
        }
        for lang in Language::ALL {
            assert_eq!(Language::parse(lang.code()), Some(lang));
        }
        assert_eq!(Language::parse("EN"), None);
    }
}
