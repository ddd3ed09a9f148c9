//! Figures 1–3: approval → decision latency and the request rate, over phone timelines drawn
//! at random per login (seeded), for the polling schedule of the release module and the
//! alternatives of `PBM_BENCH_SWEEP`.
//!
//! Each login's phone is drawn from the seed and the login's index alone, so every schedule
//! of a run meets the same phones, and a run is repeated by giving its seed back
//! (`PBM_BENCH_SEED`). The emulator plays each phone through the recipient's tags:
//! `+notified=…ms+downloaded=…ms+seen=…ms+after=…ms`.
//!
//! Next to each measured row the *model* replays the same schedule (the library's own
//! `login::Schedule`, from the same configuration text) on the same phones with no network
//! and no scheduling delay: what the schedule alone costs.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pam_passbyme::login::Schedule;

use super::{limits_table, login, pct, reached_ms, requests_of, sorted, Emulator, Report, Setup};

/// splitmix64: small, seedable, good enough to draw timelines.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// The seed of this run: `PBM_BENCH_SEED`, else drawn from the clock (and printed).
pub fn seed() -> u64 {
    std::env::var("PBM_BENCH_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_000)
        })
}

/// One phone: when each step and the answer happen, ms after the send.
#[derive(Debug, Clone, Copy)]
pub struct Phone {
    pub notified: u64,
    pub downloaded: u64,
    pub seen: u64,
    pub answer: u64,
}

/// How the phones are drawn (the text of the report says the same).
pub const TIMELINE: &str = "NOTIFIED uniform in 0.15–0.8 s after the push; DOWNLOADED 0.2–1.5 s after NOTIFIED; SEEN 0.05–0.6 s after DOWNLOADED; the answer (approve) log-uniform in 0.2–8 s after SEEN (44 % within 1 s, median 1.26 s)";

impl Phone {
    /// The phone of login `i` under `seed`.
    pub fn draw(seed: u64, i: usize) -> Phone {
        let mut r = Rng::new(seed ^ (i as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        let notified = r.uniform(150.0, 800.0);
        let downloaded = notified + r.uniform(200.0, 1500.0);
        let seen = downloaded + r.uniform(50.0, 600.0);
        let answer = seen + r.uniform(200f64.ln(), 8000f64.ln()).exp();
        Phone {
            notified: notified.round() as u64,
            downloaded: downloaded.round() as u64,
            seen: seen.round() as u64,
            answer: answer.round() as u64,
        }
    }

    /// The emulator's tags for this phone.
    pub fn tags(&self) -> String {
        format!(
            "approve+notified={}ms+downloaded={}ms+seen={}ms+after={}ms",
            self.notified, self.downloaded, self.seen, self.answer
        )
    }

    /// The answer came within 1 s of SEEN.
    pub fn quick(&self) -> bool {
        self.answer - self.seen <= 1000
    }
}

/// One schedule to measure: a label and the `[login]` lines that select it.
pub struct Variant {
    pub label: String,
    pub lines: String,
    pub schedule: Schedule,
}

/// The `[login]` lines of the schedule before this bench's issue: 1 s until SEEN, then 180 ms.
const OLD: &str = "poll_interval = \"1s\"\npoll_interval_seen = \"180ms\"\npoll_fast_after = \"10m\"\npoll_slow_after = \"10m\"\n";

/// `old`, `default`, a bare duration (= `poll_interval_seen`), or `key=value` pairs of
/// `[login]` joined by `/` (`poll_fast_after=0s/poll_interval_seen=150ms`).
pub fn variant(spec: &str) -> Variant {
    let lines = match spec {
        "old" => OLD.to_owned(),
        "default" => String::new(),
        s if pam_passbyme::duration::parse_duration(s).is_ok() => {
            format!("poll_interval_seen = \"{s}\"\n")
        }
        s => s
            .split('/')
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .unwrap_or_else(|| panic!("sweep: '{kv}'"));
                format!("{} = \"{}\"\n", k.trim(), v.trim())
            })
            .collect(),
    };
    let text = format!("[service]\ncredentials = \"/x.pem\"\n[login]\n{lines}[users]\n");
    let config = pam_passbyme::config::Config::parse(Path::new("/sweep.toml"), &text)
        .unwrap_or_else(|e| panic!("sweep entry '{spec}': {e}"));
    let label = match spec {
        "old" => "old default: 1s until SEEN, then 180ms".to_owned(),
        "default" => {
            let s = Schedule::of(&config.login);
            format!(
                "**new default**: {} until {} or SEEN, then {}; slower after {}",
                fmt(s.before),
                fmt(s.fast_after),
                fmt(s.fast),
                fmt(s.slow_after)
            )
        }
        s if lines.starts_with("poll_interval_seen") && !s.contains('=') => {
            format!("poll_interval_seen = {s}")
        }
        s => s.replace('/', ", "),
    };
    Variant {
        label,
        lines,
        schedule: Schedule::of(&config.login),
    }
}

fn fmt(d: Duration) -> String {
    pam_passbyme::duration::format_duration(d)
}

/// Milliseconds from the answer to the decision: every login's, and the quick phones' alone.
#[derive(Default)]
pub struct Latencies {
    pub all: Vec<f64>,
    pub quick: Vec<f64>,
}

impl Latencies {
    fn push(&mut self, ms: f64, quick: bool) {
        self.all.push(ms);
        if quick {
            self.quick.push(ms);
        }
    }

    fn sorted(self) -> Latencies {
        Latencies {
            all: sorted(self.all),
            quick: sorted(self.quick),
        }
    }
}

/// What the schedule alone gives on these phones: polls at exactly the schedule's times
/// (the first at the push), statuses as the emulator computes them.
#[derive(Default)]
pub struct Model {
    pub lat: Latencies,
    pub gets: u64,
    pub wait_ms: f64,
}

pub fn model(s: &Schedule, phones: &[Phone]) -> Model {
    let mut m = Model::default();
    for p in phones {
        let (mut t, mut gets, mut seen) = (0u64, 0u64, false);
        loop {
            let next = s.interval(Duration::from_millis(t), seen);
            t += u64::try_from(next.as_millis()).unwrap_or(u64::MAX).max(1);
            gets += 1;
            if t >= p.answer {
                break;
            }
            seen = t >= p.seen;
        }
        m.lat.push((t - p.answer) as f64, p.quick());
        m.gets += gets;
        m.wait_ms += t as f64;
    }
    m.lat = std::mem::take(&mut m.lat).sorted();
    m
}

pub struct Run {
    pub label: String,
    pub logins: usize,
    pub failed: usize,
    pub lat: Latencies,
    pub req_per_login: f64,
    pub gets_per_login: f64,
    /// Requests (POST, GETs, any DELETE) ÷ (decision − send), pooled over the logins.
    pub rate: f64,
    /// The mean of each login's requests ÷ (decision − send).
    pub rate_mean: f64,
    /// The highest of those.
    pub rate_max: f64,
    pub handshakes: f64,
    pub connections: f64,
    pub wall: f64,
    pub model: Model,
}

/// `n` logins, `conc` at a time, distinct users, login `i` with phone `phones[i]`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    emu: &Emulator,
    work: &Path,
    module: &Path,
    shm: &Path,
    v: &Variant,
    tag: usize,
    phones: &[Phone],
    conc: usize,
) -> Run {
    let n = phones.len();
    let users: Vec<(String, String)> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let u = format!("l{tag}_{i}");
            let id = format!("{u}+{}@x", p.tags());
            (u, id)
        })
        .collect();
    let mut cfg = emu.service_table();
    cfg += &limits_table(&shm.join(format!("lat-{tag}")), "10m");
    cfg += "[login]\nprompt = \"info\"\n";
    cfg += &v.lines;
    cfg += "[users]\n";
    for (u, id) in &users {
        let _ = writeln!(cfg, "{u} = \"{id}\"");
    }
    let setup = Setup::new(&work.join(format!("lat-{tag}")), module, &cfg);
    emu.reset_stats();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, i32, u64)>> = Mutex::new(Vec::new());
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..conc.min(n) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let (rc, at, _) = login(&setup.confdir, &users[i].0);
                results.lock().unwrap().push((i, rc, at));
            });
        }
    });
    let wall = t.elapsed().as_secs_f64();
    let (connections, handshakes, _) = emu.counters();
    let msgs = emu.messages_by_id();
    let results = results.into_inner().unwrap();
    let (mut lat, mut rates) = (Latencies::default(), Vec::new());
    let (mut failed, mut requests, mut gets, mut wait_s) = (0usize, 0u64, 0u64, 0.0);
    for (i, rc, at) in &results {
        let m = msgs.get(&users[*i].1).and_then(|l| l.last());
        let (Some(m), 0) = (m, *rc) else {
            failed += 1;
            continue;
        };
        let (Some(approved), Some(sent)) = (reached_ms(m, "APPROVED"), m["sentAtMs"].as_f64())
        else {
            failed += 1;
            continue;
        };
        let decided = *at as f64 / 1000.0;
        lat.push(decided - approved, phones[*i].quick());
        let (s, tr, c) = requests_of(m);
        requests += s + tr + c;
        gets += tr;
        let w = (decided - sent) / 1000.0;
        wait_s += w;
        rates.push((s + tr + c) as f64 / w);
    }
    let ok = (results.len() - failed).max(1) as f64;
    Run {
        label: v.label.clone(),
        logins: results.len(),
        failed,
        lat: lat.sorted(),
        req_per_login: requests as f64 / ok,
        gets_per_login: gets as f64 / ok,
        rate: requests as f64 / wait_s,
        rate_mean: rates.iter().sum::<f64>() / ok,
        rate_max: rates.iter().copied().fold(0.0, f64::max),
        handshakes: handshakes as f64 / results.len() as f64,
        connections: connections as f64 / results.len() as f64,
        wall,
        model: model(&v.schedule, phones),
    }
}

fn p3(v: &[f64]) -> String {
    format!(
        "{:.0} / {:.0} / {:.0}",
        pct(v, 50.0),
        pct(v, 99.0),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

/// Runs the sweep and adds rows 1–3 and the section "Figures 1–3" to the report.
#[allow(clippy::too_many_arguments)]
pub fn figures(
    emu: &Emulator,
    work: &Path,
    module: &Path,
    shm: &Path,
    rep: &mut Report,
    n: usize,
    conc: usize,
    quick: bool,
) {
    let seed = seed();
    eprintln!("bench: latency seed {seed} (PBM_BENCH_SEED={seed} repeats these phones)");
    let phones: Vec<Phone> = (0..n).map(|i| Phone::draw(seed, i)).collect();
    let sweep = std::env::var("PBM_BENCH_SWEEP").unwrap_or_else(|_| {
        if quick {
            "old,default,100ms".into()
        } else {
            "old,default,100ms,150ms,200ms,250ms,poll_fast_after=0s,poll_fast_after=1.5s".into()
        }
    });
    let mut runs = Vec::new();
    for (k, spec) in sweep.split(',').map(str::trim).enumerate() {
        let v = variant(spec);
        eprintln!(
            "bench: latency run '{}', {n} logins, {conc} at a time",
            v.label
        );
        runs.push(run(emu, work, module, shm, &v, k, &phones, conc));
    }
    let n_quick = phones.iter().filter(|p| p.quick()).count();
    let mut t = String::from(
        "| schedule | logins (failed) | approval → decision p50 / p99 / max, all | same, answers ≤ 1 s after SEEN | model p50 / p99 all; ≤ 1 s | requests per login (GETs) | req/s while waiting: pooled; mean per login; highest | model req/s | TLS handshakes per login | wall |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &runs {
        let m = &r.model;
        let _ = writeln!(
            t,
            "| {} | {} ({}) | {} ms | {} ms | {:.0} / {:.0}; {:.0} / {:.0} ms | {:.1} ({:.1}) | {:.2}; {:.2}; {:.2} | {:.2} | {:.2} | {:.0} s |",
            r.label,
            r.logins,
            r.failed,
            p3(&r.lat.all),
            p3(&r.lat.quick),
            pct(&m.lat.all, 50.0),
            pct(&m.lat.all, 99.0),
            pct(&m.lat.quick, 50.0),
            pct(&m.lat.quick, 99.0),
            r.req_per_login,
            r.gets_per_login,
            r.rate,
            r.rate_mean,
            r.rate_max,
            (m.gets as f64 + r.logins as f64) / (m.wait_ms / 1000.0),
            r.handshakes,
            r.wall
        );
    }
    rep.sections.push(format!(
        "### Figures 1–3 by polling schedule\n\nSeed **{seed}** (`PBM_BENCH_SEED={seed}` repeats these phones). Each row: the same {n} logins, {conc} at a time, distinct users, `prompt = \"info\"`, each login's phone drawn from the seed: {TIMELINE}; {n_quick} of the {n} answers came within 1 s of SEEN. Approval moment = emulator's `sentAtMs + atMs(APPROVED)`; decision = wall clock when `pam_authenticate` returned (same clock, ms resolution on the emulator side). Requests from the emulator's per-message counters; req/s = requests (the POST and the GETs) ÷ (decision − send): pooled over all logins, the mean of the logins' own rates, and the highest. Model: the library's `login::Schedule` replayed on the same phones with no network or scheduling delay (see the analysis).\n\n{t}"
    ));
    let d = runs
        .iter()
        .find(|r| r.label.contains("new default"))
        .unwrap_or(&runs[0]);
    let ok = |v: &[f64]| pct(v, 50.0) <= 100.0 && pct(v, 99.0) <= 200.0;
    rep.row(
        "1. approval → PAM decision, p50 / p99 / max (default schedule; randomised phones)",
        format!(
            "all answers {} ms; answers ≤ 1 s after SEEN {} ms; over {} logins ({} failed), seed {seed}",
            p3(&d.lat.all),
            p3(&d.lat.quick),
            d.logins - d.failed,
            d.failed
        ),
        "≤ 100 / ≤ 200 ms, both",
        Some(ok(&d.lat.all) && ok(&d.lat.quick) && d.failed == 0),
    );
    rep.row(
        "2. requests per login; requests per second while waiting (default)",
        format!(
            "{:.1} per login (1 POST + {:.1} GETs); {:.2} req/s pooled, {:.2} mean per login, {:.2} highest",
            d.req_per_login, d.gets_per_login, d.rate, d.rate_mean, d.rate_max
        ),
        "≤ 5 req/s averaged over a login (the mean of the logins' own rates)",
        Some(d.rate_mean <= 5.0),
    );
    let hs: f64 = runs.iter().map(|r| r.handshakes).sum::<f64>() / runs.len() as f64;
    rep.row(
        "3. TLS handshakes per login",
        format!(
            "{hs:.2} (TCP connections per login {:.2})",
            runs.iter().map(|r| r.connections).sum::<f64>() / runs.len() as f64
        ),
        "1",
        Some((hs - 1.0).abs() < 1e-9),
    );
}

/// `--model [N] [SWEEP]`: the model alone (no emulator, no module), for N phones of
/// `PBM_BENCH_SEED` (default 20000) and the schedules of SWEEP (comma-separated, as
/// `PBM_BENCH_SWEEP`): the rate/latency curve in a second.
pub fn print_model(args: &[String]) {
    let seed = seed();
    let n: usize = args.first().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let sweep = args.get(1).map_or(
        "old,default,100ms,120ms,140ms,160ms,180ms,190ms,200ms,220ms,250ms,300ms",
        String::as_str,
    );
    let phones: Vec<Phone> = (0..n).map(|i| Phone::draw(seed, i)).collect();
    let n_quick = phones.iter().filter(|p| p.quick()).count();
    println!("seed {seed}, {n} phones ({n_quick} answered ≤ 1 s after SEEN): {TIMELINE}\n");
    println!("| schedule | model p50 / p99 / max, all | same, ≤ 1 s after SEEN | requests per login | req/s pooled; mean per login; highest |\n|---|---|---|---|---|");
    for spec in sweep.split(',').map(str::trim) {
        let v = variant(spec);
        let m = model(&v.schedule, &phones);
        let rates: Vec<f64> = phones
            .iter()
            .map(|p| {
                let one = model(&v.schedule, std::slice::from_ref(p));
                (one.gets + 1) as f64 / (one.wait_ms / 1000.0)
            })
            .collect();
        println!(
            "| {} | {} ms | {} ms | {:.1} | {:.2}; {:.2}; {:.2} |",
            v.label,
            p3(&m.lat.all),
            p3(&m.lat.quick),
            (m.gets as f64 + n as f64) / n as f64,
            (m.gets as f64 + n as f64) / (m.wait_ms / 1000.0),
            rates.iter().sum::<f64>() / n as f64,
            rates.iter().copied().fold(0.0, f64::max),
        );
    }
}
