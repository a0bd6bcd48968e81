//! The text client: a menu over the protocol, recording what it buys in a local inventory
//! ([`crate::local`]).
//!
//! The client reads its choices line by line, so a script can be piped into it; with its
//! standard input not a terminal, it stops at the first step that fails (see
//! [`Client::stop_at_failure`]).

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::connection::{CallError, Connection};
use crate::local::{LocalError, LocalInventory};
use crate::protocol::{
    parse_upc, valid_user, ErrorCode, Item, Request, Response, Token, MAX_UPC_DIGITS, MAX_USER_LEN,
    VERSION,
};

/// The longest response frame the client accepts: an `ITEM` frame with the longest name
/// fits in a few hundred bytes, an error message in about as much.
pub const MAX_RESPONSE_FRAME: usize = 4096;

/// The most bytes the client accepts in one response: enough for the largest inventory a
/// server may list (100,000 items of names up to 100 bytes), so that a server announcing
/// more cannot keep the client reading.
pub const MAX_RESPONSE_BYTES: usize = 32 << 20;

/// `text` as the client prints it: control characters, and the invisible characters that
/// change the order in which text is displayed (the bidirectional embeddings, overrides,
/// isolates and marks U+202A..U+202E, U+2066..U+2069, U+200E, U+200F and U+061C), are written
/// as `\u{...}` escapes. Item names and messages come from the server: unescaped, such
/// characters would let a name make the text printed around it read differently from what it
/// is (a name that seems to end early, a quantity that seems to be another).
///
/// # Examples
///
/// ```
/// use ringmarket_inventory::client::shown;
///
/// assert_eq!(shown("Blue widget"), "Blue widget");
/// assert_eq!(shown("Blue \u{202e}tegdiw"), "Blue \\u{202e}tegdiw");
/// assert_eq!(shown("tab\there"), "tab\\u{9}here");
/// ```
pub fn shown(text: &str) -> Cow<'_, str> {
    fn hidden(c: char) -> bool {
        c.is_control()
            || matches!(
                c,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            )
    }
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Formats items as an aligned table: UPC and units right-aligned, names left-aligned (and
/// [`shown`]).
///
/// # Examples
///
/// ```
/// use ringmarket_inventory::client::table;
/// use ringmarket_inventory::protocol::Item;
///
/// let items = [Item { upc: 7, units: 120, name: "Seven".into() }];
/// assert_eq!(table(&items), "UPC  Units  Name\n  7    120  Seven\n");
/// ```
pub fn table(items: &[Item]) -> String {
    let upc_w = items
        .iter()
        .map(|i| i.upc.to_string().len())
        .chain([3])
        .max()
        .unwrap_or(3);
    let units_w = items
        .iter()
        .map(|i| i.units.to_string().len())
        .chain([5])
        .max()
        .unwrap_or(5);
    let mut out = format!("{:>upc_w$}  {:>units_w$}  Name\n", "UPC", "Units");
    for item in items {
        out.push_str(&format!(
            "{:>upc_w$}  {:>units_w$}  {}\n",
            item.upc,
            item.units,
            shown(&item.name)
        ));
    }
    out
}

/// Why [`parse_addr`] refused an address; each variant carries the address as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrError {
    /// No `:` separates a host from a port.
    NotHostPort(String),
    /// The part after the last `:` is not a port from 1 to 65535.
    NoValidPort(String),
    /// The host is empty, or contains whitespace or control characters.
    NoValidHost(String),
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrError::NotHostPort(addr) => write!(f, "{addr:?} is not HOST:PORT"),
            AddrError::NoValidPort(addr) => write!(f, "{addr:?} has no valid port (1 to 65535)"),
            AddrError::NoValidHost(addr) => write!(f, "{addr:?} has no valid host"),
        }
    }
}

impl std::error::Error for AddrError {}

/// Checks that `addr` has the form `HOST:PORT` (a name or an IP address, `[...]` around an
/// IPv6 address, and a port from 1 to 65535); whether the host resolves is learnt on connecting.
///
/// # Errors
///
/// An [`AddrError`] saying what is wrong with the address.
///
/// # Examples
///
/// ```
/// use ringmarket_inventory::client::{parse_addr, AddrError};
///
/// assert!(parse_addr("127.0.0.1:7878").is_ok());
/// assert!(parse_addr("[::1]:7878").is_ok());
/// assert!(parse_addr("nonsense").is_err());
/// assert!(parse_addr("127.0.0.1:").is_err());
/// let err = parse_addr(":7878").unwrap_err();
/// assert_eq!(err, AddrError::NoValidHost(":7878".into()));
/// assert_eq!(err.to_string(), r#"":7878" has no valid host"#);
/// ```
pub fn parse_addr(addr: &str) -> Result<String, AddrError> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| AddrError::NotHostPort(addr.to_owned()))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(AddrError::NoValidPort(addr.to_owned())),
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AddrError::NoValidHost(addr.to_owned()));
    }
    Ok(addr.to_owned())
}

/// The client's state between menu choices.
pub struct Client {
    addr: String,
    timeout: Duration,
    local_path: PathBuf,
    /// The local inventory as last read or written, plus the purchases made since.
    local: LocalInventory,
    /// The purchases made since the last successful save, to be added to the file.
    pending: LocalInventory,
    conn: Option<Connection>,
    /// The logged-in user and the token that resumes the login after a reconnection.
    login: Option<(String, Token)>,
    /// Read passwords from the terminal without echo (when standard input is a terminal).
    hide_passwords: bool,
    /// End the run at the first step that fails or is refused (when standard input is not a
    /// terminal, so that a script stops there).
    stop_at_failure: bool,
    /// Whether the last save of the local inventory failed (it is retried before quitting).
    unsaved: bool,
}

/// Shows the server and the logged-in user, never the login's token.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .field("user", &self.login.as_ref().map(|(user, _)| user))
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

const MENU: &str = "\
1) Log in
2) View server inventory
3) View local inventory
4) Purchase
5) Log out
q) Quit";

impl Client {
    /// A client for the server at `addr`, keeping its local inventory in `local_path`.
    ///
    /// # Errors
    ///
    /// A [`LocalError`] when the local inventory file exists but cannot be read or is not a
    /// local inventory.
    pub fn new(addr: &str, local_path: &Path, timeout: Duration) -> Result<Client, LocalError> {
        Ok(Client {
            addr: addr.to_owned(),
            timeout,
            local: LocalInventory::load(local_path)?,
            local_path: local_path.to_owned(),
            pending: LocalInventory::default(),
            conn: None,
            login: None,
            hide_passwords: false,
            stop_at_failure: false,
            unsaved: false,
        })
    }

    /// Reads passwords from the terminal with echo off instead of from the menu's input.
    /// Meant for an interactive terminal; scripts leave it off.
    pub fn hide_passwords(&mut self, hide: bool) {
        self.hide_passwords = hide;
    }

    /// Ends [`Client::run`] at the first step that fails or is refused, with
    /// [`Outcome::Failed`], instead of showing the failure and prompting for the next choice.
    /// Meant for scripts; an interactive terminal leaves it off.
    pub fn stop_at_failure(&mut self, stop: bool) {
        self.stop_at_failure = stop;
    }

    /// Sends `request`, connecting (and resuming the login) first if needed. A request that
    /// is safe to repeat is retried once on a fresh connection when the old one broke.
    ///
    /// `ERR busy` (the server took the connection's slot back, or has too many from this
    /// address) means the request was not carried out and the connection is closing: any
    /// request, a purchase included, is retried once on a fresh connection.
    ///
    /// A protocol error ends the session: the connection is closed and the login forgotten,
    /// since nothing more the server says on it can be matched to a request.
    fn call(&mut self, request: &Request) -> Result<Response, CallError> {
        let retry = !matches!(request, Request::Buy { .. });
        match self.call_once(request) {
            Err(CallError::Transport(_)) if retry => self.call_once(request),
            Ok(Response::Error {
                code: ErrorCode::Busy,
                ..
            }) => {
                self.conn = None;
                self.call_once(request)
            }
            result => result,
        }
    }

    fn call_once(&mut self, request: &Request) -> Result<Response, CallError> {
        if let Some(conn) = &mut self.conn {
            match conn.ready() {
                Ok(true) => {}
                // Closed by the server: a fresh connection carries the request.
                Ok(false) => self.conn = None,
                Err(e) => return Err(self.failed(e)),
            }
        }
        if self.conn.is_none() {
            let conn = self.connect(request).map_err(|e| self.failed(e))?;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("connected above");
        conn.call(request).map_err(|e| self.failed(e))
    }

    /// A fresh connection, its version checked and the login resumed (unless `request` is a
    /// new login).
    fn connect(&mut self, request: &Request) -> Result<Connection, CallError> {
        let mut conn = Connection::open(&self.addr, self.timeout)?;
        match conn.call(&Request::Hello { version: VERSION })? {
            Response::Hello { .. } => {}
            other => {
                return Err(CallError::Transport(format!(
                    "the server refused version {VERSION}: {other:?}"
                )))
            }
        }
        if let Some((user, token)) = &self.login {
            if !matches!(request, Request::Login { .. }) {
                if !conn.ready()? {
                    return Err(CallError::Transport(
                        "the server closed the connection".into(),
                    ));
                }
                match conn.call(&Request::Resume { token: *token })? {
                    Response::Resumed { user: resumed } if resumed == *user => {}
                    Response::Resumed { user: resumed } => {
                        return Err(CallError::Protocol(format!(
                            "resumed the login of {user}, the server answered that it resumed \
                             {resumed:?}'s"
                        )))
                    }
                    // The login has ended (logged out elsewhere, or unknown to this server).
                    _ => self.login = None,
                }
            }
        }
        Ok(conn)
    }

    /// Gives up the connection after `error`, and the login too after a protocol error.
    fn failed(&mut self, error: CallError) -> CallError {
        self.conn = None;
        match error {
            CallError::Protocol(message) if self.login.take().is_some() => {
                CallError::Protocol(format!("{message}; logged out here: log in again"))
            }
            other => other,
        }
    }

    /// Runs the menu until `q` or the end of `input`, or until a step fails when
    /// [`Client::stop_at_failure`] is on; then logs out and retries a failed save of the
    /// local inventory.
    ///
    /// # Errors
    ///
    /// When writing to `out` fails, or when the local inventory could not be saved after a
    /// purchase and retrying at the end fails too. A failed step (a refusal, a lost server)
    /// is not an error: it is shown, and ends the run as [`Outcome::Failed`] only with
    /// [`Client::stop_at_failure`].
    pub fn run(&mut self, input: &mut dyn BufRead, out: &mut dyn Write) -> io::Result<Outcome> {
        writeln!(out, "ringmarket client: server {}", self.addr)?;
        let mut outcome = Outcome::Done;
        loop {
            writeln!(out, "\n{MENU}")?;
            let Some(choice) = prompt(input, out, "choice> ")? else {
                break;
            };
            let step = match choice.as_str() {
                "1" => self.do_login(input, out)?,
                "2" => self.do_server_inventory(out)?,
                "3" => self.do_local_inventory(out)?,
                "4" => self.do_purchase(input, out)?,
                "5" => self.do_logout(out)?,
                "q" | "Q" | "quit" | "6" => break,
                "" => Step::Done,
                other => failure(out, format_args!("no such choice: {other:?}"))?,
            };
            if step == Step::Failed && self.stop_at_failure {
                writeln!(out, "stopped: the step above failed")?;
                outcome = Outcome::Failed;
                break;
            }
        }
        if self.login.is_some() {
            // Not a step of the script: its failure is shown and does not change the outcome.
            self.do_logout(out)?;
        }
        if self.unsaved {
            if let Err(e) = self.save() {
                writeln!(out, "bye")?;
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "could not save the local inventory to {}: {e}; the purchases made \
                         since its last save are not recorded in it",
                        self.local_path.display()
                    ),
                ));
            }
            self.unsaved = false;
        }
        writeln!(out, "bye")?;
        Ok(outcome)
    }

    fn do_login(&mut self, input: &mut dyn BufRead, out: &mut dyn Write) -> io::Result<Step> {
        if let Some((user, _)) = &self.login {
            return failure(
                out,
                format_args!("already logged in as {user}; log out first"),
            );
        }
        let Some(user) = prompt(input, out, "user id: ")? else {
            return Ok(Step::Failed);
        };
        let password = if self.hide_passwords {
            out.flush()?;
            rpassword::prompt_password("password: ")?
        } else {
            match prompt(input, out, "password: ")? {
                Some(password) => password,
                None => return Ok(Step::Failed),
            }
        };
        // Checked after reading the password, so that a script's password line is never
        // taken for a menu choice.
        if !valid_user(&user) {
            return failure(
                out,
                format_args!(
                    "{user:?} is not a user id (1 to {MAX_USER_LEN} ASCII letters, digits, \
                     '_', '-' and '.')"
                ),
            );
        }
        match self.call(&Request::Login {
            user: user.clone(),
            password,
        }) {
            // The user is the one asked for (`Response::answers` checked that the server
            // named the same): nothing the server wrote is shown or recorded as the name.
            Ok(Response::LoggedIn { token, .. }) => {
                writeln!(out, "logged in as {user}")?;
                self.login = Some((user, token));
                Ok(Step::Done)
            }
            other => show_failure(out, other),
        }
    }

    fn do_server_inventory(&mut self, out: &mut dyn Write) -> io::Result<Step> {
        match self.call(&Request::Inventory) {
            Ok(Response::Inventory(items)) => {
                write!(out, "server inventory:\n{}", table(&items))?;
                Ok(Step::Done)
            }
            other => show_failure(out, other),
        }
    }

    fn do_local_inventory(&mut self, out: &mut dyn Write) -> io::Result<Step> {
        let Some((user, _)) = &self.login else {
            return failure(out, format_args!("log in to see what you bought"));
        };
        let items: Vec<Item> = self
            .local
            .users
            .get(user)
            .into_iter()
            .flatten()
            .map(|(&upc, item)| Item {
                upc,
                units: item.units,
                name: item.name.clone(),
            })
            .collect();
        if items.is_empty() {
            writeln!(out, "local inventory of {user}: nothing bought yet")?;
        } else {
            write!(out, "local inventory of {user}:\n{}", table(&items))?;
        }
        Ok(Step::Done)
    }

    fn do_purchase(&mut self, input: &mut dyn BufRead, out: &mut dyn Write) -> io::Result<Step> {
        let Some(upc) = prompt(input, out, "UPC: ")? else {
            return Ok(Step::Failed);
        };
        let Some(quantity) = prompt(input, out, "quantity: ")? else {
            return Ok(Step::Failed);
        };
        let (Ok(upc), Ok(quantity)) = (parse_upc(&upc), quantity.parse::<u32>()) else {
            return failure(
                out,
                format_args!(
                    "the UPC is 1 to {MAX_UPC_DIGITS} digits and the quantity a whole number"
                ),
            );
        };
        match self.call(&Request::Buy { upc, quantity }) {
            Ok(Response::Bought {
                upc,
                quantity,
                left,
                name,
            }) => {
                writeln!(
                    out,
                    "bought {quantity} x {} (UPC {upc}); {left} left",
                    shown(&name)
                )?;
                if let Some((user, _)) = &self.login {
                    self.local.add(user, upc, &name, u64::from(quantity));
                    self.pending.add(user, upc, &name, u64::from(quantity));
                    // The purchase is made: a failed save is retried before the client ends,
                    // whose exit status says if it failed for good.
                    if let Err(e) = self.save() {
                        writeln!(
                            out,
                            "could not save the local inventory to {}: {e}",
                            self.local_path.display()
                        )?;
                    }
                }
                Ok(Step::Done)
            }
            Err(e) => failure(
                out,
                format_args!(
                    "error: {e}; nothing was recorded here, and the purchase may or may not \
                     have happened: check the server inventory"
                ),
            ),
            other => show_failure(out, other),
        }
    }

    /// Adds the purchases not yet saved to the local inventory file; on success the client's
    /// view becomes the file's content (other clients' purchases included).
    fn save(&mut self) -> io::Result<()> {
        match self.pending.add_to_file(&self.local_path) {
            Ok(merged) => {
                self.local = merged;
                self.pending = LocalInventory::default();
                self.unsaved = false;
                Ok(())
            }
            Err(e) => {
                self.unsaved = true;
                Err(e)
            }
        }
    }

    fn do_logout(&mut self, out: &mut dyn Write) -> io::Result<Step> {
        let Some((user, _)) = self.login.clone() else {
            return failure(out, format_args!("not logged in"));
        };
        match self.call(&Request::Logout) {
            Ok(Response::LoggedOut { user: ended }) if ended == user => {
                self.login = None;
                writeln!(out, "logged out {user}")?;
                Ok(Step::Done)
            }
            Ok(Response::LoggedOut { user: ended }) => {
                let e = self.failed(CallError::Protocol(format!(
                    "asked to log {user} out, the server answered that it logged {ended:?} out"
                )));
                show_failure(out, Err(e))
            }
            other => show_failure(out, other),
        }
    }
}

/// How a run of the menu ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The input ended or the user quit, and no step failed (or failures were only shown:
    /// [`Client::stop_at_failure`] was off).
    Done,
    /// A step failed or was refused, and the run stopped there.
    Failed,
}

/// Whether a menu step did what it was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Done,
    /// Refused by the server or by the client, failed, or cut short by the end of the input.
    Failed,
}

/// Shows why a step failed.
fn failure(out: &mut dyn Write, why: std::fmt::Arguments<'_>) -> io::Result<Step> {
    writeln!(out, "{why}")?;
    Ok(Step::Failed)
}

/// Shows the server's refusal, or what went wrong, for a step whose request did not succeed.
fn show_failure(out: &mut dyn Write, result: Result<Response, CallError>) -> io::Result<Step> {
    match result {
        Ok(Response::Error { code, message }) => {
            failure(out, format_args!("refused ({code}): {}", shown(&message)))
        }
        // A code from a later version of the protocol: a refusal all the same.
        Ok(Response::OtherError { code, message }) => failure(
            out,
            format_args!("refused ({}): {}", shown(&code), shown(&message)),
        ),
        Ok(other) => failure(out, format_args!("unexpected response: {other:?}")),
        Err(e) => failure(out, format_args!("error: {e}")),
    }
}

/// Prints `label`, reads one line; `None` at the end of input.
fn prompt(input: &mut dyn BufRead, out: &mut dyn Write, label: &str) -> io::Result<Option<String>> {
    write!(out, "{label}")?;
    out.flush()?;
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        writeln!(out)?;
        return Ok(None);
    }
    Ok(Some(line.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let items = [
            Item {
                upc: 1,
                units: 1234567,
                name: "a".into(),
            },
            Item {
                upc: 123456,
                units: 0,
                name: "bb".into(),
            },
        ];
        assert_eq!(
            table(&items),
            "   UPC    Units  Name\n     1  1234567  a\n123456        0  bb\n"
        );
    }
}
