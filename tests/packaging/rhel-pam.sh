#!/bin/sh
# The RHEL PAM samples (pam.d/rhel/sshd, pam.d/rhel/sudo) through real Linux-PAM
# (pamtester) and the release module, against the emulator, with RHEL 9-shaped
# password-auth / system-auth / postlogin (tests/packaging/rhel-pam.d: pam_env,
# pam_faildelay, pam_faillock, pam_unix, pam_deny, as `authselect select local
# with-faillock` writes them). Runs in a private mount and network namespace: /etc/pam.d,
# /etc/passwd, /etc/shadow, /etc/group and /run are private copies or a tmpfs there, so the
# host is untouched. Needs root and a release build (tests/packaging/run.sh does both).
# Prints one line per check and ends with "N passed, M failed"; exits non-zero on failure.
set -eu
cd "$(dirname "$0")/../.."
if [ -z "${PBM_RHEL_PAM_NS:-}" ]; then
    exec env PBM_RHEL_PAM_NS=1 unshare --mount --net --propagation private sh "$0" "$@"
fi
top=$(pwd)
# The release build to test: tests/packaging/run.sh passes the packaged (glibc 2.28) one.
bin="${PBM_RELEASE_DIR:-${CARGO_TARGET_DIR:-$top/target}/release}"
pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
has() { printf '%s\n' "$1" | grep -Eq -- "$2"; }
# expect DESCRIPTION WANT_RC(0|fail) OUTPUT_REGEX NO_OUTPUT_REGEX RC OUTPUT
expect() {
    d=$1 want=$2 yes=$3 no=$4 rc=$5 out=$6
    if { [ "$want" = 0 ] && [ "$rc" = 0 ]; } || { [ "$want" = fail ] && [ "$rc" != 0 ]; }; then
        if { [ -z "$yes" ] || has "$out" "$yes"; } && { [ -z "$no" ] || ! has "$out" "$no"; }; then
            ok "$d"; return; fi
    fi
    bad "$d (rc $rc)"; printf '%s\n' "$out" | sed 's/^/     /'
}

ip link set lo up
scratch=$(mktemp -d "$top/target/rhelpam.XXXXXX")
emu_pid=""
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; rm -rf "$scratch"; }
trap cleanup EXIT
# pam_faillock's tallies (/run/faillock) and the limiter's state (/run/passbyme): private.
mount -t tmpfs -o mode=755 tmpfs /run

"$bin/passbyme" emulator --listen 127.0.0.1:0 --state-dir "$scratch/emu" \
    --answer approve --after 300ms >"$scratch/emu.out" 2>"$scratch/emu.err" &
emu_pid=$!
addr=""
for _ in $(seq 100); do
    addr=$(sed -n 's|^listening on https://||p' "$scratch/emu.out" 2>/dev/null)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "FAIL emulator did not start"; cat "$scratch/emu.err"; exit 1; }

# The shipped sample configuration with the emulator filled in, and three users.
sed -e "s|^# address = .*|address = \"$addr\"|" \
    -e "s|^credentials = .*|credentials = \"$scratch/emu/client.pem\"|" \
    -e "s|^password_file = .*|password_file = \"$scratch/emu/client.password\"|" \
    -e "s|^# ca_bundle = .*|ca_bundle = \"$scratch/emu/ca.pem\"|" \
    packaging/passbyme.toml >"$scratch/passbyme.toml"
printf '%s\n' 'rhok = "rhok+approve+after=300ms@emulator.test"' \
    'rhno = "rhno+deny+after=300ms@emulator.test"' >>"$scratch/passbyme.toml"
chmod 600 "$scratch/passbyme.toml"

# Private user database: three local users with the password "right-password".
hash=$(openssl passwd -6 right-password)
for f in passwd shadow group; do cp "/etc/$f" "$scratch/$f"; done
uid=64100
for u in rhok rhno rhnobody; do
    echo "$u:x:$uid:$uid::/nonexistent:/usr/sbin/nologin" >>"$scratch/passwd"
    echo "$u:$hash:20000:0:99999:7:::" >>"$scratch/shadow"
    echo "$u:x:$uid:" >>"$scratch/group"
    uid=$((uid + 1))
done
for f in passwd shadow group; do mount --bind "$scratch/$f" "/etc/$f"; done

# /etc/pam.d: RHEL's authselect files, and the samples with the module's absolute path
# (the release build under its installed name) and the test configuration.
mkdir "$scratch/pam.d" "$scratch/lib"
cp "$bin/libpam_passbyme.so" "$scratch/lib/pam_passbyme.so"
cp tests/packaging/rhel-pam.d/* "$scratch/pam.d/"
for s in sshd sudo; do
    sed "s|pam_passbyme\.so|$scratch/lib/pam_passbyme.so config=$scratch/passbyme.toml|" \
        "pam.d/rhel/$s" >"$scratch/pam.d/$s"
done
mount --bind "$scratch/pam.d" /etc/pam.d

pt() { pamtester -I rhost=192.0.2.20 "$@" 2>&1; }
code='Verification code: [1-9][0-9]'

# sshd: key first (not PAM's part), then the push alone decides; account and session
# stacks come from RHEL's password-auth.
out=$(printf '\n' | pt sshd rhok authenticate acct_mgmt) && rc=0 || rc=$?
expect "rhel sshd: approved on the phone, then password-auth's account stack passes" 0 "$code" "" "$rc" "$out"
out=$(printf '\n' | pt sshd rhno authenticate) && rc=0 || rc=$?
expect "rhel sshd: denied on the phone is refused" fail "$code" "" "$rc" "$out"
out=$(printf '\n' | pt sshd rhnobody authenticate) && rc=0 || rc=$?
expect "rhel sshd: unmapped user refused (pam_deny closes the stack)" fail "" "$code" "$rc" "$out"

# sudo: the password (pam_unix, with pam_faillock around it), then the push.
out=$(printf 'right-password\n' | pt sudo rhok authenticate acct_mgmt) && rc=0 || rc=$?
expect "rhel sudo: right password + approved: in" 0 "$code" "" "$rc" "$out"
out=$(printf 'right-password\n' | pt sudo rhno authenticate) && rc=0 || rc=$?
expect "rhel sudo: right password + denied on the phone: refused" fail "$code" "" "$rc" "$out"
out=$(printf 'wrong-password\n' | pt sudo rhok authenticate) && rc=0 || rc=$?
expect "rhel sudo: wrong password: refused, and no push is sent" fail "" "$code" "$rc" "$out"
tally=$(faillock --dir /run/faillock --user rhok 2>&1 || true)
if has "$tally" 'RHOST +192\.0\.2\.20 +V$'; then ok "rhel sudo: pam_faillock counted the wrong password"
else bad "rhel sudo: pam_faillock counted the wrong password"; printf '%s\n' "$tally" | sed 's/^/     /'; fi

# Why the sample does not write RHEL's usual "auth substack system-auth" before the push:
# a failed substack does not stop the stack, so the push would go out after a wrong
# password (and with "include", pam_unix's "sufficient" would end the stack before it).
sed -n '/^auth .*pam_passbyme/p' "$scratch/pam.d/sudo" >"$scratch/pbmline"
{ echo 'auth substack system-auth'; cat "$scratch/pbmline"; } >"$scratch/pam.d/sudo-substack"
{ echo 'auth include system-auth'; cat "$scratch/pbmline"; } >"$scratch/pam.d/sudo-include"
out=$(printf 'wrong-password\n' | pt sudo-substack rhok authenticate) && rc=0 || rc=$?
expect "contrast: with 'auth substack system-auth' a wrong password still sends a push" fail "$code" "" "$rc" "$out"
out=$(printf 'right-password\n' | pt sudo-include rhno authenticate) && rc=0 || rc=$?
expect "contrast: with 'auth include system-auth' the password alone lets in, no push" 0 "" "$code" "$rc" "$out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
