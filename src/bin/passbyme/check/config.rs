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
    use pam_passbyme::config::{Mode, WhenUnreachable};
    match config.policy.mode {
        Mode::Audit => r.warn(
            "policy-audit",
            format!(
                "{}: policy.mode = \"audit\": no push is sent and the module never denies; it \
                 returns PAM_IGNORE (the stack decides as without it) and logs \
                 decision=would-push/would-deny/would-skip: read them with passbyme report, \
                 then set mode = \"enforce\"",
                config.path.display()
            ),
        ),
        Mode::Enforce => {}
    }
    match config.policy.unreachable {
        WhenUnreachable::Allow => r.warn(
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
        WhenUnreachable::Deny => {}
    }
}

/// `check --user NAME`: the mapping of one user, as a login would see it.
pub fn check_user(r: &mut Report, path: &Path, user: &str) {
    use pam_passbyme::login::{map_user, Lookup};
    use pam_passbyme::os::Host;
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
    check_gecos(r, &config, Some(&name));
    match map_user(&config, &host, &name) {
        Ok(Lookup::Ids(ids, source)) => r.ok(
            "user-mapped",
            format!("{name} -> {} (from {source})", ids.join(", ")),
        ),
        Ok(Lookup::Unmapped(why)) => r.crit(
            "user-unmapped",
            format!(
                "{name}: unmapped: {why}; policy.unmapped = {}",
                format!("{:?}", config.policy.unmapped).to_lowercase()
            ),
        ),
        Ok(Lookup::Invalid(e)) => r.crit(
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
    check_gecos(r, &config, None);
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
    let sample = pam_passbyme::messages::push_sample(&config);
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

// ---------------------------------------------------------------------------------------
// GECOS parts a user may change (chfn and CHFN_RESTRICT)

/// Where chfn reads CHFN_RESTRICT. `PASSBYME_LOGIN_DEFS` names another file (for the tests:
/// it only changes what this report reads, never what a login does).
const LOGIN_DEFS: &str = "/etc/login.defs";

/// The local user database chfn changes.
const PASSWD: &str = "/etc/passwd";

/// The chfn letters of the GECOS parts, in order: full name, room number, work phone, home
/// phone (then "other", which only root may change: `chfn -o`).
const CHFN_FIELDS: [(char, &str, &str); 4] = [
    ('f', "full name", "-f"),
    ('r', "room number", "-r"),
    ('w', "work phone", "-w"),
    ('h', "home phone", "-h"),
];

/// The GECOS parts a user who is not root may change with chfn, as the letters `frwh`,
/// from the text of login.defs. The semantics of shadow's chfn (Debian) and util-linux's
/// (RHEL, Fedora): no CHFN_RESTRICT (or an empty one) allows nothing; `yes` is `rwh`;
/// letters allow their parts. `no` is `frwh` for shadow and older util-linux (newer
/// util-linux allows nothing): the wider reading is taken. Several lines: every one counts
/// (chfns differ on which wins), so the letters of all of them.
pub fn chfn_letters(login_defs: &str) -> (String, Option<String>) {
    let mut letters = String::new();
    let mut shown: Option<String> = None;
    for line in login_defs.lines() {
        let line = line.trim();
        let mut words = line.splitn(2, char::is_whitespace);
        if words.next() != Some("CHFN_RESTRICT") {
            continue;
        }
        let value = words.next().unwrap_or("").trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let allowed = match value {
            "yes" => "rwh",
            "no" => "frwh",
            v => v,
        };
        for (c, _, _) in CHFN_FIELDS {
            if allowed.contains(c) && !letters.contains(c) {
                letters.push(c);
            }
        }
        shown = Some(match shown {
            None => value.to_owned(),
            Some(s) => format!("{s}, {value}"),
        });
    }
    let letters = CHFN_FIELDS
        .iter()
        .map(|f| f.0)
        .filter(|c| letters.contains(*c))
        .collect();
    (letters, shown)
}

/// The chfn parts a user may change that can decide part `field` (1-based) of a GECOS
/// field split at `delimiter`, given the letters chfn allows. chfn refuses `,` `:` `=` in
/// what a user writes: with `,` part N is chfn's field N (5 and later only root sets);
/// with `=` only the first part holds user text; with any other delimiter a user can
/// write the delimiter and shift every part.
pub fn writable_parts(
    field: usize,
    delimiter: char,
    letters: &str,
) -> Vec<(char, &'static str, &'static str)> {
    let allowed = |f: &&(char, &str, &str)| letters.contains(f.0);
    match delimiter {
        ',' => CHFN_FIELDS
            .get(field.wrapping_sub(1))
            .filter(allowed)
            .into_iter()
            .copied()
            .collect(),
        '=' if field > 1 => Vec::new(),
        _ => CHFN_FIELDS.iter().filter(allowed).copied().collect(),
    }
}

/// Whether `user` has an entry in the local passwd file (the accounts chfn changes).
fn is_local(passwd: &str, user: &str) -> bool {
    passwd.lines().any(|l| l.split(':').next() == Some(user))
}

/// `mapping.gecos_field` reading a part that local users may change with chfn is a
/// CRITICAL: whoever runs as a user once points that user's pushes at their own phone.
/// With `user`, only when that user is local.
fn check_gecos(r: &mut Report, config: &Config, user: Option<&str>) {
    let Some(g) = config.mapping.gecos else {
        return;
    };
    let defs = std::env::var_os("PASSBYME_LOGIN_DEFS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| LOGIN_DEFS.into());
    let text = match std::fs::read_to_string(&defs) {
        Ok(t) => t,
        // No login.defs: chfn allows nothing (shadow's and util-linux's default).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return r.unknown(
                "gecos-login-defs",
                format!(
                    "{}: {e}: cannot tell which GECOS parts users may change",
                    defs.display()
                ),
            )
        }
    };
    let (letters, value) = chfn_letters(&text);
    let rule = match &value {
        Some(v) => format!("CHFN_RESTRICT {v} in {}", defs.display()),
        None => format!("no CHFN_RESTRICT in {}", defs.display()),
    };
    let key = format!(
        "mapping.gecos_field = {}{}",
        g.field,
        if g.delimiter == ',' {
            String::new()
        } else {
            format!(" (gecos_delimiter '{}')", g.delimiter)
        }
    );
    let parts = writable_parts(g.field, g.delimiter, &letters);
    let who = match user {
        Some(u) => {
            let passwd = std::fs::read_to_string(PASSWD).unwrap_or_default();
            if !is_local(&passwd, u) {
                return r.ok(
                    "gecos-fixed",
                    format!("{u}: not in {PASSWD}: chfn cannot change its GECOS field ({key}); its directory decides who may"),
                );
            }
            format!("{u} (a local account) may")
        }
        None => format!("every local user (in {PASSWD}) may"),
    };
    if parts.is_empty() {
        return r.ok(
            "gecos-fixed",
            format!("{key}: a part users cannot change with chfn ({rule})"),
        );
    }
    let what: Vec<String> = parts
        .iter()
        .map(|(_, name, opt)| format!("the {name} (chfn {opt})"))
        .collect();
    let how = if g.delimiter == ',' {
        String::new()
    } else {
        format!(", and can write '{}' there to move the parts", g.delimiter)
    };
    r.crit(
        "gecos-user-writable",
        format!(
            "{key} reads a part of the GECOS field that {rule} lets users change: {who} change {}{how}; whoever runs as a user once (a shell, a cron job, a compromised service) can point that user's pushes at their own phone. Use a part only root sets (gecos_field = 5: chfn -o), a directory users cannot write to, or a CHFN_RESTRICT without that letter",
            what.join(" and ")
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chfn_restrict_as_shadow_and_util_linux_read_it() {
        let l = |t: &str| chfn_letters(t).0;
        // Debian's default file.
        assert_eq!(l("# comment\nCHFN_RESTRICT\t\trwh\n"), "rwh");
        assert_eq!(chfn_letters("CHFN_RESTRICT rwh").1.as_deref(), Some("rwh"));
        // Unset or empty: only root may change anything.
        assert_eq!(l(""), "");
        assert_eq!(l("#CHFN_RESTRICT frwh\nCHFN_AUTH yes\n"), "");
        assert_eq!(l("CHFN_RESTRICT"), "");
        assert_eq!(chfn_letters("").1, None);
        // The backward-compatible words.
        assert_eq!(l("CHFN_RESTRICT yes"), "rwh");
        assert_eq!(l("CHFN_RESTRICT no"), "frwh");
        // Quotes, order, unknown letters; several lines: all of them.
        assert_eq!(l("CHFN_RESTRICT \"hf\""), "fh");
        assert_eq!(l("CHFN_RESTRICT xyz"), "");
        assert_eq!(l("CHFN_RESTRICT f\nCHFN_RESTRICT w"), "fw");
    }

    #[test]
    fn which_parts_a_user_can_reach() {
        let names =
            |f, d, l| -> Vec<char> { writable_parts(f, d, l).iter().map(|p| p.0).collect() };
        // Comma: part N is chfn's field N; 5 and later only root sets.
        assert_eq!(names(1, ',', "rwh"), Vec::<char>::new());
        assert_eq!(names(2, ',', "rwh"), ['r']);
        assert_eq!(names(3, ',', "rwh"), ['w']);
        assert_eq!(names(4, ',', "rwh"), ['h']);
        assert_eq!(names(1, ',', "frwh"), ['f']);
        for f in 5..=32 {
            assert!(names(f, ',', "frwh").is_empty(), "{f}");
        }
        assert!(names(2, ',', "").is_empty());
        // '=' cannot be written by users: only the first part holds their text.
        assert_eq!(names(1, '=', "r"), ['r']);
        assert!(names(2, '=', "frwh").is_empty());
        // Any other delimiter can be written into a part and shifts them all.
        assert_eq!(names(7, ';', "rw"), ['r', 'w']);
        assert!(names(7, ';', "").is_empty());
    }

    #[test]
    fn local_accounts_are_the_passwd_files() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:A,1,2,3,a@x:/home/alice:/bin/sh\n";
        assert!(is_local(passwd, "alice"));
        assert!(!is_local(passwd, "ali"));
        assert!(!is_local(passwd, "carol"));
    }
}
