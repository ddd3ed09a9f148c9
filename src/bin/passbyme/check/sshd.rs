//! `check --sshd`: sshd's effective configuration (`sshd -T`), its PAM service, every
//! `Match` block of the configuration, and (`--census`) every account that can log in.
//!
//! sshd itself does all the evaluating: the effective configuration of a connection is
//! what `sshd -T -C SPEC` prints. What this file adds is the connections to ask about: it
//! reads the `Match` lines of the configuration (the main file and what it `Include`s) and
//! builds, for each block, a connection spec that the real sshd confirms the block applies
//! to (a probe file holding only that `Match` line), then judges that connection's
//! configuration like the global one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::census::{self, getent};
use super::stack::{check_stack, line_arg, module_config, Stack};
use super::{Args, Level, Report};

/// sshd's default configuration file (relative `Include` paths are relative to its directory).
const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
const SSHD_DIR: &str = "/etc/ssh";

/// The connection the checks ask about when a criterion does not constrain it: names and
/// documentation addresses (RFC 5737) that no real client has.
pub const DEFAULT_USER: &str = "passbyme-check";
pub const DEFAULT_HOST: &str = "passbyme-check.invalid";
pub const DEFAULT_ADDR: &str = "192.0.2.1";
pub const DEFAULT_LADDR: &str = "192.0.2.2";

/// The first OpenSSH release in which `KbdInteractiveAuthentication` alone runs PAM through
/// keyboard-interactive (8.7 made `ChallengeResponseAuthentication` its alias).
const KBD_ALONE: (u32, u32) = (8, 7);

/// At most this many probes per Match block.
const MAX_PROBES: usize = 48;

/// A throwaway host key for `sshd -T` when the checked file names none that loads (a
/// candidate file on another host's paths), and the directory for the probe files: sshd
/// refuses to start without a host key.
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

/// An effective configuration: `sshd -T`'s keys in lower case, the first value of each.
pub type Conf = HashMap<String, String>;

/// Runs `sshd -T` on the checked file (or a probe file), with the throwaway host key once
/// the file's own did not load.
pub struct Sshd<'a> {
    a: &'a Args,
    key: Option<TempKey>,
}

impl Sshd<'_> {
    /// `sshd -T [-f FILE] [-C SPEC] [-h KEY]`: `Err` when sshd could not be run, `Ok(Err)`
    /// with its message when it refused.
    fn run(&self, file: Option<&Path>, spec: Option<&str>) -> Result<Result<Conf, String>, String> {
        let mut cmd = Command::new(&self.a.sshd_binary);
        cmd.arg("-T");
        if let Some(f) = file.or(self.a.sshd_config.as_deref()) {
            cmd.arg("-f").arg(f);
        }
        if let Some(m) = spec {
            cmd.arg("-C").arg(m);
        }
        if let Some(k) = &self.key {
            cmd.arg("-h").arg(k.key());
        }
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", self.a.sshd_binary.display()))?;
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

    /// The effective configuration of the connection `spec`, as one error string.
    pub fn conf(&self, spec: &str) -> Result<Conf, String> {
        match self.run(None, Some(spec)) {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(format!("sshd -T -C {spec}: {}", e.replace('\n', "; "))),
            Err(e) => Err(e),
        }
    }

    /// The throwaway key's directory (made on first use).
    fn scratch(&mut self) -> Result<&Path, String> {
        if self.key.is_none() {
            self.key = Some(TempKey::new()?);
        }
        Ok(self
            .key
            .as_ref()
            .map(|k| k.0.as_path())
            .unwrap_or(Path::new("/")))
    }
}

/// The OpenSSH version in a text such as `sshd -V` prints ("OpenSSH_9.2, OpenSSL 3.0…",
/// or, from an sshd that has no -V, its usage text "unknown option -- V\nOpenSSH_8.0p1,
/// OpenSSL 1.1.1k  FIPS 25 Mar 2021\nusage: …").
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = &text[text.find("OpenSSH_")? + "OpenSSH_".len()..];
    let (major, rest) = rest.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The version of the sshd program: `sshd -V` (OpenSSH 9.1 and later); an older sshd
/// rejects the option and prints its version with the usage text, which is read the same way.
fn sshd_version(bin: &Path) -> Option<(u32, u32)> {
    let out = Command::new(bin)
        .arg("-V")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    parse_version(&text)
}

/// What is known about the sshd program that matters to the verdict.
#[derive(Clone, Copy)]
pub struct Program {
    pub version: Option<(u32, u32)>,
}

impl Program {
    /// Whether keyboard-interactive runs PAM only with `ChallengeResponseAuthentication yes`:
    /// before OpenSSH 8.7, and (version unknown) whenever `sshd -T` still prints the key
    /// apart from `kbdinteractiveauthentication`, as OpenSSH before 8.7 does.
    pub fn needs_challenge(&self, conf: &Conf) -> bool {
        match self.version {
            Some(v) => v < KBD_ALONE,
            None => conf.contains_key("challengeresponseauthentication"),
        }
    }
    fn name(&self) -> String {
        self.version
            .map_or("this sshd".to_owned(), |(a, b)| format!("OpenSSH {a}.{b}"))
    }
}

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
struct Problem {
    level: Level,
    id: &'static str,
    body: String,
    /// Found in the PAM stack: the finding points at the module's line.
    at_push: bool,
}

impl Problem {
    fn new(level: Level, id: &'static str, body: String) -> Problem {
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
fn judge(
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

/// A `Match` line of the configuration.
struct Block {
    file: PathBuf,
    line: usize,
    /// The words after `Match`, as sshd splits them.
    args: Vec<String>,
    /// The line's text after the keyword, for the probe file.
    raw: String,
}

impl Block {
    fn name(&self) -> String {
        format!("Match {}", self.args.join(" "))
    }
}

/// Splits a configuration line into words as sshd does: whitespace (or one `=` after the
/// keyword) separates, double quotes group, a word starting with `#` ends the line.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        if quoted {
            if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
        } else if c == '"' {
            quoted = true;
            started = true;
        } else if c.is_whitespace() || (c == '=' && out.is_empty()) {
            if started {
                out.push(std::mem::take(&mut cur));
                started = false;
            }
        } else if c == '#' && !started {
            break;
        } else {
            cur.push(c);
            started = true;
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// sshd's pattern matching (`match_pattern`): `*` any run, `?` one character.
pub fn wildmatch(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The files an `Include` word names: relative to /etc/ssh, `*` and `?` in any component
/// expanded in name order (glob(3)).
fn include_files(word: &str) -> Vec<PathBuf> {
    let full = if word.starts_with('/') {
        PathBuf::from(word)
    } else {
        Path::new(SSHD_DIR).join(word)
    };
    let mut found = vec![PathBuf::from("/")];
    for comp in full.components().skip(1) {
        let c = comp.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for dir in &found {
            if c.contains(['*', '?']) {
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') && wildmatch(&c, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| dir.join(n)));
            } else {
                next.push(dir.join(&c));
            }
        }
        found = next;
    }
    found.into_iter().filter(|p| p.is_file()).collect()
}

/// The Match lines of `file` and of what it includes, in the order sshd reads them.
fn read_blocks(file: &Path, depth: usize, out: &mut Vec<Block>) -> Result<(), String> {
    if depth > 16 {
        return Err(format!("{}: Include nested too deep", file.display()));
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    for (i, line) in text.lines().enumerate() {
        let w = words(line);
        let Some(key) = w.first() else { continue };
        if key.eq_ignore_ascii_case("include") {
            for word in &w[1..] {
                for f in include_files(word) {
                    read_blocks(&f, depth + 1, out)?;
                }
            }
        } else if key.eq_ignore_ascii_case("match") {
            let t = line.trim_start();
            let raw = t[key.len()..].trim_start_matches(|c: char| c.is_whitespace() || c == '=');
            out.push(Block {
                file: file.to_path_buf(),
                line: i + 1,
                args: w[1..].to_vec(),
                raw: raw.to_owned(),
            });
        }
    }
    Ok(())
}

/// A connection spec for `sshd -T -C`.
#[derive(Clone)]
pub struct Spec {
    pub user: String,
    pub host: String,
    pub addr: String,
    pub laddr: String,
    pub lport: String,
    pub rdomain: Option<String>,
}

impl Spec {
    pub fn new(lport: &str) -> Spec {
        Spec {
            user: DEFAULT_USER.into(),
            host: DEFAULT_HOST.into(),
            addr: DEFAULT_ADDR.into(),
            laddr: DEFAULT_LADDR.into(),
            lport: lport.into(),
            rdomain: None,
        }
    }
    pub fn text(&self) -> String {
        let mut s = format!(
            "user={},host={},addr={},laddr={},lport={}",
            self.user, self.host, self.addr, self.laddr, self.lport
        );
        if let Some(r) = &self.rdomain {
            s += &format!(",rdomain={r}");
        }
        s
    }
}

/// `*` and `?` of a pattern filled with `fill`.
fn filled(p: &str, fill: &str) -> String {
    p.replace('*', fill).replace('?', &fill[..1])
}

/// Addresses inside an address pattern (`10.0.0.0/8`, `192.168.*`, `2001:db8::1`).
fn addresses(p: &str) -> Vec<String> {
    use std::net::IpAddr;
    if let Some((net, bits)) = p.split_once('/') {
        let (Ok(ip), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
            return Vec::new();
        };
        return match ip {
            IpAddr::V4(v4) => {
                let n = u32::from(v4);
                let host = 32u32.saturating_sub(bits);
                let mask = if host >= 32 { 0 } else { u32::MAX << host };
                let first = n & mask;
                let last = first | !mask;
                [
                    first.saturating_add(1),
                    first.saturating_add(2),
                    last.saturating_sub(1),
                    first,
                ]
                .iter()
                .filter(|&&a| a >= first && a <= last)
                .map(|&a| std::net::Ipv4Addr::from(a).to_string())
                .collect()
            }
            IpAddr::V6(v6) => {
                let n = u128::from(v6);
                let host = 128u32.saturating_sub(bits);
                let mask = if host >= 128 { 0 } else { u128::MAX << host };
                let first = n & mask;
                let last = first | !mask;
                [
                    first.saturating_add(1),
                    first.saturating_add(2),
                    last.saturating_sub(1),
                    first,
                ]
                .iter()
                .filter(|&&a| a >= first && a <= last)
                .map(|&a| std::net::Ipv6Addr::from(a).to_string())
                .collect()
            }
        };
    }
    if !p.contains(['*', '?']) {
        return vec![p.to_owned()];
    }
    ["1", "1.1", "1.1.1", "2", "2.2", "2.2.2"]
        .iter()
        .map(|f| p.replace('*', f).replace('?', "1"))
        .filter(|a| a.parse::<IpAddr>().is_ok())
        .collect()
}

/// The positive patterns of a list (`a,!b,c*`): what a value may be made from.
fn positives(list: &str) -> Vec<&str> {
    list.split(',')
        .filter(|p| !p.is_empty() && !p.starts_with('!'))
        .collect()
}

/// One criterion's way to change a spec, and the values to try.
enum Choice {
    User(Vec<String>),
    Host(Vec<String>),
    Addr(Vec<String>),
    LAddr(Vec<String>),
    LPort(Vec<String>),
    RDomain(Vec<String>),
}

impl Choice {
    fn len(&self) -> usize {
        match self {
            Choice::User(v)
            | Choice::Host(v)
            | Choice::Addr(v)
            | Choice::LAddr(v)
            | Choice::LPort(v)
            | Choice::RDomain(v) => v.len(),
        }
    }
    fn apply(&self, i: usize, s: &mut Spec) {
        match self {
            Choice::User(v) => s.user = v[i].clone(),
            Choice::Host(v) => s.host = v[i].clone(),
            Choice::Addr(v) => s.addr = v[i].clone(),
            Choice::LAddr(v) => s.laddr = v[i].clone(),
            Choice::LPort(v) => s.lport = v[i].clone(),
            Choice::RDomain(v) => s.rdomain = Some(v[i].clone()),
        }
    }
}

/// Why no connection could be built for a block.
enum NoSpec {
    /// A criterion check does not know.
    Unknown(String),
    /// No account is in a group the block names.
    NoMember(String),
    /// Candidates were tried and sshd applied the block to none of them.
    NoneMatched(String),
}

/// The accounts in the groups matching the positive patterns of `list`: members listed in
/// the group database, and accounts whose primary group it is.
fn group_members(list: &str) -> Result<Vec<String>, String> {
    let groups = getent("group", None)?;
    let mut gids = Vec::new();
    let mut users: Vec<String> = Vec::new();
    for g in &groups {
        let name = g.first().map(String::as_str).unwrap_or_default();
        if positives(list).iter().any(|p| wildmatch(p, name)) {
            if let Some(gid) = g.get(2) {
                gids.push(gid.clone());
            }
            for m in g.get(3).map(String::as_str).unwrap_or_default().split(',') {
                if !m.is_empty() && !users.iter().any(|u| u == m) {
                    users.push(m.to_owned());
                }
            }
        }
    }
    if !gids.is_empty() {
        for p in getent("passwd", None)? {
            if let (Some(name), Some(gid)) = (p.first(), p.get(3)) {
                if gids.contains(gid) && !users.contains(name) {
                    users.push(name.clone());
                }
            }
        }
    }
    Ok(users)
}

/// A connection that the real sshd applies `b` to (confirmed with a probe file holding only
/// its Match line), and how many probes it took.
fn spec_for(sshd: &mut Sshd, b: &Block, lport: &str) -> Result<Spec, NoSpec> {
    let mut choices = Vec::new();
    let mut only_negated = Vec::new();
    let mut group = None;
    let mut user_patterns = None;
    let mut i = 0;
    while i < b.args.len() {
        let k = b.args[i].to_lowercase();
        if k == "all" {
            i += 1;
            continue;
        }
        let Some(v) = b.args.get(i + 1) else {
            return Err(NoSpec::Unknown(format!("'{}' has no value", b.args[i])));
        };
        i += 2;
        // A list of negations alone: tried with a value none of them names (sshd applies a
        // list only when a positive pattern matches, so the probe fails and says so).
        let mut pos = positives(v);
        if pos.is_empty() {
            only_negated.push(format!("{} {v}", b.args[i - 2]));
            pos = if matches!(k.as_str(), "address" | "localaddress") {
                vec![DEFAULT_ADDR]
            } else if k == "localport" {
                vec![lport]
            } else {
                vec!["pbm"]
            };
        }
        match k.as_str() {
            "user" => {
                user_patterns = Some(v.clone());
                choices.push(Choice::User(pos.iter().map(|p| filled(p, "pbm")).collect()));
            }
            "group" => group = Some(v.clone()),
            "host" => choices.push(Choice::Host(pos.iter().map(|p| filled(p, "pbm")).collect())),
            "address" => choices.push(Choice::Addr(pos.iter().flat_map(|p| addresses(p)).collect())),
            "localaddress" => {
                choices.push(Choice::LAddr(pos.iter().flat_map(|p| addresses(p)).collect()))
            }
            "localport" => choices.push(Choice::LPort(pos.iter().map(|p| filled(p, "2")).collect())),
            "rdomain" => choices.push(Choice::RDomain(pos.iter().map(|p| filled(p, "pbm")).collect())),
            _ => {
                return Err(NoSpec::Unknown(format!(
                    "the criterion '{}' is not one check knows (User, Group, Host, Address, LocalAddress, LocalPort, RDomain, All)",
                    b.args[i - 2]
                )))
            }
        }
    }
    if let Some(g) = &group {
        let members = group_members(g).map_err(NoSpec::Unknown)?;
        // With User criteria too, the members are tried first, then the user candidates.
        let members: Vec<String> = match &user_patterns {
            Some(u) => members
                .into_iter()
                .filter(|m| positives(u).iter().any(|p| wildmatch(p, m)))
                .collect(),
            None => members,
        };
        if members.is_empty() {
            return Err(NoSpec::NoMember(g.clone()));
        }
        choices.retain(|c| !matches!(c, Choice::User(_)));
        choices.push(Choice::User(members));
    }
    if choices.iter().any(|c| c.len() == 0) {
        return Err(NoSpec::NoneMatched(
            "check could not build a value for one of its criteria".into(),
        ));
    }
    // The probe: this Match line alone, setting a Banner nothing else sets.
    let dir = sshd.scratch().map_err(NoSpec::Unknown)?.to_path_buf();
    let probe = dir.join("probe_config");
    let marker = "/passbyme-match-probe";
    std::fs::write(
        &probe,
        format!(
            "HostKey {}\nMatch {}\n\tBanner {marker}\n",
            dir.join("host_key").display(),
            b.raw
        ),
    )
    .map_err(|e| NoSpec::Unknown(format!("{}: {e}", probe.display())))?;
    // Every combination of the candidates, first ones first, up to MAX_PROBES.
    let mut idx = vec![0usize; choices.len()];
    let mut tried = Vec::new();
    for _ in 0..MAX_PROBES {
        let mut spec = Spec::new(lport);
        for (c, &i) in choices.iter().zip(&idx) {
            c.apply(i, &mut spec);
        }
        let text = spec.text();
        match sshd.run(Some(&probe), Some(&text)) {
            Ok(Ok(c)) if c.get("banner").map(String::as_str) == Some(marker) => return Ok(spec),
            Ok(Ok(_)) => tried.push(text),
            Ok(Err(e)) | Err(e) => {
                return Err(NoSpec::Unknown(format!(
                    "sshd -T -C {text} on the Match line alone: {}",
                    e.replace('\n', "; ")
                )))
            }
        }
        // The next combination.
        let mut k = 0;
        loop {
            if k == idx.len() {
                let hint = if only_negated.is_empty() {
                    String::new()
                } else {
                    format!(" ('{}' has only negated patterns, and sshd applies a pattern list only when one of its positive patterns matches: it matches no connection; write e.g. 'User *,!root')", only_negated.join("', '"))
                };
                return Err(NoSpec::NoneMatched(format!(
                    "sshd applied it to none of the connections check built ({}){hint}",
                    tried.join("; ")
                )));
            }
            idx[k] += 1;
            if idx[k] < choices[k].len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
    Err(NoSpec::NoneMatched(format!(
        "sshd applied it to none of the {MAX_PROBES} connections check built"
    )))
}

/// Evaluates every Match block: a connection it applies to, that connection's effective
/// configuration, and the problems it has that the global configuration does not.
/// Returns how many blocks there are and whether one weakens a login.
fn check_blocks(
    r: &mut Report,
    sshd: &mut Sshd,
    main: &Path,
    (global_conf, global): (&Conf, &[Problem]),
    (stack, third_factor, program): (Option<&Stack>, bool, Program),
) -> Result<(usize, bool), String> {
    let mut blocks = Vec::new();
    read_blocks(main, 0, &mut blocks)?;
    if blocks.is_empty() {
        return Ok((0, false));
    }
    let lport = global_conf
        .get("port")
        .cloned()
        .unwrap_or_else(|| "22".into());
    let mut weak = false;
    let mut summary = Vec::new();
    for b in &blocks {
        let at = Some((b.file.as_path(), b.line));
        let name = b.name();
        let spec = match spec_for(sshd, b, &lport) {
            Ok(s) => s,
            Err(NoSpec::NoMember(g)) => {
                weak = true;
                summary.push(format!("{name} (line {}): not evaluated", b.line));
                r.add(Level::Warning, "sshd-match-unevaluated", format!("{name}: no account is in a group matching '{g}' (group database), so no connection check can build matches it: not evaluated. It applies to nobody today, and to whoever joins the group later: check again then"), at);
                continue;
            }
            Err(NoSpec::NoneMatched(why)) => {
                weak = true;
                summary.push(format!("{name} (line {}): not evaluated", b.line));
                r.add(
                    Level::Warning,
                    "sshd-match-unevaluated",
                    format!("{name}: {why}: not evaluated"),
                    at,
                );
                continue;
            }
            Err(NoSpec::Unknown(why)) => {
                weak = true;
                summary.push(format!("{name} (line {}): not evaluated", b.line));
                r.add(
                    Level::Unknown,
                    "sshd-match-unevaluated",
                    format!("{name}: {why}: not evaluated"),
                    at,
                );
                continue;
            }
        };
        let text = spec.text();
        let conf = match sshd.conf(&text) {
            Ok(c) => c,
            Err(e) => {
                weak = true;
                summary.push(format!("{name} (line {}): not evaluated", b.line));
                r.add(
                    Level::Unknown,
                    "sshd-match-unevaluated",
                    format!("{name}: {e}"),
                    at,
                );
                continue;
            }
        };
        let (problems, _) = judge(&conf, stack, third_factor, program);
        let new: Vec<&Problem> = problems
            .iter()
            .filter(|p| !global.iter().any(|g| g.id == p.id && g.body == p.body))
            .collect();
        if new.is_empty() {
            summary.push(format!("{name} (line {}) as {text}: no weaker", b.line));
            continue;
        }
        weak = true;
        summary.push(format!("{name} (line {}) as {text}: WEAKER", b.line));
        for p in new {
            r.add(
                p.level,
                p.id,
                format!("{name} (for connections such as {text}): {}", p.body),
                at,
            );
        }
    }
    r.ok(
        "sshd-match",
        format!(
            "{} Match block(s) evaluated, each for a connection the real sshd applies it to: {}",
            blocks.len(),
            summary.join("; ")
        ),
    );
    Ok((blocks.len(), weak))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_real_sshd_texts() {
        // RHEL 8 (no -V: the usage text), Ubuntu 20.04, Debian 11 (both no -V), Debian 12
        // (-V, and the usage text of its -h), Debian 13, forky.
        let cases = [
            ("unknown option -- V\nOpenSSH_8.0p1, OpenSSL 1.1.1k  FIPS 25 Mar 2021\nusage: sshd [-46DdeiqTt] [-C connection_spec] [-c host_cert_file]\n", (8, 0)),
            ("unknown option -- V\nOpenSSH_8.2p1 Ubuntu-4ubuntu0.13, OpenSSL 1.1.1f  31 Mar 2020\nusage: sshd [-46DdeiqTt] [-C connection_spec]\n", (8, 2)),
            ("unknown option -- V\nOpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023\nusage: sshd [-46DdeiqTt]\n", (8, 4)),
            ("OpenSSH_9.2, OpenSSL 3.0.22 25 Aug 2026\n", (9, 2)),
            ("option requires an argument -- h\nOpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\nusage: sshd [-46DdeiqTtV]\n", (9, 2)),
            ("OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1 1 Jul 2025\n", (10, 0)),
            ("OpenSSH_10.0, OpenSSL 3.5.1 1 Jul 2025\n", (10, 0)),
            ("OpenSSH_10.6p1 Debian-1, OpenSSL 3.5.4 30 Sep 2025\n", (10, 6)),
        ];
        for (text, v) in cases {
            assert_eq!(parse_version(text), Some(v), "{text}");
        }
        assert!(parse_version("OpenSSH_8.4p1").unwrap() < KBD_ALONE);
        assert!(parse_version("OpenSSH_8.0p1").unwrap() < KBD_ALONE);
        assert!(parse_version("OpenSSH_10.0p1").unwrap() >= KBD_ALONE);
        assert!(parse_version("OpenSSH_8.7p1").unwrap() >= KBD_ALONE);
        assert_eq!(parse_version("dropbear v2022.83"), None);
        assert_eq!(parse_version("OpenSSL 1.1.1k"), None);
    }

    #[test]
    fn words_and_patterns() {
        assert_eq!(
            words("Match User alice,bob Address 10.0.0.0/8 # comment"),
            ["Match", "User", "alice,bob", "Address", "10.0.0.0/8"]
        );
        assert_eq!(
            words("  Include=/etc/ssh/sshd_config.d/*.conf"),
            ["Include", "/etc/ssh/sshd_config.d/*.conf"]
        );
        assert_eq!(words("Match User \"a b\""), ["Match", "User", "a b"]);
        assert!(wildmatch("adm*", "admin"));
        assert!(wildmatch("*.conf", "10-x.conf"));
        assert!(!wildmatch("*.conf", "x.conf.bak"));
        assert!(wildmatch("a?c", "abc"));
        assert_eq!(addresses("10.0.0.0/8")[0], "10.0.0.1");
        assert_eq!(addresses("192.0.2.7/32"), ["192.0.2.7"]);
        assert_eq!(addresses("192.168.*")[0], "192.168.1.1");
        assert_eq!(addresses("2001:db8::/32")[0], "2001:db8::1");
    }
}
