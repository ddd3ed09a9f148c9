//! The seams to what a login that pushes talks to: the PassBy\[ME\] service ([`Api`], with
//! [`Client`] as the real one) and the limiter's store, built together by [`Connect`].

use std::time::Instant;

use crate::client::{Client, Error as ClientError, Message, SessionInfo};
use crate::config::Config;
use crate::limiter::{DirError, Store};

/// The PassBy\[ME\] calls the flow makes, each bounded by a deadline. [`Client`] is the
/// real one; tests hand in canned answers.
pub trait Api: Sync {
    /// `POST` a message (see [`Client::send`]).
    fn send(&self, message: &Message, deadline: Instant) -> Result<SessionInfo, ClientError>;
    /// `GET` a message's state (see [`Client::track`]).
    fn track(&self, message_id: &str, deadline: Instant) -> Result<SessionInfo, ClientError>;
    /// `DELETE` a message (see [`Client::cancel`]).
    fn cancel(&self, message_id: &str, deadline: Instant) -> Result<SessionInfo, ClientError>;
    /// True once a TCP connection to the service was made (see [`Client::has_connected`]).
    fn has_connected(&self) -> bool;
}

impl Api for Client {
    fn send(&self, message: &Message, deadline: Instant) -> Result<SessionInfo, ClientError> {
        self.with_deadline(Some(deadline))
            .send(message)
            .map(|s| s.info().clone())
    }

    fn track(&self, message_id: &str, deadline: Instant) -> Result<SessionInfo, ClientError> {
        self.with_deadline(Some(deadline))
            .track(message_id)
            .map(|s| s.info().clone())
    }

    fn cancel(&self, message_id: &str, deadline: Instant) -> Result<SessionInfo, ClientError> {
        self.with_deadline(Some(deadline))
            .cancel(message_id)
            .map(|s| s.info().clone())
    }

    fn has_connected(&self) -> bool {
        Client::has_connected(self)
    }
}

/// What a login that is going to push talks to: the service, and the limiter's store when
/// `[limits]` is on.
pub struct Backend {
    /// The PassBy\[ME\] service.
    pub service: Box<dyn Api>,
    /// The push-fatigue state, if enabled.
    pub limiter: Option<Store>,
}

/// Builds the [`Backend`] from the configuration, once the login is going to push (an
/// unmapped, exempt or local login never reads the secret files). A failure is a
/// configuration error.
pub trait Connect {
    /// The service and the limiter, in that order: a credentials failure never touches
    /// the limiter.
    fn connect(&mut self, config: &Config) -> Result<Backend, ConnectError>;
}

/// The real [`Connect`]: the client from the configured credentials, then the limiter's
/// state directory.
pub struct Connector;

impl Connect for Connector {
    fn connect(&mut self, config: &Config) -> Result<Backend, ConnectError> {
        let client = crate::connect::connect(config).map_err(ConnectError::Client)?;
        let limiter = config
            .limits
            .as_ref()
            .map(Store::open)
            .transpose()
            .map_err(ConnectError::Limiter)?;
        Ok(Backend {
            service: Box::new(client),
            limiter,
        })
    }
}

/// Why the backend of a login could not be built: a configuration error either way.
#[derive(Debug)]
pub enum ConnectError {
    /// The client: the credentials, their password, the CA bundle or the proxy.
    Client(crate::files::FileError),
    /// The limiter's state directory.
    Limiter(DirError),
    /// Another backend's failure (a test's).
    Other(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Client(e) => e.fmt(f),
            ConnectError::Limiter(e) => e.fmt(f),
            ConnectError::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ConnectError {}
