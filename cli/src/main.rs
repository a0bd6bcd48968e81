//! `ringmarket`: the command-line front end of the ringmarket crate.
//!
//! Each subcommand returns its outcome; only [`main`] turns a [`Failure`] into a message on
//! standard error and the process's exit status.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod gen;
mod readings;
mod run;
mod scenario;

/// Lock-free producer/consumer marketplace: run scenarios, pipelines and services on it.
#[derive(Debug, Parser)]
#[command(name = "ringmarket", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a marketplace scenario (the assignment's JSON format), or a built-in demo.
    Run(run::RunArgs),
    /// Write a random scenario that provably finishes, with its expected output.
    Gen(gen::GenArgs),
    /// The readings pipeline: producers, a bounded buffer, consumers writing files.
    Readings(readings::ReadingsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => {
            use clap::CommandFactory;
            // Without a subcommand there is nothing to do: show what there is.
            let _ = Cli::command().print_help();
            Ok(())
        }
        Some(Command::Run(args)) => run::main(args),
        Some(Command::Gen(args)) => gen::main(args),
        Some(Command::Readings(args)) => readings::main(&args),
    };
    // What the subcommand printed goes out before the reason it failed.
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = &failure.message {
                eprintln!("{message}");
            }
            ExitCode::from(failure.status)
        }
    }
}

/// Why a subcommand failed: the process's exit status, and what [`main`] says on standard
/// error (nothing when the subcommand has said it already).
#[derive(Debug)]
struct Failure {
    status: u8,
    message: Option<String>,
}

impl Failure {
    fn new(status: u8, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: Some(message.into()),
        }
    }

    /// A failure the subcommand has already explained on standard error.
    fn silent(status: u8) -> Failure {
        Failure {
            status,
            message: None,
        }
    }

    /// The same status, with `line` said after this failure's own message.
    fn also(self, line: impl Into<String>) -> Failure {
        let line = line.into();
        Failure {
            status: self.status,
            message: Some(match self.message {
                Some(message) => format!("{message}\n{line}"),
                None => line,
            }),
        }
    }
}

/// An error of the `readings` commands: status 1, said as `error: ` and the chain of its
/// causes.
impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::new(1, format!("error: {e:#}"))
    }
}
