//! `ringmarket`: the command-line front end of the ringmarket crate.

use clap::{Parser, Subcommand};

/// Lock-free producer/consumer marketplace: run scenarios, pipelines and services on it.
#[derive(Debug, Parser)]
#[command(name = "ringmarket", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the inventory server.
    Serve(ringmarket_cli::inventory::ServeArgs),
    /// Talk to an inventory server through a text menu.
    Client(ringmarket_cli::inventory::ClientArgs),
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        None => {
            use clap::CommandFactory;
            // Without a subcommand there is nothing to do: show what there is.
            let _ = Cli::command().print_help();
        }
        Some(command) => match command {
            Command::Serve(args) => ringmarket_cli::inventory::serve_command(args),
            Command::Client(args) => ringmarket_cli::inventory::client_command(args),
        },
    }
}
