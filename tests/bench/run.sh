#!/bin/sh
# The benchmark of issue 5, from one command: builds the release module and binary, installs
# the vendor's Python SDK (passbyme2fa-client, from PyPI) into a venv under target/ when it is
# missing, runs `cargo bench --bench login` in a private mount namespace (the module's syslog
# lines go to a sink at a private /dev/log, not to the host), and puts the results into
# BENCHMARKS.md between its RESULTS markers (the analysis around them is kept).
# Takes about 8 minutes on 2 cores. Run as root (the namespace) from anywhere:
#
#     sh tests/bench/run.sh
#
# Environment: CARGO_TARGET_DIR (default ./target), PBM_BENCH_QUICK=1 (small counts, a quick
# check of the harness; BENCHMARKS.md is then left alone), PBM_BENCH_LOGINS, PBM_BENCH_SOAK.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR="$target"

echo "== cargo build --release"
cargo build --release --locked

venv="$target/bench-venv"
if ! "$venv/bin/python" -c 'import passbyme2fa_client' 2>/dev/null; then
    echo "== installing the vendor SDK into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check passbyme2fa-client
fi
export PBM_BENCH_PYTHON="$venv/bin/python"

echo "== cargo bench --bench login"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    tests/private-dev.sh cargo bench --locked --bench login
else
    echo "run.sh: not root: the module's syslog lines go to the host's /dev/log" >&2
    cargo bench --locked --bench login
fi

echo "== cargo bench --bench login -- --users-reader"
users="$target/bench/users.md"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    tests/private-dev.sh cargo bench --locked --bench login -- --users-reader >"$users"
else
    cargo bench --locked --bench login -- --users-reader >"$users"
fi
cat "$users"

results="$target/bench/login.md"
if [ "${PBM_BENCH_QUICK:-}" = 1 ]; then
    echo "== quick run: BENCHMARKS.md left alone; results in $results"
    exit 0
fi
echo "== writing BENCHMARKS.md"
python3 - "$results" "$users" BENCHMARKS.md <<'EOF'
import sys
results, users, path = sys.argv[1], sys.argv[2], sys.argv[3]
new = open(results).read().strip()
new += ("\n\n### users.d read by the fast reader and by TOML alone\n\n"
        "Median of 31 reads, in-process (`--users-reader`; see \"users.d reading\" below).\n\n"
        + open(users).read().strip())
begin, end = "<!-- RESULTS:BEGIN (tests/bench/run.sh) -->", "<!-- RESULTS:END -->"
try:
    text = open(path).read()
except FileNotFoundError:
    text = "# Benchmarks\n\n" + begin + "\n" + end + "\n"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(head + begin + "\n" + new + "\n" + end + tail)
EOF
echo "== done: BENCHMARKS.md"
