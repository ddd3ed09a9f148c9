//! pam_passbyme: push-based second-factor login for Linux on the PassBy\[ME\] mobile
//! authentication service.
//!
//! The supported API of this crate is [`client`]: a PassBy\[ME\] API client (send, track,
//! cancel over mutual TLS), usable on its own like the vendor's Python SDK. It uses nothing
//! else from this crate.
//!
//! The crate also builds the PAM module (`pam_sm_authenticate`, the cdylib
//! `pam_passbyme.so`) and the library behind the `passbyme` command. Where things live:
//!
//! | module | what |
//! |---|---|
//! | `client` | the PassBy\[ME\] API over HTTPS (the only public API) |
//! | `duration`, `template`, `files`, `os` | values, templates, root-owned files, the host (users, signals, syslog) |
//! | `userkey`, `limiter` | the key of the hash for unknown user names; push-fatigue limits and their state |
//! | `config`, `args` | the configuration file and the module's arguments as data: schema, validation, values |
//! | `connect` | the client built from the files the configuration names |
//! | `outcome` | the words every layer speaks: the request, how a login ended, its report |
//! | `log`, `messages` | the one builder of log lines; what the person at the terminal is told, in each language |
//! | `login` | the login flow and its policy: map, limit, push, wait, decide |
//! | `pam`, `ffi`, `pamapp` | the PAM boundary: the hook, one outcome → PAM code match, the libpam FFI; a PAM application |
//!
//! Dependencies point one way: a module uses only the modules of the rows above its own and
//! of its own row (never two of one row each other), never a row below: `login` uses
//! `outcome`, `outcome` never uses `login`. The client uses nothing else from the crate.
//! `tests/integration/cli/layers.rs` checks every `crate::` path against this table.
//!
//! Every module but `client` is an internal of the module and the command, public only so
//! that the `passbyme` binary, the tests and the benchmark can reach it: hidden from the
//! documentation, and free to change in any release.
#![deny(unsafe_code)]
#![warn(unreachable_pub)]
#![warn(missing_docs)]

pub mod client;

mod ffi;
mod files;
mod pam;
mod template;

/// Declares the internal modules that the `passbyme` command, the tests, the benchmark and
/// the fuzz targets reach: public, hidden from the documentation, free to change in any
/// release. Within them, what those users do not need is `pub(crate)`.
macro_rules! internal {
    ($($name:ident),* $(,)?) => { $( #[doc(hidden)] pub mod $name; )* };
}

internal!(
    args, config, connect, duration, limiter, log, login, messages, os, outcome, pamapp, userkey
);

pub use client::{Client, Credentials};
