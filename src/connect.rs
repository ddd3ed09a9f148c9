//! From a validated [`Config`] to a ready [`Client`]: reads the files the `[service]` table
//! names (credentials, key, password file, CA bundle, proxy password file) with the rules of `crate::files`,
//! decrypts the key and builds the client. Nothing is sent: the first request connects.

use zeroize::Zeroizing;

use crate::client::{self, Client, Credentials};
use crate::config::{Config, Password};
use crate::files::{read_checked, FileError, Secrecy};

/// The largest password file read.
pub(crate) const MAX_PASSWORD_FILE: u64 = 4096;

/// Reads the credentials (with the file rules) and builds the client the module uses.
pub fn connect(config: &Config) -> Result<Client, FileError> {
    connect_with_credentials(config).map(|(client, _)| client)
}

/// Like [`connect`], also returning the loaded credentials (for `passbyme check`).
pub fn connect_with_credentials(config: &Config) -> Result<(Client, Credentials), FileError> {
    let s = &config.service;
    let password = match &s.password {
        Password::None => None,
        Password::Inline(p) => Some(p.clone()),
        Password::File(f) => Some(read_password(f)?),
    };
    let proxy_password = match &s.proxy_password_file {
        Some(f) => Some(read_password(f)?.to_string()),
        None => None,
    };
    let cert_pem = read_checked(&s.credentials, Secrecy::Secret, client::MAX_PEM_FILE)?;
    let key_pem = match &s.key {
        Some(k) => read_checked(k, Secrecy::Secret, client::MAX_PEM_FILE)?,
        None => cert_pem.clone(),
    };
    let key_path = s.key.as_deref().unwrap_or(&s.credentials);
    let creds = Credentials::from_pem(&cert_pem, &key_pem, password.as_deref().map(|p| p.as_str()))
        .map_err(|e| FileError::new(key_path, e.to_string()))?;
    let mut builder = Client::builder(creds.clone())
        .address(s.address.clone())
        .proxy(s.proxy.clone())
        .proxy_password(proxy_password)
        .connect_timeout(s.connect_timeout)
        .request_timeout(s.request_timeout);
    if let Some(ca) = &s.ca_bundle {
        let pem = read_checked(ca, Secrecy::Public, client::MAX_PEM_FILE)?;
        let roots = client::parse_certificates(&pem, "CA bundle")
            .map_err(|e| FileError::new(ca, e.to_string()))?;
        builder = builder.ca_certificates(roots);
    }
    let client = builder
        .build()
        .map_err(|e| FileError::new(&config.path, e.to_string()))?;
    Ok((client, creds))
}

/// A secret password file: UTF-8 text, a trailing `\n`, `\r\n` or `\r` stripped.
fn read_password(path: &std::path::Path) -> Result<Zeroizing<String>, FileError> {
    let bytes = read_checked(path, Secrecy::Secret, MAX_PASSWORD_FILE)?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| FileError::new(path, "is not UTF-8 text"))?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(Zeroizing::new(text.to_owned()))
}
