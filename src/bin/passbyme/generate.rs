//! `passbyme generate DIR` (hidden from `--help`): writes the man page and the shell
//! completions from the command's own clap definitions, so that they cannot drift from it.
//!
//! The outputs are checked in under packaging/ (the packages ship them from there) and
//! tests/integration/cli/generated.rs fails when they differ from a fresh run. Regenerate
//! with:
//!
//! ```text
//! cargo run --locked --bin passbyme -- generate packaging
//! ```
//!
//! The man page is clap_mangen's title, NAME, SYNOPSIS and OPTIONS, a COMMANDS section
//! with each command's synopsis, description (its long help) and options, between two
//! hand-written roff fragments: packaging/man/passbyme.1.description (DESCRIPTION) and
//! packaging/man/passbyme.1.tail (EXIT STATUS, AUDIT, FILES, ENVIRONMENT, EXAMPLES, SEE
//! ALSO). Clap has no place for those; everything about one command or option belongs in
//! its clap definition (doc comments), which `--help` shows too.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use clap_complete::Shell;
use clap_mangen::Man;

/// The hand-written DESCRIPTION section (roff).
const DESCRIPTION: &str = include_str!("../../../packaging/man/passbyme.1.description");
/// The hand-written sections after COMMANDS (roff).
const TAIL: &str = include_str!("../../../packaging/man/passbyme.1.tail");

/// Where each output goes, relative to the output directory (packaging/ in the tree).
pub const MAN_PAGE: &str = "passbyme.1";
/// The completion files, relative to the output directory, by shell.
pub const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "completions/passbyme.bash"),
    (Shell::Zsh, "completions/_passbyme"),
    (Shell::Fish, "completions/passbyme.fish"),
];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The directory to write passbyme.1 and completions/ into (packaging/ in the tree).
    #[arg(value_name = "DIR")]
    dir: std::path::PathBuf,
}

pub fn run(args: Args, cmd: clap::Command) -> Result<()> {
    let dir = &args.dir;
    fs::create_dir_all(dir.join("completions"))
        .with_context(|| format!("{}: create", dir.display()))?;
    write(&dir.join(MAN_PAGE), &man_page(cmd.clone())?)?;
    let visible = visible(&cmd);
    for (shell, name) in COMPLETIONS {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut visible.clone(), "passbyme", &mut buf);
        write(&dir.join(name), &buf)?;
    }
    Ok(())
}

/// `cmd` without its hidden commands and options (clap_complete offers them too). Clap
/// takes names as `&'static str`: the few strings of this one-off copy are leaked.
fn visible(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_owned().leak() as &str)
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(visible),
        );
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(v) = cmd.get_version() {
        out = out.version(v.to_owned().leak() as &str);
    }
    out
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).with_context(|| format!("{}: write", path.display()))
}

/// A section clap_mangen rendered, without its heading (the `.SH` line) and the string
/// definitions it puts before it (the page's own preamble has them once).
fn body(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    match text.split_once(".SH ") {
        Some((_, rest)) => rest.split_once('\n').map_or("", |(_, b)| b).to_owned(),
        None => String::new(),
    }
}

/// The page's NAME line, after "passbyme \-".
const NAME: &str = "check, try and drive PassBy[ME] push logins; run a local emulator";

/// The date on the page's title line: the month of the last change to the command line.
const DATE: &str = "November 2026";

fn man_page(cmd: clap::Command) -> Result<Vec<u8>> {
    // The NAME line says what the command does (its --help starts with what the package
    // is); `<command>` reads better than clap_mangen's `<subcommands>`.
    let mut cmd = cmd
        .name("passbyme")
        .bin_name("passbyme")
        .about(NAME)
        .subcommand_value_name("COMMAND");
    cmd.build();
    let man = Man::new(cmd.clone())
        .title("PASSBYME")
        .date(DATE)
        .source(concat!("pam_passbyme ", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    let mut s = Vec::new();
    man.render_name_section(&mut s)?;
    write!(out, ".SH NAME\n{}", body(&s))?;
    let mut s = Vec::new();
    man.render_synopsis_section(&mut s)?;
    write!(out, ".SH SYNOPSIS\n{}", body(&s))?;
    out.write_all(DESCRIPTION.as_bytes())?;
    let mut s = Vec::new();
    man.render_options_section(&mut s)?;
    write!(out, ".SH OPTIONS\n{}", body(&s))?;
    writeln!(out, ".SH COMMANDS")?;
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let name = format!("passbyme {}", sub.get_name());
        writeln!(out, ".SS \"{name}\"")?;
        // The global options (--config, --help) are described once, above.
        let own = Man::new(sub.clone().bin_name(&name).mut_args(|a| {
            if a.is_global_set() || a.get_id() == "help" {
                a.hide(true)
            } else {
                a
            }
        }));
        let mut s = Vec::new();
        own.render_synopsis_section(&mut s)?;
        writeln!(out, "{}.PP", body(&s))?;
        let mut s = Vec::new();
        own.render_description_section(&mut s)?;
        out.write_all(body(&s).as_bytes())?;
        let mut s = Vec::new();
        own.render_options_section(&mut s)?;
        let options = body(&s);
        if !options.is_empty() {
            writeln!(out, ".PP\nOptions:")?;
            out.write_all(options.as_bytes())?;
        }
    }
    out.write_all(TAIL.as_bytes())?;
    Ok(out)
}
