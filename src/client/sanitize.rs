//! Making untrusted text safe to log or show: control characters replaced, length capped.

/// Replaces with `?` every character that can change how the text around it is shown
/// (see [`is_unsafe`]) and caps the result at `max` characters, marking a cut with `…`.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 3));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        out.push(if is_unsafe(c) { '?' } else { c });
    }
    out
}

/// A character that may not reach a terminal, a push or a log line as it is: control
/// characters (C0, DEL, C1); the line and paragraph separators U+2028 and U+2029 (a new
/// line to many viewers); the bidi controls that reorder what follows (embeddings and
/// overrides U+202A–U+202E, isolates U+2066–U+2069, the marks U+200E, U+200F and U+061C);
/// and the invisible ones that make two different texts look alike (zero-width space,
/// non-joiner and joiner U+200B–U+200D, word joiner U+2060, the byte-order mark U+FEFF).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{200b}'..='\u{200d}'
                | '\u{2060}'
                | '\u{feff}'
        )
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

    /// Issue 19: separators, bidi controls and invisible characters got through.
    #[test]
    fn separators_bidi_controls_and_invisible_characters_are_replaced() {
        for (c, what) in [
            ('\u{2028}', "line separator"),
            ('\u{2029}', "paragraph separator"),
            ('\u{202a}', "left-to-right embedding"),
            ('\u{202b}', "right-to-left embedding"),
            ('\u{202c}', "pop directional formatting"),
            ('\u{202d}', "left-to-right override"),
            ('\u{202e}', "right-to-left override"),
            ('\u{2066}', "left-to-right isolate"),
            ('\u{2067}', "right-to-left isolate"),
            ('\u{2068}', "first strong isolate"),
            ('\u{2069}', "pop directional isolate"),
            ('\u{200e}', "left-to-right mark"),
            ('\u{200f}', "right-to-left mark"),
            ('\u{061c}', "arabic letter mark"),
            ('\u{200b}', "zero-width space"),
            ('\u{200c}', "zero-width non-joiner"),
            ('\u{200d}', "zero-width joiner"),
            ('\u{2060}', "word joiner"),
            ('\u{feff}', "byte-order mark"),
        ] {
            assert!(is_unsafe(c), "{what}");
            assert_eq!(clean(&format!("a{c}b"), 10), "a?b", "{what}");
            let bytes = format!("x{c}").into_bytes();
            assert_eq!(clean_bytes(&bytes, 10), "x?", "{what}");
        }
        // Their neighbours pass: letters of every script, the ordinary space, the dashes.
        for c in [
            'é', 'ő', 'ß', 'ж', 'א', 'ع', '中', ' ', '\u{2010}', '\u{2027}', '\u{2030}', '\u{200a}',
        ] {
            assert!(!is_unsafe(c), "{c:?}");
        }
    }
}
