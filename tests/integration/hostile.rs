//! Hostile user names, hosts and terminals: never on the terminal, in the push or in the log
//! raw; names the user database does not know never reach the log at all.

use crate::util::child::{in_child, Case, ChildSetup};
use crate::util::pam::{assert_clean, decision, fast_config, fast_service, SUCCESS, USER_UNKNOWN};
use crate::util::{syslog, Emulator};

#[test]
fn hostile_user_names_hosts_and_ttys_never_reach_the_terminal_push_or_log_raw() {
    let emu = Emulator::start();
    // Escapes, format strings, a bidi override, C1; a line separator, a zero-width space,
    // the Arabic letter mark, a byte-order mark and a bidi isolate (issue 19).
    let esc =
        "\u{1b}]0;pwned\u{7}\u{1b}[2J%s%n%x\u{202e}\u{9b}\u{2028}\u{200b}\u{61c}\u{feff}\u{2066}";
    // A mapped user whose name is hostile (TOML allows any key).
    let users = format!(
        "\"hu_mapped{}\" = \"hu_mapped+approve+after=100ms@x\"\nhu_items = \"hu_items+approve+after=100ms@x\"\nhu_huge = \"hu_huge+approve+after=100ms@x\"\n",
        esc.replace('\u{1b}', "\\u001b")
            .replace('\u{7}', "\\u0007")
            .replace('\u{202e}', "\\u202e")
            .replace('\u{9b}', "\\u009b")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{200b}', "\\u200b")
            .replace('\u{61c}', "\\u061c")
            .replace('\u{feff}', "\\ufeff")
            .replace('\u{2066}', "\\u2066")
    );
    let cfg = fast_config(&emu, &fast_service(&emu), &users)
        .replace("prompt = \"none\"", "prompt = \"enter\"");
    let long = |n: usize| -> Vec<u8> { std::iter::repeat_n(b'A', n).collect() };
    let mut hostile_bytes = b"\x1b]0;t\x07\xff\xfe\n\r\x00".to_vec();
    hostile_bytes.retain(|&b| b != 0); // PAM items are C strings
                                       // Long, but under what libpam's own audit record takes: libpam (built with libaudit)
                                       // turns any result into PAM_SYSTEM_ERR when the audit message cannot be sent, which a
                                       // 1 MB PAM_RHOST causes whatever the module decided (the third case).
    let mut cases = vec![
        Case {
            setup: 0,
            user: format!("hu_mapped{esc}").into_bytes(),
            rhost: Some([b"\x1b[31m%s%n\xff".as_slice(), &long(2_000)].concat()),
            tty: Some(hostile_bytes.clone()),
        },
        Case {
            setup: 0,
            user: b"hu_items".to_vec(),
            rhost: Some(long(2_000)),
            tty: Some([hostile_bytes.as_slice(), &long(2_000)].concat()),
        },
        Case {
            setup: 0,
            user: b"hu_huge".to_vec(),
            rhost: Some(long(1_000_000)),
            tty: Some(long(100_000)),
        },
    ];
    let unmapped: Vec<Vec<u8>> = vec![
        format!("hu_esc{esc}").into_bytes(),
        b"hu_bytes\xff\xfe\xc3".to_vec(),
        [b"hu_long".as_slice(), &long(200_000)].concat(),
        b"hu_nl\n<13>Jan  1 00:00:00 forged: accepted\r".to_vec(),
        b"hu_fmt%s%s%s%n%n%p".to_vec(),
    ];
    for u in &unmapped {
        cases.push(Case {
            setup: 0,
            user: u.clone(),
            rhost: Some(b"203.0.113.5".to_vec()),
            tty: None,
        });
    }
    let out = in_child(&[ChildSetup::new(cfg, "")], &cases, 1, &[]);
    assert_eq!(
        out[0].rc,
        SUCCESS,
        "{:?} {:?}",
        out[0],
        syslog().lines_with("hu_mapped")
    );
    assert_eq!(
        out[1].rc,
        SUCCESS,
        "{:?} {:?}",
        out[1],
        syslog().lines_with("hu_items")
    );
    // libpam's audit, not the module: the module approved, libpam answered SYSTEM_ERR.
    assert!([SUCCESS, 4].contains(&out[2].rc), "{:?}", out[2]);
    decision("hu_huge", &["decision=approved", "rhost=AAAA"]);
    for o in &out[3..] {
        assert_eq!(o.rc, USER_UNKNOWN, "{o:?}");
    }
    // The terminal: the prompt carries no escape and no part of the hostile items.
    for o in &out[..3] {
        assert_eq!(o.conv.len(), 1, "{:?}", o.conv);
        assert_clean(&o.conv[0].replace('\n', " "));
        assert!(
            o.conv[0].starts_with("PassBy[ME]: approve this login"),
            "{:?}",
            o.conv
        );
    }
    // The push: subject and body clean and bounded.
    for m in emu.messages() {
        for k in ["subject", "body"] {
            let t = m[k].as_str().unwrap();
            assert_clean(&t.replace('\n', " "));
            assert!(t.len() < 2000, "{k} bounded: {} bytes", t.len());
        }
        if m["recipients"][0]["userId"] == "hu_mapped+approve+after=100ms@x" {
            let body = m["body"].as_str().unwrap();
            assert!(
                body.contains("User: hu_mapped?]0;pwned??[2J%s%n%x???????\n"),
                "{body}"
            );
        }
    }
    // The log: one clean, bounded line per login of a known user.
    for marker in ["hu_mapped", "hu_huge", "hu_items"] {
        let lines = syslog().lines_with(marker);
        assert!(!lines.is_empty(), "{marker}: no log line");
        for l in &lines {
            assert_clean(l);
            assert!(l.len() < 2000, "{marker}: {} bytes", l.len());
        }
    }
    // Names the user database does not know (often a password typed at the user prompt)
    // never reach the log: only their length and a short hash.
    for u in &unmapped {
        let redacted = match std::str::from_utf8(u) {
            Ok(name) => emu.redacted_user(name),
            Err(_) => format!("(len={})", u.len()),
        };
        let line = syslog().line_with(&format!("user={redacted} "));
        assert!(line.contains("decision=unmapped"), "{line}");
        assert_clean(&line);
    }
    for l in syslog().lines() {
        for raw in ["hu_esc", "hu_bytes", "hu_long", "hu_nl", "hu_fmt", "forged"] {
            assert!(!l.contains(raw), "an unknown name reached the log: {l}");
        }
    }
    assert!(emu.open_messages().is_empty());
}
