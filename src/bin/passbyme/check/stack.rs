//! PAM stacks: what the `auth` stack of a service does around the push.

use std::path::{Path, PathBuf};

use pam_passbyme::config::Config;

use super::{Level, Report};

/// What a control does with one return code (pam.conf(5)).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Action {
    Ignore,
    Ok,
    Done,
    Bad,
    Die,
    Reset,
    Jump(usize),
}

#[derive(Clone, Debug)]
struct Control {
    text: String,
    /// (return code name or "default", action), as written.
    actions: Vec<(String, Action)>,
}

impl Control {
    fn parse(text: &str) -> Result<Control, String> {
        let brackets = match text {
            "required" => "success=ok new_authtok_reqd=ok ignore=ignore default=bad",
            "requisite" => "success=ok new_authtok_reqd=ok ignore=ignore default=die",
            "sufficient" => "success=done new_authtok_reqd=done default=ignore",
            "optional" => "success=ok new_authtok_reqd=ok default=ignore",
            "substack" => "success=ok new_authtok_reqd=ok ignore=ignore default=bad",
            t if t.starts_with('[') && t.ends_with(']') => &t[1..t.len() - 1],
            t => return Err(format!("unknown control '{t}'")),
        };
        let mut actions = Vec::new();
        for pair in brackets.split_whitespace() {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("'{pair}' in control '{text}' has no '='"))?;
            let a = match v {
                "ignore" => Action::Ignore,
                "ok" => Action::Ok,
                "done" => Action::Done,
                "bad" => Action::Bad,
                "die" => Action::Die,
                "reset" => Action::Reset,
                n => Action::Jump(
                    n.parse()
                        .map_err(|_| format!("action '{v}' in control '{text}'"))?,
                ),
            };
            actions.retain(|(x, _)| x != k);
            actions.push((k.to_owned(), a));
        }
        Ok(Control {
            text: text.to_owned(),
            actions,
        })
    }

    fn action(&self, code: &str) -> Action {
        let find = |c: &str| self.actions.iter().find(|(k, _)| k == c).map(|(_, a)| *a);
        find(code)
            .or_else(|| find("default"))
            // Linux-PAM's default for an unlisted code with no default= is "bad".
            .unwrap_or(Action::Bad)
    }
}

/// What a module is, for the simulation of the stack.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Push,
    Password,
    Otp,
    Deny,
    Permit,
    Other,
}

#[derive(Clone, Debug)]
pub struct Entry {
    file: PathBuf,
    line: usize,
    /// Written `-auth`: skipped when the module cannot be loaded.
    dash: bool,
    control: Control,
    module: String,
    args: Vec<String>,
    role: Role,
    /// For `substack`: the included lines.
    sub: Option<Vec<Entry>>,
    /// The index in the flattened stack (set by `number`).
    id: usize,
}

impl Entry {
    pub fn at(&self) -> Option<(&Path, usize)> {
        Some((self.file.as_path(), self.line))
    }
    fn len(&self) -> usize {
        self.sub
            .as_ref()
            .map_or(1, |s| s.iter().map(Entry::len).sum::<usize>())
    }
}

fn role(module: &str) -> Role {
    let base = module.rsplit('/').next().unwrap_or(module);
    let base = base.strip_suffix(".so").unwrap_or(base);
    let base = base.strip_prefix("lib").unwrap_or(base);
    match base {
        "pam_passbyme" => Role::Push,
        "pam_unix" | "pam_unix2" | "pam_sss" | "pam_ldap" | "pam_krb5" | "pam_winbind"
        | "pam_pwdb" | "pam_userdb" | "pam_tcb" | "pam_radius_auth" => Role::Password,
        "pam_google_authenticator" | "pam_oath" | "pam_u2f" | "pam_yubico" | "pam_duo" => Role::Otp,
        "pam_deny" => Role::Deny,
        "pam_permit" => Role::Permit,
        _ => Role::Other,
    }
}

/// Reads the `auth` lines of a service file, following `@include`, `include` and
/// `substack`. Errors are "file: reason" (unreadable file, bad line).
fn read_stack(dir: &Path, service: &str, depth: usize) -> Result<Vec<Entry>, String> {
    if depth > 16 {
        return Err(format!("{service}: includes nested too deep"));
    }
    let file = if service.starts_with('/') {
        PathBuf::from(service)
    } else {
        dir.join(service)
    };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut out = Vec::new();
    let mut joined = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if joined.is_empty() {
            start = i + 1;
        }
        if let Some(cont) = raw.strip_suffix('\\') {
            joined.push_str(cont);
            joined.push(' ');
            continue;
        }
        joined.push_str(raw);
        let line = std::mem::take(&mut joined);
        let line = line.split('#').next().unwrap_or_default().trim().to_owned();
        if line.is_empty() {
            continue;
        }
        let bad = |why: String| format!("{} line {start}: {why}", file.display());
        if let Some(inc) = line.strip_prefix("@include") {
            out.extend(read_stack(dir, inc.trim(), depth + 1)?);
            continue;
        }
        let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let dash = kind.starts_with('-');
        if !kind.trim_start_matches('-').eq_ignore_ascii_case("auth") {
            continue;
        }
        let rest = rest.trim_start();
        let (control, rest) = if rest.starts_with('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| bad("'[' with no ']'".into()))?;
            (&rest[..=end], rest[end + 1..].trim_start())
        } else {
            rest.split_once(char::is_whitespace).unwrap_or((rest, ""))
        };
        let mut words = rest.split_whitespace();
        let Some(module) = words.next() else {
            return Err(bad("no module".into()));
        };
        let args: Vec<String> = words.map(str::to_owned).collect();
        match control {
            "include" => {
                out.extend(read_stack(dir, module, depth + 1)?);
                continue;
            }
            "substack" => {
                out.push(Entry {
                    file: file.clone(),
                    line: start,
                    dash,
                    control: Control::parse("substack").map_err(bad)?,
                    module: module.to_owned(),
                    args,
                    role: Role::Other,
                    sub: Some(read_stack(dir, module, depth + 1)?),
                    id: 0,
                });
                continue;
            }
            _ => {}
        }
        out.push(Entry {
            file: file.clone(),
            line: start,
            dash,
            control: Control::parse(control).map_err(bad)?,
            module: module.to_owned(),
            args,
            role: role(module),
            sub: None,
            id: 0,
        });
    }
    Ok(out)
}

/// Numbers the modules in their flattened order.
fn number(entries: &mut [Entry], next: &mut usize) {
    for e in entries {
        match &mut e.sub {
            Some(s) => number(s, next),
            None => {
                e.id = *next;
                *next += 1;
            }
        }
    }
}

fn flat(entries: &[Entry]) -> Vec<&Entry> {
    let mut out = Vec::new();
    for e in entries {
        match &e.sub {
            Some(s) => out.extend(flat(s)),
            None => out.push(e),
        }
    }
    out
}

/// Runs the stack as Linux-PAM's dispatcher does (`_pam_dispatch_aux`), each module
/// returning what `result` says. Gives the stack's result code.
fn dispatch<'a>(entries: &'a [Entry], result: &dyn Fn(&'a Entry) -> &'static str) -> &'static str {
    #[derive(PartialEq)]
    enum Imp {
        Undef,
        Pos,
        Neg,
    }
    let mut imp = Imp::Undef;
    let mut status = "auth_err";
    let mut skip = 0usize;
    for e in entries {
        if skip > 0 {
            skip = skip.saturating_sub(e.len());
            continue;
        }
        let ret = match &e.sub {
            Some(s) => dispatch(s, result),
            None => result(e),
        };
        match e.control.action(ret) {
            Action::Reset => {
                imp = Imp::Undef;
                status = "auth_err";
            }
            a @ (Action::Ok | Action::Done) => {
                if (imp == Imp::Undef || (imp == Imp::Pos && status == "success"))
                    && ret != "ignore"
                {
                    imp = Imp::Pos;
                    status = ret;
                }
                if imp != Imp::Neg && a == Action::Done {
                    break;
                }
            }
            a @ (Action::Bad | Action::Die) => {
                if imp != Imp::Neg {
                    imp = Imp::Neg;
                    status = ret;
                }
                if a == Action::Die {
                    break;
                }
            }
            Action::Ignore => {}
            Action::Jump(n) => skip = n,
        }
    }
    if imp == Imp::Pos && status == "success" {
        "success"
    } else if status == "success" {
        "auth_err"
    } else {
        status
    }
}

/// The return codes a refused push gives (refused, timed out, limited: maxtries; unmapped:
/// user_unknown; a bad configuration: service_err; a conversation failure: conv_err).
const PUSH_FAILURES: [&str; 5] = [
    "maxtries",
    "user_unknown",
    "auth_err",
    "service_err",
    "conv_err",
];

/// Looks for module results with which the stack succeeds: the push's result is `push`,
/// the password modules' one of `password`, the OTP modules' one of `otp`, other modules
/// any of success, ignore, auth_err. Returns the first such assignment (as "module line
/// result" words), if any.
fn find_success(
    entries: &[Entry],
    push: &'static str,
    password: &[&'static str],
    otp: &[&'static str],
) -> Option<String> {
    const FREE: [&str; 3] = ["success", "ignore", "auth_err"];
    let all = flat(entries);
    let choices: Vec<&[&'static str]> = all
        .iter()
        .map(|e| match e.role {
            Role::Push => std::slice::from_ref(&PUSH_FAILURES[0]), // replaced below
            Role::Password => password,
            Role::Otp => otp,
            Role::Deny => &["auth_err"][..],
            Role::Permit => &["success"][..],
            Role::Other => &FREE[..],
        })
        .collect();
    let mut idx = vec![0usize; all.len()];
    for _ in 0..200_000 {
        let pick = |e: &Entry| -> &'static str {
            let i = e.id;
            if all[i].role == Role::Push {
                push
            } else {
                choices[i][idx[i] % choices[i].len()]
            }
        };
        if dispatch(entries, &pick) == "success" {
            let words: Vec<String> = all
                .iter()
                .filter(|e| matches!(e.role, Role::Password | Role::Otp | Role::Other))
                .filter(|e| pick(e) == "success")
                .map(|e| {
                    let file = e.file.file_name().unwrap_or_default().to_string_lossy();
                    format!("{} ({file} line {}) succeeds", e.module, e.line)
                })
                .collect();
            return Some(words.join(", "));
        }
        // Next assignment (odometer).
        let mut k = 0;
        loop {
            if k == idx.len() {
                return None;
            }
            let n = if all[k].role == Role::Push {
                1
            } else {
                choices[k].len()
            };
            idx[k] += 1;
            if idx[k] < n {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
    None
}

/// find_success tries every result of each module: 3^11 = 177147 runs at most, within
/// its 200000 (a larger stack is UNKNOWN, never judged on part of the runs).
const MAX_FREE_MODULES: usize = 11;

const PASSWORD_ANY: [&str; 3] = ["success", "ignore", "auth_err"];
const NOT_SUCCESS: [&str; 2] = ["ignore", "auth_err"];

/// What the auth stack of a service does around the push.
pub struct Stack {
    pub entries: Vec<Entry>,
    pub push: Entry,
    /// The push alone (no password module succeeding) passes the stack.
    pub push_alone: bool,
    /// A password module is required and comes only after the push.
    pub password_after_push: bool,
}

/// Reads and judges the `auth` stack of `service`: the findings common to every service.
pub fn check_stack(r: &mut Report, dir: &Path, service: &str) -> Option<Stack> {
    let mut entries = match read_stack(dir, service, 0) {
        Ok(e) => e,
        Err(e) => {
            r.unknown("pam-unreadable", format!("PAM service {service}: {e}"));
            return None;
        }
    };
    let file = dir.join(service);
    number(&mut entries, &mut 0);
    let all = flat(&entries);
    let free = all
        .iter()
        .filter(|e| matches!(e.role, Role::Password | Role::Otp | Role::Other))
        .count();
    if free > MAX_FREE_MODULES {
        r.unknown(
            "pam-stack-too-large",
            format!("PAM service {service}: {free} auth modules to try every result of (at most {MAX_FREE_MODULES}): not judged"),
        );
        return None;
    }
    let pushes: Vec<&Entry> = all
        .iter()
        .copied()
        .filter(|e| e.role == Role::Push)
        .collect();
    let Some(&push) = pushes.first() else {
        r.add(
            Level::Critical,
            "pam-module-missing",
            format!("pam_passbyme.so is not in the auth stack of {service}: no push is asked"),
            Some((&file, 1)),
        );
        return None;
    };
    let push = push.clone();
    let mut fine = true;
    if push.dash {
        fine = false;
        r.add(
            Level::Critical,
            "pam-module-dash",
            "pam_passbyme.so is written \"-auth\": PAM silently skips a module it cannot load, so a missing or broken module removes the push; write \"auth\"".into(),
            push.at(),
        );
    }
    for code in PUSH_FAILURES {
        if let Some(how) = find_success(&entries, code, &PASSWORD_ANY, &PASSWORD_ANY) {
            fine = false;
            r.add(
                Level::Critical,
                "pam-push-not-required",
                format!(
                    "control '{}': the stack still succeeds when pam_passbyme fails ({}){}; use [success=ok ignore=ignore default=die] (or success=done)",
                    push.control.text,
                    code.to_uppercase(),
                    if how.is_empty() { String::new() } else { format!(" when {how}") }
                ),
                push.at(),
            );
            break;
        }
    }
    if let Some(how) = find_success(&entries, "authinfo_unavail", &PASSWORD_ANY, &NOT_SUCCESS) {
        fine = false;
        r.add(
            Level::Critical,
            "pam-unreachable-falls-through",
            format!(
                "when the service is unreachable (AUTHINFO_UNAVAIL) the stack succeeds with no other second factor{}",
                if how.is_empty() { String::new() } else { format!(" ({how})") }
            ),
            push.at(),
        );
    }
    if find_success(&entries, "success", &PASSWORD_ANY, &PASSWORD_ANY).is_none() {
        fine = false;
        r.add(
            Level::Critical,
            "pam-never-succeeds",
            format!("the auth stack of {service} fails even when the push is approved: every login is refused"),
            push.at(),
        );
    }
    if fine {
        r.add(
            Level::Ok,
            "pam-push-required",
            format!(
                "{service}: pam_passbyme.so is required in the auth stack (control '{}')",
                push.control.text
            ),
            push.at(),
        );
    }
    let push_alone = find_success(&entries, "success", &NOT_SUCCESS, &PASSWORD_ANY).is_some();
    let push_pos = all.iter().position(|e| e.role == Role::Push).unwrap_or(0);
    let password_after_push =
        !push_alone && !all[..push_pos].iter().any(|e| e.role == Role::Password);
    Some(Stack {
        entries,
        push,
        push_alone,
        password_after_push,
    })
}

/// `prompt=` and `timeout=` and `config=` on the module's line.
pub fn line_arg<'a>(e: &'a Entry, key: &str) -> Option<&'a str> {
    e.args
        .iter()
        .find_map(|a| a.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// The configuration the module on this line reads (its `config=` or the command's).
pub fn module_config(r: &mut Report, path: &Path, e: &Entry) -> Option<Config> {
    let path = line_arg(e, "config").map_or(path, Path::new);
    match Config::load(path) {
        Ok(c) => Some(c),
        Err(err) => {
            r.add(
                Level::Critical,
                "config-invalid",
                format!("{err}: the module refuses every login"),
                e.at(),
            );
            None
        }
    }
}
