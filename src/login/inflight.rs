//! A login under way ([`InFlight`]): what it talks to, what it sent, and the settling of it
//! on every exit, a panic included.

use std::time::Instant;

use crate::client::{SessionInfo, Status};
use crate::limiter::{Finish, Ticket, Wait};
use crate::outcome::{Outcome, Settled};

use super::api::Backend;
use super::{CANCEL_TIMEOUT, FINISH_LOCK_WAIT};

/// What a settled login reports of its message.
pub(super) struct End {
    /// The user's IDs, if the login got as far as mapping them.
    pub(super) ids: Vec<String>,
    /// The message sent, if any.
    pub(super) message_id: Option<String>,
    /// The verification code, if one was drawn.
    pub(super) code: Option<String>,
    /// What became of the message.
    pub(super) settled: Settled,
}

/// A login under way: what it talks to, its facts so far, and what must be settled at its
/// end. Dropping it (on any path, a panic included) cancels a message that is still open,
/// and hands the limiter its result. Whether the message is final is judged by this user's
/// IDs only: statuses the server reports for other recipients prove nothing.
#[derive(Default)]
pub(super) struct InFlight {
    pub(super) backend: Option<Backend>,
    pub(super) ids: Vec<String>,
    pub(super) code: Option<String>,
    pub(super) message: Option<SessionInfo>,
    pub(super) ticket: Option<Ticket>,
    settled: bool,
    /// Set when the message was already cancelled during the login (at the deadline, while
    /// a prompt was open): what to report instead of cancelling again.
    pub(super) settled_early: Option<Settled>,
}

impl InFlight {
    /// Ends the login with `outcome`: settles the message ([`InFlight::settle_once`]) and
    /// gives what the report needs of it.
    pub(super) fn settle(
        mut self,
        outcome: &Outcome,
        interrupted: Option<&mut dyn FnMut() -> Option<i32>>,
    ) -> End {
        let settled = self.settle_once(Some(outcome), interrupted);
        End {
            ids: std::mem::take(&mut self.ids),
            message_id: self.message.as_ref().map(|m| m.message_id.clone()),
            code: self.code.take(),
            settled,
        }
    }

    /// Cancels the message unless every one of the user's IDs is final, and records the
    /// result with the limiter, once. Returns what happened to the message.
    fn settle_once(
        &mut self,
        outcome: Option<&Outcome>,
        interrupted: Option<&mut dyn FnMut() -> Option<i32>>,
    ) -> Settled {
        if std::mem::replace(&mut self.settled, true) {
            return Settled::None;
        }
        let settled = self.cancel_open();
        let store = self.backend.as_ref().and_then(|b| b.limiter.as_ref());
        if let (Some(store), Some(ticket)) = (store, self.ticket.take()) {
            let how = outcome.map_or(Finish::Other, finish);
            // A failure here only loses one count; the pending entry goes stale by itself.
            let _ = store.finish(
                &ticket,
                how,
                &mut Wait {
                    deadline: Instant::now() + FINISH_LOCK_WAIT,
                    interrupted,
                },
            );
        }
        settled
    }

    fn cancel_open(&mut self) -> Settled {
        let Some(info) = self.message.as_ref() else {
            return Settled::None;
        };
        if let Some(settled) = self.settled_early.take() {
            return settled;
        }
        if self
            .ids
            .iter()
            .all(|id| info.status_of(id).is_some_and(Status::is_final))
        {
            return Settled::Final;
        }
        let Some(backend) = &self.backend else {
            return Settled::CancelFailed("internal: no service".into());
        };
        let r = backend
            .service
            .cancel(&info.message_id, Instant::now() + CANCEL_TIMEOUT);
        match r {
            Ok(_) => Settled::Cancelled,
            Err(e) => Settled::CancelFailed(e.to_string()),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.settle_once(None, None);
    }
}

/// What the limiter counts of a login that ended with `outcome`: the phone's approval, its
/// denial, or neither (every other end).
fn finish(outcome: &Outcome) -> Finish {
    if *outcome == Outcome::Approved {
        Finish::Approved
    } else if *outcome == Outcome::Refused(Status::Denied) {
        Finish::Denied
    } else {
        Finish::Other
    }
}
