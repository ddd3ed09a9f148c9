//! libpam's C interface, declared once: the conversation structs (`<security/_pam_types.h>`),
//! the item and message constants, and the functions the module ([`crate::pam`]) and the
//! application harness ([`crate::pamapp`]) call directly. Declarations only: the unsafe
//! calls and their invariants stay with the code that makes them.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};

pub(crate) const PAM_SUCCESS: c_int = 0;
pub(crate) const PAM_SYSTEM_ERR: c_int = 4;
pub(crate) const PAM_BUF_ERR: c_int = 5;
pub(crate) const PAM_CONV_ERR: c_int = 19;

/// Item types for `pam_get_item` / `pam_set_item`.
pub(crate) const PAM_TTY: c_int = 3;
pub(crate) const PAM_RHOST: c_int = 4;
pub(crate) const PAM_CONV: c_int = 5;

/// Message styles.
pub(crate) const PAM_PROMPT_ECHO_OFF: c_int = 1;
pub(crate) const PAM_PROMPT_ECHO_ON: c_int = 2;
pub(crate) const PAM_ERROR_MSG: c_int = 3;
pub(crate) const PAM_TEXT_INFO: c_int = 4;

/// `struct pam_message`.
#[repr(C)]
pub(crate) struct PamMessage {
    pub(crate) msg_style: c_int,
    pub(crate) msg: *const c_char,
}

/// `struct pam_response`: the array and each `resp` are malloc'd by the application and
/// freed by the module.
#[repr(C)]
pub(crate) struct PamResponse {
    pub(crate) resp: *mut c_char,
    pub(crate) resp_retcode: c_int,
}

/// The conversation function (Linux-PAM passes `msg` as an array of pointers).
pub(crate) type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

/// `struct pam_conv` (a NULL function pointer is possible from a careless application).
#[repr(C)]
pub(crate) struct PamConv {
    pub(crate) conv: Option<ConvFn>,
    pub(crate) appdata_ptr: *mut c_void,
}

// The layout of the structs above, as `<security/_pam_types.h>` has them on the 64-bit
// targets we build (x86_64, aarch64): checked by the compiler, so a wrong field order, type
// or padding does not build.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<PamMessage>() == 16);
    assert!(offset_of!(PamMessage, msg_style) == 0);
    assert!(offset_of!(PamMessage, msg) == 8);
    assert!(size_of::<PamResponse>() == 16);
    assert!(offset_of!(PamResponse, resp) == 0);
    assert!(offset_of!(PamResponse, resp_retcode) == 8);
    assert!(size_of::<PamConv>() == 16);
    assert!(offset_of!(PamConv, conv) == 0);
    assert!(offset_of!(PamConv, appdata_ptr) == 8);
    // A NULL function pointer is `None`: the option adds no tag.
    assert!(size_of::<Option<ConvFn>>() == size_of::<*const c_void>());
};

#[link(name = "pam")]
extern "C" {
    // The module's side.
    pub(crate) fn pam_get_item(
        pamh: *const c_void,
        item_type: c_int,
        item: *mut *const c_void,
    ) -> c_int;

    // The application's side (pamapp). pam_start_confdir: see below.
    pub(crate) fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut c_void,
    ) -> c_int;
    pub(crate) fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    pub(crate) fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    pub(crate) fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
    pub(crate) fn pam_strerror(pamh: *mut c_void, errnum: c_int) -> *const c_char;
    pub(crate) fn pam_putenv(pamh: *mut c_void, name_value: *const c_char) -> c_int;
    pub(crate) fn pam_getenv(pamh: *mut c_void, name: *const c_char) -> *const c_char;
}

/// `pam_start_confdir(service, user, conv, confdir, &pamh)`.
pub(crate) type PamStartConfdir = unsafe extern "C" fn(
    service: *const c_char,
    user: *const c_char,
    conv: *const PamConv,
    confdir: *const c_char,
    pamh: *mut *mut c_void,
) -> c_int;

/// `pam_start_confdir` (symbol version LIBPAM_1.4), looked up at run time, or None when the
/// loaded libpam lacks it. Linux-PAM before 1.4 (RHEL 8 ships 1.3.1) has no such function, and
/// a link-time reference would keep the program from starting there at all, even for
/// commands that never use it.
pub(crate) fn pam_start_confdir() -> Option<PamStartConfdir> {
    // SAFETY: both names are NUL-terminated literals; RTLD_DEFAULT searches the objects
    // already loaded, libpam among them (it is linked).
    let sym = unsafe {
        libc::dlvsym(
            libc::RTLD_DEFAULT,
            c"pam_start_confdir".as_ptr(),
            c"LIBPAM_1.4".as_ptr(),
        )
    };
    if sym.is_null() {
        return None;
    }
    // SAFETY: LIBPAM_1.4's pam_start_confdir has exactly this C signature
    // (<security/pam_appl.h>).
    Some(unsafe { std::mem::transmute::<*mut c_void, PamStartConfdir>(sym) })
}
