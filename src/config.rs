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
use crate::template::check_template;

pub use crate::files::Error;

/// Where the module and the `passbyme` command look by default.
pub const DEFAULT_PATH: &str = "/etc/passbyme/passbyme.toml";
/// The largest configuration file read.
pub const MAX_CONFIG_FILE: u64 = 64 * 1024;

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::new(path, message)
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
    users: Option<BTreeMap<String, RawIds>>,
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
    /// An HTTP CONNECT proxy; never taken from the environment.
    pub proxy: Option<String>,
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
    /// Subject template ([`crate::template`]). Defaults to [`DEFAULT_SUBJECT`].
    pub subject: String,
    /// Body template ([`crate::template`]). Defaults to [`DEFAULT_BODY`].
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

/// Policies for the cases around a login.
#[derive(Debug, Clone)]
pub struct Policy {
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
    /// Unix user → PassBy\[ME\] IDs (at least one each).
    pub users: BTreeMap<String, Vec<String>>,
}

impl Config {
    /// Reads and validates `path` with the file rules.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let (bytes, meta) = files::read_checked_meta(path, Secrecy::Public, MAX_CONFIG_FILE)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| err(path, "is not UTF-8 text"))?;
        let config = Config::parse(path, text)?;
        if matches!(config.service.password, Password::Inline(_)) {
            // An inline password makes the config itself a secret: judged on the
            // descriptor just read, not on a second open by path.
            files::check_secret(path, &meta).map_err(|e| Error {
                message: format!("{} (it holds service.password)", e.message),
                ..e
            })?;
        }
        Ok(config)
    }

    /// Validates TOML text; `path` only names the file in errors and resolves nothing.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Error> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().trim().replace('\n', " ");
            match line {
                Some(l) => err(path, format!("line {l}: {msg}")),
                None => err(path, msg),
            }
        })?;
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
            proxy: match rs.proxy {
                // Only HTTP CONNECT: the client is built without SOCKS support.
                Some(p) if p.starts_with("http://") => Some(p),
                Some(p) => {
                    return Err(e(format!(
                        "service.proxy: '{p}' must start with http:// (an HTTP CONNECT proxy)"
                    )))
                }
                None => None,
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
        let subject = rl.subject.unwrap_or_else(|| DEFAULT_SUBJECT.into());
        let body = rl.body.unwrap_or_else(|| DEFAULT_BODY.into());
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
        let limits = if rl.enabled == Some(false) {
            None
        } else {
            let state_dir = match rl.state_dir {
                Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
                Some(d) => {
                    return Err(e(format!(
                        "limits.state_dir: '{d}' is not an absolute path"
                    )))
                }
                None => PathBuf::from(Limits::DEFAULT_STATE_DIR),
            };
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

        let raw_users = raw.users.ok_or_else(|| e("missing table [users]".into()))?;
        let mut users = BTreeMap::new();
        for (name, ids) in raw_users {
            let ids = match ids {
                RawIds::One(id) => vec![id],
                RawIds::Many(ids) => ids,
            };
            if ids.is_empty() {
                return Err(e(format!("users.{name}: an empty list of IDs")));
            }
            for id in &ids {
                if id.trim().is_empty()
                    || id.len() > 256
                    || id.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(e(format!(
                        "users.{name}: '{}' is not a PassBy[ME] ID",
                        client::sanitize::clean(id, 64)
                    )));
                }
            }
            users.insert(name, ids);
        }
        Ok(Config {
            path: path.to_owned(),
            service,
            login,
            policy,
            limits,
            users,
        })
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
                s.proxy.clone().unwrap_or_else(|| "(none)".into()),
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
            ("users".into(), self.users.len().to_string()),
        ]
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "[service]\ncredentials = \"/etc/passbyme/auth.pem\"\npassword_file = \"/etc/passbyme/pw\"\n[users]\nalice = \"alice@example.com\"\nbob = [\"b1@x\", \"b2@x\"]\n";

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/passbyme/passbyme.toml"), text).map_err(|e| e.to_string())
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
                "line 4: invalid type: integer `60`, expected a string",
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
