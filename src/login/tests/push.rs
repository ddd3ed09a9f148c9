//! The push and the wait: timeouts, the prompt's watchdog, signals, cancels, fail-open, bad answers.

use super::*;

#[test]
fn flow_timeout_cancels_the_message() {
    let mut c = config("");
    c.login.timeout = MS(300);
    let r = login(&c, "alice", answering(&[&[("a@x", "SEEN")]]));
    assert_eq!(r.report.outcome, Outcome::TimedOut);
    assert_eq!(r.report.settled, Settled::Cancelled);
    assert_eq!(*r.service.cancelled.lock().unwrap(), vec!["m1".to_string()]);
    assert!(
        r.line.ends_with("message=m1 settled=cancelled"),
        "{}",
        r.line
    );
    assert!(*r.service.tracked.lock().unwrap() >= 1);
}

/// A person who answers the Enter prompt only once the push was cancelled (long after
/// the deadline, as when nobody presses Enter).
struct LateUi {
    service: Arc<FakeService>,
    lines: Vec<(Level, String)>,
}

impl Ui for LateUi {
    fn info(&mut self, _: &str) -> Result<(), ConversationError> {
        Ok(())
    }
    fn prompt(&mut self, _: &str, _: &Abandon<'_>) -> Result<String, ConversationError> {
        let start = Instant::now();
        while self.service.cancelled.lock().unwrap().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(30), "never cancelled");
            std::thread::sleep(MS(5));
        }
        Ok(String::new())
    }
    fn log(&mut self, level: Level, line: &str) {
        self.lines.push((level, line.into()));
    }
}

/// Issue 19: the Enter prompt was not bounded by login.timeout.
#[test]
fn flow_the_deadline_cancels_the_push_while_the_prompt_is_open() {
    let mut c = config("");
    c.login.prompt = Prompt::Enter;
    c.login.timeout = MS(200);
    // The phone approves at once: too late, the person answered after the deadline.
    let service = Arc::new(answering(&[&[("a@x", "APPROVED")]]));
    let mut connect = FakeConnect {
        service: service.clone(),
        limits: None,
        fail: None,
        calls: 0,
    };
    let mut ui = LateUi {
        service: service.clone(),
        lines: Vec::new(),
    };
    let mut req = remote("alice");
    let r = run(&c, &mut req, &FakeHost::default(), &mut connect, &mut ui);
    assert_eq!(r.outcome, Outcome::TimedOut);
    assert!(!r.outcome.allows());
    assert_eq!(r.settled, Settled::Cancelled);
    // Cancelled once (at the deadline), and never polled: the late answer is not asked.
    assert_eq!(*service.cancelled.lock().unwrap(), vec!["m1".to_string()]);
    assert_eq!(*service.tracked.lock().unwrap(), 0);
    let line = log::decision(&req, &r);
    assert!(
        line.starts_with("decision=timeout user=alice ")
            && line.ends_with("message=m1 settled=cancelled"),
        "{line}"
    );
    // Answered in time: the wait goes on as before.
    c.login.timeout = Duration::from_secs(5);
    let r = login(&c, "alice", answering(&[&[("a@x", "APPROVED")]]));
    assert_eq!(r.report.outcome, Outcome::Approved);
    assert!(r.service.cancelled.lock().unwrap().is_empty());
}

#[test]
fn flow_a_signal_interrupts_and_cancels() {
    let ui = FakeUi {
        interrupt_after: Some(2),
        ..FakeUi::default()
    };
    let r = login_unanswered(ui);
    assert_eq!(r.report.outcome, Outcome::Interrupted(libc::SIGTERM));
    assert_eq!(*r.service.cancelled.lock().unwrap(), vec!["m1".to_string()]);
    assert!(
        r.line
            .contains("signal=SIGTERM message=m1 settled=cancelled"),
        "{}",
        r.line
    );
}

#[test]
fn flow_a_failed_cancel_is_named_sanitised() {
    let mut c = config("");
    c.login.timeout = MS(100);
    let service = FakeService {
        cancel_fails: true,
        ..answering(&[])
    };
    let r = login(&c, "alice", service);
    assert_eq!(r.report.outcome, Outcome::TimedOut);
    assert!(matches!(r.report.settled, Settled::CancelFailed(_)));
    assert!(
        r.line.contains(" settled=cancel-failed:\"") && r.line.ends_with("reset?[2J\""),
        "{}",
        r.line
    );
    assert!(!r.line.contains('\x1b'), "{}", r.line);
}

#[test]
fn flow_fail_open_only_when_no_connection_could_be_made() {
    let allow = config("[policy]\nunreachable = \"allow\"");
    let failing = |e: ClientError, connected| FakeService {
        send: Mutex::new(Some(Err(e))),
        connected,
        ..FakeService::default()
    };
    let r = login(
        &allow,
        "alice",
        failing(ClientError::Unreachable("refused".into()), false),
    );
    assert_outcome!(r, Outcome::FailOpen(_));
    assert!(r.report.outcome.allows());
    assert_eq!(r.level, Level::Warning);
    assert!(r.line.contains("policy=unreachable:allow"), "{}", r.line);
    // Denied under the default policy.
    let r = login(
        &config(""),
        "alice",
        failing(ClientError::Unreachable("refused".into()), false),
    );
    assert!(matches!(r.report.outcome, Outcome::Unreachable(_)));
    assert!(r.line.contains("policy=unreachable:deny"), "{}", r.line);
    // Every other failure denies, and under `allow` says why it did not open.
    for (e, connected, why) in [
        (
            ClientError::Connection("reset".into()),
            true,
            "a TCP connection had been made",
        ),
        (
            ClientError::Timeout("late".into()),
            false,
            "the login's own time ran out",
        ),
        (
            ClientError::Status {
                status: 503,
                body: String::new(),
            },
            true,
            "the service answered",
        ),
        (
            ClientError::Tls("bad certificate".into()),
            false,
            "not a failure to connect",
        ),
    ] {
        let r = login(&allow, "alice", failing(e, connected));
        match &r.report.outcome {
            Outcome::Unreachable(m) => {
                assert!(m.ends_with(&format!("(no fail-open: {why})")), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(!r.report.outcome.allows());
    }
}

#[test]
fn flow_a_mismatched_answer_is_refused_and_cancelled() {
    let service = FakeService {
        send: Mutex::new(Some(Err(ClientError::Mismatch {
            message_id: "m9".into(),
            reason: "the answer lists recipient 'mallory', which was not sent to".into(),
        }))),
        ..FakeService::default()
    };
    let r = login(&config(""), "alice", service);
    assert_outcome!(r, Outcome::Error(e) if e.starts_with("send: malformed response: the answer lists recipient 'mallory'"));
    assert_eq!(*r.service.cancelled.lock().unwrap(), vec!["m9".to_string()]);
    assert!(
        r.line.ends_with("message=m9 settled=cancelled"),
        "{}",
        r.line
    );
    assert!(r.ui.shown.is_empty(), "no hint for a message not trusted");
}

#[test]
fn flow_a_malformed_answer_is_an_error() {
    let service = FakeService {
        send: Mutex::new(Some(Err(ClientError::MalformedResponse("not JSON".into())))),
        ..FakeService::default()
    };
    let r = login(&config(""), "alice", service);
    assert!(matches!(&r.report.outcome, Outcome::Error(e) if e.starts_with("send: ")));
    assert_eq!(r.report.settled, Settled::None);
    // A malformed poll answer, once a message exists: an error, and it is cancelled.
    let service = FakeService {
        send: Mutex::new(Some(pending())),
        polls: Mutex::new(VecDeque::from([
            Err(ClientError::MalformedResponse("bad".into())),
            pending(),
        ])),
        ..FakeService::default()
    };
    let r = login(&config(""), "alice", service);
    assert_outcome!(r, Outcome::Error(e) if e.starts_with("poll: "));
    assert_eq!(r.report.settled, Settled::Cancelled);
    assert_eq!(r.level, Level::Err);
}

#[test]
fn flow_a_failed_conversation_cancels() {
    let ui = FakeUi {
        conversation_fails: true,
        ..FakeUi::default()
    };
    let r = login_unanswered(ui);
    assert!(matches!(r.report.outcome, Outcome::ConversationFailed(_)));
    assert_eq!(r.report.settled, Settled::Cancelled);
    assert!(
        !r.report.outcome.is_final(),
        "a retry in the transaction may succeed"
    );
}
