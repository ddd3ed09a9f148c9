//! Everything the module tells the person at the terminal, and the push's subject and body:
//! every built-in text in every language, and their rendering. The configuration
//! (`[messages]`, [`crate::config::Messages`]) picks the language and may override any
//! terminal text (each id and its placeholders: [`MessageId`]); this module owns the texts
//! and fills them. Placeholders are `crate::template` ones (`{{`/`}}` are literal braces);
//! their values come from PAM items and the user database, so `Values::filled` strips
//! them of control characters before they reach a terminal or a phone. Log lines stay
//! English: they are for administrators, not for the person.

use crate::client::{sanitize, Status};
use crate::config::{Config, Language, MessageId, Messages};
use crate::limiter::Limit;
use crate::os::Host;
use crate::outcome::{Outcome, Request};
use crate::template::{self, Filled, Placeholder, TemplateError};

/// The built-in text of `id` in `lang`.
pub fn builtin(lang: Language, id: MessageId) -> &'static str {
    use MessageId::*;
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

/// The push's default subject in English: the code first, where a glance at the
/// notification sees it.
pub(crate) const DEFAULT_SUBJECT: &str = "Code {code}: log in as {user} on {host}?";
/// The push's default body in English.
pub(crate) const DEFAULT_BODY: &str =
    "Code {code}. Approve only if you are logging in now and your \
    screen shows this code.\nUser: {user}\nHost: {host}\nService: {service}\nFrom: {rhost}\n\
    Terminal: {tty}\nTime: {time}";

/// The push's default subject in English under `user=invoker` (`su`): who wants to become
/// whom.
pub(crate) const DEFAULT_SUBJECT_INVOKER: &str =
    "Code {code}: {user} wants to become {target} on {host}?";
/// The push's default body in English under `user=invoker`.
pub(crate) const DEFAULT_BODY_INVOKER: &str =
    "Code {code}. Approve only if you are running su now and \
    your screen shows this code.\nUser: {user}\nBecomes: {target}\nHost: {host}\n\
    Service: {service}\nTerminal: {tty}\nTime: {time}";

/// The push's default subject in `lang`; `invoker` for `user=invoker` (`su`): who wants to
/// become whom. Its placeholders are `template::PUSH`.
pub fn default_subject(lang: Language, invoker: bool) -> &'static str {
    match (lang, invoker) {
        (Language::En, false) => DEFAULT_SUBJECT,
        (Language::En, true) => DEFAULT_SUBJECT_INVOKER,
        (Language::Hu, false) => "Kód {code}: bejelentkezés {user} néven ide: {host}?",
        (Language::Hu, true) => "Kód {code}: {user} {target} felhasználóvá váltana itt: {host}?",
        (Language::De, false) => "Code {code}: Anmeldung als {user} auf {host}?",
        (Language::De, true) => "Code {code}: {user} möchte auf {host} zu {target} werden?",
    }
}

/// The push's default body in `lang` (see [`default_subject`]).
pub(crate) fn default_body(lang: Language, invoker: bool) -> &'static str {
    match (lang, invoker) {
        (Language::En, false) => DEFAULT_BODY,
        (Language::En, true) => DEFAULT_BODY_INVOKER,
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

/// The facts a push or a message is filled with. Each is untrusted (PAM items, the user
/// database): [`Values::filled`] strips control characters and caps its length.
#[derive(Debug, Clone, Default)]
pub(crate) struct Values<'a> {
    /// `{user}`.
    pub user: &'a str,
    /// `{host}`.
    pub host: &'a str,
    /// `{service}`.
    pub service: &'a str,
    /// `{rhost}` (`(local)` when `None`).
    pub rhost: Option<&'a str>,
    /// `{tty}` (`(none)` when `None`).
    pub tty: Option<&'a str>,
    /// `{time}`: when the push is sent (empty when `None`).
    pub time: Option<time::OffsetDateTime>,
    /// `{target}` (the user when `None`).
    pub target: Option<&'a str>,
    /// `{code}` (`?` when `None`).
    pub code: Option<&'a str>,
    /// `{timeout}` (`?` when `None`).
    pub timeout: Option<u64>,
    /// `{until}` (`?` when `None`).
    pub until: Option<String>,
}

impl<'a> Values<'a> {
    /// The values every message has: `req`'s user, service, remote host, terminal and
    /// target, on the host named `host`.
    pub(crate) fn of(req: &'a Request, host: &'a str) -> Values<'a> {
        Values {
            user: &req.user,
            host,
            service: &req.service,
            rhost: req.rhost.as_deref(),
            tty: req.tty.as_deref(),
            target: req.target.as_deref(),
            ..Values::default()
        }
    }

    /// Every placeholder's value, safe for a terminal and a phone: the one way they are
    /// filled, for the push and for the terminal lines alike.
    pub(crate) fn filled(&self) -> Filled {
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        let when = self
            .time
            .and_then(|t| t.format(&fmt).ok())
            .unwrap_or_default();
        Placeholder::ALL
            .into_iter()
            .fold(Filled::default(), |f, p| {
                let v = match p {
                    Placeholder::User => sanitize::clean(self.user, 64),
                    Placeholder::Host => sanitize::clean(self.host, 64),
                    Placeholder::Service => sanitize::clean(self.service, 32),
                    Placeholder::Rhost => self
                        .rhost
                        .map_or("(local)".into(), |r| sanitize::clean(r, 64)),
                    Placeholder::Tty => {
                        self.tty.map_or("(none)".into(), |t| sanitize::clean(t, 32))
                    }
                    Placeholder::Time => when.clone(),
                    Placeholder::Target => sanitize::clean(self.target.unwrap_or(self.user), 64),
                    Placeholder::Code => sanitize::clean(self.code.unwrap_or("?"), 8),
                    Placeholder::Timeout => {
                        self.timeout.map_or_else(|| "?".into(), |t| t.to_string())
                    }
                    Placeholder::Until => sanitize::clean(self.until.as_deref().unwrap_or("?"), 64),
                };
                f.with(p, v)
            })
    }
}

/// The rendering of the `[messages]` data the configuration holds (its type is config's,
/// the texts are this module's).
impl Messages {
    /// The text of `id`: the override, else the built-in one.
    pub(crate) fn text(&self, id: MessageId) -> &str {
        self.overrides
            .get(&id)
            .map_or_else(|| builtin(self.language, id), String::as_str)
    }

    /// `id` with its placeholders filled in, each value safe for a terminal.
    pub(crate) fn render(&self, id: MessageId, v: &Values<'_>) -> String {
        let allowed = id.placeholders();
        let filled = v.filled();
        // An override was checked at load and a built-in text by the tests: the fallback
        // is never expected to run.
        template::render(self.text(id), &allowed, &filled)
            .or_else(|_| template::render(builtin(self.language, id), &allowed, &filled))
            .unwrap_or_else(|_| builtin(Language::En, id).to_owned())
    }
}

/// The push's subject and body template under `config`: the ones written in `[login]`,
/// else the language's defaults; under `user=invoker` (`invoker`), a text that is the
/// language's plain default becomes the invoker's default (who wants to become whom).
pub(crate) fn push_templates(config: &Config, invoker: bool) -> (&str, &str) {
    let lang = config.messages.language;
    let subject = match config.login.subject.as_deref() {
        None => default_subject(lang, invoker),
        Some(s) if invoker && s == default_subject(lang, false) => default_subject(lang, true),
        Some(s) => s,
    };
    let body = match config.login.body.as_deref() {
        None => default_body(lang, invoker),
        Some(b) if invoker && b == default_body(lang, false) => default_body(lang, true),
        Some(b) => b,
    };
    (subject, body)
}

/// The push's subject under `config` with each placeholder shown as `<name>`, for
/// `passbyme check`.
pub fn push_sample(config: &Config) -> Result<String, TemplateError> {
    let names = template::PUSH.into_iter().fold(Filled::default(), |f, p| {
        f.with(p, format!("<{}>", p.name()))
    });
    template::render(push_templates(config, false).0, &template::PUSH, &names)
}

/// The push's subject and body for a login, filled with `values` (from the request, this
/// host's name, the time and the code: see [`Values`]); `user=invoker` is told by
/// `values.target`.
pub(crate) fn push_texts(
    config: &Config,
    values: &Values<'_>,
) -> Result<(String, String), TemplateError> {
    let (subject, body) = push_templates(config, values.target.is_some());
    let filled = values.filled();
    Ok((
        template::render(subject, &template::PUSH, &filled)?,
        template::render(body, &template::PUSH, &filled)?,
    ))
}

/// The line that tells the person how a login ended, if it has one: refusals, timeouts,
/// limits and failures. An approval, a step aside, an abandoned login (the process is
/// ending) and a bad configuration (the texts are part of it) have none; nor has a message
/// overridden with an empty text.
pub(crate) fn outcome_line(
    messages: &Messages,
    outcome: &Outcome,
    v: &Values<'_>,
    now: time::OffsetDateTime,
) -> Option<String> {
    let mut v = v.clone();
    let id = match outcome {
        Outcome::Refused(Status::Denied) => MessageId::Denied,
        Outcome::Refused(_) => MessageId::NotApproved,
        Outcome::TimedOut => MessageId::Timeout,
        Outcome::Limited(why) => match why.limit {
            Limit::LockedOut(secs) => {
                v.until = Some(until(now, secs));
                MessageId::LockedOut
            }
            Limit::Rate => MessageId::RateLimited,
            Limit::Pending => MessageId::Pending,
            Limit::Other => MessageId::Error,
        },
        Outcome::Unreachable(_) => MessageId::Unavailable,
        Outcome::Error(_) | Outcome::ConversationFailed(_) => MessageId::Error,
        Outcome::Repeat(prev) => return outcome_line(messages, prev, &v, now),
        // Nothing to say: the login went on (approval, grace, fail-open, a skip, audit mode).
        Outcome::Approved | Outcome::Grace | Outcome::FailOpen(_) => return None,
        Outcome::Skipped(_) | Outcome::Audit(_) => return None,
        // The person left (a signal, a closed connection).
        Outcome::Interrupted(_) | Outcome::ClientGone(_) => return None,
        // Not told in a useful way (no user name, not mapped, a configuration error): the
        // log says it.
        Outcome::Unmapped(_) | Outcome::UnknownUser(_) | Outcome::LocalDenied => return None,
        Outcome::BadUserName(_) | Outcome::NoUser { .. } | Outcome::Config(_) => return None,
    };
    let line = messages.render(id, &v);
    (!line.is_empty()).then_some(line)
}

/// The line that tells the person how `req`'s login ended under `config` (see
/// `outcome_line`), with this host's name and the time now: what the module shows, and
/// what `passbyme login` prints.
pub fn tell(config: &Config, req: &Request, outcome: &Outcome, host: &impl Host) -> Option<String> {
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
pub(crate) fn fold_ascii(lang: Language, text: &str) -> String {
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
    use crate::template::{check, PUSH};

    #[test]
    fn every_language_defines_every_message_with_allowed_placeholders() {
        for lang in Language::ALL {
            for id in MessageId::ALL {
                let t = builtin(lang, id);
                assert!(!t.trim().is_empty(), "{lang:?} {id:?}");
                id.check(t)
                    .unwrap_or_else(|e| panic!("{lang:?} {id:?}: {e}"));
                // Same placeholders in every language as in English.
                let used = |t: &str| {
                    let mut u = check(t, &id.placeholders()).unwrap();
                    u.sort();
                    u
                };
                assert_eq!(used(t), used(builtin(Language::En, id)), "{lang:?} {id:?}");
                if lang != Language::En {
                    assert_ne!(t, builtin(Language::En, id), "{lang:?} {id:?} untranslated");
                }
            }
            for invoker in [false, true] {
                check(default_subject(lang, invoker), &PUSH).unwrap();
                check(default_body(lang, invoker), &PUSH).unwrap();
                assert!(default_subject(lang, invoker).contains("{code}"));
                assert!(default_body(lang, invoker).contains("{code}"));
                assert_eq!(
                    default_subject(lang, invoker).contains("{target}"),
                    invoker,
                    "{lang:?}"
                );
            }
        }
        for id in MessageId::ALL {
            for p in id.placeholders() {
                assert!(
                    PUSH.contains(&p) || [Placeholder::Timeout, Placeholder::Until].contains(&p)
                );
            }
        }
    }

    fn values() -> Values<'static> {
        Values {
            user: "alice\x1b[2J",
            host: "box\r\nroot#",
            service: "sshd",
            code: Some("42"),
            timeout: Some(60),
            ..Values::default()
        }
    }

    #[test]
    fn values_reaching_the_terminal_are_stripped() {
        let mut m = Messages::default();
        m.overrides
            .insert(MessageId::Denied, "{user} on {host} as {target}".into());
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
            builtin(Language::Hu, MessageId::Denied)
        );
        assert_eq!(
            line(Outcome::Refused(Status::NoDevice)).unwrap(),
            builtin(Language::Hu, MessageId::NotApproved)
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
            builtin(Language::Hu, MessageId::RateLimited)
        );
        assert!(line(refusal(Limit::Pending, "another login"))
            .unwrap()
            .contains("alice?[2J egy másik"));
        assert_eq!(
            line(Outcome::Limited(Refusal::other("state directory: denied"))).unwrap(),
            builtin(Language::Hu, MessageId::Error)
        );
        assert_eq!(
            line(Outcome::Unreachable("x".into())).unwrap(),
            builtin(Language::Hu, MessageId::Unavailable)
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
        quiet.overrides.insert(MessageId::Timeout, String::new());
        assert_eq!(
            outcome_line(&quiet, &Outcome::TimedOut, &values(), now),
            None
        );
    }

    #[test]
    fn lines_fold_to_ascii_for_ssh() {
        assert_eq!(
            fold_ascii(Language::Hu, builtin(Language::Hu, MessageId::Denied)),
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
            for id in MessageId::ALL {
                assert!(fold_ascii(lang, builtin(lang, id)).is_ascii());
                assert!(
                    !fold_ascii(lang, builtin(lang, id)).contains('?'),
                    "{lang:?} {id:?}: a letter without its fold"
                );
            }
        }
    }

    fn config(extra: &str) -> Config {
        let text =
            format!("[service]\ncredentials = \"/c.pem\"\n{extra}\n[users]\nalice = \"a@x\"\n");
        Config::parse(std::path::Path::new("/p.toml"), &text).unwrap()
    }

    #[test]
    fn the_push_texts_follow_the_language() {
        let de = config("[messages]\nlanguage = \"de\"");
        let d = default_subject(Language::De, false);
        assert_eq!(push_templates(&de, false).0, d);
        assert_eq!(
            push_templates(&de, true).0,
            default_subject(Language::De, true)
        );
        assert_eq!(
            push_templates(&de, true).1,
            default_body(Language::De, true)
        );
        // Written texts win; one that is the language's plain default still turns into
        // the invoker's under user=invoker.
        let mine = config("[login]\nsubject = \"mine {code}\"\n[messages]\nlanguage = \"de\"");
        assert_eq!(push_templates(&mine, true).0, "mine {code}");
        assert_eq!(
            push_templates(&mine, true).1,
            default_body(Language::De, true)
        );
        let written = config(&format!("[login]\nsubject = \"{DEFAULT_SUBJECT}\""));
        assert_eq!(push_templates(&written, true).0, DEFAULT_SUBJECT_INVOKER);
        assert_eq!(
            push_templates(&config(""), false),
            (DEFAULT_SUBJECT, DEFAULT_BODY)
        );
        assert_eq!(
            push_sample(&config("")).unwrap(),
            "Code <code>: log in as <user> on <host>?"
        );
    }

    #[test]
    fn the_push_is_filled_with_clean_values() {
        let c = config("");
        let now = time::macros::datetime!(2026-11-29 10:00:30 UTC);
        let v = Values {
            user: "alice\x1b[2J",
            host: "box",
            service: "sshd",
            rhost: Some("10.0.0.1\n"),
            tty: None,
            time: Some(now),
            code: Some("42"),
            ..Values::default()
        };
        let (subject, body) = push_texts(&c, &v).unwrap();
        assert_eq!(subject, "Code 42: log in as alice?[2J on box?");
        assert!(body.ends_with(
            "User: alice?[2J\nHost: box\nService: sshd\nFrom: 10.0.0.1?\nTerminal: (none)\n\
             Time: 2026-11-29 10:00:30"
        ));
        let su = Values {
            target: Some("root"),
            rhost: None,
            ..v.clone()
        };
        let (subject, _) = push_texts(&c, &su).unwrap();
        assert_eq!(subject, "Code 42: alice?[2J wants to become root on box?");
        let (_, body) = push_texts(&config("[login]\nbody = \"{rhost} {{x}}\""), &su).unwrap();
        assert_eq!(body, "(local) {x}");
    }

    #[test]
    fn the_shipped_sample_shows_the_english_defaults() {
        let sample = include_str!("../packaging/passbyme.toml");
        let written = |key: &str| {
            let head = format!("# {key} = ");
            let line = sample.lines().find(|l| l.starts_with(&head)).unwrap();
            let v: toml::Table = line[2..].parse().unwrap();
            v[key].as_str().unwrap().to_owned()
        };
        assert_eq!(written("subject"), DEFAULT_SUBJECT);
        assert_eq!(written("body"), DEFAULT_BODY);
    }
}
