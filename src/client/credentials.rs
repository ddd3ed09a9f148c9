//! The account's credentials: a certificate chain and its private key, in the vendor's PEM
//! shape (`Bag Attributes` text, certificates, an `ENCRYPTED PRIVATE KEY` PKCS#8 block), or
//! with an unencrypted PKCS#8, PKCS#1 or SEC1 key, in one file or two.

use std::path::Path;
use std::sync::Arc;

use pkcs8::der::pem::LineEnding;
use pkcs8::der::{Decode, SecretDocument};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Error;

/// The largest credentials or CA file read (vendor files are ~7 KiB, the trust store ~16 KiB).
pub const MAX_PEM_FILE: u64 = 1024 * 1024;

/// The vendor trust store (seven CA certificates), compiled in as the default CA bundle.
pub const VENDOR_TRUST_STORE: &str = include_str!("truststore.pem");

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// A loaded, decrypted, checked client identity.
#[derive(Clone)]
pub struct Credentials {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("certificates", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Loads one PEM file holding the chain and the key (the vendor's shape).
    pub fn from_pem_file(path: &Path, password: Option<&str>) -> Result<Credentials, Error> {
        let pem = read_pem_file(path)?;
        Credentials::from_pem(&pem, &pem, password)
    }

    /// Loads the chain from `cert` and the key from `key` (may be the same file).
    pub fn from_files(
        cert: &Path,
        key: &Path,
        password: Option<&str>,
    ) -> Result<Credentials, Error> {
        let cert_pem = read_pem_file(cert)?;
        let key_pem = if key == cert {
            cert_pem.clone()
        } else {
            read_pem_file(key)?
        };
        Credentials::from_pem(&cert_pem, &key_pem, password)
    }

    /// Loads from PEM text already in memory: the chain from `cert_pem`, the key from
    /// `key_pem` (pass the same text twice for a combined file).
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        password: Option<&str>,
    ) -> Result<Credentials, Error> {
        let chain = parse_certificates(cert_pem, "credentials")?;
        let key = parse_key(key_pem, password)?;
        let signer = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| Error::pem("credentials", format!("unusable private key: {e}")))?;
        match CertifiedKey::new(chain.clone(), signer).keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(Error::KeyMismatch)
            }
            Err(e) => {
                return Err(Error::pem(
                    "credentials",
                    format!("cannot check the key: {e}"),
                ))
            }
        }
        Ok(Credentials {
            chain,
            key: Arc::new(key),
        })
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// When the client certificate expires: after that the service refuses every login.
    pub fn not_after(&self) -> Result<OffsetDateTime, Error> {
        let leaf = x509_cert::Certificate::from_der(&self.chain[0])
            .map_err(|e| Error::pem("credentials", format!("certificate: {e}")))?;
        let secs = leaf
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
            .as_secs();
        OffsetDateTime::from_unix_timestamp(secs as i64)
            .map_err(|e| Error::pem("credentials", format!("certificate expiry: {e}")))
    }

    /// The client certificate's subject, as text (e.g. `CN=…,O=…`).
    pub fn subject(&self) -> String {
        x509_cert::Certificate::from_der(&self.chain[0])
            .map(|c| c.tbs_certificate().subject().to_string())
            .unwrap_or_else(|_| "?".into())
    }

    /// The key as unencrypted PEM, for ureq, wiped when dropped.
    pub(crate) fn key_pem(&self) -> Result<Zeroizing<String>, Error> {
        let (label, der): (&str, &[u8]) = match &*self.key {
            PrivateKeyDer::Pkcs8(k) => ("PRIVATE KEY", k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => ("RSA PRIVATE KEY", k.secret_pkcs1_der()),
            PrivateKeyDer::Sec1(k) => ("EC PRIVATE KEY", k.secret_sec1_der()),
            _ => return Err(Error::pem("credentials", "unsupported key type")),
        };
        pkcs8::der::pem::encode_string(label, LineEnding::LF, der)
            .map(Zeroizing::new)
            .map_err(|e| Error::pem("credentials", format!("re-encoding the key: {e}")))
    }
}

/// Reads a PEM file with a size cap; a missing or unreadable file names its path.
pub fn read_pem_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    use std::io::Read;
    let file_err = |source| Error::File {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(file_err)?;
    let mut buf = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(file_err)?;
    if buf.len() as u64 > MAX_PEM_FILE {
        return Err(Error::pem(
            "credentials",
            format!("{} is larger than {MAX_PEM_FILE} bytes", path.display()),
        ));
    }
    Ok(Zeroizing::new(buf))
}

/// Every certificate in a PEM text, skipping `Bag Attributes` and other text.
pub fn parse_certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem) {
        let cert = item.map_err(|e| Error::pem(what, format!("unparsable PEM: {e}")))?;
        x509_cert::Certificate::from_der(&cert)
            .map_err(|e| Error::pem(what, format!("certificate {}: {e}", certs.len() + 1)))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(Error::pem(what, "no CERTIFICATE block"));
    }
    Ok(certs)
}

fn parse_key(pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, Error> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| Error::pem("credentials", "the key file is not text (PEM expected)"))?;
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::pem(
            "credentials",
            "legacy OpenSSL-encrypted key (Proc-Type: 4,ENCRYPTED) is not supported; convert it \
             with: openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out new.pem",
        ));
    }
    if let Some(start) = text.find(ENCRYPTED_BEGIN) {
        let end = text[start..]
            .find(ENCRYPTED_END)
            .map(|e| start + e + ENCRYPTED_END.len())
            .ok_or_else(|| Error::pem("credentials", "unterminated ENCRYPTED PRIVATE KEY block"))?;
        let password = password.ok_or_else(|| {
            Error::pem(
                "credentials",
                "the private key is encrypted and no password is configured",
            )
        })?;
        let (_, doc) = SecretDocument::from_pem(&text[start..end])
            .map_err(|e| Error::pem("credentials", format!("ENCRYPTED PRIVATE KEY block: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes())
            .map_err(|e| Error::pem("credentials", format!("ENCRYPTED PRIVATE KEY block: {e}")))?;
        let plain = info.decrypt(password).map_err(|e| match e {
            pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm {
                ..
            }) => Error::pem("credentials", format!("unsupported key encryption: {e}")),
            _ => Error::WrongPassword,
        })?;
        // A wrong password passes the CBC padding check about once in 256 tries: the
        // decrypted bytes must still be a PKCS#8 structure.
        pkcs8::PrivateKeyInfoRef::try_from(plain.as_bytes()).map_err(|_| Error::WrongPassword)?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => Error::pem(
            "credentials",
            "no PRIVATE KEY block (PKCS#8, PKCS#1 or SEC1)",
        ),
        other => Error::pem("credentials", format!("private key: {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vendor() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/vendor-test-auth.pem"
        ))
        .unwrap()
    }

    #[test]
    fn vendor_file_loads_with_its_password() {
        let c = Credentials::from_pem(&vendor(), &vendor(), Some("123456")).unwrap();
        assert!(c.chain().len() >= 2, "chain of {}", c.chain().len());
        assert_eq!(c.not_after().unwrap().year(), 2018);
        assert!(c
            .key_pem()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn vendor_file_wrong_or_missing_password() {
        let err = Credentials::from_pem(&vendor(), &vendor(), Some("654321")).unwrap_err();
        assert!(matches!(err, Error::WrongPassword), "{err:?}");
        let err = Credentials::from_pem(&vendor(), &vendor(), None).unwrap_err();
        assert!(
            err.to_string().contains("no password is configured"),
            "{err}"
        );
    }

    #[test]
    fn trust_store_has_seven_certificates() {
        assert_eq!(
            parse_certificates(VENDOR_TRUST_STORE.as_bytes(), "CA bundle")
                .unwrap()
                .len(),
            7
        );
    }

    #[test]
    fn garbage_and_legacy_keys_are_named() {
        let err = parse_certificates(b"hello", "credentials").unwrap_err();
        assert_eq!(err.to_string(), "credentials: no CERTIFICATE block");
        let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n";
        assert!(parse_key(legacy, Some("x"))
            .unwrap_err()
            .to_string()
            .contains("openssl pkcs8 -topk8"));
        let err = parse_key(b"nothing", None).unwrap_err();
        assert!(err.to_string().contains("no PRIVATE KEY block"), "{err}");
    }
}
