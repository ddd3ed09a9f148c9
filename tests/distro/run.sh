#!/bin/sh
# The distribution matrix: the packaged build in every Debian suite we claim, with that
# suite's own dpkg, sshd, ssh, sudo, su, pamtester and libpam, against the emulator.
#
#   sh tests/distro/run.sh DEB [RPM]
#
# For each suite in ${PBM_SUITES:-bullseye bookworm trixie forky}: a fresh root (an overlay
# over the cached tests/distro/root.sh root, its writes under target/distro-run/, the cached
# root never written), the .deb installed with the suite's own dpkg, then
# tests/distro/matrix.py inside it (chroot, in private mount, network and pid
# namespaces: nothing is shared with the host, everything vanishes with the namespaces). It
# runs a selection of tests/e2e/e2e.py's cases with the installed module, the installed
# `passbyme` and the installed pam.d samples, plus the matrix's own cases (README's sshd
# lines on the suite's stock sshd_config, check --connect, what old and new ssh clients
# show for each prompt=). Then, when present, tests/distro/first-hour.sh SUITE DEB and
# tests/distro/removal.sh SUITE DEB RPM. Prints one line per case, per suite its count and
# seconds, and ends with "N passed, M failed"; exits non-zero on failure.
# PBM_MATRIX_ONLY=case,… runs only those cases (any of e2e.py's too; "all": every one);
# PBM_MATRIX_FULL="bookworm …" runs every case in those suites.
# Needs root; the Debian registry only the first time (the roots are cached).
# shellcheck disable=SC2016 # the sh -c scripts and the dpkg-query format are single-quoted on purpose
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
[ "$(id -u)" = 0 ] || { echo "tests/distro/run.sh: needs root (chroot, namespaces)" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: tests/distro/run.sh DEB [RPM] (got $# arguments: $*)" >&2
    exit 2
fi
deb=$1
rpm=${2:-}
deb=$(realpath "$deb")
[ -f "$deb" ] || { echo "tests/distro/run.sh: no such .deb: $deb" >&2; exit 2; }
[ -z "$rpm" ] || rpm=$(realpath "$rpm")
suites=${PBM_SUITES:-bullseye bookworm trixie forky}
arch=$(dpkg --print-architecture)
case $arch in
amd64) multiarch=x86_64-linux-gnu ;;
arm64) multiarch=aarch64-linux-gnu ;;
*) echo "tests/distro/run.sh: no multiarch path known for $arch" >&2; exit 2 ;;
esac
work="$top/target/distro-run"
mkdir -p "$work"

pass=0; fail=0
summary=""
run=""
mounted_under() { grep -q " $1/" /proc/self/mounts; }
cleanup() {
    # The namespaces' mounts and processes died with them; never delete through a mount.
    if [ -n "$run" ] && [ -d "$run" ] && ! mounted_under "$run"; then
        rm -rf --one-file-system "$run"
    fi
    run=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The clients whose behaviour the prompt cases measure: old ones (bullseye's 8.4, bookworm's 9.2) and a
# new one (forky's 10.6), bound read-only into every suite's root.
clients="bullseye bookworm forky"
for c in $clients; do
    sh tests/distro/root.sh "$c" >/dev/null
done

# count FILE: adds the "PASSED FAILED" line a driver wrote; a missing line is one failure.
count() {
    if read -r p f <"$1" 2>/dev/null; then :; else p=0 f=1; echo "FAIL $2: the driver ended before counting"; fi
    spass=$((spass + p)); sfail=$((sfail + f))
}

for suite in $suites; do
    t0=$(date +%s)
    spass=0; sfail=0
    echo "=== $suite"
    if ! cached=$(sh tests/distro/root.sh "$suite"); then
        echo "FAIL $suite: no root (tests/distro/root.sh $suite)"
        fail=$((fail + 1)); summary="$summary
$suite: no root"
        continue
    fi
    # A fresh root per run: an overlay over the cached one (copy-on-write: the cached root
    # is never written, and nothing is copied), mounted in each private mount namespace.
    run=$(mktemp -d "$work/$suite.XXXXXX")
    mkdir "$run/upper" "$run/work" "$run/root"
    # The suite's own dpkg, with its real maintainer scripts.
    if out=$(LOWER=$cached RUN=$run DEB=$deb unshare -m --propagation private sh -c '
            set -e
            mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$RUN/upper,workdir=$RUN/work" "$RUN/root"
            mount -t proc proc "$RUN/root/proc"
            cp "$DEB" "$RUN/root/tmp/pkg.deb"
            env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
                chroot "$RUN/root" dpkg -i /tmp/pkg.deb
            chroot "$RUN/root" dpkg-query -W -f="\${Version}\n" libpam-passbyme' 2>&1); then
        echo "ok   $suite: dpkg -i $(basename "$deb") (installed: $(printf '%s\n' "$out" | tail -n 1))"
        spass=$((spass + 1))
        # The drivers run with the repository's test drivers, and the installed pam.d
        # samples in the place e2e.py reads them from (ROOT/pam.d); the other suites' roots
        # (their ssh clients) read-only at /opt/clients/SUITE.
        LOWER=$cached RUN=$run CLIENTS=$clients SUITE=$suite MULTIARCH=$multiarch \
            unshare --mount --net --pid --fork --propagation private sh -c '
            set -e
            r=$RUN/root
            mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$RUN/upper,workdir=$RUN/work" "$r"
            mount -t proc proc "$r/proc"
            mount --rbind /dev "$r/dev"
            mkdir -p "$r/opt/pbm/tests/e2e" "$r/opt/pbm/tests/distro"
            cp tests/e2e/e2e.py "$r/opt/pbm/tests/e2e/"
            cp tests/distro/matrix.py "$r/opt/pbm/tests/distro/"
            ln -s /usr/share/doc/libpam-passbyme/examples/pam.d "$r/opt/pbm/pam.d"
            for c in $CLIENTS; do
                mkdir -p "$r/opt/clients/$c"
                mount --bind "$(sh tests/distro/root.sh "$c")" "$r/opt/clients/$c"
                mount -o remount,bind,ro "$r/opt/clients/$c"
            done
            exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
                PBM_SUITE="$SUITE" PBM_MATRIX_ONLY="${PBM_MATRIX_ONLY:-}" PBM_MATRIX_FULL="${PBM_MATRIX_FULL:-}" \
                chroot "$r" /usr/bin/python3 /opt/pbm/tests/distro/matrix.py \
                /usr/bin/passbyme "/usr/lib/$MULTIARCH/security/pam_passbyme.so"
        ' 3>"$run/counts" 2>&1 | sed -u "s/^\(ok  \|FAIL\) */\1 $suite: /" || true
        count "$run/counts" "$suite: matrix.py"
    else
        echo "FAIL $suite: dpkg -i $(basename "$deb")"
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/     /'
        sfail=$((sfail + 1))
    fi
    cleanup
    # The other helpers' per-suite tests, counted as the matrix's own.
    for t in first-hour removal; do
        [ -f "tests/distro/$t.sh" ] || continue
        if [ "$t" = removal ]; then set -- "$suite" "$deb" "$rpm"; else set -- "$suite" "$deb"; fi
        out=$(sh "tests/distro/$t.sh" "$@" 2>&1) && rc=0 || rc=$?
        printf '%s\n' "$out" | grep -v '^[0-9]* passed, [0-9]* failed$' | sed "s/^\(ok  \|FAIL\) */\1 $suite: $t: /"
        line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
        if [ -n "$line" ]; then
            p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed}
            [ "$rc" = 0 ] || [ "$f" != 0 ] || { f=1; echo "FAIL $suite: $t.sh exited $rc"; }
        else
            p=0 f=1; echo "FAIL $suite: $t.sh ended (status $rc) without its count"
        fi
        spass=$((spass + p)); sfail=$((sfail + f))
    done
    secs=$(($(date +%s) - t0))
    echo "--- $suite: $spass passed, $sfail failed, ${secs} s"
    summary="$summary
$suite: $spass passed, $sfail failed, ${secs} s"
    pass=$((pass + spass)); fail=$((fail + sfail))
done
printf '%s\n' "$summary" | sed '/^$/d'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
