//! `passbyme check --sshd` beyond the global configuration, with the real `sshd -T`: every
//! `Match` block evaluated for a connection the real sshd applies it to, the census of the
//! accounts (on a private passwd, group and shadow), an old sshd (8.4) that needs
//! ChallengeResponseAuthentication, and keyboard-interactive twice with the push alone.

use std::path::Path;

use serde_json::Value;

use crate::check::{Host, GOOD_SSHD, HOSTKEY, PUSH_SSHD};
use crate::util::{nss_group, TempDir};

/// A finding: (level, id, message, file, line).
type Found = (String, String, String, Option<String>, Option<u64>);

/// The findings of a `--json` run.
fn findings(json: &str) -> Vec<Found> {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["level"].as_str().unwrap().to_owned(),
                f["id"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
                f["file"].as_str().map(str::to_owned),
                f["line"].as_u64(),
            )
        })
        .collect()
}

/// Runs ARGS with --json and returns the exit code and the findings with `id`.
fn with_id(h: &Host, args: &[&str], id: &str) -> (i32, Vec<Found>) {
    let args = [args, &["--json"]].concat();
    let (code, out, err) = h.run(&args);
    assert!(err.is_empty() || code != -1, "{err}");
    let all = findings(&out);
    (code, all.into_iter().filter(|f| f.1 == id).collect())
}

const SPEC_DEFAULTS: &str = "host=passbyme-check.invalid,addr=192.0.2.1,laddr=192.0.2.2,lport=22";

#[test]
fn match_blocks_that_weaken_a_login_are_critical_and_named() {
    let h = Host::new();
    nss_group("pbmdeploy", &["pbm-deployer"]);
    let text = format!(
        "{GOOD_SSHD}Match Group pbmdeploy\n    AuthenticationMethods publickey\nMatch Address 10.0.0.0/8,!10.0.0.1\n    AuthenticationMethods keyboard-interactive\nMatch User alice Host *.example.com\n    Banner /etc/issue.net\n"
    );
    let f = h.sshd_config(&text);
    let file = f.to_str().unwrap();
    // The Group block, for a member the group database names.
    let v = h.expect(
        "Match Group",
        &["--sshd-config", file],
        2,
        "sshd-method-without-push",
        &format!("Match Group pbmdeploy (for connections such as user=pbm-deployer,{SPEC_DEFAULTS}): AuthenticationMethods publickey: 'publickey' logs in without keyboard-interactive, so without the push: use AuthenticationMethods publickey,keyboard-interactive"),
    );
    let f2 = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "sshd-method-without-push")
        .unwrap();
    assert_eq!(f2["file"], file);
    assert_eq!(f2["line"], 5);
    // The Address block: its first address is negated, so the next one is the connection.
    let (code, push_alone) = with_id(&h, &["--sshd-config", file], "sshd-push-alone");
    assert_eq!(code, 2);
    assert_eq!(push_alone.len(), 1, "{push_alone:?}");
    assert_eq!(push_alone[0].0, "CRITICAL");
    assert_eq!(push_alone[0].2, "Match Address 10.0.0.0/8,!10.0.0.1 (for connections such as user=passbyme-check,host=passbyme-check.invalid,addr=10.0.0.2,laddr=192.0.2.2,lport=22): AuthenticationMethods keyboard-interactive: 'keyboard-interactive' has no first factor before keyboard-interactive, and the sshd PAM stack asks no password before the push: the push alone lets people in: use AuthenticationMethods publickey,keyboard-interactive (or a password module before pam_passbyme)");
    assert_eq!(push_alone[0].4, Some(7));
    // What was evaluated, the harmless User+Host block included; no sshd-ok.
    let (_, summary) = with_id(&h, &["--sshd-config", file], "sshd-match");
    assert_eq!(summary[0].0, "OK");
    assert_eq!(summary[0].2, format!("3 Match block(s) evaluated, each for a connection the real sshd applies it to: Match Group pbmdeploy (line 5) as user=pbm-deployer,{SPEC_DEFAULTS}: WEAKER; Match Address 10.0.0.0/8,!10.0.0.1 (line 7) as user=passbyme-check,host=passbyme-check.invalid,addr=10.0.0.2,laddr=192.0.2.2,lport=22: WEAKER; Match User alice Host *.example.com (line 9) as user=alice,host=pbm.example.com,addr=192.0.2.1,laddr=192.0.2.2,lport=22: no weaker"));
    let (_, ok) = with_id(&h, &["--sshd-config", file], "sshd-ok");
    assert!(ok.is_empty(), "{ok:?}");

    // A User block turning keyboard-interactive off for one user, in an Included file.
    std::fs::create_dir(h.dir.path().join("sshd_config.d")).unwrap();
    let inc = h.dir.write(
        "sshd_config.d/50-alice.conf",
        "Match User alice,bob\n    KbdInteractiveAuthentication no\n    AuthenticationMethods publickey\n",
        0o644,
    );
    let text = format!(
        "{GOOD_SSHD}Include {}/sshd_config.d/*.conf\n",
        h.dir.path().display()
    );
    let f = h.sshd_config(&text);
    let (code, kbd) = with_id(
        &h,
        &["--sshd-config", f.to_str().unwrap()],
        "sshd-kbdinteractive-off",
    );
    assert_eq!(code, 2);
    assert_eq!(kbd.len(), 1, "{kbd:?}");
    assert_eq!(kbd[0].2, format!("Match User alice,bob (for connections such as user=alice,{SPEC_DEFAULTS}): KbdInteractiveAuthentication no: the push runs only through keyboard-interactive (either nobody can log in, or everyone logs in without it): set KbdInteractiveAuthentication yes"));
    assert_eq!(kbd[0].3.as_deref(), inc.to_str());
    assert_eq!(kbd[0].4, Some(1));
}

#[test]
fn harmless_and_unevaluable_match_blocks() {
    let h = Host::new();
    // Blocks that change nothing a login depends on: OK, and the summary says so.
    let text = format!("{GOOD_SSHD}Match User alice\n    Banner /etc/issue.net\nMatch Address 192.168.0.0/16 LocalPort 22\n    AuthenticationMethods publickey,keyboard-interactive\n    X11Forwarding no\nMatch all\n    AllowTcpForwarding no\n");
    let v = h.expect_sshd("harmless", &text, &[], 0, "sshd-ok", "UsePAM yes, KbdInteractiveAuthentication yes, AuthenticationMethods publickey,keyboard-interactive, LoginGraceTime 120: every login needs the push after a first factor, and in 3 Match block(s)");
    let summary = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "sshd-match")
        .unwrap();
    assert_eq!(summary["message"], format!("3 Match block(s) evaluated, each for a connection the real sshd applies it to: Match User alice (line 5) as user=alice,{SPEC_DEFAULTS}: no weaker; Match Address 192.168.0.0/16 LocalPort 22 (line 7) as user=passbyme-check,host=passbyme-check.invalid,addr=192.168.0.1,laddr=192.0.2.2,lport=22: no weaker; Match all (line 10) as user=passbyme-check,{SPEC_DEFAULTS}: no weaker"));
    // A group nobody is in: WARNING, not evaluated (it applies to nobody today).
    let text =
        format!("{GOOD_SSHD}Match Group pbm-nobody-in-it\n    AuthenticationMethods publickey\n");
    h.expect_sshd("empty group", &text, &[], 1, "sshd-match-unevaluated", "Match Group pbm-nobody-in-it: no account is in a group matching 'pbm-nobody-in-it' (group database), so no connection check can build matches it: not evaluated. It applies to nobody today, and to whoever joins the group later: check again then");
    // Negations alone match nothing in sshd: the real sshd says so through the probe.
    let text = format!("{GOOD_SSHD}Match User !root\n    AuthenticationMethods publickey\n");
    h.expect_sshd("negations alone", &text, &[], 1, "sshd-match-unevaluated", &format!("Match User !root: sshd applied it to none of the connections check built (user=pbm,{SPEC_DEFAULTS}) ('User !root' has only negated patterns, and sshd applies a pattern list only when one of its positive patterns matches: it matches no connection; write e.g. 'User *,!root'): not evaluated"));
    // ... and written the right way, it is evaluated (and weakens logins).
    let text = format!("{GOOD_SSHD}Match User *,!root\n    AuthenticationMethods publickey\n");
    h.expect_sshd("user *,!root", &text, &[], 2, "sshd-method-without-push", &format!("Match User *,!root (for connections such as user=pbm,{SPEC_DEFAULTS}): AuthenticationMethods publickey: 'publickey' logs in without keyboard-interactive"));
    // --sshd-match judges that one connection: no Match block enumerated.
    let text = format!("{GOOD_SSHD}Match User alice\n    AuthenticationMethods publickey\n");
    let v = h.expect_sshd(
        "--sshd-match",
        &text,
        &["--sshd-match", "user=bob,host=h.example,addr=192.0.2.7"],
        0,
        "sshd-ok",
        "every login needs the push after a first factor",
    );
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "sshd-match"),
        "{v}"
    );
}

#[test]
fn keyboard_interactive_twice_with_the_push_alone_is_critical() {
    let h = Host::new();
    h.expect_sshd("kbd,kbd", "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods keyboard-interactive,keyboard-interactive\n", &[], 2, "sshd-push-alone", "AuthenticationMethods keyboard-interactive,keyboard-interactive: 'keyboard-interactive,keyboard-interactive' runs only the sshd PAM stack, 2 times, and it asks no password before the push: the push 2 times and no first factor: use AuthenticationMethods publickey,keyboard-interactive (or a password module before pam_passbyme)");
    // With a password module before the push it is the password, then the push (twice):
    // not push-alone.
    h.pam("sshd", &format!("@include common-auth\n{PUSH_SSHD}"));
    let (code, crit) = with_id(
        &h,
        &[
            "--sshd-config",
            h.sshd_config(
                "UsePAM yes\nAuthenticationMethods keyboard-interactive,keyboard-interactive\n",
            )
            .to_str()
            .unwrap(),
        ],
        "sshd-push-alone",
    );
    assert!(crit.is_empty(), "{crit:?}");
    assert_eq!(code, 0);
}

/// A fake OpenSSH 8.4 (Debian 11): `-V` is unknown to it and it prints its version with the
/// usage text; `-T` is the real sshd's, with ChallengeResponseAuthentication kept apart from
/// KbdInteractiveAuthentication and printed on its own line, as 8.4's `sshd -T` does (its
/// default: yes).
fn old_sshd(dir: &TempDir) -> String {
    let script = r#"#!/bin/sh
if [ "$1" = "-V" ]; then
    echo "unknown option -- V" >&2
    echo "OpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023" >&2
    echo "usage: sshd [-46DdeiqTt] [-C connection_spec] [-c host_cert_file]" >&2
    exit 1
fi
cr=yes
out=
for a in "$@"; do
    if [ "$prev" = "-f" ]; then
        v=$(awk 'tolower($1) == "challengeresponseauthentication" { print tolower($2); exit }' "$a")
        [ -n "$v" ] && cr=$v
        grep -iv '^[[:space:]]*challengeresponseauthentication' "$a" > "$a.84"
        set -- "$@" "$a.84"
    else
        set -- "$@" "$a"
    fi
    prev=$a
    shift
done
out=$(/usr/sbin/sshd "$@") || exit $?
printf '%s\nchallengeresponseauthentication %s\n' "$out" "$cr"
"#;
    dir.write("sshd-8.4", script, 0o755)
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn openssh_before_8_7_needs_challenge_response() {
    let h = Host::new();
    let old = old_sshd(&h.dir);
    // Debian 11 and RHEL 8 ship ChallengeResponseAuthentication no: keyboard-interactive
    // never runs PAM there, whatever KbdInteractiveAuthentication says.
    h.expect_sshd("8.4, ChallengeResponseAuthentication no", &format!("{GOOD_SSHD}ChallengeResponseAuthentication no\n"), &["--sshd-binary", &old], 2, "sshd-challengeresponse-off", "ChallengeResponseAuthentication no: OpenSSH 8.4 (before OpenSSH 8.7) runs PAM through keyboard-interactive only with ChallengeResponseAuthentication yes; KbdInteractiveAuthentication yes is not enough: keyboard-interactive fails, so every login that needs the push is refused: set ChallengeResponseAuthentication yes");
    h.expect_sshd(
        "8.4, ChallengeResponseAuthentication yes",
        &format!("{GOOD_SSHD}ChallengeResponseAuthentication yes\n"),
        &["--sshd-binary", &old],
        0,
        "sshd-ok",
        "UsePAM yes, KbdInteractiveAuthentication yes, ChallengeResponseAuthentication yes, AuthenticationMethods publickey,keyboard-interactive",
    );
    // 8.4's default is yes.
    h.expect_sshd(
        "8.4, unset",
        GOOD_SSHD,
        &["--sshd-binary", &old],
        0,
        "sshd-ok",
        "ChallengeResponseAuthentication yes",
    );
    // The real sshd (9.2): an alias of KbdInteractiveAuthentication, never asked for.
    let v = h.expect_sshd(
        "9.2",
        "UsePAM yes\nChallengeResponseAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n",
        &[],
        0,
        "sshd-ok",
        "UsePAM yes, KbdInteractiveAuthentication yes, AuthenticationMethods publickey,keyboard-interactive",
    );
    assert!(!v
        .to_string()
        .contains("ChallengeResponseAuthentication yes,"));
}

/// A private passwd, group and shadow for the check (bind-mounted in its own namespace:
/// the test binary's user database is not touched), and the homes with keys.
struct Db {
    passwd: String,
    group: String,
    shadow: String,
}

impl Db {
    fn new() -> Db {
        Db {
            passwd: "sshd:x:102:65534::/run/sshd:/usr/sbin/nologin\n".into(),
            group: "nogroup:x:65534:\n".into(),
            shadow: "sshd:*:19000:0:99999:7:::\n".into(),
        }
    }
    fn user(&mut self, h: &Host, name: &str, uid: u32, shell: &str, key: bool, hash: &str) {
        let home = h.dir.path().join("home").join(name);
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        if key {
            std::fs::write(home.join(".ssh/authorized_keys"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPbmTestKeyTestKeyTestKeyTestKeyTestKeyTest test\n").unwrap();
        }
        self.passwd += &format!("{name}:x:{uid}:{uid}::{}:{shell}\n", home.display());
        self.group += &format!("{name}:x:{uid}:\n");
        self.shadow += &format!("{name}:{hash}:19000:0:99999:7:::\n");
    }
    fn group(&mut self, name: &str, gid: u32, members: &str) {
        self.group += &format!("{name}:x:{gid}:{members}\n");
    }
    /// Writes the files and points the host's runs at them.
    fn install(&self, h: &mut Host) {
        std::fs::create_dir_all(h.dir.path().join("db")).unwrap();
        let p = h.dir.write("db/passwd", &self.passwd, 0o644);
        let g = h.dir.write("db/group", &self.group, 0o644);
        let s = h.dir.write("db/shadow", &self.shadow, 0o600);
        h.prelude = format!(
            "mount --bind {} /etc/passwd && mount --bind {} /etc/group && mount --bind {} /etc/shadow && ",
            p.display(),
            g.display(),
            s.display()
        );
    }
}

const HASH: &str = "$6$pbmtest$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklm";

fn census_config(h: &Host, extra: &str) -> std::path::PathBuf {
    let text = format!(
        "{}[users]\nalice = \"alice@example.com\"\nbob = \"bob@example.com\"\ncarol = \"carol@example.com\"\nroot = \"root@example.com\"\nghost = \"ghost@example.com\"\n{extra}",
        h.emu.service_table()
    );
    h.dir.write("census.toml", &text, 0o600)
}

fn home(h: &Host, name: &str) -> String {
    Path::new(&h.dir.path().join("home").join(name))
        .display()
        .to_string()
}

#[test]
fn census_push_skips_locked_out_and_no_login() {
    let mut h = Host::new();
    let mut db = Db::new();
    db.user(&h, "root", 0, "/bin/bash", true, "*");
    db.user(&h, "alice", 1001, "/bin/bash", true, "!");
    db.user(&h, "bob", 1002, "/bin/bash", false, HASH);
    db.user(&h, "deploybot", 1003, "/bin/sh", true, "*");
    db.user(&h, "carol", 1004, "/bin/bash", true, "!");
    db.user(&h, "eve", 1005, "/bin/bash", false, "*");
    db.user(&h, "daemonish", 1006, "/usr/sbin/nologin", true, "*");
    db.group("breakglass", 5000, "carol");
    db.install(&mut h);
    h.config = Some(census_config(
        &h,
        "[policy]\nexempt_groups = [\"breakglass\"]\n",
    ));
    let sshd = h.sshd_config(GOOD_SSHD);
    let args = ["--sshd-config", sshd.to_str().unwrap(), "--census"];
    let (code, out, err) = h.run(&[&args[..], &["--json"]].concat());
    let all = findings(&out);
    let msg = |id: &str, start: &str| -> (String, String) {
        let f = all
            .iter()
            .find(|f| f.1 == id && f.2.starts_with(start))
            .unwrap_or_else(|| panic!("no {id} {start:?} in {out}{err}"));
        (f.0.clone(), f.2.clone())
    };
    // Root: PermitRootLogin's default (prohibit-password) refuses keyboard-interactive for
    // root: locked out, and that is CRITICAL.
    assert_eq!(
        msg("census-locked-out", "root:"),
        ("CRITICAL".into(), String::from("root: LOCKED OUT: 'publickey,keyboard-interactive': PermitRootLogin without-password: sshd refuses keyboard-interactive for root (root, and PermitRootLogin lets root log in). Fix: 'PermitRootLogin yes' lets root answer keyboard-interactive after its key (AuthenticationMethods still asks the key first), or add 'Match User root' with 'AuthenticationMethods publickey' under it at the end of sshd_config (its key alone, no push)"))
    );
    assert_eq!(
        msg("census-push", "alice:"),
        ("OK".into(), format!("alice: gets the push: 'publickey,keyboard-interactive' (a key in {}/.ssh/authorized_keys; pushed to alice@example.com (from {} line 7))", home(&h, "alice"), h.dir.path().join("census.toml").display()))
    );
    assert_eq!(
        msg("census-locked-out", "bob:"),
        ("WARNING".into(), format!("bob: LOCKED OUT: 'publickey,keyboard-interactive': no key in {}/.ssh/authorized_keys, {}/.ssh/authorized_keys2. Fix: put bob's public key in its .ssh/authorized_keys", home(&h, "bob"), home(&h, "bob")))
    );
    assert_eq!(
        msg("census-locked-out", "deploybot:"),
        ("WARNING".into(), format!("deploybot: LOCKED OUT: 'publickey,keyboard-interactive': unmapped (not in [users] of {}), policy.unmapped = deny: the module refuses. Fix: map deploybot in [users] (deploybot = \"ID\") or a users.d file, or, for an automation account, add 'Match User deploybot' with 'AuthenticationMethods publickey' under it at the end of sshd_config (its key alone, no push)", h.dir.path().join("census.toml").display()))
    );
    assert_eq!(
        msg("census-locked-out", "carol:"),
        ("WARNING".into(), "carol: LOCKED OUT: 'publickey,keyboard-interactive': the module steps aside (member of exempt group breakglass) and the sshd PAM stack then refuses. Fix: add 'Match User carol' with 'AuthenticationMethods publickey' under it at the end of sshd_config (its key alone, no push); policy.exempt_groups alone does not let it in while pam_deny.so follows the module in the sshd PAM stack".into())
    );
    assert_eq!(
        msg("census-no-login", "eve:"),
        ("OK".into(), format!("eve: cannot log in over SSH, with or without the module: no key in {}/.ssh/authorized_keys, {}/.ssh/authorized_keys2, and no usable password (locked in shadow)", home(&h, "eve"), home(&h, "eve")))
    );
    assert!(
        !out.contains("daemonish:"),
        "a nologin shell is not counted: {out}"
    );
    assert_eq!(
        msg("census", "census of"),
        ("OK".into(), "census of 6 account(s) that can log in over SSH (a login shell, or named in the configuration), each as sshd -T -C user=NAME,host=passbyme-check.invalid,addr=192.0.2.1,laddr=192.0.2.2,lport=22: 1 get the push, 0 skip it, 4 LOCKED OUT, 1 cannot log in with or without the module; named in the configuration but unknown to the user database: ghost".into())
    );
    assert_eq!(code, 2, "{out}");
    // The text form says the same, one line each.
    let (code, text, _) = h.run(&args);
    assert_eq!(code, 2);
    assert!(
        text.contains("\nok    alice: gets the push: 'publickey,keyboard-interactive'"),
        "{text}"
    );
    assert!(text.contains("\nWARN  bob: LOCKED OUT: "), "{text}");
    assert!(text.contains("\nFAIL  root: LOCKED OUT: "), "{text}");

    // The fixes it names, applied: root and carol in on their key alone (they skip the
    // push), deploybot too; bob gets a key.
    std::fs::write(
        h.dir.path().join("home/bob/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPbmTestKeyTestKeyTestKeyTestKeyTestKeyTest bob\n",
    )
    .unwrap();
    let fixed = h.sshd_config(&format!(
        "{GOOD_SSHD}Match User root,carol,deploybot\n    AuthenticationMethods publickey\n"
    ));
    let (code, out, _) = h.run(&[
        "--sshd-config",
        fixed.to_str().unwrap(),
        "--census",
        "--json",
    ]);
    let all = findings(&out);
    assert!(!all.iter().any(|f| f.1 == "census-locked-out"), "{out}");
    for who in ["root", "carol", "deploybot"] {
        let f = all
            .iter()
            .find(|f| f.1 == "census-skips" && f.2.starts_with(&format!("{who}:")))
            .unwrap_or_else(|| panic!("{who}: {out}"));
        assert_eq!(
            f.2,
            format!(
                "{who}: skips the push: 'publickey' logs in without it (a key in {}/.ssh/authorized_keys)",
                home(&h, who)
            )
        );
    }
    assert!(
        all.iter()
            .any(|f| f.1 == "census-push" && f.2.starts_with("bob: gets the push")),
        "{out}"
    );
    // The Match block itself is still a login without the push: CRITICAL, by design.
    assert_eq!(code, 2);
    assert!(
        all.iter().any(|f| f.1 == "sshd-method-without-push"
            && f.2.starts_with(
                "Match User root,carol,deploybot (for connections such as user=root,"
            )),
        "{out}"
    );
}

#[test]
fn census_every_account_locked_out_and_password_stacks() {
    let mut h = Host::new();
    let mut db = Db::new();
    db.user(&h, "alice", 1001, "/bin/bash", false, HASH);
    db.user(&h, "bob", 1002, "/bin/bash", false, HASH);
    db.install(&mut h);
    h.config = Some(census_config(&h, ""));
    let sshd = h.sshd_config(GOOD_SSHD);
    let (code, out, _) = h.run(&[
        "--sshd-config",
        sshd.to_str().unwrap(),
        "--census",
        "--json",
    ]);
    let all = findings(&out);
    let locked: Vec<_> = all.iter().filter(|f| f.1 == "census-locked-out").collect();
    assert_eq!(locked.len(), 2, "{out}");
    for f in &locked {
        assert_eq!(f.0, "CRITICAL");
        assert!(
            f.2.contains("(every account that could log in is). Fix: put "),
            "{}",
            f.2
        );
    }
    assert_eq!(code, 2);
    // A password module before the push, and keyboard-interactive alone: the password,
    // then the push.
    h.pam("sshd", &format!("@include common-auth\n{PUSH_SSHD}"));
    let sshd = h.sshd_config("UsePAM yes\nAuthenticationMethods keyboard-interactive\n");
    let (_, out, _) = h.run(&[
        "--sshd-config",
        sshd.to_str().unwrap(),
        "--census",
        "--json",
    ]);
    let all = findings(&out);
    let alice = all
        .iter()
        .find(|f| f.2.starts_with("alice:"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        (alice.0.as_str(), alice.1.as_str(), alice.2.as_str()),
        ("OK", "census-push", &*format!("alice: gets the push: 'keyboard-interactive' (a password, then pushed to alice@example.com (from {} line 7))", h.dir.path().join("census.toml").display()))
    );
    let _ = HOSTKEY;
}

/// A fake OpenSSH 10.6 (Debian testing): `-V` says 10.6, `-T` is the real sshd's.
fn new_sshd(dir: &TempDir) -> String {
    let script = "#!/bin/sh\nif [ \"$1\" = -V ]; then echo 'OpenSSH_10.6p1 Debian-1, OpenSSL 3.5.4 30 Sep 2025' >&2; exit 0; fi\nexec /usr/sbin/sshd \"$@\"\n";
    dir.write("sshd-10.6", script, 0o755)
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_prompt_that_fits_the_sshd_and_its_clients() {
    // Issue 20: an info message reaches the client before the approval only from sshd
    // 10.3 on (measured by tests/distro/matrix.py, with OpenSSH clients 8.4, 9.2, 10.6).
    let h = Host::new();
    let new = new_sshd(&h.dir);
    let info = PUSH_SSHD.replacen("prompt=enter", "prompt=info", 1);
    // The sample's prompt=enter fits every sshd.
    h.expect_sshd("enter, 9.2", GOOD_SSHD, &[], 0, "sshd-prompt", "prompt=enter: the verification code comes with the Enter prompt, which every keyboard-interactive client shows at once");
    h.expect_sshd("enter, 10.6, new clients", GOOD_SSHD, &["--sshd-binary", &new, "--ssh-clients-show-info"], 0, "sshd-prompt", "with OpenSSH 10.6 and clients that show messages without a prompt (--ssh-clients-show-info), prompt=info would show it without the Enter");
    h.pam("sshd", &info);
    // The host's sshd (Debian 12: 9.2) holds it back, whatever the clients.
    for extra in [&[][..], &["--ssh-clients-show-info"][..]] {
        h.expect_sshd("info, 9.2", GOOD_SSHD, extra, 1, "sshd-prompt-info", "prompt=info under OpenSSH 9.2: sshd before OpenSSH 10.3 holds the verification code back until the login ends, so nobody sees it before approving (and sshd pads the wait): use prompt=enter");
    }
    h.expect_sshd("info, 10.6", GOOD_SSHD, &["--sshd-binary", &new], 1, "sshd-prompt-info", "prompt=info: OpenSSH 10.6 sends the verification code at once, without a prompt: OpenSSH's ssh shows it (measured: 8.4, 9.2, 10.6), a client that shows keyboard-interactive text only with a prompt does not, and its user approves without the code: use prompt=enter, or if every client shows such messages, say so with --ssh-clients-show-info");
    h.expect_sshd("info, 10.6, new clients", GOOD_SSHD, &["--sshd-binary", &new, "--ssh-clients-show-info"], 0, "sshd-prompt", "prompt=info: OpenSSH 10.6 sends the verification code at once, and every client shows it (--ssh-clients-show-info): no Enter needed");
}
