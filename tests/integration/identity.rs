//! Who a login pushes to: the groups that step aside (before any mapping), the sources of
//! PassBy[ME] IDs in their order, and the checks on each, through real libpam.

use std::os::unix::fs::PermissionsExt;

use crate::util::pam::{
    child_output, config, config_limits, run_child, Setup, AUTH_ERR, PERM_DENIED, SERVICE_ERR,
    USER_UNKNOWN,
};
use crate::util::{
    config_users, nss_group, nss_user, nss_user_gecos, passbyme, syslog, Emulator, TempDir,
};

/// The IDs the emulator received pushes for.
fn pushed(emu: &Emulator) -> Vec<String> {
    emu.messages()
        .iter()
        .map(|m| m["recipients"][0]["userId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn exempt_groups_skip_mapped_and_unmapped_members_alike() {
    let emu = Emulator::start();
    nss_group("pbm_breakglass", &["ge_mapped", "ge_unmapped"]);
    nss_user("ge_other");
    let s = Setup::new(
        &config(
            &emu,
            "prompt = \"info\"\n[policy]\nexempt_groups = [\"pbm_breakglass\"]",
            "ge_mapped = \"ge_mapped+approve@x\"\nge_plain = \"ge_plain+approve@x\"",
        ),
        "",
    );
    // Mapped or not, a member steps aside (PAM_IGNORE; libpam answers PERM_DENIED for a
    // stack of one) with no push.
    for user in ["ge_mapped", "ge_unmapped"] {
        assert_eq!(s.login(user).0, PERM_DENIED, "{user}");
        let line = syslog().line_with(&format!("user={user} "));
        assert!(
            line.contains("decision=skipped")
                && line.contains("policy=\"member of exempt group pbm_breakglass\""),
            "{line}"
        );
    }
    // Before, an unmapped member fell to policy.unmapped (deny); a non-member still does.
    assert_eq!(s.login("ge_other").0, USER_UNKNOWN);
    assert!(syslog()
        .line_with("user=ge_other ")
        .contains("decision=unmapped"));
    // A mapped non-member gets its push.
    assert_eq!(s.login("ge_plain").0, 0);
    assert_eq!(pushed(&emu), ["ge_plain+approve@x"]);
}

#[test]
fn only_groups_leave_everyone_else_to_the_stack() {
    let emu = Emulator::start();
    nss_group("pbm_ops", &["go_mapped", "go_unmapped"]);
    nss_user("go_out_unmapped");
    let s = Setup::new(
        &config(
            &emu,
            "prompt = \"info\"\n[policy]\nonly_groups = [\"pbm_ops\"]",
            "go_mapped = \"go_mapped+approve@x\"\ngo_out = \"go_out+approve@x\"",
        ),
        "",
    );
    // Outside the groups, mapped or not: PAM_IGNORE, no push.
    for user in ["go_out", "go_out_unmapped"] {
        assert_eq!(s.login(user).0, PERM_DENIED, "{user}");
        assert!(syslog()
            .line_with(&format!("user={user} "))
            .contains("policy=\"not in only_groups\""));
    }
    // Inside: the mapping decides (an unmapped member is unmapped, a mapped one pushed).
    assert_eq!(s.login("go_unmapped").0, USER_UNKNOWN);
    assert!(syslog()
        .line_with("user=go_unmapped ")
        .contains("decision=unmapped"));
    assert_eq!(s.login("go_mapped").0, 0);
    assert_eq!(pushed(&emu), ["go_mapped+approve@x"]);
}

/// A users.d directory holding `files` (name, text, mode), and a config on `emu` naming it,
/// with `main` as the main file's `[users]`. The users of every file go into the user
/// database.
fn with_users_dir(emu: &Emulator, main: &str, files: &[(&str, &str, u32)]) -> (TempDir, Setup) {
    with_users_dir_extra(emu, "", main, files)
}

/// [`with_users_dir`] with more `[mapping]` keys.
fn with_users_dir_extra(
    emu: &Emulator,
    mapping: &str,
    main: &str,
    files: &[(&str, &str, u32)],
) -> (TempDir, Setup) {
    let dir = TempDir::new("usersd");
    for (name, text, mode) in files {
        dir.write(name, text, *mode);
        for user in config_users(text) {
            nss_user(&user);
        }
    }
    let extra = format!(
        "prompt = \"info\"\n[mapping]\nusers_dir = \"{}\"\n{mapping}",
        dir.path().display()
    );
    let s = Setup::new(&config(emu, &extra, main), "");
    (dir, s)
}

#[test]
fn users_dir_files_add_ids_after_the_main_file() {
    let emu = Emulator::start();
    nss_user("ud_none");
    let (dir, s) = with_users_dir(
        &emu,
        "ud_main = \"ud_main+approve@x\"",
        &[
            (
                "20-b.toml",
                "# team b\n[users]\nud_b = [\"ud_b+approve@x\", \"ud_b2+approve@x\"]\n",
                0o644,
            ),
            // TOML the plain reader leaves to the full parser: same meaning.
            ("10-a.toml", "[users]\n\"ud_a\" = 'ud_a+approve@x'\n", 0o600),
            // Not *.toml, or hidden: never read (they would break the configuration).
            ("notes.txt", "not toml", 0o644),
            (".draft.toml", "[users]\nud_main = \"x@x\"\n", 0o644),
        ],
    );
    for (user, ids) in [
        ("ud_main", "ud_main+approve@x"),
        ("ud_a", "ud_a+approve@x"),
        ("ud_b", "ud_b+approve@x,ud_b2+approve@x"),
    ] {
        assert_eq!(s.login(user).0, 0, "{user}");
        let line = syslog().line_with(&format!("user={user} "));
        assert!(
            line.contains(&format!("decision=approved user={user} ids={ids} ")),
            "{line}"
        );
    }
    assert_eq!(s.login("ud_none").0, USER_UNKNOWN);
    assert_eq!(pushed(&emu).len(), 3);
    drop(dir);
}

#[test]
fn a_user_in_two_files_invalidates_the_whole_configuration() {
    let emu = Emulator::start();
    let (dir, s) = with_users_dir(
        &emu,
        "ud_dup_main = \"m@x\"",
        &[
            (
                "a.toml",
                "[users]\nud_dup_ok = \"ud_dup_ok+approve@x\"\nud_dup = \"one@x\"\n",
                0o644,
            ),
            ("b.toml", "[users]\n\nud_dup = \"two@x\"\n", 0o644),
        ],
    );
    // Every login is refused, also one whose own entry is fine, naming both places.
    assert_eq!(s.login("ud_dup_ok").0, SERVICE_ERR);
    let line = syslog().line_with("user=ud_dup_ok ");
    let want = format!(
        "{}: line 3: users.ud_dup: already defined in {} line 3",
        dir.path().join("b.toml").display(),
        dir.path().join("a.toml").display()
    );
    assert!(
        line.contains("decision=error") && line.contains(&want),
        "{line}"
    );
    // The main file against a users.d file, too.
    let (dir2, s2) = with_users_dir(
        &emu,
        "ud_dup_main = \"m@x\"",
        &[("x.toml", "[users]\nud_dup_main = \"other@x\"\n", 0o644)],
    );
    assert_eq!(s2.login("ud_dup_main").0, SERVICE_ERR);
    let line = syslog().line_with("user=ud_dup_main ");
    assert!(
        line.contains(&format!(
            "{}: line 2: users.ud_dup_main: already defined in {} line ",
            dir2.path().join("x.toml").display(),
            s2.config.display()
        )),
        "{line}"
    );
    assert!(pushed(&emu).is_empty());
}

#[test]
fn an_unsafe_users_dir_file_invalidates_the_whole_configuration() {
    let emu = Emulator::start();
    let good = (
        "a.toml",
        "[users]\nud_safe = \"ud_safe+approve@x\"\n",
        0o644,
    );
    // Writable by others: refused.
    let (dir, s) = with_users_dir(&emu, "", &[good, ("b.toml", "[users]\n", 0o666)]);
    assert_eq!(s.login("ud_safe").0, SERVICE_ERR);
    let want = format!(
        "{}: is writable by group or others (mode 0666; refused)",
        dir.path().join("b.toml").display()
    );
    assert!(syslog()
        .line_with(&want)
        .contains("decision=error user=ud_safe "));
    // Owned by someone else: refused.
    let (dir, s) = with_users_dir(&emu, "", &[good, ("b.toml", "[users]\n", 0o644)]);
    std::os::unix::fs::chown(dir.path().join("b.toml"), Some(65534), Some(65534)).unwrap();
    assert_eq!(s.login("ud_safe").0, SERVICE_ERR);
    syslog().line_with(&format!(
        "{}: is owned by uid 65534, not by root (refused)",
        dir.path().join("b.toml").display()
    ));
    // A symbolic link (even to a good file): refused.
    let (dir, s) = with_users_dir(&emu, "", &[good]);
    let real = dir.write("real.txt", "[users]\n", 0o644);
    std::os::unix::fs::symlink(&real, dir.path().join("c.toml")).unwrap();
    assert_eq!(s.login("ud_safe").0, SERVICE_ERR);
    syslog().line_with(&format!(
        "{}: is a symbolic link (refused)",
        dir.path().join("c.toml").display()
    ));
    // An unknown key: refused like in the main file.
    let (dir, s) = with_users_dir(&emu, "", &[good, ("b.toml", "[user]\nx = \"y\"\n", 0o644)]);
    assert_eq!(s.login("ud_safe").0, SERVICE_ERR);
    syslog().line_with(&format!(
        "{}: line 1: unknown field `user`",
        dir.path().join("b.toml").display()
    ));
    // A directory others may write to: refused.
    let (dir, s) = with_users_dir(&emu, "", &[good]);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(s.login("ud_safe").0, SERVICE_ERR);
    syslog().line_with(&format!(
        "its directory {} is writable by group or others",
        dir.path().display()
    ));
    assert!(pushed(&emu).is_empty());
    // The same files, safe: the login goes through.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(s.login("ud_safe").0, 0);
}

#[test]
fn a_template_maps_users_in_no_table_and_refuses_an_invalid_id() {
    let emu = Emulator::start();
    nss_user("tp_plain");
    // 250 bytes: with "+approve@x" the ID is longer than 256 bytes.
    let long = format!("tp_{}", "l".repeat(247));
    nss_user(&long);
    let (dir, s) = with_users_dir_extra(
        &emu,
        "template = \"{user}+approve@x\"",
        "tp_table = \"tp_table_main+approve@x\"",
        &[(
            "a.toml",
            "[users]\ntp_dir = \"tp_dir_file+approve@x\"\n",
            0o644,
        )],
    );
    // The order: the main file, then users.d, then the template.
    for (user, id) in [
        ("tp_table", "tp_table_main+approve@x"),
        ("tp_dir", "tp_dir_file+approve@x"),
        ("tp_plain", "tp_plain+approve@x"),
    ] {
        assert_eq!(s.login(user).0, 0, "{user}");
        assert!(syslog()
            .line_with(&format!("user={user} "))
            .contains(&format!("decision=approved user={user} ids={id} ")));
    }
    // An ID the template makes invalid: refused, never pushed, said so.
    assert_eq!(s.login(&long).0, AUTH_ERR);
    let line = syslog().line_with("mapping.template: for this user it gives");
    assert!(
        line.contains("decision=error") && line.contains("is not a PassBy[ME] ID"),
        "{line}"
    );
    assert_eq!(pushed(&emu).len(), 3);
    drop(dir);
}

#[test]
fn a_gecos_field_maps_users_and_blank_or_invalid_fields_do_not() {
    let emu = Emulator::start();
    nss_user_gecos("gc_ok", "Alice A,gc_ok+approve@x,room 1");
    nss_user_gecos("gc_blank", "Bob B, ,");
    nss_user_gecos("gc_short", "Carol C");
    nss_user_gecos("gc_bad", "Dan D,dan at x");
    nss_user_gecos("gc_table", "Eve E,gc_table_gecos@x");
    let s = Setup::new(
        &config(
            &emu,
            "prompt = \"info\"\n[mapping]\ngecos_field = 2",
            "gc_table = \"gc_table_main+approve@x\"",
        ),
        "",
    );
    assert_eq!(s.login("gc_ok").0, 0);
    assert!(syslog()
        .line_with("user=gc_ok ")
        .contains("ids=gc_ok+approve@x "));
    // [users] comes first.
    assert_eq!(s.login("gc_table").0, 0);
    assert!(syslog()
        .line_with("user=gc_table ")
        .contains("ids=gc_table_main+approve@x "));
    // A blank or missing part: unmapped (policy.unmapped), never an empty recipient.
    for user in ["gc_blank", "gc_short"] {
        assert_eq!(s.login(user).0, USER_UNKNOWN, "{user}");
        assert!(syslog()
            .line_with(&format!("user={user} "))
            .contains("decision=unmapped"));
    }
    // A part that is not an ID: refused with the reason.
    assert_eq!(s.login("gc_bad").0, AUTH_ERR);
    assert!(syslog().line_with("user=gc_bad ").contains(
        "mapping.gecos_field: part 2 of the GECOS field: 'dan at x' is not a PassBy[ME] ID"
    ));
    assert_eq!(pushed(&emu), ["gc_ok+approve@x", "gc_table_main+approve@x"]);
}

#[test]
fn check_shows_where_a_users_ids_come_from_and_every_problem() {
    let emu = Emulator::start();
    nss_user("ck_none");
    // Part 5 ("other"): only root sets it (chfn -o), so check finds nothing to report.
    nss_user_gecos("ck_gecos", "Gina G,,,,ck_gecos@g");
    let (dir, s) = with_users_dir_extra(
        &emu,
        "gecos_field = 5",
        "ck_main = \"ck_main@x\"",
        &[(
            "a.toml",
            "[users]\n\nck_a = [\"ck_a@x\", \"ck_a2@x\"]\n",
            0o644,
        )],
    );
    let cfg = s.config.to_str().unwrap().to_owned();
    let check = |user: &str| passbyme(&["--config", &cfg, "check", "--user", user]);
    let (code, out, err) = check("ck_a");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "ok    ck_a -> ck_a@x, ck_a2@x (from {} line 3)",
            dir.path().join("a.toml").display()
        )),
        "{out}"
    );
    let (code, out, _) = check("ck_main");
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("ok    ck_main -> ck_main@x (from {cfg} line ")),
        "{out}"
    );
    let (code, out, _) = check("ck_gecos");
    assert_eq!(code, 0);
    assert!(
        out.contains("ok    ck_gecos -> ck_gecos@g (from mapping.gecos_field 5 (GECOS))"),
        "{out}"
    );
    let (code, out, _) = check("ck_none");
    assert_eq!(code, 2);
    assert!(
        out.contains("FAIL  ck_none: unmapped: GECOS has no part 5 (delimiter ',')"),
        "{out}"
    );
    let (code, out, _) = check("ck_nobody_knows");
    assert_eq!(code, 2);
    assert!(out.contains("unknown to the user database"), "{out}");

    // Every problem of users.d, not just the first, and the configuration refused.
    dir.write("b.toml", "[users]\nck_a = \"again@x\"\n", 0o644);
    dir.write("c.toml", "[users]\n", 0o664);
    let (code, out, _) = passbyme(&["--config", &cfg, "check"]);
    assert_eq!(code, 2, "{out}");
    for want in [
        format!(
            "FAIL  {}: is writable by group or others (mode 0664; refused)",
            dir.path().join("c.toml").display()
        ),
        format!(
            "FAIL  {}: line 2: users.ck_a: already defined in {} line 3",
            dir.path().join("b.toml").display(),
            dir.path().join("a.toml").display()
        ),
        format!("FAIL  {cfg}: 2 problem(s) in mapping.users_dir: the module refuses every login"),
    ] {
        assert!(out.contains(&want), "want {want:?} in {out}");
    }
    let (code, out, _) = check("ck_main");
    assert_eq!(code, 2, "{out}");
}

/// `su` in a process of its own: real uid PBM_UID (the person who runs it), effective uid
/// 0 (set-uid root), a local login on a terminal; one login per name of PBM_TARGETS (the
/// users to become), each printing `RC <target> <code>`.
#[test]
#[ignore = "run by the user=invoker tests in a child process"]
fn child_su() {
    if std::env::var_os("PBM_CHILD").is_none() {
        return;
    }
    let s = Setup::new(&std::env::var("PBM_CONFIG").unwrap(), "user=invoker");
    let uid: libc::uid_t = std::env::var("PBM_UID").unwrap().parse().unwrap();
    // SAFETY: a plain system call; this process is the child's own.
    assert_eq!(unsafe { libc::setresuid(uid, 0, 0) }, 0);
    for target in std::env::var("PBM_TARGETS").unwrap().split(',') {
        let (rc, _) = s.login_with(target, None, Box::new(|_, _| Ok(Some(String::new()))));
        println!("RC {target} {rc}");
    }
}

/// Runs [`child_su`] as `invoker` for `targets` on `config`; the codes in order.
fn su_as(invoker: &str, config: String, targets: &[&str]) -> Vec<i32> {
    syslog(); // the module in the child logs to our /dev/log
    let uid = pam_passbyme::os::lookup_user(invoker).unwrap().unwrap().uid;
    let out = child_output(run_child(
        "identity::child_su",
        &[
            ("PBM_CONFIG", config),
            ("PBM_UID", uid.to_string()),
            ("PBM_TARGETS", targets.join(",")),
        ],
    ));
    // The harness prints its own words on the same lines: each code follows its marker.
    let mut rest = out.as_str();
    targets
        .iter()
        .map(|t| {
            let mark = format!("RC {t} ");
            let at = rest
                .find(&mark)
                .unwrap_or_else(|| panic!("no RC for {t}:\n{out}"));
            rest = &rest[at + mark.len()..];
            let code = rest.split_whitespace().next().unwrap();
            code.parse().unwrap()
        })
        .collect()
}

#[test]
fn user_invoker_pushes_to_the_real_uids_user_and_names_the_target() {
    let emu = Emulator::start();
    nss_user("inv_target");
    nss_user("inv_alice");
    let cfg = config(
        &emu,
        "prompt = \"info\"",
        "inv_alice = \"inv_alice+approve@x\"\nroot = \"inv_root+approve@x\"",
    );
    assert_eq!(su_as("inv_alice", cfg.clone(), &["inv_target"]), [0]);
    let line = syslog().line_with(" target=inv_target");
    assert!(
        line.contains("decision=approved user=inv_alice ids=inv_alice+approve@x "),
        "{line}"
    );
    let m = &emu.messages()[0];
    assert_eq!(m["recipients"][0]["userId"], "inv_alice+approve@x");
    assert!(
        m["subject"]
            .as_str()
            .unwrap()
            .contains("inv_alice wants to become inv_target on "),
        "{m}"
    );
    // Without the argument, the target's own (missing) mapping decides.
    let s = Setup::new(&cfg, "");
    assert_eq!(s.login("inv_target").0, USER_UNKNOWN);
    assert_eq!(emu.messages().len(), 1);
}

/// Issue 19: in sshd, login or a shared common-auth the process runs as root, so "the
/// invoker" was root: alice's login pushed to root's phone and got in on root's approval.
/// A real uid of 0 is refused (root running su itself as well: pam_rootok admits root).
#[test]
fn user_invoker_refuses_a_real_uid_of_0() {
    let emu = Emulator::start();
    nss_user("inv0_alice");
    // The test process runs as root, like sshd: its real uid is 0.
    let s = Setup::new(
        &config(&emu, "prompt = \"info\"", "root = \"inv0_root+approve@x\""),
        "user=invoker",
    );
    assert_eq!(s.login("inv0_alice").0, SERVICE_ERR);
    let line = syslog().line_with("user=inv0_alice ");
    assert!(
        line.contains("decision=error user=inv0_alice ids=- ")
            && line.contains("error=\"user=invoker but the invoking uid is 0: "),
        "{line}"
    );
    assert!(emu.messages().is_empty(), "no push to root's phone");
}

/// Issue 19: the grace period after `su bob` was approved let `su root` in from the same
/// terminal with no push. The grace key holds the target.
#[test]
fn user_invoker_grace_is_per_target() {
    let emu = Emulator::start();
    for u in ["invg_alice", "invg_bob", "invg_carol"] {
        nss_user(u);
    }
    let cfg = config_limits(
        &emu,
        "max_pushes = 1000\ngrace = \"5m\"\ngrace_local = true",
        "prompt = \"info\"",
        "invg_alice = \"invg_alice+approve@x\"",
    );
    // bob approved; bob again within the grace (no push); carol needs her own push.
    assert_eq!(
        su_as("invg_alice", cfg, &["invg_bob", "invg_bob", "invg_carol"]),
        [0, 0, 0]
    );
    assert_eq!(emu.messages().len(), 2, "bob once, carol once");
    let graced = syslog().line_with("decision=grace user=invg_alice ");
    assert!(graced.ends_with(" target=invg_bob"), "{graced}");
    let carol = syslog().line_with(" target=invg_carol");
    assert!(
        carol.contains("decision=approved user=invg_alice "),
        "{carol}"
    );
}
