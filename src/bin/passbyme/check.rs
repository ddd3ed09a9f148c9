//! `passbyme check`: the configuration as the module reads it, and (`--sshd`, `--sudo`) the
//! host programs around the module: sshd's effective configuration (`sshd -T`), the PAM
//! stacks, sudoers. Every finding has a level; the exit code is the worst one, in the
//! monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use pam_passbyme::config::{self, Config, Prompt};

/// `passbyme check` and its options.
#[derive(clap::Args)]
#[command(after_long_help = EXIT_HELP)]
pub struct Args {
    /// Also reach the service over mutual TLS.
    #[arg(long)]
    connect: bool,
    /// Only show how this user is mapped: the canonical name, the IDs and where they
    /// come from (file and line, template or GECOS), or why the user is unmapped.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["connect", "sshd", "sudo", "sshd_config"])]
    user: Option<String>,
    /// Check sshd: its effective configuration (`sshd -T`) and the `sshd` PAM service.
    #[arg(long)]
    sshd: bool,
    /// Check this sshd configuration file instead of the installed one (`sshd -T -f FILE`),
    /// before installing it. Implies --sshd.
    #[arg(long, value_name = "FILE")]
    sshd_config: Option<PathBuf>,
    /// Connection to evaluate sshd's Match blocks for (`sshd -T -C SPEC`), e.g.
    /// `user=alice,host=example.net,addr=192.0.2.7`; without it no Match block applies.
    #[arg(long, value_name = "SPEC")]
    sshd_match: Option<String>,
    /// The sshd program.
    #[arg(long, value_name = "FILE", default_value = "/usr/sbin/sshd")]
    sshd_binary: PathBuf,
    /// Check sudo: the `sudo` PAM service and sudoers.
    #[arg(long)]
    sudo: bool,
    /// The sudoers file (with its includes), read through `cvtsudoers`.
    #[arg(long, value_name = "FILE", default_value = "/etc/sudoers")]
    sudoers: PathBuf,
    /// Where the PAM service files are (`sshd`, `sudo` and what they include).
    #[arg(long, value_name = "DIR", default_value = "/etc/pam.d")]
    pam_dir: PathBuf,
    /// The password asked in sshd's PAM stack on top of a first factor from
    /// AuthenticationMethods (publickey) is meant: three factors, no warning.
    #[arg(long)]
    third_factor: bool,
    /// sudo with the push alone (no password) is meant: no CRITICAL for it.
    #[arg(long)]
    push_only_sudo: bool,
    /// Print the findings as one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

const EXIT_HELP: &str = "\
The configuration is always checked (files, TOML, credentials, certificate expiry; --connect
also reaches the service); --sshd and --sudo add the checks of sshd and sudo around the module.

The first line sums up in the style of monitoring plugins (\"PASSBYME CRITICAL - ...\": what
Nagios and Icinga show as the status), then each finding follows on a line of its own (ok,
WARN, FAIL for critical, UNKN for unknown); --json prints them as one JSON document.

Exit status (monitoring-plugin convention, for every form of check):
  0  OK
  1  WARNING   e.g. the client certificate expires within 30 days; the push is sent before
               the password; a password as an unintended third factor; prompt=enter for sudo
  2  CRITICAL  anything that lets people in without the push or locks everyone out: an
               invalid configuration, an expired certificate, the service unreachable
               (--connect), an sshd configuration sshd refuses (it would not start), UsePAM no, keyboard-interactive off, AuthenticationMethods that
               lets a login through without the push or with the push alone, pam_passbyme
               missing from the auth stack, written \"-auth\" or with a control that lets
               the stack succeed after a refusal, LoginGraceTime not above login.timeout,
               sudo with the push alone
  3  UNKNOWN   the check could not run: sshd missing or unable to run (no /run/sshd), a
               file unreadable, a usage error of check";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
            Level::Unknown => "UNKNOWN",
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Level::Ok => "ok  ",
            Level::Warning => "WARN",
            Level::Critical => "FAIL",
            Level::Unknown => "UNKN",
        }
    }
}

struct Finding {
    level: Level,
    id: &'static str,
    message: String,
    file: Option<PathBuf>,
    line: Option<usize>,
}

/// The findings so far, and in text mode the lines to print after the summary: a
/// monitoring system (Nagios, Icinga) shows a plugin's first line as its status.
pub struct Report {
    json: bool,
    findings: Vec<Finding>,
    text: Vec<String>,
}

impl Report {
    fn new(json: bool) -> Report {
        Report {
            json,
            findings: Vec::new(),
            text: Vec::new(),
        }
    }

    fn add(&mut self, level: Level, id: &'static str, message: String, at: Option<(&Path, usize)>) {
        if !self.json {
            self.text.push(match at {
                Some((f, l)) => format!("{}  {} line {l}: {message}", level.tag(), f.display()),
                None => format!("{}  {message}", level.tag()),
            });
        }
        self.findings.push(Finding {
            level,
            id,
            message,
            file: at.map(|(f, _)| f.to_path_buf()),
            line: at.map(|(_, l)| l),
        });
    }
    pub fn ok(&mut self, id: &'static str, m: impl Into<String>) {
        self.add(Level::Ok, id, m.into(), None);
    }
    pub fn warn(&mut self, id: &'static str, m: impl Into<String>) {
        self.add(Level::Warning, id, m.into(), None);
    }
    pub fn crit(&mut self, id: &'static str, m: impl Into<String>) {
        self.add(Level::Critical, id, m.into(), None);
    }
    pub fn unknown(&mut self, id: &'static str, m: impl Into<String>) {
        self.add(Level::Unknown, id, m.into(), None);
    }
    /// A line that is not a finding (the effective settings), text mode only.
    pub fn note(&mut self, text: &str) {
        if !self.json {
            self.text.push(text.to_owned());
        }
    }

    fn worst(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// The summary line, in the monitoring-plugin style.
    fn summary(&self) -> String {
        let worst = self.worst();
        let count = |l: Level| self.findings.iter().filter(|f| f.level == l).count();
        if worst == Level::Ok {
            return format!("PASSBYME OK - {} check(s) passed", self.findings.len());
        }
        let mut parts = Vec::new();
        for l in [Level::Unknown, Level::Critical, Level::Warning] {
            let n = count(l);
            if n > 0 {
                parts.push(format!("{n} {}", l.word().to_lowercase()));
            }
        }
        let first = self
            .findings
            .iter()
            .find(|f| f.level == worst)
            .map(|f| f.message.as_str())
            .unwrap_or_default();
        format!(
            "PASSBYME {} - {}: {}",
            worst.word(),
            parts.join(", "),
            first.lines().next().unwrap_or_default()
        )
    }

    /// Prints the summary then every line (or the JSON document) and gives the exit code.
    pub fn finish(self) -> ExitCode {
        let worst = self.worst();
        if self.json {
            let findings: Vec<_> = self
                .findings
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "level": f.level.word(),
                        "id": f.id,
                        "message": f.message,
                        "file": f.file.as_ref().map(|p| p.display().to_string()),
                        "line": f.line,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "status": worst.word(),
                "exit_code": worst as u8,
                "summary": self.summary(),
                "findings": findings,
            });
            println!("{doc:#}");
        } else {
            println!("{}", self.summary());
            for line in &self.text {
                println!("{line}");
            }
        }
        ExitCode::from(worst as u8)
    }
}

/// Runs `passbyme check` with its options.
pub fn run(path: &Path, a: Args) -> ExitCode {
    let mut r = Report::new(a.json);
    if let Some(user) = &a.user {
        check_user(&mut r, path, user);
        return r.finish();
    }
    // The configuration is always checked: --sshd and --sudo add to it, so that one
    // command (a monitoring job) covers everything a login depends on.
    let sshd = a.sshd || a.sshd_config.is_some();
    check_config(&mut r, path, a.connect);
    if sshd {
        check_sshd(&mut r, path, &a);
    }
    if a.sudo {
        check_sudo(&mut r, path, &a);
    }
    r.finish()
}

/// `check` usage errors exit 3 (UNKNOWN), not clap's 2 (which would read as CRITICAL).
pub fn is_check_invocation() -> bool {
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let a = a.to_string_lossy().into_owned();
        if a == "--config" || a == "-c" {
            args.next();
        } else if a.starts_with("--config=") || (a.starts_with("-c") && a.len() > 2) {
        } else {
            return a == "check";
        }
    }
    false
}

/// Loads the configuration as the module does, reporting every problem of
/// `mapping.users_dir` (the module refuses every login while there is one).
fn load_reporting(r: &mut Report, path: &Path) -> Option<Config> {
    let (config, problems) = match Config::load_all(path) {
        Ok(x) => x,
        Err(e) => {
            r.crit("config-invalid", e.to_string());
            return None;
        }
    };
    if !problems.is_empty() {
        for e in &problems {
            r.crit("config-invalid", e.to_string());
        }
        r.crit(
            "config-invalid",
            format!(
                "{}: {} problem(s) in mapping.users_dir: the module refuses every login",
                path.display(),
                problems.len()
            ),
        );
        return None;
    }
    r.ok("config-valid", format!("{}: valid", path.display()));
    if let Some(dir) = &config.mapping.users_dir {
        r.ok(
            "config-users-dir",
            format!(
                "{}: {} user(s) from {} file(s)",
                dir.display(),
                config.dir_users.len(),
                config.files.len() - 1
            ),
        );
    }
    Some(config)
}

/// `check --user NAME`: the mapping of one user, as a login would see it.
fn check_user(r: &mut Report, path: &Path, user: &str) {
    use pam_passbyme::login::{map_user, Host, Mapping};
    let Some(config) = load_reporting(r, path) else {
        return;
    };
    let host = pam_passbyme::os::System;
    let name = match host.canonical_user(user) {
        Ok(Some(n)) => n,
        Ok(None) => {
            return r.crit(
                "user-unknown",
                format!(
                    "{user}: unknown to the user database (NSS): unmapped, policy.unmapped applies"
                ),
            )
        }
        Err(e) => return r.unknown("user-lookup", format!("{user}: {e}")),
    };
    if name == user {
        r.note(&format!("user  {name}"));
    } else {
        r.note(&format!(
            "user  {name} (the user database's name for '{user}')"
        ));
    }
    let p = &config.policy;
    if !p.only_groups.is_empty() || !p.exempt_groups.is_empty() {
        let groups = match host.groups(&name) {
            Ok(g) => g,
            Err(e) => return r.unknown("user-groups", format!("{name}: groups: {e}")),
        };
        if let Some(g) = groups.iter().find(|g| p.exempt_groups.contains(g)) {
            r.ok("user-skipped", format!("{name}: member of exempt group {g}: the module steps aside (PAM_IGNORE), whatever the mapping"));
        } else if !p.only_groups.is_empty() && !groups.iter().any(|g| p.only_groups.contains(g)) {
            r.ok("user-skipped", format!("{name}: not in only_groups: the module steps aside (PAM_IGNORE), whatever the mapping"));
        }
    }
    match map_user(&config, &host, &name) {
        Ok(Mapping::Ids(ids, source)) => r.ok(
            "user-mapped",
            format!("{name} -> {} (from {source})", ids.join(", ")),
        ),
        Ok(Mapping::Unmapped(why)) => r.crit(
            "user-unmapped",
            format!(
                "{name}: unmapped: {why}; policy.unmapped = {}",
                format!("{:?}", config.policy.unmapped).to_lowercase()
            ),
        ),
        Ok(Mapping::Invalid(e)) => r.crit(
            "user-invalid",
            format!("{name}: {e}: every login is refused"),
        ),
        Err(e) => r.unknown("user-lookup", format!("{name}: {e}")),
    }
}

/// The configuration, credentials, certificate expiry, and with `connect` the service.
fn check_config(r: &mut Report, path: &Path, connect: bool) {
    let Some(config) = load_reporting(r, path) else {
        return;
    };
    for (k, v) in config.describe() {
        r.note(&format!("        {k} = {v}"));
    }
    let (client, creds) = match pam_passbyme::connect::connect_with_credentials(&config) {
        Ok(x) => x,
        Err(e) => return r.crit("credentials", e.to_string()),
    };
    r.ok(
        "credentials",
        format!(
            "credentials: key decrypts and matches the certificate ({})",
            creds.subject()
        ),
    );
    match creds.not_after() {
        Ok(t) => {
            let left = t - time::OffsetDateTime::now_utc();
            if left.is_negative() {
                r.crit(
                    "certificate-expired",
                    format!(
                        "client certificate expired on {t}: the service will refuse every login"
                    ),
                );
            } else if left < time::Duration::days(30) {
                r.warn(
                    "certificate-expiring",
                    format!(
                        "client certificate expires on {t} (in {} days): renew it",
                        left.whole_days()
                    ),
                );
            } else {
                r.ok(
                    "certificate-valid",
                    format!("client certificate valid until {t}"),
                );
            }
        }
        Err(e) => r.crit("certificate", e.to_string()),
    }
    if let Some(limits) = &config.limits {
        if limits.state_dir.exists() {
            match pam_passbyme::limiter::Store::open(limits) {
                Ok(_) => r.ok(
                    "limits",
                    format!("limits: state in {}", limits.state_dir.display()),
                ),
                Err(e) => r.crit("limits", e.to_string()),
            }
        } else {
            r.ok(
                "limits",
                format!(
                    "limits: {} will be created (0700) at the first login",
                    limits.state_dir.display()
                ),
            );
        }
    }
    let m = &config.mapping;
    if config.users.is_empty()
        && config.dir_users.is_empty()
        && m.template.is_none()
        && m.gecos.is_none()
    {
        r.warn(
            "users-empty",
            "[users] is empty: every login will be treated as unmapped",
        );
    } else {
        for (user, ids) in &config.users {
            r.ok("user-mapped", format!("user {user} -> {}", ids.join(", ")));
        }
    }
    let sample = pam_passbyme::template::render(&config.login.subject, |n| Some(format!("<{n}>")));
    match sample {
        Ok(s) => r.ok("subject", format!("subject: {s}")),
        Err(e) => r.crit("subject", format!("login.subject: {e}")),
    }
    if connect {
        // An id that cannot exist: a 420 answer proves TLS both ways and the API.
        match client.track("passbymeCheck0") {
            Err(pam_passbyme::client::Error::Api { code, .. }) => r.ok(
                "connect",
                format!(
                    "{}: reached over mutual TLS (PassBy[ME] code {:?} for a test id, as expected)",
                    client.base_url(),
                    code
                ),
            ),
            Ok(_) => r.ok(
                "connect",
                format!("{}: reached over mutual TLS", client.base_url()),
            ),
            Err(e) => r.crit("connect", format!("{}: {e}", client.base_url())),
        }
    }
}

// ---------------------------------------------------------------------------------------
// PAM stacks

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
struct Entry {
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
    fn at(&self) -> Option<(&Path, usize)> {
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
struct Stack {
    entries: Vec<Entry>,
    push: Entry,
    /// The push alone (no password module succeeding) passes the stack.
    push_alone: bool,
    /// A password module is required and comes only after the push.
    password_after_push: bool,
}

/// Reads and judges the `auth` stack of `service`: the findings common to every service.
fn check_stack(r: &mut Report, dir: &Path, service: &str) -> Option<Stack> {
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
fn line_arg<'a>(e: &'a Entry, key: &str) -> Option<&'a str> {
    e.args
        .iter()
        .find_map(|a| a.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// The configuration the module on this line reads (its `config=` or the command's).
fn module_config(r: &mut Report, path: &Path, e: &Entry) -> Option<Config> {
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

// ---------------------------------------------------------------------------------------
// sshd

/// A throwaway host key for `sshd -T` when the checked file names none that loads (a
/// candidate file on another host's paths): sshd refuses to start without one.
struct TempKey(PathBuf);

impl TempKey {
    fn new() -> Result<TempKey, String> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("passbyme-check.{}.{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let path = dir.join("host_key");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::io::Write::write_all(&mut f, key.serialize_pem().as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TempKey(dir))
    }
    fn key(&self) -> PathBuf {
        self.0.join("host_key")
    }
}

impl Drop for TempKey {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// sshd's effective configuration: `sshd -T` (keys in lower case, first value of each).
fn sshd_t(a: &Args, key: Option<&Path>) -> Result<Result<HashMap<String, String>, String>, String> {
    let mut cmd = Command::new(&a.sshd_binary);
    cmd.arg("-T");
    if let Some(f) = &a.sshd_config {
        cmd.arg("-f").arg(f);
    }
    if let Some(m) = &a.sshd_match {
        cmd.arg("-C").arg(m);
    }
    if let Some(k) = key {
        cmd.arg("-h").arg(k);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", a.sshd_binary.display()))?;
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() {
        return Ok(Err(err));
    }
    let mut map = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = line.split_once(' ') {
            map.entry(k.to_lowercase()).or_insert_with(|| v.to_owned());
        }
    }
    Ok(Ok(map))
}

fn check_sshd(r: &mut Report, path: &Path, a: &Args) {
    if let Some(f) = &a.sshd_config {
        if let Err(e) = std::fs::metadata(f) {
            return r.unknown("sshd-config-unreadable", format!("{}: {e}", f.display()));
        }
    }
    let mut t = match sshd_t(a, None) {
        Err(e) => return r.unknown("sshd-missing", format!("cannot run sshd -T: {e}")),
        Ok(t) => t,
    };
    let _key;
    if matches!(&t, Err(e) if e.contains("no hostkeys available")) {
        match TempKey::new() {
            Ok(k) => {
                t = sshd_t(a, Some(&k.key())).unwrap_or_else(Err);
                _key = k;
            }
            Err(e) => return r.unknown("sshd-failed", format!("a throwaway host key: {e}")),
        }
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
    let what = a
        .sshd_config
        .as_ref()
        .map_or("sshd".to_owned(), |f| format!("sshd -f {}", f.display()));
    let get = |k: &str| conf.get(k).map(String::as_str).unwrap_or_default();
    let yes = |k: &str| get(k) == "yes";
    let mut fine = true;
    if !yes("usepam") {
        fine = false;
        r.crit(
            "sshd-usepam-off",
            format!(
                "{what}: UsePAM {}: sshd never runs the PAM stack, so no push: set UsePAM yes",
                get("usepam")
            ),
        );
    }
    if !yes("kbdinteractiveauthentication") {
        fine = false;
        r.crit("sshd-kbdinteractive-off", format!("{what}: KbdInteractiveAuthentication no: the push runs only through keyboard-interactive (either nobody can log in, or everyone logs in without it): set KbdInteractiveAuthentication yes"));
    }
    let stack = check_stack(r, &a.pam_dir, "sshd");
    if stack.is_none() {
        fine = false;
    }
    // The method lists: AuthenticationMethods, or with "any" every enabled method alone.
    let methods = get("authenticationmethods");
    let lists: Vec<Vec<String>> = if methods.is_empty() || methods == "any" {
        let mut l = Vec::new();
        for (k, m) in [
            ("pubkeyauthentication", "publickey"),
            ("passwordauthentication", "password"),
            ("kbdinteractiveauthentication", "keyboard-interactive"),
            ("hostbasedauthentication", "hostbased"),
            ("gssapiauthentication", "gssapi-with-mic"),
        ] {
            if yes(k) {
                l.push(vec![m.to_owned()]);
            }
        }
        l
    } else {
        methods
            .split_whitespace()
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect()
    };
    let any = methods.is_empty() || methods == "any";
    let shown = if any {
        "AuthenticationMethods any (each enabled method alone logs in)".to_owned()
    } else {
        format!("AuthenticationMethods {methods}")
    };
    for list in &lists {
        let joined = list.join(",");
        // The methods that run the PAM auth stack: keyboard-interactive, and with UsePAM
        // also password (sshd's sshpam_auth_passwd runs pam_authenticate with a
        // conversation that answers hidden prompts with the password).
        let base = |m: &String| m.split(':').next().unwrap_or_default().to_owned();
        let pam_method = |m: &String| {
            base(m) == "keyboard-interactive" || (base(m) == "password" && yes("usepam"))
        };
        let Some(pos) = list.iter().position(pam_method) else {
            fine = false;
            r.crit("sshd-method-without-push", format!("{what}: {shown}: '{joined}' logs in without keyboard-interactive, so without the push: use AuthenticationMethods publickey,keyboard-interactive"));
            continue;
        };
        let Some(s) = &stack else { continue };
        if list.iter().any(|m| base(m) == "password") && yes("usepam") {
            fine = false;
            r.warn("sshd-password-method", format!("{what}: {shown}: in '{joined}' the password method runs the sshd PAM stack, push included, through sshd's password conversation: the verification code is never shown, prompt=enter is refused there (the login fails after a push), and the wait blocks sshd's privileged process: use keyboard-interactive"));
        }
        let before = pos > 0;
        if !before && s.push_alone {
            fine = false;
            if pos + 1 == list.len() {
                r.crit("sshd-push-alone", format!("{what}: {shown}: '{joined}' has no first factor before {}, and the sshd PAM stack asks no password before the push: the push alone lets people in: use AuthenticationMethods publickey,keyboard-interactive (or a password module before pam_passbyme)", list[pos]));
            } else {
                r.warn("sshd-push-first", format!("{what}: {shown}: '{joined}' runs {} first with no password before the push: anyone who knows a user name can send pushes; put the first factor before it", list[pos]));
            }
        } else if before && !s.push_alone && !a.third_factor {
            fine = false;
            r.add(Level::Warning, "sshd-password-third-factor", format!("'{joined}' already has a first factor before {}, and the sshd PAM stack also asks a password: the password is a third factor. If that is meant, run the check with --third-factor; if not, remove the password module (@include common-auth) from the sshd PAM service", list[pos]), s.push.at());
        } else if !before && s.password_after_push {
            r.add(Level::Warning, "sshd-push-before-password", format!("'{joined}': the sshd PAM stack sends the push before the password is checked: anyone who knows a user name can send pushes; put the password module above pam_passbyme"), s.push.at());
        }
    }
    if let Some(s) = &stack {
        if let Some(config) = module_config(r, path, &s.push) {
            let timeout = line_arg(&s.push, "timeout")
                .and_then(|v| pam_passbyme::duration::parse_duration(v).ok())
                .unwrap_or(config.login.timeout);
            let grace: u64 = get("logingracetime").parse().unwrap_or(0);
            if grace != 0 && Duration::from_secs(grace) <= timeout {
                fine = false;
                r.crit("sshd-login-grace-time", format!("{what}: LoginGraceTime {grace}s is not above login.timeout ({}s): sshd ends the login before the phone's answer can arrive: raise LoginGraceTime (e.g. {}) or lower login.timeout", timeout.as_secs(), timeout.as_secs() * 2));
            }
        }
        let _ = &s.entries;
    }
    if fine {
        r.ok(
            "sshd-ok",
            format!("{what}: UsePAM yes, KbdInteractiveAuthentication yes, {shown}, LoginGraceTime {}: every login needs the push after a first factor", get("logingracetime")),
        );
    }
}

// ---------------------------------------------------------------------------------------
// sudo

fn check_sudo(r: &mut Report, path: &Path, a: &Args) {
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
