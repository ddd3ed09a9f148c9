//! The sample stack pam.d/sshd-totp-fallback through real libpam: the built module, then
//! Debian's real pam_google_authenticator.so (package libpam-google-authenticator), then
//! pam_deny. The TOTP codes are computed by `oathtool --totp` at the moment the prompt is
//! shown. The module's PAM_AUTHINFO_UNAVAIL falls through to the TOTP prompt; every other
//! outcome ends the stack without ever asking for a code.
//!
//! Every user here has a valid secret file and the conversation answers the TOTP prompt
//! with the right code, unless the case says otherwise: a case that must end the stack
//! would therefore succeed if it fell through, so the refusals prove the stack ended.
//! Each user has a secret of their own: the secret files say DISALLOW_REUSE, and a code
//! used once is refused for the rest of its window.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pam_passbyme::pamapp;

use crate::util::pam::{
    decision, module, Setup, AUTH_ERR, MAXTRIES, SERVICE_ERR, SUCCESS, USER_UNKNOWN,
};
use crate::util::tls::Pki;
use crate::util::{nss_user, syslog, Emulator, TempDir};

/// The prompt of pam_google_authenticator as the sample sets it (`authtok_prompt`): its
/// default, "Verification code: ", is also a word of the module's own push prompt.
const TOTP_PROMPT: &str = "Code from your authenticator app: ";

/// The shipped sample.
fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pam.d/sshd-totp-fallback")
}

/// A private service whose stack is the auth lines of the sample, with the built module
/// (and its config) and a private directory of secret files put in.
struct Fallback {
    setup: Setup,
    secrets: TempDir,
}

impl Fallback {
    fn new(config: &str) -> Fallback {
        let setup = Setup::new(config, "");
        let secrets = TempDir::new("totp");
        let text = std::fs::read_to_string(sample()).unwrap();
        let auth: Vec<&str> = text.lines().filter(|l| l.starts_with("auth ")).collect();
        assert_eq!(auth.len(), 3, "push, TOTP, pam_deny: {auth:?}");
        let module_line = format!(" {} config={} ", module().display(), setup.config.display());
        let secret = format!("secret={}/", secrets.path().display());
        let mut stack = String::new();
        for line in auth {
            let l = line
                .replace(" pam_passbyme.so ", &module_line)
                .replace("secret=/var/lib/google-authenticator/", &secret);
            stack += &l;
            stack.push('\n');
        }
        assert!(
            stack.contains(&module_line) && stack.contains(&secret),
            "{stack}"
        );
        assert!(
            !stack.contains("nullok"),
            "a user without a secret is refused"
        );
        std::fs::write(setup.confdir().join("pbm-test"), stack).unwrap();
        Fallback { setup, secrets }
    }

    /// Gives `user` a fresh secret file (root's, 0600, as `user=root` demands); returns
    /// the secret.
    fn secret(&self, user: &str) -> String {
        self.secret_with_mode(user, 0o600)
    }

    fn secret_with_mode(&self, user: &str, mode: u32) -> String {
        let secret = random_secret();
        self.secrets.write(
            user,
            &format!(
                "{secret}\n\" TOTP_AUTH\n\" DISALLOW_REUSE\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n"
            ),
            mode,
        );
        secret
    }

    fn secret_file(&self, user: &str) -> String {
        std::fs::read_to_string(self.secrets.path().join(user)).unwrap()
    }

    /// One login: Enter at the module's prompt; at the TOTP prompt the code of `secret`
    /// computed now (`right`), or a code that is not it. Returns the PAM code and what the
    /// conversation saw.
    fn login(&self, user: &str, secret: &str, right: bool) -> (i32, Vec<String>) {
        let secret = secret.to_owned();
        let answer: pamapp::Conversation = Box::new(move |style, text| {
            if !matches!(style, pamapp::PROMPT_ECHO_OFF | pamapp::PROMPT_ECHO_ON) {
                return Ok(None);
            }
            if text != TOTP_PROMPT {
                return Ok(Some(String::new()));
            }
            let code = totp(&secret);
            Ok(Some(if right { code } else { wrong(&code) }))
        });
        self.setup.login_with(user, Some(b"198.51.100.7"), answer)
    }
}

/// 20 random bytes in base32 (RFC 4648, no padding): 32 characters, as google-authenticator
/// makes them.
fn random_secret() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 20];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut out) = (0u32, 0u32, String::new());
    for b in bytes {
        buf = ((buf << 8) | u32::from(b)) & 0xffff;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    assert_eq!((out.len(), bits), (32, 0));
    out
}

/// The current TOTP code of `secret`, by `oathtool --totp -b`.
fn totp(secret: &str) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret])
        .output()
        .expect("oathtool (Debian package oathtool)");
    assert!(out.status.success(), "oathtool: {out:?}");
    let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code:?}"
    );
    code
}

/// A code that differs from `code` in every digit.
fn wrong(code: &str) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 5) % 10))
        .collect()
}

/// The conversation showed the TOTP prompt (the recorded messages are "STYLE:TEXT").
fn asked_totp(conv: &[String]) -> bool {
    conv.iter().any(|m| {
        m.split_once(':')
            .is_some_and(|(_, text)| text == TOTP_PROMPT)
    })
}

/// Refused, and the TOTP code was never asked.
fn ended(user: &str, (rc, conv): (i32, Vec<String>), want_rc: i32, word: &str) {
    assert_eq!(rc, want_rc, "{user}: {conv:?}");
    assert!(
        !asked_totp(&conv),
        "{user}: the TOTP code was asked: {conv:?}"
    );
    // Waits for this very line (a user may have logged in before).
    syslog().line_with(&format!("decision={word} user={user} "));
}

/// A whole config: `service`, `limits`, `policy`, login.timeout 5s (the minimum), `users`.
fn config(emu: &Emulator, service: &str, limits: &str, policy: &str, users: &str) -> String {
    format!(
        "{service}{}[policy]\n{policy}\n[login]\ntimeout = \"5s\"\npoll_interval = \"100ms\"\npoll_interval_seen = \"100ms\"\n[users]\n{users}\n",
        emu.limits_table(limits)
    )
}

fn fast(service: String) -> String {
    service + "connect_timeout = \"2s\"\nrequest_timeout = \"2s\"\n"
}

const NO_LIMITS: &str = "max_pushes = 1000\nlockout_after = 0";

#[test]
fn an_unreachable_service_falls_through_to_the_totp_code() {
    let emu = Emulator::start();
    // Nothing listens on port 1: ECONNREFUSED, the module's PAM_AUTHINFO_UNAVAIL under the
    // default policy.unreachable = "deny".
    let refused = fast(emu.service_table().replace(&emu.addr, "127.0.0.1:1"));
    let users = "ft_ok = \"ft_ok@x\"\nft_wrong = \"ft_wrong@x\"\nft_none = \"ft_none@x\"\nft_mode = \"ft_mode@x\"\nft_again = \"ft_again@x\"";
    let f = Fallback::new(&config(&emu, &refused, NO_LIMITS, "", users));

    // The right code: in.
    let secret = f.secret("ft_ok");
    let (rc, conv) = f.login("ft_ok", &secret, true);
    assert_eq!(rc, SUCCESS, "{conv:?}");
    assert!(asked_totp(&conv), "{conv:?}");
    decision("ft_ok", &["decision=unreachable ", "ECONNREFUSED"]);
    // pam_google_authenticator checked the code: it recorded the step as used.
    let state = f.secret_file("ft_ok");
    assert!(
        state.lines().any(|l| l.starts_with("\" DISALLOW_REUSE ")),
        "{state}"
    );

    // A wrong code: refused.
    let secret = f.secret("ft_wrong");
    let (rc, conv) = f.login("ft_wrong", &secret, false);
    assert_eq!(rc, AUTH_ERR, "{conv:?}");
    assert!(asked_totp(&conv), "{conv:?}");
    decision("ft_wrong", &["decision=unreachable "]);

    // The same code twice within its window: the second login is refused (DISALLOW_REUSE).
    let secret = f.secret("ft_again");
    let code = totp(&secret);
    let fixed = |c: String| -> pamapp::Conversation {
        Box::new(move |style, text| {
            Ok(
                matches!(style, pamapp::PROMPT_ECHO_OFF | pamapp::PROMPT_ECHO_ON).then(|| {
                    if text == TOTP_PROMPT {
                        c.clone()
                    } else {
                        String::new()
                    }
                }),
            )
        })
    };
    let first = f
        .setup
        .login_with("ft_again", Some(b"198.51.100.7"), fixed(code.clone()));
    // (A step boundary between oathtool and the check is inside the window of 3.)
    assert_eq!(first.0, SUCCESS, "{first:?}");
    let second = f
        .setup
        .login_with("ft_again", Some(b"198.51.100.7"), fixed(code));
    assert_eq!(second.0, AUTH_ERR, "the code was used already: {second:?}");

    // No secret file: refused (no nullok), the prompt shown all the same.
    let (rc, conv) = f.login("ft_none", &random_secret(), true);
    assert_eq!(rc, AUTH_ERR, "{conv:?}");
    assert!(asked_totp(&conv), "{conv:?}");
    decision("ft_none", &["decision=unreachable "]);

    // A secret file readable by its group: refused even with the right code; the same
    // file made 0600 lets the next right code in.
    let secret = f.secret_with_mode("ft_mode", 0o640);
    let (rc, conv) = f.login("ft_mode", &secret, true);
    assert_eq!(rc, AUTH_ERR, "{conv:?}");
    let path = f.secrets.path().join("ft_mode");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (rc, conv) = f.login("ft_mode", &secret, true);
    assert_eq!(rc, SUCCESS, "{conv:?}");
}

#[test]
fn every_other_outcome_ends_the_stack_without_the_totp_code() {
    let emu = Emulator::start();
    let service = fast(emu.service_table());
    let users = "fe_deny = \"fe_deny+deny+after=100ms@x\"\n\
                 fe_slow = \"fe_slow+ignore@x\"\n\
                 fe_api = \"fe_api+sendfault=420:403+ignore@x\"\n\
                 fe_badjson = \"fe_badjson+sendfault=badjson+ignore@x\"\n\
                 fe_ok = \"fe_ok+approve+after=100ms@x\"";
    let f = Fallback::new(&config(&emu, &service, NO_LIMITS, "", users));
    let secret = |u: &str| f.secret(u);

    // Approved: in at once, no TOTP code.
    let s = secret("fe_ok");
    ended_ok(&f, "fe_ok", &s);

    // Denied on the phone.
    let s = secret("fe_deny");
    ended("fe_deny", f.login("fe_deny", &s, true), MAXTRIES, "refused");
    assert_eq!(
        emu.status_for("fe_deny+deny+after=100ms@x").as_deref(),
        Some("DENIED")
    );

    // No answer within login.timeout (5s).
    let s = secret("fe_slow");
    ended("fe_slow", f.login("fe_slow", &s, true), MAXTRIES, "timeout");

    // The service refuses the request (PassBy[ME] error code 403), or answers garbage.
    let s = secret("fe_api");
    ended("fe_api", f.login("fe_api", &s, true), AUTH_ERR, "error");
    let s = secret("fe_badjson");
    ended(
        "fe_badjson",
        f.login("fe_badjson", &s, true),
        AUTH_ERR,
        "error",
    );

    // A user with no mapping, under the default policy.unmapped = "deny".
    nss_user("fe_unmapped");
    let s = secret("fe_unmapped");
    ended(
        "fe_unmapped",
        f.login("fe_unmapped", &s, true),
        USER_UNKNOWN,
        "unmapped",
    );

    // Locked out after one denial (limits): the second login sends no push.
    let f = Fallback::new(&config(
        &emu,
        &service,
        "lockout_after = 1\nlockout = \"1h\"",
        "",
        "fe_lock = \"fe_lock+deny+after=100ms@x\"",
    ));
    let s = f.secret("fe_lock");
    ended("fe_lock", f.login("fe_lock", &s, true), MAXTRIES, "refused");
    let pushes = emu.messages().len();
    ended("fe_lock", f.login("fe_lock", &s, true), MAXTRIES, "limited");
    assert_eq!(emu.messages().len(), pushes, "locked: no push");
    assert!(syslog()
        .line_with("decision=limited user=fe_lock ")
        .contains("locked out"));

    // An unusable configuration (an unknown key).
    let f = Fallback::new(&format!(
        "{service}[login]\nno_such_key = 1\n[users]\nfe_conf = \"fe_conf@x\"\n"
    ));
    let s = f.secret("fe_conf");
    ended(
        "fe_conf",
        f.login("fe_conf", &s, true),
        SERVICE_ERR,
        "error",
    );
}

fn ended_ok(f: &Fallback, user: &str, secret: &str) {
    let (rc, conv) = f.login(user, secret, true);
    assert_eq!(rc, SUCCESS, "{user}: {conv:?}");
    assert!(!asked_totp(&conv), "{user}: {conv:?}");
    decision(user, &["decision=approved "]);
}

/// PAM_AUTHINFO_UNAVAIL is "the service could not be used before a push existed", not only
/// "no connection": a TLS failure and an HTTP 500 fall through as well, as the sample and
/// pam_passbyme(8) say. (policy.unreachable = "allow" would open only for no connection;
/// the fallback asks for a second factor, so it covers every failure of the service.)
#[test]
fn a_service_that_cannot_be_used_falls_through_too() {
    let emu = Emulator::start();
    let pki = Pki::new();
    let t = TempDir::new("tlsca");
    let other_ca = t.write("other-ca.pem", &pki.ca_pem, 0o644);
    let service = fast(emu.service_table());
    // The emulator's certificate against a CA that did not issue it: the TCP connection is
    // made, the handshake fails.
    let untrusted = service.replace(
        &format!("ca_bundle = \"{}/ca.pem\"", emu.dir.path().display()),
        &format!("ca_bundle = \"{}\"", other_ca.display()),
    );
    assert_ne!(untrusted, service);
    let f = Fallback::new(&config(
        &emu,
        &untrusted,
        NO_LIMITS,
        "",
        "fu_tls = \"fu_tls@x\"",
    ));
    let s = f.secret("fu_tls");
    let (rc, conv) = f.login("fu_tls", &s, true);
    assert_eq!(rc, SUCCESS, "{conv:?}");
    assert!(asked_totp(&conv), "{conv:?}");
    decision("fu_tls", &["decision=unreachable ", "UnknownIssuer"]);

    let f = Fallback::new(&config(
        &emu,
        &service,
        NO_LIMITS,
        "",
        "fu_500 = \"fu_500+sendfault=500+ignore@x\"",
    ));
    let s = f.secret("fu_500");
    let (rc, conv) = f.login("fu_500", &s, false);
    assert_eq!(rc, AUTH_ERR, "a wrong code: {conv:?}");
    assert!(asked_totp(&conv), "{conv:?}");
    decision("fu_500", &["decision=unreachable ", "HTTP status 500"]);
}

/// `ignore=ignore`: a user the module steps aside for (here unmapped under
/// policy.unmapped = "ignore") gets the TOTP prompt as their second factor; without a
/// secret file they are refused.
#[test]
fn a_user_the_module_steps_aside_for_is_asked_for_the_totp_code() {
    let emu = Emulator::start();
    let f = Fallback::new(&config(
        &emu,
        &fast(emu.service_table()),
        NO_LIMITS,
        "unmapped = \"ignore\"",
        "fi_mapped = \"fi_mapped@x\"",
    ));
    nss_user("fi_aside");
    nss_user("fi_nosecret");
    let s = f.secret("fi_aside");
    let (rc, conv) = f.login("fi_aside", &s, true);
    assert_eq!(rc, SUCCESS, "{conv:?}");
    assert!(asked_totp(&conv), "{conv:?}");
    decision("fi_aside", &["decision=unmapped "]);
    let (rc, conv) = f.login("fi_nosecret", &random_secret(), true);
    assert_eq!(rc, AUTH_ERR, "{conv:?}");
    assert!(asked_totp(&conv), "{conv:?}");
    assert!(emu.messages().is_empty(), "no push for either");
}
