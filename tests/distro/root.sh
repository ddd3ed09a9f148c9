#!/bin/sh
# A Debian root of one suite with that suite's own sshd, ssh, sudo, libpam and python3, for
# the distribution matrix (tests/distro/) and the first-hour test.
#
#   sh tests/distro/root.sh SUITE [ARCH]     prints the path of a ready, cached root
#
# SUITE is bullseye, bookworm, trixie or forky (Debian testing). ARCH defaults to the
# host's (dpkg --print-architecture); another one needs qemu-user-static with binfmt_misc.
# The root is made once with debootstrap (minbase plus the programs the tests drive) under
# ${PBM_DISTRO_CACHE:-target/distro}/SUITE-ARCH and reused while it is complete; callers
# copy it afresh for every run (cp -a ROOT/. COPY/) and never change the cached one.
# PBM_ROOT_PKGS (optional): a comma-separated package list to install instead of the usual
# one, for a test that needs less (tests/arm64/run.sh: libpam and pamtester, which saves
# minutes under emulation); such a root is cached apart, under SUITE-ARCH-<list checksum>.
# Needs root and the Debian registry (the host's apt source, else deb.debian.org).
set -eu
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "tests/distro/root.sh: needs root (debootstrap)" >&2; exit 2; }
suite=${1:?usage: root.sh SUITE [ARCH]}
arch=${2:-$(dpkg --print-architecture)}
cache=${PBM_DISTRO_CACHE:-$(pwd)/target/distro}
dest="$cache/$suite-$arch"

# What every suite gets: the programs the tests run, in that suite's own versions.
# openssh-client is named because forky's openssh-server does not pull it in.
pkgs="libpam-modules,libpam-runtime,pamtester,openssh-server,openssh-client,sudo,python3,iproute2,procps,openssl"

complete() {
    [ -f "$1/.pbm-root-complete" ] && [ -x "$1/usr/sbin/sshd" ] && [ -x "$1/usr/bin/sudo" ] &&
        [ -x "$1/usr/bin/pamtester" ] && [ -x "$1/usr/bin/python3" ]
}
if [ -n "${PBM_ROOT_PKGS:-}" ]; then
    pkgs=$PBM_ROOT_PKGS
    dest="$dest-$(printf '%s' "$pkgs" | cksum | cut -d ' ' -f 1)"
    # Complete when debootstrap finished with this very list (the marker holds it).
    complete() { [ "$(cat "$1/.pbm-root-complete" 2>/dev/null)" = "$pkgs" ]; }
fi
if complete "$dest"; then
    echo "$dest"
    exit 0
fi

command -v debootstrap >/dev/null || {
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
}
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
# debootstrap on Debian 12 has no script named forky (testing): sid's script makes it.
script=""
[ -f "/usr/share/debootstrap/scripts/$suite" ] || script=/usr/share/debootstrap/scripts/sid

mkdir -p "$cache"
rm -rf --one-file-system "$dest.tmp"
t0=$(date +%s)
echo "root.sh: debootstrap $suite ($arch) from $mirror into $dest" >&2
# Policy: no daemon starts inside the root while packages install (openssh-server's postinst).
mkdir -p "$dest.tmp/usr/sbin"
printf '#!/bin/sh\nexit 101\n' >"$dest.tmp/usr/sbin/policy-rc.d"
chmod 755 "$dest.tmp/usr/sbin/policy-rc.d"
# shellcheck disable=SC2086 # $script is empty or one path
if ! debootstrap --arch="$arch" --variant=minbase --include="$pkgs" "$suite" "$dest.tmp" "$mirror" $script \
    >"$cache/$suite-$arch.log" 2>&1; then
    echo "root.sh: debootstrap $suite failed; its log:" >&2
    tail -n 30 "$cache/$suite-$arch.log" >&2
    exit 1
fi
# The registry's testing Release file can be past its Valid-Until: apt inside the root
# (the tests' apt install of the .deb) must not refuse it.
printf 'Acquire::Check-Valid-Until "false";\n' >"$dest.tmp/etc/apt/apt.conf.d/99pbm-valid-until"
# Host keys are the tests' business (each run makes its own); none come with the cache.
rm -f "$dest.tmp"/etc/ssh/ssh_host_*
printf '%s\n' "${PBM_ROOT_PKGS:-}" >"$dest.tmp/.pbm-root-complete"
complete "$dest.tmp" || { echo "root.sh: $suite root incomplete after debootstrap" >&2; exit 1; }
rm -rf --one-file-system "$dest"
mv "$dest.tmp" "$dest"
echo "root.sh: $suite ($arch) ready in $(($(date +%s) - t0)) s" >&2
echo "$dest"
