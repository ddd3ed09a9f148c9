//! The configuration file (`/etc/passbyme/passbyme.toml` unless `config=` says otherwise):
//! data only. TOML is parsed strictly into raw structs, then validated into types that cannot
//! be wrong; each default and range is stated once, next to its field. The file is read with
//! the rules of `crate::files`; the files it names are read by [`crate::connect`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::client;
use crate::duration::{format_duration, parse_duration, Range};
use crate::files::{self, Secrecy};
use crate::limiter::{
    Concurrent, Limits, LOCKOUT_AFTER_BOUND, LOCKOUT_AFTER_USER_BOUND, MAX_PUSHES_BOUND,
};
use crate::messages::{self, Language, Messages};
use crate::template::{check_id_template, check_template, render_with, ID_PLACEHOLDERS};

pub use crate::files::Error;

/// Where the module and the `passbyme` command look by default.
pub const DEFAULT_PATH: &str = "/etc/passbyme/passbyme.toml";
/// The largest configuration file read.
pub const MAX_CONFIG_FILE: u64 = 64 * 1024;

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::new(path, message)
}

/// `[messages]`: `language` (default `en`; see [`Language`]) and overrides keyed by message
/// id ([`messages::Id`]), each checked against that message's placeholders.
fn parse_messages(path: &Path, raw: BTreeMap<String, String>) -> Result<Messages, Error> {
    let mut m = Messages::default();
    for (key, text) in raw {
        let shown = client::sanitize::clean(&key, 40);
        if key == "language" {
            m.language = Language::parse(&text).ok_or_else(|| {
                let known: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
                err(
                    path,
                    format!(
                        "messages.language: unknown language '{}'; known: {}",
                        client::sanitize::clean(&text, 40),
                        known.join(" ")
                    ),
                )
            })?;
            continue;
        }
        let Some(id) = messages::Id::parse(&key) else {
            let known: Vec<&str> = messages::Id::ALL.iter().map(|i| i.key()).collect();
            return Err(err(
                path,
                format!(
                    "messages.{shown}: unknown message; known: language {}",
                    known.join(" ")
                ),
            ));
        };
        messages::check(id, &text).map_err(|e| err(path, format!("messages.{shown}: {e}")))?;
        m.overrides.insert(id, text);
    }
    Ok(m)
}

// ---------------------------------------------------------------------------------------
// The raw file

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    service: Option<RawService>,
    #[serde(default)]
    login: RawLogin,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    mapping: RawMapping,
    /// `language` and the message overrides, keyed by message id: checked by hand, so that
    /// an unknown key is named with the ids that exist.
    #[serde(default)]
    messages: BTreeMap<String, String>,
    users: Option<BTreeMap<toml::Spanned<String>, RawIds>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    users_dir: Option<String>,
    template: Option<String>,
    gecos_field: Option<u32>,
    gecos_delimiter: Option<String>,
}

/// A file of `[mapping] users_dir`: a `[users]` table and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsersFile {
    users: Option<BTreeMap<toml::Spanned<String>, RawIds>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    address: Option<String>,
    credentials: String,
    key: Option<String>,
    password: Option<String>,
    password_file: Option<String>,
    ca_bundle: Option<String>,
    proxy: Option<String>,
    proxy_password_file: Option<String>,
    connect_timeout: Option<String>,
    request_timeout: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLogin {
    timeout: Option<String>,
    availability: Option<u64>,
    poll_interval: Option<String>,
    poll_interval_seen: Option<String>,
    poll_fast_after: Option<String>,
    poll_slow_after: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    prompt: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    mode: Option<String>,
    unmapped: Option<String>,
    unreachable: Option<String>,
    local: Option<String>,
    only_groups: Option<Vec<String>>,
    exempt_groups: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    enabled: Option<bool>,
    state_dir: Option<String>,
    max_pushes: Option<u32>,
    max_pushes_user: Option<u32>,
    window: Option<String>,
    lockout_after: Option<u32>,
    lockout_after_user: Option<u32>,
    lockout: Option<String>,
    concurrent: Option<String>,
    grace: Option<String>,
    grace_local: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawIds {
    One(String),
    Many(Vec<String>),
}

// ---------------------------------------------------------------------------------------
// The validated configuration

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
pub enum Unreachable {
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
    pub fn word(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }

    /// Parses `enforce` or `audit`.
    pub fn parse(v: &str) -> Result<Mode, String> {
        match v {
            "enforce" => Ok(Mode::Enforce),
            "audit" => Ok(Mode::Audit),
            _ => Err(format!(
                "'{}' is not one of enforce, audit",
                crate::client::sanitize::clean(v, 64)
            )),
        }
    }
}

/// What happens to a login with no remote host (console, `su`, local `sudo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
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
    pub password: Password,
    /// The CA bundle; `None` = the vendor trust store compiled in.
    pub ca_bundle: Option<PathBuf>,
    /// An HTTP CONNECT proxy; never taken from the environment. Its password, if the URL
    /// holds one, is shown nowhere: see [`client::proxy_shown`].
    pub proxy: Option<String>,
    /// A root-only file holding the proxy user's password (the URL then names the user).
    pub proxy_password_file: Option<PathBuf>,
    /// Time to connect (TCP and TLS). Defaults to [`client::DEFAULT_CONNECT_TIMEOUT`];
    /// within [`Service::CONNECT_TIMEOUT_RANGE`].
    pub connect_timeout: Duration,
    /// Time for one whole request. Defaults to [`client::DEFAULT_REQUEST_TIMEOUT`]; within
    /// [`Service::REQUEST_TIMEOUT_RANGE`].
    pub request_timeout: Duration,
}

impl Service {
    /// The values `service.connect_timeout` accepts: 100ms to 1m.
    pub const CONNECT_TIMEOUT_RANGE: Range =
        Range::new(Duration::from_millis(100), Duration::from_secs(60));
    /// The values `service.request_timeout` accepts: 100ms to 2m.
    pub const REQUEST_TIMEOUT_RANGE: Range =
        Range::new(Duration::from_millis(100), Duration::from_secs(120));
}

/// The key's password. `Debug` never shows it.
#[derive(Clone)]
pub enum Password {
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
    /// How long to wait for an answer. Defaults to [`Login::DEFAULT_TIMEOUT`], within
    /// [`Login::TIMEOUT_RANGE`] (in the file and in the `timeout=` module argument).
    pub timeout: Duration,
    /// Seconds the message stays available on the service, at least 1. Defaults to the
    /// timeout (rounded down to whole seconds).
    pub availability: u64,
    /// `availability` was written in the file (else it follows the timeout, also when a
    /// module argument changes the timeout).
    pub availability_set: bool,
    /// Time between polls while no answer can come yet (before `poll_fast_after`, unless the
    /// phone already shows SEEN), and the longest interval the slow-down of long waits
    /// reaches. Defaults to [`Login::DEFAULT_POLL_INTERVAL`], within
    /// [`Login::POLL_INTERVAL_RANGE`]. The schedule is `login::Schedule`.
    pub poll_interval: Duration,
    /// Time between polls while an answer can come: from `poll_fast_after` after the push
    /// (or SEEN, if earlier) until `poll_slow_after`. Defaults to
    /// [`Login::DEFAULT_POLL_INTERVAL_SEEN`], within [`Login::POLL_INTERVAL_RANGE`]; it bounds
    /// how long an approval waits to be noticed.
    pub poll_interval_seen: Duration,
    /// How long after the push the fast polling starts even if the phone has not shown SEEN:
    /// the earliest a person can answer. Defaults to [`Login::DEFAULT_POLL_FAST_AFTER`],
    /// within [`Login::POLL_FAST_AFTER_RANGE`].
    pub poll_fast_after: Duration,
    /// How long after the push the fast polling starts to slow down, the interval growing in
    /// proportion to the wait (twice as long at twice this time) up to `poll_interval`.
    /// Defaults to [`Login::DEFAULT_POLL_SLOW_AFTER`], within
    /// [`Login::POLL_SLOW_AFTER_RANGE`].
    pub poll_slow_after: Duration,
    /// Subject template ([`crate::template`]). Defaults to the language's
    /// ([`messages::default_subject`]; in English [`DEFAULT_SUBJECT`]).
    pub subject: String,
    /// Body template ([`crate::template`]). Defaults to the language's
    /// ([`messages::default_body`]; in English [`DEFAULT_BODY`]).
    pub body: String,
    /// How the terminal is told. Defaults to [`Prompt::Enter`].
    pub prompt: Prompt,
}

impl Login {
    /// 60s: below sshd's default LoginGraceTime of 120s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// The values `login.timeout` and the `timeout=` module argument accept: 5s to 10m.
    pub const TIMEOUT_RANGE: Range = Range::new(Duration::from_secs(5), Duration::from_secs(600));
    /// 1s.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
    /// 180ms.
    pub const DEFAULT_POLL_INTERVAL_SEEN: Duration = Duration::from_millis(180);
    /// The values `login.poll_interval` and `login.poll_interval_seen` accept: 50ms to 30s.
    pub const POLL_INTERVAL_RANGE: Range =
        Range::new(Duration::from_millis(50), Duration::from_secs(30));
    /// 800ms.
    pub const DEFAULT_POLL_FAST_AFTER: Duration = Duration::from_millis(800);
    /// The values `login.poll_fast_after` accepts: 0s to 10m.
    pub const POLL_FAST_AFTER_RANGE: Range = Range::new(Duration::ZERO, Duration::from_secs(600));
    /// 15s.
    pub const DEFAULT_POLL_SLOW_AFTER: Duration = Duration::from_secs(15);
    /// The values `login.poll_slow_after` accepts: 1s to 10m.
    pub const POLL_SLOW_AFTER_RANGE: Range =
        Range::new(Duration::from_secs(1), Duration::from_secs(600));
}

/// The default subject: the code first, where a glance at the notification sees it.
pub const DEFAULT_SUBJECT: &str = "Code {code}: log in as {user} on {host}?";
/// The default body.
pub const DEFAULT_BODY: &str = "Code {code}. Approve only if you are logging in now and your \
    screen shows this code.\nUser: {user}\nHost: {host}\nService: {service}\nFrom: {rhost}\n\
    Terminal: {tty}\nTime: {time}";

/// The default subject under `user=invoker` (`su`): who wants to become whom.
pub const DEFAULT_SUBJECT_INVOKER: &str = "Code {code}: {user} wants to become {target} on {host}?";
/// The default body under `user=invoker`.
pub const DEFAULT_BODY_INVOKER: &str = "Code {code}. Approve only if you are running su now and \
    your screen shows this code.\nUser: {user}\nBecomes: {target}\nHost: {host}\n\
    Service: {service}\nTerminal: {tty}\nTime: {time}";

/// Policies for the cases around a login.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Enforce (the default) or audit; the `mode=` module argument overrides it.
    pub mode: Mode,
    /// Users without an entry in `[users]`.
    pub unmapped: Unmapped,
    /// The service cannot be reached before a message exists.
    pub unreachable: Unreachable,
    /// No remote host.
    pub local: Local,
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
    /// ([`crate::template::check_id_template`]); `None` = no template.
    pub template: Option<String>,
    /// `gecos_field` and `gecos_delimiter`: the ID read from the user's GECOS field.
    pub gecos: Option<Gecos>,
}

/// Which part of the GECOS field (`pw_gecos`) holds the ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gecos {
    /// 1-based, within [`Gecos::FIELD_RANGE`].
    pub field: usize,
    /// Between the parts; defaults to `,`. One ASCII punctuation character other than `:`.
    pub delimiter: char,
}

impl Gecos {
    /// The values `mapping.gecos_field` accepts.
    pub const FIELD_RANGE: (u32, u32) = (1, 32);

    /// The ID in `gecos`, or `None` when the field is missing or blank.
    pub fn pick<'a>(&self, gecos: &'a str) -> Option<&'a str> {
        let part = gecos.split(self.delimiter).nth(self.field - 1)?.trim();
        (!part.is_empty()).then_some(part)
    }
}

/// Where a user's entry was written: a file of [`Config::files`] and a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
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
    pub origin: Origin,
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
    pub origins: BTreeMap<String, Origin>,
    /// The entries of the files of `mapping.users_dir`, sorted by name (see
    /// [`Config::table_entry`]). A sorted list, not a map: 10,000 of them are read at
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
    pub fn load(path: &Path) -> Result<Config, Error> {
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
    pub fn load_all(path: &Path) -> Result<(Config, Vec<Error>), Error> {
        let mut config = Config::load_main(path)?;
        let problems = match config.mapping.users_dir.clone() {
            Some(dir) => config.read_users_dir(&dir),
            None => Vec::new(),
        };
        Ok((config, problems))
    }

    fn load_main(path: &Path) -> Result<Config, Error> {
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
            files::check_secret(path, &meta).map_err(|e| Error {
                message: format!("{} (it holds {what})", e.message),
                ..e
            })?;
        }
        Ok(config)
    }

    /// Validates TOML text; `path` only names the file in errors and resolves nothing.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Error> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let e = |m: String| err(path, m);

        let rs = raw
            .service
            .ok_or_else(|| e("missing table [service]".into()))?;
        let abs = |key: &str, v: &str| -> Result<PathBuf, Error> {
            let p = PathBuf::from(v);
            if p.is_absolute() {
                Ok(p)
            } else {
                Err(e(format!("service.{key}: '{v}' is not an absolute path")))
            }
        };
        let password = match (rs.password, rs.password_file) {
            (Some(_), Some(_)) => {
                return Err(e(
                    "service.password and service.password_file are both set; keep one".into(),
                ))
            }
            (Some(p), None) => Password::Inline(Zeroizing::new(p)),
            // Not echoed: a password written here by mistake would reach the log.
            (None, Some(f)) if !Path::new(&f).is_absolute() => {
                return Err(e(
                    "service.password_file: is not an absolute path (value not shown)".into(),
                ))
            }
            (None, Some(f)) => Password::File(abs("password_file", &f)?),
            (None, None) => Password::None,
        };
        let address = rs.address.unwrap_or_else(|| client::DEFAULT_ADDRESS.into());
        client::check_address(&address).map_err(|a| e(a.to_string()))?;
        let service = Service {
            address,
            credentials: abs("credentials", &rs.credentials)?,
            key: rs.key.as_deref().map(|k| abs("key", k)).transpose()?,
            password,
            ca_bundle: rs
                .ca_bundle
                .as_deref()
                .map(|c| abs("ca_bundle", c))
                .transpose()?,
            proxy: match &rs.proxy {
                // Only HTTP CONNECT: the client is built without SOCKS support.
                Some(p) if p.starts_with("http://") => Some(p.clone()),
                Some(p) => {
                    return Err(e(format!(
                        "service.proxy: '{}' must start with http:// (an HTTP CONNECT proxy)",
                        client::proxy_shown(p)
                    )))
                }
                None => None,
            },
            proxy_password_file: match (&rs.proxy, rs.proxy_password_file.as_deref()) {
                (_, None) => None,
                (None, Some(_)) => {
                    return Err(e(
                        "service.proxy_password_file is set but service.proxy is not".into(),
                    ))
                }
                (Some(p), Some(_)) if client::proxy_has_password(p) => {
                    return Err(e("service.proxy holds a password and service.proxy_password_file is set: give the password in one place".into()))
                }
                (Some(p), Some(_)) if !client::proxy_has_user(p) => {
                    return Err(e(format!("service.proxy_password_file needs the proxy's user in service.proxy: http://USER@{}", p.trim_start_matches("http://"))))
                }
                (Some(_), Some(f)) => Some(abs("proxy_password_file", f)?),
            },
            connect_timeout: duration(
                path,
                "service.connect_timeout",
                rs.connect_timeout,
                client::DEFAULT_CONNECT_TIMEOUT,
                Service::CONNECT_TIMEOUT_RANGE,
            )?,
            request_timeout: duration(
                path,
                "service.request_timeout",
                rs.request_timeout,
                client::DEFAULT_REQUEST_TIMEOUT,
                Service::REQUEST_TIMEOUT_RANGE,
            )?,
        };

        let rl = raw.login;
        let timeout = duration(
            path,
            "login.timeout",
            rl.timeout,
            Login::DEFAULT_TIMEOUT,
            Login::TIMEOUT_RANGE,
        )?;
        let availability = match rl.availability {
            Some(0) => return Err(e("login.availability: must be at least 1 (seconds)".into())),
            Some(a) => a,
            None => timeout.as_secs().max(1),
        };
        let messages = parse_messages(path, raw.messages)?;
        let subject = rl
            .subject
            .unwrap_or_else(|| messages::default_subject(messages.language, false).into());
        let body = rl
            .body
            .unwrap_or_else(|| messages::default_body(messages.language, false).into());
        check_template(&subject).map_err(|m| e(format!("login.subject: {m}")))?;
        check_template(&body).map_err(|m| e(format!("login.body: {m}")))?;
        let login = Login {
            timeout,
            availability,
            availability_set: rl.availability.is_some(),
            poll_interval: duration(
                path,
                "login.poll_interval",
                rl.poll_interval,
                Login::DEFAULT_POLL_INTERVAL,
                Login::POLL_INTERVAL_RANGE,
            )?,
            poll_interval_seen: duration(
                path,
                "login.poll_interval_seen",
                rl.poll_interval_seen,
                Login::DEFAULT_POLL_INTERVAL_SEEN,
                Login::POLL_INTERVAL_RANGE,
            )?,
            poll_fast_after: duration(
                path,
                "login.poll_fast_after",
                rl.poll_fast_after,
                Login::DEFAULT_POLL_FAST_AFTER,
                Login::POLL_FAST_AFTER_RANGE,
            )?,
            poll_slow_after: duration(
                path,
                "login.poll_slow_after",
                rl.poll_slow_after,
                Login::DEFAULT_POLL_SLOW_AFTER,
                Login::POLL_SLOW_AFTER_RANGE,
            )?,
            subject,
            body,
            prompt: match rl.prompt.as_deref() {
                None => Prompt::Enter,
                Some(p) => parse_prompt(p).map_err(|m| e(format!("login.prompt: {m}")))?,
            },
        };

        let rp = raw.policy;
        let pick =
            |key: &str, v: Option<String>, allowed: &[&str]| -> Result<Option<String>, Error> {
                match v {
                    Some(v) if !allowed.contains(&v.as_str()) => Err(e(format!(
                        "policy.{key}: '{v}' is not one of {}",
                        allowed.join(", ")
                    ))),
                    v => Ok(v),
                }
            };
        let policy = Policy {
            mode: match rp.mode.as_deref() {
                None => Mode::Enforce,
                Some(m) => Mode::parse(m).map_err(|m| e(format!("policy.mode: {m}")))?,
            },
            unmapped: match pick("unmapped", rp.unmapped, &["deny", "ignore"])?.as_deref() {
                Some("ignore") => Unmapped::Ignore,
                _ => Unmapped::Deny,
            },
            unreachable: match pick("unreachable", rp.unreachable, &["deny", "allow"])?.as_deref() {
                Some("allow") => Unreachable::Allow,
                _ => Unreachable::Deny,
            },
            local: match pick("local", rp.local, &["push", "deny", "ignore"])?.as_deref() {
                Some("deny") => Local::Deny,
                Some("ignore") => Local::Ignore,
                _ => Local::Push,
            },
            only_groups: rp.only_groups.unwrap_or_default(),
            exempt_groups: rp.exempt_groups.unwrap_or_default(),
        };

        let rl = raw.limits;
        // Also the home of the key that hashes unknown user names: read with the limits off.
        let state_dir = match rl.state_dir {
            Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
            Some(d) => {
                return Err(e(format!(
                    "limits.state_dir: '{d}' is not an absolute path"
                )))
            }
            None => PathBuf::from(Limits::DEFAULT_STATE_DIR),
        };
        let limits = if rl.enabled == Some(false) {
            None
        } else {
            let state_dir = state_dir.clone();
            // Every count is bounded: the state file must stay below what its reader accepts.
            let count = |key: &str, v: u32, (min, max): (u32, u32)| {
                if v < min || v > max {
                    Err(e(format!("limits.{key}: {v} is outside {min} to {max}")))
                } else {
                    Ok(v)
                }
            };
            let max_pushes = rl.max_pushes.unwrap_or(Limits::DEFAULT_MAX_PUSHES);
            if max_pushes == 0 {
                return Err(e("limits.max_pushes: must be at least 1 (set limits.enabled = false to turn the limits off)".into()));
            }
            let max_pushes = count("max_pushes", max_pushes, (1, MAX_PUSHES_BOUND))?;
            let max_pushes_user = count(
                "max_pushes_user",
                rl.max_pushes_user
                    .unwrap_or_else(|| Limits::default_max_pushes_user(max_pushes)),
                (max_pushes, MAX_PUSHES_BOUND),
            )
            .map_err(|_| {
                e(format!(
                    "limits.max_pushes_user: must be from max_pushes ({max_pushes}) to {MAX_PUSHES_BOUND}"
                ))
            })?;
            let lockout_after = count(
                "lockout_after",
                rl.lockout_after.unwrap_or(Limits::DEFAULT_LOCKOUT_AFTER),
                (0, LOCKOUT_AFTER_BOUND),
            )?;
            let lockout_after_user = count(
                "lockout_after_user",
                rl.lockout_after_user
                    .unwrap_or_else(|| Limits::default_lockout_after_user(lockout_after)),
                (0, LOCKOUT_AFTER_USER_BOUND),
            )?;
            if lockout_after_user != 0 && lockout_after_user < lockout_after {
                return Err(e(format!(
                    "limits.lockout_after_user: must be 0 (off) or at least lockout_after ({lockout_after})"
                )));
            }
            Some(Limits {
                state_dir,
                max_pushes,
                max_pushes_user,
                window: duration(
                    path,
                    "limits.window",
                    rl.window,
                    Limits::DEFAULT_WINDOW,
                    Limits::WINDOW_RANGE,
                )?,
                lockout_after,
                lockout_after_user,
                lockout: duration(
                    path,
                    "limits.lockout",
                    rl.lockout,
                    Limits::DEFAULT_LOCKOUT,
                    Limits::LOCKOUT_RANGE,
                )?,
                concurrent: match rl.concurrent.as_deref() {
                    None | Some("refuse") => Concurrent::Refuse,
                    Some("replace") => Concurrent::Replace,
                    Some(o) => {
                        return Err(e(format!(
                            "limits.concurrent: '{o}' is not one of refuse, replace"
                        )))
                    }
                },
                grace: match rl.grace.as_deref() {
                    None | Some("0s") | Some("0") => Duration::ZERO,
                    Some(_) => duration(
                        path,
                        "limits.grace",
                        rl.grace,
                        Limits::DEFAULT_GRACE,
                        Limits::GRACE_RANGE,
                    )?,
                },
                grace_local: rl.grace_local.unwrap_or(false),
            })
        };

        let mapping = Mapping {
            users_dir: match raw.mapping.users_dir {
                Some(d) if Path::new(&d).is_absolute() => Some(PathBuf::from(d)),
                Some(d) => {
                    return Err(e(format!(
                        "mapping.users_dir: '{d}' is not an absolute path"
                    )))
                }
                None => None,
            },
            template: match raw.mapping.template {
                Some(t) => {
                    check_id_template(&t).map_err(|m| e(format!("mapping.template: {m}")))?;
                    // A template that can never give an ID (a space in it) is refused now.
                    let sample = render_with(&t, &ID_PLACEHOLDERS, |_| Some("user".into()))
                        .unwrap_or_default();
                    check_id(&sample).map_err(|m| {
                        e(format!(
                            "mapping.template: for the user 'user' it gives {m}"
                        ))
                    })?;
                    Some(t)
                }
                None => None,
            },
            gecos: match (raw.mapping.gecos_field, raw.mapping.gecos_delimiter) {
                (None, None) => None,
                (None, Some(_)) => {
                    return Err(e(
                        "mapping.gecos_delimiter: has no effect without mapping.gecos_field".into(),
                    ))
                }
                (Some(f), d) => {
                    let (min, max) = Gecos::FIELD_RANGE;
                    if f < min || f > max {
                        return Err(e(format!(
                            "mapping.gecos_field: {f} is outside {min} to {max}"
                        )));
                    }
                    let delimiter = match d.as_deref() {
                        None => ',',
                        Some(d) => {
                            let mut chars = d.chars();
                            match (chars.next(), chars.next()) {
                                (Some(c), None) if c.is_ascii_punctuation() && c != ':' => c,
                                _ => {
                                    return Err(e(format!(
                                        "mapping.gecos_delimiter: '{}' is not one punctuation character other than ':'",
                                        client::sanitize::clean(d, 16)
                                    )))
                                }
                            }
                        }
                    };
                    Some(Gecos {
                        field: f as usize,
                        delimiter,
                    })
                }
            },
        };
        // One source for the users in no table: a template maps everyone, so a GECOS field
        // after it would never be read.
        if mapping.template.is_some() && mapping.gecos.is_some() {
            return Err(e(
                "mapping.template and mapping.gecos_field are both set; keep one".into(),
            ));
        }

        let raw_users = raw.users.ok_or_else(|| e("missing table [users]".into()))?;
        let mut config = Config {
            state_dir,
            path: path.to_owned(),
            service,
            login,
            policy,
            limits,
            users: BTreeMap::new(),
            origins: BTreeMap::new(),
            dir_users: Vec::new(),
            files: vec![path.to_owned()],
            mapping,
            messages,
        };
        config.add_users(0, spanned_entries(text, raw_users))?;
        Ok(config)
    }

    /// Adds the entries of `[users]` of `self.files[file]` (whose text is `text`); a user
    /// already defined is an error naming both places.
    fn add_users(&mut self, file: usize, entries: Vec<Entry>) -> Result<(), Error> {
        let path = &self.files[file];
        let e = |m: String| err(path, m);
        for (name, line, ids) in &entries {
            let name = client::sanitize::clean(name, 64);
            if ids.is_empty() {
                return Err(e(format!(
                    "line {line}: users.{name}: an empty list of IDs"
                )));
            }
            for id in ids {
                check_id(id).map_err(|m| e(format!("line {line}: users.{name}: {m}")))?;
            }
        }
        // The main file's table has no duplicates (TOML); the users.d entries are checked
        // all at once when every file was read (see `read_users_dir`).
        for (name, line, ids) in entries {
            if file == 0 {
                self.origins.insert(name.clone(), Origin { file, line });
                self.users.insert(name, ids);
            } else {
                let origin = Origin { file, line };
                self.dir_users.push(DirUser { name, ids, origin });
            }
        }
        Ok(())
    }

    /// The users.d entries sorted by name for lookups; a name defined twice (in two files,
    /// twice in one, or also in the main file) is a problem naming both places, reported
    /// once per later definition.
    fn index_dir_users(&mut self) -> Vec<Error> {
        // Stable: of two definitions, the one read first stays first.
        self.dir_users.sort_by(|a, b| a.name.cmp(&b.name));
        let mut problems = Vec::new();
        let dup = |name: &str, later: Origin, first: Origin| {
            err(
                &self.files[later.file],
                format!(
                    "line {}: users.{}: already defined in {} line {}",
                    later.line,
                    client::sanitize::clean(name, 64),
                    self.files[first.file].display(),
                    first.line
                ),
            )
        };
        for (i, u) in self.dir_users.iter().enumerate() {
            if let Some(first) = self.origins.get(&u.name) {
                problems.push(dup(&u.name, u.origin, *first));
            } else if i > 0 && self.dir_users[i - 1].name == u.name {
                let first = self.dir_users[..i]
                    .iter()
                    .find(|p| p.name == u.name)
                    .map_or(u.origin, |p| p.origin);
                problems.push(dup(&u.name, u.origin, first));
            }
        }
        problems
    }

    /// The IDs of `user` in `[users]` of the main file or of a users.d file, and where.
    pub fn table_entry(&self, user: &str) -> Option<(&[String], Origin)> {
        if let Some(ids) = self.users.get(user) {
            let origin = self
                .origins
                .get(user)
                .copied()
                .unwrap_or(Origin { file: 0, line: 0 });
            return Some((ids, origin));
        }
        let i = self
            .dir_users
            .binary_search_by(|u| u.name.as_str().cmp(user))
            .ok()?;
        // The first of equal names (a duplicate makes the configuration invalid anyway).
        let i = self.dir_users[..i]
            .partition_point(|u| u.name.as_str() < user)
            .min(i);
        let u = &self.dir_users[i];
        Some((&u.ids, u.origin))
    }

    /// Reads every `*.toml` file of `dir`, in the byte order of their names, each with the
    /// rules of the main file; returns every problem met (a file with a problem adds none
    /// of its entries).
    fn read_users_dir(&mut self, dir: &Path) -> Vec<Error> {
        // The directory and those above it, as for any file in it.
        if let Err(e) = files::check_parents(&dir.join("*.toml")) {
            return vec![e];
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => return vec![err(dir, e.to_string())],
        };
        let mut names = Vec::new();
        for entry in entries {
            match entry {
                Ok(en) => {
                    let name = en.file_name();
                    let b = name.as_encoded_bytes();
                    if b.ends_with(b".toml") && !b.starts_with(b".") {
                        names.push(name);
                    }
                }
                Err(e) => return vec![err(dir, e.to_string())],
            }
        }
        names.sort();
        let mut problems = Vec::new();
        for name in names {
            let path = dir.join(name);
            if let Err(e) = self.read_users_file(&path) {
                problems.push(e);
            }
        }
        problems.extend(self.index_dir_users());
        problems
    }

    fn read_users_file(&mut self, path: &Path) -> Result<(), Error> {
        // The directory was checked once for all its files (read_users_dir).
        let (bytes, _) = read_text(path, files::Parents::Checked)?;
        let text = utf8(path, &bytes)?;
        // Most files (written by configuration management) are plain lines, read by a
        // fast reader of that subset of TOML; anything else goes to the full parser.
        let entries = match plain_users(text) {
            Some(entries) => entries,
            None => {
                let raw: RawUsersFile =
                    toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
                let raw = raw
                    .users
                    .ok_or_else(|| err(path, "missing table [users]"))?;
                spanned_entries(text, raw)
            }
        };
        self.files.push(path.to_owned());
        self.add_users(self.files.len() - 1, entries)
    }

    /// Every effective setting, for `debug` logging and `passbyme check` (no secrets).
    pub fn describe(&self) -> Vec<(String, String)> {
        let s = &self.service;
        let l = &self.login;
        let p = &self.policy;
        let d = |d: Duration| format_duration(d);
        vec![
            ("config".into(), self.path.display().to_string()),
            ("service.address".into(), s.address.clone()),
            (
                "service.credentials".into(),
                s.credentials.display().to_string(),
            ),
            (
                "service.key".into(),
                s.key
                    .as_ref()
                    .map_or("(in credentials)".into(), |k| k.display().to_string()),
            ),
            (
                "service.password".into(),
                match &s.password {
                    Password::None => "(none)".into(),
                    Password::Inline(_) => "(inline, hidden)".into(),
                    Password::File(f) => format!("from {}", f.display()),
                },
            ),
            (
                "service.ca_bundle".into(),
                s.ca_bundle
                    .as_ref()
                    .map_or("(vendor trust store)".into(), |c| c.display().to_string()),
            ),
            (
                "service.proxy".into(),
                match (&s.proxy, &s.proxy_password_file) {
                    (None, _) => "(none)".into(),
                    (Some(p), None) => client::proxy_shown(p),
                    (Some(p), Some(f)) => format!("{p} (password from {})", f.display()),
                },
            ),
            ("service.connect_timeout".into(), d(s.connect_timeout)),
            ("service.request_timeout".into(), d(s.request_timeout)),
            ("login.timeout".into(), d(l.timeout)),
            ("login.availability".into(), format!("{}s", l.availability)),
            ("login.poll_interval".into(), d(l.poll_interval)),
            ("login.poll_interval_seen".into(), d(l.poll_interval_seen)),
            ("login.poll_fast_after".into(), d(l.poll_fast_after)),
            ("login.poll_slow_after".into(), d(l.poll_slow_after)),
            (
                "login.prompt".into(),
                format!("{:?}", l.prompt).to_lowercase(),
            ),
            ("policy.mode".into(), p.mode.word().into()),
            (
                "policy.unmapped".into(),
                format!("{:?}", p.unmapped).to_lowercase(),
            ),
            (
                "policy.unreachable".into(),
                format!("{:?}", p.unreachable).to_lowercase(),
            ),
            (
                "policy.local".into(),
                format!("{:?}", p.local).to_lowercase(),
            ),
            ("policy.only_groups".into(), p.only_groups.join(",")),
            ("policy.exempt_groups".into(), p.exempt_groups.join(",")),
            (
                "limits".into(),
                match &self.limits {
                    None => "off".into(),
                    Some(l) => format!(
                        "state_dir={} max_pushes={} max_pushes_user={} window={} lockout_after={} lockout_after_user={} lockout={} concurrent={} grace={}{}",
                        l.state_dir.display(),
                        l.max_pushes,
                        l.max_pushes_user,
                        d(l.window),
                        l.lockout_after,
                        l.lockout_after_user,
                        d(l.lockout),
                        format!("{:?}", l.concurrent).to_lowercase(),
                        d(l.grace),
                        if l.grace_local { " grace_local" } else { "" }
                    ),
                },
            ),
            (
                "mapping.users_dir".into(),
                self.mapping
                    .users_dir
                    .as_ref()
                    .map_or("(none)".into(), |d| d.display().to_string()),
            ),
            (
                "mapping.template".into(),
                self.mapping.template.clone().unwrap_or_else(|| "(none)".into()),
            ),
            (
                "mapping.gecos_field".into(),
                self.mapping.gecos.map_or("(none)".into(), |g| {
                    format!("{} (delimiter '{}')", g.field, g.delimiter)
                }),
            ),
            (
                "messages.language".into(),
                self.messages.language.code().into(),
            ),
            (
                "messages".into(),
                if self.messages.overrides.is_empty() {
                    "(built-in)".into()
                } else {
                    let ids: Vec<&str> = self.messages.overrides.keys().map(|i| i.key()).collect();
                    format!("overridden: {}", ids.join(","))
                },
            ),
            (
                "users".into(),
                format!(
                    "{} in the main file, {} in mapping.users_dir",
                    self.users.len(),
                    self.dir_users.len()
                ),
            ),
        ]
    }
}

/// A TOML error with its line, and without the file's text: the error is logged at every
/// login and shown in the first line of `passbyme check` that monitoring collects, and the
/// text may be `service.password`. Only the message is used, never the error's `Display`
/// (which quotes the offending line), and the values the message quotes are cut out
/// ([`redact_values`]).
fn toml_error(path: &Path, text: &str, e: toml::de::Error) -> Error {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let msg = redact_values(e.message().trim()).replace('\n', " ");
    match line {
        Some(l) => err(path, format!("line {l}: {msg}")),
        None => err(path, msg),
    }
}

/// What stands for a value cut out of an error message.
pub const VALUE_NOT_SHOWN: &str = "(value not shown)";

/// `message` with every value serde quotes in it replaced by [`VALUE_NOT_SHOWN`]: the
/// `Unexpected` part of "invalid type: integer `123456`, expected a string" (boolean,
/// integer, floating point, character, string, variant), up to the last ", expected" (what
/// was expected is the program's text, never the file's). Key names (unknown field `x`)
/// are kept: they say what to fix.
pub fn redact_values(message: &str) -> String {
    const KINDS: [&str; 6] = [
        "boolean `",
        "integer `",
        "floating point `",
        "character `",
        "string \"",
        "variant `",
    ];
    let first = KINDS
        .iter()
        .filter_map(|k| message.find(k).map(|at| (at, k.len() - 1)))
        .min();
    let Some((at, kind)) = first else {
        return message.to_owned();
    };
    let value = at + kind;
    let end = message[value..]
        .rfind(", expected")
        .map_or(message.len(), |e| value + e);
    format!("{}{VALUE_NOT_SHOWN}{}", &message[..value], &message[end..])
}

/// One entry of a `[users]` table: the user, the line of its key, its IDs.
type Entry = (String, usize, Vec<String>);

/// The entries of a `[users]` table parsed by the TOML parser, with their lines.
fn spanned_entries(text: &str, raw: BTreeMap<toml::Spanned<String>, RawIds>) -> Vec<Entry> {
    let lines = LineIndex::new(text);
    raw.into_iter()
        .map(|(name, ids)| {
            let line = lines.line_of(name.span().start);
            let ids = match ids {
                RawIds::One(id) => vec![id],
                RawIds::Many(ids) => ids,
            };
            (name.into_inner(), line, ids)
        })
        .collect()
}

/// The entries of a users.d file written in the plain subset of TOML that configuration
/// management writes: blank lines, `#` comments, one `[users]` header first, then one
/// `name = "id"` or `name = ["id", …]` per line (bare keys, basic strings without escapes,
/// trailing comments). Whatever it accepts means the same in TOML, but for a name written
/// twice, which it passes on for `Config::index_dir_users` to report with both lines;
/// `None` for anything else (another form, a control character, CR), which then goes to
/// the full TOML parser, whose errors are the ones reported.
fn plain_users(text: &str) -> Option<Vec<Entry>> {
    if text.contains('\r') {
        return None;
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut in_users = false;
    for (i, line) in text.split('\n').enumerate() {
        let mut rest = line.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            continue;
        }
        if let Some(comment) = rest.strip_prefix('#') {
            plain_comment(comment)?;
            continue;
        }
        if let Some(after) = rest.strip_prefix("[users]") {
            if in_users {
                return None;
            }
            in_users = true;
            plain_end(after)?;
            continue;
        }
        if !in_users {
            return None;
        }
        let key_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        if key_len == 0 {
            return None;
        }
        let key = &rest[..key_len];
        rest = rest[key_len..]
            .trim_start_matches([' ', '\t'])
            .strip_prefix('=')?
            .trim_start_matches([' ', '\t']);
        let ids = if let Some(mut list) = rest.strip_prefix('[') {
            let mut ids = Vec::new();
            loop {
                list = list.trim_start_matches([' ', '\t']);
                if let Some(after) = list.strip_prefix(']') {
                    rest = after;
                    break;
                }
                let (s, after) = plain_string(list)?;
                ids.push(s);
                list = after.trim_start_matches([' ', '\t']);
                if let Some(after) = list.strip_prefix(',') {
                    list = after;
                } else if !list.starts_with(']') {
                    return None;
                }
            }
            ids
        } else {
            let (s, after) = plain_string(rest)?;
            rest = after;
            vec![s]
        };
        plain_end(rest)?;
        entries.push((key.to_owned(), i + 1, ids));
    }
    in_users.then_some(entries)
}

/// A basic string without escapes or control characters at the start of `s`.
fn plain_string(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let end = body.find(['"', '\\'])?;
    if body.as_bytes()[end] != b'"' {
        return None;
    }
    let value = &body[..end];
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    Some((value.to_owned(), &body[end + 1..]))
}

/// Only blanks, then nothing or a comment.
fn plain_end(s: &str) -> Option<()> {
    let s = s.trim_start_matches([' ', '\t']);
    match s.strip_prefix('#') {
        Some(c) => plain_comment(c),
        None if s.is_empty() => Some(()),
        None => None,
    }
}

/// TOML allows no control character but tab in a comment.
fn plain_comment(c: &str) -> Option<()> {
    (!c.chars().any(|ch| ch.is_control() && ch != '\t')).then_some(())
}

/// Byte offset → line number, for the entries of `[users]`.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The 1-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// A PassBy\[ME\] ID as `[users]`, a template or a GECOS field must give it: not blank, at
/// most 256 bytes, no whitespace or control character.
pub fn check_id(id: &str) -> Result<(), String> {
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

/// The duration written for `key`, or `default`; either way within `range`.
fn duration(
    path: &Path,
    key: &str,
    v: Option<String>,
    default: Duration,
    range: Range,
) -> Result<Duration, Error> {
    let Some(v) = v else {
        return Ok(default);
    };
    let d = parse_duration(&v).map_err(|m| err(path, format!("{key}: {m}")))?;
    if !range.contains(d) {
        return Err(err(path, format!("{key}: {v} is outside {range}")));
    }
    Ok(d)
}

/// A configuration file (the main one or one of `mapping.users_dir`), read with the file
/// rules.
/// Whether a configuration that does not load (see [`Config::load`]) still says
/// `policy.mode = "audit"`: read with the same file rules (a file that breaks them says
/// nothing), and its TOML well-formed with a `[policy]` table whose `mode` is `"audit"`.
/// So that an audit-mode rollout whose file has a mistake elsewhere (an unknown key, a
/// credentials file not yet in place) keeps stepping aside instead of refusing logins.
pub fn declares_audit(path: &Path) -> bool {
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

fn read_text(
    path: &Path,
    parents: files::Parents,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, std::fs::Metadata), Error> {
    files::read_checked_meta(path, Secrecy::Public, MAX_CONFIG_FILE, parents)
}

fn utf8<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, Error> {
    std::str::from_utf8(bytes).map_err(|_| err(path, "is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "[service]\ncredentials = \"/etc/passbyme/auth.pem\"\npassword_file = \"/etc/passbyme/pw\"\n[users]\nalice = \"alice@example.com\"\nbob = [\"b1@x\", \"b2@x\"]\n";

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/passbyme/passbyme.toml"), text).map_err(|e| e.to_string())
    }

    /// Issue 19: serde quotes the value in type errors ("integer `123456`"), and config
    /// errors are logged at every login: an unquoted password reached the log.
    #[test]
    fn config_errors_never_quote_a_value() {
        let cases = [
            (
                "password = 918273645",
                &["918273645"][..],
                3,
                "invalid type: integer (value not shown), expected a string",
            ),
            (
                "password = 7.25e3",
                &["7.25e3", "7250"],
                3,
                "invalid type: floating point (value not shown), expected a string",
            ),
            (
                "password = 0x5EC2E7",
                &["5EC2E7", "6210279"],
                3,
                "invalid type: integer (value not shown), expected a string",
            ),
            (
                "password = Hunter2Secret",
                &["Hunter2Secret"],
                3,
                "string values must be quoted",
            ),
            (
                "password = \"Zq8\\qSecret\"",
                &["Zq8", "qSecret"],
                3,
                "missing escaped value",
            ),
            (
                "password = 'Zq9Secret",
                &["Zq9Secret"],
                3,
                "invalid literal string",
            ),
            (
                "password = [\"Zq11Secret\"]",
                &["Zq11Secret"],
                3,
                "invalid type: sequence, expected a string",
            ),
            (
                "password = \"ok\" Zq13Secret",
                &["Zq13Secret"],
                3,
                "unexpected key or value",
            ),
            (
                "password_file = \"Zq12Secret\"",
                &["Zq12Secret"],
                0,
                "service.password_file: is not an absolute path (value not shown)",
            ),
            (
                "[login]\navailability = \"Zq10\\\", expected Secret\"",
                &["Zq10", "Secret"],
                4,
                "invalid type: string (value not shown), expected u64",
            ),
        ];
        for (line, secrets, at, want) in cases {
            let text = format!("[service]\ncredentials = \"/c.pem\"\n{line}\n[users]\n");
            let e = parse(&text).unwrap_err();
            for s in secrets {
                assert!(!e.contains(s), "{line}: {s} in {e}");
            }
            let head = if at == 0 {
                "/etc/passbyme/passbyme.toml: ".to_string()
            } else {
                format!("/etc/passbyme/passbyme.toml: line {at}: ")
            };
            assert!(e.starts_with(&head), "{line}: {e}");
            assert!(e.contains(want), "{line}: {e}");
        }
        // Key names stay: they say what to fix.
        assert_eq!(
            redact_values("unknown field `pasword`, expected one of `address`, `credentials`"),
            "unknown field `pasword`, expected one of `address`, `credentials`"
        );
        assert_eq!(
            redact_values("invalid value: character ```, expected a digit"),
            "invalid value: character (value not shown), expected a digit"
        );
        assert_eq!(
            redact_values("invalid type: boolean `true`"),
            "invalid type: boolean (value not shown)"
        );
    }

    #[test]
    fn messages_pick_a_language_and_check_each_override() {
        let with = |m: &str| parse(&MIN.replace("[users]", &format!("[messages]\n{m}\n[users]")));
        let c = parse(MIN).unwrap();
        assert_eq!(c.messages, Messages::default());
        assert_eq!(c.login.subject, DEFAULT_SUBJECT);
        let c = with("language = \"hu\"\ndenied = \"Nem, {user}.\"").unwrap();
        assert_eq!(c.messages.language, Language::Hu);
        assert_eq!(c.messages.text(messages::Id::Denied), "Nem, {user}.");
        // The push's default subject and body follow the language; explicit ones win.
        assert_eq!(
            c.login.subject,
            messages::default_subject(Language::Hu, false)
        );
        assert_eq!(c.login.body, messages::default_body(Language::Hu, false));
        let c = parse(&MIN.replace(
            "[users]",
            "[login]\nsubject = \"S {code}\"\n[messages]\nlanguage = \"de\"\n[users]",
        ))
        .unwrap();
        assert_eq!(c.login.subject, "S {code}");
        assert_eq!(c.login.body, messages::default_body(Language::De, false));
        let err = |m: &str| with(m).unwrap_err();
        assert!(err("language = \"fr\"")
            .ends_with("messages.language: unknown language 'fr'; known: en hu de"));
        assert!(err("denyed = \"x\"")
            .ends_with("messages.denyed: unknown message; known: language approve enter denied not_approved timeout locked_out rate_limited pending unavailable error"));
        assert!(err("denied = \"until {until}\"")
            .contains("messages.denied: unknown placeholder {until}; known: {user} {host}"));
        assert!(err("approve = \"Approve it\"").ends_with(
            "messages.approve: must use {code} (the person compares it with the phone)"
        ));
        assert!(err("language = 1").contains("invalid type: integer"));
    }

    #[test]
    fn limits_counts_are_bounded_and_the_user_ceilings_follow() {
        let with = |l: &str| {
            parse(&MIN.replace("[users]", &format!("[limits]\n{l}\n[users]")))
                .map(|c| c.limits.unwrap())
        };
        let d = with("").unwrap();
        assert_eq!(
            (
                d.max_pushes,
                d.max_pushes_user,
                d.lockout_after,
                d.lockout_after_user
            ),
            (5, 20, 3, 9)
        );
        let l = with("max_pushes = 1000\nlockout_after = 0").unwrap();
        assert_eq!((l.max_pushes_user, l.lockout_after_user), (1000, 0));
        let l = with("max_pushes = 2\nmax_pushes_user = 2\nlockout_after = 100").unwrap();
        assert_eq!((l.max_pushes_user, l.lockout_after_user), (2, 300));
        let err = |l: &str| with(l).unwrap_err();
        assert!(err("max_pushes = 1001").ends_with("limits.max_pushes: 1001 is outside 1 to 1000"));
        assert!(err("max_pushes = 0").contains("limits.max_pushes: must be at least 1"));
        assert!(err("max_pushes = 5\nmax_pushes_user = 4")
            .ends_with("limits.max_pushes_user: must be from max_pushes (5) to 1000"));
        assert!(err("max_pushes_user = 1001")
            .ends_with("limits.max_pushes_user: must be from max_pushes (5) to 1000"));
        assert!(
            err("lockout_after = 101").ends_with("limits.lockout_after: 101 is outside 0 to 100")
        );
        assert!(err("lockout_after_user = 1001")
            .ends_with("limits.lockout_after_user: 1001 is outside 0 to 1000"));
        assert!(err("lockout_after = 5\nlockout_after_user = 4")
            .ends_with("limits.lockout_after_user: must be 0 (off) or at least lockout_after (5)"));
        assert!(
            !err("max_pushes = 4294967296").is_empty(),
            "out of u32: refused by the parser"
        );
    }

    #[test]
    fn the_plain_users_reader_agrees_with_toml_or_steps_aside() {
        let toml_entries = |text: &str| {
            let raw: RawUsersFile = toml::from_str(text).unwrap();
            let mut v = spanned_entries(text, raw.users.unwrap());
            v.sort();
            v
        };
        for text in [
            "[users]\n",
            "# team a\n\n[users] # x\nalice = \"a@x\"\nbob=[\"b1@x\",\"b2@x\",] # two\n\tc-3_d = [ ]\n",
            "[users]\nn = \"\u{e9}t\u{e9}@x\"\nm = [\"a\" , \"b\"]",
        ] {
            let mut plain = plain_users(text).expect(text);
            plain.sort();
            assert_eq!(plain, toml_entries(text), "{text}");
        }
        // Other forms go to the TOML parser (valid or not).
        for text in [
            "",
            "# only a comment\n",
            "alice = \"a@x\"\n",
            "[users]\n\"quoted\" = \"a@x\"\n",
            "[users]\na.b = \"a@x\"\n",
            "[users]\na = 'lit@x'\n",
            "[users]\na = \"esc\\u0041@x\"\n",
            "[users]\na = [\n\"x\"]\n",
            "[users]\n[users]\n",
            "[ users ]\na = \"x\"\n",
            "[users]\r\na = \"x\"\r\n",
            "[users]\na = \"x\" junk\n",
            "[users]\na = \"x\"\n[policy]\n",
            "[users]\na = \"x\u{1}\"\n",
            "[users]\n# bell \u{7}\n",
        ] {
            assert!(plain_users(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn users_lines_and_mapping_keys() {
        let c = parse(MIN).unwrap();
        assert_eq!(c.origins["alice"], Origin { file: 0, line: 5 });
        assert_eq!(c.origins["bob"], Origin { file: 0, line: 6 });
        assert!(c.mapping.users_dir.is_none());
        let with = |m: &str| parse(&MIN.replace("[users]", &format!("[mapping]\n{m}\n[users]")));
        assert_eq!(
            with("users_dir = \"/etc/passbyme/users.d\"")
                .unwrap()
                .mapping
                .users_dir
                .unwrap(),
            PathBuf::from("/etc/passbyme/users.d")
        );
        assert!(with("users_dir = \"users.d\"")
            .unwrap_err()
            .ends_with("mapping.users_dir: 'users.d' is not an absolute path"));
        assert!(with("user_dir = \"/x\"")
            .unwrap_err()
            .contains("unknown field `user_dir`"));
        // template and GECOS: validated at load.
        let m = with("template = \"{user}@example.com\"").unwrap().mapping;
        assert_eq!(m.template.as_deref(), Some("{user}@example.com"));
        for (text, want) in [
            (
                "template = \"{usr}@x\"",
                "mapping.template: unknown placeholder {usr}; known: {user}",
            ),
            (
                "template = \"all@x\"",
                "mapping.template: must use {user} (else every user would get the same ID)",
            ),
            (
                "template = \"{user} @x\"",
                "mapping.template: for the user 'user' it gives 'user @x' is not a PassBy[ME] ID",
            ),
            (
                "gecos_field = 0",
                "mapping.gecos_field: 0 is outside 1 to 32",
            ),
            (
                "gecos_field = 33",
                "mapping.gecos_field: 33 is outside 1 to 32",
            ),
            (
                "gecos_delimiter = \";\"",
                "mapping.gecos_delimiter: has no effect without mapping.gecos_field",
            ),
            (
                "gecos_field = 1\ngecos_delimiter = \":\"",
                "mapping.gecos_delimiter: ':' is not one punctuation character other than ':'",
            ),
            (
                "gecos_field = 1\ngecos_delimiter = \";;\"",
                "mapping.gecos_delimiter: ';;' is not one punctuation character other than ':'",
            ),
            (
                "template = \"{user}@x\"\ngecos_field = 1",
                "mapping.template and mapping.gecos_field are both set; keep one",
            ),
        ] {
            let e = with(text).unwrap_err();
            assert!(e.ends_with(want), "{text}: {e}");
        }
        let g = with("gecos_field = 2").unwrap().mapping.gecos.unwrap();
        assert_eq!(
            g,
            Gecos {
                field: 2,
                delimiter: ','
            }
        );
        assert_eq!(g.pick("Alice, a@x ,room"), Some("a@x"));
        assert_eq!(g.pick("Alice,,room"), None);
        assert_eq!(g.pick("Alice"), None);
        let g = with("gecos_field = 1\ngecos_delimiter = \";\"")
            .unwrap()
            .mapping
            .gecos
            .unwrap();
        assert_eq!(g.pick("a@x;b"), Some("a@x"));
        assert!(
            parse(&MIN.replace("bob = [\"b1@x\", \"b2@x\"]", "bob = \"b 1\""))
                .unwrap_err()
                .ends_with("line 6: users.bob: 'b 1' is not a PassBy[ME] ID")
        );
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = parse(MIN).unwrap();
        assert_eq!(c.service.address, "auth-sp.passbyme.com:443");
        assert_eq!(c.login.timeout, Duration::from_secs(60));
        assert_eq!(c.login.availability, 60);
        assert_eq!(c.login.poll_interval, Duration::from_secs(1));
        assert_eq!(c.login.poll_interval_seen, Duration::from_millis(180));
        assert_eq!(c.login.poll_fast_after, Duration::from_millis(800));
        assert_eq!(c.login.poll_slow_after, Duration::from_secs(15));
        assert_eq!(c.login.prompt, Prompt::Enter);
        assert_eq!(c.policy.unmapped, Unmapped::Deny);
        assert_eq!(c.policy.unreachable, Unreachable::Deny);
        assert_eq!(c.policy.local, Local::Push);
        assert_eq!(c.users["bob"], ["b1@x", "b2@x"]);
        assert!(c.service.ca_bundle.is_none());
    }

    #[test]
    fn mistakes_name_the_key_and_the_file() {
        let cases: &[(&str, &str)] = &[
            (
                "[service]\ncredentials=\"/a\"\ntimout=1\n[users]\n",
                "/etc/passbyme/passbyme.toml: line 3: unknown field `timout`",
            ),
            (
                "[users]\n",
                "/etc/passbyme/passbyme.toml: missing table [service]",
            ),
            ("[service]\ncredentials=\"/a\"\n", "missing table [users]"),
            (
                "[service]\ncredentials=\"a.pem\"\n[users]\n",
                "service.credentials: 'a.pem' is not an absolute path",
            ),
            (
                "[service]\ncredentials=\"/a\"\npassword=\"x\"\npassword_file=\"/p\"\n[users]\n",
                "both set",
            ),
            (
                "[service]\ncredentials=\"/a\"\naddress=\"h:0\"\n[users]\n",
                "service address: 'h:0': port 0",
            ),
            (
                "[service]\ncredentials=\"/a\"\n[login]\ntimeout=\"2s\"\n[users]\n",
                "login.timeout: 2s is outside 5s to 10m",
            ),
            (
                "[service]\ncredentials=\"/a\"\n[login]\ntimeout=60\n[users]\n",
                "line 4: invalid type: integer (value not shown), expected a string",
            ),
            (
                "[service]\ncredentials=\"/a\"\n[login]\ntimeout=\"1 minute\"\n[users]\n",
                "login.timeout: '1 minute' is not a duration",
            ),
            (
                "[service]\ncredentials=\"/a\"\n[login]\nsubject=\"{usr}\"\n[users]\n",
                "login.subject: unknown placeholder {usr}",
            ),
            (
                "[service]\ncredentials=\"/a\"\n[login]\nprompt=\"yes\"\n[users]\n",
                "login.prompt: 'yes' is not one of enter, info, none",
            ),
            (
                "[service]\ncredentials=\"/a\"\n[policy]\nunreachable=\"open\"\n[users]\n",
                "policy.unreachable: 'open' is not one of deny, allow",
            ),
            (
                "[service]\ncredentials=\"/a\"\n[users]\nalice=[]\n",
                "users.alice: an empty list of IDs",
            ),
            (
                "[service]\ncredentials=\"/a\"\n[users]\nalice=\"a b\"\n",
                "users.alice: 'a b' is not a PassBy[ME] ID",
            ),
            (
                "[service]\ncredentials=\"/a\"\n[users]\nalice=7\n",
                "line 4",
            ),
            ("[service\n", "line 1"),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err();
            assert!(got.contains(want), "{text:?}\n got: {got}\nwant: {want}");
            assert!(!got.contains('\n'), "one line: {got}");
        }
    }

    #[test]
    fn the_shipped_sample_parses_to_the_defaults() {
        let sample = include_str!("../packaging/passbyme.toml");
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
        let u = parse(&uncommented).unwrap();
        assert_eq!(format!("{:?}", u.login), format!("{:?}", d.login));
        assert_eq!(format!("{:?}", u.policy), format!("{:?}", d.policy));
        assert_eq!(format!("{:?}", u.limits), format!("{:?}", d.limits));
        assert_eq!(u.service.address, d.service.address);
    }

    #[test]
    fn only_http_proxies() {
        let with = |p: &str| {
            parse(&format!(
                "[service]\ncredentials=\"/a\"\nproxy=\"{p}\"\n[users]\n"
            ))
        };
        assert_eq!(
            with("http://proxy:3128").unwrap().service.proxy.as_deref(),
            Some("http://proxy:3128")
        );
        let e = with("socks5://h:1").unwrap_err();
        assert!(
            e.contains("service.proxy: 'socks5://h:1' must start with http://"),
            "{e}"
        );
    }

    #[test]
    fn durations_take_the_decimal_forms_within_each_keys_bounds() {
        // The configuration takes the decimal forms too, within each key's bounds.
        let c = parse(&format!(
            "{MIN}[login]\ntimeout = \"1.5m\"\npoll_interval_seen = \"0.15s\"\n"
        ))
        .unwrap();
        assert_eq!(c.login.timeout, Duration::from_secs(90));
        assert_eq!(c.login.poll_interval_seen, Duration::from_millis(150));
        let e = parse(&format!("{MIN}[login]\npoll_interval_seen = \"0.0005s\"\n")).unwrap_err();
        assert!(
            e.contains("login.poll_interval_seen: '0.0005s' is finer than a millisecond"),
            "{e}"
        );
    }

    #[test]
    fn the_default_templates_are_valid() {
        check_template(DEFAULT_SUBJECT).unwrap();
        check_template(DEFAULT_BODY).unwrap();
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

    #[test]
    fn each_duration_key_takes_the_ends_of_its_range_and_nothing_beyond() {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let cases: [(&str, &str, Range); 9] = [
            ("service", "connect_timeout", Service::CONNECT_TIMEOUT_RANGE),
            ("service", "request_timeout", Service::REQUEST_TIMEOUT_RANGE),
            ("login", "timeout", Login::TIMEOUT_RANGE),
            ("login", "poll_interval", Login::POLL_INTERVAL_RANGE),
            ("login", "poll_interval_seen", Login::POLL_INTERVAL_RANGE),
            ("login", "poll_fast_after", Login::POLL_FAST_AFTER_RANGE),
            ("login", "poll_slow_after", Login::POLL_SLOW_AFTER_RANGE),
            ("limits", "window", Limits::WINDOW_RANGE),
            ("limits", "lockout", Limits::LOCKOUT_RANGE),
        ];
        for (table, key, range) in cases {
            let with = |v: String| {
                let t = format!("[{table}]\n{key} = \"{v}\"\n");
                let text = if table == "service" {
                    MIN.replace("[service]\n", &t)
                } else {
                    format!("{MIN}{t}")
                };
                parse(&text)
            };
            assert!(with(ms(range.min)).is_ok(), "{key} = {}", ms(range.min));
            assert!(with(ms(range.max)).is_ok(), "{key} = {}", ms(range.max));
            let over = ms(range.max + Duration::from_millis(1));
            let e = with(over.clone()).unwrap_err();
            assert!(
                e.ends_with(&format!("{table}.{key}: {over} is outside {range}")),
                "{e}"
            );
            if let Some(under) = range.min.checked_sub(Duration::from_millis(1)) {
                let e = with(ms(under)).unwrap_err();
                assert!(e.contains("is outside"), "{e}");
            }
        }
        // grace: 0 is off, else within its range.
        let grace = |v: &str| {
            parse(&format!("{MIN}[limits]\ngrace = \"{v}\"\n")).map(|c| c.limits.unwrap().grace)
        };
        assert_eq!(grace("0s"), Ok(Limits::DEFAULT_GRACE));
        assert_eq!(grace("1s"), Ok(Limits::GRACE_RANGE.min));
        assert!(grace("500ms").unwrap_err().ends_with(&format!(
            "limits.grace: 500ms is outside {}",
            Limits::GRACE_RANGE
        )));
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
        let man = include_str!("../packaging/passbyme.toml.5");
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
