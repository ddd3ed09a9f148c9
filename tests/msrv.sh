#!/bin/sh
# The compiler a distribution would use: builds the crate (lib, cdylib and the passbyme
# command) with Debian 12's own Rust 1.85 (rustc-web and cargo-web from bookworm main), as
# a packager would: Debian's cargo and rustc, `cargo fetch --locked`, then `cargo build
# --locked --offline` into its own target directory. This is what backs `rust-version =
# "1.85"` in Cargo.toml.
#
# Cargo.lock pins dependency releases that need a newer compiler (aes 0.9.4: 1.89; rcgen,
# sha2, time: 1.88); the build here uses tests/msrv/Cargo.lock, the same dependencies
# resolved by cargo 1.85 to their newest releases that support 1.85 (a packager gets the
# same from `cargo update` with 1.85). So `rust-version` means: the code builds with 1.85;
# the packages we ship are built from Cargo.lock with a current compiler. The differences
# are printed. When Cargo.toml's dependencies change, --locked fails here; then run
#
#   sh tests/msrv.sh --update-lock     (regenerates tests/msrv/Cargo.lock with cargo 1.85)
#
#   sh tests/msrv.sh                   (root not needed; the Debian registry the first time)
#
# The .debs are fetched with `apt-get download` and a private apt cache (the host's package
# lists when they know a 1.85 version, else a private `apt-get update`), unpacked with
# `dpkg-deb -x` under target/msrv/: nothing is installed on the host. Cached there for the
# next run. Prints ok/FAIL per check, ends with "N passed, M failed".
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
dir="$top/target/msrv"
want=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
t0=$(date +%s)

pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; }

tc="$dir/toolchain-$want"
if [ ! -x "$tc/usr/bin/rustc" ] || [ ! -x "$tc/usr/bin/cargo" ]; then
    mkdir -p "$dir/apt/cache/archives/partial" "$dir/apt/lists/partial" "$dir/debs"
    # A private cache (the host's stays untouched); the host's lists if they know the version.
    apt_opts="-o Dir::Cache=$dir/apt/cache -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
    # shellcheck disable=SC2086 # options
    newest() { apt-cache $apt_opts madison "$1" 2>/dev/null | awk -v v="$want." '$3 ~ "^" v {print $3; exit}'; }
    ver=$(newest rustc-web)
    if [ -z "$ver" ]; then
        echo "msrv: the host's package lists know no rustc-web $want; a private apt-get update"
        apt_opts="$apt_opts -o Dir::State::Lists=$dir/apt/lists"
        # shellcheck disable=SC2086 # options
        apt-get $apt_opts -qq update
        ver=$(newest rustc-web)
    fi
    [ -n "$ver" ] || { bad "the Debian registry has rustc-web $want (bookworm main)"; finish; exit 1; }
    # rustc-web, cargo-web and the standard library of that version, the LLVM it links, and
    # the two libraries cargo-web needs that a build machine may lack.
    # shellcheck disable=SC2086 # options
    llvm=$(apt-cache $apt_opts depends "libstd-rust-web-$want=$ver" | sed -n 's/^ *Depends: \(libllvm[0-9]*\)$/\1/p' | head -n 1)
    pkgs="rustc-web=$ver cargo-web=$ver libstd-rust-web-dev=$ver libstd-rust-web-$want=$ver $llvm libhttp-parser2.9 libpcre3"
    rm -f "$dir/debs"/*.deb
    # shellcheck disable=SC2086 # options and package names
    (cd "$dir/debs" && apt-get $apt_opts -qq download $pkgs) ||
        { bad "apt-get download $pkgs"; finish; exit 1; }
    rm -rf "$tc.tmp"
    for d in "$dir/debs"/*.deb; do dpkg-deb -x "$d" "$tc.tmp"; done
    rm -rf "$tc"; mv "$tc.tmp" "$tc"
    echo "msrv: Debian's Rust $ver unpacked into $tc ($(du -sm "$tc" | cut -f1) MB) in $(($(date +%s) - t0)) s"
fi
export LD_LIBRARY_PATH="$tc/usr/lib/x86_64-linux-gnu:$tc/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
rustc_v=$("$tc/usr/bin/rustc" --version 2>&1) || true
cargo_v=$("$tc/usr/bin/cargo" --version 2>&1) || true
case "$rustc_v/$cargo_v" in
    "rustc $want."*"/cargo $want."*) ok "Debian's compiler: $rustc_v; $cargo_v" ;;
    *) bad "Debian's rustc and cargo $want run (got: $rustc_v; $cargo_v)"; finish; exit 1 ;;
esac

# A copy of the tree (the build reads Cargo.toml, build.rs, src/, packaging/, and the
# manifest names tests/ and benches) with the 1.85 lockfile.
src="$dir/src"
rm -rf "$src"; mkdir -p "$src"
tar -C "$top" --exclude=./target --exclude=./.git -cf - . | tar -C "$src" -xf -
cargo85() {
    env RUSTC="$tc/usr/bin/rustc" RUSTDOC="$tc/usr/bin/rustdoc" CARGO_TARGET_DIR="$dir/target" \
        "$tc/usr/bin/cargo" "$@"
}
if [ "${1:-}" = --update-lock ]; then
    (cd "$src" && CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo85 update) &&
        cp "$src/Cargo.lock" tests/msrv/Cargo.lock && echo "msrv: tests/msrv/Cargo.lock regenerated"
    exit
fi
cp tests/msrv/Cargo.lock "$src/Cargo.lock"
# What the 1.85 build uses that Cargo.lock does not (name version, one per line).
pkgver() { awk '/^name = / {n = $3} /^version = / {print n, $3}' "$1" | tr -d '"' | sort; }
diffs=$(pkgver Cargo.lock >"$dir/lock.main"; pkgver tests/msrv/Cargo.lock >"$dir/lock.msrv"
        comm -13 "$dir/lock.main" "$dir/lock.msrv" | tr '\n' ',' | sed 's/,$//; s/,/, /g')
echo "     tests/msrv/Cargo.lock differs from Cargo.lock in: ${diffs:-nothing}"

# The build a packager makes: the lockfile as it is, fetched, then no network; Debian's
# cargo and rustc (RUSTC, so that no rustup toolchain is used), its own target directory.
t1=$(date +%s)
log="$dir/build.log"
if (cd "$src" && cargo85 fetch --locked && cargo85 build --locked --offline --lib --bins) >"$log" 2>&1; then
    ok "cargo build --locked --offline --lib --bins with Rust $want, tests/msrv/Cargo.lock ($(($(date +%s) - t1)) s)"
else
    bad "cargo build with Rust $want; the end of $log:"
    tail -n 30 "$log" | sed 's/^/     /'
    grep -q 'lock file.*needs to be updated\|cannot update the lock file' "$log" &&
        echo "     Cargo.toml's dependencies changed: sh tests/msrv.sh --update-lock, and commit tests/msrv/Cargo.lock"
fi
for f in libpam_passbyme.so passbyme; do
    if [ -f "$dir/target/debug/$f" ]; then ok "built target/msrv/target/debug/$f"; else bad "no target/msrv/target/debug/$f"; fi
done
# The command built by 1.85 runs.
if out=$("$dir/target/debug/passbyme" --version 2>&1); then ok "passbyme --version: $out"; else bad "passbyme --version: $out"; fi
echo "     msrv: $(($(date +%s) - t0)) s"
finish
