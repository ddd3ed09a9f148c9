//! The application side of PAM: start a transaction with a private configuration
//! directory (`pam_start_confdir`, Linux-PAM 1.4 and later, looked up at run time),
//! answer the conversation from a closure, authenticate. It lets `passbyme demo` and the tests drive the real module
//! through real libpam without touching `/etc/pam.d`. Not used by the module itself.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::ffi::{
    pam_authenticate, pam_end, pam_set_item, pam_start, pam_start_confdir, pam_strerror, PamConv,
    PamMessage, PamResponse, PAM_BUF_ERR, PAM_CONV_ERR, PAM_RHOST, PAM_SYSTEM_ERR, PAM_TTY,
};

/// `PAM_PROMPT_ECHO_OFF`.
pub const PROMPT_ECHO_OFF: i32 = crate::ffi::PAM_PROMPT_ECHO_OFF;
/// `PAM_PROMPT_ECHO_ON`.
pub const PROMPT_ECHO_ON: i32 = crate::ffi::PAM_PROMPT_ECHO_ON;
/// `PAM_ERROR_MSG`.
pub const ERROR_MSG: i32 = crate::ffi::PAM_ERROR_MSG;
/// `PAM_TEXT_INFO`.
pub const TEXT_INFO: i32 = crate::ffi::PAM_TEXT_INFO;
/// `PAM_SILENT`.
pub const SILENT: i32 = crate::ffi::PAM_SILENT;
/// `PAM_SUCCESS`.
pub const SUCCESS: i32 = crate::ffi::PAM_SUCCESS;

/// Answers one conversation message: `(style, text)` → the reply (None for no reply),
/// or `Err(())` to make the conversation fail. The text is the message made valid UTF-8
/// (invalid bytes become U+FFFD); a reply with a NUL in it becomes the empty reply.
pub type Conversation = Box<dyn FnMut(i32, &str) -> Result<Option<String>, ()> + Send>;

/// [`Conversation`] at the byte level: `(style, message bytes as libpam passed them)` →
/// the reply bytes, for tests of what exactly reaches the terminal. A reply with a NUL in
/// it becomes the empty reply.
pub type RawConversation = Box<dyn FnMut(i32, &[u8]) -> Result<Option<Vec<u8>>, ()> + Send>;

/// A text [`Conversation`] as a [`RawConversation`].
fn text_conversation(mut f: Conversation) -> RawConversation {
    Box::new(move |style, bytes| {
        f(style, &String::from_utf8_lossy(bytes)).map(|r| r.map(String::into_bytes))
    })
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
    let f = &mut *(appdata as *mut RawConversation);
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
        let text = CStr::from_ptr((*m).msg).to_bytes();
        let style = (*m).msg_style;
        match catch_unwind(AssertUnwindSafe(|| f(style, text))) {
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
    _closure: Box<RawConversation>,
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
        Transaction::start_raw(service, user.as_bytes(), confdir, text_conversation(conv))
    }

    /// [`Transaction::start`] with the user as raw bytes (not necessarily UTF-8, so tests
    /// can pass hostile names) and a byte-level conversation.
    pub fn start_raw(
        service: &str,
        user: &[u8],
        confdir: Option<&Path>,
        conv: RawConversation,
    ) -> Result<Transaction, i32> {
        let service = CString::new(service).map_err(|_| PAM_BUF_ERR)?;
        let user = CString::new(user).map_err(|_| PAM_BUF_ERR)?;
        let mut closure: Box<RawConversation> = Box::new(conv);
        let pconv = Box::new(PamConv {
            conv: Some(conversation),
            appdata_ptr: (&mut *closure) as *mut RawConversation as *mut c_void,
        });
        let mut handle: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated strings, a conv struct that outlives the handle.
        let rc = unsafe {
            match confdir {
                Some(dir) => {
                    let d = CString::new(dir.as_os_str().as_bytes()).map_err(|_| PAM_BUF_ERR)?;
                    // Linux-PAM before 1.4 has no private configuration directories.
                    let pam_start_confdir = pam_start_confdir().ok_or(PAM_SYSTEM_ERR)?;
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
