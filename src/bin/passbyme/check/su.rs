//! `check --su`: the PAM services util-linux su uses, `su` and `su-l` (`su -`, `su -l`),
//! and where su's push goes (`user=invoker`).

use super::stack::{line_arg, Push};
use super::sudo::{judge_services, Service};
use super::{Args, Level, Report};

pub fn check_su(r: &mut Report, a: &Args) {
    let services = vec![
        Service {
            name: "su".into(),
            used_for: "su".into(),
        },
        Service {
            name: "su-l".into(),
            used_for: "su -".into(),
        },
    ];
    let judged = judge_services(
        r,
        &a.pam_dir,
        services,
        "su-services",
        "util-linux su: su-l for `su -` and `su -l`, su otherwise",
        "su-service-without-push",
        "Debian's su-l says \"auth include su\" (then su covers both): restore that, or add the pam_passbyme line to it as in the sample /usr/share/doc/libpam-passbyme/examples/pam.d/su",
    );
    for j in &judged {
        let Some(s) = &j.stack else { continue };
        let name = &j.service.name;
        let (level, id, message) = invoker(name, &s.push);
        r.add(level, id, message, s.push.at());
    }
}

/// Where su's push goes: to the person who runs su (`user=invoker`), or (a warning) to the
/// user to become.
fn invoker(name: &str, push: &Push) -> (Level, &'static str, String) {
    if line_arg(push, "user") == Some("invoker") {
        (
            Level::Ok,
            "su-invoker",
            format!("{name}: user=invoker: the push goes to the phone of the person who runs su"),
        )
    } else {
        (
            Level::Warning,
            "su-not-invoker",
            format!("{name}: no user=invoker: the push goes to the phone of the user to become (root, usually), not of the person who runs su; an unmapped target is left to policy.unmapped. Add user=invoker (see the sample pam.d/su)"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(args: &[&str]) -> Push {
        Push {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            place: None,
        }
    }

    #[test]
    fn the_push_goes_to_the_invoker_only_with_user_invoker() {
        let (level, id, m) = invoker("su", &push(&["debug", "user=invoker"]));
        assert_eq!((level, id), (Level::Ok, "su-invoker"));
        assert_eq!(
            m,
            "su: user=invoker: the push goes to the phone of the person who runs su"
        );
        let (level, id, m) = invoker("su-l", &push(&["debug"]));
        assert_eq!((level, id), (Level::Warning, "su-not-invoker"));
        assert!(m.starts_with("su-l: no user=invoker: "));
        // The last user= wins, as the module reads its line.
        let (_, id, _) = invoker("su", &push(&["user=invoker", "user=target"]));
        assert_eq!(id, "su-not-invoker");
    }
}
