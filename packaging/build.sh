#!/bin/sh
# Builds the packages for x86_64 and aarch64 from the same sources and Cargo.lock, with a
# glibc 2.28 baseline (RHEL 8, Debian 10 and later), in one command:
#
#   sh packaging/build.sh [TRIPLE...]   (default: x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu)
#
# For each target: `cargo zigbuild --release --locked --target TRIPLE.2.28` (zig links against
# its own glibc 2.28 stubs and against the target's libpam.so), the symbol-version checks
# (nothing newer than GLIBC_2.28; from libpam only LIBPAM_1.0 and LIBPAM_EXTENSION_1.0, and
# nothing newer than Linux-PAM 1.3.1), then `cargo deb` and `cargo generate-rpm`:
#
#   target/debian/libpam-passbyme_VERSION-1_ARCH.deb        (ARCH: amd64, arm64; cargo deb
#                                                            links the arm64 one there from
#                                                            target/TRIPLE/debian/)
#   target/TRIPLE/generate-rpm/pam-passbyme-VERSION-1.CPU.rpm (CPU: x86_64, aarch64)
#
# Compilers (README, "Building the packages"): x86_64 is built by the host's stable rustc
# (rustup); aarch64 by Debian 12's rustc-web with Debian's aarch64 standard library
# (libstd-rust-web-dev:arm64), pinned below to exact package versions, downloaded with a
# private apt state and unpacked under target/ (the host's dpkg is not touched). The two
# compilers may differ by a minor version; `cargo` is the host's for both.
#
# Needs the Debian registry the first time (the aarch64 toolchain, ~145 MB, and PyPI for
# zig); later runs reuse target/aarch64-toolchain and target/zig-venv. Writes only under
# target/. The module's Debian path comes from the target: the module is staged at
# target/TRIPLE/release/multiarch/TUPLE/security/, which Cargo.toml's deb asset glob maps to
# /usr/lib/TUPLE/security/ (TUPLE: Debian's multiarch tuple, x86_64-linux-gnu,
# aarch64-linux-gnu).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$top/target}"
tdir="$top/target"
die() { echo "packaging/build.sh: $*" >&2; exit 1; }

host=$(rustc -vV | sed -n 's/^host: //p')
env_only=""
if [ "${1:-}" = --env ]; then
    # `--env aarch64-unknown-linux-gnu`: only make the toolchain ready and print, as shell
    # assignments, what cargo needs to build for that target (tests/arm64/run.sh builds
    # the unit tests with it): eval "$(sh packaging/build.sh --env TRIPLE)".
    env_only=${2:?usage: build.sh --env TRIPLE}
    shift 2
fi
targets=${*:-x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu}

# --- the aarch64 compiler and libpam: Debian packages, pinned ------------------------------
# rustc-web is an x86_64 program whose sysroot holds the standard libraries of both targets
# once the arm64 std is unpacked beside it. libllvm22 is what rustc-web's driver links.
# Change these together (apt-cache policy rustc-web on a Debian 12 machine with
# bookworm-security shows the candidates), then README's toolchain table.
RUST_WEB=1.96.0+dfsg1-1~deb12u2
LLVM=1:22.1.8-1~deb12u1
PAM=1.5.2-6+deb12u3
aarch64_pkgs="rustc-web:amd64=$RUST_WEB libstd-rust-web-1.96:amd64=$RUST_WEB
libstd-rust-web-dev:amd64=$RUST_WEB libstd-rust-web-1.96:arm64=$RUST_WEB
libstd-rust-web-dev:arm64=$RUST_WEB libllvm22:amd64=$LLVM libpam0g:arm64=$PAM"
tc="$tdir/aarch64-toolchain"

aarch64_toolchain() {
    # shellcheck disable=SC2086 # one line per package
    stamp=$(printf '%s\n' $aarch64_pkgs)
    if [ "$(cat "$tc/.complete" 2>/dev/null)" != "$stamp" ]; then
        echo "fetching the aarch64 toolchain (Debian packages, pinned) into $tc"
        rm -rf "$tc"
        mkdir -p "$tc/apt/lists/partial" "$tc/cache/archives/partial" "$tc/debs" "$tc/sysroot"
        # A private apt state: the host's sources, both architectures, nothing of the
        # host's dpkg database or apt cache read or written.
        set -- -o Dir::State="$tc/apt" -o Dir::State::status=/dev/null -o Dir::Cache="$tc/cache" \
            -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1 -q
        apt-get "$@" update >"$tc/apt-update.log" 2>&1 ||
            { cat "$tc/apt-update.log" >&2; die "apt-get update (private state) failed"; }
        for p in $aarch64_pkgs; do
            name=${p%%=*}; want=${p#*=}
            have=$(apt-cache "$@" madison "$name" 2>/dev/null | awk -F' *[|] *' -v v="$want" '$2 == v {print $2}' | head -n 1)
            [ "$have" = "$want" ] || die "the pinned package $name=$want is no longer in the registry
(apt-cache madison $name: $(apt-cache "$@" madison "$name" 2>/dev/null | awk -F' *[|] *' '{print $2}' | tr '\n' ' '));
update the pins at the top of packaging/build.sh and README's toolchain table"
        done
        # shellcheck disable=SC2086 # a list of name:arch=version
        (cd "$tc/debs" && apt-get "$@" download $aarch64_pkgs >"$tc/download.log" 2>&1) ||
            { cat "$tc/download.log" >&2; die "apt-get download of the pinned aarch64 toolchain failed"; }
        for d in "$tc"/debs/*.deb; do dpkg-deb -x "$d" "$tc/sysroot"; done
        rm -rf "$tc/debs" "$tc/cache" "$tc/apt"
        # libpam.so for the linker: a link to libpam0g's libpam.so.0, alone in its
        # directory. libpam0g-dev is not needed: no C header is used, and its libpam.so is
        # an absolute link into /lib (the host's), beside a libpam.a never to be linked.
        mkdir -p "$tc/pam"
        ln -sf ../sysroot/lib/aarch64-linux-gnu/libpam.so.0 "$tc/pam/libpam.so"
        printf '#!/bin/sh\n# Debian'"'"'s rustc-web, unpacked here (packaging/build.sh)\nLD_LIBRARY_PATH=%s exec %s "$@"\n' \
            "$tc/sysroot/usr/lib/x86_64-linux-gnu" "$tc/sysroot/usr/bin/rustc" >"$tc/rustc"
        chmod 755 "$tc/rustc"
        printf '%s\n' "$stamp" >"$tc/.complete"
    fi
    # libllvm22's own libraries come from the host (its Depends); install what is missing.
    missing=$(LD_LIBRARY_PATH="$tc/sysroot/usr/lib/x86_64-linux-gnu" \
        ldd "$tc"/sysroot/usr/lib/x86_64-linux-gnu/libLLVM*.so* "$tc"/sysroot/usr/lib/x86_64-linux-gnu/librustc_driver-*.so 2>/dev/null |
        sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | sort -u | tr '\n' ' ')
    if [ -n "$missing" ]; then
        echo "the aarch64 toolchain needs host libraries ($missing): installing libllvm22's dependencies"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            libedit2 libffi8 libxml2 libz3-4 libzstd1 zlib1g libstdc++6 >/dev/null
    fi
    v=$("$tc/rustc" -vV 2>&1) || die "Debian's rustc-web does not run: $v"
    libdir=$("$tc/rustc" --print target-libdir --target aarch64-unknown-linux-gnu)
    ls "$libdir"/libstd-*.rlib >/dev/null 2>&1 || die "no aarch64 standard library in $libdir"
}

# --- build tools: zig and cargo-zigbuild from PyPI, cargo-deb, cargo-generate-rpm -----------
venv="$tdir/zig-venv"
if ! "$venv/bin/cargo-zigbuild" --version >/dev/null 2>&1 || ! "$venv/bin/python-zig" version >/dev/null 2>&1; then
    echo "installing ziglang and cargo-zigbuild into $venv" >&2
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "ziglang==0.17.1" "cargo-zigbuild==0.24.1" >&2
fi
if [ -n "$env_only" ]; then
    [ "$env_only" = aarch64-unknown-linux-gnu ] || die "--env: only aarch64-unknown-linux-gnu"
    aarch64_toolchain >&2
    printf "PATH='%s'; RUSTC='%s'; RUSTFLAGS='-L native=%s'; export PATH RUSTC RUSTFLAGS\n" \
        "$venv/bin:$PATH" "$tc/rustc" "$tc/pam"
    exit 0
fi
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
command -v cargo-generate-rpm >/dev/null || cargo install --locked cargo-generate-rpm

# The generated assets (man pages for the rpm, NOTICES, copyright): one set for all targets,
# since every target links the same crates (checked per target below).
sh packaging/assets.sh
crates() {
    cargo tree --locked -e normal,no-proc-macro --prefix none --target "$1" 2>/dev/null |
        sed 's/ (\*)$//; s/ (.*)$//' | sort -u
}
host_crates=$(crates "$host")
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

# check_symbols FILE: glibc 2.28 and Linux-PAM 1.3.1 (RHEL 8) are enough for FILE.
check_symbols() {
    syms=$(objdump -T "$1") || die "objdump -T $1 failed"
    glibc=$(printf '%s\n' "$syms" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -n 1)
    pam=$(printf '%s\n' "$syms" | grep -o 'LIBPAM[A-Z_]*_[0-9.]*' | sort -u | tr '\n' ' ')
    echo "  $1: highest glibc symbol version $glibc; libpam: ${pam:-none}"
    [ "$(printf '%s\n' GLIBC_2.28 "$glibc" | sort -V | tail -n 1)" = GLIBC_2.28 ] ||
        die "$1 needs $glibc, newer than the glibc 2.28 baseline"
    for v in $pam; do
        case $v in LIBPAM_1.0 | LIBPAM_EXTENSION_1.0) ;; *) die "$1 needs libpam's $v (only LIBPAM_1.0, LIBPAM_EXTENSION_1.0 allowed)" ;; esac
    done
    ! printf '%s\n' "$syms" | grep -q pam_start_confdir || die "$1 links pam_start_confdir (Linux-PAM 1.4)"
}

for t in $targets; do
    t0=$(date +%s)
    cpu=${t%%-*}
    case $t in
        "$host")
            libpam=$(ldconfig -p | awk '$1 == "libpam.so.0" {print $NF; exit}')
            [ -n "$libpam" ] || die "no libpam.so.0 on this host (apt-get install libpam0g)"
            mkdir -p "$tdir/zig-pam"
            ln -sf "$libpam" "$tdir/zig-pam/libpam.so"
            pamdir="$tdir/zig-pam"
            rustc_cmd=rustc ;;
        aarch64-unknown-linux-gnu)
            aarch64_toolchain
            pamdir="$tc/pam"
            rustc_cmd="$tc/rustc" ;;
        *) die "no toolchain for $t here (x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu)" ;;
    esac
    [ "$(crates "$t")" = "$host_crates" ] ||
        die "$t links other crates than $host: target/packaging/NOTICES would not cover it"
    echo "building $t with $("$rustc_cmd" -V) (glibc 2.28 baseline)"
    PATH="$venv/bin:$PATH" RUSTC="$rustc_cmd" RUSTFLAGS="-L native=$pamdir" \
        cargo zigbuild --release --locked --quiet --target "$t.2.28"
    rel="$CARGO_TARGET_DIR/$t/release"
    readelf -h "$rel/passbyme" | grep -q "Machine: *$(case $cpu in x86_64) echo 'Advanced Micro Devices X86-64' ;; aarch64) echo AArch64 ;; esac)" ||
        die "$rel/passbyme is not a $cpu program"
    for b in libpam_passbyme.so passbyme; do check_symbols "$rel/$b"; done
    # Debian's multiarch tuple of the target (dpkg-architecture -qDEB_HOST_MULTIARCH): the
    # module's directory, /usr/lib/TUPLE/security (Cargo.toml's deb asset glob).
    tuple="$cpu-linux-gnu"
    rm -rf "$rel/multiarch"
    mkdir -p "$rel/multiarch/$tuple/security"
    cp "$rel/libpam_passbyme.so" "$rel/multiarch/$tuple/security/pam_passbyme.so"
    deb=$(cargo deb --no-build --quiet --target "$t" 2>/dev/null | tail -n 1)
    [ -f "$deb" ] || die "cargo deb --target $t produced no package"
    rpmf="$CARGO_TARGET_DIR/$t/generate-rpm/pam-passbyme-$version-1.$cpu.rpm"
    rm -f "$rpmf"
    cargo generate-rpm --target "$t" >/dev/null
    [ -f "$rpmf" ] || die "cargo generate-rpm --target $t produced no $rpmf"
    echo "built $deb"
    echo "built $rpmf ($t in $(($(date +%s) - t0)) s)"
done
