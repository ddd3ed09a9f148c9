//! The host process: no environment variable changes the decision or makes the module
//! write; a signal during the prompt cancels on any stack size; many threads loading,
//! authenticating and ending leave the process as it was; a panic in the hook is a
//! failure, never an abort. Also the login loop tests/hardening.sh runs under valgrind.

use std::time::Duration;

use crate::util::child::{in_child, in_child_late, Case, ChildSetup};
use crate::util::pam::{
    assert_died_by_sigterm, child_at_conversation, config, decision, fast_config, fast_service,
    mark_reached, panic_module, raw_login, signal_child, Setup, AUTHINFO_UNAVAIL, AUTH_ERR,
    MAXTRIES, SERVICE_ERR, SUCCESS, USER_UNKNOWN,
};
use crate::util::{syslog, Emulator, TempDir};

#[test]
fn no_environment_variable_changes_the_decision_or_makes_the_module_write() {
    let emu = Emulator::start();
    let t = TempDir::new("env");
    let keylog = t.path().join("keylog.txt");
    let ca = format!("{}/ca.pem", emu.dir.path().display());
    let svc = fast_service(&emu);
    // With the vendor trust store, the emulator is untrusted: SSL_CERT_FILE naming the
    // emulator's CA must not change that.
    let vendor_store = svc.replace(&format!("ca_bundle = \"{ca}\"\n"), "");
    assert_ne!(svc, vendor_store);
    let setups = [
        ChildSetup::new(
            fast_config(&emu, &svc, "he_ok = \"he_ok+approve+after=200ms@x\"")
                .replace("prompt = \"none\"", "prompt = \"enter\""),
            "",
        ),
        ChildSetup::new(fast_config(&emu, &vendor_store, "he_ca = \"he_ca@x\""), ""),
    ];
    let cases = [
        Case::new(0, "he_ok"),
        Case::new(1, "he_ca"),
        Case::new(0, "he_ok"),
    ];
    let keylog_s = keylog.display().to_string();
    let emu_dir = emu.dir.path().display().to_string();
    let env: Vec<(&str, &str)> = vec![
        ("HTTPS_PROXY", "http://127.0.0.1:1"),
        ("https_proxy", "http://127.0.0.1:1"),
        ("HTTP_PROXY", "http://127.0.0.1:1"),
        ("http_proxy", "http://127.0.0.1:1"),
        ("ALL_PROXY", "socks5://127.0.0.1:1"),
        ("all_proxy", "socks5://127.0.0.1:1"),
        ("NO_PROXY", ""),
        ("SSL_CERT_FILE", &ca),
        ("SSL_CERT_DIR", &emu_dir),
        ("SSLKEYLOGFILE", &keylog_s),
        ("HOME", "/nonexistent"),
        ("LANG", "tr_TR.UTF-8"),
        ("LC_ALL", "tr_TR.UTF-8"),
        ("LANGUAGE", "tr"),
        ("TZ", ":/etc/passwd"),
        ("RUST_BACKTRACE", "full"),
        ("RUST_LIB_BACKTRACE", "1"),
        ("RUST_LOG", "trace"),
        ("PBM_CONFIG", "/nonexistent"),
    ];
    // RUST_MIN_STACK would size the harness's threads too: the child sets it itself.
    let out = in_child_late(&setups, &cases, 1, &env, &[("RUST_MIN_STACK", "1")]);
    assert_eq!(out[0].rc, SUCCESS, "{:?}", out[0]);
    assert_eq!(out[2].rc, SUCCESS, "{:?}", out[2]);
    assert_eq!(out[1].rc, AUTHINFO_UNAVAIL, "{:?}", out[1]);
    decision("he_ca", &["decision=unreachable", "UnknownIssuer"]);
    decision("he_ok", &["decision=approved"]);
    assert!(!keylog.exists(), "SSLKEYLOGFILE was honoured");
    assert!(emu.open_messages().is_empty());
}

/// A login whose prompt blocks (as sshd's does while it waits for the client), with
/// RUST_MIN_STACK=1 set before the module's first thread: the signal watcher then runs the
/// cancel on whatever stack the environment chose.
#[test]
#[ignore = "run by a_signal_during_the_prompt_cancels_whatever_rust_min_stack_says"]
fn child_prompt_small_stack() {
    if std::env::var_os("PBM_CHILD").is_none() {
        return;
    }
    std::env::set_var("RUST_MIN_STACK", "1");
    let s = Setup::new(&std::env::var("PBM_CONFIG").unwrap(), "");
    let h = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            s.login_with(
                "hz_stack",
                Some(b"198.51.100.8"),
                Box::new(|_, _| {
                    mark_reached();
                    std::thread::sleep(Duration::from_secs(30));
                    Ok(Some(String::new()))
                }),
            )
            .0
        })
        .unwrap();
    println!(
        "RC={} (the process should have died by the signal)",
        h.join().unwrap()
    );
}

#[test]
fn a_signal_during_the_prompt_cancels_whatever_rust_min_stack_says() {
    let emu = Emulator::start();
    let cfg = config(&emu, "", "hz_stack = \"hz_stack+ignore@x\"");
    let child = child_at_conversation("host::child_prompt_small_stack", cfg, "the login to prompt");
    let (out, _) = signal_child(child, libc::SIGTERM);
    assert_died_by_sigterm(&out);
    assert_eq!(
        emu.status_for("hz_stack+ignore@x").as_deref(),
        Some("CANCELLED")
    );
}

#[test]
fn multithreaded_load_authenticate_end_cycles_leave_the_host_as_it_was() {
    let emu = Emulator::start();
    let users: String = (0..4)
        .map(|t| format!("hm{t} = \"hm{t}+approve+after=0ms@x\"\n"))
        .collect();
    let setups = [ChildSetup::new(
        fast_config(&emu, &fast_service(&emu), &users),
        "",
    )];
    let cases = vec![Case::new(0, "hm{t}"); 8];
    let out = in_child(&setups, &cases, 4, &[]);
    assert!(out.iter().all(|o| o.rc == SUCCESS), "{out:?}");
    assert_eq!(emu.messages().len(), 32);
    assert!(emu.open_messages().is_empty());
}

#[test]
fn a_panic_inside_the_hook_is_a_failure_never_an_abort() {
    let emu = Emulator::start();
    let m = panic_module();
    let cfg = fast_config(
        &emu,
        &fast_service(&emu),
        &((0..4)
            .map(|t| format!("hk_after{t} = \"hk_after{t}+approve+after=0ms@x\"\n"))
            .collect::<String>()
            + "hk_panic = \"hk@x\"\n"),
    );
    let setups = [
        ChildSetup {
            module: Some(m.clone()),
            ..ChildSetup::new(cfg.clone(), "test_panic")
        },
        ChildSetup {
            module: Some(m),
            ..ChildSetup::new(cfg, "")
        },
    ];
    let cases = [
        Case::new(0, "hk_panic"),
        Case::new(0, "hk_panic"),
        Case::new(1, "hk_after{t}"),
    ];
    // Four threads panic at once, twice; then the same module logs in normally.
    let out = in_child(&setups, &cases, 4, &[("RUST_BACKTRACE", "full")]);
    assert_eq!(out[0].rc, AUTH_ERR, "{:?}", out[0]);
    assert_eq!(out[1].rc, AUTH_ERR, "{:?}", out[1]);
    assert_eq!(out[2].rc, SUCCESS, "{:?}", out[2]);
    let crit = syslog().line_with("internal error (panic); denied");
    assert!(crit.starts_with("<82>"), "authpriv.crit: {crit}");
    let hook = syslog().line_with("pam_passbyme: internal error (denied)");
    assert!(hook.contains("forced by test_panic"), "{hook}");
    assert!(emu
        .messages()
        .iter()
        .all(|m| m["recipients"][0]["userId"] != "hk@x"));
    assert!(emu.open_messages().is_empty());
}

/// A loop of real-libpam logins of every kind, in this process: approve (with the prompt
/// and its signal watcher thread), deny, unmapped, a poll fault, a bad config, a failed
/// conversation. Runs only with PBM_VALGRIND set.
#[test]
#[ignore = "run under valgrind by tests/hardening.sh"]
fn valgrind_login_loop() {
    if std::env::var_os("PBM_VALGRIND").is_none() {
        return;
    }
    std::env::set_var("PBM_CHILD", "1"); // no /dev/log capture in this process
    let emu = Emulator::start();
    let users = "va = \"va+approve+after=0ms@x\"\nvd = \"vd+deny+after=0ms@x\"\nvf = \"vf+fault=badjson+ignore@x\"\nvc = \"vc+ignore@x\"\n";
    // Under valgrind, on a loaded machine, a TLS handshake takes seconds: the longest
    // network timeouts and login deadline the config accepts (no case here waits for them).
    let service = emu.service_table() + "connect_timeout = \"60s\"\nrequest_timeout = \"120s\"\n";
    let good = fast_config(&emu, &service, users)
        .replace("timeout = \"5s\"", "timeout = \"600s\"")
        .replace("prompt = \"none\"", "prompt = \"enter\"");
    let s = Setup::new(&good, "");
    let bad = Setup::new("[service\n", "");
    for _ in 0..3 {
        assert_eq!(s.login("va").0, SUCCESS);
        assert_eq!(s.login("vd").0, MAXTRIES);
        assert_eq!(s.login("nobody").0, USER_UNKNOWN);
        assert_eq!(s.login("vf").0, AUTH_ERR);
        assert_eq!(bad.login("va").0, SERVICE_ERR);
        let (rc, _) = s.login_with("vc", Some(b"192.0.2.1"), Box::new(|_, _| Err(())));
        assert_eq!(rc, 19);
        let (rc, _) = raw_login(&s.confdir(), b"va\xff", Some(b"\x1b[2J"), Some(b"\xfe"));
        assert_eq!(rc, USER_UNKNOWN);
    }
    assert!(emu.open_messages().is_empty());
}
