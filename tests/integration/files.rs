//! The file rules: every unsafe or broken config, credentials, password or CA file (and
//! the directories above them) denies with the culprit named and no push; a config
//! rewritten during logins gives one of its versions or fails closed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::pam::{
    decision, fast_config, fast_service, Setup, MAXTRIES, SERVICE_ERR, SUCCESS, USER_UNKNOWN,
};
use crate::util::{make_dir, make_fifo, nss_user, syslog, write_file, Emulator};

#[test]
fn every_file_rule_denies_with_the_culprit_named() {
    let emu = Emulator::start();
    syslog();
    let d = emu.dir.path();
    let pw = std::fs::read_to_string(d.join("client.password")).unwrap();
    let pem = std::fs::read_to_string(d.join("client.pem")).unwrap();
    let ca = std::fs::read_to_string(d.join("ca.pem")).unwrap();
    let vendor = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/vendor-test-auth.pem"
    ))
    .unwrap();
    type Prep = Box<dyn Fn(&Path)>;
    let mode = |name: &'static str, m: u32| -> Prep {
        Box::new(move |dir: &Path| {
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(m)).unwrap()
        })
    };
    let owner = |name: &'static str| -> Prep {
        Box::new(move |dir: &Path| {
            std::os::unix::fs::chown(dir.join(name), Some(65534), Some(65534)).unwrap()
        })
    };
    let fifo =
        |name: &'static str| -> Prep { Box::new(move |dir: &Path| make_fifo(&dir.join(name))) };
    let dir_ =
        |name: &'static str| -> Prep { Box::new(move |dir: &Path| make_dir(&dir.join(name))) };
    let content = |name: &'static str, c: Vec<u8>| -> Prep {
        Box::new(move |dir: &Path| std::fs::write(dir.join(name), &c).unwrap())
    };
    let link = |name: &'static str| -> Prep {
        Box::new(move |dir: &Path| {
            let real = dir.join(format!("{name}.real"));
            std::fs::rename(dir.join(name), &real).unwrap();
            std::os::unix::fs::symlink(&real, dir.join(name)).unwrap();
        })
    };
    let big_config = {
        let mut c = b"# padding\n".to_vec();
        c.extend(std::iter::repeat_n(b'#', 70 * 1024));
        c
    };
    let cases: Vec<(&str, Prep, &str)> = vec![
        (
            "hf_cfg_gw",
            mode("passbyme.toml", 0o620),
            "is writable by group or others (mode 0620",
        ),
        (
            "hf_cfg_ow",
            mode("passbyme.toml", 0o602),
            "is writable by group or others (mode 0602",
        ),
        (
            "hf_cfg_owner",
            owner("passbyme.toml"),
            "is owned by uid 65534, not by root",
        ),
        (
            "hf_cfg_link",
            link("passbyme.toml"),
            "is a symbolic link (refused)",
        ),
        (
            "hf_cfg_fifo",
            fifo("passbyme.toml"),
            "is not a regular file (refused)",
        ),
        (
            "hf_cfg_dir",
            dir_("passbyme.toml"),
            "is not a regular file (refused)",
        ),
        (
            "hf_cfg_empty",
            content("passbyme.toml", vec![]),
            "missing table [service]",
        ),
        (
            "hf_cfg_big",
            content("passbyme.toml", big_config),
            "is larger than 65536 bytes",
        ),
        (
            "hf_cfg_utf8",
            content("passbyme.toml", b"\xff\xfe[service]\n".to_vec()),
            "is not UTF-8 text",
        ),
        (
            "hf_cred_mode",
            mode("client.pem", 0o640),
            "holds a secret but is readable by group or others (mode 0640",
        ),
        (
            "hf_cred_owner",
            owner("client.pem"),
            "client.pem: is owned by uid 65534",
        ),
        (
            "hf_cred_link",
            link("client.pem"),
            "client.pem: is a symbolic link (refused)",
        ),
        (
            "hf_cred_fifo",
            fifo("client.pem"),
            "client.pem: is not a regular file (refused)",
        ),
        (
            "hf_cred_dir",
            dir_("client.pem"),
            "client.pem: is not a regular file (refused)",
        ),
        (
            "hf_cred_empty",
            content("client.pem", vec![]),
            "no CERTIFICATE block",
        ),
        (
            "hf_cred_big",
            content("client.pem", vec![b'A'; 1024 * 1024 + 1]),
            "is larger than 1048576 bytes",
        ),
        (
            "hf_cred_junk",
            content(
                "client.pem",
                b"\x00\xff-----BEGIN CERTIFICATE-----\n\xff".to_vec(),
            ),
            "credentials",
        ),
        (
            "hf_pw_mode",
            mode("client.password", 0o644),
            "client.password: holds a secret",
        ),
        (
            "hf_pw_fifo",
            fifo("client.password"),
            "client.password: is not a regular file",
        ),
        (
            "hf_pw_empty",
            content("client.password", vec![]),
            "the password does not decrypt the private key",
        ),
        (
            "hf_pw_wrong",
            content("client.password", b"wrong\n".to_vec()),
            "the password does not decrypt the private key",
        ),
        (
            "hf_ca_mode",
            mode("ca.pem", 0o666),
            "ca.pem: is writable by group or others",
        ),
        (
            "hf_ca_empty",
            content("ca.pem", vec![]),
            "no CERTIFICATE block",
        ),
        ("hf_ca_dir", dir_("ca.pem"), "ca.pem: is not a regular file"),
        // The directories above the files, as sshd's StrictModes checks them.
        (
            "hf_dir_gw",
            mode(".", 0o770),
            "is writable by group or others (mode 0770",
        ),
        (
            "hf_dir_ow",
            mode(".", 0o703),
            "is writable by group or others (mode 0703",
        ),
        (
            "hf_dir_owner",
            owner("."),
            "is owned by uid 65534, not by root",
        ),
    ];
    // A setup for `user` with its own copies of the emulator's files next to its config.
    let own_files = |user: &str| -> Setup {
        nss_user(user);
        let s = Setup::new("", "");
        let dir = s.dir.path();
        let text = fast_config(&emu, &fast_service(&emu), &format!("{user} = \"{user}@x\""))
            .replace(&d.display().to_string(), &dir.display().to_string());
        std::fs::write(&s.config, text).unwrap();
        for (name, body, m) in [
            ("client.pem", &pem, 0o600),
            ("client.password", &pw, 0o600),
            ("ca.pem", &ca, 0o644),
        ] {
            write_file(dir, name, body.as_bytes(), m);
        }
        s
    };
    for (user, prep, want) in cases {
        let s = own_files(user);
        prep(s.dir.path());
        let start = Instant::now();
        let (rc, conv) = s.login(user);
        assert_eq!(rc, SERVICE_ERR, "{user}");
        assert!(conv.is_empty(), "{user}: {conv:?}");
        assert!(start.elapsed() < Duration::from_secs(20), "{user}: no hang");
        let line = decision(user, &["decision=error", want]);
        assert!(line.starts_with("<81>"), "authpriv.alert: {line}");
    }
    // The other side of the directory rule: a root-owned sticky directory (as /tmp) is
    // safe, others cannot rename or remove root's files in it.
    {
        let s = own_files("hf_dir_sticky");
        std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(s.login("hf_dir_sticky").0, SUCCESS);
    }
    // A key that is not the certificate's (the vendor's key with the emulator's chain).
    let s = Setup::new("", "");
    let dir = s.dir.path();
    write_file(dir, "client.pem", pem.as_bytes(), 0o600);
    write_file(dir, "ca.pem", ca.as_bytes(), 0o644);
    write_file(dir, "vendor.pem", vendor.as_bytes(), 0o600);
    let service = format!(
        "[service]\naddress = \"{}\"\ncredentials = \"{1}/client.pem\"\nkey = \"{1}/vendor.pem\"\npassword = \"123456\"\nca_bundle = \"{1}/ca.pem\"\n",
        emu.addr,
        dir.display()
    );
    std::fs::write(
        &s.config,
        fast_config(&emu, &service, "hf_mismatch = \"m@x\""),
    )
    .unwrap();
    nss_user("hf_mismatch");
    assert_eq!(s.login("hf_mismatch").0, SERVICE_ERR);
    decision(
        "hf_mismatch",
        &["the private key does not match the certificate"],
    );
    // The inline password makes the config itself a secret.
    let s = Setup::new("", "");
    let text = fast_config(&emu, &fast_service(&emu), "hf_inline = \"i@x\"").replace(
        &format!("password_file = \"{}/client.password\"", d.display()),
        &format!("password = \"{}\"", pw.trim()),
    );
    std::fs::write(&s.config, text).unwrap();
    std::fs::set_permissions(&s.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    nss_user("hf_inline");
    assert_eq!(s.login("hf_inline").0, SERVICE_ERR);
    decision(
        "hf_inline",
        &["readable by group or others", "(it holds service.password)"],
    );
    let sent: Vec<String> = emu
        .messages()
        .iter()
        .map(|m| m["recipients"][0]["userId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["hf_dir_sticky@x"], "no push for a broken setup");
}

#[test]
fn a_config_changing_during_logins_gives_one_of_its_versions_or_fails_closed() {
    let emu = Emulator::start();
    let users = |answer: &str| -> String {
        (0..4)
            .map(|i| format!("hx{i} = \"hx{i}+{answer}+after=0ms@x\"\n"))
            .collect()
    };
    let a = fast_config(&emu, &fast_service(&emu), &users("approve"));
    let b = fast_config(&emu, &fast_service(&emu), &users("deny"));
    let s = Arc::new(Setup::new(&a, ""));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (path, stop) = (s.config.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let text = if n % 2 == 0 { &b } else { &a };
                if n % 4 < 2 {
                    // Replaced atomically, as an editor or a package manager does.
                    let tmp = path.with_extension("tmp");
                    std::fs::write(&tmp, text).unwrap();
                    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
                    std::fs::rename(&tmp, &path).unwrap();
                } else {
                    // Rewritten in place: a reader may see it empty or half written.
                    std::fs::write(&path, text).unwrap();
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(7));
            }
        })
    };
    let logins: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..6)
                    .map(|_| s.login(&format!("hx{i}")).0)
                    .collect::<Vec<i32>>()
            })
        })
        .collect();
    let codes: Vec<i32> = logins.into_iter().flat_map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(
        codes
            .iter()
            .all(|c| [SUCCESS, MAXTRIES, SERVICE_ERR, USER_UNKNOWN].contains(c)),
        "{codes:?}"
    );
    // Each approval is a push to the approving ID of the version read; each refusal a
    // push to the denying one: never a mix.
    let msgs = emu.messages();
    let count = |st: &str| {
        msgs.iter()
            .filter(|m| m["recipients"][0]["status"] == st)
            .count()
    };
    let ok = codes.iter().filter(|&&c| c == SUCCESS).count();
    let denied = codes.iter().filter(|&&c| c == MAXTRIES).count();
    assert_eq!(count("APPROVED"), ok, "{codes:?}");
    assert_eq!(count("DENIED"), denied, "{codes:?}");
    for m in &msgs {
        let id = m["recipients"][0]["userId"].as_str().unwrap();
        let st = m["recipients"][0]["status"].as_str().unwrap();
        assert_eq!(id.contains("+approve"), st == "APPROVED", "{m}");
    }
    if codes.contains(&SERVICE_ERR) {
        syslog().line_with("error=\"config:");
    }
    assert!(emu.open_messages().is_empty());
}
