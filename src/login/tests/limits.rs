//! Configuration errors, the limits, audit mode and the decision lines.

use super::*;

#[test]
fn flow_config_error_never_touches_the_limiter() {
    // The real connector: the credentials file is missing; the state directory does
    // not exist yet and must not be created.
    let mut c = config("");
    let limits = state_dir("config");
    c.limits = Some(limits.clone());
    let mut ui = FakeUi::default();
    let mut req = remote("alice");
    let r = run(&c, &mut req, &FakeHost::default(), &mut Connector, &mut ui);
    assert!(
        matches!(&r.outcome, Outcome::Config(e) if e.contains("/nonexistent")),
        "{:?}",
        r.outcome
    );
    assert!(!limits.state_dir.exists(), "the limiter was not touched");
    record(&mut ui, &req, &r);
    let (level, line) = ui.lines.last().unwrap();
    assert_eq!(*level, Level::Alert);
    assert!(
        line.starts_with("decision=error user=alice ids=a@x "),
        "{line}"
    );
    // With a fake connector that fails: the same outcome, and no send.
    let service = Arc::new(FakeService::default());
    let mut connect = FakeConnect {
        service: service.clone(),
        limits: None,
        fail: Some("x.pem: is a symbolic link (refused)".into()),
        calls: 0,
    };
    let r = run(
        &c,
        &mut remote("alice"),
        &FakeHost::default(),
        &mut connect,
        &mut ui,
    );
    assert_eq!(
        r.outcome,
        Outcome::Config("x.pem: is a symbolic link (refused)".into())
    );
    assert!(service.sent.lock().unwrap().is_empty());
}

#[test]
fn flow_limits_refuse_without_a_push() {
    let (limits, go) = limited("limited", |l| l.max_pushes = 1);
    assert_eq!(
        go(answering(&[&[("a@x", "APPROVED")]])).report.outcome,
        Outcome::Approved
    );
    let r = go(answering(&[&[("a@x", "APPROVED")]]));
    assert_outcome!(r, Outcome::Limited(why) if why.reason.starts_with("rate limit: 1 pushes") && why.limit == limiter::Limit::Rate);
    assert!(r.service.sent.lock().unwrap().is_empty(), "no push");
    assert!(
        r.line.contains("policy=limits reason=\"rate limit"),
        "{}",
        r.line
    );
    let _ = std::fs::remove_dir_all(&limits.state_dir);
}

#[test]
fn flow_audit_never_sends_and_says_what_enforce_would_do() {
    let audit = |extra: &str| {
        let mut c = config(extra);
        c.policy.mode = Mode::Audit;
        c
    };
    // Mapped: everything up to the push, then nothing sent.
    let r = login(&audit(""), "alice", answering(&[&[("a@x", "APPROVED")]]));
    assert_eq!(r.report.outcome, Outcome::Audit(Audit::Push));
    assert!(r.service.sent.lock().unwrap().is_empty(), "no push");
    assert!(r.ui.shown.is_empty(), "nothing shown: {:?}", r.ui.shown);
    assert_eq!(r.level, Level::Info);
    assert_eq!(
        r.line,
        "decision=would-push user=alice ids=a@x service=sshd rhost=192.0.2.1 tty=ssh duration=0.0s mode=audit"
    );
    // Unmapped under deny: the reason enforce mode would have logged.
    let r = login(&audit(""), "bob", FakeService::default());
    assert_eq!(r.report.outcome.word(), "would-deny");
    assert_eq!(r.level, Level::Notice);
    assert_eq!(
        r.line,
        "decision=would-deny user=bob ids=- service=sshd rhost=192.0.2.1 tty=ssh duration=0.0s mode=audit enforce=unmapped policy=unmapped:deny"
    );
    let r = login(
        &audit("[policy]\nunmapped = \"ignore\""),
        "bob",
        FakeService::default(),
    );
    assert!(
        r.line.starts_with("decision=would-skip user=bob "),
        "{}",
        r.line
    );
    assert!(r
        .line
        .ends_with(" mode=audit enforce=unmapped policy=unmapped:ignore"));
    // A configuration error at the credentials: an alert, and still no push.
    let service = Arc::new(answering(&[]));
    let mut connect = FakeConnect {
        service: service.clone(),
        limits: None,
        fail: Some("/etc/passbyme/auth.pem: no such file".into()),
        calls: 0,
    };
    let mut ui = FakeUi::default();
    let mut req = remote("alice");
    let report = run(
        &audit(""),
        &mut req,
        &FakeHost::default(),
        &mut connect,
        &mut ui,
    );
    record(&mut ui, &req, &report);
    assert_eq!(report.outcome.word(), "would-deny");
    assert!(!report.outcome.allows());
    let (level, line) = ui.lines.last().unwrap();
    assert_eq!(*level, Level::Alert);
    assert!(
        line.ends_with(" mode=audit enforce=error error=\"/etc/passbyme/auth.pem: no such file\""),
        "{line}"
    );
    assert!(service.sent.lock().unwrap().is_empty());
}

#[test]
fn flow_audit_reads_the_limits_and_changes_nothing() {
    let (limits, go) = limited("audit-limits", |l| l.max_pushes = 1);
    // One real push uses the rate (enforce mode).
    assert_eq!(
        go(answering(&[&[("a@x", "APPROVED")]])).report.outcome,
        Outcome::Approved
    );
    let store = Store::open(&limits).unwrap();
    let before = store.read("alice").unwrap();
    let mut c = config("");
    c.policy.mode = Mode::Audit;
    let r = login_with(
        &c,
        remote("alice"),
        &FakeHost::default(),
        answering(&[&[("a@x", "APPROVED")]]),
        Some(limits.clone()),
        FakeUi::default(),
    );
    assert_eq!(r.report.outcome.word(), "would-deny");
    assert!(r.service.sent.lock().unwrap().is_empty(), "no push");
    assert!(
        r.line
            .contains(" mode=audit enforce=limited policy=limits reason=\"rate limit: 1 pushes"),
        "{}",
        r.line
    );
    assert_eq!(store.read("alice").unwrap(), before, "state unchanged");
    // From another source the rate allows it: would-push, and still nothing counted.
    let mut req = remote("alice");
    req.rhost = Some("192.0.2.9".into());
    let r = login_with(
        &c,
        req,
        &FakeHost::default(),
        answering(&[]),
        Some(limits.clone()),
        FakeUi::default(),
    );
    assert_eq!(r.report.outcome, Outcome::Audit(Audit::Push));
    assert_eq!(store.read("alice").unwrap(), before, "state unchanged");
    let _ = std::fs::remove_dir_all(&limits.state_dir);
}

#[test]
fn flow_denials_count_and_lock_out() {
    let (limits, go) = limited("lockout", |l| l.lockout_after = 1);
    let r = go(answering(&[&[("a@x", "DENIED")]]));
    assert_eq!(r.report.outcome, Outcome::Refused(Status::Denied));
    // The limiter was told it was a denial (Finish::Denied): the source is locked out.
    let r = go(answering(&[&[("a@x", "APPROVED")]]));
    assert_outcome!(r, Outcome::Limited(why) if why.reason.contains("locked out") && matches!(why.limit, limiter::Limit::LockedOut(s) if s > 0));
    let _ = std::fs::remove_dir_all(&limits.state_dir);
}

#[test]
fn flow_grace_after_an_approval_needs_no_push() {
    let (limits, go) = limited("grace", |l| l.grace = Duration::from_secs(300));
    assert_eq!(
        go(answering(&[&[("a@x", "APPROVED")]])).report.outcome,
        Outcome::Approved
    );
    let r = go(FakeService::default());
    assert_eq!(r.report.outcome, Outcome::Grace);
    assert!(r.report.outcome.allows());
    assert!(r.service.sent.lock().unwrap().is_empty());
    assert!(r.line.contains("policy=limits:grace"), "{}", r.line);
    let _ = std::fs::remove_dir_all(&limits.state_dir);
}

#[test]
fn early_decision_lines() {
    let start = Instant::now();
    let req = Request {
        user: String::new(),
        ..remote("")
    };
    let line = |req: &Request, r: Report| crate::log::decision(req, &r);
    let l = line(
        &req,
        Report::early(Outcome::Config("unknown argument 'nullok'".into()), start),
    );
    assert!(
        l.starts_with("decision=error user=- ids=- service=sshd rhost=192.0.2.1"),
        "{l}"
    );
    assert!(l.ends_with("error=\"unknown argument 'nullok'\""), "{l}");
    let l = line(&req, Report::early(Outcome::BadUserName(7), start));
    assert!(l.starts_with("decision=unmapped user=(len=7) "), "{l}");
    let prev = Outcome::Repeat(Box::new(Outcome::Refused(Status::Denied)));
    assert!(!prev.allows());
    let l = line(&remote("alice"), Report::early(prev, start));
    assert!(l.starts_with("decision=repeat user=alice "), "{l}");
    assert!(l.contains("previous=refused"), "{l}");
    // A configuration that cannot be loaded: the name only if the user database knows it.
    let host = FakeHost::default();
    let r = config_failed(&host, "s3cret", false, "config: x".into(), start);
    // No configuration: no key either, so the length alone.
    assert!(line(&remote("s3cret"), r).contains("user=(unknown:len=6) "));
    let r = config_failed(&host, "s3cret", true, "config: x".into(), start);
    assert!(line(&remote("s3cret"), r).contains("user=s3cret "));
    let r = config_failed(&host, "alice", false, "config: x".into(), start);
    assert!(line(&remote("alice"), r).contains("user=alice "));
}
