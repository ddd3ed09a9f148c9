//! Answers that do not match the question are malformed: a key twice in one object, a send
//! answer whose recipients are not those sent, a track answer about another message. The
//! login refuses at once (it never keeps polling), and cancels the message when it knows it.

use pam_passbyme::client::{Client, Error, Message};
use pam_passbyme::config::Config;
use pam_passbyme::connect::connect;

use crate::util::pam::{config, decision, Setup, AUTH_ERR};
use crate::util::Emulator;

/// The status the emulator holds for the message sent to `id`.
fn status(emu: &Emulator, id: &str) -> String {
    emu.status_for(id)
        .unwrap_or_else(|| panic!("no message to {id}"))
}

#[test]
fn a_key_twice_is_refused_never_read_as_its_last_value() {
    let emu = Emulator::start();
    let users = "ad_send = \"ad_send+sendfault=dupstatus+ignore@x\"\n\
                 ad_status = \"ad_status+fault=dupstatus+ignore@x\"\n\
                 ad_id = \"ad_id+fault=dupid+ignore@x\"\n\
                 ad_list = \"ad_list+fault=duprecipients+ignore@x\"\n";
    let s = Setup::new(&config(&emu, "prompt = \"none\"", users), "");
    // `"status":"DENIED","status":"APPROVED"` in the send answer: a reader that keeps the
    // last value lets the user in at once.
    assert_eq!(s.login("ad_send").0, AUTH_ERR);
    decision(
        "ad_send",
        &[
            "decision=error",
            "send: malformed response",
            "appears twice",
        ],
    );
    // The same in poll answers; the message is then cancelled.
    for (user, key) in [
        ("ad_status", "'status'"),
        ("ad_id", "'messageId'"),
        ("ad_list", "'recipients'"),
    ] {
        assert_eq!(s.login(user).0, AUTH_ERR, "{user}");
        decision(
            user,
            &[
                "decision=error",
                "poll: malformed response",
                &format!("key {key} appears twice"),
                "settled=cancelled",
            ],
        );
        let tag = if user == "ad_status" {
            "dupstatus"
        } else if user == "ad_id" {
            "dupid"
        } else {
            "duprecipients"
        };
        assert_eq!(
            status(&emu, &format!("{user}+fault={tag}+ignore@x")),
            "CANCELLED"
        );
    }
}

#[test]
fn answers_about_other_recipients_or_messages_are_refused_and_cancelled() {
    let emu = Emulator::start();
    let users = "am_extra = \"am_extra+sendfault=extrarecipient+ignore@x\"\n\
                 am_missing = [\"am_m1+ignore@x\", \"am_m2+sendfault=missingrecipient+ignore@x\"]\n\
                 am_other = \"am_other+fault=otherid+ignore@x\"\n";
    let s = Setup::new(&config(&emu, "prompt = \"none\"", users), "");
    // The send answer lists one more recipient: the push exists, nothing it says counts.
    assert_eq!(s.login("am_extra").0, AUTH_ERR);
    decision(
        "am_extra",
        &[
            "decision=error",
            "send: malformed response",
            "lists recipient 'mallory@emulator.test', which was not sent to",
            "settled=cancelled",
        ],
    );
    assert_eq!(
        status(&emu, "am_extra+sendfault=extrarecipient+ignore@x"),
        "CANCELLED"
    );
    // The send answer lacks one of the user's two IDs.
    assert_eq!(s.login("am_missing").0, AUTH_ERR);
    decision(
        "am_missing",
        &[
            "decision=error",
            "does not list recipient 'am_m2+sendfault=missingrecipient+ignore@x'",
            "settled=cancelled",
        ],
    );
    assert_eq!(status(&emu, "am_m1+ignore@x"), "CANCELLED");
    // A poll answer about another message: refused at the first poll, then cancelled.
    assert_eq!(s.login("am_other").0, AUTH_ERR);
    decision(
        "am_other",
        &[
            "decision=error",
            "poll: malformed response",
            "the answer is about otherMessage000",
            "settled=cancelled",
        ],
    );
    let id = "am_other+fault=otherid+ignore@x";
    assert_eq!(status(&emu, id), "CANCELLED");
    let m = emu
        .messages()
        .into_iter()
        .find(|m| m["recipients"][0]["userId"] == id)
        .unwrap();
    assert_eq!(
        m["requests"]["track"], 1,
        "one poll, never kept polling: {m}"
    );
    assert!(emu.open_messages().iter().all(|m| {
        let id = m["recipients"][0]["userId"].as_str().unwrap_or("");
        !id.starts_with("am_")
    }));
}

#[test]
fn the_client_names_the_mismatch() {
    let emu = Emulator::start();
    let c: Client = connect(&Config::load(&emu.config_path()).unwrap()).unwrap();
    let to = "cm+sendfault=extrarecipient+ignore@x";
    match c.send(&Message::authorization(vec![to.into()], 30)) {
        Err(e @ Error::Mismatch { .. }) => {
            assert!(e.is_malformed() && !e.is_unreachable());
            let Error::Mismatch { message_id, .. } = e else {
                unreachable!()
            };
            // The id is the message's: it can be cancelled.
            c.session(&message_id).unwrap().cancel().unwrap();
            assert_eq!(
                emu.message(&message_id)["recipients"][0]["status"],
                "CANCELLED"
            );
        }
        other => panic!("{other:?}"),
    }
    // A cancel answer about another message.
    let s = c
        .send(&Message::authorization(
            vec!["cm+cancelfault=otherid+ignore@x".into()],
            30,
        ))
        .unwrap();
    match c.cancel(s.message_id()) {
        Err(Error::MalformedResponse(m)) => assert!(m.contains("otherMessage000"), "{m}"),
        other => panic!("{other:?}"),
    }
}
