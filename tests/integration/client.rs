use std::time::{Duration, Instant};

use pam_passbyme::client::{Client, Credentials, Error, Message, MessageType, Status};
use pam_passbyme::config::Config;
use pam_passbyme::connect::{connect, connect_with_credentials};

use crate::util::{other_final_statuses, Emulator, TempDir};

fn client(emu: &Emulator) -> Client {
    connect(&Config::load(&emu.config_path()).unwrap()).unwrap()
}

pub fn auth(to: &str) -> Message {
    Message::authorization(vec![to.to_owned()], 30)
}

/// The emulator's client credentials (as its config names them) and its CA certificates.
pub fn emulator_identity(
    emu: &Emulator,
) -> (Credentials, Vec<rustls_pki_types::CertificateDer<'static>>) {
    let config = Config::load(&emu.config_path()).unwrap();
    let (_, creds) = connect_with_credentials(&config).unwrap();
    let ca = std::fs::read(emu.dir.path().join("ca.pem")).unwrap();
    let roots = pam_passbyme::client::parse_certificates(&ca, "CA").unwrap();
    (creds, roots)
}

/// Tracks until every recipient is final, or panics after `limit`.
fn until_final(c: &Client, id: &str, limit: Duration) -> Vec<(String, Status)> {
    let start = Instant::now();
    loop {
        let s = c.track(id).unwrap();
        if s.info().recipients.iter().all(|r| r.status.is_final()) {
            return s
                .info()
                .recipients
                .iter()
                .map(|r| (r.user_id.clone(), r.status.clone()))
                .collect();
        }
        assert!(
            start.elapsed() < limit,
            "not final after {limit:?}: {:?}",
            s.info()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn send_track_until_approved_on_one_connection() {
    let emu = Emulator::start();
    emu.admin_post("/admin/reset-stats", "");
    let c = client(&emu);
    let mut s = c
        .send(&auth("alice+approve+after=600ms@emulator.test"))
        .unwrap();
    assert_eq!(s.info().recipients[0].status, Status::Pending);
    assert_eq!(s.message_id().len(), 15);
    // The expiration is the send time + availability, as a real timestamp.
    let left = s.info().expiration_date - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::seconds(25) && left <= time::Duration::seconds(30),
        "{left}"
    );
    let mut seen = vec![Status::Pending];
    let start = Instant::now();
    while !s.info().recipients[0].status.is_final() {
        assert!(start.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(50));
        s.refresh().unwrap();
        let st = s.info().recipients[0].status.clone();
        if seen.last() != Some(&st) {
            seen.push(st);
        }
    }
    assert_eq!(
        seen,
        [
            Status::Pending,
            Status::Notified,
            Status::Downloaded,
            Status::Seen,
            Status::Approved
        ]
    );
    let stats = emu.stats();
    assert_eq!(
        stats["handshakes"], 1,
        "one TLS handshake for the whole session: {stats}"
    );
    assert!(stats["requests"].as_u64().unwrap() >= 5, "{stats}");
}

#[test]
fn deny_and_every_final_status() {
    let emu = Emulator::start();
    let c = client(&emu);
    let s = c.send(&auth("bob+deny+after=200ms@x")).unwrap();
    assert_eq!(
        until_final(&c, s.message_id(), Duration::from_secs(5))[0].1,
        Status::Denied
    );
    for name in other_final_statuses()
        .into_iter()
        .chain(["APPROVED".into(), "DENIED".into()])
    {
        let s = c
            .send(&auth(&format!("u+status={name}+after=100ms@x")))
            .unwrap();
        let got = until_final(&c, s.message_id(), Duration::from_secs(5));
        assert_eq!(got[0].1.as_str(), name);
        assert_eq!(got[0].1.is_approved(), name == "APPROVED");
    }
}

#[test]
fn unknown_and_near_miss_statuses_are_never_approval() {
    let emu = Emulator::start();
    let c = client(&emu);
    for (tag, want) in [
        ("status=approved", "approved"),
        ("fault=approved-space", "APPROVED "),
    ] {
        let s = c.send(&auth(&format!("u+{tag}+after=100ms@x"))).unwrap();
        // Track until the emulator reports the near miss (a status this client does not
        // know); every status seen on the way must not be approval either.
        let start = Instant::now();
        let st = loop {
            let t = c.track(s.message_id()).unwrap();
            let st = t.info().recipients[0].status.clone();
            assert!(!st.is_approved() && !st.is_final(), "{tag}: {st:?}");
            if matches!(st, Status::Unknown(_)) {
                break st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{tag}: no near-miss status, last {st:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(st, Status::Unknown(want.into()));
    }
}

#[test]
fn cancel_and_ignore() {
    let emu = Emulator::start();
    let c = client(&emu);
    let mut s = c.send(&auth("carol+ignore@x")).unwrap();
    s.cancel().unwrap();
    assert_eq!(s.info().recipients[0].status, Status::Cancelled);
    assert_eq!(
        emu.message(s.message_id())["recipients"][0]["status"],
        "CANCELLED"
    );
    // A final status stays what it is after a cancel.
    let s = c.send(&auth("dave+approve+after=100ms@x")).unwrap();
    until_final(&c, s.message_id(), Duration::from_secs(3));
    assert_eq!(
        c.cancel(s.message_id()).unwrap().info().recipients[0].status,
        Status::Approved
    );
    // Ignored: expires into the fitting final status at its availability.
    let mut m = auth("erin+ignore@x");
    m.availability = 1;
    let s = c.send(&m).unwrap();
    let got = until_final(&c, s.message_id(), Duration::from_secs(4));
    assert!(
        matches!(
            got[0].1,
            Status::NotNotified | Status::NotDownloaded | Status::NotSeen
        ),
        "{got:?}"
    );
}

#[test]
fn message_types_and_validation() {
    let emu = Emulator::start();
    let c = client(&emu);
    for kind in [
        MessageType::Authorization,
        MessageType::Message,
        MessageType::Esign,
    ] {
        let mut m = auth("x+approve@x");
        m.kind = kind;
        m.subject = Some("s".into());
        m.body = Some("b".into());
        m.callback_url = Some("https://example.invalid/cb".into());
        let s = c.send(&m).unwrap();
        let seen = emu.message(s.message_id());
        assert_eq!(seen["type"], kind.as_str());
        assert_eq!(seen["subject"], "s");
    }
    let before = emu.messages().len();
    assert!(matches!(
        c.send(&Message::authorization(vec![], 5)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.send(&Message::authorization(vec!["a".into()], 0)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(c.track(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        c.cancel("../admin"),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        emu.messages().len(),
        before,
        "nothing was sent for invalid arguments"
    );
    match c.track("NoSuchMessage123") {
        Err(Error::Api {
            code: Some(404), ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

/// Sends to a recipient whose tracks get `fault`, returns the error of the first track.
fn track_fault(c: &Client, fault: &str) -> Error {
    let s = c.send(&auth(&format!("f+fault={fault}+ignore@x"))).unwrap();
    c.track(s.message_id()).expect_err(fault)
}

#[test]
fn every_fault_gives_the_right_error_kind() {
    let emu = Emulator::start();
    let c = client(&emu);
    let check = |fault: &str, ok: &dyn Fn(&Error) -> bool| {
        let e = track_fault(&c, fault);
        assert!(ok(&e), "fault {fault}: got {e:?} ({e})");
    };
    check("500", &|e| matches!(e, Error::Status { status: 500, .. }));
    check("503", &|e| matches!(e, Error::Status { status: 503, .. }));
    check("420:421", &|e| {
        matches!(
            e,
            Error::Api {
                code: Some(421),
                ..
            }
        )
    });
    check(
        "420text",
        &|e| matches!(e, Error::MalformedResponse(m) if m.contains("not JSON")),
    );
    check("429", &|e| matches!(e, Error::Status { status: 429, .. }));
    check(
        "empty",
        &|e| matches!(e, Error::Status { status: 200, body } if body.is_empty()),
    );
    check("reset", &|e| matches!(e, Error::Connection(_)));
    check("badjson", &|e| matches!(e, Error::MalformedResponse(_)));
    check("truncated", &|e| {
        matches!(e, Error::Connection(_) | Error::MalformedResponse(_))
    });
    check(
        "wrongtype",
        &|e| matches!(e, Error::MalformedResponse(m) if m.contains("'recipients' is not an array")),
    );
    check(
        "missingfield",
        &|e| matches!(e, Error::MalformedResponse(m) if m.contains("missing field 'expirationDate'")),
    );
    check(
        "oversize",
        &|e| matches!(e, Error::MalformedResponse(m) if m.contains("larger than 65536")),
    );
    check("redirect", &|e| {
        matches!(e, Error::Status { status: 302, .. })
    });
    check(
        "badid",
        &|e| matches!(e, Error::MalformedResponse(m) if m.contains("characters other than")),
    );
    check(
        "hugeid",
        &|e| matches!(e, Error::MalformedResponse(m) if m.contains("more than 64")),
    );
    // The server answered about another message: never taken as ours.
    let s = c.send(&auth("g+ignore@x")).unwrap();
    let e = c.track(s.message_id()).map(|_| ()).err();
    assert!(e.is_none(), "a normal track works: {e:?}");
    // A status reported for another recipient does not answer for ours.
    let s = c.send(&auth("h+fault=otherrecipient+ignore@x")).unwrap();
    let t = c.track(s.message_id()).unwrap();
    assert_eq!(t.info().status_of("h+fault=otherrecipient+ignore@x"), None);
    assert_eq!(
        t.info().status_of("mallory@emulator.test"),
        Some(&Status::Approved)
    );
    // Faults on send and cancel.
    match c.send(&auth("i+sendfault=420:403@x")) {
        Err(Error::Api {
            code: Some(403), ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let s = c.send(&auth("j+cancelfault=500+ignore@x")).unwrap();
    assert!(matches!(
        c.cancel(s.message_id()),
        Err(Error::Status { status: 500, .. })
    ));
}

#[test]
fn hang_and_drip_end_in_timeouts() {
    let emu = Emulator::start();
    let (creds, roots) = emulator_identity(&emu);
    let c = Client::builder(creds)
        .address(emu.addr.clone())
        .ca_certificates(roots)
        .request_timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    for fault in ["hang", "drip"] {
        let start = Instant::now();
        let e = track_fault(&c, fault);
        let took = start.elapsed();
        assert!(matches!(e, Error::Timeout(_)), "{fault}: {e:?}");
        assert!(
            took < Duration::from_secs(4),
            "{fault} bounded by the request timeout, took {took:?}"
        );
    }
    // A deadline shortens requests too.
    let s = c.send(&auth("k+fault=hang+ignore@x")).unwrap();
    let d = c.with_deadline(Some(Instant::now() + Duration::from_millis(300)));
    let start = Instant::now();
    assert!(matches!(d.track(s.message_id()), Err(Error::Timeout(_))));
    // Well below the 10 s request timeout that would apply without the deadline.
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn tls_failures() {
    let emu = Emulator::start();
    let (creds, roots) = emulator_identity(&emu);
    // The default trust store (the vendor's) does not know the emulator's CA.
    let c = Client::builder(creds.clone())
        .address(emu.addr.clone())
        .build()
        .unwrap();
    match c.send(&auth("x@x")) {
        Err(Error::Tls(m)) => assert!(m.contains("UnknownIssuer"), "{m}"),
        other => panic!("{other:?}"),
    }
    // The server refuses a client certificate its CA did not issue (the vendor's).
    let vendor = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/vendor-test-auth.pem"
    ))
    .unwrap();
    let vendor = Credentials::from_pem(&vendor, &vendor, Some("123456")).unwrap();
    let c = Client::builder(vendor)
        .address(emu.addr.clone())
        .ca_certificates(roots.clone())
        .build()
        .unwrap();
    let e = c.send(&auth("x@x")).unwrap_err();
    // Under TLS 1.3 the refusal comes after the handshake (a broken pipe or a reset): a
    // connection was made, so it is never "unreachable".
    assert!(matches!(e, Error::Tls(_) | Error::Connection(_)), "{e:?}");
    assert!(!e.is_unreachable() && c.has_connected(), "{e:?}");
    // Wrong host name: the certificate names localhost and 127.0.0.1, not 127.0.0.2.
    let port = emu.addr.rsplit_once(':').unwrap().1;
    let c = Client::builder(creds.clone())
        .address(format!("127.0.0.2:{port}"))
        .ca_certificates(roots)
        .build()
        .unwrap();
    match c.send(&auth("x@x")) {
        Err(Error::Tls(m)) => assert!(m.contains("NotValidForName"), "{m}"),
        Err(Error::Unreachable(m)) => assert!(m.contains("ECONNREFUSED"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Nothing listening: refused before any connection, the one "unreachable".
    let c = Client::builder(creds)
        .address("127.0.0.1:1")
        .build()
        .unwrap();
    match c.send(&auth("x@x")) {
        Err(e @ Error::Unreachable(_)) => {
            assert!(e.to_string().contains("ECONNREFUSED"), "{e}");
            assert!(!c.has_connected());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn proxy_variables_are_ignored() {
    // The client never reads *_PROXY: a bogus proxy in the environment changes nothing.
    // (Set for this process only; other tests ignore it for the same reason.)
    std::env::set_var("HTTPS_PROXY", "http://127.0.0.1:1");
    std::env::set_var("ALL_PROXY", "http://127.0.0.1:1");
    let emu = Emulator::start();
    let c = client(&emu);
    let r = c.send(&auth("p+approve@x"));
    std::env::remove_var("HTTPS_PROXY");
    std::env::remove_var("ALL_PROXY");
    r.unwrap();
}

#[test]
fn credentials_errors_are_distinct() {
    let emu = Emulator::start();
    let pem = std::fs::read(emu.dir.path().join("client.pem")).unwrap();
    let pw = std::fs::read_to_string(emu.dir.path().join("client.password")).unwrap();
    let pw = pw.trim_end();
    Credentials::from_pem(&pem, &pem, Some(pw)).unwrap();
    assert!(matches!(
        Credentials::from_pem(&pem, &pem, Some("wrong")),
        Err(Error::WrongPassword)
    ));
    let vendor = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/vendor-test-auth.pem"
    ))
    .unwrap();
    // The emulator's certificate with the vendor's key: a mismatch.
    let e = Credentials::from_pem(&pem, &vendor, Some("123456")).unwrap_err();
    assert!(matches!(e, Error::KeyMismatch), "{e:?}");
    let e = Credentials::from_pem_file(&emu.dir.path().join("nope.pem"), None).unwrap_err();
    assert!(matches!(e, Error::File { .. }), "{e:?}");
    // Key and certificate in separate files, the key unencrypted.
    let t = TempDir::new("creds");
    let out = std::process::Command::new("openssl")
        .args(["pkcs8", "-in"])
        .arg(emu.dir.path().join("client.pem"))
        .args(["-passin", &format!("pass:{pw}"), "-out"])
        .arg(t.path().join("key.pem"))
        .status()
        .unwrap();
    assert!(out.success());
    let c = Credentials::from_files(
        &emu.dir.path().join("client.pem"),
        &t.path().join("key.pem"),
        None,
    )
    .unwrap();
    assert_eq!(c.chain().len(), 2);
}

#[test]
fn host_names_resolve_and_verify() {
    // The server certificate names localhost: a name goes through the inline resolver and
    // the host-name check.
    let emu = Emulator::start();
    let (creds, roots) = emulator_identity(&emu);
    let port = emu.addr.rsplit_once(':').unwrap().1;
    let c = Client::builder(creds.clone())
        .address(format!("localhost:{port}"))
        .ca_certificates(roots)
        .build()
        .unwrap();
    c.send(&auth("n+approve@x")).unwrap();
    // A name that cannot resolve, decided without the network (a label over 63
    // characters never becomes a DNS query).
    let name = format!("{}.invalid", "a".repeat(64));
    let c = Client::builder(creds)
        .address(format!("{name}:443"))
        .build()
        .unwrap();
    let e = c.send(&auth("n@x")).unwrap_err();
    assert!(
        matches!(&e, Error::Unreachable(m) if m.contains("name resolution")),
        "{e:?}"
    );
}

#[test]
fn after_one_connection_nothing_is_unreachable() {
    // A client that has talked to the service once: the service going away later is a
    // connection failure, not "unreachable" (keep-alive reuse and reconnects alike).
    let emu = Emulator::start_with(&["--answer", "approve", "--after", "300ms"]);
    let c = client(&emu);
    let s = c.send(&auth("r+ignore@x")).unwrap();
    assert!(c.has_connected());
    let id = s.message_id().to_owned();
    drop(emu); // the port now refuses
    let e = c.track(&id).unwrap_err();
    assert!(!e.is_unreachable(), "{e:?}");
}

/// A minimal HTTP CONNECT proxy on loopback: tunnels to the requested address, or answers
/// 502 when that refuses. Serves until the test process ends.
fn connect_proxy() -> String {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let Ok(upstream) = TcpStream::connect(&target) else {
                    let _ =
                        client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (mut c1, mut u1) = (client, upstream);
                std::thread::spawn(move || std::io::copy(&mut u2, &mut c2));
                let _ = std::io::copy(&mut c1, &mut u1);
                let _ = u1.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

#[test]
fn a_connect_proxy_is_used_and_only_reaching_it_counts() {
    let emu = Emulator::start();
    let (creds, roots) = emulator_identity(&emu);
    let proxy = connect_proxy();
    let build = |address: &str, proxy: &str| {
        Client::builder(creds.clone())
            .address(address)
            .ca_certificates(roots.clone())
            .proxy(Some(format!("http://{proxy}")))
            .build()
            .unwrap()
    };
    // Through the proxy to the emulator.
    let c = build(&emu.addr, &proxy);
    c.send(&auth("px+approve@x")).unwrap();
    assert!(c.has_connected());
    // The proxy is up, the service behind it refuses: the proxy was reached, so this is
    // not "unreachable".
    let c = build("127.0.0.1:1", &proxy);
    let e = c.send(&auth("px@x")).unwrap_err();
    assert!(!e.is_unreachable() && c.has_connected(), "{e:?}");
    // The proxy itself refuses: nothing could be reached.
    let c = build(&emu.addr, "127.0.0.1:1");
    let e = c.send(&auth("px@x")).unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    // Only HTTP CONNECT proxies.
    let e = Client::builder(creds)
        .proxy(Some("socks5://127.0.0.1:1080".into()))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
}
