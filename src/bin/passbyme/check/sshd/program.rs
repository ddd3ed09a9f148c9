//! Running the sshd program: `sshd -T` (the effective configuration, of the checked file
//! or a probe file, with a throwaway host key when the file's own does not load) and
//! `sshd -V` (its version, and what the version means for the verdict).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::check::Args;

/// The first OpenSSH release in which `KbdInteractiveAuthentication` alone runs PAM through
/// keyboard-interactive (8.7 made `ChallengeResponseAuthentication` its alias).
const KBD_ALONE: (u32, u32) = (8, 7);

/// A throwaway host key for `sshd -T` when the checked file names none that loads (a
/// candidate file on another host's paths), and the directory for the probe files: sshd
/// refuses to start without a host key.
pub(super) struct TempKey(PathBuf);

impl TempKey {
    pub(super) fn new() -> Result<TempKey, String> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("passbyme-check.{}.{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let path = dir.join("host_key");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::io::Write::write_all(&mut f, key.serialize_pem().as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TempKey(dir))
    }
    fn key(&self) -> PathBuf {
        self.0.join("host_key")
    }
}

impl Drop for TempKey {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An effective configuration: `sshd -T`'s keys in lower case, the first value of each.
pub type Conf = HashMap<String, String>;

/// Runs `sshd -T` on the checked file (or a probe file), with the throwaway host key once
/// the file's own did not load.
pub struct Sshd<'a> {
    pub(super) a: &'a Args,
    pub(super) key: Option<TempKey>,
}

impl Sshd<'_> {
    /// `sshd -T [-f FILE] [-C SPEC] [-h KEY]`: `Err` when sshd could not be run, `Ok(Err)`
    /// with its message when it refused.
    pub(super) fn run(
        &self,
        file: Option<&Path>,
        spec: Option<&str>,
    ) -> Result<Result<Conf, String>, String> {
        let mut cmd = Command::new(&self.a.sshd_binary);
        cmd.arg("-T");
        if let Some(f) = file.or(self.a.sshd_config.as_deref()) {
            cmd.arg("-f").arg(f);
        }
        if let Some(m) = spec {
            cmd.arg("-C").arg(m);
        }
        if let Some(k) = &self.key {
            cmd.arg("-h").arg(k.key());
        }
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", self.a.sshd_binary.display()))?;
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if !out.status.success() {
            return Ok(Err(err));
        }
        let mut map = HashMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((k, v)) = line.split_once(' ') {
                map.entry(k.to_lowercase()).or_insert_with(|| v.to_owned());
            }
        }
        Ok(Ok(map))
    }

    /// The effective configuration of the connection `spec`, as one error string.
    pub fn conf(&self, spec: &str) -> Result<Conf, String> {
        match self.run(None, Some(spec)) {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(format!("sshd -T -C {spec}: {}", e.replace('\n', "; "))),
            Err(e) => Err(e),
        }
    }

    /// The throwaway key's directory (made on first use).
    pub(super) fn scratch(&mut self) -> Result<&Path, String> {
        if self.key.is_none() {
            self.key = Some(TempKey::new()?);
        }
        Ok(self
            .key
            .as_ref()
            .map(|k| k.0.as_path())
            .unwrap_or(Path::new("/")))
    }
}

/// The OpenSSH version in a text such as `sshd -V` prints ("OpenSSH_9.2, OpenSSL 3.0…",
/// or, from an sshd that has no -V, its usage text "unknown option -- V\nOpenSSH_8.0p1,
/// OpenSSL 1.1.1k  FIPS 25 Mar 2021\nusage: …").
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = &text[text.find("OpenSSH_")? + "OpenSSH_".len()..];
    let (major, rest) = rest.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The version of the sshd program: `sshd -V` (OpenSSH 9.1 and later); an older sshd
/// rejects the option and prints its version with the usage text, which is read the same way.
pub(super) fn sshd_version(bin: &Path) -> Option<(u32, u32)> {
    let out = Command::new(bin)
        .arg("-V")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    parse_version(&text)
}

/// What is known about the sshd program that matters to the verdict.
#[derive(Clone, Copy)]
pub struct Program {
    pub version: Option<(u32, u32)>,
}

impl Program {
    /// Whether keyboard-interactive runs PAM only with `ChallengeResponseAuthentication yes`:
    /// before OpenSSH 8.7, and (version unknown) whenever `sshd -T` still prints the key
    /// apart from `kbdinteractiveauthentication`, as OpenSSH before 8.7 does.
    pub fn needs_challenge(&self, conf: &Conf) -> bool {
        match self.version {
            Some(v) => v < KBD_ALONE,
            None => conf.contains_key("challengeresponseauthentication"),
        }
    }
    pub(super) fn name(&self) -> String {
        self.version
            .map_or("this sshd".to_owned(), |(a, b)| format!("OpenSSH {a}.{b}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_real_sshd_texts() {
        // RHEL 8 (no -V: the usage text), Ubuntu 20.04, Debian 11 (both no -V), Debian 12
        // (-V, and the usage text of its -h), Debian 13, forky.
        let cases = [
            ("unknown option -- V\nOpenSSH_8.0p1, OpenSSL 1.1.1k  FIPS 25 Mar 2021\nusage: sshd [-46DdeiqTt] [-C connection_spec] [-c host_cert_file]\n", (8, 0)),
            ("unknown option -- V\nOpenSSH_8.2p1 Ubuntu-4ubuntu0.13, OpenSSL 1.1.1f  31 Mar 2020\nusage: sshd [-46DdeiqTt] [-C connection_spec]\n", (8, 2)),
            ("unknown option -- V\nOpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023\nusage: sshd [-46DdeiqTt]\n", (8, 4)),
            ("OpenSSH_9.2, OpenSSL 3.0.22 25 Aug 2026\n", (9, 2)),
            ("option requires an argument -- h\nOpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024\nusage: sshd [-46DdeiqTtV]\n", (9, 2)),
            ("OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1 1 Jul 2025\n", (10, 0)),
            ("OpenSSH_10.0, OpenSSL 3.5.1 1 Jul 2025\n", (10, 0)),
            ("OpenSSH_10.6p1 Debian-1, OpenSSL 3.5.4 30 Sep 2025\n", (10, 6)),
        ];
        for (text, v) in cases {
            assert_eq!(parse_version(text), Some(v), "{text}");
        }
        assert!(parse_version("OpenSSH_8.4p1").unwrap() < KBD_ALONE);
        assert!(parse_version("OpenSSH_8.0p1").unwrap() < KBD_ALONE);
        assert!(parse_version("OpenSSH_10.0p1").unwrap() >= KBD_ALONE);
        assert!(parse_version("OpenSSH_8.7p1").unwrap() >= KBD_ALONE);
        assert_eq!(parse_version("dropbear v2022.83"), None);
        assert_eq!(parse_version("OpenSSL 1.1.1k"), None);
    }
}
