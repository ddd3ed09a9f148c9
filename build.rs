use std::path::PathBuf;

fn main() {
    // The module must stay mapped after libpam dlclose()s it at pam_end: the panic hook,
    // and pam_set_data cleanups registered by this module, point into its code.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
    standin();
}

/// `passbyme check`'s stand-in PAM module (src/bin/passbyme/check/standin.c), built as a
/// shared object for the target with the target's C compiler and embedded in the binary
/// (`include_bytes!`). It is linked against nothing: its three libpam functions resolve in
/// the process that loads it, which has libpam loaded already.
fn standin() {
    let src = "src/bin/passbyme/check/standin.c";
    println!("cargo:rerun-if-changed={src}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("standin.so");
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .opt_level(2)
        .warnings(true)
        .get_compiler();
    let mut cmd = compiler.to_command();
    cmd.args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-o"])
        .arg(&out)
        .arg(src);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("{cmd:?}: cannot run the C compiler: {e}"));
    assert!(status.success(), "{cmd:?}: {status}");
}
