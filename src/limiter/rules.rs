//! The rules: what a login may do given its user's state ([`decide`], for
//! [`Store::begin`](super::Store::begin) and [`Store::peek`](super::Store::peek)), and how
//! its end changes the counters ([`record`], for [`Store::finish`](super::Store::finish)).
//! Pure functions of the settings, the state and the time: the store reads and writes.

use std::time::Duration;

use super::keys::key;
use super::state::{Grace, PendingPush, UserState, MAX_GRACE, MAX_SOURCES};
use super::{Begin, Concurrent, Finish, Limit, Limits, Origin, Refusal, Ticket};
use crate::duration::format_duration;

/// A duration in ms, saturating.
fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// What a login of `user` from `origin` may do now, given its state read at `now`; the
/// state is changed as a push would change it (the caller writes it, or not). `timeout`
/// is the login's deadline, to know when a pending entry is stale.
pub(super) fn decide(
    l: &Limits,
    user: &str,
    origin: &Origin<'_>,
    timeout: Duration,
    st: &mut UserState,
    now: u64,
) -> Begin {
    let pid = std::process::id();
    let token = (u64::from(crate::os::random_below(u32::MAX).unwrap_or(0)) << 32)
        | u64::from(crate::os::random_below(u32::MAX).unwrap_or(0));
    let source = origin.source();
    let grace = origin.grace(l.grace_local);
    let service = key("service", origin.service);
    let target = origin.target.map(|t| key("target", t));
    let window = ms(l.window);
    {
        st.prune(now, window);
        if st.locked_until > now {
            let secs = (st.locked_until - now).div_ceil(1000);
            return Begin::Refused(Refusal {
                limit: Limit::LockedOut(secs),
                reason: format!(
                    "locked out from every source after {} denials in a row, for {secs}s more",
                    st.denials
                ),
            });
        }
        if let Some(s) = st.source(&source).filter(|s| s.locked_until > now) {
            let secs = (s.locked_until - now).div_ceil(1000);
            return Begin::Refused(Refusal {
                limit: Limit::LockedOut(secs),
                reason: format!(
                    "locked out after {} denials in a row from {source}, for {secs}s more",
                    s.denials
                ),
            });
        }
        if let Some(g) = &grace {
            if !l.grace.is_zero()
                && st
                    .grace
                    .iter()
                    .any(|e| &e.source == g && e.service == service && e.target == target)
            {
                return Begin::Grace;
            }
        }
        let mut cancel = None;
        if let Some(p) = &st.pending {
            let live = p.until > now && crate::os::process_alive(p.pid);
            if live && l.concurrent == Concurrent::Refuse {
                return Begin::Refused(Refusal {
                    limit: Limit::Pending,
                    reason: "another login for this user is waiting for approval".into(),
                });
            }
            cancel = p.message.clone();
        }
        let from_source = st.source(&source).map_or(0, |s| s.pushes.len());
        if from_source as u64 >= u64::from(l.max_pushes) {
            return Begin::Refused(Refusal {
                limit: Limit::Rate,
                reason: format!(
                    "rate limit: {from_source} pushes in the last {} from {source}",
                    format_duration(l.window)
                ),
            });
        }
        if st.pushes.len() as u64 >= u64::from(l.max_pushes_user) {
            return Begin::Refused(Refusal {
                limit: Limit::Rate,
                reason: format!(
                    "rate limit: {} pushes in the last {} for this user from all sources",
                    st.pushes.len(),
                    format_duration(l.window)
                ),
            });
        }
        let Some(s) = st.source_mut(&source, now) else {
            return Begin::Refused(Refusal::other(format!(
                "{MAX_SOURCES} sources of this user are locked out; {source} is not remembered"
            )));
        };
        s.pushes.push(now);
        s.last = now;
        st.pushes.push(now);
        st.pending = Some(PendingPush {
            pid,
            token,
            started: now,
            until: now.saturating_add(ms(timeout)).saturating_add(30_000),
            message: None,
        });
        Begin::Push {
            ticket: Ticket {
                user: user.to_owned(),
                token,
                source: source.clone(),
                grace: grace.clone(),
                service: service.clone(),
                target: target.clone(),
            },
            cancel,
        }
    }
}

/// The end of the login holding `ticket`: clears its pending entry and updates the
/// counters (an approval resets the denials and records a grace entry; a denial counts
/// toward the lockouts).
pub(super) fn record(l: &Limits, ticket: &Ticket, how: Finish, st: &mut UserState, now: u64) {
    let window = ms(l.window);
    st.prune(now, window);
    if st.pending.as_ref().is_some_and(|p| p.token == ticket.token) {
        st.pending = None;
    }
    match how {
        Finish::Approved => {
            st.denials = 0;
            if let Some(s) = st.sources.iter_mut().find(|s| s.source == ticket.source) {
                s.denials = 0;
            }
            if let Some(g) = ticket.grace.as_ref().filter(|_| !l.grace.is_zero()) {
                st.grace.retain(|e| {
                    !(&e.source == g && e.service == ticket.service && e.target == ticket.target)
                });
                if st.grace.len() >= MAX_GRACE {
                    // The one ending first makes room.
                    if let Some(i) = (0..st.grace.len()).min_by_key(|&i| st.grace[i].until) {
                        st.grace.remove(i);
                    }
                }
                st.grace.push(Grace {
                    source: g.clone(),
                    service: ticket.service.clone(),
                    target: ticket.target.clone(),
                    until: now.saturating_add(ms(l.grace)),
                });
            }
        }
        Finish::Denied => {
            st.denials = st.denials.saturating_add(1);
            if l.lockout_after_user > 0 && st.denials >= l.lockout_after_user {
                st.locked_until = now.saturating_add(ms(l.lockout));
            }
            if let Some(s) = st.source_mut(&ticket.source, now) {
                s.denials = s.denials.saturating_add(1);
                if l.lockout_after > 0 && s.denials >= l.lockout_after {
                    s.locked_until = now.saturating_add(ms(l.lockout));
                }
            }
        }
        Finish::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use super::super::state;
    use super::super::state::MAX_SOURCES;
    use super::super::testing::{begin, end, from, push, store, w};
    use super::super::{Begin, Concurrent, Finish, Origin, Store};

    /// alice's logins end `how`: two from 192.0.2.1 reach that source's ceiling of 2
    /// (`per_source`); another source has its own budget, up to the user's ceiling of 3
    /// across sources (`per_user`).
    fn source_then_user_ceiling(s: &Store, how: Finish, per_source: &str, per_user: &str) {
        for _ in 0..2 {
            let t = push(s, "alice").unwrap();
            end(s, &t, how);
        }
        assert_eq!(push(s, "alice").unwrap_err(), per_source);
        let t = begin(s, "alice", from(Some("192.0.2.2"))).unwrap();
        end(s, &t, how);
        assert_eq!(
            begin(s, "alice", from(Some("192.0.2.3"))).unwrap_err(),
            per_user
        );
    }

    #[test]
    fn rate_limit_counts_pushes_per_source_and_per_user() {
        let s = store("rate", |l| (l.max_pushes, l.max_pushes_user) = (2, 3));
        source_then_user_ceiling(
            &s,
            Finish::Other,
            "rate limit: 2 pushes in the last 10m from host:192.0.2.1",
            "rate limit: 3 pushes in the last 10m for this user from all sources",
        );
        push(&s, "bob").unwrap();
        let st = s.read("alice").unwrap();
        assert_eq!(st.pushes.len(), 3);
        assert_eq!(st.source("host:192.0.2.1").unwrap().pushes.len(), 2);
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn one_pending_push_per_user_and_stale_entries() {
        let s = store("pending", |_| {});
        let t = push(&s, "alice").unwrap();
        s.sent(&t, "MSG1", &mut w()).unwrap();
        assert_eq!(
            push(&s, "alice").unwrap_err(),
            "another login for this user is waiting for approval"
        );
        // A crashed login: its process is gone, the next login cancels its message.
        s.update("alice", &mut w(), |st, _| {
            st.pending.as_mut().unwrap().pid = 999_999_999
        })
        .unwrap();
        match s
            .begin("alice", &from(None), Duration::from_secs(5), &mut w())
            .unwrap()
        {
            Begin::Push { cancel, .. } => assert_eq!(cancel.as_deref(), Some("MSG1")),
            other => panic!("{other:?}"),
        }
        // The first login finishing does not clear the second's entry.
        end(&s, &t, Finish::Other);
        assert!(s.read("alice").unwrap().pending.is_some());
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn replace_policy_names_the_message_to_cancel() {
        let s = store("replace", |l| l.concurrent = Concurrent::Replace);
        let t = push(&s, "alice").unwrap();
        s.sent(&t, "FIRST", &mut w()).unwrap();
        match s
            .begin("alice", &from(None), Duration::from_secs(5), &mut w())
            .unwrap()
        {
            Begin::Push { cancel, .. } => assert_eq!(cancel.as_deref(), Some("FIRST")),
            other => panic!("{other:?}"),
        }
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn lockout_per_source_then_per_user_and_unlock() {
        let s = store("lock", |l| {
            (l.lockout_after, l.lockout_after_user) = (2, 3);
            (l.max_pushes, l.max_pushes_user) = (100, 100);
        });
        source_then_user_ceiling(
            &s,
            Finish::Denied,
            "locked out after 2 denials in a row from host:192.0.2.1, for 900s more",
            "locked out from every source after 3 denials in a row, for 900s more",
        );
        // Other users are untouched.
        push(&s, "bob").unwrap();
        assert!(s.unlock("alice", &mut w()).unwrap());
        push(&s, "alice").unwrap();
        fs::remove_dir_all(s.dir()).unwrap();
        // An approval resets the user's count and the approving source's.
        let s = store("lock2", |l| l.lockout_after = 2);
        let t = push(&s, "bob").unwrap();
        end(&s, &t, Finish::Denied);
        let t = push(&s, "bob").unwrap();
        end(&s, &t, Finish::Approved);
        let st = s.read("bob").unwrap();
        assert_eq!(st.denials, 0);
        assert_eq!(st.source("host:192.0.2.1").unwrap().denials, 0);
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn sources_are_keyed_unambiguously_and_bounded() {
        let o = |rhost, tty| Origin {
            rhost,
            tty,
            service: "sudo",
            target: None,
        };
        assert_eq!(
            o(Some("198.51.100.7"), Some("pts/1")).source(),
            "host:198.51.100.7"
        );
        assert_eq!(o(Some(""), Some("pts/1")).source(), "tty:pts/1");
        assert_eq!(o(None, None).source(), "local");
        // A host that looks like a terminal key is hashed, not confused with it.
        let odd = o(Some("tty:pts/1 x"), None).source();
        assert!(odd.starts_with("host#") && odd.len() == 69, "{odd}");
        let long = "a".repeat(65);
        assert_eq!(o(Some(&long), None).source().len(), 69);
        // More sources than kept: the least recently used unlocked one is forgotten.
        let s = store("sources", |l| {
            l.max_pushes_user = 1000;
            l.lockout_after = 1;
            l.lockout_after_user = 0;
        });
        let hosts: Vec<String> = (0..MAX_SOURCES + 5)
            .map(|i| format!("10.0.0.{i}"))
            .collect();
        let t = begin(&s, "alice", o(Some(&hosts[0]), None)).unwrap();
        end(&s, &t, Finish::Denied); // host 0 locked out: kept
        for h in &hosts[1..] {
            let t = begin(&s, "alice", o(Some(h), None)).unwrap();
            end(&s, &t, Finish::Other);
        }
        let st = s.read("alice").unwrap();
        assert_eq!(st.sources.len(), MAX_SOURCES);
        assert!(st
            .source("host:10.0.0.0")
            .is_some_and(|s| s.locked_until > 0));
        assert!(
            st.source("host:10.0.0.1").is_none(),
            "the oldest unlocked one went"
        );
        assert!(begin(&s, "alice", o(Some(&hosts[0]), None))
            .unwrap_err()
            .starts_with("locked out after 1 denials in a row from host:10.0.0.0"));
        fs::remove_dir_all(s.dir()).unwrap();
    }

    #[test]
    fn grace_is_per_host_and_service_and_per_terminal_for_local_logins() {
        let s = store("grace", |l| l.grace = Duration::from_secs(300));
        let t = push(&s, "alice").unwrap();
        end(&s, &t, Finish::Approved);
        assert_eq!(push(&s, "alice").unwrap_err(), "grace");
        begin(&s, "alice", from(Some("192.0.2.2"))).unwrap();
        // Local logins: no grace unless grace_local, and then per terminal.
        let s2 = store("grace2", |l| l.grace = Duration::from_secs(300));
        let local = |tty| Origin {
            rhost: None,
            tty,
            service: "sudo",
            target: None,
        };
        let t = begin(&s2, "bob", local(Some("pts/1"))).unwrap();
        end(&s2, &t, Finish::Approved);
        let t = begin(&s2, "bob", local(Some("pts/1"))).unwrap();
        end(&s2, &t, Finish::Other);
        let s3 = store("grace3", |l| {
            l.grace = Duration::from_secs(300);
            l.grace_local = true;
        });
        let t = begin(&s3, "bob", local(Some("pts/1"))).unwrap();
        end(&s3, &t, Finish::Approved);
        assert_eq!(
            begin(&s3, "bob", local(Some("pts/1"))).unwrap_err(),
            "grace"
        );
        let t = begin(&s3, "bob", local(Some("pts/2"))).unwrap();
        end(&s3, &t, Finish::Other);
        // user=invoker (su): bob's approval of `su carol` is no grace for `su root` (nor for
        // a login of bob himself); `su carol` again is.
        let su = |target| Origin {
            target,
            ..local(Some("pts/3"))
        };
        let t = begin(&s3, "bob", su(Some("carol"))).unwrap();
        end(&s3, &t, Finish::Approved);
        assert_eq!(begin(&s3, "bob", su(Some("carol"))).unwrap_err(), "grace");
        let t = begin(&s3, "bob", su(Some("root"))).unwrap();
        end(&s3, &t, Finish::Other);
        let t = begin(&s3, "bob", su(None)).unwrap();
        end(&s3, &t, Finish::Other);
        // An entry written before targets were recorded matches only a login without one.
        let mut st = s3.read("bob").unwrap();
        for g in &mut st.grace {
            g.target = None;
        }
        state::write(s3.dir(), "bob", &st).unwrap();
        let t = begin(&s3, "bob", su(Some("carol"))).unwrap();
        end(&s3, &t, Finish::Other);
        assert_eq!(begin(&s3, "bob", su(None)).unwrap_err(), "grace");
        let t = begin(&s3, "bob", local(None)).unwrap();
        end(&s3, &t, Finish::Approved);
        let t = begin(&s3, "bob", local(None)).unwrap();
        end(&s3, &t, Finish::Other);
        for d in [s.dir(), s2.dir(), s3.dir()] {
            fs::remove_dir_all(d).unwrap();
        }
    }
}
