use std::sync::Arc;
use std::time::Duration;

use crate::util::pam::{
    assert_died_by_sigterm, config_limits, run_child, signal_child, Setup, MAXTRIES,
};
use crate::util::{eventually, passbyme, syslog, Emulator};

fn setup(emu: &Emulator, limits: &str, users: &str) -> Setup {
    Setup::new(&config_limits(emu, limits, "prompt = \"info\"", users), "")
}

#[test]
fn the_push_over_the_rate_limit_never_reaches_the_service() {
    let emu = Emulator::start();
    let s = setup(
        &emu,
        "max_pushes = 2\nlockout_after = 0",
        "lr_rate = \"lr+deny+after=100ms@x\"",
    );
    assert_eq!(s.login("lr_rate").0, MAXTRIES);
    assert_eq!(s.login("lr_rate").0, MAXTRIES);
    let (rc, conv) = s.login("lr_rate");
    assert_eq!(rc, MAXTRIES);
    // No hint (no push): only the line saying why.
    assert_eq!(
        conv,
        vec![
            "3:PassBy[ME]: too many login requests in a short time. Wait a few minutes \
              before you try again."
        ],
        "no push: {conv:?}"
    );
    assert_eq!(emu.messages().len(), 2, "the third push was never sent");
    let line = syslog().line_with("decision=limited user=lr_rate ");
    assert!(
        line.contains("reason=\"rate limit: 2 pushes in the last 10m from host:198.51.100.7\""),
        "{line}"
    );
}

#[test]
fn lockout_after_denials_then_expiry_and_unlock() {
    let emu = Emulator::start();
    let s = setup(
        &emu,
        "lockout_after = 2\nlockout = \"2s\"",
        "ll_lock = \"ll+deny+after=100ms@x\"",
    );
    assert_eq!(s.login("ll_lock").0, MAXTRIES);
    assert_eq!(s.login("ll_lock").0, MAXTRIES);
    assert_eq!(s.login("ll_lock").0, MAXTRIES);
    assert_eq!(emu.messages().len(), 2, "locked: no third push");
    assert!(syslog()
        .line_with("decision=limited user=ll_lock ")
        .contains("locked out after 2 denials in a row"));
    // The admin sees it, and the lock expires by itself.
    let cfg = s.config.to_str().unwrap().to_owned();
    let (code, out, _) = passbyme(&["--config", &cfg, "status", "ll_lock"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(
            "ll_lock: 2 pushes in the window, 2 denials in a row, not locked (every source:"
        ) && out.contains(
            "  from host:198.51.100.7: 2 pushes in the window, 2 denials in a row, LOCKED for"
        ),
        "{out}"
    );
    eventually(Duration::from_secs(30), "the lockout to expire", || {
        passbyme(&["--config", &cfg, "status", "ll_lock"])
            .1
            .contains(
                "from host:198.51.100.7: 2 pushes in the window, 2 denials in a row, not locked",
            )
    });
    assert_eq!(s.login("ll_lock").0, MAXTRIES);
    assert_eq!(
        emu.messages().len(),
        3,
        "a push again after the lockout expired"
    );
    // Locked again (a third denial in a row); `passbyme unlock` clears it at once.
    assert_eq!(s.login("ll_lock").0, MAXTRIES);
    assert_eq!(emu.messages().len(), 3);
    let (code, out, _) = passbyme(&["--config", &cfg, "unlock", "ll_lock"]);
    assert_eq!((code, out.trim()), (0, "ll_lock: limiter state cleared"));
    assert_eq!(s.login("ll_lock").0, MAXTRIES);
    assert_eq!(emu.messages().len(), 4);
}

#[test]
fn two_logins_at_once_give_one_push() {
    let emu = Emulator::start();
    let s = Arc::new(setup(&emu, "", "lc_two = \"lc+approve+after=1500ms@x\""));
    let s2 = s.clone();
    let first = std::thread::spawn(move || s2.login("lc_two").0);
    eventually(Duration::from_secs(5), "the first push", || {
        !emu.messages().is_empty()
    });
    assert_eq!(s.login("lc_two").0, MAXTRIES, "the second login is refused");
    assert!(
        !first.is_finished(),
        "refused at once, while the first login was still waiting"
    );
    assert_eq!(first.join().unwrap(), 0, "the first one goes through");
    assert_eq!(emu.messages().len(), 1);
    assert!(syslog()
        .line_with("decision=limited user=lc_two ")
        .contains("another login for this user is waiting"));
}

#[test]
fn replace_policy_cancels_the_first_push() {
    let emu = Emulator::start();
    let s = Arc::new(setup(
        &emu,
        "concurrent = \"replace\"",
        "lp_rep = \"lp+approve+after=2s@x\"",
    ));
    let s2 = s.clone();
    let first = std::thread::spawn(move || s2.login("lp_rep").0);
    eventually(Duration::from_secs(5), "the first push", || {
        !emu.messages().is_empty()
    });
    let first_id = emu.messages()[0]["messageId"].as_str().unwrap().to_owned();
    // Only a recorded message id can be cancelled by the next login: wait for it.
    let cfg = s.config.to_str().unwrap().to_owned();
    eventually(
        Duration::from_secs(10),
        "the first message id in the state",
        || {
            passbyme(&["--config", &cfg, "status", "lp_rep"])
                .1
                .contains(&format!(" message {first_id} "))
        },
    );
    assert_eq!(
        s.login("lp_rep").0,
        0,
        "the second login's own push is approved"
    );
    assert_eq!(
        first.join().unwrap(),
        MAXTRIES,
        "the first login ends refused"
    );
    assert_eq!(
        emu.message(&first_id)["recipients"][0]["status"],
        "CANCELLED"
    );
    assert_eq!(emu.messages().len(), 2);
    assert!(emu.open_messages().is_empty());
}

#[test]
fn a_crashed_login_is_cleaned_up_by_the_next() {
    let emu = Emulator::start();
    let child_cfg = config_limits(&emu, "", "prompt = \"info\"", "lk_crash = \"lk+ignore@x\"");
    let child = run_child(
        "pam::child_login",
        &[
            ("PBM_CONFIG", child_cfg.clone()),
            ("PBM_USER", "lk_crash".into()),
        ],
    );
    eventually(Duration::from_secs(10), "the crashing login's push", || {
        !emu.messages().is_empty()
    });
    let old = emu.messages()[0]["messageId"].as_str().unwrap().to_owned();
    // Killed once its message id is recorded (the module records it first thing after the
    // POST is answered: what is left of the window is documented).
    let status = crate::util::TempDir::new("lk-status");
    let cfg = status.write("passbyme.toml", &child_cfg, 0o600);
    eventually(
        Duration::from_secs(10),
        "the message id in the state",
        || {
            passbyme(&["--config", cfg.to_str().unwrap(), "status", "lk_crash"])
                .1
                .contains(&format!("pending push: pid {} message {old} ", child.id()))
        },
    );
    let (out, _) = signal_child(child, libc::SIGKILL);
    assert!(!out.status.success());
    // Its pending entry survived; the next login finds the process gone, cancels the
    // orphaned message and proceeds.
    let s = setup(&emu, "", "lk_crash = \"lk2+approve+after=300ms@x\"");
    assert_eq!(s.login("lk_crash").0, 0);
    assert_eq!(emu.message(&old)["recipients"][0]["status"], "CANCELLED");
    assert!(emu.open_messages().is_empty());
    syslog().line_with(&format!("limits: cancelled earlier message {old}: ok"));
}

#[test]
fn grace_period_is_opt_in_and_per_host() {
    let emu = Emulator::start();
    let s = setup(
        &emu,
        "grace = \"1m\"",
        "lg_grace = \"lg+approve+after=200ms@x\"",
    );
    assert_eq!(s.login("lg_grace").0, 0);
    assert_eq!(s.login("lg_grace").0, 0);
    assert_eq!(
        emu.messages().len(),
        1,
        "the second login within the grace period sent no push"
    );
    assert!(syslog()
        .line_with("decision=grace user=lg_grace ")
        .contains("policy=limits:grace"));
    // Another remote host, or no remote host at all, still gets a push.
    let ok: pam_passbyme::pamapp::Conversation = Box::new(|_, _| Ok(Some(String::new())));
    assert_eq!(s.login_with("lg_grace", Some(b"203.0.113.9"), ok).0, 0);
    let ok: pam_passbyme::pamapp::Conversation = Box::new(|_, _| Ok(Some(String::new())));
    assert_eq!(s.login_with("lg_grace", None, ok).0, 0);
    assert_eq!(emu.messages().len(), 3);
    // Off by default.
    let s = setup(&emu, "", "lg_off = \"lg_off+approve+after=200ms@x\"");
    assert_eq!(s.login("lg_off").0, 0);
    assert_eq!(s.login("lg_off").0, 0);
    assert_eq!(emu.messages().len(), 5);
}

#[test]
fn a_corrupt_state_file_refuses_without_a_push() {
    let emu = Emulator::start();
    let s = setup(&emu, "", "lx_bad = \"lx+approve@x\"");
    let dir = emu.dir.path().join("limits");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(dir.join("u-lx_bad"), "{garbage").unwrap();
    assert_eq!(s.login("lx_bad").0, MAXTRIES);
    assert!(emu.messages().is_empty());
    let line = syslog().line_with("decision=limited user=lx_bad ");
    assert!(
        line.contains("corrupt state") && line.contains("passbyme unlock lx_bad"),
        "{line}"
    );
    // A state directory others can enter is refused as a configuration error.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(s.login("lx_bad").0, 3);
    // Wait for this very line (an earlier line for the same user is already there).
    let line = syslog().line_with("accessible by group or others (mode 0755");
    assert!(line.contains("decision=error user=lx_bad "), "{line}");
}

/// Holds `user`'s limiter lock as another process would (a stopped su or sudo): its own
/// open file description of the lock file, flocked. Released when dropped.
fn hold_lock(emu: &Emulator, user: &str) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let dir = emu.dir.path().join("limits");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(format!("l-u-{user}")))
        .unwrap();
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    f
}

/// Whether process `pid` has the file `path` open (it is waiting for that lock).
fn has_open(pid: u32, path: &std::path::Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == path))
        })
        .unwrap_or(false)
}

#[test]
fn a_held_lock_delays_only_its_user_until_the_deadline() {
    let emu = Emulator::start();
    let s = Arc::new(Setup::new(
        &config_limits(
            &emu,
            "",
            "prompt = \"info\"\ntimeout = \"5s\"",
            "lh_a = \"lh_a+approve+after=100ms@x\"\nlh_b = \"lh_b+approve+after=100ms@x\"",
        ),
        "",
    ));
    let held = hold_lock(&emu, "lh_a");
    // A's login waits for its lock; meanwhile B logs in normally.
    let s2 = s.clone();
    let a = std::thread::spawn(move || s2.login("lh_a").0);
    assert_eq!(s.login("lh_b").0, 0, "another user is not held up");
    assert_eq!(emu.messages().len(), 1);
    // `passbyme unlock` of the held user gives up after its bounded wait and says so.
    let cfg = s.config.to_str().unwrap().to_owned();
    let (code, out, err) = passbyme(&["--config", &cfg, "unlock", "lh_a"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("lh_a: not cleared: lock wait timed out after")
            && err.contains("(waited at most 5s)"),
        "{err}"
    );
    // A's login ends by its deadline, refused, with no push.
    assert_eq!(a.join().unwrap(), MAXTRIES);
    assert_eq!(emu.messages().len(), 1, "no push for the held user");
    let line = syslog().line_with("decision=limited user=lh_a ");
    assert!(
        line.contains("reason=\"lock wait timed out after ")
            && line.contains("another process holds this user's lock"),
        "{line}"
    );
    // Once the holder lets go, A logs in again.
    drop(held);
    assert_eq!(s.login("lh_a").0, 0);
    assert_eq!(emu.messages().len(), 2);
}

#[test]
fn sigterm_ends_a_lock_wait_at_once() {
    let emu = Emulator::start();
    let cfg = config_limits(
        &emu,
        "",
        "prompt = \"info\"\ntimeout = \"600s\"",
        "lt_term = \"lt_term+approve@x\"",
    );
    let _held = hold_lock(&emu, "lt_term");
    let child = run_child(
        "pam::child_login",
        &[("PBM_CONFIG", cfg), ("PBM_USER", "lt_term".into())],
    );
    let pid = child.id();
    let lock = emu.dir.path().join("limits").join("l-u-lt_term");
    eventually(
        Duration::from_secs(20),
        "the login waiting for the lock",
        || has_open(pid, &lock),
    );
    let (out, took) = signal_child(child, libc::SIGTERM);
    assert!(
        took < Duration::from_secs(60),
        "ended long before its 600 s deadline: {took:?}"
    );
    assert_died_by_sigterm(&out);
    assert!(emu.messages().is_empty(), "no push");
    let line = syslog().line_with("decision=interrupted user=lt_term ");
    assert!(line.contains("signal=SIGTERM"), "{line}");
}
