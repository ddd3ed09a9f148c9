//! The client leaving while the module polls: the module finds the connection to the
//! login's remote host among the process's descriptors (sshd's PAM process inherits it)
//! and cancels the push as soon as the peer shuts it down. Through real libpam, with a
//! real loopback TCP connection standing in for sshd's client socket (the e2e suite does
//! it with real sshd and ssh). Each test uses a loopback address of its own, so no other
//! test's connections can look like the client.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use crate::util::pam::{assert_clean, config, decision, Setup, AUTH_ERR, SUCCESS};
use crate::util::{eventually, syslog, Emulator};

/// A connection whose far end (the "client") the test holds: `near` is what the PAM
/// process holds (its peer address is `addr`), `far` is the client's side.
struct Client {
    near: TcpStream,
    far: TcpStream,
}

fn connection(addr: &str) -> Client {
    let listener = TcpListener::bind(format!("{addr}:0")).unwrap();
    let near = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (far, _) = listener.accept().unwrap();
    Client { near, far }
}

/// Waits until the module has polled `id`'s message once: it is in its wait loop.
fn polling(emu: &Emulator, id: &str) {
    eventually(Duration::from_secs(10), "the module to poll", || {
        emu.messages().iter().any(|m| {
            m["recipients"][0]["userId"] == id && m["requests"]["track"].as_u64() >= Some(1)
        })
    });
}

fn login(s: &Setup, user: &str, rhost: &str) -> i32 {
    s.login_with(
        user,
        Some(rhost.as_bytes()),
        Box::new(|_, _| Ok(Some(String::new()))),
    )
    .0
}

#[test]
fn a_client_that_leaves_while_polling_cancels_the_push() {
    let emu = Emulator::start();
    let id = "pg_gone+ignore@x";
    let s = Setup::new(
        &config(
            &emu,
            "prompt = \"none\"\ntimeout = \"30s\"",
            &format!("pg_gone = \"{id}\""),
        ),
        "debug",
    );
    let c = connection("127.0.77.1");
    // Data the client sent that nobody reads (as with sshd while the module polls) does
    // not count as leaving.
    let mut far = c.far.try_clone().unwrap();
    far.write_all(b"SSH-2.0-keepalive\r\n").unwrap();
    let far = far;
    let rc = std::thread::scope(|scope| {
        scope.spawn(|| {
            polling(&emu, id);
            far.shutdown(Shutdown::Both).unwrap();
        });
        login(&s, "pg_gone", "127.0.77.1")
    });
    assert_eq!(rc, AUTH_ERR);
    // The decision line (with `debug` the module also logs what it watches, first).
    let line = syslog().line_with("decision=client-gone user=pg_gone ");
    assert_clean(&line);
    for want in [
        "peer=127.0.77.1",
        "reason=\"the client closed its connection\"",
        "settled=cancelled",
    ] {
        assert!(line.contains(want), "want {want:?} in {line}");
    }
    syslog().line_with("watching the client's connection from 127.0.77.1 while waiting");
    assert!(line.contains("duration="), "{line}");
    assert_eq!(emu.status_for(id).as_deref(), Some("CANCELLED"));
    drop(c.near);
}

#[test]
fn unread_data_and_a_live_client_change_nothing() {
    let emu = Emulator::start();
    let id = "pg_stay+approve+after=700ms@x";
    let s = Setup::new(
        &config(&emu, "prompt = \"none\"", &format!("pg_stay = \"{id}\"")),
        "",
    );
    let c = connection("127.0.77.2");
    let mut far = c.far.try_clone().unwrap();
    far.write_all(&[0u8; 4096]).unwrap();
    assert_eq!(login(&s, "pg_stay", "127.0.77.2"), SUCCESS);
    decision("pg_stay", &["decision=approved"]);
    drop(c);
}

#[test]
fn two_connections_to_the_remote_host_are_not_guessed_between() {
    // Two sockets whose peer is the remote host: the module cannot tell which is the
    // client's, so it watches neither; one of them closing ends nothing, and the phone's
    // approval lets the login in.
    let emu = Emulator::start();
    let id = "pg_two+approve+after=1500ms@x";
    let s = Setup::new(
        &config(&emu, "prompt = \"none\"", &format!("pg_two = \"{id}\"")),
        "",
    );
    let a = connection("127.0.77.3");
    let b = connection("127.0.77.3");
    let far = a.far.try_clone().unwrap();
    let rc = std::thread::scope(|scope| {
        scope.spawn(|| {
            polling(&emu, id);
            far.shutdown(Shutdown::Both).unwrap();
        });
        login(&s, "pg_two", "127.0.77.3")
    });
    assert_eq!(rc, SUCCESS);
    decision("pg_two", &["decision=approved"]);
    drop((a, b));
}
