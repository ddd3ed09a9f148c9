//! Issue 6: every fault and every hostile input ends in the right decision, a clear log line,
//! nothing left pending on the service, and a host process exactly as it was.
//!
//! Cases that touch process-wide state (fds, threads, signal handlers, environment, umask,
//! stdout/stderr) run in a child process (`child_host`), which logs in once per case through
//! real libpam and prints, for each case, the PAM code, how many bytes the module wrote to
//! stdout/stderr, how long it took and what changed in the process. The parent keeps the
//! emulator, the fake servers and the syslog capture, and checks everything else.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString, OsString};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::pam::{config, module, Setup};
use crate::util::{remove_child_dirs, syslog, Emulator, TempDir, BIN};

const SUCCESS: i32 = 0;
const SERVICE_ERR: i32 = 3;
const AUTH_ERR: i32 = 7;
const AUTHINFO_UNAVAIL: i32 = 9;
const USER_UNKNOWN: i32 = 10;
/// A definite answer (refused, timed out, limited): trying again would only push again.
const MAXTRIES: i32 = 11;

/// The service table of `emu` with short network timeouts, so that every fault case ends in
/// about a second.
fn fast_service(emu: &Emulator) -> String {
    emu.service_table() + "connect_timeout = \"1s\"\nrequest_timeout = \"1s\"\n"
}

/// A whole config on `emu`: fast timeouts, login.timeout 5s (the minimum), prompt none.
fn fast_config(emu: &Emulator, service: &str, users: &str) -> String {
    format!(
        "{service}{}[login]\ntimeout = \"5s\"\nprompt = \"none\"\npoll_interval = \"100ms\"\npoll_interval_seen = \"100ms\"\n[users]\n{users}\n",
        emu.limits_table("max_pushes = 1000\nlockout_after = 0")
    )
}

/// No control character, escape or bidi override in a line that reached the log.
fn assert_clean(line: &str) {
    let bad = line.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    assert!(bad.is_none(), "raw {bad:?} in {line:?}");
}

/// The decision line of `user` (a plain marker name); checks it is clean and has `want`.
fn decision(user: &str, want: &[&str]) -> String {
    let line = syslog().line_with(&format!("user={user} "));
    assert_clean(&line);
    for w in want {
        assert!(line.contains(w), "{user}: want {w:?} in {line}");
    }
    line
}

// ---------------------------------------------------------------------------------------
// The child process and what it reports

/// One login the child runs: which setup, the user (raw bytes; `{t}` becomes the thread
/// number), PAM_RHOST and PAM_TTY (raw bytes, None = unset).
#[derive(Clone)]
struct Case {
    setup: usize,
    user: Vec<u8>,
    rhost: Option<Vec<u8>>,
    tty: Option<Vec<u8>>,
}

impl Case {
    fn new(setup: usize, user: &str) -> Case {
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
struct ChildSetup {
    config: String,
    args: String,
    module: Option<PathBuf>,
}

impl ChildSetup {
    fn new(config: String, args: &str) -> ChildSetup {
        ChildSetup {
            config,
            args: args.into(),
            module: None,
        }
    }
}

/// What the child saw for one case.
#[derive(Debug)]
struct Outcome {
    rc: i32,
    /// Bytes the module wrote to fds 1 and 2 during the login.
    out: String,
    ms: u64,
    /// What changed in the process, empty if nothing.
    diff: String,
    conv: Vec<String>,
}

/// Runs `cases` in a child process (each case by `threads` threads at once) and returns one
/// outcome per case. Panics if the child fails or dies.
fn in_child(
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
fn in_child_late(
    setups: &[ChildSetup],
    cases: &[Case],
    threads: usize,
    env: &[(&str, &str)],
    late_env: &[(&str, &str)],
) -> Vec<Outcome> {
    for s in setups {
        for user in crate::util::config_users(&s.config) {
            crate::util::nss_user(&user);
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
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "hardening::child_host",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("PBM_CHILD", "1")
    .env("PBM_PLAN", &plan)
    .env("PBM_THREADS", threads.to_string())
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
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
#[ignore = "run by the hardening tests in a child process"]
fn child_host() {
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

// ---------------------------------------------------------------------------------------
// A PAM transaction with raw bytes for the user (pamapp's takes &str)

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

#[repr(C)]
struct PamConv {
    conv: unsafe extern "C" fn(
        c_int,
        *mut *const PamMessage,
        *mut *mut PamResponse,
        *mut c_void,
    ) -> c_int,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

/// Records every message and answers prompts with an empty line (Enter).
unsafe extern "C" fn record_and_enter(
    n: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if n <= 0 || msg.is_null() || resp.is_null() || appdata.is_null() {
        return 19; // PAM_CONV_ERR
    }
    let seen = &*(appdata as *const Mutex<Vec<Vec<u8>>>);
    let n = n as usize;
    let replies = libc::calloc(n, std::mem::size_of::<PamResponse>()) as *mut PamResponse;
    if replies.is_null() {
        return 5; // PAM_BUF_ERR
    }
    for i in 0..n {
        let m = *msg.add(i);
        if m.is_null() || (*m).msg.is_null() {
            continue;
        }
        let text = CStr::from_ptr((*m).msg).to_bytes().to_vec();
        seen.lock().unwrap().push(text);
        if matches!((*m).msg_style, 1 | 2) {
            (*replies.add(i)).resp = libc::strdup(c"".as_ptr());
        }
    }
    *resp = replies;
    0
}

/// One `pam_start_confdir` → `pam_authenticate` → `pam_end` with raw bytes for the user,
/// PAM_RHOST and PAM_TTY. Returns the code and the conversation's messages.
fn raw_login(
    confdir: &Path,
    user: &[u8],
    rhost: Option<&[u8]>,
    tty: Option<&[u8]>,
) -> (i32, Vec<Vec<u8>>) {
    let seen: Box<Mutex<Vec<Vec<u8>>>> = Box::default();
    let conv = PamConv {
        conv: record_and_enter,
        appdata_ptr: &*seen as *const Mutex<Vec<Vec<u8>>> as *mut c_void,
    };
    let service = CString::new("pbm-test").unwrap();
    let user = CString::new(user).unwrap();
    let dir = CString::new(confdir.as_os_str().as_bytes()).unwrap();
    let mut h: *mut c_void = std::ptr::null_mut();
    // SAFETY: valid strings and a conv struct that outlives the handle (ended below).
    let rc = unsafe {
        let rc = pam_start_confdir(service.as_ptr(), user.as_ptr(), &conv, dir.as_ptr(), &mut h);
        assert_eq!(rc, 0, "pam_start_confdir");
        for (item, v) in [(4, rhost), (3, tty)] {
            if let Some(v) = v {
                let c = CString::new(v).unwrap();
                pam_set_item(h, item, c.as_ptr().cast());
            }
        }
        let rc = pam_authenticate(h, 0);
        pam_end(h, rc);
        rc
    };
    let seen = seen.lock().unwrap().clone();
    (rc, seen)
}

// ---------------------------------------------------------------------------------------
// A scriptable TLS server, for what the emulator cannot say

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

type Handler = Arc<dyn Fn(&Request) -> Vec<u8> + Send + Sync>;

/// A TLS server on loopback answering each request with whatever `handler` returns (the raw
/// HTTP response), one request per connection. Stops on drop.
struct FakeServer {
    addr: String,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeServer {
    fn start(bind: &str, tls: Arc<rustls::ServerConfig>, handler: Handler) -> FakeServer {
        let listener = TcpListener::bind(bind).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(300);
            while !s.load(Ordering::SeqCst) && Instant::now() < end {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (tls, handler, r) = (tls.clone(), handler.clone(), r.clone());
                        std::thread::spawn(move || serve_one(tcp, tls, handler, r));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakeServer {
            addr,
            stop,
            requests,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_one(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    handler: Handler,
    log: Arc<Mutex<Vec<String>>>,
) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(tls) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("").to_owned();
    let path = words.next().unwrap_or("").to_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let req = Request {
        method,
        path,
        body: buf[head_end..head_end + len].to_vec(),
    };
    log.lock()
        .unwrap()
        .push(format!("{} {}", req.method, req.path));
    let resp = handler(&req);
    let _ = s.write_all(&resp);
    let _ = s.flush();
    s.conn.send_close_notify();
    let _ = s.conn.complete_io(&mut s.sock);
}

/// A raw HTTP/1.1 response closing the connection.
fn http(status: u16, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// A session body: `id`, and (user, status) pairs.
fn session(id: &str, recipients: &[(&str, &str)]) -> Vec<u8> {
    let r: Vec<Value> = recipients
        .iter()
        .map(|(u, s)| json!({"userId": u, "status": s}))
        .collect();
    json!({"messageId": id, "expirationDate": "2099-01-01T00:00:00.000+00:00", "recipients": r})
        .to_string()
        .into_bytes()
}

/// A test PKI: a CA, and server certificates it issues with chosen names and validity.
struct Pki {
    ca_key: rcgen::KeyPair,
    ca_params: rcgen::CertificateParams,
    ca_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "hardening test CA");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_pem = p.clone().self_signed(&ca_key).unwrap().pem();
        Pki {
            ca_key,
            ca_params: p,
            ca_pem,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses as text), valid from
    /// `from` to `to` days relative to now; returns (chain DER, key DER).
    fn server(
        &self,
        names: &[&str],
        from: i64,
        to: i64,
    ) -> (
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    ) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = rcgen::CertificateParams::new(names).unwrap();
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(from);
        p.not_after = now + time::Duration::days(to);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = rcgen::Issuer::new(self.ca_params.clone(), &self.ca_key);
        let cert = p.signed_by(&key, &issuer).unwrap();
        (
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
    }

    fn ca_der(&self) -> rustls_pki_types::CertificateDer<'static> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap()
    }
}

/// A rustls server config; `client_ca` = require client certificates issued by it.
fn server_tls(
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
    client_ca: Option<rustls_pki_types::CertificateDer<'static>>,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap();
    let b = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).unwrap();
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            b.with_client_cert_verifier(v)
        }
        None => b.with_no_client_auth(),
    };
    Arc::new(b.with_single_cert(chain, key).unwrap())
}

/// The emulator's own server certificate and key.
fn emulator_server_cert(
    emu: &Emulator,
) -> (
    Vec<rustls_pki_types::CertificateDer<'static>>,
    rustls_pki_types::PrivateKeyDer<'static>,
) {
    use rustls_pki_types::pem::PemObject;
    let d = emu.dir.path();
    let chain = rustls_pki_types::CertificateDer::pem_file_iter(d.join("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(d.join("server.key")).unwrap();
    (chain, key)
}

/// The recipient ID of the first recipient of a POST body.
fn first_recipient(req: &Request) -> String {
    serde_json::from_slice::<Value>(&req.body).unwrap_or_default()["recipients"][0]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// Server faults

#[test]
fn server_faults_on_the_send() {
    let emu = Emulator::start();
    // A server that accepts the connection and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let faults: &[(&str, i32, &str)] = &[
        ("500", AUTHINFO_UNAVAIL, "HTTP status 500"),
        ("503", AUTHINFO_UNAVAIL, "HTTP status 503"),
        ("429", AUTHINFO_UNAVAIL, "HTTP status 429"),
        ("420:403", AUTH_ERR, "send: PassBy[ME] error code 403"),
        ("420text", AUTH_ERR, "HTTP 420 with a body that is not JSON"),
        ("hang", AUTHINFO_UNAVAIL, "timeout"),
        ("drip", AUTHINFO_UNAVAIL, "timeout"),
        ("reset", AUTHINFO_UNAVAIL, "connection"),
        ("empty", AUTHINFO_UNAVAIL, "empty body"),
        ("badjson", AUTH_ERR, "send: malformed response: not JSON"),
        ("wrongtype", AUTH_ERR, "'recipients' is not an array"),
        ("oversize", AUTH_ERR, "larger than 65536"),
        ("redirect", AUTHINFO_UNAVAIL, "HTTP status 302"),
        ("badid", AUTH_ERR, "characters other than"),
        ("hugeid", AUTH_ERR, "more than 64"),
    ];
    let mut users = String::new();
    let mut cases = Vec::new();
    for (i, (f, _, _)) in faults.iter().enumerate() {
        users.push_str(&format!("hs{i} = \"hs{i}+sendfault={f}+ignore@x\"\n"));
        cases.push(Case::new(0, &format!("hs{i}")));
    }
    let service = fast_service(&emu);
    let refused = service.replace(&emu.addr, "127.0.0.1:1");
    let mute = service.replace(&emu.addr, &silent_addr);
    let setups = [
        ChildSetup::new(fast_config(&emu, &service, &users), ""),
        ChildSetup::new(fast_config(&emu, &refused, "hs_refused = \"r@x\""), ""),
        ChildSetup::new(fast_config(&emu, &mute, "hs_mute = \"m@x\""), ""),
    ];
    cases.push(Case::new(1, "hs_refused"));
    cases.push(Case::new(2, "hs_mute"));
    let out = in_child(&setups, &cases, 1, &[]);
    for (i, (f, rc, want)) in faults.iter().enumerate() {
        assert_eq!(out[i].rc, *rc, "sendfault={f}: {:?}", out[i]);
        assert!(out[i].ms < 3000, "sendfault={f} bounded: {}ms", out[i].ms);
        let word = if *rc == AUTH_ERR {
            "decision=error"
        } else {
            "decision=unreachable"
        };
        decision(&format!("hs{i}"), &[word, want]);
    }
    let n = faults.len();
    assert_eq!(out[n].rc, AUTHINFO_UNAVAIL);
    decision("hs_refused", &["decision=unreachable", "connection"]);
    assert_eq!(out[n + 1].rc, AUTHINFO_UNAVAIL);
    assert!(out[n + 1].ms < 3000, "a mute server: {}ms", out[n + 1].ms);
    decision("hs_mute", &["decision=unreachable", "timeout"]);
    // The emulator creates the message even when it answers the send with a fault: the
    // module never learnt its id, so it cannot cancel it. It stays no longer than the login.
    for m in emu.open_messages() {
        let id = m["recipients"][0]["userId"].as_str().unwrap();
        assert!(id.contains("+sendfault="), "left open: {m}");
        assert!(m["availability"].as_u64().unwrap() <= 5, "{m}");
    }
    drop(silent);
}

#[test]
fn server_faults_on_a_poll() {
    let emu = Emulator::start();
    let faults: &[(&str, &str)] = &[
        ("500", "HTTP status 500"),
        ("503", "HTTP status 503"),
        ("420:421", "PassBy[ME] error code 421"),
        ("420text", "not JSON"),
        ("429", "HTTP status 429"),
        ("empty", "empty body"),
        ("badjson", "not JSON"),
        ("truncated", "poll:"),
        ("wrongtype", "'recipients' is not an array"),
        ("missingfield", "missing field 'expirationDate'"),
        ("oversize", "larger than 65536"),
        ("redirect", "HTTP status 302"),
        ("badid", "characters other than"),
        ("hugeid", "more than 64"),
        ("reset", "connection"),
        ("hang", "timeout"),
        ("drip", "timeout"),
    ];
    let mut users = String::new();
    let mut cases = Vec::new();
    for (i, (f, _)) in faults.iter().enumerate() {
        users.push_str(&format!("hp{i} = \"hp{i}+fault={f}+ignore@x\"\n"));
        cases.push(Case::new(0, &format!("hp{i}")));
    }
    let setups = [ChildSetup::new(
        fast_config(&emu, &fast_service(&emu), &users),
        "",
    )];
    let out = in_child(&setups, &cases, 1, &[]);
    for (i, (f, want)) in faults.iter().enumerate() {
        assert_eq!(out[i].rc, AUTH_ERR, "fault={f}: {:?}", out[i]);
        // Three tries at most, each bounded by the request timeout (1s): far below the
        // 5s login timeout, whatever Retry-After says.
        assert!(out[i].ms < 4500, "fault={f}: {}ms", out[i].ms);
        decision(
            &format!("hp{i}"),
            &["decision=error", "poll:", want, "settled=cancelled"],
        );
        assert_eq!(
            emu.status_for(&format!("hp{i}+fault={f}+ignore@x"))
                .as_deref(),
            Some("CANCELLED"),
            "fault={f}"
        );
    }
    assert!(emu.open_messages().is_empty(), "{:?}", emu.open_messages());
}

#[test]
fn a_failing_cancel_is_logged_and_bounded() {
    let emu = Emulator::start();
    let faults = ["500", "420:500", "hang", "reset"];
    let mut users = String::new();
    let mut cases = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        users.push_str(&format!("hc{i} = \"hc{i}+cancelfault={f}+ignore@x\"\n"));
        cases.push(Case::new(0, &format!("hc{i}")));
    }
    let setups = [ChildSetup::new(
        fast_config(&emu, &fast_service(&emu), &users),
        "",
    )];
    let out = in_child(&setups, &cases, 1, &[]);
    for (i, f) in faults.iter().enumerate() {
        assert_eq!(out[i].rc, MAXTRIES, "cancelfault={f}");
        // 5s login timeout, then a cancel bounded by the request timeout (1s).
        assert!(
            out[i].ms >= 5000 && out[i].ms < 7500,
            "cancelfault={f}: {}ms",
            out[i].ms
        );
        decision(
            &format!("hc{i}"),
            &["decision=timeout", "settled=cancel-failed:"],
        );
    }
    // The emulator carried the cancel out even when it answered it badly.
    assert!(emu.open_messages().is_empty(), "{:?}", emu.open_messages());
}

#[test]
fn a_hostile_server_never_approves_and_its_text_never_reaches_the_log_raw() {
    let emu = Emulator::start();
    let (chain, key) = emulator_server_cert(&emu);
    let handler: Handler = Arc::new(|req: &Request| {
        let tag = if req.method == "POST" {
            first_recipient(req)
                .split('@')
                .next()
                .unwrap_or("")
                .to_owned()
        } else {
            req.path
                .rsplit('/')
                .next()
                .unwrap_or("")
                .trim_start_matches('m')
                .to_owned()
        };
        let me = format!("{tag}@x");
        let id = format!("m{tag}");
        match (req.method.as_str(), tag.as_str()) {
            // Answers about another message, approved.
            ("POST", "other") => http(200, "", &session(&id, &[(&me, "PENDING")])),
            ("GET", "other") => http(200, "", &session("mSomethingElse", &[(&me, "APPROVED")])),
            // An empty message id on the send.
            ("POST", "emptyid") => http(200, "", &session("", &[(&me, "PENDING")])),
            // Statuses with terminal escapes, approval-like but not exact.
            ("POST", "escstatus") => http(200, "", &session(&id, &[(&me, "PENDING")])),
            ("GET", "escstatus") => http(
                200,
                "",
                &session(&id, &[(&me, "\u{1b}]0;pwned\u{7}APPROVED\u{1b}[0m")]),
            ),
            // An error body full of escapes.
            ("POST", "err500") => http(500, "", b"\x1b]0;pwned\x07\x1b[2J<boom>\r\nX: y"),
            ("POST", "err420") => http(
                420,
                "",
                br#"{"message": "\u001b[2J\u001b]0;pwned\u0007 try again"}"#,
            ),
            // 429 with a Retry-After of 136 years, on every poll.
            ("POST", "retry") => http(200, "", &session(&id, &[(&me, "PENDING")])),
            ("GET", "retry") => http(429, "Retry-After: 4294967295\r\n", b""),
            // A body shorter than announced, then the connection closes.
            ("POST", "short") => {
                let mut v = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
                v.extend_from_slice(&session(&id, &[(&me, "APPROVED")]));
                v
            }
            // A redirect elsewhere (plain http).
            ("POST", "redir") => http(307, "Location: http://127.0.0.1:1/x\r\n", b""),
            // Headers of 300 KiB.
            ("POST", "bighead") => {
                let pad = format!("X-Pad: {}\r\n", "a".repeat(300 * 1024));
                http(200, &pad, &session(&id, &[(&me, "APPROVED")]))
            }
            // JSON nested 30 000 deep (a stack-overflow attempt on the decoder).
            ("POST", "deep") => http(200, "", "[".repeat(30_000).as_bytes()),
            // Our ID listed twice, approved and denied.
            ("POST", "dup") => http(200, "", &session(&id, &[(&me, "PENDING")])),
            ("GET", "dup") => http(
                200,
                "",
                &session(&id, &[(&me, "APPROVED"), (&me, "DENIED")]),
            ),
            ("DELETE", _) => http(200, "", &session(&id, &[(&me, "CANCELLED")])),
            _ => http(404, "", b""),
        }
    });
    let fake = FakeServer::start("127.0.0.1:0", server_tls(chain, key, None), handler);
    let service = fast_service(&emu).replace(&emu.addr, &fake.addr);
    let tags: &[(&str, i32, &[&str])] = &[
        (
            "other",
            AUTH_ERR,
            &["decision=error", "the answer is about mSomethingElse"],
        ),
        ("emptyid", AUTH_ERR, &["decision=error", "empty message id"]),
        ("escstatus", MAXTRIES, &["decision=timeout"]),
        (
            "err500",
            AUTHINFO_UNAVAIL,
            &[
                "decision=unreachable",
                "HTTP status 500: ?]0;pwned??[2J<boom>??X: y",
            ],
        ),
        (
            "err420",
            AUTH_ERR,
            &["decision=error", "PassBy[ME] error without a code"],
        ),
        ("retry", AUTH_ERR, &["decision=error", "HTTP status 429"]),
        ("short", AUTHINFO_UNAVAIL, &["decision=unreachable"]),
        (
            "redir",
            AUTHINFO_UNAVAIL,
            &["decision=unreachable", "HTTP status 307"],
        ),
        ("bighead", AUTHINFO_UNAVAIL, &["decision=unreachable"]),
        ("deep", AUTH_ERR, &["decision=error", "recursion limit"]),
        ("dup", MAXTRIES, &["decision=refused", "status=DENIED"]),
    ];
    let users: String = tags
        .iter()
        .map(|(t, _, _)| format!("hh_{t} = \"{t}@x\"\n"))
        .collect();
    let setups = [ChildSetup::new(fast_config(&emu, &service, &users), "")];
    let cases: Vec<Case> = tags
        .iter()
        .map(|(t, _, _)| Case::new(0, &format!("hh_{t}")))
        .collect();
    let out = in_child(&setups, &cases, 1, &[]);
    for (i, (t, rc, want)) in tags.iter().enumerate() {
        assert_eq!(out[i].rc, *rc, "{t}: {:?}", out[i]);
        let limit = if *t == "escstatus" { 6500 } else { 3000 };
        assert!(out[i].ms < limit, "{t}: {}ms", out[i].ms);
        decision(&format!("hh_{t}"), want);
    }
    // Every message this login knew and left open was cancelled at the fake server.
    let reqs = fake.requests();
    for t in ["other", "escstatus", "retry"] {
        assert!(
            reqs.contains(&format!("DELETE /frontend/messages/m{t}")),
            "{t}: {reqs:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// TLS

/// `openssl s_server` speaking only TLS 1.1, killed on drop.
struct OldTlsServer(std::process::Child, String);

impl OldTlsServer {
    fn start(emu: &Emulator) -> OldTlsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = emu.dir.path();
        let child = std::process::Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-tls1_1",
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(d.join("server.pem"))
            .arg("-key")
            .arg(d.join("server.key"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl");
        let addr = format!("127.0.0.1:{port}");
        crate::util::eventually(
            Duration::from_secs(10),
            "openssl s_server listening",
            || {
                std::fs::read_to_string("/proc/net/tcp")
                    .unwrap_or_default()
                    .lines()
                    .any(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        f.len() > 3 && f[1].ends_with(&format!(":{port:04X}")) && f[3] == "0A"
                    })
            },
        );
        OldTlsServer(child, addr)
    }
}

impl Drop for OldTlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn tls_failures_deny_through_pam() {
    let emu = Emulator::start();
    let pki = Pki::new();
    let t = TempDir::new("tls");
    let other_ca = t.write("other-ca.pem", &pki.ca_pem, 0o644);
    let approve: Handler = Arc::new(|req: &Request| {
        let me = first_recipient(req);
        http(200, "", &session("mTls", &[(&me, "APPROVED")]))
    });
    let (echain, ekey) = emulator_server_cert(&emu);
    // The emulator's certificate on 127.0.0.2, which it does not name.
    let wrong_host = FakeServer::start(
        "127.0.0.2:0",
        server_tls(echain.clone(), ekey.clone_key(), None),
        approve.clone(),
    );
    // Names localhost only: fine by name, not by IP address.
    let (c, k) = pki.server(&["localhost"], -1, 30);
    let no_ip_san = FakeServer::start("127.0.0.1:0", server_tls(c, k, None), approve.clone());
    let (c, k) = pki.server(&["127.0.0.1", "localhost"], -30, -1);
    let expired = FakeServer::start("127.0.0.1:0", server_tls(c, k, None), approve.clone());
    // Wants a client certificate from another CA than ours.
    let picky = FakeServer::start(
        "127.0.0.1:0",
        server_tls(echain, ekey, Some(pki.ca_der())),
        approve.clone(),
    );
    let old = OldTlsServer::start(&emu);

    let svc = fast_service(&emu);
    let ca_line = format!("ca_bundle = \"{}/ca.pem\"", emu.dir.path().display());
    let other_ca_line = format!("ca_bundle = \"{}\"", other_ca.display());
    let port = |a: &str| a.rsplit_once(':').unwrap().1.to_owned();
    let setups: Vec<(&str, String, i32, &[&str])> = vec![
        (
            "ht_untrusted",
            svc.replace(&ca_line, &other_ca_line),
            AUTHINFO_UNAVAIL,
            &["TLS", "UnknownIssuer"],
        ),
        (
            "ht_host",
            svc.replace(&emu.addr, &wrong_host.addr),
            AUTHINFO_UNAVAIL,
            &["TLS", "not valid for name"],
        ),
        (
            "ht_ipsan",
            svc.replace(&emu.addr, &no_ip_san.addr)
                .replace(&ca_line, &other_ca_line),
            AUTHINFO_UNAVAIL,
            &["TLS", "not valid for name"],
        ),
        (
            "ht_byname",
            svc.replace(&emu.addr, &format!("localhost:{}", port(&no_ip_san.addr)))
                .replace(&ca_line, &other_ca_line),
            SUCCESS,
            &["decision=approved"],
        ),
        (
            "ht_expired",
            svc.replace(&emu.addr, &expired.addr)
                .replace(&ca_line, &other_ca_line),
            AUTHINFO_UNAVAIL,
            &["TLS", "xpired"],
        ),
        (
            "ht_clientcert",
            svc.replace(&emu.addr, &picky.addr),
            AUTHINFO_UNAVAIL,
            &["decision=unreachable"],
        ),
        (
            "ht_tls11",
            svc.replace(&emu.addr, &old.1),
            AUTHINFO_UNAVAIL,
            &["TLS"],
        ),
    ];
    let child_setups: Vec<ChildSetup> = setups
        .iter()
        .map(|(u, s, _, _)| ChildSetup::new(fast_config(&emu, s, &format!("{u} = \"{u}@x\"")), ""))
        .collect();
    let cases: Vec<Case> = setups
        .iter()
        .enumerate()
        .map(|(i, (u, _, _, _))| Case::new(i, u))
        .collect();
    let out = in_child(&child_setups, &cases, 1, &[]);
    for (i, (u, _, rc, want)) in setups.iter().enumerate() {
        assert_eq!(out[i].rc, *rc, "{u}: {:?}", out[i]);
        assert!(out[i].ms < 3000, "{u}: {}ms", out[i].ms);
        let line = decision(u, want);
        if *rc != SUCCESS {
            assert!(line.contains("decision=unreachable"), "{line}");
        }
    }
    assert!(emu.messages().is_empty());
}

// ---------------------------------------------------------------------------------------
// Files

/// Makes `path` a FIFO (replacing what is there).
fn make_fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn make_dir(path: &Path) {
    let _ = std::fs::remove_file(path);
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn every_file_rule_denies_with_the_culprit_named() {
    let emu = Emulator::start();
    syslog();
    let d = emu.dir.path();
    let pw = std::fs::read_to_string(d.join("client.password")).unwrap();
    let pem = std::fs::read_to_string(d.join("client.pem")).unwrap();
    let ca = std::fs::read_to_string(d.join("ca.pem")).unwrap();
    let vendor = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/vendor-test-auth.pem"
    ))
    .unwrap();
    type Prep = Box<dyn Fn(&Path)>;
    let mode = |name: &'static str, m: u32| -> Prep {
        Box::new(move |dir: &Path| {
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(m)).unwrap()
        })
    };
    let owner = |name: &'static str| -> Prep {
        Box::new(move |dir: &Path| {
            std::os::unix::fs::chown(dir.join(name), Some(65534), Some(65534)).unwrap()
        })
    };
    let fifo =
        |name: &'static str| -> Prep { Box::new(move |dir: &Path| make_fifo(&dir.join(name))) };
    let dir_ =
        |name: &'static str| -> Prep { Box::new(move |dir: &Path| make_dir(&dir.join(name))) };
    let content = |name: &'static str, c: Vec<u8>| -> Prep {
        Box::new(move |dir: &Path| std::fs::write(dir.join(name), &c).unwrap())
    };
    let link = |name: &'static str| -> Prep {
        Box::new(move |dir: &Path| {
            let real = dir.join(format!("{name}.real"));
            std::fs::rename(dir.join(name), &real).unwrap();
            std::os::unix::fs::symlink(&real, dir.join(name)).unwrap();
        })
    };
    let big_config = {
        let mut c = b"# padding\n".to_vec();
        c.extend(std::iter::repeat_n(b'#', 70 * 1024));
        c
    };
    let cases: Vec<(&str, Prep, &str)> = vec![
        (
            "hf_cfg_gw",
            mode("passbyme.toml", 0o620),
            "is writable by group or others (mode 0620",
        ),
        (
            "hf_cfg_ow",
            mode("passbyme.toml", 0o602),
            "is writable by group or others (mode 0602",
        ),
        (
            "hf_cfg_owner",
            owner("passbyme.toml"),
            "is owned by uid 65534, not by root",
        ),
        (
            "hf_cfg_link",
            link("passbyme.toml"),
            "is a symbolic link (refused)",
        ),
        (
            "hf_cfg_fifo",
            fifo("passbyme.toml"),
            "is not a regular file (refused)",
        ),
        (
            "hf_cfg_dir",
            dir_("passbyme.toml"),
            "is not a regular file (refused)",
        ),
        (
            "hf_cfg_empty",
            content("passbyme.toml", vec![]),
            "missing table [service]",
        ),
        (
            "hf_cfg_big",
            content("passbyme.toml", big_config),
            "is larger than 65536 bytes",
        ),
        (
            "hf_cfg_utf8",
            content("passbyme.toml", b"\xff\xfe[service]\n".to_vec()),
            "is not UTF-8 text",
        ),
        (
            "hf_cred_mode",
            mode("client.pem", 0o640),
            "holds a secret but is readable by group or others (mode 0640",
        ),
        (
            "hf_cred_owner",
            owner("client.pem"),
            "client.pem: is owned by uid 65534",
        ),
        (
            "hf_cred_link",
            link("client.pem"),
            "client.pem: is a symbolic link (refused)",
        ),
        (
            "hf_cred_fifo",
            fifo("client.pem"),
            "client.pem: is not a regular file (refused)",
        ),
        (
            "hf_cred_dir",
            dir_("client.pem"),
            "client.pem: is not a regular file (refused)",
        ),
        (
            "hf_cred_empty",
            content("client.pem", vec![]),
            "no CERTIFICATE block",
        ),
        (
            "hf_cred_big",
            content("client.pem", vec![b'A'; 1024 * 1024 + 1]),
            "is larger than 1048576 bytes",
        ),
        (
            "hf_cred_junk",
            content(
                "client.pem",
                b"\x00\xff-----BEGIN CERTIFICATE-----\n\xff".to_vec(),
            ),
            "credentials",
        ),
        (
            "hf_pw_mode",
            mode("client.password", 0o644),
            "client.password: holds a secret",
        ),
        (
            "hf_pw_fifo",
            fifo("client.password"),
            "client.password: is not a regular file",
        ),
        (
            "hf_pw_empty",
            content("client.password", vec![]),
            "the password does not decrypt the private key",
        ),
        (
            "hf_pw_wrong",
            content("client.password", b"wrong\n".to_vec()),
            "the password does not decrypt the private key",
        ),
        (
            "hf_ca_mode",
            mode("ca.pem", 0o666),
            "ca.pem: is writable by group or others",
        ),
        (
            "hf_ca_empty",
            content("ca.pem", vec![]),
            "no CERTIFICATE block",
        ),
        ("hf_ca_dir", dir_("ca.pem"), "ca.pem: is not a regular file"),
        // The directories above the files, as sshd's StrictModes checks them.
        (
            "hf_dir_gw",
            mode(".", 0o770),
            "is writable by group or others (mode 0770",
        ),
        (
            "hf_dir_ow",
            mode(".", 0o703),
            "is writable by group or others (mode 0703",
        ),
        (
            "hf_dir_owner",
            owner("."),
            "is owned by uid 65534, not by root",
        ),
    ];
    for (user, prep, want) in cases {
        crate::util::nss_user(user);
        let s = Setup::new("", "");
        let dir = s.dir.path();
        let text = fast_config(&emu, &fast_service(&emu), &format!("{user} = \"{user}@x\""))
            .replace(&d.display().to_string(), &dir.display().to_string());
        std::fs::write(&s.config, text).unwrap();
        for (name, body, m) in [
            ("client.pem", &pem, 0o600),
            ("client.password", &pw, 0o600),
            ("ca.pem", &ca, 0o644),
        ] {
            t_write(dir, name, body.as_bytes(), m);
        }
        prep(dir);
        let start = Instant::now();
        let (rc, conv) = s.login(user);
        assert_eq!(rc, SERVICE_ERR, "{user}");
        assert!(conv.is_empty(), "{user}: {conv:?}");
        assert!(start.elapsed() < Duration::from_secs(20), "{user}: no hang");
        let line = decision(user, &["decision=error", want]);
        assert!(line.starts_with("<81>"), "authpriv.alert: {line}");
    }
    // The other side of the directory rule: a root-owned sticky directory (as /tmp) is
    // safe, others cannot rename or remove root's files in it.
    {
        crate::util::nss_user("hf_dir_sticky");
        let s = Setup::new("", "");
        let dir = s.dir.path();
        let text = fast_config(
            &emu,
            &fast_service(&emu),
            "hf_dir_sticky = \"hf_dir_sticky@x\"",
        )
        .replace(&d.display().to_string(), &dir.display().to_string());
        std::fs::write(&s.config, text).unwrap();
        for (name, body, m) in [
            ("client.pem", &pem, 0o600),
            ("client.password", &pw, 0o600),
            ("ca.pem", &ca, 0o644),
        ] {
            t_write(dir, name, body.as_bytes(), m);
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(s.login("hf_dir_sticky").0, SUCCESS);
    }
    // A key that is not the certificate's (the vendor's key with the emulator's chain).
    let s = Setup::new("", "");
    let dir = s.dir.path();
    t_write(dir, "client.pem", pem.as_bytes(), 0o600);
    t_write(dir, "ca.pem", ca.as_bytes(), 0o644);
    t_write(dir, "vendor.pem", vendor.as_bytes(), 0o600);
    let service = format!(
        "[service]\naddress = \"{}\"\ncredentials = \"{1}/client.pem\"\nkey = \"{1}/vendor.pem\"\npassword = \"123456\"\nca_bundle = \"{1}/ca.pem\"\n",
        emu.addr,
        dir.display()
    );
    std::fs::write(
        &s.config,
        fast_config(&emu, &service, "hf_mismatch = \"m@x\""),
    )
    .unwrap();
    crate::util::nss_user("hf_mismatch");
    assert_eq!(s.login("hf_mismatch").0, SERVICE_ERR);
    decision(
        "hf_mismatch",
        &["the private key does not match the certificate"],
    );
    // The inline password makes the config itself a secret.
    let s = Setup::new("", "");
    let text = fast_config(&emu, &fast_service(&emu), "hf_inline = \"i@x\"").replace(
        &format!("password_file = \"{}/client.password\"", d.display()),
        &format!("password = \"{}\"", pw.trim()),
    );
    std::fs::write(&s.config, text).unwrap();
    std::fs::set_permissions(&s.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    crate::util::nss_user("hf_inline");
    assert_eq!(s.login("hf_inline").0, SERVICE_ERR);
    decision(
        "hf_inline",
        &["readable by group or others", "(it holds service.password)"],
    );
    let sent: Vec<String> = emu
        .messages()
        .iter()
        .map(|m| m["recipients"][0]["userId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["hf_dir_sticky@x"], "no push for a broken setup");
}

fn t_write(dir: &Path, name: &str, body: &[u8], mode: u32) {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_config_changing_during_logins_gives_one_of_its_versions_or_fails_closed() {
    let emu = Emulator::start();
    let users = |answer: &str| -> String {
        (0..4)
            .map(|i| format!("hx{i} = \"hx{i}+{answer}+after=0ms@x\"\n"))
            .collect()
    };
    let a = fast_config(&emu, &fast_service(&emu), &users("approve"));
    let b = fast_config(&emu, &fast_service(&emu), &users("deny"));
    let s = Arc::new(Setup::new(&a, ""));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (path, stop) = (s.config.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let text = if n % 2 == 0 { &b } else { &a };
                if n % 4 < 2 {
                    // Replaced atomically, as an editor or a package manager does.
                    let tmp = path.with_extension("tmp");
                    std::fs::write(&tmp, text).unwrap();
                    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
                    std::fs::rename(&tmp, &path).unwrap();
                } else {
                    // Rewritten in place: a reader may see it empty or half written.
                    std::fs::write(&path, text).unwrap();
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(7));
            }
        })
    };
    let logins: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..6)
                    .map(|_| s.login(&format!("hx{i}")).0)
                    .collect::<Vec<i32>>()
            })
        })
        .collect();
    let codes: Vec<i32> = logins.into_iter().flat_map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(
        codes
            .iter()
            .all(|c| [SUCCESS, MAXTRIES, SERVICE_ERR, USER_UNKNOWN].contains(c)),
        "{codes:?}"
    );
    // Each approval is a push to the approving ID of the version read; each refusal a
    // push to the denying one: never a mix.
    let msgs = emu.messages();
    let count = |st: &str| {
        msgs.iter()
            .filter(|m| m["recipients"][0]["status"] == st)
            .count()
    };
    let ok = codes.iter().filter(|&&c| c == SUCCESS).count();
    let denied = codes.iter().filter(|&&c| c == MAXTRIES).count();
    assert_eq!(count("APPROVED"), ok, "{codes:?}");
    assert_eq!(count("DENIED"), denied, "{codes:?}");
    for m in &msgs {
        let id = m["recipients"][0]["userId"].as_str().unwrap();
        let st = m["recipients"][0]["status"].as_str().unwrap();
        assert_eq!(id.contains("+approve"), st == "APPROVED", "{m}");
    }
    if codes.contains(&SERVICE_ERR) {
        syslog().line_with("error=\"config:");
    }
    assert!(emu.open_messages().is_empty());
}

// ---------------------------------------------------------------------------------------
// Hostile input

#[test]
fn hostile_user_names_hosts_and_ttys_never_reach_the_terminal_push_or_log_raw() {
    let emu = Emulator::start();
    let esc = "\u{1b}]0;pwned\u{7}\u{1b}[2J%s%n%x\u{202e}\u{9b}";
    // A mapped user whose name is hostile (TOML allows any key).
    let users = format!(
        "\"hu_mapped{}\" = \"hu_mapped+approve+after=100ms@x\"\nhu_items = \"hu_items+approve+after=100ms@x\"\nhu_huge = \"hu_huge+approve+after=100ms@x\"\n",
        esc.replace('\u{1b}', "\\u001b")
            .replace('\u{7}', "\\u0007")
            .replace('\u{202e}', "\\u202e")
            .replace('\u{9b}', "\\u009b")
    );
    let cfg = fast_config(&emu, &fast_service(&emu), &users)
        .replace("prompt = \"none\"", "prompt = \"enter\"");
    let long = |n: usize| -> Vec<u8> { std::iter::repeat_n(b'A', n).collect() };
    let mut hostile_bytes = b"\x1b]0;t\x07\xff\xfe\n\r\x00".to_vec();
    hostile_bytes.retain(|&b| b != 0); // PAM items are C strings
                                       // Long, but under what libpam's own audit record takes: libpam (built with libaudit)
                                       // turns any result into PAM_SYSTEM_ERR when the audit message cannot be sent, which a
                                       // 1 MB PAM_RHOST causes whatever the module decided (the third case).
    let mut cases = vec![
        Case {
            setup: 0,
            user: format!("hu_mapped{esc}").into_bytes(),
            rhost: Some([b"\x1b[31m%s%n\xff".as_slice(), &long(2_000)].concat()),
            tty: Some(hostile_bytes.clone()),
        },
        Case {
            setup: 0,
            user: b"hu_items".to_vec(),
            rhost: Some(long(2_000)),
            tty: Some([hostile_bytes.as_slice(), &long(2_000)].concat()),
        },
        Case {
            setup: 0,
            user: b"hu_huge".to_vec(),
            rhost: Some(long(1_000_000)),
            tty: Some(long(100_000)),
        },
    ];
    let unmapped: Vec<Vec<u8>> = vec![
        format!("hu_esc{esc}").into_bytes(),
        b"hu_bytes\xff\xfe\xc3".to_vec(),
        [b"hu_long".as_slice(), &long(200_000)].concat(),
        b"hu_nl\n<13>Jan  1 00:00:00 forged: accepted\r".to_vec(),
        b"hu_fmt%s%s%s%n%n%p".to_vec(),
    ];
    for u in &unmapped {
        cases.push(Case {
            setup: 0,
            user: u.clone(),
            rhost: Some(b"203.0.113.5".to_vec()),
            tty: None,
        });
    }
    let out = in_child(&[ChildSetup::new(cfg, "")], &cases, 1, &[]);
    assert_eq!(
        out[0].rc,
        SUCCESS,
        "{:?} {:?}",
        out[0],
        syslog().lines_with("hu_mapped")
    );
    assert_eq!(
        out[1].rc,
        SUCCESS,
        "{:?} {:?}",
        out[1],
        syslog().lines_with("hu_items")
    );
    // libpam's audit, not the module: the module approved, libpam answered SYSTEM_ERR.
    assert!([SUCCESS, 4].contains(&out[2].rc), "{:?}", out[2]);
    decision("hu_huge", &["decision=approved", "rhost=AAAA"]);
    for o in &out[3..] {
        assert_eq!(o.rc, USER_UNKNOWN, "{o:?}");
    }
    // The terminal: the prompt carries no escape and no part of the hostile items.
    for o in &out[..3] {
        assert_eq!(o.conv.len(), 1, "{:?}", o.conv);
        assert_clean(&o.conv[0].replace('\n', " "));
        assert!(
            o.conv[0].starts_with("PassBy[ME]: approve this login"),
            "{:?}",
            o.conv
        );
    }
    // The push: subject and body clean and bounded.
    for m in emu.messages() {
        for k in ["subject", "body"] {
            let t = m[k].as_str().unwrap();
            assert_clean(&t.replace('\n', " "));
            assert!(t.len() < 2000, "{k} bounded: {} bytes", t.len());
        }
        if m["recipients"][0]["userId"] == "hu_mapped+approve+after=100ms@x" {
            let body = m["body"].as_str().unwrap();
            assert!(
                body.contains("User: hu_mapped?]0;pwned??[2J%s%n%x??"),
                "{body}"
            );
        }
    }
    // The log: one clean, bounded line per login of a known user.
    for marker in ["hu_mapped", "hu_huge", "hu_items"] {
        let lines = syslog().lines_with(marker);
        assert!(!lines.is_empty(), "{marker}: no log line");
        for l in &lines {
            assert_clean(l);
            assert!(l.len() < 2000, "{marker}: {} bytes", l.len());
        }
    }
    // Names the user database does not know (often a password typed at the user prompt)
    // never reach the log: only their length and a short hash.
    for u in &unmapped {
        let redacted = match std::str::from_utf8(u) {
            Ok(name) => pam_passbyme::login::redacted_user(name),
            Err(_) => format!("(len={})", u.len()),
        };
        let line = syslog().line_with(&format!("user={redacted} "));
        assert!(line.contains("decision=unmapped"), "{line}");
        assert_clean(&line);
    }
    for l in syslog().lines() {
        for raw in ["hu_esc", "hu_bytes", "hu_long", "hu_nl", "hu_fmt", "forged"] {
            assert!(!l.contains(raw), "an unknown name reached the log: {l}");
        }
    }
    assert!(emu.open_messages().is_empty());
}

// ---------------------------------------------------------------------------------------
// The environment

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
                    crate::pam::mark_reached();
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
    use std::os::unix::process::ExitStatusExt;
    let emu = Emulator::start();
    let cfg = config(&emu, "", "hz_stack = \"hz_stack+ignore@x\"");
    syslog();
    let (_mark_dir, mark) = crate::pam::mark_path("mark");
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hardening::child_prompt_small_stack",
            "--ignored",
            "--nocapture",
        ])
        .env("PBM_CHILD", "1")
        .env("PBM_CONFIG", cfg)
        .env("PBM_MARK", &mark)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    crate::util::eventually(Duration::from_secs(20), "the login to prompt", || {
        mark.exists()
    });
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    remove_child_dirs(pid);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGTERM),
        "died by the host's disposition of SIGTERM, not a crash: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        emu.status_for("hz_stack+ignore@x").as_deref(),
        Some("CANCELLED")
    );
}

// ---------------------------------------------------------------------------------------
// The host

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

/// The module built with `--features test-panic` (into its own target dir, by
/// tests/hardening.sh or here), installed as `pam_passbyme.so`.
fn panic_module() -> PathBuf {
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
        let inst = dir.join(format!("pam-test-{}", std::process::id()));
        std::fs::create_dir_all(&inst).unwrap();
        let installed = inst.join("pam_passbyme.so");
        std::fs::copy(&built, &installed).unwrap();
        installed
    })
    .clone()
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

// ---------------------------------------------------------------------------------------
// Found while hardening

/// `timeout=` on the module line shortens the login, so the push must not stay approvable
/// on the phone longer than that (availability follows the effective timeout unless the
/// file sets it).
#[test]
fn the_timeout_argument_also_bounds_the_availability() {
    let emu = Emulator::start();
    let text = config(&emu, "prompt = \"none\"", "hv_avail = \"hv+ignore@x\"");
    let s = Setup::new(&text, "timeout=5s");
    assert_eq!(s.login("hv_avail").0, MAXTRIES);
    let m = &emu.messages()[0];
    assert_eq!(m["availability"], 5, "{m}");
}

// ---------------------------------------------------------------------------------------
// valgrind (tests/hardening.sh runs this under memcheck)

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
    // The default network timeouts: under valgrind a TLS handshake takes seconds.
    let good = fast_config(&emu, &emu.service_table(), users);
    let s = Setup::new(&good.replace("prompt = \"none\"", "prompt = \"enter\""), "");
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
