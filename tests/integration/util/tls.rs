//! Servers for what the emulator cannot say: a scriptable TLS server answering raw HTTP, a
//! test PKI issuing server certificates with chosen names and validity, and an old-TLS
//! `openssl s_server`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{eventually, Emulator};

pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

pub type Handler = Arc<dyn Fn(&Request) -> Vec<u8> + Send + Sync>;

/// A TLS server on loopback answering each request with whatever `handler` returns (the raw
/// HTTP response), one request per connection. Stops on drop.
pub struct FakeServer {
    pub addr: String,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeServer {
    pub fn start(bind: &str, tls: Arc<rustls::ServerConfig>, handler: Handler) -> FakeServer {
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

    pub fn requests(&self) -> Vec<String> {
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
pub fn http(status: u16, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// A session body: `id`, and (user, status) pairs.
pub fn session(id: &str, recipients: &[(&str, &str)]) -> Vec<u8> {
    let r: Vec<Value> = recipients
        .iter()
        .map(|(u, s)| json!({"userId": u, "status": s}))
        .collect();
    json!({"messageId": id, "expirationDate": "2099-01-01T00:00:00.000+00:00", "recipients": r})
        .to_string()
        .into_bytes()
}

/// A test PKI: a CA, and server certificates it issues with chosen names and validity.
pub struct Pki {
    ca_key: rcgen::KeyPair,
    ca_params: rcgen::CertificateParams,
    pub ca_pem: String,
}

impl Pki {
    pub fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "test CA");
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
    pub fn server(
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

    pub fn ca_der(&self) -> rustls_pki_types::CertificateDer<'static> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap()
    }
}

/// A rustls server config; `client_ca` = require client certificates issued by it.
pub fn server_tls(
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
pub fn emulator_server_cert(
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
pub fn first_recipient(req: &Request) -> String {
    serde_json::from_slice::<Value>(&req.body).unwrap_or_default()["recipients"][0]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// `openssl s_server` speaking only TLS 1.1, killed on drop.
pub struct OldTlsServer(std::process::Child, pub String);

impl OldTlsServer {
    pub fn start(emu: &Emulator) -> OldTlsServer {
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
        eventually(
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
