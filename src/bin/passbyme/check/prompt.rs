//! Which `prompt=` fits the sshd being checked, and its clients.
//!
//! Under sshd the verification code reaches the person either with a prompt
//! (`prompt=enter`: keyboard-interactive shows it at once, in every client) or as an info
//! message (`prompt=info`, no Enter). sshd before OpenSSH 10.3 holds info messages back
//! until the next prompt or the end of the login (bugzilla 2876), so the code arrives
//! only after the approval it was meant for, and sshd pads a request that blocked without
//! a prompt. From 10.3 on sshd sends it at once, and OpenSSH's ssh shows it then (measured
//! by tests/distro/matrix.py against the sshd of Debian 11, 12, 13 and testing with the ssh
//! of Debian 11, 12 and testing: 8.4, 9.2 and 10.6 all show it within a second, before the
//! approval). A prompt is shown by every keyboard-interactive client; a message without
//! one may not be (other clients were not measured), and only the admin knows the
//! clients: so `prompt=info` fits an sshd 10.3+ where the admin says every client shows
//! such messages (`--ssh-clients-show-info`). What this file does not judge: the text
//! itself, and sudo (which shows messages at once: sudo.rs).

use pam_passbyme::config::Prompt;

use super::Level;

/// The first OpenSSH whose sshd sends keyboard-interactive info messages at once.
pub const INFO_AT_ONCE: (u32, u32) = (10, 3);

/// The finding for `prompt` under an sshd of `version` (None: unknown), where
/// `clients_show_info` is the admin's word that every client shows keyboard-interactive
/// messages that come without a prompt.
pub fn judge(
    prompt: Prompt,
    version: Option<(u32, u32)>,
    clients_show_info: bool,
) -> (Level, &'static str, String) {
    let sshd = version.map_or("this sshd (version unknown)".to_owned(), |(a, b)| {
        format!("OpenSSH {a}.{b}")
    });
    let new_sshd = version.is_some_and(|v| v >= INFO_AT_ONCE);
    match prompt {
        Prompt::Enter if new_sshd && clients_show_info => (
            Level::Ok,
            "sshd-prompt",
            format!("prompt=enter: the verification code comes with the Enter prompt; with {sshd} and clients that show messages without a prompt (--ssh-clients-show-info), prompt=info would show it without the Enter"),
        ),
        Prompt::Enter => (
            Level::Ok,
            "sshd-prompt",
            "prompt=enter: the verification code comes with the Enter prompt, which every keyboard-interactive client shows at once".to_owned(),
        ),
        Prompt::Info if !new_sshd => (
            Level::Warning,
            "sshd-prompt-info",
            format!("prompt=info under {sshd}: sshd before OpenSSH 10.3 holds the verification code back until the login ends, so nobody sees it before approving (and sshd pads the wait): use prompt=enter"),
        ),
        Prompt::Info if !clients_show_info => (
            Level::Warning,
            "sshd-prompt-info",
            format!("prompt=info: {sshd} sends the verification code at once, without a prompt: OpenSSH's ssh shows it (measured: 8.4, 9.2, 10.6), a client that shows keyboard-interactive text only with a prompt does not, and its user approves without the code: use prompt=enter, or if every client shows such messages, say so with --ssh-clients-show-info"),
        ),
        Prompt::Info => (
            Level::Ok,
            "sshd-prompt",
            format!("prompt=info: {sshd} sends the verification code at once, and every client shows it (--ssh-clients-show-info): no Enter needed"),
        ),
        Prompt::None => (
            Level::Ok,
            "sshd-prompt",
            "prompt=none: no verification code is shown".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_level(p: Prompt, v: Option<(u32, u32)>, new: bool) -> (&'static str, Level) {
        let (l, id, _) = judge(p, v, new);
        (id, l)
    }

    #[test]
    fn enter_fits_every_sshd_and_client() {
        for v in [
            None,
            Some((8, 4)),
            Some((9, 2)),
            Some((10, 0)),
            Some((10, 6)),
        ] {
            for new in [false, true] {
                assert_eq!(id_level(Prompt::Enter, v, new), ("sshd-prompt", Level::Ok));
            }
        }
    }

    #[test]
    fn info_warns_before_10_3_whatever_the_clients() {
        for v in [
            None,
            Some((8, 4)),
            Some((9, 2)),
            Some((10, 0)),
            Some((10, 2)),
        ] {
            for new in [false, true] {
                assert_eq!(
                    id_level(Prompt::Info, v, new),
                    ("sshd-prompt-info", Level::Warning),
                    "{v:?} {new}"
                );
            }
        }
        let (_, _, m) = judge(Prompt::Info, Some((9, 2)), false);
        assert_eq!(m, "prompt=info under OpenSSH 9.2: sshd before OpenSSH 10.3 holds the verification code back until the login ends, so nobody sees it before approving (and sshd pads the wait): use prompt=enter");
    }

    #[test]
    fn info_on_10_3_fits_only_when_the_admin_says_every_client_shows_it() {
        for v in [(10, 3), (10, 6), (11, 0)] {
            assert_eq!(
                id_level(Prompt::Info, Some(v), false),
                ("sshd-prompt-info", Level::Warning)
            );
            assert_eq!(
                id_level(Prompt::Info, Some(v), true),
                ("sshd-prompt", Level::Ok)
            );
        }
        let (_, _, m) = judge(Prompt::Info, Some((10, 6)), false);
        assert_eq!(m, "prompt=info: OpenSSH 10.6 sends the verification code at once, without a prompt: OpenSSH's ssh shows it (measured: 8.4, 9.2, 10.6), a client that shows keyboard-interactive text only with a prompt does not, and its user approves without the code: use prompt=enter, or if every client shows such messages, say so with --ssh-clients-show-info");
        let (_, _, m) = judge(Prompt::Enter, Some((10, 6)), true);
        assert!(
            m.ends_with("prompt=info would show it without the Enter"),
            "{m}"
        );
    }

    #[test]
    fn none_is_ok() {
        assert_eq!(
            id_level(Prompt::None, Some((9, 2)), false),
            ("sshd-prompt", Level::Ok)
        );
    }
}
