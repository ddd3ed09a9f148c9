//! Injected faults: their names and what each one makes the server answer.
//! (How a fault is chosen and carried out on the wire is in `api.rs`.)

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

use super::http::Response;

/// One misbehaviour of the server; names as in the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Status500,
    Status503,
    Code420(i64),
    Text420,
    TooMany429,
    Empty,
    Hang,
    Drip,
    Reset,
    BadJson,
    Truncated,
    WrongType,
    MissingField,
    Oversize,
    Redirect,
    BadId,
    HugeId,
    OtherRecipient,
    ApprovedLower,
    ApprovedSpace,
    DupStatus,
    DupId,
    DupRecipients,
    ExtraRecipient,
    MissingRecipient,
    OtherId,
}

/// The simple names (everything but `420:CODE`).
const NAMES: &[(&str, Fault)] = &[
    ("500", Fault::Status500),
    ("503", Fault::Status503),
    ("420text", Fault::Text420),
    ("429", Fault::TooMany429),
    ("empty", Fault::Empty),
    ("hang", Fault::Hang),
    ("drip", Fault::Drip),
    ("reset", Fault::Reset),
    ("badjson", Fault::BadJson),
    ("truncated", Fault::Truncated),
    ("wrongtype", Fault::WrongType),
    ("missingfield", Fault::MissingField),
    ("oversize", Fault::Oversize),
    ("redirect", Fault::Redirect),
    ("badid", Fault::BadId),
    ("hugeid", Fault::HugeId),
    ("otherrecipient", Fault::OtherRecipient),
    ("approved-lower", Fault::ApprovedLower),
    ("approved-space", Fault::ApprovedSpace),
    ("dupstatus", Fault::DupStatus),
    ("dupid", Fault::DupId),
    ("duprecipients", Fault::DupRecipients),
    ("extrarecipient", Fault::ExtraRecipient),
    ("missingrecipient", Fault::MissingRecipient),
    ("otherid", Fault::OtherId),
];

/// The id the `otherid` and `dupid` faults answer about: well-formed, but not the message's.
pub const OTHER_ID: &str = "otherMessage000";

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(code) = s.strip_prefix("420:") {
            return code
                .parse()
                .map(Fault::Code420)
                .map_err(|_| format!("fault `{s}`: `420:` must be followed by a whole number"));
        }
        NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, f)| f.clone())
            .ok_or_else(|| format!("unknown fault `{s}`"))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Fault::Code420(code) = self {
            return write!(f, "420:{code}");
        }
        let name = NAMES
            .iter()
            .find(|(_, fault)| fault == self)
            .map_or("?", |(name, _)| *name);
        f.write_str(name)
    }
}

/// What the connection does when a fault fires.
pub enum Action {
    /// Send this answer (keep-alive rules as usual).
    Respond(Response),
    /// Send this answer one byte every 500 ms, then close.
    Drip(Response),
    /// Send this answer with a `Content-Length` 100 bytes too large, then close.
    Truncated(Response),
    /// Never answer.
    Hang,
    /// Reset the TCP connection.
    Reset,
}

/// A made-up session for body-changing faults on requests that have none.
pub fn placeholder_session() -> Value {
    json!({
        "messageId": "placeholder0000",
        "expirationDate": "2026-01-01T00:00:00.000+00:00",
        "recipients": [{"userId": "nobody@emulator.test", "status": "PENDING"}],
    })
}

/// A session body written by hand, with one key twice (which `serde_json::Value` cannot
/// hold): a reader that keeps the last value reads the second one.
fn duplicated(fault: &Fault, session: &Value) -> Vec<u8> {
    let text = |v: &Value| v.to_string();
    let id = text(&session["messageId"]);
    let exp = text(&session["expirationDate"]);
    let empty = Vec::new();
    let list = session["recipients"].as_array().unwrap_or(&empty);
    let recipients = |status: Option<&str>| {
        let items: Vec<String> = list
            .iter()
            .map(|r| {
                let user = text(&r["userId"]);
                match (fault, status) {
                    (Fault::DupStatus, _) => {
                        format!(r#"{{"userId":{user},"status":"DENIED","status":"APPROVED"}}"#)
                    }
                    (_, Some(st)) => format!(r#"{{"userId":{user},"status":"{st}"}}"#),
                    _ => format!(r#"{{"userId":{user},"status":{}}}"#, text(&r["status"])),
                }
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    let body = match fault {
        Fault::DupId => format!(
            r#"{{"messageId":{id},"messageId":"{OTHER_ID}","expirationDate":{exp},"recipients":{}}}"#,
            recipients(None)
        ),
        Fault::DupRecipients => format!(
            r#"{{"messageId":{id},"expirationDate":{exp},"recipients":{},"recipients":{}}}"#,
            recipients(Some("DENIED")),
            recipients(Some("APPROVED"))
        ),
        _ => format!(
            r#"{{"messageId":{id},"expirationDate":{exp},"recipients":{}}}"#,
            recipients(None)
        ),
    };
    body.into_bytes()
}

impl Fault {
    /// Turn the honest `session` (if the request produced one) into the faulty answer.
    pub fn action(&self, session: Option<Value>) -> Action {
        let mut session = session.unwrap_or_else(placeholder_session);
        let json = |v: &Value| Response::json(200, v);
        match self {
            Fault::Status500 => Action::Respond(Response::empty(500)),
            Fault::Status503 => Action::Respond(Response::empty(503)),
            Fault::Code420(code) => Action::Respond(Response::json(420, &json!({ "code": code }))),
            Fault::Text420 => Action::Respond(
                Response::new(420, b"Internal error: something went wrong\n".to_vec())
                    .header("Content-Type", "text/plain"),
            ),
            Fault::TooMany429 => {
                Action::Respond(Response::empty(429).header("Retry-After", "100000"))
            }
            Fault::Empty => Action::Respond(Response::empty(200)),
            Fault::Hang => Action::Hang,
            Fault::Drip => Action::Drip(json(&session)),
            Fault::Reset => Action::Reset,
            Fault::BadJson => Action::Respond(
                Response::new(200, br#"{"messageId":"#.to_vec())
                    .header("Content-Type", "application/json"),
            ),
            Fault::Truncated => Action::Truncated(json(&session)),
            Fault::WrongType => {
                session["recipients"] = json!("x");
                Action::Respond(json(&session))
            }
            Fault::MissingField => {
                if let Some(obj) = session.as_object_mut() {
                    obj.remove("expirationDate");
                }
                Action::Respond(json(&session))
            }
            Fault::Oversize => {
                // Pad to exactly 1 MiB of valid JSON.
                const SIZE: usize = 1 << 20;
                session["padding"] = json!("");
                let base = serde_json::to_vec(&session).map_or(0, |v| v.len());
                session["padding"] = json!("x".repeat(SIZE.saturating_sub(base)));
                Action::Respond(json(&session))
            }
            Fault::Redirect => {
                Action::Respond(Response::empty(302).header("Location", "http://127.0.0.1:1/"))
            }
            Fault::BadId => {
                session["messageId"] = json!("../../admin?x=1");
                Action::Respond(json(&session))
            }
            Fault::HugeId => {
                session["messageId"] = json!("A".repeat(10_000));
                Action::Respond(json(&session))
            }
            Fault::OtherRecipient => {
                session["recipients"] =
                    json!([{"userId": "mallory@emulator.test", "status": "APPROVED"}]);
                Action::Respond(json(&session))
            }
            Fault::ApprovedLower | Fault::ApprovedSpace => {
                let status = if *self == Fault::ApprovedLower {
                    "approved"
                } else {
                    "APPROVED "
                };
                if let Some(list) = session["recipients"].as_array_mut() {
                    for r in list {
                        r["status"] = json!(status);
                    }
                }
                Action::Respond(json(&session))
            }
            Fault::DupStatus | Fault::DupId | Fault::DupRecipients => Action::Respond(
                Response::new(200, duplicated(self, &session))
                    .header("Content-Type", "application/json"),
            ),
            Fault::ExtraRecipient => {
                if let Some(list) = session["recipients"].as_array_mut() {
                    list.push(json!({"userId": "mallory@emulator.test", "status": "PENDING"}));
                }
                Action::Respond(json(&session))
            }
            Fault::MissingRecipient => {
                if let Some(list) = session["recipients"].as_array_mut() {
                    list.pop();
                }
                Action::Respond(json(&session))
            }
            Fault::OtherId => {
                session["messageId"] = json!(OTHER_ID);
                Action::Respond(json(&session))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (name, fault) in NAMES {
            assert_eq!(name.parse::<Fault>().as_ref(), Ok(fault));
            assert_eq!(fault.to_string(), *name);
        }
        assert_eq!("420:421".parse(), Ok(Fault::Code420(421)));
        assert_eq!(Fault::Code420(-3).to_string(), "420:-3");
        for bad in ["", "420", "420:", "420:x", "Hang", "approved"] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
    }

    fn body(action: Action) -> (u16, Value) {
        match action {
            Action::Respond(r) => (r.status, serde_json::from_slice(&r.body).unwrap()),
            _ => panic!("not a plain answer"),
        }
    }

    #[test]
    fn oversize_is_one_mib_of_json() {
        let Action::Respond(r) = Fault::Oversize.action(None) else {
            panic!()
        };
        assert_eq!(r.body.len(), 1 << 20);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["messageId"], "placeholder0000");
    }

    #[test]
    fn body_faults_change_what_they_say() {
        let (s, v) = body(Fault::Code420(421).action(None));
        assert_eq!((s, v), (420, json!({"code": 421})));
        let (_, v) = body(Fault::MissingField.action(None));
        assert!(v.get("expirationDate").is_none());
        let (_, v) = body(Fault::ApprovedSpace.action(None));
        assert_eq!(v["recipients"][0]["status"], "APPROVED ");
        let (_, v) = body(Fault::HugeId.action(None));
        assert_eq!(v["messageId"].as_str().unwrap().len(), 10_000);
        let (_, v) = body(Fault::WrongType.action(None));
        assert_eq!(v["recipients"], "x");
        let honest = placeholder_session();
        let (_, v) = body(Fault::ExtraRecipient.action(Some(honest.clone())));
        assert_eq!(v["recipients"].as_array().unwrap().len(), 2);
        assert_eq!(v["recipients"][0], honest["recipients"][0]);
        let (_, v) = body(Fault::MissingRecipient.action(Some(honest.clone())));
        assert_eq!(v["recipients"], json!([]));
        let (_, v) = body(Fault::OtherId.action(Some(honest)));
        assert_eq!(v["messageId"], OTHER_ID);
    }

    fn raw(action: Action) -> String {
        match action {
            Action::Respond(r) => String::from_utf8(r.body).unwrap(),
            _ => panic!("not a plain answer"),
        }
    }

    #[test]
    fn duplicate_key_faults_say_the_key_twice_and_a_last_value_reader_sees_the_second() {
        let s = raw(Fault::DupStatus.action(None));
        assert!(
            s.contains(r#""status":"DENIED","status":"APPROVED""#),
            "{s}"
        );
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["recipients"][0]["status"], "APPROVED");
        let s = raw(Fault::DupId.action(None));
        assert_eq!(s.matches(r#""messageId""#).count(), 2, "{s}");
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["messageId"], OTHER_ID);
        let s = raw(Fault::DupRecipients.action(None));
        assert_eq!(s.matches(r#""recipients""#).count(), 2, "{s}");
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["recipients"][0]["status"], "APPROVED");
    }
}
