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
    pam_authenticate, pam_end, pam_getenv, pam_putenv, pam_set_item, pam_start, pam_start_confdir,
    pam_strerror, PamConv, PamMessage, PamResponse, PAM_BUF_ERR, PAM_CONV_ERR, PAM_RHOST,
    PAM_SYSTEM_ERR, PAM_TTY,
};

/// `PAM_PROMPT_ECHO_OFF`.
pub const PROMPT_ECHO_OFF: i32 = crate::ffi::PAM_PROMPT_ECHO_OFF;
/// `PAM_PROMPT_ECHO_ON`.
pub const PROMPT_ECHO_ON: i32 = crate::ffi::PAM_PROMPT_ECHO_ON;
/// `PAM_ERROR_MSG`.
pub const ERROR_MSG: i32 = crate::ffi::PAM_ERROR_MSG;
/// `PAM_TEXT_INFO`.
pub const TEXT_INFO: i32 = crate::ffi::PAM_TEXT_INFO;
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

    /// `pam_putenv("NAME=value")`: sets a variable of the transaction's PAM environment.
    pub fn putenv(&mut self, name_value: &str) -> i32 {
        let Ok(c) = CString::new(name_value) else {
            return PAM_BUF_ERR;
        };
        // SAFETY: a live handle; libpam copies the string.
        unsafe { pam_putenv(self.handle, c.as_ptr()) }
    }

    /// `pam_getenv(NAME)`: a variable of the transaction's PAM environment (invalid UTF-8
    /// becomes U+FFFD).
    pub fn getenv(&self, name: &str) -> Option<String> {
        let c = CString::new(name).ok()?;
        // SAFETY: a live handle; the returned string belongs to libpam and is copied at once.
        unsafe {
            let p = pam_getenv(self.handle, c.as_ptr());
            if p.is_null() {
                return None;
            }
            Some(CStr::from_ptr(p).to_string_lossy().into_owned())
        }
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

/// Whether this libpam has `pam_start_confdir` (Linux-PAM 1.4 and later).
pub fn has_confdir() -> bool {
    pam_start_confdir().is_some()
}

/// The file names of every shared object loaded in this process now (`dl_iterate_phdr`),
/// in load order; the program itself (an empty name) is left out.
pub fn loaded_objects() -> Vec<std::path::PathBuf> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our Vec as data.
        let out = &mut *(data as *mut Vec<std::path::PathBuf>);
        let name = (*info).dlpi_name;
        if !name.is_null() {
            let bytes = CStr::from_ptr(name).to_bytes();
            if !bytes.is_empty() {
                out.push(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes)));
            }
        }
        0
    }
    let mut out: Vec<std::path::PathBuf> = Vec::new();
    // SAFETY: the callback only reads what it is given and pushes to the Vec.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut out as *mut Vec<_>).cast()) };
    out
}

/// The directory where libpam looks for a module named without a leading `/`: Linux-PAM's
/// DEFAULT_MODULE_PATH, which every distribution sets to `security/` beside libpam itself
/// (Debian `/lib/<multiarch>/security`, RHEL `/usr/lib64/security`). Found from where the
/// loaded libpam lives.
pub fn module_dir() -> Option<std::path::PathBuf> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: pam_start is a function of the loaded libpam; dladdr fills info.
    let ok = unsafe { libc::dladdr(pam_start as *const c_void, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr gives a NUL-terminated name that lives as long as the object.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let lib =
        std::fs::canonicalize(Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()))).ok()?;
    Some(lib.parent()?.join("security"))
}
