//! PAM stacks: what the `auth` stack of a service does around the push, as the host's own
//! libpam runs it ([`super::libpam`]): every path through the stack, each module returning
//! each code that can make a difference, and the module's own line as libpam hands it over.

use std::path::{Path, PathBuf};

use pam_passbyme::args::Args as ModuleArgs;
use pam_passbyme::config::{Config, Mode};

use super::libpam::{self, code_name, Copy, Run, AUTHINFO_UNAVAIL, AUTH_ERR, IGNORE, SUCCESS};
use super::{Level, Report};

/// What a module is, for the verdict (by its file name).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// pam_passbyme.
    Push,
    /// A first factor: a password or a directory's password.
    Password,
    /// Another second factor (the TOTP fallback).
    Otp,
    /// pam_deny: always fails.
    Deny,
    /// pam_permit: always succeeds.
    Permit,
    /// pam_rootok: succeeds only for root, who needs no second factor to become anyone; taken
    /// as failing.
    RootOk,
    /// Anything else: may return anything.
    Other,
}

/// The role of a module by its base name (`pam_unix`).
pub fn role(base: &str) -> Role {
    match base {
        "pam_passbyme" => Role::Push,
        "pam_unix" | "pam_unix2" | "pam_sss" | "pam_ldap" | "pam_krb5" | "pam_winbind"
        | "pam_pwdb" | "pam_userdb" | "pam_tcb" | "pam_radius_auth" => Role::Password,
        "pam_google_authenticator" | "pam_oath" | "pam_u2f" | "pam_yubico" | "pam_duo" => Role::Otp,
        "pam_deny" => Role::Deny,
        "pam_permit" => Role::Permit,
        "pam_rootok" => Role::RootOk,
        _ => Role::Other,
    }
}

/// What libpam's dispatcher gives the line of a module it could not load (missing,
/// broken by an upgrade; `-auth` only keeps that out of the log).
const MODULE_UNKNOWN: i32 = 28;

/// The push's failures (src/pam.rs `pam_code`): maxtries (denied, timed out, limited),
/// user_unknown (unmapped under deny, unknown or bad name), auth_err, service_err (a bad
/// configuration), conv_err, incomplete (no user name yet). None may let the stack succeed.
/// Its other codes: success, ignore (exempt, or unmapped under ignore), authinfo_unavail.
const PUSH_FAILURES: [i32; 6] = [11, 10, AUTH_ERR, 3, 19, 31];

/// The push's codes worth trying given the codes the controls near it name: success,
/// ignore, authinfo_unavail, each failure a control names, and one failure no control
/// names (they all fall to `default`). PAM_INCOMPLETE is left out: libpam returns it at once,
/// never as a success.
fn push_codes(near: &std::collections::BTreeSet<i32>) -> Vec<i32> {
    let mut out = vec![SUCCESS, IGNORE, AUTHINFO_UNAVAIL, MODULE_UNKNOWN];
    let failures = PUSH_FAILURES.iter().copied().filter(|&c| c != 31);
    let (named, unnamed): (Vec<i32>, Vec<i32>) = failures.partition(|c| near.contains(c));
    out.extend(named);
    out.extend(unnamed.first());
    out
}

/// At most this many paths through one stack are run (a path costs a fraction of a
/// millisecond).
const MAX_RUNS: usize = 30_000;

/// The module's line as libpam hands it over: its arguments, and where in the files it is
/// written (for the findings).
#[derive(Clone, Debug)]
pub struct Push {
    /// The arguments as libpam split them.
    pub args: Vec<String>,
    /// The first place a word names the module (file, line).
    pub place: Option<(PathBuf, usize)>,
}

impl Push {
    pub fn at(&self) -> Option<(&Path, usize)> {
        self.place.as_ref().map(|(f, l)| (f.as_path(), *l))
    }
}

/// What the auth stack of a service does around the push.
pub struct Stack {
    pub push: Push,
    /// The push alone (no password module succeeding) passes the stack.
    pub push_alone: bool,
    /// Every path that succeeds runs the password only after the push.
    pub password_after_push: bool,
}

/// The value of `key=` on the module's line as the module reads it (the last one wins,
/// as in src/args.rs).
pub fn line_arg<'a>(p: &'a Push, key: &str) -> Option<&'a str> {
    p.args
        .iter()
        .rev()
        .find_map(|a| a.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// The configuration the module on this line reads (its `config=` or the command's).
pub fn module_config(r: &mut Report, path: &Path, p: &Push) -> Option<Config> {
    let path = line_arg(p, "config").map_or(path, Path::new);
    match Config::load(path) {
        Ok(c) => {
            // The line's mode= wins over the file's (src/args.rs).
            if c.policy.mode == Mode::Audit && line_arg(p, "mode").is_none() {
                let why = format!("policy.mode = \"audit\" in {}", path.display());
                audit_finding(r, "this service", &why, p.at());
            }
            Some(c)
        }
        Err(err) => {
            r.add(
                Level::Critical,
                "config-invalid",
                format!("{err}: the module refuses every login"),
                p.at(),
            );
            None
        }
    }
}

/// An audit-mode module protects nothing: it returns PAM_IGNORE on every path, so the
/// stack runs as without it.
fn audit_finding(r: &mut Report, service: &str, why: &str, at: Option<(&Path, usize)>) {
    r.add(
        Level::Critical,
        "pam-push-audit",
        format!("pam_passbyme runs in audit mode in the auth stack of {service} ({why}): it sends no push and returns PAM_IGNORE on every path, so the stack lets in whoever it let in without the module; set enforce mode when the audit is done"),
        at,
    );
}

/// The paths through a service's stack, with what each module is.
pub struct Paths {
    pub runs: Vec<Run>,
    pub roles: Vec<Role>,
    pub names: Vec<String>,
}

impl Paths {
    fn role(&self, step: &libpam::Step) -> Role {
        self.roles.get(step.module).copied().unwrap_or(Role::Other)
    }

    /// The push's step in a run, if it ran.
    fn push_step<'a>(&self, run: &'a Run) -> Option<&'a libpam::Step> {
        run.steps.iter().find(|s| self.role(s) == Role::Push)
    }

    /// "pam_unix returns success, pam_env returns ignore": the other modules of a run.
    fn describe(&self, run: &Run) -> String {
        let words: Vec<String> = run
            .steps
            .iter()
            .filter(|s| self.role(s) != Role::Push)
            .map(|s| {
                format!(
                    "{} returns {}",
                    self.names.get(s.module).map_or("?", String::as_str),
                    code_name(s.code).to_uppercase()
                )
            })
            .collect();
        if words.is_empty() {
            "with no other module run".to_owned()
        } else {
            format!("when {}", words.join(", "))
        }
    }
}

/// Runs every path through `service`'s auth stack in a private copy of `dir`.
pub fn paths(copy: &Copy, service: &str) -> Result<Paths, libpam::Error> {
    let names: Vec<String> = copy.modules.iter().map(libpam::Module::base).collect();
    let roles: Vec<Role> = names.iter().map(|n| role(n)).collect();
    let codes = |m: usize| -> Vec<i32> {
        let near = copy.codes_near(m);
        match roles.get(m).copied().unwrap_or(Role::Other) {
            Role::Push => push_codes(&near),
            Role::Deny | Role::RootOk => vec![AUTH_ERR],
            Role::Permit => vec![SUCCESS],
            Role::Password | Role::Otp | Role::Other => libpam::free_codes(&near),
        }
    };
    let runs = libpam::explore(copy, service, &codes, MAX_RUNS)?;
    Ok(Paths { runs, roles, names })
}

/// Reads and judges the `auth` stack of `service`: the findings common to every service.
pub fn check_stack(r: &mut Report, dir: &Path, service: &str) -> Option<Stack> {
    let file = dir.join(service);
    if let Err(e) = std::fs::metadata(&file) {
        r.unknown(
            "pam-unreadable",
            format!("PAM service {service}: {}: {e}", file.display()),
        );
        return None;
    }
    let run = || -> Result<(Copy, Paths), libpam::Error> {
        let copy = Copy::new(dir)?;
        let p = paths(&copy, service)?;
        Ok((copy, p))
    };
    let (copy, p) = match run() {
        Ok(x) => x,
        Err(e) => {
            r.unknown(
                "pam-not-run",
                format!("PAM service {service}: not judged: {e}"),
            );
            return None;
        }
    };
    let stack = judge(r, &copy, &p, service, &file)?;
    Some(stack)
}

/// The findings on the paths of one service.
pub fn judge(r: &mut Report, copy: &Copy, p: &Paths, service: &str, file: &Path) -> Option<Stack> {
    let push_ids: Vec<usize> = (0..p.roles.len())
        .filter(|&m| p.roles[m] == Role::Push)
        .collect();
    // Where the module is named: in the service's own file if it is, else the first file
    // that names it.
    let places: Vec<(PathBuf, usize)> = push_ids
        .iter()
        .filter_map(|m| copy.places.get(m))
        .flatten()
        .cloned()
        .collect();
    let place = places
        .iter()
        .find(|(f, _)| f == file)
        .or(places.first())
        .cloned();
    let at =
        |place: &Option<(PathBuf, usize)>| place.clone().or_else(|| Some((file.to_path_buf(), 1)));
    let missing: Vec<&libpam::Missing> = copy
        .missing
        .iter()
        .filter(|m| role(&libpam::base_name(&m.word)) == Role::Push)
        .collect();
    for m in &missing {
        r.add(
            Level::Critical,
            "pam-module-file-missing",
            format!(
                "{} is named here but {} does not exist: libpam gives that line PAM_MODULE_UNKNOWN",
                m.word,
                m.resolved.display()
            ),
            Some((&m.file, m.line)),
        );
    }
    let succeeds = |run: &&Run| run.result == SUCCESS;
    let with_push = |code: i32| move |run: &&Run| p.push_step(run).is_some_and(|s| s.code == code);
    let ever_ran = p.runs.iter().any(|run| p.push_step(run).is_some());
    if !ever_ran {
        let named_here = places.iter().any(|(f, _)| f == file);
        let (id, why) = if !p.runs.iter().any(|run| run.result == SUCCESS) {
            ("pam-never-succeeds", format!("the auth stack of {service} fails even when the push is approved: every login is refused (libpam never reaches pam_passbyme)"))
        } else if named_here {
            ("pam-push-skipped", format!("libpam never runs pam_passbyme in the auth stack of {service}, which succeeds without it: no push is asked"))
        } else {
            ("pam-module-missing", format!("pam_passbyme.so is not in the auth stack of {service} (libpam never runs it): no push is asked"))
        };
        r.add(Level::Critical, id, why, Some((file, 1)));
        return None;
    }
    let push_at = at(&place);
    let push_at = push_at.as_ref().map(|(f, l)| (f.as_path(), *l));
    let mut fine = missing.is_empty();
    // A path that succeeds without the push running at all, or after it failed.
    if let Some(run) = p
        .runs
        .iter()
        .filter(succeeds)
        .find(|run| p.push_step(run).is_none())
    {
        fine = false;
        r.add(
            Level::Critical,
            "pam-push-skipped",
            format!(
                "the auth stack of {service} succeeds without running pam_passbyme {}: a login without the push",
                p.describe(run)
            ),
            push_at,
        );
    }
    for code in PUSH_FAILURES {
        if let Some(run) = p.runs.iter().filter(succeeds).find(with_push(code)) {
            fine = false;
            r.add(
                Level::Critical,
                "pam-push-not-required",
                format!(
                    "the auth stack of {service} still succeeds when pam_passbyme fails ({}) {}; use [success=ok ignore=ignore default=die] (or success=done)",
                    code_name(code).to_uppercase(),
                    p.describe(run)
                ),
                push_at,
            );
            break;
        }
    }
    if let Some(run) = p
        .runs
        .iter()
        .filter(succeeds)
        .find(with_push(MODULE_UNKNOWN))
    {
        fine = false;
        r.add(
            Level::Critical,
            "pam-module-unloadable-passes",
            format!(
                "if pam_passbyme.so cannot be loaded (removed, or broken by an upgrade) the auth stack of {service} succeeds without the push {}: let no control pass module_unknown, libpam's code for a module it cannot load",
                p.describe(run)
            ),
            push_at,
        );
    }
    // Unreachable: only another second factor may let the login through.
    if let Some(run) = p
        .runs
        .iter()
        .filter(succeeds)
        .filter(with_push(AUTHINFO_UNAVAIL))
        .find(|run| {
            !run.steps
                .iter()
                .any(|s| p.role(s) == Role::Otp && s.code == SUCCESS)
        })
    {
        fine = false;
        r.add(
            Level::Critical,
            "pam-unreachable-falls-through",
            format!(
                "when the service is unreachable (AUTHINFO_UNAVAIL) the auth stack of {service} succeeds with no other second factor ({})",
                p.describe(run)
            ),
            push_at,
        );
    }
    let approved: Vec<&Run> = p
        .runs
        .iter()
        .filter(succeeds)
        .filter(with_push(SUCCESS))
        .collect();
    if approved.is_empty() {
        fine = false;
        r.add(
            Level::Critical,
            "pam-never-succeeds",
            format!("the auth stack of {service} fails even when the push is approved: every login is refused"),
            push_at,
        );
    }
    let push = p
        .runs
        .iter()
        .find_map(|run| p.push_step(run))
        .map(|s| Push {
            args: s.args.clone(),
            place: place.clone(),
        })
        .unwrap_or(Push {
            args: Vec::new(),
            place: place.clone(),
        });
    match ModuleArgs::parse(&push.args) {
        Err(e) => {
            fine = false;
            r.add(
                Level::Critical,
                "pam-module-arguments",
                format!(
                    "pam_passbyme's arguments in {service}: {e}: the module refuses every login"
                ),
                push_at,
            );
        }
        // user=invoker pushes to the real uid of the program. Only su (and su-l) runs as
        // the person asking; sshd, login, sudo, a shared common-auth run as root.
        Ok(a) if a.invoker && !matches!(service, "su" | "su-l") => {
            fine = false;
            r.add(
                Level::Critical,
                "pam-invoker-outside-su",
                format!("user=invoker in the auth stack of {service}: it sends the push to the user who runs the program, and {service} runs as root, so root's phone would be asked for every login (the module refuses it): use user=invoker only in su and su-l"),
                push_at,
            );
        }
        Ok(a) if a.mode == Some(Mode::Audit) => {
            fine = false;
            audit_finding(r, service, "mode=audit on its line", push_at);
        }
        Ok(_) => {}
    }
    if fine {
        r.add(
            Level::Ok,
            "pam-push-required",
            format!(
                "{service}: libpam runs pam_passbyme on every path that succeeds, and only its approval lets them succeed ({} paths tried)",
                p.runs.len()
            ),
            push_at,
        );
    }
    let password_ok = |run: &Run| {
        run.steps
            .iter()
            .any(|s| p.role(s) == Role::Password && s.code == SUCCESS)
    };
    let push_alone = approved.iter().any(|run| !password_ok(run));
    let password_after_push = !push_alone
        && !approved.is_empty()
        && approved.iter().all(|run| {
            let push = run.steps.iter().position(|s| p.role(s) == Role::Push);
            let pass = run
                .steps
                .iter()
                .position(|s| p.role(s) == Role::Password && s.code == SUCCESS);
            matches!((push, pass), (Some(a), Some(b)) if b > a)
        });
    Some(Stack {
        push,
        push_alone,
        password_after_push,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_module_name() {
        assert_eq!(role("pam_passbyme"), Role::Push);
        assert_eq!(role("pam_unix"), Role::Password);
        assert_eq!(role("pam_sss"), Role::Password);
        assert_eq!(role("pam_google_authenticator"), Role::Otp);
        assert_eq!(role("pam_deny"), Role::Deny);
        assert_eq!(role("pam_permit"), Role::Permit);
        assert_eq!(role("pam_rootok"), Role::RootOk);
        assert_eq!(role("pam_env"), Role::Other);
    }

    #[test]
    fn the_push_codes_tried_are_those_the_controls_name_and_one_more() {
        let none = std::collections::BTreeSet::new();
        assert_eq!(
            push_codes(&none),
            [SUCCESS, IGNORE, AUTHINFO_UNAVAIL, MODULE_UNKNOWN, 11]
        );
        let near = [AUTH_ERR, 19].into_iter().collect();
        assert_eq!(
            push_codes(&near),
            [
                SUCCESS,
                IGNORE,
                AUTHINFO_UNAVAIL,
                MODULE_UNKNOWN,
                AUTH_ERR,
                19,
                11
            ]
        );
        // PAM_INCOMPLETE (31) is never tried, named or not.
        let all: std::collections::BTreeSet<i32> = PUSH_FAILURES.into_iter().collect();
        assert!(!push_codes(&all).contains(&31));
    }

    #[test]
    fn the_last_argument_of_a_key_wins() {
        let p = Push {
            args: vec!["prompt=info".into(), "debug".into(), "prompt=none".into()],
            place: Some((PathBuf::from("/etc/pam.d/sshd"), 4)),
        };
        assert_eq!(line_arg(&p, "prompt"), Some("none"));
        assert_eq!(line_arg(&p, "debug"), None);
        assert_eq!(line_arg(&p, "timeout"), None);
        assert_eq!(p.at(), Some((Path::new("/etc/pam.d/sshd"), 4)));
    }
}
