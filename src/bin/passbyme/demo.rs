//! `passbyme demo`: a real login through real Linux-PAM and the built module, against an
//! emulator started for it. PAM reads a private service file (`pam_start_confdir`), so
//! nothing under /etc changes and no root is needed. The person at the terminal plays the
//! phone; `--answer approve|deny` answers by itself for scripts.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use pam_passbyme::pamapp::{self, Transaction};

#[derive(clap::Args)]
pub struct Args {
    /// Who answers on the phone: ask (you, at this terminal), approve or deny.
    #[arg(long, default_value = "ask", value_parser = ["ask", "approve", "deny"])]
    answer: String,
    /// The module to load (default: libpam_passbyme.so next to this program, then the
    /// installed pam_passbyme.so).
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
    /// Where the emulator keeps its CA, certificates and config (default: a new temporary
    /// directory).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

fn find_module(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return std::fs::canonicalize(&p).with_context(|| format!("module {}", p.display()));
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("libpam_passbyme.so"));
        }
    }
    // Where this machine's libpam loads modules from (Debian: /usr/lib/<multiarch>/security,
    // which differs per architecture), then the usual fixed places.
    if let Some(dir) = pamapp::module_dir() {
        candidates.push(dir.join("pam_passbyme.so"));
    }
    candidates.push("/usr/lib64/security/pam_passbyme.so".into());
    candidates.push("/usr/lib/security/pam_passbyme.so".into());
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!(
            "pam_passbyme.so not found: build it (cargo build --release) or pass --module"
        )
    })
}

pub fn run(args: Args) -> ExitCode {
    match demo(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("passbyme demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo(args: Args) -> Result<bool> {
    let module = find_module(args.module)?;
    let work = std::env::temp_dir().join(format!("passbyme-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let state_dir = args.state_dir.unwrap_or_else(|| work.join("emulator"));
    let mut eargs = super::emulator::Args::new(state_dir);
    eargs.listen = "127.0.0.1:0".parse()?;
    eargs.quiet = true;
    eargs.answer = match args.answer.as_str() {
        "deny" => super::emulator::Answer::Deny,
        "approve" => super::emulator::Answer::Approve,
        _ => super::emulator::Answer::Ignore,
    };
    eargs.after = super::emulator::Delay::fixed(std::time::Duration::from_secs(1));
    let emulator = Arc::new(super::emulator::start(eargs)?);
    let user = user_name()?;
    let confdir = work.join("pam.d");
    std::fs::create_dir_all(&confdir)?;
    let service = "passbyme-demo";
    let line = format!(
        "# Written by passbyme demo\nauth required {} config={} prompt=enter\n",
        module.display(),
        emulator.config_path().display()
    );
    std::fs::write(confdir.join(service), &line)?;
    println!("== passbyme demo ==");
    println!(
        "emulator:  https://{} (state in {})",
        emulator.api_addr(),
        emulator.state_dir().display()
    );
    println!("module:    {}", module.display());
    println!("PAM stack: {}", confdir.join(service).display());
    println!("           {}", line.lines().nth(1).unwrap_or(""));
    println!("logging in as '{user}' from 127.0.0.1 through real Linux-PAM…\n");

    let ask = args.answer == "ask";
    let emu = emulator.clone();
    let conv: pamapp::Conversation = Box::new(move |style, text| match style {
        pamapp::TEXT_INFO | pamapp::ERROR_MSG => {
            println!("[terminal] {text}");
            Ok(None)
        }
        _ => {
            println!("[terminal] {text}");
            if ask {
                play_phone(&emu);
            }
            println!("[terminal] (Enter)");
            Ok(Some(String::new()))
        }
    });
    let mut tx = Transaction::start(service, &user, Some(&confdir), conv)
        .map_err(|rc| anyhow::anyhow!("pam_start_confdir failed with PAM code {rc}"))?;
    tx.set_rhost(b"127.0.0.1");
    tx.set_tty(b"ssh");
    let started = std::time::Instant::now();
    let rc = tx.authenticate(0);
    println!(
        "\npam_authenticate: {} ({rc}) after {:.1}s",
        tx.strerror(rc),
        started.elapsed().as_secs_f64()
    );
    drop(tx);
    for m in emulator.messages() {
        for r in &m.recipients {
            println!(
                "emulator: message {} to {}: {}",
                m.message_id, r.user_id, r.status
            );
        }
    }
    let _ = std::fs::remove_dir_all(&confdir);
    Ok(rc == pamapp::SUCCESS)
}

/// Shows the newest pending message as a phone would and asks approve or deny.
fn play_phone(emu: &super::emulator::Running) {
    let Some(m) = emu.messages().into_iter().max_by_key(|m| m.sent_at_ms) else {
        println!("[phone] no message arrived");
        return;
    };
    println!(
        "\n[phone] ┌ {}",
        m.content.subject.clone().unwrap_or_default()
    );
    for l in m.content.body.clone().unwrap_or_default().lines() {
        println!("[phone] │ {l}");
    }
    loop {
        print!("[phone] └ Approve or Deny? [a/d] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).unwrap_or(0) == 0 {
            println!("(no input: denying)");
            let _ = emu.decide(&m.message_id, false);
            return;
        }
        match answer.trim().to_lowercase().as_str() {
            "a" | "approve" | "y" | "yes" => {
                let _ = emu.decide(&m.message_id, true);
                break;
            }
            "d" | "deny" | "n" | "no" => {
                let _ = emu.decide(&m.message_id, false);
                break;
            }
            _ => continue,
        }
    }
    println!();
}

fn user_name() -> Result<String> {
    // The emulator maps the invoking user; PAM needs that same name.
    let config_user = std::env::var("USER").ok().filter(|u| !u.is_empty());
    match config_user {
        Some(u) => Ok(u),
        None => {
            let out = std::process::Command::new("id").arg("-un").output()?;
            let u = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if u.is_empty() {
                bail!("cannot tell who you are (no $USER, `id -un` failed)");
            }
            Ok(u)
        }
    }
}
