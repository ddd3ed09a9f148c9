use std::process::{Command, Stdio};

use crate::util::{syslog, Emulator, TempDir, BIN};

/// Runs `passbyme ARGS` with SUDO_USER set to `sudo_user` (or unset), returning (pid, exit
/// code, stdout, stderr).
fn run(args: &[&str], sudo_user: Option<&str>) -> (u32, i32, String, String) {
    syslog(); // the capture at /dev/log, bound before the command looks for it
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match sudo_user {
        Some(u) => cmd.env("SUDO_USER", u),
        None => cmd.env_remove("SUDO_USER"),
    };
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    (
        pid,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The one syslog line process `pid` wrote, without its header, after checking the header:
/// `<86>` (authpriv = 10, info = 6: 10 * 8 + 6), an RFC 3164 time stamp, ident `passbyme`
/// and the pid.
fn audit_line(pid: u32) -> String {
    let tag = format!(" passbyme[{pid}]: ");
    let lines = syslog().lines_with(&tag);
    assert_eq!(lines.len(), 1, "one line from passbyme[{pid}]: {lines:#?}");
    let line = lines[0].clone();
    let (header, text) = line.split_once(&tag).unwrap();
    assert!(
        header.starts_with("<86>"),
        "facility authpriv, severity info: {line}"
    );
    assert_eq!(header.len(), "<86>Nov 29 10:47:00".len(), "{line}");
    assert!(
        !line.contains(|c: char| c.is_control()),
        "no control character: {line:?}"
    );
    text.to_owned()
}

/// `uid=N user=NAME`: the real uid of the tests (and so of the command) and its name.
fn who() -> String {
    let uid = pam_passbyme::os::uid();
    let name = pam_passbyme::os::user_name_of(uid).unwrap().unwrap();
    format!("uid={uid} user={name}")
}

#[test]
fn send_and_cancel_are_audited_with_the_message_and_the_claimed_sudo_user() {
    let emu = Emulator::start();
    let c = emu.config_path().display().to_string();
    let (pid, code, out, err) = run(
        &[
            "--config",
            &c,
            "send",
            "--to",
            "aud+ignore@x",
            "--to",
            "aud2@x",
            "--json",
        ],
        Some("alice"),
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v["messageId"].as_str().unwrap().to_owned();
    assert_eq!(
        audit_line(pid),
        format!(
            "action=send {} claimed_sudo_user=alice type=authorization to=aud+ignore@x,aud2@x message={id} result=ok",
            who()
        )
    );
    // No SUDO_USER, no claimed_sudo_user.
    let (pid, code, _, err) = run(&["--config", &c, "cancel", &id], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        audit_line(pid),
        format!("action=cancel {} message={id} result=ok", who())
    );
    // A failure is audited too, with the error the command prints.
    let (pid, code, _, err) = run(&["--config", &c, "cancel", "NoSuchMessage1"], Some("bob"));
    assert_eq!(
        (code, err.trim()),
        (1, "passbyme: PassBy[ME] error code 404")
    );
    assert_eq!(
        audit_line(pid),
        format!(
            "action=cancel {} claimed_sudo_user=bob message=NoSuchMessage1 result=error error=\"PassBy[ME] error code 404\"",
            who()
        )
    );
    let (pid, code, _, _) = run(
        &["--config", &c, "send", "--to", "x@x", "--type", "sms"],
        None,
    );
    assert_eq!(code, 1);
    assert_eq!(
        audit_line(pid),
        format!(
            "action=send {} type=sms to=x@x result=error error=\"invalid argument: message type 'sms' is not one of authorization, message, esign\"",
            who()
        )
    );
}

#[test]
fn login_and_unlock_are_audited_with_the_target_and_the_result() {
    let emu = Emulator::start();
    let (_t, p) = crate::util::login_config(
        &emu,
        "audit-login",
        "audok = \"audok+approve+after=300ms@x\"\naudno = \"audno+deny+after=300ms@x\"",
    );
    let c = p.to_str().unwrap();
    let id_for = |user_id: &str| {
        emu.messages_by_id()[user_id][0]["messageId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (pid, code, out, _) = run(
        &["--config", c, "login", "audok", "--rhost", "192.0.2.7"],
        Some("alice"),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        audit_line(pid),
        format!(
            "action=login {} claimed_sudo_user=alice target=audok service=passbyme-login rhost=192.0.2.7 message={} result=approved",
            who(),
            id_for("audok+approve+after=300ms@x")
        )
    );
    let (pid, code, out, _) = run(
        &["--config", c, "login", "audno", "--service", "ops check"],
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        audit_line(pid),
        format!(
            "action=login {} target=audno service=\"ops check\" message={} result=refused",
            who(),
            id_for("audno+deny+after=300ms@x")
        )
    );
    // The denial left limiter state: unlock clears it; a second unlock finds none.
    let (pid, code, out, _) = run(&["--config", c, "unlock", "audno"], Some("alice"));
    assert_eq!((code, out.as_str()), (0, "audno: limiter state cleared\n"));
    assert_eq!(
        audit_line(pid),
        format!(
            "action=unlock {} claimed_sudo_user=alice target=audno result=cleared",
            who()
        )
    );
    let (pid, code, out, _) = run(&["--config", c, "unlock", "audno"], None);
    assert_eq!((code, out.as_str()), (0, "audno: had no limiter state\n"));
    assert_eq!(
        audit_line(pid),
        format!("action=unlock {} target=audno result=no-state", who())
    );
}

/// SUDO_USER is whatever the environment says: a newline, escapes and quotes in it stay
/// inside its one quoted value, and no second line or field can be made of it.
#[test]
fn a_hostile_sudo_user_cannot_forge_a_line_or_a_field() {
    let emu = Emulator::start();
    let t = TempDir::new("audit-hostile");
    let text = format!("{}{}[users]\n", emu.service_table(), emu.limits_table(""));
    let p = t.write("c.toml", &text, 0o600);
    let c = p.to_str().unwrap();
    let forged =
        "<86>Nov 29 10:00:00 passbyme[1]: action=unlock uid=0 user=root target=root result=cleared";
    let hostile = format!("mallory\n{forged}\x1b[2K\r\" result=ok x=\"\\");
    let (pid, code, out, _) = run(&["--config", c, "unlock", "audhostile"], Some(&hostile));
    assert_eq!(
        (code, out.as_str()),
        (0, "audhostile: had no limiter state\n")
    );
    assert_eq!(
        audit_line(pid),
        format!(
            "action=unlock {} claimed_sudo_user=\"mallory?{forged}?[2K?\\\" result=ok x=\\\"\\\\\" target=audhostile result=no-state",
            who()
        )
    );
    assert!(
        !syslog().lines().iter().any(|l| l.starts_with(forged)),
        "the forged line was received as a line of its own"
    );
}

/// With no syslog to reach, the command does its work and exits as usual, and says once
/// on stderr which line it could not write.
#[test]
fn an_unreachable_syslog_changes_nothing_but_is_reported_once() {
    let emu = Emulator::start();
    let t = TempDir::new("audit-nolog");
    let text = format!("{}{}[users]\n", emu.service_table(), emu.limits_table(""));
    let p = t.write("c.toml", &text, 0o600);
    // A mount namespace whose /dev is an empty tmpfs: no /dev/log.
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs tmpfs /dev && exec \"$0\" \"$@\"")
        .args([BIN, "--config", p.to_str().unwrap(), "unlock", "audnolog"])
        .env_remove("SUDO_USER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "audnolog: had no limiter state\n");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("passbyme: audit: cannot write to syslog (")
            && stderr.ends_with(&format!(
                "); not logged: action=unlock {} target=audnolog result=no-state\n",
                who()
            )),
        "{stderr}"
    );
}

/// `send --wait` stopped by a signal: the send's line when it is sent, then the cancel's.
#[test]
fn send_wait_cancelled_by_a_signal_writes_the_cancel_line_too() {
    let emu = Emulator::start();
    let c = emu.config_path().display().to_string();
    syslog();
    let mut child = Command::new(BIN)
        .args(["--config", &c, "send", "--to", "audwait+ignore@x", "--wait"])
        .env_remove("SUDO_USER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let tag = format!(" passbyme[{pid}]: ");
    crate::util::eventually(
        std::time::Duration::from_secs(20),
        "the send's audit line",
        || syslog().lines().iter().any(|l| l.contains(&tag)),
    );
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let id = emu.messages_by_id()["audwait+ignore@x"][0]["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        emu.status_for("audwait+ignore@x").as_deref(),
        Some("CANCELLED")
    );
    let lines = || -> Vec<String> {
        syslog()
            .lines()
            .iter()
            .filter_map(|l| l.split_once(&tag).map(|(_, t)| t.to_owned()))
            .collect()
    };
    // The process has ended; its second datagram may still be on its way to the capture.
    crate::util::eventually(
        std::time::Duration::from_secs(5),
        "the cancel's audit line",
        || lines().len() >= 2,
    );
    let lines = lines();
    assert_eq!(
        lines,
        [
            format!(
                "action=send {} type=authorization to=audwait+ignore@x message={id} result=ok",
                who()
            ),
            format!(
                "action=cancel {} message={id} reason=SIGTERM result=ok",
                who()
            ),
        ]
    );
}
