//! Every log line the module writes is built here, and every value in it sanitised here
//! (with the client's own sanitiser, [`crate::client::sanitize`]): the one decision line of a
//! login, the other lines (`debug`, warnings), and the two lines written straight to syslog
//! when no PAM handle can be used (the panic hook, a signal during the prompt).
//!
//! The module logs through `pam_syslog` (facility authpriv, prefix
//! `pam_passbyme(<service>:auth):`); it never calls openlog/closelog and never writes to
//! stdout or stderr.

use std::fmt::Write as _;

use crate::client::sanitize;
use crate::outcome::{Audit, Outcome, Report, Request, Settled};

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// An internal error (a panic caught at the PAM boundary).
    Crit,
    /// An unusable configuration: nobody can log in through this module.
    Alert,
    /// An error (service unreachable, malformed answer, credentials).
    Err,
    /// A warning (fail-open used, a poll failed, certificate near expiry).
    Warning,
    /// A denial.
    Notice,
    /// An approval, a skip.
    Info,
    /// Only with `debug`: effective settings, message ids.
    Debug,
}

impl Level {
    /// The syslog priority (without facility).
    fn priority(self) -> i32 {
        match self {
            Level::Crit => libc::LOG_CRIT,
            Level::Alert => libc::LOG_ALERT,
            Level::Err => libc::LOG_ERR,
            Level::Warning => libc::LOG_WARNING,
            Level::Notice => libc::LOG_NOTICE,
            Level::Info => libc::LOG_INFO,
            Level::Debug => libc::LOG_DEBUG,
        }
    }

    /// Lowercase name, as `passbyme` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Crit => "critical",
            Level::Alert => "alert",
            Level::Err => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// Untrusted text made safe for a log line: control characters replaced, at most `max`
/// characters.
pub(crate) fn clean(s: &str, max: usize) -> String {
    sanitize::clean(s, max)
}

/// Text for a `key="…"` field: [`clean`], with every `"` turned into `'`, so that no text
/// (a server's error message, a reason) can close the quotes and write fields of its own
/// that a log reader would take for the module's.
pub(crate) fn quoted(s: &str, max: usize) -> String {
    clean(s, max).replace('"', "'")
}

/// Untrusted bytes (PAM items) made safe for a log line, as [`clean`].
pub(crate) fn clean_bytes(b: &[u8], max: usize) -> String {
    sanitize::clean_bytes(b, max)
}

/// A user name in a form that does not reveal it, for names the user database does not
/// know (often a password typed at the user prompt): its length and, with the host's key
/// ([`crate::userkey`]), 24 bits of its HMAC-SHA256, enough to tell repeated attempts
/// apart. Without the key, the length alone: an unkeyed hash would let a dictionary
/// confirm a password.
pub fn redacted_user(user: &str, key: Option<&crate::userkey::Key>) -> String {
    match key {
        Some(k) => format!("(unknown:len={},hmac={})", user.len(), k.tag(user)),
        None => format!("(unknown:len={})", user.len()),
    }
}

/// The level of a login's decision line.
pub(crate) fn decision_level(outcome: &Outcome) -> Level {
    match outcome {
        Outcome::Approved | Outcome::Skipped(_) | Outcome::Grace | Outcome::Repeat(_) => {
            Level::Info
        }
        Outcome::FailOpen(_) => Level::Warning,
        Outcome::Config(_) => Level::Alert,
        Outcome::Error(_) | Outcome::Unreachable(_) | Outcome::NoUser { .. } => Level::Err,
        // What enforce mode would have done, at its level (a configuration error stays an
        // alert: audit mode steps aside, but the administrator must see it).
        Outcome::Audit(Audit::Push) => Level::Info,
        Outcome::Audit(Audit::Without(o)) => decision_level(o),
        // A denial: the phone, the person, the policy or the limits.
        Outcome::Refused(_) | Outcome::TimedOut | Outcome::Limited(_) => Level::Notice,
        Outcome::Interrupted(_) | Outcome::ClientGone(_) => Level::Notice,
        Outcome::Unmapped(_) | Outcome::UnknownUser(_) | Outcome::BadUserName(_) => Level::Notice,
        Outcome::LocalDenied | Outcome::ConversationFailed(_) => Level::Notice,
    }
}

/// How the decision line shows what became of the message.
pub(crate) fn settled(s: &Settled) -> String {
    match s {
        Settled::None => "none".into(),
        Settled::Final => "final".into(),
        Settled::Cancelled => "cancelled".into(),
        Settled::CancelFailed(e) => format!("cancel-failed:\"{}\"", quoted(e, 120)),
    }
}

/// The one decision line: `key=value` pairs, values sanitised.
///
/// In audit mode the word is `would-push`, `would-allow`, `would-skip` or `would-deny`,
/// followed after the common fields by `mode=audit` and, when enforce mode would have
/// ended before the push, `enforce=<its decision word>` and its own reason fields.
pub(crate) fn decision(req: &Request, r: &Report) -> String {
    let mut s = String::with_capacity(200);
    let (audit, outcome) = match &r.outcome {
        Outcome::Audit(a) => (true, a.enforced()),
        o => (false, Some(o)),
    };
    // Not a name (empty or not UTF-8): its length only. A name the user database does not
    // know (maybe a password typed in the wrong place): as the report hides it, else by
    // length. Else the name, sanitised.
    let user = if let Some(Outcome::BadUserName(len)) = outcome {
        format!("(len={len})")
    } else if let Some(hidden) = &r.redacted {
        hidden.clone()
    } else if let Some(Outcome::UnknownUser(_)) = outcome {
        redacted_user(&req.user, None)
    } else if req.user.is_empty() {
        "-".into()
    } else {
        clean(&req.user, 64)
    };
    let _ = write!(
        s,
        "decision={} user={} ids={} service={} rhost={} tty={} duration={:.1}s",
        r.outcome.word(),
        user,
        if r.ids.is_empty() {
            "-".into()
        } else {
            clean(&r.ids.join(","), 400)
        },
        clean(&req.service, 32),
        req.rhost.as_deref().map_or("-".into(), |h| clean(h, 64)),
        req.tty.as_deref().map_or("-".into(), |t| clean(t, 32)),
        r.duration.as_secs_f64(),
    );
    if audit {
        s.push_str(" mode=audit");
        if let Some(o) = outcome {
            let _ = write!(s, " enforce={}", o.word());
        }
    }
    let why = outcome.map_or_else(String::new, reason);
    if !why.is_empty() {
        s.push(' ');
        s.push_str(&why);
    }
    if let Some(typed) = &r.typed {
        let _ = write!(s, " typed={}", clean(typed, 64));
    }
    if let Some(target) = &req.target {
        let _ = write!(s, " target={}", clean(target, 64));
    }
    if let Some(id) = &r.message_id {
        let _ = write!(
            s,
            " message={} settled={}",
            clean(id, 64),
            settled(&r.settled)
        );
    }
    s
}

/// The reason fields of a decision line (`policy=`, `status=`, `error=`, …), if any.
fn reason(outcome: &Outcome) -> String {
    let unmapped = |p: &crate::config::Unmapped| format!("{p:?}").to_lowercase();
    match outcome {
        Outcome::Refused(st) => format!("status={}", clean(st.as_str(), 32)),
        Outcome::Interrupted(sig) => format!("signal={}", crate::os::signal_name(*sig)),
        Outcome::ClientGone(peer) => format!(
            "peer={} reason=\"the client closed its connection\"",
            clean(peer, 64)
        ),
        Outcome::Unmapped(p) => format!("policy=unmapped:{}", unmapped(p)),
        Outcome::UnknownUser(p) => format!(
            "policy=unmapped:{} reason=\"unknown to the user database\"",
            unmapped(p)
        ),
        Outcome::BadUserName(_) => "error=\"user name is empty or not UTF-8\"".into(),
        Outcome::NoUser { error, .. } => {
            format!("error=\"cannot get the user: {}\"", quoted(error, 100))
        }
        Outcome::Repeat(prev) => format!(
            "previous={} reason=\"this transaction already decided; no new push\"",
            prev.word()
        ),
        Outcome::Skipped(why) => format!("policy=\"{}\"", quoted(why, 200)),
        Outcome::LocalDenied => "policy=local:deny".into(),
        Outcome::FailOpen(e) => format!("policy=unreachable:allow error=\"{}\"", quoted(e, 200)),
        Outcome::Unreachable(e) => format!("policy=unreachable:deny error=\"{}\"", quoted(e, 200)),
        Outcome::ConversationFailed(e) | Outcome::Config(e) | Outcome::Error(e) => {
            format!("error=\"{}\"", quoted(e, 300))
        }
        Outcome::Limited(why) => format!("policy=limits reason=\"{}\"", quoted(&why.reason, 200)),
        Outcome::Grace => "policy=limits:grace".into(),
        Outcome::Approved | Outcome::TimedOut => String::new(),
        Outcome::Audit(a) => a.enforced().map_or_else(String::new, reason),
    }
}

/// The `debug` line of the effective settings (never a secret: see `Config::describe`).
pub(crate) fn settings(pairs: &[(String, String)]) -> String {
    let mut s = String::from("settings");
    for (k, v) in pairs {
        let _ = write!(s, " {}={}", clean(k, 64), clean(v, 300));
    }
    s
}

/// A free-form line (`what: detail`), the detail sanitised.
pub(crate) fn event(what: &str, detail: &str) -> String {
    format!("{what}: {}", clean(detail, 300))
}

/// The panic hook's line: written with [`direct`], as the panic may not leave a usable handle.
pub(crate) fn panic_line(panic: &str) -> String {
    format!(
        "pam_passbyme: internal error (denied): {}",
        clean(panic, 400)
    )
}

/// The line of a login abandoned by a signal during the prompt, written with [`direct`]
/// from the helper thread (pam_syslog's handle is not ours to use there).
pub(crate) fn abandoned_line(service: &str, decision: &str) -> String {
    format!(
        "pam_passbyme({}:auth): {decision} (during the prompt)",
        clean(service, 32)
    )
}

/// Writes one line straight to syslog (facility authpriv), for the two places with no PAM
/// handle to log through. Never calls openlog: the host's ident and facility stay its own.
pub(crate) fn direct(level: Level, line: &str) {
    crate::os::syslog(libc::LOG_AUTHPRIV | level.priority(), line);
}
