//! `passbyme check` on the configuration itself: what a policy opens on purpose, GECOS
//! fields users may change, and secrets never echoed by an error (issue 19).

use serde_json::Value;

use crate::util::{passbyme, Emulator, TempDir};

/// `check` (text, then JSON) of `text` written as a config file.
fn check(dir: &TempDir, name: &str, text: &str, extra: &[&str]) -> (i32, String, Value) {
    let p = dir.write(name, text, 0o600);
    let p = p.to_str().unwrap();
    let mut args = vec!["--config", p, "check"];
    args.extend_from_slice(extra);
    let (code, out, err) = passbyme(&args);
    args.push("--json");
    let (jcode, json, _) = passbyme(&args);
    assert_eq!(code, jcode, "{out}{err}");
    (code, out, serde_json::from_str(&json).unwrap())
}

/// The findings of a JSON report with this id.
fn findings<'a>(v: &'a Value, id: &str) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

#[test]
fn fail_open_is_a_warning_that_says_what_it_opens() {
    let emu = Emulator::start();
    let dir = TempDir::new("failopen-check");
    let base = format!(
        "{}{}[users]\nroot = \"r@x\"\n",
        emu.service_table(),
        emu.limits_table("")
    );
    let (code, out, v) = check(&dir, "deny.toml", &base, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(findings(&v, "fail-open").is_empty(), "{v}");

    let text = base.replace("[users]", "[policy]\nunreachable = \"allow\"\n[users]");
    let (code, out, v) = check(&dir, "allow.toml", &text, &[]);
    assert_eq!(code, 1, "{out}");
    let path = dir.path().join("allow.toml");
    let want = format!(
        "{}: policy.unreachable = \"allow\" is a fail-open: whenever no TCP connection to the service can be made before a push",
        path.display()
    );
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with(&format!("PASSBYME WARNING - 1 warning: {want}")),
        "{out}"
    );
    let f = findings(&v, "fail-open");
    assert_eq!(f.len(), 1, "{v}");
    assert_eq!(f[0]["level"], "WARNING");
    let m = f[0]["message"].as_str().unwrap();
    for part in [
        "every mapped user logs in with the first factor alone",
        "block this host's traffic to the service or forge its DNS answer",
    ] {
        assert!(m.contains(part), "{m}");
    }
}

/// Issue 19: config errors are logged at every login and shown in check's first line, and
/// serde quoted the value of a mistyped key: `password = 123456` put the password there.
#[test]
fn a_secret_in_a_malformed_config_never_reaches_check_or_the_log() {
    let emu = Emulator::start();
    let dir = TempDir::new("secret-errors");
    // (the key's line, what must not appear)
    let cases: [(&str, &[&str]); 7] = [
        ("password = 918273645", &["918273645"]),
        ("password = 7.25e3", &["7.25e3", "7250"]),
        ("password = 0x5EC2E7", &["5EC2E7", "6210279"]),
        ("password = Hunter2Secret", &["Hunter2Secret"]),
        ("password = \"Zq8\\qSecret\"", &["Zq8", "qSecret"]),
        ("password = 'Zq9Secret", &["Zq9Secret"]),
        ("password = \"ok\" Zq13Secret", &["Zq13Secret"]),
    ];
    for (i, (line, secrets)) in cases.iter().enumerate() {
        // The emulator's service table without its password file, and the password inline.
        let service = emu
            .service_table()
            .lines()
            .filter(|l| !l.starts_with("password_file"))
            .collect::<Vec<_>>()
            .join("\n");
        let text = format!("{service}\n{line}\n[users]\ncs_user{i} = \"cs+approve@x\"\n");
        // The line the error must name.
        let at = service.lines().count() + 1;
        let name = format!("c{i}.toml");
        let (code, out, v) = check(&dir, &name, &text, &[]);
        let path = dir.path().join(&name);
        let head = format!("{}: line {at}: ", path.display());
        assert_eq!(code, 2, "{line}: {out}");
        assert!(
            out.lines()
                .next()
                .unwrap()
                .starts_with(&format!("PASSBYME CRITICAL - 1 critical: {head}")),
            "{line}: {out}"
        );
        let json = v.to_string();
        for s in *secrets {
            assert!(!out.contains(s), "{line}: {s} in check's output:\n{out}");
            assert!(!json.contains(s), "{line}: {s} in check --json:\n{json}");
        }
        // The module: the login is refused with the same error, named by file and line.
        let user = format!("cs_user{i}");
        crate::util::nss_user(&user);
        let s = crate::util::pam::Setup::new(&text, "");
        assert_eq!(s.login(&user).0, crate::util::pam::SERVICE_ERR, "{line}");
        let logged = crate::util::syslog().line_with(&format!("user={user} "));
        let head = format!("error=\"config: {}: line {at}: ", s.config.display());
        assert!(logged.contains(&head), "{line}: {logged}");
        for s in *secrets {
            assert!(!logged.contains(s), "{line}: {s} in the log: {logged}");
        }
    }
}

/// `passbyme ARGS` reading `login_defs` for CHFN_RESTRICT: (exit code, stdout).
fn check_with_login_defs(login_defs: &std::path::Path, args: &[&str]) -> (i32, String) {
    crate::util::syslog(); // its audit lines need a /dev/log
    let out = std::process::Command::new(crate::util::BIN)
        .args(args)
        .env("PASSBYME_LOGIN_DEFS", login_defs)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Issue 19: README's `gecos_field = 2` read the room number, which Debian's default
/// `CHFN_RESTRICT rwh` lets every user change with `chfn -r`.
#[test]
fn a_gecos_part_users_may_change_is_critical() {
    let emu = Emulator::start();
    let dir = TempDir::new("gecos-check");
    crate::util::nss_user_gecos("gc_alice", "Alice A,gc-room@x,1,2,gc_alice+approve@x");
    let debian = dir.write("login.defs", "# Debian 12\nCHFN_RESTRICT\t\trwh\n", 0o644);
    let none = dir.write("none.defs", "# nothing about chfn\n", 0o644);
    let open = dir.write("open.defs", "CHFN_RESTRICT no\n", 0o644);
    let with = |name: &str, mapping: &str| {
        let text = format!(
            "{}{}[mapping]\n{mapping}\n[users]\n",
            emu.service_table(),
            emu.limits_table("")
        );
        dir.write(name, &text, 0o600)
    };
    let room = with("room.toml", "gecos_field = 2");
    let other = with("other.toml", "gecos_field = 5");
    let semi = with("semi.toml", "gecos_field = 5\ngecos_delimiter = \";\"");
    let run = |cfg: &std::path::Path, defs: &std::path::Path, user: Option<&str>| {
        let mut args = vec!["--config", cfg.to_str().unwrap(), "check"];
        if let Some(u) = user {
            args.extend(["--user", u]);
        }
        check_with_login_defs(defs, &args)
    };

    // The room number under Debian's default: CRITICAL, in check and in check --user.
    let (code, out) = run(&room, &debian, None);
    assert_eq!(code, 2, "{out}");
    let want = format!(
        "FAIL  mapping.gecos_field = 2 reads a part of the GECOS field that CHFN_RESTRICT rwh in {} lets users change: every local user (in /etc/passwd) may change the room number (chfn -r);",
        debian.display()
    );
    assert!(out.contains(&want), "{out}");
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with("PASSBYME CRITICAL - 1 critical: mapping.gecos_field = 2 reads"),
        "{out}"
    );
    let (code, out) = run(&room, &debian, Some("gc_alice"));
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("gc_alice (a local account) may change the room number (chfn -r)"),
        "{out}"
    );
    assert!(
        out.contains("gc_alice -> gc-room@x (from mapping.gecos_field 2 (GECOS))"),
        "{out}"
    );

    // Field 5 ("other") only root sets: fine under rwh and under "no" (frwh).
    for defs in [&debian, &open] {
        let (code, out) = run(&other, defs, Some("gc_alice"));
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("ok    mapping.gecos_field = 5: a part users cannot change with chfn"),
            "{out}"
        );
    }
    // No CHFN_RESTRICT: only root may change anything, the room number included.
    let (code, out) = run(&room, &none, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(no CHFN_RESTRICT in "), "{out}");
    // Another delimiter: a user writes it into a part they may change and moves the parts.
    let (code, out) = run(&semi, &debian, None);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("the room number (chfn -r) and the work phone (chfn -w) and the home phone (chfn -h), and can write ';' there to move the parts"),
        "{out}"
    );
}
