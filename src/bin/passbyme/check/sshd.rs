//! `check --sshd`: sshd's effective configuration (`sshd -T`) and its PAM service.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::stack::{check_stack, line_arg, module_config};
use super::{Args, Level, Report};

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

pub fn check_sshd(r: &mut Report, path: &Path, a: &Args) {
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
    }
    if fine {
        r.ok(
            "sshd-ok",
            format!("{what}: UsePAM yes, KbdInteractiveAuthentication yes, {shown}, LoginGraceTime {}: every login needs the push after a first factor", get("logingracetime")),
        );
    }
}
