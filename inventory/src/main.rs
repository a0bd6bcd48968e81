//! `ringmarket-inventory`: the inventory server and its text client.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// An inventory server on the ringmarket crate, and its text client.
#[derive(Debug, Parser)]
#[command(name = "ringmarket-inventory", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the inventory server.
    Serve(ringmarket_inventory::ServeArgs),
    /// Talk to an inventory server through a text menu.
    Client(ringmarket_inventory::ClientArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => {
            use clap::CommandFactory;
            // Without a subcommand there is nothing to do: show what there is.
            let _ = Cli::command().print_help();
        }
        Some(Command::Serve(args)) => ringmarket_inventory::serve_command(args),
        Some(Command::Client(args)) => ringmarket_inventory::client_command(args),
    }
    ExitCode::SUCCESS
}
