//! A proxy that asks for credentials: Debian's tinyproxy with Basic authentication, on
//! loopback, in front of the emulator. The right credentials connect (in the URL, or the
//! user in the URL and the password in a root-only file); wrong ones are a clear error that
//! never counts as "unreachable" (so never a fail-open); the password reaches no output
//! and no log line.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use pam_passbyme::client::{Client, Error};

use crate::util::pam::{assert_clean, Setup, AUTHINFO_UNAVAIL, SUCCESS};
use crate::util::{passbyme, syslog, Emulator, TempDir};

const USER: &str = "pbmproxy";
/// tinyproxy's configuration grammar takes letters and digits only for a password.
const PASSWORD: &str = "Pr0xyS3cretPw";
const WRONG: &str = "N0tThePassword";

/// A tinyproxy that wants `USER`/`PASSWORD`, on a free loopback port; killed on drop.
struct Tinyproxy {
    child: Child,
    addr: String,
    _dir: TempDir,
}

impl Tinyproxy {
    fn start() -> Tinyproxy {
        let dir = TempDir::new("tinyproxy");
        // tinyproxy has no "port 0": a port the kernel just handed out, then tinyproxy's
        // own "Accepting connections" as the sign that it listens. A port taken in between
        // makes tinyproxy exit, and the next try takes another.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let conf = dir.write(
                "tinyproxy.conf",
                &format!(
                    "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Info\n\
                     BasicAuth {USER} {PASSWORD}\nAllow 127.0.0.1\n"
                ),
                0o600,
            );
            let mut child = Command::new("tinyproxy")
                .args(["-d", "-c"])
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("tinyproxy (Debian package tinyproxy-bin; tests/run.sh installs it)");
            let (tx, rx) = mpsc::channel();
            // tinyproxy -d logs to its stdout; read to the end, so it never blocks on a full pipe.
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("Accepting connections") {
                        let _ = tx.send(());
                    }
                }
            });
            if rx.recv_timeout(Duration::from_secs(20)).is_ok() {
                return Tinyproxy {
                    child,
                    addr: format!("127.0.0.1:{port}"),
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("tinyproxy did not start");
    }

    fn url(&self, user: &str, password: Option<&str>) -> String {
        match password {
            Some(p) => format!("http://{user}:{p}@{}", self.addr),
            None => format!("http://{user}@{}", self.addr),
        }
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(emu: &Emulator, proxy: String, password: Option<&str>) -> Client {
    let (creds, roots) = crate::client::emulator_identity(emu);
    Client::builder(creds)
        .address(&emu.addr)
        .ca_certificates(roots)
        .proxy(Some(proxy))
        .proxy_password(password.map(str::to_owned))
        .build()
        .unwrap()
}

#[test]
fn the_client_through_an_authenticating_proxy() {
    let emu = Emulator::start();
    let tp = Tinyproxy::start();
    let auth = crate::client::auth;

    // Credentials in the URL.
    let c = client(&emu, tp.url(USER, Some(PASSWORD)), None);
    let s = c.send(&auth("px1+approve@x")).unwrap();
    assert_eq!(
        emu.message(s.message_id())["recipients"][0]["userId"],
        "px1+approve@x"
    );

    // The user in the URL, the password apart.
    let c = client(&emu, tp.url(USER, None), Some(PASSWORD));
    c.send(&auth("px2+approve@x")).unwrap();

    // Wrong password, wrong user, none at all: the proxy answers 407. It was reached, so
    // this is never "unreachable" (no fail-open), and the error says what to fix without
    // showing the password.
    for (url, apart) in [
        (tp.url(USER, Some(WRONG)), None),
        (tp.url("someoneelse", Some(PASSWORD)), None),
        (tp.url(USER, None), Some(WRONG)),
        (format!("http://{}", tp.addr), None),
    ] {
        let c = client(&emu, url.clone(), apart);
        let e = c.send(&auth("px3@x")).unwrap_err();
        assert!(matches!(e, Error::Connection(_)), "{url}: {e:?}");
        assert!(!e.is_unreachable() && c.has_connected(), "{url}: {e:?}");
        let text = e.to_string();
        assert!(
            text.contains("the proxy refused its credentials")
                && (text.contains("responded 401/") || text.contains("responded 407/")),
            "{url}: {text}"
        );
        assert!(!text.contains(PASSWORD) && !text.contains(WRONG), "{text}");
    }
    assert!(
        emu.messages()
            .iter()
            .all(|m| m["recipients"][0]["userId"] != "px3@x"),
        "nothing got through with wrong credentials"
    );

    // A password given twice, or with no user to go with it, is refused before anything
    // is sent, and the refusal hides the password.
    let (creds, _) = crate::client::emulator_identity(&emu);
    for (url, apart) in [
        (tp.url(USER, Some(PASSWORD)), Some(WRONG)),
        (format!("http://{}", tp.addr), Some(WRONG)),
    ] {
        let e = Client::builder(creds.clone())
            .proxy(Some(url))
            .proxy_password(apart.map(str::to_owned))
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        let text = e.to_string();
        assert!(!text.contains(PASSWORD) && !text.contains(WRONG), "{text}");
    }
}

/// The emulator's config with `proxy` (and its extra lines) in `[service]`.
fn proxied_config(emu: &Emulator, proxy_lines: &str, users: &str) -> String {
    let users = if users.is_empty() {
        "someone = \"someone@x\""
    } else {
        users
    };
    let service = emu.service_table();
    format!(
        "{service}{proxy_lines}\n{}[login]\nprompt = \"none\"\npoll_interval = \"100ms\"\n[users]\n{users}\n",
        emu.limits_table("max_pushes = 1000\nlockout_after = 0")
    )
}

fn no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD) && !text.contains(WRONG),
        "{what} shows a proxy password: {text}"
    );
}

#[test]
fn check_connects_through_the_proxy_and_never_shows_its_password() {
    let emu = Emulator::start();
    let tp = Tinyproxy::start();
    let dir = TempDir::new("proxy-check");

    // In the URL, config 0600: OK, and the password shown as (hidden).
    let inline = proxied_config(
        &emu,
        &format!("proxy = \"{}\"", tp.url(USER, Some(PASSWORD))),
        "",
    );
    let cfg = dir.write("inline.toml", &inline, 0o600);
    let (rc, out, err) = passbyme(&["check", "--connect", "--config", cfg.to_str().unwrap()]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "service.proxy = http://{USER}:(hidden)@{}",
            tp.addr
        )),
        "{out}"
    );
    no_secret("check", &(out.clone() + &err));

    // The same file readable by others: refused, naming why, without the password.
    let cfg = dir.write("inline-0644.toml", &inline, 0o644);
    let (rc, out, err) = passbyme(&["check", "--connect", "--config", cfg.to_str().unwrap()]);
    assert_eq!(rc, 2, "{out}{err}");
    assert!(
        (out.clone() + &err).contains("it holds the proxy's password in service.proxy"),
        "{out}{err}"
    );
    no_secret("check", &(out + &err));

    // The password in a root-only file.
    let pw = dir.write("proxy.password", &format!("{PASSWORD}\n"), 0o600);
    let apart = proxied_config(
        &emu,
        &format!(
            "proxy = \"{}\"\nproxy_password_file = \"{}\"",
            tp.url(USER, None),
            pw.display()
        ),
        "",
    );
    let cfg = dir.write("apart.toml", &apart, 0o600);
    let (rc, out, err) = passbyme(&["check", "--connect", "--config", cfg.to_str().unwrap()]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "service.proxy = http://{USER}@{} (password from {})",
            tp.addr,
            pw.display()
        )),
        "{out}"
    );
    no_secret("check", &(out + &err));

    // That file readable by others: CRITICAL, named.
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (rc, out, err) = passbyme(&["check", "--connect", "--config", cfg.to_str().unwrap()]);
    assert_eq!(rc, 2, "{out}{err}");
    assert!(out.contains(&pw.display().to_string()), "{out}");
    no_secret("check", &(out + &err));

    // The wrong password: CRITICAL, saying what to fix.
    let wrong = proxied_config(
        &emu,
        &format!("proxy = \"{}\"", tp.url(USER, Some(WRONG))),
        "",
    );
    let cfg = dir.write("wrong.toml", &wrong, 0o600);
    let (rc, out, err) = passbyme(&["check", "--connect", "--config", cfg.to_str().unwrap()]);
    assert_eq!(rc, 2, "{out}{err}");
    assert!(out.contains("the proxy refused its credentials"), "{out}");
    no_secret("check", &(out + &err));

    // Settings that cannot work are refused with the key named.
    for (lines, want) in [
        (
            format!("proxy_password_file = \"{}\"", pw.display()),
            "service.proxy_password_file is set but service.proxy is not",
        ),
        (
            format!(
                "proxy = \"{}\"\nproxy_password_file = \"{}\"",
                tp.url(USER, Some(PASSWORD)),
                pw.display()
            ),
            "give the password in one place",
        ),
        (
            format!(
                "proxy = \"http://{}\"\nproxy_password_file = \"{}\"",
                tp.addr,
                pw.display()
            ),
            "needs the proxy's user in service.proxy",
        ),
        (
            format!("proxy = \"socks5://{USER}:{PASSWORD}@{}\"", tp.addr),
            "must start with http://",
        ),
    ] {
        let cfg = dir.write("bad.toml", &proxied_config(&emu, &lines, ""), 0o600);
        let (rc, out, err) = passbyme(&["check", "--config", cfg.to_str().unwrap()]);
        assert_eq!(rc, 2, "{lines}: {out}{err}");
        assert!(
            (out.clone() + &err).contains(want),
            "{lines}: want {want:?} in {out}{err}"
        );
        no_secret("check", &(out + &err));
    }
}

#[test]
fn logins_through_the_proxy_and_wrong_credentials_never_fail_open() {
    let emu = Emulator::start();
    let tp = Tinyproxy::start();
    let users = "pxok = \"pxok+approve+after=200ms@x\"\npxbad = \"pxbad+approve@x\"";

    // The right credentials: approved through the proxy; the debug line shows the proxy
    // with its password hidden.
    let good = format!(
        "{}[policy]\nunreachable = \"allow\"\n",
        proxied_config(
            &emu,
            &format!("proxy = \"{}\"", tp.url(USER, Some(PASSWORD))),
            users
        )
    );
    let s = Setup::new(&good, "debug");
    assert_eq!(s.login("pxok").0, SUCCESS);
    assert_clean(&syslog().line_with("decision=approved user=pxok "));

    // The wrong password, with fail-open chosen for an unreachable service: the proxy was
    // reached and refused, so the login is refused, and no push was sent.
    let bad = good.replace(PASSWORD, WRONG);
    let s = Setup::new(&bad, "debug");
    let (rc, _) = s.login("pxbad");
    assert_ne!(
        rc, SUCCESS,
        "wrong proxy credentials must never let the login through"
    );
    assert_eq!(rc, AUTHINFO_UNAVAIL);
    let line = syslog().line_with("decision=unreachable user=pxbad ");
    assert!(line.contains("the proxy refused its credentials"), "{line}");
    assert!(!line.contains("decision=fail-open"), "{line}");
    assert_eq!(emu.status_for("pxbad+approve@x"), None, "no push was sent");

    // Nothing the module logged holds either password.
    for line in syslog().lines() {
        no_secret("syslog", &line);
    }
    assert!(
        syslog()
            .lines()
            .iter()
            .any(|l| l.contains(&format!("http://{USER}:(hidden)@{}", tp.addr))),
        "the debug settings line shows the proxy, password hidden"
    );
}
