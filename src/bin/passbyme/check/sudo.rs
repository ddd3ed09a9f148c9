//! `check --sudo`: every PAM service sudo uses, and sudoers.
//!
//! sudo authenticates through more than one PAM service: Debian's runs `sudo -i` through
//! `sudo-i` (`sudo -V`: "PAM service name to use for login shells"), whose stock file
//! includes only common-auth, so a push in /etc/pam.d/sudo alone leaves `sudo -i` on the
//! password. The services are sudo's own answer (`sudo -V`, plus any `pam_service` /
//! `pam_login_service` in sudoers), never a guess from file names; each is judged, and one
//! without the push while another has it is the bypass. sudoers itself can skip PAM
//! entirely (`NOPASSWD:`, `!authenticate`) and cache a success (`timestamp_timeout`): read
//! through sudo's own `cvtsudoers -f json`, each such rule is reported as written.
//! The judgment of one PAM stack is stack.rs's; this file only chooses the stacks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pam_passbyme::config::{self, Prompt};
use serde_json::Value;

use super::stack::{check_stack, line_arg, module_config, Stack};
use super::{Args, Level, Report};

/// A PAM service a program authenticates through, and what for.
pub struct Service {
    pub name: String,
    /// What runs through it, e.g. "sudo -i" (for the findings).
    pub used_for: String,
}

/// One service as judged.
pub struct Judged {
    pub service: Service,
    /// The file libpam reads for it: the service's own, or `other` when it has none.
    pub read: String,
    /// The stack, when it has the push and could be judged.
    pub stack: Option<Stack>,
    /// The stack has no pam_passbyme (or could not be loaded as a stack at all).
    pub lacks_push: bool,
}

/// Judges the auth stack of each service (through stack.rs), then says CRITICAL `id` for
/// every one without the push while another has it: that one is a way around the push.
/// A service other than the first with no file of its own is read as libpam reads it:
/// `other`. Starts with an OK finding `services_id` naming what is judged and `source`.
pub fn judge_services(
    r: &mut Report,
    dir: &Path,
    services: Vec<Service>,
    services_id: &'static str,
    source: &str,
    id: &'static str,
    hint: &str,
) -> Vec<Judged> {
    let reads: Vec<String> = services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i > 0 && !dir.join(&s.name).exists() {
                "other".to_owned()
            } else {
                s.name.clone()
            }
        })
        .collect();
    let names: Vec<String> = services
        .iter()
        .zip(&reads)
        .map(|(s, read)| format!("{} (`{}`{})", s.name, s.used_for, other_note(s, read)))
        .collect();
    r.ok(
        services_id,
        format!("PAM services judged: {} ({source})", names.join(", ")),
    );
    let mut judged = Vec::new();
    for (service, read) in services.into_iter().zip(reads) {
        let before = r.findings.len();
        let stack = check_stack(r, dir, &read);
        // check_stack says CRITICAL when the push is missing, UNKNOWN when it could not
        // judge: only the first is a missing push.
        let lacks_push = stack.is_none()
            && r.findings[before..]
                .iter()
                .map(|f| f.level)
                .max()
                .is_some_and(|l| l == Level::Critical);
        judged.push(Judged {
            service,
            read,
            stack,
            lacks_push,
        });
    }
    let with: Vec<&str> = judged
        .iter()
        .filter(|j| j.stack.is_some())
        .map(|j| j.service.name.as_str())
        .collect();
    if !with.is_empty() {
        for j in judged.iter().filter(|j| j.lacks_push) {
            let file = dir.join(&j.read);
            r.add(
                Level::Critical,
                id,
                format!(
                    "`{}` authenticates through the PAM service {}{}, which has no pam_passbyme while {} {} it: `{}` lets in on the password alone, with no push. {hint}",
                    j.service.used_for,
                    j.service.name,
                    other_note(&j.service, &j.read),
                    with.join(" and "),
                    if with.len() == 1 { "has" } else { "have" },
                    j.service.used_for,
                ),
                Some((&file, 1)),
            );
        }
    }
    judged
}

fn other_note(s: &Service, read: &str) -> String {
    if read == s.name {
        String::new()
    } else {
        format!("; it has no file, so libpam reads '{read}'")
    }
}

/// What `sudo -V` says (as root): the PAM services and the credential cache's defaults.
#[derive(Default)]
struct Version {
    service: Option<String>,
    login_service: Option<String>,
    /// "Authentication timestamp timeout: 15.0 minutes" (sudoers already applied).
    timeout: Option<String>,
    /// "Type of authentication timestamp record: tty".
    timestamp_type: Option<String>,
    /// Why nothing could be read, when sudo could not be run.
    error: Option<String>,
}

fn sudo_version(bin: &Path) -> Version {
    let out = Command::new(bin)
        .arg("-V")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output();
    let text = match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => {
            return Version {
                error: Some(format!("cannot run {} -V: {e}", bin.display())),
                ..Version::default()
            }
        }
    };
    let mut v = Version::default();
    for line in text.lines() {
        let value = |prefix: &str| line.strip_prefix(prefix).map(|s| s.trim().to_owned());
        if let Some(s) = value("PAM service name to use:") {
            v.service = Some(s);
        } else if let Some(s) = value("PAM service name to use for login shells:") {
            v.login_service = Some(s);
        } else if let Some(s) = value("Authentication timestamp timeout:") {
            v.timeout = Some(s);
        } else if let Some(s) = value("Type of authentication timestamp record:") {
            v.timestamp_type = Some(s);
        }
    }
    v
}

pub fn check_sudo(r: &mut Report, path: &Path, a: &Args) {
    let version = sudo_version(&a.sudo_binary);
    let sudoers = match read_sudoers(&a.sudoers) {
        Ok(s) => Some(s),
        Err(e) => {
            r.unknown("sudoers-unreadable", e);
            None
        }
    };
    let source = source_of(&version, &a.sudo_binary.display());
    let mut services = vec![
        Service {
            name: version.service.clone().unwrap_or_else(|| "sudo".into()),
            used_for: "sudo".into(),
        },
        Service {
            name: version
                .login_service
                .clone()
                .unwrap_or_else(|| "sudo-i".into()),
            used_for: "sudo -i".into(),
        },
    ];
    // sudoers may name other services (`Defaults:alice pam_service=...`).
    if let Some(s) = &sudoers {
        for (kind, d) in &s.defaults {
            for o in d["Options"].as_array().into_iter().flatten() {
                for (key, what) in [("pam_service", "sudo"), ("pam_login_service", "sudo -i")] {
                    if let Some(name) = o[key].as_str() {
                        services.push(Service {
                            name: name.to_owned(),
                            used_for: format!("{what}` under `{}", defaults_line(*kind, d, key)),
                        });
                    }
                }
            }
        }
    }
    // One service used for several things is judged once, named with all of them (Debian
    // 11's sudo 1.9.5 runs `sudo -i` through sudo itself: "sudo (`sudo`, `sudo -i`)").
    let mut merged: Vec<Service> = Vec::new();
    for s in services {
        match merged.iter_mut().find(|m| m.name == s.name) {
            Some(m) => {
                m.used_for.push_str("`, `");
                m.used_for.push_str(&s.used_for);
            }
            None => merged.push(s),
        }
    }
    let services = merged;
    let judged = judge_services(
        r,
        &a.pam_dir,
        services,
        "sudo-services",
        &source,
        "sudo-service-without-push",
        "Debian's stock sudo-i includes only common-auth: add the pam_passbyme line to it as in the sample /usr/share/doc/libpam-passbyme/examples/pam.d/sudo-i",
    );
    for j in &judged {
        if let Some(s) = &j.stack {
            judge_sudo_stack(r, path, a, &j.service.name, s);
        }
    }
    let Some(sudoers) = sudoers else {
        return;
    };
    if let Some(s) = judged.first().and_then(|j| j.stack.as_ref()) {
        noninteractive(r, &sudoers, s);
    }
    without_authentication(r, a, &sudoers);
    credential_cache(r, a, &sudoers, &version);
}

/// Where the service names came from (for the services finding).
fn source_of(v: &Version, bin: &impl std::fmt::Display) -> String {
    match (&v.service, &v.login_service, &v.error) {
        (Some(_), Some(_), _) => format!("as `{bin} -V` says"),
        (_, _, Some(e)) => format!("{e}: sudo's defaults on Debian, sudo and sudo-i"),
        (Some(_), None, _) | (None, Some(_), _) => format!(
            "`{bin} -V` names only one PAM service: sudo's default on Debian for the other"
        ),
        _ => format!(
            "`{bin} -V` names no PAM service (not run as root, or not sudo 1.9): sudo's defaults on Debian, sudo and sudo-i"
        ),
    }
}

/// What one sudo service's stack does around the push.
fn judge_sudo_stack(r: &mut Report, path: &Path, a: &Args, name: &str, s: &Stack) {
    if s.push_alone {
        if a.push_only_sudo {
            r.add(Level::Ok, "sudo-push-only", format!("{name} asks no password before the push: push-only sudo, as meant (--push-only-sudo)"), s.push.at());
        } else {
            r.add(Level::Critical, "sudo-push-alone", format!("no password module must succeed before pam_passbyme in the {name} stack: the push alone grants root (anything running as the user can ask, a reflex tap approves). Put @include common-auth above pam_passbyme; if push-only sudo is meant, run the check with --push-only-sudo"), s.push.at());
        }
    } else if s.password_after_push {
        r.add(Level::Warning, "sudo-push-before-password", format!("the {name} stack sends the push before the password is checked: anyone at the user's terminal can send pushes; put @include common-auth above pam_passbyme"), s.push.at());
    } else {
        r.add(
            Level::Ok,
            "sudo-password-first",
            format!("{name}: the password first, then the push"),
            s.push.at(),
        );
    }
    let config = module_config(r, path, &s.push);
    let prompt = match line_arg(&s.push, "prompt") {
        Some(p) => config::parse_prompt(p).ok(),
        None => config.map(|c| c.login.prompt),
    };
    match prompt {
        Some(Prompt::Enter) => r.add(Level::Warning, "sudo-prompt-enter", format!("prompt=enter under sudo ({name}): sudo shows messages at once, so the Enter prompt only adds a keypress, and with `sudo -n` (noninteractive_auth) every prompt is refused: the push is sent, then cancelled. Use prompt=info"), s.push.at()),
        Some(Prompt::Info) => r.add(Level::Ok, "sudo-prompt", format!("{name}: prompt=info (the verification code is shown at once)"), s.push.at()),
        Some(Prompt::None) => r.add(Level::Ok, "sudo-prompt", format!("{name}: prompt=none (no verification code is shown)"), s.push.at()),
        None => {}
    }
}

/// The kinds of sudoers Defaults (cvtsudoers -d): the JSON spells a user binding and a
/// runas binding alike, so each kind is read in a run of its own.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Global,
    User,
    Runas,
    Host,
    Command,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Global,
        Kind::User,
        Kind::Runas,
        Kind::Host,
        Kind::Command,
    ];
    fn word(self) -> &'static str {
        match self {
            Kind::Global => "global",
            Kind::User => "user",
            Kind::Runas => "runas",
            Kind::Host => "host",
            Kind::Command => "command",
        }
    }
    /// The character between `Defaults` and the binding.
    fn sign(self) -> &'static str {
        match self {
            Kind::Global => "",
            Kind::User => ":",
            Kind::Runas => ">",
            Kind::Host => "@",
            Kind::Command => "!",
        }
    }
}

/// sudoers as `cvtsudoers -e -f json` gives it (aliases expanded).
struct Sudoers {
    file: PathBuf,
    defaults: Vec<(Kind, Value)>,
    specs: Vec<Value>,
}

fn cvtsudoers(file: &Path, kind: Kind) -> Result<Value, String> {
    let out = Command::new("cvtsudoers")
        .args(["-e", "-f", "json", "-d", kind.word()])
        .arg(file)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cvtsudoers: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cvtsudoers -f json {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cvtsudoers: {e}"))
}

fn read_sudoers(file: &Path) -> Result<Sudoers, String> {
    let mut s = Sudoers {
        file: file.to_path_buf(),
        defaults: Vec::new(),
        specs: Vec::new(),
    };
    for kind in Kind::ALL {
        let doc = cvtsudoers(file, kind)?;
        for d in doc["Defaults"].as_array().into_iter().flatten() {
            s.defaults.push((kind, d.clone()));
        }
        if kind == Kind::Global {
            s.specs = doc["User_Specs"].as_array().cloned().unwrap_or_default();
        }
    }
    Ok(s)
}

/// One member of a sudoers list as sudoers writes it (`%group`, `#uid`, `!name`, …).
fn member(m: &Value) -> String {
    const KEYS: [(&str, &str); 11] = [
        ("command", ""),
        ("username", ""),
        ("usergroup", "%"),
        ("userid", "#"),
        ("usergid", "%#"),
        ("netgroup", "+"),
        ("nonunixgroup", "%:"),
        ("nonunixgid", "%:#"),
        ("hostname", ""),
        ("ipaddr", ""),
        ("network", ""),
    ];
    let neg = if m["negated"] == Value::Bool(true) {
        "!"
    } else {
        ""
    };
    let word = |v: &Value| match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    if let Some((k, p)) = KEYS.iter().find(|(k, _)| !m[*k].is_null()) {
        let w = word(&m[*k]);
        let p = if w == "ALL" { "" } else { p };
        return format!("{neg}{p}{w}");
    }
    match m
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| *k != "negated"))
    {
        Some((k, v)) => format!("{neg}{k}={}", word(v)),
        None => m.to_string(),
    }
}

fn list(v: &Value) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .map(member)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Defaults:alice !authenticate`, as written in sudoers.
fn defaults_line(kind: Kind, d: &Value, option: &str) -> String {
    let binding: Vec<String> = d["Binding"]
        .as_array()
        .into_iter()
        .flatten()
        .map(member)
        .collect();
    let value = d["Options"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|o| o.get(option))
        .map(|v| match v {
            Value::Bool(true) => option.to_owned(),
            Value::Bool(false) => format!("!{option}"),
            Value::String(s) => format!("{option}={s}"),
            v => format!("{option}={v}"),
        })
        .unwrap_or_else(|| option.to_owned());
    format!("Defaults{}{} {value}", kind.sign(), binding.join(","))
}

fn option<'a>(options: &'a Value, key: &str) -> Option<&'a Value> {
    options
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|o| o.get(key))
}

/// Whether a list holds ALL or `name` (not negated).
fn holds(v: &Value, names: &[&str]) -> bool {
    v.as_array().into_iter().flatten().any(|m| {
        m["negated"] != Value::Bool(true)
            && ["username", "command", "userid"]
                .iter()
                .any(|k| match &m[*k] {
                    Value::String(s) => s == "ALL" || names.contains(&s.as_str()),
                    Value::Number(n) => names.contains(&n.to_string().as_str()),
                    _ => false,
                })
    })
}

/// Programs that are a shell when run as root: a rule allowing one is ALL in effect.
const SHELLS: [&str; 12] = [
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "su", "login", "sudo",
];

/// Whether a command list grants a root shell in effect: ALL, a shell program, or
/// `passbyme` with open arguments (`--sudo-binary` and `--sshd-binary` run a program).
fn shell(commands: &Value) -> Option<String> {
    commands.as_array().into_iter().flatten().find_map(|m| {
        let c = m["command"].as_str()?;
        if m["negated"] == Value::Bool(true) {
            return None;
        }
        let prog = c.split_whitespace().next().unwrap_or_default();
        let base = prog.rsplit('/').next().unwrap_or(prog);
        if c == "ALL" {
            Some("ALL commands".to_owned())
        } else if SHELLS.contains(&base) {
            Some(format!("{prog} (a shell)"))
        } else if base == "passbyme"
            && !fixed_check(c)
            && c.split_whitespace().nth(1) != Some("\"\"")
        {
            Some(format!(
                "{c} with any arguments (`passbyme check --sudo-binary FILE` runs FILE as root)"
            ))
        } else {
            None
        }
    })
}

/// `passbyme check …` with its arguments written out and no wildcard: the monitoring rule
/// README suggests, which cannot be turned into anything else.
fn fixed_check(c: &str) -> bool {
    let mut words = c.split_whitespace();
    let base = words.next().map(|p| p.rsplit('/').next().unwrap_or(p));
    base == Some("passbyme")
        && words.clone().any(|w| w == "check")
        && !words.any(|w| w.contains(['*', '?', '[', '\\']))
}

/// Every command of the list is a fixed `passbyme check`.
fn only_fixed_checks(commands: &Value) -> bool {
    commands.as_array().into_iter().flatten().all(|m| {
        m["negated"] != Value::Bool(true) && m["command"].as_str().is_some_and(fixed_check)
    })
}

/// Who runs what without the PAM stack: `NOPASSWD:` rules and `!authenticate` Defaults.
fn without_authentication(r: &mut Report, a: &Args, s: &Sudoers) {
    let file = a.sudoers.display();
    let before = r.findings.len();
    for spec in &s.specs {
        let users = list(&spec["User_List"]);
        let hosts = list(&spec["Host_List"]);
        let on = if hosts == "ALL" {
            "every host".to_owned()
        } else {
            hosts.clone()
        };
        for c in spec["Cmnd_Specs"].as_array().into_iter().flatten() {
            if option(&c["Options"], "authenticate") != Some(&Value::Bool(false)) {
                continue;
            }
            let (ru, rg) = (&c["runasusers"], &c["runasgroups"]);
            let runas = match (ru.is_null(), rg.is_null()) {
                (true, true) => String::new(),
                (false, true) => format!("({})", list(ru)),
                (true, false) => format!("(:{})", list(rg)),
                (false, false) => format!("({}:{})", list(ru), list(rg)),
            };
            let as_whom = if ru.is_null() && rg.is_null() {
                "as root (sudo's runas_default)".to_owned()
            } else if ru.is_null() {
                format!("as themselves with the group(s) {}", list(rg))
            } else if holds(ru, &[]) {
                format!("as any user ({}), root included", list(ru))
            } else {
                format!("as {}", list(ru))
            };
            let root = (ru.is_null() && rg.is_null()) || holds(ru, &["root", "0"]);
            let commands = list(&c["Commands"]);
            let sep = if runas.is_empty() { "" } else { " " };
            let rule = format!("{users} {hosts}={runas}{sep}NOPASSWD: {commands}");
            match shell(&c["Commands"]) {
                None if only_fixed_checks(&c["Commands"]) => r.ok(
                    "sudoers-nopasswd-check",
                    format!("{file}: `{rule}`: {users} may run only `passbyme check` with fixed arguments {as_whom} with no authentication (a monitoring rule)"),
                ),
                Some(what) if root => r.crit(
                    "sudoers-nopasswd-root",
                    format!("{file}: `{rule}`: {users} may run {what} {as_whom} with no authentication: a root shell with no password and no push (sudo never runs the PAM stack). Remove NOPASSWD: or limit it to the commands that need it"),
                ),
                _ => r.warn(
                    "sudoers-nopasswd",
                    format!("{file}: `{rule}`: {users} may run {commands} {as_whom} on {on} with no authentication: no password, no push (sudo never runs the PAM stack)"),
                ),
            }
        }
    }
    for (kind, d) in &s.defaults {
        if option(&d["Options"], "authenticate") != Some(&Value::Bool(false)) {
            continue;
        }
        let line = defaults_line(*kind, d, "authenticate");
        let binding = list(&d["Binding"]);
        let tail = "with no password and no push (sudo never runs the PAM stack; only rules tagged PASSWD: still ask)";
        match kind {
            Kind::Global => r.crit("sudoers-no-authenticate", format!("{file}: `{line}`: every sudo rule runs {tail}")),
            Kind::User => r.crit("sudoers-no-authenticate", format!("{file}: `{line}`: {binding} may run whatever sudoers grants them {tail}")),
            Kind::Host => r.crit("sudoers-no-authenticate", format!("{file}: `{line}`: on {binding}, every sudo rule runs {tail}")),
            Kind::Runas if holds(&d["Binding"], &["root", "0"]) => r.crit("sudoers-no-authenticate", format!("{file}: `{line}`: whoever may run commands as {binding} does so {tail}: as root, that is a root shell with no push")),
            Kind::Runas => r.warn("sudoers-no-authenticate", format!("{file}: `{line}`: whoever may run commands as {binding} does so {tail}")),
            Kind::Command => match shell(&d["Binding"]) {
                Some(what) => r.crit("sudoers-no-authenticate", format!("{file}: `{line}`: whoever may run {what} runs it {tail}")),
                None => r.warn("sudoers-no-authenticate", format!("{file}: `{line}`: whoever may run {binding} runs it {tail}")),
            },
        }
    }
    if r.findings.len() == before {
        r.ok(
            "sudoers-authenticate",
            format!("{file}: no NOPASSWD: rule, no !authenticate: every sudo runs the PAM stack"),
        );
    }
}

/// The credential cache: after sudo authenticates, it asks nothing again for
/// `timestamp_timeout` minutes.
fn credential_cache(r: &mut Report, a: &Args, s: &Sudoers, v: &Version) {
    let file = a.sudoers.display();
    let value = |o: &Value| match o {
        Value::Bool(false) => "0".to_owned(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let mut global = None;
    let mut bound = Vec::new();
    let mut kind_type = None;
    for (kind, d) in &s.defaults {
        if let Some(o) = option(&d["Options"], "timestamp_timeout") {
            if *kind == Kind::Global {
                global = Some(value(o));
            } else {
                bound.push(defaults_line(*kind, d, "timestamp_timeout"));
            }
        }
        if let (Kind::Global, Some(o)) = (kind, option(&d["Options"], "timestamp_type")) {
            kind_type = Some(value(o));
        }
    }
    let (minutes, from) = match (global, &v.timeout) {
        (Some(m), _) => (m, file.to_string()),
        (None, Some(t)) => (
            t.trim_end_matches("minutes").trim().to_owned(),
            format!("`{} -V`", a.sudo_binary.display()),
        ),
        (None, None) => (
            "sudo's built-in default (15 on Debian, 5 upstream)".to_owned(),
            "sudo -V does not say".to_owned(),
        ),
    };
    let scope = match kind_type.as_deref().or(v.timestamp_type.as_deref()) {
        Some("global") => "in any of the user's sessions (timestamp_type=global)",
        Some("ppid") => "from the same parent process (timestamp_type=ppid)",
        Some("kernel") => "on the same terminal (timestamp_type=kernel)",
        _ => "on the same terminal (timestamp_type=tty)",
    };
    let also = if bound.is_empty() {
        String::new()
    } else {
        format!("; also {}", bound.join(", "))
    };
    let n: Option<f64> = minutes.parse().ok();
    match n {
        Some(n) if n < 0.0 => r.warn("sudo-credential-cache", format!("sudo's credential cache: timestamp_timeout={minutes} ({from}): a success never expires: after one approved push, every later sudo {scope} runs with no password and no push until `sudo -k` or a reboot. Set Defaults timestamp_timeout=0 (every sudo asks) or a few minutes{also}")),
        Some(0.0) => r.ok("sudo-credential-cache", format!("sudo's credential cache: timestamp_timeout={minutes} ({from}): every sudo asks (the password and the push){also}")),
        _ => r.ok("sudo-credential-cache", format!("sudo's credential cache: timestamp_timeout={minutes} minutes ({from}): for that long after sudo authenticates, a later sudo by the same user {scope} asks nothing, no password and no push; Defaults timestamp_timeout=0 makes every sudo ask{also}")),
    }
}

/// `sudo -n`: without noninteractive_auth sudo skips PAM; with it, PAM runs.
fn noninteractive(r: &mut Report, s: &Sudoers, stack: &Stack) {
    let mut set = Vec::new();
    for (kind, d) in &s.defaults {
        if option(&d["Options"], "noninteractive_auth") == Some(&Value::Bool(true)) {
            set.push(match kind {
                Kind::Global => "everyone".to_owned(),
                _ => defaults_line(*kind, d, "noninteractive_auth"),
            });
        }
    }
    if set.is_empty() {
        r.ok(
            "sudo-noninteractive",
            format!(
                "{}: no noninteractive_auth: `sudo -n` is refused before PAM, no push",
                s.file.display()
            ),
        );
    } else if stack.push_alone {
        r.warn("sudo-noninteractive-push", format!("{}: Defaults noninteractive_auth (for {}): `sudo -n` runs the PAM stack and, with no password before it, sends a push with no terminal (scripts, cron): make sure that is meant", s.file.display(), set.join(", ")));
    } else {
        r.ok("sudo-noninteractive", format!("{}: Defaults noninteractive_auth, but the password comes first: `sudo -n` is refused at the password prompt, before any push", s.file.display()));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::check::args;

    fn sudoers(specs: Vec<Value>, defaults: Vec<(Kind, Value)>) -> Sudoers {
        Sudoers {
            file: PathBuf::from("/etc/sudoers"),
            defaults,
            specs,
        }
    }

    /// A rule `USER ALL=(RUNAS) NOPASSWD: COMMANDS` as cvtsudoers writes it.
    fn nopasswd(user: &str, runas: Option<&str>, commands: &[&str]) -> Value {
        let mut c = json!({
            "Options": [{"authenticate": false}],
            "Commands": commands.iter().map(|c| json!({"command": c})).collect::<Vec<_>>(),
        });
        if let Some(ru) = runas {
            c["runasusers"] = json!([{"username": ru}]);
        }
        json!({
            "User_List": [{"username": user}],
            "Host_List": [{"hostname": "ALL"}],
            "Cmnd_Specs": [c],
        })
    }

    fn judged(s: &Sudoers) -> Vec<(Level, &'static str, String)> {
        let mut r = Report::new(true);
        without_authentication(&mut r, &args(&[]), s);
        r.findings
            .iter()
            .map(|f| (f.level, f.id, f.message.clone()))
            .collect()
    }

    #[test]
    fn members_as_sudoers_writes_them() {
        assert_eq!(member(&json!({"usergroup": "wheel"})), "%wheel");
        assert_eq!(member(&json!({"userid": 0})), "#0");
        assert_eq!(member(&json!({"username": "bob", "negated": true})), "!bob");
        assert_eq!(member(&json!({"usergroup": "ALL"})), "ALL");
        assert_eq!(member(&json!({"tag": "x"})), "tag=x");
        assert_eq!(
            list(&json!([{"username": "a"}, {"usergroup": "b"}])),
            "a, %b"
        );
    }

    #[test]
    fn shells_and_fixed_checks() {
        assert_eq!(
            shell(&json!([{"command": "ALL"}])).as_deref(),
            Some("ALL commands")
        );
        assert_eq!(
            shell(&json!([{"command": "/bin/bash -l"}])).as_deref(),
            Some("/bin/bash (a shell)")
        );
        assert_eq!(
            shell(&json!([{"command": "/bin/bash", "negated": true}])),
            None
        );
        assert!(shell(&json!([{"command": "/usr/bin/passbyme"}]))
            .unwrap()
            .contains("with any arguments"));
        assert_eq!(
            shell(&json!([{"command": "/usr/bin/passbyme check --sudo"}])),
            None
        );
        assert!(fixed_check("/usr/bin/passbyme check --connect"));
        assert!(!fixed_check("/usr/bin/passbyme check *"));
        assert!(!fixed_check("/usr/bin/passbyme send"));
        assert!(only_fixed_checks(
            &json!([{"command": "/usr/bin/passbyme check"}])
        ));
        assert!(!only_fixed_checks(
            &json!([{"command": "/usr/bin/passbyme check"}, {"command": "/bin/ls"}])
        ));
        assert!(holds(&json!([{"username": "ALL"}]), &[]));
        assert!(holds(&json!([{"userid": 0}]), &["root", "0"]));
        assert!(!holds(
            &json!([{"username": "root", "negated": true}]),
            &["root"]
        ));
    }

    #[test]
    fn rules_without_authentication_by_what_they_grant() {
        assert_eq!(
            judged(&sudoers(Vec::new(), Vec::new())),
            [(
                Level::Ok,
                "sudoers-authenticate",
                "/etc/sudoers: no NOPASSWD: rule, no !authenticate: every sudo runs the PAM stack"
                    .to_owned()
            )]
        );
        let s = sudoers(
            vec![
                nopasswd("alice", None, &["ALL"]),
                nopasswd("bob", Some("www-data"), &["/bin/systemctl reload nginx"]),
                nopasswd("nagios", None, &["/usr/bin/passbyme check --sshd"]),
                nopasswd("carol", Some("ALL"), &["/bin/sh"]),
            ],
            Vec::new(),
        );
        let j = judged(&s);
        let levels: Vec<(Level, &str)> = j.iter().map(|(l, id, _)| (*l, *id)).collect();
        assert_eq!(
            levels,
            [
                (Level::Critical, "sudoers-nopasswd-root"),
                (Level::Warning, "sudoers-nopasswd"),
                (Level::Ok, "sudoers-nopasswd-check"),
                (Level::Critical, "sudoers-nopasswd-root"),
            ]
        );
        assert!(j[0].2.starts_with("/etc/sudoers: `alice ALL=NOPASSWD: ALL`: alice may run ALL commands as root (sudo's runas_default)"));
        assert!(j[1].2.contains("`bob ALL=(www-data) NOPASSWD: /bin/systemctl reload nginx`: bob may run /bin/systemctl reload nginx as www-data on every host"));
        assert!(j[3].2.contains("as any user (ALL), root included"));
    }

    #[test]
    fn defaults_without_authentication_by_their_binding() {
        let d = |b: Value| json!({"Binding": b, "Options": [{"authenticate": false}]});
        let s = sudoers(
            Vec::new(),
            vec![
                (Kind::Global, d(json!([]))),
                (Kind::User, d(json!([{"username": "alice"}]))),
                (Kind::Runas, d(json!([{"username": "root"}]))),
                (Kind::Runas, d(json!([{"username": "www-data"}]))),
                (Kind::Command, d(json!([{"command": "/bin/bash"}]))),
                (Kind::Command, d(json!([{"command": "/bin/ls"}]))),
                (Kind::Host, d(json!([{"hostname": "db1"}]))),
            ],
        );
        let j = judged(&s);
        let levels: Vec<Level> = j.iter().map(|(l, _, _)| *l).collect();
        assert_eq!(
            levels,
            [
                Level::Critical,
                Level::Critical,
                Level::Critical,
                Level::Warning,
                Level::Critical,
                Level::Warning,
                Level::Critical
            ]
        );
        assert!(j.iter().all(|(_, id, _)| *id == "sudoers-no-authenticate"));
        assert!(j[0]
            .2
            .starts_with("/etc/sudoers: `Defaults !authenticate`: every sudo rule runs"));
        assert!(j[1]
            .2
            .starts_with("/etc/sudoers: `Defaults:alice !authenticate`: alice may run"));
        assert!(j[2]
            .2
            .starts_with("/etc/sudoers: `Defaults>root !authenticate`"));
        assert!(j[6]
            .2
            .starts_with("/etc/sudoers: `Defaults@db1 !authenticate`: on db1,"));
    }
}
