//! Wire types of the PassBy\[ME\] messaging API: what is sent and what comes back.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use super::Error;

/// The longest message id accepted from the server. The vendor's ids are 15 characters.
pub const MAX_MESSAGE_ID_LEN: usize = 64;

/// What kind of message is sent (`type` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// An approve/deny request: the kind a login sends.
    Authorization,
    /// A general message; SEEN is its goal.
    Message,
    /// The body holds an e-signature URL.
    Esign,
}

impl MessageType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Authorization => "authorization",
            MessageType::Message => "message",
            MessageType::Esign => "esign",
        }
    }
}

impl std::str::FromStr for MessageType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "authorization" => Ok(MessageType::Authorization),
            "message" => Ok(MessageType::Message),
            "esign" => Ok(MessageType::Esign),
            other => Err(Error::InvalidArgument(format!(
                "message type '{other}' is not one of authorization, message, esign"
            ))),
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to send: the arguments of the SDK's `send_message`.
#[derive(Debug, Clone)]
pub struct Message {
    /// PassBy\[ME\] IDs of the recipients; at least one.
    pub recipients: Vec<String>,
    /// Subject line, `null` on the wire when `None`.
    pub subject: Option<String>,
    /// Body text, `null` on the wire when `None`.
    pub body: Option<String>,
    /// Whole seconds the message may be downloaded; at least 1.
    pub availability: u64,
    /// Authorization, message or e-sign.
    pub kind: MessageType,
    /// Where the service calls back on status changes, `null` when `None`.
    pub callback_url: Option<String>,
}

impl Message {
    /// An authorization request to `recipients`, available for `availability` seconds.
    pub fn authorization(recipients: Vec<String>, availability: u64) -> Message {
        Message {
            recipients,
            subject: None,
            body: None,
            availability,
            kind: MessageType::Authorization,
            callback_url: None,
        }
    }

    /// The SDK's client-side validations.
    pub fn validate(&self) -> Result<(), Error> {
        if self.recipients.is_empty() {
            return Err(Error::InvalidArgument("no recipients".into()));
        }
        if let Some(bad) = self.recipients.iter().find(|r| r.trim().is_empty()) {
            return Err(Error::InvalidArgument(format!(
                "empty recipient id '{bad}'"
            )));
        }
        if self.availability < 1 {
            return Err(Error::InvalidArgument(
                "availability must be at least 1 second".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            recipients: &'a [String],
            subject: Option<&'a str>,
            body: Option<&'a str>,
            availability: u64,
            #[serde(rename = "type")]
            kind: &'static str,
            callback_url: Option<&'a str>,
        }
        let wire = Wire {
            recipients: &self.recipients,
            subject: self.subject.as_deref(),
            body: self.body.as_deref(),
            availability: self.availability,
            kind: self.kind.as_str(),
            callback_url: self.callback_url.as_deref(),
        };
        // Serializing strings and integers into a Vec cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }
}

/// A recipient's status, as the service reports it. All 13 statuses of the protocol, and
/// `Unknown` for anything else, which is never taken for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Initial status.
    Pending,
    /// The recipient's device was notified.
    Notified,
    /// Downloaded, no evidence uploaded yet.
    Downloaded,
    /// Seen, evidence uploaded.
    Seen,
    /// The recipient has not seen the message (final).
    NotSeen,
    /// The notification did not reach the recipient (final).
    NotNotified,
    /// Notified but never downloaded (final).
    NotDownloaded,
    /// The recipient has no device that supports messaging (final).
    NoDevice,
    /// The message could not be sent because of an error (final).
    Failed,
    /// The recipient is disabled (final).
    Disabled,
    /// Cancelled by the sender (final).
    Cancelled,
    /// Authentication finished successfully (final): the only approval.
    Approved,
    /// The user refused the authentication (final).
    Denied,
    /// A status string this client does not know, kept verbatim (sanitised for display).
    Unknown(String),
}

impl Status {
    /// Every status the service documents (all but `Unknown`), in the SDK's order.
    pub const ALL: [Status; 13] = [
        Status::Pending,
        Status::Notified,
        Status::Downloaded,
        Status::Seen,
        Status::NotSeen,
        Status::NotNotified,
        Status::NotDownloaded,
        Status::NoDevice,
        Status::Failed,
        Status::Disabled,
        Status::Cancelled,
        Status::Approved,
        Status::Denied,
    ];

    /// Parses a wire status; exact, case-sensitive match, anything else is `Unknown`.
    pub fn parse(s: &str) -> Status {
        match s {
            "PENDING" => Status::Pending,
            "NOTIFIED" => Status::Notified,
            "DOWNLOADED" => Status::Downloaded,
            "SEEN" => Status::Seen,
            "NOT_SEEN" => Status::NotSeen,
            "NOT_NOTIFIED" => Status::NotNotified,
            "NOT_DOWNLOADED" => Status::NotDownloaded,
            "NO_DEVICE" => Status::NoDevice,
            "FAILED" => Status::Failed,
            "DISABLED" => Status::Disabled,
            "CANCELLED" => Status::Cancelled,
            "APPROVED" => Status::Approved,
            "DENIED" => Status::Denied,
            other => Status::Unknown(other.to_owned()),
        }
    }

    /// The wire name (an unknown status as it came).
    pub fn as_str(&self) -> &str {
        match self {
            Status::Pending => "PENDING",
            Status::Notified => "NOTIFIED",
            Status::Downloaded => "DOWNLOADED",
            Status::Seen => "SEEN",
            Status::NotSeen => "NOT_SEEN",
            Status::NotNotified => "NOT_NOTIFIED",
            Status::NotDownloaded => "NOT_DOWNLOADED",
            Status::NoDevice => "NO_DEVICE",
            Status::Failed => "FAILED",
            Status::Disabled => "DISABLED",
            Status::Cancelled => "CANCELLED",
            Status::Approved => "APPROVED",
            Status::Denied => "DENIED",
            Status::Unknown(s) => s,
        }
    }

    /// Final for an authorization: nothing will change it any more.
    /// An unknown status is not final: the wait goes on until a known one or the deadline.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            Status::Pending
                | Status::Notified
                | Status::Downloaded
                | Status::Seen
                | Status::Unknown(_)
        )
    }

    /// Exactly `APPROVED`.
    pub fn is_approved(&self) -> bool {
        *self == Status::Approved
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::sanitize::clean(self.as_str(), 64))
    }
}

/// One recipient's status in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The recipient's PassBy\[ME\] ID.
    pub user_id: String,
    /// Where the recipient's copy of the message stands.
    pub status: Status,
}

/// Session info: the body of every successful response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The service's id for the message; checked to be short and alphanumeric.
    pub message_id: String,
    /// When the message expires; nothing changes after it.
    pub expiration_date: OffsetDateTime,
    /// Each recipient's status.
    pub recipients: Vec<Recipient>,
}

impl SessionInfo {
    /// Decodes a response body. A missing or mistyped field is an error naming it; so is a
    /// key that appears twice in one object, at any depth (`serde_json::Value` would
    /// silently keep the last one: `"status":"DENIED","status":"APPROVED"`).
    pub fn from_json(body: &[u8]) -> Result<SessionInfo, Error> {
        reject_duplicate_keys(body)?;
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Error::MalformedResponse(format!("not JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| Error::MalformedResponse("not a JSON object".into()))?;
        let field = |name: &str| {
            obj.get(name)
                .ok_or_else(|| Error::MalformedResponse(format!("missing field '{name}'")))
        };
        let message_id = field("messageId")?
            .as_str()
            .ok_or_else(|| Error::MalformedResponse("'messageId' is not a string".into()))?;
        check_message_id(message_id).map_err(Error::MalformedResponse)?;
        let expiration = field("expirationDate")?
            .as_str()
            .ok_or_else(|| Error::MalformedResponse("'expirationDate' is not a string".into()))?;
        let expiration_date = OffsetDateTime::parse(
            expiration,
            &time::format_description::well_known::Iso8601::DEFAULT,
        )
        .map_err(|e| {
            Error::MalformedResponse(format!(
                "'expirationDate' {:?} is not an ISO-8601 time: {e}",
                super::sanitize::clean(expiration, 64)
            ))
        })?;
        let list = field("recipients")?
            .as_array()
            .ok_or_else(|| Error::MalformedResponse("'recipients' is not an array".into()))?;
        let mut recipients = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let user_id = item.get("userId").and_then(|v| v.as_str()).ok_or_else(|| {
                Error::MalformedResponse(format!("recipients[{i}]: missing string 'userId'"))
            })?;
            let status = item.get("status").and_then(|v| v.as_str()).ok_or_else(|| {
                Error::MalformedResponse(format!("recipients[{i}]: missing string 'status'"))
            })?;
            recipients.push(Recipient {
                user_id: user_id.to_owned(),
                status: Status::parse(status),
            });
        }
        Ok(SessionInfo {
            message_id: message_id.to_owned(),
            expiration_date,
            recipients,
        })
    }

    /// The status reported for `user_id`, if the service listed that recipient.
    pub fn status_of(&self, user_id: &str) -> Option<&Status> {
        self.recipients
            .iter()
            .find(|r| r.user_id == user_id)
            .map(|r| &r.status)
    }
}

/// Fails on a JSON text (or one that is not JSON) in which some object has a key twice.
pub(crate) fn reject_duplicate_keys(body: &[u8]) -> Result<(), Error> {
    serde_json::from_slice::<NoDuplicateKeys>(body)
        .map(|_| ())
        .map_err(|e| {
            let what = if e.is_data() { "" } else { "not JSON: " };
            Error::MalformedResponse(format!("{what}{e}"))
        })
}

/// Walks any JSON value and fails on the first object that has a key twice.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format_args!(
                    "key '{}' appears twice in one object",
                    super::sanitize::clean(&key, 64)
                )));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}

/// A message id goes into a URL path: accept only what the vendor issues (short, ASCII
/// alphanumeric, `-` and `_`).
pub fn check_message_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty message id".into());
    }
    if id.len() > MAX_MESSAGE_ID_LEN {
        return Err(format!(
            "message id of {} characters (more than {MAX_MESSAGE_ID_LEN})",
            id.len()
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "message id {:?} has characters other than letters, digits, '-' and '_'",
            super::sanitize::clean(id, 64)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"messageId": "YzX95zUA1et2ijQ",
        "expirationDate": "2015-06-11T13:06:12.658+02:00",
        "recipients": [{"userId": "pbmId1", "status": "PENDING"}]}"#;

    #[test]
    fn decodes_the_protocol_example() {
        let s = SessionInfo::from_json(GOOD.as_bytes()).unwrap();
        assert_eq!(s.message_id, "YzX95zUA1et2ijQ");
        assert_eq!(s.expiration_date.unix_timestamp(), 1434020772);
        assert_eq!(s.expiration_date.millisecond(), 658);
        assert_eq!(s.expiration_date.offset().whole_hours(), 2);
        assert_eq!(s.status_of("pbmId1"), Some(&Status::Pending));
    }

    #[test]
    fn every_status_round_trips_and_only_approved_approves() {
        let names: Vec<&str> = Status::ALL.iter().map(Status::as_str).collect();
        assert_eq!(
            names.join(" "),
            "PENDING NOTIFIED DOWNLOADED SEEN NOT_SEEN NOT_NOTIFIED NOT_DOWNLOADED NO_DEVICE \
             FAILED DISABLED CANCELLED APPROVED DENIED"
        );
        let mut finals = 0;
        for (st, name) in Status::ALL.iter().zip(names) {
            assert_eq!(&Status::parse(name), st, "{name}");
            assert!(!matches!(st, Status::Unknown(_)), "{name}");
            assert_eq!(st.is_approved(), name == "APPROVED");
            finals += st.is_final() as usize;
        }
        assert_eq!(finals, 9);
        for near in [
            "approved",
            "APPROVED ",
            " APPROVED",
            "APPROVE",
            "Approved",
            "",
        ] {
            let st = Status::parse(near);
            assert!(matches!(st, Status::Unknown(_)), "{near:?}");
            assert!(!st.is_approved() && !st.is_final());
        }
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let cases = [
            (
                r#"{"expirationDate":"2015-06-11T13:06:12.658+02:00","recipients":[]}"#,
                "missing field 'messageId'",
            ),
            (
                r#"{"messageId":"a","recipients":[]}"#,
                "missing field 'expirationDate'",
            ),
            (
                r#"{"messageId":"a","expirationDate":"2015-06-11T13:06:12.658+02:00"}"#,
                "missing field 'recipients'",
            ),
            (
                r#"{"messageId":7,"expirationDate":"x","recipients":[]}"#,
                "'messageId' is not a string",
            ),
            (
                r#"{"messageId":"a","expirationDate":"2015-06-11T13:06:12.658+02:00","recipients":"x"}"#,
                "'recipients' is not an array",
            ),
            (
                r#"{"messageId":"a","expirationDate":"2015-06-11T13:06:12.658+02:00","recipients":[{"status":"SEEN"}]}"#,
                "recipients[0]: missing string 'userId'",
            ),
            (
                r#"{"messageId":"a","expirationDate":"yesterday","recipients":[]}"#,
                "'expirationDate' \"yesterday\" is not an ISO-8601 time",
            ),
            (
                r#"{"messageId":"../x","expirationDate":"2015-06-11T13:06:12.658+02:00","recipients":[]}"#,
                "characters other than",
            ),
            (
                r#"{"messageId":"","expirationDate":"2015-06-11T13:06:12.658+02:00","recipients":[]}"#,
                "empty message id",
            ),
            (r#"{"messageId":"#, "not JSON"),
            (r#"[]"#, "not a JSON object"),
        ];
        for (body, want) in cases {
            let err = SessionInfo::from_json(body.as_bytes()).unwrap_err();
            assert!(
                matches!(err, Error::MalformedResponse(_)),
                "{body}: {err:?}"
            );
            assert!(
                err.to_string().contains(want),
                "{body}: {err} does not contain {want}"
            );
        }
        let huge = format!(
            r#"{{"messageId":"{}","expirationDate":"2015-06-11T13:06:12.658+02:00","recipients":[]}}"#,
            "a".repeat(65)
        );
        assert!(SessionInfo::from_json(huge.as_bytes()).is_err());
    }

    #[test]
    fn a_key_twice_in_any_object_is_malformed() {
        let exp = r#""expirationDate":"2015-06-11T13:06:12.658+02:00""#;
        let cases = [
            format!(
                r#"{{"messageId":"a",{exp},"recipients":[{{"userId":"u","status":"DENIED","status":"APPROVED"}}]}}"#
            ),
            format!(
                r#"{{"messageId":"a","messageId":"b",{exp},"recipients":[{{"userId":"u","status":"DENIED"}}]}}"#
            ),
            format!(
                r#"{{"messageId":"a",{exp},"recipients":[],"recipients":[{{"userId":"u","status":"APPROVED"}}]}}"#
            ),
            format!(
                r#"{{"messageId":"a",{exp},{exp},"recipients":[{{"userId":"u","status":"DENIED"}}]}}"#
            ),
            format!(
                r#"{{"messageId":"a",{exp},"recipients":[{{"userId":"u","userId":"v","status":"DENIED"}}]}}"#
            ),
            // Deeper, in a field this client does not even read.
            format!(
                r#"{{"messageId":"a",{exp},"recipients":[],"extra":[{{"x":{{"k":1,"k":2}}}}]}}"#
            ),
        ];
        for body in &cases {
            let err = SessionInfo::from_json(body.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, Error::MalformedResponse(m) if m.contains("appears twice")),
                "{body}: {err:?}"
            );
        }
        // The same keys in different objects are fine.
        let ok = format!(
            r#"{{"messageId":"a",{exp},"recipients":[{{"userId":"u","status":"DENIED"}},{{"userId":"v","status":"SEEN"}}],"x":{{"messageId":1}}}}"#
        );
        let s = SessionInfo::from_json(ok.as_bytes()).unwrap();
        assert_eq!(s.status_of("u"), Some(&Status::Denied));
    }

    #[test]
    fn send_body_has_exactly_the_sdk_keys() {
        let m = Message::authorization(vec!["a@b".into()], 30);
        let v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "availability",
                "body",
                "callbackUrl",
                "recipients",
                "subject",
                "type"
            ]
        );
        assert_eq!(v["type"], "authorization");
        assert_eq!(v["subject"], serde_json::Value::Null);
        assert_eq!(v["availability"], 30);
    }

    #[test]
    fn validation_matches_the_sdk() {
        assert!(Message::authorization(vec![], 30).validate().is_err());
        assert!(Message::authorization(vec!["a".into()], 0)
            .validate()
            .is_err());
        assert!(Message::authorization(vec![" ".into()], 5)
            .validate()
            .is_err());
        assert!(Message::authorization(vec!["a".into()], 1)
            .validate()
            .is_ok());
        assert!("sms".parse::<MessageType>().is_err());
        assert_eq!("esign".parse::<MessageType>().unwrap(), MessageType::Esign);
    }
}
