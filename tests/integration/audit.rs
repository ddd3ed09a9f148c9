//! Audit mode (issue 22 part 1) through real libpam: every path returns PAM_IGNORE (a
//! stack of the module alone then gives PAM_PERM_DENIED, libpam's answer when every module
//! ignored), never PAM_SUCCESS; the emulator is never reached; the limiter's state is never
//! written; the decision line says what enforce mode would have done.

use crate::util::pam::{config_limits, Setup, MAXTRIES, PERM_DENIED, SERVICE_ERR, SUCCESS};
use crate::util::{nss_user, syslog, Emulator};

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
