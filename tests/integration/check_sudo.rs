//! `passbyme check --sudo` and `--su`: every PAM service the program uses is judged (the
//! names from the real `sudo -V`, or from a fake sudo printing other names), one without
//! the push beside one with it is CRITICAL; and sudoers read by the real `cvtsudoers`: who
//! runs what without authenticating, and the credential cache.

use serde_json::Value;

use crate::check::{Host, COMMON_AUTH, PUSH_SUDO};

/// Debian 12's /etc/pam.d/sudo-i as the sudo package ships it: common-auth only.
const DEBIAN_SUDO_I: &str = "#%PAM-1.0\n\n# Set up user limits from /etc/security/limits.conf.\nsession    required   pam_limits.so\n\n@include common-auth\n@include common-account\n@include common-session\n";

/// The findings with this id.
fn with_id<'a>(v: &'a Value, id: &str) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

/// The message of the one finding `id` of `check ARGS --json`.
fn message(h: &Host, args: &[&str], id: &str) -> String {
    let (_, json, err) = h.run(&[args, &["--json"]].concat());
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}{err}"));
    let f = with_id(&v, id);
    assert_eq!(f.len(), 1, "{id}: {v:#}");
    f[0]["message"].as_str().unwrap().to_owned()
}

/// A fake sudo: `-V` prints `text` (what sudo 1.9 prints as root, or anything else).
fn fake_sudo(h: &Host, name: &str, text: &str) -> String {
    let p = h.dir.write(
        name,
        &format!("#!/bin/sh\n[ \"$1\" = -V ] || exit 1\ncat <<'EOF'\n{text}EOF\n"),
        0o755,
    );
    p.to_str().unwrap().to_owned()
}

#[test]
fn the_shipped_sudo_samples_pass_and_both_services_are_judged() {
    let h = Host::new();
    let v = h.expect(
        "sudo and sudo-i samples",
        &["--sudo"],
        0,
        "sudo-services",
        "PAM services judged: sudo (`sudo`), sudo-i (`sudo -i`) (as `/usr/bin/sudo -V` says)",
    );
    // Each service's stack is judged on its own: password first, then the push, in both.
    let first: Vec<&str> = with_id(&v, "sudo-password-first")
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        [
            "sudo: the password first, then the push",
            "sudo-i: the password first, then the push"
        ],
        "{v:#}"
    );
    let files: Vec<&str> = with_id(&v, "pam-push-required")
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert!(
        files.len() == 2
            && files[0].ends_with("/pam.d/sudo")
            && files[1].ends_with("/pam.d/sudo-i"),
        "{files:?}"
    );
    assert!(with_id(&v, "sudo-service-without-push").is_empty(), "{v:#}");
}

#[test]
fn debians_stock_sudo_i_beside_the_sudo_sample_is_critical() {
    let h = Host::new();
    h.pam("sudo-i", DEBIAN_SUDO_I);
    let v = h.expect(
        "Debian's sudo-i",
        &["--sudo"],
        2,
        "sudo-service-without-push",
        "`sudo -i` authenticates through the PAM service sudo-i, which has no pam_passbyme while sudo has it: `sudo -i` lets in on the password alone, with no push. Debian's stock sudo-i includes only common-auth: add the pam_passbyme line to it as in the sample /usr/share/doc/libpam-passbyme/examples/pam.d/sudo-i",
    );
    let f = with_id(&v, "sudo-service-without-push");
    assert_eq!(f.len(), 1, "{v:#}");
    assert!(
        f[0]["file"].as_str().unwrap().ends_with("/pam.d/sudo-i"),
        "{f:?}"
    );
    // sudo itself is still fine: only sudo-i is the way around.
    assert_eq!(
        with_id(&v, "sudo-password-first")[0]["message"],
        "sudo: the password first, then the push"
    );
    // No sudo-i file at all: libpam reads `other` (Debian's: common-auth), the same bypass.
    std::fs::remove_file(h.dir.path().join("pam.d/sudo-i")).unwrap();
    h.pam("other", "@include common-auth\n@include common-account\n");
    h.expect(
        "no sudo-i, Debian's other",
        &["--sudo"],
        2,
        "sudo-service-without-push",
        "`sudo -i` authenticates through the PAM service sudo-i; it has no file, so libpam reads 'other', which has no pam_passbyme while sudo has it",
    );
    // ... and an `other` with the push passes (what libpam would run).
    h.pam("other", &format!("{COMMON_AUTH}{PUSH_SUDO}"));
    h.expect(
        "no sudo-i, other with the push",
        &["--sudo"],
        0,
        "sudo-services",
        "sudo-i (`sudo -i`; it has no file, so libpam reads 'other')",
    );
}

#[test]
fn one_service_for_sudo_and_sudo_i_is_judged_once_naming_both() {
    // Debian 11's sudo 1.9.5p2 (`sudo -V` as root, trimmed): `sudo -i` runs through sudo.
    let h = Host::new();
    let sudo = fake_sudo(
        &h,
        "sudo-1.9.5",
        "Sudo version 1.9.5p2\nPAM service name to use: sudo\nPAM service name to use for login shells: sudo\nAuthentication timestamp timeout: 15.0 minutes\n",
    );
    let v = h.expect(
        "sudo 1.9.5",
        &["--sudo", "--sudo-binary", &sudo],
        0,
        "sudo-services",
        "PAM services judged: sudo (`sudo`, `sudo -i`)",
    );
    assert_eq!(
        with_id(&v, "sudo-services")[0]["message"],
        format!("PAM services judged: sudo (`sudo`, `sudo -i`) (as `{sudo} -V` says)")
    );
    assert!(with_id(&v, "sudo-service-without-push").is_empty());
}

#[test]
fn the_services_come_from_the_sudo_binary() {
    let h = Host::new();
    // A sudo whose login-shell service is another name: that one is judged.
    let sudo = fake_sudo(
        &h,
        "fake-sudo",
        "Sudo version 1.9.99\nPAM service name to use: sudo\nPAM service name to use for login shells: sudo-login\nAuthentication timestamp timeout: 7.5 minutes\n",
    );
    h.pam("sudo-login", DEBIAN_SUDO_I);
    let v = h.expect(
        "fake sudo names sudo-login",
        &["--sudo", "--sudo-binary", &sudo],
        2,
        "sudo-service-without-push",
        "`sudo -i` authenticates through the PAM service sudo-login, which has no pam_passbyme while sudo has it",
    );
    assert_eq!(
        with_id(&v, "sudo-services")[0]["message"],
        format!("PAM services judged: sudo (`sudo`), sudo-login (`sudo -i`) (as `{sudo} -V` says)")
    );
    // The credential cache's default is what this sudo says.
    assert_eq!(
        with_id(&v, "sudo-credential-cache")[0]["message"],
        format!("sudo's credential cache: timestamp_timeout=7.5 minutes (`{sudo} -V`): for that long after sudo authenticates, a later sudo by the same user on the same terminal (timestamp_type=tty) asks nothing, no password and no push; Defaults timestamp_timeout=0 makes every sudo ask")
    );
    h.pam(
        "sudo-login",
        &std::fs::read_to_string(h.dir.path().join("pam.d/sudo-i")).unwrap(),
    );
    h.expect(
        "sudo-login with the push",
        &["--sudo", "--sudo-binary", &sudo],
        0,
        "sudo-password-first",
        "sudo-login: the password first, then the push",
    );
    // A sudo that names no service (not root, or not sudo 1.9): sudo's defaults.
    let quiet = fake_sudo(&h, "quiet-sudo", "Sudo version 1.9.99\n");
    h.pam("sudo-i", DEBIAN_SUDO_I);
    h.expect(
        "sudo -V names none",
        &["--sudo", "--sudo-binary", &quiet],
        2,
        "sudo-service-without-push",
        "PAM service sudo-i, which has no pam_passbyme",
    );
    assert_eq!(
        message(&h, &["--sudo", "--sudo-binary", &quiet], "sudo-services"),
        format!("PAM services judged: sudo (`sudo`), sudo-i (`sudo -i`) (`{quiet} -V` names no PAM service (not run as root, or not sudo 1.9): sudo's defaults on Debian, sudo and sudo-i)"),
    );
    let v = h.expect(
        "no sudo at all",
        &["--sudo", "--sudo-binary", "/nonexistent/sudo"],
        2,
        "sudo-service-without-push",
        "PAM service sudo-i, which has no pam_passbyme",
    );
    assert_eq!(
        with_id(&v, "sudo-services")[0]["message"],
        "PAM services judged: sudo (`sudo`), sudo-i (`sudo -i`) (cannot run /nonexistent/sudo -V: No such file or directory (os error 2): sudo's defaults on Debian, sudo and sudo-i)",
    );
    // sudoers may name a service of its own for some users: judged too.
    h.pam(
        "sudo-i",
        &std::fs::read_to_string(h.dir.path().join("pam.d/sudo-login")).unwrap(),
    );
    h.pam("sudo-alice", DEBIAN_SUDO_I);
    h.sudoers("Defaults:alice pam_service=sudo-alice\n");
    h.expect(
        "sudoers pam_service",
        &["--sudo"],
        2,
        "sudo-service-without-push",
        "`sudo` under `Defaults:alice pam_service=sudo-alice` authenticates through the PAM service sudo-alice, which has no pam_passbyme while sudo and sudo-i have it",
    );
}

#[test]
fn sudoers_rules_without_authentication() {
    let h = Host::new();
    // None: every sudo runs the PAM stack.
    h.sudoers("Defaults env_reset\nalice ALL=(ALL:ALL) ALL\n");
    h.expect(
        "none",
        &["--sudo"],
        0,
        "sudoers-authenticate",
        "/sudoers: no NOPASSWD: rule, no !authenticate: every sudo runs the PAM stack",
    );
    // NOPASSWD: ALL: a root shell with no push.
    h.sudoers("alice ALL=(ALL:ALL) NOPASSWD: ALL\n");
    h.expect(
        "NOPASSWD: ALL",
        &["--sudo"],
        2,
        "sudoers-nopasswd-root",
        "/sudoers: `alice ALL=(ALL:ALL) NOPASSWD: ALL`: alice may run ALL commands as any user (ALL), root included with no authentication: a root shell with no password and no push (sudo never runs the PAM stack)",
    );
    // For a group, through an alias, with the runas default (root).
    h.sudoers("User_Alias OPS = bob, %ops\nOPS ALL = NOPASSWD: ALL, !/bin/sh\n");
    h.expect(
        "group NOPASSWD: ALL",
        &["--sudo"],
        2,
        "sudoers-nopasswd-root",
        "`bob, %ops ALL=NOPASSWD: ALL, !/bin/sh`: bob, %ops may run ALL commands as root (sudo's runas_default) with no authentication: a root shell",
    );
    // One command: WARNING naming it (the other rule asks).
    h.sudoers("alice ALL=(ALL) ALL\nalice ALL=(root) NOPASSWD: /usr/bin/apt update\n");
    let v = h.expect(
        "NOPASSWD: one command",
        &["--sudo"],
        1,
        "sudoers-nopasswd",
        "/sudoers: `alice ALL=(root) NOPASSWD: /usr/bin/apt update`: alice may run /usr/bin/apt update as root on every host with no authentication: no password, no push (sudo never runs the PAM stack)",
    );
    assert_eq!(with_id(&v, "sudoers-nopasswd").len(), 1, "{v:#}");
    // A shell is ALL in effect.
    h.sudoers("carol ALL=(root) NOPASSWD: /bin/bash\n");
    h.expect(
        "NOPASSWD: a shell",
        &["--sudo"],
        2,
        "sudoers-nopasswd-root",
        "carol may run /bin/bash (a shell) as root with no authentication",
    );
    // The monitoring rule README suggests (passbyme check, arguments written out): OK; the
    // same program with open arguments runs any program as root (--sudo-binary FILE).
    h.sudoers("nagios ALL=(root) NOPASSWD: /usr/bin/passbyme check --connect --sshd --sudo\n");
    h.expect(
        "monitoring rule",
        &["--sudo"],
        0,
        "sudoers-nopasswd-check",
        "`nagios ALL=(root) NOPASSWD: /usr/bin/passbyme check --connect --sshd --sudo`: nagios may run only `passbyme check` with fixed arguments as root with no authentication (a monitoring rule)",
    );
    for open in ["/usr/bin/passbyme", "/usr/bin/passbyme check *"] {
        h.sudoers(&format!("nagios ALL=(root) NOPASSWD: {open}\n"));
        h.expect(
            open,
            &["--sudo"],
            2,
            "sudoers-nopasswd-root",
            &format!("nagios may run {open} with any arguments (`passbyme check --sudo-binary FILE` runs FILE as root) as root with no authentication"),
        );
    }
    // Defaults:alice !authenticate: CRITICAL for alice.
    h.sudoers("Defaults:alice !authenticate\nalice ALL=(ALL) ALL\n");
    h.expect(
        "Defaults:alice !authenticate",
        &["--sudo"],
        2,
        "sudoers-no-authenticate",
        "/sudoers: `Defaults:alice !authenticate`: alice may run whatever sudoers grants them with no password and no push",
    );
    // Bound to the target user root: everyone's sudo to root (JSON spells it as Defaults:root).
    h.sudoers("Defaults>root !authenticate\n");
    h.expect(
        "Defaults>root !authenticate",
        &["--sudo"],
        2,
        "sudoers-no-authenticate",
        "`Defaults>root !authenticate`: whoever may run commands as root does so with no password and no push",
    );
    // Bound to one command: WARNING naming it.
    h.sudoers("Defaults!/usr/bin/less !authenticate\n");
    h.expect(
        "Defaults!/usr/bin/less !authenticate",
        &["--sudo"],
        1,
        "sudoers-no-authenticate",
        "`Defaults!/usr/bin/less !authenticate`: whoever may run /usr/bin/less runs it with no password and no push",
    );
    // Everyone.
    h.sudoers("Defaults !authenticate\n");
    h.expect(
        "Defaults !authenticate",
        &["--sudo"],
        2,
        "sudoers-no-authenticate",
        "`Defaults !authenticate`: every sudo rule runs with no password and no push",
    );
}

#[test]
fn sudos_credential_cache() {
    let h = Host::new();
    h.sudoers("Defaults timestamp_timeout=0\n");
    h.expect(
        "timestamp_timeout=0",
        &["--sudo"],
        0,
        "sudo-credential-cache",
        "/sudoers): every sudo asks (the password and the push)",
    );
    h.sudoers(
        "Defaults timestamp_timeout=5, timestamp_type=global\nDefaults:%ops timestamp_timeout=0\n",
    );
    h.expect(
        "timestamp_timeout=5, global",
        &["--sudo"],
        0,
        "sudo-credential-cache",
        "/sudoers): for that long after sudo authenticates, a later sudo by the same user in any of the user's sessions (timestamp_type=global) asks nothing, no password and no push; Defaults timestamp_timeout=0 makes every sudo ask; also Defaults:%ops timestamp_timeout=0",
    );
    h.sudoers("Defaults timestamp_timeout=-1\n");
    h.expect(
        "timestamp_timeout=-1",
        &["--sudo"],
        1,
        "sudo-credential-cache",
        "timestamp_timeout=-1 (",
    );
    // Without a value in sudoers: what sudo -V says (the real one: Debian's default or
    // the host's sudoers).
    h.sudoers("Defaults env_reset\n");
    h.expect(
        "from sudo -V",
        &["--sudo"],
        0,
        "sudo-credential-cache",
        " minutes (`/usr/bin/sudo -V`): for that long",
    );
}

#[test]
fn su_and_su_l_must_both_push() {
    let h = Host::new();
    // su with the push to the invoker; su-l as Debian's: "auth include su".
    h.pam(
        "su",
        &format!("{COMMON_AUTH}auth [success=ok ignore=ignore default=die] pam_passbyme.so user=invoker prompt=info\n"),
    );
    h.pam(
        "su-l",
        "#%PAM-1.0\nauth\t\tinclude\t\tsu\naccount\t\tinclude\t\tsu\n",
    );
    let v = h.expect(
        "su and Debian's su-l",
        &["--su"],
        0,
        "su-services",
        "PAM services judged: su (`su`), su-l (`su -`) (util-linux su: su-l for `su -` and `su -l`, su otherwise)",
    );
    assert_eq!(with_id(&v, "su-invoker").len(), 2, "{v:#}");
    assert_eq!(
        with_id(&v, "su-invoker")[1]["message"],
        "su-l: user=invoker: the push goes to the phone of the person who runs su"
    );
    // su-l on common-auth alone: `su -` is the way around.
    h.pam("su-l", "@include common-auth\n");
    h.expect(
        "su-l without the push",
        &["--su"],
        2,
        "su-service-without-push",
        "`su -` authenticates through the PAM service su-l, which has no pam_passbyme while su has it: `su -` lets in on the password alone, with no push",
    );
    // Without user=invoker the push goes to the target's phone.
    h.pam(
        "su",
        &format!("{COMMON_AUTH}auth [success=ok ignore=ignore default=die] pam_passbyme.so prompt=info\n"),
    );
    h.pam("su-l", "auth include su\n");
    h.expect(
        "no user=invoker",
        &["--su"],
        1,
        "su-not-invoker",
        "su: no user=invoker: the push goes to the phone of the user to become (root, usually), not of the person who runs su",
    );
}
