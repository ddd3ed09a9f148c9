#![allow(unsafe_code, reason = "signal handlers and kill() in the signal tests")]

//! The single integration-test binary. Every test talks to a real emulator process over
//! real mutual TLS; the PAM tests load the built module through real Linux-PAM.

/// The one harness: emulator process guard, config writers, syslog capture, PAM setups
/// and logins, logins in a child process, fake TLS servers and a test PKI.
mod util;

/// The client library against the emulator: every call, status, error kind and fault.
mod client;

/// The `passbyme` command: exit codes and exact messages.
mod cli;

/// `passbyme check --sshd/--sudo` with the real `sshd -T`: each rule, exit codes, `--json`.
mod check;

/// `check --sudo`/`--su`: every PAM service sudo and su use (sudo-i, su-l), sudoers rules
/// that skip authentication, the credential cache.
mod check_sudo;

/// `check --sshd` beyond the global configuration: each Match block, the census of accounts,
/// OpenSSH before 8.7, keyboard-interactive twice.
mod check_sshd;

/// The module through real libpam (`pam_start_confdir`).
mod pam;

/// The user as the user database knows it (a real NSS spelling difference).
mod users;

/// Who a login pushes to: exempt/only groups, the mapping sources, their order and checks.
mod identity;

/// Push-fatigue limits through real libpam.
mod limits;

/// Server faults on the send, a poll and the cancel, and a hostile server: the right
/// decision within its bound, a clean log line, nothing left pending.
mod faults;

/// TLS failures (trust, names, expiry, client certificates, old versions) deny through PAM.
mod tls;

/// File rules: every unsafe or broken file denies with the culprit named; a config
/// rewritten during logins gives one of its versions or fails closed.
mod files;

/// Hostile user names, hosts and terminals never reach the terminal, the push or the log raw.
mod hostile;

/// The host process left as it was: environment, signals on any stack, many threads, a
/// panic in the hook; the valgrind login loop.
mod host;

/// Audit mode: PAM_IGNORE on every path, nothing sent, limits read only, the would-… lines.
mod audit;

/// Fail-open: exactly "no TCP connection could be made", through real libpam.
mod failopen;

/// A proxy that asks for credentials (real tinyproxy): right ones connect, wrong ones deny
/// and never fail open, and the password is shown nowhere.
mod proxy;

/// The client leaving while the module polls: the push cancelled at once (its socket
/// watched through real libpam; tests/e2e does it with real sshd).
mod peer;

/// The sample TOTP fallback stack (pam.d/sshd-totp-fallback) with the real
/// pam_google_authenticator.so: only PAM_AUTHINFO_UNAVAIL reaches the TOTP code.
mod fallback;

/// Answers that do not match the question: refused, and cancelled when a push exists.
mod answers;

/// What the person is told, per language and as overridden, and bad `[messages]` refused.
mod messages;

/// `passbyme check` on the configuration itself: fail-open, GECOS fields users may change,
/// secrets never echoed by an error.
mod config_check;
