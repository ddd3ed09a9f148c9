//! What the report's unit tests share: the time they run at, a decision line, the files
//! in tests/data/report.

use std::path::Path;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn now() -> OffsetDateTime {
    OffsetDateTime::parse("2026-11-03T12:00:00Z", &Rfc3339).unwrap()
}

pub const OK: &str = "pam_passbyme(sshd:auth): decision=approved user=alice ids=a@x service=sshd rhost=192.0.2.1 tty=ssh duration=2.5s message=m1 settled=final";

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/report")
            .join(name),
    )
    .unwrap()
}
