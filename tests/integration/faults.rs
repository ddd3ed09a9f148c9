//! Server faults on the send, on a poll and on the cancel, and a hostile server: each
//! ends in the right decision within its bound, with a clear log line, and nothing left
//! pending on the service. Logins run in a child process (`util::child`).

use std::net::TcpListener;
use std::sync::Arc;

use crate::util::child::{in_child, Case, ChildSetup};
use crate::util::pam::{decision, fast_config, fast_service, AUTHINFO_UNAVAIL, AUTH_ERR, MAXTRIES};
use crate::util::tls::{
    emulator_server_cert, first_recipient, http, server_tls, session, FakeServer, Handler, Request,
};
use crate::util::Emulator;

#[test]
fn server_faults_on_the_send() {
    let emu = Emulator::start();
    // A server that accepts the connection and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let faults: &[(&str, i32, &str)] = &[
        ("500", AUTHINFO_UNAVAIL, "HTTP status 500"),
        ("503", AUTHINFO_UNAVAIL, "HTTP status 503"),
        ("429", AUTHINFO_UNAVAIL, "HTTP status 429"),
        ("420:403", AUTH_ERR, "send: PassBy[ME] error code 403"),
        ("420text", AUTH_ERR, "HTTP 420 with a body that is not JSON"),
        ("hang", AUTHINFO_UNAVAIL, "timeout"),
        ("drip", AUTHINFO_UNAVAIL, "timeout"),
        ("reset", AUTHINFO_UNAVAIL, "connection"),
        ("empty", AUTHINFO_UNAVAIL, "empty body"),
        ("badjson", AUTH_ERR, "send: malformed response: not JSON"),
        ("wrongtype", AUTH_ERR, "'recipients' is not an array"),
        ("oversize", AUTH_ERR, "larger than 65536"),
        ("redirect", AUTHINFO_UNAVAIL, "HTTP status 302"),
        ("badid", AUTH_ERR, "characters other than"),
        ("hugeid", AUTH_ERR, "more than 64"),
    ];
    let mut users = String::new();
    let mut cases = Vec::new();
    for (i, (f, _, _)) in faults.iter().enumerate() {
        users.push_str(&format!("hs{i} = \"hs{i}+sendfault={f}+ignore@x\"\n"));
        cases.push(Case::new(0, &format!("hs{i}")));
    }
    let service = fast_service(&emu);
    let refused = service.replace(&emu.addr, "127.0.0.1:1");
    let mute = service.replace(&emu.addr, &silent_addr);
    let setups = [
        ChildSetup::new(fast_config(&emu, &service, &users), ""),
        ChildSetup::new(fast_config(&emu, &refused, "hs_refused = \"r@x\""), ""),
        ChildSetup::new(fast_config(&emu, &mute, "hs_mute = \"m@x\""), ""),
    ];
    cases.push(Case::new(1, "hs_refused"));
    cases.push(Case::new(2, "hs_mute"));
    let out = in_child(&setups, &cases, 1, &[]);
    for (i, (f, rc, want)) in faults.iter().enumerate() {
        assert_eq!(out[i].rc, *rc, "sendfault={f}: {:?}", out[i]);
        assert!(out[i].ms < 3000, "sendfault={f} bounded: {}ms", out[i].ms);
        let word = if *rc == AUTH_ERR {
            "decision=error"
        } else {
            "decision=unreachable"
        };
        decision(&format!("hs{i}"), &[word, want]);
    }
    let n = faults.len();
    assert_eq!(out[n].rc, AUTHINFO_UNAVAIL);
    decision("hs_refused", &["decision=unreachable", "connection"]);
    assert_eq!(out[n + 1].rc, AUTHINFO_UNAVAIL);
    assert!(out[n + 1].ms < 3000, "a mute server: {}ms", out[n + 1].ms);
    decision("hs_mute", &["decision=unreachable", "timeout"]);
    // The emulator creates the message even when it answers the send with a fault: the
    // module never learnt its id, so it cannot cancel it. It stays no longer than the login.
    for m in emu.open_messages() {
        let id = m["recipients"][0]["userId"].as_str().unwrap();
        assert!(id.contains("+sendfault="), "left open: {m}");
        assert!(m["availability"].as_u64().unwrap() <= 5, "{m}");
    }
    drop(silent);
}

#[test]
fn server_faults_on_a_poll() {
    let emu = Emulator::start();
    let faults: &[(&str, &str)] = &[
        ("500", "HTTP status 500"),
        ("503", "HTTP status 503"),
        ("420:421", "PassBy[ME] error code 421"),
        ("420text", "not JSON"),
        ("429", "HTTP status 429"),
        ("empty", "empty body"),
        ("badjson", "not JSON"),
        ("truncated", "poll:"),
        ("wrongtype", "'recipients' is not an array"),
        ("missingfield", "missing field 'expirationDate'"),
        ("oversize", "larger than 65536"),
        ("redirect", "HTTP status 302"),
        ("badid", "characters other than"),
        ("hugeid", "more than 64"),
        ("reset", "connection"),
        ("hang", "timeout"),
        ("drip", "timeout"),
    ];
    let mut users = String::new();
    let mut cases = Vec::new();
    for (i, (f, _)) in faults.iter().enumerate() {
        users.push_str(&format!("hp{i} = \"hp{i}+fault={f}+ignore@x\"\n"));
        cases.push(Case::new(0, &format!("hp{i}")));
    }
    let setups = [ChildSetup::new(
        fast_config(&emu, &fast_service(&emu), &users),
        "",
    )];
    let out = in_child(&setups, &cases, 1, &[]);
    for (i, (f, want)) in faults.iter().enumerate() {
        assert_eq!(out[i].rc, AUTH_ERR, "fault={f}: {:?}", out[i]);
        // Three tries at most, each bounded by the request timeout (1s): far below the
        // 5s login timeout, whatever Retry-After says.
        assert!(out[i].ms < 4500, "fault={f}: {}ms", out[i].ms);
        decision(
            &format!("hp{i}"),
            &["decision=error", "poll:", want, "settled=cancelled"],
        );
        assert_eq!(
            emu.status_for(&format!("hp{i}+fault={f}+ignore@x"))
                .as_deref(),
            Some("CANCELLED"),
            "fault={f}"
        );
    }
    assert!(emu.open_messages().is_empty(), "{:?}", emu.open_messages());
}

#[test]
fn a_failing_cancel_is_logged_and_bounded() {
    let emu = Emulator::start();
    let faults = ["500", "420:500", "hang", "reset"];
    let mut users = String::new();
    let mut cases = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        users.push_str(&format!("hc{i} = \"hc{i}+cancelfault={f}+ignore@x\"\n"));
        cases.push(Case::new(0, &format!("hc{i}")));
    }
    let setups = [ChildSetup::new(
        fast_config(&emu, &fast_service(&emu), &users),
        "",
    )];
    let out = in_child(&setups, &cases, 1, &[]);
    for (i, f) in faults.iter().enumerate() {
        assert_eq!(out[i].rc, MAXTRIES, "cancelfault={f}");
        // 5s login timeout, then a cancel bounded by the request timeout (1s).
        assert!(
            out[i].ms >= 5000 && out[i].ms < 7500,
            "cancelfault={f}: {}ms",
            out[i].ms
        );
        decision(
            &format!("hc{i}"),
            &["decision=timeout", "settled=cancel-failed:"],
        );
    }
    // The emulator carried the cancel out even when it answered it badly.
    assert!(emu.open_messages().is_empty(), "{:?}", emu.open_messages());
}

#[test]
fn a_hostile_server_never_approves_and_its_text_never_reaches_the_log_raw() {
    let emu = Emulator::start();
    let (chain, key) = emulator_server_cert(&emu);
    let handler: Handler = Arc::new(|req: &Request| {
        let tag = if req.method == "POST" {
            first_recipient(req)
                .split('@')
                .next()
                .unwrap_or("")
                .to_owned()
        } else {
            req.path
                .rsplit('/')
                .next()
                .unwrap_or("")
                .trim_start_matches('m')
                .to_owned()
        };
        let me = format!("{tag}@x");
        let id = format!("m{tag}");
        match (req.method.as_str(), tag.as_str()) {
            // Answers about another message, approved.
            ("POST", "other") => http(200, "", &session(&id, &[(&me, "PENDING")])),
            ("GET", "other") => http(200, "", &session("mSomethingElse", &[(&me, "APPROVED")])),
            // An empty message id on the send.
            ("POST", "emptyid") => http(200, "", &session("", &[(&me, "PENDING")])),
            // Statuses with terminal escapes, approval-like but not exact.
            ("POST", "escstatus") => http(200, "", &session(&id, &[(&me, "PENDING")])),
            ("GET", "escstatus") => http(
                200,
                "",
                &session(&id, &[(&me, "\u{1b}]0;pwned\u{7}APPROVED\u{1b}[0m")]),
            ),
            // An error body full of escapes.
            ("POST", "err500") => http(500, "", b"\x1b]0;pwned\x07\x1b[2J<boom>\r\nX: y"),
            // An error text that closes the quotes and writes fields of its own.
            ("POST", "forge") => http(
                500,
                "",
                br#"" decision=approved user=root settled=final x=""#,
            ),
            ("POST", "err420") => http(
                420,
                "",
                br#"{"message": "\u001b[2J\u001b]0;pwned\u0007 try again"}"#,
            ),
            // 429 with a Retry-After of 136 years, on every poll.
            ("POST", "retry") => http(200, "", &session(&id, &[(&me, "PENDING")])),
            ("GET", "retry") => http(429, "Retry-After: 4294967295\r\n", b""),
            // A body shorter than announced, then the connection closes.
            ("POST", "short") => {
                let mut v = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
                v.extend_from_slice(&session(&id, &[(&me, "APPROVED")]));
                v
            }
            // A redirect elsewhere (plain http).
            ("POST", "redir") => http(307, "Location: http://127.0.0.1:1/x\r\n", b""),
            // Headers of 300 KiB.
            ("POST", "bighead") => {
                let pad = format!("X-Pad: {}\r\n", "a".repeat(300 * 1024));
                http(200, &pad, &session(&id, &[(&me, "APPROVED")]))
            }
            // JSON nested 30 000 deep (a stack-overflow attempt on the decoder).
            ("POST", "deep") => http(200, "", "[".repeat(30_000).as_bytes()),
            // Our ID listed twice, approved and denied.
            ("POST", "dup") => http(200, "", &session(&id, &[(&me, "PENDING")])),
            ("GET", "dup") => http(
                200,
                "",
                &session(&id, &[(&me, "APPROVED"), (&me, "DENIED")]),
            ),
            ("DELETE", _) => http(200, "", &session(&id, &[(&me, "CANCELLED")])),
            _ => http(404, "", b""),
        }
    });
    let fake = FakeServer::start("127.0.0.1:0", server_tls(chain, key, None), handler);
    let service = fast_service(&emu).replace(&emu.addr, &fake.addr);
    let tags: &[(&str, i32, &[&str])] = &[
        (
            "other",
            AUTH_ERR,
            &["decision=error", "the answer is about mSomethingElse"],
        ),
        ("emptyid", AUTH_ERR, &["decision=error", "empty message id"]),
        ("escstatus", MAXTRIES, &["decision=timeout"]),
        (
            "err500",
            AUTHINFO_UNAVAIL,
            &[
                "decision=unreachable",
                "HTTP status 500: ?]0;pwned??[2J<boom>??X: y",
            ],
        ),
        (
            "forge",
            AUTHINFO_UNAVAIL,
            &[
                "decision=unreachable",
                "HTTP status 500: ' decision=approved user=root settled=final x='",
            ],
        ),
        (
            "err420",
            AUTH_ERR,
            &["decision=error", "PassBy[ME] error without a code"],
        ),
        ("retry", AUTH_ERR, &["decision=error", "HTTP status 429"]),
        ("short", AUTHINFO_UNAVAIL, &["decision=unreachable"]),
        (
            "redir",
            AUTHINFO_UNAVAIL,
            &["decision=unreachable", "HTTP status 307"],
        ),
        ("bighead", AUTHINFO_UNAVAIL, &["decision=unreachable"]),
        ("deep", AUTH_ERR, &["decision=error", "recursion limit"]),
        ("dup", MAXTRIES, &["decision=refused", "status=DENIED"]),
    ];
    let users: String = tags
        .iter()
        .map(|(t, _, _)| format!("hh_{t} = \"{t}@x\"\n"))
        .collect();
    let setups = [ChildSetup::new(fast_config(&emu, &service, &users), "")];
    let cases: Vec<Case> = tags
        .iter()
        .map(|(t, _, _)| Case::new(0, &format!("hh_{t}")))
        .collect();
    let out = in_child(&setups, &cases, 1, &[]);
    for (i, (t, rc, want)) in tags.iter().enumerate() {
        assert_eq!(out[i].rc, *rc, "{t}: {:?}", out[i]);
        let limit = if *t == "escstatus" { 6500 } else { 3000 };
        assert!(out[i].ms < limit, "{t}: {}ms", out[i].ms);
        decision(&format!("hh_{t}"), want);
    }
    // The forged fields stay inside the one quoted value: a reader that splits the line on
    // its quotes finds a single decision, of the real user.
    let forged = crate::util::syslog().line_with("user=hh_forge ");
    let outside: String = forged.split('"').step_by(2).collect();
    assert_eq!(outside.matches("decision=").count(), 1, "{forged}");
    assert!(!outside.contains("user=root"), "{forged}");
    // Every message this login knew and left open was cancelled at the fake server.
    let reqs = fake.requests();
    for t in ["other", "escstatus", "retry"] {
        assert!(
            reqs.contains(&format!("DELETE /frontend/messages/m{t}")),
            "{t}: {reqs:?}"
        );
    }
}
