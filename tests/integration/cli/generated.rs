use std::path::Path;

use crate::util::{passbyme, TempDir};

/// The one command that refreshes the checked-in files.
const REGENERATE: &str = "cargo run --locked --bin passbyme -- generate packaging";

const FILES: [&str; 4] = [
    "passbyme.1",
    "completions/passbyme.bash",
    "completions/_passbyme",
    "completions/passbyme.fish",
];

fn generate() -> TempDir {
    let t = TempDir::new("generate");
    let (code, out, err) = passbyme(&["generate", t.path().to_str().unwrap()]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    t
}

#[test]
fn checked_in_man_page_and_completions_match_the_command() {
    let t = generate();
    let packaging = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    let drift: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|f| {
            std::fs::read(t.path().join(f)).unwrap()
                != std::fs::read(packaging.join(f)).unwrap_or_default()
        })
        .collect();
    assert!(
        drift.is_empty(),
        "packaging/{{{}}} differ from what the command's clap definitions and \
         packaging/man/ give; regenerate them with\n    {REGENERATE}\nand commit the result",
        drift.join(",")
    );
}

#[test]
fn man_page_has_every_command_and_the_hand_written_sections() {
    let t = generate();
    let page = std::fs::read_to_string(t.path().join("passbyme.1")).unwrap();
    assert!(page.contains(".TH PASSBYME 1 "), "{page}");
    for cmd in [
        "check", "send", "track", "cancel", "login", "status", "unlock", "emulator", "demo",
    ] {
        assert!(
            page.contains(&format!(".SS \"passbyme {cmd}\"\n")),
            "{cmd} missing"
        );
    }
    // Each command's own options, with their long help.
    assert!(page.contains("\\fB\\-\\-wait\\fR\n"), "send --wait missing");
    assert!(
        page.contains("Ctrl\\-C (or SIGTERM, SIGHUP) cancels the message"),
        "long help missing"
    );
    assert!(
        page.contains("\\fB\\-\\-state\\-dir\\fR \\fI<DIR>\\fR"),
        "emulator --state-dir missing"
    );
    for section in [
        ".SH DESCRIPTION\n",
        ".SH OPTIONS\n",
        ".SH COMMANDS\n",
        ".SH \"EXIT STATUS\"\n",
        ".SH AUDIT\n",
        ".SH ENVIRONMENT\n",
        ".SH FILES\n",
        ".SH EXAMPLES\n",
        ".SH \"SEE ALSO\"\n",
    ] {
        assert_eq!(page.matches(section).count(), 1, "{section:?} once");
    }
    // The hidden generator and the emulator's hidden --quiet stay out of the page.
    assert!(
        !page.contains("generate") && !page.contains("quiet"),
        "{page}"
    );
    // The completions offer neither, either.
    for f in &FILES[1..] {
        let c = std::fs::read_to_string(t.path().join(f)).unwrap();
        assert!(!c.contains("generate") && !c.contains("quiet"), "{f}");
    }
    let (_, help, _) = passbyme(&["--help"]);
    assert!(!help.contains("generate"), "{help}");
}

/// bash itself, with the generated file: a command name and an option's values complete.
#[test]
fn bash_completion_completes_commands_and_values() {
    let t = generate();
    let file = t.path().join("completions/passbyme.bash");
    let complete = |words: &str, cword: usize| {
        let script = format!(
            ". '{}'; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             _passbyme passbyme \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; \
             echo \"${{COMPREPLY[*]}}\"",
            file.display()
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
    };
    assert_eq!(complete("passbyme ch", 1), "check");
    assert_eq!(complete("passbyme un", 1), "unlock");
    assert_eq!(
        complete("passbyme emulator --answer ''", 3),
        "approve deny ignore"
    );
    assert_eq!(complete("passbyme send --w", 2), "--wait");
}
