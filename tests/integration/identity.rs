//! Who a login pushes to: the groups that step aside (before any mapping), the sources of
//! PassBy[ME] IDs in their order, and the checks on each, through real libpam.

use crate::util::pam::{config, Setup, PERM_DENIED, USER_UNKNOWN};
use crate::util::{nss_group, nss_user, syslog, Emulator};

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
