#!/bin/sh
# arm64 under emulation: the arm64 package installed in an arm64 Debian 12 root and logging
# in for real through arm64 libpam, all run by qemu-aarch64 through binfmt_misc, plus the
# library's unit tests built for aarch64 and run the same way.
#
#   sh tests/arm64/run.sh      (after packaging/build.sh, which makes the arm64 .deb)
#
# What it changes on the host, and what it leaves behind:
#  - installs qemu-user-static when missing (a package, kept: like the other test tools);
#  - registers qemu-aarch64 with binfmt_misc when it is not registered yet, and removes that
#    registration at the end. The registration is the kernel's, not the mount's: while this
#    runs, any arm64 program on the host would start under qemu. binfmt_misc itself is
#    mounted only inside this script's private mount namespace (it goes away with it).
# Caches (under target/ unless PBM_DISTRO_CACHE says otherwise): the arm64 root, made by
# tests/distro/root.sh with only libpam-modules, libpam-runtime and pamtester
# (PBM_ROOT_PKGS), and copied afresh for every run. The emulator runs inside the root on
# 127.0.0.1. Prints one line per check and ends with "N passed, M failed"; exits non-zero
# on failure. Timings under qemu say nothing about performance on arm64 hardware.
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$top/target}"
tdir="$top/target"
[ "$(id -u)" = 0 ] || { echo "tests/arm64/run.sh: needs root (binfmt_misc, chroot, mounts)" >&2; exit 2; }
# Everything below runs in a private mount namespace: binfmt_misc and the root's /proc are
# mounted for this script only.
if [ -z "${PBM_ARM64_NS:-}" ]; then
    PBM_ARM64_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok   $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL $*"; }
check() { desc=$1; shift; if "$@" >/dev/null 2>&1; then ok "$desc"; else bad "$desc"; fi; }
has() { printf '%s\n' "$1" | grep -Eq -- "$2"; }
note() { echo "     $*"; }
now() { date +%s.%N | cut -c1-14; }
since() { echo "$(now) $1" | awk '{printf "%.1f", $1 - $2}'; }
# wait_for LIMIT COMMAND...: until COMMAND succeeds, every 0.1 s, at most LIMIT seconds.
wait_for() {
    limit=$1; shift
    end=$(($(date +%s) + limit))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
    done
}
t_all=$(now)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arm=aarch64-unknown-linux-gnu
deb="$tdir/$arm/debian/libpam-passbyme_$version-1_arm64.deb"
[ -f "$deb" ] || { echo "tests/arm64/run.sh: no $deb: run sh packaging/build.sh first" >&2; exit 2; }

# --- qemu-aarch64 through binfmt_misc ---------------------------------------------------------
command -v qemu-aarch64-static >/dev/null || {
    echo "installing qemu-user-static"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
}
bfm=/proc/sys/fs/binfmt_misc
[ -e "$bfm/register" ] || mount -t binfmt_misc binfmt_misc "$bfm"
registered=""
if [ ! -e "$bfm/qemu-aarch64" ]; then
    cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$bfm/register"
    registered=yes
fi
check "binfmt_misc: qemu-aarch64 enabled, interpreter fixed at registration (flag F: works in a chroot)${registered:+ (registered by this run)}" \
    sh -c "grep -qx enabled '$bfm/qemu-aarch64' && grep -q '^flags: .*F' '$bfm/qemu-aarch64'"

# --- a fresh copy of the arm64 Debian 12 root ------------------------------------------------
t0=$(now)
cached=$(PBM_ROOT_PKGS=libpam-modules,libpam-runtime,pamtester sh tests/distro/root.sh bookworm arm64)
note "arm64 root ready in $(since "$t0") s: $cached"
root=$(mktemp -d "$tdir/arm64root.XXXXXX")
emu_pid=""; log_pid=""; bg_pid=""
mounted() { grep -q " $1 " /proc/self/mounts; }
cleanup() {
    for p in $emu_pid $log_pid $bg_pid; do kill "$p" 2>/dev/null || true; done
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill "${p#/proc/}" 2>/dev/null
    done
    sleep 0.2
    if mounted "$root/proc"; then umount "$root/proc" || umount -l "$root/proc" || true; fi
    # Never delete through a mount point.
    if ! grep -q " $root/" /proc/self/mounts; then rm -rf --one-file-system "$root"; fi
    if [ -n "$registered" ] && [ -e "$bfm/qemu-aarch64" ]; then echo -1 >"$bfm/qemu-aarch64" || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp -a "$cached/." "$root/"
mount -t proc proc "$root/proc"
# The module's syslog lines, recorded by a socket of ours at the root's /dev/log.
rm -f "$root/dev/log"
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
' "$root/dev/log" "$root/tmp/syslog.txt" &
log_pid=$!
in_root() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$root" "$@"; }
check "root: its programs are arm64 and run under qemu (uname -m aarch64, dpkg arch arm64)" sh -c \
    "[ \"\$(chroot '$root' uname -m)\" = aarch64 ] && [ \"\$(chroot '$root' dpkg --print-architecture)\" = arm64 ]"

# --- install ---------------------------------------------------------------------------------
cp "$deb" "$root/tmp/pkg.deb"
out=$(in_root dpkg -i /tmp/pkg.deb 2>&1) && rc=0 || rc=$?
check "install: dpkg -i $(basename "$deb") (real maintainer scripts, arm64 dpkg)" test "$rc" = 0
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/     /'
check "install: dpkg reports install ok installed" sh -c \
    "[ \"\$(chroot '$root' dpkg-query -W -f='\${Status} \${Architecture}' libpam-passbyme)\" = 'install ok installed arm64' ]"
check "install: the module where arm64 libpam looks (/usr/lib/aarch64-linux-gnu/security), 644" \
    test "$(stat -c %a "$root/usr/lib/aarch64-linux-gnu/security/pam_passbyme.so" 2>/dev/null)" = 644
out=$(in_root passbyme --version 2>&1) && rc=0 || rc=$?
check "installed: passbyme --version runs (arm64, under qemu): $out" sh -c "[ '$rc' = 0 ] && [ '$out' = 'passbyme $version' ]"

# --- the emulator in the root, the shipped sample pointed at it -------------------------------
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$root" \
    /usr/bin/passbyme emulator --listen 127.0.0.1:0 --admin 127.0.0.1:0 --state-dir /root/emu \
    --answer approve --after 300ms >"$root/tmp/emu.out" 2>"$root/tmp/emu.err" &
emu_pid=$!
got_addrs() { grep -q '^admin on http://' "$root/tmp/emu.out"; }
wait_for 60 got_addrs || true
addr=$(sed -n 's|^listening on https://||p' "$root/tmp/emu.out")
admin=$(sed -n 's|^admin on http://||p' "$root/tmp/emu.out")
check "installed: passbyme emulator runs in the root (on ${addr:-?}, admin ${admin:-?})" test -n "$addr" -a -n "$admin"
# emu USER_ID: the emulator's view of USER_ID's latest message, "STATUS POLLS MESSAGES".
emu() {
    /usr/bin/python3 -c '
import json, sys, urllib.request
msgs = json.load(urllib.request.urlopen("http://%s/admin/messages" % sys.argv[1], timeout=5))
mine = [m for m in msgs if m["recipients"][0]["userId"] == sys.argv[2]]
if mine:
    print(mine[-1]["recipients"][0]["status"], mine[-1]["requests"]["track"], len(mine))
else:
    print("none 0 0")
' "$admin" "$1"
}
status_is() { [ "$(emu "$1" | cut -d ' ' -f 1)" = "$2" ]; }
polled() { [ "$(emu "$1" | cut -d ' ' -f 2)" -ge 1 ]; }

sed -e "s|^# address = .*|address = \"$addr\"|" \
    -e 's|^credentials = .*|credentials = "/root/emu/client.pem"|' \
    -e 's|^password_file = .*|password_file = "/root/emu/client.password"|' \
    -e 's|^# ca_bundle = .*|ca_bundle = "/root/emu/ca.pem"|' \
    "$root/etc/passbyme/passbyme.toml" >"$root/tmp/conf.toml"
cat "$root/tmp/conf.toml" >"$root/etc/passbyme/passbyme.toml"
ok_id="armok+approve+after=300ms@emulator.test"; no_id="armno+deny+after=300ms@emulator.test"
slow_id="armslow+ignore@emulator.test"; term_id="armterm+ignore@emulator.test"; int_id="armint+ignore@emulator.test"
printf 'armok = "%s"\narmno = "%s"\narmslow = "%s"\narmterm = "%s"\narmint = "%s"\n' \
    "$ok_id" "$no_id" "$slow_id" "$term_id" "$int_id" >>"$root/etc/passbyme/passbyme.toml"
for u in armok armno armslow armterm armint; do
    in_root useradd --no-create-home --shell /usr/sbin/nologin "$u"
done
out=$(in_root passbyme check --connect 2>&1) && rc=0 || rc=$?
check "installed: passbyme check --connect against the emulator (exit 0, PASSBYME OK)" sh -c \
    "[ '$rc' = 0 ] && printf '%s\n' \"\$1\" | sed -n 1p | grep -q '^PASSBYME OK'" _ "$out"
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/     /'

# --- real logins through arm64 libpam (pamtester) ---------------------------------------------
printf '%s\n' "auth [success=done ignore=ignore default=die] pam_passbyme.so prompt=info" \
    "auth requisite pam_deny.so" >"$root/etc/pam.d/pbmtest"
printf '%s\n' "auth [success=done ignore=ignore default=die] pam_passbyme.so prompt=info timeout=5s" \
    "auth requisite pam_deny.so" >"$root/etc/pam.d/pbmshort"
logged() { grep -Eq "$1" "$root/tmp/syslog.txt"; }

t0=$(now)
out=$(in_root pamtester -I rhost=192.0.2.10 pbmtest armok authenticate 2>&1) && rc=0 || rc=$?
check "login approved on the phone: pamtester exit 0, 'successfully authenticated' ($(since "$t0") s)" \
    sh -c '[ "$1" = 0 ] && printf "%s\n" "$2" | grep -q "successfully authenticated"' _ "$rc" "$out"
check "approved: the terminal was shown the verification code" has "$out" 'Verification code: [1-9][0-9]$'
check "approved: emulator status APPROVED, one message" test "$(emu "$ok_id" | sed 's/ [0-9]* / /')" = "APPROVED 1"
check "approved: logged decision=approved ... settled=final" wait_for 10 logged \
    'pam_passbyme\(pbmtest:auth\): decision=approved user=armok .*settled=final'

t0=$(now)
out=$(in_root pamtester -I rhost=192.0.2.10 pbmtest armno authenticate 2>&1) && rc=0 || rc=$?
check "login denied on the phone: refused with PAM_MAXTRIES ($(since "$t0") s)" \
    sh -c '[ "$1" != 0 ] && printf "%s\n" "$2" | grep -q "exhausted maximum number of retries"' _ "$rc" "$out"
check "denied: emulator status DENIED" status_is "$no_id" DENIED
check "denied: logged decision=refused status=DENIED" wait_for 10 logged \
    'pam_passbyme\(pbmtest:auth\): decision=refused user=armno .*status=DENIED'

# No answer: the module's deadline (timeout=5s on the module line) refuses the login and
# cancels the push at the emulator.
t0=$(now)
out=$(in_root pamtester -I rhost=192.0.2.10 pbmshort armslow authenticate 2>&1) && rc=0 || rc=$?
took=$(since "$t0")
check "no answer: refused after the 5 s deadline (took $took s)" sh -c \
    '[ "$1" != 0 ] && ! printf "%s\n" "$2" | grep -q "successfully authenticated" &&
     awk -v t="$3" "BEGIN {exit !(t >= 5 && t < 30)}"' _ "$rc" "$out" "$took"
check "no answer: the push CANCELLED at the emulator" status_is "$slow_id" CANCELLED
check "no answer: logged decision=timeout ... settled=cancelled" wait_for 10 logged \
    'pam_passbyme\(pbmshort:auth\): decision=timeout user=armslow .*settled=cancelled'

# A signal to the authenticating process while the module polls: the module cancels the
# push, then hands the signal back, so pamtester dies by it (as sshd's PAM child does).
# env --default-signal: a background job of a script starts with SIGINT ignored, and the
# module leaves an ignored signal alone.
for s in TERM:143:armterm:"$term_id" INT:130:armint:"$int_id"; do
    sig=${s%%:*}; rest=${s#*:}; want_rc=${rest%%:*}; rest=${rest#*:}; user=${rest%%:*}; id=${rest#*:}
    env --default-signal=INT -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$root" \
        pamtester -I rhost=192.0.2.10 pbmtest "$user" authenticate >"$root/tmp/sig.out" 2>&1 &
    bg_pid=$!
    if wait_for 60 polled "$id"; then
        t0=$(now)
        kill -s "$sig" "$bg_pid"
        wait_for 20 status_is "$id" CANCELLED && cancelled=$(since "$t0") || cancelled=""
        gone() { case $(ps -o stat= -p "$bg_pid") in '' | Z*) return 0 ;; *) return 1 ;; esac; }
        wait_for 20 gone || kill -9 "$bg_pid" 2>/dev/null || true
        wait "$bg_pid" 2>/dev/null && rc=0 || rc=$?
        bg_pid=""
        check "SIG$sig while polling: the push CANCELLED at the emulator (${cancelled:-never} s after the signal)" test -n "$cancelled"
        check "SIG$sig while polling: login refused, pamtester died by SIG$sig (exit $rc, want $want_rc)" sh -c \
            "[ '$rc' = '$want_rc' ] && ! grep -q 'successfully authenticated' '$root/tmp/sig.out'"
        check "SIG$sig while polling: logged decision=interrupted signal=SIG$sig settled=cancelled" wait_for 10 logged \
            "pam_passbyme\\(pbmtest:auth\\): decision=interrupted user=$user .*signal=SIG$sig.*settled=cancelled"
    else
        bad "SIG$sig: the module never polled $id"; kill "$bg_pid" 2>/dev/null || true; bg_pid=""
    fi
done

# The demo: its own emulator and a login through the installed module, found where this
# machine's libpam loads modules from.
t0=$(now)
out=$(in_root passbyme demo --answer approve 2>&1) && rc=0 || rc=$?
check "installed: passbyme demo --answer approve: pam_authenticate: Success ($(since "$t0") s)" sh -c \
    '[ "$1" = 0 ] && printf "%s\n" "$2" | grep -q "pam_authenticate: Success" &&
     printf "%s\n" "$2" | grep -q "/usr/lib/aarch64-linux-gnu/security/pam_passbyme.so"' _ "$rc" "$out"
[ "$rc" = 0 ] || printf '%s\n' "$out" | tail -n 5 | sed 's/^/     /'
kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; emu_pid=""
rm -f "$root/etc/pam.d/pbmtest" "$root/etc/pam.d/pbmshort"
check "purge: dpkg --purge, /etc/passbyme gone" sh -c \
    "chroot '$root' dpkg --purge libpam-passbyme >/dev/null && [ ! -e '$root/etc/passbyme' ] &&
     [ ! -e '$root/usr/lib/aarch64-linux-gnu/security/pam_passbyme.so' ]"
note "package tests: $(since "$t_all") s"

# --- the library's unit tests, built for aarch64, run under qemu -----------------------------
t0=$(now)
eval "$(sh packaging/build.sh --env "$arm")"
# Linked against the root's glibc (2.36), not the packages' 2.28 baseline: this debug build
# links Debian's precompiled arm64 std as it is, which refers to gettid (glibc 2.30); the
# release build (LTO) does not, and packaging/build.sh checks its symbol versions.
json=$(cargo-zigbuild test --locked --lib --no-run --target "$arm.2.36" --message-format=json 2>"$tdir/arm64-unit-build.log") && rc=0 || rc=$?
unit=$(printf '%s\n' "$json" | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])
' | tail -n 1)
check "unit tests: built for aarch64 with $($RUSTC -V | cut -d ' ' -f 1-2) ($(since "$t0") s)" sh -c \
    "[ '$rc' = 0 ] && [ -n '$unit' ] && readelf -h '$unit' | grep -q 'Machine: *AArch64'"
[ "$rc" = 0 ] || tail -n 20 "$tdir/arm64-unit-build.log" | sed 's/^/     /'
# Run as cargo test would (from the crate's directory), by qemu through binfmt_misc, with
# the arm64 root as the library prefix (its ld.so, libc, libgcc_s, libpam).
if [ -n "$unit" ]; then
    t0=$(now)
    out=$(QEMU_LD_PREFIX="$root" "$unit" --test-threads=2 2>&1) && rc=0 || rc=$?
    result=$(printf '%s\n' "$out" | grep '^test result:' | tail -n 1)
    check "unit tests under qemu: ${result:-no result} ($(since "$t0") s)" sh -c \
        "[ '$rc' = 0 ] && printf '%s\n' \"\$1\" | grep -q '^test result: ok\\. [1-9][0-9]* passed; 0 failed'" _ "$result"
    [ "$rc" = 0 ] || printf '%s\n' "$out" | grep -E '^(test .* FAILED|failures:|---- )' | head -n 30 | sed 's/^/     /'
fi

note "tests/arm64/run.sh: $(since "$t_all") s in all"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
