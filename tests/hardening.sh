#!/bin/sh
# Hardening checks beyond the integration tests (tests/integration/: faults, tls, files,
# hostile, host; `cargo test` runs them): dependency policy (cargo deny, cargo audit), bounded fuzzing of
# the three parsers with the committed seed corpus, and valgrind memcheck over a loop of
# real-libpam logins. Run as root from anywhere, after `cargo build`: sh tests/hardening.sh
#
# FUZZ_SECONDS (default 45) bounds each fuzz target; FUZZ_SECONDS=0 skips fuzzing.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
# Scratch space for fuzzer output and valgrind logs, removed on exit.
work=$(mktemp -d /tmp/pbm-hardening.XXXXXX)
trap 'rm -rf "$work"' EXIT

step() { printf '\n=== %s ===\n' "$*"; }

step "tools"
# Only what is missing is installed, from crates.io, with the versions their own lock files
# pin. valgrind comes from Debian.
for tool in cargo-fuzz cargo-deny cargo-audit; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "installing $tool"
        cargo install --locked --quiet "$tool"
    fi
done
if ! command -v valgrind >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
# cargo fuzz needs -Z flags (sanitizers): the nightly toolchain where there is one, else
# the stable one with RUSTC_BOOTSTRAP=1 (no other toolchain can be fetched here).
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz() { cargo +nightly fuzz "$@"; }
else
    fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi
echo "cargo-fuzz $(cargo fuzz --version 2>/dev/null | awk '{print $2}'), $(cargo deny --version), $(cargo audit --version), $(valgrind --version)"

step "cargo deny: licences, duplicate crates, sources"
cargo deny --locked check licenses bans sources

step "advisories: cargo deny and cargo audit"
# Both read the RustSec advisory database, a git repository on GitHub. This project's
# machines reach crates.io only, so the fetch fails here; the checks then run against a
# database already on disk if there is one, and are reported as skipped otherwise (never
# silently passed).
if timeout 120 cargo deny fetch db >"$work/deny-fetch.log" 2>&1; then
    cargo deny --locked check advisories
else
    if ls -d "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/*/crates >/dev/null 2>&1; then
        echo "advisory database unreachable: checking against the copy on disk"
        cargo deny --locked --offline check advisories
    else
        echo "SKIPPED: cargo deny advisories: the RustSec database cannot be fetched ($(grep -m1 -o 'Could not resolve host: [^ ]*' "$work/deny-fetch.log" || echo 'fetch failed'))"
    fi
fi
if [ -d "${CARGO_HOME:-$HOME/.cargo}/advisory-db/crates" ]; then
    cargo audit --no-fetch --stale
elif timeout 120 cargo audit >"$work/audit.log" 2>&1; then
    cat "$work/audit.log"
else
    echo "SKIPPED: cargo audit: the RustSec database cannot be fetched"
fi

if [ "$FUZZ_SECONDS" -gt 0 ]; then
    step "fuzzing: ${FUZZ_SECONDS}s per target, seeds in fuzz/corpus/"
    cd "$root/fuzz"
    # cargo fuzz has no --locked; fuzz/Cargo.lock (committed) pins the versions all the same.
    fuzz build
    for target in config response credentials; do
        # New inputs go to a scratch directory, so the committed corpus only changes on
        # purpose; a crash or timeout is saved under $work and fails the run.
        mkdir -p "$work/corpus-$target" "$work/crash-$target"
        if ! fuzz run "$target" "$work/corpus-$target" "corpus/$target" -- \
            -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=2048 \
            -artifact_prefix="$work/crash-$target/" -print_final_stats=1 \
            >"$work/fuzz-$target.log" 2>&1; then
            tail -n 40 "$work/fuzz-$target.log"
            for f in "$work/crash-$target"/*; do
                [ -e "$f" ] || continue
                echo "crashing input ($f), base64:"
                base64 "$f"
            done
            echo "fuzz target $target failed" >&2
            exit 1
        fi
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/fuzz-$target.log" | grep -o '[0-9]*$')
        speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$work/fuzz-$target.log" | grep -o '[0-9]*$')
        cov=$(grep -o 'cov: [0-9]*' "$work/fuzz-$target.log" | tail -n 1)
        echo "$target: $runs runs, $speed exec/s, $cov, no crash"
    done
    cd "$root"
fi

step "valgrind memcheck over real-libpam logins"
# The integration test binary runs host::valgrind_login_loop (approve with the prompt
# and its watcher thread, deny, unmapped, a poll fault, a bad config, a failed
# conversation, a non-UTF-8 user; three rounds) in one process under memcheck, through
# cargo's target runner. The emulator it starts is a child process, not traced.
#
# Two suppressions, both ring's AES-GCM assembly, which memcheck cannot follow (the same
# false positives OpenSSL's GCM assembly shows): the tag check after decryption
# (ring::bb::verify_slices_are_equal on a tag the assembly computed) and the TLS records
# rustls writes (ciphertext and tag from ring's seal). Nothing else is suppressed.
cat >"$work/ring.supp" <<'SUPP'
{
   ring-aead-open-tag-compare
   Memcheck:Cond
   fun:*ring*bb*verify_slices_are_equal*
   ...
   fun:*ring*aead*
}
{
   ring-aead-sealed-record-sent
   Memcheck:Param
   socketcall.sendto(msg)
   ...
   fun:*rustls*vecbuf*ChunkVecBuffer*write_to*
}
SUPP
cargo build --locked --quiet
# In the tests' private namespace: the module maps only users the user database knows, and
# the test adds its users to private copies of /etc/passwd and /etc/group there.
PBM_VALGRIND=1 PBM_CHILD=1 \
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 --suppressions=$work/ring.supp --log-file=$work/valgrind.%p.log" \
    tests/private-dev.sh cargo test --locked --quiet --test integration -- \
    --exact host::valgrind_login_loop --ignored --test-threads=1
# One log per traced process (the test binary; a forked child before its exec leaves an
# empty one). Each summary must show 0 errors and nothing definitely lost.
found=0
for log in "$work"/valgrind.*.log; do
    grep -q 'ERROR SUMMARY' "$log" || continue
    found=1
    grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|in use at exit' "$log" |
        sed 's/^==[0-9]*== *//'
    grep -q 'ERROR SUMMARY: 0 errors' "$log" || { cat "$log"; echo "valgrind: errors" >&2; exit 1; }
    if grep -q 'definitely lost: [1-9]' "$log"; then
        cat "$log"
        echo "valgrind: memory definitely lost" >&2
        exit 1
    fi
done
[ "$found" = 1 ] || { echo "valgrind: no summary found" >&2; exit 1; }

step "hardening checks passed"
