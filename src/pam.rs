//! The PAM boundary: the only place that talks to libpam. The hook gathers PAM items,
//! turns every way a login can end (bad arguments, no user name, a bad configuration, a
//! repeated call, or [`crate::login::run`]'s outcome) into one [`Outcome`], writes its one
//! decision line ([`login::record`]) and maps it to a PAM code in one `match`
//! ([`pam_code`]). Every hook body runs under `catch_unwind`: a panic is logged and becomes
//! a failure, never an abort of sshd or sudo.
//!
//! pamsm 0.5's own `conv()` dereferences a NULL response and leaks the responses, and it
//! has no PAM_TTY getter: both are written here against libpam directly.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::Instant;

use pamsm::{pam_module, LogLvl, Pam, PamData, PamError, PamFlags, PamLibExt, PamServiceModule};

use crate::args::Args;
use crate::client::sanitize;
use crate::config::{Config, Mode, Unmapped};
use crate::log::{self, Level};
use crate::login::{self, Abandon, ConversationError, Ui};
use crate::messages;
use crate::os::{SignalGuard, System};
use crate::outcome::{Outcome, Report, Request};

/// The key under which a transaction's decision is kept on the handle.
const DATA_KEY: &str = "pam_passbyme_decision";

struct PassByMe;

impl PamServiceModule for PassByMe {
    fn authenticate(pamh: Pam, flags: PamFlags, args: Vec<String>) -> PamError {
        // Audit mode as far as it is known: from the arguments at first, then from the
        // configuration. A panic in audit mode steps aside too.
        let audit = Cell::new(Args::raw_audit(&args));
        guarded(&pamh, &audit, || authenticate(&pamh, flags, &args, &audit))
    }

    fn setcred(_: Pam, _: PamFlags, _: Vec<String>) -> PamError {
        // Nothing to set; success keeps sudo and sshd going after a good login.
        PamError::SUCCESS
    }
}

pam_module!(PassByMe);

/// Runs a hook body; a panic becomes PAM_AUTH_ERR with a log line (and nothing on stderr),
/// or PAM_IGNORE when `audit` says the module runs in audit mode.
fn guarded(pamh: &Pam, audit: &Cell<bool>, body: impl FnOnce() -> PamError) -> PamError {
    static HOOK: Once = Once::new();
    // This std is private to the module's .so: its panic hook only sees our panics.
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log::direct(Level::Crit, &log::panic_line(&info.to_string()));
        }))
    });
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(_) if audit.get() => {
            write(
                pamh,
                Level::Crit,
                "decision=would-deny mode=audit enforce=error error=\"internal error (panic); ignored in audit mode\"",
            );
            PamError::IGNORE
        }
        Err(_) => {
            write(
                pamh,
                Level::Crit,
                "decision=error error=\"internal error (panic); denied\"",
            );
            PamError::AUTH_ERR
        }
    }
}

/// A final decision of this transaction, kept on the handle.
#[derive(Clone)]
struct Decision {
    user: String,
    outcome: Outcome,
}

impl PamData for Decision {}

fn authenticate(pamh: &Pam, _flags: PamFlags, args: &[String], audit: &Cell<bool>) -> PamError {
    #[cfg(feature = "test-panic")]
    if args.iter().any(|a| a == "test_panic") {
        panic!("forced by test_panic"); // ok: test-only feature, proves catch_unwind
    }
    let mut req = Request {
        user: String::new(),
        service: item_string(pamh.get_service()).unwrap_or_else(|| "?".into()),
        rhost: item_string(pamh.get_rhost()),
        tty: tty(pamh),
        target: None,
    };
    let mut debug = false;
    let prepared = prepare(pamh, args, &mut req, &mut debug, audit);
    // Signals are caught only while the login flow runs (not while the application asks
    // for the user name), and until its line is written.
    let guard = prepared.is_ok().then(SignalGuard::install);
    // Found before the login opens any connection of its own.
    let peer = req.rhost.as_deref().and_then(crate::os::PeerWatch::find);
    let mut ui = PamUi {
        pamh,
        debug,
        service: req.service.clone(),
        guard: guard.as_ref(),
        peer,
    };
    if let Some(w) = &ui.peer {
        let line = format!(
            "watching the client's connection from {} while waiting",
            w.peer
        );
        ui.log(Level::Debug, &line);
    }
    let (report, config) = match prepared {
        Ok(config) => {
            let report = login::run(&config, &mut req, &System, &mut login::Connector, &mut ui);
            (report, Some(config))
        }
        Err(early) => (*early, None),
    };
    login::record(&mut ui, &req, &report);
    // After the decision line: a conversation that blocks or a host that dies while it
    // shows the line cannot keep the decision out of the log.
    if let Some(config) = &config {
        tell_outcome(&mut ui, config, &req, &report.outcome);
    }
    let code = pam_code(&report.outcome);
    if report.outcome.is_final() {
        let decision = Decision {
            user: req.user,
            outcome: report.outcome,
        };
        // SAFETY: DATA_KEY is only ever stored with the type `Decision`.
        let _ = unsafe { pamh.send_data(DATA_KEY, decision) };
    }
    drop(guard); // restores the host's handlers; re-raises a caught signal
    code
}

/// [`prepare_enforced`], and in audit mode (`audit` is set from it) a login that ends
/// before the flow is an audit outcome: the `mode=` argument says so, or without one the
/// configuration file (even one that does not load: [`crate::config::declares_audit`]),
/// or arguments that do not parse but hold `mode=audit`.
fn prepare(
    pamh: &Pam,
    args: &[String],
    req: &mut Request,
    debug: &mut bool,
    audit: &Cell<bool>,
) -> Result<Config, Box<Report>> {
    match prepare_enforced(pamh, args, req, debug) {
        Ok(config) => {
            audit.set(config.policy.mode == Mode::Audit);
            Ok(config)
        }
        Err(mut report) => {
            let audited = match Args::parse(args) {
                Ok(a) => match a.mode {
                    Some(m) => m == Mode::Audit,
                    None => crate::config::declares_audit(&a.config_path()),
                },
                Err(_) => Args::raw_audit(args),
            };
            if audited {
                audit.set(true);
                report.outcome = report.outcome.audited();
            }
            Err(report)
        }
    }
}

/// Everything before the login flow: the arguments, the user name, a decision already
/// taken in this transaction, the configuration. `Err` is the report of a login that ends
/// here. `debug` is set once the arguments ask for it.
fn prepare_enforced(
    pamh: &Pam,
    args: &[String],
    req: &mut Request,
    debug: &mut bool,
) -> Result<Config, Box<Report>> {
    let start = Instant::now();
    let early = |outcome| Err(Box::new(Report::early(outcome, start)));
    let args = match Args::parse(args) {
        Ok(a) => a,
        Err(e) => return early(Outcome::Config(e)),
    };
    *debug = args.debug;
    req.user = match pamh.get_user(None) {
        // Possibly a password typed at the user prompt: never logged as it is.
        Ok(Some(u)) => match u.to_str() {
            Ok(u) if !u.is_empty() => u.to_owned(),
            _ => return early(Outcome::BadUserName(u.to_bytes().len())),
        },
        Ok(None) => return early(Outcome::BadUserName(0)),
        Err(e) => {
            return early(Outcome::NoUser {
                again: e == PamError::CONV_AGAIN,
                error: format!("{e:?}"),
            })
        }
    };
    if args.invoker {
        // `su`: the push goes to whoever runs the program, by its real uid (PAM_RUSER is
        // whatever the application says); PAM_USER is the user to become.
        let uid = crate::os::uid();
        if let Err(e) = args.check_invoker(uid) {
            return early(Outcome::Config(e));
        }
        match crate::os::user_name_of(uid) {
            Ok(Some(name)) => req.target = Some(std::mem::replace(&mut req.user, name)),
            Ok(None) => {
                return early(Outcome::Error(format!(
                    "user=invoker: uid {uid} is unknown to the user database"
                )))
            }
            Err(e) => return early(Outcome::Error(format!("user=invoker: uid {uid}: {e}"))),
        }
    }
    // One push per PAM transaction: a second call for the same user gets the same answer.
    // SAFETY: DATA_KEY is only ever stored with the type `Decision`.
    if let Ok(prev) = unsafe { pamh.retrieve_data::<Decision>(DATA_KEY) } {
        if prev.user == req.user {
            return early(Outcome::Repeat(Box::new(prev.outcome)));
        }
    }
    let mut config = match Config::load(&args.config_path()) {
        Ok(c) => c,
        Err(e) => {
            let error = format!("config: {e}");
            let report = login::config_failed(&System, &req.user, args.debug, error, start);
            return Err(Box::new(report));
        }
    };
    args.apply(&mut config);
    if args.debug {
        write(pamh, Level::Debug, &log::settings(&config.describe()));
    }
    Ok(config)
}

/// Tells the person how the login ended, in the configured language, before the hook
/// returns: as PAM_ERROR_MSG, which sudo shows at once and sshd sends to the client with a
/// refusal or PAM_AUTHINFO_UNAVAIL (it holds messages back until the next prompt or the end
/// of the conversation: measured in tests/e2e).
/// Shown under PAM_SILENT too (sudo always sets it): the person needs to know why. A
/// conversation that fails here changes nothing: the decision is taken.
fn tell_outcome(ui: &mut PamUi<'_>, config: &Config, req: &Request, outcome: &Outcome) {
    if let Some(line) = messages::tell(config, req, outcome, &System) {
        // sshd passes it on as a keyboard-interactive instruction, which the ssh client
        // prints through its log filter (VIS_SAFE|VIS_OCTAL: every non-ASCII byte escaped,
        // measured in tests/e2e): folded there, shown as written everywhere else. sshd is
        // known by its PAM service name or by the PAM_TTY it sets during authentication.
        let line = if req.service == "sshd" || req.tty.as_deref() == Some("ssh") {
            messages::fold_ascii(config.messages.language, &line)
        } else {
            line
        };
        if let Err(e) = converse(ui.pamh, PAM_ERROR_MSG, &line) {
            ui.log(
                Level::Debug,
                &log::event("outcome line not shown", &e.to_string()),
            );
        }
    }
}

/// The one translation from outcome to PAM code.
fn pam_code(outcome: &Outcome) -> PamError {
    match outcome {
        Outcome::Approved | Outcome::FailOpen(_) | Outcome::Grace => PamError::SUCCESS,
        Outcome::Repeat(prev) => pam_code(prev),
        Outcome::Unmapped(Unmapped::Deny)
        | Outcome::UnknownUser(Unmapped::Deny)
        | Outcome::BadUserName(_) => PamError::USER_UNKNOWN,
        Outcome::Unmapped(Unmapped::Ignore)
        | Outcome::UnknownUser(Unmapped::Ignore)
        | Outcome::Skipped(_) => PamError::IGNORE,
        // Audit mode steps aside whatever enforce mode would have done: the stack runs as
        // without the module. Never SUCCESS: audit must not become a way in.
        Outcome::Audit(_) => PamError::IGNORE,
        Outcome::NoUser { again: true, .. } => PamError::INCOMPLETE,
        Outcome::Unreachable(_) => PamError::AUTHINFO_UNAVAIL,
        Outcome::ConversationFailed(_) => PamError::CONV_ERR,
        Outcome::Config(_) => PamError::SERVICE_ERR,
        // A definite answer from the phone (or its silence, or the limits): trying again
        // only sends another push. PAM_MAXTRIES makes sshd end the connection and sudo
        // stop asking, instead of starting over with a new push.
        Outcome::Refused(_) | Outcome::TimedOut | Outcome::Limited(_) => PamError::MAXTRIES,
        Outcome::Interrupted(_)
        | Outcome::ClientGone(_)
        | Outcome::LocalDenied
        | Outcome::Error(_)
        | Outcome::NoUser { again: false, .. } => PamError::AUTH_ERR,
    }
}

fn item_string(item: Result<Option<&CStr>, PamError>) -> Option<String> {
    match item {
        Ok(Some(s)) if !s.to_bytes().is_empty() => Some(log::clean_bytes(s.to_bytes(), 256)),
        _ => None,
    }
}

/// Writes one line through pam_syslog.
fn write(pamh: &Pam, level: Level, line: &str) {
    let lvl = match level {
        Level::Crit => LogLvl::CRIT,
        Level::Alert => LogLvl::ALERT,
        Level::Err => LogLvl::ERR,
        Level::Warning => LogLvl::WARNING,
        Level::Notice => LogLvl::NOTICE,
        Level::Info => LogLvl::INFO,
        Level::Debug => LogLvl::DEBUG,
    };
    // A NUL cannot reach here (sanitised), but never let logging fail a login.
    let _ = pamh.syslog(lvl, &line.replace('\0', "?"));
}

struct PamUi<'a> {
    pamh: &'a Pam,
    debug: bool,
    service: String,
    guard: Option<&'a SignalGuard>,
    /// The client's connection, when the process holds it (sshd).
    peer: Option<crate::os::PeerWatch>,
}

impl Ui for PamUi<'_> {
    fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        // The hint carries the verification code, which the person needs to check the push:
        // it is essential, so it is shown even under PAM_SILENT (sudo always sets that flag);
        // `prompt=none` is how an administrator hides it.
        converse(self.pamh, PAM_TEXT_INFO, text).map(|_| ())
    }

    fn prompt(&mut self, text: &str, abandon: &Abandon<'_>) -> Result<String, ConversationError> {
        let pamh = self.pamh;
        let ask = || converse(pamh, PAM_PROMPT_ECHO_ON, text);
        let Some(guard) = self.guard else {
            return ask().map(Option::unwrap_or_default);
        };
        let service = self.service.clone();
        let abandon_and_log = move |sig: i32| {
            // The process ends right after this (the host's own disposition of the signal),
            // on a helper thread: pam_syslog's handle is not ours to use there.
            log::direct(Level::Notice, &log::abandoned_line(&service, &abandon(sig)));
        };
        guard
            .during(ask, &abandon_and_log)
            .map(Option::unwrap_or_default)
    }

    fn interrupted(&mut self) -> Option<i32> {
        self.guard.and_then(SignalGuard::interrupted)
    }

    fn client_gone(&mut self) -> Option<String> {
        let watch = self.peer.as_ref()?;
        watch.gone().then(|| watch.peer.clone())
    }

    fn log(&mut self, level: Level, line: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        write(self.pamh, level, line);
    }
}

// ---------------------------------------------------------------------------------------
// libpam, directly (the declarations are in crate::ffi)

use crate::ffi::{
    pam_get_item, PamConv, PamMessage, PamResponse, PAM_CONV, PAM_ERROR_MSG, PAM_PROMPT_ECHO_ON,
    PAM_SUCCESS, PAM_TEXT_INFO, PAM_TTY,
};

// `raw` relies on pamsm's `Pam` being `#[repr(transparent)]` over its handle pointer, a
// private field (pamsm 0.5.5, pinned exactly in Cargo.toml so that an upgrade is a reviewed
// change). The compiler checks what it can of that: the size and alignment of one pointer.
const _: () = {
    assert!(std::mem::size_of::<Pam>() == std::mem::size_of::<*const c_void>());
    assert!(std::mem::align_of::<Pam>() == std::mem::align_of::<*const c_void>());
};

fn raw(pamh: &Pam) -> *const c_void {
    // SAFETY: `Pam` is #[repr(transparent)] over the handle pointer.
    unsafe { *(pamh as *const Pam as *const *const c_void) }
}

fn tty(pamh: &Pam) -> Option<String> {
    let mut item: *const c_void = std::ptr::null();
    // SAFETY: valid handle and out-pointer; PAM_TTY is a NUL-terminated string owned by PAM.
    let rc = unsafe { pam_get_item(raw(pamh), PAM_TTY, &mut item) };
    if rc != PAM_SUCCESS || item.is_null() {
        return None;
    }
    let s = unsafe { CStr::from_ptr(item as *const c_char) };
    (!s.to_bytes().is_empty()).then(|| sanitize::clean_bytes(s.to_bytes(), 64))
}

/// One message through the application's conversation function. NULL responses are
/// handled; responses are freed (the application allocated them for us to free).
fn converse(pamh: &Pam, style: c_int, text: &str) -> Result<Option<String>, ConversationError> {
    let text = CString::new(text.replace('\0', "?"))
        .map_err(|e| ConversationError::Other(e.to_string()))?;
    let mut item: *const c_void = std::ptr::null();
    // SAFETY: valid handle and out-pointer.
    let rc = unsafe { pam_get_item(raw(pamh), PAM_CONV, &mut item) };
    if rc != PAM_SUCCESS || item.is_null() {
        return Err(ConversationError::Missing);
    }
    // SAFETY: PAM_CONV points at the application's struct pam_conv.
    let conv = unsafe { &*(item as *const PamConv) };
    let Some(func) = conv.conv else {
        return Err(ConversationError::Missing);
    };
    let msg = PamMessage {
        msg_style: style,
        msg: text.as_ptr(),
    };
    let mut msgs: [*const PamMessage; 1] = [&msg];
    let mut resp: *mut PamResponse = std::ptr::null_mut();
    // SAFETY: one valid message; resp receives an array the application allocated.
    let rc = unsafe { func(1, msgs.as_mut_ptr(), &mut resp, conv.appdata_ptr) };
    let mut answer = None;
    if !resp.is_null() {
        // SAFETY: resp points at one pam_response (num_msg = 1); its string, if any, is
        // NUL-terminated and malloc'd, as is the array; both are ours to free.
        unsafe {
            let r = &mut *resp;
            if !r.resp.is_null() {
                let len = libc::strlen(r.resp);
                answer = Some(sanitize::clean_bytes(
                    CStr::from_ptr(r.resp).to_bytes(),
                    256,
                ));
                libc::explicit_bzero(r.resp.cast(), len);
                libc::free(r.resp.cast());
            }
            libc::free(resp.cast());
        }
    }
    if rc != PAM_SUCCESS {
        return Err(ConversationError::Code(rc));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Status;
    use crate::outcome::Audit;

    #[test]
    fn one_match_maps_every_outcome_to_its_code() {
        use Outcome as O;
        let cases = [
            (O::Approved, PamError::SUCCESS),
            (O::Grace, PamError::SUCCESS),
            (O::FailOpen("x".into()), PamError::SUCCESS),
            (O::Refused(Status::Denied), PamError::MAXTRIES),
            (O::Refused(Status::NoDevice), PamError::MAXTRIES),
            (O::TimedOut, PamError::MAXTRIES),
            (
                O::Limited(crate::limiter::Refusal::other("x")),
                PamError::MAXTRIES,
            ),
            (O::Unmapped(Unmapped::Deny), PamError::USER_UNKNOWN),
            (O::UnknownUser(Unmapped::Deny), PamError::USER_UNKNOWN),
            (O::BadUserName(0), PamError::USER_UNKNOWN),
            (O::Unmapped(Unmapped::Ignore), PamError::IGNORE),
            (O::UnknownUser(Unmapped::Ignore), PamError::IGNORE),
            (O::Skipped("x".into()), PamError::IGNORE),
            (O::Unreachable("x".into()), PamError::AUTHINFO_UNAVAIL),
            (O::ConversationFailed("x".into()), PamError::CONV_ERR),
            (O::Config("x".into()), PamError::SERVICE_ERR),
            (O::Interrupted(15), PamError::AUTH_ERR),
            (O::LocalDenied, PamError::AUTH_ERR),
            (O::Error("x".into()), PamError::AUTH_ERR),
            (
                O::NoUser {
                    again: false,
                    error: "x".into(),
                },
                PamError::AUTH_ERR,
            ),
            (
                O::NoUser {
                    again: true,
                    error: "x".into(),
                },
                PamError::INCOMPLETE,
            ),
            (O::Repeat(Box::new(O::Approved)), PamError::SUCCESS),
            (O::Repeat(Box::new(O::TimedOut)), PamError::MAXTRIES),
            (O::Audit(Audit::Push), PamError::IGNORE),
            (O::Approved.audited(), PamError::IGNORE),
            (O::Grace.audited(), PamError::IGNORE),
            (O::FailOpen("x".into()).audited(), PamError::IGNORE),
            (O::Config("x".into()).audited(), PamError::IGNORE),
            (O::Unmapped(Unmapped::Deny).audited(), PamError::IGNORE),
            (O::Repeat(Box::new(O::Approved)).audited(), PamError::IGNORE),
        ];
        for (outcome, code) in cases {
            assert_eq!(pam_code(&outcome), code, "{outcome:?}");
            // Only these let the user in, and PAM agrees.
            assert_eq!(outcome.allows(), code == PamError::SUCCESS, "{outcome:?}");
        }
    }
}
