//! Log levels (Linux-PAM's use of syslog's) and the one place that turns them into
//! syslog priorities. The module logs through `pam_syslog` (facility authpriv, prefix
//! `pam_passbyme(<service>:auth):`); it never calls openlog/closelog and never writes to
//! stdout or stderr.

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
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
    pub fn priority(self) -> i32 {
        match self {
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
            Level::Alert => "alert",
            Level::Err => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}
