//! Audit mode (issue 22 part 1) through real libpam: every path returns PAM_IGNORE (a
//! stack of the module alone then gives PAM_PERM_DENIED, libpam's answer when every module
//! ignored), never PAM_SUCCESS; the emulator is never reached; the limiter's state is never
//! written; the decision line says what enforce mode would have done.

use crate::util::pam::{config_limits, Setup, MAXTRIES, PERM_DENIED, SERVICE_ERR, SUCCESS};
use crate::util::{nss_user, passbyme, syslog, Emulator, TempDir};

/// What libpam gives for a stack whose only module returned PAM_IGNORE.
const IGNORED: i32 = PERM_DENIED;

fn audit_config(emu: &Emulator, policy: &str, users: &str) -> String {
    config_limits(
        emu,
        "max_pushes = 1\nlockout_after = 0",
        &format!("prompt = \"info\"\n[policy]\nmode = \"audit\"\n{policy}"),
        users,
    )
}

/// The decision line of `user`, from `decision=` on, with its duration replaced by `D`.
fn line_of(user: &str, word: &str) -> (String, String) {
    let raw = syslog().line_with(&format!("decision={word} user={user} "));
    let at = raw.find("decision=").unwrap();
    let line = &raw[at..];
    let (head, rest) = line.split_once(" duration=").unwrap();
    let (_, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    (
        raw.clone(),
        format!("{head} duration=D {tail}").trim_end().to_owned(),
    )
}

#[test]
fn audit_would_push_sends_nothing_and_shows_nothing() {
    let emu = Emulator::start();
    let s = Setup::new(&audit_config(&emu, "", "au_push = \"au_push@x\""), "");
    let (rc, conv) = s.login("au_push");
    assert_eq!(rc, IGNORED);
    assert!(conv.is_empty(), "nothing shown: {conv:?}");
    let (raw, line) = line_of("au_push", "would-push");
    assert_eq!(
        line,
        "decision=would-push user=au_push ids=au_push@x service=pbm-test rhost=198.51.100.7 tty=pts/9 duration=D mode=audit"
    );
    assert!(raw.starts_with("<86>"), "authpriv.info: {raw}");
    assert_eq!(emu.counters(), (0, 0, 0), "the emulator was never reached");
    assert!(emu.messages().is_empty());
}

#[test]
fn audit_would_deny_and_would_skip_carry_enforce_reasons() {
    let emu = Emulator::start();
    nss_user("au_unmapped");
    let s = Setup::new(
        &audit_config(&emu, "local = \"deny\"", "au_local = \"a@x\""),
        "",
    );
    assert_eq!(s.login("au_unmapped").0, IGNORED);
    assert_eq!(
        line_of("au_unmapped", "would-deny").1,
        "decision=would-deny user=au_unmapped ids=- service=pbm-test rhost=198.51.100.7 tty=pts/9 duration=D mode=audit enforce=unmapped policy=unmapped:deny"
    );
    let (rc, _) = s.login_with("au_local", None, Box::new(|_, _| Ok(Some(String::new()))));
    assert_eq!(rc, IGNORED);
    assert_eq!(
        line_of("au_local", "would-deny").1,
        "decision=would-deny user=au_local ids=a@x service=pbm-test rhost=- tty=pts/9 duration=D mode=audit enforce=local-denied policy=local:deny"
    );
    let s = Setup::new(&audit_config(&emu, "unmapped = \"ignore\"", ""), "");
    nss_user("au_skip");
    assert_eq!(s.login("au_skip").0, IGNORED);
    assert_eq!(
        line_of("au_skip", "would-skip").1,
        "decision=would-skip user=au_skip ids=- service=pbm-test rhost=198.51.100.7 tty=pts/9 duration=D mode=audit enforce=unmapped policy=unmapped:ignore"
    );
    assert_eq!(emu.counters(), (0, 0, 0));
}

#[test]
fn audit_reads_the_limits_and_never_writes_them() {
    let emu = Emulator::start();
    let users = "au_limit = \"au_limit@x\"";
    // Enforce mode uses up the one push of the window (the emulator approves).
    let enforce = Setup::new(
        &config_limits(
            &emu,
            "max_pushes = 1\nlockout_after = 0",
            "prompt = \"info\"",
            users,
        ),
        "",
    );
    assert_eq!(enforce.login("au_limit").0, SUCCESS);
    let state = emu.config_path().parent().unwrap().join("limits");
    let files = |dir: &std::path::Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_name().to_string_lossy().starts_with("l-"))
            .map(|e| {
                let p = e.path();
                (p.display().to_string(), std::fs::read(&p).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = files(&state);
    emu.reset_stats();
    let s = Setup::new(&audit_config(&emu, "", users), "");
    for _ in 0..3 {
        assert_eq!(s.login("au_limit").0, IGNORED);
    }
    let (_, line) = line_of("au_limit", "would-deny");
    assert_eq!(
        line,
        "decision=would-deny user=au_limit ids=au_limit@x service=pbm-test rhost=198.51.100.7 tty=pts/9 duration=D mode=audit enforce=limited policy=limits reason=\"rate limit: 1 pushes in the last 10m from host:198.51.100.7\""
    );
    assert_eq!(files(&state), before, "the limiter's state is unchanged");
    assert_eq!(emu.counters(), (0, 0, 0));
    assert_eq!(emu.messages().len(), 1, "only enforce mode's push");
}

#[test]
fn audit_config_errors_step_aside_loudly() {
    let emu = Emulator::start();
    // A file that does not load but says audit: ignored, at ALERT (authpriv.alert = <81>).
    let broken = format!(
        "{}[policy]\nmode = \"audit\"\nunknown_key = 1\n[users]\nau_cfg = \"x@x\"\n",
        emu.service_table()
    );
    nss_user("au_cfg");
    let s = Setup::new(&broken, "");
    assert_eq!(s.login("au_cfg").0, IGNORED);
    let (raw, line) = line_of("au_cfg", "would-deny");
    assert!(raw.starts_with("<81>"), "authpriv.alert: {raw}");
    assert!(
        line.contains(" mode=audit enforce=error error=\"config: ") && line.contains("unknown_key"),
        "{line}"
    );
    // The same file without the mode: denied, as ever.
    let s = Setup::new(&broken.replace("mode = \"audit\"\n", ""), "");
    assert_eq!(s.login("au_cfg").0, SERVICE_ERR);
    // The same file, unsafe (writable by others): it says nothing, so denied.
    let s = Setup::new(&broken, "");
    std::fs::set_permissions(
        &s.config,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    assert_eq!(s.login("au_cfg").0, SERVICE_ERR);
    // mode=audit on the line covers a bad argument and a missing credentials file.
    let s = Setup::new(&broken, "mode=audit nullok");
    assert_eq!(s.login("au_cfg").0, IGNORED);
    // Arguments are read before the user name: the line has none.
    let raw = syslog().line_with("error=\"unknown argument 'nullok'\"");
    assert!(
        raw.contains(": decision=would-deny user=- ids=- service=pbm-test ")
            && raw.ends_with(" mode=audit enforce=error error=\"unknown argument 'nullok'\""),
        "{raw}"
    );
    let no_creds =
        audit_config(&emu, "", "au_creds = \"x@x\"").replace("client.pem", "missing.pem");
    let s = Setup::new(&no_creds, "");
    assert_eq!(s.login("au_creds").0, IGNORED);
    let (raw, line) = line_of("au_creds", "would-deny");
    assert!(raw.starts_with("<81>"), "{raw}");
    assert!(
        line.contains(" mode=audit enforce=error error=\"") && line.contains("missing.pem"),
        "{line}"
    );
    assert_eq!(emu.counters(), (0, 0, 0));
}

#[test]
fn audit_the_argument_overrides_the_file_both_ways() {
    let emu = Emulator::start();
    let users = "au_arg = \"au_arg@x\"";
    let enforce_file = config_limits(&emu, "max_pushes = 1000", "prompt = \"info\"", users);
    let s = Setup::new(&enforce_file, "mode=audit");
    assert_eq!(s.login("au_arg").0, IGNORED);
    assert_eq!(
        line_of("au_arg", "would-push").1,
        "decision=would-push user=au_arg ids=au_arg@x service=pbm-test rhost=198.51.100.7 tty=pts/9 duration=D mode=audit"
    );
    assert!(emu.messages().is_empty());
    // A file in audit mode, and mode=enforce on this service's line: a real push.
    let audit_file =
        audit_config(&emu, "", users).replace("max_pushes = 1\n", "max_pushes = 1000\n");
    let s = Setup::new(&audit_file, "mode=enforce");
    assert_eq!(s.login("au_arg").0, SUCCESS);
    assert_eq!(emu.messages().len(), 1);
    syslog().line_with("decision=approved user=au_arg ");
}

#[test]
fn audit_the_stack_runs_as_without_the_module() {
    let emu = Emulator::start();
    // A denying phone: in enforce mode this stack fails; in audit mode pam_permit decides.
    let users = "au_stack = \"au_stack+deny@x\"";
    let after = "auth required pam_permit.so\n";
    let s = Setup::with_stack(&audit_config(&emu, "", users), "", after);
    assert_eq!(s.login("au_stack").0, SUCCESS);
    syslog().line_with("decision=would-push user=au_stack ");
    let s = Setup::with_stack(&audit_config(&emu, "", users), "mode=enforce", after);
    assert_eq!(s.login("au_stack").0, MAXTRIES);
}

/// `passbyme report` on lines the module really wrote through real libpam in this test
/// (captured at /dev/log), with forged lines mixed in: exact counts, alerts, exit codes.
#[test]
fn report_counts_real_decision_lines_and_raises_the_alerts() {
    let emu = Emulator::start();
    let users = "rp_alice = \"rp_alice@x\"\nrp_bob = \"rp_bob+deny@x\"";
    let s = Setup::new(
        &config_limits(
            &emu,
            "max_pushes = 1000\nlockout_after = 0",
            "prompt = \"info\"",
            users,
        ),
        "",
    );
    assert_eq!(s.login("rp_alice").0, SUCCESS);
    assert_eq!(s.login("rp_alice").0, SUCCESS);
    for _ in 0..3 {
        assert_eq!(s.login("rp_bob").0, MAXTRIES);
    }
    // A fail-open: nothing listens on port 1.
    let open = format!(
        "{}[policy]\nunreachable = \"allow\"\n[login]\nprompt = \"none\"\n[users]\nrp_carol = \"c@x\"\n",
        emu.service_table().replace(&emu.addr, "127.0.0.1:1")
    );
    assert_eq!(Setup::new(&open, "").login("rp_carol").0, SUCCESS);
    nss_user("rp_dave");
    let audit = Setup::new(&audit_config(&emu, "", "rp_erin = \"e@x\""), "");
    assert_eq!(audit.login("rp_dave").0, IGNORED);
    assert_eq!(audit.login("rp_erin").0, IGNORED);
    syslog().line_with("decision=would-push user=rp_erin ");
    let mut lines: Vec<String> = syslog()
        .lines()
        .into_iter()
        .filter(|l| l.contains(" user=rp_"))
        .collect();
    assert_eq!(lines.len(), 8, "{lines:#?}");
    // What any local user could add with logger: a different order, an audit word
    // without mode=audit, a forged decision inside a quoted value, a truncated line.
    let stamp = lines[0][..lines[0].find(": pam_passbyme(").unwrap()].to_owned();
    for forged in [
        "pam_passbyme(pbm-test:auth): user=rp_alice decision=fail-open ids=x service=pbm-test rhost=x tty=x duration=0.0s",
        "pam_passbyme(pbm-test:auth): decision=would-deny user=rp_alice ids=x service=pbm-test rhost=x tty=x duration=0.0s",
        "pam_passbyme(pbm-test:auth): decision=error user=rp_zed ids=- service=pbm-test rhost=- tty=- duration=0.0s error=\"x\" decision=fail-open user=rp_alice",
        "pam_passbyme(pbm-test:auth): decision=fail-open user=rp_alice ids=x",
    ] {
        lines.push(format!("{stamp}: {forged}"));
    }
    let input = TempDir::new("report");
    let file = input.write("auth.log", &(lines.join("\n") + "\n"), 0o600);
    let file = file.to_str().unwrap();
    let (code, out, err) = passbyme(&["report", "--file", file, "--since", "1h"]);
    assert_eq!(code, 2, "{out}{err}");
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("PASSBYME CRITICAL - 2 critical, 2 warning: "),
        "{out}"
    );
    for want in [
        "FAIL  push-fatigue: push fatigue: 3 denied, unanswered, abandoned or rate-limited logins of rp_bob within 10m from 1 source(s) (198.51.100.7)",
        "FAIL  fail-open: 1 login(s) of rp_carol let in without the second factor",
        "WARN  audit-would-deny: audit: rp_dave would be refused in enforce mode (1 login(s); enforce=unmapped policy=unmapped:deny)",
        "WARN  errors: 1 login(s) ended in an error (first: decision=error user=rp_zed error=\"x\" decision=fail-open user=rp_alice)",
        "9 decision line(s) counted, 3 malformed, 0 untrusted",
    ] {
        assert!(out.contains(want), "want {want:?} in\n{out}");
    }
    let (code, json, _) = passbyme(&["report", "--file", file, "--since", "1h", "--json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let user = |name: &str| {
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["user"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(user("rp_alice")["approved"], 2);
    assert_eq!(
        user("rp_alice")["fail-open"],
        0,
        "no forged fail-open counts"
    );
    assert_eq!(user("rp_alice")["would-deny"], 0);
    assert!(user("rp_alice")["latency_p95"].as_f64().is_some());
    assert_eq!(user("rp_bob")["denied"], 3);
    assert_eq!(user("rp_carol")["fail-open"], 1);
    assert_eq!(user("rp_dave")["would-deny"], 1);
    assert_eq!(user("rp_erin")["would-push"], 1);
    assert_eq!(v["total"]["approved"], 2);
    assert_eq!(v["malformed"], 3);
    // A burst threshold above what happened, and a window that ends before: fewer alerts.
    let (code, out, _) = passbyme(&["report", "--file", file, "--since", "1h", "--burst", "4"]);
    assert_eq!(code, 2, "the fail-open is still there: {out}");
    assert!(!out.contains("push-fatigue"), "{out}");
    let (code, out, _) = passbyme(&["report", "--file", file, "--since", "2h", "--until", "1h"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("PASSBYME OK - 0 decision(s)"), "{out}");
    let (code, out, _) = passbyme(&["report", "--file", "/nonexistent/auth.log"]);
    assert_eq!(code, 3);
    assert!(out.starts_with("PASSBYME UNKNOWN - report: "), "{out}");
}
