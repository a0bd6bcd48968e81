//! `ringmarket-inventory`: the inventory server and its text client.
//!
//! Each subcommand returns its outcome; only [`main`] turns a [`Failure`] into a message on
//! standard error and the process's exit status.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ringmarket_inventory::client::{parse_addr, Client, Outcome};
use ringmarket_inventory::{protocol, server, store, users};

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
    Serve(ServeArgs),
    /// Talk to an inventory server through a text menu.
    Client(ClientArgs),
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
        Some(Command::Serve(args)) => serve_command(args),
        Some(Command::Client(args)) => client_command(args),
    };
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
/// error (nothing when it is not worth saying).
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
}

/// The most connections `serve --max-connections` accepts (each open one holds a file
/// descriptor, so the operating system's limit usually bites well before this).
const MAX_CONNECTIONS: u64 = 1_000_000;

/// Arguments of `ringmarket-inventory serve`.
#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:7878")]
    addr: String,
    /// Directory of the durable state (created if missing).
    #[arg(long, default_value = "ringmarket-data")]
    data: PathBuf,
    /// Users file (`<user> <argon2id PHC string>` lines) instead of the built-in demo users.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Inventory file (`<upc> <units> <name>` lines) seeding a new data directory instead of
    /// the built-in inventory. Ignored when the data directory already holds an inventory.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Connections served at once (1 to 1000000); when all are taken, a new connection
    /// closes the one whose last request is the oldest (`ERR busy`).
    #[arg(long, default_value_t = 1024,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_CONNECTIONS))]
    max_connections: usize,
    /// Connections one source address may hold at once (an IPv6 /64 counts as one address);
    /// further ones from it get `ERR busy` and are closed.
    #[arg(long, default_value_t = 64,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_CONNECTIONS))]
    max_connections_per_address: usize,
    /// Largest request frame in bytes, newline included.
    #[arg(long, default_value_t = protocol::DEFAULT_MAX_FRAME)]
    max_frame: usize,
    /// Milliseconds from the first byte of a request to its end.
    #[arg(long, default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// Milliseconds a connection may sit idle between requests.
    #[arg(long, default_value_t = 300_000)]
    idle_timeout_ms: u64,
    /// Milliseconds to wait after a failed login on a connection, and for the same user from
    /// the same address on any connection (doubling with each failure).
    #[arg(long, default_value_t = 1_000)]
    login_backoff_ms: u64,
    /// Failed logins an address may make per minute (in a burst, or spread out); beyond, its
    /// logins are refused without being checked until the budget refills. 0: no limit.
    #[arg(long, default_value_t = 30)]
    login_failures_per_address: u32,
    /// Failed logins after which a connection is closed.
    #[arg(long, default_value_t = 10)]
    max_login_failures: u32,
    /// Password verifications at once (0: one per core); each holds an Argon2 buffer (19 MiB
    /// for the default parameters) for as long as the server runs.
    #[arg(long, default_value_t = 0)]
    login_workers: usize,
    /// Milliseconds open connections get to finish after SIGINT or SIGTERM.
    #[arg(long, default_value_t = 5_000)]
    shutdown_grace_ms: u64,
    /// Read a password from standard input, print its Argon2id hash for a users file, and exit.
    #[arg(long)]
    print_hash: bool,
}

/// Arguments of `ringmarket-inventory client`.
#[derive(Debug, Args)]
#[command(after_help = CLIENT_HELP)]
struct ClientArgs {
    /// Address of the server (`HOST:PORT`).
    #[arg(long, default_value = "127.0.0.1:7878", value_parser = parse_addr)]
    addr: String,
    /// File of the local inventory (what was bought through this client), kept across runs;
    /// clients sharing it add their purchases under an operating-system lock on `FILE.lock`,
    /// never overwriting.
    #[arg(long, default_value = "ringmarket-local.json")]
    local: PathBuf,
    /// Milliseconds a request may take, from sending it to the end of its answer, before the
    /// client gives up on it.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
}

/// The exit status of `ringmarket-inventory client` when a step failed or was refused while
/// standard input is not a terminal.
const EXIT_STEP_FAILED: u8 = 3;

/// The end of `ringmarket-inventory client --help`: how scripts use the client.
const CLIENT_HELP: &str = "\
The menu reads one choice or answer a line, so a script can be piped in, for instance
  printf '1\\nalice\\nwonderland\\n4\\n1001\\n2\\nq\\n' | ringmarket-inventory client
When standard input is a terminal, a step that fails is shown and the menu goes on; when it
is not, the client stops at the first step that fails or is refused (a refusal by the server,
a lost or silent server, a protocol error, input the menu does not take, input that ends in
the middle of a step), logs out and exits with status 3.

Exit status:
  0  every step done (or, on a terminal, the user quit)
  1  the local inventory could not be read, or purchases could not be saved to it by the end
     (this wins over 3), or the output could not be written
  2  bad command-line arguments
  3  standard input is not a terminal and a step failed or was refused";

/// Runs `ringmarket-inventory client` on standard input and output.
///
/// # Errors
///
/// The status `ringmarket-inventory client --help` describes, and why.
fn client_command(args: ClientArgs) -> Result<(), Failure> {
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let result = Client::new(&args.addr, &args.local, timeout)
        .map_err(|e| e.to_string())
        .and_then(|mut client| {
            client.hide_passwords(terminal);
            client.stop_at_failure(!terminal);
            client
                .run(&mut std::io::stdin().lock(), &mut std::io::stdout().lock())
                .map_err(|e| e.to_string())
        });
    match result {
        Ok(Outcome::Done) => Ok(()),
        Ok(Outcome::Failed) => Err(Failure::new(
            EXIT_STEP_FAILED,
            "ringmarket client: stopped at a step that failed or was refused (standard input \
             is not a terminal)",
        )),
        Err(e) => Err(Failure::new(1, format!("ringmarket client: {e}"))),
    }
}

/// Runs `ringmarket-inventory serve` until SIGINT or SIGTERM.
///
/// # Errors
///
/// Status 1 when the server cannot start (said on standard error, unless standard output has
/// gone).
fn serve_command(args: ServeArgs) -> Result<(), Failure> {
    serve_inner(args).map_err(|e| Failure {
        status: 1,
        message: (!e.is::<QuietError>()).then(|| format!("ringmarket serve: {e}")),
    })
}

fn serve_inner(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.print_hash {
        let mut password = String::new();
        std::io::stdin().lock().read_line(&mut password)?;
        let password = password.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err("no password on standard input".into());
        }
        return print_line(&users::hash_password(password));
    }
    if args.max_frame < 16 {
        return Err("--max-frame must be at least 16".into());
    }
    let users = match &args.users {
        Some(path) => users::Users::from_file(path)?,
        None => users::Users::demo(),
    };
    let seed = match &args.inventory {
        Some(path) => store::parse_inventory(
            &std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?,
        None => store::default_inventory(),
    };
    let limits = server::Limits {
        max_connections: args.max_connections,
        max_connections_per_address: args.max_connections_per_address,
        max_frame: args.max_frame,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        idle_timeout: Duration::from_millis(args.idle_timeout_ms),
        login_backoff: Duration::from_millis(args.login_backoff_ms),
        max_login_failures: args.max_login_failures.max(1),
        shutdown_grace: Duration::from_millis(args.shutdown_grace_ms),
        login_workers: args.login_workers,
        login_failures_per_address: args.login_failures_per_address,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Listen first: a server that cannot listen leaves no data directory behind.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&args.addr))
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local_addr = listener.local_addr()?;
    let shutdown = {
        let _context = runtime.enter();
        shutdown_signal().map_err(|e| format!("cannot catch SIGINT and SIGTERM: {e}"))?
    };
    let (store, writer, opened) = store::Store::open(&args.data, &seed)?;
    eprintln!(
        "ringmarket serve: {} users, {} items ({}), {} login(s) restored",
        users.len(),
        opened.items,
        if opened.seeded {
            "new store"
        } else {
            "restored"
        },
        opened.logins
    );
    let announced = match print_line(&format!("ringmarket serve: listening on {local_addr}")) {
        Ok(()) => Ok(()),
        // Nobody reads the address: serve all the same.
        Err(e) if e.is::<QuietError>() => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = announced {
        drop(store);
        drop(listener);
        drop(runtime);
        writer.join();
        return Err(e);
    }
    runtime.block_on(server::serve(listener, store, users, limits, shutdown));
    drop(runtime);
    // Every `Store` clone is gone: the writer drains its queue and stops.
    writer.join();
    eprintln!("ringmarket serve: shut down cleanly");
    Ok(())
}

/// Writes `line` and a newline to standard output and flushes it.
///
/// # Errors
///
/// A message when standard output cannot be written (a full disk, for instance); an empty
/// message when the reader has gone (a broken pipe), which is not worth reporting.
fn print_line(line: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(QuietError.into()),
        Err(e) => Err(format!("cannot write to standard output: {e}").into()),
    }
}

/// An error already reported, or not worth reporting: exit non-zero without a message.
#[derive(Debug)]
struct QuietError;

impl std::fmt::Display for QuietError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output is closed")
    }
}

impl std::error::Error for QuietError {}

/// Catches SIGINT and SIGTERM from now on; the future completes at the first one. Called
/// before the server announces its address, so that a signal sent as soon as the address is
/// known shuts the server down cleanly instead of killing it (a handler installed only when
/// the future is first polled would come too late). Needs the runtime's context.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let wait = {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
    };
    #[cfg(not(unix))]
    let wait = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        wait.await;
        eprintln!("ringmarket serve: shutting down");
    })
}
