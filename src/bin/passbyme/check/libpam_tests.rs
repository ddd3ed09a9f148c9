//! Tests of the libpam-backed verdict: the code choice near a module, and the differential
//! test: generated stacks, run through libpam as written (ground truth, with their own
//! stand-ins) and through the check's private copy, must agree on every path the check
//! tries, and every path of the full code space must have a path the check tries that
//! lets through at least as much.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;

const INCOMPLETE: i32 = 31;

/// A small deterministic generator (xorshift64*), seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn word(&mut self, v: &[&'static str]) -> &'static str {
        v[self.below(v.len())]
    }
}

/// A directory of the test's own under the check's private prefix (so the check's
/// "only stand-ins were loaded" rule accepts the ground truth's modules too).
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "{PRIVATE_PREFIX}test-{tag}.{}.{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(p.join("pam.d")).unwrap();
        std::fs::create_dir_all(p.join("mods")).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Generated stacks use module files m0..m3 (ground-truth ids GROUND+k).
const MODS: usize = 4;
const GROUND: usize = 500_000;

const KEYS: [&str; 8] = [
    "success",
    "ignore",
    "auth_err",
    "user_unknown",
    "new_authtok_reqd",
    "module_unknown",
    "authinfo_unavail",
    "default",
];
const ACTIONS: [&str; 9] = ["ok", "done", "bad", "die", "ignore", "reset", "1", "2", "3"];

fn control(g: &mut Rng) -> String {
    if g.chance(40) {
        return (*g.pick(&["required", "requisite", "sufficient", "optional"])).to_owned();
    }
    let n = 1 + g.below(4);
    let mut pairs: Vec<String> = (0..n)
        .map(|_| format!("{}={}", g.pick(&KEYS), g.pick(&ACTIONS)))
        .collect();
    if g.chance(20) {
        // Two default= (which one wins is libpam's business).
        pairs.push(format!("default={}", g.pick(&ACTIONS)));
    }
    let sep = if g.chance(20) { "  " } else { " " };
    let inner = pairs.join(sep);
    if g.chance(15) {
        // A continuation inside the brackets.
        let cut = inner.find(' ').unwrap_or(0);
        if cut > 0 {
            return format!("[{}\\\n {}]", &inner[..cut], &inner[cut + 1..]);
        }
    }
    format!("[{inner}]")
}

fn module_word(g: &mut Rng, dir: &Path) -> String {
    match g.below(12) {
        0 => "/nonexistent/pam_gone.so".to_owned(),
        1 => "pam_nothere_passbyme_test.so".to_owned(),
        _ => dir
            .join("mods")
            .join(format!("m{}.so", g.below(MODS)))
            .display()
            .to_string(),
    }
}

/// One physical rendering of a logical line, with the noise libpam's line assembly has to
/// get right: continuations (with blanks after the backslash), comments and blank lines
/// inside them, trailing comments.
fn render(g: &mut Rng, words: &[String]) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            if g.chance(12) {
                out.push('\\');
                if g.chance(30) {
                    out.push_str(g.word(&[" ", "\t", "  "]));
                }
                out.push('\n');
                if g.chance(15) {
                    out.push_str(g.word(&["# inside a continuation\n", "\n", "#x \\\n"]));
                }
            }
            out.push_str(g.word(&[" ", "\t", "   "]));
        }
        out.push_str(w);
    }
    if g.chance(15) {
        out.push_str(" # trailing comment");
        if g.chance(30) {
            out.push('\\');
        }
    }
    out.push('\n');
    out
}

/// A generated service file (and, where it includes them, include files).
fn generate(g: &mut Rng, dir: &Path, name: &str, depth: usize) -> String {
    let mut text = String::new();
    let lines = 1 + g.below(if depth == 0 { 4 } else { 3 });
    for _ in 0..lines {
        if g.chance(15) {
            text.push_str(g.word(&["# a comment\n", "\n", "# ends in a backslash \\\n"]));
        }
        if g.chance(10) {
            let w = vec![
                "account".to_owned(),
                "required".to_owned(),
                module_word(g, dir),
            ];
            text.push_str(&render(g, &w));
        }
        if depth == 0 && g.chance(15) {
            let inc = format!("{name}-inc{}", g.below(2));
            let body = generate(g, dir, &inc, depth + 1);
            std::fs::write(dir.join("pam.d").join(&inc), body).unwrap();
            let path = dir.join("pam.d").join(&inc).display().to_string();
            let w: Vec<String> = match g.below(3) {
                0 => vec!["@include".into(), path],
                1 => vec!["auth".into(), "include".into(), path],
                _ => vec!["auth".into(), "substack".into(), path],
            };
            text.push_str(&render(g, &w));
            continue;
        }
        let kind = *g.pick(&["auth", "auth", "auth", "-auth", "Auth"]);
        let mut w = vec![kind.to_owned(), control(g), module_word(g, dir)];
        if g.chance(30) {
            w.push("arg=1".into());
        }
        text.push_str(&render(g, &w));
    }
    text
}

/// The path of a run as (module file, code) pairs, whichever ids named them.
fn path_of(run: &Run, file: &dyn Fn(usize) -> PathBuf) -> Vec<(PathBuf, i32)> {
    run.steps.iter().map(|s| (file(s.module), s.code)).collect()
}

#[test]
fn codes_are_named_near_a_module_over_continuations_and_in_substacks() {
    let d = Dir::new("near");
    for k in 0..MODS {
        write_stand_in(&d.0.join("mods").join(format!("m{k}.so")), GROUND + k).unwrap();
    }
    let m = |k: usize| {
        d.0.join("mods")
            .join(format!("m{k}.so"))
            .display()
            .to_string()
    };
    std::fs::write(
        d.0.join("pam.d/svc"),
        format!(
            "auth [user_unknown=die \\\n# a comment\n\n  default=ok] {}\nauth required {}\nauth [maxtries=bad] {}\n",
            m(0),
            m(1),
            m(2)
        ),
    )
    .unwrap();
    std::fs::write(
        d.0.join("pam.d/sub"),
        format!(
            "auth [cred_err=ok default=die] substack svc2\nauth required {}\n",
            m(3)
        ),
    )
    .unwrap();
    let copy = Copy::with_module_dir(&d.0.join("pam.d"), Path::new("/nonexistent")).unwrap();
    let id = |k: usize| {
        copy.modules
            .iter()
            .position(|x| x.path.ends_with(format!("m{k}.so")))
            .unwrap()
    };
    let names = |s: BTreeSet<i32>| -> Vec<String> { s.into_iter().map(code_name).collect() };
    // Over the continuation, the comment and the blank line; plus the substack line's.
    assert_eq!(names(copy.codes_near(id(0))), ["user_unknown", "cred_err"]);
    assert_eq!(names(copy.codes_near(id(1))), ["cred_err"]);
    assert_eq!(names(copy.codes_near(id(2))), ["maxtries", "cred_err"]);
    // success and ignore always, then the named codes, then one named nowhere near.
    let free = free_codes(&copy.codes_near(id(2)));
    assert_eq!(free[0], AUTH_ERR);
    assert!(free.contains(&SUCCESS) && free.contains(&IGNORE) && free.contains(&11));
    assert_eq!(free.len(), 5, "{free:?}");
    let mut all: BTreeSet<i32> = BTreeSet::new();
    all.insert(AUTH_ERR);
    let free = free_codes(&all);
    assert_eq!(
        free,
        [1, SUCCESS, AUTH_ERR, IGNORE],
        "open_err stands for the rest"
    );
}

#[test]
fn module_words_are_replaced_and_the_rest_is_kept() {
    let d = Dir::new("words");
    write_stand_in(&d.0.join("mods/m0.so"), GROUND).unwrap();
    std::fs::write(d.0.join("pam.d/inc"), "auth optional pam_nothere_test.so\n").unwrap();
    let text = format!(
        "#%PAM-1.0 {m}\nauth\t[success=ok default=die]{m}\\\n  config=/etc/x.toml\n@include inc\nauth optional /nonexistent/pam_gone.so\n",
        m = d.0.join("mods/m0.so").display()
    );
    std::fs::write(d.0.join("pam.d/svc"), &text).unwrap();
    let copy = Copy::with_module_dir(&d.0.join("pam.d"), Path::new("/nonexistent")).unwrap();
    let out = std::fs::read_to_string(copy.confdir().join("svc")).unwrap();
    let stand_in = copy.root.join("m/0.so").display().to_string();
    let inc = copy.confdir().join("inc").display().to_string();
    assert_eq!(
        out,
        format!("#%PAM-1.0 {stand_in}\nauth\t[success=ok default=die]{stand_in}\\\n  config=/etc/x.toml\n@include {inc}\nauth optional /nonexistent/pam_gone.so\n")
    );
    assert_eq!(copy.modules.len(), 1);
    let missing: Vec<&str> = copy.missing.iter().map(|m| m.word.as_str()).collect();
    assert_eq!(missing, ["pam_nothere_test.so", "/nonexistent/pam_gone.so"]);
    assert_eq!(
        copy.places[&0],
        [(d.0.join("pam.d/svc"), 1), (d.0.join("pam.d/svc"), 2)]
    );
}

#[test]
fn generated_stacks_agree_with_libpam() {
    if !pamapp::has_confdir() {
        eprintln!("SKIPPED: this libpam has no pam_start_confdir");
        return;
    }
    let stacks: usize = std::env::var("PBM_DIFF_STACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let seed: u64 = std::env::var("PBM_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let mut g = Rng(seed);
    let (mut leaves, mut sampled, mut successes, mut too_large, mut incomplete, mut mixed) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    let all_codes: Vec<i32> = (0..CODES.len() as i32).collect();
    for n in 0..stacks {
        let d = Dir::new("diff");
        for k in 0..MODS {
            write_stand_in(&d.0.join("mods").join(format!("m{k}.so")), GROUND + k).unwrap();
        }
        let text = generate(&mut g, &d.0, "svc", 0);
        std::fs::write(d.0.join("pam.d/svc"), &text).unwrap();
        let why = |what: &str| format!("seed {seed} stack {n}: {what}\n--- svc\n{text}");
        let copy = Copy::with_module_dir(&d.0.join("pam.d"), Path::new("/nonexistent"))
            .unwrap_or_else(|e| panic!("{}", why(&e.to_string())));
        let codes = |m: usize| free_codes(&copy.codes_near(m));
        let runs = match explore(&copy, "svc", &codes, 5_000) {
            Ok(r) => r,
            Err(Error::TooLarge(_)) => {
                too_large += 1;
                continue;
            }
            Err(e) => panic!("{}", why(&e.to_string())),
        };
        let check_file = |id: usize| copy.modules[id].path.clone();
        let ground_file = |id: usize| {
            d.0.join("mods")
                .join(format!("m{}.so", id.wrapping_sub(GROUND)))
                .canonicalize()
                .unwrap_or_default()
        };
        let ground = |plan: &[i32]| {
            run_dir(&d.0.join("pam.d"), "svc", plan, &[])
                .unwrap_or_else(|e| panic!("{}", why(&e.to_string())))
        };
        // 1. Every path the check tried gives, replayed on the text as written, the same
        //    modules in the same order and the same result.
        let mut tried: std::collections::HashMap<Vec<(PathBuf, i32)>, i32> =
            std::collections::HashMap::new();
        for run in &runs {
            let plan: Vec<i32> = run.steps.iter().map(|s| s.code).collect();
            let truth = ground(&plan);
            assert_eq!(
                path_of(&truth, &ground_file),
                path_of(run, &check_file),
                "{}",
                why(&format!("path of plan {plan:?}"))
            );
            assert_eq!(
                truth.result,
                run.result,
                "{}",
                why(&format!("result of plan {plan:?}"))
            );
            successes += usize::from(run.result == SUCCESS);
            tried.insert(path_of(run, &check_file), run.result);
            leaves += 1;
        }
        // 2. Any path of the full code space (every module may return any of the 32
        //    codes): the same path with each code the check leaves out replaced by the one
        //    it tries in its stead takes the same modules, and lets through at least as much;
        //    the check tried it.
        for _ in 0..20 {
            let plan: Vec<i32> = (0..24).map(|_| *g.pick(&all_codes)).collect();
            let truth = ground(&plan);
            if truth.result == INCOMPLETE {
                // libpam returned at once, never a success: the check does not try it.
                incomplete += 1;
                continue;
            }
            // Each code the check leaves out at a step has its stand-ins there: the code
            // tried for "any other code" (set[0]); for new_authtok_reqd where no control
            // near names it also success, whose action the keyword controls give it. Which
            // one follows the path depends on the line the step runs on (a bracket line
            // that does not name it gives it `default`), so a module named on both kinds
            // of line may need one at one step and the other at the next: every choice per
            // step is a path the check tries.
            let choices: Vec<Vec<i32>> = truth
                .steps
                .iter()
                .map(|s| {
                    let file = ground_file(s.module);
                    let id = copy.modules.iter().position(|m| m.path == file);
                    let set = id.map(codes).unwrap_or_default();
                    if set.contains(&s.code) {
                        vec![s.code]
                    } else if s.code == 12 {
                        vec![set[0], SUCCESS]
                    } else {
                        vec![set[0]]
                    }
                })
                .collect();
            let twofold = choices.iter().filter(|c| c.len() > 1).count();
            assert!(
                twofold <= 12,
                "{}",
                why(&format!(
                    "plan {plan:?}: {twofold} steps of new_authtok_reqd"
                ))
            );
            let steps = |r: &Run| -> Vec<PathBuf> {
                r.steps.iter().map(|s| ground_file(s.module)).collect()
            };
            let holds = |mapped: &[i32]| -> Option<Run> {
                let replay = ground(mapped);
                (steps(&replay) == steps(&truth)
                    && (truth.result != SUCCESS || replay.result == SUCCESS))
                    .then_some(replay)
            };
            // Every combination, the stand-in code first at each step (bit k picks the
            // second choice of the k-th twofold step).
            let pick = |bits: usize| -> Vec<i32> {
                let mut k = 0;
                choices
                    .iter()
                    .map(|c| {
                        if c.len() == 1 {
                            return c[0];
                        }
                        k += 1;
                        c[(bits >> (k - 1)) & 1]
                    })
                    .collect()
            };
            let all = (1usize << twofold) - 1;
            let (bits, mapped, replay) = (0..=all)
                .find_map(|bits| holds(&pick(bits)).map(|r| (bits, pick(bits), r)))
                .unwrap_or_else(|| {
                    panic!(
                        "{}",
                        why(&format!(
                            "plan {plan:?} (result {}) has no path the check tries that takes the same modules and lets through as much: {:?} / {:?}",
                            truth.result,
                            pick(0),
                            pick(all)
                        ))
                    )
                });
            // Neither the stand-in code at every such step nor success at every one would do.
            mixed += usize::from(bits != 0 && bits != all && holds(&pick(all)).is_none());
            let key = path_of(&replay, &ground_file);
            assert_eq!(
                tried.get(&key),
                Some(&replay.result),
                "{}",
                why(&format!(
                    "plan {plan:?} mapped to {mapped:?}: the check never tried {key:?}"
                ))
            );
            sampled += 1;
        }
    }
    eprintln!(
        "differential: seed {seed}: {stacks} generated stacks ({too_large} over the run limit), {leaves} paths tried by the check and replayed on libpam ({successes} succeeding), {sampled} random full-code paths mapped and matched ({mixed} of them with new_authtok_reqd replaced by success at one step and by the stand-in code at another; {incomplete} more ended by PAM_INCOMPLETE)"
    );
    assert!(leaves > stacks && successes > 0 && sampled > 0);
}

/// Seed 1796317310847826691, stack 522, reduced by hand: one module file on a bracket line
/// that does not name new_authtok_reqd (there it falls to `default`, here bad) and on a
/// keyword line (there it takes success's action, ok). A path in which both invocations
/// return new_authtok_reqd is followed by the check's stand-in code on the first and by
/// success on the second, not by either for both.
#[test]
fn new_authtok_reqd_is_replaced_per_invocation_by_the_line_it_runs_on() {
    if !pamapp::has_confdir() {
        eprintln!("SKIPPED: this libpam has no pam_start_confdir");
        return;
    }
    let d = Dir::new("reqd");
    for k in 0..2 {
        write_stand_in(&d.0.join("mods").join(format!("m{k}.so")), GROUND + k).unwrap();
    }
    let m = |k: usize| d.0.join(format!("mods/m{k}.so")).display().to_string();
    std::fs::write(
        d.0.join("pam.d/svc"),
        format!(
            "auth [success=1] {}\nauth requisite {}\nauth sufficient {}\n",
            m(0),
            m(0),
            m(1)
        ),
    )
    .unwrap();
    let copy = Copy::with_module_dir(&d.0.join("pam.d"), Path::new("/nonexistent")).unwrap();
    let ground = |plan: &[i32]| {
        let run = run_dir(&d.0.join("pam.d"), "svc", plan, &[]).unwrap();
        let ids: Vec<usize> = run.steps.iter().map(|s| s.module - GROUND).collect();
        (ids, run.result)
    };
    let codes = |m: usize| free_codes(&copy.codes_near(m));
    assert_eq!(codes(0), [AUTH_ERR, SUCCESS, IGNORE]);
    assert_eq!(codes(1), [AUTH_ERR, SUCCESS, IGNORE]);
    // The truth: both invocations of m0 return new_authtok_reqd; m1 runs, the stack fails.
    assert_eq!(ground(&[12, 12, SUCCESS]), (vec![0, 0, 1], 12));
    // Neither code tried in its stead follows that path on both invocations.
    assert_eq!(
        ground(&[AUTH_ERR, AUTH_ERR, SUCCESS]),
        (vec![0, 0], AUTH_ERR)
    );
    assert_eq!(ground(&[SUCCESS, SUCCESS, SUCCESS]), (vec![0, 1], SUCCESS));
    // One on each does: the stand-in on the bracket line, success on the keyword line.
    assert_eq!(
        ground(&[AUTH_ERR, SUCCESS, SUCCESS]),
        (vec![0, 0, 1], AUTH_ERR)
    );
    // The check's verdict: every path it tries, and what libpam returns on it. The path
    // above is among them (and every m1 code after it fails, as with new_authtok_reqd).
    let runs = explore(&copy, "svc", &codes, 100).unwrap();
    let mut got: Vec<(Vec<(usize, i32)>, i32)> = runs
        .iter()
        .map(|r| {
            (
                r.steps.iter().map(|s| (s.module, s.code)).collect(),
                r.result,
            )
        })
        .collect();
    got.sort();
    let (e, s, i, denied) = (AUTH_ERR, SUCCESS, IGNORE, 6);
    let mut want: Vec<(Vec<(usize, i32)>, i32)> = vec![
        (vec![(0, s), (1, e)], denied),
        (vec![(0, s), (1, i)], denied),
        (vec![(0, s), (1, s)], SUCCESS),
        (vec![(0, e), (0, e)], e),
        (vec![(0, i), (0, e)], denied),
    ];
    for (first, status) in [(e, e), (i, denied)] {
        for second in [s, i] {
            for last in [e, i, s] {
                want.push((vec![(0, first), (0, second), (1, last)], status));
            }
        }
    }
    want.sort();
    assert_eq!(got, want);
    assert!(got.contains(&(vec![(0, e), (0, s), (1, s)], e)));
}
