//! Names in the state directory and keys in a state file, made from untrusted values (user
//! names, PAM_RHOST, PAM_TTY, the service): bounded, unambiguous, and never one another.

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The file name for a user: the name itself when it is plainly safe, else the hex of the
/// whole name (up to 128 bytes) or of its SHA-256 (longer names: still one file per name).
/// Always `u-`, `x-` or `h-` and then only `[0-9A-Za-z._-]`: lock files (`l-`) and
/// temporary files (`.`) can never take a user's name.
pub(super) fn file_name(user: &str) -> String {
    let plain = !user.is_empty()
        && user.len() <= 64
        && !user.starts_with('.')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        format!("u-{user}")
    } else if user.len() <= 128 {
        format!("x-{}", hex(user.as_bytes()))
    } else {
        format!("h-{}", sha256_hex(user.as_bytes()))
    }
}

/// The lock file of a user (one per user: no user waits on another's lock).
pub(super) fn lock_name(user: &str) -> String {
    format!("l-{}", file_name(user))
}

/// The user a state file belongs to (`None` for lock and other files; hashed names are
/// shown by their file name).
pub(super) fn user_of(file: &str) -> Option<String> {
    if let Some(u) = file.strip_prefix("u-") {
        return Some(u.to_owned());
    }
    if file.starts_with("h-") {
        return Some(format!("({file})"));
    }
    let hex = file.strip_prefix("x-")?;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    String::from_utf8(bytes?).ok()
}

/// A bounded, unambiguous key for an untrusted value: `kind:value` when the value is short
/// and plain, else `kind#` and its SHA-256.
pub(super) fn key(kind: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'.' | b'_' | b'-' | b':' | b'/' | b'%' | b'[' | b']' | b'@'
                )
        });
    if plain {
        format!("{kind}:{value}")
    } else {
        format!("{kind}#{}", sha256_hex(value.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_names_are_encoded() {
        assert_eq!(file_name("../etc/passwd"), "x-2e2e2f6574632f706173737764");
        assert_eq!(user_of(&file_name("a b\u{7}")).as_deref(), Some("a b\u{7}"));
        assert_eq!(user_of(&file_name("alice")).as_deref(), Some("alice"));
        let (a, b) = ("a".repeat(128) + "1", "a".repeat(128) + "2");
        assert_ne!(
            file_name(&a),
            file_name(&b),
            "long names do not share state"
        );
        assert!(file_name(&a).starts_with("h-") && file_name(&a).len() == 66);
        // Lock files never take a user's name, and the listing skips them.
        for u in ["alice", "l-u-alice", "u-alice", "x-61", "a b"] {
            assert!(user_of(&lock_name(u)).is_none(), "{u}");
            assert_ne!(lock_name(u), file_name("l-u-alice"));
        }
    }
}
