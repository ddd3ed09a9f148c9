//! `--users-reader`: what the fast reader of users.d files (`config::plain`) saves. For
//! users.d directories of several shapes (files × users per file, as configuration
//! management writes them), the median time to read every file's text into entries with
//! the fast reader (falling back to TOML as `Config::load` does) and with the TOML parser
//! alone, and their ratio; beside them `Config::load` of the same directory (file rules,
//! checks and all) for scale. In-process, no emulator: `cargo bench --bench login --
//! --users-reader`.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use pam_passbyme::config::{plain, toml_users, Config};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The median milliseconds of `f` over `runs` runs.
fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

pub fn users_reader_bench() {
    let runs = if std::env::var("PBM_BENCH_QUICK").as_deref() == Ok("1") {
        5
    } else {
        31
    };
    let work = std::env::temp_dir().join(format!("pbm-bench-users-{}", std::process::id()));
    println!("| users.d | fast reader | toml only | toml / fast | Config::load (fast) |");
    println!("|---|---|---|---|---|");
    for (files, per_file) in [
        (1, 10),
        (10, 100),
        (100, 100),
        (1000, 1),
        (1000, 10),
        (10_000, 1),
    ] {
        let texts: Vec<String> = (0..files)
            .map(|f| {
                let mut t = format!("# team {f}, managed by configuration management\n[users]\n");
                for u in 0..per_file {
                    let _ = writeln!(t, "t{f:05}u{u:03} = \"t{f:05}u{u:03}@example.com\"");
                }
                t
            })
            .collect();
        let fast = time(runs, || {
            for t in &texts {
                let e = plain::users(t).or_else(|| toml_users(t)).unwrap();
                std::hint::black_box(e);
            }
        });
        let full = time(runs, || {
            for t in &texts {
                std::hint::black_box(toml_users(t).unwrap());
            }
        });
        // The same directory through Config::load (root-owned files, as the rules want).
        let dir = work.join(format!("{files}x{per_file}"));
        let users_d = dir.join("users.d");
        std::fs::create_dir_all(&users_d).unwrap();
        for d in [&work, &dir, &users_d] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for (f, t) in texts.iter().enumerate() {
            std::fs::write(users_d.join(format!("{f:05}.toml")), t).unwrap();
        }
        let main = dir.join("passbyme.toml");
        std::fs::write(
            &main,
            format!(
                "[service]\ncredentials = \"/c.pem\"\n[mapping]\nusers_dir = \"{}\"\n[users]\n",
                users_d.display()
            ),
        )
        .unwrap();
        let load = match Config::load(&main) {
            Ok(c) => {
                assert_eq!(c.dir_users.len(), files * per_file);
                format!(
                    "{:.2} ms",
                    time(runs, || drop(Config::load(&main).unwrap()))
                )
            }
            // Not root, or a directory above not root-owned: the rules refuse it.
            Err(e) => format!("(not measured: {e})"),
        };
        println!(
            "| {files} × {per_file} ({} users) | {fast:.3} ms | {full:.3} ms | {:.1} | {load} |",
            files * per_file,
            full / fast
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
