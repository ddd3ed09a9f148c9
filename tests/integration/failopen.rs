//! `policy.unreachable = "allow"` opens the door for exactly one failure: no TCP connection
//! to the service could be made (the name did not resolve, the connect was refused or found
//! no route, or the connect had its whole connect timeout without an answer). Each side of
//! that line, through real libpam, with the decision line the module logs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::pam::{decision, Setup, AUTHINFO_UNAVAIL, SUCCESS};
use crate::util::Emulator;

/// A whole config: `service` (a `[service]` table), fail-open chosen, `users`.
fn allow_config(emu: &Emulator, service: &str, users: &str) -> String {
    format!(
        "{service}{}[policy]\nunreachable = \"allow\"\n[login]\nprompt = \"none\"\npoll_interval = \"100ms\"\n[users]\n{users}\n",
        emu.limits_table("max_pushes = 1000\nlockout_after = 0")
    )
}

/// The emulator's `[service]` table with `address` and the two network timeouts.
fn service(emu: &Emulator, address: &str, connect: &str, request: &str) -> String {
    emu.service_table().replace(&emu.addr, address)
        + &format!("connect_timeout = \"{connect}\"\nrequest_timeout = \"{request}\"\n")
}

fn allowed(user: &str, rc: i32, why: &str) {
    assert_eq!(rc, SUCCESS, "{user}");
    let line = decision(
        user,
        &["decision=fail-open", "policy=unreachable:allow", why],
    );
    assert!(line.starts_with("<84>"), "authpriv.warning: {line}");
}

fn denied(user: &str, rc: i32, why: &[&str]) {
    assert_eq!(rc, AUTHINFO_UNAVAIL, "{user}");
    let line = decision(user, &["decision=unreachable", "(no fail-open: "]);
    for w in why {
        assert!(line.contains(w), "{user}: want {w:?} in {line}");
    }
}

/// A loopback listener whose accept queue is full: a new connect gets no answer at all
/// (Linux drops the SYN), as from a host that is down. Keeps its filler connection.
struct FullBacklog {
    _listener: TcpListener,
    _filler: TcpStream,
    addr: String,
}

impl FullBacklog {
    fn new() -> FullBacklog {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // A backlog of 0: one connection waiting for accept fills the queue.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let addr = listener.local_addr().unwrap();
        let filler = TcpStream::connect(addr).unwrap();
        // Wait until a connect is really left unanswered (the queue is full).
        let start = Instant::now();
        let mut extra = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                Ok(s) => extra.push(s),
                Err(e) => panic!("{e}"),
            }
            assert!(start.elapsed() < Duration::from_secs(20), "never full");
        }
        FullBacklog {
            _listener: listener,
            _filler: filler,
            addr: addr.to_string(),
        }
    }
}

/// A TCP server that accepts every connection and resets it at once (RST).
struct Resetter {
    addr: String,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
}

impl Resetter {
    fn new() -> Resetter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (s, n) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let linger = libc::linger {
                            l_onoff: 1,
                            l_linger: 0,
                        };
                        let rc = unsafe {
                            libc::setsockopt(
                                tcp.as_raw_fd(),
                                libc::SOL_SOCKET,
                                libc::SO_LINGER,
                                (&linger as *const libc::linger).cast(),
                                std::mem::size_of::<libc::linger>() as libc::socklen_t,
                            )
                        };
                        assert_eq!(rc, 0);
                        n.fetch_add(1, Ordering::SeqCst);
                        drop(tcp); // RST
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Resetter {
            addr,
            stop,
            accepted,
        }
    }
}

impl Drop for Resetter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A TLS 1.3 server with the emulator's own certificate (so the client trusts it) that
/// wants a client certificate from a CA of its own: under TLS 1.3 the client's handshake
/// completes, and the refusal of its certificate arrives afterwards, as an alert or a
/// reset on the first read or write.
struct PickyTls {
    addr: String,
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
}

impl PickyTls {
    fn new(emu: &Emulator) -> PickyTls {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let d = emu.dir.path();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(d.join("server.pem"))
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
        let key = PrivateKeyDer::from_pem_file(d.join("server.key")).unwrap();
        // Another CA than the one that issued the module's client certificate.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let other_ca = p.self_signed(&ca_key).unwrap().der().clone();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(other_ca).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let (s, n) = (stop.clone(), refused.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((mut tcp, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = tcp.set_nonblocking(false);
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut refused_here = false;
                while conn.is_handshaking() {
                    match conn.complete_io(&mut tcp) {
                        Ok(_) => {}
                        Err(_) => {
                            refused_here = true;
                            break;
                        }
                    }
                }
                if refused_here {
                    n.fetch_add(1, Ordering::SeqCst);
                    // Send the alert, then drop the connection.
                    let _ = conn.write_tls(&mut tcp);
                    continue;
                }
                let mut s = rustls::Stream::new(&mut conn, &mut tcp);
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n");
            }
        });
        PickyTls {
            addr,
            stop,
            refused,
        }
    }
}

impl Drop for PickyTls {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A host name that cannot resolve, decided on this machine without any network: a label
/// longer than 63 characters cannot be put in a DNS query, so glibc's resolver fails
/// before sending anything (and `/etc/hosts` does not list it).
fn unresolvable_name() -> String {
    format!("{}.invalid", "a".repeat(64))
}

#[test]
fn fail_open_for_a_service_that_cannot_be_reached() {
    let emu = Emulator::start();
    // Nothing listens on port 1: ECONNREFUSED.
    let s = Setup::new(
        &allow_config(
            &emu,
            &service(&emu, "127.0.0.1:1", "5s", "10s"),
            "fo_refused = \"fo_refused@x\"",
        ),
        "",
    );
    allowed("fo_refused", s.login("fo_refused").0, "ECONNREFUSED");

    // A name that does not resolve.
    let s = Setup::new(
        &allow_config(
            &emu,
            &service(&emu, &format!("{}:443", unresolvable_name()), "5s", "10s"),
            "fo_name = \"fo_name@x\"",
        ),
        "",
    );
    allowed("fo_name", s.login("fo_name").0, "name resolution of");

    // No answer to the connect within the whole connect timeout (1s; the request timeout
    // and the login's 60s leave it all of it).
    let full = FullBacklog::new();
    let s = Setup::new(
        &allow_config(
            &emu,
            &service(&emu, &full.addr, "1s", "10s"),
            "fo_silent = \"fo_silent@x\"",
        ),
        "",
    );
    allowed(
        "fo_silent",
        s.login("fo_silent").0,
        "no answer within the whole connect timeout",
    );
    assert!(emu.messages().is_empty(), "no push was made");
}

#[test]
fn no_fail_open_once_a_connection_was_made_or_the_time_was_not_the_services() {
    let emu = Emulator::start();
    // The server refuses our client certificate after a TLS 1.3 handshake.
    let picky = PickyTls::new(&emu);
    let s = Setup::new(
        &allow_config(
            &emu,
            &service(&emu, &picky.addr, "5s", "10s"),
            "fn_cert = \"fn_cert@x\"",
        ),
        "",
    );
    denied(
        "fn_cert",
        s.login("fn_cert").0,
        &["a TCP connection had been made"],
    );
    assert!(
        picky.refused.load(Ordering::SeqCst) >= 1,
        "the server refused it"
    );

    // A TCP server that accepts, then resets.
    let reset = Resetter::new();
    let s = Setup::new(
        &allow_config(
            &emu,
            &service(&emu, &reset.addr, "5s", "10s"),
            "fn_reset = \"fn_reset@x\"",
        ),
        "",
    );
    denied(
        "fn_reset",
        s.login("fn_reset").0,
        &["connection", "a TCP connection had been made"],
    );
    assert!(reset.accepted.load(Ordering::SeqCst) >= 1);

    // The service answers 500 (and 503, 429): it was reached.
    let users = "fn_500 = \"fn_500+sendfault=500+ignore@x\"\nfn_503 = \"fn_503+sendfault=503+ignore@x\"\nfn_429 = \"fn_429+sendfault=429+ignore@x\"";
    let s = Setup::new(
        &allow_config(&emu, &service(&emu, &emu.addr, "5s", "10s"), users),
        "",
    );
    for (u, status) in [("fn_500", "500"), ("fn_503", "503"), ("fn_429", "429")] {
        denied(
            u,
            s.login(u).0,
            &[&format!("HTTP status {status}"), "the service answered"],
        );
    }

    // The connect is cut short by the login's deadline (5s), long before its own 30s: the
    // module's own time ran out, whatever the network does.
    let full = FullBacklog::new();
    let s = Setup::new(
        &allow_config(
            &emu,
            &service(&emu, &full.addr, "30s", "30s"),
            "fn_deadline = \"fn_deadline@x\"",
        ),
        "timeout=5s",
    );
    let start = Instant::now();
    denied(
        "fn_deadline",
        s.login("fn_deadline").0,
        &["before the connect timeout", "the login's own time ran out"],
    );
    assert!(start.elapsed() < Duration::from_secs(15));
    // (The deadline passed before the request at all is a client unit test:
    // `a_deadline_already_passed_sends_nothing_and_is_not_unreachable`.)
}
