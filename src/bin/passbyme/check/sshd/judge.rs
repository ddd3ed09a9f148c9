//! The verdict on one effective configuration of sshd (`sshd -T`) with the sshd PAM
//! stack: the rules every login depends on (UsePAM, keyboard-interactive, the method
//! lists and where the push stands in them).

use super::program::{Conf, Program};
use crate::check::stack::Stack;
use crate::check::Level;

/// The method lists of an effective configuration: AuthenticationMethods, or with "any"
/// every enabled method alone. Second: how the findings show them.
pub fn method_lists(conf: &Conf) -> (Vec<Vec<String>>, String) {
    let get = |k: &str| conf.get(k).map(String::as_str).unwrap_or_default();
    let methods = get("authenticationmethods");
    if methods.is_empty() || methods == "any" {
        let mut l = Vec::new();
        for (k, m) in [
            ("pubkeyauthentication", "publickey"),
            ("passwordauthentication", "password"),
            ("kbdinteractiveauthentication", "keyboard-interactive"),
            ("hostbasedauthentication", "hostbased"),
            ("gssapiauthentication", "gssapi-with-mic"),
        ] {
            if get(k) == "yes" {
                l.push(vec![m.to_owned()]);
            }
        }
        (
            l,
            "AuthenticationMethods any (each enabled method alone logs in)".to_owned(),
        )
    } else {
        (
            methods
                .split_whitespace()
                .map(|l| l.split(',').map(str::to_owned).collect())
                .collect(),
            format!("AuthenticationMethods {methods}"),
        )
    }
}

/// A method's name without its submethod (`keyboard-interactive:pam`).
pub fn base(m: &str) -> &str {
    m.split(':').next().unwrap_or_default()
}

/// Whether a method runs the sshd PAM auth stack: keyboard-interactive, and with UsePAM
/// also password (sshd's sshpam_auth_passwd runs pam_authenticate with a conversation that
/// answers hidden prompts with the password).
pub fn runs_pam(m: &str, conf: &Conf) -> bool {
    let usepam = conf.get("usepam").is_some_and(|v| v == "yes");
    base(m) == "keyboard-interactive" || (base(m) == "password" && usepam)
}

/// One problem of an effective configuration, before it is said where.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub(super) level: Level,
    pub(super) id: &'static str,
    pub(super) body: String,
    /// Found in the PAM stack: the finding points at the module's line.
    pub(super) at_push: bool,
}

impl Problem {
    pub(super) fn new(level: Level, id: &'static str, body: String) -> Problem {
        Problem {
            level,
            id,
            body,
            at_push: false,
        }
    }
}

/// Judges one effective configuration with the sshd PAM stack: the rules every login
/// depends on. The second value is how the method lists were shown.
pub(super) fn judge(
    conf: &Conf,
    stack: Option<&Stack>,
    third_factor: bool,
    program: Program,
) -> (Vec<Problem>, String) {
    let get = |k: &str| conf.get(k).map(String::as_str).unwrap_or_default();
    let yes = |k: &str| get(k) == "yes";
    let mut out = Vec::new();
    if !yes("usepam") {
        out.push(Problem::new(
            Level::Critical,
            "sshd-usepam-off",
            format!(
                "UsePAM {}: sshd never runs the PAM stack, so no push: set UsePAM yes",
                get("usepam")
            ),
        ));
    }
    if !yes("kbdinteractiveauthentication") {
        out.push(Problem::new(Level::Critical, "sshd-kbdinteractive-off", format!("KbdInteractiveAuthentication {}: the push runs only through keyboard-interactive (either nobody can log in, or everyone logs in without it): set KbdInteractiveAuthentication yes", get("kbdinteractiveauthentication"))));
    } else if program.needs_challenge(conf) && !yes("challengeresponseauthentication") {
        let v = get("challengeresponseauthentication");
        out.push(Problem::new(Level::Critical, "sshd-challengeresponse-off", format!("ChallengeResponseAuthentication {}: {} (before OpenSSH 8.7) runs PAM through keyboard-interactive only with ChallengeResponseAuthentication yes; KbdInteractiveAuthentication yes is not enough: keyboard-interactive fails, so every login that needs the push is refused: set ChallengeResponseAuthentication yes", if v.is_empty() { "unset" } else { v }, program.name())));
    }
    let (lists, shown) = method_lists(conf);
    for list in &lists {
        let joined = list.join(",");
        let Some(pos) = list.iter().position(|m| runs_pam(m, conf)) else {
            out.push(Problem::new(Level::Critical, "sshd-method-without-push", format!("{shown}: '{joined}' logs in without keyboard-interactive, so without the push: use AuthenticationMethods publickey,keyboard-interactive")));
            continue;
        };
        let Some(s) = stack else { continue };
        if list.iter().any(|m| base(m) == "password") && yes("usepam") {
            out.push(Problem::new(Level::Warning, "sshd-password-method", format!("{shown}: in '{joined}' the password method runs the sshd PAM stack, push included, through sshd's password conversation: the verification code is never shown, prompt=enter is refused there (the login fails after a push), and the wait blocks sshd's privileged process: use keyboard-interactive")));
        }
        let before = pos > 0;
        let all_pam = list.iter().all(|m| runs_pam(m, conf));
        if !before && s.push_alone && all_pam {
            if list.len() == 1 {
                out.push(Problem::new(Level::Critical, "sshd-push-alone", format!("{shown}: '{joined}' has no first factor before {}, and the sshd PAM stack asks no password before the push: the push alone lets people in: use AuthenticationMethods publickey,keyboard-interactive (or a password module before pam_passbyme)", list[pos])));
            } else {
                out.push(Problem::new(Level::Critical, "sshd-push-alone", format!("{shown}: '{joined}' runs only the sshd PAM stack, {} times, and it asks no password before the push: the push {} times and no first factor: use AuthenticationMethods publickey,keyboard-interactive (or a password module before pam_passbyme)", list.len(), list.len())));
            }
        } else if !before && s.push_alone {
            out.push(Problem::new(Level::Warning, "sshd-push-first", format!("{shown}: '{joined}' runs {} first with no password before the push: anyone who knows a user name can send pushes; put the first factor before it", list[pos])));
        } else if before && !s.push_alone && !third_factor {
            let mut p = Problem::new(Level::Warning, "sshd-password-third-factor", format!("'{joined}' already has a first factor before {}, and the sshd PAM stack also asks a password: the password is a third factor. If that is meant, run the check with --third-factor; if not, remove the password module (@include common-auth) from the sshd PAM service", list[pos]));
            p.at_push = true;
            out.push(p);
        } else if !before && s.password_after_push {
            let mut p = Problem::new(Level::Warning, "sshd-push-before-password", format!("'{joined}': the sshd PAM stack sends the push before the password is checked: anyone who knows a user name can send pushes; put the password module above pam_passbyme"));
            p.at_push = true;
            out.push(p);
        }
    }
    (out, shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::stack::Push;

    /// An effective configuration as `sshd -T` prints it (keys in lower case).
    fn conf(pairs: &[(&str, &str)]) -> Conf {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The usual good configuration: PAM, keyboard-interactive, publickey first.
    fn good() -> Conf {
        conf(&[
            ("usepam", "yes"),
            ("kbdinteractiveauthentication", "yes"),
            ("pubkeyauthentication", "yes"),
            ("passwordauthentication", "no"),
            ("authenticationmethods", "publickey,keyboard-interactive"),
        ])
    }

    fn stack(push_alone: bool, password_after_push: bool) -> Stack {
        Stack {
            push: Push {
                args: Vec::new(),
                place: None,
            },
            push_alone,
            password_after_push,
        }
    }

    const NEW: Program = Program {
        version: Some((9, 2)),
    };

    /// The (level, id) of every problem.
    fn ids(c: &Conf, s: Option<&Stack>, third: bool, p: Program) -> Vec<(Level, &'static str)> {
        judge(c, s, third, p)
            .0
            .iter()
            .map(|p| (p.level, p.id))
            .collect()
    }

    #[test]
    fn publickey_then_the_push_is_clean() {
        let (problems, shown) = judge(&good(), Some(&stack(true, false)), false, NEW);
        assert!(problems.is_empty());
        assert_eq!(
            shown,
            "AuthenticationMethods publickey,keyboard-interactive"
        );
    }

    #[test]
    fn pam_off_or_keyboard_interactive_off_is_critical() {
        let mut c = good();
        c.insert("usepam".into(), "no".into());
        assert_eq!(
            ids(&c, None, false, NEW),
            [(Level::Critical, "sshd-usepam-off")]
        );
        let mut c = good();
        c.insert("kbdinteractiveauthentication".into(), "no".into());
        assert_eq!(
            ids(&c, None, false, NEW),
            [(Level::Critical, "sshd-kbdinteractive-off")]
        );
    }

    #[test]
    fn before_8_7_challenge_response_must_be_on_too() {
        let old = Program {
            version: Some((8, 4)),
        };
        let mut c = good();
        assert_eq!(
            ids(&c, None, false, old),
            [(Level::Critical, "sshd-challengeresponse-off")]
        );
        let (p, _) = judge(&c, None, false, old);
        assert!(p[0]
            .body
            .starts_with("ChallengeResponseAuthentication unset: OpenSSH 8.4 (before"));
        c.insert("challengeresponseauthentication".into(), "yes".into());
        assert!(ids(&c, None, false, old).is_empty());
        // Version unknown: an sshd that still prints the key is taken for one before 8.7.
        let unknown = Program { version: None };
        c.insert("challengeresponseauthentication".into(), "no".into());
        assert_eq!(
            ids(&c, None, false, unknown),
            [(Level::Critical, "sshd-challengeresponse-off")]
        );
        assert!(ids(&good(), None, false, unknown).is_empty());
    }

    #[test]
    fn any_lets_each_enabled_method_in_alone() {
        let mut c = good();
        c.insert("authenticationmethods".into(), "any".into());
        let (lists, shown) = method_lists(&c);
        assert_eq!(
            lists,
            [
                vec!["publickey".to_owned()],
                vec!["keyboard-interactive".to_owned()]
            ]
        );
        assert_eq!(
            shown,
            "AuthenticationMethods any (each enabled method alone logs in)"
        );
        // publickey alone skips the push; keyboard-interactive alone with no password in
        // the stack is the push alone.
        assert_eq!(
            ids(&c, Some(&stack(true, false)), false, NEW),
            [
                (Level::Critical, "sshd-method-without-push"),
                (Level::Critical, "sshd-push-alone")
            ]
        );
        // With a password before the push in the stack, keyboard-interactive alone is fine.
        assert_eq!(
            ids(&c, Some(&stack(false, false)), false, NEW),
            [(Level::Critical, "sshd-method-without-push")]
        );
    }

    #[test]
    fn where_the_push_stands_in_a_list() {
        let mut c = good();
        // The push twice and nothing else.
        c.insert(
            "authenticationmethods".into(),
            "keyboard-interactive,keyboard-interactive".into(),
        );
        let (p, _) = judge(&c, Some(&stack(true, false)), false, NEW);
        assert_eq!(
            (p[0].level, p[0].id, p.len()),
            (Level::Critical, "sshd-push-alone", 1)
        );
        assert!(p[0].body.contains("runs only the sshd PAM stack, 2 times"));
        // The push first, then a key: anyone can send pushes.
        c.insert(
            "authenticationmethods".into(),
            "keyboard-interactive,publickey".into(),
        );
        assert_eq!(
            ids(&c, Some(&stack(true, false)), false, NEW),
            [(Level::Warning, "sshd-push-first")]
        );
        // The stack sends the push before it checks the password.
        assert_eq!(
            ids(&c, Some(&stack(false, true)), false, NEW),
            [(Level::Warning, "sshd-push-before-password")]
        );
        // A key, then a password in the stack: a third factor, unless meant.
        let third = judge(&good(), Some(&stack(false, false)), false, NEW).0;
        assert_eq!(
            (third[0].level, third[0].id, third[0].at_push),
            (Level::Warning, "sshd-password-third-factor", true)
        );
        assert!(ids(&good(), Some(&stack(false, false)), true, NEW).is_empty());
    }

    #[test]
    fn the_password_method_runs_the_stack_only_with_pam() {
        let mut c = good();
        c.insert("authenticationmethods".into(), "publickey,password".into());
        assert!(runs_pam("password", &c));
        assert!(runs_pam("keyboard-interactive:pam", &c));
        assert!(!runs_pam("publickey", &c));
        assert_eq!(
            ids(&c, Some(&stack(true, false)), false, NEW),
            [(Level::Warning, "sshd-password-method")]
        );
        c.insert("usepam".into(), "no".into());
        assert!(!runs_pam("password", &c));
        assert_eq!(
            ids(&c, Some(&stack(true, false)), false, NEW),
            [
                (Level::Critical, "sshd-usepam-off"),
                (Level::Critical, "sshd-method-without-push")
            ]
        );
        assert_eq!(base("keyboard-interactive:pam"), "keyboard-interactive");
    }
}
