//! The `[limits]` settings the limiter applies ([`Limits`], [`Concurrent`]), their defaults
//! and the bounds the configuration checks them against.

use std::path::PathBuf;
use std::time::Duration;

use crate::duration::Range;

/// Upper bound of `max_pushes` and `max_pushes_user`.
pub const MAX_PUSHES_BOUND: u32 = 1000;
/// Upper bound of `lockout_after`.
pub const LOCKOUT_AFTER_BOUND: u32 = 100;
/// Upper bound of `lockout_after_user`.
pub const LOCKOUT_AFTER_USER_BOUND: u32 = 1000;

/// What a second login does while a push for the same user is still pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrent {
    /// Refuse the second login, with no push (the default).
    Refuse,
    /// Cancel the first login's push and send a new one.
    Replace,
}

/// The `[limits]` settings.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The state directory. Defaults to `Limits::DEFAULT_STATE_DIR`.
    pub state_dir: PathBuf,
    /// Pushes allowed per user and source per `window`. Defaults to
    /// `Limits::DEFAULT_MAX_PUSHES`; at least 1, at most [`MAX_PUSHES_BOUND`].
    pub max_pushes: u32,
    /// Pushes allowed per user per `window`, all sources together. Defaults to
    /// `Limits::default_max_pushes_user`; at least `max_pushes`, at most
    /// [`MAX_PUSHES_BOUND`].
    pub max_pushes_user: u32,
    /// The rate-limit window. Defaults to `Limits::DEFAULT_WINDOW`, within
    /// `Limits::WINDOW_RANGE`.
    pub window: Duration,
    /// Denials in a row from one source that lock the user out from that source; 0
    /// disables. Defaults to `Limits::DEFAULT_LOCKOUT_AFTER`, at most
    /// [`LOCKOUT_AFTER_BOUND`].
    pub lockout_after: u32,
    /// Denials in a row from all sources together that lock the user out from everywhere;
    /// 0 disables. Defaults to `Limits::default_lockout_after_user`; 0 or at least
    /// `lockout_after`, at most [`LOCKOUT_AFTER_USER_BOUND`].
    pub lockout_after_user: u32,
    /// How long a lockout lasts. Defaults to `Limits::DEFAULT_LOCKOUT`, within
    /// `Limits::LOCKOUT_RANGE`.
    pub lockout: Duration,
    /// A second login while a push is pending. Defaults to [`Concurrent::Refuse`].
    pub concurrent: Concurrent,
    /// After an approval, the same user from the same remote host and service logs in
    /// without a push for this long. Defaults to `Limits::DEFAULT_GRACE` (off); else
    /// within `Limits::GRACE_RANGE`.
    pub grace: Duration,
    /// Let the grace period apply to logins with no remote host, keyed by their terminal
    /// (PAM_TTY; none, no grace). Defaults to false.
    pub grace_local: bool,
}

impl Limits {
    /// `/run/passbyme`.
    pub(crate) const DEFAULT_STATE_DIR: &'static str = "/run/passbyme";
    /// 5.
    pub(crate) const DEFAULT_MAX_PUSHES: u32 = 5;
    /// 10m.
    pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(600);
    /// The values `window` accepts: 1s to a day.
    pub(crate) const WINDOW_RANGE: Range =
        Range::new(Duration::from_secs(1), Duration::from_secs(86_400));
    /// 3.
    pub(crate) const DEFAULT_LOCKOUT_AFTER: u32 = 3;
    /// 15m.
    pub(crate) const DEFAULT_LOCKOUT: Duration = Duration::from_secs(900);
    /// The values `lockout` accepts: 1s to a day.
    pub(crate) const LOCKOUT_RANGE: Range =
        Range::new(Duration::from_secs(1), Duration::from_secs(86_400));
    /// 0s: no grace period.
    pub(crate) const DEFAULT_GRACE: Duration = Duration::ZERO;
    /// The values `grace` accepts besides 0 (off): 1s to a day.
    pub(crate) const GRACE_RANGE: Range =
        Range::new(Duration::from_secs(1), Duration::from_secs(86_400));

    /// The default `max_pushes_user`: 4 × `max_pushes`, at most [`MAX_PUSHES_BOUND`].
    pub(crate) fn default_max_pushes_user(max_pushes: u32) -> u32 {
        max_pushes.saturating_mul(4).min(MAX_PUSHES_BOUND)
    }

    /// The default `lockout_after_user`: 3 × `lockout_after`.
    pub(crate) fn default_lockout_after_user(lockout_after: u32) -> u32 {
        lockout_after.saturating_mul(3)
    }
}

impl Default for Limits {
    /// Every field at its documented default.
    fn default() -> Limits {
        Limits {
            state_dir: PathBuf::from(Limits::DEFAULT_STATE_DIR),
            max_pushes: Limits::DEFAULT_MAX_PUSHES,
            max_pushes_user: Limits::default_max_pushes_user(Limits::DEFAULT_MAX_PUSHES),
            window: Limits::DEFAULT_WINDOW,
            lockout_after: Limits::DEFAULT_LOCKOUT_AFTER,
            lockout_after_user: Limits::default_lockout_after_user(Limits::DEFAULT_LOCKOUT_AFTER),
            lockout: Limits::DEFAULT_LOCKOUT,
            concurrent: Concurrent::Refuse,
            grace: Limits::DEFAULT_GRACE,
            grace_local: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_defaults_follow_their_base_and_stay_in_bounds() {
        let l = Limits::default();
        assert_eq!(l.max_pushes_user, 4 * l.max_pushes);
        assert_eq!(l.lockout_after_user, 3 * l.lockout_after);
        assert_eq!(Limits::default_max_pushes_user(600), MAX_PUSHES_BOUND);
        assert_eq!(Limits::default_lockout_after_user(u32::MAX), u32::MAX);
        assert!(Limits::WINDOW_RANGE.contains(l.window));
        assert!(Limits::LOCKOUT_RANGE.contains(l.lockout));
        assert!(l.grace.is_zero() && l.concurrent == Concurrent::Refuse);
    }
}
