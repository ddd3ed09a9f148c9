//! The counts per user, per source and in total (with the approval latency), and the
//! alerts: push fatigue, fail-open, audit would-deny, errors, untrusted journal entries.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use time::OffsetDateTime;

use super::parse::{fmt_time, Decision, Kind};
use super::read::{Input, Rejected};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) enum Level {
    Warning,
    Critical,
}

impl Level {
    pub(super) fn word(self) -> &'static str {
        match self {
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }
}

/// Counts of one row (a user, or a source).
#[derive(Default, Clone, Debug)]
pub struct Row {
    pub counts: BTreeMap<Kind, u64>,
    /// Durations of approved logins (seconds).
    pub approvals: Vec<f64>,
}

impl Row {
    fn add(&mut self, d: &Decision) {
        *self.counts.entry(d.kind).or_default() += 1;
        if d.kind == Kind::Approved {
            self.approvals.push(d.duration);
        }
    }

    pub(super) fn count(&self, k: Kind) -> u64 {
        self.counts.get(&k).copied().unwrap_or(0)
    }

    /// The nearest-rank percentile `p` of the approval durations.
    pub fn latency(&self, p: u32) -> Option<f64> {
        if self.approvals.is_empty() {
            return None;
        }
        let mut v = self.approvals.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let rank = (u64::from(p) * n as u64).div_ceil(100).max(1) as usize;
        v.get(rank.min(n) - 1).copied()
    }
}

/// One alert.
#[derive(Debug, Clone)]
pub(super) struct Alert {
    pub(super) level: Level,
    pub(super) id: &'static str,
    pub(super) user: Option<String>,
    pub(super) message: String,
}

/// The whole report.
pub struct Summary {
    pub(super) users: BTreeMap<String, Row>,
    pub(super) sources: BTreeMap<String, Row>,
    pub(super) total: Row,
    pub(super) alerts: Vec<Alert>,
    pub(super) rejected: Rejected,
    pub(super) lines: usize,
}

/// Counts and alerts of the decisions read.
pub fn summarize(input: Input, burst: u32, burst_window: Duration) -> Summary {
    let mut s = Summary {
        users: BTreeMap::new(),
        sources: BTreeMap::new(),
        total: Row::default(),
        alerts: Vec::new(),
        rejected: input.rejected,
        lines: input.decisions.len(),
    };
    let mut decisions = input.decisions;
    decisions.sort_by_key(|(t, _)| *t);
    let mut fatigue: BTreeMap<&str, Vec<(OffsetDateTime, &str)>> = BTreeMap::new();
    let mut fail_open: BTreeMap<&str, Vec<(OffsetDateTime, &str)>> = BTreeMap::new();
    let mut would_deny: BTreeMap<&str, (u64, String)> = BTreeMap::new();
    let mut errors: Vec<&Decision> = Vec::new();
    for (t, d) in &decisions {
        s.users.entry(d.user.clone()).or_default().add(d);
        s.sources.entry(d.rhost.clone()).or_default().add(d);
        s.total.add(d);
        if d.kind.fatigue() {
            fatigue.entry(&d.user).or_default().push((*t, &d.rhost));
        }
        match d.kind {
            Kind::FailOpen => fail_open.entry(&d.user).or_default().push((*t, &d.rhost)),
            Kind::WouldDeny => {
                let e = would_deny.entry(&d.user).or_default();
                e.0 += 1;
                if e.1.is_empty() {
                    let enforce = d.enforce.as_deref().unwrap_or("?");
                    e.1 = format!("enforce={enforce} {}", d.rest)
                        .trim_end()
                        .to_owned();
                }
            }
            Kind::Error => errors.push(d),
            _ => {}
        }
    }
    let window = time::Duration::try_from(burst_window).unwrap_or(time::Duration::MAX);
    for (user, events) in &fatigue {
        // The largest number of events within any `window`, and where it starts.
        let (mut best, mut at, mut lo) = (0usize, 0usize, 0usize);
        for hi in 0..events.len() {
            while events[hi].0 - events[lo].0 > window {
                lo += 1;
            }
            if hi + 1 - lo > best {
                best = hi + 1 - lo;
                at = lo;
            }
        }
        if best as u64 >= u64::from(burst) {
            let slice = &events[at..at + best];
            let from: BTreeSet<&str> = slice.iter().map(|(_, h)| *h).collect();
            s.alerts.push(Alert {
                level: Level::Critical,
                id: "push-fatigue",
                user: Some(user.to_string()),
                message: format!(
                    "push fatigue: {best} denied, unanswered, abandoned or rate-limited logins of {user} within {} from {} source(s) ({}), {} to {}: someone may be pushing until the person approves",
                    pam_passbyme::duration::format_duration(burst_window),
                    from.len(),
                    from.into_iter().collect::<Vec<_>>().join(", "),
                    fmt_time(slice[0].0),
                    fmt_time(slice[best - 1].0),
                ),
            });
        }
    }
    for (user, events) in &fail_open {
        let from: BTreeSet<&str> = events.iter().map(|(_, h)| *h).collect();
        s.alerts.push(Alert {
            level: Level::Critical,
            id: "fail-open",
            user: Some(user.to_string()),
            message: format!(
                "{} login(s) of {user} let in without the second factor (service unreachable, policy.unreachable = \"allow\") from {}, last at {}",
                events.len(),
                from.into_iter().collect::<Vec<_>>().join(", "),
                events.last().map_or_else(String::new, |e| fmt_time(e.0)),
            ),
        });
    }
    for (user, (n, why)) in &would_deny {
        s.alerts.push(Alert {
            level: Level::Warning,
            id: "audit-would-deny",
            user: Some(user.to_string()),
            message: format!(
                "audit: {user} would be refused in enforce mode ({n} login(s); {why})"
            ),
        });
    }
    if let Some(first) = errors.first() {
        s.alerts.push(Alert {
            level: Level::Warning,
            id: "errors",
            user: None,
            message: format!(
                "{} login(s) ended in an error (first: decision={} user={} {})",
                errors.len(),
                first.word,
                first.user,
                first.rest
            )
            .trim_end()
            .to_owned(),
        });
    }
    for ((uid, exe), n) in &s.rejected.untrusted {
        s.alerts.push(Alert {
            level: Level::Warning,
            id: "untrusted-lines",
            user: None,
            message: format!(
                "{n} journal entr(y/ies) in the module's form from a sender the journal does not vouch for (uid {}, exe {}): not counted; a forgery (logger) or a PAM application run by a user",
                if uid.is_empty() { "?" } else { uid },
                if exe.is_empty() { "?" } else { exe },
            ),
        });
    }
    s.alerts.sort_by_key(|a| std::cmp::Reverse(a.level));
    s
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{fixture, now};
    use super::super::parse::parse_when;
    use super::super::read::read_journal;
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut r = Row::default();
        assert_eq!(r.latency(50), None);
        r.approvals = (1..=20).map(f64::from).collect();
        assert_eq!(r.latency(50), Some(10.0));
        assert_eq!(r.latency(95), Some(19.0));
        r.approvals = vec![3.0];
        assert_eq!((r.latency(50), r.latency(95)), (Some(3.0), Some(3.0)));
    }

    #[test]
    fn the_journal_fixture_raises_the_fail_open_and_every_warning() {
        let since = parse_when("2026-12-03", now()).unwrap();
        let until = parse_when("2026-12-04", now()).unwrap();
        let input = read_journal(&fixture("journal.json")[..], since, until).unwrap();
        let s = summarize(input, 3, Duration::from_secs(600));
        assert_eq!(s.code(), 2, "the fail-open");
        let ids: Vec<&str> = s.alerts.iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            [
                "fail-open",
                "audit-would-deny",
                "untrusted-lines",
                "untrusted-lines"
            ]
        );
    }
}
