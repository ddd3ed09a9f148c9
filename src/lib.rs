//! pam_passbyme: push-based second-factor login for Linux on the PassBy\[ME\] mobile
//! authentication service.
//!
//! The crate is three things:
//! - [`client`]: a PassBy\[ME\] API client (send, track, cancel over mutual TLS), usable on its
//!   own like the vendor's Python SDK. It uses nothing else from this crate.
//! - the PAM module (`pam_sm_authenticate`, built as the cdylib `pam_passbyme.so`), whose
//!   decisions come from [`login`], configured by [`config`];
//! - the `passbyme` command (a binary of this package) on top of both.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod client;
pub mod config;
pub mod connect;
pub mod duration;
mod ffi;
pub mod files;
pub mod limiter;
pub mod log;
pub mod login;
pub mod os;
mod pam;
pub mod pamapp;
pub mod template;

pub use client::{sanitize, Client, Credentials};
