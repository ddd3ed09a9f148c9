#!/bin/sh
# End-to-end tests with the real programs: OpenSSH's sshd and ssh, sudo, pamtester, the
# shipped pam.d files and the built module, against the emulator. Hermetic: everything runs
# in private mount, network and pid namespaces (a private copy of /etc, a tmpfs /run, the
# module in a private copy of the PAM module directory); the host's /etc is checked to be
# byte-identical afterwards. Needs root.
#   tests/e2e/run.sh [DIR]   DIR holds passbyme and libpam_passbyme.so (default target/debug)
set -eu
cd "$(dirname "$0")/../.."
bin=$(cd "${1:-target/debug}" && pwd)
for f in "$bin/passbyme" "$bin/libpam_passbyme.so"; do
    [ -e "$f" ] || { echo "e2e: $f missing: run cargo build first" >&2; exit 2; }
done

snapshot() {
    find /etc -xdev \( -type f -o -type l -o -type d \) -printf '%p %m %U %G %s %l\n' 2>/dev/null | sort
    find /etc -xdev -type f -readable -print0 2>/dev/null | sort -z | xargs -0 sha256sum 2>/dev/null
}
before=$(mktemp); after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
snapshot > "$before"

status=0
unshare --mount --net --pid --fork --mount-proc --propagation private \
    /usr/bin/python3 tests/e2e/e2e.py "$bin" || status=$?

snapshot > "$after"
if ! cmp -s "$before" "$after"; then
    echo "FAIL the host's /etc changed:"
    diff "$before" "$after" | head -20
    status=1
else
    echo "ok  the host's /etc is byte-identical"
fi
exit $status
