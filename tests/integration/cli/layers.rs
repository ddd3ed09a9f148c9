//! The library's layers, as the crate documentation's module table states them (src/lib.rs),
//! against the code: every `crate::` path in a library file names a module of its own row
//! or of a row above it, never one below, and no two modules of one row use each other. So an
//! import that runs back up (the flow's words used by the log, the host by the flow's seam)
//! fails here, not in a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rows of the module table in src/lib.rs, top first: each row's module names.
fn layers(lib: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in lib.lines() {
        let Some(row) = line.strip_prefix("//! | `") else {
            continue;
        };
        let first = row.split(" | ").next().unwrap_or_default();
        let names: Vec<String> = format!("`{first}")
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, n)| n.to_owned())
            .collect();
        rows.push(names);
    }
    rows
}

/// Every library file (not the command's) and the crate module it belongs to.
fn files(dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let rel = p
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .to_owned();
        if rel.starts_with("src/bin") {
            continue;
        }
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") && !rel.ends_with("src/lib.rs") {
            let module = rel
                .components()
                .nth(1)
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            out.push((module, p));
        }
    }
}

/// The crate modules a file's code (not its comments) names with `crate::`.
fn uses(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for part in line.split("crate::").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

#[test]
fn no_import_runs_up_the_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = layers(&std::fs::read_to_string(root.join("src/lib.rs")).unwrap());
    let row_of: BTreeMap<&str, usize> = rows
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (n.as_str(), i)))
        .collect();
    assert!(
        row_of.contains_key("client") && row_of.contains_key("login") && rows.len() >= 6,
        "the module table of src/lib.rs was not found: {rows:?}"
    );
    let mut found = Vec::new();
    files(&root.join("src"), &mut found);
    let mut wrong = Vec::new();
    let mut edges = BTreeSet::new();
    for (module, path) in &found {
        let Some(&mine) = row_of.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module {module} is not in lib.rs's table",
                path.display()
            ));
            continue;
        };
        for used in uses(&std::fs::read_to_string(path).unwrap()) {
            if used == *module {
                continue;
            }
            match row_of.get(used.as_str()) {
                None => wrong.push(format!(
                    "{}: crate::{used} is not in the table",
                    path.display()
                )),
                // The client uses nothing else of the crate.
                Some(_) if module == "client" => {
                    wrong.push(format!("{}: the client uses crate::{used}", path.display()))
                }
                Some(&theirs) if theirs > mine => wrong.push(format!(
                    "{}: {module} (row {mine}) uses crate::{used} (row {theirs}, below)",
                    path.display()
                )),
                Some(_) => {
                    edges.insert((module.clone(), used));
                }
            }
        }
    }
    for (a, b) in &edges {
        if edges.contains(&(b.clone(), a.clone())) && a < b {
            wrong.push(format!("{a} and {b} use each other"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The check itself sees the imports it judges: the flow uses the words below it.
    assert!(edges.contains(&("login".to_owned(), "outcome".to_owned())));
    assert!(edges.contains(&("log".to_owned(), "outcome".to_owned())));
}
