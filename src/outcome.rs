//! The words every layer of the login speaks: who logs in ([`Request`]), how a login ended
//! ([`Outcome`], [`Audit`]), what became of its message (`Settled`) and the end of a login as
//! the log line needs it ([`Report`]). Plain data: the flow ([`crate::login`]) makes them, the
//! log ([`crate::log`]), the terminal's texts ([`crate::messages`]) and the PAM boundary
//! (`crate::pam`) read them.

use std::time::{Duration, Instant};

use crate::client::Status;
use crate::config::Unmapped;
use crate::limiter::Refusal;

/// Who is logging in, and from where. Every field is untrusted.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The Unix user (PAM_USER).
    pub user: String,
    /// The PAM service (sshd, sudo, …).
    pub service: String,
    /// The remote host (PAM_RHOST), if any.
    pub rhost: Option<String>,
    /// The terminal (PAM_TTY), if any.
    pub tty: Option<String>,
    /// With `user=invoker` (`su`): the user to become (PAM_USER), while `user` is the one
    /// who ran the program (its real uid), whose phone gets the push.
    pub target: Option<String>,
}

/// How a login ended. Exactly one variant lets the user in without the administrator's
/// explicit fail-open choice: [`Outcome::Approved`] ([`Outcome::Grace`] and
/// [`Outcome::Repeat`] repeat an earlier approval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `APPROVED` for this user's ID, for the message this login sent, before the deadline.
    Approved,
    /// A final status other than APPROVED (DENIED, NO_DEVICE, CANCELLED, …).
    Refused(Status),
    /// No answer before the deadline (or the message expired); the message was cancelled.
    TimedOut,
    /// A signal abandoned the login; the message was cancelled.
    Interrupted(i32),
    /// The client (at this address) closed its connection while the module waited for the
    /// phone; the message was cancelled.
    ClientGone(String),
    /// The user has no `[users]` entry; the policy decides the PAM code.
    Unmapped(Unmapped),
    /// The user database (NSS) does not know the name: treated as unmapped. Such a name is
    /// often a password typed in the wrong place, so it is logged only in a form that does
    /// not reveal it (length and a short hash), in full only with `debug`.
    UnknownUser(Unmapped),
    /// The application gave an empty user name, or one that is not UTF-8 (its length in
    /// bytes; never logged as it is: it may be a password).
    BadUserName(usize),
    /// The application could not give the user name; `again` when it asked to be called
    /// again (PAM_CONV_AGAIN).
    NoUser {
        /// The application asked to be called again.
        again: bool,
        /// What went wrong.
        error: String,
    },
    /// This PAM transaction already decided for this user (no new push): the earlier outcome.
    Repeat(Box<Outcome>),
    /// The module steps aside (exempt group, not in `only_groups`, local login ignored).
    Skipped(String),
    /// A local login (no remote host) refused by policy.
    LocalDenied,
    /// The service could not be reached before a message existed, and the policy is to
    /// let the user in. Logged as a warning.
    FailOpen(String),
    /// The service could not be reached before a message existed; denied.
    Unreachable(String),
    /// The conversation with the person failed.
    ConversationFailed(String),
    /// Approved earlier from the same remote host and service, within the grace period
    /// the administrator configured: no push.
    Grace,
    /// Refused by the push-fatigue limits (rate, lockout, a push already pending), with
    /// no push sent.
    Limited(Refusal),
    /// The module arguments, the configuration or the credentials it names are unusable.
    Config(String),
    /// Anything else (a refused request, a malformed answer).
    Error(String),
    /// Audit mode: what enforce mode would have done, with no push sent and no limit
    /// counted. Always PAM_IGNORE.
    Audit(Audit),
}

/// What an audit-mode login found enforce mode would have done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audit {
    /// Everything before the push passed: enforce mode would have sent one.
    Push,
    /// Enforce mode would have ended here, with this outcome and no push.
    Without(Box<Outcome>),
}

impl Audit {
    /// The `decision=` word: `would-push`, or by the PAM code enforce mode would have
    /// returned: `would-allow` (success without a push: a grace period), `would-skip`
    /// (PAM_IGNORE), `would-deny` (every failure).
    pub(crate) fn word(&self) -> &'static str {
        let Audit::Without(o) = self else {
            return "would-push";
        };
        match o.as_ref() {
            Outcome::Audit(a) => a.word(),
            Outcome::Repeat(prev) => Audit::Without(prev.clone()).word(),
            Outcome::Approved | Outcome::FailOpen(_) | Outcome::Grace => "would-allow",
            Outcome::Unmapped(Unmapped::Ignore)
            | Outcome::UnknownUser(Unmapped::Ignore)
            | Outcome::Skipped(_) => "would-skip",
            Outcome::Refused(_)
            | Outcome::TimedOut
            | Outcome::Interrupted(_)
            | Outcome::ClientGone(_)
            | Outcome::Unmapped(Unmapped::Deny)
            | Outcome::UnknownUser(Unmapped::Deny)
            | Outcome::BadUserName(_)
            | Outcome::NoUser { .. }
            | Outcome::LocalDenied
            | Outcome::Unreachable(_)
            | Outcome::ConversationFailed(_)
            | Outcome::Limited(_)
            | Outcome::Config(_)
            | Outcome::Error(_) => "would-deny",
        }
    }

    /// What enforce mode would have logged (the inner outcome), if it ended before a push.
    pub(crate) fn enforced(&self) -> Option<&Outcome> {
        match self {
            Audit::Push => None,
            Audit::Without(o) => Some(o),
        }
    }
}

impl Outcome {
    /// This outcome as audit mode reports it (unchanged if it already is one).
    pub(crate) fn audited(self) -> Outcome {
        match self {
            Outcome::Audit(_) => self,
            o => Outcome::Audit(Audit::Without(Box::new(o))),
        }
    }
}

impl Outcome {
    /// The `decision=` word of the log line.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Refused(_) => "refused",
            Outcome::TimedOut => "timeout",
            Outcome::Interrupted(_) => "interrupted",
            Outcome::ClientGone(_) => "client-gone",
            Outcome::Unmapped(_) | Outcome::UnknownUser(_) | Outcome::BadUserName(_) => "unmapped",
            Outcome::Repeat(_) => "repeat",
            Outcome::Skipped(_) => "skipped",
            Outcome::LocalDenied => "local-denied",
            Outcome::FailOpen(_) => "fail-open",
            Outcome::Unreachable(_) => "unreachable",
            Outcome::ConversationFailed(_) => "conversation-failed",
            Outcome::Grace => "grace",
            Outcome::Limited(_) => "limited",
            Outcome::Config(_) | Outcome::Error(_) | Outcome::NoUser { .. } => "error",
            Outcome::Audit(a) => a.word(),
        }
    }

    /// A decision that asking again in the same PAM transaction would only repeat with a
    /// new push: the phone's answer (or its silence) and the limits. The hook keeps these
    /// on the handle; transient failures (errors, an unreachable service, a signal, a
    /// failed conversation) are not kept, so a retry in the same transaction may succeed.
    pub(crate) fn is_final(&self) -> bool {
        match self {
            // The phone's answer or its silence, and the limits.
            Outcome::Approved | Outcome::Refused(_) | Outcome::TimedOut => true,
            Outcome::Limited(_) | Outcome::Grace => true,
            // The person or the client left: a new try may be answered.
            Outcome::Interrupted(_) | Outcome::ClientGone(_) => false,
            // Decided before any push: the next call decides the same way by itself.
            Outcome::Unmapped(_) | Outcome::UnknownUser(_) | Outcome::Skipped(_) => false,
            Outcome::LocalDenied | Outcome::Repeat(_) | Outcome::Audit(_) => false,
            // Failures, which a retry may not meet.
            Outcome::BadUserName(_) | Outcome::NoUser { .. } | Outcome::FailOpen(_) => false,
            Outcome::Unreachable(_) | Outcome::ConversationFailed(_) => false,
            Outcome::Config(_) | Outcome::Error(_) => false,
        }
    }

    /// Lets the user in (approval, or the explicit fail-open policy).
    pub fn allows(&self) -> bool {
        match self {
            Outcome::Approved | Outcome::FailOpen(_) | Outcome::Grace => true,
            Outcome::Repeat(prev) => prev.allows(),
            // Whatever enforce mode would have done: audit mode never lets anyone in.
            Outcome::Audit(_) => false,
            // No approval: the phone said no or nothing, the person left, the limits.
            Outcome::Refused(_) | Outcome::TimedOut | Outcome::Limited(_) => false,
            Outcome::Interrupted(_) | Outcome::ClientGone(_) => false,
            // A policy that does not let in (PAM_IGNORE lets the rest of the stack decide).
            Outcome::Unmapped(_) | Outcome::UnknownUser(_) => false,
            Outcome::Skipped(_) | Outcome::LocalDenied => false,
            // Every failure denies: fail closed.
            Outcome::BadUserName(_) | Outcome::NoUser { .. } | Outcome::Unreachable(_) => false,
            Outcome::ConversationFailed(_) | Outcome::Config(_) | Outcome::Error(_) => false,
        }
    }
}

/// What became of the message this login sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// No message was sent.
    None,
    /// Every one of the user's IDs had a final status: nothing to cancel.
    Final,
    /// The message was cancelled.
    Cancelled,
    /// The cancel failed (why).
    CancelFailed(String),
}

/// The end of a login: the outcome, and what the log line needs.
#[derive(Debug, Clone)]
pub struct Report {
    /// How it ended.
    pub outcome: Outcome,
    /// The PassBy\[ME\] IDs the user maps to.
    pub ids: Vec<String>,
    /// The message sent, if any.
    pub message_id: Option<String>,
    /// What happened to the message at the end.
    pub(crate) settled: Settled,
    /// The verification code shown, if any.
    pub code: Option<String>,
    /// From start to decision.
    pub duration: Duration,
    /// The name as the login gave it, when the user database knows it by another spelling
    /// (the request then carries the canonical name).
    pub typed: Option<String>,
    /// What the log shows instead of the user name, when it must not show it: a name the
    /// user database does not know ([`crate::log::redacted_user`]).
    pub redacted: Option<String>,
}

impl Report {
    /// The report of a login decided before the flow ran (arguments, user name,
    /// configuration, a repeated call).
    pub(crate) fn early(outcome: Outcome, start: Instant) -> Report {
        Report {
            outcome,
            ids: Vec::new(),
            message_id: None,
            code: None,
            duration: start.elapsed(),
            settled: Settled::None,
            typed: None,
            redacted: None,
        }
    }
}
