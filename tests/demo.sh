#!/bin/sh
# A real login through real Linux-PAM and the built module, against the bundled emulator:
# you play the phone. Builds what is needed first. Nothing under /etc changes; no root is
# needed except to install the one build dependency (libpam0g-dev) if it is missing.
#   sh tests/demo.sh                   you approve or deny at the terminal
#   sh tests/demo.sh --answer approve  answers by itself (also: --answer deny)
set -eu
cd "$(dirname "$0")/.."

if ! dpkg -s libpam0g-dev >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "demo: installing libpam0g-dev (libpam's link library, needed to build the module)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpam0g-dev >/dev/null
    else
        echo "demo: missing the Debian package libpam0g-dev; install it with:" >&2
        echo "      sudo apt-get install libpam0g-dev" >&2
        exit 2
    fi
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "demo: cargo (Rust) is not on PATH; install Rust from your distribution or rustup" >&2
    exit 2
fi
echo "demo: building (cargo build --release)…"
cargo build --release --locked --quiet
exec target/release/passbyme demo "$@"
