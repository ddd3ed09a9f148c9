//! `passbyme emulator`: a local PassBy[ME] service that plays the phone.
//!
//! It speaks the vendor's messaging API (send, track, cancel; the client in `client` is the
//! other side of the same protocol) over mutual TLS, so the `passbyme` command, the PAM
//! module and the tests can run real logins with no account and no network. A test and
//! demonstration tool, not a service: its state lives in memory and in its state directory.
//!
//! Its reference (the command line, the state directory, the phone's timeline, the scenario
//! tags of recipient IDs, the faults and the admin endpoint) is `README.md` in this directory;
//! `passbyme emulator --help` and passbyme(1) show the command line.

mod admin;
mod api;
mod fault;
mod http;
mod phone;
mod pki;
mod sys;

use std::collections::VecDeque;
use std::fmt;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{bail, Context as _};
use ring::rand::{SecureRandom as _, SystemRandom};

pub use fault::Fault;
pub use phone::MessageView;

/// Command-line arguments of `passbyme emulator`; also built in code by `passbyme demo`
/// (start from [`Args::new`] and change the public fields).
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// HTTPS address to listen on (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,

    /// Directory for the CA, certificates, client credentials and passbyme.toml
    /// (created 0700; reused on restart).
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,

    /// What the phone answers for recipients without a scenario tag.
    #[arg(long, value_enum, default_value = "approve")]
    pub answer: Answer,

    /// When the phone answers: a duration (500ms, 0.5s, 3s, 2m) or a range MIN..MAX drawn per message.
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub after: Delay,

    /// Plain-HTTP admin endpoint (loopback addresses only; default: none).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,

    /// Do not log each request to stderr.
    #[arg(long, hide = true)]
    pub quiet: bool,
}

impl Args {
    /// The command line's defaults, with the given state directory.
    #[allow(dead_code, reason = "API for `passbyme demo` and the unit tests")]
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Args {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            state_dir: state_dir.into(),
            answer: Answer::Approve,
            after: Delay::fixed(Duration::from_secs(3)),
            admin: None,
            quiet: false,
        }
    }
}

/// The default answer of the phone (`--answer`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Approve after the delay.
    Approve,
    /// Deny after the delay.
    Deny,
    /// Never answer: the message expires.
    Ignore,
}

/// An answer delay: fixed (`min == max`) or drawn uniformly from `min..=max` per recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay {
    pub min: Duration,
    pub max: Duration,
}

impl Delay {
    pub const fn fixed(d: Duration) -> Self {
        Delay { min: d, max: d }
    }

    /// Draw one delay (millisecond resolution).
    fn sample(&self, rng: &SystemRandom) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        let span = u64::try_from((self.max - self.min).as_millis()).unwrap_or(u64::MAX);
        let r = random_u64(rng).unwrap_or(0) % span.saturating_add(1);
        self.min + Duration::from_millis(r)
    }
}

impl FromStr for Delay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once("..") {
            Some((a, b)) => {
                let (min, max) = (parse_duration(a)?, parse_duration(b)?);
                if min > max {
                    return Err(format!("range `{s}` ends before it starts"));
                }
                Ok(Delay { min, max })
            }
            None => parse_duration(s).map(Delay::fixed),
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |d: Duration| {
            let ms = d.as_millis();
            if ms % 1000 == 0 {
                format!("{}s", ms / 1000)
            } else {
                format!("{ms}ms")
            }
        };
        if self.min == self.max {
            f.write_str(&one(self.min))
        } else {
            write!(f, "{}..{}", one(self.min), one(self.max))
        }
    }
}

/// A duration of the emulator's flags and tags: the project's one parser
/// ([`pam_passbyme::duration::parse_duration`]: `500ms`, `0.5s`, `3s`, `2m`), at most a year.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = pam_passbyme::duration::parse_duration(s)?;
    if d > Duration::from_secs(366 * 86_400) {
        return Err(format!("`{}` is longer than a year", s.trim()));
    }
    Ok(d)
}

/// Connection and request counters of the API port (`GET /admin/stats`).
#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    handshakes: AtomicU64,
    requests: AtomicU64,
}

impl Stats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "connections": self.connections.load(Ordering::Relaxed),
            "handshakes": self.handshakes.load(Ordering::Relaxed),
            "requests": self.requests.load(Ordering::Relaxed),
        })
    }

    fn reset(&self) {
        self.connections.store(0, Ordering::Relaxed);
        self.handshakes.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
    }
}

/// Everything the server threads share.
struct Shared {
    store: Mutex<phone::Store>,
    stats: Stats,
    /// Faults queued by the admin endpoint: (fault, requests left).
    faults: Mutex<VecDeque<(Fault, u64)>>,
    default_answer: Answer,
    default_after: Delay,
    quiet: bool,
    rng: SystemRandom,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, phone::Store> {
        lock(&self.store)
    }

    /// The next queued admin fault, if any (consumes one request's worth).
    fn take_fault(&self) -> Option<Fault> {
        let mut q = lock(&self.faults);
        let (fault, left) = q.front_mut()?;
        let fault = fault.clone();
        *left -= 1;
        if *left == 0 {
            q.pop_front();
        }
        Some(fault)
    }

    fn queue_fault(&self, fault: Fault, count: u64) {
        let mut q = lock(&self.faults);
        if count == 0 {
            q.clear();
        } else {
            q.push_back((fault, count));
        }
    }

    /// One stderr line per request, unless quiet.
    fn log(&self, line: fmt::Arguments<'_>) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }
}

/// Lock a mutex, shrugging off poisoning: a panicking connection thread must not take the
/// whole emulator down, and every critical section leaves the data consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running emulator (threads live until the process exits).
pub struct Running {
    api_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    state: pki::StateDir,
    shared: Arc<Shared>,
}

#[allow(dead_code, reason = "API for `passbyme demo` and the unit tests")]
impl Running {
    /// The bound HTTPS address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The bound admin address, when enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The state directory (absolute).
    pub fn state_dir(&self) -> &Path {
        &self.state.dir
    }

    /// The ready-made `passbyme.toml` in the state directory.
    pub fn config_path(&self) -> PathBuf {
        self.state.config_path()
    }

    /// SHA-256 fingerprint of the CA certificate, `AB:CD:…`.
    pub fn ca_fingerprint(&self) -> &str {
        &self.state.ca_fingerprint
    }

    /// Every message so far, oldest first, with statuses computed now.
    pub fn messages(&self) -> Vec<MessageView> {
        self.shared.store().views()
    }

    /// Answer every recipient of message `id` that is not final yet, now.
    pub fn decide(&self, id: &str, approve: bool) -> anyhow::Result<()> {
        match self.shared.store().decide(id, approve) {
            Ok(_) => Ok(()),
            Err(phone::DecideError::UnknownId) => bail!("no message with id `{id}`"),
            Err(phone::DecideError::AlreadyFinal) => {
                bail!("every recipient of message `{id}` has already answered")
            }
        }
    }

    /// Queue a fault for the next `count` API requests.
    pub fn inject_fault(&self, fault: Fault, count: u64) {
        self.shared.queue_fault(fault, count);
    }
}

/// Bind, prepare the state directory and start serving in background threads.
pub fn start(args: Args) -> anyhow::Result<Running> {
    if let Some(admin) = args.admin {
        if !admin.ip().is_loopback() {
            bail!("--admin {admin}: the admin endpoint has no authentication; use a loopback address such as 127.0.0.1:0");
        }
    }
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "warning: listening on {}, which is not a loopback address: anyone who can reach it \
             and holds client.pem may use this emulator",
            args.listen
        );
    }

    let api_listener = TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let api_addr = api_listener
        .local_addr()
        .context("cannot read the bound address")?;
    let admin_listener = match args.admin {
        Some(a) => Some(TcpListener::bind(a).with_context(|| format!("cannot listen on {a}"))?),
        None => None,
    };
    let admin_addr = match &admin_listener {
        Some(l) => Some(
            l.local_addr()
                .context("cannot read the bound admin address")?,
        ),
        None => None,
    };

    let state = pki::StateDir::prepare(&args.state_dir, api_addr)?;
    let tls = api::tls_config(&state)?;

    let shared = Arc::new(Shared {
        store: Mutex::new(phone::Store::default()),
        stats: Stats::default(),
        faults: Mutex::new(VecDeque::new()),
        default_answer: args.answer,
        default_after: args.after,
        quiet: args.quiet,
        rng: SystemRandom::new(),
    });

    {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("emulator-api".into())
            .spawn(move || api::serve(api_listener, tls, shared))
            .context("cannot start the API thread")?;
    }
    if let Some(listener) = admin_listener {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("emulator-admin".into())
            .spawn(move || admin::serve(listener, shared))
            .context("cannot start the admin thread")?;
    }

    Ok(Running {
        api_addr,
        admin_addr,
        state,
        shared,
    })
}

/// `passbyme emulator`: start, print the addresses and a guide, serve until killed.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (answer, after) = (args.answer, args.after);
    let running = start(args)?;
    let dir = running.state_dir().display().to_string();
    let config = running.config_path().display().to_string();

    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on https://{}", running.api_addr())?;
    if let Some(admin) = running.admin_addr() {
        writeln!(out, "admin on http://{admin}")?;
    }
    let user = &running.state.pbm_id;
    let answer = match answer {
        Answer::Approve => "approves",
        Answer::Deny => "denies",
        Answer::Ignore => "ignores",
    };
    write!(
        out,
        "\
PassBy[ME] emulator (not for production). State in {dir}:
  ca.pem, ca.key          the emulator's CA (fingerprint SHA-256 {fp})
  server.pem, server.key  its server certificate (localhost, 127.0.0.1, ::1)
  client.pem              client credentials in the vendor's shape (encrypted key)
  client.password         the password of client.pem's key
  passbyme.toml           configuration for passbyme and the PAM module
The phone {answer} after {after} unless the recipient ID says otherwise
(alice+deny@x, bob+ignore@x, carol+after=500ms@x, dave+fault=500@x: see the README).
Try:
  passbyme --config {config} send --to {user} --wait
  passbyme --config {config} send --to 'alice+deny@emulator.test' --wait
",
        fp = running.ca_fingerprint(),
    )?;
    if let Some(admin) = running.admin_addr() {
        writeln!(out, "  curl -s http://{admin}/admin/messages")?;
    }
    out.flush()?;
    drop(out);

    loop {
        std::thread::park();
    }
}

/// `n` random letters and digits.
fn random_alnum(rng: &SystemRandom, n: usize) -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        rng.fill(&mut buf)
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        for &b in &buf {
            // 248 = 4 * 62: reject the rest to keep the draw uniform.
            if b < 248 && out.len() < n {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

fn random_u64(rng: &SystemRandom) -> anyhow::Result<u64> {
    let mut b = [0u8; 8];
    rng.fill(&mut b)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_parse() {
        assert_eq!(
            "500ms".parse(),
            Ok(Delay::fixed(Duration::from_millis(500)))
        );
        assert_eq!("3s".parse(), Ok(Delay::fixed(Duration::from_secs(3))));
        assert_eq!("2m".parse(), Ok(Delay::fixed(Duration::from_secs(120))));
        assert_eq!(
            "2s..8s".parse(),
            Ok(Delay {
                min: Duration::from_secs(2),
                max: Duration::from_secs(8)
            })
        );
        // Decimal forms, through the project's one duration parser.
        let ms = |n| Duration::from_millis(n);
        assert_eq!("0.5s".parse(), Ok(Delay::fixed(ms(500))));
        assert_eq!("1.5s".parse(), Ok(Delay::fixed(ms(1500))));
        assert_eq!("0.25m".parse(), Ok(Delay::fixed(ms(15_000))));
        assert_eq!("1h".parse(), Ok(Delay::fixed(Duration::from_secs(3600))));
        assert_eq!(
            "0.5s..1.25s".parse(),
            Ok(Delay {
                min: ms(500),
                max: ms(1250)
            })
        );
        for bad in [
            "", "3", "s", "-1s", "-0.5s", "NaNs", "inf", "0.5ms", "1.0005s", "8s..2s", "1s..",
            "..1s", "999999m", "9000h",
        ] {
            assert!(bad.parse::<Delay>().is_err(), "{bad}");
        }
        for (bad, why) in [
            ("9000h", "longer than a year"),
            ("0.5ms", "finer than a millisecond"),
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn delays_display() {
        assert_eq!(Delay::fixed(Duration::from_secs(3)).to_string(), "3s");
        assert_eq!(
            "500ms..2s".parse::<Delay>().unwrap().to_string(),
            "500ms..2s"
        );
    }

    #[test]
    fn delay_samples_stay_in_range() {
        let rng = SystemRandom::new();
        let d: Delay = "2s..3s".parse().unwrap();
        for _ in 0..200 {
            let s = d.sample(&rng);
            assert!(
                s >= Duration::from_secs(2) && s <= Duration::from_secs(3),
                "{s:?}"
            );
        }
    }

    #[test]
    fn random_ids() {
        let rng = SystemRandom::new();
        let id = random_alnum(&rng, 15).unwrap();
        assert_eq!(id.len(), 15);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn admin_fault_queue_counts_down() {
        let shared = Shared {
            store: Mutex::new(phone::Store::default()),
            stats: Stats::default(),
            faults: Mutex::new(VecDeque::new()),
            default_answer: Answer::Approve,
            default_after: Delay::fixed(Duration::from_secs(3)),
            quiet: true,
            rng: SystemRandom::new(),
        };
        shared.queue_fault(Fault::Status500, 2);
        shared.queue_fault(Fault::Empty, 1);
        assert_eq!(shared.take_fault(), Some(Fault::Status500));
        assert_eq!(shared.take_fault(), Some(Fault::Status500));
        assert_eq!(shared.take_fault(), Some(Fault::Empty));
        assert_eq!(shared.take_fault(), None);
        shared.queue_fault(Fault::Empty, 5);
        shared.queue_fault(Fault::Empty, 0);
        assert_eq!(shared.take_fault(), None);
    }

    /// The whole emulator in process: a rustls client with the generated client.pem (key
    /// decrypted with the pkcs8 crate, as the real client does) sends a message, the
    /// in-process API answers it, a client without a certificate is refused.
    #[test]
    fn start_serves_mutual_tls() {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        use std::io::{Read as _, Write as _};

        let dir = std::env::temp_dir().join(format!(
            "passbyme-emu-start-{}-{}",
            std::process::id(),
            random_alnum(&SystemRandom::new(), 6).unwrap()
        ));
        let mut args = Args::new(&dir);
        args.listen = "127.0.0.1:0".parse().unwrap();
        args.quiet = true;
        args.after = Delay::fixed(Duration::from_secs(60));
        let running = start(args).unwrap();
        assert_eq!(
            running.config_path(),
            running.state_dir().join("passbyme.toml")
        );

        let pem = std::fs::read_to_string(dir.join("client.pem")).unwrap();
        let password = std::fs::read_to_string(dir.join("client.password")).unwrap();
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let block = &pem[pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----").unwrap()..];
        let (_, doc) = pkcs8::der::SecretDocument::from_pem(block).unwrap();
        let info =
            <pkcs8::EncryptedPrivateKeyInfoRef<'_> as pkcs8::der::Decode>::from_der(doc.as_bytes())
                .unwrap();
        let key = info.decrypt(password.trim_end()).unwrap();
        let ca = CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap();

        let client = |with_cert: bool| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.clone()).unwrap();
            let builder = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
            let config = if with_cert {
                let key = PrivateKeyDer::Pkcs8(key.as_bytes().to_vec().into());
                builder.with_client_auth_cert(chain.clone(), key).unwrap()
            } else {
                builder.with_no_client_auth()
            };
            let name = ServerName::try_from("localhost").unwrap();
            let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
            let tcp = std::net::TcpStream::connect(running.api_addr()).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            rustls::StreamOwned::new(conn, tcp)
        };
        let body = r#"{"recipients":["alice@emulator.test"],"subject":"s","body":null,"availability":300,"type":"authorization","callbackUrl":null}"#;
        let request = format!(
            "POST /frontend/messages HTTP/1.1\r\nHost: localhost\r\nX-PBM-API-VERSION: 1\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );

        let mut tls = client(true);
        tls.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        tls.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        let (_, json) = answer.split_once("\r\n\r\n").unwrap();
        let session: serde_json::Value = serde_json::from_str(json).unwrap();
        let id = session["messageId"].as_str().unwrap();
        assert_eq!(session["recipients"][0]["status"], "PENDING");

        let views = running.messages();
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].message_id, id);
        running.decide(id, false).unwrap();
        assert_eq!(running.messages()[0].recipients[0].status, "DENIED");
        assert!(running.decide(id, true).is_err());
        assert!(running.decide("nope", true).is_err());

        let mut anonymous = client(false);
        let refused = anonymous
            .write_all(request.as_bytes())
            .and_then(|()| anonymous.read_to_string(&mut String::new()));
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(running.messages().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
