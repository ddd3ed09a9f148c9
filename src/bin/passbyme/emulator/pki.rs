//! The state directory: the emulator's CA, server certificate, client credentials in the
//! vendor's file shape, and a ready-made `passbyme.toml`.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use pkcs8::der::{Decode as _, Encode as _};
use pkcs8::pkcs5::pbes2;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use ring::rand::{SecureRandom as _, SystemRandom};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

const CA_NAME: &str = "PassBy[ME] emulator CA";
const ORG: &str = "pam_passbyme emulator";
const CLIENT_NAME: &str = "passbyme-emulator client";
const SERVER_NAME: &str = "localhost";
const FRIENDLY_NAME: &str = "passbyme-emulator";
/// PBKDF2 iterations of the client key, as in the vendor's file.
const PBKDF2_ITERATIONS: u32 = 2048;

/// The prepared state directory, with what the server needs in memory.
pub struct StateDir {
    /// Absolute.
    pub dir: PathBuf,
    pub ca_der: CertificateDer<'static>,
    /// `AB:CD:…`, SHA-256 of the CA certificate.
    pub ca_fingerprint: String,
    pub server_der: CertificateDer<'static>,
    /// PKCS#8 DER.
    pub server_key: Vec<u8>,
    /// The PassBy[ME] ID mapped to the invoking user in passbyme.toml.
    pub pbm_id: String,
}

impl StateDir {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("passbyme.toml")
    }

    /// Create the directory and whatever is missing in it; load the rest.
    pub fn prepare(dir: &Path, listen: SocketAddr) -> anyhow::Result<Self> {
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        }
        let dir = fs::canonicalize(dir)
            .with_context(|| format!("cannot open the state directory {}", dir.display()))?;
        if !dir.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
        let path = |name: &str| dir.join(name);

        // The CA. A new CA makes everything it signed stale.
        let (ca_key, ca_pem, new_ca) = match (read(&path("ca.pem"))?, read(&path("ca.key"))?) {
            (Some(cert), Some(key)) => {
                let key = KeyPair::from_pem(&key)
                    .with_context(|| format!("cannot read the CA key {}", path("ca.key").display()))?;
                (key, cert, false)
            }
            (None, None) => {
                let key = KeyPair::generate().context("cannot generate the CA key")?;
                let cert = ca_params()?
                    .self_signed(&key)
                    .context("cannot make the CA certificate")?;
                write_file(&path("ca.key"), key.serialize_pem().as_bytes(), 0o600)?;
                write_file(&path("ca.pem"), cert.pem().as_bytes(), 0o644)?;
                (key, cert.pem(), true)
            }
            (Some(_), None) => bail!(
                "{} exists but {} does not: remove ca.pem (and everything signed by it) to start afresh",
                path("ca.pem").display(),
                path("ca.key").display()
            ),
            (None, Some(_)) => bail!(
                "{} exists but {} does not: remove ca.key to start afresh",
                path("ca.key").display(),
                path("ca.pem").display()
            ),
        };
        let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(|e| anyhow!("cannot read {}: {e:?}", path("ca.pem").display()))?;
        // The issuer is rebuilt from the same fixed parameters: the name and key identifier
        // method are all a child certificate takes from it.
        let issuer = Issuer::new(ca_params()?, &ca_key);

        // The server certificate.
        let existing_server = match (read(&path("server.pem"))?, read(&path("server.key"))?) {
            (Some(cert), Some(key)) if !new_ca => {
                let der = CertificateDer::from_pem_slice(cert.as_bytes())
                    .map_err(|e| anyhow!("cannot read {}: {e:?}", path("server.pem").display()))?;
                let key = KeyPair::from_pem(&key).with_context(|| {
                    format!(
                        "cannot read the server key {}",
                        path("server.key").display()
                    )
                })?;
                // Re-issue when the listen address is not among the certificate's names.
                covers_ip(&der, listen.ip()).then(|| (der, key.serialize_der()))
            }
            _ => None,
        };
        let (server_der, server_key) = match existing_server {
            Some(s) => s,
            None => {
                let key = KeyPair::generate().context("cannot generate the server key")?;
                let cert = server_params(listen.ip())?
                    .signed_by(&key, &issuer)
                    .context("cannot make the server certificate")?;
                write_file(&path("server.key"), key.serialize_pem().as_bytes(), 0o600)?;
                write_file(&path("server.pem"), cert.pem().as_bytes(), 0o644)?;
                (cert.der().clone(), key.serialize_der())
            }
        };

        // The client credentials.
        let client_ok = !new_ca
            && path("client.password").exists()
            && read(&path("client.pem"))?.is_some_and(|pem| {
                CertificateDer::pem_slice_iter(pem.as_bytes()).any(|c| c.is_ok_and(|c| c == ca_der))
            });
        if !client_ok {
            let rng = SystemRandom::new();
            let password = super::random_alnum(&rng, 20)?;
            let pem = client_credentials(&issuer, &ca_pem, &password, &rng)?;
            write_file(&path("client.pem"), pem.as_bytes(), 0o600)?;
            write_file(
                &path("client.password"),
                format!("{password}\n").as_bytes(),
                0o600,
            )?;
        }

        // The configuration: kept while it names this address, else written afresh.
        let user = pam_passbyme::os::user_name_of(pam_passbyme::os::euid())
            .ok()
            .flatten()
            .or_else(|| std::env::var("USER").ok())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".to_owned());
        let pbm_id = format!("{user}@emulator.test");
        let address_line = format!("address = {}", toml_string(&listen.to_string()));
        let keep = read(&path("passbyme.toml"))?
            .is_some_and(|text| text.lines().any(|l| l.trim() == address_line));
        if !keep {
            let toml = config_text(&dir, listen, &user, &pbm_id)?;
            write_file(&path("passbyme.toml"), toml.as_bytes(), 0o600)?;
        }

        Ok(StateDir {
            ca_fingerprint: fingerprint(&ca_der),
            dir,
            ca_der,
            server_der,
            server_key,
            pbm_id,
        })
    }
}

fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Write a whole file with the given mode (also when it existed with another mode).
fn write_file(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(3650);
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORG);
    dn.push(DnType::CommonName, cn);
    dn
}

/// Fixed, so that the issuer can be rebuilt from `ca.key` on a restart.
fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name = name(CA_NAME);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut p);
    Ok(p)
}

fn server_params(listen_ip: IpAddr) -> anyhow::Result<CertificateParams> {
    let mut names = vec![
        SERVER_NAME.to_owned(),
        Ipv4Addr::LOCALHOST.to_string(),
        Ipv6Addr::LOCALHOST.to_string(),
    ];
    let ip = listen_ip.to_string();
    if !listen_ip.is_unspecified() && !names.contains(&ip) {
        names.push(ip);
    }
    leaf_params(names, SERVER_NAME, ExtendedKeyUsagePurpose::ServerAuth)
}

fn client_params() -> anyhow::Result<CertificateParams> {
    leaf_params(Vec::new(), CLIENT_NAME, ExtendedKeyUsagePurpose::ClientAuth)
}

/// An end-entity certificate named `common_name` for `usage`, valid for `names`.
fn leaf_params(
    names: Vec<String>,
    common_name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(names)?;
    p.distinguished_name = name(common_name);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![usage];
    p.use_authority_key_identifier_extension = true;
    validity(&mut p);
    Ok(p)
}

/// Whether the certificate's subjectAltName lists `ip` (the unspecified address counts as
/// covered: clients then use 127.0.0.1 or ::1).
fn covers_ip(der: &CertificateDer<'_>, ip: IpAddr) -> bool {
    use x509_cert::ext::pkix::{name::GeneralName, SubjectAltName};
    if ip.is_unspecified() {
        return true;
    }
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return false;
    };
    let Ok(Some((_, san))) = cert.tbs_certificate().get_extension::<SubjectAltName>() else {
        return false;
    };
    let want: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    san.0
        .iter()
        .any(|n| matches!(n, GeneralName::IpAddress(o) if o.as_bytes() == want))
}

/// `AB:CD:…` of SHA-256 over the DER.
fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    hex(digest.as_ref(), ":")
}

fn hex(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// The client's credential file, shaped like the vendor's download (what `openssl pkcs12`
/// prints): bag attributes, the client certificate, the CA certificate, then the key
/// encrypted with PBES2 (PBKDF2-HMAC-SHA1, 2048 iterations, DES-EDE3-CBC).
fn client_credentials(
    issuer: &Issuer<'_, &KeyPair>,
    ca_pem: &str,
    password: &str,
    rng: &SystemRandom,
) -> anyhow::Result<String> {
    let key = KeyPair::generate().context("cannot generate the client key")?;
    let cert = client_params()?
        .signed_by(&key, issuer)
        .context("cannot make the client certificate")?;
    let key_id = hex(
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der()).as_ref(),
        " ",
    );
    let encrypted = encrypt_key(&key.serialize_der(), password, rng)?;

    let client_subject = format!("/O={ORG}/CN={CLIENT_NAME}");
    let ca_subject = format!("/O={ORG}/CN={CA_NAME}");
    let mut out = String::new();
    // `let _ =`: writing to a String cannot fail.
    let _ = write!(
        out,
        "Bag Attributes\n    localKeyID: {key_id} \n    friendlyName: {FRIENDLY_NAME}\n\
         subject={client_subject}\nissuer={ca_subject}\n{cert}\
         Bag Attributes: <No Attributes>\nsubject={ca_subject}\nissuer={ca_subject}\n{ca}\
         Bag Attributes\n    localKeyID: {key_id} \n    friendlyName: {FRIENDLY_NAME}\n\
         Key Attributes: <No Attributes>\n{encrypted}",
        cert = ensure_newline(&cert.pem()),
        ca = ensure_newline(ca_pem),
    );
    Ok(out)
}

fn ensure_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

/// PKCS#8 DER → `ENCRYPTED PRIVATE KEY` PEM, PBES2 with PBKDF2-HMAC-SHA1 (2048 iterations,
/// 8-byte salt) and DES-EDE3-CBC, as `openssl pkcs8 -topk8 -v2 des3 -v2prf hmacWithSHA1`.
fn encrypt_key(pkcs8_der: &[u8], password: &str, rng: &SystemRandom) -> anyhow::Result<String> {
    let mut salt = [0u8; 8];
    let mut iv = [0u8; 8];
    rng.fill(&mut salt)
        .and_then(|()| rng.fill(&mut iv))
        .map_err(|_| anyhow!("the system random generator failed"))?;
    let params = pbes2::Parameters {
        kdf: pbes2::Pbkdf2Params {
            salt: pbes2::Salt::new(salt).map_err(|e| anyhow!("PBKDF2 salt: {e}"))?,
            iteration_count: PBKDF2_ITERATIONS,
            key_length: None,
            prf: pbes2::Pbkdf2Prf::HmacWithSha1,
        }
        .into(),
        encryption: pbes2::EncryptionScheme::DesEde3Cbc { iv },
    };
    let ciphertext = params
        .encrypt(password, pkcs8_der)
        .map_err(|e| anyhow!("cannot encrypt the client key: {e}"))?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef {
        encryption_algorithm: params.into(),
        encrypted_data: pkcs8::der::asn1::OctetStringRef::new(&ciphertext)
            .map_err(|e| anyhow!("cannot encode the client key: {e}"))?,
    };
    let der = info
        .to_der()
        .map_err(|e| anyhow!("cannot encode the client key: {e}"))?;
    pkcs8::der::pem::encode_string("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF, &der)
        .map_err(|e| anyhow!("cannot encode the client key: {e}"))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, quoted otherwise.
fn toml_key(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        s.to_owned()
    } else {
        toml_string(s)
    }
}

fn config_text(dir: &Path, listen: SocketAddr, user: &str, pbm_id: &str) -> anyhow::Result<String> {
    let file = |name: &str| -> anyhow::Result<String> {
        let p = dir.join(name);
        p.to_str()
            .map(toml_string)
            .ok_or_else(|| anyhow!("{} is not UTF-8", p.display()))
    };
    Ok(format!(
        "# Written by `passbyme emulator`: points the passbyme command and the PAM module at the\n\
         # emulator listening on {listen}. Not for production.\n\
         [service]\n\
         address = {address}\n\
         credentials = {credentials}\n\
         password_file = {password}\n\
         ca_bundle = {ca}\n\
         \n\
         [limits]\n\
         # Push-fatigue state for logins against this emulator (not /run/passbyme).\n\
         state_dir = {limits}\n\
         \n\
         [users]\n\
         # Unix user = PassBy[ME] ID (or a list of IDs)\n\
         {user_key} = {id}\n",
        address = toml_string(&listen.to_string()),
        credentials = file("client.pem")?,
        password = file("client.password")?,
        ca = file("ca.pem")?,
        limits = file("limits")?,
        user_key = toml_key(user),
        id = toml_string(pbm_id),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "passbyme-emu-test-{tag}-{}-{}",
            std::process::id(),
            super::super::random_alnum(&SystemRandom::new(), 6).unwrap()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn state_dir_is_made_then_reused() {
        let dir = tempdir("state");
        let addr: SocketAddr = "127.0.0.1:4443".parse().unwrap();
        let a = StateDir::prepare(&dir, addr).unwrap();
        let mode = |n: &str| fs::metadata(dir.join(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        for secret in [
            "ca.key",
            "server.key",
            "client.pem",
            "client.password",
            "passbyme.toml",
        ] {
            assert_eq!(mode(secret), 0o600, "{secret}");
        }
        let password = fs::read_to_string(dir.join("client.password")).unwrap();
        assert_eq!(password.len(), 21);
        assert!(password.ends_with('\n'));
        let client = fs::read_to_string(dir.join("client.pem")).unwrap();
        assert!(client.starts_with("Bag Attributes\n    localKeyID: "));
        assert!(client.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        assert_eq!(CertificateDer::pem_slice_iter(client.as_bytes()).count(), 2);
        let toml = fs::read_to_string(dir.join("passbyme.toml")).unwrap();
        assert!(toml.contains("address = \"127.0.0.1:4443\"\n"), "{toml}");
        assert!(toml.contains(&format!(
            "{}\"",
            dir.join("ca.pem").canonicalize().unwrap().display()
        )));

        // A restart keeps everything; a new port rewrites only the configuration.
        let b = StateDir::prepare(&dir, addr).unwrap();
        assert_eq!(a.ca_fingerprint, b.ca_fingerprint);
        assert_eq!(a.server_der, b.server_der);
        assert_eq!(fs::read_to_string(dir.join("client.pem")).unwrap(), client);
        let c = StateDir::prepare(&dir, "[::1]:5555".parse().unwrap()).unwrap();
        assert_eq!(a.server_der, c.server_der);
        let toml = fs::read_to_string(dir.join("passbyme.toml")).unwrap();
        assert!(toml.contains("address = \"[::1]:5555\"\n"), "{toml}");
        // Another loopback IP needs a certificate that names it.
        let d = StateDir::prepare(&dir, "127.0.10.1:5555".parse().unwrap()).unwrap();
        assert_ne!(a.server_der, d.server_der);
        assert!(covers_ip(&d.server_der, "127.0.10.1".parse().unwrap()));
        assert!(covers_ip(&d.server_der, "::1".parse().unwrap()));
        assert_eq!(a.ca_fingerprint, d.ca_fingerprint);

        // A lost CA key is an error, not a silent new CA.
        fs::remove_file(dir.join("ca.key")).unwrap();
        assert!(StateDir::prepare(&dir, addr).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_client_key_decrypts_with_the_password() {
        let rng = SystemRandom::new();
        let key = KeyPair::generate().unwrap();
        let pem = encrypt_key(&key.serialize_der(), "s3cret", &rng).unwrap();
        let (label, doc) = pkcs8::der::SecretDocument::from_pem(&pem).unwrap();
        assert_eq!(label, "ENCRYPTED PRIVATE KEY");
        let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(doc.as_bytes()).unwrap();
        let plain = info.decrypt("s3cret").unwrap();
        assert_eq!(plain.as_bytes(), key.serialize_der().as_slice());
        assert!(info.decrypt("wrong").is_err());
    }

    #[test]
    fn toml_quoting() {
        assert_eq!(toml_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(toml_key("alice_1-x"), "alice_1-x");
        assert_eq!(toml_key("a.b"), "\"a.b\"");
    }
}
