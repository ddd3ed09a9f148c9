//! The application side of PAM: start a transaction with a private configuration
//! directory (`pam_start_confdir`, Linux-PAM 1.4 and later), answer the conversation from a
//! closure, authenticate. It lets `passbyme demo` and the tests drive the real module
//! through real libpam without touching `/etc/pam.d`. Not used by the module itself.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// `PAM_PROMPT_ECHO_OFF`.
pub const PROMPT_ECHO_OFF: i32 = 1;
/// `PAM_PROMPT_ECHO_ON`.
pub const PROMPT_ECHO_ON: i32 = 2;
/// `PAM_ERROR_MSG`.
pub const ERROR_MSG: i32 = 3;
/// `PAM_TEXT_INFO`.
pub const TEXT_INFO: i32 = 4;
/// `PAM_SILENT`.
pub const SILENT: i32 = 0x8000;
/// `PAM_SUCCESS`.
pub const SUCCESS: i32 = 0;

const PAM_TTY: c_int = 3;
const PAM_RHOST: c_int = 4;
const PAM_CONV_ERR: c_int = 19;
const PAM_BUF_ERR: c_int = 5;

/// Answers one conversation message: `(style, text)` → the reply (None for no reply),
/// or `Err(())` to make the conversation fail.
pub type Conversation = Box<dyn FnMut(i32, &str) -> Result<Option<String>, ()> + Send>;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

#[repr(C)]
struct PamConv {
    conv: unsafe extern "C" fn(
        c_int,
        *mut *const PamMessage,
        *mut *mut PamResponse,
        *mut c_void,
    ) -> c_int,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
    fn pam_strerror(pamh: *mut c_void, errnum: c_int) -> *const c_char;
}

unsafe extern "C" fn conversation(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if num_msg <= 0 || num_msg > 32 || msg.is_null() || resp.is_null() || appdata.is_null() {
        return PAM_CONV_ERR;
    }
    let n = num_msg as usize;
    let f = &mut *(appdata as *mut Conversation);
    let replies = libc::calloc(n, std::mem::size_of::<PamResponse>()) as *mut PamResponse;
    if replies.is_null() {
        return PAM_BUF_ERR;
    }
    for i in 0..n {
        // Linux-PAM passes an array of pointers.
        let m = *msg.add(i);
        if m.is_null() || (*m).msg.is_null() {
            continue;
        }
        let text = CStr::from_ptr((*m).msg).to_string_lossy().into_owned();
        let style = (*m).msg_style;
        match catch_unwind(AssertUnwindSafe(|| f(style, &text))) {
            Ok(Ok(Some(answer))) => {
                let c = CString::new(answer).unwrap_or_default();
                (*replies.add(i)).resp = libc::strdup(c.as_ptr());
            }
            Ok(Ok(None)) => {}
            _ => {
                for j in 0..n {
                    libc::free((*replies.add(j)).resp.cast());
                }
                libc::free(replies.cast());
                return PAM_CONV_ERR;
            }
        }
    }
    *resp = replies;
    SUCCESS
}

/// One PAM transaction; `pam_end` runs on drop.
pub struct Transaction {
    handle: *mut c_void,
    last: c_int,
    _conv: Box<PamConv>,
    _closure: Box<Conversation>,
}

// SAFETY: a transaction is used by one thread at a time (it is not Sync); libpam keeps no
// thread affinity for a handle.
unsafe impl Send for Transaction {}

impl Transaction {
    /// Starts a transaction for `service` and `user`, reading the service file from
    /// `confdir` (or the system's `/etc/pam.d` when `None`). Err carries the PAM code.
    pub fn start(
        service: &str,
        user: &str,
        confdir: Option<&Path>,
        conv: Conversation,
    ) -> Result<Transaction, i32> {
        let service = CString::new(service).map_err(|_| PAM_BUF_ERR)?;
        let user = CString::new(user).map_err(|_| PAM_BUF_ERR)?;
        let mut closure: Box<Conversation> = Box::new(conv);
        let pconv = Box::new(PamConv {
            conv: conversation,
            appdata_ptr: (&mut *closure) as *mut Conversation as *mut c_void,
        });
        let mut handle: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated strings, a conv struct that outlives the handle.
        let rc = unsafe {
            match confdir {
                Some(dir) => {
                    let d = CString::new(dir.as_os_str().as_bytes()).map_err(|_| PAM_BUF_ERR)?;
                    pam_start_confdir(
                        service.as_ptr(),
                        user.as_ptr(),
                        &*pconv,
                        d.as_ptr(),
                        &mut handle,
                    )
                }
                None => pam_start(service.as_ptr(), user.as_ptr(), &*pconv, &mut handle),
            }
        };
        if rc != SUCCESS || handle.is_null() {
            return Err(rc);
        }
        Ok(Transaction {
            handle,
            last: SUCCESS,
            _conv: pconv,
            _closure: closure,
        })
    }

    fn set(&mut self, item: c_int, value: &[u8]) -> i32 {
        let Ok(c) = CString::new(value) else {
            return PAM_BUF_ERR;
        };
        // SAFETY: libpam copies the string.
        unsafe { pam_set_item(self.handle, item, c.as_ptr().cast()) }
    }

    /// Sets PAM_RHOST (raw bytes, so tests can pass hostile values).
    pub fn set_rhost(&mut self, rhost: &[u8]) -> i32 {
        self.set(PAM_RHOST, rhost)
    }

    /// Sets PAM_TTY.
    pub fn set_tty(&mut self, tty: &[u8]) -> i32 {
        self.set(PAM_TTY, tty)
    }

    /// `pam_authenticate(flags)`.
    pub fn authenticate(&mut self, flags: i32) -> i32 {
        // SAFETY: a live handle.
        self.last = unsafe { pam_authenticate(self.handle, flags) };
        self.last
    }

    /// libpam's text for a code.
    pub fn strerror(&self, code: i32) -> String {
        // SAFETY: pam_strerror returns a static string.
        unsafe {
            let p = pam_strerror(self.handle, code);
            if p.is_null() {
                return format!("PAM code {code}");
            }
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // SAFETY: the handle is live and ended exactly once.
        unsafe { pam_end(self.handle, self.last) };
    }
}
