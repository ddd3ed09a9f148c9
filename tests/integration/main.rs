#![allow(unsafe_code, reason = "signal handlers and kill() in the signal tests")]

//! The single integration-test binary. Every test talks to a real emulator process over
//! real mutual TLS; the PAM tests load the built module through real Linux-PAM.

/// Emulator process guard, config writers, syslog capture.
mod util;

/// The client library against the emulator: every call, status, error kind and fault.
mod client;

/// The `passbyme` command: exit codes and exact messages.
mod cli;

/// The module through real libpam (`pam_start_confdir`).
mod pam;

/// The user as the user database knows it (a real NSS spelling difference).
mod users;

/// Push-fatigue limits through real libpam.
mod limits;

/// Issue 6: faults, hostile input, the environment and the host process.
mod hardening;

/// Fail-open: exactly "no TCP connection could be made", through real libpam.
mod failopen;

/// Answers that do not match the question: refused, and cancelled when a push exists.
mod answers;
