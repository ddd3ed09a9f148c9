#!/bin/sh
# Generates the package assets that are not files of the source tree, into
# target/packaging/ (run it after `cargo build --release`, before `cargo deb` and
# `cargo generate-rpm`; tests/packaging/run.sh does):
#   man/*.gz  the man pages gzip-compressed for the rpm, as rpmbuild's brp-compress would
#             (cargo-deb compresses the deb's own).
#   NOTICES   the licence and notice files of every crate linked into the binaries;
#   copyright packaging/copyright plus a stanza per linked crate (packaging/notices.py).
# Both packages fail to build without them: cargo deb and cargo generate-rpm name them.
set -eu
cd "$(dirname "$0")/.."
out=target/packaging
rm -rf "$out"
mkdir -p "$out/man"
for page in pam_passbyme.8 passbyme.1 passbyme.toml.5; do
    gzip -9 -n -c "packaging/$page" >"$out/man/$page.gz"
done
/usr/bin/python3 packaging/notices.py
