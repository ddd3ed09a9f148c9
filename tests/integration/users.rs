//! The user a login is for, as the user database (NSS) knows it: the module maps the
//! canonical name (`pw_name`), never the spelling typed.

use std::path::Path;
use std::process::Command;

use crate::util::pam::{config, MAXTRIES, PERM_DENIED};
use crate::util::{nss_user, syslog, Emulator, TempDir};

/// Builds the test NSS module (tests/data/nss_pbmfold.c: case-insensitive getpwnam) and an
/// nsswitch.conf that consults it after `files`.
fn fold_nss(dir: &Path) {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nss_pbmfold.c");
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(dir.join("libnss_pbmfold.so.2"))
        .arg(src)
        .status()
        .expect("cc (build-essential) builds the test NSS module");
    assert!(st.success(), "cc failed");
    let host = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
    let mut conf: String = host
        .lines()
        .filter(|l| !l.trim_start().starts_with("passwd:"))
        .map(|l| format!("{l}\n"))
        .collect();
    conf.push_str("passwd: files pbmfold\n");
    std::fs::write(dir.join("nsswitch.conf"), conf).unwrap();
}

/// `cmd` in a mount namespace of its own where /etc/nsswitch.conf is `dir`'s, with the test
/// NSS module on the library path.
fn with_fold_nss(dir: &Path, cmd: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0/nsswitch.conf\" /etc/nsswitch.conf && exec \"$@\"")
        .arg(dir)
        .args(cmd)
        .env("LD_LIBRARY_PATH", dir);
    c
}

#[test]
fn another_spelling_of_a_mapped_name_gets_that_users_push() {
    let emu = Emulator::start();
    syslog();
    let nss = TempDir::new("nss");
    fold_nss(nss.path());
    nss_user("nc_alice");
    nss_user("nc_bob");
    // The test's premise: NSS answers the other spelling with the canonical name.
    let out = with_fold_nss(nss.path(), &["getent", "passwd", "NC_Alice"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("nc_alice:"),
        "the fold NSS module answers: {out:?}"
    );
    // Under `unmapped = "ignore"`, the spelling as typed is in no table: before the name
    // was canonicalised, `NC_ALICE` skipped the second factor (PAM_IGNORE; libpam then
    // answers PAM_PERM_DENIED for this one-module stack, and the next module decides in a
    // real stack).
    let text = config(
        &emu,
        "prompt = \"info\"\n[policy]\nunmapped = \"ignore\"",
        "nc_alice = \"nc_alice+deny+after=100ms@x\"\nnc_bob = \"nc_bob+approve+after=100ms@x\"",
    );
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    let login = |user: &str| -> i32 {
        let out = with_fold_nss(
            nss.path(),
            &[
                exe,
                "--exact",
                "pam::child_login",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ],
        )
        .env("PBM_CHILD", "1")
        .env("PBM_CONFIG", &text)
        .env("PBM_USER", user)
        .output()
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "child: {out:?}");
        // The harness prints the test name first, on the same line.
        text.split("RC=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|rc| rc.parse().ok())
            .unwrap_or_else(|| panic!("no RC in {text}"))
    };
    assert_eq!(login("NC_ALICE"), MAXTRIES, "nc_alice's phone denied");
    let line = syslog().line_with("typed=NC_ALICE");
    assert!(
        line.contains("decision=refused user=nc_alice ids=nc_alice+deny+after=100ms@x"),
        "{line}"
    );
    assert_eq!(login("Nc_Bob"), 0, "nc_bob's phone approved");
    assert!(syslog()
        .line_with("typed=Nc_Bob")
        .contains("decision=approved user=nc_bob "));
    let sent: Vec<String> = emu
        .messages()
        .iter()
        .map(|m| m["recipients"][0]["userId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        sent,
        [
            "nc_alice+deny+after=100ms@x",
            "nc_bob+approve+after=100ms@x"
        ]
    );
    // A spelling NSS does not know at all stays unmapped (ignore: PAM_IGNORE), no push.
    assert_eq!(login("NC_CAROL"), PERM_DENIED);
    assert!(syslog()
        .line_with(&format!("user={} ", emu.redacted_user("NC_CAROL")))
        .contains("policy=unmapped:ignore"));
    assert_eq!(emu.messages().len(), 2);
    assert!(emu.open_messages().is_empty());
}
