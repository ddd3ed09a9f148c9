#!/usr/bin/python3
"""Licence notices of the crates linked into pam_passbyme.so and /usr/bin/passbyme.

Writes, for the crates `cargo tree -e normal,no-proc-macro` lists (what the release build
links, for the host platform), from cargo metadata and each crate's own licence files in
cargo's registry:
  target/packaging/NOTICES    every crate: name, version, licence expression, authors, then
                              the full text of each of its licence/notice files;
  target/packaging/copyright  packaging/copyright plus one machine-readable stanza per crate
                              (Debian policy 12.5: statically linked code is listed).
Fails (exit 1, naming the crate) when a crate has no licence expression or no licence file:
then its notice cannot travel with the binaries.
Run by packaging/assets.sh (after `cargo build --release`).
"""
import json, os, re, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "packaging")
LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|UNLICENSE|COPYRIGHT)([-_.].*)?$", re.I)


def host():
    out = subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout
    return re.search(r"^host: (\S+)$", out, re.M).group(1)


def linked_crates():
    # The set: what `cargo tree` shows for the build (feature resolver v2: the features
    # dev-dependencies turn on are not counted, unlike cargo metadata's resolve), normal
    # dependencies only (no dev-, no build-dependencies), without proc-macro crates and
    # what only they use: they run in the compiler and are not linked into the binaries.
    tree = subprocess.run(
        ["cargo", "tree", "--locked", "-e", "normal,no-proc-macro", "--prefix", "none",
         "--format", "{p}"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    wanted = set()
    for line in tree.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("v") and not (len(parts) > 2 and parts[2].startswith("(/")):
            wanted.add((parts[0], parts[1][1:]))
    # Where each crate is, its licence expression and authors: cargo metadata.
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host()],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    pkgs = {(p["name"], p["version"]): p for p in meta["packages"] if p.get("source")}
    missing = sorted(f"{n} {v}" for n, v in wanted if (n, v) not in pkgs)
    if missing:
        raise SystemExit(f"packaging/notices.py: not in cargo metadata: {', '.join(missing)}")
    return [pkgs[k] for k in sorted(wanted)]


def licence_files(pkg):
    crate_dir = os.path.dirname(pkg["manifest_path"])
    files = sorted(f for f in os.listdir(crate_dir)
                   if LICENCE_FILE.match(f) and os.path.isfile(os.path.join(crate_dir, f)))
    if pkg.get("license_file"):
        lf = os.path.normpath(os.path.join(crate_dir, pkg["license_file"]))
        if os.path.isfile(lf) and os.path.relpath(lf, crate_dir) not in files:
            files.append(os.path.relpath(lf, crate_dir))
    return [(f, open(os.path.join(crate_dir, f), encoding="utf-8", errors="replace").read())
            for f in files]


def dep5_licence(expr):
    expr = expr.replace("/", " OR ")
    expr = re.sub(r"\bWITH LLVM-exception\b", "with LLVM exception", expr)
    return re.sub(r"\b(OR|AND)\b", lambda m: m.group(1).lower(), expr)


def main():
    crates = linked_crates()
    problems, notices, stanzas, first_seen = [], [], [], {}
    for p in crates:
        expr, texts = p.get("license"), licence_files(p)
        if not expr:
            problems.append(f"{p['name']} {p['version']}: no licence expression in its Cargo.toml")
        if not texts:
            problems.append(f"{p['name']} {p['version']}: no licence file in {os.path.dirname(p['manifest_path'])}")
        authors = ", ".join(p.get("authors") or []) or f"the {p['name']} developers"
        notices.append(f"{'=' * 78}\n== {p['name']} {p['version']}\n"
                       f"License: {expr}\nAuthors: {authors}\n"
                       f"Source: {p.get('repository') or 'https://crates.io/crates/' + p['name']}\n")
        for name, text in texts:
            # A text already given in full (the same Apache-2.0 or MIT file in many crates)
            # is referred to by where it is; a text differing in any byte is given in full.
            key = text.strip()
            if key in first_seen:
                notices.append(f"--- {p['name']} {p['version']}: {name}: identical to "
                               f"{first_seen[key]} above ---\n")
            else:
                first_seen[key] = f"{p['name']} {p['version']}: {name}"
                notices.append(f"--- {p['name']} {p['version']}: {name} ---\n{text.rstrip()}\n")
        stanzas.append(
            f"\nFiles: rust-crates/{p['name']}-{p['version']}/*\n"
            f"Copyright: {authors}\n"
            f"License: {dep5_licence(expr or 'unknown')}\n"
            f" Statically linked into pam_passbyme.so and /usr/bin/passbyme. The crate's\n"
            f" licence and notice files, in full: NOTICES, section \"{p['name']} {p['version']}\".\n")
    if problems:
        print("packaging/notices.py: licence notices incomplete:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "NOTICES"), "w", encoding="utf-8") as f:
        f.write("Licence notices of the Rust crates statically linked into pam_passbyme.so and\n"
                "the passbyme command (generated by packaging/notices.py from cargo metadata\n"
                f"and each crate's licence files; {len(crates)} crates).\n\n")
        f.write("\n".join(notices))
    with open(os.path.join(ROOT, "packaging", "copyright"), encoding="utf-8") as src:
        base = src.read().rstrip("\n") + "\n"
    with open(os.path.join(OUT, "copyright"), "w", encoding="utf-8") as f:
        f.write(base + "".join(stanzas))
    print(f"notices: {len(crates)} crates -> target/packaging/NOTICES, target/packaging/copyright")
    return 0


if __name__ == "__main__":
    sys.exit(main())
