//! The one error type of the PassBy\[ME\] client.

use std::fmt;
use std::path::PathBuf;

use super::net::Fact;

/// Everything that can go wrong while loading credentials or talking to the service.
///
/// The variants mirror the kinds of errors raised by the vendor's SDK (invalid argument,
/// HTTP error, PassBy\[ME\] error, malformed response), plus the transport failures the SDK
/// folds into "I/O error". `Display` is lowercase "context: cause", without a final period.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A request was refused before anything was sent (no recipients, bad availability, …).
    InvalidArgument(String),
    /// A credentials or CA file could not be read.
    File {
        /// The file that failed.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file held something unusable (no certificate, no key, unparsable block, …).
    Pem {
        /// What was being loaded ("credentials", "CA bundle", …).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The password does not decrypt the private key.
    WrongPassword,
    /// The private key does not belong to the (first) certificate of the chain.
    KeyMismatch,
    /// The configured service address is not `host:port` (or `host`).
    Address(String),
    /// The server answered with an HTTP status outside 200–299 other than 420, or with an
    /// empty body.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The response body, lossily decoded and truncated to 512 bytes.
        body: String,
    },
    /// The server answered HTTP 420: a PassBy\[ME\] error with its vendor code.
    Api {
        /// The vendor's error code (`code` in the JSON body), if present and an integer.
        code: Option<i64>,
        /// The whole decoded JSON body.
        body: serde_json::Value,
    },
    /// The response could not be decoded or lacks a field the protocol requires.
    MalformedResponse(String),
    /// The TLS handshake failed (untrusted server, bad host name, client certificate refused).
    Tls(String),
    /// The connection broke, or failed in a way that does not prove the service unreachable.
    Connection(String),
    /// A connect, read or whole-request timeout expired, or the caller's deadline had
    /// passed before the request.
    Timeout(String),
    /// No TCP connection to the service could be made, and this client never had one:
    /// the name did not resolve, the connect was refused (`ECONNREFUSED`) or found no route
    /// (`EHOSTUNREACH`, `ENETUNREACH`), or the resolution or the connect had its whole
    /// connect timeout without an answer. Never produced once this client (or a clone) has
    /// made a TCP connection, nor when the caller's time cut the wait short.
    Unreachable(String),
    /// An answer that does not match the request although a message now exists on the
    /// service: a send answer whose recipients are not exactly the IDs sent. The caller
    /// should cancel `message_id` (see [`Client::session`](super::Client::session)).
    Mismatch {
        /// The id the service gave the message.
        message_id: String,
        /// What does not match.
        reason: String,
    },
}

impl Error {
    /// True exactly for [`Error::Unreachable`]: no TCP connection to the service could be
    /// made. This is all a fail-open policy may act on. Everything after a connection
    /// existed (a reset, a TLS failure such as a refused client certificate, a 5xx or 429,
    /// a timeout while waiting for the answer), a deadline of the caller's that ran out,
    /// 3xx/4xx answers, 420 codes and malformed responses are not included.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable(_))
    }

    /// True for an answer that could not be decoded or does not match the request
    /// ([`Error::MalformedResponse`], [`Error::Mismatch`]).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Error::MalformedResponse(_) | Error::Mismatch { .. })
    }

    pub(crate) fn pem(what: &'static str, reason: impl Into<String>) -> Error {
        Error::Pem {
            what,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::File { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Pem { what, reason } => write!(f, "{what}: {reason}"),
            Error::WrongPassword => {
                f.write_str("credentials: the password does not decrypt the private key")
            }
            Error::KeyMismatch => {
                f.write_str("credentials: the private key does not match the certificate")
            }
            Error::Address(msg) => write!(f, "service address: {msg}"),
            Error::Status { status, body } if body.is_empty() => {
                write!(f, "HTTP status {status} with an empty body")
            }
            Error::Status { status, body } => write!(f, "HTTP status {status}: {body}"),
            Error::Api {
                code: Some(code), ..
            } => write!(f, "PassBy[ME] error code {code}"),
            Error::Api { body, .. } => write!(f, "PassBy[ME] error without a code: {body}"),
            Error::MalformedResponse(msg) => write!(f, "malformed response: {msg}"),
            Error::Tls(msg) => write!(f, "TLS: {msg}"),
            Error::Connection(msg) => write!(f, "connection: {msg}"),
            Error::Timeout(msg) => write!(f, "timeout: {msg}"),
            Error::Unreachable(msg) => write!(f, "unreachable: {msg}"),
            Error::Mismatch { message_id, reason } => {
                write!(f, "malformed response: {reason} (message {message_id})")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::File { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ureq::Error> for Error {
    fn from(err: ureq::Error) -> Error {
        use ureq::Error as U;
        match err {
            U::Timeout(which) => Error::Timeout(format!("{which:?}").to_lowercase()),
            U::Rustls(e) => Error::Tls(e.to_string()),
            U::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => Error::Timeout(e.to_string()),
            U::Io(e) => match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(tls) => Error::Tls(tls.to_string()),
                None => Error::Connection(e.to_string()),
            },
            U::BodyExceedsLimit(limit) => {
                Error::MalformedResponse(format!("body larger than {limit} bytes"))
            }
            U::Other(e) => match e.downcast::<Fact>() {
                Ok(fact) => match *fact {
                    Fact::Unreachable(msg) => Error::Unreachable(msg),
                    Fact::CutShort(msg) => Error::Timeout(msg),
                },
                Err(e) => Error::Connection(e.to_string()),
            },
            // The proxy answered: it was reached, so this is never "unreachable". A refusal
            // of the credentials (407; tinyproxy says 401) is named for what it is, since
            // the fix is in the configuration.
            U::ConnectProxyFailed(reason)
                if reason.contains(" 407/") || reason.contains(" 401/") =>
            {
                Error::Connection(format!(
                    "the proxy refused its credentials ({reason}): check the user and password of service.proxy"
                ))
            }
            U::ConnectProxyFailed(reason) => Error::Connection(format!("CONNECT proxy failed: {reason}")),
            U::HostNotFound | U::ConnectionFailed => Error::Connection(err.to_string()),
            U::TooManyRedirects | U::RedirectFailed => Error::Status {
                status: 300,
                body: "redirect refused".into(),
            },
            other => Error::Connection(other.to_string()),
        }
    }
}
