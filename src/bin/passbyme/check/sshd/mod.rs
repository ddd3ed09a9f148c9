//! `check --sshd`: sshd's effective configuration (`sshd -T`), its PAM service, every
//! `Match` block of the configuration, and (`--census`) every account that can log in.
//!
//! sshd itself does all the evaluating: the effective configuration of a connection is
//! what `sshd -T -C SPEC` prints. What this module adds is the connections to ask about: it
//! reads the `Match` lines of the configuration (the main file and what it `Include`s,
//! [`match_lines`]) and builds, for each block, a connection spec ([`spec`]) that the real
//! sshd confirms the block applies to (a probe file holding only that `Match` line,
//! [`probe`]), then judges that connection's configuration like the global one ([`judge`],
//! [`match_blocks`]). Running sshd and knowing its version is [`program`]; `--census`
//! judges every account with the same parts ([`census`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::stack::{check_stack, line_arg, module_config};
use super::{Args, Report};

mod census;
mod judge;
mod match_blocks;
mod match_lines;
mod probe;
mod program;
mod spec;

use judge::judge;
use match_blocks::check_blocks;
use program::{sshd_version, Program, Sshd, TempKey};
use spec::Spec;

/// sshd's default configuration file (relative `Include` paths are relative to its directory).
const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

pub fn check_sshd(r: &mut Report, path: &Path, a: &Args) {
    if let Some(f) = &a.sshd_config {
        if let Err(e) = std::fs::metadata(f) {
            return r.unknown("sshd-config-unreadable", format!("{}: {e}", f.display()));
        }
    }
    let mut sshd = Sshd { a, key: None };
    let mut t = match sshd.run(None, a.sshd_match.as_deref()) {
        Err(e) => return r.unknown("sshd-missing", format!("cannot run sshd -T: {e}")),
        Ok(t) => t,
    };
    if matches!(&t, Err(e) if e.contains("no hostkeys available")) {
        match TempKey::new() {
            Ok(k) => {
                sshd.key = Some(k);
                t = sshd.run(None, a.sshd_match.as_deref()).unwrap_or_else(Err);
            }
            Err(e) => return r.unknown("sshd-failed", format!("a throwaway host key: {e}")),
        }
    }
    // `sshd -T` without -C refuses a file with `Match LocalPort`/`LocalAddress`/`RDomain`
    // ("… not in connection test specification"), although sshd starts with it: the global
    // configuration is then that of a connection that names nothing a block could want.
    let mut global_spec = a.sshd_match.clone();
    if matches!(&t, Err(e) if e.contains("not in connection test specification")) {
        let spec = Spec::new("22").text();
        t = sshd.run(None, Some(&spec)).unwrap_or_else(Err);
        global_spec = Some(spec);
    }
    let conf = match t {
        Ok(c) => c,
        Err(e) if e.contains("privilege separation directory") => {
            return r.unknown("sshd-failed", format!("sshd -T failed: {} (sshd -T needs it: it exists while sshd runs; or create it: mkdir -m 0755 /run/sshd)", e.replace('\n', "; ")));
        }
        Err(e) if e.contains("no hostkeys available") || e.is_empty() => {
            return r.unknown(
                "sshd-failed",
                format!("sshd -T failed: {}", e.replace('\n', "; ")),
            );
        }
        // sshd ran and refused the configuration: it would not start, so nobody logs in.
        Err(e) => {
            return r.crit(
                "sshd-config-rejected",
                format!(
                    "sshd refuses this configuration (it would not start): {}",
                    e.replace('\n', "; ")
                ),
            );
        }
    };
    let program = Program {
        version: sshd_version(&a.sshd_binary),
    };
    let mut what = a
        .sshd_config
        .as_ref()
        .map_or("sshd".to_owned(), |f| format!("sshd -f {}", f.display()));
    if a.sshd_match.is_none() {
        if let Some(spec) = &global_spec {
            what += &format!(" -C {spec}");
        }
    }
    let get = |k: &str| conf.get(k).map(String::as_str).unwrap_or_default();
    let stack = check_stack(r, &a.pam_dir, "sshd");
    let mut fine = stack.is_some();
    let (global, shown) = judge(&conf, stack.as_ref(), a.third_factor, program);
    for p in &global {
        fine = false;
        if p.at_push {
            let at = stack.as_ref().and_then(|s| s.push.at());
            r.add(p.level, p.id, p.body.clone(), at);
        } else {
            r.add(p.level, p.id, format!("{what}: {}", p.body), None);
        }
    }
    let config = stack.as_ref().and_then(|s| module_config(r, path, &s.push));
    if let (Some(s), Some(config)) = (&stack, &config) {
        let prompt = line_arg(&s.push, "prompt")
            .and_then(|p| pam_passbyme::config::parse_prompt(p).ok())
            .unwrap_or(config.login.prompt);
        let (level, id, body) =
            super::prompt::judge(prompt, program.version, a.ssh_clients_show_info);
        r.add(level, id, body, s.push.at());
        let timeout = line_arg(&s.push, "timeout")
            .and_then(|v| pam_passbyme::duration::parse_duration(v).ok())
            .unwrap_or(config.login.timeout);
        let grace: u64 = get("logingracetime").parse().unwrap_or(0);
        if grace != 0 && Duration::from_secs(grace) <= timeout {
            fine = false;
            r.crit("sshd-login-grace-time", format!("{what}: LoginGraceTime {grace}s is not above login.timeout ({}s): sshd ends the login before the phone's answer can arrive: raise LoginGraceTime (e.g. {}) or lower login.timeout", timeout.as_secs(), timeout.as_secs() * 2));
        }
    }
    // --sshd-match asks about one connection: the Match blocks are not enumerated then.
    let mut blocks_note = String::new();
    if a.sshd_match.is_none() {
        let main = a
            .sshd_config
            .clone()
            .unwrap_or_else(|| PathBuf::from(SSHD_CONFIG));
        match check_blocks(
            r,
            &mut sshd,
            &main,
            (&conf, &global),
            (stack.as_ref(), a.third_factor, program),
        ) {
            Ok((n, weak)) => {
                fine &= !weak;
                if n > 0 {
                    blocks_note = format!(", and in {n} Match block(s)");
                }
            }
            Err(e) => {
                fine = false;
                r.unknown(
                    "sshd-match-unread",
                    format!("the Match blocks of {}: {e}", main.display()),
                );
            }
        }
    }
    if fine {
        let challenge = if program.needs_challenge(&conf) {
            ", ChallengeResponseAuthentication yes"
        } else {
            ""
        };
        r.ok(
            "sshd-ok",
            format!("{what}: UsePAM yes, KbdInteractiveAuthentication yes{challenge}, {shown}, LoginGraceTime {}: every login needs the push after a first factor{blocks_note}", get("logingracetime")),
        );
    }
    if a.census {
        match (&stack, &config) {
            (Some(s), Some(c)) => {
                let around = census::Around {
                    stack: s,
                    config: c,
                    program,
                    step_aside: step_aside(&a.pam_dir),
                };
                census::census(r, &sshd, a, &conf, &around)
            }
            _ => r.warn("census-not-run", "census not run: the sshd PAM stack or the module's configuration could not be read (see above)"),
        }
    }
}

/// What the sshd auth stack does when pam_passbyme steps aside (PAM_IGNORE: an exempt
/// user, one outside only_groups, an unmapped one under `ignore`), asked of libpam like the
/// stack's verdict: `None` if it could not be run.
fn step_aside(pam_dir: &Path) -> Option<census::Aside> {
    use super::libpam::{Copy, IGNORE, SUCCESS};
    use super::stack::{paths, Role};
    let copy = Copy::new(pam_dir).ok()?;
    let p = paths(&copy, "sshd").ok()?;
    let role = |m: usize| p.roles.get(m).copied().unwrap_or(Role::Other);
    let passing: Vec<_> = p
        .runs
        .iter()
        .filter(|run| run.result == SUCCESS)
        .filter(|run| {
            run.steps
                .iter()
                .any(|s| role(s.module) == Role::Push && s.code == IGNORE)
        })
        .collect();
    if passing.is_empty() {
        return Some(census::Aside::Refused);
    }
    // A path on which no password module succeeded: the stack lets them in with nothing.
    let free = passing.iter().any(|run| {
        !run.steps
            .iter()
            .any(|s| role(s.module) == Role::Password && s.code == SUCCESS)
    });
    Some(if free {
        census::Aside::Passes
    } else {
        census::Aside::Password
    })
}
