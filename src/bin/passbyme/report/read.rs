//! Reading a source: a syslog file, entries saved with `journalctl -o json`, or journalctl
//! itself; line by line with a length cap, counting what is not counted (malformed lines,
//! journal entries from senders the journal does not vouch for).

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

use pam_passbyme::client::sanitize::clean;
use time::OffsetDateTime;

use super::parse::{parse_message, parse_syslog, Decision};

/// The longest line read; the module's own lines stay below 2 KiB.
pub const MAX_LINE: usize = 16 * 1024;

/// Programs whose journal entries count whatever their uid (setuid root programs that
/// run PAM with the invoking user's real uid).
pub const TRUSTED_EXE: &[&str] = &[
    "/usr/bin/sudo",
    "/usr/bin/su",
    "/bin/su",
    "/usr/bin/doas",
    "/usr/bin/login",
    "/bin/login",
    "/usr/bin/passwd",
];

/// Why a line in the module's form was not counted.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Malformed: truncated, forged out of order, not UTF-8, too long.
    pub malformed: u64,
    /// From the journal, sent by a process it does not vouch for: (uid, exe) → count.
    pub untrusted: BTreeMap<(String, String), u64>,
}

/// Everything read from the source in the window.
#[derive(Default)]
pub struct Input {
    pub decisions: Vec<(OffsetDateTime, Decision)>,
    pub rejected: Rejected,
}

/// Reads lines of at most [`MAX_LINE`] bytes (the rest of a longer line is skipped, the
/// line counted malformed if it is in the module's form), calling `f` on each valid one.
fn each_line(mut r: impl BufRead, mut f: impl FnMut(Result<&str, ()>)) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(1024);
    let mut too_long = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let (chunk, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > MAX_LINE {
            too_long = true;
        } else if !too_long {
            line.extend_from_slice(chunk);
        }
        let used = end.unwrap_or(buf.len());
        r.consume(used);
        if end.is_some() {
            emit(&line, too_long, &mut f);
            line.clear();
            too_long = false;
        }
    }
    if !line.is_empty() || too_long {
        emit(&line, too_long, &mut f);
    }
    Ok(())
}

fn emit(line: &[u8], too_long: bool, f: &mut impl FnMut(Result<&str, ()>)) {
    let ours = line.windows(13).any(|w| w == b"pam_passbyme(");
    match std::str::from_utf8(line) {
        _ if too_long => f(Err(())),
        Ok(s) => f(Ok(s)),
        Err(_) if ours => f(Err(())),
        Err(_) => {}
    }
}

/// The lines of a syslog file within `[since, until]`.
pub fn read_syslog(
    r: impl BufRead,
    since: OffsetDateTime,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> std::io::Result<Input> {
    let mut input = Input::default();
    each_line(r, |line| match line {
        Err(()) => input.rejected.malformed += 1,
        Ok(l) if !l.contains("pam_passbyme(") => {}
        Ok(l) => match parse_syslog(l, now) {
            Some((t, d)) if t >= since && t <= until => input.decisions.push((t, d)),
            Some(_) => {}
            None => input.rejected.malformed += 1,
        },
    })?;
    Ok(input)
}

/// Entries of `journalctl -o json` within `[since, until]`, counted only from senders the
/// journal vouches for (see the module doc).
pub fn read_journal(
    r: impl BufRead,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> std::io::Result<Input> {
    let mut input = Input::default();
    each_line(r, |line| {
        let Ok(line) = line else {
            input.rejected.malformed += 1;
            return;
        };
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            if line.contains("pam_passbyme(") {
                input.rejected.malformed += 1;
            }
            return;
        };
        let msg = match entry.get("MESSAGE") {
            Some(serde_json::Value::String(m)) => m,
            // A MESSAGE that is not UTF-8 comes as an array of bytes: never the module's
            // (it writes only sanitised UTF-8), malformed if it takes the module's form.
            Some(serde_json::Value::Array(bytes)) => {
                let bytes: Vec<u8> = bytes
                    .iter()
                    .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect();
                if bytes.windows(13).any(|w| w == b"pam_passbyme(") {
                    input.rejected.malformed += 1;
                }
                return;
            }
            _ => return,
        };
        if !msg.contains("pam_passbyme(") {
            return;
        }
        let field = |k: &str| entry.get(k).and_then(|v| v.as_str());
        let when = field("__REALTIME_TIMESTAMP")
            .and_then(|us| us.parse::<i128>().ok())
            .and_then(|us| OffsetDateTime::from_unix_timestamp_nanos(us * 1000).ok());
        let (Some(when), Some(d)) = (when, parse_message(msg)) else {
            input.rejected.malformed += 1;
            return;
        };
        if when < since || when > until {
            return;
        }
        let uid = field("_UID").unwrap_or("");
        let exe = field("_EXE").unwrap_or("");
        if uid == "0" || TRUSTED_EXE.contains(&exe) {
            input.decisions.push((when, d));
        } else {
            let key = (clean(uid, 16), clean(exe, 128));
            *input.rejected.untrusted.entry(key).or_default() += 1;
        }
    })?;
    Ok(input)
}

/// `journalctl -o json` for the window, authpriv entries only (the facility is the
/// sender's word: only a filter; trust comes from `_UID`/`_EXE`).
pub(super) fn journalctl(since: OffsetDateTime, until: OffsetDateTime) -> std::io::Result<Input> {
    let mut child = std::process::Command::new("journalctl")
        .args(["-o", "json", "--no-pager", "-q", "--since"])
        .arg(format!("@{}", since.unix_timestamp()))
        .arg("--until")
        .arg(format!("@{}", until.unix_timestamp()))
        .arg("SYSLOG_FACILITY=10")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("journalctl: {e}")))?;
    let out = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("journalctl: no output"))?;
    let input = read_journal(std::io::BufReader::new(out), since, until);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.by_ref().take(4096).read_to_string(&mut err);
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "journalctl failed ({status}): {}",
            clean(err.trim(), 300)
        )));
    }
    input
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{fixture, now, OK};
    use super::super::parse::{fmt_time, parse_when, Kind};
    use super::*;

    #[test]
    fn huge_and_invalid_lines_are_malformed_not_fatal() {
        let mut text = Vec::new();
        text.extend_from_slice(format!("2026-11-02T10:00:00Z h sshd[1]: {OK}\n").as_bytes());
        text.extend_from_slice(b"2026-11-02T10:00:01Z h sshd[1]: pam_passbyme(sshd:auth): decision=approved user=\xff\n");
        text.extend_from_slice(b"2026-11-02T10:00:02Z h sshd[1]: pam_passbyme(sshd:auth): ");
        text.extend(std::iter::repeat_n(b'a', 3 * MAX_LINE));
        text.push(b'\n');
        text.extend_from_slice(b"2026-11-02T10:00:03Z h cron[1]: \xff\xfe not ours\n");
        text.extend_from_slice(format!("2026-11-02T10:00:04Z h sshd[1]: {OK}").as_bytes());
        let since = now() - time::Duration::days(2);
        let input = read_syslog(&text[..], since, now(), now()).unwrap();
        assert_eq!(input.decisions.len(), 2);
        assert_eq!(input.rejected.malformed, 2);
    }

    #[test]
    fn the_journal_counts_only_senders_it_vouches_for() {
        let since = parse_when("2026-12-03", now()).unwrap();
        let until = parse_when("2026-12-04", now()).unwrap();
        let input = read_journal(&fixture("journal.json")[..], since, until).unwrap();
        let users: Vec<&str> = input
            .decisions
            .iter()
            .map(|(_, d)| d.user.as_str())
            .collect();
        assert_eq!(users, ["rp_alice", "rp_bob", "rp_carol", "rp_dave"]);
        assert_eq!(input.rejected.malformed, 1, "the non-UTF-8 message");
        let untrusted: Vec<_> = input.rejected.untrusted.iter().collect();
        assert_eq!(
            untrusted,
            [
                (&("1000".to_owned(), "/usr/bin/logger".to_owned()), &1),
                (&("1000".to_owned(), "/usr/bin/pamtester".to_owned()), &1)
            ]
        );
        // Outside the window: nothing.
        let input = read_journal(&fixture("journal.json")[..], until, until).unwrap();
        assert!(input.decisions.is_empty());
    }

    #[test]
    fn the_syslog_fixture_reads_as_the_module_wrote_it() {
        let since = parse_when("2026-12-03", now()).unwrap();
        let until = parse_when("2026-12-04", now()).unwrap();
        let at = parse_when("2026-12-31", now()).unwrap();
        let input = read_syslog(&fixture("auth.log")[..], since, until, at).unwrap();
        let kinds: Vec<Kind> = input.decisions.iter().map(|(_, d)| d.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Approved,
                Kind::Denied,
                Kind::FailOpen,
                Kind::WouldDeny
            ]
        );
        assert_eq!(input.rejected, Rejected::default());
        assert_eq!(fmt_time(input.decisions[0].0), "2026-12-03T14:01:55Z");
    }
}
