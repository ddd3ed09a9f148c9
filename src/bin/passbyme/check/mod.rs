//! `passbyme check`: the configuration as the module reads it, and (`--sshd`, `--sudo`) the
//! host programs around the module: sshd's effective configuration (`sshd -T`), the PAM
//! stacks, sudoers. Every finding has a level; the exit code is the worst one, in the
//! monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod config;
mod libpam;
mod prompt;
mod sshd;
mod stack;
mod su;
mod sudo;

use config::{check_config, check_user};
use sshd::check_sshd;
use su::check_su;
use sudo::check_sudo;

/// `passbyme check` and its options.
#[derive(clap::Args)]
#[command(after_long_help = EXIT_HELP)]
pub struct Args {
    /// Also reach the service over mutual TLS.
    #[arg(long)]
    pub connect: bool,
    /// Only show how this user is mapped: the canonical name, the IDs and where they
    /// come from (file and line, template or GECOS), or why the user is unmapped.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["connect", "sshd", "sudo", "su", "sshd_config", "census"])]
    pub user: Option<String>,
    /// Check sshd: its effective configuration (`sshd -T`) and the `sshd` PAM service.
    #[arg(long)]
    pub sshd: bool,
    /// Check this sshd configuration file instead of the installed one (`sshd -T -f FILE`),
    /// before installing it. Implies --sshd.
    #[arg(long, value_name = "FILE")]
    pub sshd_config: Option<PathBuf>,
    /// Judge this one connection (`sshd -T -C SPEC`), e.g.
    /// `user=alice,host=example.net,addr=192.0.2.7`, instead of the global configuration and
    /// each Match block; with --census, the connection every account is judged for (its
    /// `user=` replaced).
    #[arg(long, value_name = "SPEC")]
    pub sshd_match: Option<String>,
    /// Also judge every account that can log in over SSH (a login shell, or named in the
    /// configuration): gets the push, skips it (why), or is LOCKED OUT (why, and the fix).
    /// Implies --sshd. Run it as root (it reads shadow and every authorized_keys).
    #[arg(long)]
    pub census: bool,
    /// The sshd program.
    #[arg(long, value_name = "FILE", default_value = "/usr/sbin/sshd")]
    pub sshd_binary: PathBuf,
    /// Check sudo: every PAM service it uses (`sudo -V`: `sudo`, and `sudo-i` for `sudo -i`)
    /// and sudoers (who runs what without authenticating, the credential cache).
    #[arg(long)]
    pub sudo: bool,
    /// The sudo program, asked which PAM services it uses (`sudo -V`, as root).
    #[arg(long, value_name = "FILE", default_value = "/usr/bin/sudo")]
    pub sudo_binary: PathBuf,
    /// Check su: the `su` PAM service and `su-l` (util-linux su uses it for `su -` and
    /// `su -l`); both must carry the push.
    #[arg(long)]
    pub su: bool,
    /// The sudoers file (with its includes), read through `cvtsudoers`.
    #[arg(long, value_name = "FILE", default_value = "/etc/sudoers")]
    pub sudoers: PathBuf,
    /// Where the PAM service files are (`sshd`, `sudo` and what they include).
    #[arg(long, value_name = "DIR", default_value = "/etc/pam.d")]
    pub pam_dir: PathBuf,
    /// The password asked in sshd's PAM stack on top of a first factor from
    /// AuthenticationMethods (publickey) is meant: three factors, no warning.
    #[arg(long)]
    pub third_factor: bool,
    /// Every SSH client that logs in shows keyboard-interactive messages that come without
    /// a prompt (OpenSSH's ssh does): prompt=info then fits an sshd of OpenSSH 10.3 or
    /// later, with no warning.
    #[arg(long)]
    pub ssh_clients_show_info: bool,
    /// sudo with the push alone (no password) is meant: no CRITICAL for it.
    #[arg(long)]
    pub push_only_sudo: bool,
    /// Print the findings as one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

const EXIT_HELP: &str = "\
The configuration is always checked (files, TOML, credentials, certificate expiry; --connect
also reaches the service); --sshd, --sudo and --su add the checks of sshd, sudo and su around
the module.

The first line sums up in the style of monitoring plugins (\"PASSBYME CRITICAL - ...\": what
Nagios and Icinga show as the status), then each finding follows on a line of its own (ok,
WARN, FAIL for critical, UNKN for unknown); --json prints them as one JSON document.

Exit status (monitoring-plugin convention, for every form of check):
  0  OK
  1  WARNING   e.g. the client certificate expires within 30 days; the push is sent before
               the password; a password as an unintended third factor; prompt=enter for sudo;
               prompt=info for sshd (before OpenSSH 10.3, or without --ssh-clients-show-info);
               a sudoers rule that runs a command without authenticating (NOPASSWD:,
               !authenticate); su's push not going to the invoker (user=invoker);
               policy.unreachable = \"allow\" (fail-open, said exactly);
               a Match block that could not be evaluated; an account locked out (--census)
  2  CRITICAL  anything that lets people in without the push or locks everyone out: an
               invalid configuration, an expired certificate, a GECOS part users may
               change with chfn (CHFN_RESTRICT) used for the mapping, the service unreachable
               (--connect), an sshd configuration sshd refuses (it would not start), UsePAM no,
               keyboard-interactive off (on OpenSSH before 8.7 also
               ChallengeResponseAuthentication not yes), AuthenticationMethods that lets a
               login through without the push or with the push alone (in the global
               configuration or in a Match block), root or every account locked out
               (--census), a PAM stack that (run by the host's own libpam) succeeds on some
               path without pam_passbyme, after it failed, or when it cannot be loaded,
               user=invoker outside su, LoginGraceTime not above login.timeout,
               sudo with the push alone, a PAM service sudo uses (sudo-i for sudo -i)
               or su uses (su-l for su -) without the push while the other has it,
               sudoers letting a user or group run ALL commands as root (or a shell)
               without authenticating
  3  UNKNOWN   the check could not run: sshd missing or unable to run (no /run/sshd), a
               file unreadable, a PAM stack with more than 30000 paths or a libpam
               without pam_start_confdir (before 1.4), a usage error of check";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
            Level::Unknown => "UNKNOWN",
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Level::Ok => "ok  ",
            Level::Warning => "WARN",
            Level::Critical => "FAIL",
            Level::Unknown => "UNKN",
        }
    }
}

pub struct Finding {
    level: Level,
    id: &'static str,
    message: String,
    file: Option<PathBuf>,
    line: Option<usize>,
}

/// The findings so far, and in text mode the lines to print after the summary: a
/// monitoring system (Nagios, Icinga) shows a plugin's first line as its status.
pub struct Report {
    json: bool,
    findings: Vec<Finding>,
    text: Vec<String>,
}

impl Report {
    fn new(json: bool) -> Report {
        Report {
            json,
            findings: Vec::new(),
            text: Vec::new(),
        }
    }

    pub fn add(
        &mut self,
        level: Level,
        id: &'static str,
        message: String,
        at: Option<(&Path, usize)>,
    ) {
        if !self.json {
            self.text.push(match at {
                Some((f, l)) => format!("{}  {} line {l}: {message}", level.tag(), f.display()),
                None => format!("{}  {message}", level.tag()),
            });
        }
        self.findings.push(Finding {
            level,
            id,
            message,
            file: at.map(|(f, _)| f.to_path_buf()),
            line: at.map(|(_, l)| l),
        });
    }
    pub fn ok(&mut self, id: &'static str, m: impl Into<String>) {
        self.add(Level::Ok, id, m.into(), None);
    }
    pub fn warn(&mut self, id: &'static str, m: impl Into<String>) {
        self.add(Level::Warning, id, m.into(), None);
    }
    pub fn crit(&mut self, id: &'static str, m: impl Into<String>) {
        self.add(Level::Critical, id, m.into(), None);
    }
    pub fn unknown(&mut self, id: &'static str, m: impl Into<String>) {
        self.add(Level::Unknown, id, m.into(), None);
    }
    /// A line that is not a finding (the effective settings), text mode only.
    pub fn note(&mut self, text: &str) {
        if !self.json {
            self.text.push(text.to_owned());
        }
    }

    fn worst(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// The summary line, in the monitoring-plugin style.
    fn summary(&self) -> String {
        let worst = self.worst();
        let count = |l: Level| self.findings.iter().filter(|f| f.level == l).count();
        if worst == Level::Ok {
            return format!("PASSBYME OK - {} check(s) passed", self.findings.len());
        }
        let mut parts = Vec::new();
        for l in [Level::Unknown, Level::Critical, Level::Warning] {
            let n = count(l);
            if n > 0 {
                parts.push(format!("{n} {}", l.word().to_lowercase()));
            }
        }
        let first = self
            .findings
            .iter()
            .find(|f| f.level == worst)
            .map(|f| f.message.as_str())
            .unwrap_or_default();
        format!(
            "PASSBYME {} - {}: {}",
            worst.word(),
            parts.join(", "),
            first.lines().next().unwrap_or_default()
        )
    }

    /// Prints the summary then every line (or the JSON document) and gives the exit code.
    pub fn finish(self) -> ExitCode {
        let worst = self.worst();
        if self.json {
            let findings: Vec<_> = self
                .findings
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "level": f.level.word(),
                        "id": f.id,
                        "message": f.message,
                        "file": f.file.as_ref().map(|p| p.display().to_string()),
                        "line": f.line,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "status": worst.word(),
                "exit_code": worst as u8,
                "summary": self.summary(),
                "findings": findings,
            });
            println!("{doc:#}");
        } else {
            println!("{}", self.summary());
            for line in &self.text {
                println!("{line}");
            }
        }
        ExitCode::from(worst as u8)
    }
}

/// Runs `passbyme check` with its options.
pub fn run(path: &Path, a: Args) -> ExitCode {
    let mut r = Report::new(a.json);
    if let Some(user) = &a.user {
        check_user(&mut r, path, user);
        return r.finish();
    }
    // The configuration is always checked: --sshd and --sudo add to it, so that one
    // command (a monitoring job) covers everything a login depends on.
    let sshd = a.sshd || a.sshd_config.is_some() || a.census;
    check_config(&mut r, path, a.connect);
    if sshd {
        check_sshd(&mut r, path, &a);
    }
    if a.sudo {
        check_sudo(&mut r, path, &a);
    }
    if a.su {
        check_su(&mut r, &a);
    }
    r.finish()
}

/// `check` usage errors exit 3 (UNKNOWN), not clap's 2 (which would read as CRITICAL).
pub fn is_check_invocation() -> bool {
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let a = a.to_string_lossy().into_owned();
        if a == "--config" || a == "-c" {
            args.next();
        } else if a.starts_with("--config=") || (a.starts_with("-c") && a.len() > 2) {
        } else {
            return a == "check";
        }
    }
    false
}

/// `passbyme check`'s options as given on a command line, for the unit tests of the checks.
#[cfg(test)]
pub fn args(line: &[&str]) -> Args {
    #[derive(clap::Parser)]
    struct Check {
        #[command(flatten)]
        args: Args,
    }
    let argv = std::iter::once("check").chain(line.iter().copied());
    <Check as clap::Parser>::parse_from(argv).args
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (level, id) of every finding.
    fn ids(r: &Report) -> Vec<(Level, &'static str)> {
        r.findings.iter().map(|f| (f.level, f.id)).collect()
    }

    #[test]
    fn the_summary_names_the_worst_first_and_counts_each_level() {
        let mut r = Report::new(false);
        r.ok("a", "fine");
        assert_eq!(r.summary(), "PASSBYME OK - 1 check(s) passed");
        r.warn("b", "a warning\nsecond line");
        assert_eq!(r.summary(), "PASSBYME WARNING - 1 warning: a warning");
        r.crit("c", "first critical");
        r.crit("d", "second critical");
        r.unknown("e", "could not run");
        assert_eq!(
            r.summary(),
            "PASSBYME UNKNOWN - 1 unknown, 2 critical, 1 warning: could not run"
        );
        assert_eq!(r.worst(), Level::Unknown);
        assert_eq!(Level::Unknown as u8, 3);
        assert_eq!(
            ids(&r),
            [
                (Level::Ok, "a"),
                (Level::Warning, "b"),
                (Level::Critical, "c"),
                (Level::Critical, "d"),
                (Level::Unknown, "e")
            ]
        );
    }

    #[test]
    fn text_lines_carry_the_tag_and_the_place() {
        let mut r = Report::new(false);
        r.add(
            Level::Critical,
            "x",
            "bad".into(),
            Some((Path::new("/etc/pam.d/sshd"), 3)),
        );
        r.note("a note");
        r.ok("y", "good");
        assert_eq!(
            r.text,
            ["FAIL  /etc/pam.d/sshd line 3: bad", "a note", "ok    good"]
        );
        // JSON mode keeps the findings and no text.
        let mut j = Report::new(true);
        j.warn("w", "m");
        j.note("n");
        assert!(j.text.is_empty());
        assert_eq!(ids(&j), [(Level::Warning, "w")]);
    }

    #[test]
    fn options_parse_with_their_defaults() {
        let a = args(&[]);
        assert_eq!(a.pam_dir, Path::new("/etc/pam.d"));
        assert_eq!(a.sudoers, Path::new("/etc/sudoers"));
        assert!(!a.sshd && !a.sudo && !a.json);
    }
}
