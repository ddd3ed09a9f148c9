//! `passbyme check --sshd` and `--sudo` against the real `sshd -T`, `cvtsudoers` and PAM
//! stacks in private directories (the host's /etc is never read for them), the exit codes
//! and `--json`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{Emulator, TempDir, BIN};

/// Debian's common-auth: pam_unix, then pam_deny unless it succeeded, then pam_permit.
pub(crate) const COMMON_AUTH: &str = "auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\n";
/// The push as in the shipped sshd sample.
pub(crate) const PUSH_SSHD: &str = "auth [success=done ignore=ignore default=die] pam_passbyme.so prompt=enter\nauth requisite pam_deny.so\n";
/// The push as in the shipped sudo sample.
pub(crate) const PUSH_SUDO: &str =
    "auth [success=ok ignore=ignore default=die] pam_passbyme.so prompt=info\n";
/// sshd_config's first line: a host key that does not exist, as in a candidate file
/// written for another host (the check supplies a throwaway one).
pub(crate) const HOSTKEY: &str = "HostKey /nonexistent/ssh_host_ed25519_key\n";
pub(crate) const GOOD_SSHD: &str = "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n";

/// A private /etc-like tree: a PAM directory (the shipped samples plus the Debian files they
/// include), sudoers, sshd_config candidates, and a valid configuration (an emulator's).
pub(crate) struct Host {
    pub(crate) dir: TempDir,
    pub(crate) emu: Emulator,
    /// Shell commands run in the check's mount namespace before it starts (e.g. bind
    /// mounts of a private passwd), empty by default.
    pub(crate) prelude: String,
    /// The module's configuration, if not the emulator's.
    pub(crate) config: Option<PathBuf>,
}

impl Host {
    pub(crate) fn new() -> Host {
        let dir = TempDir::new("check");
        std::fs::create_dir(dir.path().join("pam.d")).unwrap();
        std::fs::create_dir(dir.path().join("sudoers.d")).unwrap();
        let h = Host {
            dir,
            emu: Emulator::start(),
            prelude: String::new(),
            config: None,
        };
        for f in [
            "common-account",
            "common-session",
            "common-password",
            "common-session-noninteractive",
        ] {
            h.pam(f, "");
        }
        h.pam("common-auth", COMMON_AUTH);
        for f in ["sshd", "sudo", "sudo-i"] {
            let sample =
                std::fs::read_to_string(format!("{}/pam.d/{f}", env!("CARGO_MANIFEST_DIR")))
                    .unwrap();
            h.pam(f, &sample);
        }
        h.sudoers("Defaults env_reset\n");
        h
    }

    /// A PAM service file; `pam_passbyme.so` in `text` names the built module (libpam
    /// itself runs the stack for the verdict, and a module that is not there is missing).
    pub(crate) fn pam(&self, service: &str, text: &str) {
        let module = crate::util::pam::module();
        let text = text.replace(" pam_passbyme.so", &format!(" {}", module.display()));
        self.dir.write(&format!("pam.d/{service}"), &text, 0o644);
    }

    /// The main sudoers file (including sudoers.d) and `extra` as a file in sudoers.d.
    pub(crate) fn sudoers(&self, extra: &str) {
        self.dir.write(
            "sudoers",
            &format!(
                "root ALL=(ALL:ALL) ALL\n@includedir {}/sudoers.d\n",
                self.dir.path().display()
            ),
            0o440,
        );
        self.dir.write("sudoers.d/passbyme", extra, 0o440);
    }

    /// `text` as a candidate sshd_config named `name`, as it is (host keys and all).
    pub(crate) fn sshd_config_raw(&self, name: &str, text: &str) -> String {
        let p = self.dir.write(name, text, 0o644);
        p.to_str().unwrap().to_owned()
    }

    pub(crate) fn sshd_config(&self, text: &str) -> PathBuf {
        self.dir
            .write("sshd_config", &format!("{HOSTKEY}{text}"), 0o644)
    }

    /// `passbyme --config … check --pam-dir … --sudoers … ARGS` in a mount namespace whose
    /// /run has the /run/sshd that `sshd -T` insists on (the host's /run is not touched).
    pub(crate) fn run(&self, args: &[&str]) -> (i32, String, String) {
        let pam = self.dir.path().join("pam.d");
        let sudoers = self.dir.path().join("sudoers");
        let config = self
            .config
            .clone()
            .unwrap_or_else(|| self.emu.config_path());
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "{}mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec \"$0\" \"$@\"",
                self.prelude
            ))
            .arg(BIN)
            .args(["--config", config.to_str().unwrap(), "check", "--pam-dir"])
            .arg(&pam)
            .arg("--sudoers")
            .arg(&sudoers)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs ARGS as text and as --json and asserts both: the exit code, the finding `id`
    /// at the level the code means with `want` in its message, the plugin-style first line
    /// (what Nagios and Icinga show),
    /// and that the JSON document holds exactly the findings the text shows.
    pub(crate) fn expect(
        &self,
        what: &str,
        args: &[&str],
        code: i32,
        id: &str,
        want: &str,
    ) -> Value {
        let (c, out, err) = self.run(args);
        assert_eq!(c, code, "{what}: exit code\n{out}{err}");
        let level = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][code as usize];
        let first = out.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("PASSBYME {level} - ")),
            "{what}: first line {first:?}"
        );
        assert!(out.contains(want), "{what}: want {want:?} in\n{out}");
        let args = [args, &["--json"]].concat();
        let (c, json, err) = self.run(&args);
        assert_eq!(c, code, "{what} --json: exit code\n{json}{err}");
        let v: Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{what}: {e}: {json}"));
        assert_eq!(v["status"], level, "{what}");
        assert_eq!(v["exit_code"], code, "{what}");
        assert_eq!(v["summary"].as_str().unwrap(), first, "{what}");
        assert_eq!(
            out.matches("PASSBYME ").count(),
            1,
            "{what}: one summary line\n{out}"
        );
        let findings = v["findings"].as_array().unwrap();
        assert!(
            findings.iter().any(|f| f["id"] == id
                && f["level"] == level
                && f["message"].as_str().unwrap().contains(want)),
            "{what}: no {level} finding {id} with {want:?} in {json}"
        );
        let tag = |l: &str| match l {
            "OK" => "ok  ",
            "WARNING" => "WARN",
            "CRITICAL" => "FAIL",
            _ => "UNKN",
        };
        let text_findings = out
            .lines()
            .filter(|l| {
                ["ok  ", "WARN", "FAIL", "UNKN"]
                    .iter()
                    .any(|t| l.starts_with(t))
            })
            .count();
        assert_eq!(findings.len(), text_findings, "{what}: {json}\n{out}");
        for f in findings {
            let m = f["message"].as_str().unwrap();
            let line = match (f["file"].as_str(), f["line"].as_u64()) {
                (Some(file), Some(n)) => format!(
                    "{}  {file} line {n}: {m}",
                    tag(f["level"].as_str().unwrap())
                ),
                _ => format!("{}  {m}", tag(f["level"].as_str().unwrap())),
            };
            assert!(
                out.lines().any(|l| l == line),
                "{what}: {line:?} not in\n{out}"
            );
        }
        v
    }

    pub(crate) fn expect_sshd(
        &self,
        what: &str,
        text: &str,
        extra: &[&str],
        code: i32,
        id: &str,
        want: &str,
    ) -> Value {
        let f = self.sshd_config(text);
        let args = [&["--sshd-config", f.to_str().unwrap()], extra].concat();
        self.expect(what, &args, code, id, want)
    }
}

#[test]
fn sshd_good_setup_passes() {
    let h = Host::new();
    // The shipped pam.d/sshd sample with the documented sshd_config, through real sshd -T.
    let v = h.expect_sshd("good", GOOD_SSHD, &[], 0, "sshd-ok", "UsePAM yes, KbdInteractiveAuthentication yes, AuthenticationMethods publickey,keyboard-interactive, LoginGraceTime 120");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .filter(|id| id.starts_with("sshd-") || id.starts_with("pam-"))
        .collect();
    assert_eq!(ids, ["pam-push-required", "sshd-prompt", "sshd-ok"]);
    // The configuration is checked too, in the same run.
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "config-valid"),
        "{v}"
    );
    // LoginGraceTime 0 (unlimited) and one second above the timeout are fine.
    h.expect_sshd(
        "grace 0",
        &format!("{GOOD_SSHD}LoginGraceTime 0\n"),
        &[],
        0,
        "sshd-ok",
        "LoginGraceTime 0",
    );
    h.expect_sshd(
        "grace 61",
        &format!("{GOOD_SSHD}LoginGraceTime 61\n"),
        &[],
        0,
        "sshd-ok",
        "LoginGraceTime 61",
    );
    // keyboard-interactive alone is fine when PAM asks the password before the push.
    h.pam("sshd", &format!("@include common-auth\n{PUSH_SSHD}"));
    h.expect_sshd(
        "password then push",
        "UsePAM yes\nAuthenticationMethods keyboard-interactive\n",
        &[],
        0,
        "sshd-ok",
        "AuthenticationMethods keyboard-interactive",
    );
}

#[test]
fn sshd_broken_configurations_are_critical() {
    let h = Host::new();
    let cases = [
        ("UsePAM no", "UsePAM no\nAuthenticationMethods publickey,keyboard-interactive\n", "sshd-usepam-off", "UsePAM no: sshd never runs the PAM stack"),
        ("kbd-interactive off", "UsePAM yes\nKbdInteractiveAuthentication no\n", "sshd-kbdinteractive-off", "KbdInteractiveAuthentication no: the push runs only through keyboard-interactive"),
        // sshd itself refuses this one (measured: OpenSSH 9.2): it would not start.
        ("kbd-interactive off but required", "UsePAM yes\nKbdInteractiveAuthentication no\nAuthenticationMethods publickey,keyboard-interactive\n", "sshd-config-rejected", "sshd refuses this configuration (it would not start): Disabled method \"keyboard-interactive\" in AuthenticationMethods list"),
        ("an option sshd rejects", "UsePAM maybe\n", "sshd-config-rejected", "unsupported option \"maybe\""),
        ("AuthenticationMethods absent", "UsePAM yes\n", "sshd-method-without-push", "AuthenticationMethods any (each enabled method alone logs in): 'publickey' logs in without keyboard-interactive"),
        ("AuthenticationMethods any", "UsePAM yes\nPasswordAuthentication no\nAuthenticationMethods any\n", "sshd-method-without-push", "'publickey' logs in without keyboard-interactive"),
        ("publickey alone", "UsePAM yes\nAuthenticationMethods publickey\n", "sshd-method-without-push", "AuthenticationMethods publickey: 'publickey' logs in without keyboard-interactive"),
        ("a second list without the push", "UsePAM yes\nHostbasedAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive hostbased\n", "sshd-method-without-push", "'hostbased' logs in without keyboard-interactive"),
        // With UsePAM, sshd's password method runs the PAM stack (with no pam_unix there,
        // any password passes): the push alone.
        ("password method, push alone", "UsePAM yes\nAuthenticationMethods password\n", "sshd-push-alone", "'password' has no first factor"),
        ("push alone", "UsePAM yes\nAuthenticationMethods keyboard-interactive\n", "sshd-push-alone", "the push alone lets people in"),
        ("LoginGraceTime = timeout", &format!("{GOOD_SSHD}LoginGraceTime 60\n"), "sshd-login-grace-time", "LoginGraceTime 60s is not above login.timeout (60s)"),
        ("LoginGraceTime below timeout", &format!("{GOOD_SSHD}LoginGraceTime 30\n"), "sshd-login-grace-time", "LoginGraceTime 30s is not above login.timeout (60s)"),
    ];
    for (what, text, id, want) in cases {
        h.expect_sshd(what, text, &[], 2, id, want);
    }
    // A Match block counts only for the connection it matches (sshd -T -C).
    let matched = format!("{GOOD_SSHD}Match User alice\n    AuthenticationMethods publickey\n");
    h.expect_sshd(
        "Match, other user",
        &matched,
        &["--sshd-match", "user=bob,host=h.example,addr=192.0.2.7"],
        0,
        "sshd-ok",
        "publickey,keyboard-interactive",
    );
    h.expect_sshd(
        "Match alice",
        &matched,
        &["--sshd-match", "user=alice,host=h.example,addr=192.0.2.7"],
        2,
        "sshd-method-without-push",
        "'publickey' logs in without keyboard-interactive",
    );
}

#[test]
fn sshd_pam_stack_mistakes() {
    let h = Host::new();
    let pam_cases = [
        ("module missing", "@include common-auth\n".to_owned(), 2, "pam-module-missing", "pam_passbyme.so is not in the auth stack of sshd".to_owned()),
        ("module_unknown passes", format!("@include common-auth\n{}", PUSH_SUDO.replacen("ignore=ignore", "ignore=ignore module_unknown=ignore", 1)), 2, "pam-module-unloadable-passes", "if pam_passbyme.so cannot be loaded (removed, or broken by an upgrade) the auth stack of sshd succeeds without the push when pam_unix returns SUCCESS".to_owned()),
        ("-auth optional", format!("@include common-auth\n{}", PUSH_SUDO.replacen("auth [success=ok ignore=ignore default=die]", "-auth optional", 1)), 2, "pam-module-unloadable-passes", "let no control pass module_unknown, libpam's code for a module it cannot load".to_owned()),
        ("optional after the password", "@include common-auth\nauth optional pam_passbyme.so\n".to_owned(), 2, "pam-push-not-required", "the auth stack of sshd still succeeds when pam_passbyme fails (MAXTRIES) when pam_unix returns SUCCESS".to_owned()),
        ("sufficient before the password", "auth sufficient pam_passbyme.so\n@include common-auth\n".to_owned(), 2, "pam-push-not-required", "still succeeds when pam_passbyme fails".to_owned()),
        ("required then permit-on-default", "auth [success=ok default=ignore] pam_passbyme.so\nauth required pam_permit.so\n".to_owned(), 2, "pam-push-not-required", "still succeeds when pam_passbyme fails (MAXTRIES) when pam_permit returns SUCCESS".to_owned()),
        ("unreachable falls through to nothing", "auth [success=done authinfo_unavail=ignore default=die] pam_passbyme.so\nauth required pam_permit.so\n".to_owned(), 2, "pam-unreachable-falls-through", "when the service is unreachable (AUTHINFO_UNAVAIL) the auth stack of sshd succeeds with no other second factor".to_owned()),
        ("never succeeds", format!("auth requisite pam_deny.so\n{PUSH_SSHD}"), 2, "pam-never-succeeds", "fails even when the push is approved: every login is refused".to_owned()),
        ("module file missing", "auth required /nonexistent/security/pam_passbyme.so\n".to_owned(), 2, "pam-module-file-missing", "/nonexistent/security/pam_passbyme.so is named here but /nonexistent/security/pam_passbyme.so does not exist".to_owned()),
        ("jumped over", format!("auth [success=2 default=ignore] pam_unix.so\n{PUSH_SSHD}auth required pam_permit.so\n"), 2, "pam-push-skipped", "succeeds without running pam_passbyme when pam_unix returns SUCCESS".to_owned()),
        ("user=invoker under sshd", PUSH_SSHD.replacen("prompt=enter", "prompt=enter user=invoker", 1), 2, "pam-invoker-outside-su", "user=invoker in the auth stack of sshd: it sends the push to the user who runs the program".to_owned()),
        ("an argument twice: the module reads the last", PUSH_SSHD.replacen("prompt=enter", "user=invoker prompt=enter user=bogus", 1), 2, "pam-module-arguments", "argument 'user=bogus': the only value is invoker".to_owned()),
        ("password as third factor", format!("@include common-auth\n{PUSH_SSHD}"), 1, "sshd-password-third-factor", "the password is a third factor. If that is meant, run the check with --third-factor".to_owned()),
        ("audit mode on the line", PUSH_SSHD.replacen("prompt=enter", "prompt=enter mode=audit", 1), 2, "pam-push-audit", "pam_passbyme runs in audit mode in the auth stack of sshd (".to_owned()),
        ("audit mode in front of the password", "auth optional pam_passbyme.so mode=audit\n@include common-auth\n".to_owned(), 2, "pam-push-audit", "it sends no push and returns PAM_IGNORE on every path".to_owned()),
    ];
    for (what, stack, code, id, want) in &pam_cases {
        h.pam("sshd", stack);
        h.expect_sshd(what, GOOD_SSHD, &[], *code, id, want);
    }
    // "-auth" only keeps a missing module out of the log: libpam still fails its line
    // (PAM_MODULE_UNKNOWN), so with default=die a missing module refuses, as with "auth".
    h.pam("sshd", &PUSH_SSHD.replacen("auth", "-auth", 1));
    h.expect_sshd(
        "-auth with default=die",
        GOOD_SSHD,
        &[],
        0,
        "pam-push-required",
        "sshd: libpam runs pam_passbyme on every path that succeeds",
    );
    // With UsePAM, password runs the stack through sshd's password conversation: a warning.
    h.pam("sshd", PUSH_SSHD);
    h.expect_sshd(
        "publickey,password",
        "UsePAM yes\nAuthenticationMethods publickey,password\n",
        &[],
        1,
        "sshd-password-method",
        "in 'publickey,password' the password method runs the sshd PAM stack, push included",
    );
    // Meant three factors: no warning.
    h.pam("sshd", &format!("@include common-auth\n{PUSH_SSHD}"));
    h.expect_sshd(
        "third factor meant",
        GOOD_SSHD,
        &["--third-factor"],
        0,
        "sshd-ok",
        "every login needs the push",
    );
    // A TOTP module after an unreachable service is a second factor: fine.
    h.pam("sshd", "auth [success=done authinfo_unavail=ignore default=die] pam_passbyme.so\nauth [success=done default=die] pam_google_authenticator.so\nauth requisite pam_deny.so\n");
    h.expect_sshd(
        "TOTP fallback",
        GOOD_SSHD,
        &[],
        0,
        "pam-push-required",
        "sshd: libpam runs pam_passbyme on every path that succeeds, and only its approval lets them succeed",
    );
    // substack and include are followed: the push inside a substack is found and judged.
    h.pam("pbm-auth", PUSH_SSHD);
    h.pam("sshd", "auth substack pbm-auth\n");
    h.expect_sshd(
        "substack",
        GOOD_SSHD,
        &[],
        0,
        "pam-push-required",
        "sshd: libpam runs pam_passbyme on every path that succeeds",
    );
    h.pam("sshd", "auth include pbm-auth\n");
    let v = h.expect_sshd(
        "include",
        GOOD_SSHD,
        &[],
        0,
        "pam-push-required",
        "sshd: libpam runs pam_passbyme on every path that succeeds",
    );
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "pam-push-required")
        .unwrap();
    assert!(
        f["file"].as_str().unwrap().ends_with("/pam.d/pbm-auth"),
        "{f}"
    );
    assert_eq!(f["line"], 1);
}

#[test]
fn sudo_checks() {
    let h = Host::new();
    // The shipped pam.d/sudo sample: the password, then the push, prompt=info.
    h.expect(
        "sudo sample",
        &["--sudo"],
        0,
        "sudo-password-first",
        "sudo: the password first, then the push",
    );
    // The push before the password.
    h.pam("sudo", &format!("{PUSH_SUDO}@include common-auth\n"));
    h.expect(
        "push first",
        &["--sudo"],
        1,
        "sudo-push-before-password",
        "the sudo stack sends the push before the password is checked",
    );
    // No password at all: the push alone grants root, unless meant.
    h.pam("sudo", PUSH_SUDO);
    h.expect(
        "push alone",
        &["--sudo"],
        2,
        "sudo-push-alone",
        "the push alone grants root",
    );
    h.expect(
        "push alone meant",
        &["--sudo", "--push-only-sudo"],
        0,
        "sudo-push-only",
        "push-only sudo, as meant",
    );
    // prompt=enter under sudo.
    h.pam(
        "sudo",
        &format!(
            "@include common-auth\n{}",
            PUSH_SUDO.replace("prompt=info", "prompt=enter")
        ),
    );
    h.expect(
        "prompt=enter",
        &["--sudo"],
        1,
        "sudo-prompt-enter",
        "prompt=enter under sudo",
    );
    // Without prompt= the configuration's login.prompt counts (default: enter).
    h.pam(
        "sudo",
        &format!(
            "@include common-auth\n{}",
            PUSH_SUDO.replace(" prompt=info", "")
        ),
    );
    h.expect(
        "prompt from config",
        &["--sudo"],
        1,
        "sudo-prompt-enter",
        "prompt=enter under sudo",
    );
    // noninteractive_auth (in an included sudoers file) with push-only sudo: sudo -n pushes.
    h.sudoers("Defaults noninteractive_auth\n");
    h.pam("sudo", PUSH_SUDO);
    h.expect("sudo -n pushes", &["--sudo", "--push-only-sudo"], 1, "sudo-noninteractive-push", "`sudo -n` runs the PAM stack and, with no password before it, sends a push with no terminal");
    // ... and with the password first it is harmless.
    h.pam("sudo", &format!("@include common-auth\n{PUSH_SUDO}"));
    h.expect(
        "sudo -n, password first",
        &["--sudo"],
        0,
        "sudo-noninteractive",
        "the password comes first: `sudo -n` is refused at the password prompt",
    );
    // Module missing from sudo.
    h.pam("sudo", "@include common-auth\n");
    h.expect(
        "sudo without the module",
        &["--sudo"],
        2,
        "pam-module-missing",
        "pam_passbyme.so is not in the auth stack of sudo",
    );
}

/// A credentials file whose certificate expires in 10 days, in the vendor's shape
/// (certificate + encrypted PKCS#8 key), and its password file.
fn expiring_credentials(dir: &TempDir) -> (PathBuf, PathBuf) {
    let key = dir.path().join("k.pem");
    let cert = dir.path().join("c.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-days",
            "10",
            "-nodes",
            "-subj",
            "/CN=expiring",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let enc = Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:secret",
        ])
        .arg("-in")
        .arg(&key)
        .output()
        .unwrap();
    assert!(enc.status.success());
    let pem = format!(
        "{}{}",
        std::fs::read_to_string(&cert).unwrap(),
        String::from_utf8(enc.stdout).unwrap()
    );
    (
        dir.write("expiring.pem", &pem, 0o600),
        dir.write("expiring.password", "secret\n", 0o600),
    )
}

#[test]
fn exit_codes_follow_the_plugin_convention() {
    let h = Host::new();
    // 0: covered above; 2: covered above. 1: a client certificate expiring within 30 days.
    let (creds, pw) = expiring_credentials(&h.dir);
    let d = h.emu.dir.path().display();
    let text = format!(
        "[service]\naddress = \"{}\"\ncredentials = \"{}\"\npassword_file = \"{}\"\nca_bundle = \"{d}/ca.pem\"\n[users]\nroot = \"r@x\"\n",
        h.emu.addr,
        creds.display(),
        pw.display()
    );
    let cfg = h.dir.write("expiring.toml", &text, 0o600);
    let (code, out, err) = crate::util::passbyme(&["--config", cfg.to_str().unwrap(), "check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("WARN  client certificate expires on"), "{out}");
    assert!(
        out.contains("(in 9 days): renew it") || out.contains("(in 10 days): renew it"),
        "{out}"
    );
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with("PASSBYME WARNING - 1 warning: client certificate expires on"),
        "{out}"
    );
    let (code, json, _) =
        crate::util::passbyme(&["--config", cfg.to_str().unwrap(), "check", "--json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "certificate-expiring" && f["level"] == "WARNING"),
        "{json}"
    );
    // 2 with --connect when the service is unreachable.
    let gone = text.replace(&h.emu.addr, "127.0.0.1:9");
    let cfg = h.dir.write("gone.toml", &gone, 0o600);
    let (code, out, _) =
        crate::util::passbyme(&["--config", cfg.to_str().unwrap(), "check", "--connect"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with("PASSBYME CRITICAL - 1 critical, 1 warning: https://127.0.0.1:9"),
        "{out}"
    );
    // 3: the check cannot run.
    let missing = h.dir.path().join("no-such-sshd_config");
    h.expect(
        "sshd_config missing",
        &["--sshd-config", missing.to_str().unwrap()],
        3,
        "sshd-config-unreadable",
        "no-such-sshd_config: No such file or directory",
    );
    h.expect(
        "no sshd",
        &["--sshd", "--sshd-binary", "/nonexistent/sshd"],
        3,
        "sshd-missing",
        "cannot run sshd -T: /nonexistent/sshd: No such file or directory",
    );
    h.pam("sshd", "auth [success=done default=die pam_passbyme.so\n");
    let good = h.sshd_config(GOOD_SSHD);
    // libpam fails a line it cannot parse: nobody logs in.
    h.expect(
        "bad pam line",
        &["--sshd-config", good.to_str().unwrap()],
        2,
        "pam-never-succeeds",
        "the auth stack of sshd fails even when the push is approved: every login is refused",
    );
    // Too many paths to try every one: UNKNOWN, not a verdict on part of them.
    h.pam(
        "sudo",
        &format!("{}{PUSH_SUDO}", "auth optional pam_env.so\n".repeat(12)),
    );
    h.expect(
        "stack too large",
        &["--sudo"],
        3,
        "pam-not-run",
        "PAM service sudo: not judged: more than 30000 paths through the stack: not judged on part of them",
    );
    std::fs::remove_file(h.dir.path().join("pam.d/sudo")).unwrap();
    h.expect(
        "no sudo PAM service",
        &["--sudo"],
        3,
        "pam-unreadable",
        "pam.d/sudo: No such file or directory",
    );
    // Usage errors of check are UNKNOWN too; other commands keep clap's 2.
    let (code, _, err) = crate::util::passbyme(&["check", "--no-such-flag"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("unexpected argument '--no-such-flag'"),
        "{err}"
    );
    let (code, _, _) =
        crate::util::passbyme(&["--config", "/x.toml", "check", "--user", "a", "--sshd"]);
    assert_eq!(code, 3);
    let (code, _, _) = crate::util::passbyme(&["send", "--no-such-flag"]);
    assert_eq!(code, 2);
}

/// README's "first hour", step 5, on Debian's own sshd_config (the package's pristine copy):
/// as shipped it is CRITICAL, the three lines appended change nothing sshd accepts (its first
/// value wins, and Debian says `KbdInteractiveAuthentication no` further down), prepended they
/// pass with the shipped pam.d/sshd.
#[test]
fn the_first_hour_holds_for_debians_sshd_config() {
    let h = Host::new();
    let debian = std::fs::read_to_string("/usr/share/openssh/sshd_config")
        .expect("openssh-server's pristine sshd_config (tests/run.sh installs openssh-server)");
    assert!(
        debian.contains("\nKbdInteractiveAuthentication no\n"),
        "{debian}"
    );
    let shipped = h.sshd_config_raw("debian", &debian);
    h.expect(
        "as shipped",
        &["--sshd-config", &shipped],
        2,
        "sshd-kbdinteractive-off",
        "KbdInteractiveAuthentication no",
    );
    let appended = h.sshd_config_raw("appended", &format!("{debian}{GOOD_SSHD}"));
    h.expect(
        "appended",
        &["--sshd-config", &appended],
        2,
        "sshd-config-rejected",
        "Disabled method \"keyboard-interactive\"",
    );
    let prepended = h.sshd_config_raw("prepended", &format!("{GOOD_SSHD}{debian}"));
    h.expect(
        "prepended",
        &["--sshd-config", &prepended],
        0,
        "sshd-ok",
        "AuthenticationMethods publickey,keyboard-interactive",
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(
            "{ printf 'UsePAM yes\\nKbdInteractiveAuthentication yes\\nAuthenticationMethods publickey,keyboard-interactive\\n'\n  cat /etc/ssh/sshd_config; } > \"$d/sshd_config\""
        ),
        "README's first hour no longer prepends the lines this test checks"
    );
}
