//! The flow's paths, with canned fakes for the host, the service and the person: the fakes
//! and helpers here, the paths in `steps.rs` (before the push), `push.rs` (the push, the
//! prompt, the wait and its ends) and `limits.rs` (configuration, limits, audit mode, the
//! decision lines).

use std::time::{Duration, Instant};

use super::*;
use crate::client::{Error as ClientError, Message, SessionInfo, Status};
use crate::config::{Prompt, Unmapped};
use crate::limiter::{self, Store};
use crate::os::LookupError;
use crate::outcome::Settled;

const MS: fn(u64) -> Duration = Duration::from_millis;

/// A session listing these `(id, status)` pairs.
pub(super) fn info(list: &[(&str, &str)]) -> SessionInfo {
    SessionInfo {
        message_id: "m".into(),
        expiration_date: time::OffsetDateTime::UNIX_EPOCH,
        recipients: list
            .iter()
            .map(|(u, s)| crate::client::Recipient {
                user_id: (*u).into(),
                status: Status::parse(s),
            })
            .collect(),
    }
}
// -----------------------------------------------------------------------------------
// The flow's paths, with canned fakes for the host, the service and the person.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::limiter::Limits;

/// A host whose user database knows `alice` (also spelt `ALICE`) and `bob`; `nss-down`
/// makes the lookup fail. Groups are canned.
struct FakeHost {
    groups: Result<Vec<String>, fn() -> LookupError>,
    gecos: Result<Option<String>, fn() -> LookupError>,
}

impl Default for FakeHost {
    fn default() -> FakeHost {
        FakeHost {
            groups: Ok(vec!["users".into()]),
            gecos: Ok(None),
        }
    }
}

impl Host for FakeHost {
    fn canonical_user(&self, user: &str) -> Result<Option<String>, LookupError> {
        match user {
            "alice" | "ALICE" => Ok(Some("alice".into())),
            "bob" => Ok(Some("bob".into())),
            "nss-down" => Err(LookupError::Failed(std::io::Error::other("timeout"))),
            _ => Ok(None),
        }
    }
    fn groups(&self, _: &str) -> Result<Vec<String>, LookupError> {
        self.groups.clone().map_err(|e| e())
    }
    fn gecos(&self, _: &str) -> Result<Option<String>, LookupError> {
        self.gecos.clone().map_err(|e| e())
    }
    fn hostname(&self) -> String {
        "testhost".into()
    }
    fn random_below(&self, _: u32) -> Option<u32> {
        Some(32) // code 42
    }
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::UNIX_EPOCH
    }
}

/// A service with canned answers: one for the send, then one per poll (the last
/// status repeats once they run out). Records what it was asked.
#[derive(Default)]
struct FakeService {
    send: Mutex<Option<Result<SessionInfo, ClientError>>>,
    polls: Mutex<VecDeque<Result<SessionInfo, ClientError>>>,
    connected: bool,
    cancel_fails: bool,
    sent: Mutex<Vec<Message>>,
    cancelled: Mutex<Vec<String>>,
    tracked: Mutex<u32>,
}

impl Api for Arc<FakeService> {
    fn send(&self, m: &Message, _: Instant) -> Result<SessionInfo, ClientError> {
        self.sent.lock().unwrap().push(m.clone());
        self.send
            .lock()
            .unwrap()
            .take()
            .unwrap_or_else(|| Err(ClientError::Connection("no canned send".into())))
    }
    fn track(&self, id: &str, _: Instant) -> Result<SessionInfo, ClientError> {
        *self.tracked.lock().unwrap() += 1;
        let mut polls = self.polls.lock().unwrap();
        match polls.len() {
            0 => Ok(msg(id, &[("a@x", "PENDING")])),
            1 => match polls.front() {
                Some(Ok(i)) => Ok(i.clone()),
                _ => polls.pop_front().unwrap(),
            },
            _ => polls.pop_front().unwrap(),
        }
    }
    fn cancel(&self, id: &str, _: Instant) -> Result<SessionInfo, ClientError> {
        self.cancelled.lock().unwrap().push(id.into());
        if self.cancel_fails {
            return Err(ClientError::Connection("reset\x1b[2J".into()));
        }
        Ok(msg(id, &[("a@x", "CANCELLED")]))
    }
    fn has_connected(&self) -> bool {
        self.connected
    }
}

fn msg(id: &str, list: &[(&str, &str)]) -> SessionInfo {
    SessionInfo {
        message_id: id.into(),
        expiration_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ..info(list)
    }
}

fn pending() -> Result<SessionInfo, ClientError> {
    Ok(msg("m1", &[("a@x", "PENDING")]))
}

/// Hands out the fake service, and a limiter store when given one; counts the calls.
struct FakeConnect {
    service: Arc<FakeService>,
    limits: Option<Limits>,
    fail: Option<String>,
    calls: u32,
}

impl Connect for FakeConnect {
    fn connect(&mut self, _: &Config) -> Result<Backend, ConnectError> {
        self.calls += 1;
        if let Some(e) = &self.fail {
            return Err(ConnectError::Other(e.clone()));
        }
        Ok(Backend {
            service: Box::new(self.service.clone()),
            limiter: self.limits.as_ref().map(|l| Store::open(l).unwrap()),
        })
    }
}

/// The person: answers the prompt, records what is shown and logged; `interrupt_after`
/// polls of `interrupted`, reports SIGTERM.
#[derive(Default)]
struct FakeUi {
    shown: Vec<String>,
    lines: Vec<(Level, String)>,
    conversation_fails: bool,
    interrupt_after: Option<u32>,
    asked: u32,
}

impl Ui for FakeUi {
    fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        if self.conversation_fails {
            return Err(ConversationError::Code(19));
        }
        self.shown.push(text.into());
        Ok(())
    }
    fn prompt(&mut self, text: &str, _: &Abandon<'_>) -> Result<String, ConversationError> {
        self.info(text).map(|_| String::new())
    }
    fn interrupted(&mut self) -> Option<i32> {
        self.asked += 1;
        match self.interrupt_after {
            Some(n) if self.asked > n => Some(libc::SIGTERM),
            _ => None,
        }
    }
    fn log(&mut self, level: Level, line: &str) {
        self.lines.push((level, line.into()));
    }
}

/// Asserts that a run's outcome matches a pattern, and shows the outcome when not.
macro_rules! assert_outcome {
    ($run:expr, $($pattern:tt)+) => {
        assert!(
            matches!(&$run.report.outcome, $($pattern)+),
            "{:?}",
            $run.report.outcome
        )
    };
}

/// alice → a@x; fast polls, a 2 s deadline, no limits unless a test adds them.
fn config(extra: &str) -> Config {
    let mut c = Config::parse(
        std::path::Path::new("/x.toml"),
        &format!(
            "[service]\ncredentials = \"/nonexistent/x.pem\"\n[login]\nprompt = \"info\"\n{extra}\n[users]\nalice = \"a@x\"\n"
        ),
    )
    .unwrap();
    c.limits = None;
    // Never /run/passbyme: the key of unknown names goes to a private directory.
    c.state_dir = std::env::temp_dir().join(format!("pbm-flow-{}-state", std::process::id()));
    c.login.timeout = Duration::from_secs(2);
    c.login.poll_interval = MS(20);
    c.login.poll_interval_seen = MS(20);
    c.login.poll_fast_after = Duration::ZERO;
    c
}

fn remote(user: &str) -> Request {
    Request {
        user: user.into(),
        service: "sshd".into(),
        rhost: Some("192.0.2.1".into()),
        tty: Some("ssh".into()),
        target: None,
    }
}

struct Run {
    report: Report,
    line: String,
    level: Level,
    ui: FakeUi,
    service: Arc<FakeService>,
    connects: u32,
}

fn login_with(
    config: &Config,
    req: Request,
    host: &FakeHost,
    service: FakeService,
    limits: Option<Limits>,
    mut ui: FakeUi,
) -> Run {
    let service = Arc::new(service);
    let mut connect = FakeConnect {
        service: service.clone(),
        limits,
        fail: None,
        calls: 0,
    };
    let mut req = req;
    let report = run(config, &mut req, host, &mut connect, &mut ui);
    record(&mut ui, &req, &report);
    let (level, line) = ui.lines.last().cloned().unwrap();
    Run {
        report,
        line,
        level,
        ui,
        service,
        connects: connect.calls,
    }
}

fn login(config: &Config, user: &str, service: FakeService) -> Run {
    login_with(
        config,
        remote(user),
        &FakeHost::default(),
        service,
        None,
        FakeUi::default(),
    )
}

/// Limits in a fresh state directory named after `tag`, changed by `set`; and a login
/// of alice from a remote host through a store with them.
fn limited(tag: &str, set: impl FnOnce(&mut Limits)) -> (Limits, impl Fn(FakeService) -> Run) {
    let mut limits = state_dir(tag);
    set(&mut limits);
    let (c, l) = (config(""), limits.clone());
    let go = move |service| {
        login_with(
            &c,
            remote("alice"),
            &FakeHost::default(),
            service,
            Some(l.clone()),
            FakeUi::default(),
        )
    };
    (limits, go)
}

/// alice from a remote host through `ui`; the message is never answered.
fn login_unanswered(ui: FakeUi) -> Run {
    login_with(
        &config(""),
        remote("alice"),
        &FakeHost::default(),
        answering(&[]),
        None,
        ui,
    )
}

fn answering(polls: &[&[(&str, &str)]]) -> FakeService {
    FakeService {
        send: Mutex::new(Some(pending())),
        polls: Mutex::new(polls.iter().map(|l| Ok(msg("m1", l))).collect()),
        ..FakeService::default()
    }
}

fn state_dir(tag: &str) -> Limits {
    let dir = std::env::temp_dir().join(format!("pbm-flow-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Limits {
        state_dir: dir,
        ..Limits::default()
    }
}

mod limits;
mod push;
mod steps;
