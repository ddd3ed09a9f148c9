//! The module through real libpam: PAM codes, the module as built, private service
//! setups, logins (with text or raw bytes), the decision line, and children that log in
//! in a process of their own.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pam_passbyme::pamapp::{self, Transaction};

use super::{
    config_users, eventually, nss_user, remove_child_dirs, syslog, Emulator, TempDir, BIN,
};

pub const SUCCESS: i32 = 0;
pub const SERVICE_ERR: i32 = 3;
/// What libpam answers when the only module of the stack returned PAM_IGNORE.
pub const PERM_DENIED: i32 = 6;
pub const AUTH_ERR: i32 = 7;
pub const AUTHINFO_UNAVAIL: i32 = 9;
pub const USER_UNKNOWN: i32 = 10;
/// A definite answer (refused, timed out, limited): trying again would only push again.
pub const MAXTRIES: i32 = 11;
pub const CONV_ERR: i32 = 19;

/// The module as built by `cargo build` (tests/run.sh builds it first), copied under its
/// installed name (`pam_syslog` takes its log prefix from the file name).
pub fn module() -> PathBuf {
    static M: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        let built = Path::new(BIN).parent().unwrap().join("libpam_passbyme.so");
        assert!(
            built.is_file(),
            "{} missing: run `cargo build` before the tests",
            built.display()
        );
        install_copy(&built, &Path::new(BIN).parent().unwrap().join("pam-test"))
    })
    .clone()
}

/// Copies `built` to `dir/pam_passbyme.so` through a private temporary name and a rename:
/// every test process (children included) shares the one directory, a process that has the
/// old file loaded keeps its inode, and nothing is left behind per process.
fn install_copy(built: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(".pam_passbyme.so.{}", std::process::id()));
    std::fs::copy(built, &tmp).unwrap();
    let installed = dir.join("pam_passbyme.so");
    std::fs::rename(&tmp, &installed).unwrap();
    installed
}

/// A private PAM configuration: a config file and a service file naming the module.
pub struct Setup {
    pub dir: TempDir,
    pub config: PathBuf,
}

impl Setup {
    /// `config` is the TOML text; `args` go on the module's line; `after` adds lines.
    pub fn new(config: &str, args: &str) -> Setup {
        Setup::with_stack(config, args, "")
    }

    pub fn with_stack(config: &str, args: &str, after: &str) -> Setup {
        if std::env::var_os("PBM_CHILD").is_none() {
            syslog(); // listening before the module logs anything
        }
        for user in config_users(config) {
            nss_user(&user);
        }
        let dir = TempDir::new("pam");
        let cfg = dir.write("passbyme.toml", config, 0o600);
        let pamd = dir.path().join("pam.d");
        std::fs::create_dir(&pamd).unwrap();
        let line = format!(
            "auth required {} config={} {args}\n{after}",
            module().display(),
            cfg.display()
        );
        std::fs::write(pamd.join("pbm-test"), line).unwrap();
        Setup { dir, config: cfg }
    }

    pub fn confdir(&self) -> PathBuf {
        self.dir.path().join("pam.d")
    }

    /// One login: returns the PAM code and what the conversation saw.
    pub fn login(&self, user: &str) -> (i32, Vec<String>) {
        self.login_with(
            user,
            Some(b"198.51.100.7"),
            Box::new(|_, _| Ok(Some(String::new()))),
        )
    }

    pub fn login_with(
        &self,
        user: &str,
        rhost: Option<&[u8]>,
        answer: pamapp::Conversation,
    ) -> (i32, Vec<String>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let mut answer = answer;
        let conv: pamapp::Conversation = Box::new(move |style, text| {
            s2.lock().unwrap().push(format!("{style}:{text}"));
            answer(style, text)
        });
        let tx = Transaction::start("pbm-test", user, Some(&self.confdir()), conv).unwrap();
        let rc = authenticate(tx, rhost, Some(b"pts/9"));
        let seen = seen.lock().unwrap().clone();
        (rc, seen)
    }
}

pub fn config(emu: &Emulator, extra: &str, users: &str) -> String {
    config_limits(emu, "max_pushes = 1000", extra, users)
}

pub fn config_limits(emu: &Emulator, limits: &str, extra: &str, users: &str) -> String {
    format!(
        "{}{}[login]\npoll_interval = \"100ms\"\npoll_interval_seen = \"100ms\"\n{extra}\n[users]\n{users}\n",
        emu.service_table(),
        emu.limits_table(limits),
    )
}

/// Sets PAM_RHOST and PAM_TTY (None = unset) and authenticates; `pam_end` on return.
fn authenticate(mut tx: Transaction, rhost: Option<&[u8]>, tty: Option<&[u8]>) -> i32 {
    if let Some(r) = rhost {
        tx.set_rhost(r);
    }
    if let Some(t) = tty {
        tx.set_tty(t);
    }
    tx.authenticate(0)
}

/// One `pam_start_confdir` → `pam_authenticate` → `pam_end` with raw bytes for the user,
/// PAM_RHOST and PAM_TTY. Records every message and answers prompts with an empty line
/// (Enter). Returns the code and the conversation's messages.
pub fn raw_login(
    confdir: &Path,
    user: &[u8],
    rhost: Option<&[u8]>,
    tty: Option<&[u8]>,
) -> (i32, Vec<Vec<u8>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let conv: pamapp::RawConversation = Box::new(move |style, text| {
        s2.lock().unwrap().push(text.to_vec());
        Ok(matches!(style, pamapp::PROMPT_ECHO_OFF | pamapp::PROMPT_ECHO_ON).then(Vec::new))
    });
    let tx = match Transaction::start_raw("pbm-test", user, Some(confdir), conv) {
        Ok(tx) => tx,
        Err(rc) => panic!("pam_start_confdir: {rc}"),
    };
    let rc = authenticate(tx, rhost, tty);
    let seen = seen.lock().unwrap().clone();
    (rc, seen)
}

/// The service table of `emu` with short network timeouts, so that every fault case ends in
/// about a second.
pub fn fast_service(emu: &Emulator) -> String {
    emu.service_table() + "connect_timeout = \"1s\"\nrequest_timeout = \"1s\"\n"
}

/// A whole config on `emu`: fast timeouts, login.timeout 5s (the minimum), prompt none.
pub fn fast_config(emu: &Emulator, service: &str, users: &str) -> String {
    format!(
        "{service}{}[login]\ntimeout = \"5s\"\nprompt = \"none\"\npoll_interval = \"100ms\"\npoll_interval_seen = \"100ms\"\n[users]\n{users}\n",
        emu.limits_table("max_pushes = 1000\nlockout_after = 0")
    )
}

/// No control character, escape, line or paragraph separator, bidi control or invisible
/// character in a line that reached the log (written out here, not taken from the module).
pub fn assert_clean(line: &str) {
    let bad = line.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(
                c,
                '\u{2028}'
                    | '\u{2029}'
                    | '\u{202a}'..='\u{202e}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{200e}'
                    | '\u{200f}'
                    | '\u{61c}'
                    | '\u{200b}'..='\u{200d}'
                    | '\u{2060}'
                    | '\u{feff}'
            )
    });
    assert!(bad.is_none(), "raw {bad:?} in {line:?}");
}

/// The decision line of `user` (a plain marker name); checks it is clean and has `want`.
pub fn decision(user: &str, want: &[&str]) -> String {
    let line = syslog().line_with(&format!("user={user} "));
    assert_clean(&line);
    for w in want {
        assert!(line.contains(w), "{user}: want {w:?} in {line}");
    }
    line
}

/// The module built with `--features test-panic` (into its own target dir, by
/// tests/hardening.sh or here), installed as `pam_passbyme.so`.
pub fn panic_module() -> PathBuf {
    static M: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        let target = Path::new(BIN).parent().unwrap().parent().unwrap();
        let dir = target.join("test-panic");
        let built = match std::env::var_os("PBM_TEST_PANIC_MODULE") {
            Some(p) => PathBuf::from(p),
            None => {
                let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let st = std::process::Command::new(cargo)
                    .args(["build", "--quiet", "--lib", "--features", "test-panic"])
                    .env("CARGO_TARGET_DIR", &dir)
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .status()
                    .unwrap();
                assert!(st.success(), "cargo build --features test-panic");
                dir.join("debug/libpam_passbyme.so")
            }
        };
        install_copy(&built, &dir.join("pam-test"))
    })
    .clone()
}

// ---------------------------------------------------------------------------------------
// A process of its own (signals, fd and thread counts, process-wide state): the parent test
// re-runs this binary on one ignored `child_*` test with PBM_CHILD set.

/// Starts this test binary on the ignored test `test` (its full path, e.g.
/// `pam::child_login`) with PBM_CHILD and `env` set, stdout and stderr piped.
pub fn run_child(test: &str, env: &[(&str, String)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env("PBM_CHILD", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().unwrap()
}

/// Waits for a [`run_child`] child, removes what it left in the temporary directory, and
/// returns its stdout and stderr; panics if it failed or died.
pub fn child_output(child: std::process::Child) -> String {
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    remove_child_dirs(pid);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed ({:?}):\n{text}",
        out.status
    );
    text
}

/// Starts the child test `test` logging in with `config` (PBM_CONFIG) and waits until its
/// login reached the conversation ([`mark_reached`]): the moment a test signals it.
pub fn child_at_conversation(test: &str, config: String, what: &str) -> std::process::Child {
    syslog(); // listening before the child's module logs
    let (_mark_dir, mark) = mark_path("mark");
    let child = run_child(
        test,
        &[
            ("PBM_CONFIG", config),
            ("PBM_MARK", mark.display().to_string()),
        ],
    );
    eventually(Duration::from_secs(20), what, || mark.exists());
    child
}

/// Sends `sig` to a [`run_child`] child and waits for it (removing what it left in the
/// temporary directory); returns its output and the time from the signal to its end.
pub fn signal_child(child: std::process::Child, sig: i32) -> (std::process::Output, Duration) {
    let pid = child.id();
    let sent = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, sig) };
    let out = child.wait_with_output().unwrap();
    remove_child_dirs(pid);
    (out, sent.elapsed())
}

/// The child died by SIGTERM: the host's own disposition applied, not a crash.
pub fn assert_died_by_sigterm(out: &std::process::Output) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGTERM),
        "the host's own disposition of SIGTERM applied, not a crash: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In a child: tells the parent that the login reached its conversation (the file named by
/// PBM_MARK appears), the event a test waits for before it signals the child.
pub fn mark_reached() {
    if let Some(path) = std::env::var_os("PBM_MARK") {
        let _ = std::fs::write(path, b"reached");
    }
}

/// In the parent: a marker path for [`mark_reached`], and a wait for it.
pub fn mark_path(tag: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(tag);
    let path = dir.path().join("reached");
    (dir, path)
}
