//! Making untrusted text safe to log or show: control characters replaced, length capped.

/// Replaces every control character (C0, DEL, C1, and the Unicode bidi overrides) with `?`
/// and caps the result at `max` characters, marking a cut with `…`.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 3));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        let bad = c.is_control()
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        out.push(if bad { '?' } else { c });
    }
    out
}

/// [`clean`] for bytes that may not be UTF-8 (PAM items): invalid sequences become `?`.
pub fn clean_bytes(b: &[u8], max: usize) -> String {
    clean(&String::from_utf8_lossy(b).replace('\u{fffd}', "?"), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_escapes_are_replaced() {
        assert_eq!(clean("a\x1b[31mb\r\n\x07\u{9b}c", 100), "a?[31mb????c");
        assert_eq!(clean("x\u{202e}y", 10), "x?y");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean_bytes(b"ok\xff\xfe", 10), "ok??");
        assert_eq!(clean("%s%n", 10), "%s%n");
    }
}
