//! The steps before the push: user names, groups, local logins, mapping sources, approvals.

use super::*;

#[test]
fn flow_unmapped_user_follows_the_policy_without_connecting() {
    let r = login(&config(""), "bob", FakeService::default());
    assert_eq!(r.report.outcome, Outcome::Unmapped(Unmapped::Deny));
    assert_eq!(r.connects, 0, "no credentials read for an unmapped user");
    assert!(
        r.line
            .starts_with("decision=unmapped user=bob ids=- service=sshd"),
        "{}",
        r.line
    );
    assert!(r.line.contains("policy=unmapped:deny"), "{}", r.line);
    let c = config("[policy]\nunmapped = \"ignore\"");
    let r = login(&c, "bob", FakeService::default());
    assert_eq!(r.report.outcome, Outcome::Unmapped(Unmapped::Ignore));
    assert!(!r.report.outcome.allows());
}

#[test]
fn flow_unknown_user_is_unmapped_and_redacted_in_the_log() {
    let c = config("");
    let r = login(&c, "hunter2-password", FakeService::default());
    assert_eq!(r.report.outcome, Outcome::UnknownUser(Unmapped::Deny));
    // Issue 19: keyed with the host's key (created by this login), never unkeyed.
    let key = crate::userkey::load(&c.state_dir).unwrap();
    let want = format!(
        "user=(unknown:len=16,hmac={}) ",
        key.tag("hunter2-password")
    );
    assert!(r.line.contains(&want), "{}", r.line);
    assert!(!r.line.contains("sha256"), "{}", r.line);
    assert!(r.line.contains("reason=\"unknown to the user database\""));
    assert_eq!(r.level, Level::Notice);
    // Only the debug line (shown with `debug` only) names it.
    for (level, line) in &r.ui.lines {
        assert!(
            *level == Level::Debug || !line.contains("hunter2"),
            "{line}"
        );
    }
    assert_eq!(r.connects, 0);
}

/// Issue 19: without a usable key, no hash at all (a dictionary would confirm an
/// unkeyed one), and a warning says why.
#[test]
fn flow_unknown_user_without_a_key_is_logged_by_length_only() {
    let mut c = config("");
    let dir = std::env::temp_dir().join(format!("pbm-flow-{}-nokey", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    c.state_dir = dir.clone();
    let r = login(&c, "hunter2-password", FakeService::default());
    assert_eq!(r.report.outcome, Outcome::UnknownUser(Unmapped::Deny));
    assert!(
        r.line
            .starts_with("decision=unmapped user=(unknown:len=16) "),
        "{}",
        r.line
    );
    let warned =
        r.ui.lines
            .iter()
            .find(|(l, _)| *l == Level::Warning)
            .map(|(_, t)| t.clone())
            .unwrap();
    assert!(
        warned.starts_with("user-name key: ")
            && warned.contains("(mode 0755; refused)")
            && warned.ends_with("unknown user names are logged without a hash"),
        "{warned}"
    );
    assert!(!dir.join(crate::userkey::FILE).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flow_user_lookup_failure_is_an_error() {
    let r = login(&config(""), "nss-down", FakeService::default());
    assert_eq!(
        r.report.outcome,
        Outcome::Error("user lookup: user database lookup failed: timeout".into())
    );
    assert_eq!(r.level, Level::Err);
}

#[test]
fn flow_maps_the_canonical_name_and_logs_the_spelling_typed() {
    let r = login(&config(""), "ALICE", answering(&[&[("a@x", "APPROVED")]]));
    assert_eq!(r.report.outcome, Outcome::Approved);
    assert!(r.line.contains("user=alice ids=a@x "), "{}", r.line);
    assert!(r.line.contains(" typed=ALICE "), "{}", r.line);
    assert!(r.line.ends_with("message=m1 settled=final"), "{}", r.line);
    assert_eq!(r.level, Level::Info);
}

#[test]
fn flow_exempt_and_only_groups_step_aside_without_connecting() {
    let host = FakeHost {
        groups: Ok(vec!["users".into(), "wheel".into()]),
        ..FakeHost::default()
    };
    let go = |c: &Config, host: &FakeHost| {
        login_with(
            c,
            remote("alice"),
            host,
            FakeService::default(),
            None,
            FakeUi::default(),
        )
    };
    let r = go(&config("[policy]\nexempt_groups = [\"wheel\"]"), &host);
    assert_eq!(
        r.report.outcome,
        Outcome::Skipped("member of exempt group wheel".into())
    );
    assert_eq!(r.connects, 0);
    assert!(
        r.line.contains("policy=\"member of exempt group wheel\""),
        "{}",
        r.line
    );
    let r = go(&config("[policy]\nonly_groups = [\"ops\"]"), &host);
    assert_eq!(
        r.report.outcome,
        Outcome::Skipped("not in only_groups".into())
    );
    assert_eq!(r.connects, 0);
    // In only_groups: the login goes on (and the fake service denies the send).
    let r = go(&config("[policy]\nonly_groups = [\"wheel\"]"), &host);
    assert_eq!(r.connects, 1);
    // Before any mapping: an unmapped member steps aside too, an unmapped non-member
    // of only_groups as well.
    let bob = |c: &Config| {
        login_with(
            c,
            remote("bob"),
            &host,
            FakeService::default(),
            None,
            FakeUi::default(),
        )
    };
    let r = bob(&config("[policy]\nexempt_groups = [\"wheel\"]"));
    assert_eq!(
        r.report.outcome,
        Outcome::Skipped("member of exempt group wheel".into())
    );
    let r = bob(&config("[policy]\nonly_groups = [\"ops\"]"));
    assert_eq!(
        r.report.outcome,
        Outcome::Skipped("not in only_groups".into())
    );
    let r = bob(&config("[policy]\nonly_groups = [\"wheel\"]"));
    assert_eq!(r.report.outcome, Outcome::Unmapped(Unmapped::Deny));
    // A failed group lookup denies.
    let broken = FakeHost {
        groups: Err(|| LookupError::GroupList),
        ..FakeHost::default()
    };
    let r = go(&config("[policy]\nexempt_groups = [\"wheel\"]"), &broken);
    assert_eq!(
        r.report.outcome,
        Outcome::Error("group lookup: getgrouplist failed".into())
    );
}

#[test]
fn flow_local_logins_push_deny_or_ignore() {
    let local = Request {
        rhost: None,
        ..remote("alice")
    };
    let go = |c: &Config, service| {
        login_with(
            c,
            local.clone(),
            &FakeHost::default(),
            service,
            None,
            FakeUi::default(),
        )
    };
    let r = go(&config(""), answering(&[&[("a@x", "APPROVED")]]));
    assert_eq!(r.report.outcome, Outcome::Approved, "default: push");
    assert!(r.line.contains(" rhost=- "), "{}", r.line);
    let r = go(
        &config("[policy]\nlocal = \"deny\""),
        FakeService::default(),
    );
    assert_eq!(r.report.outcome, Outcome::LocalDenied);
    assert!(r.line.contains("policy=local:deny"));
    assert_eq!(r.connects, 0);
    let r = go(
        &config("[policy]\nlocal = \"ignore\""),
        FakeService::default(),
    );
    assert_eq!(
        r.report.outcome,
        Outcome::Skipped("local login (policy.local = ignore)".into())
    );
    assert_eq!(r.connects, 0);
}

#[test]
fn flow_approval_shows_the_code_and_needs_no_cancel() {
    let r = login(
        &config(""),
        "alice",
        answering(&[&[("a@x", "SEEN")], &[("a@x", "APPROVED")]]),
    );
    assert_eq!(r.report.outcome, Outcome::Approved);
    assert_eq!(r.report.code.as_deref(), Some("42"));
    assert_eq!(r.report.settled, Settled::Final);
    assert!(
        r.ui.shown[0].ends_with("Verification code: 42"),
        "{:?}",
        r.ui.shown
    );
    assert!(r.service.cancelled.lock().unwrap().is_empty());
    let sent = r.service.sent.lock().unwrap();
    assert_eq!(sent[0].recipients, vec!["a@x".to_string()]);
    let subject = sent[0].subject.as_deref().unwrap_or_default();
    assert_eq!(subject, "Code 42: log in as alice on testhost?");
    let body = sent[0].body.as_deref().unwrap_or_default();
    assert!(body.contains("1970-01-01"), "the host's clock: {body}");
}

#[test]
fn flow_for_an_invoker_says_who_becomes_whom() {
    // user=invoker: the request's user is who ran su, the target whom they become.
    let req = Request {
        target: Some("root".into()),
        tty: Some("pts/1".into()),
        ..remote("alice")
    };
    let r = login_with(
        &config(""),
        req,
        &FakeHost::default(),
        answering(&[&[("a@x", "APPROVED")]]),
        None,
        FakeUi::default(),
    );
    assert_eq!(r.report.outcome, Outcome::Approved);
    let sent = r.service.sent.lock().unwrap();
    assert_eq!(sent[0].recipients, ["a@x"], "alice's phone, not root's");
    assert_eq!(
        sent[0].subject.as_deref(),
        Some("Code 42: alice wants to become root on testhost?")
    );
    let body = sent[0].body.as_deref().unwrap_or_default();
    assert!(body.contains("User: alice\nBecomes: root\n"), "{body}");
    assert!(
        r.line.contains("decision=approved user=alice ids=a@x "),
        "{}",
        r.line
    );
    assert!(r.line.contains(" target=root"), "{}", r.line);
    // A subject of the administrator's own is kept; {target} is known to it.
    let c = config("subject = \"{user} as {target}\"");
    let req = Request {
        target: Some("root".into()),
        ..remote("alice")
    };
    let r = login_with(
        &c,
        req,
        &FakeHost::default(),
        answering(&[&[("a@x", "APPROVED")]]),
        None,
        FakeUi::default(),
    );
    let sent = r.service.sent.lock().unwrap();
    assert_eq!(sent[0].subject.as_deref(), Some("alice as root"));
}

#[test]
fn flow_mapping_sources_in_their_order() {
    let host = FakeHost {
        gecos: Ok(Some("Bob B,bob@gecos".into())),
        ..FakeHost::default()
    };
    let c = config("[mapping]\ngecos_field = 2");
    assert_eq!(
        map_user(&c, &host, "alice").unwrap(),
        Lookup::Ids(vec!["a@x".into()], Source::File("/x.toml".into(), 8))
    );
    assert_eq!(
        map_user(&c, &host, "bob").unwrap(),
        Lookup::Ids(vec!["bob@gecos".into()], Source::Gecos(2))
    );
    let down = FakeHost {
        gecos: Err(|| LookupError::Failed(std::io::Error::other("nss down"))),
        ..FakeHost::default()
    };
    assert_eq!(
        map_user(&c, &down, "bob").unwrap_err().to_string(),
        "user database lookup failed: nss down"
    );
    let none = FakeHost::default();
    assert_eq!(
        map_user(&c, &none, "bob").unwrap(),
        Lookup::Unmapped("no GECOS field".into())
    );
    let c = config("[mapping]\ntemplate = \"{user}@t\"");
    assert_eq!(
        map_user(&c, &host, "bob").unwrap(),
        Lookup::Ids(vec!["bob@t".into()], Source::Template)
    );
    // An ID the template makes invalid refuses the login, without connecting.
    let long = "b".repeat(300);
    assert!(matches!(
        map_user(&c, &host, &long).unwrap(),
        Lookup::Invalid(_)
    ));
    let c = config("[mapping]\ngecos_field = 1");
    let bad = FakeHost {
        gecos: Ok(Some("bob at x".into())),
        ..FakeHost::default()
    };
    let r = login_with(
        &c,
        remote("bob"),
        &bad,
        FakeService::default(),
        None,
        FakeUi::default(),
    );
    assert_eq!(
        r.report.outcome,
        Outcome::Error(
            "mapping.gecos_field: part 1 of the GECOS field: 'bob at x' is not a PassBy[ME] ID"
                .into()
        )
    );
    assert_eq!(r.connects, 0);
    assert!(!r.report.outcome.allows());
}

#[test]
fn flow_each_refusal_carries_its_status() {
    let r = login(&config(""), "alice", answering(&[&[("a@x", "DENIED")]]));
    assert_eq!(r.report.outcome, Outcome::Refused(Status::Denied));
    assert!(
        r.line.contains("status=DENIED message=m1 settled=final"),
        "{}",
        r.line
    );
    assert_eq!(r.level, Level::Notice);
    for (wire, status) in [
        ("NO_DEVICE", Status::NoDevice),
        ("NOT_SEEN", Status::NotSeen),
        ("FAILED", Status::Failed),
        ("DISABLED", Status::Disabled),
        ("CANCELLED", Status::Cancelled),
    ] {
        let r = login(&config(""), "alice", answering(&[&[("a@x", wire)]]));
        assert_eq!(r.report.outcome, Outcome::Refused(status), "{wire}");
        assert!(r.line.contains(&format!("status={wire} ")), "{}", r.line);
        assert!(r.service.cancelled.lock().unwrap().is_empty());
    }
}
