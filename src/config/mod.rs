//! The configuration file (`/etc/passbyme/passbyme.toml` unless `config=` says otherwise):
//! data only. TOML is parsed strictly into raw structs, then validated into types that cannot
//! be wrong; each default and range is stated once, next to its field. The file is read with
//! the rules of `crate::files`; the files it names are read by [`crate::connect`].
//!
//! This file holds the schema (the validated types) and the loading; beside it: `raw` (the
//! file as TOML gives it, and TOML errors without values), `parse` (one function per
//! section), `texts` (`[messages]`), `users` (the `[users]` tables and `mapping.users_dir`),
//! `plain` (the fast reader of plain users.d files) and `describe` (every effective setting).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::client;
use crate::duration::Range;
use crate::files::{self, FileError, Secrecy};
use crate::limiter::Limits;
use crate::template::{self, Filled, Placeholder, TemplateError};

mod describe;
mod parse;
#[doc(hidden)]
pub mod plain;
mod raw;
mod texts;
mod users;

pub use texts::{Language, MessageId, Messages};
pub use users::{toml_users, UsersEntry};

/// Where the module and the `passbyme` command look by default.
pub const DEFAULT_PATH: &str = "/etc/passbyme/passbyme.toml";
/// The largest configuration file read.
pub(crate) const MAX_CONFIG_FILE: u64 = 64 * 1024;

fn err(path: &Path, message: impl Into<String>) -> FileError {
    FileError::new(path, message)
}

/// How the person at the terminal is told to approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Show the hint as a prompt ("… then press Enter") and poll after the answer. Right
    /// for sshd, which holds back plain messages until the next prompt.
    Enter,
    /// Show the hint as an information message and poll at once (sudo, su, login).
    Info,
    /// Show nothing (scripts, `sudo -n`).
    None,
}

/// What happens to a user with no `[users]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmapped {
    /// `PAM_USER_UNKNOWN` (the default).
    Deny,
    /// `PAM_IGNORE`: the module steps aside and the rest of the stack decides.
    Ignore,
}

/// What happens when the service cannot be reached before a message exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnreachable {
    /// `PAM_AUTHINFO_UNAVAIL` (the default): fail closed.
    Deny,
    /// Fail open: `PAM_SUCCESS` with a warning in the log. Never once a message was sent.
    Allow,
}

/// Whether the module asks for the push or only says what it would have done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Push, wait and decide (the default).
    Enforce,
    /// For a rollout: everything up to the push (user, mapping, groups, limits read only,
    /// source policy), then a `decision=would-…` line and `PAM_IGNORE`: no push is sent,
    /// no limit counts, the stack runs as without the module. Never `PAM_SUCCESS`.
    Audit,
}

impl Mode {
    /// The word of the file and the `mode=` argument.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }

    /// Parses `enforce` or `audit`.
    pub(crate) fn parse(v: &str) -> Result<Mode, String> {
        match v {
            "enforce" => Ok(Mode::Enforce),
            "audit" => Ok(Mode::Audit),
            _ => Err(format!(
                "'{}' is not one of enforce, audit",
                client::sanitize::clean(v, 64)
            )),
        }
    }
}

/// What happens to a login with no remote host (console, `su`, local `sudo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Local {
    /// Send a push like any other login (the default).
    Push,
    /// Refuse.
    Deny,
    /// `PAM_IGNORE`: the rest of the stack decides.
    Ignore,
}

/// The service settings.
#[derive(Debug, Clone)]
pub struct Service {
    /// `host:port` of the service. Defaults to [`client::DEFAULT_ADDRESS`].
    pub address: String,
    /// The credentials PEM (chain, and the key unless `key` is set).
    pub credentials: PathBuf,
    /// A separate key file, if any.
    pub key: Option<PathBuf>,
    /// Where the key's password comes from.
    pub(crate) password: Password,
    /// The CA bundle; `None` = the vendor trust store compiled in.
    pub ca_bundle: Option<PathBuf>,
    /// An HTTP CONNECT proxy; never taken from the environment. Its password, if the URL
    /// holds one, is shown nowhere: see [`client::proxy_shown`].
    pub proxy: Option<String>,
    /// A root-only file holding the proxy user's password (the URL then names the user).
    pub proxy_password_file: Option<PathBuf>,
    /// Time to connect (TCP and TLS). Defaults to [`client::DEFAULT_CONNECT_TIMEOUT`];
    /// within `Service::CONNECT_TIMEOUT_RANGE`.
    pub connect_timeout: Duration,
    /// Time for one whole request. Defaults to [`client::DEFAULT_REQUEST_TIMEOUT`]; within
    /// `Service::REQUEST_TIMEOUT_RANGE`.
    pub request_timeout: Duration,
}

impl Service {
    /// The values `service.connect_timeout` accepts: 100ms to 1m.
    pub(crate) const CONNECT_TIMEOUT_RANGE: Range =
        Range::new(Duration::from_millis(100), Duration::from_secs(60));
    /// The values `service.request_timeout` accepts: 100ms to 2m.
    pub(crate) const REQUEST_TIMEOUT_RANGE: Range =
        Range::new(Duration::from_millis(100), Duration::from_secs(120));
}

/// The key's password. `Debug` never shows it.
#[derive(Clone)]
pub(crate) enum Password {
    /// The key is not encrypted.
    None,
    /// Written in the config file (which must then be secret).
    Inline(Zeroizing<String>),
    /// Read from this secret file; one trailing newline is stripped.
    File(PathBuf),
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Password::None => f.write_str("None"),
            Password::Inline(_) => f.write_str("Inline(<redacted>)"),
            Password::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

/// The login settings.
#[derive(Debug, Clone)]
pub struct Login {
    /// How long to wait for an answer. Defaults to `Login::DEFAULT_TIMEOUT`, within
    /// `Login::TIMEOUT_RANGE` (in the file and in the `timeout=` module argument).
    pub timeout: Duration,
    /// `availability` as written in the file: seconds the message stays available on the
    /// service, at least 1. `None`: it follows the timeout, also when a module argument
    /// changes the timeout; read it with [`Login::availability`].
    pub availability: Option<u64>,
    /// Time between polls while no answer can come yet (before `poll_fast_after`, unless the
    /// phone already shows SEEN), and the longest interval the slow-down of long waits
    /// reaches. Defaults to `Login::DEFAULT_POLL_INTERVAL`, within
    /// `Login::POLL_INTERVAL_RANGE`. The schedule is `login::Schedule`.
    pub poll_interval: Duration,
    /// Time between polls while an answer can come: from `poll_fast_after` after the push
    /// (or SEEN, if earlier) until `poll_slow_after`. Defaults to
    /// `Login::DEFAULT_POLL_INTERVAL_SEEN`, within `Login::POLL_INTERVAL_RANGE`; it bounds
    /// how long an approval waits to be noticed.
    pub poll_interval_seen: Duration,
    /// How long after the push the fast polling starts even if the phone has not shown SEEN:
    /// the earliest a person can answer. Defaults to `Login::DEFAULT_POLL_FAST_AFTER`,
    /// within `Login::POLL_FAST_AFTER_RANGE`.
    pub poll_fast_after: Duration,
    /// How long after the push the fast polling starts to slow down, the interval growing in
    /// proportion to the wait (twice as long at twice this time) up to `poll_interval`.
    /// Defaults to `Login::DEFAULT_POLL_SLOW_AFTER`, within
    /// `Login::POLL_SLOW_AFTER_RANGE`.
    pub poll_slow_after: Duration,
    /// Subject template (`crate::template::PUSH`) as written. `None`: the language's
    /// (`crate::messages::default_subject`).
    pub subject: Option<String>,
    /// Body template (`crate::template::PUSH`) as written. `None`: the language's
    /// (`crate::messages::default_body`).
    pub body: Option<String>,
    /// How the terminal is told. Defaults to [`Prompt::Enter`].
    pub prompt: Prompt,
}

impl Login {
    /// 60s: below sshd's default LoginGraceTime of 120s.
    pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// The values `login.timeout` and the `timeout=` module argument accept: 5s to 10m.
    pub(crate) const TIMEOUT_RANGE: Range =
        Range::new(Duration::from_secs(5), Duration::from_secs(600));
    /// 1s.
    pub(crate) const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
    /// 180ms.
    pub(crate) const DEFAULT_POLL_INTERVAL_SEEN: Duration = Duration::from_millis(180);
    /// The values `login.poll_interval` and `login.poll_interval_seen` accept: 50ms to 30s.
    pub(crate) const POLL_INTERVAL_RANGE: Range =
        Range::new(Duration::from_millis(50), Duration::from_secs(30));
    /// 800ms.
    pub(crate) const DEFAULT_POLL_FAST_AFTER: Duration = Duration::from_millis(800);
    /// The values `login.poll_fast_after` accepts: 0s to 10m.
    pub(crate) const POLL_FAST_AFTER_RANGE: Range =
        Range::new(Duration::ZERO, Duration::from_secs(600));
    /// 15s.
    pub(crate) const DEFAULT_POLL_SLOW_AFTER: Duration = Duration::from_secs(15);
    /// The values `login.poll_slow_after` accepts: 1s to 10m.
    pub(crate) const POLL_SLOW_AFTER_RANGE: Range =
        Range::new(Duration::from_secs(1), Duration::from_secs(600));

    /// Seconds the message stays available on the service: `availability` if written,
    /// else the timeout rounded down to whole seconds (at least 1).
    pub fn availability(&self) -> u64 {
        self.availability
            .unwrap_or_else(|| self.timeout.as_secs().max(1))
    }
}

/// Policies for the cases around a login.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Enforce (the default) or audit; the `mode=` module argument overrides it.
    pub mode: Mode,
    /// Users without an entry in `[users]`.
    pub unmapped: Unmapped,
    /// The service cannot be reached before a message exists.
    pub unreachable: WhenUnreachable,
    /// No remote host.
    pub(crate) local: Local,
    /// When non-empty, only members of these groups use the module; others get PAM_IGNORE.
    pub only_groups: Vec<String>,
    /// Members of these groups are exempt (PAM_IGNORE).
    pub exempt_groups: Vec<String>,
}

/// Where the IDs of users not in `[users]` come from.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// `users_dir`: every `*.toml` file there (sorted by name) adds a `[users]` table.
    pub users_dir: Option<PathBuf>,
    /// `template`: the ID of a user in no `[users]` table, built from the name
    /// (`crate::template::check_id_template`); `None` = no template.
    pub template: Option<String>,
    /// `gecos_field` and `gecos_delimiter`: the ID read from the user's GECOS field.
    pub gecos: Option<Gecos>,
}

impl Mapping {
    /// The ID `template` gives `user` (to be checked with [`check_id`]); `None` without a
    /// template.
    pub(crate) fn template_id(&self, user: &str) -> Option<Result<String, TemplateError>> {
        let t = self.template.as_deref()?;
        let user = Filled::default().with(Placeholder::User, user);
        Some(template::render(t, &template::ID, &user))
    }
}

/// Which part of the GECOS field (`pw_gecos`) holds the ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gecos {
    /// 1-based, within `Gecos::FIELD_RANGE`.
    pub field: usize,
    /// Between the parts; defaults to `,`. One ASCII punctuation character other than `:`.
    pub delimiter: char,
}

impl Gecos {
    /// The values `mapping.gecos_field` accepts.
    pub(crate) const FIELD_RANGE: (u32, u32) = (1, 32);

    /// The ID in `gecos`, or `None` when the field is missing or blank.
    pub(crate) fn pick<'a>(&self, gecos: &'a str) -> Option<&'a str> {
        let part = gecos.split(self.delimiter).nth(self.field - 1)?.trim();
        (!part.is_empty()).then_some(part)
    }
}

/// Where a user's entry was written: a file of [`Config::files`] and a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryLocation {
    /// Index into [`Config::files`] (0: the main file).
    pub file: usize,
    /// 1-based line of the user's key.
    pub line: usize,
}

/// An entry of a file of `mapping.users_dir`.
#[derive(Debug, Clone)]
pub struct DirUser {
    /// The Unix user.
    pub name: String,
    /// Its IDs (at least one).
    pub ids: Vec<String>,
    /// Where it was written.
    pub(crate) origin: EntryLocation,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The service.
    pub service: Service,
    /// The login.
    pub login: Login,
    /// The policies.
    pub policy: Policy,
    /// Push-fatigue limits; `None` when `limits.enabled = false`.
    pub limits: Option<Limits>,
    /// `limits.state_dir`, with the limits on or off: the limiter's state and the key of
    /// the hash that stands for unknown user names in the log ([`crate::userkey`]).
    pub state_dir: PathBuf,
    /// Unix user → PassBy\[ME\] IDs (at least one each): `[users]` of the main file.
    pub users: BTreeMap<String, Vec<String>>,
    /// Where each entry of `users` was written.
    pub(crate) origins: BTreeMap<String, EntryLocation>,
    /// The entries of the files of `mapping.users_dir`, sorted by name (see
    /// `Config::table_entry`). A sorted list, not a map: 10,000 of them are read at
    /// every login.
    pub dir_users: Vec<DirUser>,
    /// The files the entries come from: the main file, then the users.d files read.
    pub files: Vec<PathBuf>,
    /// The other sources of IDs.
    pub mapping: Mapping,
    /// What the person at the terminal is told (`[messages]`).
    pub messages: Messages,
}

impl Config {
    /// Reads and validates `path` with the file rules, then the files of
    /// `mapping.users_dir`: any problem with any of them makes the whole configuration
    /// invalid (the first is returned).
    pub fn load(path: &Path) -> Result<Config, FileError> {
        let (config, mut problems) = Config::load_all(path)?;
        if problems.is_empty() {
            return Ok(config);
        }
        let mut first = problems.swap_remove(0);
        if !problems.is_empty() {
            first.message += &format!(
                " (and {} more problem(s) in mapping.users_dir; see passbyme check)",
                problems.len()
            );
        }
        Err(first)
    }

    /// [`Config::load`], reporting every problem of `mapping.users_dir` (for `passbyme
    /// check`) instead of the first. The configuration is usable only when the list is
    /// empty.
    pub fn load_all(path: &Path) -> Result<(Config, Vec<FileError>), FileError> {
        let mut config = Config::load_main(path)?;
        let problems = match config.mapping.users_dir.clone() {
            Some(dir) => config.read_users_dir(&dir),
            None => Vec::new(),
        };
        Ok((config, problems))
    }

    fn load_main(path: &Path) -> Result<Config, FileError> {
        let (bytes, meta) = read_text(path, files::Parents::Check)?;
        let config = Config::parse(path, utf8(path, &bytes)?)?;
        let proxy_password = config
            .service
            .proxy
            .as_deref()
            .is_some_and(client::proxy_has_password);
        let inline = match (&config.service.password, proxy_password) {
            (Password::Inline(_), _) => Some("service.password"),
            (_, true) => Some("the proxy's password in service.proxy"),
            _ => None,
        };
        if let Some(what) = inline {
            // An inline password makes the config itself a secret: judged on the
            // descriptor just read, not on a second open by path.
            files::check_secret(path, &meta).map_err(|e| FileError {
                message: format!("{} (it holds {what})", e.message),
                ..e
            })?;
        }
        Ok(config)
    }
}

/// A PassBy\[ME\] ID as `[users]`, a template or a GECOS field must give it: not blank, at
/// most 256 bytes, no whitespace or control character.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty()
        || id.len() > 256
        || id.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "'{}' is not a PassBy[ME] ID",
            client::sanitize::clean(id, 64)
        ));
    }
    Ok(())
}

/// `prompt` values: `enter`, `info`, `none`.
pub fn parse_prompt(v: &str) -> Result<Prompt, String> {
    match v {
        "enter" => Ok(Prompt::Enter),
        "info" => Ok(Prompt::Info),
        "none" => Ok(Prompt::None),
        other => Err(format!("'{other}' is not one of enter, info, none")),
    }
}

pub(crate) fn declares_audit(path: &Path) -> bool {
    let Ok((bytes, _)) = read_text(path, files::Parents::Check) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return false;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return false;
    };
    table
        .get("policy")
        .and_then(|p| p.get("mode"))
        .and_then(|m| m.as_str())
        == Some("audit")
}

/// A configuration file (the main one or one of `mapping.users_dir`), read with the file
/// rules.
fn read_text(
    path: &Path,
    parents: files::Parents,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, std::fs::Metadata), FileError> {
    files::read_checked_meta(path, Secrecy::Public, MAX_CONFIG_FILE, parents)
}

fn utf8<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, FileError> {
    std::str::from_utf8(bytes).map_err(|_| err(path, "is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::parse_duration;
    use crate::limiter::{LOCKOUT_AFTER_BOUND, MAX_PUSHES_BOUND};

    /// A minimal valid configuration (for the tests of every part of the schema).
    pub(super) const MIN: &str = "[service]\ncredentials = \"/etc/passbyme/auth.pem\"\npassword_file = \"/etc/passbyme/pw\"\n[users]\nalice = \"alice@example.com\"\nbob = [\"b1@x\", \"b2@x\"]\n";

    /// `text` parsed as /etc/passbyme/passbyme.toml; the error as its message.
    pub(super) fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/passbyme/passbyme.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = parse(MIN).unwrap();
        assert_eq!(c.service.address, "auth-sp.passbyme.com:443");
        assert_eq!(c.login.timeout, Duration::from_secs(60));
        assert_eq!(c.login.availability(), 60);
        assert_eq!(c.login.availability, None);
        assert_eq!(c.login.poll_interval, Duration::from_secs(1));
        assert_eq!(c.login.poll_interval_seen, Duration::from_millis(180));
        assert_eq!(c.login.poll_fast_after, Duration::from_millis(800));
        assert_eq!(c.login.poll_slow_after, Duration::from_secs(15));
        assert_eq!(c.login.prompt, Prompt::Enter);
        assert_eq!(c.policy.unmapped, Unmapped::Deny);
        assert_eq!(c.policy.unreachable, WhenUnreachable::Deny);
        assert_eq!(c.policy.local, Local::Push);
        assert_eq!(c.users["bob"], ["b1@x", "b2@x"]);
        assert!(c.service.ca_bundle.is_none());
    }

    #[test]
    fn the_shipped_sample_parses_to_the_defaults() {
        let sample = include_str!("../../packaging/passbyme.toml");
        let c = parse(sample).unwrap();
        let d = parse(MIN).unwrap();
        assert_eq!(
            c.service.credentials,
            Path::new("/etc/passbyme/credentials.pem")
        );
        assert_eq!(format!("{:?}", c.login), format!("{:?}", d.login));
        assert_eq!(format!("{:?}", c.policy), format!("{:?}", d.policy));
        assert_eq!(format!("{:?}", c.limits), format!("{:?}", d.limits));
        assert!(c.users.is_empty());
        // Every commented-out `key = value` line, uncommented, is valid and (for the
        // defaults it documents) changes nothing.
        let uncommented: String = sample
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(k, _)| {
                        [
                            "address",
                            "timeout",
                            "poll_interval",
                            "poll_interval_seen",
                            "poll_fast_after",
                            "poll_slow_after",
                            "subject",
                            "body",
                            "prompt",
                            "unmapped",
                            "unreachable",
                            "local",
                            "enabled",
                            "state_dir",
                            "max_pushes",
                            "max_pushes_user",
                            "window",
                            "lockout_after",
                            "lockout_after_user",
                            "lockout",
                            "concurrent",
                            "grace",
                            "grace_local",
                            "connect_timeout",
                            "request_timeout",
                        ]
                        .contains(&k.trim())
                    }) =>
                {
                    rest.split("  #")
                        .next()
                        .unwrap_or(rest)
                        .trim_end()
                        .to_owned()
                }
                _ => l.to_owned(),
            })
            .map(|l| l + "\n")
            .collect();
        assert_eq!(uncommented.matches("\ntimeout = \"60s\"").count(), 1);
        assert!(
            uncommented.contains("\nmax_pushes = 5\n")
                && uncommented.contains("\nprompt = \"enter\"\n")
        );
        let mut u = parse(&uncommented).unwrap();
        // The subject and body it shows are the English defaults (crate::messages tests
        // that), written out: the same effect as leaving them out.
        assert!(u.login.subject.take().is_some() && u.login.body.take().is_some());
        assert_eq!(format!("{:?}", u.login), format!("{:?}", d.login));
        assert_eq!(format!("{:?}", u.policy), format!("{:?}", d.policy));
        assert_eq!(format!("{:?}", u.limits), format!("{:?}", d.limits));
        assert_eq!(u.service.address, d.service.address);
    }

    #[test]
    fn every_default_is_stated_once_and_within_its_range() {
        assert!(Login::TIMEOUT_RANGE.contains(Login::DEFAULT_TIMEOUT));
        assert!(Login::POLL_INTERVAL_RANGE.contains(Login::DEFAULT_POLL_INTERVAL));
        assert!(Login::POLL_INTERVAL_RANGE.contains(Login::DEFAULT_POLL_INTERVAL_SEEN));
        assert!(Login::POLL_FAST_AFTER_RANGE.contains(Login::DEFAULT_POLL_FAST_AFTER));
        assert!(Login::POLL_SLOW_AFTER_RANGE.contains(Login::DEFAULT_POLL_SLOW_AFTER));
        assert!(Service::CONNECT_TIMEOUT_RANGE.contains(client::DEFAULT_CONNECT_TIMEOUT));
        assert!(Service::REQUEST_TIMEOUT_RANGE.contains(client::DEFAULT_REQUEST_TIMEOUT));
        assert!(Limits::WINDOW_RANGE.contains(Limits::DEFAULT_WINDOW));
        assert!(Limits::LOCKOUT_RANGE.contains(Limits::DEFAULT_LOCKOUT));
        // A file that sets nothing gets exactly the limiter's own defaults and the client's.
        let c = parse(MIN).unwrap();
        assert_eq!(
            format!("{:?}", c.limits.unwrap()),
            format!("{:?}", Limits::default())
        );
        assert_eq!(c.service.connect_timeout, client::DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(c.service.request_timeout, client::DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(c.service.address, client::DEFAULT_ADDRESS);
        assert_eq!(c.login.timeout, Login::DEFAULT_TIMEOUT);
    }

    /// The text the man page gives `key` after `.BR key " (`, up to `)"`, and the first value
    /// after the next `Default:` (with any `.B`/`.BR`/`.I`/`.IR` and the final period removed).
    fn man_entry<'a>(man: &'a str, key: &str) -> (&'a str, &'a str) {
        let head = format!("\n.BR {key} \" (");
        let at = man
            .find(&head)
            .unwrap_or_else(|| panic!("{key}: not in the man page"))
            + head.len();
        let kind = &man[at..at + man[at..].find(")\"").unwrap()];
        let after = &man[at + man[at..].find("Default:").unwrap() + "Default:".len()..];
        let value = after
            .split_whitespace()
            .find(|w| !w.starts_with('.'))
            .unwrap()
            .trim_end_matches(['.', ','])
            .trim_start_matches("\\(dq");
        (kind, value)
    }

    #[test]
    fn the_man_page_states_the_same_ranges_and_defaults() {
        let man = include_str!("../../packaging/passbyme.toml.5");
        let durations = [
            (
                "connect_timeout",
                Service::CONNECT_TIMEOUT_RANGE,
                client::DEFAULT_CONNECT_TIMEOUT,
            ),
            (
                "request_timeout",
                Service::REQUEST_TIMEOUT_RANGE,
                client::DEFAULT_REQUEST_TIMEOUT,
            ),
            ("timeout", Login::TIMEOUT_RANGE, Login::DEFAULT_TIMEOUT),
            (
                "poll_interval",
                Login::POLL_INTERVAL_RANGE,
                Login::DEFAULT_POLL_INTERVAL,
            ),
            (
                "poll_interval_seen",
                Login::POLL_INTERVAL_RANGE,
                Login::DEFAULT_POLL_INTERVAL_SEEN,
            ),
            (
                "poll_fast_after",
                Login::POLL_FAST_AFTER_RANGE,
                Login::DEFAULT_POLL_FAST_AFTER,
            ),
            (
                "poll_slow_after",
                Login::POLL_SLOW_AFTER_RANGE,
                Login::DEFAULT_POLL_SLOW_AFTER,
            ),
            ("window", Limits::WINDOW_RANGE, Limits::DEFAULT_WINDOW),
            ("lockout", Limits::LOCKOUT_RANGE, Limits::DEFAULT_LOCKOUT),
            ("grace", Limits::GRACE_RANGE, Limits::DEFAULT_GRACE),
        ];
        for (key, range, default) in durations {
            let (kind, value) = man_entry(man, key);
            let (min, max) = kind
                .rsplit_once(' ')
                .and_then(|(rest, max)| rest.strip_suffix(" to").map(|r| (r, max)))
                .and_then(|(rest, max)| Some((rest.rsplit(' ').next()?, max)))
                .unwrap_or_else(|| panic!("{key}: {kind:?}"));
            assert_eq!(parse_duration(min), Ok(range.min), "{key}: {kind}");
            assert_eq!(parse_duration(max), Ok(range.max), "{key}: {kind}");
            assert_eq!(parse_duration(value), Ok(default), "{key}: default {value}");
        }
        let counts = [
            (
                "max_pushes",
                (1, MAX_PUSHES_BOUND),
                Limits::DEFAULT_MAX_PUSHES,
            ),
            (
                "lockout_after",
                (0, LOCKOUT_AFTER_BOUND),
                Limits::DEFAULT_LOCKOUT_AFTER,
            ),
        ];
        for (key, (min, max), default) in counts {
            let (kind, value) = man_entry(man, key);
            assert_eq!(kind, format!("integer, {min} to {max}"), "{key}");
            assert_eq!(value, default.to_string(), "{key}");
        }
        let (_, state_dir) = man_entry(man, "state_dir");
        assert_eq!(state_dir, Limits::DEFAULT_STATE_DIR);
    }
}
