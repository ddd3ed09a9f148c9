// The module must stay mapped after libpam dlclose()s it at pam_end: the panic hook,
// and pam_set_data cleanups registered by this module, point into its code.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
}
