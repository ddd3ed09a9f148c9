#!/bin/sh
# The whole test suite, as CI runs it: installs what the tests need (Debian packages, cargo
# tools), then lint, unit and integration tests (real emulator, real Linux-PAM), the
# end-to-end tests with real sshd and sudo, the hardening checks (cargo deny, fuzzing,
# valgrind), the package build (x86_64 and arm64) and install tests, and the arm64 package
# and unit tests under qemu. The benchmark is separate:
# sh tests/bench/run.sh (figures in BENCHMARKS.md).
# Run as root from anywhere: sh tests/run.sh
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "tests/run.sh: needs root (private namespaces for PAM, sshd and sudo tests; apt-get)" >&2
    exit 2
fi

step() { printf '\n=== %s ===\n' "$*"; }

step "Debian packages"
# What the build and the tests use: libpam's headers and libpam itself, the real programs
# the end-to-end tests drive, and the tools the tests call (libpam-google-authenticator and
# oathtool: the TOTP fallback; zsh and fish: the completions; tinyproxy: a proxy that asks
# for credentials).
pkgs="libpam0g-dev libpam-modules pamtester openssh-server openssh-client sudo openssl binutils
      python3 util-linux iproute2 procps libpam-google-authenticator oathtool zsh fish tinyproxy-bin"
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "all present"
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
RUSTDOCFLAGS=-Dwarnings cargo doc --locked --no-deps --quiet

step "build"
# The integration tests load the module (cdylib) that this build makes.
cargo build --locked

step "the compiler a distribution would use: Debian 12's Rust 1.85 (Cargo.toml's rust-version)"
sh tests/msrv.sh

step "unit and integration tests (private /dev for syslog capture)"
tests/private-dev.sh cargo test --locked

step "end to end: real sshd, ssh, sudo, pamtester"
sh tests/e2e/run.sh target/debug

step "hardening: cargo deny/audit, fuzzing (time-boxed), valgrind"
sh tests/hardening.sh

step "packages: .deb and .rpm, built, linted, install-tested"
sh tests/packaging/run.sh

step "distribution matrix: the .deb in Debian 11, 12, 13 and testing, each with its own sshd, ssh, sudo and libpam"
# Debootstrap roots cached under target/distro (the first run makes them: ~4 x 60 s). In
# Debian 12 every end-to-end case runs on the packaged build (glibc 2.28 baseline, installed
# by dpkg), which replaces a second host run of tests/e2e on the release binaries.
PBM_MATRIX_FULL=bookworm sh tests/distro/run.sh target/debian/libpam-passbyme_*_"$(dpkg --print-architecture)".deb \
    "target/$(rustc -vV | sed -n 's/^host: //p')"/generate-rpm/pam-passbyme-*.rpm

step "arm64 under emulation (qemu): the arm64 .deb installed and logging in, unit tests for aarch64"
sh tests/arm64/run.sh

step "all tests passed"
