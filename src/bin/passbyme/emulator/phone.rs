//! The phone: scenarios chosen by recipient ID, each recipient's status timeline, and the
//! in-memory message store.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};

use super::{parse_duration, Answer, Delay, Fault};

/// Statuses after which nothing changes: the protocol's final statuses, as the client
/// library defines them (an unknown string is not final).
pub fn is_final(status: &str) -> bool {
    pam_passbyme::client::Status::parse(status).is_final()
}

/// What a recipient's phone ends up doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Approve,
    Deny,
    Ignore,
    /// Answer with this status string, verbatim.
    Status(String),
}

impl From<Answer> for Outcome {
    fn from(a: Answer) -> Self {
        match a {
            Answer::Approve => Outcome::Approve,
            Answer::Deny => Outcome::Deny,
            Answer::Ignore => Outcome::Ignore,
        }
    }
}

/// A recipient's behaviour, from the tags in its ID and the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub outcome: Outcome,
    pub after: Delay,
    /// On every track (`GET`).
    pub fault: Option<Fault>,
    /// On the send (`POST`).
    pub send_fault: Option<Fault>,
    /// On the cancel (`DELETE`).
    pub cancel_fault: Option<Fault>,
    /// Times since the send given by `notified=`, `downloaded=`, `seen=` tags (in that
    /// order); `None` keeps the default step.
    pub steps: Steps,
}

/// The phone's progress steps, in order, before the answer.
pub const STEPS: [&str; 3] = ["NOTIFIED", "DOWNLOADED", "SEEN"];

/// Explicit times for [`STEPS`] (`notified=…`, `downloaded=…`, `seen=…`), each optional.
pub type Steps = [Option<Duration>; 3];

impl Scenario {
    /// Read the `+tag` parts of the local part of `user_id`.
    pub fn parse(
        user_id: &str,
        default_answer: Answer,
        default_after: Delay,
    ) -> Result<Self, String> {
        let mut s = Scenario {
            outcome: default_answer.into(),
            after: default_after,
            fault: None,
            send_fault: None,
            cancel_fault: None,
            steps: [None; 3],
        };
        let local = user_id.rsplit_once('@').map_or(user_id, |(local, _)| local);
        for tag in local.split('+').skip(1) {
            let bad = |e: String| format!("recipient `{user_id}`, tag `{tag}`: {e}");
            match tag.split_once('=') {
                None => match tag {
                    "approve" => s.outcome = Outcome::Approve,
                    "deny" => s.outcome = Outcome::Deny,
                    "ignore" => s.outcome = Outcome::Ignore,
                    _ => {} // an ordinary part of the ID, such as alice+work@x
                },
                Some(("after", v)) => s.after = v.parse().map_err(bad)?,
                Some((step @ ("notified" | "downloaded" | "seen"), v)) => {
                    let i = STEPS
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(step))
                        .unwrap_or(0);
                    s.steps[i] = Some(parse_duration(v).map_err(bad)?);
                }
                Some(("status", v)) if !v.is_empty() => s.outcome = Outcome::Status(v.to_owned()),
                Some(("fault", v)) => s.fault = Some(v.parse().map_err(bad)?),
                Some(("sendfault", v)) => s.send_fault = Some(v.parse().map_err(bad)?),
                Some(("cancelfault", v)) => s.cancel_fault = Some(v.parse().map_err(bad)?),
                Some((key, _)) => {
                    return Err(bad(format!(
                    "unknown scenario key `{key}` (after, notified, downloaded, seen, status, fault, sendfault, cancelfault)"
                )))
                }
            }
        }
        // Explicit steps keep the phone's order (the last tag of a kind has won above).
        let given: Vec<(&str, Duration)> = STEPS
            .iter()
            .zip(s.steps)
            .filter_map(|(n, t)| t.map(|t| (*n, t)))
            .collect();
        if let Some(w) = given.windows(2).find(|w| w[0].1 > w[1].1) {
            return Err(format!(
                "recipient `{user_id}`: {} at {:?} comes after {} at {:?} (steps go NOTIFIED, DOWNLOADED, SEEN)",
                w[0].0.to_lowercase(),
                w[0].1,
                w[1].0.to_lowercase(),
                w[1].1
            ));
        }
        Ok(s)
    }
}

/// The status a recipient reaches when the message expires while it is in `status`.
fn expired(status: &str) -> Option<&'static str> {
    match status {
        "PENDING" => Some("NOT_NOTIFIED"),
        "NOTIFIED" => Some("NOT_DOWNLOADED"),
        "DOWNLOADED" | "SEEN" => Some("NOT_SEEN"),
        _ => None,
    }
}

/// When each of [`STEPS`] happens: the explicit time of a `notified=`/`downloaded=`/`seen=`
/// tag, else the default (min(0.3 s, D/4), min(1 s, D/2), min(2 s, 3D/4) for the answer time
/// D), a default moved only as far as needed to keep the order with the explicit ones.
pub fn step_times(steps: &Steps, delay: Duration) -> [Duration; 3] {
    let default = [
        Duration::from_millis(300).min(delay / 4),
        Duration::from_secs(1).min(delay / 2),
        Duration::from_secs(2).min(delay * 3 / 4),
    ];
    std::array::from_fn(|i| match steps[i] {
        Some(t) => t,
        None => {
            let lo = steps[..i].iter().flatten().max().copied();
            let hi = steps[i + 1..].iter().flatten().min().copied();
            let t = lo.map_or(default[i], |lo| default[i].max(lo));
            hi.map_or(t, |hi| t.min(hi))
        }
    })
}

/// The status changes a recipient goes through if left alone: (time since send, status).
/// `delay` is the answer time, `expiry` the message's availability. A step that would come
/// after the answer never comes.
pub fn timeline(
    outcome: &Outcome,
    steps: &Steps,
    delay: Duration,
    expiry: Duration,
) -> Vec<(Duration, String)> {
    let answer = match outcome {
        Outcome::Approve => Some("APPROVED"),
        Outcome::Deny => Some("DENIED"),
        Outcome::Ignore => None,
        Outcome::Status(s) => Some(s.as_str()),
    };
    let mut events = vec![(Duration::ZERO, "PENDING".to_owned())];
    for (at, status) in step_times(steps, delay).into_iter().zip(STEPS) {
        if at < expiry && (answer.is_none() || at <= delay) {
            events.push((at, status.to_owned()));
        }
    }
    if let Some(answer) = answer.filter(|_| delay <= expiry) {
        events.push((delay, answer.to_owned()));
    }
    // At expiration a recipient still in a known non-final status gets its "never reached"
    // status; final statuses and unknown strings stay as they are.
    let last = events.last().map(|(_, s)| s.as_str()).unwrap_or("PENDING");
    if let Some(end) = expired(last) {
        events.push((expiry, end.to_owned()));
    }
    events
}

/// The status at `t` in a list of events.
fn status_at(events: &[(Duration, String)], t: Duration) -> &str {
    events
        .iter()
        .take_while(|(at, _)| *at <= t)
        .last()
        .map_or("PENDING", |(_, s)| s.as_str())
}

/// One recipient of one message.
#[derive(Debug)]
pub struct Recipient {
    pub user_id: String,
    pub scenario: Scenario,
    /// The answer time drawn for this message.
    pub delay: Duration,
    /// An answer forced by cancel or the admin endpoint: (time since send, status).
    pub forced: Option<(Duration, String)>,
}

impl Recipient {
    /// Every status change up to `now`, forced answers included.
    fn events(&self, expiry: Duration, now: Duration) -> Vec<(Duration, String)> {
        let mut events = timeline(
            &self.scenario.outcome,
            &self.scenario.steps,
            self.delay,
            expiry,
        );
        if let Some((at, status)) = &self.forced {
            events.retain(|(t, _)| t <= at);
            events.push((*at, status.clone()));
        }
        events.retain(|(t, _)| *t <= now);
        events
    }

    fn status(&self, expiry: Duration, now: Duration) -> String {
        status_at(&self.events(expiry, now), now).to_owned()
    }

    /// Force `status` at `now` unless the recipient is already final. Returns whether it changed.
    fn force(&mut self, expiry: Duration, now: Duration, status: &str) -> bool {
        if is_final(&self.status(expiry, now)) {
            return false;
        }
        self.forced = Some((now, status.to_owned()));
        true
    }
}

/// How often a message was asked about.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct RequestCounts {
    pub send: u64,
    pub track: u64,
    pub cancel: u64,
}

/// What a send request asked for besides its recipients, kept as it came and shown again
/// by the admin view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub callback_url: Option<String>,
    pub availability: u64,
}

/// One sent message.
#[derive(Debug)]
pub struct Message {
    pub id: String,
    pub content: Content,
    pub sent_at: SystemTime,
    pub sent_instant: Instant,
    pub recipients: Vec<Recipient>,
    pub cancelled: bool,
    pub requests: RequestCounts,
}

impl Message {
    fn expiry(&self) -> Duration {
        Duration::from_secs(self.content.availability)
    }

    fn elapsed(&self) -> Duration {
        self.sent_instant.elapsed()
    }

    pub fn expiration_date(&self) -> String {
        format_expiration(self.sent_at + self.expiry())
    }

    /// The session info the API answers, with statuses at `now` (since send).
    pub fn session_at(&self, now: Duration) -> Value {
        let recipients: Vec<Value> = self
            .recipients
            .iter()
            .map(|r| json!({"userId": r.user_id, "status": r.status(self.expiry(), now)}))
            .collect();
        json!({
            "messageId": self.id,
            "expirationDate": self.expiration_date(),
            "recipients": recipients,
        })
    }

    pub fn session(&self) -> Value {
        self.session_at(self.elapsed())
    }

    /// `DELETE`: every recipient not final becomes CANCELLED.
    pub fn cancel(&mut self) {
        let (expiry, now) = (self.expiry(), self.elapsed());
        for r in &mut self.recipients {
            r.force(expiry, now, "CANCELLED");
        }
        self.cancelled = true;
    }

    /// The first fault tag of the given kind among the recipients.
    pub fn fault(&self, pick: impl Fn(&Scenario) -> &Option<Fault>) -> Option<Fault> {
        self.recipients
            .iter()
            .find_map(|r| pick(&r.scenario).clone())
    }

    pub fn view(&self) -> MessageView {
        let (expiry, now) = (self.expiry(), self.elapsed());
        MessageView {
            message_id: self.id.clone(),
            content: self.content.clone(),
            sent_at_ms: self
                .sent_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            expiration_date: self.expiration_date(),
            cancelled: self.cancelled,
            requests: self.requests,
            recipients: self
                .recipients
                .iter()
                .map(|r| {
                    let events = r.events(expiry, now);
                    RecipientView {
                        user_id: r.user_id.clone(),
                        status: status_at(&events, now).to_owned(),
                        history: events
                            .into_iter()
                            .map(|(at, status)| HistoryEntry {
                                status,
                                at_ms: u64::try_from(at.as_millis()).unwrap_or(u64::MAX),
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}

/// A message as the admin endpoint and `passbyme demo` show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub message_id: String,
    #[serde(flatten)]
    pub content: Content,
    /// Send time, Unix milliseconds.
    pub sent_at_ms: u64,
    pub expiration_date: String,
    /// A `DELETE` was received.
    pub cancelled: bool,
    pub requests: RequestCounts,
    pub recipients: Vec<RecipientView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientView {
    pub user_id: String,
    /// Status now.
    pub status: String,
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub status: String,
    /// Milliseconds since the send.
    pub at_ms: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum DecideError {
    UnknownId,
    AlreadyFinal,
}

/// All messages, oldest first.
#[derive(Debug, Default)]
pub struct Store {
    messages: Vec<Message>,
}

impl Store {
    pub fn insert(&mut self, m: Message) {
        self.messages.push(m);
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Message> {
        self.messages.iter_mut().find(|m| m.id == id)
    }

    pub fn views(&self) -> Vec<MessageView> {
        self.messages.iter().map(Message::view).collect()
    }

    pub fn view(&self, id: &str) -> Option<MessageView> {
        self.messages.iter().find(|m| m.id == id).map(Message::view)
    }

    /// The admin's approve/deny: every recipient not final answers now.
    pub fn decide(&mut self, id: &str, approve: bool) -> Result<MessageView, DecideError> {
        let m = self.get_mut(id).ok_or(DecideError::UnknownId)?;
        let (expiry, now) = (m.expiry(), m.elapsed());
        let status = if approve { "APPROVED" } else { "DENIED" };
        let mut changed = false;
        for r in &mut m.recipients {
            changed |= r.force(expiry, now, status);
        }
        if changed {
            Ok(m.view())
        } else {
            Err(DecideError::AlreadyFinal)
        }
    }
}

/// ISO-8601 with milliseconds and offset, in UTC: `2026-11-28T13:06:12.658+00:00`.
pub fn format_expiration(t: SystemTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
    );
    time::OffsetDateTime::from(t)
        .format(FORMAT)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000+00:00".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    fn at(outcome: Outcome, delay: Duration, expiry: Duration, t: Duration) -> String {
        status_at(&timeline(&outcome, &[None; 3], delay, expiry), t).to_owned()
    }

    /// The answer due at 3 s, expiry at 300 s: the status at each (ms since send, status).
    fn timeline_is(outcome: Outcome, cases: &[(u64, &str)]) {
        for &(t, want) in cases {
            assert_eq!(
                at(outcome.clone(), S(3), S(300), MS(t)),
                want,
                "{outcome:?} t={t}"
            );
        }
    }

    #[test]
    fn approve_and_deny_timeline() {
        // D = 3 s: NOTIFIED 0.3 s, DOWNLOADED 1 s, SEEN 2 s, answer 3 s.
        timeline_is(
            Outcome::Approve,
            &[
                (0, "PENDING"),
                (299, "PENDING"),
                (300, "NOTIFIED"),
                (999, "NOTIFIED"),
                (1000, "DOWNLOADED"),
                (2000, "SEEN"),
                (2999, "SEEN"),
                (3000, "APPROVED"),
                (500_000, "APPROVED"),
            ],
        );
        assert_eq!(at(Outcome::Deny, S(3), S(300), S(3)), "DENIED");
        // A short delay compresses the steps: D = 400 ms → 100, 200, 300, 400.
        let short: Vec<_> = [99, 100, 200, 300, 400]
            .iter()
            .map(|&t| at(Outcome::Approve, MS(400), S(300), MS(t)))
            .collect();
        assert_eq!(
            short,
            ["PENDING", "NOTIFIED", "DOWNLOADED", "SEEN", "APPROVED"]
        );
        // Zero delay: answered at once.
        assert_eq!(at(Outcome::Approve, MS(0), S(300), MS(0)), "APPROVED");
    }

    #[test]
    fn expiration_wins_over_a_late_answer() {
        // Answer at 10 s, message expires at 5 s, the phone had reached SEEN.
        assert_eq!(at(Outcome::Approve, S(10), S(5), MS(4999)), "SEEN");
        assert_eq!(at(Outcome::Approve, S(10), S(5), S(5)), "NOT_SEEN");
        assert_eq!(at(Outcome::Approve, S(10), S(5), S(60)), "NOT_SEEN");
        // An answer exactly at expiration still counts.
        assert_eq!(at(Outcome::Approve, S(5), S(5), S(5)), "APPROVED");
        // Expiry before any step: never notified.
        assert_eq!(at(Outcome::Deny, S(10), S(1), MS(200)), "PENDING");
        assert_eq!(at(Outcome::Deny, S(4), S(1), MS(500)), "NOTIFIED");
        assert_eq!(at(Outcome::Deny, S(4), S(1), S(1)), "NOT_DOWNLOADED");
    }

    #[test]
    fn ignore_timeline() {
        timeline_is(
            Outcome::Ignore,
            &[
                (0, "PENDING"),
                (300, "NOTIFIED"),
                (2000, "SEEN"),
                (299_999, "SEEN"),
                (300_000, "NOT_SEEN"),
            ],
        );
        // An ignored message expiring early stops where the phone was.
        assert_eq!(
            at(Outcome::Ignore, S(3), MS(500), MS(500)),
            "NOT_DOWNLOADED"
        );
    }

    #[test]
    fn status_scenarios() {
        let st = |s: &str| Outcome::Status(s.to_owned());
        assert_eq!(at(st("NO_DEVICE"), S(1), S(300), MS(999)), "SEEN");
        assert_eq!(at(st("NO_DEVICE"), S(1), S(300), S(1)), "NO_DEVICE");
        assert_eq!(at(st("NO_DEVICE"), S(1), S(300), S(400)), "NO_DEVICE");
        // Unknown strings are sent verbatim and stay, even past expiration.
        assert_eq!(at(st("approved"), S(1), S(300), S(1)), "approved");
        assert_eq!(at(st("approved"), S(1), S(300), S(301)), "approved");
        // A known non-final status is still subject to expiration.
        assert_eq!(at(st("NOTIFIED"), S(1), S(3), S(2)), "NOTIFIED");
        assert_eq!(at(st("NOTIFIED"), S(1), S(3), S(3)), "NOT_DOWNLOADED");
    }

    fn scenario(id: &str) -> Result<Scenario, String> {
        Scenario::parse(id, Answer::Approve, Delay::fixed(S(3)))
    }

    #[test]
    fn tags() {
        let plain = scenario("alice@example.com").unwrap();
        assert_eq!(
            (plain.outcome, plain.after, plain.fault),
            (Outcome::Approve, Delay::fixed(S(3)), None)
        );
        assert_eq!(scenario("alice+deny@x").unwrap().outcome, Outcome::Deny);
        assert_eq!(scenario("bob+ignore@x").unwrap().outcome, Outcome::Ignore);
        let s = scenario("alice+deny+approve+after=500ms@x").unwrap();
        assert_eq!(
            (s.outcome, s.after),
            (Outcome::Approve, Delay::fixed(MS(500)))
        );
        assert_eq!(
            scenario("x+status=NO_DEVICE@y").unwrap().outcome,
            Outcome::Status("NO_DEVICE".into())
        );
        assert_eq!(
            scenario("x+status=approved@y").unwrap().outcome,
            Outcome::Status("approved".into())
        );
        assert_eq!(
            scenario("x+after=2s..3s@y").unwrap().after,
            Delay {
                min: S(2),
                max: S(3)
            }
        );
        let f = scenario("x+fault=420:421+sendfault=hang+cancelfault=reset@y").unwrap();
        assert_eq!(
            (f.fault, f.send_fault, f.cancel_fault),
            (
                Some(Fault::Code420(421)),
                Some(Fault::Hang),
                Some(Fault::Reset)
            )
        );
        // Bare unknown words are part of the ID; no @ at all is fine too.
        assert_eq!(scenario("alice+work@x").unwrap().outcome, Outcome::Approve);
        assert_eq!(scenario("carol+deny").unwrap().outcome, Outcome::Deny);
        // The domain is not read for tags.
        assert_eq!(scenario("dave@x+deny").unwrap().outcome, Outcome::Approve);
        for bad in [
            "x+fault=nope@y",
            "x+after=soon@y",
            "x+colour=red@y",
            "x+status=@y",
            "x+sendfault=420:@y",
        ] {
            assert!(scenario(bad).is_err(), "{bad}");
        }
        let defaults = Scenario::parse("x@y", Answer::Ignore, Delay::fixed(MS(1))).unwrap();
        assert_eq!(defaults.outcome, Outcome::Ignore);
    }

    #[test]
    fn timeline_tags_set_each_step() {
        let s = scenario("t+notified=0.35s+downloaded=1200ms+seen=1.9s+after=2.45s@x").unwrap();
        assert_eq!(s.steps, [Some(MS(350)), Some(MS(1200)), Some(MS(1900))]);
        assert_eq!(s.after, Delay::fixed(MS(2450)));
        let tl = timeline(&s.outcome, &s.steps, MS(2450), S(300));
        let want: Vec<(Duration, String)> = [
            (0, "PENDING"),
            (350, "NOTIFIED"),
            (1200, "DOWNLOADED"),
            (1900, "SEEN"),
            (2450, "APPROVED"),
        ]
        .iter()
        .map(|&(t, st)| (MS(t), st.to_owned()))
        .collect();
        assert_eq!(tl, want);
        // Off the default grid: SEEN at 1.275 s, answered 425 ms later.
        let st = |t| status_at(&tl, MS(t)).to_owned();
        assert_eq!(
            [
                st(349),
                st(350),
                st(1199),
                st(1200),
                st(1899),
                st(1900),
                st(2449),
                st(2450)
            ],
            [
                "PENDING",
                "NOTIFIED",
                "NOTIFIED",
                "DOWNLOADED",
                "DOWNLOADED",
                "SEEN",
                "SEEN",
                "APPROVED"
            ]
        );
        // The last tag of a kind wins, as for the other tags.
        assert_eq!(
            scenario("t+seen=1s+seen=1.5s@x").unwrap().steps[2],
            Some(MS(1500))
        );
    }

    #[test]
    fn timeline_tags_keep_the_order() {
        // One step given: the defaults around it move just enough to keep the order.
        let only_seen = [None, None, Some(MS(500))];
        assert_eq!(step_times(&only_seen, S(4)), [MS(300), MS(500), MS(500)]);
        let late_notified = [Some(S(5)), None, None];
        assert_eq!(step_times(&late_notified, S(8)), [S(5), S(5), S(5)]);
        assert_eq!(step_times(&[None; 3], S(4)), [MS(300), S(1), S(2)]);
        // Steps after the answer never come; an ignored message goes through all of them.
        let steps = [Some(MS(100)), Some(MS(900)), Some(S(3))];
        let tl = timeline(&Outcome::Approve, &steps, S(2), S(300));
        assert_eq!(
            tl.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
            ["PENDING", "NOTIFIED", "DOWNLOADED", "APPROVED"]
        );
        let tl = timeline(&Outcome::Ignore, &steps, S(2), S(300));
        assert_eq!(status_at(&tl, S(4)), "SEEN");
        assert_eq!(status_at(&tl, S(300)), "NOT_SEEN");
        // Expiration still wins over a late step.
        let tl = timeline(&Outcome::Ignore, &steps, S(2), S(2));
        assert_eq!(status_at(&tl, S(2)), "NOT_SEEN");
        // Out of order, or not a duration: the tag is refused, naming the steps.
        let e = scenario("t+seen=1s+downloaded=2s@x").unwrap_err();
        assert!(e.contains("downloaded at 2s comes after seen at 1s"), "{e}");
        for bad in [
            "t+seen=soon@x",
            "t+notified=-1s@x",
            "t+downloaded=0.5ms@x",
            "t+seen=@x",
        ] {
            assert!(scenario(bad).is_err(), "{bad}");
        }
        // Through the message: the session shows the tagged statuses.
        let mut m = message(Outcome::Approve, MS(2450));
        m.recipients[0].scenario.steps = [Some(MS(350)), Some(MS(1200)), Some(MS(1900))];
        assert_eq!(
            m.session_at(MS(1250))["recipients"][0]["status"],
            "DOWNLOADED"
        );
        assert_eq!(m.session_at(MS(1950))["recipients"][0]["status"], "SEEN");
        assert_eq!(
            m.session_at(MS(2450))["recipients"][0]["status"],
            "APPROVED"
        );
    }

    fn message(outcome: Outcome, delay: Duration) -> Message {
        let scenario = Scenario {
            outcome,
            after: Delay::fixed(delay),
            fault: None,
            send_fault: None,
            cancel_fault: None,
            steps: [None; 3],
        };
        Message {
            id: "abc".into(),
            content: Content {
                kind: "authorization".into(),
                subject: None,
                body: None,
                callback_url: None,
                availability: 300,
            },
            sent_at: SystemTime::now(),
            sent_instant: Instant::now(),
            recipients: vec![
                Recipient {
                    user_id: "a@x".into(),
                    scenario: scenario.clone(),
                    delay,
                    forced: None,
                },
                Recipient {
                    user_id: "b@x".into(),
                    scenario: Scenario {
                        outcome: Outcome::Deny,
                        ..scenario
                    },
                    delay: MS(0),
                    forced: None,
                },
            ],
            cancelled: false,
            requests: RequestCounts {
                send: 1,
                track: 0,
                cancel: 0,
            },
        }
    }

    #[test]
    fn cancel_keeps_final_statuses() {
        let mut m = message(Outcome::Ignore, S(3));
        m.cancel();
        let s = m.session_at(S(1000));
        assert_eq!(s["recipients"][0]["status"], "CANCELLED");
        assert_eq!(s["recipients"][1]["status"], "DENIED");
        let v = m.view();
        assert!(v.cancelled);
        assert_eq!(v.recipients[0].history.last().unwrap().status, "CANCELLED");
    }

    #[test]
    fn admin_decides_once() {
        let mut store = Store::default();
        store.insert(message(Outcome::Ignore, S(3)));
        let v = store.decide("abc", true).unwrap();
        assert_eq!(v.recipients[0].status, "APPROVED");
        assert_eq!(v.recipients[1].status, "DENIED");
        assert_eq!(
            store.decide("abc", false).unwrap_err(),
            DecideError::AlreadyFinal
        );
        assert_eq!(
            store.decide("nope", false).unwrap_err(),
            DecideError::UnknownId
        );
    }

    #[test]
    fn expiration_format() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_871_172_658);
        let s = format_expiration(t);
        assert_eq!(s, "2026-11-28T13:06:12.658+00:00");
        let shape = s
            .bytes()
            .map(|b| if b.is_ascii_digit() { b'9' } else { b })
            .collect::<Vec<_>>();
        assert_eq!(shape, b"9999-99-99T99:99:99.999+99:99");
    }
}
