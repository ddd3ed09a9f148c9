//! How the client reaches the service: name resolution bounded by the request's time, and
//! the one fact a fail-open policy may act on, "no TCP connection could be made".
//!
//! [`Error::Unreachable`](super::Error::Unreachable) is decided here, from facts, never
//! from error text:
//! - the name did not resolve (the resolver answered that it has no address, or gave no
//!   answer within the whole resolution budget, which is the connect timeout);
//! - the TCP connect failed with `ECONNREFUSED`, `EHOSTUNREACH` or `ENETUNREACH`;
//! - the TCP connect timed out after its whole connect timeout.
//!
//! and only while this client has never established a TCP connection (its clones share
//! the count: a kept-alive connection counts). A resolution or connect timeout whose
//! budget was cut short (by the login's deadline, or a request timeout shorter than the
//! connect timeout) is an ordinary [`Error::Timeout`](super::Error::Timeout). With a proxy,
//! the connection that counts is the one to the proxy.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, Either, NextTimeout, TcpConnector, Transport,
};
use ureq::Timeout;

/// The resolver thread's stack: enough for getaddrinfo and any NSS module, whatever
/// RUST_MIN_STACK says (under sudo the environment is the caller's).
const RESOLVER_STACK: usize = 1 << 20;

/// At most this many addresses of a name are tried.
const MAX_ADDRESSES: usize = 16;

/// What the transport knows about a failure, carried through ureq as `Error::Other`.
#[derive(Debug)]
pub(crate) enum Fact {
    /// No TCP connection could be made (see the module documentation).
    Unreachable(String),
    /// A resolution or connect budget cut short by the request's time.
    CutShort(String),
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Unreachable(m) | Fact::CutShort(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Fact {}

fn fact(f: Fact) -> ureq::Error {
    ureq::Error::Other(Box::new(f))
}

/// TCP connections established by one client and its clones.
#[derive(Debug, Default)]
pub(crate) struct Reach {
    established: AtomicUsize,
}

impl Reach {
    /// True once any TCP connection was made.
    pub(crate) fn connected(&self) -> bool {
        self.established.load(Ordering::SeqCst) > 0
    }
}

/// True when the budget of this step was the configured one (resolution or connect), not
/// the request's whole remaining time.
fn full_budget(timeout: &NextTimeout) -> bool {
    matches!(timeout.reason, Timeout::Resolve | Timeout::Connect)
}

/// ureq's TCP connector, counting the connections it makes and classifying its failures.
#[derive(Debug)]
pub(crate) struct CountingTcp {
    pub(crate) reach: Arc<Reach>,
}

impl<In: Transport> Connector<In> for CountingTcp {
    type Out = <TcpConnector as Connector<In>>::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let result = TcpConnector::default().connect(details, chained);
        match result {
            Ok(Some(Either::B(tcp))) => {
                self.reach.established.fetch_add(1, Ordering::SeqCst);
                Ok(Some(Either::B(tcp)))
            }
            Ok(other) => Ok(other),
            Err(e) => Err(classify_connect(
                e,
                self.reach.connected(),
                full_budget(&details.timeout),
                *details.timeout.after,
            )),
        }
    }
}

/// The connect errors that mean "nothing answered at that address".
fn refused_or_no_route(e: &io::Error) -> Option<&'static str> {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Some("connection refused (ECONNREFUSED)"),
        Some(libc::EHOSTUNREACH) => Some("no route to host (EHOSTUNREACH)"),
        Some(libc::ENETUNREACH) => Some("network unreachable (ENETUNREACH)"),
        _ => None,
    }
}

/// Turns a failed TCP connect into a [`Fact`] where the facts allow, else leaves it.
/// `connected`: this client made a TCP connection before; `full`: the connect had its
/// whole connect timeout; `budget`: how long that was.
pub(crate) fn classify_connect(
    e: ureq::Error,
    connected: bool,
    full: bool,
    budget: Duration,
) -> ureq::Error {
    let timed_out = match &e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => io.kind() == io::ErrorKind::TimedOut,
        _ => false,
    };
    if timed_out && !full {
        return fact(Fact::CutShort(format!(
            "connect: cut short after {:.1}s by the deadline or request timeout, before the \
             connect timeout",
            budget.as_secs_f64()
        )));
    }
    if connected {
        return e;
    }
    if timed_out {
        return fact(Fact::Unreachable(format!(
            "connect: no answer within the whole connect timeout ({:.1}s)",
            budget.as_secs_f64()
        )));
    }
    match &e {
        ureq::Error::Io(io) => match refused_or_no_route(io) {
            Some(why) => fact(Fact::Unreachable(format!("connect: {why}"))),
            None => e,
        },
        _ => e,
    }
}

/// Resolves host names with a bounded wait. An IP address needs no lookup. A name is looked
/// up by `getaddrinfo` on a helper thread (fixed stack), which is joined when it answers
/// within the budget; when the budget runs out first, the lookup is abandoned: its thread
/// ends on its own when `getaddrinfo` returns, which the resolver's own settings bound
/// (`timeout`, `attempts` and the servers of resolv.conf), and nothing waits for it.
#[derive(Debug)]
pub(crate) struct BoundedResolver {
    pub(crate) reach: Arc<Reach>,
}

type ResolveFn = fn(&str, u16) -> io::Result<Vec<SocketAddr>>;

fn getaddrinfo(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port)
        .to_socket_addrs()?
        .take(MAX_ADDRESSES)
        .collect())
}

impl Resolver for BoundedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(443);
        let addrs = resolve_with(
            host,
            port,
            *timeout.after,
            full_budget(&timeout),
            self.reach.connected(),
            getaddrinfo,
        )?;
        let mut out = self.empty();
        for a in addrs.into_iter().take(MAX_ADDRESSES) {
            out.push(a);
        }
        Ok(out)
    }
}

/// The resolution itself, with the lookup function given (tests pass slow or failing ones).
pub(crate) fn resolve_with(
    host: &str,
    port: u16,
    budget: Duration,
    full: bool,
    connected: bool,
    lookup: ResolveFn,
) -> Result<Vec<SocketAddr>, ureq::Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let unreachable = |why: String| {
        if connected {
            ureq::Error::Io(io::Error::other(why))
        } else {
            fact(Fact::Unreachable(why))
        }
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let name = host.to_owned();
    let worker = std::thread::Builder::new()
        .name("pam_passbyme-resolve".into())
        .stack_size(RESOLVER_STACK)
        .spawn(move || {
            // The receiver is gone when the lookup was abandoned: nothing to tell then.
            let _ = tx.send(lookup(&name, port));
        })
        .map_err(ureq::Error::Io)?;
    match rx.recv_timeout(budget) {
        Ok(answer) => {
            let _ = worker.join();
            match answer {
                Ok(addrs) if addrs.is_empty() => Err(unreachable(format!(
                    "name resolution: '{host}' has no address"
                ))),
                Ok(addrs) => Ok(addrs),
                // getaddrinfo's EAI_SYSTEM: a local failure (no file descriptor, …), not
                // an answer about the name.
                Err(e) if e.raw_os_error().is_some() => Err(ureq::Error::Io(e)),
                Err(e) => Err(unreachable(format!(
                    "name resolution of '{host}' failed: {e}"
                ))),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            drop(worker); // abandoned: see the type's documentation
            if !full {
                Err(fact(Fact::CutShort(format!(
                    "name resolution of '{host}': cut short after {:.1}s by the deadline or \
                     request timeout, before the connect timeout",
                    budget.as_secs_f64()
                ))))
            } else {
                Err(unreachable(format!(
                    "name resolution of '{host}': no answer within the whole connect \
                     timeout ({:.1}s)",
                    budget.as_secs_f64()
                )))
            }
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = worker.join();
            Err(ureq::Error::Io(io::Error::other(format!(
                "name resolution of '{host}': the lookup thread failed"
            ))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_unreachable(e: &ureq::Error) -> bool {
        matches!(e, ureq::Error::Other(b) if matches!(b.downcast_ref::<Fact>(), Some(Fact::Unreachable(_))))
    }

    fn is_cut_short(e: &ureq::Error) -> bool {
        matches!(e, ureq::Error::Other(b) if matches!(b.downcast_ref::<Fact>(), Some(Fact::CutShort(_))))
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn connect_failures_before_any_connection() {
        for errno in [libc::ECONNREFUSED, libc::EHOSTUNREACH, libc::ENETUNREACH] {
            let e = ureq::Error::Io(io::Error::from_raw_os_error(errno));
            assert!(
                is_unreachable(&classify_connect(e, false, true, S)),
                "{errno}"
            );
            // The same error once this client had a connection: not unreachable.
            let e = ureq::Error::Io(io::Error::from_raw_os_error(errno));
            assert!(matches!(
                classify_connect(e, true, true, S),
                ureq::Error::Io(_)
            ));
        }
        for errno in [
            libc::ECONNRESET,
            libc::EPIPE,
            libc::EACCES,
            libc::EADDRNOTAVAIL,
            libc::EMFILE,
        ] {
            let e = ureq::Error::Io(io::Error::from_raw_os_error(errno));
            let out = classify_connect(e, false, true, S);
            assert!(!is_unreachable(&out) && !is_cut_short(&out), "{errno}");
        }
        // An error of the same kind but not from the OS (no errno): not a fact.
        let e = ureq::Error::Io(io::Error::new(io::ErrorKind::ConnectionRefused, "made up"));
        assert!(!is_unreachable(&classify_connect(e, false, true, S)));
        let e = ureq::Error::Timeout(Timeout::Connect);
        assert!(is_unreachable(&classify_connect(e, false, true, S)));
        let e = ureq::Error::Io(io::Error::from(io::ErrorKind::TimedOut));
        assert!(is_unreachable(&classify_connect(e, false, true, S)));
    }

    #[test]
    fn a_connect_timeout_cut_short_is_never_unreachable() {
        for e in [
            ureq::Error::Timeout(Timeout::Connect),
            ureq::Error::Timeout(Timeout::Global),
        ] {
            assert!(is_cut_short(&classify_connect(e, false, false, S)));
        }
        let e = ureq::Error::Timeout(Timeout::Connect);
        assert!(matches!(
            classify_connect(e, true, true, S),
            ureq::Error::Timeout(_)
        ));
        let e = ureq::Error::Io(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        // A refusal within a cut-short budget is still a refusal.
        assert!(is_unreachable(&classify_connect(e, false, false, S)));
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        fn never(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
            panic!("looked up an IP address")
        }
        let a = resolve_with("127.0.0.1", 8443, S, true, false, never).unwrap();
        assert_eq!(a, ["127.0.0.1:8443".parse().unwrap()]);
        let a = resolve_with("::1", 443, S, true, false, never).unwrap();
        assert_eq!(a, ["[::1]:443".parse().unwrap()]);
    }

    #[test]
    fn lookup_answers_and_failures() {
        fn ok(_: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
            Ok(vec![SocketAddr::from(([192, 0, 2, 1], port))])
        }
        fn none(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
            Ok(vec![])
        }
        fn nxdomain(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
            Err(io::Error::other(
                "failed to lookup address information: Name or service not known",
            ))
        }
        fn local(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
            Err(io::Error::from_raw_os_error(libc::EMFILE))
        }
        let a = resolve_with("svc.example", 9, S, true, false, ok).unwrap();
        assert_eq!(a, ["192.0.2.1:9".parse().unwrap()]);
        assert!(is_unreachable(
            &resolve_with("svc.example", 9, S, true, false, none).unwrap_err()
        ));
        let e = resolve_with("svc.example", 9, S, true, false, nxdomain).unwrap_err();
        assert!(is_unreachable(&e), "{e}");
        assert!(e.to_string().contains("Name or service not known"), "{e}");
        // Once this client had a connection, a failed lookup is not unreachable.
        let e = resolve_with("svc.example", 9, S, true, true, nxdomain).unwrap_err();
        assert!(matches!(e, ureq::Error::Io(_)), "{e}");
        // A local system error is not an answer about the name.
        let e = resolve_with("svc.example", 9, S, true, false, local).unwrap_err();
        assert!(matches!(e, ureq::Error::Io(_)), "{e}");
    }

    static RELEASE: std::sync::Mutex<Option<mpsc::Receiver<()>>> = std::sync::Mutex::new(None);
    static ENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    fn stuck(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        let rx = RELEASE.lock().unwrap().take();
        if let Some(rx) = rx {
            let _ = rx.recv();
        }
        ENDED.store(true, Ordering::SeqCst);
        Err(io::Error::other("too late"))
    }

    #[test]
    fn a_lookup_that_does_not_answer_is_abandoned_and_classed_by_its_budget() {
        // Full budget: unreachable. Cut short: not.
        for full in [true, false] {
            let (tx, rx) = mpsc::channel();
            *RELEASE.lock().unwrap() = Some(rx);
            ENDED.store(false, Ordering::SeqCst);
            let e = resolve_with(
                "slow.example",
                9,
                Duration::from_millis(50),
                full,
                false,
                stuck,
            )
            .unwrap_err();
            if full {
                assert!(is_unreachable(&e), "{e}");
            } else {
                assert!(is_cut_short(&e), "{e}");
            }
            // The abandoned lookup ends on its own once getaddrinfo returns.
            assert!(!ENDED.load(Ordering::SeqCst));
            tx.send(()).unwrap();
            let start = std::time::Instant::now();
            while !ENDED.load(Ordering::SeqCst) {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the lookup never ended"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
