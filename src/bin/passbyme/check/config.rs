//! The module's configuration as it loads it: files, TOML, mapping, credentials,
//! certificate expiry, and with `--connect` the service.

/// Loads the configuration as the module does, reporting every problem of
/// `mapping.users_dir` (the module refuses every login while there is one).
use std::path::Path;

use pam_passbyme::config::Config;

use super::Report;

fn load_reporting(r: &mut Report, path: &Path) -> Option<Config> {
    let (config, problems) = match Config::load_all(path) {
        Ok(x) => x,
        Err(e) => {
            r.crit("config-invalid", e.to_string());
            return None;
        }
    };
    if !problems.is_empty() {
        for e in &problems {
            r.crit("config-invalid", e.to_string());
        }
        r.crit(
            "config-invalid",
            format!(
                "{}: {} problem(s) in mapping.users_dir: the module refuses every login",
                path.display(),
                problems.len()
            ),
        );
        return None;
    }
    r.ok("config-valid", format!("{}: valid", path.display()));
    if let Some(dir) = &config.mapping.users_dir {
        r.ok(
            "config-users-dir",
            format!(
                "{}: {} user(s) from {} file(s)",
                dir.display(),
                config.dir_users.len(),
                config.files.len() - 1
            ),
        );
    }
    Some(config)
}

/// What the policies open on purpose, said where monitoring sees it.
fn check_policy(r: &mut Report, config: &Config) {
    use pam_passbyme::config::Unreachable;
    match config.policy.unreachable {
        Unreachable::Allow => r.warn(
            "fail-open",
            format!(
                "{}: policy.unreachable = \"allow\" is a fail-open: whenever no TCP connection to \
                 the service can be made before a push (its name does not resolve, the connect \
                 is refused or finds no route, or service.connect_timeout passes without an \
                 answer), every mapped user logs in with the first factor alone; anyone who can \
                 block this host's traffic to the service or forge its DNS answer can make that \
                 happen at will",
                config.path.display()
            ),
        ),
        Unreachable::Deny => {}
    }
}

/// `check --user NAME`: the mapping of one user, as a login would see it.
pub fn check_user(r: &mut Report, path: &Path, user: &str) {
    use pam_passbyme::login::{map_user, Host, Mapping};
    let Some(config) = load_reporting(r, path) else {
        return;
    };
    let host = pam_passbyme::os::System;
    let name = match host.canonical_user(user) {
        Ok(Some(n)) => n,
        Ok(None) => {
            return r.crit(
                "user-unknown",
                format!(
                    "{user}: unknown to the user database (NSS): unmapped, policy.unmapped applies"
                ),
            )
        }
        Err(e) => return r.unknown("user-lookup", format!("{user}: {e}")),
    };
    if name == user {
        r.note(&format!("user  {name}"));
    } else {
        r.note(&format!(
            "user  {name} (the user database's name for '{user}')"
        ));
    }
    let p = &config.policy;
    if !p.only_groups.is_empty() || !p.exempt_groups.is_empty() {
        let groups = match host.groups(&name) {
            Ok(g) => g,
            Err(e) => return r.unknown("user-groups", format!("{name}: groups: {e}")),
        };
        if let Some(g) = groups.iter().find(|g| p.exempt_groups.contains(g)) {
            r.ok("user-skipped", format!("{name}: member of exempt group {g}: the module steps aside (PAM_IGNORE), whatever the mapping"));
        } else if !p.only_groups.is_empty() && !groups.iter().any(|g| p.only_groups.contains(g)) {
            r.ok("user-skipped", format!("{name}: not in only_groups: the module steps aside (PAM_IGNORE), whatever the mapping"));
        }
    }
    match map_user(&config, &host, &name) {
        Ok(Mapping::Ids(ids, source)) => r.ok(
            "user-mapped",
            format!("{name} -> {} (from {source})", ids.join(", ")),
        ),
        Ok(Mapping::Unmapped(why)) => r.crit(
            "user-unmapped",
            format!(
                "{name}: unmapped: {why}; policy.unmapped = {}",
                format!("{:?}", config.policy.unmapped).to_lowercase()
            ),
        ),
        Ok(Mapping::Invalid(e)) => r.crit(
            "user-invalid",
            format!("{name}: {e}: every login is refused"),
        ),
        Err(e) => r.unknown("user-lookup", format!("{name}: {e}")),
    }
}

/// The configuration, credentials, certificate expiry, and with `connect` the service.
pub fn check_config(r: &mut Report, path: &Path, connect: bool) {
    let Some(config) = load_reporting(r, path) else {
        return;
    };
    for (k, v) in config.describe() {
        r.note(&format!("        {k} = {v}"));
    }
    check_policy(r, &config);
    let (client, creds) = match pam_passbyme::connect::connect_with_credentials(&config) {
        Ok(x) => x,
        Err(e) => return r.crit("credentials", e.to_string()),
    };
    r.ok(
        "credentials",
        format!(
            "credentials: key decrypts and matches the certificate ({})",
            creds.subject()
        ),
    );
    match creds.not_after() {
        Ok(t) => {
            let left = t - time::OffsetDateTime::now_utc();
            if left.is_negative() {
                r.crit(
                    "certificate-expired",
                    format!(
                        "client certificate expired on {t}: the service will refuse every login"
                    ),
                );
            } else if left < time::Duration::days(30) {
                r.warn(
                    "certificate-expiring",
                    format!(
                        "client certificate expires on {t} (in {} days): renew it",
                        left.whole_days()
                    ),
                );
            } else {
                r.ok(
                    "certificate-valid",
                    format!("client certificate valid until {t}"),
                );
            }
        }
        Err(e) => r.crit("certificate", e.to_string()),
    }
    if let Some(limits) = &config.limits {
        if limits.state_dir.exists() {
            match pam_passbyme::limiter::Store::open(limits) {
                Ok(_) => r.ok(
                    "limits",
                    format!("limits: state in {}", limits.state_dir.display()),
                ),
                Err(e) => r.crit("limits", e.to_string()),
            }
        } else {
            r.ok(
                "limits",
                format!(
                    "limits: {} will be created (0700) at the first login",
                    limits.state_dir.display()
                ),
            );
        }
    }
    let m = &config.mapping;
    if config.users.is_empty()
        && config.dir_users.is_empty()
        && m.template.is_none()
        && m.gecos.is_none()
    {
        r.warn(
            "users-empty",
            "[users] is empty: every login will be treated as unmapped",
        );
    } else {
        for (user, ids) in &config.users {
            r.ok("user-mapped", format!("user {user} -> {}", ids.join(", ")));
        }
    }
    let sample = pam_passbyme::template::render(&config.login.subject, |n| Some(format!("<{n}>")));
    match sample {
        Ok(s) => r.ok("subject", format!("subject: {s}")),
        Err(e) => r.crit("subject", format!("login.subject: {e}")),
    }
    if connect {
        // An id that cannot exist: a 420 answer proves TLS both ways and the API.
        match client.track("passbymeCheck0") {
            Err(pam_passbyme::client::Error::Api { code, .. }) => r.ok(
                "connect",
                format!(
                    "{}: reached over mutual TLS (PassBy[ME] code {:?} for a test id, as expected)",
                    client.base_url(),
                    code
                ),
            ),
            Ok(_) => r.ok(
                "connect",
                format!("{}: reached over mutual TLS", client.base_url()),
            ),
            Err(e) => r.crit("connect", format!("{}: {e}", client.base_url())),
        }
    }
}
