//! `ringmarket readings`: the readings pipeline of the course activity, on the lock-free
//! `ringmarket::mpmc` ring.
//!
//! `run`: producers generate random sensor [`reading::Reading`]s into one bounded buffer;
//! consumers take them out and each writes what it takes to its own file, in the format of
//! [`format`](mod@format) (see `docs/READINGS-FORMAT.md`). `read`: prints such files back.

use clap::{Args, Subcommand};

use crate::Failure;

pub mod format;
pub mod queue;
pub mod read;
pub mod reading;
pub mod run;

/// Options of `ringmarket readings`.
#[derive(Debug, Args)]
pub struct ReadingsArgs {
    #[command(subcommand)]
    command: ReadingsCommand,
}

#[derive(Debug, Subcommand)]
enum ReadingsCommand {
    /// Run the pipeline: producers generate readings into a shared buffer, consumers write
    /// them to DIR/consumer-N.rdg.
    Run(run::RunArgs),
    /// Print the readings stored in consumer files, and how many each file held.
    Read(read::ReadArgs),
}

/// Runs `ringmarket readings ...`.
///
/// # Errors
///
/// Status 1, with the reason unless the subcommand has reported it already.
pub fn main(args: &ReadingsArgs) -> Result<(), Failure> {
    match &args.command {
        ReadingsCommand::Run(args) => run::run(args),
        ReadingsCommand::Read(args) => read::read(args),
    }
}
