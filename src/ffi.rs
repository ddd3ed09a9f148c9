//! libpam's C interface, declared once: the conversation structs (`<security/_pam_types.h>`),
//! the item and message constants, and the functions the module ([`crate::pam`]) and the
//! application harness ([`crate::pamapp`]) call directly. Declarations only: the unsafe
//! calls and their invariants stay with the code that makes them.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};

pub(crate) const PAM_SUCCESS: c_int = 0;
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

/// `PAM_SILENT`.
pub(crate) const PAM_SILENT: c_int = 0x8000;

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

#[link(name = "pam")]
extern "C" {
    // The module's side.
    pub(crate) fn pam_get_item(
        pamh: *const c_void,
        item_type: c_int,
        item: *mut *const c_void,
    ) -> c_int;

    // The application's side (pamapp).
    pub(crate) fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
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
}
