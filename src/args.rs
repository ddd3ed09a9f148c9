//! The module's arguments on its pam.d line: `config=PATH`, `debug`, `prompt=enter|info|none`,
//! `timeout=DURATION`, `mode=enforce|audit`, `user=invoker`. Strict: an unknown or malformed argument is an error (the login is
//! denied and the line named in the log), never ignored.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{self, Login, Prompt};
use crate::duration::parse_duration;

/// Parsed module arguments; each overrides the file where set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// `config=PATH`: the configuration file (absolute).
    pub config: Option<PathBuf>,
    /// `debug`: log every effective setting and the message ids.
    pub debug: bool,
    /// `prompt=…`: overrides `login.prompt` for this service.
    pub prompt: Option<Prompt>,
    /// `timeout=…`: overrides `login.timeout` for this service.
    pub timeout: Option<Duration>,
    /// `user=invoker` (for `su`): push to the user who runs the program (its real uid),
    /// not to PAM_USER, the user to become.
    pub invoker: bool,
    /// `mode=enforce|audit`: overrides `policy.mode` for this service.
    pub mode: Option<config::Mode>,
}

impl Args {
    /// Parses the pam.d arguments.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Args, String> {
        let mut out = Args::default();
        for arg in args {
            let arg = arg.as_ref();
            let (key, value) = match arg.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (arg, None),
            };
            match (key, value) {
                ("debug", None) => out.debug = true,
                // Only a module built for the tests knows it (the hook panics on it); in
                // any other build it is an unknown argument like any other.
                #[cfg(feature = "test-panic")]
                ("test_panic", None) => {}
                ("config", Some(v)) => {
                    let p = PathBuf::from(v);
                    if !p.is_absolute() {
                        return Err(format!("argument 'config={v}': the path must be absolute"));
                    }
                    out.config = Some(p);
                }
                ("prompt", Some(v)) => {
                    out.prompt = Some(
                        config::parse_prompt(v).map_err(|e| format!("argument 'prompt': {e}"))?,
                    )
                }
                ("timeout", Some(v)) => {
                    let d = parse_duration(v).map_err(|e| format!("argument 'timeout': {e}"))?;
                    if !Login::TIMEOUT_RANGE.contains(d) {
                        return Err(format!(
                            "argument 'timeout={v}': outside {}",
                            Login::TIMEOUT_RANGE
                        ));
                    }
                    out.timeout = Some(d);
                }
                ("mode", Some(v)) => {
                    out.mode =
                        Some(config::Mode::parse(v).map_err(|e| format!("argument 'mode': {e}"))?)
                }
                ("user", Some("invoker")) => out.invoker = true,
                ("user", Some(v)) => {
                    return Err(format!(
                        "argument 'user={}': the only value is invoker",
                        crate::client::sanitize::clean(v, 64)
                    ))
                }
                ("debug", Some(_)) => {
                    return Err(format!("argument '{arg}': debug takes no value"))
                }
                ("config" | "prompt" | "timeout" | "user" | "mode", None) => {
                    return Err(format!("argument '{arg}': expected {arg}=VALUE"))
                }
                _ => {
                    return Err(format!(
                        "unknown argument '{}'",
                        crate::client::sanitize::clean(arg, 64)
                    ))
                }
            }
        }
        Ok(out)
    }

    /// With `user=invoker`, refuses an invoking (real) uid of 0. In sshd, login, cron or a
    /// stack shared through `common-auth`, the process runs as root: "the invoker" is not a
    /// person there, and pushing to root's phone would let anyone in on root's approval.
    /// Root running `su` itself is refused too: the module cannot tell it from those, and
    /// root needs no second factor to become anyone (`pam_rootok` before the module
    /// admits root, as Debian's and RHEL's `/etc/pam.d/su` do).
    pub(crate) fn check_invoker(&self, uid: u32) -> Result<(), String> {
        if self.invoker && uid == 0 {
            return Err(
                "user=invoker but the invoking uid is 0: the program was not run by a \
                 person (sshd, login, a stack shared through common-auth) or root runs su, \
                 which needs no second factor; refused (use user=invoker only in the su \
                 service, after pam_rootok)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether arguments that do not parse still ask for audit mode: a word `mode=audit`
    /// and none `mode=enforce` (so that a mistake elsewhere on an audit line keeps the
    /// module stepping aside).
    pub(crate) fn raw_audit<S: AsRef<str>>(args: &[S]) -> bool {
        let has = |w: &str| args.iter().any(|a| a.as_ref() == w);
        has("mode=audit") && !has("mode=enforce")
    }

    /// The configuration file to read.
    pub(crate) fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH))
    }

    /// Applies the overrides to a loaded configuration.
    pub(crate) fn apply(&self, c: &mut config::Config) {
        if let Some(p) = self.prompt {
            c.login.prompt = p;
        }
        if let Some(m) = self.mode {
            c.policy.mode = m;
        }
        if let Some(t) = self.timeout {
            // A push must not stay approvable longer than the login waits for it: an
            // availability not written follows (`Login::availability`).
            c.login.timeout = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn good_and_bad_arguments() {
        let a =
            Args::parse(&["debug", "config=/etc/x.toml", "prompt=info", "timeout=30s"]).unwrap();
        assert!(a.debug);
        assert_eq!(a.config_path(), PathBuf::from("/etc/x.toml"));
        assert_eq!(a.prompt, Some(Prompt::Info));
        assert_eq!(a.timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            Args::parse::<&str>(&[]).unwrap().config_path(),
            PathBuf::from(config::DEFAULT_PATH)
        );
        let bad = [
            (
                "config=rel.toml",
                "argument 'config=rel.toml': the path must be absolute",
            ),
            ("config", "argument 'config': expected config=VALUE"),
            ("debug=1", "argument 'debug=1': debug takes no value"),
            (
                "prompt=loud",
                "argument 'prompt': 'loud' is not one of enter, info, none",
            ),
            ("timeout=1s", "argument 'timeout=1s': outside 5s to 10m"),
            ("nullok", "unknown argument 'nullok'"),
            ("x\x1b[2J", "unknown argument 'x?[2J'"),
            ("test_other", "unknown argument 'test_other'"),
            ("test_panic=1", "unknown argument 'test_panic=1'"),
            (
                "user=root",
                "argument 'user=root': the only value is invoker",
            ),
            ("user", "argument 'user': expected user=VALUE"),
            ("mode", "argument 'mode': expected mode=VALUE"),
            (
                "mode=dry",
                "argument 'mode': 'dry' is not one of enforce, audit",
            ),
        ];
        assert!(Args::parse(&["user=invoker"]).unwrap().invoker);
        assert_eq!(
            Args::parse(&["mode=audit"]).unwrap().mode,
            Some(config::Mode::Audit)
        );
        assert_eq!(
            Args::parse(&["mode=audit", "mode=enforce"]).unwrap().mode,
            Some(config::Mode::Enforce)
        );
        assert!(Args::raw_audit(&["mode=audit", "nullok"]));
        assert!(!Args::raw_audit(&["mode=audit", "mode=enforce", "x"]));
        assert!(!Args::raw_audit(&["mode=auditx"]));
        assert!(!Args::parse::<&str>(&[]).unwrap().invoker);
        for (arg, want) in bad {
            assert_eq!(Args::parse(&[arg]).unwrap_err(), want);
        }
    }

    #[test]
    fn user_invoker_refuses_uid_0() {
        let invoker = Args::parse(&["user=invoker"]).unwrap();
        let e = invoker.check_invoker(0).unwrap_err();
        assert!(
            e.starts_with("user=invoker but the invoking uid is 0: "),
            "{e}"
        );
        assert_eq!(invoker.check_invoker(1000), Ok(()));
        // Without the argument, uid 0 is no concern of this check.
        assert_eq!(Args::default().check_invoker(0), Ok(()));
    }

    #[test]
    fn test_panic_is_known_only_to_the_test_build() {
        let got = Args::parse(&["test_panic"]);
        if cfg!(feature = "test-panic") {
            assert_eq!(got, Ok(Args::default()));
        } else {
            assert_eq!(got.unwrap_err(), "unknown argument 'test_panic'");
        }
    }

    #[test]
    fn timeout_takes_every_duration_form() {
        for (arg, secs) in [
            ("timeout=45s", 45),
            ("timeout=1.5m", 90),
            ("timeout=90.0s", 90),
            ("timeout=0.1h", 360),
        ] {
            assert_eq!(
                Args::parse(&[arg]).unwrap().timeout,
                Some(Duration::from_secs(secs)),
                "{arg}"
            );
        }
        assert_eq!(
            Args::parse(&["timeout=7.5s"]).unwrap().timeout,
            Some(Duration::from_millis(7500))
        );
        for (arg, want) in [
            ("timeout=-30s", "is not a duration"),
            ("timeout=NaNs", "is not a duration"),
            ("timeout=30", "is not a duration"),
            ("timeout=30.0005s", "finer than a millisecond"),
            ("timeout=99999999999999999999s", "too long"),
            ("timeout=4.999s", "outside 5s to 10m"),
            ("timeout=10.001m", "outside 5s to 10m"),
        ] {
            let e = Args::parse(&[arg]).unwrap_err();
            assert!(e.starts_with("argument 'timeout"), "{arg}: {e}");
            assert!(e.contains(want), "{arg}: {e}");
        }
    }

    #[test]
    fn the_timeout_argument_and_the_file_share_one_range() {
        let file = |v: &str| {
            let text =
                format!("[service]\ncredentials = \"/a\"\n[login]\ntimeout = \"{v}\"\n[users]\n");
            Config::parse(std::path::Path::new("/c.toml"), &text).map(|c| c.login.timeout)
        };
        let r = Login::TIMEOUT_RANGE;
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let one = Duration::from_millis(1);
        for (d, ok) in [
            (r.min, true),
            (r.max, true),
            (r.min - one, false),
            (r.max + one, false),
        ] {
            let v = ms(d);
            let arg = Args::parse(&[format!("timeout={v}")]).map(|a| a.timeout);
            assert_eq!(arg.is_ok(), ok, "timeout={v}: {arg:?}");
            assert_eq!(file(&v).is_ok(), ok, "login.timeout = {v}");
            if !ok {
                assert_eq!(
                    arg.unwrap_err(),
                    format!("argument 'timeout={v}': outside {r}")
                );
            }
        }
    }

    #[test]
    fn the_timeout_argument_moves_an_availability_not_written() {
        let with = |login: &str| {
            let text = format!("[service]\ncredentials = \"/a\"\n[login]\n{login}\n[users]\n");
            let mut c = Config::parse(std::path::Path::new("/c.toml"), &text).unwrap();
            Args::parse(&["timeout=5s"]).unwrap().apply(&mut c);
            (c.login.timeout, c.login.availability())
        };
        assert_eq!(with(""), (Duration::from_secs(5), 5));
        assert_eq!(with("availability = 300"), (Duration::from_secs(5), 300));
        assert_eq!(with("timeout = \"2m\""), (Duration::from_secs(5), 5));
    }
}
