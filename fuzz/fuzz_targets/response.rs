//! `decode_response` (and through it `SessionInfo::from_json`): whatever a server sends,
//! the result is a session or an error, never a panic, and a decoded session carries a
//! message id safe to put into a URL path. The first two bytes pick the HTTP status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_passbyme::client::{check_message_id, decode_response, SessionInfo};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = match data[0] % 4 {
        0 => 200,
        1 => 420,
        2 => 429,
        _ => 100 + u16::from(data[1]) * 2,
    };
    let body = &data[2..];
    if let Ok(info) = decode_response(status, body) {
        assert!((200..300).contains(&status));
        assert!(check_message_id(&info.message_id).is_ok());
        // Display of any status is sanitised: no control characters reach a log.
        for r in &info.recipients {
            assert!(!r.status.to_string().chars().any(char::is_control));
        }
    }
    let _ = SessionInfo::from_json(body);
});
