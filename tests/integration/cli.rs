/// The man page and the shell completions under packaging/ are what the command generates.
mod generated;

/// One audit line in syslog for each action that sends or changes something.
mod audit;

/// No library module imports from a layer below it (the table of src/lib.rs).
mod layers;

/// README's layout table names every file and directory of the tree.
mod layout;

use std::os::unix::fs::PermissionsExt;

use crate::util::{passbyme, Emulator, TempDir};

fn cfg(emu: &Emulator) -> String {
    emu.config_path().display().to_string()
}

/// `passbyme --config CONFIG send --to TO EXTRA...`.
fn send(config: &str, to: &str, extra: &[&str]) -> (i32, String, String) {
    let args = [&["--config", config, "send", "--to", to], extra].concat();
    passbyme(&args)
}

#[test]
fn send_wait_ends_approved_or_denied() {
    let emu = Emulator::start();
    let c = cfg(&emu);
    let (code, out, err) = send(&c, "a+approve+after=400ms@x", &["--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("a+approve+after=400ms@x  APPROVED"), "{out}");
    assert!(err.contains("sent message"), "{err}");
    let (code, out, _) = send(&c, "b+deny+after=200ms@x", &["--wait"]);
    assert_eq!(code, 1);
    assert!(out.contains("DENIED"), "{out}");
}

#[test]
fn send_track_cancel_json() {
    let emu = Emulator::start();
    let c = cfg(&emu);
    let (code, out, err) = send(&c, "j+ignore@x", &["--json", "--subject", "hi"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v["messageId"].as_str().unwrap().to_owned();
    assert_eq!(v["recipients"][0]["status"], "PENDING");
    let (code, out, _) = passbyme(&["--config", &c, "track", &id, "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["messageId"],
        id.as_str()
    );
    let (code, out, _) = passbyme(&["--config", &c, "cancel", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("j+ignore@x  CANCELLED"), "{out}");
    assert_eq!(emu.message(&id)["recipients"][0]["status"], "CANCELLED");
    // Errors are printed once, as "context: cause", with a non-zero exit.
    let (code, out, err) = passbyme(&["--config", &c, "track", "NoSuchMessage1"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err.trim(), "passbyme: PassBy[ME] error code 404");
    let (code, _, err) = send(&c, "x@x", &["--type", "sms"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "passbyme: invalid argument: message type 'sms' is not one of authorization, message, esign");
    let (code, _, err) = send(&c, "x@x", &["--availability", "0"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("availability must be at least 1 second"),
        "{err}"
    );
}

#[test]
fn check_good_config_and_connect() {
    let emu = Emulator::start();
    let (code, out, err) = passbyme(&["--config", &cfg(&emu), "check", "--connect"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("key decrypts and matches the certificate"),
        "{out}"
    );
    assert!(out.contains("reached over mutual TLS"), "{out}");
    assert!(out.contains("client certificate valid until"), "{out}");
}

#[test]
fn check_names_each_problem() {
    let emu = Emulator::start();
    let t = TempDir::new("check");
    let service = emu.service_table();
    let cases: Vec<(String, u32, &str)> = vec![
        (
            format!("{service}[users]\nroot = \"r@x\"\ntypo = 1\n[extra]\n"),
            0o600,
            "unknown field `extra`, expected one of `service`, `login`, `policy`, `limits`, `mapping`, `messages`, `users`",
        ),
        (
            format!("{service}[users]\nroot = \"r@x\"\n"),
            0o666,
            "is writable by group or others (mode 0666; refused)",
        ),
        (
            format!("{service}[login]\ntimeout = \"1h\"\n[users]\n"),
            0o600,
            "login.timeout: 1h is outside 5s to 10m",
        ),
        (
            service.replace("client.password", "nothing.password") + "[users]\n",
            0o600,
            "nothing.password: No such file or directory",
        ),
        (
            service.replace("password_file", "password = \"wrong\"\n#") + "[users]\n",
            0o600,
            "the password does not decrypt the private key",
        ),
        (
            service.replace("ca.pem", "client.password") + "[users]\n",
            0o600,
            "CA bundle: no CERTIFICATE block",
        ),
    ];
    for (i, (text, mode, want)) in cases.iter().enumerate() {
        let p = t.write(&format!("c{i}.toml"), text, *mode);
        let (code, out, err) = passbyme(&["--config", p.to_str().unwrap(), "check"]);
        assert_eq!(code, 2, "case {i}: {out}{err}");
        assert!(out.contains(want), "case {i}: want {want:?} in:\n{out}");
        assert!(out.contains("FAIL"), "{out}");
    }
    // A symlink in place of the config file is refused.
    let real = t.write("real.toml", &format!("{service}[users]\n"), 0o600);
    let link = t.path().join("link.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let (code, out, _) = passbyme(&["--config", link.to_str().unwrap(), "check"]);
    assert_eq!(code, 2);
    assert!(out.contains("is a symbolic link (refused)"), "{out}");
    // A secret-bearing file readable by others is refused.
    std::fs::set_permissions(
        emu.dir.path().join("client.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, out, _) = passbyme(&["--config", real.to_str().unwrap(), "check"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("client.pem: holds a secret but is readable by group or others (mode 0644"),
        "{out}"
    );
    // The expired vendor certificate is reported as a lockout.
    let vendor = t.write(
        "vendor.pem",
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/vendor-test-auth.pem"
        ))
        .unwrap(),
        0o600,
    );
    let text = format!(
        "[service]\ncredentials = \"{}\"\npassword = \"123456\"\n[users]\nroot = \"r@x\"\n",
        vendor.display()
    );
    let p = t.write("vendor.toml", &text, 0o600);
    let (code, out, _) = passbyme(&["--config", p.to_str().unwrap(), "check"]);
    assert_eq!(code, 2);
    assert!(out.contains("client certificate expired on 2018"), "{out}");
    // An inline password makes the config itself a secret.
    let p = t.write("inline.toml", &text, 0o644);
    let (_, out, _) = passbyme(&["--config", p.to_str().unwrap(), "check"]);
    assert!(out.contains("(it holds service.password)"), "{out}");
}

#[test]
fn login_without_pam() {
    let emu = Emulator::start();
    let (_t, p) = crate::util::login_config(
        &emu,
        "login",
        "ann = \"ann+approve+after=300ms@x\"\nben = \"ben+deny+after=300ms@x\"",
    );
    let c = p.to_str().unwrap();
    let (code, out, err) = passbyme(&["--config", c, "login", "ann", "--rhost", "192.0.2.7"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Verification code: "), "{out}");
    assert!(out.contains("login allowed (approved)"), "{out}");
    assert!(err.contains("status: APPROVED"), "{err}");
    assert!(err.contains("decision=approved user=ann ids=ann+approve+after=300ms@x service=passbyme-login rhost=192.0.2.7"), "{err}");
    let (code, out, err) = passbyme(&["--config", c, "login", "ben"]);
    assert_eq!(code, 1);
    assert!(out.contains("login refused (refused)"), "{out}");
    assert!(err.contains("status=DENIED"), "{err}");
    // What the person would be told, as the module tells it.
    assert!(
        out.contains("\nPassBy[ME]: the login was denied on the phone. If that was not you, tell your administrator.\nlogin refused (refused)\n"),
        "{out}"
    );
    let (code, out, _) = passbyme(&["--config", c, "login", "nobody"]);
    assert_eq!(code, 1);
    assert!(out.contains("login refused (unmapped)"), "{out}");
}

#[test]
fn help_at_every_level() {
    for args in [
        vec!["--help"],
        vec!["send", "--help"],
        vec!["check", "--help"],
        vec!["emulator", "--help"],
        vec!["login", "--help"],
    ] {
        let (code, out, _) = passbyme(&args);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage: passbyme"), "{args:?}: {out}");
    }
}

#[test]
fn emulator_takes_decimal_durations() {
    // `--after 0.5s` is accepted and means 500 ms: the phone answers exactly then.
    let emu = Emulator::start_with(&["--answer", "approve", "--after", "0.5s"]);
    let c = cfg(&emu);
    let (code, out, err) = passbyme(&["--config", &c, "send", "--to", "d@x", "--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("d@x  APPROVED"), "{out}");
    // A decimal tag too: `after=0.75s` is 750 ms.
    let (code, out, err) = passbyme(&["--config", &c, "send", "--to", "e+after=0.75s@x", "--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    let at = |id: &str| {
        emu.messages()
            .iter()
            .find(|m| m["recipients"][0]["userId"] == id)
            .and_then(|m| {
                m["recipients"][0]["history"]
                    .as_array()
                    .and_then(|h| h.iter().find(|e| e["status"] == "APPROVED"))
                    .and_then(|e| e["atMs"].as_u64())
            })
    };
    assert_eq!(at("d@x"), Some(500));
    assert_eq!(at("e+after=0.75s@x"), Some(750));
    // Garbage is refused with the parser's reason, before anything starts.
    let dir = crate::util::TempDir::new("emu-bad");
    let state = dir.path().join("state");
    for (after, why) in [
        ("0.5ms", "finer than a millisecond"),
        ("-0.5s", "is not a duration"),
        ("NaNs", "is not a duration"),
        ("99999999999999999999s", "too long"),
    ] {
        let (code, _, err) = passbyme(&[
            "emulator",
            "--state-dir",
            state.to_str().unwrap(),
            &format!("--after={after}"),
        ]);
        assert_eq!(code, 2, "{after}: {err}");
        assert!(err.contains(why), "{after}: {err}");
    }
    assert!(
        !state.exists(),
        "a refused flag must not create the state directory"
    );
}
