//! `ringmarket`: the command-line front end of the ringmarket crate.

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
    match cli.command {
        None => {
            use clap::CommandFactory;
            // Without a subcommand there is nothing to do: show what there is.
            let _ = Cli::command().print_help();
            ExitCode::SUCCESS
        }
        Some(Command::Run(args)) => exit_code(run::main(args)),
        Some(Command::Gen(args)) => exit_code(gen::main(args)),
        Some(Command::Readings(args)) => readings::main(&args),
    }
}

/// The process's exit code for `code`, with stdout flushed first.
fn exit_code(code: u8) -> ExitCode {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    ExitCode::from(code)
}
