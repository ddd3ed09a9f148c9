//! `passbyme`: check a configuration as the PAM module reads it, send/track/cancel
//! messages by hand, try a login without PAM, and run the bundled emulator.

// Doc comments here are also `--help` text, where brackets must stay plain.
#![allow(rustdoc::broken_intra_doc_links)]

mod check;
mod demo;
mod emulator;

// What admins expect of a command: audit lines in syslog, a man page and completions.
mod audit;
mod generate;
mod report;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use pam_passbyme::client::{sanitize, Message, MessageType, Session, Status};
use pam_passbyme::config::{self, Config};
use pam_passbyme::log::Level;
use pam_passbyme::login::{self, Abandon, ConversationError, Ui};
use pam_passbyme::outcome::Request;

/// Push-based second-factor login on PassBy[ME]: the companion command of pam_passbyme.so.
#[derive(Parser)]
#[command(name = "passbyme", version, about, long_about = None)]
struct Cli {
    /// The configuration file (the one the PAM module reads).
    #[arg(long, short, global = true, value_name = "FILE", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration exactly as the module reads it (files, TOML, credentials),
    /// and with --sshd / --sudo the sshd and sudo setups around the module. Exit status
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring-plugin convention).
    Check(check::Args),
    /// Send a message, like the SDK's send_message.
    ///
    /// Prints the session: its message id, expiration and each recipient's status.
    /// Writes an audit line to syslog (see AUDIT).
    Send {
        /// Recipient PassBy[ME] ID (repeat for several).
        #[arg(long = "to", required = true, value_name = "ID")]
        to: Vec<String>,
        /// authorization (the phone offers Approve and Deny), message or esign.
        #[arg(long = "type", default_value = "authorization", value_name = "TYPE")]
        kind: String,
        /// Subject line.
        #[arg(long, value_name = "TEXT")]
        subject: Option<String>,
        /// Body text.
        #[arg(long, value_name = "TEXT")]
        body: Option<String>,
        /// Seconds the message may be downloaded.
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        availability: u64,
        /// Track the message until every recipient's status is final (cancel on Ctrl-C).
        ///
        /// For the message type, until each recipient has seen it. Each change is printed
        /// on standard error. Ctrl-C (or SIGTERM, SIGHUP) cancels the message (an audit
        /// line of its own) and exits with status 1.
        #[arg(long)]
        wait: bool,
        /// Print the session as JSON.
        ///
        /// One line: messageId, expirationDate (RFC 3339), recipients (each userId and
        /// status).
        #[arg(long)]
        json: bool,
    },
    /// Show a message's status (track in the SDK).
    Track {
        /// The message id.
        id: String,
        /// Print the session as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a message.
    ///
    /// Recipients whose status is not yet final become CANCELLED. Writes an audit line to
    /// syslog (see AUDIT).
    Cancel {
        /// The message id.
        id: String,
        /// Print the session as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the module's whole login flow for USER without PAM, showing progress.
    ///
    /// Progress and log lines go to standard error: to try a user's phone and the message
    /// texts. It follows the configuration, including login.prompt (with enter, it waits
    /// for Enter on standard input) and the policies, and counts towards the user's push
    /// limits like a real login. It ends with "login allowed (WORD)" or "login refused
    /// (WORD)" on standard output, WORD being the module's decision (see
    /// pam_passbyme(8)). Ctrl-C cancels the push. Writes an audit line to syslog (see
    /// AUDIT).
    Login {
        /// The Unix user to log in as (looked up in [users]).
        user: String,
        /// The service name the message mentions.
        #[arg(long, value_name = "NAME", default_value = "passbyme-login")]
        service: String,
        /// The remote host the message mentions (none: a local login, policy.local applies).
        #[arg(long, value_name = "HOST")]
        rhost: Option<String>,
    },
    /// Show the push-fatigue limiter's state: pushes in the window, denials, lockout,
    /// pending push, grace entries (all users, or one).
    ///
    /// For the user over all sources and for each source (remote host or terminal), with
    /// the configured limits. It takes no lock (state files are replaced whole), so it
    /// never waits. Fails when limits.enabled is false.
    Status {
        /// Only this user.
        user: Option<String>,
    },
    /// Clear a user's limiter state (lockout, counters, grace), like faillock --reset.
    ///
    /// It waits at most 5 seconds for the user's lock (held by a login of that user); then
    /// it fails with an error saying so, and clears nothing. Fails when limits.enabled is
    /// false. Writes an audit line to syslog (see AUDIT).
    Unlock {
        /// The Unix user.
        user: String,
    },
    /// Run a local PassBy[ME] emulator (mutual TLS) that plays the phone.
    ///
    /// For tests and demonstrations, not for production. It prints "listening on
    /// https://ADDR" on standard output (the bound address, so that port 0 can be read
    /// back), then a short guide, and logs each request to standard error; it runs until
    /// it is killed. On first start it creates in the state directory a CA (ca.pem,
    /// ca.key), a server certificate (server.pem, server.key), client credentials in the
    /// vendor's shape (client.pem, client.password) and a ready passbyme.toml pointing at
    /// them, which maps the invoking user to USER@emulator.test.
    ///
    /// Tags after + in the local part of a recipient ID choose that recipient's
    /// behaviour: +approve, +deny, +ignore, +after=DURATION, +notified=DURATION,
    /// +downloaded=DURATION, +seen=DURATION (when that step of the phone happens, counted
    /// from the send), +status=NAME (answer with that status), and faults +fault=NAME,
    /// +sendfault=NAME, +cancelfault=NAME (for example 500, 420:421, hang, badjson).
    /// Example: alice+deny+after=500ms@example.com.
    Emulator(emulator::Args),
    /// A real login through real Linux-PAM and the built module, against an emulator
    /// started for it; you play the phone.
    ///
    /// It uses a private PAM service file: nothing under /etc changes and no root is
    /// needed. You play the phone at the terminal, or it answers by itself.
    Demo(demo::Args),
    /// Count the module's decisions for a time window (from the journal, or a syslog file
    /// with --file) per user and per source, with the approval latency, and raise alerts:
    /// push fatigue in progress, any fail-open, users audit mode would refuse. Exit status
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring-plugin convention).
    Report(report::Args),
    /// Write the man page and the shell completions (packaging/: see generate.rs).
    #[command(hide = true)]
    Generate(generate::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A usage error of `check` is UNKNOWN (3) for monitoring, not clap's 2 (CRITICAL).
        Err(e) if e.use_stderr() && check::is_check_invocation() => {
            let _ = e.print();
            return ExitCode::from(3);
        }
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Check(args) => return check::run(&cli.config, args),
        Command::Send {
            to,
            kind,
            subject,
            body,
            availability,
            wait,
            json,
        } => send(
            &cli.config,
            to,
            &kind,
            subject,
            body,
            availability,
            wait,
            json,
        ),
        Command::Track { id, json } => load_client(&cli.config)
            .and_then(|c| c.track(&id).map_err(Into::into))
            .map(|s| print_session(&s, json)),
        Command::Cancel { id, json } => cancel(&cli.config, &id, json),
        Command::Login {
            user,
            service,
            rhost,
        } => return login(&cli.config, user, service, rhost),
        Command::Status { user } => status(&cli.config, user),
        Command::Unlock { user } => unlock(&cli.config, &user),
        Command::Emulator(args) => emulator::run(args).map(|()| true),
        Command::Demo(args) => return demo::run(args),
        Command::Report(args) => return report::run(args),
        Command::Generate(args) => {
            generate::run(args, <Cli as clap::CommandFactory>::command()).map(|()| true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("passbyme: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_client(path: &std::path::Path) -> Result<pam_passbyme::Client> {
    let config = Config::load(path)?;
    Ok(pam_passbyme::connect::connect(&config)?)
}

fn print_session(s: &Session, json: bool) -> bool {
    let info = s.info();
    if json {
        let v = serde_json::json!({
            "messageId": info.message_id,
            "expirationDate": info.expiration_date
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "recipients": info.recipients.iter()
                .map(|r| serde_json::json!({"userId": r.user_id, "status": r.status.as_str()}))
                .collect::<Vec<_>>(),
        });
        println!("{v}");
    } else {
        let expires = info
            .expiration_date
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        println!("message {}  expires {expires}", info.message_id);
        for r in &info.recipients {
            println!("  {}  {}", sanitize::clean(&r.user_id, 128), r.status);
        }
    }
    true
}

fn cancel(path: &std::path::Path, id: &str, json: bool) -> Result<bool> {
    let mut audit = audit::Line::new("cancel");
    audit.field("message", id);
    let cancelled = load_client(path).and_then(|c| c.cancel(id).map_err(Into::into));
    match &cancelled {
        Ok(_) => audit.result("ok"),
        Err(e) => audit.error(e),
    }
    cancelled.map(|s| print_session(&s, json))
}

#[allow(clippy::too_many_arguments)]
fn send(
    path: &std::path::Path,
    to: Vec<String>,
    kind: &str,
    subject: Option<String>,
    body: Option<String>,
    availability: u64,
    wait: bool,
    json: bool,
) -> Result<bool> {
    let mut audit = audit::Line::new("send");
    audit.field("type", kind).field("to", &to.join(","));
    let sent = kind
        .parse::<MessageType>()
        .map_err(Into::into)
        .and_then(|kind| {
            let client = load_client(path)?;
            let message = Message {
                recipients: to,
                subject,
                body,
                availability,
                kind,
                callback_url: None,
            };
            Ok((kind, client.send(&message).context("send")?))
        });
    let (kind, mut session) = match sent {
        Ok((kind, session)) => {
            audit.field("message", session.message_id());
            audit.result("ok");
            (kind, session)
        }
        Err(e) => {
            audit.error(&e);
            return Err(e);
        }
    };
    if !wait {
        return Ok(print_session(&session, json));
    }
    if !json {
        eprintln!(
            "sent message {}; waiting (Ctrl-C cancels)",
            session.message_id()
        );
    }
    let guard = pam_passbyme::os::SignalGuard::install();
    let mut last: Vec<Status> = Vec::new();
    loop {
        let now: Vec<Status> = session
            .info()
            .recipients
            .iter()
            .map(|r| r.status.clone())
            .collect();
        if now != last && !json {
            for r in &session.info().recipients {
                eprintln!("  {}  {}", sanitize::clean(&r.user_id, 128), r.status);
            }
            last = now;
        }
        let done = session.info().recipients.iter().all(|r| {
            r.status.is_final() || (kind == MessageType::Message && r.status == Status::Seen)
        });
        if done {
            break;
        }
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            if let Some(sig) = guard.interrupted() {
                let mut audit = audit::Line::new("cancel");
                audit
                    .field("message", session.message_id())
                    .field("reason", pam_passbyme::os::signal_name(sig));
                let cancelled = session.cancel().context("cancel");
                match &cancelled {
                    Ok(()) => audit.result("ok"),
                    Err(e) => audit.error(e),
                }
                cancelled?;
                eprintln!("{}: message cancelled", pam_passbyme::os::signal_name(sig));
                print_session(&session, json);
                guard.restore_quietly(); // exit normally instead of re-raising the signal
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        session.refresh().context("track")?;
    }
    print_session(&session, json);
    Ok(session
        .info()
        .recipients
        .iter()
        .any(|r| r.status.is_approved() || r.status == Status::Seen))
}

struct TermUi {
    spinner: usize,
    tty: bool,
    guard: pam_passbyme::os::SignalGuard,
    verbose: bool,
}

impl Ui for TermUi {
    fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        println!("{text}");
        Ok(())
    }

    fn prompt(&mut self, text: &str, abandon: &Abandon<'_>) -> Result<String, ConversationError> {
        print!("{text}");
        let _ = std::io::stdout().flush();
        let read = || {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map(|_| line.trim_end().to_owned())
                .map_err(|e| ConversationError::Other(e.to_string()))
        };
        // Ctrl-C at the prompt cancels the push, then ends the program as usual.
        let abandon_and_say = |sig: i32| eprintln!("\n{}", abandon(sig));
        self.guard.during(read, &abandon_and_say)
    }

    fn interrupted(&mut self) -> Option<i32> {
        if self.tty {
            const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
            self.spinner += 1;
            if self.spinner % 3 == 0 {
                eprint!("\r{} waiting ", FRAMES[(self.spinner / 3) % 4]);
            }
        }
        self.guard.interrupted()
    }

    fn progress(&mut self, status: &Status) {
        if self.tty {
            eprint!("\r");
        }
        eprintln!("status: {status}          ");
    }

    fn log(&mut self, level: Level, line: &str) {
        if level != Level::Debug || self.verbose {
            if self.tty {
                eprint!("\r");
            }
            eprintln!("{}: {line}", level.name());
        }
    }
}

fn login(path: &std::path::Path, user: String, service: String, rhost: Option<String>) -> ExitCode {
    let mut audit = audit::Line::new("login");
    audit.field("target", &user).field("service", &service);
    if let Some(h) = &rhost {
        audit.field("rhost", h);
    }
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("passbyme: {e}");
            audit.error(&e.into());
            return ExitCode::FAILURE;
        }
    };
    let mut req = Request {
        user,
        service,
        rhost,
        tty: None,
        target: None,
    };
    let mut ui = TermUi {
        spinner: 0,
        tty: std::io::stderr().is_terminal(),
        guard: pam_passbyme::os::SignalGuard::install(),
        verbose: true,
    };
    let report = login::run(
        &config,
        &mut req,
        &pam_passbyme::os::System,
        &mut login::Connector,
        &mut ui,
    );
    login::record(&mut ui, &req, &report);
    ui.guard.restore_quietly(); // print the result instead of dying by the signal
                                // What the person at a terminal would be told, in the configured language.
    if let Some(line) =
        pam_passbyme::messages::tell(&config, &req, &report.outcome, &pam_passbyme::os::System)
    {
        println!("{line}");
    }
    if let Some(id) = &report.message_id {
        audit.field("message", id);
    }
    audit.result(report.outcome.word());
    if let pam_passbyme::outcome::Outcome::Audit(_) = &report.outcome {
        // The module would return PAM_IGNORE: neither allowed nor refused by it.
        println!(
            "audit mode: no push sent; the module would step aside ({})",
            report.outcome.word()
        );
        return ExitCode::FAILURE;
    }
    if report.outcome.allows() {
        println!("login allowed ({})", report.outcome.word());
        ExitCode::SUCCESS
    } else {
        println!("login refused ({})", report.outcome.word());
        ExitCode::FAILURE
    }
}

fn limiter(path: &std::path::Path) -> Result<pam_passbyme::limiter::Store> {
    let config = Config::load(path)?;
    let Some(limits) = &config.limits else {
        bail!(
            "{}: the limits are off (limits.enabled = false)",
            path.display()
        );
    };
    pam_passbyme::limiter::Store::open(limits).map_err(|e| anyhow::anyhow!(e))
}

fn status(path: &std::path::Path, user: Option<String>) -> Result<bool> {
    let store = limiter(path)?;
    let l = store.limits().clone();
    let now = pam_passbyme::limiter::now_ms();
    let window = pam_passbyme::duration::format_duration(l.window);
    let in_window = |v: &[u64]| {
        v.iter()
            .filter(|&&t| t <= now && now - t < l.window.as_millis() as u64)
            .count()
    };
    let locked = |until: u64| {
        if until > now {
            format!("LOCKED for {}s", (until - now).div_ceil(1000))
        } else {
            "not locked".to_owned()
        }
    };
    // No lock is taken: state files are replaced whole, so this never waits.
    let entries = match user {
        Some(u) => vec![(u.clone(), store.read(&u))],
        None => store.list().map_err(|e| anyhow::anyhow!(e))?,
    };
    if entries.is_empty() {
        println!("no limiter state in {}", store.dir().display());
    }
    for (user, st) in entries {
        let user = sanitize::clean(&user, 64);
        match st {
            Err(e) => println!("{user}: ERROR {e}"),
            Ok(st) => {
                println!(
                    "{user}: {} pushes in the window, {} denials in a row, {} (every source: at most {} pushes per {window}, lockout after {} denials)",
                    in_window(&st.pushes),
                    st.denials,
                    locked(st.locked_until),
                    l.max_pushes_user,
                    l.lockout_after_user
                );
                for s in &st.sources {
                    println!(
                        "  from {}: {} pushes in the window, {} denials in a row, {} (at most {} pushes per {window}, lockout after {} denials)",
                        sanitize::clean(&s.source, 80),
                        in_window(&s.pushes),
                        s.denials,
                        locked(s.locked_until),
                        l.max_pushes,
                        l.lockout_after
                    );
                }
                if let Some(p) = st.pending {
                    println!(
                        "  pending push: pid {} message {} (started {}s ago)",
                        p.pid,
                        sanitize::clean(p.message.as_deref().unwrap_or("-"), 128),
                        now.saturating_sub(p.started) / 1000
                    );
                }
                for g in st.grace.iter().filter(|g| g.until > now) {
                    println!(
                        "  grace: from {} via {} for {}s",
                        sanitize::clean(&g.source, 80),
                        sanitize::clean(&g.service, 80),
                        (g.until - now).div_ceil(1000)
                    );
                }
            }
        }
    }
    Ok(true)
}

/// How long `passbyme unlock` waits for a login holding the user's lock.
const UNLOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn unlock(path: &std::path::Path, user: &str) -> Result<bool> {
    let mut audit = audit::Line::new("unlock");
    audit.field("target", user);
    let cleared = limiter(path).and_then(|store| {
        let mut wait = pam_passbyme::limiter::Wait::bounded(UNLOCK_WAIT);
        store.unlock(user, &mut wait).map_err(|e| {
            anyhow::anyhow!(
                "{}: not cleared: {e} (waited at most {}s)",
                sanitize::clean(user, 64),
                UNLOCK_WAIT.as_secs()
            )
        })
    });
    match &cleared {
        Ok(true) => audit.result("cleared"),
        Ok(false) => audit.result("no-state"),
        Err(e) => audit.error(e),
    }
    let cleared = cleared?;
    if cleared {
        println!("{}: limiter state cleared", sanitize::clean(user, 64));
    } else {
        println!("{}: had no limiter state", sanitize::clean(user, 64));
    }
    Ok(true)
}
