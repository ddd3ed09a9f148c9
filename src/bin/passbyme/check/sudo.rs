//! `check --sudo`: the sudo PAM service and sudoers.

use std::path::Path;
use std::process::Command;

use pam_passbyme::config::{self, Prompt};

use super::stack::{check_stack, line_arg, module_config};
use super::{Args, Level, Report};

pub fn check_sudo(r: &mut Report, path: &Path, a: &Args) {
    let Some(s) = check_stack(r, &a.pam_dir, "sudo") else {
        return;
    };
    if s.push_alone {
        if a.push_only_sudo {
            r.add(Level::Ok, "sudo-push-only", "sudo asks no password before the push: push-only sudo, as meant (--push-only-sudo)".into(), s.push.at());
        } else {
            r.add(Level::Critical, "sudo-push-alone", "no password module must succeed before pam_passbyme in the sudo stack: the push alone grants root (anything running as the user can ask, a reflex tap approves). Put @include common-auth above pam_passbyme; if push-only sudo is meant, run the check with --push-only-sudo".into(), s.push.at());
        }
    } else if s.password_after_push {
        r.add(Level::Warning, "sudo-push-before-password", "the sudo stack sends the push before the password is checked: anyone at the user's terminal can send pushes; put @include common-auth above pam_passbyme".into(), s.push.at());
    } else {
        r.add(
            Level::Ok,
            "sudo-password-first",
            "sudo: the password first, then the push".into(),
            s.push.at(),
        );
    }
    let config = module_config(r, path, &s.push);
    let prompt = match line_arg(&s.push, "prompt") {
        Some(p) => config::parse_prompt(p).ok(),
        None => config.map(|c| c.login.prompt),
    };
    match prompt {
        Some(Prompt::Enter) => r.add(Level::Warning, "sudo-prompt-enter", "prompt=enter under sudo: sudo shows messages at once, so the Enter prompt only adds a keypress, and with `sudo -n` (noninteractive_auth) every prompt is refused: the push is sent, then cancelled. Use prompt=info".into(), s.push.at()),
        Some(Prompt::Info) => r.add(Level::Ok, "sudo-prompt", "sudo: prompt=info (the verification code is shown at once)".into(), s.push.at()),
        Some(Prompt::None) => r.add(Level::Ok, "sudo-prompt", "sudo: prompt=none (no verification code is shown)".into(), s.push.at()),
        None => {}
    }
    // `sudo -n`: without noninteractive_auth sudo skips PAM; with it, PAM runs.
    let out = Command::new("cvtsudoers")
        .args(["-f", "json"])
        .arg(&a.sudoers)
        .stdin(std::process::Stdio::null())
        .output();
    let doc: serde_json::Value = match out {
        Ok(o) if o.status.success() => match serde_json::from_slice(&o.stdout) {
            Ok(v) => v,
            Err(e) => return r.unknown("sudoers-unreadable", format!("cvtsudoers: {e}")),
        },
        Ok(o) => {
            return r.unknown(
                "sudoers-unreadable",
                format!(
                    "cvtsudoers -f json {}: {}",
                    a.sudoers.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            )
        }
        Err(e) => return r.unknown("sudoers-unreadable", format!("cvtsudoers: {e}")),
    };
    let mut set = Vec::new();
    for d in doc["Defaults"].as_array().into_iter().flatten() {
        for o in d["Options"].as_array().into_iter().flatten() {
            if o["noninteractive_auth"] == serde_json::Value::Bool(true) {
                let scope = d["Binding"]
                    .as_array()
                    .map(|b| serde_json::Value::Array(b.clone()).to_string())
                    .unwrap_or_else(|| "everyone".to_owned());
                set.push(scope);
            }
        }
    }
    if set.is_empty() {
        r.ok(
            "sudo-noninteractive",
            format!(
                "{}: no noninteractive_auth: `sudo -n` is refused before PAM, no push",
                a.sudoers.display()
            ),
        );
    } else if s.push_alone {
        r.warn("sudo-noninteractive-push", format!("{}: Defaults noninteractive_auth (for {}): `sudo -n` runs the PAM stack and, with no password before it, sends a push with no terminal (scripts, cron): make sure that is meant", a.sudoers.display(), set.join(", ")));
    } else {
        r.ok("sudo-noninteractive", format!("{}: Defaults noninteractive_auth, but the password comes first: `sudo -n` is refused at the password prompt, before any push", a.sudoers.display()));
    }
}
