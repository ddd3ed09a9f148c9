//! The one error type of the PassBy\[ME\] client.

use std::fmt;
use std::path::PathBuf;

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
    /// The server could not be reached or the connection broke.
    Connection(String),
    /// A connect, read or whole-request timeout expired.
    Timeout(String),
}

impl Error {
    /// True when the service could not be reached or is down: no connection, a timeout,
    /// or a 5xx/429 answer. This is what a fail-open policy may act on. TLS failures are
    /// not included (an expired client certificate or an untrusted server must never open
    /// the door), nor are 3xx/4xx answers, 420 codes or malformed responses.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::Connection(_) | Error::Timeout(_) => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
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
            U::HostNotFound | U::ConnectionFailed => Error::Connection(err.to_string()),
            U::TooManyRedirects | U::RedirectFailed => Error::Status {
                status: 300,
                body: "redirect refused".into(),
            },
            other => Error::Connection(other.to_string()),
        }
    }
}
