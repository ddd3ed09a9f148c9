//! [`Config::describe`]: every effective setting as `key`, `value` pairs, for `debug`
//! logging and `passbyme check`; never a secret.

use std::time::Duration;

use crate::client;
use crate::duration::format_duration;

use super::{Config, Password};

impl Config {
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
            ("login.availability".into(), format!("{}s", l.availability())),
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn every_setting_is_shown_and_no_secret() {
        let text = "[service]\ncredentials = \"/c.pem\"\npassword = \"Zq1Secret\"\n\
                    [login]\ntimeout = \"90s\"\n[users]\na = \"a@x\"\n";
        let mut c = Config::parse(Path::new("/p.toml"), text).unwrap();
        let shown = |c: &Config, key: &str| {
            c.describe()
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap()
        };
        assert!(!format!("{:?}", c.describe()).contains("Zq1Secret"));
        assert_eq!(shown(&c, "service.password"), "(inline, hidden)");
        // The availability follows the timeout unless written.
        assert_eq!(shown(&c, "login.availability"), "90s");
        c.login.timeout = Duration::from_secs(5);
        assert_eq!(shown(&c, "login.availability"), "5s");
        c.login.availability = Some(30);
        assert_eq!(shown(&c, "login.availability"), "30s");
        assert_eq!(
            shown(&c, "users"),
            "1 in the main file, 0 in mapping.users_dir"
        );
    }
}
