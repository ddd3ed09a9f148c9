//! `passbyme`: check a configuration as the PAM module reads it, send/track/cancel
//! messages by hand, try a login without PAM, and run the bundled emulator.

mod emulator;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "passbyme", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local PassBy[ME] emulator (mutual TLS) that plays the phone.
    Emulator(emulator::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Emulator(args) => emulator::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("passbyme: {err:#}");
            ExitCode::FAILURE
        }
    }
}
