//! The login benchmark of issue 5: the release module driven through real libpam against
//! the emulator on loopback, the figures printed as a Markdown table.
//!
//! ```text
//! cargo build --release && cargo bench --bench login     # or: sh tests/bench/run.sh
//! ```
//!
//! `tests/bench/run.sh` is the documented command: it builds, installs the vendor's Python SDK
//! into `target/bench-venv`, runs this bench in a private mount namespace (so the module's
//! syslog lines go to a sink bound at a private `/dev/log`, not to the host) and writes the
//! results into `BENCHMARKS.md`. The table is also written to `target/bench/login.md`.
//!
//! The module is `target/release/libpam_passbyme.so` (from `cargo build --release`), copied
//! as `pam_passbyme.so` into a private directory and named on a private `pam.d` line read with
//! `pam_start_confdir`. The limiter's state lives on tmpfs (`/dev/shm`), as `/run/passbyme`
//! does on a real host.
//!
//! The same binary is its own child process for the figures that need a fresh process:
//! `--child-cold`, `--child-soak`, `--child-dlopen` (see [`main`]).
//!
//! Environment: `PBM_BENCH_LOGINS` (logins per latency run, default 250), `PBM_BENCH_SEED`
//! (the seed of the latency runs' phone timelines; default drawn from the clock and printed),
//! `PBM_BENCH_SWEEP` (the schedules of the latency runs, see `latency.rs`), `PBM_BENCH_SOAK`
//! (sequential logins, default 10000), `PBM_BENCH_PYTHON` (the venv's python),
//! `PBM_BENCH_QUICK=1` (small counts, to check the harness itself).
#![allow(unsafe_code)] // dlopen in the load-time child

mod latency;
mod users;
#[path = "../integration/util/mod.rs"]
mod util;

use std::ffi::CString;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pam_passbyme::pamapp::{self, Transaction, TEXT_INFO};
use serde_json::Value;
use util::Emulator;

use util::BIN;
const SERVICE: &str = "pbm-bench";
const MAXTRIES: i32 = 11;
const CONV_ERR: i32 = 19;
/// The phone of the issue: notified ~0.3 s, downloaded ~1 s, seen ~2 s, answer in 2–8 s.
const REALISTIC: &str = "after=2s..8s";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        // A new process: load the module via libpam, push, report when the POST was answered.
        Some("--child-cold") => child_cold(&args[2..]),
        // N sequential logins in this process, VmRSS before and after (also run by valgrind).
        Some("--child-soak") => child_soak(&args[2..]),
        // dlopen the module once, print the time it took.
        Some("--child-dlopen") => child_dlopen(&args[2..]),
        // The limiter under contention: `cargo bench --bench login -- --limiter`.
        Some("--limiter") => limiter_bench(),
        // Cold time to push with a users.d of 100 files × 100 users:
        // `cargo bench --bench login -- --users-dir` (inside tests/private-dev.sh).
        Some("--users-dir") => users_dir_bench(),
        // What the fast users.d reader saves, in-process (tests/bench/users.rs).
        Some("--users-reader") => users::users_reader_bench(),
        // The polling model alone, no emulator (tests/bench/latency.rs).
        Some("--model") => latency::print_model(&args[2..]),
        // `cargo bench` passes `--bench`.
        _ => bench(),
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers

/// Wall-clock time, Unix microseconds (the emulator stamps in Unix ms on the same clock).
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quick() -> bool {
    std::env::var_os("PBM_BENCH_QUICK").is_some_and(|v| v == "1")
}

/// Nearest-rank percentile of a sorted slice.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn median(v: &[f64]) -> f64 {
    pct(&sorted(v.to_vec()), 50.0)
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().map(str::to_owned))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn write_file(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir_private(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// A private work directory `target/bench/WORK-PID`, a scratch directory `SHM-PID` on tmpfs
/// (in the work directory when there is no /dev/shm), and the release module `built`
/// copied into the work directory under its installed name: (work, scratch, module).
fn workspace(target: &Path, built: &Path, work: &str, shm: &str) -> (PathBuf, PathBuf, PathBuf) {
    let pid = std::process::id();
    let work = target.join("bench").join(format!("{work}-{pid}"));
    mkdir_private(&work);
    let shm_base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        work.clone()
    };
    let shm = shm_base.join(format!("{shm}-{pid}"));
    mkdir_private(&shm);
    let moddir = work.join("module");
    mkdir_private(&moddir);
    let module = moddir.join("pam_passbyme.so");
    std::fs::copy(built, &module).expect("copy the module");
    (work, shm, module)
}

/// `target/` (the passbyme binary is `target/release/passbyme`).
fn target_dir() -> PathBuf {
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}

// ---------------------------------------------------------------------------------------
// The emulator (tests/integration/util: the harness shared with the integration tests)

/// When a recipient reached `status`, Unix ms (sentAtMs + atMs of its history).
fn reached_ms(m: &Value, status: &str) -> Option<f64> {
    let sent = m["sentAtMs"].as_u64()?;
    m["recipients"][0]["history"]
        .as_array()?
        .iter()
        .find(|h| h["status"] == status)
        .and_then(|h| h["atMs"].as_u64())
        .map(|at| (sent + at) as f64)
}

fn requests_of(m: &Value) -> (u64, u64, u64) {
    let r = &m["requests"];
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    (n("send"), n("track"), n("cancel"))
}

// ---------------------------------------------------------------------------------------
// A private PAM setup: config + pam.d naming the copied release module

struct Setup {
    confdir: PathBuf,
}

impl Setup {
    fn new(dir: &Path, module: &Path, config: &str) -> Setup {
        // The module maps only names the user database knows: the bench's users go into
        // the private copies of /etc/passwd and /etc/group that tests/private-dev.sh mounts.
        for user in util::config_users(config) {
            util::nss_user(&user);
        }
        mkdir_private(dir);
        let cfg = dir.join("passbyme.toml");
        write_file(&cfg, config, 0o600);
        let confdir = dir.join("pam.d");
        mkdir_private(&confdir);
        write_file(
            &confdir.join(SERVICE),
            &format!(
                "auth required {} config={}\n",
                module.display(),
                cfg.display()
            ),
            0o644,
        );
        Setup { confdir }
    }
}

/// `[limits]` on tmpfs, no limit the bench would hit (the limiter still runs every login).
fn limits_table(state: &Path, window: &str) -> String {
    format!(
        "[limits]\nstate_dir = \"{}\"\nmax_pushes = 1000\nwindow = \"{window}\"\n",
        state.display()
    )
}

/// One login through libpam: (PAM code, Unix µs when pam_authenticate returned, the
/// verification code the conversation showed).
fn login(confdir: &Path, user: &str) -> (i32, u64, Option<String>) {
    let code = Arc::new(Mutex::new(None));
    let c2 = code.clone();
    let conv: pamapp::Conversation = Box::new(move |style, text| {
        if style == TEXT_INFO {
            if let Some(c) = text.split("code: ").nth(1) {
                *c2.lock().unwrap() = Some(c.trim().to_owned());
            }
        }
        Ok(None)
    });
    let mut tx = Transaction::start(SERVICE, user, Some(confdir), conv).expect("pam_start");
    tx.set_rhost(b"198.51.100.7");
    tx.set_tty(b"pts/9");
    let rc = tx.authenticate(0);
    let at = now_us();
    drop(tx);
    let code = code.lock().unwrap().take();
    (rc, at, code)
}

/// A finished login of figure 6: (index, PAM code, Unix µs at return, the code shown).
type Finished = (usize, i32, u64, Option<String>);

// ---------------------------------------------------------------------------------------
// Children

/// `--child-cold CONFDIR USER`: prints `main_us start_us ack_us end_us rc`. The module's
/// first conversation message (PAM_TEXT_INFO with the code) comes right after the POST is
/// answered: its time is "push acknowledged". The conversation then fails, so the module
/// cancels the message and returns.
fn child_cold(args: &[String]) {
    let main_us = now_us();
    let confdir = PathBuf::from(&args[0]);
    let ack = Arc::new(AtomicU64::new(0));
    let a2 = ack.clone();
    let conv: pamapp::Conversation = Box::new(move |style, _| {
        if style == TEXT_INFO {
            a2.store(now_us(), Ordering::SeqCst);
        }
        Err(())
    });
    let start_us = now_us();
    let mut tx = Transaction::start(SERVICE, &args[1], Some(&confdir), conv).expect("pam_start");
    tx.set_rhost(b"198.51.100.7");
    let rc = tx.authenticate(0);
    let end_us = now_us();
    drop(tx);
    println!(
        "{main_us} {start_us} {} {end_us} {rc}",
        ack.load(Ordering::SeqCst)
    );
}

/// `--child-soak CONFDIR USER N WARMUP`: prints `rss_before_kib rss_after_kib ok n ms`.
fn child_soak(args: &[String]) {
    let confdir = PathBuf::from(&args[0]);
    let user = &args[1];
    let n: usize = args[2].parse().expect("N");
    let warmup: usize = args[3].parse().expect("WARMUP");
    let mut ok = 0;
    for _ in 0..warmup {
        ok += usize::from(login(&confdir, user).0 == 0);
    }
    let before = vm_rss_kib();
    let t = Instant::now();
    for _ in 0..n {
        ok += usize::from(login(&confdir, user).0 == 0);
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let after = vm_rss_kib();
    println!("{before} {after} {ok} {} {ms:.0}", n + warmup);
}

/// `--child-dlopen PATH`: prints the µs dlopen(RTLD_NOW) took (as libpam loads modules).
fn child_dlopen(args: &[String]) {
    let path = CString::new(args[0].as_bytes()).expect("path");
    let t = Instant::now();
    // SAFETY: a valid NUL-terminated path; the handle is never used nor closed.
    let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    let us = t.elapsed().as_secs_f64() * 1e6;
    assert!(!h.is_null(), "dlopen failed");
    println!("{us:.0}");
}

fn run_child(args: &[&str]) -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn child");
    assert!(
        out.status.success(),
        "child {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

// ---------------------------------------------------------------------------------------
// Syslog: inside tests/private-dev.sh, bind a discarding sink at the private /dev/log

fn syslog_sink() -> String {
    let path = Path::new("/dev/log");
    if std::env::var_os("PBM_PRIVATE_DEV").is_some_and(|v| v == "inside") {
        let _ = std::fs::remove_file(path);
        if let Ok(sock) = std::os::unix::net::UnixDatagram::bind(path) {
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 8192];
                while sock.recv(&mut buf).is_ok() {}
            });
            return "a discarding sink at a private /dev/log (one datagram per decision)".into();
        }
    }
    let live = std::os::unix::net::UnixDatagram::unbound()
        .and_then(|s| s.connect(path))
        .is_ok();
    if live {
        eprintln!(
            "bench: WARNING: /dev/log is a live syslog daemon and this is not a private /dev: \
             the module's ~11,000 decision lines go to the host's log. Use tests/bench/run.sh."
        );
        "the host's syslog daemon (not isolated: use tests/bench/run.sh)".into()
    } else {
        "none listening at /dev/log (the module's syslog calls fail fast)".into()
    }
}

// ---------------------------------------------------------------------------------------
// The figures

#[derive(Default)]
struct Report {
    rows: Vec<[String; 4]>,
    notes: Vec<String>,
    sections: Vec<String>,
}

impl Report {
    fn row(&mut self, figure: &str, measured: String, target: &str, met: Option<bool>) {
        let met = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        self.rows.push([
            figure.to_owned(),
            measured,
            target.to_owned(),
            met.to_owned(),
        ]);
        let r = self.rows.last().unwrap();
        eprintln!(
            "bench: {} = {} (target {}, met: {})",
            r[0], r[1], r[2], r[3]
        );
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!(
        "- date: {date}\n- machine: {nproc} CPUs (`nproc`), {cpu}, {mem} RAM, Linux {}\n- load average at start: {}",
        kernel.trim(),
        loadavg()
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn bench() {
    let total = Instant::now();
    let target = target_dir();
    let built = target.join("release").join("libpam_passbyme.so");
    if !built.is_file() {
        eprintln!(
            "bench: {} is missing.\n\
             bench: build the release module first:  cargo build --release\n\
             bench: (or run the documented command:  sh tests/bench/run.sh)",
            built.display()
        );
        std::process::exit(2);
    }
    let quick = quick();
    let n_lat = env_usize("PBM_BENCH_LOGINS", if quick { 40 } else { 250 });
    let n_soak = env_usize("PBM_BENCH_SOAK", if quick { 300 } else { 10_000 });
    let n_conc = if quick { 60 } else { 500 };
    let n_cold = if quick { 10 } else { 50 };
    let n_sdk = if quick { 5 } else { 20 };
    let conc = 50;

    let (work, shm, module) = workspace(&target, &built, "run", "pbm-bench");
    let syslog = syslog_sink();
    let machine = machine();
    let emu = Emulator::start_in(&work.join("emulator"), &[]);
    eprintln!("bench: emulator on {} (admin {})", emu.addr, emu.admin);

    let mut rep = Report::default();

    // 1–3: latency, request rate, handshakes, over randomised phones, for each schedule of
    // PBM_BENCH_SWEEP (tests/bench/latency.rs).
    latency::figures(&emu, &work, &module, &shm, &mut rep, n_lat, conc, quick);

    // 4: cold time to push.
    eprintln!("bench: cold time to push, {n_cold} new processes");
    {
        let mut cfg = emu.service_table();
        cfg += &limits_table(&shm.join("cold"), "10m");
        cfg += "[login]\nprompt = \"info\"\n[users]\n";
        for i in 0..n_cold + 3 {
            let _ = writeln!(cfg, "c{i} = \"c{i}+ignore@x\"");
        }
        let setup = Setup::new(&work.join("cold"), &module, &cfg);
        let confdir = setup.confdir.to_string_lossy().into_owned();
        let (mut spawn_ack, mut main_ack, mut start_ack, mut spawn_sent) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut bad = 0;
        let mut spawned = Vec::new();
        for i in 0..n_cold + 3 {
            let user = format!("c{i}");
            let t0 = now_us();
            let out = run_child(&["--child-cold", &confdir, &user]);
            let v: Vec<u64> = out
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            if v.len() != 5 || v[2] == 0 || v[4] != CONV_ERR as u64 {
                bad += 1;
                continue;
            }
            if i < 3 {
                continue; // warm-up: page cache, the emulator's first connections
            }
            spawn_ack.push((v[2] - t0) as f64 / 1000.0);
            main_ack.push((v[2] - v[0]) as f64 / 1000.0);
            start_ack.push((v[2] - v[1]) as f64 / 1000.0);
            spawned.push((format!("c{i}+ignore@x"), t0));
        }
        let msgs = emu.messages_by_id();
        for (id, t0) in &spawned {
            if let Some(sent) = msgs.get(id).and_then(|m| m[0]["sentAtMs"].as_f64()) {
                spawn_sent.push(sent - *t0 as f64 / 1000.0);
            }
        }
        let p = |v: &[f64]| median(v);
        rep.row(
            "4. cold time to push, p50 (pam_start → POST answered, in a new process)",
            format!(
                "{:.1} ms (spawn → POST answered {:.1} ms; main() → answered {:.1} ms; spawn → emulator's sentAtMs {:.0} ms; {} runs, {bad} bad)",
                p(&start_ack),
                p(&spawn_ack),
                p(&main_ack),
                p(&spawn_sent),
                start_ack.len()
            ),
            "≤ 15 ms",
            Some(p(&start_ack) <= 15.0 && bad == 0),
        );
    }

    // 5: sequential logins in one process; valgrind over 100.
    eprintln!("bench: {n_soak} sequential logins in one process (child)");
    {
        let mut cfg = emu.service_table();
        cfg += &limits_table(&shm.join("soak"), "1s");
        cfg += "[login]\nprompt = \"none\"\n[users]\nsoak = \"soak+approve+after=0ms@x\"\n";
        let setup = Setup::new(&work.join("soak"), &module, &cfg);
        let confdir = setup.confdir.to_string_lossy().into_owned();
        emu.reset_stats();
        let out = run_child(&["--child-soak", &confdir, "soak", &n_soak.to_string(), "100"]);
        let (_, hs, req) = emu.counters();
        let v: Vec<f64> = out
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(f64::NAN))
            .collect();
        let (before, after, ok, total_n, ms) = (v[0], v[1], v[2], v[3], v[4]);
        let growth = after - before;
        rep.row(
            &format!("5a. {n_soak} sequential logins in one process: VmRSS after 100 warm-up → after"),
            format!(
                "{before:.0} → {after:.0} KiB ({growth:+.0} KiB); {ok:.0}/{total_n:.0} approved; {:.2} ms per login; {:.2} handshakes and {:.2} requests per login",
                ms / (total_n - 100.0),
                hs as f64 / total_n,
                req as f64 / total_n
            ),
            "growth < 1024 KiB",
            Some(growth < 1024.0 && ok == total_n),
        );
        let n_vg = if quick { 10 } else { 100 };
        let vg = Command::new("valgrind")
            .args([
                "--tool=memcheck",
                "--leak-check=full",
                "--show-leak-kinds=definite",
                "--errors-for-leak-kinds=definite",
            ])
            .arg(std::env::current_exe().unwrap())
            .args(["--child-soak", &confdir, "soak", &n_vg.to_string(), "0"])
            .stdin(Stdio::null())
            .output();
        eprintln!("bench: valgrind memcheck over {n_vg} logins");
        match vg {
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let grab = |key: &str| {
                    err.lines()
                        .find_map(|l| l.split_once(key).map(|(_, v)| v.trim().to_owned()))
                        .unwrap_or_else(|| "?".into())
                };
                let lost = grab("definitely lost:");
                let ok_line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                let approved = ok_line.split_whitespace().nth(2).unwrap_or("?").to_owned();
                let zero = lost.starts_with("0 bytes")
                    || (lost == "?" && err.contains("no leaks are possible"));
                let lost = if lost == "?" && zero {
                    "0 bytes (no leaks are possible)".to_owned()
                } else {
                    lost
                };
                rep.row(
                    &format!("5b. valgrind memcheck over {n_vg} logins: definitely lost"),
                    format!(
                        "{lost}; indirectly lost {}; possibly lost {}; still reachable {}; {approved}/{n_vg} approved; errors: {}",
                        grab("indirectly lost:"),
                        grab("possibly lost:"),
                        grab("still reachable:"),
                        grab("ERROR SUMMARY:")
                    ),
                    "0 bytes",
                    Some(zero),
                );
                let _ = std::fs::write(work.join("memcheck.log"), err.as_bytes());
            }
            Err(e) => rep.row(
                "5b. valgrind memcheck",
                format!("not run: {e}"),
                "0 bytes",
                None,
            ),
        }
    }

    // 6: concurrent logins, one thread and one PAM handle each.
    eprintln!("bench: {n_conc} concurrent logins");
    {
        let users: Vec<(String, String, bool)> = (0..n_conc)
            .map(|i| {
                let approve = i % 2 == 0;
                let u = format!("cc{i}");
                let id = format!(
                    "{u}+{}+{REALISTIC}@x",
                    if approve { "approve" } else { "deny" }
                );
                (u, id, approve)
            })
            .collect();
        let mut cfg = emu.service_table();
        cfg += &limits_table(&shm.join("conc"), "10m");
        cfg += "[login]\nprompt = \"info\"\n[users]\n";
        for (u, id, _) in &users {
            let _ = writeln!(cfg, "{u} = \"{id}\"");
        }
        let setup = Setup::new(&work.join("conc"), &module, &cfg);
        let barrier = Barrier::new(n_conc + 1);
        let results: Mutex<Vec<Finished>> = Mutex::new(Vec::new());
        let mut wall = 0.0;
        std::thread::scope(|s| {
            for (i, (u, _, _)) in users.iter().enumerate() {
                let (barrier, results, confdir) = (&barrier, &results, &setup.confdir);
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn_scoped(s, move || {
                        barrier.wait();
                        let (rc, at, code) = login(confdir, u);
                        results.lock().unwrap().push((i, rc, at, code));
                    })
                    .expect("spawn a login thread");
            }
            barrier.wait();
            let t = Instant::now();
            // The scope joins every thread before returning; time it from here.
            while results.lock().unwrap().len() < n_conc && t.elapsed() < Duration::from_secs(120) {
                std::thread::sleep(Duration::from_millis(5));
            }
            wall = t.elapsed().as_secs_f64();
        });
        let msgs = emu.messages_by_id();
        let results = results.into_inner().unwrap();
        let (mut correct, mut crosstalk) = (0, 0);
        let mut lat = Vec::new();
        for (i, rc, at, code) in &results {
            let (u, id, approve) = &users[*i];
            let want = if *approve { 0 } else { MAXTRIES };
            let list = msgs.get(id).cloned().unwrap_or_default();
            // Exactly one message to this ID, its subject carrying the code this login showed.
            let own = list.len() == 1
                && code.as_ref().is_some_and(|c| {
                    list[0]["subject"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(&format!("Code {c}: log in as {u} ")))
                });
            if !own {
                crosstalk += 1;
            }
            if *rc == want && own {
                correct += 1;
            }
            let answered = list
                .first()
                .and_then(|m| reached_ms(m, if *approve { "APPROVED" } else { "DENIED" }));
            if let Some(a) = answered {
                lat.push(*at as f64 / 1000.0 - a);
            }
        }
        let lat = sorted(lat);
        rep.row(
            &format!("6. {n_conc} concurrent logins (threads, one PAM handle each; half approve, half deny)"),
            format!(
                "{correct}/{n_conc} correct, {crosstalk} with a wrong or foreign message; wall {wall:.1} s (answers at 2–8 s); answer → decision under this load p50 {:.0} / p99 {:.0} / max {:.0} ms",
                pct(&lat, 50.0),
                pct(&lat, 99.0),
                lat.last().copied().unwrap_or(f64::NAN)
            ),
            "all correct, no cross-talk",
            Some(correct == n_conc && crosstalk == 0),
        );
    }

    // 7: the module's size and load time.
    eprintln!("bench: module size and dlopen time");
    {
        let bytes = std::fs::read(&built).unwrap_or_default();
        let stripped = !bytes.windows(8).any(|w| w == b".symtab\0");
        let path = module.to_string_lossy().into_owned();
        let _ = run_child(&["--child-dlopen", &path]);
        let times: Vec<f64> = (0..50)
            .map(|_| {
                run_child(&["--child-dlopen", &path])
                    .parse()
                    .unwrap_or(f64::NAN)
            })
            .collect();
        rep.row(
            "7. release module: size; dlopen(RTLD_NOW) time, median of 50 new processes",
            format!(
                "{} bytes ({:.2} MiB, {}); {:.2} ms",
                bytes.len(),
                bytes.len() as f64 / 1048576.0,
                if stripped { "stripped" } else { "NOT stripped" },
                median(&times) / 1000.0
            ),
            "(reported)",
            None,
        );
    }

    // 8: the vendor's Python SDK against `passbyme send --wait`.
    eprintln!("bench: vendor SDK vs passbyme send --wait, {n_sdk} runs each");
    {
        let python = std::env::var_os("PBM_BENCH_PYTHON")
            .map_or_else(|| target.join("bench-venv/bin/python"), PathBuf::from);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/vendor_sdk.py");
        let ready = python.is_file()
            && Command::new(&python)
                .args(["-c", "import passbyme2fa_client"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if !ready {
            rep.row(
                "8. vendor SDK vs passbyme send --wait",
                format!(
                    "not run: {} has no passbyme2fa_client (tests/bench/run.sh installs it)",
                    python.display()
                ),
                "≥ 10× faster",
                None,
            );
        } else {
            let d = emu.dir.path().display().to_string();
            let cfg = emu.config_path();
            let id = "sdk+approve+after=0ms@x";
            let time_it = |cmd: &mut Command| {
                let t = Instant::now();
                let out = cmd.stdin(Stdio::null()).output().expect("spawn");
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                let ok = out.status.success()
                    && String::from_utf8_lossy(&out.stdout).contains("APPROVED");
                (ms, ok)
            };
            let (mut sdk, mut ours, mut bad) = (Vec::new(), Vec::new(), 0);
            for i in 0..=n_sdk {
                let (a, aok) = time_it(
                    Command::new(&python)
                        .arg(&script)
                        .args([&emu.addr, &format!("{d}/ca.pem")])
                        .args([&format!("{d}/client.pem"), &format!("{d}/client.password")])
                        .arg(id),
                );
                let (b, bok) = time_it(
                    Command::new(BIN)
                        .arg("--config")
                        .arg(&cfg)
                        .args(["send", "--to", id, "--wait"]),
                );
                bad += usize::from(!aok) + usize::from(!bok);
                if i > 0 {
                    sdk.push(a);
                    ours.push(b);
                }
            }
            let (ms_sdk, ms_ours) = (median(&sdk), median(&ours));
            rep.row(
                "8. same send + track-until-approved, new processes: vendor SDK vs passbyme send --wait (medians)",
                format!(
                    "SDK {ms_sdk:.1} ms vs passbyme {ms_ours:.1} ms: {:.1}× ({n_sdk} runs each, interleaved; {bad} failed)",
                    ms_sdk / ms_ours
                ),
                "≥ 10× faster",
                Some(ms_sdk / ms_ours >= 10.0 && bad == 0),
            );
        }
    }

    drop(emu);
    let _ = std::fs::remove_dir_all(&shm);
    let _ = std::fs::remove_dir_all(&work);

    let mut md = String::new();
    let _ = writeln!(md, "{machine}\n- load average at end: {}", loadavg());
    let _ = writeln!(
        md,
        "- module: `{}` (release, copied as `pam_passbyme.so`); syslog: {syslog}; limiter state on tmpfs\n- whole bench: {:.0} s{}\n",
        built.display(),
        total.elapsed().as_secs_f64(),
        if quick { " (PBM_BENCH_QUICK: reduced counts)" } else { "" }
    );
    md += "| figure | measured | target | met |\n|---|---|---|---|\n";
    for r in &rep.rows {
        let _ = writeln!(md, "| {} | {} | {} | {} |", r[0], r[1], r[2], r[3]);
    }
    for s in &rep.sections {
        let _ = write!(md, "\n{s}");
    }
    for n in &rep.notes {
        let _ = writeln!(md, "\n{n}");
    }
    println!("\n{md}");
    let out = target.join("bench").join("login.md");
    let _ = std::fs::create_dir_all(out.parent().unwrap());
    let _ = std::fs::write(&out, &md);
    eprintln!("bench: table written to {}", out.display());
}

// ---------------------------------------------------------------------------------------
// The limiter under contention (`--limiter`): per-user locks with many users at once and
// many logins of one user at once. Library level (the limiter's own `Store`, which the
// module uses, to read each lock wait) and through libpam (the release module, the
// emulator), with the limiter on.

/// Raises the soft open-file limit to the hard one (children inherit it); returns both.
fn raise_nofile() -> (u64, u64) {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        (r.rlim_cur, r.rlim_max)
    }
}

fn ms_pcts(v: Vec<f64>) -> String {
    let v = sorted(v);
    format!(
        "{:.3} / {:.3} / {:.3} ms",
        pct(&v, 0.50),
        pct(&v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

/// Runs `n` threads released together by a barrier; each runs `f(i)`. Small stacks: the
/// counts are bounded by `n`, which the caller bounds.
fn all_at_once<T: Send + 'static>(
    n: usize,
    stack: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (f, b) = (f.clone(), barrier.clone());
            std::thread::Builder::new()
                .stack_size(stack)
                .spawn(move || {
                    b.wait();
                    f(i)
                })
                .expect("spawn (threads limit?)")
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect()
}

/// One library-level login: (lock wait of `begin`, the whole `begin` in ms, pushed?, refusal).
fn store_login(
    limits: &pam_passbyme::limiter::Limits,
    user: &str,
    hold: &Barrier,
) -> (f64, f64, bool, Option<String>) {
    use pam_passbyme::limiter::{Begin, Finish, Origin, Store, Wait};
    let store = Store::open(limits).expect("state dir");
    let origin = Origin {
        rhost: Some("198.51.100.7"),
        tty: Some("ssh"),
        service: SERVICE,
        target: None,
    };
    let t = Instant::now();
    let r = store.begin(
        user,
        &origin,
        Duration::from_secs(60),
        &mut Wait::bounded(Duration::from_secs(60)),
    );
    let took = t.elapsed().as_secs_f64() * 1000.0;
    let wait = store.last_lock_wait().as_secs_f64() * 1000.0;
    // Everyone decides before anyone finishes: the first push stays pending meanwhile.
    hold.wait();
    match r {
        Ok(Begin::Push { ticket, .. }) => {
            store
                .sent(&ticket, "MSG", &mut Wait::bounded(Duration::from_secs(60)))
                .expect("sent");
            store
                .finish(
                    &ticket,
                    Finish::Approved,
                    &mut Wait::bounded(Duration::from_secs(60)),
                )
                .expect("finish");
            (wait, took, true, None)
        }
        Ok(Begin::Grace) => (wait, took, false, Some("grace".into())),
        Ok(Begin::Refused(why)) => (wait, took, false, Some(why.reason)),
        Err(e) => (wait, took, false, Some(e.to_string())),
    }
}

fn limiter_bench() {
    let total = Instant::now();
    let quick = quick();
    let n_users = env_usize("PBM_BENCH_LIMITER_USERS", if quick { 500 } else { 5000 });
    let n_one = env_usize("PBM_BENCH_LIMITER_ONE", 200);
    let (nofile, nofile_max) = raise_nofile();
    let target = target_dir();
    let built = target.join("release").join("libpam_passbyme.so");
    assert!(built.is_file(), "cargo build --release first");
    let (work, shm, module) = workspace(&target, &built, "limiter", "pbm-bench-limiter");
    let syslog = syslog_sink();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{}\n- open files: {nofile} (hard {nofile_max}); syslog: {syslog}; limiter state on tmpfs\n",
        machine()
    );
    md += "| scenario | correctness | lock wait p50 / p99 / max | decision p50 / p99 / max | wall |\n|---|---|---|---|---|\n";

    // 1. Library level: the limiter's begin/sent/finish, all threads released at once.
    for (label, n, one_user) in [
        (
            format!("store: {n_users} distinct users at once"),
            n_users,
            false,
        ),
        (
            format!("store: {n_one} logins of one user at once"),
            n_one,
            true,
        ),
    ] {
        let limits = pam_passbyme::limiter::Limits {
            state_dir: shm.join(format!("store-{n}-{one_user}")),
            max_pushes: 1000,
            max_pushes_user: 1000,
            ..Default::default()
        };
        let hold = Arc::new(Barrier::new(n));
        let t = Instant::now();
        let out = all_at_once(n, 256 * 1024, move |i| {
            let user = if one_user {
                "one".to_owned()
            } else {
                format!("u{i}")
            };
            store_login(&limits, &user, &hold)
        });
        let wall = t.elapsed().as_secs_f64();
        let pushed = out.iter().filter(|o| o.2).count();
        let refused_pending = out
            .iter()
            .filter(|o| {
                o.3.as_deref() == Some("another login for this user is waiting for approval")
            })
            .count();
        let other: Vec<&String> = out.iter().filter_map(|o| o.3.as_ref()).collect();
        let expected = if one_user { (1, n - 1) } else { (n, 0) };
        let ok = (pushed, refused_pending) == expected && other.len() == refused_pending;
        let _ = writeln!(
            md,
            "| {label} | {pushed} pushes, {refused_pending} refused (expected {} and {}): {} | {} | {} (begin) | {wall:.1} s |",
            expected.0,
            expected.1,
            if ok { "correct" } else { "**WRONG**" },
            ms_pcts(out.iter().map(|o| o.0).collect()),
            ms_pcts(out.iter().map(|o| o.1).collect()),
        );
        eprintln!("bench: {label}: {pushed} pushed, {refused_pending} refused, {wall:.1} s");
    }

    // 2. Through libpam: the release module against the emulator, with the limiter on.
    let emu = Emulator::start_in(&work.join("emulator"), &[]);
    for (label, n, one_user) in [
        (
            format!("PAM: {n_users} distinct users at once"),
            n_users,
            false,
        ),
        (
            format!("PAM: {n_one} logins of one user at once"),
            n_one,
            true,
        ),
    ] {
        let tag = if one_user { "one" } else { "many" };
        let mut cfg = emu.service_table();
        cfg += "connect_timeout = \"60s\"\nrequest_timeout = \"120s\"\n";
        let _ = writeln!(
            cfg,
            "[limits]\nstate_dir = \"{}\"\nmax_pushes = 1000\n",
            shm.join(format!("pam-{tag}")).display()
        );
        // Many users: the phone approves at once (a POST and one poll 100 ms later per login:
        // the load is the limiter, the handshakes and the requests, not a long wait). One user: the one push stays pending
        // (approved after 10 s) while the other logins arrive.
        cfg +=
            "[login]\nprompt = \"none\"\ntimeout = \"300s\"\npoll_interval = \"100ms\"\n[users]\n";
        // A config file holds at most 64 KiB: 1000 users per config (and per pam.d
        // directory), every config naming the same state directory, as on one host.
        let mut confdirs = Vec::new();
        let mut users: Vec<(usize, String)> = Vec::new();
        if one_user {
            let mut c = cfg.clone();
            let _ = writeln!(c, "one = \"one+approve+after=10s@x\"");
            confdirs.push(Setup::new(&work.join(format!("pam-{tag}")), &module, &c).confdir);
            users.extend((0..n).map(|_| (0, "one".to_owned())));
        } else {
            for (k, chunk) in (0..n).collect::<Vec<_>>().chunks(1000).enumerate() {
                let mut c = cfg.clone();
                for i in chunk {
                    let _ = writeln!(c, "m{i} = \"m{i}+approve+after=0ms@x\"");
                    users.push((k, format!("m{i}")));
                }
                let dir = work.join(format!("pam-{tag}-{k}"));
                confdirs.push(Setup::new(&dir, &module, &c).confdir);
            }
        }
        let confdirs = Arc::new(confdirs);
        let users = Arc::new(users);
        emu.reset_stats();
        let count = |emu: &Emulator| emu.messages_by_id().values().map(Vec::len).sum::<usize>();
        let before = count(&emu);
        let t = Instant::now();
        let out = all_at_once(n, 512 * 1024, move |i| {
            let start = Instant::now();
            let (k, user) = &users[i];
            let (rc, _, _) = login(&confdirs[*k], user);
            (
                rc,
                start.elapsed().as_secs_f64() * 1000.0,
                start,
                Instant::now(),
            )
        });
        // Since the barrier released them all (the first start): includes the queueing for
        // 2 cores that a per-login figure hides.
        let t0 = out.iter().map(|o| o.2).min().unwrap_or(t);
        let since = |o: &(i32, f64, Instant, Instant)| (o.3 - t0).as_secs_f64() * 1000.0;
        let wall = t.elapsed().as_secs_f64();
        let pushes = count(&emu) - before;
        let ok_n = out.iter().filter(|o| o.0 == 0).count();
        let refused = out.iter().filter(|o| o.0 == MAXTRIES).count();
        let expected = if one_user { (1, n - 1, 1) } else { (n, 0, n) };
        let correct = (ok_n, refused, pushes) == expected;
        let pick = |o: &&(i32, f64, Instant, Instant)| !one_user || o.0 == MAXTRIES;
        let lat = format!(
            "{} per login; {} since all were released{}",
            ms_pcts(out.iter().filter(pick).map(|o| o.1).collect()),
            ms_pcts(out.iter().filter(pick).map(since).collect()),
            if one_user { " (the refused ones)" } else { "" }
        );
        let _ = writeln!(
            md,
            "| {label} | {ok_n} approved, {refused} refused, {pushes} pushes (expected {}, {}, {}): {} | (see store rows) | {lat} | {wall:.1} s |",
            expected.0,
            expected.1,
            expected.2,
            if correct { "correct" } else { "**WRONG**" },
        );
        eprintln!(
            "bench: {label}: {ok_n} approved, {refused} refused, {pushes} pushes, {wall:.1} s"
        );
    }
    drop(emu);
    let _ = std::fs::remove_dir_all(&shm);
    let _ = std::fs::remove_dir_all(&work);
    let _ = writeln!(
        md,
        "\n- load average at end: {}; whole run {:.0} s{}",
        loadavg(),
        total.elapsed().as_secs_f64(),
        if quick {
            " (PBM_BENCH_QUICK: reduced counts)"
        } else {
            ""
        }
    );
    println!("\n{md}");
    let out = target.join("bench").join("limiter.md");
    let _ = std::fs::create_dir_all(out.parent().unwrap());
    let _ = std::fs::write(&out, &md);
    eprintln!("bench: table written to {}", out.display());
}

// ---------------------------------------------------------------------------------------
// `--users-dir`: the cold time to push (figure 4) when the IDs come from `mapping.users_dir`
// with 100 files of 100 users each (10,000 users), the logins' users in the last file read;
// beside it the same without users.d, and `Config::load` alone in this process.

fn users_dir_bench() {
    let quick = quick();
    let n_files = env_usize("PBM_BENCH_USERS_FILES", 100);
    let per_file = env_usize("PBM_BENCH_USERS_PER_FILE", 100);
    let n_cold = if quick { 10 } else { 50 };
    let target = target_dir();
    let built = target.join("release").join("libpam_passbyme.so");
    assert!(built.is_file(), "cargo build --release first");
    let (work, shm, module) = workspace(&target, &built, "usersd", "pbm-bench-usersd");
    let _syslog = syslog_sink();
    let emu = Emulator::start_in(&work.join("emulator"), &[]);
    let dir = work.join("users.d");
    mkdir_private(&dir);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in 0..n_files {
        let mut text = format!("# team {f}\n[users]\n");
        for u in 0..per_file {
            let _ = writeln!(text, "t{f:03}u{u:03} = \"t{f:03}u{u:03}+ignore@x\"");
        }
        write_file(&dir.join(format!("{f:03}-team.toml")), &text, 0o644);
    }
    let last = n_files - 1;
    let users: Vec<String> = (0..n_cold + 3)
        .map(|i| format!("t{last:03}u{i:03}"))
        .collect();
    for u in &users {
        util::nss_user(u);
    }
    let mut rows = Vec::new();
    for (label, with_dir) in [
        ("users.d of 100×100", true),
        ("no users.d (baseline)", false),
    ] {
        let mut cfg = emu.service_table();
        cfg += &limits_table(&shm.join(format!("cold-{with_dir}")), "10m");
        cfg += "[login]\nprompt = \"info\"\n";
        if with_dir {
            let _ = writeln!(cfg, "[mapping]\nusers_dir = \"{}\"", dir.display());
            cfg += "[users]\n";
        } else {
            cfg += "[users]\n";
            for u in &users {
                let _ = writeln!(cfg, "{u} = \"{u}+ignore@x\"");
            }
        }
        let setup_dir = work.join(format!("cold-{with_dir}"));
        let setup = Setup::new(&setup_dir, &module, &cfg);
        if with_dir {
            // In-process: the whole configuration read and checked, 10,000 users.
            let path = setup_dir.join("passbyme.toml");
            let mut loads = Vec::new();
            for _ in 0..if quick { 5 } else { 30 } {
                let t = Instant::now();
                let c = pam_passbyme::config::Config::load(&path).expect("config loads");
                loads.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(c.dir_users.len(), n_files * per_file);
            }
            let loads = sorted(loads);
            rows.push(format!(
                "Config::load with users.d (this process, {} loads): p50 {:.2} ms, max {:.2} ms",
                loads.len(),
                median(&loads),
                loads.last().copied().unwrap_or(0.0)
            ));
        }
        let confdir = setup.confdir.to_string_lossy().into_owned();
        let (mut start_ack, mut bad) = (Vec::new(), 0);
        for (i, user) in users.iter().enumerate() {
            let out = run_child(&["--child-cold", &confdir, user]);
            let v: Vec<u64> = out
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            if v.len() != 5 || v[2] == 0 || v[4] != CONV_ERR as u64 {
                bad += 1;
                continue;
            }
            if i >= 3 {
                start_ack.push((v[2] - v[1]) as f64 / 1000.0);
            }
        }
        let start_ack = sorted(start_ack);
        rows.push(format!(
            "cold time to push, {label}: p50 {:.1} ms, p90 {:.1} ms ({} runs, {bad} bad; goal p50 ≤ 15 ms)",
            median(&start_ack),
            pct(&start_ack, 90.0),
            start_ack.len()
        ));
    }
    println!("{}", machine());
    for r in rows {
        println!("- {r}");
    }
}
