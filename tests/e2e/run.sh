#!/bin/sh
# End-to-end tests with the real programs: OpenSSH's sshd and ssh, sudo, pamtester, the
# shipped pam.d files and the built module, against the emulator. Hermetic: everything runs
# in private mount, network and pid namespaces (a private copy of /etc, a tmpfs over /run, a
# private /dev whose /dev/log the driver reads, private login logs, the module in a private
# copy of the PAM module directory); the host's /etc is checked to be byte-identical
# afterwards. Needs root. Prints one line per case and ends with "N passed, M failed".
#
#   tests/e2e/run.sh                         the newer build of target/{release,debug}
#   tests/e2e/run.sh DIR                     DIR holds passbyme and libpam_passbyme.so
#   tests/e2e/run.sh PASSBYME LIBPAM_PASSBYME_SO
set -eu
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
    echo "e2e: needs root (namespaces, bind mounts, sshd, sudo)" >&2
    exit 2
fi

case $# in
0)
    # The newer of the two builds (CARGO_TARGET_DIR if set): the one just made.
    t=${CARGO_TARGET_DIR:-target}
    dir=$t/debug
    if [ -e "$t/release/libpam_passbyme.so" ] && [ -e "$t/release/passbyme" ] &&
        { [ ! -e "$dir/libpam_passbyme.so" ] ||
            [ "$t/release/libpam_passbyme.so" -nt "$dir/libpam_passbyme.so" ]; }; then
        dir=$t/release
    fi
    exe=$dir/passbyme so=$dir/libpam_passbyme.so ;;
1) exe=$1/passbyme so=$1/libpam_passbyme.so ;;
2) exe=$1 so=$2 ;;
*) echo "usage: $0 [DIR | PASSBYME LIBPAM_PASSBYME_SO]" >&2; exit 2 ;;
esac
for f in "$exe" "$so"; do
    [ -f "$f" ] || { echo "e2e: $f missing: run cargo build first" >&2; exit 2; }
done
exe=$(realpath "$exe") so=$(realpath "$so")

# The real programs. Installed only when missing (policy-rc.d keeps openssh-server's
# postinst from starting a system sshd on CI images; nothing here enables one).
missing=
for p in openssh-server openssh-client sudo pamtester iproute2 openssl python3; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "e2e: installing$missing" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >&2
fi

# Everything under /etc: path, type, mode, owner, size, mtime, link target, and content.
snapshot() {
    find /etc -xdev -printf '%p %y %m %U %G %s %T@ %l\n' 2>/dev/null | LC_ALL=C sort
    find /etc -xdev -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 sha256sum 2>&1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
snapshot > "$tmp/before"

echo "e2e: module $so" >&2
echo "e2e: passbyme $exe" >&2
# The driver writes "PASSED FAILED" to fd 3 once it is done.
status=0
unshare --mount --net --pid --fork --mount-proc --propagation private \
    /usr/bin/python3 tests/e2e/e2e.py "$exe" "$so" 3>"$tmp/counts" || status=$?
if ! read -r passed failed < "$tmp/counts"; then
    passed=0 failed=1
    echo "FAIL driver: exited with status $status before counting"
elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
    echo "FAIL driver: exited with status $status"
fi

t0=$(date +%s.%N)
snapshot > "$tmp/after"
t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if cmp -s "$tmp/before" "$tmp/after"; then
    echo "ok  host_etc_unchanged (${t}s): $(grep -c . "$tmp/before") lines of paths, modes and sha256 sums identical"
    passed=$((passed + 1))
else
    echo "FAIL host_etc_unchanged: the host's /etc changed:"
    diff "$tmp/before" "$tmp/after" | head -20
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
