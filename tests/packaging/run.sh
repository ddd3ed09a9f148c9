#!/bin/sh
# Packages: builds the .deb and the .rpm for x86_64 and arm64 (packaging/build.sh), checks
# the man pages and the sample configuration, lints both architectures' packages, inspects
# the x86_64 .rpm and installs it into a scratch root, and install-tests the .deb in a scratch Debian
# root (debootstrap): real maintainer scripts, `passbyme check`, pamtester logins through
# the installed module against an emulator run inside the root, then a purge that must leave
# nothing behind.
#
# Needs root (chroot, mounts, ownership), and the network the first time (debootstrap,
# missing tools). Writes only under the repository's target/: the debootstrap root is cached
# in target/debootstrap-bookworm and copied afresh for every run. Binds only to 127.0.0.1.
# Prints one line per check and ends with "N passed, M failed"; exits non-zero on failure.
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$top/target}"
tdir="$top/target"

pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok   $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL $*"; }
# check DESCRIPTION COMMAND...: one line, ok when the command succeeds.
check() { desc=$1; shift; if "$@" >/dev/null 2>&1; then ok "$desc"; else bad "$desc"; fi; }
# has TEXT REGEX: TEXT has a line matching the extended REGEX.
has() { printf '%s\n' "$1" | grep -Eq -- "$2"; }
note() { echo "     $*"; }

[ "$(id -u)" = 0 ] || { echo "tests/packaging/run.sh: needs root (chroot, mounts)" >&2; exit 2; }

# --- tools, installed only when missing --------------------------------------------------
need_apt=""
command -v lintian >/dev/null || need_apt="$need_apt lintian"
command -v rpm >/dev/null || need_apt="$need_apt rpm"
command -v rpmlint >/dev/null || need_apt="$need_apt rpmlint"
command -v debootstrap >/dev/null || need_apt="$need_apt debootstrap"
command -v groff >/dev/null || need_apt="$need_apt groff-base"
command -v man >/dev/null || need_apt="$need_apt man-db"
# The SELinux policy module: the reference policy's Makefile and headers, a policy store to
# load it into (a private copy of it), the pp-to-CIL converter and semodule, sesearch.
[ -f /usr/share/selinux/devel/Makefile ] || need_apt="$need_apt selinux-policy-dev"
[ -d /var/lib/selinux/default/active ] || need_apt="$need_apt selinux-policy-default"
command -v checkmodule >/dev/null || need_apt="$need_apt checkpolicy"
command -v semodule_package >/dev/null || need_apt="$need_apt semodule-utils"
[ -x /usr/libexec/selinux/hll/pp ] && command -v semodule >/dev/null || need_apt="$need_apt policycoreutils"
command -v sesearch >/dev/null || need_apt="$need_apt setools"
dpkg -s python3-venv >/dev/null 2>&1 || need_apt="$need_apt python3-venv"
if [ -n "$need_apt" ]; then
    echo "installing:$need_apt"
    apt-get update -qq
    # shellcheck disable=SC2086 # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi

# The packages of both architectures, in one command (packaging/build.sh): the glibc 2.28
# builds for x86_64 (the host's rustc) and aarch64 (Debian's rustc-web with the arm64 std,
# pinned, unpacked under target/), their symbol-version checks, the generated assets, then
# cargo deb and cargo generate-rpm for each. The checks below inspect what it made.
t0=$(date +%s)
sh packaging/build.sh
note "packaging/build.sh (x86_64 and aarch64): $(($(date +%s) - t0)) s"
host=$(rustc -vV | sed -n 's/^host: //p')
arm=aarch64-unknown-linux-gnu
# cargo deb, cargo generate-rpm and the tests below take the binaries from here.
rel="$tdir/$host/release"
export PBM_RELEASE_DIR="$rel"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

# --- man pages and the sample configuration, from the source tree ------------------------
for page in packaging/pam_passbyme.8 packaging/passbyme.1 packaging/passbyme.toml.5; do
    warn=$(groff -ww -z -man "$page" 2>&1)
    if [ -z "$warn" ]; then ok "man: $page: groff -ww shows no warning"; else
        bad "man: $page: groff warnings"; printf '%s\n' "$warn" | sed 's/^/     /'; fi
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>&1 >/dev/null)
    lines=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>/dev/null | wc -l)
    if [ -z "$out" ] && [ "$lines" -gt 40 ]; then ok "man: $page renders ($lines lines, nothing on stderr)"
    else bad "man: $page renders ($lines lines; stderr: $out)"; fi
done
# Every key the configuration accepts is in the sample and in passbyme.toml(5).
keys="address credentials key password password_file ca_bundle proxy proxy_password_file connect_timeout
request_timeout timeout availability poll_interval poll_interval_seen subject body prompt
mode unmapped unreachable local only_groups exempt_groups enabled state_dir max_pushes max_pushes_user window
lockout_after lockout_after_user lockout concurrent grace grace_local users_dir
template gecos_field gecos_delimiter language"
missing_sample=""; missing_man=""
for k in $keys; do
    grep -Eq "^(# )?$k = " packaging/passbyme.toml || missing_sample="$missing_sample $k"
    grep -Eq "^\.BR $k \" \(" packaging/passbyme.toml.5 || missing_man="$missing_man $k"
done
check "sample config shows every key${missing_sample:+ (missing:$missing_sample)}" test -z "$missing_sample"
check "passbyme.toml(5) documents every key${missing_man:+ (missing:$missing_man)}" test -z "$missing_man"
scratch=$(mktemp -d "$tdir/pkgtest.XXXXXX")
cp packaging/passbyme.toml "$scratch/sample.toml"
chmod 600 "$scratch/sample.toml"
out=$("$rel/passbyme" check --config "$scratch/sample.toml" 2>&1 || true)
check "sample config as shipped passes TOML validation (only the credentials file is missing)" \
    sh -c 'printf "%s\n" "$1" | sed -n 1p | grep -q "^PASSBYME CRITICAL - " &&
           printf "%s\n" "$1" | sed -n 2p | grep -q "^ok .*sample.toml: valid" &&
           printf "%s\n" "$1" | grep -Eq "^FAIL +/etc/passbyme/credentials\.(pem|password)"' _ "$out"
rm -rf "$scratch"

# --- licence notices: every crate the binaries link, generated by packaging/assets.sh ------
out=$(sh tests/packaging/notices.sh target/packaging/NOTICES target/packaging/copyright 2>&1) && rc=0 || rc=$?
check "notices: every linked crate (cargo tree) has its licence texts in NOTICES and a copyright stanza (${out#notices: })" test "$rc" = 0
# The check itself: with one crate's section, or its copyright stanza, taken out, it fails
# and names that crate.
awk '/^== ring / {skip = 1; next} /^==+$/ {skip = 0} !skip' target/packaging/NOTICES >"$tdir/notices-cut"
sed '/^Files: rust-crates\/rustls-[0-9]/,/^$/d' target/packaging/copyright >"$tdir/copyright-cut"
out=$(sh tests/packaging/notices.sh "$tdir/notices-cut" target/packaging/copyright 2>&1) && rc=0 || rc=$?
check "notices: the check fails when a crate's notice is missing (ring taken out)" sh -c \
    "[ '$rc' = 1 ] && printf '%s\n' \"\$1\" | grep -q 'missing for: ring-[0-9.]*(NOTICES)\$'" _ "$out"
out=$(sh tests/packaging/notices.sh target/packaging/NOTICES "$tdir/copyright-cut" 2>&1) && rc=0 || rc=$?
check "notices: the check fails when a crate is missing from copyright (rustls taken out)" sh -c \
    "[ '$rc' = 1 ] && printf '%s\n' \"\$1\" | grep -q 'missing for: rustls-[0-9.]*(copyright)\$'" _ "$out"
rm -f "$tdir/notices-cut" "$tdir/copyright-cut"
check "notices: pamsm's GPL-3.0 and ring's ISC/Apache texts are in NOTICES" sh -c \
    "grep -q '^== pamsm ' target/packaging/NOTICES && grep -q '^License: GPL-3.0' target/packaging/NOTICES &&
     grep -q '^== ring ' target/packaging/NOTICES && grep -q '^--- ring [0-9.]*: LICENSE' target/packaging/NOTICES"

# --- .deb ----------------------------------------------------------------------------------
# --- the binaries: glibc 2.28 and Linux-PAM 1.3.1 (RHEL 8) are enough -------------------
for f in "$rel/libpam_passbyme.so" "$rel/passbyme" "$tdir/$arm/release/libpam_passbyme.so" "$tdir/$arm/release/passbyme"; do
    b=${f#"$tdir/"}
    syms=$(objdump -T "$f")
    glibc=$(printf '%s\n' "$syms" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -n 1)
    pam=$(printf '%s\n' "$syms" | grep -o 'LIBPAM[A-Z_]*_[0-9.]*' | sort -u | tr '\n' ' ')
    note "$b: highest glibc symbol version $glibc; libpam symbol versions: $pam"
    check "$b: no symbol needs glibc newer than 2.28 (highest: $glibc)" sh -c \
        "[ \"\$(printf '%s\n' GLIBC_2.28 '$glibc' | sort -V | tail -n 1)\" = GLIBC_2.28 ]"
    # Linux-PAM 1.3.1 defines LIBPAM_1.0, LIBPAM_EXTENSION_1.0/1.1, LIBPAM_MODUTIL_1.0-1.3;
    # 1.4 added LIBPAM_1.4 (pam_start_confdir), which pamapp looks up at run time instead.
    check "$b: no libpam symbol newer than Linux-PAM 1.3.1 (no LIBPAM_1.4, no pam_start_confdir)" sh -c \
        "! printf '%s\n' \"\$1\" | grep -Eq 'LIBPAM_1\.[1-9]|LIBPAM_[2-9]|LIBPAM_EXTENSION_1\.[2-9]|LIBPAM_MODUTIL_1\.[4-9]|pam_start_confdir'" _ "$syms"
done
for t in "$host:Advanced Micro Devices X86-64" "$arm:AArch64"; do
    check "${t%%:*}/release: passbyme and the module are ${t#*:} programs" sh -c \
        "readelf -h '$tdir/${t%%:*}/release/passbyme' | grep -q 'Machine: *${t#*:}\$' &&
         readelf -h '$tdir/${t%%:*}/release/libpam_passbyme.so' | grep -q 'Machine: *${t#*:}\$'"
    check "${t%%:*}/release: libpam_passbyme.so exports only pam_sm_* functions" sh -c \
        "[ -z \"\$(nm -D --defined-only '$tdir/${t%%:*}/release/libpam_passbyme.so' | awk '\$2 == \"T\" {print \$3}' | grep -v '^pam_sm_')\" ] &&
         nm -D --defined-only '$tdir/${t%%:*}/release/libpam_passbyme.so' | grep -q ' T pam_sm_authenticate\$'"
done

# cargo deb writes the host target's package to target/debian/, the others to target/TRIPLE/debian/.
deb="$tdir/debian/libpam-passbyme_$version-1_amd64.deb"
[ -f "$deb" ] || { echo "FAIL packaging/build.sh made no $deb"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
echo "built $deb ($(du -k "$deb" | cut -f1) KiB, installed $(dpkg-deb -f "$deb" Installed-Size) KiB)"
contents=$(dpkg-deb -c "$deb")
ctrl=$(dpkg-deb -f "$deb")
check "deb: package libpam-passbyme $version-1, amd64" sh -c \
    "dpkg-deb -f '$deb' Package Version Architecture | tr '\n' ' ' | grep -qx 'Package: libpam-passbyme Version: $version-1 Architecture: amd64 '"
check "deb: module in the multiarch PAM directory, 0644 root" has "$contents" \
    '^-rw-r--r-- (root/root|0/0) .* \./usr/lib/x86_64-linux-gnu/security/pam_passbyme\.so$'
check "deb: no Multi-Arch field (it ships /usr/bin/passbyme; see Cargo.toml)" \
    sh -c "! printf '%s\n' \"\$1\" | grep -q '^Multi-Arch:'" _ "$ctrl"
check "deb: /usr/bin/passbyme 0755 root" has "$contents" '^-rwxr-xr-x (root/root|0/0) .* \./usr/bin/passbyme$'
check "deb: sample config 0600 root" has "$contents" '^-rw------- (root/root|0/0) .* \./etc/passbyme/passbyme\.toml$'
check "deb: the config is a conffile" sh -c \
    "dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/passbyme/passbyme.toml"
for m in man8/pam_passbyme.8 man1/passbyme.1 man5/passbyme.toml.5; do
    check "deb: man page $m, compressed" has "$contents" "^-rw-r--r-- .* \./usr/share/man/$m\.gz$"
done
# Shell completions (generated: packaging/completions/), where each shell looks on Debian.
for c in bash-completion/completions/passbyme zsh/vendor-completions/_passbyme fish/vendor_completions.d/passbyme.fish; do
    check "deb: completion /usr/share/$c, 0644 root" has "$contents" \
        "^-rw-r--r-- (root/root|0/0) .* \\./usr/share/$c\$"
done
for d in README.md changelog.Debian.gz copyright NOTICES examples/pam.d/sshd examples/pam.d/sudo examples/pam.d/sudo-i examples/pam.d/su; do
    check "deb: /usr/share/doc/libpam-passbyme/$d" has "$contents" " \./usr/share/doc/libpam-passbyme/$d$"
done
check "deb: /usr/share/doc/libpam-passbyme/examples/pam.d/sshd-totp-fallback" has "$contents" \
    " \./usr/share/doc/libpam-passbyme/examples/pam.d/sshd-totp-fallback$"
check "deb: depends on libc6 (>= 2.28) and libpam0g (Debian 11, Ubuntu 20.04 and later)" \
    test "$(dpkg-deb -f "$deb" Depends)" = "libc6 (>= 2.28), libpam0g (>= 0.99.7.1)"
check "deb: tmpfiles.d file /usr/lib/tmpfiles.d/passbyme.conf, 0644 root" has "$contents" \
    '^-rw-r--r-- (root/root|0/0) .* \./usr/lib/tmpfiles\.d/passbyme\.conf$'
for f in passbyme.cil passbyme.te passbyme.fc passbyme.if; do
    check "deb: SELinux policy module file selinux/$f in the doc directory" has "$contents" \
        "^-rw-r--r-- .* \\./usr/share/doc/libpam-passbyme/selinux/$f\$"
done
check "deb: ships nothing in /etc/pam.d" sh -c "! printf '%s\n' \"\$1\" | grep -q 'etc/pam\.d'" _ "$contents"
# prerm only reads /etc/pam.d (the removal guard; tests/distro/removal.sh tests it).
check "deb: maintainer scripts are prerm and postrm, and neither runs pam-auth-update or writes pam.d" sh -c \
    "dpkg-deb --ctrl-tarfile '$deb' | tar -t | grep -Eqx './postrm' &&
     dpkg-deb --ctrl-tarfile '$deb' | tar -t | grep -Eqx './prerm' &&
     ! dpkg-deb --ctrl-tarfile '$deb' | tar -t | grep -Eqx './(preinst|postinst)' &&
     ! dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./postrm | grep -v '^ *#' | grep -q 'pam-auth-update\|pam\.d' &&
     ! dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./prerm | grep -v '^ *#' | grep -q 'pam-auth-update\|> */etc\|rm .*pam\.d\|sed -i'"
note "Depends: $(dpkg-deb -f "$deb" Depends)"

# lintian: no errors, and no warning beyond these, each expected for a reason:
#  - initial-upload-closes-no-bugs: the package is not in Debian's archive, so there is no
#    ITP bug for the first changelog entry to close.
#  - non-standard-file-perm 0600 for etc/passbyme/passbyme.toml is overridden in the package
#    (packaging/debian/lintian-overrides): the config may hold the key's password, and the
#    module refuses it if it is then readable by others. `--show-overrides` lists it (O:).
allowed_tags="initial-upload-closes-no-bugs"
lint=$(lintian --show-overrides --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges' || true)
printf '%s\n' "$lint" | sed '/^$/d; s/^/     lintian: /'
check "deb: lintian shows no error" sh -c "! printf '%s\n' \"\$1\" | grep -q '^E:'" _ "$lint"
unexpected=$(printf '%s\n' "$lint" | sed -n 's/^W: [^:]*: \([^ ]*\).*/\1/p' | grep -vx "$allowed_tags" || true)
check "deb: lintian warnings are only the justified ones${unexpected:+ (unexpected: $unexpected)}" test -z "$unexpected"
check "deb: the 0600 config warning is overridden with a reason" has "$lint" \
    '^O: libpam-passbyme: non-standard-file-perm 0600 != 0644 \[etc/passbyme/passbyme\.toml\]$'

# --- .rpm ----------------------------------------------------------------------------------
rpmf="$tdir/$host/generate-rpm/pam-passbyme-$version-1.${host%%-*}.rpm"
[ -f "$rpmf" ] || { echo "FAIL packaging/build.sh made no $rpmf"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
echo "built $rpmf ($(du -k "$rpmf" | cut -f1) KiB)"
q() { rpm "$@" "$rpmf" 2>/dev/null; }
want_files="/etc/passbyme/passbyme.toml
/usr/bin/passbyme
/usr/lib/tmpfiles.d/passbyme.conf
/usr/lib64/security/pam_passbyme.so
/usr/share/bash-completion/completions/passbyme
/usr/share/doc/pam-passbyme/README.md
/usr/share/doc/pam-passbyme/examples/pam.d/sshd
/usr/share/doc/pam-passbyme/examples/pam.d/sudo
/usr/share/doc/pam-passbyme/examples/pam.d/sshd-totp-fallback
/usr/share/doc/pam-passbyme/selinux/passbyme.fc
/usr/share/doc/pam-passbyme/selinux/passbyme.if
/usr/share/doc/pam-passbyme/selinux/passbyme.te
/usr/share/fish/vendor_completions.d/passbyme.fish
/usr/share/licenses/pam-passbyme/copyright
/usr/share/licenses/pam-passbyme/NOTICES
/usr/share/man/man1/passbyme.1.gz
/usr/share/man/man5/passbyme.toml.5.gz
/usr/share/man/man8/pam_passbyme.8.gz
/usr/share/selinux/packages/passbyme.cil
/usr/share/zsh/site-functions/_passbyme"
want_files=$(printf '%s\n' "$want_files" | sort)
got_files=$(q -qlp | sort)
check "rpm -qlp: exactly the expected files" test "$got_files" = "$want_files"
[ "$got_files" = "$want_files" ] || printf '%s\n' "$got_files" | sed 's/^/     got: /'
check "rpm -qcp: the config file, and only it" test "$(q -qcp)" = /etc/passbyme/passbyme.toml
check "rpm: config is %config(noreplace), 0600 root" has "$(q -qp --qf '[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME} %{FILENAMES}\n]')" \
    '^cn -rw------- root /etc/passbyme/passbyme\.toml$'
check "rpm: man pages, README, examples and licence flagged %doc" sh -c \
    "[ \$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' '$rpmf' 2>/dev/null | grep -c '^d /usr/share/\(man\|doc\|licenses\)/.*[^/]\$') -ge 7 ]"
reqs=$(q -qRp)
check "rpm -qRp: libpam.so.0 (64-bit)" has "$reqs" '^libpam\.so\.0\(\)\(64bit\)$'
check "rpm -qRp: glibc 2.28 at most (RHEL 8 and later)" sh -c \
    "printf '%s\n' \"\$1\" | grep -q '^libc\.so\.6(GLIBC_2\.28)(64bit)\$' &&
     ! printf '%s\n' \"\$1\" | grep -Eq '^libc\.so\.6\(GLIBC_2\.(29|[3-9][0-9])'" _ "$reqs"
check "rpm: licence tag GPL-3.0-or-later" test "$(q -qp --qf '%{LICENSE}')" = GPL-3.0-or-later
check "rpm: scriptlets are %post, %preun and %postun (/bin/sh); only %preun reads /etc/pam.d" sh -c \
    "[ \"\$(rpm -qp --scripts '$rpmf' 2>/dev/null | grep -c '^[a-z]* scriptlet (using ')\" = 3 ] &&
     rpm -qp --scripts '$rpmf' 2>/dev/null | grep -q '^postinstall scriptlet (using /bin/sh):' &&
     rpm -qp --scripts '$rpmf' 2>/dev/null | grep -q '^preuninstall scriptlet (using /bin/sh):' &&
     rpm -qp --scripts '$rpmf' 2>/dev/null | grep -q '^postuninstall scriptlet (using /bin/sh):' &&
     ! grep -v '^ *#' packaging/rpm/post packaging/rpm/postun | grep -q '/etc/pam\.d\|pam-auth'"
note "Requires: $(printf '%s\n' "$reqs" | grep -v '^rpmlib' | tr '\n' ' ')"

# rpmlint: no error and no warning beyond the ones tests/packaging/rpmlint.toml filters,
# each with its reason there. The unfiltered findings are shown too.
raw=$(rpmlint "$rpmf" 2>&1 || true)
printf '%s\n' "$raw" | grep -E '^pam-passbyme[^:]*: [EW]: ' | sed 's/^/     rpmlint (unfiltered): /'
lint=$(rpmlint -c tests/packaging/rpmlint.toml "$rpmf" 2>&1) && rc=0 || rc=$?
summary=$(printf '%s\n' "$lint" | grep -E 'packages and .* checked' || true)
note "rpmlint -c tests/packaging/rpmlint.toml: $summary"
check "rpm: rpmlint with the project's configuration: 0 errors, 0 warnings" sh -c \
    "[ '$rc' = 0 ] && printf '%s\n' \"\$1\" | grep -q ' 0 errors, 0 warnings' &&
     ! printf '%s\n' \"\$1\" | grep -Eq '^pam-passbyme[^:]*: [EW]: '" _ "$lint"
printf '%s\n' "$lint" | grep -E '^pam-passbyme[^:]*: [EW]: ' | sed 's/^/     rpmlint: /' || true

# Install it into an empty scratch root with rpm itself (its own database there, no
# scriptlets: the root has no shell), check what landed, then erase it. The erase with its
# %postun runs at the end, in the Debian root, which has a shell.
rroot=$(mktemp -d "$tdir/rpmroot.XXXXXX")
check "rpm -i --root (scratch root, own database, --nodeps)" \
    rpm -i --root "$rroot" --dbpath /var/lib/rpm --nodeps --noscripts "$rpmf"
mode() { stat -c '%a %U:%G' "$rroot$1" 2>/dev/null; }
check "rpm root: module 755 root:root" test "$(mode /usr/lib64/security/pam_passbyme.so)" = "755 root:root"
check "rpm root: /usr/bin/passbyme 755 root:root" test "$(mode /usr/bin/passbyme)" = "755 root:root"
check "rpm root: config 600 root:root, identical to the sample" sh -c \
    "[ \"\$(stat -c '%a %U:%G' '$rroot/etc/passbyme/passbyme.toml')\" = '600 root:root' ] &&
     cmp -s '$rroot/etc/passbyme/passbyme.toml' packaging/passbyme.toml"
check "rpm root: man pages and docs 644" sh -c \
    "for f in /usr/share/man/man8/pam_passbyme.8.gz /usr/share/man/man1/passbyme.1.gz /usr/share/man/man5/passbyme.toml.5.gz \
              /usr/share/doc/pam-passbyme/README.md /usr/share/licenses/pam-passbyme/copyright; do
         [ \"\$(stat -c %a '$rroot'\$f)\" = 644 ] || exit 1; done"
check "rpm root: the module exports only pam_sm_* functions" sh -c \
    "nm -D --defined-only '$rroot/usr/lib64/security/pam_passbyme.so' | awk '\$2 == \"T\" {print \$3}' | grep -v '^pam_sm_' | grep -q . && exit 1;
     nm -D --defined-only '$rroot/usr/lib64/security/pam_passbyme.so' | grep -q ' T pam_sm_authenticate\$'"
check "rpm root: tmpfiles.d file 644 root:root, identical to the source" sh -c \
    "[ \"\$(stat -c '%a %U:%G' '$rroot/usr/lib/tmpfiles.d/passbyme.conf')\" = '644 root:root' ] &&
     cmp -s '$rroot/usr/lib/tmpfiles.d/passbyme.conf' packaging/tmpfiles/passbyme.conf"
check "rpm root: NOTICES and copyright are the generated ones" sh -c \
    "cmp -s '$rroot/usr/share/licenses/pam-passbyme/NOTICES' target/packaging/NOTICES &&
     cmp -s '$rroot/usr/share/licenses/pam-passbyme/copyright' target/packaging/copyright"
check "rpm root: man pages are the source pages, gzip-compressed" sh -c \
    "zcat '$rroot/usr/share/man/man8/pam_passbyme.8.gz' | cmp -s - packaging/pam_passbyme.8 &&
     zcat '$rroot/usr/share/man/man1/passbyme.1.gz' | cmp -s - packaging/passbyme.1 &&
     zcat '$rroot/usr/share/man/man5/passbyme.toml.5.gz' | cmp -s - packaging/passbyme.toml.5"
check "rpm root: the completions are the generated ones, 644, where bash, zsh and fish look" sh -c \
    "for f in bash-completion/completions/passbyme:passbyme.bash zsh/site-functions/_passbyme:_passbyme \
              fish/vendor_completions.d/passbyme.fish:passbyme.fish; do
         [ \"\$(stat -c %a '$rroot'/usr/share/\${f%%:*})\" = 644 ] &&
         cmp -s '$rroot'/usr/share/\${f%%:*} packaging/completions/\${f#*:} || exit 1; done"
check "rpm root: the SELinux module is the CIL built from packaging/selinux/passbyme.te" \
    cmp -s "$rroot/usr/share/selinux/packages/passbyme.cil" packaging/selinux/passbyme.cil
check "rpm root: the PAM samples are the RHEL ones (pam.d/rhel: password-auth, system-auth)" sh -c \
    "cmp -s '$rroot/usr/share/doc/pam-passbyme/examples/pam.d/sshd' pam.d/rhel/sshd &&
     cmp -s '$rroot/usr/share/doc/pam-passbyme/examples/pam.d/sudo' pam.d/rhel/sudo &&
     ! grep -rq '@include' '$rroot/usr/share/doc/pam-passbyme/examples/pam.d'"
check "rpm root: the TOTP fallback sample is the shared one (auth lines only)" \
    cmp -s "$rroot/usr/share/doc/pam-passbyme/examples/pam.d/sshd-totp-fallback" pam.d/sshd-totp-fallback
check "rpm root: rpm -V finds nothing changed" rpm -V --nodeps --root "$rroot" --dbpath /var/lib/rpm pam-passbyme
check "rpm root: rpm -qc from the database" sh -c \
    "[ \"\$(rpm -qc --root '$rroot' --dbpath /var/lib/rpm pam-passbyme)\" = /etc/passbyme/passbyme.toml ]"
check "rpm -e (scratch root)" rpm -e --root "$rroot" --dbpath /var/lib/rpm --noscripts pam-passbyme
check "rpm root: none of the package's files left" sh -c \
    "for f in \$(printf '%s\n' \"\$1\"); do [ -e '$rroot'\$f ] && exit 1; done; exit 0" _ "$want_files"
rm -rf "$rroot"

# --- the arm64 packages: the same contents for aarch64 ------------------------------------
# Built by packaging/build.sh from the same sources and Cargo.lock; installed and logged in
# with under qemu by tests/arm64/run.sh.
deb_arm="$tdir/$arm/debian/libpam-passbyme_$version-1_arm64.deb"
rpm_arm="$tdir/$arm/generate-rpm/pam-passbyme-$version-1.aarch64.rpm"
check "arm64: packaging/build.sh made $(basename "$deb_arm") and $(basename "$rpm_arm")" test -f "$deb_arm" -a -f "$rpm_arm"
check "arm64 deb: package libpam-passbyme $version-1, arm64" sh -c \
    "dpkg-deb -f '$deb_arm' Package Version Architecture | tr '\n' ' ' | grep -qx 'Package: libpam-passbyme Version: $version-1 Architecture: arm64 '"
check "arm64 deb: module in /usr/lib/aarch64-linux-gnu/security/, 0644 root" has "$(dpkg-deb -c "$deb_arm" 2>/dev/null)" \
    '^-rw-r--r-- (root/root|0/0) .* \./usr/lib/aarch64-linux-gnu/security/pam_passbyme\.so$'
# Same files, modes and owners as the amd64 package, the module's directory aside.
listing() { dpkg-deb -c "$1" 2>/dev/null | awk '{print $1, $2, $6}' | sed 's|/usr/lib/[a-z0-9_]*-linux-gnu/|/usr/lib/TUPLE/|' | sort; }
check "arm64 deb: the same files, modes and owners as the amd64 one (module directory aside)" \
    test "$(listing "$deb_arm")" = "$(listing "$deb")"
check "arm64 deb: the same Depends, conffiles and maintainer scripts as the amd64 one" sh -c \
    "[ \"\$(dpkg-deb -f '$deb_arm' Depends)\" = \"\$(dpkg-deb -f '$deb' Depends)\" ] &&
     [ \"\$(dpkg-deb --ctrl-tarfile '$deb_arm' | tar -t | sort)\" = \"\$(dpkg-deb --ctrl-tarfile '$deb' | tar -t | sort)\" ] &&
     [ \"\$(dpkg-deb --ctrl-tarfile '$deb_arm' | tar -xO ./conffiles)\" = \"\$(dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles)\" ]"
scratch=$(mktemp -d "$tdir/pkgtest.XXXXXX")
dpkg-deb -x "$deb_arm" "$scratch"
check "arm64 deb: the module and passbyme are the aarch64 build" sh -c \
    "cmp -s '$scratch/usr/lib/aarch64-linux-gnu/security/pam_passbyme.so' '$tdir/$arm/release/libpam_passbyme.so' &&
     cmp -s '$scratch/usr/bin/passbyme' '$tdir/$arm/release/passbyme'"
rm -rf "$scratch"
lint=$(lintian --show-overrides --tag-display-limit 0 "$deb_arm" 2>&1 | grep -v 'running with root privileges' || true)
printf '%s\n' "$lint" | sed '/^$/d; s/^/     lintian (arm64): /'
check "arm64 deb: lintian shows no error" sh -c "! printf '%s\n' \"\$1\" | grep -q '^E:'" _ "$lint"
unexpected=$(printf '%s\n' "$lint" | sed -n 's/^W: [^:]*: \([^ ]*\).*/\1/p' | grep -vx "$allowed_tags" || true)
check "arm64 deb: lintian warnings are only the justified ones${unexpected:+ (unexpected: $unexpected)}" test -z "$unexpected"
check "arm64 deb: the 0600 config warning is overridden with a reason" has "$lint" \
    '^O: libpam-passbyme: non-standard-file-perm 0600 != 0644 \[etc/passbyme/passbyme\.toml\]$'
check "arm64 rpm: architecture aarch64, the same files as the x86_64 one" sh -c \
    "[ \"\$(rpm -qp --qf '%{ARCH}' '$rpm_arm' 2>/dev/null)\" = aarch64 ] &&
     [ \"\$(rpm -qlp '$rpm_arm' 2>/dev/null | sort)\" = \"\$1\" ]" _ "$want_files"
reqs=$(rpm -qRp "$rpm_arm" 2>/dev/null)
check "arm64 rpm -qRp: libpam.so.0 (64-bit), glibc 2.28 at most" sh -c \
    "printf '%s\n' \"\$1\" | grep -q '^libpam\.so\.0()(64bit)\$' &&
     ! printf '%s\n' \"\$1\" | grep -Eq '^libc\.so\.6\(GLIBC_2\.(29|[3-9][0-9])'" _ "$reqs"
note "arm64 Requires: $(printf '%s\n' "$reqs" | grep -v '^rpmlib' | tr '\n' ' ')"
lint=$(rpmlint -c tests/packaging/rpmlint.toml "$rpm_arm" 2>&1) && rc=0 || rc=$?
note "rpmlint (aarch64): $(printf '%s\n' "$lint" | grep -E 'packages and .* checked' || true)"
check "arm64 rpm: rpmlint with the project's configuration: 0 errors, 0 warnings" sh -c \
    "[ '$rc' = 0 ] && printf '%s\n' \"\$1\" | grep -q ' 0 errors, 0 warnings' &&
     ! printf '%s\n' \"\$1\" | grep -Eq '^pam-passbyme[^:]*: [EW]: '" _ "$lint"
printf '%s\n' "$lint" | grep -E '^pam-passbyme[^:]*: [EW]: ' | sed 's/^/     rpmlint (aarch64): /' || true

# --- the RHEL PAM samples through real libpam, with RHEL 9-shaped authselect files -------
# sub SCRIPT: runs a test script of this directory, counts its ok/FAIL lines as ours.
sub() {
    sub_out=$(sh "tests/packaging/$1" 2>&1) && sub_rc=0 || sub_rc=$?
    while IFS= read -r line; do
        case $line in
            "ok   "*) ok "${line#ok   }" ;;
            "FAIL "*) bad "${line#FAIL }" ;;
            *" passed, "*" failed") ;;
            *) echo "$line" ;;
        esac
    done <<EOT
$sub_out
EOT
    check "tests/packaging/$1 ran to its end with no failure" test "$sub_rc" = 0
}
sub rhel-pam.sh

# --- the SELinux policy module: built, loaded into a private store, inspected --------------
sub selinux.sh

# --- install test in a scratch Debian root -------------------------------------------------
cache="$tdir/debootstrap-bookworm"
complete() {
    [ -x "$1/usr/bin/pamtester" ] &&
    [ "$(chroot "$1" dpkg-query -W -f='${Status}\n' pamtester libpam-modules 2>/dev/null | sort -u)" = "install ok installed" ]
}
if ! complete "$cache"; then
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    mirror=${mirror:-http://deb.debian.org/debian}
    echo "debootstrap bookworm from $mirror into $cache (cached for later runs)"
    rm -rf --one-file-system "$cache"
    debootstrap --variant=minbase --include=libpam-modules,pamtester bookworm "$cache" "$mirror" >/dev/null
fi
check "debootstrap root (minbase bookworm + libpam-modules, pamtester) ready" complete "$cache"

root=$(mktemp -d "$tdir/debroot.XXXXXX")
emu_pid=""; log_pid=""
mounted() { grep -q " $1 " /proc/self/mounts; }
cleanup() {
    [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
    [ -n "$log_pid" ] && kill "$log_pid" 2>/dev/null || true
    # Anything else still running inside this run's root was started by this run.
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill "${p#/proc/}" 2>/dev/null
    done
    sleep 0.2
    if mounted "$root/proc"; then umount "$root/proc" || umount -l "$root/proc" || true; fi
    # Never delete through a mount point.
    if ! grep -q " $root/" /proc/self/mounts; then rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp -a "$cache/." "$root/"
# /proc for dpkg and the module; /dev is debootstrap's own device nodes (not the host's
# /dev), plus a syslog socket of ours at /dev/log that records what the module logs.
mount -t proc proc "$root/proc"
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
pamd_sums() { (cd "$root/etc/pam.d" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
pamd_before=$(pamd_sums)
cp "$deb" "$root/tmp/pkg.deb"

out=$(in_root dpkg -i /tmp/pkg.deb 2>&1) && rc=0 || rc=$?
check "install: dpkg -i (real maintainer scripts)" test "$rc" = 0
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/     /'
check "install: dpkg reports install ok installed" sh -c \
    "[ \"\$(chroot '$root' dpkg-query -W -f='\${Status}' libpam-passbyme)\" = 'install ok installed' ]"
check "install: module where libpam looks (/usr/lib/x86_64-linux-gnu/security)" \
    test -f "$root/usr/lib/x86_64-linux-gnu/security/pam_passbyme.so"
check "install: config 600 root:root" test "$(stat -c '%a %U:%G' "$root/etc/passbyme/passbyme.toml")" = "600 root:root"
check "install: config registered as a conffile" sh -c \
    "chroot '$root' dpkg-query -W -f='\${Conffiles}' libpam-passbyme | grep -q '^ /etc/passbyme/passbyme.toml [0-9a-f]\{32\}\$'"
check "install: NOTICES and copyright are the generated ones (every linked crate)" sh -c \
    "cmp -s '$root/usr/share/doc/libpam-passbyme/NOTICES' target/packaging/NOTICES &&
     cmp -s '$root/usr/share/doc/libpam-passbyme/copyright' target/packaging/copyright"
check "install: man pages installed" test -f "$root/usr/share/man/man8/pam_passbyme.8.gz" \
    -a -f "$root/usr/share/man/man1/passbyme.1.gz" -a -f "$root/usr/share/man/man5/passbyme.toml.5.gz"
check "install: /etc/pam.d untouched" test "$(pamd_sums)" = "$pamd_before"
# The installed bash completion, loaded as bash-completion would, completes a command name
# and an option's values.
out=$(in_root bash -c '. /usr/share/bash-completion/completions/passbyme
    COMP_WORDS=(passbyme ch); COMP_CWORD=1; _passbyme passbyme ch passbyme; echo "${COMPREPLY[*]}"
    COMP_WORDS=(passbyme emulator --answer ""); COMP_CWORD=3; _passbyme passbyme "" --answer; echo "${COMPREPLY[*]}"' 2>&1)
check "install: bash completion: 'passbyme ch' -> check, 'emulator --answer' -> approve deny ignore" \
    test "$out" = "check
approve deny ignore"
[ "$out" = "check
approve deny ignore" ] || printf '%s\n' "$out" | sed 's/^/     /'
# The installed zsh completion parses and declares itself for passbyme (tests/run.sh installs
# zsh and fish); the installed fish completion, run by the real fish, completes a command
# name, an option's values and an option.
zfile="$root/usr/share/zsh/vendor-completions/_passbyme"
check "install: zsh -n parses the zsh completion" zsh -n "$zfile"
check "install: the zsh completion is a #compdef for passbyme" test "$(head -n 1 "$zfile")" = "#compdef passbyme"
out=$(fish -c "source '$root/usr/share/fish/vendor_completions.d/passbyme.fish'
    complete -C 'passbyme ch'; complete -C 'passbyme emulator --answer '; complete -C 'passbyme send --w'" 2>&1 \
    | cut -f1)
check "install: fish completion: 'passbyme ch' -> check, '--answer' -> approve deny ignore, 'send --w' -> --wait" \
    test "$out" = "check
approve
deny
ignore
--wait"
[ "$out" = "check
approve
deny
ignore
--wait" ] || printf '%s\n' "$out" | sed 's/^/     /'

# tmpfiles.d: the installed file, applied by systemd-tmpfiles (the host's, with --root: the
# minbase root has no systemd) as at boot, makes /run/passbyme 0700 root before any login.
# The logins below then use that directory; the module's own creation of it when missing
# is covered by the integration tests.
check "install: /usr/lib/tmpfiles.d/passbyme.conf declares /run/passbyme 0700 root root" sh -c \
    "grep -v '^#' '$root/usr/lib/tmpfiles.d/passbyme.conf' | grep -Exq 'd +/run/passbyme +0700 +root +root +-'"
rm -rf "$root/run/passbyme"
out=$(systemd-tmpfiles --create --root="$root" passbyme.conf 2>&1) && rc=0 || rc=$?
check "install: systemd-tmpfiles --create --root creates /run/passbyme 700 root:root" sh -c \
    "[ '$rc' = 0 ] && [ \"\$(stat -c '%F %a %u:%g' '$root/run/passbyme')\" = 'directory 700 0:0' ]"
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/     /'
ino_tmpfiles=$(stat -c %i "$root/run/passbyme" 2>/dev/null || echo none)

# The installed sample as it is: valid TOML, and only its credentials are missing.
out=$(in_root passbyme check 2>&1 || true)
check "installed: passbyme check on the shipped sample gets past TOML validation" sh -c \
    'printf "%s\n" "$1" | sed -n 1p | grep -q "^PASSBYME CRITICAL - " &&
     printf "%s\n" "$1" | sed -n 2p | grep -q "^ok .*/etc/passbyme/passbyme.toml: valid" &&
     printf "%s\n" "$1" | grep -Eq "^FAIL +/etc/passbyme/credentials\.(pem|password)"' _ "$out"

# An emulator inside the root (the packaged binary), on a free loopback port.
# A simple command in the background (not the in_root function, which would run in a
# subshell of its own): env execs chroot, which execs passbyme, so $! is the emulator.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$root" \
    /usr/bin/passbyme emulator --listen 127.0.0.1:0 --state-dir /root/emu \
    --answer approve --after 300ms >"$root/tmp/emu.out" 2>"$root/tmp/emu.err" &
emu_pid=$!
addr=""
for _ in $(seq 100); do
    addr=$(sed -n 's|^listening on https://||p' "$root/tmp/emu.out" 2>/dev/null)
    [ -n "$addr" ] && break
    sleep 0.1
done
check "installed: passbyme emulator runs inside the root (on ${addr:-?})" test -n "$addr"

# The installed sample, with the emulator's address and credentials filled in and two
# users: its other settings stay the shipped defaults.
cp "$root/etc/passbyme/passbyme.toml" "$root/tmp/pristine.toml"
sed -e "s|^# address = .*|address = \"$addr\"|" \
    -e 's|^credentials = .*|credentials = "/root/emu/client.pem"|' \
    -e 's|^password_file = .*|password_file = "/root/emu/client.password"|' \
    -e 's|^# ca_bundle = .*|ca_bundle = "/root/emu/ca.pem"|' \
    "$root/tmp/pristine.toml" >"$root/etc/passbyme/passbyme.toml"
printf 'pkgok = "pkgok+approve+after=300ms@emulator.test"\npkgno = "pkgno+deny+after=300ms@emulator.test"\n' \
    >>"$root/etc/passbyme/passbyme.toml"
# The module maps the name the user database knows: the two mapped users and an unmapped
# one are accounts of the root (a throwaway copy).
for u in pkgok pkgno pkgnobody; do
    in_root useradd --no-create-home --shell /usr/sbin/nologin "$u"
done
out=$(in_root passbyme check --connect 2>&1) && rc=0 || rc=$?
check "installed: passbyme check --connect (default path) against the emulator" test "$rc" = 0
[ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/^/     /'

printf '%s\n' "auth [success=done ignore=ignore default=die] pam_passbyme.so prompt=info" \
    "auth requisite pam_deny.so" >"$root/etc/pam.d/pbmtest"
out=$(in_root pamtester -I rhost=192.0.2.10 pbmtest pkgok authenticate 2>&1) && rc=0 || rc=$?
check "installed: pamtester login approved on the phone" \
    sh -c '[ "$1" = 0 ] && printf "%s\n" "$2" | grep -q "successfully authenticated"' _ "$rc" "$out"
check "installed: the terminal was shown the verification code" has "$out" 'Verification code: [1-9][0-9]$'
out=$(in_root pamtester -I rhost=192.0.2.10 pbmtest pkgno authenticate 2>&1) && rc=0 || rc=$?
check "installed: pamtester login denied on the phone (PAM_MAXTRIES)" \
    sh -c '[ "$1" != 0 ] && printf "%s\n" "$2" | grep -q "exhausted maximum number of retries"' _ "$rc" "$out"
out=$(in_root pamtester -I rhost=192.0.2.10 pbmtest pkgnobody authenticate 2>&1) && rc=0 || rc=$?
check "installed: pamtester unmapped user refused (PAM_USER_UNKNOWN)" \
    sh -c '[ "$1" != 0 ] && printf "%s\n" "$2" | grep -q "User not known"' _ "$rc" "$out"
sleep 0.2
logged=$(cat "$root/tmp/syslog.txt" 2>/dev/null || true)
check "installed: logged decision=approved for pkgok" has "$logged" 'pam_passbyme\(pbmtest:auth\): decision=approved user=pkgok .* settled=final'
check "installed: logged decision=refused status=DENIED for pkgno" has "$logged" 'pam_passbyme\(pbmtest:auth\): decision=refused user=pkgno .*status=DENIED'
check "installed: passbyme status shows pkgno's denial" sh -c \
    "chroot '$root' passbyme status pkgno | grep -q '1 denials in a row'"
# The audit line of a hand-made change, from the installed command to the root's /dev/log.
check "installed: passbyme unlock pkgno" sh -c "chroot '$root' passbyme unlock pkgno | grep -qx 'pkgno: limiter state cleared'"
check "installed: passbyme unlock wrote its audit line (authpriv.info, ident passbyme)" sh -c \
    "for i in \$(seq 50); do
         grep -Eq '^<86>[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} passbyme\[[0-9]+\]: action=unlock uid=0 user=root target=pkgno result=cleared\$' '$root/tmp/syslog.txt' && exit 0
         sleep 0.1; done; exit 1"
check "installed: limiter state directory 700 root" test "$(stat -c '%a %U' "$root/run/passbyme" 2>/dev/null)" = "700 root"
check "installed: the module used the directory systemd-tmpfiles made (same inode)" \
    test "$(stat -c %i "$root/run/passbyme" 2>/dev/null)" = "$ino_tmpfiles"
check "installed: the emulator stops on SIGTERM" sh -c \
    "kill '$emu_pid' && for i in \$(seq 50); do
         case \$(ps -o stat= -p '$emu_pid') in ''|Z*) exit 0;; esac; sleep 0.1; done; exit 1"
wait "$emu_pid" 2>/dev/null || true; emu_pid=""
rm -f "$root/etc/pam.d/pbmtest"

# Reinstalling keeps the administrator's changes to the conffile.
sum=$(sha256sum <"$root/etc/passbyme/passbyme.toml")
check "reinstall: dpkg -i again" in_root dpkg -i /tmp/pkg.deb
check "reinstall: the changed config is kept" test "$(sha256sum <"$root/etc/passbyme/passbyme.toml")" = "$sum"

# Purge: nothing of the package may remain.
owned=$(in_root dpkg-query -L libpam-passbyme | grep -v '^/\.$')
check "purge: dpkg --purge" in_root dpkg --purge libpam-passbyme
left=""
for f in $owned; do
    [ -e "$root$f" ] || [ -L "$root$f" ] || continue
    # A directory may remain if another package owns it (/usr/bin, /usr/share/man/...), or
    # if it still holds other packages' files (/usr/lib/x86_64-linux-gnu/security, which
    # libpam-modules owns under its /lib/... name); the package's own files in it are
    # checked one by one.
    if [ -d "$root$f" ] && [ ! -L "$root$f" ]; then
        in_root dpkg-query -S "$f" >/dev/null 2>&1 && continue
        [ -n "$(ls -A "$root$f")" ] && continue
    fi
    left="$left $f"
done
check "purge: none of the package's paths left${left:+ (left:$left)}" test -z "$left"
check "purge: /etc/passbyme removed" test ! -e "$root/etc/passbyme"
check "purge: /run/passbyme (limiter state) removed by postrm" test ! -e "$root/run/passbyme"
check "purge: dpkg no longer knows the package" sh -c "! chroot '$root' dpkg-query -W libpam-passbyme"
check "purge: /etc/pam.d exactly as before the install" test "$(pamd_sums)" = "$pamd_before"

# The .rpm in the (now clean) Debian root, with rpm's chroot and its scriptlets: after an
# install and an erase nothing may remain, the directories it created included.
printf '%s\n' "$want_files" >"$root/tmp/rpm.files"
check "rpm in the Debian root: rpm -i --root --nodeps (own database)" \
    rpm -i --root "$root" --dbpath /var/lib/rpm --nodeps "$rpmf"
check "rpm in the Debian root: every file installed" sh -c \
    "while read -r f; do [ -f '$root'\$f ] || exit 1; done <'$root/tmp/rpm.files'"
mkdir -m 700 "$root/run/passbyme"
check "rpm in the Debian root: rpm -e (runs %postun)" rpm -e --root "$root" --dbpath /var/lib/rpm pam-passbyme
check "rpm in the Debian root: nothing left (/etc/passbyme, docs, /run/passbyme included)" sh -c \
    "while read -r f; do [ -e '$root'\$f ] && exit 1; done <'$root/tmp/rpm.files';
     for d in /etc/passbyme /usr/share/doc/pam-passbyme /usr/share/licenses/pam-passbyme /run/passbyme; do
         [ -e '$root'\$d ] && exit 1; done; exit 0"

# The same with SELinux's tools present: stand-ins for semodule and restorecon record how
# the scriptlets call them (the real semodule is exercised by selinux.sh).
for t in semodule restorecon; do
    printf '#!/bin/sh\necho "%s $*" >>/tmp/selinux-calls\n' "$t" >"$root/usr/sbin/$t"
    chmod 755 "$root/usr/sbin/$t"
done
check "rpm with semodule present: rpm -i (runs %post)" \
    rpm -i --root "$root" --dbpath /var/lib/rpm --nodeps "$rpmf"
check "rpm %post loads the policy module at priority 200, then relabels /etc/passbyme, /run/passbyme" sh -c \
    "printf 'semodule -X 200 -i /usr/share/selinux/packages/passbyme.cil\nrestorecon -R /etc/passbyme /run/passbyme\n' | cmp -s - '$root/tmp/selinux-calls'"
: >"$root/tmp/selinux-calls"
check "rpm with semodule present: rpm -e (runs %postun)" rpm -e --root "$root" --dbpath /var/lib/rpm pam-passbyme
check "rpm %postun removes the policy module" sh -c \
    "printf 'semodule -X 200 -r passbyme\n' | cmp -s - '$root/tmp/selinux-calls'"
rm -f "$root/usr/sbin/semodule" "$root/usr/sbin/restorecon"

echo "sizes: $(basename "$deb") $(du -k "$deb" | cut -f1) KiB, $(basename "$rpmf") $(du -k "$rpmf" | cut -f1) KiB"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
