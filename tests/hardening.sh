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
echo "cargo-fuzz $(cargo fuzz --version 2>/dev/null | awk '{print $2}'), $(cargo deny --version), $(cargo-audit --version), $(valgrind --version)"

step "cargo deny: licences, duplicate crates, sources"
cargo deny --locked check licenses bans sources

step "advisories: cargo deny and cargo audit"
# Both check Cargo.lock against the RustSec advisory database (a git repository on GitHub),
# both against one copy of it: the one cargo deny fetches when GitHub can be reached
# (time-boxed), else the snapshot in shared/ beside the clone, whose README gives its commit
# and date (PBM_ADVISORY_DB=DIR names another snapshot). This project's machines reach
# crates.io only, so CI checks against the snapshot: advisories published after its date are
# not in it, and the output says so with the date. With neither, the check says SKIPPED
# (never a silent pass). Any finding (vulnerable, unsound, unmaintained or yanked crate)
# fails the run, unless deny.toml's [advisories] ignore list names its id with the reason
# it does not apply; cargo audit is given the same ids.
snapshot=${PBM_ADVISORY_DB:-$root/../shared/rustsec/advisory-db}
deny_config=$root/deny.toml
db=""
if timeout 120 cargo deny fetch db >"$work/deny-fetch.log" 2>&1; then
    # cargo deny keeps the clone of deny.toml's db-urls at <db-path>/advisory-db-<url hash>.
    # shellcheck disable=SC2012 # the newest of those, names without spaces
    db=$(ls -dt "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/advisory-db-*/ | head -n 1)
    db=${db%/}
    db_commit=$(git -C "$db" log -1 --format=%H)
    db_date=$(git -C "$db" log -1 --format=%cs)
    echo "advisory database: RustSec advisory-db, fetched now into $db"
elif [ -d "$snapshot/crates" ]; then
    echo "advisory database: cannot be fetched ($(grep -m1 -o 'Could not resolve host: [^ ]*' "$work/deny-fetch.log" || echo 'fetch failed')): using the snapshot $snapshot"
    db=$snapshot
    db_commit=$(sed -n 's/.*commit \([0-9a-f]\{40\}\) of [0-9-]*.*/\1/p' "$snapshot/../README.md" 2>/dev/null | head -n 1)
    db_date=$(sed -n 's/.*commit [0-9a-f]\{40\} of \([0-9-]*\).*/\1/p' "$snapshot/../README.md" 2>/dev/null | head -n 1)
    if [ -z "$db_commit" ] || [ -z "$db_date" ]; then
        echo "advisory database: $snapshot/../README.md does not say 'commit <sha> of <date>'" >&2
        exit 1
    fi
    # cargo deny reads a database only as a git clone it makes itself, at
    # <db-path>/<last url segment>-<url hash>, of a url with a host name. So it clones a
    # throwaway git copy of the snapshot made under target/ (branch main, one commit dated
    # like the snapshot), with a config that is deny.toml but for db-urls and db-path. The
    # url is file://snapshot.localhost/...: git ignores the host of a file:// url, and
    # cargo deny's url parser drops a bare "localhost". Nothing is written to shared/. The
    # snapshot's age is printed below (cargo deny's own 90-day staleness check applies only
    # with --offline, and cargo audit's is what --stale turns off).
    copy=$root/target/advisory-db
    rm -rf "$copy"
    mkdir -p "$copy/snapshot"
    cp -R "$snapshot/." "$copy/snapshot/"
    chmod -R u+w "$copy/snapshot"
    git -C "$copy/snapshot" init -q -b main
    git -C "$copy/snapshot" add -A
    GIT_AUTHOR_DATE="$db_date 00:00:00 +0000" GIT_COMMITTER_DATE="$db_date 00:00:00 +0000" \
        git -C "$copy/snapshot" -c user.name=hardening.sh -c user.email=hardening@localhost \
        commit -q -m "RustSec advisory-db $db_commit of $db_date (snapshot)"
    deny_config=$copy/deny.toml
    sed "s|^db-urls = .*|db-urls = [\"file://snapshot.localhost$copy/snapshot\"]\ndb-path = \"$copy/dbs\"|" \
        "$root/deny.toml" >"$deny_config"
    grep -q "^db-path = \"$copy/dbs\"\$" "$deny_config" ||
        { echo "advisory database: deny.toml has no db-urls line to point at the snapshot" >&2; exit 1; }
fi
if [ -z "$db" ]; then
    echo "SKIPPED: cargo deny advisories and cargo audit: the RustSec database cannot be fetched ($(grep -m1 -o 'Could not resolve host: [^ ]*' "$work/deny-fetch.log" || echo 'fetch failed')) and there is no snapshot at $snapshot"
else
    age=$(( ($(date -u +%s) - $(date -u -d "$db_date" +%s)) / 86400 ))
    newest=$(grep -rh '^date = "' "$db/crates" | cut -d'"' -f2 | sort | tail -n 1)
    echo "advisory database: commit $db_commit of $db_date ($age days ago; newest advisory dated $newest): advisories published since then are not checked"
    # cargo deny loads every crates/**/*.md of the database (rust/ is the standard library's).
    deny_count=$(find "$db/crates" -name '*.md' | wc -l)
    # The ids deny.toml ignores (each with its reason there), for both tools.
    ids=$(sed -n '/^\[advisories\]/,/^\[[a-z]/p' "$root/deny.toml" |
        grep -o 'id = "RUSTSEC-[0-9]*-[0-9]*"' | cut -d'"' -f2 | tr '\n' ' ')
    ignore="" ignored=""
    for id in $ids; do
        ignore="$ignore --ignore $id"
        ignored="${ignored:-, ignored in deny.toml:} $id"
    done
    cargo deny --locked --config "$deny_config" check advisories
    echo "cargo deny: $deny_count advisories (crates/) checked, no finding$ignored"
    # --deny warnings: unsound, unmaintained and yanked crates fail too, as in deny.toml.
    # shellcheck disable=SC2086 # one word per --ignore and id
    if ! cargo audit --db "$db" --no-fetch --stale --deny warnings $ignore >"$work/audit.log" 2>&1; then
        cat "$work/audit.log"
        echo "cargo audit: advisories found (above)" >&2
        exit 1
    fi
    cat "$work/audit.log"
    loaded=$(grep -o 'Loaded [0-9]* security advisories' "$work/audit.log" | grep -o '[0-9][0-9]*')
    echo "cargo audit: ${loaded:-?} advisories loaded (crates/ and rust/), no finding$ignored"
fi

if [ "$FUZZ_SECONDS" -gt 0 ]; then
    step "fuzzing: ${FUZZ_SECONDS}s per target, seeds in fuzz/corpus/"
    cd "$root/fuzz"
    # cargo fuzz has no --locked; fuzz/Cargo.lock (committed) pins the versions all the same.
    fuzz build
    for target in config users response credentials; do
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
