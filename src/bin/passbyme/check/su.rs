//! `check --su`: the PAM services util-linux su uses, `su` and `su-l` (`su -`, `su -l`),
//! and where su's push goes (`user=invoker`).

use super::stack::line_arg;
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
        if line_arg(&s.push, "user") == Some("invoker") {
            r.add(
                Level::Ok,
                "su-invoker",
                format!(
                    "{name}: user=invoker: the push goes to the phone of the person who runs su"
                ),
                s.push.at(),
            );
        } else {
            r.add(
                Level::Warning,
                "su-not-invoker",
                format!("{name}: no user=invoker: the push goes to the phone of the user to become (root, usually), not of the person who runs su; an unmapped target is left to policy.unmapped. Add user=invoker (see the sample pam.d/su)"),
                s.push.at(),
            );
        }
    }
}
