//! `passbyme report`: the module's decision lines for a time window, counted per user and
//! per source (PAM_RHOST), with the approval latency and the alerts an administrator must
//! act on (push fatigue in progress, any fail-open, users audit mode would lock out).
//!
//! The lines are parsed exactly as src/log.rs writes them, and only by position: the
//! `pam_passbyme(<service>:auth): ` prefix pam_syslog puts before the message, then
//! `decision= user= ids= service= rhost= tty= duration=` in that order, then in audit mode
//! `mode=audit` and `enforce=`. Nothing is read from the fields after those (quoted error
//! texts may hold anything a server or a user typed, `decision=approved` included); they
//! are only shown, sanitised, as the reason of an audit would-deny. A line that does not
//! fit, is not UTF-8 or is longer than [`MAX_LINE`](read::MAX_LINE) counts as malformed
//! and nowhere else.
//!
//! Who wrote a line: any local user can write syslog lines under any tag (`logger -t sshd
//! 'pam_passbyme(sshd:auth): decision=approved …'`). A syslog file cannot tell those from
//! the module's; the report says so. The journal can: `_UID`, `_EXE` are set by journald
//! from the sending process (the kernel's credentials and /proc), not by the sender. A
//! journal entry counts only if it comes from uid 0 (sshd's monitor, su, login and most
//! PAM hosts run as root while authenticating) or from one of [`TRUSTED_EXE`] (setuid
//! programs such as sudo keep the invoking user's real uid); every other entry in the
//! module's form is counted as untrusted and raises a warning: it is a forgery attempt
//! or a PAM application run by a user, and neither may count.
//!
//! The parts: [`parse`] reads one line (and the times of `--since`/`--until`), [`read`]
//! reads a source (a syslog file, saved journal entries, journalctl) and says what it did
//! not count, [`summary`] counts and raises the alerts, [`output`] prints the report.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use time::OffsetDateTime;

#[cfg(test)]
mod fixtures;
mod output;
mod parse;
mod read;
mod summary;

use parse::{fmt_time, parse_when};
use read::{journalctl, read_journal, read_syslog, TRUSTED_EXE};
use summary::summarize;

/// `passbyme report` and its options.
#[derive(clap::Args)]
#[command(after_long_help = EXIT_HELP)]
pub struct Args {
    /// Read this syslog file (e.g. /var/log/auth.log; `-` for standard input) instead of
    /// the journal.
    #[arg(long, value_name = "FILE", conflicts_with = "journal_json")]
    pub file: Option<PathBuf>,
    /// Read entries saved with `journalctl -o json` from this file (`-` for standard input)
    /// instead of running journalctl.
    #[arg(long, value_name = "FILE")]
    pub journal_json: Option<PathBuf>,
    /// Start of the window: an age (`30m`, `24h`, `7d`), a date (`2026-11-02`, UTC) or a
    /// time (`2026-11-02T08:00:00Z`, `2026-11-02T10:00:00+02:00`).
    #[arg(long, value_name = "WHEN", default_value = "24h")]
    pub since: String,
    /// End of the window, in the same forms (default: now).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Push fatigue: this many denied, unanswered, abandoned or rate-limited logins of one user within
    /// --burst-window raise a CRITICAL alert.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,
    /// The window of --burst.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub burst_window: String,
    /// Print the report as one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

const EXIT_HELP: &str = "\
The first line sums up in the style of monitoring plugins (\"PASSBYME CRITICAL - ...\"),
then the alerts, then the counts per user and per source (PAM_RHOST; - for a local login):
approved, denied (a final answer other than APPROVED), timeout, limited (refused by the
push-fatigue limits, no push), fail-open, errors (error, unreachable, interrupted,
conversation-failed), other (unmapped, skipped, local-denied, grace, repeat), the audit-mode
outcomes (would-push, would-deny, would-skip, would-allow) and the approval latency (p50 and
p95 of the duration of approved logins).

Lines are trusted as far as their source allows: from the journal only entries sent by uid 0
or by sudo, su, doas, login or passwd count (journald records the sender; others are counted
as untrusted and raise a warning); a syslog file cannot prove who wrote a line (any local
user can call logger), so with --file every line in the module's form counts.

Exit status (monitoring-plugin convention):
  0  OK
  1  WARNING   users audit mode would refuse (would-deny), error decisions, entries in the
               module's form from senders the journal does not vouch for
  2  CRITICAL  push fatigue in progress (--burst refusals or unanswered pushes against one
               user within --burst-window), any fail-open
  3  UNKNOWN   the log could not be read (journalctl missing or failing, a file unreadable),
               a usage error";

fn open(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    Ok(Box::new(std::io::BufReader::new(std::fs::File::open(
        path,
    )?)))
}

/// Runs `passbyme report`.
pub fn run(args: Args) -> ExitCode {
    let unknown = |m: String| {
        println!("PASSBYME UNKNOWN - report: {m}");
        ExitCode::from(3)
    };
    let now = OffsetDateTime::now_utc();
    let since = match parse_when(&args.since, now) {
        Ok(t) => t,
        Err(e) => return unknown(format!("--since: {e}")),
    };
    let until = match args.until.as_deref().map(|u| parse_when(u, now)) {
        None => now,
        Some(Ok(t)) => t,
        Some(Err(e)) => return unknown(format!("--until: {e}")),
    };
    let burst_window = match pam_passbyme::duration::parse_duration(&args.burst_window) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => return unknown("--burst-window: must be above 0".into()),
        Err(e) => return unknown(format!("--burst-window: {e}")),
    };
    let (input, about) = if let Some(path) = &args.file {
        let about = format!(
            "source: {} (a syslog file: the sender of a line cannot be proven; any local user can write one in the module's form)",
            path.display()
        );
        (
            open(path).and_then(|r| read_syslog(r, since, until, now)),
            about,
        )
    } else if let Some(path) = &args.journal_json {
        let about = format!(
            "source: journal entries from {} (counted from uid 0 and {} only)",
            path.display(),
            TRUSTED_EXE.join(", ")
        );
        (
            open(path).and_then(|r| read_journal(r, since, until)),
            about,
        )
    } else {
        let about = format!(
            "source: the journal (journalctl; counted from uid 0 and {} only)",
            TRUSTED_EXE.join(", ")
        );
        (journalctl(since, until), about)
    };
    let input = match input {
        Ok(i) => i,
        Err(e) => return unknown(e.to_string()),
    };
    let s = summarize(input, args.burst, burst_window);
    let about = format!(
        "window: {} to {}; {about}",
        fmt_time(since),
        fmt_time(until)
    );
    if args.json {
        println!("{}", s.json(&about, since, until));
    } else {
        print!("{}", s.text(&about));
    }
    ExitCode::from(s.code())
}
