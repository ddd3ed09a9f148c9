//! Logins in a child process, and what they change in it. Cases that touch process-wide
//! state (fds, threads, signal handlers, environment, umask, stdout/stderr) run in a child
//! ([`child_host`]), which logs in once per case through real libpam and prints, for each
//! case, the PAM code, how many bytes the module wrote to stdout/stderr, how long it took
//! and what changed in the process. The parent keeps the emulator, the fake servers and the
//! syslog capture, and checks everything else.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::pam::{child_output, run_child};
use super::{config_users, nss_user, syslog, TempDir};

/// One login the child runs: which setup, the user (raw bytes; `{t}` becomes the thread
/// number), PAM_RHOST and PAM_TTY (raw bytes, None = unset).
#[derive(Clone)]
pub struct Case {
    pub setup: usize,
    pub user: Vec<u8>,
    pub rhost: Option<Vec<u8>>,
    pub tty: Option<Vec<u8>>,
}

impl Case {
    pub fn new(setup: usize, user: &str) -> Case {
        Case {
            setup,
            user: user.as_bytes().to_vec(),
            rhost: Some(b"198.51.100.9".to_vec()),
            tty: Some(b"pts/7".to_vec()),
        }
    }

    fn to_json(&self) -> Value {
        json!({"setup": self.setup, "user": self.user, "rhost": self.rhost, "tty": self.tty})
    }

    fn from_json(v: &Value) -> Case {
        let bytes = |v: &Value| -> Option<Vec<u8>> {
            v.as_array()
                .map(|a| a.iter().map(|b| b.as_u64().unwrap() as u8).collect())
        };
        Case {
            setup: v["setup"].as_u64().unwrap() as usize,
            user: bytes(&v["user"]).unwrap(),
            rhost: bytes(&v["rhost"]),
            tty: bytes(&v["tty"]),
        }
    }
}

/// A PAM service for the child: config text, module arguments, and optionally another
/// module file (the test-panic build).
#[derive(Clone)]
pub struct ChildSetup {
    pub config: String,
    pub args: String,
    pub module: Option<PathBuf>,
}

impl ChildSetup {
    pub fn new(config: String, args: &str) -> ChildSetup {
        ChildSetup {
            config,
            args: args.into(),
            module: None,
        }
    }
}

/// What the child saw for one case.
#[derive(Debug)]
pub struct Outcome {
    pub rc: i32,
    /// Bytes the module wrote to fds 1 and 2 during the login.
    pub out: String,
    pub ms: u64,
    /// What changed in the process, empty if nothing.
    pub diff: String,
    pub conv: Vec<String>,
}

/// Runs `cases` in a child process (each case by `threads` threads at once) and returns one
/// outcome per case. Panics if the child fails or dies.
pub fn in_child(
    setups: &[ChildSetup],
    cases: &[Case],
    threads: usize,
    env: &[(&str, &str)],
) -> Vec<Outcome> {
    in_child_late(setups, cases, threads, env, &[])
}

/// [`in_child`], with `late_env` set by the child itself once it runs, before the first
/// login: for variables that would change the test harness rather than the module
/// (RUST_MIN_STACK sizes the harness's own threads).
pub fn in_child_late(
    setups: &[ChildSetup],
    cases: &[Case],
    threads: usize,
    env: &[(&str, &str)],
    late_env: &[(&str, &str)],
) -> Vec<Outcome> {
    for s in setups {
        for user in config_users(&s.config) {
            nss_user(&user);
        }
    }
    let late_env: BTreeMap<&str, &str> = late_env.iter().copied().collect();
    syslog(); // the module in the child logs to our /dev/log
    let setups_json: Vec<Value> = setups
        .iter()
        .map(|s| json!({"config": s.config, "args": s.args, "module": s.module}))
        .collect();
    let cases_json: Vec<Value> = cases.iter().map(Case::to_json).collect();
    // A file, not the environment: hostile cases are larger than an argument may be.
    let dir = TempDir::new("plan");
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        json!({"setups": setups_json, "cases": cases_json, "late_env": late_env}).to_string(),
    )
    .unwrap();
    let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
    env.push(("PBM_PLAN", plan.display().to_string()));
    env.push(("PBM_THREADS", threads.to_string()));
    let text = child_output(run_child("util::child::child_host", &env));
    let mut outcomes = Vec::new();
    for line in text.lines() {
        if let Some((_, j)) = line.split_once("PBM_CASE ") {
            let v: Value = serde_json::from_str(j).unwrap();
            outcomes.push(Outcome {
                rc: v["rc"].as_i64().unwrap() as i32,
                out: v["out"].as_str().unwrap().to_owned(),
                ms: v["ms"].as_u64().unwrap(),
                diff: v["diff"].as_str().unwrap().to_owned(),
                conv: v["conv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect(),
            });
        }
    }
    assert_eq!(outcomes.len(), cases.len(), "one outcome per case:\n{text}");
    for (i, o) in outcomes.iter().enumerate() {
        assert!(o.out.is_empty(), "case {i}: the module wrote {:?}", o.out);
        assert!(o.diff.is_empty(), "case {i}: the host changed: {}", o.diff);
    }
    outcomes
}

/// Everything process-wide the module could change.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    fds: BTreeMap<String, String>,
    threads: usize,
    /// (signal, handler, flags) for every signal.
    handlers: Vec<(i32, usize, i32)>,
    blocked: Vec<i32>,
    env: Vec<(OsString, OsString)>,
    umask: u32,
    cwd: PathBuf,
}

impl HostState {
    fn now() -> HostState {
        let mut fds = BTreeMap::new();
        for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            let target = std::fs::read_link(e.path())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            fds.insert(e.file_name().to_string_lossy().into_owned(), target);
        }
        let threads = std::fs::read_dir("/proc/self/task").unwrap().count();
        let mut handlers = Vec::new();
        let mut blocked = Vec::new();
        // SAFETY: queries only (null new action / new mask).
        unsafe {
            for sig in 1..=64 {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) == 0 {
                    // glibc adds SA_RESTORER to every action it installs, a restored
                    // SIG_DFL included: not a difference a host can see.
                    handlers.push((sig, old.sa_sigaction, old.sa_flags & !0x0400_0000));
                }
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
            for sig in 1..=64 {
                if libc::sigismember(&set, sig) == 1 {
                    blocked.push(sig);
                }
            }
        }
        let mut env: Vec<_> = std::env::vars_os().collect();
        env.sort();
        // SAFETY: umask has no failure mode; the old value is put back at once.
        let umask = unsafe {
            let m = libc::umask(0o077);
            libc::umask(m);
            m
        };
        HostState {
            fds,
            threads,
            handlers,
            blocked,
            env,
            umask: umask as u32,
            cwd: std::env::current_dir().unwrap(),
        }
    }

    /// What differs from `before`, as text; empty when nothing does. Without `strict`, fds
    /// and threads are not compared (a first login warms up libpam, NSS and the loader).
    fn diff(&self, before: &HostState, strict: bool) -> String {
        let mut d = Vec::new();
        if strict && self.fds != before.fds {
            d.push(format!("fds {:?} -> {:?}", before.fds, self.fds));
        }
        if strict && self.threads != before.threads {
            d.push(format!("threads {} -> {}", before.threads, self.threads));
        }
        if self.handlers != before.handlers {
            let changed: Vec<_> = self
                .handlers
                .iter()
                .zip(&before.handlers)
                .filter(|(a, b)| a != b)
                .collect();
            d.push(format!("signal handlers {changed:?}"));
        }
        if self.blocked != before.blocked {
            d.push(format!(
                "blocked {:?} -> {:?}",
                before.blocked, self.blocked
            ));
        }
        if self.env != before.env {
            d.push("environment".into());
        }
        if self.umask != before.umask {
            d.push(format!("umask {:o} -> {:o}", before.umask, self.umask));
        }
        if self.cwd != before.cwd {
            d.push("cwd".into());
        }
        d.join("; ")
    }
}

/// Runs `f` with fds 1 and 2 pointing at a file; returns its result and what was written.
fn capture_stdio<T>(f: impl FnOnce() -> T) -> (T, String) {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let t = TempDir::new("stdio");
    let path = t.path().join("out");
    let file = std::fs::File::create(&path).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: dup/dup2 on valid descriptors; 1 and 2 are restored before returning.
    let (save1, save2) = unsafe {
        let s = (libc::dup(1), libc::dup(2));
        libc::dup2(file.as_raw_fd(), 1);
        libc::dup2(file.as_raw_fd(), 2);
        s
    };
    let r = f();
    // SAFETY: as above.
    unsafe {
        libc::dup2(save1, 1);
        libc::dup2(save2, 2);
        libc::close(save1);
        libc::close(save2);
    }
    drop(file);
    let out = std::fs::read(&path).unwrap();
    (r, String::from_utf8_lossy(&out).into_owned())
}

/// The child: logs in once per case (PBM_SETUPS, PBM_CASES, PBM_THREADS) and reports.
#[test]
#[ignore = "run by in_child in a child process"]
fn child_host() {
    use super::pam::{module, raw_login, Setup};
    use std::time::Instant;
    if std::env::var_os("PBM_CHILD").is_none() {
        return;
    }
    let plan: Value =
        serde_json::from_slice(&std::fs::read(std::env::var("PBM_PLAN").unwrap()).unwrap())
            .unwrap();
    let setups = plan["setups"].as_array().unwrap();
    let cases = plan["cases"].as_array().unwrap();
    let threads: usize = std::env::var("PBM_THREADS").unwrap().parse().unwrap();
    for (k, v) in plan["late_env"].as_object().unwrap() {
        std::env::set_var(k, v.as_str().unwrap());
    }
    let setups: Vec<Setup> = setups
        .iter()
        .map(|s| {
            let setup = Setup::new(s["config"].as_str().unwrap(), s["args"].as_str().unwrap());
            if let Some(m) = s["module"].as_str() {
                let file = setup.confdir().join("pbm-test");
                let text = std::fs::read_to_string(&file)
                    .unwrap()
                    .replace(module().to_str().unwrap(), m);
                std::fs::write(&file, text).unwrap();
            }
            setup
        })
        .collect();
    let mut before = HostState::now();
    for (i, case) in cases.iter().enumerate() {
        let case = Case::from_json(case);
        let confdir = setups[case.setup].confdir();
        let start = Instant::now();
        let (results, out) = capture_stdio(|| {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let case = case.clone();
                        let confdir = confdir.clone();
                        // An explicit stack, as a C host's threads have: never sized by
                        // RUST_MIN_STACK, which only the module's own threads should see.
                        let b = std::thread::Builder::new().stack_size(8 << 20);
                        b.spawn_scoped(s, move || {
                            let user = replace_bytes(&case.user, b"{t}", t.to_string().as_bytes());
                            raw_login(&confdir, &user, case.rhost.as_deref(), case.tty.as_deref())
                        })
                        .unwrap()
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
        });
        let ms = start.elapsed().as_millis() as u64;
        let after = HostState::now();
        // The first case warms up libpam, NSS and the loader: fds and threads are compared
        // from the state after it.
        let diff = after.diff(&before, i > 0);
        if i == 0 {
            before = after;
        }
        let rcs: Vec<i32> = results.iter().map(|r| r.0).collect();
        assert!(
            rcs.iter().all(|&r| r == rcs[0]),
            "case {i}: threads disagree: {rcs:?}"
        );
        let conv: Vec<String> = results[0]
            .1
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect();
        println!(
            "PBM_CASE {}",
            json!({"rc": rcs[0], "out": out, "ms": ms, "diff": diff, "conv": conv})
        );
    }
}

/// `hay` with every `from` replaced by `to` (bytes, not necessarily UTF-8).
fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}
