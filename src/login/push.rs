//! The push: the earlier message cancelled when the limiter says so, the verification code,
//! the message composed and sent, its id recorded with the limiter at once, the hint shown
//! (and with `prompt = "enter"` the prompt, under a watchdog that cancels the push at the
//! deadline), then the wait for the phone ([`super::poll`]).

use std::time::Instant;

use crate::client::{self, Error as ClientError, Message, SessionInfo};
use crate::config::{Config, MessageId, Prompt, WhenUnreachable};
use crate::log::{self, Level};
use crate::messages;
use crate::os::Host;
use crate::outcome::{Outcome, Report, Request, Settled};
use crate::template::TemplateError;

use super::api::Api;
use super::{poll, Attempt, ConversationError, Ui, CANCEL_TIMEOUT};

/// The stack of the thread that cancels the push at the deadline while a prompt is open:
/// enough for a TLS request, whatever RUST_MIN_STACK says (under sudo it is the caller's).
const WATCHDOG_STACK: usize = 1 << 20;

impl Attempt<'_> {
    /// From the push to the decision. The message is held by `self.login` from the moment
    /// the service answers the POST, so every exit from here cancels it.
    pub(super) fn push_and_wait(
        &mut self,
        cancel_first: Option<String>,
    ) -> Result<Outcome, Outcome> {
        let Attempt {
            config,
            req,
            host,
            ui,
            start,
            deadline,
            login,
        } = self;
        let (config, req, host, deadline) = (*config, *req, *host, *deadline);
        let Some(backend) = login.backend.as_ref() else {
            return Err(Outcome::Error("internal: no service".into()));
        };
        let service = backend.service.as_ref();
        if let Some(id) = cancel_first {
            cancel_earlier(service, &id, &mut **ui);
        }
        let Some(n) = host.random_below(90) else {
            return Err(Outcome::Error(
                "no randomness for the verification code".into(),
            ));
        };
        let code = (n + 10).to_string();
        login.code = Some(code.clone());
        let ids = &login.ids;
        let message =
            compose(config, req, host, ids, &code).map_err(|e| Outcome::Error(e.to_string()))?;
        let (info, mismatch) = send(service, &message, deadline, config.policy.unreachable)?;
        // First thing once the POST is answered: hold the message (every exit now cancels
        // it) and record its id with the limiter, so that a crash from here on leaves a push
        // the next login of this user cancels. Logging comes after.
        let message_id = info.message_id.clone();
        login.message = Some(info);
        if let (Some(store), Some(ticket)) = (&backend.limiter, &login.ticket) {
            let ui = &mut **ui;
            let mut interrupted = || ui.interrupted();
            let recorded = store.sent(
                ticket,
                &message_id,
                &mut crate::limiter::Wait {
                    deadline,
                    interrupted: Some(&mut interrupted),
                },
            );
            if let Err(e) = recorded {
                ui.log(
                    Level::Warning,
                    &log::event("limits: message id not recorded", &e.to_string()),
                );
            }
        }
        ui.log(
            Level::Debug,
            &format!(
                "sent message={} user={} code={code}",
                log::clean(&message_id, 64),
                log::clean(&req.user, 64)
            ),
        );
        if let Some(reason) = mismatch {
            // `InFlight` cancels it.
            return Err(Outcome::Error(format!(
                "send: malformed response: {reason}"
            )));
        }
        let Some(info) = login.message.as_mut() else {
            return Err(Outcome::Error("internal: lost the message".into()));
        };
        if let Some(decided) = poll::decide(info, ids) {
            return Ok(decided);
        }
        let shown = Shown {
            config,
            req,
            service,
            ids,
            message_id: &message_id,
            code: &code,
            start: *start,
            deadline,
        };
        match shown.tell(&host.hostname(), &mut **ui) {
            Told::Done => {}
            Told::Failed(e) => return Err(Outcome::ConversationFailed(e.to_string())),
            Told::Expired(settled) => {
                // Cancelled at the deadline while the prompt was open: the login timed
                // out, whatever the answer (an approval seen now came too late).
                login.settled_early = Some(settled);
                return Err(Outcome::TimedOut);
            }
            // Answered at the deadline itself, before the watchdog acted: `InFlight`
            // cancels the push.
            Told::Late => return Err(Outcome::TimedOut),
        }
        Ok(poll::wait(
            config, service, info, ids, &mut **ui, *start, deadline,
        ))
    }
}

/// Cancels the push of a login that crashed, or that this one replaces (policy).
fn cancel_earlier(service: &dyn Api, id: &str, ui: &mut dyn Ui) {
    let r = service.cancel(id, Instant::now() + CANCEL_TIMEOUT);
    ui.log(
        Level::Info,
        &log::event(
            &format!("limits: cancelled earlier message {}", log::clean(id, 64)),
            &r.map_or_else(|e| e.to_string(), |_| "ok".into()),
        ),
    );
}

/// Sends the message. `Ok` with the message the service holds, and the reason when the
/// answer did not match what was sent (the message exists, is refused, and is cancelled
/// like any other: its statuses are not trusted, so it is kept with none listed). `Err`
/// when no message exists: fail-open applies to exactly one failure, no TCP connection to
/// the service could be made (see `client::Error::Unreachable`).
fn send(
    service: &dyn Api,
    message: &Message,
    deadline: Instant,
    unreachable: WhenUnreachable,
) -> Result<(SessionInfo, Option<String>), Outcome> {
    let allow = unreachable == WhenUnreachable::Allow;
    match service.send(message, deadline) {
        Ok(info) => Ok((info, None)),
        Err(e @ ClientError::Unreachable(_)) if allow => Err(Outcome::FailOpen(e.to_string())),
        Err(e @ ClientError::Unreachable(_)) => Err(Outcome::Unreachable(e.to_string())),
        Err(ClientError::Mismatch { message_id, reason }) => {
            match client::check_message_id(&message_id) {
                Ok(()) => Ok((
                    SessionInfo {
                        message_id,
                        expiration_date: time::OffsetDateTime::UNIX_EPOCH,
                        recipients: Vec::new(),
                    },
                    Some(reason),
                )),
                Err(e) => Err(Outcome::Error(format!(
                    "send: malformed response: {reason} (invalid argument: {e})"
                ))),
            }
        }
        Err(e @ (ClientError::Api { .. } | ClientError::MalformedResponse(_))) => {
            Err(Outcome::Error(format!("send: {e}")))
        }
        // Everything else denies as "unavailable"; under `allow`, say why it did not open.
        Err(e) if allow => {
            let why = match &e {
                ClientError::Status { .. } => "the service answered",
                _ if service.has_connected() => "a TCP connection had been made",
                ClientError::Timeout(_) => "the login's own time ran out",
                _ => "not a failure to connect",
            };
            Err(Outcome::Unreachable(format!("{e} (no fail-open: {why})")))
        }
        Err(e) => Err(Outcome::Unreachable(e.to_string())),
    }
}

/// What telling the person about the push came to.
enum Told {
    /// Shown (and with `prompt = "enter"`, answered) before the deadline.
    Done,
    /// The conversation failed.
    Failed(ConversationError),
    /// The deadline passed while the prompt was open: the watchdog settled the push.
    Expired(Settled),
    /// The prompt was answered at the deadline, before the watchdog acted.
    Late,
}

/// A push that was sent and is not decided yet, as the person is told of it.
struct Shown<'a> {
    config: &'a Config,
    req: &'a Request,
    service: &'a dyn Api,
    ids: &'a [String],
    message_id: &'a str,
    code: &'a str,
    start: Instant,
    deadline: Instant,
}

impl Shown<'_> {
    /// Shows the hint with the code as `login.prompt` says: not at all, as a line, or with
    /// a prompt to press Enter.
    fn tell(&self, hostname: &str, ui: &mut dyn Ui) -> Told {
        let values = messages::Values {
            code: Some(self.code),
            ..messages::Values::of(self.req, hostname)
        };
        let hint = self.config.messages.render(MessageId::Approve, &values);
        match self.config.login.prompt {
            Prompt::None => Told::Done,
            Prompt::Info => match ui.info(&hint) {
                Ok(()) => Told::Done,
                Err(e) => Told::Failed(e),
            },
            Prompt::Enter => {
                // sshd shows a prompt at once, and a plain message only with the next prompt.
                let enter = self.config.messages.render(MessageId::Enter, &values);
                self.prompt(&format!("{hint}\n{enter}"), ui)
            }
        }
    }

    /// The prompt blocks inside the application until the person answers (sshd: until the
    /// client does, or LoginGraceTime): it cannot be interrupted safely. What the deadline
    /// can still bound is the push: at the deadline a watchdog cancels it, so the phone
    /// cannot approve it later and nothing stays open however long the prompt lasts. The
    /// prompt itself ends when the application ends it. A signal that ends the process
    /// during the prompt cancels the push and logs the decision ([`Shown::abandon`]).
    fn prompt(&self, text: &str, ui: &mut dyn Ui) -> Told {
        let answered = std::sync::Mutex::new(false);
        let wake = std::sync::Condvar::new();
        let abandon = |sig: i32| self.abandon(sig);
        let (answer, expired) = std::thread::scope(|scope| {
            let watchdog = std::thread::Builder::new()
                .name("pam_passbyme-deadline".into())
                .stack_size(WATCHDOG_STACK)
                .spawn_scoped(scope, || self.watchdog(&answered, &wake))
                .ok();
            let answer = ui.prompt(text, &abandon);
            *answered.lock().unwrap_or_else(|p| p.into_inner()) = true;
            wake.notify_all();
            let expired = watchdog.and_then(|w| w.join().ok()).flatten();
            (answer, expired)
        });
        if let Some(settled) = expired {
            return Told::Expired(settled);
        }
        if let Err(e) = answer {
            return Told::Failed(e);
        }
        if Instant::now() >= self.deadline {
            return Told::Late;
        }
        Told::Done
    }

    /// Waits until the prompt is answered or the deadline comes; at the deadline cancels the
    /// push and says how that went.
    fn watchdog(
        &self,
        answered: &std::sync::Mutex<bool>,
        wake: &std::sync::Condvar,
    ) -> Option<Settled> {
        let mut done = answered.lock().unwrap_or_else(|p| p.into_inner());
        while !*done {
            let now = Instant::now();
            if now >= self.deadline {
                drop(done);
                return Some(cancelled(self.service, self.message_id, now));
            }
            done = wake
                .wait_timeout(done, self.deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        None
    }

    /// The signal `sig` ends the process during the prompt: cancels the push, and gives the
    /// decision line to log.
    fn abandon(&self, sig: i32) -> String {
        let r = Report {
            outcome: Outcome::Interrupted(sig),
            ids: self.ids.to_vec(),
            message_id: Some(self.message_id.to_owned()),
            code: Some(self.code.to_owned()),
            duration: self.start.elapsed(),
            settled: cancelled(self.service, self.message_id, Instant::now()),
            typed: None,
            redacted: None,
        };
        log::decision(self.req, &r)
    }
}

/// Cancels the message now, within [`CANCEL_TIMEOUT`].
fn cancelled(service: &dyn Api, message_id: &str, now: Instant) -> Settled {
    match service.cancel(message_id, now + CANCEL_TIMEOUT) {
        Ok(_) => Settled::Cancelled,
        Err(e) => Settled::CancelFailed(e.to_string()),
    }
}

/// The push for `ids`: the subject and body of the configuration's language (or its own
/// templates) filled for this login, valid for `login.availability`.
fn compose(
    config: &Config,
    req: &Request,
    host: &dyn Host,
    ids: &[String],
    code: &str,
) -> Result<Message, TemplateError> {
    let hostname = host.hostname();
    let values = messages::Values {
        time: Some(host.now()),
        code: Some(code),
        ..messages::Values::of(req, &hostname)
    };
    let (subject, body) = messages::push_texts(config, &values)?;
    let mut m = Message::authorization(ids.to_vec(), config.login.availability());
    m.subject = Some(subject);
    m.body = Some(body);
    Ok(m)
}
