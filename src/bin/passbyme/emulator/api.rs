//! The mutual-TLS API server: TLS setup, the connection loop, routes, request validation and
//! the carrying out of faults.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context as _};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use serde_json::{json, Value};

use super::fault::{Action, Fault};
use super::http::{ReadError, Reader, Request, Response, MAX_BODY};
use super::phone::{Content, Message, Recipient, RequestCounts, Scenario};
use super::pki::StateDir;
use super::{Shared, Stats};

/// Idle keep-alive connections are closed after this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The `hang` fault gives up after this.
const HANG_LIMIT: Duration = Duration::from_secs(300);
/// The `drip` fault's pace.
const DRIP_PACE: Duration = Duration::from_millis(500);
/// The longest `availability` accepted: a year.
const MAX_AVAILABILITY: u64 = 365 * 86_400;

/// rustls with ring, TLS 1.2 and 1.3, client certificates required and checked against the CA.
pub fn tls_config(state: &StateDir) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(state.ca_der.clone())
        .context("cannot use the CA certificate")?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| anyhow!("cannot set up client certificate checks: {e}"))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(state.server_key.clone()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("cannot choose TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![state.server_der.clone()], key)
        .context("cannot use the server certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accept connections forever, one thread each.
pub fn serve(listener: TcpListener, tls: Arc<ServerConfig>, shared: Arc<Shared>) {
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        Stats::bump(&shared.stats.connections);
        let (tls, shared) = (Arc::clone(&tls), Arc::clone(&shared));
        let spawned = std::thread::Builder::new()
            .name("emulator-conn".into())
            .spawn(move || connection(tcp, &tls, &shared));
        if let Err(e) = spawned {
            eprintln!("emulator: cannot start a connection thread: {e}");
        }
    }
}

type Tls = StreamOwned<ServerConnection, TcpStream>;

fn connection(mut tcp: TcpStream, tls: &Arc<ServerConfig>, shared: &Shared) {
    let peer = tcp
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let _ = tcp.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = tcp.set_write_timeout(Some(IDLE_TIMEOUT));
    let _ = tcp.set_nodelay(true);
    let Ok(mut conn) = ServerConnection::new(Arc::clone(tls)) else {
        return;
    };
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            if e.kind() != io::ErrorKind::UnexpectedEof {
                shared.log(format_args!("TLS handshake with {peer} failed: {e}"));
            }
            return;
        }
    }
    Stats::bump(&shared.stats.handshakes);
    let mut stream = StreamOwned::new(conn, tcp);
    let mut reader = Reader::default();

    loop {
        let req = match reader.read_request(&mut stream) {
            Ok(req) => req,
            Err(ReadError::Closed) => return,
            Err(ReadError::Malformed(why)) => {
                let start = Instant::now();
                Stats::bump(&shared.stats.requests);
                let resp = Response::new(400, format!("{why}\n").into_bytes())
                    .header("Content-Type", "text/plain");
                let _ = send(&mut stream, &resp, true);
                shared.log(format_args!(
                    "- (unparsable request: {why}) 400 {}",
                    ms(start)
                ));
                close(&mut stream);
                return;
            }
            Err(ReadError::TooLarge(req)) => {
                let start = Instant::now();
                Stats::bump(&shared.stats.requests);
                let resp = api_error(413, &format!("request body over {MAX_BODY} bytes"));
                let _ = send(&mut stream, &resp, true);
                log(shared, &req, resp.status, start, None);
                close(&mut stream);
                return;
            }
        };
        let start = Instant::now();
        Stats::bump(&shared.stats.requests);
        let (reply, tag_fault) = route(shared, &req);
        let fault = shared.take_fault().or(tag_fault);

        let Some(fault) = fault else {
            let resp = match reply {
                Reply::Session(session) => Response::json(200, &session),
                Reply::Other(resp) => resp,
            };
            let ok = send(&mut stream, &resp, req.close).is_ok();
            log(shared, &req, resp.status, start, None);
            if !ok || req.close {
                close(&mut stream);
                return;
            }
            continue;
        };

        let session = match reply {
            Reply::Session(s) => Some(s),
            Reply::Other(_) => None,
        };
        match fault.action(session) {
            Action::Respond(resp) => {
                let ok = send(&mut stream, &resp, req.close).is_ok();
                log(shared, &req, resp.status, start, Some(&fault));
                if !ok || req.close {
                    close(&mut stream);
                    return;
                }
            }
            Action::Drip(resp) => {
                log(shared, &req, resp.status, start, Some(&fault));
                for byte in resp.to_bytes(true, 0) {
                    if stream
                        .write_all(&[byte])
                        .and_then(|()| stream.flush())
                        .is_err()
                    {
                        return;
                    }
                    std::thread::sleep(DRIP_PACE);
                }
                close(&mut stream);
                return;
            }
            Action::Truncated(resp) => {
                let _ = stream
                    .write_all(&resp.to_bytes(true, 100))
                    .and_then(|()| stream.flush());
                log(shared, &req, resp.status, start, Some(&fault));
                close(&mut stream);
                return;
            }
            Action::Hang => {
                log(shared, &req, 0, start, Some(&fault));
                hang(&mut stream);
                return;
            }
            Action::Reset => {
                log(shared, &req, 0, start, Some(&fault));
                let _ = super::sys::set_linger_zero(&stream.sock);
                return; // dropping the socket now sends RST
            }
        }
    }
}

/// Hold the connection without answering until the client goes away or the limit passes.
fn hang(stream: &mut Tls) {
    let _ = stream.sock.set_read_timeout(Some(Duration::from_secs(1)));
    let until = Instant::now() + HANG_LIMIT;
    let mut sink = [0u8; 4096];
    while Instant::now() < until {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn send(stream: &mut Tls, resp: &Response, close: bool) -> io::Result<()> {
    stream.write_all(&resp.to_bytes(close, 0))?;
    stream.flush()
}

/// TLS close_notify, then close the TCP connection.
fn close(stream: &mut Tls) {
    stream.conn.send_close_notify();
    while stream.conn.wants_write() {
        if stream.conn.write_tls(&mut stream.sock).is_err() {
            break;
        }
    }
    let _ = stream.sock.shutdown(Shutdown::Write);
}

fn ms(start: Instant) -> String {
    format!("{:.1}ms", start.elapsed().as_secs_f64() * 1000.0)
}

/// `METHOD PATH STATUS DURATION [fault=NAME]`; status 0 prints as `-` (no answer).
fn log(shared: &Shared, req: &Request, status: u16, start: Instant, fault: Option<&Fault>) {
    let status = if status == 0 {
        "-".to_owned()
    } else {
        status.to_string()
    };
    let fault = fault.map(|f| format!(" fault={f}")).unwrap_or_default();
    shared.log(format_args!(
        "{} {} {status} {}{fault}",
        req.method,
        req.log_target(),
        ms(start)
    ));
}

/// What a route answers before any fault: a session (which body faults can alter) or anything else.
enum Reply {
    Session(Value),
    Other(Response),
}

/// A refusal: HTTP 420 with `{"code", "message"}`.
fn api_error(code: u16, message: &str) -> Response {
    Response::json(420, &json!({"code": code, "message": message}))
}

fn refuse(code: u16, message: &str) -> (Reply, Option<Fault>) {
    (Reply::Other(api_error(code, message)), None)
}

fn route(shared: &Shared, req: &Request) -> (Reply, Option<Fault>) {
    enum Target<'a> {
        Collection,
        Message(&'a str),
    }
    let path = req.path();
    let target = if path == "/frontend/messages" {
        Target::Collection
    } else if let Some(id) = path
        .strip_prefix("/frontend/messages/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
    {
        Target::Message(id)
    } else {
        return (Reply::Other(Response::empty(404)), None);
    };

    if let Err(msg) = check_api_version(req) {
        return refuse(401, &msg);
    }
    match (req.method.as_str(), target) {
        ("POST", Target::Collection) => send_message(shared, req),
        ("GET", Target::Message(id)) => with_message(shared, id, |m| {
            m.requests.track += 1;
            (m.session(), m.fault(|s| &s.fault))
        }),
        ("DELETE", Target::Message(id)) => with_message(shared, id, |m| {
            m.requests.cancel += 1;
            m.cancel();
            (m.session(), m.fault(|s| &s.cancel_fault))
        }),
        (method, Target::Collection) => (
            Reply::Other(
                api_error(405, &format!("{method} is not allowed here: use POST"))
                    .header("Allow", "POST"),
            ),
            None,
        ),
        (method, Target::Message(_)) => (
            Reply::Other(
                api_error(
                    405,
                    &format!("{method} is not allowed here: use GET or DELETE"),
                )
                .header("Allow", "GET, DELETE"),
            ),
            None,
        ),
    }
}

fn check_api_version(req: &Request) -> Result<(), String> {
    match req.header("X-PBM-API-VERSION") {
        Some(b"1") => Ok(()),
        Some(other) => Err(format!(
            "unsupported X-PBM-API-VERSION `{}`: this server speaks 1",
            String::from_utf8_lossy(other)
        )),
        None => Err("missing X-PBM-API-VERSION header".to_owned()),
    }
}

fn with_message(
    shared: &Shared,
    id: &str,
    f: impl FnOnce(&mut Message) -> (Value, Option<Fault>),
) -> (Reply, Option<Fault>) {
    let mut store = shared.store();
    match store.get_mut(id) {
        Some(m) => {
            let (session, fault) = f(m);
            (Reply::Session(session), fault)
        }
        None => refuse(404, "no message with this id"),
    }
}

/// A validated send request.
#[derive(Debug, PartialEq)]
struct SendRequest {
    recipients: Vec<String>,
    content: Content,
}

/// Check the body of `POST /frontend/messages`; errors are (420 code, message).
fn validate_send(content_type: Option<&[u8]>, body: &[u8]) -> Result<SendRequest, (u16, String)> {
    let json_type = content_type
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err((415, "Content-Type must be application/json".to_owned()));
    }
    let bad = |m: String| Err((400, m));
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad(format!("body is not JSON: {e}")),
    };
    let Value::Object(obj) = value else {
        return bad("body must be a JSON object".to_owned());
    };
    const KEYS: [&str; 6] = [
        "recipients",
        "subject",
        "body",
        "availability",
        "type",
        "callbackUrl",
    ];
    if let Some(extra) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return bad(format!("unknown field `{extra}`"));
    }
    if let Some(missing) = KEYS.iter().find(|k| !obj.contains_key(**k)) {
        return bad(format!("missing field `{missing}`"));
    }
    let field = |k: &str| obj.get(k).unwrap_or(&Value::Null);

    let Value::Array(list) = field("recipients") else {
        return bad("`recipients` must be an array of strings".to_owned());
    };
    if list.is_empty() {
        return bad("`recipients` must not be empty".to_owned());
    }
    let mut recipients = Vec::with_capacity(list.len());
    for r in list {
        match r.as_str() {
            Some(s) if !s.is_empty() => recipients.push(s.to_owned()),
            Some(_) => return bad("a recipient ID is empty".to_owned()),
            None => return bad("`recipients` must be an array of strings".to_owned()),
        }
    }
    let availability = match field("availability").as_u64() {
        Some(n) if (1..=MAX_AVAILABILITY).contains(&n) => n,
        _ => {
            return bad(format!(
                "`availability` must be a whole number of seconds from 1 to {MAX_AVAILABILITY}"
            ))
        }
    };
    let kind = match field("type").as_str() {
        Some(t @ ("authorization" | "message" | "esign")) => t.to_owned(),
        _ => return bad("`type` must be authorization, message or esign".to_owned()),
    };
    let opt = |k: &str| -> Result<Option<String>, (u16, String)> {
        match field(k) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err((400, format!("`{k}` must be a string or null"))),
        }
    };
    Ok(SendRequest {
        recipients,
        content: Content {
            kind,
            subject: opt("subject")?,
            body: opt("body")?,
            callback_url: opt("callbackUrl")?,
            availability,
        },
    })
}

fn send_message(shared: &Shared, req: &Request) -> (Reply, Option<Fault>) {
    let send = match validate_send(req.header("Content-Type"), &req.body) {
        Ok(s) => s,
        Err((code, msg)) => return refuse(code, &msg),
    };
    let mut recipients = Vec::with_capacity(send.recipients.len());
    for user_id in send.recipients {
        let scenario = match Scenario::parse(&user_id, shared.default_answer, shared.default_after)
        {
            Ok(s) => s,
            Err(msg) => return refuse(400, &msg),
        };
        let delay = scenario.after.sample(&shared.rng);
        recipients.push(Recipient {
            user_id,
            scenario,
            delay,
            forced: None,
        });
    }
    let Ok(id) = super::random_alnum(&shared.rng, 15) else {
        return (Reply::Other(Response::empty(500)), None);
    };
    let message = Message {
        id,
        content: send.content,
        sent_at: SystemTime::now(),
        sent_instant: Instant::now(),
        recipients,
        cancelled: false,
        requests: RequestCounts {
            send: 1,
            track: 0,
            cancel: 0,
        },
    };
    let session = message.session();
    let fault = message.fault(|s| &s.send_fault);
    shared.store().insert(message);
    (Reply::Session(session), fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&[u8]> = Some(b"application/json");

    fn good() -> Value {
        json!({"recipients": ["alice@example.com"], "subject": "s", "body": null,
               "availability": 300, "type": "authorization", "callbackUrl": null})
    }

    fn code(v: &Value) -> u16 {
        validate_send(JSON, &serde_json::to_vec(v).unwrap())
            .unwrap_err()
            .0
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = good();
        v[key] = value;
        v
    }

    #[test]
    fn a_good_body_passes() {
        let s = validate_send(
            Some(b"application/json; charset=utf-8"),
            &serde_json::to_vec(&good()).unwrap(),
        )
        .unwrap();
        assert_eq!(s.recipients, ["alice@example.com"]);
        assert_eq!(
            (
                s.content.availability,
                s.content.kind.as_str(),
                s.content.subject.as_deref(),
                s.content.body
            ),
            (300, "authorization", Some("s"), None)
        );
        for t in ["message", "esign"] {
            assert!(
                validate_send(JSON, &serde_json::to_vec(&with("type", json!(t))).unwrap()).is_ok()
            );
        }
    }

    #[test]
    fn each_bad_body_gets_its_code() {
        assert_eq!(validate_send(None, b"{}").unwrap_err().0, 415);
        assert_eq!(
            validate_send(Some(b"text/plain"), b"{}").unwrap_err().0,
            415
        );
        assert_eq!(validate_send(JSON, b"{\"recipients\":").unwrap_err().0, 400);
        assert_eq!(validate_send(JSON, b"").unwrap_err().0, 400);
        assert_eq!(code(&json!([1, 2])), 400);
        let mut missing = good();
        missing.as_object_mut().unwrap().remove("callbackUrl");
        assert_eq!(code(&missing), 400);
        assert_eq!(code(&with("extra", json!(1))), 400);
        for bad in [
            ("recipients", json!([])),
            ("recipients", json!("alice@x")),
            ("recipients", json!([1])),
            ("recipients", json!([""])),
            ("recipients", Value::Null),
            ("availability", json!(0)),
            ("availability", json!(-5)),
            ("availability", json!(1.5)),
            ("availability", json!("300")),
            ("availability", json!(MAX_AVAILABILITY + 1)),
            ("type", json!("AUTHORIZATION")),
            ("type", Value::Null),
            ("subject", json!(5)),
            ("body", json!(["x"])),
            ("callbackUrl", json!(false)),
        ] {
            assert_eq!(code(&with(bad.0, bad.1.clone())), 400, "{bad:?}");
        }
    }

    #[test]
    fn api_version_header() {
        let req = |headers: Vec<(String, Vec<u8>)>| Request {
            method: "GET".into(),
            target: "/frontend/messages/x".into(),
            headers,
            body: vec![],
            close: false,
        };
        assert!(check_api_version(&req(vec![])).is_err());
        assert!(
            check_api_version(&req(vec![("X-PBM-API-VERSION".into(), b"2".to_vec())])).is_err()
        );
        assert!(
            check_api_version(&req(vec![("x-pbm-api-version".into(), b" 1 ".to_vec())])).is_ok()
        );
    }
}
