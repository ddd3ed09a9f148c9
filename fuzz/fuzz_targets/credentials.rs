//! `Credentials::from_pem`: any certificate text, key text and password load or fail with
//! an error, never a panic (PEM scanning, the ENCRYPTED PRIVATE KEY block, PKCS#8/PBES2
//! decryption, the key-matches-certificate check). Input: password length (1 byte), the
//! password, then the PEM text used for both the chain and the key, unless a 0xff byte
//! separates a chain part from a key part.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_passbyme::client::Credentials;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 32).min(rest.len());
    let (password, pem) = rest.split_at(n);
    let password = std::str::from_utf8(password).ok();
    let (cert, key) = match pem.iter().position(|&b| b == 0xff) {
        Some(i) => (&pem[..i], &pem[i + 1..]),
        None => (pem, pem),
    };
    if let Ok(c) = Credentials::from_pem(cert, key, password) {
        assert!(!c.chain().is_empty());
        let _ = c.not_after();
        let _ = c.subject();
    }
});
