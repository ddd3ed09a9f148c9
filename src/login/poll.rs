//! The wait for the phone: when to poll ([`Schedule`]), the polling loop that watches for a
//! signal and for the client leaving, and what the statuses decide ([`decide`]).

use std::time::{Duration, Instant};

use crate::client::{Error as ClientError, SessionInfo, Status};
use crate::config::{self, Config, Prompt};
use crate::log::{self, Level};
use crate::outcome::Outcome;

use super::api::Api;
use super::{Ui, MAX_POLL_ERRORS};

/// When the login polls the service: every `fast` interval while an answer can come, slower
/// before that and during long waits. The model and the measurements behind the defaults are
/// in BENCHMARKS.md ("Approval latency").
///
/// The protocol has no push towards the client, so an approval is seen at the next poll:
/// approval → decision is uniform in [0, interval] while polling every `interval`. Holding
/// p50 ≤ 100 ms and p99 ≤ 200 ms therefore needs polls ≤ ~190 ms apart whenever an answer can
/// arrive, and an answer can arrive well before the phone's SEEN is polled (a person with the
/// phone in hand answers within a second of SEEN). So: poll every `before` only during the
/// first `fast_after` after the push, when nobody can have answered yet (or until SEEN shows,
/// if sooner); then every `fast`; and once the wait exceeds `slow_after` (the person is not at
/// the phone), let the interval grow in proportion to the wait, up to `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Interval while no answer can come yet; also the cap of the slow-down (`poll_interval`).
    pub before: Duration,
    /// Interval while an answer can come (`poll_interval_seen`).
    pub fast: Duration,
    /// Time after the push when fast polling starts at the latest (`poll_fast_after`).
    pub fast_after: Duration,
    /// Time after the push when the fast interval starts to grow (`poll_slow_after`).
    pub slow_after: Duration,
}

impl Schedule {
    /// The schedule of the `[login]` settings.
    pub fn of(login: &config::Login) -> Schedule {
        Schedule {
            before: login.poll_interval,
            fast: login.poll_interval_seen,
            fast_after: login.poll_fast_after,
            slow_after: login.poll_slow_after,
        }
    }

    /// How long to wait before the next poll, `elapsed` after the push, when the last
    /// status polled was SEEN (`seen`) or not.
    pub fn interval(&self, elapsed: Duration, seen: bool) -> Duration {
        if !seen && elapsed < self.fast_after {
            // Poll at `fast_after` itself rather than up to `before` past it.
            return self.before.min(self.fast_after - elapsed);
        }
        if elapsed <= self.slow_after {
            return self.fast;
        }
        // fast × elapsed / slow_after, in integers (no float can panic or round here).
        let grown = self.fast.as_nanos().saturating_mul(elapsed.as_nanos())
            / self.slow_after.as_nanos().max(1);
        let cap = self.before.max(self.fast).as_nanos();
        Duration::from_nanos(u64::try_from(grown.min(cap)).unwrap_or(u64::MAX))
    }
}

/// Polls until a decision, the deadline or a signal. `pushed` is when the login started
/// (a few milliseconds before the push): the schedule counts from it.
pub(super) fn wait(
    config: &Config,
    service: &dyn Api,
    info: &mut SessionInfo,
    ids: &[String],
    ui: &mut dyn Ui,
    pushed: Instant,
    deadline: Instant,
) -> Outcome {
    let mut errors = 0;
    let mut last: Option<Status> = None;
    let mut first = config.login.prompt == Prompt::Enter;
    let schedule = Schedule::of(&config.login);
    // Polls are timed from the start of the previous one (or the push), not from its end,
    // so the round trips do not stretch the interval.
    let mut previous = pushed;
    loop {
        let seen = ids
            .iter()
            .any(|id| info.status_of(id) == Some(&Status::Seen));
        let at = if first {
            // After a prompt the user may already have approved: look at once.
            Instant::now()
        } else {
            let wait = schedule.interval(previous.saturating_duration_since(pushed), seen);
            previous.checked_add(wait).unwrap_or(deadline)
        };
        first = false;
        if let Some(abandoned) = sleep_until(at, deadline, ui) {
            return abandoned;
        }
        if Instant::now() >= deadline {
            return Outcome::TimedOut;
        }
        previous = Instant::now();
        match service.track(&info.message_id, deadline) {
            Ok(fresh) => {
                errors = 0;
                *info = fresh;
            }
            Err(e) => {
                errors += 1;
                if Instant::now() >= deadline {
                    return Outcome::TimedOut;
                }
                ui.log(
                    Level::Warning,
                    &log::event(
                        &format!("poll failed ({errors}/{MAX_POLL_ERRORS})"),
                        &e.to_string(),
                    ),
                );
                if errors >= MAX_POLL_ERRORS || !retryable(&e) {
                    return Outcome::Error(format!("poll: {e}"));
                }
                continue;
            }
        }
        // An answer that arrives after the deadline does not count.
        if Instant::now() > deadline {
            return Outcome::TimedOut;
        }
        if let Some(st) = ids.iter().find_map(|id| info.status_of(id)) {
            if last.as_ref() != Some(st) {
                ui.progress(st);
                last = Some(st.clone());
            }
        }
        if let Some(decided) = decide(info, ids) {
            return decided;
        }
        if time::OffsetDateTime::now_utc() > info.expiration_date {
            return Outcome::TimedOut;
        }
    }
}

fn retryable(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Timeout(_) | ClientError::Connection(_) | ClientError::Status { .. }
    )
}

/// Sleeps in short slices until `until` (or the deadline), watching for signals and for
/// the client leaving: either ends the wait with the outcome that abandons the login.
fn sleep_until(until: Instant, deadline: Instant, ui: &mut dyn Ui) -> Option<Outcome> {
    let until = until.min(deadline);
    loop {
        if let Some(sig) = ui.interrupted() {
            return Some(Outcome::Interrupted(sig));
        }
        if let Some(peer) = ui.client_gone() {
            return Some(Outcome::ClientGone(peer));
        }
        let now = Instant::now();
        if now >= until {
            return None;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// The decision, if the statuses of this user's IDs make one: a DENIED from any device
/// denies; an exact APPROVED from any approves; all final and none approved refuses.
/// Recipients that are not this user's are ignored.
pub fn decide(info: &SessionInfo, ids: &[String]) -> Option<Outcome> {
    // Every entry the server lists for one of our IDs counts (a hostile or buggy server
    // may list an ID twice): any DENIED denies.
    let statuses: Vec<&Status> = info
        .recipients
        .iter()
        .filter(|r| ids.contains(&r.user_id))
        .map(|r| &r.status)
        .collect();
    if statuses.contains(&&Status::Denied) {
        return Some(Outcome::Refused(Status::Denied));
    }
    if statuses.iter().any(|s| s.is_approved()) {
        return Some(Outcome::Approved);
    }
    let every_id_final = ids.iter().all(|id| {
        let mut mine = info
            .recipients
            .iter()
            .filter(|r| &r.user_id == id)
            .peekable();
        mine.peek().is_some() && mine.all(|r| r.status.is_final())
    });
    if every_id_final {
        return statuses.first().map(|s| Outcome::Refused((*s).clone()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::tests::info;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn defaults() -> Schedule {
        let c = Config::parse(
            std::path::Path::new("/x.toml"),
            "[service]\ncredentials = \"/x.pem\"\n[users]\n",
        )
        .unwrap();
        Schedule::of(&c.login)
    }

    #[test]
    fn the_default_schedule() {
        let s = defaults();
        assert_eq!(
            s,
            Schedule {
                before: MS(1000),
                fast: MS(180),
                fast_after: MS(800),
                slow_after: MS(15_000),
            }
        );
        let at = |ms, seen| s.interval(MS(ms), seen).as_millis();
        // Before anyone can answer: one poll, at 800 ms.
        assert_eq!(at(0, false), 800);
        assert_eq!(at(2, false), 798);
        assert_eq!(at(799, false), 1);
        // From then on every 180 ms, whatever the phone shows, until 15 s.
        for ms in [800, 801, 1000, 1275, 2000, 7000, 14_999, 15_000] {
            assert_eq!(at(ms, false), 180, "{ms} ms, not seen");
            assert_eq!(at(ms, true), 180, "{ms} ms, seen");
        }
        // SEEN before 800 ms: fast at once.
        assert_eq!(at(300, true), 180);
        // Long waits slow down in proportion: 360 ms at 30 s, 720 ms at 60 s, 1 s at most.
        assert_eq!(at(30_000, true), 360);
        assert_eq!(at(30_000, false), 360);
        assert_eq!(at(60_000, true), 720);
        assert_eq!(at(83_333, true), 999);
        assert_eq!(at(600_000, true), 1000);
    }

    #[test]
    fn the_schedule_follows_the_settings() {
        // The earlier default (1 s until SEEN, then 180 ms, no slow-down) is still expressible.
        let old = Schedule {
            fast_after: MS(600_000),
            slow_after: MS(600_000),
            ..defaults()
        };
        let at = |ms, seen| old.interval(MS(ms), seen).as_millis();
        assert_eq!(
            (at(0, false), at(1000, false), at(59_000, false)),
            (1000, 1000, 1000)
        );
        assert_eq!((at(1275, true), at(59_000, true)), (180, 180));
        // Fast from the push; the slow-down never goes below the fast interval.
        let eager = Schedule {
            before: MS(100),
            fast: MS(250),
            fast_after: Duration::ZERO,
            slow_after: MS(1000),
        };
        assert_eq!(eager.interval(Duration::ZERO, false), MS(250));
        assert_eq!(eager.interval(MS(2000), false), MS(250));
        // Extreme values neither panic nor wrap.
        let wild = Schedule {
            before: Duration::MAX,
            fast: Duration::MAX,
            fast_after: Duration::ZERO,
            slow_after: Duration::ZERO,
        };
        assert_eq!(
            wild.interval(Duration::MAX, true),
            Duration::from_nanos(u64::MAX)
        );
        // Every interval the module can be configured to use is one of the settings or
        // between them: never zero before the fast phase ends, never above the cap.
        let s = defaults();
        for ms in (0..120_000).step_by(7) {
            for seen in [false, true] {
                let i = s.interval(MS(ms), seen);
                assert!(i > Duration::ZERO && i <= s.before, "{ms} {seen}: {i:?}");
                if ms >= 800 || seen {
                    assert!(i >= s.fast, "{ms} {seen}: {i:?}");
                }
            }
        }
    }

    #[test]
    fn decisions() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let d = |l: &[(&str, &str)]| decide(&info(l), &ids);
        assert_eq!(
            d(&[("a", "APPROVED"), ("b", "SEEN")]),
            Some(Outcome::Approved)
        );
        assert_eq!(
            d(&[("a", "APPROVED"), ("b", "DENIED")]),
            Some(Outcome::Refused(Status::Denied))
        );
        assert_eq!(
            d(&[("a", "APPROVED"), ("a", "DENIED")]),
            Some(Outcome::Refused(Status::Denied))
        );
        assert_eq!(d(&[("a", "NO_DEVICE"), ("b", "SEEN")]), None);
        assert_eq!(
            d(&[("a", "NO_DEVICE"), ("b", "FAILED")]),
            Some(Outcome::Refused(Status::NoDevice))
        );
        assert_eq!(d(&[("a", "NO_DEVICE")]), None, "b not reported: not final");
        assert_eq!(d(&[("mallory", "APPROVED")]), None);
        assert_eq!(d(&[("a", "approved"), ("b", "APPROVED ")]), None);
        assert_eq!(d(&[]), None);
    }
}
