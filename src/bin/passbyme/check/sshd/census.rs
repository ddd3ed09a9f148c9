//! `check --census`: who gets the push, who skips it, and who is locked out.
//!
//! Turning the module on can silently lock out root, key-only automation accounts and
//! password-only users. For every account that can log in over SSH (the passwd database's
//! accounts with a login shell, and every name the module's configuration maps), the census
//! asks the real sshd for that user's effective configuration (`sshd -T -C user=NAME,…`, so
//! `Match User` and `Match Group` blocks apply), asks the library how the module maps the
//! user (as `check --user` does), looks at the user's keys (AuthorizedKeysFile) and password
//! (shadow), and says, per method list, whether the login can succeed and whether it runs
//! the push. What sshd and PAM do is asked of them; what the census adds is the per-account
//! facts sshd -T cannot know (a key on disk, a password in shadow, the mapping).

use std::path::PathBuf;
use std::process::Command;

use pam_passbyme::config::{Config, Unmapped};
use pam_passbyme::login::{map_user, Lookup};
use pam_passbyme::os::Host;

use super::judge::{base, method_lists, runs_pam};
use super::program::{Conf, Program, Sshd};
use super::spec::Spec;
use crate::check::stack::Stack;
use crate::check::{Args, Level, Report};

/// The entries of an NSS database through `getent` (all of them, or the one named `key`):
/// each line split at `:`. A key that is not there gives no entry.
pub fn getent(db: &str, key: Option<&str>) -> Result<Vec<Vec<String>>, String> {
    let mut cmd = Command::new("getent");
    cmd.arg(db);
    if let Some(k) = key {
        cmd.arg("--").arg(k);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("getent {db}: {e}"))?;
    match out.status.code() {
        Some(0) => {}
        // 2: the key is not in the database.
        Some(2) => return Ok(Vec::new()),
        _ => {
            return Err(format!(
                "getent {db}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(':').map(str::to_owned).collect())
        .collect())
}

/// What the sshd auth stack does when the module steps aside (PAM_IGNORE).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Aside {
    /// The stack refuses (the sample's pam_deny after the module).
    Refused,
    /// The stack succeeds with no password module succeeding (pam_permit after it).
    Passes,
    /// The stack succeeds only after a password module succeeded.
    Password,
}

/// What the census needs around the accounts: the sshd PAM stack, the module's
/// configuration, the sshd program, and what the stack does when the module steps aside.
pub struct Around<'a> {
    pub stack: &'a Stack,
    pub config: &'a Config,
    pub program: Program,
    pub step_aside: Option<Aside>,
}

/// An account of the passwd database.
struct Account {
    name: String,
    uid: String,
    home: String,
}

/// Whether a login shell lets the account log in: not nologin, not false.
fn shell_logs_in(shell: &str) -> bool {
    let b = shell.rsplit('/').next().unwrap_or_default();
    !matches!(b, "nologin" | "false")
}

/// A fact about an account, with what it rests on.
enum Fact {
    Yes(String),
    No(String),
    Unknown(String),
}

/// The user's keys: the first AuthorizedKeysFile that holds one.
fn keys(conf: &Conf, a: &Account) -> Fact {
    let get = |k: &str| conf.get(k).map(String::as_str).unwrap_or("none");
    let mut looked = Vec::new();
    let mut unknown = None;
    for f in get("authorizedkeysfile").split_whitespace() {
        let mut p = String::new();
        let mut chars = f.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                p.push(c);
                continue;
            }
            match chars.next() {
                Some('h') => p += &a.home,
                Some('u') => p += &a.name,
                Some('U') => p += &a.uid,
                Some('%') => p.push('%'),
                Some(o) => {
                    p.push('%');
                    p.push(o);
                }
                None => p.push('%'),
            }
        }
        let path = if p.starts_with('/') {
            PathBuf::from(p)
        } else {
            PathBuf::from(&a.home).join(p)
        };
        match std::fs::read_to_string(&path) {
            Ok(t) => {
                if t.lines()
                    .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                {
                    return Fact::Yes(format!("a key in {}", path.display()));
                }
                looked.push(path.display().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                looked.push(path.display().to_string())
            }
            Err(e) => unknown = Some(format!("{}: {e}", path.display())),
        }
    }
    if get("authorizedkeyscommand") != "none" {
        return Fact::Unknown(format!(
            "keys may come from AuthorizedKeysCommand {}",
            get("authorizedkeyscommand")
        ));
    }
    if get("trustedusercakeys") != "none" {
        return Fact::Unknown(format!(
            "a certificate signed by TrustedUserCAKeys {} may log in",
            get("trustedusercakeys")
        ));
    }
    match unknown {
        Some(u) => Fact::Unknown(u),
        None => Fact::No(format!("no key in {}", looked.join(", "))),
    }
}

/// The user's password, from shadow.
fn password(a: &Account) -> Fact {
    match getent("shadow", Some(&a.name)) {
        Err(e) => Fact::Unknown(format!("password unknown ({e})")),
        Ok(e) if e.is_empty() => Fact::Unknown("password unknown (no shadow entry)".into()),
        Ok(e) => {
            let hash = e[0].get(1).map(String::as_str).unwrap_or_default();
            if hash.is_empty() {
                Fact::No("an empty password".into())
            } else if hash.starts_with('!') || hash.starts_with('*') {
                Fact::No("no usable password (locked in shadow)".into())
            } else {
                Fact::Yes("a password".into())
            }
        }
    }
}

/// What the module does for the user.
enum Module {
    /// Sends the push (to what, from where).
    Push(String),
    /// Steps aside (PAM_IGNORE), and why.
    Aside(String),
    /// Refuses, and why.
    Refused(String),
    /// Could not be told.
    Unknown(String),
}

fn module(config: &Config, name: &str) -> Module {
    let host = pam_passbyme::os::System;
    let p = &config.policy;
    if !p.only_groups.is_empty() || !p.exempt_groups.is_empty() {
        let groups = match host.groups(name) {
            Ok(g) => g,
            Err(e) => return Module::Unknown(format!("groups: {e}")),
        };
        if let Some(g) = groups.iter().find(|g| p.exempt_groups.contains(g)) {
            return Module::Aside(format!("member of exempt group {g}"));
        }
        if !p.only_groups.is_empty() && !groups.iter().any(|g| p.only_groups.contains(g)) {
            return Module::Aside("not in policy.only_groups".into());
        }
    }
    match map_user(config, &host, name) {
        Ok(Lookup::Ids(ids, source)) => {
            Module::Push(format!("pushed to {} (from {source})", ids.join(", ")))
        }
        Ok(Lookup::Unmapped(why)) => match config.policy.unmapped {
            Unmapped::Ignore => {
                Module::Aside(format!("unmapped ({why}), policy.unmapped = ignore"))
            }
            Unmapped::Deny => Module::Refused(format!(
                "unmapped ({why}), policy.unmapped = deny: the module refuses"
            )),
        },
        Ok(Lookup::Invalid(e)) => Module::Refused(format!("{e}: the module refuses")),
        Err(e) => Module::Unknown(e.to_string()),
    }
}

/// Why a method cannot succeed for the user: decides the fix.
enum Stop {
    /// No key (the text says where it looked).
    NoKey(String),
    /// A setting of sshd turns the method off: the sshd findings above say what to change.
    Off(String),
    /// PermitRootLogin refuses the method for root.
    Root(String),
    /// The module refuses the user.
    Refused(String),
    /// The module steps aside and the stack refuses then.
    Aside(String),
    /// The stack asks a password the user does not have.
    NoPassword(String),
}

impl Stop {
    fn text(&self) -> &str {
        match self {
            Stop::NoKey(t)
            | Stop::Off(t)
            | Stop::Root(t)
            | Stop::Refused(t)
            | Stop::Aside(t)
            | Stop::NoPassword(t) => t,
        }
    }
}

/// Whether one method can succeed for the user.
enum Way {
    /// It can; with the push or not, and on what.
    Yes(bool, String),
    No(Stop),
    Unknown(String),
}

/// Everything the census knows about one account, to judge a method.
struct Facts<'a> {
    a: &'a Account,
    conf: &'a Conf,
    keys: Fact,
    password: Fact,
    module: Module,
    stack: &'a Stack,
    /// What the sshd stack does when the module steps aside; `None`: libpam could not be
    /// asked.
    step_aside: Option<Aside>,
    program: Program,
}

impl Facts<'_> {
    fn get(&self, k: &str) -> &str {
        self.conf.get(k).map(String::as_str).unwrap_or_default()
    }
    fn root(&self) -> bool {
        self.a.uid == "0"
    }

    fn method(&self, m: &str) -> Way {
        let prl = self.get("permitrootlogin");
        let off = |k: &str, word: &str| Way::No(Stop::Off(format!("{word} {}", self.get(k))));
        match base(m) {
            "publickey" => {
                if self.get("pubkeyauthentication") != "yes" {
                    return off("pubkeyauthentication", "PubkeyAuthentication");
                }
                match &self.keys {
                    Fact::Yes(t) => Way::Yes(false, t.clone()),
                    Fact::No(t) => Way::No(Stop::NoKey(t.clone())),
                    Fact::Unknown(t) => Way::Unknown(t.clone()),
                }
            }
            "password" | "keyboard-interactive" => {
                if base(m) == "password" && self.get("passwordauthentication") != "yes" {
                    return off("passwordauthentication", "PasswordAuthentication");
                }
                if base(m) == "keyboard-interactive" {
                    if self.get("kbdinteractiveauthentication") != "yes" {
                        return off(
                            "kbdinteractiveauthentication",
                            "KbdInteractiveAuthentication",
                        );
                    }
                    if self.program.needs_challenge(self.conf)
                        && self.get("challengeresponseauthentication") != "yes"
                    {
                        return off(
                            "challengeresponseauthentication",
                            "ChallengeResponseAuthentication",
                        );
                    }
                }
                if self.root() && prl != "yes" {
                    return Way::No(Stop::Root(format!(
                        "PermitRootLogin {prl}: sshd refuses {} for root",
                        base(m)
                    )));
                }
                if !runs_pam(m, self.conf) {
                    // password without UsePAM: shadow.
                    return match &self.password {
                        Fact::Yes(t) => Way::Yes(false, t.clone()),
                        Fact::No(t) => Way::No(Stop::NoPassword(t.clone())),
                        Fact::Unknown(t) => Way::Unknown(t.clone()),
                    };
                }
                if self.get("usepam") != "yes" {
                    return off("usepam", "UsePAM");
                }
                match &self.module {
                    Module::Push(to) => {
                        if self.stack.push_alone {
                            return Way::Yes(true, to.clone());
                        }
                        match &self.password {
                            Fact::Yes(t) => Way::Yes(true, format!("{t}, then {to}")),
                            Fact::No(t) => Way::No(Stop::NoPassword(format!(
                                "the sshd PAM stack asks a password and {} has {t}",
                                self.a.name
                            ))),
                            Fact::Unknown(t) => Way::Unknown(format!(
                                "the sshd PAM stack asks a password: {t}"
                            )),
                        }
                    }
                    Module::Refused(why) => Way::No(Stop::Refused(why.clone())),
                    Module::Aside(why) => match self.step_aside {
                        Some(Aside::Passes) => Way::Yes(
                            false,
                            format!("the module steps aside ({why}) and the sshd PAM stack lets the login through"),
                        ),
                        Some(Aside::Password) => match &self.password {
                            Fact::Yes(t) => Way::Yes(
                                false,
                                format!("the module steps aside ({why}) and the sshd PAM stack lets the login through on {t}"),
                            ),
                            Fact::No(t) => Way::No(Stop::NoPassword(format!(
                                "the module steps aside ({why}), then the sshd PAM stack asks a password and {} has {t}",
                                self.a.name
                            ))),
                            Fact::Unknown(t) => Way::Unknown(format!(
                                "the module steps aside ({why}), then the sshd PAM stack asks a password: {t}"
                            )),
                        },
                        Some(Aside::Refused) => Way::No(Stop::Aside(format!(
                            "the module steps aside ({why}) and the sshd PAM stack then refuses"
                        ))),
                        None => Way::Unknown(format!(
                            "the module steps aside ({why}); what the sshd PAM stack does then could not be asked of libpam"
                        )),
                    },
                    Module::Unknown(e) => Way::Unknown(format!("the mapping: {e}")),
                }
            }
            "hostbased" if self.get("hostbasedauthentication") != "yes" => {
                off("hostbasedauthentication", "HostbasedAuthentication")
            }
            "gssapi-with-mic" if self.get("gssapiauthentication") != "yes" => {
                off("gssapiauthentication", "GSSAPIAuthentication")
            }
            other => Way::Unknown(format!("{other} is not judged per account")),
        }
    }
}

/// The census's verdict on one account.
enum Verdict {
    Push(String),
    Skips(String),
    Locked(String, String),
    NoLogin(String),
    Unjudged(String),
}

fn verdict(f: &Facts, lists: &[Vec<String>]) -> Verdict {
    let n = &f.a.name;
    let mut push = None;
    let mut unknown = None;
    let mut stops: Vec<(String, Stop)> = Vec::new();
    for list in lists {
        let joined = list.join(",");
        let ways: Vec<Way> = list.iter().map(|m| f.method(m)).collect();
        let mut notes = Vec::new();
        let mut pushed = false;
        let mut stop = None;
        let mut unk = None;
        for w in ways {
            match w {
                Way::Yes(p, t) => {
                    pushed |= p;
                    notes.push(t);
                }
                Way::No(s) => {
                    if stop.is_none() {
                        stop = Some(s);
                    }
                }
                Way::Unknown(t) => {
                    if unk.is_none() {
                        unk = Some(t);
                    }
                }
            }
        }
        if let Some(s) = stop {
            stops.push((joined, s));
        } else if let Some(t) = unk {
            unknown.get_or_insert(format!("'{joined}': {t}"));
        } else if !pushed {
            return Verdict::Skips(format!(
                "'{joined}' logs in without it ({})",
                notes.join("; ")
            ));
        } else {
            push.get_or_insert(format!("'{joined}' ({})", notes.join("; ")));
        }
    }
    if let Some(p) = push {
        return Verdict::Push(p);
    }
    if let Some(u) = unknown {
        return Verdict::Unjudged(u);
    }
    if f.root() && f.get("permitrootlogin") == "no" {
        return Verdict::NoLogin("PermitRootLogin no".into());
    }
    if lists.is_empty() {
        return Verdict::NoLogin("no authentication method is enabled".into());
    }
    if !matches!(f.keys, Fact::Yes(_)) && !matches!(f.password, Fact::Yes(_)) {
        let k = match &f.keys {
            Fact::No(t) | Fact::Unknown(t) | Fact::Yes(t) => t,
        };
        let p = match &f.password {
            Fact::No(t) | Fact::Unknown(t) | Fact::Yes(t) => t,
        };
        return Verdict::NoLogin(format!("{k}, and {p}"));
    }
    let why: Vec<String> = stops
        .iter()
        .map(|(l, s)| format!("'{l}': {}", s.text()))
        .collect();
    let fix = fix(f, &stops[0].1);
    Verdict::Locked(format!("{n}: LOCKED OUT: {}", why.join("; ")), fix)
}

/// The change that lets the account in, for the first reason it is locked out.
fn fix(f: &Facts, stop: &Stop) -> String {
    let n = &f.a.name;
    let key_only = format!("add 'Match User {n}' with 'AuthenticationMethods publickey' under it at the end of sshd_config (its key alone, no push)");
    match stop {
        Stop::NoKey(_) => {
            if matches!(f.password, Fact::Yes(_)) && !f.stack.push_alone {
                format!("add 'Match User {n}' with 'AuthenticationMethods keyboard-interactive' under it at the end of sshd_config (its password, then the push, both asked by the sshd PAM stack), or give it a key")
            } else {
                let first = f
                    .get("authorizedkeysfile")
                    .split_whitespace()
                    .next()
                    .unwrap_or(".ssh/authorized_keys")
                    .to_owned();
                format!("put {n}'s public key in its {first}")
            }
        }
        Stop::Off(_) => "fix the sshd findings above".into(),
        Stop::Root(_) => "'PermitRootLogin yes' lets root answer keyboard-interactive after its key (AuthenticationMethods still asks the key first), or add 'Match User root' with 'AuthenticationMethods publickey' under it at the end of sshd_config (its key alone, no push)".into(),
        Stop::Refused(_) => {
            let mut s = format!("map {n} in [users] ({n} = \"ID\") or a users.d file");
            if matches!(f.keys, Fact::Yes(_)) {
                s += &format!(", or, for an automation account, {key_only}");
            }
            if f.step_aside == Some(Aside::Passes) {
                s += ", or add it to a group in policy.exempt_groups";
            }
            s
        }
        Stop::Aside(_) => format!("{key_only}; policy.exempt_groups alone does not let it in while pam_deny.so follows the module in the sshd PAM stack"),
        Stop::NoPassword(_) => format!("set a password for {n} (passwd {n}): the sshd PAM stack asks it before the push"),
    }
}

/// The passwd sources of nsswitch.conf that may not list their accounts (directories).
fn directories() -> Vec<String> {
    let text = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        if let Some(rest) = line.trim_start().strip_prefix("passwd:") {
            return rest
                .split_whitespace()
                .filter(|s| !s.starts_with('['))
                .filter(|s| !matches!(*s, "files" | "compat" | "systemd" | "db" | "altfiles"))
                .map(str::to_owned)
                .collect();
        }
    }
    Vec::new()
}

/// The connection the census asks about: `--sshd-match`'s fields (without `user=`), else
/// documentation addresses no Match Address block names.
fn base_spec(a: &Args, global: &Conf) -> Spec {
    let mut s = Spec::new(global.get("port").map(String::as_str).unwrap_or("22"));
    if let Some(m) = &a.sshd_match {
        for kv in m.split(',') {
            if let Some((k, v)) = kv.split_once('=') {
                match k {
                    "host" => s.host = v.into(),
                    "addr" => s.addr = v.into(),
                    "laddr" => s.laddr = v.into(),
                    "lport" => s.lport = v.into(),
                    "rdomain" => s.rdomain = Some(v.into()),
                    _ => {}
                }
            }
        }
    }
    s
}

/// The census: one finding per account that can log in over SSH, and a summary.
pub fn census(r: &mut Report, sshd: &Sshd, a: &Args, global: &Conf, around: &Around) {
    let Around {
        stack,
        config,
        program,
        step_aside,
    } = *around;
    let mut accounts = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let all = match getent("passwd", None) {
        Ok(p) => p,
        Err(e) => return r.unknown("census-not-run", format!("census: {e}")),
    };
    let mut add = |p: &[String], accounts: &mut Vec<Account>| {
        if p.len() >= 7 && shell_logs_in(&p[6]) && seen.insert(p[0].clone()) {
            accounts.push(Account {
                name: p[0].clone(),
                uid: p[2].clone(),
                home: p[5].clone(),
            });
        }
    };
    for p in &all {
        add(p, &mut accounts);
    }
    let mut named: Vec<&str> = config.users.keys().map(String::as_str).collect();
    named.extend(config.dir_users.iter().map(|u| u.name.as_str()));
    let mut unknown_names = Vec::new();
    for n in named {
        match getent("passwd", Some(n)) {
            Ok(p) if !p.is_empty() => add(&p[0], &mut accounts),
            Ok(_) => unknown_names.push(n.to_owned()),
            Err(e) => return r.unknown("census-not-run", format!("census: {e}")),
        }
    }
    let base = base_spec(a, global);
    let mut results = Vec::new();
    for acct in &accounts {
        let mut spec = base.clone();
        spec.user = acct.name.clone();
        let conf = match sshd.conf(&spec.text()) {
            Ok(c) => c,
            Err(e) => {
                results.push((acct.name.clone(), Verdict::Unjudged(e), false));
                continue;
            }
        };
        let facts = Facts {
            a: acct,
            conf: &conf,
            keys: keys(&conf, acct),
            password: password(acct),
            module: module(config, &acct.name),
            stack,
            step_aside,
            program,
        };
        let (lists, _) = method_lists(&conf);
        let v = verdict(&facts, &lists);
        let root_allowed = facts.root() && facts.get("permitrootlogin") != "no";
        results.push((acct.name.clone(), v, root_allowed));
    }
    let count = |k: fn(&Verdict) -> bool| results.iter().filter(|(_, v, _)| k(v)).count();
    let pushed = count(|v| matches!(v, Verdict::Push(_)));
    let skips = count(|v| matches!(v, Verdict::Skips(_)));
    let locked = count(|v| matches!(v, Verdict::Locked(..)));
    let nologin = count(|v| matches!(v, Verdict::NoLogin(_)));
    let unjudged = count(|v| matches!(v, Verdict::Unjudged(_)));
    let everyone = locked > 0 && locked + nologin == results.len();
    let mut scope = String::new();
    let dirs = directories();
    if !dirs.is_empty() {
        scope += &format!("; passwd also comes from {} (nsswitch.conf), which may not list its accounts: those are counted only when [users] or users.d names them", dirs.join(", "));
    }
    if !unknown_names.is_empty() {
        scope += &format!(
            "; named in the configuration but unknown to the user database: {}",
            unknown_names.join(", ")
        );
    }
    r.ok(
        "census",
        format!(
            "census of {} account(s) that can log in over SSH (a login shell, or named in the configuration), each as sshd -T -C {}: {pushed} get the push, {skips} skip it, {locked} LOCKED OUT, {nologin} cannot log in with or without the module{}{scope}",
            results.len(),
            base.text().replacen(&format!("user={}", base.user), "user=NAME", 1),
            if unjudged > 0 { format!(", {unjudged} not judged") } else { String::new() }
        ),
    );
    for (name, v, root_allowed) in results {
        match v {
            Verdict::Push(t) => r.ok("census-push", format!("{name}: gets the push: {t}")),
            Verdict::Skips(t) => r.ok("census-skips", format!("{name}: skips the push: {t}")),
            Verdict::NoLogin(t) => r.ok(
                "census-no-login",
                format!("{name}: cannot log in over SSH, with or without the module: {t}"),
            ),
            Verdict::Unjudged(t) => r.warn("census-unjudged", format!("{name}: not judged: {t}")),
            Verdict::Locked(t, fix) => {
                let (level, tail) = if root_allowed {
                    (
                        Level::Critical,
                        " (root, and PermitRootLogin lets root log in)",
                    )
                } else if everyone {
                    (Level::Critical, " (every account that could log in is)")
                } else {
                    (Level::Warning, "")
                };
                r.add(
                    level,
                    "census-locked-out",
                    format!("{t}{tail}. Fix: {fix}"),
                    None,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::stack::Push;

    fn conf() -> Conf {
        [
            ("usepam", "yes"),
            ("kbdinteractiveauthentication", "yes"),
            ("pubkeyauthentication", "yes"),
            ("passwordauthentication", "no"),
            ("permitrootlogin", "prohibit-password"),
            ("authorizedkeysfile", ".ssh/authorized_keys"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn stack(push_alone: bool) -> Stack {
        Stack {
            push: Push {
                args: Vec::new(),
                place: None,
            },
            push_alone,
            password_after_push: false,
        }
    }

    fn account(name: &str, uid: &str) -> Account {
        Account {
            name: name.into(),
            uid: uid.into(),
            home: format!("/home/{name}"),
        }
    }

    /// The verdict on `a` for `publickey,keyboard-interactive`, with a key or not, and
    /// what the module does.
    fn judge(a: &Account, key: bool, module: Module, aside: Option<Aside>) -> Verdict {
        let c = conf();
        let s = stack(true);
        let f = Facts {
            a,
            conf: &c,
            keys: if key {
                Fact::Yes("a key in .ssh/authorized_keys".into())
            } else {
                Fact::No("no key in .ssh/authorized_keys".into())
            },
            password: Fact::No("no usable password (locked in shadow)".into()),
            module,
            stack: &s,
            step_aside: aside,
            program: Program {
                version: Some((9, 2)),
            },
        };
        let lists = [vec!["publickey".into(), "keyboard-interactive".into()]];
        verdict(&f, &lists)
    }

    #[test]
    fn a_mapped_user_with_a_key_gets_the_push() {
        let v = judge(
            &account("alice", "1000"),
            true,
            Module::Push("pushed to alice@x (from [users])".into()),
            Some(Aside::Refused),
        );
        let Verdict::Push(t) = v else {
            panic!("not Push")
        };
        assert_eq!(
            t,
            "'publickey,keyboard-interactive' (a key in .ssh/authorized_keys; pushed to alice@x (from [users]))"
        );
    }

    #[test]
    fn root_unmapped_is_locked_out_with_the_fix() {
        let v = judge(
            &account("root", "0"),
            true,
            Module::Refused(
                "unmapped (no entry), policy.unmapped = deny: the module refuses".into(),
            ),
            Some(Aside::Refused),
        );
        let Verdict::Locked(why, fix) = v else {
            panic!("not Locked")
        };
        // PermitRootLogin prohibit-password stops keyboard-interactive before the module.
        assert_eq!(
            why,
            "root: LOCKED OUT: 'publickey,keyboard-interactive': PermitRootLogin prohibit-password: sshd refuses keyboard-interactive for root"
        );
        assert!(fix.starts_with("'PermitRootLogin yes' lets root answer keyboard-interactive"));
    }

    #[test]
    fn no_key_and_no_password_cannot_log_in_at_all() {
        let v = judge(
            &account("bob", "1001"),
            false,
            Module::Push("pushed to bob@x (from [users])".into()),
            Some(Aside::Refused),
        );
        let Verdict::NoLogin(why) = v else {
            panic!("not NoLogin")
        };
        assert_eq!(
            why,
            "no key in .ssh/authorized_keys, and no usable password (locked in shadow)"
        );
    }

    #[test]
    fn stepping_aside_into_a_stack_that_passes_skips_the_push() {
        let v = judge(
            &account("ci", "1002"),
            true,
            Module::Aside("member of exempt group robots".into()),
            Some(Aside::Passes),
        );
        let Verdict::Skips(t) = v else {
            panic!("not Skips")
        };
        assert!(t.starts_with("'publickey,keyboard-interactive' logs in without it (a key in .ssh/authorized_keys; the module steps aside (member of exempt group robots)"));
        // Refused by the stack after stepping aside: locked out, the key alone is the fix.
        let v = judge(
            &account("ci", "1002"),
            true,
            Module::Aside("member of exempt group robots".into()),
            Some(Aside::Refused),
        );
        let Verdict::Locked(_, fix) = v else {
            panic!("not Locked")
        };
        assert!(fix.starts_with("add 'Match User ci' with 'AuthenticationMethods publickey'"));
    }

    #[test]
    fn login_shells() {
        assert!(shell_logs_in("/bin/bash"));
        assert!(!shell_logs_in("/usr/sbin/nologin"));
        assert!(!shell_logs_in("/bin/false"));
    }
}
