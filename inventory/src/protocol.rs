//! The inventory protocol, version 1: framing, requests, responses.
//!
//! This module does no I/O: it turns bytes into [`Request`]s and [`Response`]s and back, so it
//! can be fuzzed and tested on its own. `docs/PROTOCOL.md` is the normative description.
//!
//! A frame is one line of UTF-8 text ended by `\n` (a `\r` before it is dropped). A request is
//! one frame; a response is one frame, except the inventory listing, whose head frame says how
//! many item frames follow.
//!
//! # Examples
//!
//! ```
//! use ringmarket_inventory::protocol::{Request, Response};
//!
//! let request = Request::parse(b"BUY 1001 2").unwrap();
//! assert_eq!(request, Request::Buy { upc: 1001, quantity: 2 });
//! assert_eq!(request.encode(), "BUY 1001 2\n");
//!
//! let reply = "OK BOUGHT 1001 2 48 Blue widget\n";
//! let (response, used) = Response::decode(reply.as_bytes(), 1024).unwrap().unwrap();
//! assert_eq!(used, reply.len());
//! assert!(matches!(response, Response::Bought { left: 48, .. }));
//! ```

use std::fmt;

/// The protocol version this module speaks.
pub const VERSION: u32 = 1;

/// The default largest frame, in bytes, including its `\n`.
pub const DEFAULT_MAX_FRAME: usize = 1024;

/// The most units a single purchase may ask for.
pub const MAX_QUANTITY: u32 = 1_000_000;

/// The longest user id, in bytes.
pub const MAX_USER_LEN: usize = 64;

/// The longest item name, in bytes.
pub const MAX_NAME_LEN: usize = 100;

/// The most items an inventory listing may announce.
pub const MAX_ITEMS: usize = 100_000;

/// The most digits a UPC may have (so every UPC fits in a `u64`).
pub const MAX_UPC_DIGITS: usize = 19;

/// Why a frame could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The frame is longer than the largest allowed frame (and has no `\n` within it).
    TooLong,
    /// The frame is not UTF-8.
    NotUtf8,
    /// The frame holds a control character (other than the final `\r\n`).
    ControlCharacter,
    /// The frame is empty.
    Empty,
    /// The first word is not a known verb.
    UnknownVerb(String),
    /// An argument is missing.
    Missing(&'static str),
    /// An argument is present but not valid.
    Invalid(&'static str),
    /// More arguments than the verb takes.
    TrailingArguments,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLong => write!(f, "frame too long"),
            ParseError::NotUtf8 => write!(f, "frame is not UTF-8"),
            ParseError::ControlCharacter => write!(f, "frame holds a control character"),
            ParseError::Empty => write!(f, "empty frame"),
            ParseError::UnknownVerb(verb) => write!(f, "unknown verb {:?}", truncate(verb, 32)),
            ParseError::Missing(what) => write!(f, "missing {what}"),
            ParseError::Invalid(what) => write!(f, "invalid {what}"),
            ParseError::TrailingArguments => write!(f, "too many arguments"),
        }
    }
}

impl std::error::Error for ParseError {}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Finds the first complete frame in `buf`.
///
/// Returns `Ok(Some((frame, used)))` where `frame` excludes the line ending and `used` counts
/// the bytes to drop from `buf`, `Ok(None)` when more bytes are needed, or
/// `Err(ParseError::TooLong)` when `max_frame` bytes arrived without a `\n`.
///
/// # Examples
///
/// ```
/// use ringmarket_inventory::protocol::{split_frame, ParseError};
///
/// assert_eq!(split_frame(b"LOGOUT\r\nQUIT\n", 64), Ok(Some((&b"LOGOUT"[..], 8))));
/// assert_eq!(split_frame(b"LOGO", 64), Ok(None));
/// assert_eq!(split_frame(b"LOGOUT", 4), Err(ParseError::TooLong));
/// ```
pub fn split_frame(buf: &[u8], max_frame: usize) -> Result<Option<(&[u8], usize)>, ParseError> {
    let window = &buf[..buf.len().min(max_frame)];
    match window.iter().position(|&b| b == b'\n') {
        Some(newline) => {
            let mut frame = &buf[..newline];
            if let [rest @ .., b'\r'] = frame {
                frame = rest;
            }
            Ok(Some((frame, newline + 1)))
        }
        None if buf.len() >= max_frame => Err(ParseError::TooLong),
        None => Ok(None),
    }
}

fn text(frame: &[u8]) -> Result<&str, ParseError> {
    let text = std::str::from_utf8(frame).map_err(|_| ParseError::NotUtf8)?;
    if text.chars().any(char::is_control) {
        return Err(ParseError::ControlCharacter);
    }
    Ok(text)
}

/// A session token: 128 random bits, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token(pub [u8; 16]);

impl Token {
    /// Parses 32 lowercase hex digits.
    ///
    /// # Errors
    ///
    /// `ParseError::Invalid("token")` for anything else.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket_inventory::protocol::Token;
    ///
    /// let token = Token::parse("000102030405060708090a0b0c0d0e0f").unwrap();
    /// assert_eq!(token.0[15], 15);
    /// assert!(Token::parse("0001").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Token, ParseError> {
        let bad = ParseError::Invalid("token");
        let bytes = s.as_bytes();
        if bytes.len() != 32 {
            return Err(bad);
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(ParseError::Invalid("token")),
        };
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(Token(out))
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Token {
    // A token is a credential: never print it whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// A request from a client.
#[derive(Clone, PartialEq, Eq)]
pub enum Request {
    /// `HELLO <version>`: states the protocol version the client speaks.
    Hello {
        /// The client's version.
        version: u32,
    },
    /// `LOGIN <user> <password>`: the password is the rest of the line.
    Login {
        /// The user id.
        user: String,
        /// The password (may hold spaces).
        password: String,
    },
    /// `RESUME <token>`: binds this connection to an earlier login.
    Resume {
        /// The token `LOGIN` answered with.
        token: Token,
    },
    /// `INVENTORY`: every item and its units.
    Inventory,
    /// `BUY <upc> <quantity>`.
    Buy {
        /// The item.
        upc: u64,
        /// How many units, `1..=MAX_QUANTITY`.
        quantity: u32,
    },
    /// `LOGOUT`: deletes the login record.
    Logout,
    /// `QUIT`: the server answers and closes the connection.
    Quit,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Hello { version } => write!(f, "Hello({version})"),
            Request::Login { user, .. } => write!(f, "Login({user:?}, <password>)"),
            Request::Resume { token } => write!(f, "Resume({token:?})"),
            Request::Inventory => write!(f, "Inventory"),
            Request::Buy { upc, quantity } => write!(f, "Buy({upc}, {quantity})"),
            Request::Logout => write!(f, "Logout"),
            Request::Quit => write!(f, "Quit"),
        }
    }
}

/// Whether `user` is a valid user id: 1 to 64 bytes of ASCII letters, digits, `_`, `-`, `.`.
///
/// # Examples
///
/// ```
/// use ringmarket_inventory::protocol::valid_user;
///
/// assert!(valid_user("alice"));
/// assert!(!valid_user("al ice"));
/// ```
pub fn valid_user(user: &str) -> bool {
    (1..=MAX_USER_LEN).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether `name` is a valid item name: 1 to 100 bytes, no control characters, no leading or
/// trailing space.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && !name.chars().any(char::is_control)
        && name.trim() == name
}

/// Parses a UPC: 1 to [`MAX_UPC_DIGITS`] decimal digits, nothing else (no sign, no spaces).
/// This is the one rule for UPCs, on the wire and in the server's inventory file alike.
///
/// # Errors
///
/// `ParseError::Invalid("upc")` for anything else.
///
/// # Examples
///
/// ```
/// use ringmarket_inventory::protocol::parse_upc;
///
/// assert_eq!(parse_upc("0001001"), Ok(1001));
/// assert_eq!(parse_upc("9999999999999999999"), Ok(9_999_999_999_999_999_999));
/// assert!(parse_upc("10000000000000000000").is_err()); // 20 digits
/// assert!(parse_upc("+1001").is_err());
/// assert!(parse_upc("").is_err());
/// ```
pub fn parse_upc(s: &str) -> Result<u64, ParseError> {
    number(Some(s), "upc", MAX_UPC_DIGITS)
}

/// Parses a number of units: 1 to 20 decimal digits that fit in a `u64`, nothing else.
///
/// # Errors
///
/// `ParseError::Invalid("units")` for anything else.
pub fn parse_units(s: &str) -> Result<u64, ParseError> {
    number(Some(s), "units", 20)
}

/// Parses a decimal number of at most `max_digits` digits, no sign.
fn number(s: Option<&str>, what: &'static str, max_digits: usize) -> Result<u64, ParseError> {
    let s = s.ok_or(ParseError::Missing(what))?;
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Invalid(what));
    }
    s.parse().map_err(|_| ParseError::Invalid(what))
}

impl Request {
    /// Parses one request frame (without its line ending).
    ///
    /// # Errors
    ///
    /// A [`ParseError`] saying what is wrong; it never panics, whatever the bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket_inventory::protocol::{ParseError, Request};
    ///
    /// assert_eq!(Request::parse(b"INVENTORY"), Ok(Request::Inventory));
    /// assert_eq!(Request::parse(b"BUY 1001"), Err(ParseError::Missing("quantity")));
    /// let login = Request::parse(b"LOGIN bob correct horse").unwrap();
    /// assert_eq!(login, Request::Login { user: "bob".into(), password: "correct horse".into() });
    /// ```
    pub fn parse(frame: &[u8]) -> Result<Request, ParseError> {
        let text = text(frame)?;
        if text.is_empty() {
            return Err(ParseError::Empty);
        }
        let (verb, rest) = match text.split_once(' ') {
            Some((verb, rest)) => (verb, Some(rest)),
            None => (text, None),
        };
        let no_args = |request: Request| match rest {
            None => Ok(request),
            Some(_) => Err(ParseError::TrailingArguments),
        };
        match verb {
            "HELLO" => {
                let mut args = rest.map(|r| r.split(' '));
                let version = number(args.as_mut().and_then(Iterator::next), "version", 9)?;
                if args.and_then(|mut a| a.next()).is_some() {
                    return Err(ParseError::TrailingArguments);
                }
                let version = u32::try_from(version).map_err(|_| ParseError::Invalid("version"))?;
                Ok(Request::Hello { version })
            }
            "LOGIN" => {
                let rest = rest.ok_or(ParseError::Missing("user"))?;
                let (user, password) = rest
                    .split_once(' ')
                    .ok_or(ParseError::Missing("password"))?;
                if !valid_user(user) {
                    return Err(ParseError::Invalid("user"));
                }
                if password.is_empty() {
                    return Err(ParseError::Missing("password"));
                }
                Ok(Request::Login {
                    user: user.to_owned(),
                    password: password.to_owned(),
                })
            }
            "RESUME" => {
                let token = rest.ok_or(ParseError::Missing("token"))?;
                Ok(Request::Resume {
                    token: Token::parse(token)?,
                })
            }
            "BUY" => {
                let mut args = rest.unwrap_or("").split(' ').filter(|_| rest.is_some());
                let upc = parse_upc(args.next().ok_or(ParseError::Missing("upc"))?)?;
                let quantity = number(args.next(), "quantity", 7)?;
                if args.next().is_some() {
                    return Err(ParseError::TrailingArguments);
                }
                if quantity == 0 || quantity > u64::from(MAX_QUANTITY) {
                    return Err(ParseError::Invalid("quantity"));
                }
                Ok(Request::Buy {
                    upc,
                    // The range check above makes this lossless.
                    quantity: quantity as u32,
                })
            }
            "INVENTORY" => no_args(Request::Inventory),
            "LOGOUT" => no_args(Request::Logout),
            "QUIT" => no_args(Request::Quit),
            other => Err(ParseError::UnknownVerb(other.to_owned())),
        }
    }

    /// The frame for this request, `\n` included.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket_inventory::protocol::Request;
    ///
    /// assert_eq!(Request::Logout.encode(), "LOGOUT\n");
    /// ```
    pub fn encode(&self) -> String {
        match self {
            Request::Hello { version } => format!("HELLO {version}\n"),
            Request::Login { user, password } => format!("LOGIN {user} {password}\n"),
            Request::Resume { token } => format!("RESUME {token}\n"),
            Request::Inventory => "INVENTORY\n".to_owned(),
            Request::Buy { upc, quantity } => format!("BUY {upc} {quantity}\n"),
            Request::Logout => "LOGOUT\n".to_owned(),
            Request::Quit => "QUIT\n".to_owned(),
        }
    }
}

/// Why the server refused a request: the code word of an `ERR` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The frame did not parse. The connection stays open.
    BadRequest,
    /// The frame was longer than the limit. The server closes the connection.
    TooLong,
    /// The request did not arrive in time, or the connection sat idle. The server closes it.
    Timeout,
    /// `HELLO` named a version the server does not speak.
    UnsupportedVersion,
    /// The request needs a login.
    NotLoggedIn,
    /// `LOGIN` or `RESUME` on a connection that is already logged in.
    AlreadyLoggedIn,
    /// Unknown user or wrong password (the server does not say which).
    BadCredentials,
    /// Too many failed logins on this connection: wait before the next one.
    RateLimited,
    /// `RESUME` with a token that names no login.
    UnknownSession,
    /// `BUY` of a UPC the inventory does not hold.
    UnknownUpc,
    /// `BUY` of more units than are left.
    InsufficientUnits,
    /// The server is shutting down; the request was not carried out.
    ShuttingDown,
    /// The server failed (storage error); the request was not carried out.
    Internal,
    /// The server needs this connection's slot (every slot is taken and this connection's
    /// last request is the oldest), or the client's address holds too many connections. The
    /// server closes the connection; reconnecting later (and `RESUME`) is fine.
    Busy,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::BadRequest,
        ErrorCode::TooLong,
        ErrorCode::Timeout,
        ErrorCode::UnsupportedVersion,
        ErrorCode::NotLoggedIn,
        ErrorCode::AlreadyLoggedIn,
        ErrorCode::BadCredentials,
        ErrorCode::RateLimited,
        ErrorCode::UnknownSession,
        ErrorCode::UnknownUpc,
        ErrorCode::InsufficientUnits,
        ErrorCode::ShuttingDown,
        ErrorCode::Internal,
        ErrorCode::Busy,
    ];

    /// The code word on the wire.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket_inventory::protocol::ErrorCode;
    ///
    /// assert_eq!(ErrorCode::UnknownUpc.as_str(), "unknown-upc");
    /// assert_eq!(ErrorCode::parse("unknown-upc"), Some(ErrorCode::UnknownUpc));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::TooLong => "too-long",
            ErrorCode::Timeout => "timeout",
            ErrorCode::UnsupportedVersion => "unsupported-version",
            ErrorCode::NotLoggedIn => "not-logged-in",
            ErrorCode::AlreadyLoggedIn => "already-logged-in",
            ErrorCode::BadCredentials => "bad-credentials",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::UnknownSession => "unknown-session",
            ErrorCode::UnknownUpc => "unknown-upc",
            ErrorCode::InsufficientUnits => "insufficient-units",
            ErrorCode::ShuttingDown => "shutting-down",
            ErrorCode::Internal => "internal",
            ErrorCode::Busy => "busy",
        }
    }

    /// The code for a code word.
    pub fn parse(word: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == word)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The item's UPC.
    pub upc: u64,
    /// Units available.
    pub units: u64,
    /// The item's name (see [`valid_name`]).
    pub name: String,
}

/// A response from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `OK HELLO <version>`.
    Hello {
        /// The version the server speaks on this connection.
        version: u32,
    },
    /// `OK LOGIN <user> <token>`.
    LoggedIn {
        /// The user now logged in on this connection.
        user: String,
        /// The token that resumes this login on another connection.
        token: Token,
    },
    /// `OK RESUME <user>`.
    Resumed {
        /// The user now logged in on this connection.
        user: String,
    },
    /// `OK INVENTORY <n>` then `n` frames `ITEM <upc> <units> <name>`.
    Inventory(Vec<Item>),
    /// `OK BOUGHT <upc> <quantity> <left> <name>`: the purchase is durable.
    Bought {
        /// The item.
        upc: u64,
        /// Units bought.
        quantity: u32,
        /// Units left after this purchase.
        left: u64,
        /// The item's name.
        name: String,
    },
    /// `OK LOGOUT <user>`.
    LoggedOut {
        /// The user whose login was deleted.
        user: String,
    },
    /// `OK QUIT`: the server closes the connection after this.
    Bye,
    /// `ERR <code> <message>`.
    Error {
        /// What went wrong, for programs.
        code: ErrorCode,
        /// What went wrong, for people (may be empty).
        message: String,
    },
    /// `ERR <code> <message>` with a code this version does not know (a later version may add
    /// codes): a refusal all the same, as the protocol asks clients to treat it.
    OtherError {
        /// The code word as sent (one word, never one of [`ErrorCode::ALL`]).
        code: String,
        /// What went wrong, for people (may be empty).
        message: String,
    },
}

impl Response {
    /// An `ERR` response.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Response {
        Response::Error {
            code,
            message: message.into(),
        }
    }

    /// Whether this response can be the answer to `request`: a refusal answers any request;
    /// otherwise the response must be of the request's kind, and a `LOGIN` or `BUY` answer
    /// must name the user, or the UPC and quantity, that the request named. The protocol has
    /// no request ids (answers come in order), so this is how a client notices that a
    /// server's answers are out of step with its requests.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket_inventory::protocol::{Request, Response};
    ///
    /// let buy = Request::Buy { upc: 1001, quantity: 2 };
    /// let bought = |upc| Response::Bought { upc, quantity: 2, left: 5, name: "Widget".into() };
    /// assert!(bought(1001).answers(&buy));
    /// assert!(!bought(1002).answers(&buy));
    /// assert!(!Response::Bye.answers(&buy));
    /// assert!(Response::OtherError { code: "later".into(), message: String::new() }.answers(&buy));
    /// ```
    pub fn answers(&self, request: &Request) -> bool {
        match (self, request) {
            (Response::Error { .. } | Response::OtherError { .. }, _) => true,
            (Response::Hello { version }, Request::Hello { version: asked }) => version == asked,
            (Response::LoggedIn { user, .. }, Request::Login { user: asked, .. }) => user == asked,
            (Response::Resumed { .. }, Request::Resume { .. })
            | (Response::Inventory(_), Request::Inventory)
            | (Response::LoggedOut { .. }, Request::Logout)
            | (Response::Bye, Request::Quit) => true,
            (
                Response::Bought { upc, quantity, .. },
                Request::Buy {
                    upc: asked,
                    quantity: asked_quantity,
                },
            ) => upc == asked && quantity == asked_quantity,
            _ => false,
        }
    }

    /// The frames for this response, each ending in `\n`.
    ///
    /// Control characters in free text are replaced by `?` so the framing always holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket_inventory::protocol::{ErrorCode, Response};
    ///
    /// let refusal = Response::error(ErrorCode::NotLoggedIn, "log in first");
    /// assert_eq!(refusal.encode(), "ERR not-logged-in log in first\n");
    /// ```
    pub fn encode(&self) -> String {
        fn clean(s: &str) -> String {
            s.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        }
        match self {
            Response::Hello { version } => format!("OK HELLO {version}\n"),
            Response::LoggedIn { user, token } => format!("OK LOGIN {} {token}\n", clean(user)),
            Response::Resumed { user } => format!("OK RESUME {}\n", clean(user)),
            Response::Inventory(items) => {
                let mut out = format!("OK INVENTORY {}\n", items.len());
                for item in items {
                    out.push_str(&format!(
                        "ITEM {} {} {}\n",
                        item.upc,
                        item.units,
                        clean(&item.name)
                    ));
                }
                out
            }
            Response::Bought {
                upc,
                quantity,
                left,
                name,
            } => format!("OK BOUGHT {upc} {quantity} {left} {}\n", clean(name)),
            Response::LoggedOut { user } => format!("OK LOGOUT {}\n", clean(user)),
            Response::Bye => "OK QUIT\n".to_owned(),
            Response::Error { code, message } if message.is_empty() => format!("ERR {code}\n"),
            Response::Error { code, message } => format!("ERR {code} {}\n", clean(message)),
            Response::OtherError { code, message } if message.is_empty() => {
                format!("ERR {}\n", clean(code))
            }
            Response::OtherError { code, message } => {
                format!("ERR {} {}\n", clean(code), clean(message))
            }
        }
    }

    /// Decodes the first complete response in `buf`.
    ///
    /// Returns `Ok(Some((response, used)))`, or `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] when the bytes are not a valid response; it never panics.
    pub fn decode(buf: &[u8], max_frame: usize) -> Result<Option<(Response, usize)>, ParseError> {
        let Some((head, mut used)) = split_frame(buf, max_frame)? else {
            return Ok(None);
        };
        let count = match Head::parse(head)? {
            Head::Complete(response) => return Ok(Some((response, used))),
            Head::Items(count) => count,
        };
        let mut items = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let Some((line, n)) = split_frame(&buf[used..], max_frame)? else {
                return Ok(None);
            };
            used += n;
            items.push(parse_item(line)?);
        }
        Ok(Some((Response::Inventory(items), used)))
    }
}

/// What the first frame of a response says.
enum Head {
    /// The whole response.
    Complete(Response),
    /// `OK INVENTORY <n>`: `n` item frames follow.
    Items(usize),
}

impl Head {
    fn parse(head: &[u8]) -> Result<Head, ParseError> {
        let head = text(head)?;
        let (status, rest) = head.split_once(' ').ok_or(ParseError::Missing("status"))?;
        if status == "ERR" {
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            return Ok(Head::Complete(match ErrorCode::parse(code) {
                Some(code) => Response::error(code, message),
                None if code.is_empty() => return Err(ParseError::Missing("error code")),
                None => Response::OtherError {
                    code: code.to_owned(),
                    message: message.to_owned(),
                },
            }));
        }
        if status != "OK" {
            return Err(ParseError::Invalid("status"));
        }
        let (kind, rest) = match rest.split_once(' ') {
            Some((kind, rest)) => (kind, Some(rest)),
            None => (rest, None),
        };
        let response = match kind {
            "HELLO" => {
                let version = number(rest, "version", 9)?;
                Response::Hello {
                    version: u32::try_from(version).map_err(|_| ParseError::Invalid("version"))?,
                }
            }
            "LOGIN" => {
                let (user, token) = rest
                    .and_then(|r| r.split_once(' '))
                    .ok_or(ParseError::Missing("token"))?;
                Response::LoggedIn {
                    user: user.to_owned(),
                    token: Token::parse(token)?,
                }
            }
            "RESUME" => Response::Resumed {
                user: rest.ok_or(ParseError::Missing("user"))?.to_owned(),
            },
            "LOGOUT" => Response::LoggedOut {
                user: rest.ok_or(ParseError::Missing("user"))?.to_owned(),
            },
            "QUIT" if rest.is_none() => Response::Bye,
            "BOUGHT" => {
                let mut args = rest.ok_or(ParseError::Missing("upc"))?.splitn(4, ' ');
                let upc = parse_upc(args.next().ok_or(ParseError::Missing("upc"))?)?;
                let quantity = number(args.next(), "quantity", 7)?;
                let left = number(args.next(), "left", 20)?;
                let name = args.next().ok_or(ParseError::Missing("name"))?.to_owned();
                Response::Bought {
                    upc,
                    quantity: u32::try_from(quantity)
                        .map_err(|_| ParseError::Invalid("quantity"))?,
                    left,
                    name,
                }
            }
            "INVENTORY" => {
                let count = number(rest, "count", 6)? as usize;
                if count > MAX_ITEMS {
                    return Err(ParseError::Invalid("count"));
                }
                return Ok(Head::Items(count));
            }
            _ => return Err(ParseError::Invalid("response kind")),
        };
        Ok(Head::Complete(response))
    }
}

/// Parses an `ITEM <upc> <units> <name>` frame.
fn parse_item(line: &[u8]) -> Result<Item, ParseError> {
    let line = text(line)?;
    let mut args = line
        .strip_prefix("ITEM ")
        .ok_or(ParseError::Missing("ITEM"))?
        .splitn(3, ' ');
    let upc = parse_upc(args.next().ok_or(ParseError::Missing("upc"))?)?;
    let units = parse_units(args.next().ok_or(ParseError::Missing("units"))?)?;
    let name = args.next().ok_or(ParseError::Missing("name"))?.to_owned();
    Ok(Item { upc, units, name })
}

/// Decodes responses frame by frame as their bytes arrive, so that each byte is examined once
/// however slowly a long response comes ([`Response::decode`] starts over on each call).
///
/// # Examples
///
/// ```
/// use ringmarket_inventory::protocol::{Response, ResponseDecoder};
///
/// let mut decoder = ResponseDecoder::new(1024);
/// let mut buf = b"OK INVENTORY 1\nITEM 7 120 Se".to_vec();
/// assert_eq!(decoder.feed(&mut buf), Ok(None));
/// assert_eq!(buf, b"ITEM 7 120 Se"); // the complete frame was consumed
/// buf.extend_from_slice(b"ven\n");
/// let Ok(Some(Response::Inventory(items))) = decoder.feed(&mut buf) else { panic!() };
/// assert_eq!(items[0].name, "Seven");
/// assert!(buf.is_empty());
/// ```
#[derive(Debug)]
pub struct ResponseDecoder {
    max_frame: usize,
    /// The items announced and those received so far, once an inventory's head is in.
    items: Option<(usize, Vec<Item>)>,
}

impl ResponseDecoder {
    /// A decoder refusing frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> ResponseDecoder {
        ResponseDecoder {
            max_frame,
            items: None,
        }
    }

    /// Consumes the complete frames at the start of `buf`, removing them, and returns the
    /// response once its last frame is in; what follows it stays in `buf`.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] when the bytes are not a valid response (the decoder then starts
    /// over).
    pub fn feed(&mut self, buf: &mut Vec<u8>) -> Result<Option<Response>, ParseError> {
        let mut used = 0;
        let result = loop {
            let (frame, n) = match split_frame(&buf[used..], self.max_frame) {
                Ok(Some(found)) => found,
                Ok(None) => break Ok(None),
                Err(e) => break Err(e),
            };
            used += n;
            let step = match &mut self.items {
                None => Head::parse(frame).map(|head| match head {
                    Head::Complete(response) => Some(response),
                    Head::Items(count) => {
                        self.items = Some((count, Vec::with_capacity(count.min(1024))));
                        None
                    }
                }),
                Some((_, items)) => parse_item(frame).map(|item| {
                    items.push(item);
                    None
                }),
            };
            match step {
                Ok(Some(response)) => break Ok(Some(response)),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            if let Some((count, items)) = &self.items {
                if items.len() == *count {
                    let (_, items) = self.items.take().expect("just checked");
                    break Ok(Some(Response::Inventory(items)));
                }
            }
        };
        buf.drain(..used);
        if result.is_err() {
            self.items = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoder_agrees_with_decode_byte_by_byte() {
        let items = vec![
            Item {
                upc: 7,
                units: 120,
                name: "Seven".into(),
            },
            Item {
                upc: 8,
                units: 0,
                name: "Eight and more".into(),
            },
        ];
        let responses = [
            Response::Inventory(items),
            Response::Inventory(Vec::new()),
            Response::error(ErrorCode::RateLimited, "wait"),
            Response::Hello { version: 1 },
        ];
        let wire: String = responses.iter().map(Response::encode).collect();
        let mut decoder = ResponseDecoder::new(64);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &byte in wire.as_bytes() {
            buf.push(byte);
            if let Some(response) = decoder.feed(&mut buf).unwrap() {
                got.push(response);
            }
        }
        assert_eq!(got, responses);
        assert!(buf.is_empty());
        let mut bad = b"OK INVENTORY 2\nITEM 1 1 x\nNOT AN ITEM\n".to_vec();
        assert!(decoder.feed(&mut bad).is_err());
        let mut long = vec![b'x'; 65];
        assert_eq!(decoder.feed(&mut long), Err(ParseError::TooLong));
    }

    #[test]
    fn every_request_round_trips() {
        let token = Token([7; 16]);
        for request in [
            Request::Hello { version: 1 },
            Request::Login {
                user: "a.b-c_9".into(),
                password: "with two  spaces ".into(),
            },
            Request::Resume { token },
            Request::Inventory,
            Request::Buy {
                upc: u64::MAX / 10,
                quantity: MAX_QUANTITY,
            },
            Request::Logout,
            Request::Quit,
        ] {
            let wire = request.encode();
            let (frame, used) = split_frame(wire.as_bytes(), 1024).unwrap().unwrap();
            assert_eq!(used, wire.len());
            assert_eq!(Request::parse(frame), Ok(request));
        }
    }

    #[test]
    fn malformed_requests_are_refused() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"", ParseError::Empty),
            (b"buy 1 1", ParseError::UnknownVerb("buy".into())),
            (b"BUY", ParseError::Missing("upc")),
            (b"BUY 1", ParseError::Missing("quantity")),
            (b"BUY 1 0", ParseError::Invalid("quantity")),
            (b"BUY 1 1000001", ParseError::Invalid("quantity")),
            (b"BUY -1 1", ParseError::Invalid("upc")),
            (b"BUY +1 1", ParseError::Invalid("upc")),
            (b"BUY 99999999999999999999 1", ParseError::Invalid("upc")),
            (b"BUY 1 1 1", ParseError::TrailingArguments),
            (b"BUY  1 1", ParseError::Invalid("upc")),
            (b"INVENTORY now", ParseError::TrailingArguments),
            (b"INVENTORY ", ParseError::TrailingArguments),
            (b"LOGIN", ParseError::Missing("user")),
            (b"LOGIN alice", ParseError::Missing("password")),
            (b"LOGIN alice ", ParseError::Missing("password")),
            (b"LOGIN al/ice pw", ParseError::Invalid("user")),
            (b"RESUME 12", ParseError::Invalid("token")),
            (b"HELLO", ParseError::Missing("version")),
            (b"HELLO 1 2", ParseError::TrailingArguments),
            (b"HELLO 9999999999", ParseError::Invalid("version")),
            (b"QUIT\0", ParseError::ControlCharacter),
            (b"\xff\xfe", ParseError::NotUtf8),
        ];
        for (frame, expected) in cases {
            assert_eq!(
                Request::parse(frame).as_ref(),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(frame)
            );
        }
    }

    #[test]
    fn frames_respect_the_limit() {
        assert_eq!(split_frame(b"QUIT\n", 5), Ok(Some((&b"QUIT"[..], 5))));
        assert_eq!(split_frame(b"QUITX\n", 5), Err(ParseError::TooLong));
        assert_eq!(split_frame(b"QUIT", 5), Ok(None));
        assert_eq!(split_frame(b"", 5), Ok(None));
        assert_eq!(split_frame(b"\n", 5), Ok(Some((&b""[..], 1))));
    }

    #[test]
    fn every_response_round_trips() {
        let responses = vec![
            Response::Hello { version: 1 },
            Response::LoggedIn {
                user: "alice".into(),
                token: Token([0xab; 16]),
            },
            Response::Resumed {
                user: "alice".into(),
            },
            Response::Inventory(vec![]),
            Response::Inventory(vec![
                Item {
                    upc: 1,
                    units: u64::MAX,
                    name: "A thing with spaces".into(),
                },
                Item {
                    upc: 2,
                    units: 0,
                    name: "b".into(),
                },
            ]),
            Response::Bought {
                upc: 1001,
                quantity: 3,
                left: 0,
                name: "Blue widget".into(),
            },
            Response::LoggedOut {
                user: "alice".into(),
            },
            Response::Bye,
        ]
        .into_iter()
        .chain(
            ErrorCode::ALL
                .into_iter()
                .map(|code| Response::error(code, "why not")),
        )
        .chain([
            Response::error(ErrorCode::Internal, ""),
            Response::OtherError {
                code: "out-of-season".into(),
                message: "not sold in winter".into(),
            },
            Response::OtherError {
                code: "x".into(),
                message: String::new(),
            },
        ]);
        for response in responses {
            let wire = response.encode();
            let decoded = Response::decode(wire.as_bytes(), 1024).unwrap().unwrap();
            assert_eq!(decoded, (response, wire.len()));
            // Every strict prefix needs more bytes.
            for cut in 0..wire.len() {
                assert_eq!(Response::decode(&wire.as_bytes()[..cut], 1024), Ok(None));
            }
        }
    }

    #[test]
    fn responses_never_break_framing() {
        let sneaky = Response::error(ErrorCode::BadRequest, "line\nbreak\r");
        assert_eq!(sneaky.encode(), "ERR bad-request line?break?\n");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let mut rest = &bytes[..];
            while let Ok(Some((frame, used))) = split_frame(rest, 128) {
                if let Ok(request) = Request::parse(frame) {
                    let wire = request.encode();
                    let (again, _) = split_frame(wire.as_bytes(), usize::MAX).unwrap().unwrap();
                    proptest::prop_assert_eq!(Request::parse(again), Ok(request));
                }
                rest = &rest[used..];
            }
            if let Ok(Some((response, _))) = Response::decode(&bytes, 128) {
                let wire = response.encode();
                let again = Response::decode(wire.as_bytes(), usize::MAX).unwrap().unwrap().0;
                proptest::prop_assert_eq!(again, response);
            }
        }

        #[test]
        fn near_valid_requests_round_trip(
            verb in proptest::sample::select(vec!["BUY", "LOGIN", "HELLO", "RESUME", "QUIT"]),
            args in "[ 0-9a-f+-]{0,40}",
        ) {
            let frame = format!("{verb} {args}");
            if let Ok(request) = Request::parse(frame.as_bytes()) {
                let wire = request.encode();
                let frame = wire.strip_suffix('\n').unwrap();
                proptest::prop_assert_eq!(Request::parse(frame.as_bytes()), Ok(request));
            }
        }
    }

    #[test]
    fn unknown_error_codes_are_refusals() {
        assert_eq!(
            Response::decode(b"ERR no-such-code not in this version\n", 1024),
            Ok(Some((
                Response::OtherError {
                    code: "no-such-code".into(),
                    message: "not in this version".into(),
                },
                37
            )))
        );
    }

    #[test]
    fn bad_responses_are_refused() {
        for wire in [
            &b"OK\n"[..],
            b"MAYBE HELLO 1\n",
            b"ERR  no code\n",
            b"OK INVENTORY 1\nNOTITEM 1 1 x\n",
            b"OK INVENTORY 9999999\n",
            b"OK BOUGHT 1 2\n",
        ] {
            assert!(Response::decode(wire, 1024).is_err(), "{wire:?}");
        }
    }
}
