//! The PAM boundary: the only place that talks to libpam. The hooks gather PAM items, call
//! [`crate::login::run`], and map its outcome to a PAM code in one `match`. Every hook
//! body runs under `catch_unwind`: a panic is logged and becomes a failure, never an
//! abort of sshd or sudo.
//!
//! pamsm 0.5's own `conv()` dereferences a NULL response and leaks the responses, and it
//! has no PAM_TTY getter: both are written here against libpam directly.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use pamsm::{pam_module, LogLvl, Pam, PamData, PamError, PamFlags, PamLibExt, PamServiceModule};

use crate::args::Args;
use crate::client::sanitize;
use crate::config::{Config, Unmapped};
use crate::log::Level;
use crate::login::{self, Outcome, Request, Ui};
use crate::os::SignalGuard;

/// The key under which a transaction's decision is kept on the handle.
const DATA_KEY: &str = "pam_passbyme_decision";

struct PassByMe;

impl PamServiceModule for PassByMe {
    fn authenticate(pamh: Pam, flags: PamFlags, args: Vec<String>) -> PamError {
        guarded(&pamh, || authenticate(&pamh, flags, &args))
    }

    fn setcred(_: Pam, _: PamFlags, _: Vec<String>) -> PamError {
        // Nothing to set; success keeps sudo and sshd going after a good login.
        PamError::SUCCESS
    }
}

pam_module!(PassByMe);

/// Runs a hook body; a panic becomes PAM_AUTH_ERR with a log line (and nothing on stderr).
fn guarded(pamh: &Pam, body: impl FnOnce() -> PamError) -> PamError {
    static HOOK: Once = Once::new();
    // This std is private to the module's .so: its panic hook only sees our panics.
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let line = format!(
                "pam_passbyme: internal error (denied): {}",
                sanitize::clean(&info.to_string(), 400)
            );
            if let Ok(c) = CString::new(line) {
                // SAFETY: constant format string, one NUL-terminated argument.
                unsafe {
                    libc::syslog(
                        libc::LOG_AUTHPRIV | libc::LOG_CRIT,
                        c"%s".as_ptr(),
                        c.as_ptr(),
                    )
                };
            }
        }))
    });
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(_) => {
            let _ = pamh.syslog(
                LogLvl::CRIT,
                "decision=error error=\"internal error (panic); denied\"",
            );
            PamError::AUTH_ERR
        }
    }
}

#[derive(Clone)]
struct Decision {
    user: String,
    code: PamError,
}

impl PamData for Decision {}

fn authenticate(pamh: &Pam, _flags: PamFlags, args: &[String]) -> PamError {
    #[cfg(feature = "test-panic")]
    if args.iter().any(|a| a == "test_panic") {
        panic!("forced by test_panic"); // ok: test-only feature, proves catch_unwind
    }
    let args: Vec<&String> = args.iter().filter(|a| !a.starts_with("test_")).collect();
    let args = match Args::parse(&args) {
        Ok(a) => a,
        Err(e) => {
            log(
                pamh,
                Level::Alert,
                &format!("decision=error error=\"{e}; denied\""),
            );
            return PamError::SERVICE_ERR;
        }
    };
    let user = match pamh.get_user(None) {
        Ok(Some(u)) => match u.to_str() {
            Ok(u) if !u.is_empty() => u.to_owned(),
            _ => {
                // Possibly a password typed at the user prompt: never logged as it is.
                log(
                    pamh,
                    Level::Notice,
                    &format!(
                        "decision=unmapped user=(len={}) error=\"user name is empty or not UTF-8\"",
                        u.to_bytes().len()
                    ),
                );
                return PamError::USER_UNKNOWN;
            }
        },
        Ok(None) => return PamError::USER_UNKNOWN,
        Err(e) => {
            log(
                pamh,
                Level::Err,
                &format!("decision=error error=\"cannot get the user: {e:?}\""),
            );
            return if e == PamError::CONV_AGAIN {
                PamError::INCOMPLETE
            } else {
                PamError::AUTH_ERR
            };
        }
    };

    // One push per PAM transaction: a second call for the same user gets the same answer.
    // SAFETY: DATA_KEY is only ever stored with the type `Decision`.
    if let Ok(prev) = unsafe { pamh.retrieve_data::<Decision>(DATA_KEY) } {
        if prev.user == user {
            log(
                pamh,
                Level::Info,
                &format!(
                "decision=repeat user={} code={} (this transaction already decided; no new push)",
                sanitize::clean(&user, 64),
                prev.code as c_int
            ),
            );
            return prev.code;
        }
    }

    let path = args.config_path();
    let mut config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            log(
                pamh,
                Level::Alert,
                &format!(
                    "decision=error user={} error=\"config: {e}; denied\"",
                    user_for_log(&user, args.debug)
                ),
            );
            return PamError::SERVICE_ERR;
        }
    };
    args.apply(&mut config);
    if args.debug {
        let settings: Vec<String> = config
            .describe()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        log(
            pamh,
            Level::Debug,
            &format!("settings {}", settings.join(" ")),
        );
    }

    let req = Request {
        user: user.clone(),
        service: item_string(pamh.get_service()).unwrap_or_else(|| "?".into()),
        rhost: item_string(pamh.get_rhost()),
        tty: tty(pamh),
    };
    let guard = SignalGuard::install();
    let code = {
        let mut ui = PamUi {
            pamh,
            debug: args.debug,
            service: sanitize::clean(&req.service, 32),
            guard: &guard,
        };
        let report = login::run(&config, &req, &mut ui);
        (pam_code(&report.outcome), report.outcome.is_final())
    };
    let (code, is_final) = code;
    if is_final {
        // SAFETY: see retrieve_data above.
        let _ = unsafe { pamh.send_data(DATA_KEY, Decision { user, code }) };
    }
    drop(guard); // restores the host's handlers; re-raises a caught signal
    code
}

/// The one translation from outcome to PAM code.
fn pam_code(outcome: &Outcome) -> PamError {
    match outcome {
        Outcome::Approved | Outcome::FailOpen(_) | Outcome::Grace => PamError::SUCCESS,
        Outcome::Unmapped(Unmapped::Deny) | Outcome::UnknownUser(Unmapped::Deny) => {
            PamError::USER_UNKNOWN
        }
        Outcome::Unmapped(Unmapped::Ignore)
        | Outcome::UnknownUser(Unmapped::Ignore)
        | Outcome::Skipped(_) => PamError::IGNORE,
        Outcome::Unreachable(_) => PamError::AUTHINFO_UNAVAIL,
        Outcome::ConversationFailed(_) => PamError::CONV_ERR,
        Outcome::Config(_) => PamError::SERVICE_ERR,
        // A definite answer from the phone (or its silence, or the limits): trying again
        // only sends another push. PAM_MAXTRIES makes sshd end the connection and sudo
        // stop asking, instead of starting over with a new push.
        Outcome::Refused(_) | Outcome::TimedOut | Outcome::Limited(_) => PamError::MAXTRIES,
        Outcome::Interrupted(_) | Outcome::LocalDenied | Outcome::Error(_) => PamError::AUTH_ERR,
    }
}

/// A user name for a log line written before the login flow: as it is when the user
/// database knows it (or with `debug`), else redacted (it may be a mistyped password).
fn user_for_log(user: &str, debug: bool) -> String {
    if debug || matches!(crate::os::lookup_user(user), Ok(Some(_))) {
        sanitize::clean(user, 64)
    } else {
        login::redacted_user(user)
    }
}

fn item_string(item: Result<Option<&CStr>, PamError>) -> Option<String> {
    match item {
        Ok(Some(s)) if !s.to_bytes().is_empty() => Some(sanitize::clean_bytes(s.to_bytes(), 256)),
        _ => None,
    }
}

fn log(pamh: &Pam, level: Level, line: &str) {
    let lvl = match level {
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
    guard: &'a SignalGuard,
}

impl Ui for PamUi<'_> {
    fn info(&mut self, text: &str) -> Result<(), String> {
        // The hint carries the verification code, which the person needs to check the push:
        // it is essential, so it is shown even under PAM_SILENT (sudo always sets that flag);
        // `prompt=none` is how an administrator hides it.
        converse(self.pamh, PAM_TEXT_INFO, text).map(|_| ())
    }

    fn prompt(
        &mut self,
        text: &str,
        abandon: &(dyn Fn(i32) -> String + Sync),
    ) -> Result<String, String> {
        let pamh = self.pamh;
        let service = self.service.clone();
        let abandon_and_log = move |sig: i32| {
            let line = abandon(sig);
            // The process ends right after this (the host's own disposition of the signal),
            // on a helper thread: pam_syslog's handle is not ours to use there.
            let line = format!("pam_passbyme({service}:auth): {line} (during the prompt)");
            if let Ok(c) = CString::new(line.replace('\0', "?")) {
                // SAFETY: constant format, one NUL-terminated argument.
                unsafe {
                    libc::syslog(
                        libc::LOG_AUTHPRIV | libc::LOG_NOTICE,
                        c"%s".as_ptr(),
                        c.as_ptr(),
                    )
                };
            }
        };
        self.guard
            .during(
                || converse(pamh, PAM_PROMPT_ECHO_ON, text),
                &abandon_and_log,
            )
            .map(|r| r.unwrap_or_default())
    }

    fn interrupted(&mut self) -> Option<i32> {
        self.guard.interrupted()
    }

    fn log(&mut self, level: Level, line: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        log(self.pamh, level, line);
    }
}

// ---------------------------------------------------------------------------------------
// libpam, directly (the declarations are in crate::ffi)

use crate::ffi::{
    pam_get_item, PamConv, PamMessage, PamResponse, PAM_CONV, PAM_PROMPT_ECHO_ON, PAM_SUCCESS,
    PAM_TEXT_INFO, PAM_TTY,
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
fn converse(pamh: &Pam, style: c_int, text: &str) -> Result<Option<String>, String> {
    let text = CString::new(text.replace('\0', "?")).map_err(|e| e.to_string())?;
    let mut item: *const c_void = std::ptr::null();
    // SAFETY: valid handle and out-pointer.
    let rc = unsafe { pam_get_item(raw(pamh), PAM_CONV, &mut item) };
    if rc != PAM_SUCCESS || item.is_null() {
        return Err("no conversation function".into());
    }
    // SAFETY: PAM_CONV points at the application's struct pam_conv.
    let conv = unsafe { &*(item as *const PamConv) };
    let Some(func) = conv.conv else {
        return Err("no conversation function".into());
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
        return Err(format!("conversation failed (PAM code {rc})"));
    }
    Ok(answer)
}
