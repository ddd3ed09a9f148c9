//! TLS failures through real libpam: an untrusted CA, a certificate for another name or
//! not for the IP address, an expired one, a server wanting another client certificate,
//! TLS 1.1; each denies as unreachable, and a certificate valid by name lets in.

use std::sync::Arc;

use crate::util::child::{in_child, Case, ChildSetup};
use crate::util::pam::{decision, fast_config, fast_service, AUTHINFO_UNAVAIL, SUCCESS};
use crate::util::tls::{
    emulator_server_cert, first_recipient, http, server_tls, session, FakeServer, Handler,
    OldTlsServer, Pki, Request,
};
use crate::util::{Emulator, TempDir};

#[test]
fn tls_failures_deny_through_pam() {
    let emu = Emulator::start();
    let pki = Pki::new();
    let t = TempDir::new("tls");
    let other_ca = t.write("other-ca.pem", &pki.ca_pem, 0o644);
    let approve: Handler = Arc::new(|req: &Request| {
        let me = first_recipient(req);
        http(200, "", &session("mTls", &[(&me, "APPROVED")]))
    });
    let (echain, ekey) = emulator_server_cert(&emu);
    // The emulator's certificate on 127.0.0.2, which it does not name.
    let wrong_host = FakeServer::start(
        "127.0.0.2:0",
        server_tls(echain.clone(), ekey.clone_key(), None),
        approve.clone(),
    );
    // Names localhost only: fine by name, not by IP address.
    let (c, k) = pki.server(&["localhost"], -1, 30);
    let no_ip_san = FakeServer::start("127.0.0.1:0", server_tls(c, k, None), approve.clone());
    let (c, k) = pki.server(&["127.0.0.1", "localhost"], -30, -1);
    let expired = FakeServer::start("127.0.0.1:0", server_tls(c, k, None), approve.clone());
    // Wants a client certificate from another CA than ours.
    let picky = FakeServer::start(
        "127.0.0.1:0",
        server_tls(echain, ekey, Some(pki.ca_der())),
        approve.clone(),
    );
    let old = OldTlsServer::start(&emu);

    let svc = fast_service(&emu);
    let ca_line = format!("ca_bundle = \"{}/ca.pem\"", emu.dir.path().display());
    let other_ca_line = format!("ca_bundle = \"{}\"", other_ca.display());
    let port = |a: &str| a.rsplit_once(':').unwrap().1.to_owned();
    let setups: Vec<(&str, String, i32, &[&str])> = vec![
        (
            "ht_untrusted",
            svc.replace(&ca_line, &other_ca_line),
            AUTHINFO_UNAVAIL,
            &["TLS", "UnknownIssuer"],
        ),
        (
            "ht_host",
            svc.replace(&emu.addr, &wrong_host.addr),
            AUTHINFO_UNAVAIL,
            &["TLS", "not valid for name"],
        ),
        (
            "ht_ipsan",
            svc.replace(&emu.addr, &no_ip_san.addr)
                .replace(&ca_line, &other_ca_line),
            AUTHINFO_UNAVAIL,
            &["TLS", "not valid for name"],
        ),
        (
            "ht_byname",
            svc.replace(&emu.addr, &format!("localhost:{}", port(&no_ip_san.addr)))
                .replace(&ca_line, &other_ca_line),
            SUCCESS,
            &["decision=approved"],
        ),
        (
            "ht_expired",
            svc.replace(&emu.addr, &expired.addr)
                .replace(&ca_line, &other_ca_line),
            AUTHINFO_UNAVAIL,
            &["TLS", "xpired"],
        ),
        (
            "ht_clientcert",
            svc.replace(&emu.addr, &picky.addr),
            AUTHINFO_UNAVAIL,
            &["decision=unreachable"],
        ),
        (
            "ht_tls11",
            svc.replace(&emu.addr, &old.1),
            AUTHINFO_UNAVAIL,
            &["TLS"],
        ),
    ];
    let child_setups: Vec<ChildSetup> = setups
        .iter()
        .map(|(u, s, _, _)| ChildSetup::new(fast_config(&emu, s, &format!("{u} = \"{u}@x\"")), ""))
        .collect();
    let cases: Vec<Case> = setups
        .iter()
        .enumerate()
        .map(|(i, (u, _, _, _))| Case::new(i, u))
        .collect();
    let out = in_child(&child_setups, &cases, 1, &[]);
    for (i, (u, _, rc, want)) in setups.iter().enumerate() {
        assert_eq!(out[i].rc, *rc, "{u}: {:?}", out[i]);
        assert!(out[i].ms < 3000, "{u}: {}ms", out[i].ms);
        let line = decision(u, want);
        if *rc != SUCCESS {
            assert!(line.contains("decision=unreachable"), "{line}");
        }
    }
    assert!(emu.messages().is_empty());
}
