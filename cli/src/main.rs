//! `ringmarket`: the command-line front end of the ringmarket crate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod readings;

/// Lock-free producer/consumer marketplace: run scenarios, pipelines and services on it.
#[derive(Debug, Parser)]
#[command(name = "ringmarket", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
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
        Some(Command::Readings(args)) => readings::main(&args),
    }
}
