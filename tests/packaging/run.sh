#!/bin/sh
# Builds the .deb (cargo-deb) and the .rpm (cargo-generate-rpm), lints and inspects them,
# and install-tests the .deb in a scratch Debian root (debootstrap): real maintainer
# scripts, `passbyme check`, pamtester logins against an emulator run inside, then a purge
# that must leave nothing behind. Needs root. Caches only under target/.
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok   $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL $*"; }
check() { desc=$1; shift; if "$@" >/dev/null 2>&1; then ok "$desc"; else bad "$desc"; fi; }

# Tools, installed only when missing.
need_apt=""
for p in lintian rpm rpm2cpio cpio debootstrap; do
    dpkg -s "$p" >/dev/null 2>&1 || need_apt="$need_apt $p"
done
if [ -n "$need_apt" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi
command -v cargo-deb >/dev/null || cargo install --locked --quiet cargo-deb
command -v cargo-generate-rpm >/dev/null || cargo install --locked --quiet cargo-generate-rpm

cargo build --release --locked --quiet

# --- .deb ---------------------------------------------------------------------------------
deb=$(cargo deb --no-build --quiet 2>/dev/null | tail -n 1)
[ -f "$deb" ] || { echo "FAIL cargo deb produced no package"; exit 1; }
echo "built $deb ($(du -h "$deb" | cut -f1))"
contents=$(dpkg-deb -c "$deb")
has() { printf '%s\n' "$contents" | grep -Eq "$1"; }
check "deb: module in the multiarch PAM directory" has ' \./usr/lib/x86_64-linux-gnu/security/pam_passbyme\.so$'
check "deb: /usr/bin/passbyme" has '^-rwxr-xr-x .* \./usr/bin/passbyme$'
check "deb: sample config root-only (0600)" has '^-rw------- (root/root|0/0) .* \./etc/passbyme/passbyme\.toml$'
check "deb: man pages pam_passbyme(8), passbyme(1), passbyme.toml(5)" sh -c \
    "dpkg-deb -c '$deb' | grep -c 'usr/share/man/man[158]/\(pam_passbyme.8\|passbyme.1\|passbyme.toml.5\)' | grep -qx 3"
check "deb: README, changelog, copyright, pam.d examples" sh -c \
    "dpkg-deb -c '$deb' | grep -c 'usr/share/doc/libpam-passbyme/\(README.md\|changelog.Debian.gz\|copyright\|examples/pam.d/sshd\|examples/pam.d/sudo\)$' | grep -qx 5"
check "deb: the config is a conffile" sh -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/passbyme/passbyme.toml"
check "deb: depends on libpam0g and libc6" sh -c \
    "dpkg-deb -f '$deb' Depends | grep -q libpam0g && dpkg-deb -f '$deb' Depends | grep -q libc6"
check "deb: never touches /etc/pam.d" sh -c "! dpkg-deb -c '$deb' | grep -q 'etc/pam.d'"
# lintian: no errors. Warnings that remain are expected, each for a reason:
#  - non-standard-file-perm for etc/passbyme/passbyme.toml 0600: it may hold the key's
#    password; root-only is the point.
#  - initial-upload-closes-no-bugs: this package is not in Debian; there is no ITP bug.
lint=$(lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges' || true)
printf '%s\n' "$lint" | sed 's/^/     lintian: /'
check "deb: lintian shows no errors" sh -c "! printf '%s\n' \"\$1\" | grep -q '^E:'" _ "$lint"

# --- .rpm ---------------------------------------------------------------------------------
cargo generate-rpm >/dev/null
rpmf=$(ls -t target/generate-rpm/*.rpm | head -n 1)
echo "built $rpmf ($(du -h "$rpmf" | cut -f1))"
check "rpm: module in /usr/lib64/security" sh -c "rpm -qlp '$rpmf' 2>/dev/null | grep -qx /usr/lib64/security/pam_passbyme.so"
check "rpm: /usr/bin/passbyme and man pages" sh -c \
    "rpm -qlp '$rpmf' 2>/dev/null | grep -c '^/usr/bin/passbyme$\|^/usr/share/man/man[158]/' | grep -qx 4"
check "rpm: config is %config(noreplace)" sh -c \
    "rpm -qcp '$rpmf' 2>/dev/null | grep -qx /etc/passbyme/passbyme.toml && rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' '$rpmf' 2>/dev/null | grep -q '^cn /etc/passbyme/passbyme.toml'"
check "rpm: requires glibc (rtld) and libpam" sh -c "rpm -qRp '$rpmf' 2>/dev/null | grep -q 'libpam.so.0'"
scratch=$(mktemp -d "$top/target/rpmroot.XXXXXX")
(cd "$scratch" && rpm2cpio "$top/$rpmf" | cpio -idm --quiet)
check "rpm: extracted config is 0600" sh -c "[ \$(stat -c %a '$scratch/etc/passbyme/passbyme.toml') = 600 ]"
check "rpm: extracted module is an ELF shared object exporting pam_sm_authenticate" sh -c \
    "nm -D --defined-only '$scratch/usr/lib64/security/pam_passbyme.so' | grep -q ' T pam_sm_authenticate$'"
rm -rf "$scratch"

# --- install test in a scratch Debian root ------------------------------------------------
cache="$top/target/debootstrap-bookworm"
if [ ! -x "$cache/usr/bin/pamtester" ]; then
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    mirror=${mirror:-http://deb.debian.org/debian}
    rm -rf "$cache"
    debootstrap --variant=minbase --include=libpam-modules,pamtester bookworm "$cache" "$mirror" >/dev/null
fi
root=$(mktemp -d "$top/target/pkgroot.XXXXXX")
cp -a "$cache/." "$root/"
emu_pid=""
cleanup() {
    [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
    umount "$root/proc" "$root/dev" 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp "$deb" "$root/tmp/pkg.deb"
in_root() { chroot "$root" "$@"; }

check "install: dpkg -i with maintainer scripts" in_root dpkg -i /tmp/pkg.deb
check "install: module where libpam looks" test -f "$root/usr/lib/x86_64-linux-gnu/security/pam_passbyme.so"
check "install: sample config 0600 root" sh -c "[ \"\$(stat -c '%a %U' '$root/etc/passbyme/passbyme.toml')\" = '600 root' ]"
check "install: man page readable" test -f "$root/usr/share/man/man8/pam_passbyme.8.gz"

# An emulator inside the root (the packaged binary), and a config pointing at it.
in_root /usr/bin/passbyme emulator --listen 127.0.0.1:0 --state-dir /root/emu --answer approve \
    --after 300ms > "$root/tmp/emu.out" 2>/dev/null &
emu_pid=$!
for _ in $(seq 50); do grep -q '^listening on' "$root/tmp/emu.out" 2>/dev/null && break; sleep 0.1; done
{
    sed '/^\[users\]/,$d' "$root/root/emu/passbyme.toml"
    printf '[users]\npkgok = "pkgok+approve+after=300ms@x"\npkgno = "pkgno+deny+after=300ms@x"\n'
} > "$root/etc/passbyme/passbyme.toml"
chmod 600 "$root/etc/passbyme/passbyme.toml"
check "installed: passbyme check --connect (the default config path)" in_root passbyme check --connect
printf 'auth required pam_passbyme.so prompt=none\n' > "$root/etc/pam.d/pbmtest"
check "installed: pamtester login approved" in_root pamtester pbmtest pkgok authenticate
check "installed: pamtester login denied" sh -c "! chroot '$root' pamtester pbmtest pkgno authenticate"
kill "$emu_pid"; emu_pid=""
rm -f "$root/etc/pam.d/pbmtest"

owned=$(in_root dpkg -L libpam-passbyme | grep -v '^/\.$')
check "purge: dpkg --purge" in_root dpkg --purge libpam-passbyme
left=""
for f in $owned; do
    case "$f" in /usr|/usr/*/|/etc|/usr/bin|/usr/lib|/usr/share|/usr/share/*) [ -d "$root$f" ] && continue ;; esac
    [ -e "$root$f" ] && [ ! -d "$root$f" ] && left="$left $f"
done
check "purge: none of the package's files left${left:+ (left:$left)}" test -z "$left"
check "purge: /etc/passbyme removed" test ! -e "$root/etc/passbyme"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
