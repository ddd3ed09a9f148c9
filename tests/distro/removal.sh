#!/bin/sh
# Removing the package must not lock the host: the .deb's prerm and the .rpm's %preun refuse
# while a PAM file libpam reads still names pam_passbyme.so on a live line, name the files
# and lines, say how to proceed, and let upgrades through; PASSBYME_FORCE_REMOVE=1 is the
# documented override. Tested with the real apt, dpkg and rpm in a fresh copy of a Debian root.
#
#   sh tests/distro/removal.sh SUITE DEB RPM      SUITE: bullseye | bookworm | trixie | forky
#
# Works on its own copy of `sh tests/distro/root.sh SUITE` (never the cached root), in private
# mount and PID namespaces (whatever it starts dies with them). The .rpm goes in with
# `rpm --root ROOT --dbpath /var/lib/rpm --nodeps`, as tests/packaging/run.sh does; its
# scriptlets run in the root with the root's /bin/sh. Prints ok/FAIL per check, ends with
# "N passed, M failed", exits non-zero on failure. Needs root.
# shellcheck disable=SC2016 # sh -c scripts and dpkg-query formats are single-quoted on purpose
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)

pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds; else FAIL and the last output.
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; printf '%s\n' "$out" | sed -n '1,30s/^/     | /p'; fi; }
has() { printf '%s\n' "$out" | grep -Fq -- "$1"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; }

if [ "${1:-}" = --inner ]; then
    # Inside the namespaces: $2 = the root copy, $3 = suite. /proc of this PID namespace.
    root=$2; suite=$3
    mount -t proc proc "$root/proc"
    in_root() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"; }
    status() { in_root dpkg-query -W -f='${db:Status-Status}' libpam-passbyme 2>/dev/null || echo not-installed; }
    module=/usr/lib/x86_64-linux-gnu/security/pam_passbyme.so
    sample=/usr/share/doc/libpam-passbyme/examples/pam.d/sshd
    cp "$root/etc/pam.d/sshd" "$root/root/sshd.stock"

    out=$(in_root dpkg -i /root/pkg.deb 2>&1) && rc=0 || rc=$?
    check "$suite deb: dpkg -i" [ "$rc" = 0 ]
    # The sample PAM file for sshd, installed as README says: a live module line.
    cp "$root$sample" "$root/etc/pam.d/sshd"
    n=$(grep -n '^auth .*pam_passbyme\.so' "$root/etc/pam.d/sshd" | head -n 1 | cut -d: -f1)
    want="  /etc/pam.d/sshd:$n: $(sed -n "${n}p" "$root/etc/pam.d/sshd")"

    out=$(in_root apt remove -y libpam-passbyme 2>&1) && rc=0 || rc=$?
    check "$suite deb: apt remove refused (exit $rc) by prerm while /etc/pam.d/sshd uses the module" \
        sh -c "[ '$rc' != 0 ] && printf '%s\n' \"\$1\" | grep -q '^libpam-passbyme: refusing to remove pam_passbyme.so'" _ "$out"
    check "$suite deb: the refusal names the file, line number and line" has "$want"
    check "$suite deb: the refusal says how to proceed and names the override" \
        sh -c 'printf "%s\n" "$1" | grep -q "remove or comment out these lines" &&
               printf "%s\n" "$1" | grep -q "PASSBYME_FORCE_REMOVE=1 apt remove libpam-passbyme"' _ "$out"
    check "$suite deb: still installed, module in place" sh -c \
        "[ \"\$1\" = installed ] && [ -f '$root$module' ]" _ "$(status)"

    out=$(in_root dpkg -i /root/pkg.deb 2>&1) && rc=0 || rc=$?
    check "$suite deb: upgrade (dpkg -i of the package again) not blocked by the line" \
        sh -c "[ '$rc' = 0 ] && [ \"\$1\" = installed ]" _ "$(status)"

    # The line in a file included by absolute path from another service (substack), and in
    # a vendor file (/usr/lib/pam.d) that /etc/pam.d does not override; sshd is stock again.
    cp "$root/root/sshd.stock" "$root/etc/pam.d/sshd"
    printf 'auth required pam_passbyme.so\n' >"$root/etc/pbm-included"
    printf '# a service including a file outside pam.d\nauth substack /etc/pbm-included\n' >"$root/etc/pam.d/pbm-svc"
    mkdir -p "$root/usr/lib/pam.d"
    printf '\n  auth\t[default=die]\t/usr/lib/x86_64-linux-gnu/security/pam_passbyme.so\n' >"$root/usr/lib/pam.d/pbm-vendor"
    printf 'auth required pam_passbyme.so\n' >"$root/usr/lib/pam.d/pbm-overridden"
    printf 'auth required pam_unix.so\n' >"$root/etc/pam.d/pbm-overridden"
    out=$(in_root dpkg -r libpam-passbyme 2>&1) && rc=0 || rc=$?
    check "$suite deb: dpkg -r refused (exit $rc): absolute include and vendor file" [ "$rc" != 0 ]
    check "$suite deb: names the included file /etc/pbm-included:1" has "  /etc/pbm-included:1: auth required pam_passbyme.so"
    check "$suite deb: names the vendor file /usr/lib/pam.d/pbm-vendor:2 (full module path)" \
        has "  /usr/lib/pam.d/pbm-vendor:2: auth	[default=die]	/usr/lib/x86_64-linux-gnu/security/pam_passbyme.so"
    check "$suite deb: does not name a vendor file /etc/pam.d overrides" sh -c \
        "! printf '%s\n' \"\$1\" | grep -q pbm-overridden" _ "$out"
    check "$suite deb: still installed" [ "$(status)" = installed ]

    # Only comments left naming the module: removal goes through.
    rm -f "$root/etc/pbm-included" "$root/etc/pam.d/pbm-svc" "$root/usr/lib/pam.d/pbm-vendor" \
        "$root/usr/lib/pam.d/pbm-overridden" "$root/etc/pam.d/pbm-overridden"
    printf '# auth required pam_passbyme.so\nauth required pam_unix.so # was: pam_passbyme.so\n' >"$root/etc/pam.d/pbm-svc"
    out=$(in_root apt remove -y libpam-passbyme 2>&1) && rc=0 || rc=$?
    check "$suite deb: apt remove allowed once only comments name the module" \
        sh -c "[ '$rc' = 0 ] && [ \"\$1\" = config-files ] && [ ! -e '$root$module' ]" _ "$(status)"

    # The override: reinstall, line back, PASSBYME_FORCE_REMOVE=1 removes with a warning.
    in_root dpkg -i /root/pkg.deb >/dev/null 2>&1 || true
    cp "$root$sample" "$root/etc/pam.d/sshd"
    out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 PASSBYME_FORCE_REMOVE=1 \
        chroot "$root" dpkg -P libpam-passbyme 2>&1) && rc=0 || rc=$?
    check "$suite deb: PASSBYME_FORCE_REMOVE=1 dpkg -P goes through, warning with the line" \
        sh -c "[ '$rc' = 0 ] && [ \"\$1\" = not-installed ] && printf '%s\n' \"\$2\" | grep -q WARNING &&
               printf '%s\n' \"\$2\" | grep -Fq \"\$3\"" _ "$(status)" "$out" "$want"

    # The .rpm, with rpm's own database in the root and its scriptlets run there.
    rpmq() { rpm --root "$root" --dbpath /var/lib/rpm "$@"; }
    out=$(rpmq -i --nodeps "$root/root/pkg.rpm" 2>&1) && rc=0 || rc=$?
    check "$suite rpm: rpm -i" [ "$rc" = 0 ]
    cp "$root/root/sshd.stock" "$root/etc/pam.d/sshd"
    printf 'auth [success=done default=die] pam_passbyme.so prompt=enter\n' >>"$root/etc/pam.d/sshd"
    n=$(wc -l <"$root/etc/pam.d/sshd")
    out=$(rpmq -e --nodeps pam-passbyme 2>&1) && rc=0 || rc=$?
    check "$suite rpm: rpm -e refused (exit $rc) by %preun while /etc/pam.d/sshd uses the module" \
        sh -c "[ '$rc' != 0 ] && printf '%s\n' \"\$1\" | grep -q '^pam-passbyme: refusing to erase pam_passbyme.so'" _ "$out"
    check "$suite rpm: the refusal names the file, line number and line, and the override" sh -c \
        'printf "%s\n" "$1" | grep -Fq "  /etc/pam.d/sshd:$2: auth [success=done default=die] pam_passbyme.so prompt=enter" &&
         printf "%s\n" "$1" | grep -q "PASSBYME_FORCE_REMOVE=1 dnf remove pam-passbyme"' _ "$out" "$n"
    check "$suite rpm: still installed, module in place" sh -c \
        "rpm --root '$root' --dbpath /var/lib/rpm -q pam-passbyme >/dev/null && [ -f '$root/usr/lib64/security/pam_passbyme.so' ]"
    out=$(rpmq -U --replacepkgs --nodeps "$root/root/pkg.rpm" 2>&1) && rc=0 || rc=$?
    check "$suite rpm: upgrade (rpm -U --replacepkgs: %preun with \$1 = 1) not blocked" [ "$rc" = 0 ]
    out=$(PASSBYME_FORCE_REMOVE=1 rpm --root "$root" --dbpath /var/lib/rpm -e --nodeps pam-passbyme 2>&1) && rc=0 || rc=$?
    check "$suite rpm: PASSBYME_FORCE_REMOVE=1 rpm -e goes through, with the warning" \
        sh -c "[ '$rc' = 0 ] && ! rpm --root '$root' --dbpath /var/lib/rpm -q pam-passbyme >/dev/null &&
               printf '%s\n' \"\$1\" | grep -q WARNING" _ "$out"
    rpmq -i --nodeps "$root/root/pkg.rpm" >/dev/null 2>&1 || true
    cp "$root/root/sshd.stock" "$root/etc/pam.d/sshd"
    out=$(rpmq -e --nodeps pam-passbyme 2>&1) && rc=0 || rc=$?
    check "$suite rpm: rpm -e allowed once no PAM file names the module" \
        sh -c "[ '$rc' = 0 ] && ! rpm --root '$root' --dbpath /var/lib/rpm -q pam-passbyme >/dev/null"
    echo "$pass passed, $fail failed"
    exit 0
fi

usage="usage: sh tests/distro/removal.sh SUITE DEB RPM"
suite=${1:?$usage}; deb=${2:?$usage}; rpmf=${3:?$usage}
[ "$(id -u)" = 0 ] || { echo "removal.sh: needs root (chroot, namespaces)" >&2; exit 2; }
{ [ -f "$deb" ] && [ -f "$rpmf" ]; } || { echo "removal.sh: no such package: $deb or $rpmf" >&2; exit 2; }
command -v rpm >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rpm >/dev/null
}
t0=$(date +%s)

# The guard is one function in two scriptlets: they must not drift apart.
fn() { sed -n '/^pbm_pam_lines() {$/,/^}$/p' "$1"; }
if [ -n "$(fn packaging/debian/prerm)" ] && [ "$(fn packaging/debian/prerm)" = "$(fn packaging/rpm/preun)" ]; then
    ok "the guard function is the same in packaging/debian/prerm and packaging/rpm/preun"
else
    bad "packaging/debian/prerm and packaging/rpm/preun differ in pbm_pam_lines()"
fi
# What the packages carry is what is in the tree.
if dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./prerm | cmp -s - packaging/debian/prerm; then
    ok "the .deb's prerm is packaging/debian/prerm"; else bad "the .deb's prerm is not packaging/debian/prerm"; fi
if rpm -qp --scripts "$rpmf" 2>/dev/null | grep -q '^preuninstall scriptlet (using /bin/sh):'; then
    ok "the .rpm has a %preun scriptlet (/bin/sh)"; else bad "the .rpm has no %preun scriptlet"; fi

cached=$(sh tests/distro/root.sh "$suite")
mkdir -p "$top/target"
work=$(mktemp -d "$top/target/removal-$suite.XXXXXX")
root="$work/root"
cleanup() {
    if grep -q " $work/" /proc/self/mounts; then
        echo "removal.sh: $work still has mounts; left in place" >&2
    else
        rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$root"
cp -a "$cached/." "$root/"
cp "$deb" "$root/root/pkg.deb"
cp "$rpmf" "$root/root/pkg.rpm"
out=$(timeout -k 5 300 unshare -m -p -f --propagation private sh "$0" --inner "$root" "$suite" 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" | grep -v ' passed, .* failed$'
p=$(printf '%s\n' "$out" | grep -c '^ok   ' || true)
f=$(printf '%s\n' "$out" | grep -c '^FAIL ' || true)
pass=$((pass + p)); fail=$((fail + f))
[ "$rc" = 0 ] || bad "the test in the namespaces ended with status $rc"
echo "     removal $suite: $(($(date +%s) - t0)) s"
finish
