//! Everything the module tells the person at the terminal, and the push's default subject
//! and body, in one table: a message id, the placeholders it may use, and its built-in text
//! in each language. The configuration (`[messages]`) picks the language and may override
//! any text; [`check`] validates an override at load like every other key. Placeholders are
//! [`crate::template`] ones (`{{`/`}}` are literal braces); their values come from PAM items
//! and the user database, so they are stripped of control characters before they reach a
//! terminal. Log lines stay English: they are for administrators, not for the person.

use std::collections::BTreeMap;

use crate::client::{sanitize, Status};
use crate::config;
use crate::limiter::Limit;
use crate::os::Host;
use crate::outcome::{Outcome, Request};
use crate::template::render_with;

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
    pub const ALL: [Language; 3] = [Language::En, Language::Hu, Language::De];

    /// Its name in the configuration.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Hu => "hu",
            Language::De => "de",
        }
    }

    /// The language a configuration value names.
    pub fn parse(s: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == s)
    }
}

/// A message the module shows the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Id {
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
const COMMON: [&str; 4] = ["user", "host", "service", "target"];

impl Id {
    /// Every message, in the order of the manual.
    pub const ALL: [Id; 10] = [
        Id::Approve,
        Id::Enter,
        Id::Denied,
        Id::NotApproved,
        Id::Timeout,
        Id::LockedOut,
        Id::RateLimited,
        Id::Pending,
        Id::Unavailable,
        Id::Error,
    ];

    /// Its key in `[messages]`.
    pub fn key(self) -> &'static str {
        match self {
            Id::Approve => "approve",
            Id::Enter => "enter",
            Id::Denied => "denied",
            Id::NotApproved => "not_approved",
            Id::Timeout => "timeout",
            Id::LockedOut => "locked_out",
            Id::RateLimited => "rate_limited",
            Id::Pending => "pending",
            Id::Unavailable => "unavailable",
            Id::Error => "error",
        }
    }

    /// The message a `[messages]` key names.
    pub fn parse(key: &str) -> Option<Id> {
        Id::ALL.into_iter().find(|i| i.key() == key)
    }

    /// The placeholders its text may use: `{user}` (whose phone gets the push), `{host}`
    /// (this machine), `{service}` (the PAM service), `{target}` (the user to become under
    /// `user=invoker`, else the user), and per message `{code}` (the verification code),
    /// `{timeout}` (`login.timeout` in seconds), `{until}` (when a lockout ends).
    pub fn placeholders(self) -> Vec<&'static str> {
        let mut p = COMMON.to_vec();
        match self {
            Id::Approve | Id::Enter => p.push("code"),
            Id::Timeout => p.push("timeout"),
            Id::LockedOut => p.push("until"),
            _ => {}
        }
        p
    }
}

/// The built-in text of `id` in `lang`.
pub fn builtin(lang: Language, id: Id) -> &'static str {
    use Id::*;
    match lang {
        Language::En => match id {
            Approve => "PassBy[ME]: approve this login on your phone. Verification code: {code}",
            Enter => "Press Enter once you have approved: ",
            Denied => {
                "PassBy[ME]: the login was denied on the phone. If that was not you, \
                tell your administrator."
            }
            NotApproved => "PassBy[ME]: the login was not approved on the phone.",
            Timeout => {
                "PassBy[ME]: no answer from the phone within {timeout} seconds; the \
                request was withdrawn. Log in again to get a new one."
            }
            LockedOut => {
                "PassBy[ME]: too many denied logins; locked out until {until}. Ask your \
                administrator if you need to log in sooner."
            }
            RateLimited => {
                "PassBy[ME]: too many login requests in a short time. Wait a few \
                minutes before you try again."
            }
            Pending => {
                "PassBy[ME]: another login of {user} is already waiting for approval. \
                Answer it on the phone or let it expire first."
            }
            Unavailable => {
                "PassBy[ME]: the service cannot be reached, so the login cannot be \
                approved now. Try again later, or ask your administrator."
            }
            Error => {
                "PassBy[ME]: the login could not be checked. Try again later, or ask your \
                administrator."
            }
        },
        Language::Hu => match id {
            Approve => {
                "PassBy[ME]: hagyja jóvá ezt a bejelentkezést a telefonján. \
                Ellenőrző kód: {code}"
            }
            Enter => "Ha jóváhagyta, nyomja meg az Entert: ",
            Denied => {
                "PassBy[ME]: a bejelentkezést a telefonon elutasították. Ha nem Ön \
                próbált belépni, szóljon a rendszergazdának."
            }
            NotApproved => "PassBy[ME]: a bejelentkezést a telefonon nem hagyták jóvá.",
            Timeout => {
                "PassBy[ME]: {timeout} másodpercen belül nem érkezett válasz a \
                telefonról, ezért a kérést visszavontuk. Jelentkezzen be újra, és új kérést kap."
            }
            LockedOut => {
                "PassBy[ME]: túl sok elutasított bejelentkezés miatt a belépés \
                {until}-ig zárolva van. Ha addig is be kell lépnie, forduljon a rendszergazdához."
            }
            RateLimited => {
                "PassBy[ME]: rövid időn belül túl sok bejelentkezési kérés érkezett. \
                Várjon néhány percet, mielőtt újra próbálkozik."
            }
            Pending => {
                "PassBy[ME]: {user} egy másik bejelentkezése már jóváhagyásra vár. \
                Előbb válaszoljon rá a telefonon, vagy várja meg, amíg lejár."
            }
            Unavailable => {
                "PassBy[ME]: a szolgáltatás nem érhető el, ezért a bejelentkezést \
                most nem lehet jóváhagyni. Próbálja újra később, vagy forduljon a \
                rendszergazdához."
            }
            Error => {
                "PassBy[ME]: a bejelentkezést nem sikerült ellenőrizni. Próbálja újra \
                később, vagy forduljon a rendszergazdához."
            }
        },
        Language::De => match id {
            Approve => {
                "PassBy[ME]: Bestätigen Sie diese Anmeldung auf Ihrem Telefon. \
                Prüfcode: {code}"
            }
            Enter => "Drücken Sie die Eingabetaste, sobald Sie bestätigt haben: ",
            Denied => {
                "PassBy[ME]: Die Anmeldung wurde auf dem Telefon abgelehnt. Falls Sie das \
                nicht waren, informieren Sie Ihren Administrator."
            }
            NotApproved => "PassBy[ME]: Die Anmeldung wurde auf dem Telefon nicht bestätigt.",
            Timeout => {
                "PassBy[ME]: Keine Antwort vom Telefon innerhalb von {timeout} Sekunden; \
                die Anfrage wurde zurückgezogen. Melden Sie sich erneut an, um eine neue zu \
                erhalten."
            }
            LockedOut => {
                "PassBy[ME]: Nach zu vielen abgelehnten Anmeldungen gesperrt bis \
                {until}. Wenden Sie sich an Ihren Administrator, wenn Sie sich früher anmelden \
                müssen."
            }
            RateLimited => {
                "PassBy[ME]: Zu viele Anmeldeanfragen in kurzer Zeit. Warten Sie \
                einige Minuten, bevor Sie es erneut versuchen."
            }
            Pending => {
                "PassBy[ME]: Eine andere Anmeldung von {user} wartet bereits auf \
                Bestätigung. Beantworten Sie sie auf dem Telefon oder warten Sie, bis sie \
                abläuft."
            }
            Unavailable => {
                "PassBy[ME]: Der Dienst ist nicht erreichbar, daher kann die Anmeldung \
                jetzt nicht bestätigt werden. Versuchen Sie es später erneut oder wenden Sie sich \
                an Ihren Administrator."
            }
            Error => {
                "PassBy[ME]: Die Anmeldung konnte nicht geprüft werden. Versuchen Sie es \
                später erneut oder wenden Sie sich an Ihren Administrator."
            }
        },
    }
}

/// The push's default subject in `lang`; `invoker` for `user=invoker` (`su`): who wants to
/// become whom. Its placeholders are [`crate::template::PLACEHOLDERS`].
pub fn default_subject(lang: Language, invoker: bool) -> &'static str {
    match (lang, invoker) {
        (Language::En, false) => config::DEFAULT_SUBJECT,
        (Language::En, true) => config::DEFAULT_SUBJECT_INVOKER,
        (Language::Hu, false) => "Kód {code}: bejelentkezés {user} néven ide: {host}?",
        (Language::Hu, true) => "Kód {code}: {user} {target} felhasználóvá váltana itt: {host}?",
        (Language::De, false) => "Code {code}: Anmeldung als {user} auf {host}?",
        (Language::De, true) => "Code {code}: {user} möchte auf {host} zu {target} werden?",
    }
}

/// The push's default body in `lang` (see [`default_subject`]).
pub fn default_body(lang: Language, invoker: bool) -> &'static str {
    match (lang, invoker) {
        (Language::En, false) => config::DEFAULT_BODY,
        (Language::En, true) => config::DEFAULT_BODY_INVOKER,
        (Language::Hu, false) => {
            "Kód: {code}. Csak akkor hagyja jóvá, ha most jelentkezik be, és a képernyőjén ez \
            a kód látható.\nFelhasználó: {user}\nGép: {host}\nSzolgáltatás: {service}\n\
            Honnan: {rhost}\nTerminál: {tty}\nIdőpont: {time}"
        }
        (Language::Hu, true) => {
            "Kód: {code}. Csak akkor hagyja jóvá, ha most futtatja a su parancsot, és a \
            képernyőjén ez a kód látható.\nFelhasználó: {user}\nEz lesz belőle: {target}\n\
            Gép: {host}\nSzolgáltatás: {service}\nTerminál: {tty}\nIdőpont: {time}"
        }
        (Language::De, false) => {
            "Code {code}. Bestätigen Sie nur, wenn Sie sich gerade anmelden und Ihr Bildschirm \
            diesen Code zeigt.\nBenutzer: {user}\nRechner: {host}\nDienst: {service}\n\
            Von: {rhost}\nTerminal: {tty}\nZeit: {time}"
        }
        (Language::De, true) => {
            "Code {code}. Bestätigen Sie nur, wenn Sie gerade su ausführen und Ihr Bildschirm \
            diesen Code zeigt.\nBenutzer: {user}\nWird zu: {target}\nRechner: {host}\n\
            Dienst: {service}\nTerminal: {tty}\nZeit: {time}"
        }
    }
}

/// Checks an override of `id`: only its placeholders, balanced braces; the approve hint
/// must show `{code}` (the person compares it with the phone: without it a push sent by
/// someone else is easy to approve by mistake).
pub fn check(id: Id, text: &str) -> Result<(), String> {
    let mut code = false;
    render_with(text, &id.placeholders(), |name| {
        code |= name == "code";
        None
    })?;
    if id == Id::Approve && !code {
        return Err("must use {code} (the person compares it with the phone)".into());
    }
    Ok(())
}

/// The messages of a configuration: the language and the texts that override it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Messages {
    /// The language of every text not overridden, and of the push's default subject and
    /// body. Defaults to [`Language::En`].
    pub language: Language,
    /// Texts written in `[messages]`, each checked with [`check`]. An empty text means
    /// "say nothing" for an outcome line.
    pub overrides: BTreeMap<Id, String>,
}

/// The values of a message's placeholders. Each is untrusted (PAM items, the user
/// database): [`Messages::render`] strips control characters and caps its length.
#[derive(Debug, Clone, Default)]
pub struct Values<'a> {
    /// `{user}`.
    pub user: &'a str,
    /// `{host}`.
    pub host: &'a str,
    /// `{service}`.
    pub service: &'a str,
    /// `{target}` (the user when `None`).
    pub target: Option<&'a str>,
    /// `{code}`.
    pub code: Option<&'a str>,
    /// `{timeout}`.
    pub timeout: Option<u64>,
    /// `{until}`.
    pub until: Option<String>,
}

impl<'a> Values<'a> {
    /// The values every message has: `req`'s user, service and target, on the host named
    /// `host`.
    pub fn of(req: &'a Request, host: &'a str) -> Values<'a> {
        Values {
            user: &req.user,
            host,
            service: &req.service,
            target: req.target.as_deref(),
            ..Values::default()
        }
    }
}

impl Messages {
    /// The text of `id`: the override, else the built-in one.
    pub fn text(&self, id: Id) -> &str {
        self.overrides
            .get(&id)
            .map_or_else(|| builtin(self.language, id), String::as_str)
    }

    /// `id` with its placeholders filled in, each value safe for a terminal.
    pub fn render(&self, id: Id, v: &Values<'_>) -> String {
        let value = |name: &str| {
            Some(match name {
                "user" => sanitize::clean(v.user, 64),
                "host" => sanitize::clean(v.host, 64),
                "service" => sanitize::clean(v.service, 32),
                "target" => sanitize::clean(v.target.unwrap_or(v.user), 64),
                "code" => sanitize::clean(v.code.unwrap_or("?"), 8),
                "timeout" => v.timeout.map_or_else(|| "?".into(), |t| t.to_string()),
                "until" => sanitize::clean(v.until.as_deref().unwrap_or("?"), 64),
                _ => return None,
            })
        };
        let allowed = id.placeholders();
        // An override was checked at load and a built-in text by the tests: the fallback
        // is never expected to run.
        render_with(self.text(id), &allowed, value)
            .or_else(|_| render_with(builtin(self.language, id), &allowed, value))
            .unwrap_or_else(|_| builtin(Language::En, id).to_owned())
    }

    /// The push's subject: `configured` unless it is this language's default, which
    /// under `user=invoker` becomes the invoker's default.
    pub fn subject<'a>(&self, configured: &'a str, invoker: bool) -> &'a str {
        match default_subject(self.language, false) {
            d if invoker && d == configured => default_subject(self.language, true),
            _ => configured,
        }
    }

    /// The push's body, as [`Messages::subject`].
    pub fn body<'a>(&self, configured: &'a str, invoker: bool) -> &'a str {
        match default_body(self.language, false) {
            d if invoker && d == configured => default_body(self.language, true),
            _ => configured,
        }
    }
}

/// The line that tells the person how a login ended, if it has one: refusals, timeouts,
/// limits and failures. An approval, a step aside, an abandoned login (the process is
/// ending) and a bad configuration (the texts are part of it) have none; nor has a message
/// overridden with an empty text.
pub fn outcome_line(
    messages: &Messages,
    outcome: &Outcome,
    v: &Values<'_>,
    now: time::OffsetDateTime,
) -> Option<String> {
    let mut v = v.clone();
    let id = match outcome {
        Outcome::Refused(Status::Denied) => Id::Denied,
        Outcome::Refused(_) => Id::NotApproved,
        Outcome::TimedOut => Id::Timeout,
        Outcome::Limited(why) => match why.limit {
            Limit::LockedOut(secs) => {
                v.until = Some(until(now, secs));
                Id::LockedOut
            }
            Limit::Rate => Id::RateLimited,
            Limit::Pending => Id::Pending,
            Limit::Other => Id::Error,
        },
        Outcome::Unreachable(_) => Id::Unavailable,
        Outcome::Error(_) | Outcome::ConversationFailed(_) => Id::Error,
        Outcome::Repeat(prev) => return outcome_line(messages, prev, &v, now),
        _ => return None,
    };
    let line = messages.render(id, &v);
    (!line.is_empty()).then_some(line)
}

/// The line that tells the person how `req`'s login ended under `config` (see
/// [`outcome_line`]), with this host's name and the time now: what the module shows, and
/// what `passbyme login` prints.
pub fn tell(
    config: &config::Config,
    req: &Request,
    outcome: &Outcome,
    host: &impl Host,
) -> Option<String> {
    let hostname = host.hostname();
    let values = Values {
        timeout: Some(config.login.timeout.as_secs()),
        ..Values::of(req, &hostname)
    };
    outcome_line(&config.messages, outcome, &values, host.now())
}

/// `text` in ASCII, for a host program that escapes everything else: OpenSSH's `ssh` prints
/// a keyboard-interactive round's instruction (where sshd puts the messages it held back,
/// the outcome line among them) through its log filter, which shows every non-ASCII byte
/// as an octal escape whatever the locale ("elutas\303\255tott\303\241k"). Letters
/// lose their accents (German umlauts become ae/oe/ue, ß ss); anything else not ASCII
/// becomes `?`.
pub fn fold_ascii(lang: Language, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let s = match c {
            c if c.is_ascii() => {
                out.push(c);
                continue;
            }
            'ä' if lang == Language::De => "ae",
            'ö' if lang == Language::De => "oe",
            'ü' if lang == Language::De => "ue",
            'Ä' if lang == Language::De => "Ae",
            'Ö' if lang == Language::De => "Oe",
            'Ü' if lang == Language::De => "Ue",
            'ß' => "ss",
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => "a",
            'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => "A",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'É' | 'È' | 'Ê' | 'Ë' => "E",
            'í' | 'ì' | 'î' | 'ï' => "i",
            'Í' | 'Ì' | 'Î' | 'Ï' => "I",
            'ó' | 'ò' | 'ô' | 'ö' | 'ő' | 'õ' => "o",
            'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Ő' | 'Õ' => "O",
            'ú' | 'ù' | 'û' | 'ü' | 'ű' => "u",
            'Ú' | 'Ù' | 'Û' | 'Ü' | 'Ű' => "U",
            '–' | '—' => "-",
            '„' | '”' | '“' => "\"",
            '’' | '‘' => "'",
            _ => "?",
        };
        out.push_str(s);
    }
    out
}

/// `now` + `secs` as the terminal shows it: date and minute (rounded up), "UTC" when the
/// local offset is unknown.
fn until(now: time::OffsetDateTime, secs: u64) -> String {
    let secs = i64::try_from(secs)
        .unwrap_or(i64::MAX / 2)
        .min(366 * 86_400);
    let t = now + time::Duration::seconds(secs + 59);
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let s = t.format(&fmt).unwrap_or_else(|_| "?".into());
    if t.offset().is_utc() {
        format!("{s} UTC")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limiter::Refusal;
    use crate::template::{check_template, PLACEHOLDERS};

    #[test]
    fn every_language_defines_every_message_with_allowed_placeholders() {
        for lang in Language::ALL {
            for id in Id::ALL {
                let t = builtin(lang, id);
                assert!(!t.trim().is_empty(), "{lang:?} {id:?}");
                check(id, t).unwrap_or_else(|e| panic!("{lang:?} {id:?}: {e}"));
                // Same placeholders in every language as in English.
                let used = |t: &str| {
                    let mut u = Vec::new();
                    render_with(t, &id.placeholders(), |n| {
                        u.push(n.to_owned());
                        None
                    })
                    .unwrap();
                    u.sort();
                    u
                };
                assert_eq!(used(t), used(builtin(Language::En, id)), "{lang:?} {id:?}");
                if lang != Language::En {
                    assert_ne!(t, builtin(Language::En, id), "{lang:?} {id:?} untranslated");
                }
            }
            for invoker in [false, true] {
                check_template(default_subject(lang, invoker)).unwrap();
                check_template(default_body(lang, invoker)).unwrap();
                assert!(default_subject(lang, invoker).contains("{code}"));
                assert!(default_body(lang, invoker).contains("{code}"));
                assert_eq!(
                    default_subject(lang, invoker).contains("{target}"),
                    invoker,
                    "{lang:?}"
                );
            }
        }
        for id in Id::ALL {
            assert_eq!(Id::parse(id.key()), Some(id));
            for p in id.placeholders() {
                assert!(PLACEHOLDERS.contains(&p) || ["timeout", "until"].contains(&p));
            }
        }
        for lang in Language::ALL {
            assert_eq!(Language::parse(lang.code()), Some(lang));
        }
        assert_eq!(Language::parse("EN"), None);
    }

    #[test]
    fn overrides_are_checked() {
        assert!(check(Id::Denied, "Nope, {user}@{host} ({service}, {target})").is_ok());
        assert!(check(Id::LockedOut, "until {until}").is_ok());
        assert!(check(Id::Denied, "until {until}")
            .unwrap_err()
            .starts_with("unknown placeholder {until}; known: {user} {host} {service} {target}"));
        assert!(check(Id::Timeout, "{code}").is_err());
        assert_eq!(
            check(Id::Approve, "Approve on the phone").unwrap_err(),
            "must use {code} (the person compares it with the phone)"
        );
        assert!(check(Id::Approve, "Code {code}").is_ok());
        assert!(check(Id::Enter, "{unclosed").is_err());
        assert!(check(Id::Denied, "").is_ok());
    }

    fn values() -> Values<'static> {
        Values {
            user: "alice\x1b[2J",
            host: "box\r\nroot#",
            service: "sshd",
            target: None,
            code: Some("42"),
            timeout: Some(60),
            until: None,
        }
    }

    #[test]
    fn values_reaching_the_terminal_are_stripped() {
        let mut m = Messages::default();
        m.overrides
            .insert(Id::Denied, "{user} on {host} as {target}".into());
        let out = outcome_line(
            &m,
            &Outcome::Refused(Status::Denied),
            &values(),
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(out, "alice?[2J on box??root# as alice?[2J");
        assert!(!out.chars().any(char::is_control));
    }

    #[test]
    fn each_outcome_has_its_line() {
        let now = time::macros::datetime!(2026-11-29 10:00:30 UTC);
        let m = Messages {
            language: Language::Hu,
            ..Messages::default()
        };
        let line = |o: Outcome| outcome_line(&m, &o, &values(), now);
        assert_eq!(
            line(Outcome::Refused(Status::Denied)).unwrap(),
            builtin(Language::Hu, Id::Denied)
        );
        assert_eq!(
            line(Outcome::Refused(Status::NoDevice)).unwrap(),
            builtin(Language::Hu, Id::NotApproved)
        );
        assert!(line(Outcome::TimedOut)
            .unwrap()
            .starts_with("PassBy[ME]: 60 másodpercen belül"));
        // Each limit by its kind, whatever the reason's wording.
        let refusal = |limit, reason: &str| {
            Outcome::Limited(Refusal {
                limit,
                reason: reason.into(),
            })
        };
        let locked = line(refusal(Limit::LockedOut(900), "locked out from host:x")).unwrap();
        assert!(
            locked.contains("2026-11-29 10:16 UTC-ig zárolva"),
            "{locked}"
        );
        let locked = line(refusal(
            Limit::LockedOut(60),
            "locked out from every source",
        ))
        .unwrap();
        assert!(locked.contains("10:02 UTC-ig"), "{locked}");
        assert_eq!(
            line(refusal(Limit::Rate, "rate limit")).unwrap(),
            builtin(Language::Hu, Id::RateLimited)
        );
        assert!(line(refusal(Limit::Pending, "another login"))
            .unwrap()
            .contains("alice?[2J egy másik"));
        assert_eq!(
            line(Outcome::Limited(Refusal::other("state directory: denied"))).unwrap(),
            builtin(Language::Hu, Id::Error)
        );
        assert_eq!(
            line(Outcome::Unreachable("x".into())).unwrap(),
            builtin(Language::Hu, Id::Unavailable)
        );
        assert_eq!(
            line(Outcome::Repeat(Box::new(Outcome::TimedOut))),
            line(Outcome::TimedOut)
        );
        for quiet in [
            Outcome::Approved,
            Outcome::Grace,
            Outcome::FailOpen("x".into()),
            Outcome::Interrupted(15),
            Outcome::Config("x".into()),
            Outcome::Skipped("x".into()),
        ] {
            assert_eq!(line(quiet.clone()), None, "{quiet:?}");
        }
        // An empty override says nothing.
        let mut quiet = m.clone();
        quiet.overrides.insert(Id::Timeout, String::new());
        assert_eq!(
            outcome_line(&quiet, &Outcome::TimedOut, &values(), now),
            None
        );
    }

    #[test]
    fn lines_fold_to_ascii_for_ssh() {
        assert_eq!(
            fold_ascii(Language::Hu, builtin(Language::Hu, Id::Denied)),
            "PassBy[ME]: a bejelentkezest a telefonon elutasitottak. Ha nem On probalt belepni, \
             szoljon a rendszergazdanak."
        );
        assert_eq!(
            fold_ascii(Language::De, "Bestätigen Sie, Größe, Übung"),
            "Bestaetigen Sie, Groesse, Uebung"
        );
        assert_eq!(fold_ascii(Language::Hu, "őrző ÁRVÍZTŰRŐ"), "orzo ARVIZTURO");
        assert_eq!(fold_ascii(Language::En, "x→y 漢"), "x?y ?");
        for lang in Language::ALL {
            for id in Id::ALL {
                assert!(fold_ascii(lang, builtin(lang, id)).is_ascii());
                assert!(
                    !fold_ascii(lang, builtin(lang, id)).contains('?'),
                    "{lang:?} {id:?}: a letter without its fold"
                );
            }
        }
    }

    #[test]
    fn the_push_texts_follow_the_language() {
        let m = Messages {
            language: Language::De,
            ..Messages::default()
        };
        let d = default_subject(Language::De, false);
        assert_eq!(m.subject(d, false), d);
        assert_eq!(m.subject(d, true), default_subject(Language::De, true));
        assert_eq!(m.subject("mine {code}", true), "mine {code}");
        let b = default_body(Language::De, false);
        assert_eq!(m.body(b, true), default_body(Language::De, true));
    }
}
