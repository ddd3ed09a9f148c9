//! Durations as people write them: the one parser and formatter for every duration the
//! project reads or shows (configuration, module arguments, the limiter's messages, the
//! `passbyme` command, the emulator's flags and tags), and the range a setting accepts.

use std::fmt;
use std::time::Duration;

/// The inclusive range of durations a setting accepts; shown as `5s to 10m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    /// The shortest accepted.
    pub min: Duration,
    /// The longest accepted.
    pub max: Duration,
}

impl Range {
    /// From `min` to `max`, both included.
    pub(crate) const fn new(min: Duration, max: Duration) -> Range {
        Range { min, max }
    }

    /// Whether `d` is within the range.
    pub(crate) fn contains(&self, d: Duration) -> bool {
        self.min <= d && d <= self.max
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {}",
            format_duration(self.min),
            format_duration(self.max)
        )
    }
}

/// Parses a duration: a number and a unit, `ms`, `s`, `m` or `h`: `250ms`, `5s`, `2m`, `1h`,
/// and decimal forms of whole milliseconds, `0.5s`, `1.5s`, `0.25m`. Refused: a sign, an
/// exponent, `inf`/`NaN`, a bare number, a value finer than a millisecond (`0.5ms`,
/// `1.0005s`) and a value too long to count in milliseconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let like = || format!("'{v}' is not a duration like 500ms, 0.5s, 30s, 2m");
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(like()),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    // Digits on both sides of a dot: `0.5s`, not `.5s` nor `5.s`; one dot at most.
    if whole.is_empty() || num.ends_with('.') || frac.contains('.') {
        return Err(like());
    }
    let too_long = || format!("'{v}' is too long");
    // Leading zeros are harmless; a number too long for u64 is too long a duration.
    let whole: u64 = whole.parse().map_err(|_| too_long())?;
    let mut ms = whole.checked_mul(unit_ms).ok_or_else(too_long)?;
    let frac = frac.trim_end_matches('0');
    if !frac.is_empty() {
        // Exact arithmetic: frac/10^digits of a unit must be whole milliseconds.
        if frac.len() > 7 {
            return Err(format!("'{v}' is finer than a millisecond"));
        }
        let digits: u64 = frac.parse().map_err(|_| like())?;
        let scale = 10u64.pow(frac.len() as u32);
        let part = digits * unit_ms; // < 10^7 * 3.6e6: no overflow
        if part % scale != 0 {
            return Err(format!("'{v}' is finer than a millisecond"));
        }
        ms = ms.checked_add(part / scale).ok_or_else(too_long)?;
    }
    Ok(Duration::from_millis(ms))
}

/// `1500ms`, `2s`, `2m`: the shortest exact form (whole milliseconds; finer is dropped).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_and_every_refusal() {
        let ms = |v: &str| parse_duration(v).map(|d| d.as_millis());
        // Whole numbers in each unit, and decimal forms of whole milliseconds.
        for (v, want) in [
            ("500ms", 500),
            ("0ms", 0),
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("0.5s", 500),
            ("1.5s", 1500),
            ("0.25m", 15_000),
            ("1.5h", 5_400_000),
            ("0.001s", 1),
            ("1.250s", 1250),
            ("2.0s", 2000),
            ("1.0ms", 1),
            (" 0.5s ", 500),
            ("007s", 7000),
        ] {
            assert_eq!(ms(v), Ok(want), "{v}");
        }
        // Each refusal says why.
        let why = |v: &str| parse_duration(v).unwrap_err();
        for v in [
            "-1s", "-0.5s", "+1s", "NaNs", "NaN", "inf", "infs", "1e3ms", "1", "1.5", "",
        ] {
            assert!(
                why(v).contains("is not a duration like 500ms, 0.5s"),
                "{v}: {}",
                why(v)
            );
        }
        for v in [
            ".5s", "5.s", "1..2s", "1.2.3s", "1,5s", "1 s", "1sec", "1d", "0x10s",
        ] {
            assert!(why(v).contains("is not a duration"), "{v}: {}", why(v));
        }
        for v in ["0.5ms", "1.0005s", "0.0001s", "1.00000001h", "0.1234567s"] {
            assert!(
                why(v).contains("finer than a millisecond"),
                "{v}: {}",
                why(v)
            );
        }
        for v in [
            "18446744073709551615s",
            "99999999999999999999ms",
            "5124095576030432h",
            "18446744073709551615.5s",
        ] {
            assert!(why(v).contains("too long"), "{v}: {}", why(v));
        }
        // The largest count of milliseconds still parses.
        assert_eq!(ms("18446744073709551615ms"), Ok(u128::from(u64::MAX)));
    }

    #[test]
    fn format_is_the_shortest_exact_form_and_parses_back() {
        for (ms, want) in [
            (0, "0s"),
            (1, "1ms"),
            (1500, "1500ms"),
            (2000, "2s"),
            (59_000, "59s"),
            (60_000, "1m"),
            (90_000, "90s"),
            (86_400_000, "1440m"),
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(format_duration(d), want);
            assert_eq!(parse_duration(want), Ok(d), "{want}");
        }
    }

    #[test]
    fn a_range_includes_both_ends_and_names_them() {
        let r = Range::new(Duration::from_millis(100), Duration::from_secs(600));
        assert!(r.contains(Duration::from_millis(100)));
        assert!(r.contains(Duration::from_secs(600)));
        assert!(!r.contains(Duration::from_millis(99)));
        assert!(!r.contains(Duration::from_millis(600_001)));
        assert_eq!(r.to_string(), "100ms to 10m");
    }
}
