#!/bin/sh
# Checks a licence notice file and a Debian copyright file against the crates the release
# build links, as `cargo tree -e normal,no-proc-macro` lists them now (a dependency added
# or updated since the notices were generated is caught): every normal dependency for the
# host platform, proc-macros and what only they use left out (they run in the compiler). For each crate: a section "== NAME VERSION" in NOTICES with its licence
# expression and at least one licence text (given there or referred to as identical to
# one given above), and a "Files: rust-crates/NAME-VERSION/*" stanza in copyright.
# Usage: sh tests/packaging/notices.sh NOTICES COPYRIGHT
# Prints the crates whose notice is missing and exits 1; prints "notices: N crates, all
# present" and exits 0 otherwise.
set -eu
notices=$1 copyright=$2
cd "$(dirname "$0")/../.."
crates=$(cargo tree --locked -e normal,no-proc-macro --prefix none --format '{p}' |
    sed 's/ (\*)$//' | grep -v ' (/' | sort -u)
root=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
missing=""; n=0
for c in $(printf '%s\n' "$crates" | awk -v r="$root" '$1 != r {print $1 "@" substr($2, 2)}'); do
    name=${c%@*} ver=${c#*@}
    n=$((n + 1))
    section=$(awk -v h="== $name $ver" '$0 == h {on = 1; next} /^==+$/ && on {exit} on' "$notices")
    if ! printf '%s\n' "$section" | grep -q '^License: [^ ]' ||
       ! printf '%s\n' "$section" | grep -F -- "--- $name $ver: " | grep -Eq '^--- [^ ]+ [^ ]+: [^ ]+( ---|: identical to .* above ---)$'; then
        missing="$missing $name-$ver(NOTICES)"
    fi
    grep -Fqx "Files: rust-crates/$name-$ver/*" "$copyright" || missing="$missing $name-$ver(copyright)"
done
if [ -n "$missing" ]; then
    echo "notices: missing for:$missing"
    exit 1
fi
[ "$n" -gt 20 ] || { echo "notices: only $n crates listed by cargo tree?"; exit 1; }
echo "notices: $n crates, all present"
