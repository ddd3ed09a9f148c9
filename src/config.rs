//! The configuration file (`/etc/passbyme/passbyme.toml` unless `config=` says otherwise):
//! TOML parsed strictly into raw structs, then validated into types that cannot be wrong.
//! Files are opened once and checked on the open descriptor.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::client::{self, Client, Credentials};
use crate::limiter::{Concurrent, Limits};

/// Where the module and the `passbyme` command look by default.
pub const DEFAULT_PATH: &str = "/etc/passbyme/passbyme.toml";
/// The largest configuration file read.
pub const MAX_CONFIG_FILE: u64 = 64 * 1024;
/// The placeholders a subject or body template may use.
pub const PLACEHOLDERS: [&str; 7] = ["user", "host", "service", "rhost", "tty", "time", "code"];

/// A configuration problem, naming the file and the key or rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file concerned.
    pub path: PathBuf,
    /// What is wrong, e.g. `login.timeout: must be at least 5s`.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for Error {}

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error {
        path: path.to_owned(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------
// Safe file access

/// Who may read a file: a secret must not be readable by group or others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    /// Group/others may read it (but never write it).
    Public,
    /// Only the owner may read it.
    Secret,
}

/// Opens `path` once and checks, on the open descriptor: absolute path, not a symlink, a
/// regular file, owned by root (or by the effective user, for the `passbyme` command run
/// by someone else), not writable by group or others, not readable by them if secret, at
/// most `max` bytes. Returns the content.
pub fn read_checked(path: &Path, secrecy: Secrecy, max: u64) -> Result<Zeroizing<Vec<u8>>, Error> {
    read_checked_meta(path, secrecy, max).map(|(content, _)| content)
}

/// Checks every directory above `path`, as sshd's StrictModes does: each must be owned by
/// root (or by the effective user) and writable by nobody else. A root-owned directory
/// with the sticky bit (`/tmp`) passes: others may add entries there, but not rename or
/// remove root's. Symbolic links in the directory part are resolved first, so the
/// directories checked are the ones the file is really in.
pub fn check_parents(path: &Path) -> Result<(), Error> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let real = std::fs::canonicalize(parent).map_err(|e| err(parent, e.to_string()))?;
    let euid = crate::os::euid();
    for dir in real.ancestors() {
        let meta = std::fs::symlink_metadata(dir).map_err(|e| err(dir, e.to_string()))?;
        let mode = meta.mode();
        let sticky = mode & 0o1000 != 0;
        if meta.uid() != 0 && meta.uid() != euid {
            return Err(err(
                path,
                format!(
                    "its directory {} is owned by uid {}, not by root (refused)",
                    dir.display(),
                    meta.uid()
                ),
            ));
        }
        if mode & 0o022 != 0 && !(sticky && meta.uid() == 0) {
            return Err(err(
                path,
                format!(
                    "its directory {} is writable by group or others (mode {:04o}; refused)",
                    dir.display(),
                    mode & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// [`read_checked`], also returning the metadata of the descriptor that was read.
fn read_checked_meta(
    path: &Path,
    secrecy: Secrecy,
    max: u64,
) -> Result<(Zeroizing<Vec<u8>>, std::fs::Metadata), Error> {
    if !path.is_absolute() {
        return Err(err(path, "the path must be absolute"));
    }
    check_parents(path)?;
    let file = File::options()
        .read(true)
        // No symlinks; O_NONBLOCK so a FIFO in place of the file cannot hang the login.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => err(path, "is a symbolic link (refused)"),
            _ => err(path, e.to_string()),
        })?;
    let meta = file.metadata().map_err(|e| err(path, e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(err(path, "is not a regular file (refused)"));
    }
    let euid = crate::os::euid();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(err(
            path,
            format!("is owned by uid {}, not by root (refused)", meta.uid()),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(err(
            path,
            format!(
                "is writable by group or others (mode {:04o}; refused)",
                meta.mode() & 0o7777
            ),
        ));
    }
    if secrecy == Secrecy::Secret {
        check_secret(path, &meta)?;
    }
    if meta.len() > max {
        return Err(err(path, format!("is larger than {max} bytes (refused)")));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| err(path, e.to_string()))?;
    if buf.len() as u64 > max {
        return Err(err(path, format!("is larger than {max} bytes (refused)")));
    }
    Ok((buf, meta))
}

/// The secrecy rule on metadata already read: not readable by group or others.
fn check_secret(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    if meta.mode() & 0o044 != 0 {
        return Err(err(
            path,
            format!(
                "holds a secret but is readable by group or others (mode {:04o}; refused, use chmod 600)",
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
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
    /// `host:port` of the service. Default `auth-sp.passbyme.com:443`.
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
    /// Default 5s.
    pub connect_timeout: Duration,
    /// Default 10s.
    pub request_timeout: Duration,
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
    /// How long to wait for an answer. Default 60s, below sshd's LoginGraceTime of 120s.
    pub timeout: Duration,
    /// Seconds the message stays available on the service. Default: the timeout.
    pub availability: u64,
    /// `availability` was written in the file (else it follows the timeout, also when a
    /// module argument changes the timeout).
    pub availability_set: bool,
    /// Time between polls while no answer can come yet (before `poll_fast_after`, unless the
    /// phone already shows SEEN), and the longest interval the slow-down of long waits
    /// reaches. Default 1s. The schedule is `login::Schedule`.
    pub poll_interval: Duration,
    /// Time between polls while an answer can come: from `poll_fast_after` after the push
    /// (or SEEN, if earlier) until `poll_slow_after`. Default 180ms: approval → decision
    /// p50 ≈ 90 ms, p99 ≈ 180 ms (BENCHMARKS.md).
    pub poll_interval_seen: Duration,
    /// How long after the push the fast polling starts even if the phone has not shown SEEN:
    /// the earliest a person can answer. Default 800ms.
    pub poll_fast_after: Duration,
    /// How long after the push the fast polling starts to slow down, the interval growing in
    /// proportion to the wait (twice as long at twice this time) up to `poll_interval`.
    /// Default 15s.
    pub poll_slow_after: Duration,
    /// Subject template.
    pub subject: String,
    /// Body template.
    pub body: String,
    /// How the terminal is told. Default `enter`.
    pub prompt: Prompt,
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
        let (bytes, meta) = read_checked_meta(path, Secrecy::Public, MAX_CONFIG_FILE)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| err(path, "is not UTF-8 text"))?;
        let config = Config::parse(path, text)?;
        if matches!(config.service.password, Password::Inline(_)) {
            // An inline password makes the config itself a secret: judged on the
            // descriptor just read, not on a second open by path.
            check_secret(path, &meta).map_err(|e| Error {
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
                "5s",
                (0.1, 60.0),
            )?,
            request_timeout: duration(
                path,
                "service.request_timeout",
                rs.request_timeout,
                "10s",
                (0.1, 120.0),
            )?,
        };

        let rl = raw.login;
        let timeout = duration(path, "login.timeout", rl.timeout, "60s", (5.0, 600.0))?;
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
                "1s",
                (0.05, 30.0),
            )?,
            poll_interval_seen: duration(
                path,
                "login.poll_interval_seen",
                rl.poll_interval_seen,
                "180ms",
                (0.05, 30.0),
            )?,
            poll_fast_after: duration(
                path,
                "login.poll_fast_after",
                rl.poll_fast_after,
                "800ms",
                (0.0, 600.0),
            )?,
            poll_slow_after: duration(
                path,
                "login.poll_slow_after",
                rl.poll_slow_after,
                "15s",
                (1.0, 600.0),
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
        let defaults = Limits::default();
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
                None => defaults.state_dir.clone(),
            };
            // Every count is bounded: the state file must stay below what its reader accepts.
            let count = |key: &str, v: u32, (min, max): (u32, u32)| {
                if v < min || v > max {
                    Err(e(format!("limits.{key}: {v} is outside {min} to {max}")))
                } else {
                    Ok(v)
                }
            };
            use crate::limiter::{LOCKOUT_AFTER_BOUND, LOCKOUT_AFTER_USER_BOUND, MAX_PUSHES_BOUND};
            let max_pushes = rl.max_pushes.unwrap_or(defaults.max_pushes);
            if max_pushes == 0 {
                return Err(e("limits.max_pushes: must be at least 1 (set limits.enabled = false to turn the limits off)".into()));
            }
            let max_pushes = count("max_pushes", max_pushes, (1, MAX_PUSHES_BOUND))?;
            let max_pushes_user = count(
                "max_pushes_user",
                rl.max_pushes_user
                    .unwrap_or_else(|| max_pushes.saturating_mul(4).min(MAX_PUSHES_BOUND)),
                (max_pushes, MAX_PUSHES_BOUND),
            )
            .map_err(|_| {
                e(format!(
                    "limits.max_pushes_user: must be from max_pushes ({max_pushes}) to {MAX_PUSHES_BOUND}"
                ))
            })?;
            let lockout_after = count(
                "lockout_after",
                rl.lockout_after.unwrap_or(defaults.lockout_after),
                (0, LOCKOUT_AFTER_BOUND),
            )?;
            let lockout_after_user = count(
                "lockout_after_user",
                rl.lockout_after_user
                    .unwrap_or_else(|| lockout_after.saturating_mul(3)),
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
                window: duration(path, "limits.window", rl.window, "10m", (1.0, 86400.0))?,
                lockout_after,
                lockout_after_user,
                lockout: duration(path, "limits.lockout", rl.lockout, "15m", (1.0, 86400.0))?,
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
                    Some(_) => duration(path, "limits.grace", rl.grace, "0s", (1.0, 86400.0))?,
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

    /// Loads the credentials (with the file rules) and builds the client the module uses.
    pub fn client(&self) -> Result<Client, Error> {
        Ok(self.client_and_credentials()?.0)
    }

    /// Like [`Config::client`], also returning the loaded credentials (for `passbyme check`).
    pub fn client_and_credentials(&self) -> Result<(Client, Credentials), Error> {
        let s = &self.service;
        let password = match &s.password {
            Password::None => None,
            Password::Inline(p) => Some(p.clone()),
            Password::File(f) => {
                let bytes = read_checked(f, Secrecy::Secret, 4096)?;
                let text = std::str::from_utf8(&bytes).map_err(|_| err(f, "is not UTF-8 text"))?;
                let text = text.strip_suffix('\n').unwrap_or(text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                Some(Zeroizing::new(text.to_owned()))
            }
        };
        let cert_pem = read_checked(&s.credentials, Secrecy::Secret, client::MAX_PEM_FILE)?;
        let key_pem = match &s.key {
            Some(k) => read_checked(k, Secrecy::Secret, client::MAX_PEM_FILE)?,
            None => cert_pem.clone(),
        };
        let key_path = s.key.as_deref().unwrap_or(&s.credentials);
        let creds =
            Credentials::from_pem(&cert_pem, &key_pem, password.as_deref().map(|p| p.as_str()))
                .map_err(|e| err(key_path, e.to_string()))?;
        let mut builder = Client::builder(creds.clone())
            .address(s.address.clone())
            .proxy(s.proxy.clone())
            .connect_timeout(s.connect_timeout)
            .request_timeout(s.request_timeout);
        if let Some(ca) = &s.ca_bundle {
            let pem = read_checked(ca, Secrecy::Public, client::MAX_PEM_FILE)?;
            let roots = client::parse_certificates(&pem, "CA bundle")
                .map_err(|e| err(ca, e.to_string()))?;
            builder = builder.ca_certificates(roots);
        }
        let client = builder
            .build()
            .map_err(|e| err(&self.path, e.to_string()))?;
        Ok((client, creds))
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

fn duration(
    path: &Path,
    key: &str,
    v: Option<String>,
    default: &str,
    (min, max): (f64, f64),
) -> Result<Duration, Error> {
    let v = v.as_deref().unwrap_or(default);
    let d = parse_duration(v).map_err(|m| err(path, format!("{key}: {m}")))?;
    let secs = d.as_secs_f64();
    if secs < min || secs > max {
        return Err(err(
            path,
            format!(
                "{key}: {v} is outside {} to {}",
                format_duration(Duration::from_secs_f64(min)),
                format_duration(Duration::from_secs_f64(max))
            ),
        ));
    }
    Ok(d)
}

/// Parses a duration: a number and a unit, `ms`, `s`, `m` or `h`: `250ms`, `5s`, `2m`, `1h`,
/// and decimal forms of whole milliseconds, `0.5s`, `1.5s`, `0.25m`. The one parser for every
/// duration the project accepts (configuration, module arguments, the emulator's flags and
/// tags). Refused: a sign, an exponent, `inf`/`NaN`, a bare number, a value finer than a
/// millisecond (`0.5ms`, `1.0005s`) and a value too long to count in milliseconds.
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

/// `1500ms`, `2s`, `2m`: the shortest exact form.
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

/// Checks that a template only uses known placeholders and balanced braces.
pub fn check_template(t: &str) -> Result<(), String> {
    render(t, |_| Some(String::new())).map(|_| ())
}

/// Fills `{name}` placeholders from `value`; `{{` and `}}` are literal braces.
pub fn render(t: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(t.len() + 64);
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if name.len() < 32 => name.push(c),
                        _ => return Err("unterminated '{' (write '{{' for a brace)".into()),
                    }
                }
                if !PLACEHOLDERS.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown placeholder {{{name}}}; known: {}",
                        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
                    ));
                }
                out.push_str(&value(&name).unwrap_or_default());
            }
            '}' => return Err("stray '}' (write '}}' for a brace)".into()),
            c => out.push(c),
        }
    }
    Ok(out)
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
    fn durations_in_every_form() {
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
    fn durations_and_templates() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("-1s").is_err());
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        let out = render("{{x}} {user}@{host}", |n| Some(n.to_uppercase())).unwrap();
        assert_eq!(out, "{x} USER@HOST");
        assert!(render("{user", |_| None).is_err());
        assert!(render("}", |_| None).is_err());
        check_template(DEFAULT_SUBJECT).unwrap();
        check_template(DEFAULT_BODY).unwrap();
    }

    #[test]
    fn file_rules_are_checked_on_the_descriptor() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pbm-cfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(&f, MIN).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_checked(&f, Secrecy::Public, 1 << 16).is_ok());
        let e = read_checked(&f, Secrecy::Secret, 1 << 16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("readable by group or others (mode 0644"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = read_checked(&f, Secrecy::Public, 1 << 16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = read_checked(&f, Secrecy::Public, 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("larger than 10 bytes"), "{e}");
        let l = dir.join("link.toml");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let e = read_checked(&l, Secrecy::Public, 1 << 16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let e = read_checked(&dir, Secrecy::Public, 1 << 16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_checked(Path::new("rel.toml"), Secrecy::Public, 1 << 16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be absolute"), "{e}");
        let e = read_checked(&dir.join("none"), Secrecy::Public, 1 << 16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("No such file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
