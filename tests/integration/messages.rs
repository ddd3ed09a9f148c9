//! What the person at the terminal is told, through real libpam: each built-in language
//! (the prompt and the outcome line), the push's subject in that language, overrides shown
//! verbatim with their placeholders filled, and bad `[messages]` refused at load.

use pam_passbyme::config::{Language, MessageId};
use pam_passbyme::messages::{builtin, default_subject};

use crate::util::pam::{config, config_limits, Setup, AUTHINFO_UNAVAIL, MAXTRIES, SERVICE_ERR};
use crate::util::{passbyme, syslog, Emulator};

const PROMPT: &str = "2:"; // PAM_PROMPT_ECHO_ON
const ERROR: &str = "3:"; // PAM_ERROR_MSG

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

/// The two digits after the last ": " of the prompt's first line.
fn code_of(prompt: &str) -> String {
    let first = prompt.lines().next().unwrap();
    let code = first.rsplit(' ').next().unwrap().to_owned();
    assert!(
        code.len() == 2 && code.chars().all(|c| c.is_ascii_digit()),
        "{prompt}"
    );
    code
}

#[test]
fn each_language_prompts_and_tells_the_denial_in_its_words() {
    let emu = Emulator::start();
    for (lang, user) in [
        (Language::En, "pm_en"),
        (Language::Hu, "pm_hu"),
        (Language::De, "pm_de"),
    ] {
        let users = format!("{user} = \"{user}+deny+after=300ms@x\"");
        let extra = format!("[messages]\nlanguage = \"{}\"", lang.code());
        let s = Setup::new(&config(&emu, &extra, &users), "");
        let (rc, conv) = s.login(user);
        assert_eq!(rc, MAXTRIES, "{conv:?}");
        assert_eq!(conv.len(), 2, "{conv:?}");
        let code = code_of(&conv[0]);
        let approve = builtin(lang, MessageId::Approve).replace("{code}", &code);
        assert_eq!(
            conv[0],
            format!("{PROMPT}{approve}\n{}", builtin(lang, MessageId::Enter))
        );
        assert_eq!(
            conv[1],
            format!("{ERROR}{}", builtin(lang, MessageId::Denied))
        );
        // The push's subject is in the same language.
        let m = emu
            .messages()
            .into_iter()
            .find(|m| m["recipients"][0]["userId"] == format!("{user}+deny+after=300ms@x"))
            .unwrap();
        let want = default_subject(lang, false)
            .replace("{code}", &code)
            .replace("{user}", user)
            .replace("{host}", &hostname());
        assert_eq!(m["subject"].as_str().unwrap(), want);
        // Logs stay English.
        assert!(syslog()
            .line_with(&format!("user={user} "))
            .contains("decision=refused"));
    }
    // The Hungarian texts as a Hungarian reader sees them, not only "some translation".
    let (_, conv) = {
        let users = "pm_hu2 = \"pm_hu2+deny+after=300ms@x\"";
        let s = Setup::new(&config(&emu, "[messages]\nlanguage = \"hu\"", users), "");
        s.login("pm_hu2")
    };
    assert!(conv[0].contains("hagyja jóvá ezt a bejelentkezést a telefonján. Ellenőrző kód: "));
    assert!(conv[0].ends_with("\nHa jóváhagyta, nyomja meg az Entert: "));
    assert_eq!(
        conv[1],
        "3:PassBy[ME]: a bejelentkezést a telefonon elutasították. Ha nem Ön próbált belépni, \
         szóljon a rendszergazdának."
    );
    let subject = emu
        .messages()
        .into_iter()
        .find(|m| m["recipients"][0]["userId"] == "pm_hu2+deny+after=300ms@x")
        .unwrap()["subject"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        subject.starts_with("Kód ") && subject.contains(": bejelentkezés pm_hu2 néven ide: "),
        "{subject}"
    );
    assert!(emu.open_messages().is_empty());
}

#[test]
fn an_override_is_shown_verbatim_with_its_placeholders_filled() {
    let emu = Emulator::start();
    let extra =
        "[messages]\nlanguage = \"de\"\napprove = \"Code {code} for {user} ({{literal}})\"\n\
                 enter = \"Enter> \"\ndenied = \"Nope: {user}@{host} via {service}, as {target}.\"";
    let users = "pm_ov = \"pm_ov+deny+after=300ms@x\"";
    let s = Setup::new(&config(&emu, extra, users), "");
    let (rc, conv) = s.login("pm_ov");
    assert_eq!(rc, MAXTRIES);
    let code = conv[0]["2:Code ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(code.len(), 2, "{conv:?}");
    assert_eq!(
        conv,
        vec![
            format!("2:Code {code} for pm_ov ({{literal}})\nEnter> "),
            format!("3:Nope: pm_ov@{} via pbm-test, as pm_ov.", hostname()),
        ]
    );
}

#[test]
fn timeout_lockout_rate_and_unavailable_lines() {
    let emu = Emulator::start();
    // No answer: the timeout line, with the configured timeout in seconds.
    let users = "pm_slow = \"pm_slow+ignore@x\"";
    let s = Setup::new(
        &config(
            &emu,
            "prompt = \"info\"\n[messages]\nlanguage = \"hu\"",
            users,
        ),
        "timeout=5s",
    );
    let (rc, conv) = s.login("pm_slow");
    assert_eq!(rc, MAXTRIES);
    assert_eq!(conv.len(), 2, "{conv:?}");
    assert!(conv[0].starts_with("4:PassBy[ME]: hagyja jóvá"), "{conv:?}");
    assert_eq!(
        conv[1],
        format!(
            "3:{}",
            builtin(Language::Hu, MessageId::Timeout).replace("{timeout}", "5")
        )
    );

    // One denial locks out: the next login is told until when, with no push.
    let users = "pm_lock = \"pm_lock+deny+after=200ms@x\"";
    let s = Setup::new(
        &config_limits(
            &emu,
            "max_pushes = 1000\nlockout_after = 1\nlockout = \"10m\"",
            "prompt = \"none\"",
            users,
        ),
        "",
    );
    let (rc, conv) = s.login("pm_lock");
    assert_eq!((rc, conv.len()), (MAXTRIES, 1), "{conv:?}");
    assert_eq!(
        conv[0],
        format!("3:{}", builtin(Language::En, MessageId::Denied))
    );
    let pushes = emu.messages().len();
    let (rc, conv) = s.login("pm_lock");
    assert_eq!(rc, MAXTRIES);
    assert_eq!(conv.len(), 1, "{conv:?}");
    let (head, tail) = conv[0]
        .split_once("locked out until ")
        .unwrap_or_else(|| panic!("{conv:?}"));
    assert_eq!(head, "3:PassBy[ME]: too many denied logins; ");
    // "YYYY-MM-DD HH:MM" (and " UTC" when the local offset is unknown), then the advice.
    let until = &tail[..16];
    assert!(
        until.as_bytes()[4] == b'-' && until.as_bytes()[13] == b':',
        "{until}"
    );
    assert!(
        tail.ends_with(". Ask your administrator if you need to log in sooner."),
        "{tail}"
    );
    assert_eq!(emu.messages().len(), pushes, "no push while locked out");
    assert!(syslog()
        .line_with("decision=limited user=pm_lock ")
        .contains("locked out"));

    // Too many pushes.
    let users = "pm_rate = \"pm_rate+deny+after=200ms@x\"";
    let s = Setup::new(
        &config_limits(
            &emu,
            "max_pushes = 1\nlockout_after = 0",
            "prompt = \"none\"\n[messages]\nlanguage = \"de\"",
            users,
        ),
        "",
    );
    assert_eq!(s.login("pm_rate").0, MAXTRIES);
    let (rc, conv) = s.login("pm_rate");
    assert_eq!(rc, MAXTRIES);
    assert_eq!(
        conv,
        vec![format!(
            "3:{}",
            builtin(Language::De, MessageId::RateLimited)
        )]
    );

    // The service down (the default policy denies): the unavailable line.
    let down = emu.service_table().replace(&emu.addr, "127.0.0.1:1") + &emu.limits_table("");
    let s = Setup::new(
        &format!("{down}[messages]\nlanguage = \"hu\"\n[users]\npm_down = \"x@x\"\n"),
        "",
    );
    let (rc, conv) = s.login("pm_down");
    assert_eq!(rc, AUTHINFO_UNAVAIL);
    assert_eq!(
        conv,
        vec![format!(
            "3:{}",
            builtin(Language::Hu, MessageId::Unavailable)
        )]
    );
    assert!(emu.open_messages().is_empty());
}

#[test]
fn a_bad_messages_table_is_refused_at_load() {
    let emu = Emulator::start();
    let cases = [
        (
            "pm_bad1",
            "[messages]\ndenied = \"until {until}\"",
            "messages.denied: unknown placeholder {until}; known: {user} {host} {service} {target}",
        ),
        (
            "pm_bad2",
            "[messages]\nrejected = \"no\"",
            "messages.rejected: unknown message; known: language approve enter denied",
        ),
        (
            "pm_bad3",
            "[messages]\nlanguage = \"fr\"",
            "messages.language: unknown language 'fr'; known: en hu de",
        ),
        (
            "pm_bad4",
            "[messages]\napprove = \"Approve it on the phone\"",
            "messages.approve: must use {code}",
        ),
    ];
    for (user, extra, want) in cases {
        let users = format!("{user} = \"{user}+approve@x\"");
        let s = Setup::new(&config(&emu, extra, &users), "");
        let (rc, conv) = s.login(user);
        assert_eq!(rc, SERVICE_ERR, "{user}");
        assert!(conv.is_empty(), "{user}: nothing shown: {conv:?}");
        let line = syslog().line_with(&format!("user={user} "));
        assert!(line.contains(want), "{user}: want {want:?} in {line}");
        let (code, out, err) = passbyme(&["--config", s.config.to_str().unwrap(), "check"]);
        assert_eq!(code, 2, "CRITICAL: {out}{err}");
        assert!(
            out.contains("FAIL") && out.contains(want),
            "want {want:?} in:\n{out}"
        );
    }
    assert!(emu.messages().is_empty(), "no push from a refused config");
}

/// Under sshd (known by PAM_TTY "ssh" whatever the service is named) the outcome line is
/// folded to ASCII, because the ssh client escapes every other byte of it; on a terminal
/// (PAM_TTY pts/N) the same line keeps its accents.
#[test]
fn the_line_sshd_passes_on_is_folded_to_ascii() {
    let emu = Emulator::start();
    let users = "pm_fold = \"pm_fold+deny+after=300ms@x\"";
    let s = Setup::new(&config(&emu, "[messages]\nlanguage = \"hu\"", users), "");
    let shown = |tty: &[u8]| {
        let (rc, seen) =
            crate::util::pam::raw_login(&s.confdir(), b"pm_fold", Some(b"198.51.100.7"), Some(tty));
        assert_eq!(rc, MAXTRIES);
        String::from_utf8(seen.last().unwrap().clone()).unwrap()
    };
    assert_eq!(
        shown(b"ssh"),
        "PassBy[ME]: a bejelentkezest a telefonon elutasitottak. Ha nem On probalt belepni, \
         szoljon a rendszergazdanak."
    );
    assert_eq!(
        shown(b"pts/9"),
        "PassBy[ME]: a bejelentkezést a telefonon elutasították. Ha nem Ön próbált belépni, \
         szóljon a rendszergazdának."
    );
    assert!(emu.open_messages().is_empty());
}
