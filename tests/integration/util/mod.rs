//! The one harness of the integration tests (and of the benchmark, which includes this
//! module by path): temporary directories and files, the emulator as a real mTLS server,
//! the `passbyme` command, syslog capture, the private user database. The submodules hold
//! the PAM side ([`pam`]), logins in a child process ([`child`]) and servers the emulator
//! cannot imitate ([`tls`]).

#![allow(dead_code)]

pub mod child;
pub mod pam;
pub mod tls;

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read};

use pam_passbyme::client::Status;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_passbyme");

/// A fresh private directory under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("pbm-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a file with the given mode.
    pub fn write(&self, name: &str, content: &str, mode: u32) -> PathBuf {
        write_file(&self.0, name, content.as_bytes(), mode);
        self.0.join(name)
    }
}

/// Removes the temporary directories a child test process left (it may have been killed
/// before its own cleanup ran).
pub fn remove_child_dirs(pid: u32) {
    let prefix = format!("pbm-test-{pid}-");
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes `path` a FIFO (replacing what is there).
pub fn make_fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Makes `path` a private directory (replacing a file there).
pub fn make_dir(path: &Path) {
    let _ = std::fs::remove_file(path);
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Writes `dir/name` with `body` (bytes) and `mode`.
pub fn write_file(dir: &Path, name: &str, body: &[u8], mode: u32) {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The final statuses other than APPROVED and DENIED (each one refuses a login), by wire name.
pub fn other_final_statuses() -> Vec<String> {
    Status::ALL
        .iter()
        .filter(|s| s.is_final() && !matches!(s, Status::Approved | Status::Denied))
        .map(|s| s.as_str().to_owned())
        .collect()
}

/// A running `passbyme emulator` process (real mTLS), killed on drop.
pub struct Emulator {
    child: Child,
    pub addr: String,
    pub admin: String,
    pub dir: TempDir,
    pub stderr: std::sync::Arc<Mutex<String>>,
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::start_with(&["--answer", "approve", "--after", "300ms"])
    }

    pub fn start_with(extra: &[&str]) -> Emulator {
        Emulator::spawn(TempDir::new("emu"), extra)
    }

    /// An emulator keeping its state in `dir` (made afresh, private, removed on drop), as
    /// the benchmark wants it: on its own work directory.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Emulator {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Emulator::spawn(TempDir(dir.to_path_buf()), extra)
    }

    fn spawn(dir: TempDir, extra: &[&str]) -> Emulator {
        let mut child = Command::new(BIN)
            .args([
                "emulator",
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--state-dir",
            ])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn passbyme emulator");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut addr = String::new();
        let mut admin = String::new();
        let mut line = String::new();
        while addr.is_empty() || admin.is_empty() {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("emulator exited early: {err}");
            }
            if let Some(a) = line.trim().strip_prefix("listening on https://") {
                addr = a.to_owned();
            }
            if let Some(a) = line.trim().strip_prefix("admin on http://") {
                admin = a.to_owned();
            }
        }
        // Keep draining stdout and stderr so the emulator never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let stderr = std::sync::Arc::new(Mutex::new(String::new()));
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut l = String::new();
            while err.read_line(&mut l).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&l);
                l.clear();
            }
        });
        Emulator {
            child,
            addr,
            admin,
            dir,
            stderr,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("passbyme.toml")
    }

    /// The emulator's own config text (service table + users).
    pub fn config_text(&self) -> String {
        std::fs::read_to_string(self.config_path()).unwrap()
    }

    /// A `[limits]` table keeping the limiter's state with this emulator (not /run).
    pub fn limits_table(&self, extra: &str) -> String {
        format!(
            "[limits]\nstate_dir = \"{}/limits\"\n{extra}\n",
            self.dir.path().display()
        )
    }

    /// How the module logs a name the user database does not know, under a config with
    /// [`Emulator::limits_table`]: its length and the HMAC under the key it created in that
    /// state directory (issue 19: never an unkeyed hash).
    pub fn redacted_user(&self, name: &str) -> String {
        let key = pam_passbyme::userkey::load(&self.dir.path().join("limits")).unwrap();
        pam_passbyme::log::redacted_user(name, Some(&key))
    }

    /// The `[service]` table pointing at this emulator, for configs written by tests.
    pub fn service_table(&self) -> String {
        let d = self.dir.path().display();
        format!(
            "[service]\naddress = \"{}\"\ncredentials = \"{d}/client.pem\"\npassword_file = \"{d}/client.password\"\nca_bundle = \"{d}/ca.pem\"\n",
            self.addr
        )
    }

    fn admin_agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .new_agent()
    }

    pub fn admin_get(&self, path: &str) -> serde_json::Value {
        let mut r = Self::admin_agent()
            .get(&format!("http://{}{path}", self.admin))
            .call()
            .unwrap();
        // The benchmark lists tens of thousands of messages.
        let body = r
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .unwrap();
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    }

    pub fn admin_post(&self, path: &str, body: &str) -> u16 {
        Self::admin_agent()
            .post(&format!("http://{}{path}", self.admin))
            .content_type("application/json")
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    }

    /// The message as the emulator sees it.
    pub fn message(&self, id: &str) -> serde_json::Value {
        self.admin_get(&format!("/admin/messages/{id}"))
    }

    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.admin_get("/admin/messages")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Messages for which some recipient is still open (not in a final status).
    pub fn open_messages(&self) -> Vec<serde_json::Value> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m["recipients"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| !Status::parse(r["status"].as_str().unwrap_or("")).is_final())
            })
            .collect()
    }

    pub fn stats(&self) -> serde_json::Value {
        self.admin_get("/admin/stats")
    }

    /// (connections, TLS handshakes, requests) since the start or the last reset.
    pub fn counters(&self) -> (u64, u64, u64) {
        let s = self.stats();
        let n = |k: &str| s[k].as_u64().unwrap_or(0);
        (n("connections"), n("handshakes"), n("requests"))
    }

    pub fn reset_stats(&self) {
        self.admin_post("/admin/reset-stats", "{}");
    }

    /// Every message, by its (only) recipient's ID.
    pub fn messages_by_id(&self) -> std::collections::HashMap<String, Vec<serde_json::Value>> {
        let mut map: std::collections::HashMap<String, Vec<serde_json::Value>> =
            std::collections::HashMap::new();
        for m in self.messages() {
            if let Some(id) = m["recipients"][0]["userId"].as_str() {
                map.entry(id.to_owned()).or_default().push(m);
            }
        }
        map
    }

    /// The final status of `user_id` in the (only) message sent to it.
    pub fn status_for(&self, user_id: &str) -> Option<String> {
        self.messages().iter().rev().find_map(|m| {
            m["recipients"].as_array().unwrap().iter().find_map(|r| {
                (r["userId"] == user_id).then(|| r["status"].as_str().unwrap().to_owned())
            })
        })
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration for `passbyme login` against `emu` (`prompt = "info"`, quick polls, the
/// limits on) with the `[users]` lines `users`, whose names are added to the user database.
/// Returns the directory (keep it alive) and the file.
pub fn login_config(emu: &Emulator, name: &str, users: &str) -> (TempDir, std::path::PathBuf) {
    let t = TempDir::new(name);
    let text = format!(
        "{}{}[login]\nprompt = \"info\"\npoll_interval = \"100ms\"\n[users]\n{users}\n",
        emu.service_table(),
        emu.limits_table("")
    );
    let p = t.write("c.toml", &text, 0o600);
    for u in config_users(&text) {
        nss_user(&u);
    }
    (t, p)
}

/// Runs `passbyme ARGS`, returning (exit code, stdout, stderr).
pub fn passbyme(args: &[&str]) -> (i32, String, String) {
    // Its audit lines need a /dev/log, as on a real host (else it says so on stderr).
    if std::env::var_os("PBM_CHILD").is_none() {
        syslog();
    }
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until `f` holds (polling), or panics with `what` after `limit`.
pub fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {limit:?} waiting for: {what}");
}

/// Captures what the module sends to syslog: a datagram socket bound at /dev/log. Needs a
/// private /dev (tests/run.sh runs the tests in a mount namespace that has one).
pub struct Syslog {
    lines: Mutex<Vec<String>>,
}

pub fn syslog() -> &'static Syslog {
    assert!(
        std::env::var_os("PBM_CHILD").is_none(),
        "a child test process logs to its parent's /dev/log"
    );
    static S: OnceLock<&'static Syslog> = OnceLock::new();
    S.get_or_init(|| {
        let path = Path::new("/dev/log");
        if path.exists() {
            // Ours from an earlier run in this private /dev, or a real syslog daemon's.
            let real = std::os::unix::net::UnixDatagram::unbound()
                .and_then(|s| s.connect(path))
                .is_ok();
            assert!(
                !real || std::env::var_os("PBM_PRIVATE_DEV").is_some(),
                "/dev/log belongs to a syslog daemon: run the tests through tests/run.sh (private /dev)"
            );
            let _ = std::fs::remove_file(path);
        }
        let sock = std::os::unix::net::UnixDatagram::bind(path).unwrap_or_else(|e| {
            panic!("cannot bind /dev/log ({e}): run the tests through tests/run.sh (root, private /dev)")
        });
        let s: &'static Syslog = Box::leak(Box::new(Syslog {
            lines: Mutex::new(Vec::new()),
        }));
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = sock.recv(&mut buf) {
                s.lines.lock().unwrap_or_else(|p| p.into_inner()).push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        s
    })
}

impl Syslog {
    /// Every line received so far (no waiting: check for absence only after the line that
    /// proves the event in question was logged).
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Lines containing `needle`, waiting a little for them to arrive.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        let start = Instant::now();
        loop {
            let found: Vec<String> = self
                .lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|l| l.contains(needle))
                .cloned()
                .collect();
            if !found.is_empty() || start.elapsed() > Duration::from_secs(2) {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The one line containing `needle`; panics listing everything seen if not there.
    pub fn line_with(&self, needle: &str) -> String {
        let found = self.lines_with(needle);
        match found.last() {
            Some(l) => l.clone(),
            None => panic!(
                "no syslog line contains {needle:?}; seen:\n{}",
                self.lines
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .join("\n")
            ),
        }
    }
}

/// One writer at a time for the private /etc/passwd and /etc/group.
static NSS_LOCK: Mutex<()> = Mutex::new(());

/// Adds `name` to the private user database (the copies of /etc/passwd and /etc/group that
/// tests/private-dev.sh mounts), unless it is there already: the module maps only names
/// the user database knows. Refuses to run outside that namespace (the host's files are
/// never touched).
pub fn nss_user(canonical: &str) {
    nss_user_gecos(canonical, "");
}

/// [`nss_user`] with `gecos` as the account's GECOS field (when it adds the account).
pub fn nss_user_gecos(canonical: &str, gecos: &str) {
    use std::io::Write;
    assert_eq!(
        std::env::var("PBM_PRIVATE_DEV").as_deref(),
        Ok("inside"),
        "run the tests through tests/private-dev.sh (a private user database)"
    );
    let _g = NSS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    if passwd
        .lines()
        .any(|l| l.split(':').next() == Some(canonical))
    {
        return;
    }
    // A uid no other test account has: 20000 + the line count.
    let uid = 20_000 + passwd.lines().count();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open("/etc/passwd")
        .unwrap();
    f.write_all(
        format!("{canonical}:x:{uid}:{uid}:{gecos}:/nonexistent:/usr/sbin/nologin\n").as_bytes(),
    )
    .unwrap();
    let mut g = std::fs::OpenOptions::new()
        .append(true)
        .open("/etc/group")
        .unwrap();
    g.write_all(format!("{canonical}:x:{uid}:\n").as_bytes())
        .unwrap();
}

/// Adds `members` (accounts of [`nss_user`]) to the group `name` of the private user
/// database, creating the group when it is not there. Same namespace rule as [`nss_user`].
pub fn nss_group(name: &str, members: &[&str]) {
    for m in members {
        nss_user(m);
    }
    let _g = NSS_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let group = std::fs::read_to_string("/etc/group").unwrap();
    let mut found = false;
    let mut out = String::with_capacity(group.len() + 64);
    for line in group.lines() {
        let f: Vec<&str> = line.splitn(4, ':').collect();
        if f.len() == 4 && f[0] == name {
            found = true;
            let mut have: Vec<&str> = f[3].split(',').filter(|m| !m.is_empty()).collect();
            for m in members {
                if !have.contains(m) {
                    have.push(m);
                }
            }
            out += &format!("{}:{}:{}:{}\n", f[0], f[1], f[2], have.join(","));
        } else {
            out += line;
            out += "\n";
        }
    }
    if !found {
        // A gid no test account has (theirs are 20000 + the passwd line count).
        let gid = 40_000 + group.lines().count();
        out += &format!("{name}:x:{gid}:{}\n", members.join(","));
    }
    // Rewritten in place: /etc/group is a bind mount of the private copy.
    std::fs::write("/etc/group", out).unwrap();
}

/// The `[users]` keys of a config text, to add them to the user database.
pub fn config_users(config: &str) -> Vec<String> {
    let Ok(v) = config.parse::<toml::Table>() else {
        return Vec::new();
    };
    v.get("users")
        .and_then(|u| u.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}
