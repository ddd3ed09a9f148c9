//! Helpers of the limiter's unit tests: a store in a fresh directory, and logins that
//! report a refusal as its reason.

use std::fs;
use std::time::Duration;

use super::{Begin, Finish, Limits, Origin, Store, Ticket, Wait};

pub(super) fn store(tag: &str, f: impl FnOnce(&mut Limits)) -> Store {
    let dir = std::env::temp_dir().join(format!("pbm-lim-{}-{tag}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let mut l = Limits {
        state_dir: dir,
        ..Limits::default()
    };
    f(&mut l);
    Store::open(&l).unwrap()
}

pub(super) fn w() -> Wait<'static> {
    Wait::bounded(Duration::from_secs(5))
}

pub(super) fn from(rhost: Option<&'static str>) -> Origin<'static> {
    Origin {
        rhost,
        tty: Some("pts/9"),
        service: "sshd",
        target: None,
    }
}

pub(super) fn begin(s: &Store, user: &str, o: Origin<'_>) -> Result<Ticket, String> {
    match s
        .begin(user, &o, Duration::from_secs(60), &mut w())
        .map_err(|e| e.to_string())?
    {
        Begin::Push { ticket, .. } => Ok(ticket),
        Begin::Grace => Err("grace".into()),
        Begin::Refused(why) => Err(why.reason),
    }
}

pub(super) fn push(s: &Store, user: &str) -> Result<Ticket, String> {
    begin(s, user, from(Some("192.0.2.1")))
}

pub(super) fn end(s: &Store, t: &Ticket, how: Finish) {
    s.finish(t, how, &mut w()).unwrap();
}
