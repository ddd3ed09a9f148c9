//! [`Config::parse`]: the TOML text into the validated configuration, one function per
//! section, in the order the errors are looked for; each error names the key and the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::client;
use crate::duration::{parse_duration, Range};
use crate::files::FileError;
use crate::limiter::{
    Concurrent, Limits, LOCKOUT_AFTER_BOUND, LOCKOUT_AFTER_USER_BOUND, MAX_PUSHES_BOUND,
};
use crate::template::{self, check_id_template};

use super::raw::{toml_error, RawConfig, RawLimits, RawLogin, RawMapping, RawPolicy, RawService};
use super::texts::{parse_messages, Messages};
use super::users::spanned_entries;
use super::{
    check_id, err, parse_prompt, Config, Gecos, Local, Login, Mapping, Mode, Password, Policy,
    Prompt, Service, Unmapped, WhenUnreachable,
};

impl Config {
    /// Validates TOML text; `path` only names the file in errors and resolves nothing.
    pub fn parse(path: &Path, text: &str) -> Result<Config, FileError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(path, text, e))?;
        let rs = raw
            .service
            .ok_or_else(|| err(path, "missing table [service]"))?;
        let service = service(path, rs)?;
        let (login, messages) = login(path, raw.login, raw.messages)?;
        let policy = policy(path, raw.policy)?;
        let (state_dir, limits) = limits(path, raw.limits)?;
        let mapping = mapping(path, raw.mapping)?;
        let raw_users = raw
            .users
            .ok_or_else(|| err(path, "missing table [users]"))?;
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
}

/// `[service]`: where and how to reach the service.
fn service(path: &Path, rs: RawService) -> Result<Service, FileError> {
    let e = |m: String| err(path, m);
    let abs = |key: &str, v: &str| -> Result<PathBuf, FileError> {
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
    Ok(Service {
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
    })
}

/// `[login]`, with `[messages]` read after `login.availability` and before the rest (the
/// order its errors have always been looked for in).
fn login(
    path: &Path,
    rl: RawLogin,
    raw_messages: BTreeMap<String, String>,
) -> Result<(Login, Messages), FileError> {
    let e = |m: String| err(path, m);
    let timeout = duration(
        path,
        "login.timeout",
        rl.timeout,
        Login::DEFAULT_TIMEOUT,
        Login::TIMEOUT_RANGE,
    )?;
    if rl.availability == Some(0) {
        return Err(e("login.availability: must be at least 1 (seconds)".into()));
    }
    let messages = parse_messages(path, raw_messages)?;
    for (key, t) in [("subject", &rl.subject), ("body", &rl.body)] {
        if let Some(t) = t {
            template::check(t, &template::PUSH).map_err(|m| e(format!("login.{key}: {m}")))?;
        }
    }
    let login = Login {
        timeout,
        availability: rl.availability,
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
        subject: rl.subject,
        body: rl.body,
        prompt: match rl.prompt.as_deref() {
            None => Prompt::Enter,
            Some(p) => parse_prompt(p).map_err(|m| e(format!("login.prompt: {m}")))?,
        },
    };
    Ok((login, messages))
}

/// `[policy]`.
fn policy(path: &Path, rp: RawPolicy) -> Result<Policy, FileError> {
    let e = |m: String| err(path, m);
    let pick =
        |key: &str, v: Option<String>, allowed: &[&str]| -> Result<Option<String>, FileError> {
            match v {
                Some(v) if !allowed.contains(&v.as_str()) => Err(e(format!(
                    "policy.{key}: '{v}' is not one of {}",
                    allowed.join(", ")
                ))),
                v => Ok(v),
            }
        };
    Ok(Policy {
        mode: match rp.mode.as_deref() {
            None => Mode::Enforce,
            Some(m) => Mode::parse(m).map_err(|m| e(format!("policy.mode: {m}")))?,
        },
        unmapped: match pick("unmapped", rp.unmapped, &["deny", "ignore"])?.as_deref() {
            Some("ignore") => Unmapped::Ignore,
            _ => Unmapped::Deny,
        },
        unreachable: match pick("unreachable", rp.unreachable, &["deny", "allow"])?.as_deref() {
            Some("allow") => WhenUnreachable::Allow,
            _ => WhenUnreachable::Deny,
        },
        local: match pick("local", rp.local, &["push", "deny", "ignore"])?.as_deref() {
            Some("deny") => Local::Deny,
            Some("ignore") => Local::Ignore,
            _ => Local::Push,
        },
        only_groups: rp.only_groups.unwrap_or_default(),
        exempt_groups: rp.exempt_groups.unwrap_or_default(),
    })
}

/// `[limits]`: `state_dir` (read with the limits on or off: also the home of the key that
/// hashes unknown user names), and the limits unless `enabled = false`.
fn limits(path: &Path, rl: RawLimits) -> Result<(PathBuf, Option<Limits>), FileError> {
    let e = |m: String| err(path, m);
    let state_dir = match rl.state_dir {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => {
            return Err(e(format!(
                "limits.state_dir: '{d}' is not an absolute path"
            )))
        }
        None => PathBuf::from(Limits::DEFAULT_STATE_DIR),
    };
    if rl.enabled == Some(false) {
        return Ok((state_dir, None));
    }
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
    let limits = Limits {
        state_dir: state_dir.clone(),
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
    };
    Ok((state_dir, Some(limits)))
}

/// `[mapping]`: the sources of IDs besides `[users]`.
fn mapping(path: &Path, rm: RawMapping) -> Result<Mapping, FileError> {
    let e = |m: String| err(path, m);
    let mut mapping = Mapping {
        users_dir: match rm.users_dir {
            Some(d) if Path::new(&d).is_absolute() => Some(PathBuf::from(d)),
            Some(d) => {
                return Err(e(format!(
                    "mapping.users_dir: '{d}' is not an absolute path"
                )))
            }
            None => None,
        },
        template: rm.template,
        gecos: None,
    };
    if let Some(t) = &mapping.template {
        check_id_template(t).map_err(|m| e(format!("mapping.template: {m}")))?;
        // A template that can never give an ID (a space in it) is refused now.
        let sample = mapping.template_id("user").and_then(Result::ok);
        check_id(&sample.unwrap_or_default()).map_err(|m| {
            e(format!(
                "mapping.template: for the user 'user' it gives {m}"
            ))
        })?;
    }
    mapping.gecos = match (rm.gecos_field, rm.gecos_delimiter) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(e(
                "mapping.gecos_delimiter: has no effect without mapping.gecos_field".into(),
            ))
        }
        (Some(f), d) => Some(gecos(path, f, d.as_deref())?),
    };
    // One source for the users in no table: a template maps everyone, so a GECOS field
    // after it would never be read.
    if mapping.template.is_some() && mapping.gecos.is_some() {
        return Err(e(
            "mapping.template and mapping.gecos_field are both set; keep one".into(),
        ));
    }
    Ok(mapping)
}

/// `mapping.gecos_field` and `mapping.gecos_delimiter`.
fn gecos(path: &Path, field: u32, delimiter: Option<&str>) -> Result<Gecos, FileError> {
    let (min, max) = Gecos::FIELD_RANGE;
    if field < min || field > max {
        return Err(err(
            path,
            format!("mapping.gecos_field: {field} is outside {min} to {max}"),
        ));
    }
    let delimiter = match delimiter {
        None => ',',
        Some(d) => {
            let mut chars = d.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_punctuation() && c != ':' => c,
                _ => {
                    return Err(err(
                        path,
                        format!(
                        "mapping.gecos_delimiter: '{}' is not one punctuation character other than ':'",
                        client::sanitize::clean(d, 16)
                    ),
                    ))
                }
            }
        }
    };
    Ok(Gecos {
        field: field as usize,
        delimiter,
    })
}

/// The duration written for `key`, or `default`; either way within `range`.
fn duration(
    path: &Path,
    key: &str,
    v: Option<String>,
    default: Duration,
    range: Range,
) -> Result<Duration, FileError> {
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
    use crate::config::tests::{parse, MIN};
    use crate::config::{EntryLocation, Language, MessageId};

    #[test]
    fn messages_pick_a_language_and_check_each_override() {
        let with = |m: &str| parse(&MIN.replace("[users]", &format!("[messages]\n{m}\n[users]")));
        let c = parse(MIN).unwrap();
        assert_eq!(c.messages, Messages::default());
        // No subject or body written: the language's (crate::messages tests them).
        assert_eq!((c.login.subject, c.login.body), (None, None));
        let c = with("language = \"hu\"\ndenied = \"Nem, {user}.\"").unwrap();
        assert_eq!(c.messages.language, Language::Hu);
        assert_eq!(c.messages.overrides[&MessageId::Denied], "Nem, {user}.");
        let c = parse(&MIN.replace(
            "[users]",
            "[login]\nsubject = \"S {code}\"\n[messages]\nlanguage = \"de\"\n[users]",
        ))
        .unwrap();
        assert_eq!(c.login.subject.as_deref(), Some("S {code}"));
        assert_eq!(c.login.body, None);
        assert_eq!(c.messages.language, Language::De);
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
    fn users_lines_and_mapping_keys() {
        let c = parse(MIN).unwrap();
        assert_eq!(c.origins["alice"], EntryLocation { file: 0, line: 5 });
        assert_eq!(c.origins["bob"], EntryLocation { file: 0, line: 6 });
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
}
