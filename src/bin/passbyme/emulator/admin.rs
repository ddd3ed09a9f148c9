//! The plain-HTTP admin endpoint: look at messages, answer them, queue faults, read counters.

use std::io::Write as _;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{ReadError, Reader, Request, Response};
use super::phone::DecideError;
use super::{Fault, Shared};

/// Accept connections forever, one thread each.
pub fn serve(listener: TcpListener, shared: Arc<Shared>) {
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("emulator-admin-conn".into())
            .spawn(move || connection(tcp, &shared));
        if let Err(e) = spawned {
            eprintln!("emulator: cannot start an admin connection thread: {e}");
        }
    }
}

fn connection(mut tcp: TcpStream, shared: &Shared) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(60)));
    let mut reader = Reader::default();
    loop {
        let start = Instant::now();
        let (resp, close, line) = match reader.read_request(&mut tcp) {
            Ok(req) => {
                let resp = route(shared, &req);
                let line = format!("{} {}", req.method, req.log_target());
                (resp, req.close, line)
            }
            Err(ReadError::Closed) => return,
            Err(ReadError::Malformed(why)) => (error(400, why), true, "- -".to_owned()),
            Err(ReadError::TooLarge(req)) => (
                error(400, "body too large"),
                true,
                format!("{} {}", req.method, req.log_target()),
            ),
        };
        let ok = tcp
            .write_all(&resp.to_bytes(close, 0))
            .and_then(|()| tcp.flush())
            .is_ok();
        shared.log(format_args!(
            "admin: {line} {} {:.1}ms",
            resp.status,
            start.elapsed().as_secs_f64() * 1000.0
        ));
        if !ok || close {
            let _ = tcp.shutdown(Shutdown::Write);
            return;
        }
    }
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "error": message }))
}

fn ok(value: &impl serde::Serialize) -> Response {
    match serde_json::to_value(value) {
        Ok(v) => Response::json(200, &v),
        Err(e) => error(500, &e.to_string()),
    }
}

fn route(shared: &Shared, req: &Request) -> Response {
    let path = req.path();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method.as_str();
    let only =
        |allowed: &str| error(405, &format!("use {allowed}")).header("Allow", allowed.to_owned());
    match parts.as_slice() {
        ["admin", "messages"] => match method {
            "GET" => ok(&shared.store().views()),
            _ => only("GET"),
        },
        ["admin", "messages", id] => match method {
            "GET" => match shared.store().view(id) {
                Some(v) => ok(&v),
                None => error(404, "no message with this id"),
            },
            _ => only("GET"),
        },
        ["admin", "messages", id, verb @ ("approve" | "deny")] => match method {
            "POST" => match shared.store().decide(id, *verb == "approve") {
                Ok(v) => ok(&v),
                Err(DecideError::UnknownId) => error(404, "no message with this id"),
                Err(DecideError::AlreadyFinal) => {
                    error(409, "every recipient has already reached a final status")
                }
            },
            _ => only("POST"),
        },
        ["admin", "faults"] => match method {
            "POST" => queue_fault(shared, &req.body),
            _ => only("POST"),
        },
        ["admin", "stats"] => match method {
            "GET" => Response::json(200, &shared.stats.json()),
            _ => only("GET"),
        },
        ["admin", "reset-stats"] => match method {
            "POST" => {
                shared.stats.reset();
                Response::json(200, &shared.stats.json())
            }
            _ => only("POST"),
        },
        _ => error(404, "unknown admin path"),
    }
}

/// `{"fault": "NAME", "count": N}`.
fn queue_fault(shared: &Shared, body: &[u8]) -> Response {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return error(400, r#"body must be {"fault": "NAME", "count": N}"#);
    };
    let fault: Fault = match obj.get("fault").and_then(Value::as_str).map(str::parse) {
        Some(Ok(f)) => f,
        Some(Err(e)) => return error(400, &e),
        None => return error(400, "`fault` must be a fault name"),
    };
    let count = match obj.get("count") {
        None => 1,
        Some(v) => match v.as_u64() {
            Some(n) => n,
            None => return error(400, "`count` must be a whole number"),
        },
    };
    shared.queue_fault(fault.clone(), count);
    Response::json(200, &json!({"fault": fault.to_string(), "count": count}))
}
