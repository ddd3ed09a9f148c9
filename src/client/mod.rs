//! A client for the PassBy\[ME\] messaging API: send, track and cancel messages over
//! mutual TLS. Usable on its own, like the vendor's Python SDK.
//!
//! ```no_run
//! use std::path::Path;
//! use pam_passbyme::client::{Client, Credentials, Message};
//!
//! let creds = Credentials::from_pem_file(Path::new("/etc/passbyme/credentials.pem"), Some("secret"))?;
//! let client = Client::new(creds)?; // auth-sp.passbyme.com:443, the vendor trust store
//! let mut session = client.send(&Message::authorization(vec!["alice@example.com".into()], 60))?;
//! while !session.info().recipients.iter().all(|r| r.status.is_final()) {
//!     std::thread::sleep(std::time::Duration::from_secs(1));
//!     session.refresh()?;
//! }
//! # Ok::<(), pam_passbyme::client::Error>(())
//! ```
//!
//! The transport is explicit on every point, because the PAM module runs inside sudo, whose
//! environment belongs to the caller: TLS 1.2 or 1.3 through rustls with host-name checking;
//! only the configured CA bundle is trusted (never the platform's roots or `SSL_CERT_*`); no
//! proxy unless one is given (never from `*_PROXY`); https only; redirects are not followed;
//! connect and whole-request timeouts; response bodies capped at 64 KiB; one kept-alive
//! connection per client, so a login costs one TLS handshake.

mod credentials;
mod error;
mod model;
mod net;
pub mod sanitize;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

pub use credentials::{
    parse_certificates, read_pem_file, Credentials, MAX_PEM_FILE, VENDOR_TRUST_STORE,
};
pub use error::Error;
pub use model::{
    check_message_id, Message, MessageType, Recipient, SessionInfo, Status, MAX_MESSAGE_ID_LEN,
};

/// The production service.
pub const DEFAULT_ADDRESS: &str = "auth-sp.passbyme.com:443";
/// Default time to establish the TCP and TLS connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for one whole request, connection included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response body read.
pub const MAX_RESPONSE_BODY: u64 = 64 * 1024;
/// The protocol version header every request carries.
pub const API_VERSION_HEADER: &str = "X-PBM-API-VERSION";

/// A PassBy\[ME\] API client. Cheap to clone; clones share the kept-alive connection.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    reach: Arc<net::Reach>,
    base: Arc<str>,
    request_timeout: Duration,
    deadline: Option<Instant>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

/// Builds a [`Client`]; every setting has a documented default.
pub struct ClientBuilder {
    credentials: Credentials,
    address: String,
    roots: Option<Vec<CertificateDer<'static>>>,
    proxy: Option<String>,
    proxy_password: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl ClientBuilder {
    /// `host:port`, `host` (port 443) or `[v6]:port`. Defaults to [`DEFAULT_ADDRESS`].
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = address.into();
        self
    }

    /// The CA certificates that verify the server. Defaults to the vendor trust store.
    pub fn ca_certificates(mut self, roots: Vec<CertificateDer<'static>>) -> Self {
        self.roots = Some(roots);
        self
    }

    /// An HTTP CONNECT proxy (`http://host:port`, or `http://user:password@host:port` for
    /// one that asks for Basic authentication; percent-encode `@`, `:` and `%` in them).
    /// Defaults to none; the environment is never consulted. Errors show the URL with its
    /// password hidden ([`proxy_shown`]).
    pub fn proxy(mut self, proxy: Option<String>) -> Self {
        self.proxy = proxy;
        self
    }

    /// The proxy's password, for a proxy URL that names only the user
    /// (`http://user@host:port`): kept out of the URL, so that nothing that shows the URL
    /// can show the password. Defaults to none.
    pub fn proxy_password(mut self, password: Option<String>) -> Self {
        self.proxy_password = password;
        self
    }

    /// Time to connect (TCP and TLS). Defaults to [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Time for one whole request. Defaults to [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Checks the settings and builds the client. Nothing is sent yet.
    pub fn build(self) -> Result<Client, Error> {
        let base = check_address(&self.address)?;
        let roots = match self.roots {
            Some(r) => r,
            None => parse_certificates(VENDOR_TRUST_STORE.as_bytes(), "vendor trust store")?,
        };
        if roots.is_empty() {
            return Err(Error::pem("CA bundle", "no certificates"));
        }
        let roots: Vec<Certificate<'static>> = roots
            .iter()
            .map(|c| Certificate::from_der(c).to_owned())
            .collect();
        let chain: Vec<Certificate<'static>> = self
            .credentials
            .chain()
            .iter()
            .map(|c| Certificate::from_der(c).to_owned())
            .collect();
        let key_pem = self.credentials.key_pem()?;
        let key = PrivateKey::from_pem(key_pem.as_bytes())
            .map_err(|e| Error::pem("credentials", format!("private key: {e}")))?;
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .client_cert(Some(ClientCert::new_with_certs(&chain, key)))
            .root_certs(RootCerts::new_with_certs(&roots))
            .use_sni(true)
            .build();
        let proxy = match &self.proxy {
            Some(p) => Some(proxy(p, self.proxy_password.as_deref())?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .proxy(proxy)
            .https_only(true)
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(self.connect_timeout))
            // Name resolution gets the connect timeout as its own budget: only a lookup
            // that had all of it counts as "unreachable" (see `net`).
            .timeout_resolve(Some(self.connect_timeout))
            .timeout_global(Some(self.request_timeout))
            .max_idle_connections(1)
            .max_idle_connections_per_host(1)
            .user_agent(concat!("pam_passbyme/", env!("CARGO_PKG_VERSION")))
            .build();
        // ureq's own chain (CONNECT proxy, TCP, rustls), with the TCP step counting the
        // connections this client makes: the fact behind `Error::Unreachable`.
        use ureq::unversioned::transport::{ConnectProxyConnector, Connector, RustlsConnector};
        let reach = Arc::new(net::Reach::default());
        let connector = ()
            .chain(ConnectProxyConnector::default())
            .chain(net::CountingTcp {
                reach: reach.clone(),
            })
            .chain(RustlsConnector::default());
        let agent = ureq::Agent::with_parts(
            config,
            connector,
            net::BoundedResolver {
                reach: reach.clone(),
            },
        );
        Ok(Client {
            agent,
            reach,
            base: base.into(),
            request_timeout: self.request_timeout,
            deadline: None,
        })
    }
}

/// The three requests of the protocol.
enum Method {
    /// Send a message (the JSON body).
    Post(Vec<u8>),
    /// Track a message.
    Get,
    /// Cancel a message.
    Delete,
}

/// The proxy URL with the password of its user part, if any, replaced by `(hidden)`:
/// what errors, `passbyme check` and the logs show of `service.proxy`.
pub fn proxy_shown(url: &str) -> String {
    match proxy_userinfo(url) {
        Some((start, end)) => {
            let info = &url[start..end];
            match info.find(':') {
                Some(colon) => format!(
                    "{}{}:(hidden){}",
                    &url[..start],
                    &info[..colon],
                    &url[end..]
                ),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// True when the proxy URL carries a password (`http://user:password@host:port`).
pub fn proxy_has_password(url: &str) -> bool {
    proxy_userinfo(url).is_some_and(|(start, end)| url[start..end].contains(':'))
}

/// True when the proxy URL names a user (`http://user@host:port`).
pub fn proxy_has_user(url: &str) -> bool {
    proxy_userinfo(url).is_some_and(|(start, end)| end > start)
}

/// The byte range of the user part (`user` or `user:password`) of a URL's authority.
fn proxy_userinfo(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.rfind('@').map(|at| (start, start + at))
}

/// The ureq proxy for `url`, with `password` set for the URL's user when given.
fn proxy(url: &str, password: Option<&str>) -> Result<ureq::Proxy, Error> {
    let shown = proxy_shown(url);
    let p = ureq::Proxy::new(url)
        .map_err(|e| Error::InvalidArgument(format!("proxy '{shown}': {e}")))?;
    if !matches!(
        p.protocol(),
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
    ) {
        return Err(Error::InvalidArgument(format!(
            "proxy '{shown}': only an HTTP CONNECT proxy (http:// or https://) is supported"
        )));
    }
    let Some(password) = password else {
        return Ok(p);
    };
    let Some(user) = p.username().map(str::to_owned) else {
        return Err(Error::InvalidArgument(format!(
            "proxy '{shown}': a proxy password needs the user in the URL (http://USER@host:port)"
        )));
    };
    if p.password().is_some() {
        return Err(Error::InvalidArgument(format!(
            "proxy '{shown}': the URL has a password already; give it in one place"
        )));
    }
    ureq::Proxy::builder(p.protocol())
        .host(p.host())
        .port(p.port())
        .username(&user)
        .password(password)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("proxy '{shown}': {e}")))
}

/// Checks a service address (`host:port`, `host` or `[v6]:port`) and returns the
/// `https://host:port` base URL; rejects anything that is not a plain host and port.
pub fn check_address(address: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Address(format!("'{address}': {why}"));
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("unterminated '['"))?;
        v6.parse::<std::net::Ipv6Addr>()
            .map_err(|_| bad("not an IPv6 address"))?;
        let port = match after {
            "" => "443",
            p => p
                .strip_prefix(':')
                .ok_or_else(|| bad("expected ':' after ']'"))?,
        };
        (format!("[{v6}]"), port)
    } else {
        match address.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p),
            None => (address.to_owned(), "443"),
        }
    };
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err(bad("port 0"));
    }
    let plain = host.starts_with('[')
        || (!host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    if !plain {
        return Err(bad("the host must be a DNS name or an IP address"));
    }
    Ok(format!("https://{host}:{port}"))
}

impl Client {
    /// A client of the production service, verified against the vendor trust store.
    pub fn new(credentials: Credentials) -> Result<Client, Error> {
        Client::builder(credentials).build()
    }

    /// A builder starting from the defaults.
    pub fn builder(credentials: Credentials) -> ClientBuilder {
        ClientBuilder {
            credentials,
            address: DEFAULT_ADDRESS.into(),
            roots: None,
            proxy: None,
            proxy_password: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// A clone whose requests never run past `deadline` (they time out early instead).
    /// `None` lifts the limit. Clones share the connection.
    pub fn with_deadline(&self, deadline: Option<Instant>) -> Client {
        Client {
            deadline,
            ..self.clone()
        }
    }

    /// True once this client (or a clone) has made a TCP connection to the service (or
    /// its proxy). From then on no failure is [`Error::Unreachable`].
    pub fn has_connected(&self) -> bool {
        self.reach.connected()
    }

    /// `https://host:port` of the service.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a message (`POST /frontend/messages`) after the SDK's validations.
    ///
    /// An answer whose recipients are not exactly the IDs sent (one missing, one more, one
    /// listed twice) is [`Error::Mismatch`]: the message exists, but nothing the answer
    /// says about it can be trusted; cancel it.
    pub fn send(&self, message: &Message) -> Result<Session, Error> {
        message.validate()?;
        let info = self.call(Method::Post(message.to_json()), "")?;
        if let Some(reason) = recipients_mismatch(&message.recipients, &info) {
            return Err(Error::Mismatch {
                message_id: info.message_id,
                reason,
            });
        }
        Ok(Session {
            client: self.clone(),
            info,
        })
    }

    /// A session for a message known only by its id (for instance after
    /// [`Error::Mismatch`]), to cancel or track it. Nothing is sent; until then it lists no
    /// recipient and its expiration is unknown (the Unix epoch).
    pub fn session(&self, message_id: &str) -> Result<Session, Error> {
        check_message_id(message_id).map_err(Error::InvalidArgument)?;
        Ok(Session {
            client: self.clone(),
            info: SessionInfo {
                message_id: message_id.to_owned(),
                expiration_date: time::OffsetDateTime::UNIX_EPOCH,
                recipients: Vec::new(),
            },
        })
    }

    /// Tracks a message (`GET /frontend/messages/{id}`).
    pub fn track(&self, message_id: &str) -> Result<Session, Error> {
        let info = self.call_on(Method::Get, message_id)?;
        Ok(Session {
            client: self.clone(),
            info,
        })
    }

    /// Cancels a message (`DELETE /frontend/messages/{id}`).
    pub fn cancel(&self, message_id: &str) -> Result<Session, Error> {
        let info = self.call_on(Method::Delete, message_id)?;
        Ok(Session {
            client: self.clone(),
            info,
        })
    }

    fn call_on(&self, method: Method, message_id: &str) -> Result<SessionInfo, Error> {
        check_message_id(message_id).map_err(Error::InvalidArgument)?;
        let info = self.call(method, message_id)?;
        if info.message_id != message_id {
            return Err(Error::MalformedResponse(format!(
                "asked about message {message_id}, the answer is about {}",
                sanitize::clean(&info.message_id, 64)
            )));
        }
        Ok(info)
    }

    fn call(&self, method: Method, id: &str) -> Result<SessionInfo, Error> {
        let url = if id.is_empty() {
            format!("{}/frontend/messages", self.base)
        } else {
            format!("{}/frontend/messages/{id}", self.base)
        };
        let mut timeout = self.request_timeout;
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // The caller's own time ran out: nothing was tried, so nothing is known
                // about the service (never `Unreachable`).
                return Err(Error::Timeout("deadline reached before the request".into()));
            }
            timeout = timeout.min(left);
        }
        let result = match method {
            Method::Post(body) => self
                .agent
                .post(&url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .header(API_VERSION_HEADER, "1")
                .content_type("application/json")
                .send(&body[..]),
            Method::Get => self
                .agent
                .get(&url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .header(API_VERSION_HEADER, "1")
                .call(),
            Method::Delete => self
                .agent
                .delete(&url)
                .config()
                .timeout_global(Some(timeout))
                .build()
                .header(API_VERSION_HEADER, "1")
                .call(),
        };
        let mut response = result.map_err(Error::from)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BODY)
            .read_to_vec()
            .map_err(Error::from)?;
        decode_response(status, &body)
    }
}

/// The SDK's rules for a response: empty body → HTTP error; 420 → PassBy\[ME\] error with
/// its JSON; other non-2xx → HTTP error; 2xx → session info with every field present.
pub fn decode_response(status: u16, body: &[u8]) -> Result<SessionInfo, Error> {
    let text = || sanitize::clean(&String::from_utf8_lossy(&body[..body.len().min(512)]), 512);
    if body.is_empty() {
        return Err(Error::Status {
            status,
            body: String::new(),
        });
    }
    if status == 420 {
        let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            Error::MalformedResponse(format!("HTTP 420 with a body that is not JSON: {e}"))
        })?;
        let code = json.get("code").and_then(|c| c.as_i64());
        return Err(Error::Api { code, body: json });
    }
    if !(200..300).contains(&status) {
        return Err(Error::Status {
            status,
            body: text(),
        });
    }
    SessionInfo::from_json(body)
}

/// Why the recipients of a send answer are not exactly those sent, if they are not.
fn recipients_mismatch(sent: &[String], info: &SessionInfo) -> Option<String> {
    let clean = |id: &str| sanitize::clean(id, 64);
    for (i, r) in info.recipients.iter().enumerate() {
        if !sent.contains(&r.user_id) {
            return Some(format!(
                "the answer lists recipient '{}', which was not sent to",
                clean(&r.user_id)
            ));
        }
        if info.recipients[..i].iter().any(|e| e.user_id == r.user_id) {
            return Some(format!(
                "the answer lists recipient '{}' twice",
                clean(&r.user_id)
            ));
        }
    }
    sent.iter()
        .find(|id| info.status_of(id).is_none())
        .map(|id| format!("the answer does not list recipient '{}'", clean(id)))
}

/// A sent message and what is known of it. `refresh` and `cancel` update it in place.
#[derive(Debug, Clone)]
pub struct Session {
    client: Client,
    info: SessionInfo,
}

impl Session {
    /// The latest session info.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The message id.
    pub fn message_id(&self) -> &str {
        &self.info.message_id
    }

    /// Tracks the message and updates this session.
    pub fn refresh(&mut self) -> Result<(), Error> {
        self.info = self.client.call_on(Method::Get, &self.info.message_id)?;
        Ok(())
    }

    /// Cancels the message and updates this session.
    pub fn cancel(&mut self) -> Result<(), Error> {
        self.info = self.client.call_on(Method::Delete, &self.info.message_id)?;
        Ok(())
    }

    /// The client this session talks through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Replaces the client (e.g. one with another deadline).
    pub fn set_client(&mut self, client: Client) {
        self.client = client;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_shown_without_their_password() {
        for (url, shown, user, password) in [
            ("http://h:3128", "http://h:3128", false, false),
            ("http://u@h:3128", "http://u@h:3128", true, false),
            ("http://u:p@h:3128", "http://u:(hidden)@h:3128", true, true),
            (
                "http://u:p%40x:y@h:3128/",
                "http://u:(hidden)@h:3128/",
                true,
                true,
            ),
            // An @ after the authority is not a user part.
            ("http://h:3128/a@b", "http://h:3128/a@b", false, false),
            ("http://:p@h", "http://:(hidden)@h", false, true),
            ("no scheme u:p@h", "no scheme u:p@h", false, false),
        ] {
            assert_eq!(proxy_shown(url), shown, "{url}");
            assert_eq!(proxy_has_user(url), user || url.contains("://:"), "{url}");
            assert_eq!(proxy_has_password(url), password, "{url}");
        }
    }

    #[test]
    fn proxy_passwords_in_one_place_with_a_user() {
        let p = proxy("http://u@h:3128", Some("p@ss:w%rd")).unwrap();
        assert_eq!((p.username(), p.password()), (Some("u"), Some("p@ss:w%rd")));
        assert_eq!((p.host(), p.port()), ("h", 3128));
        let p = proxy("http://u:p%40ss@h:3128", None).unwrap();
        assert_eq!(p.password(), Some("p@ss"));
        for (url, password, want) in [
            (
                "http://u:secret@h:3128",
                Some("other"),
                "has a password already",
            ),
            ("http://h:3128", Some("other"), "needs the user in the URL"),
            (
                "socks5://u:secret@h:1080",
                None,
                "only an HTTP CONNECT proxy",
            ),
        ] {
            let e = proxy(url, password).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e}");
            assert!(!e.contains("secret") && !e.contains("other"), "{e}");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            check_address("auth-sp.passbyme.com:443").unwrap(),
            "https://auth-sp.passbyme.com:443"
        );
        assert_eq!(
            check_address("example.org").unwrap(),
            "https://example.org:443"
        );
        assert_eq!(
            check_address("127.0.0.1:8443").unwrap(),
            "https://127.0.0.1:8443"
        );
        assert_eq!(check_address("[::1]:8443").unwrap(), "https://[::1]:8443");
        for bad in [
            "", "h:0", "h:99999", "h:x", "h/x:1", "user@h:1", "[::1", "[zz]:1", "h:1/",
        ] {
            assert!(
                matches!(check_address(bad), Err(Error::Address(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn send_answers_must_list_exactly_the_recipients_sent() {
        let info = |ids: &[&str]| SessionInfo {
            message_id: "m".into(),
            expiration_date: time::OffsetDateTime::UNIX_EPOCH,
            recipients: ids
                .iter()
                .map(|u| Recipient {
                    user_id: (*u).into(),
                    status: Status::Pending,
                })
                .collect(),
        };
        let sent = vec!["a".to_string(), "b".to_string()];
        assert_eq!(recipients_mismatch(&sent, &info(&["a", "b"])), None);
        assert_eq!(recipients_mismatch(&sent, &info(&["b", "a"])), None);
        for (bad, why) in [
            (&["a"][..], "does not list recipient 'b'"),
            (
                &["a", "b", "c"][..],
                "lists recipient 'c', which was not sent",
            ),
            (&["a", "b", "b"][..], "lists recipient 'b' twice"),
            (&[][..], "does not list recipient 'a'"),
            (&["a", "mallory"][..], "'mallory'"),
        ] {
            let got = recipients_mismatch(&sent, &info(bad)).unwrap_or_default();
            assert!(got.contains(why), "{bad:?}: {got}");
        }
    }

    #[test]
    fn only_unreachable_is_unreachable() {
        assert!(Error::Unreachable("x".into()).is_unreachable());
        for e in [
            Error::Connection("connection reset".into()),
            Error::Timeout("deadline reached before the request".into()),
            Error::Tls("CertificateRequired".into()),
            Error::Status {
                status: 503,
                body: String::new(),
            },
            Error::Status {
                status: 429,
                body: String::new(),
            },
            Error::MalformedResponse("x".into()),
        ] {
            assert!(!e.is_unreachable(), "{e}");
        }
    }

    #[test]
    fn a_deadline_already_passed_sends_nothing_and_is_not_unreachable() {
        // An address nothing listens on: were a connect tried, it would be refused and
        // classed unreachable. The deadline check comes first.
        let creds = Credentials::from_pem_file(
            std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/vendor-test-auth.pem"
            )),
            Some("123456"),
        );
        let Ok(creds) = creds else {
            panic!("test credentials: {creds:?}")
        };
        let client = Client::builder(creds)
            .address("127.0.0.1:1")
            .build()
            .unwrap();
        let past = client.with_deadline(Some(Instant::now()));
        let err = past
            .send(&Message::authorization(vec!["a@b".into()], 5))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Timeout(m) if m.contains("before the request")),
            "{err:?}"
        );
        assert!(!err.is_unreachable());
        // The same client with time left: the refusal is unreachable.
        let err = client
            .send(&Message::authorization(vec!["a@b".into()], 5))
            .unwrap_err();
        assert!(err.is_unreachable(), "{err:?}");
    }

    #[test]
    fn response_rules_follow_the_sdk() {
        // An empty body, or a status neither 2xx nor 420, is a status error.
        for (status, body) in [(200, &b""[..]), (500, b""), (503, b"busy"), (302, b"x")] {
            let got = decode_response(status, body);
            assert!(
                matches!(&got, Err(Error::Status { status: s, .. }) if *s == status),
                "{status}: {got:?}"
            );
        }
        match decode_response(420, br#"{"code": 421}"#) {
            Err(Error::Api {
                code: Some(421), ..
            }) => {}
            other => panic!("{other:?}"),
        }
        for (status, body) in [(420, &b"oops"[..]), (200, b"{}")] {
            let got = decode_response(status, body);
            assert!(
                matches!(got, Err(Error::MalformedResponse(_))),
                "{status}: {got:?}"
            );
        }
    }
}
