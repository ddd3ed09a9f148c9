//! README's layout table against the tree: every entry of the library's and the command's
//! directories, of tests/ and every top-level directory has a row, and every row names
//! something that exists, so the table cannot go stale when a file is added, split or
//! renamed.

use std::collections::BTreeSet;
use std::path::Path;

/// The paths named in the first column of README's "Layout" table (each `code span`).
fn table_paths(readme: &str) -> BTreeSet<String> {
    let section = readme
        .split_once("\n## Layout\n")
        .expect("README has a \"## Layout\" section")
        .1;
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut paths = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split(" | ").next().unwrap_or_default();
        for (i, span) in first.split('`').enumerate() {
            if i % 2 == 1 {
                paths.insert(span.to_owned());
            }
        }
    }
    paths
}

/// The entries of `dir` (relative to the crate) as the table writes them: `dir/name`,
/// with a trailing `/` for a directory.
fn entries(root: &Path, dir: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let slash = if e.file_type().unwrap().is_dir() {
                "/"
            } else {
                ""
            };
            format!("{dir}/{name}{slash}")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn readmes_layout_table_names_every_file_and_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let listed = table_paths(&readme);
    let mut wanted = Vec::new();
    for dir in ["src", "src/client", "src/bin/passbyme", "tests"] {
        wanted.extend(entries(root, dir));
    }
    // The top-level directories: the tree's own, not what builds or git leave beside it.
    for e in std::fs::read_dir(root).unwrap().map(|e| e.unwrap()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let own = !name.starts_with('.') || name == ".ci";
        if e.file_type().unwrap().is_dir() && own && name != "target" {
            wanted.push(format!("{name}/"));
        }
    }
    let missing: Vec<&String> = wanted.iter().filter(|p| !listed.contains(*p)).collect();
    assert!(
        missing.is_empty(),
        "README's layout table has no row for {missing:?}: add one (a path in backquotes in \
         the first column, a directory with a trailing /)"
    );
    // And no row for what is gone.
    let gone: Vec<&String> = listed
        .iter()
        .filter(|p| match p.strip_suffix('/') {
            Some(dir) => !root.join(dir).is_dir(),
            None => !root.join(p).is_file(),
        })
        .collect();
    assert!(
        gone.is_empty(),
        "README's layout table names {gone:?}, which the tree does not have"
    );
}
