//! The fast reader of users.d files (`config::plain::users`) against the TOML parser: when
//! it accepts a text, its entries (names, lines, IDs) are exactly those `toml` gives
//! (`config::toml_users`), but for a name written twice, which TOML refuses and the reader
//! passes on for the duplicate check to report. It never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_passbyme::config::{plain, toml_users};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the config reader refuses non-UTF-8 before parsing
    };
    let Some(mut fast) = plain::users(text) else {
        return; // left to the TOML parser
    };
    fast.sort();
    let twice = fast.windows(2).any(|w| w[0].name == w[1].name);
    match toml_users(text) {
        Some(mut full) => {
            full.sort();
            assert!(!twice, "toml took a name twice: {text:?}");
            assert_eq!(fast, full, "{text:?}");
        }
        None => assert!(twice, "the fast reader took what toml refuses: {text:?}"),
    }
});
