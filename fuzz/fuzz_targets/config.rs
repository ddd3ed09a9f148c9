//! `Config::parse`: any text either validates into a config or names its problem; it never
//! panics, and a config that parses is consistent (absolute paths, every user mapped to at
//! least one ID, templates that render).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pam_passbyme::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // Config::load refuses non-UTF-8 before parsing
    };
    let path = Path::new("/etc/passbyme/fuzz.toml");
    match Config::parse(path, text) {
        Ok(c) => {
            assert!(c.service.credentials.is_absolute());
            assert!(c.users.values().all(|ids| !ids.is_empty()));
            assert!(c.login.availability() >= 1);
            let _ = c.describe();
        }
        Err(e) => {
            assert_eq!(e.path, path);
            assert!(!e.message.is_empty());
        }
    }
});
