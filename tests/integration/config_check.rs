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
