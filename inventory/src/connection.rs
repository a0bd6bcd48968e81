//! The client's connection to the server: a request out, its answer in, within a deadline and
//! a size bound, and nothing else.
//!
//! The protocol has no request ids: answers come in the order of the requests. So the client
//! keeps one request in flight at a time, and takes as the answer to a request only the first
//! response after it, and only if it is of the request's kind ([`Response::answers`]). Any
//! further frame (arriving with the answer, or between two requests) answers no request: taken
//! as the answer to the next request, it would shift every answer after it. It is a protocol
//! error, and the connection is given up. The one exception is the notice a server sends on
//! an idle connection as it closes it (`ERR timeout`, `ERR busy` or `ERR shutting-down`, see
//! `docs/PROTOCOL.md`): the next request then goes over a fresh connection.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::client::{MAX_RESPONSE_BYTES, MAX_RESPONSE_FRAME};
use crate::protocol::{split_frame, ErrorCode, Request, Response, ResponseDecoder};

/// Why an exchange with the server failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CallError {
    /// The server could not be reached, the connection broke, or no answer came in time; a
    /// request that is safe to repeat may be sent again on a fresh connection.
    Transport(String),
    /// The server broke the protocol: a bad frame, an answer that does not match the
    /// request, a frame that answers no request. Nothing more it says is trusted.
    Protocol(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Transport(message) => f.write_str(message),
            CallError::Protocol(message) => write!(f, "protocol error: {message}"),
        }
    }
}

/// A connection to the server.
pub(super) struct Connection {
    stream: TcpStream,
    /// Bytes received and not yet part of an answer. Empty between requests, unless the
    /// server sent what no request asked for.
    buf: Vec<u8>,
    timeout: Duration,
    /// The server said, after an answer, that it closed the connection.
    closed: bool,
}

impl Connection {
    /// Connects to the first address of `addr` that answers within `timeout`.
    pub(super) fn open(addr: &str, timeout: Duration) -> Result<Connection, CallError> {
        let mut last = format!("{addr} resolves to no address");
        let addrs = addr
            .to_socket_addrs()
            .map_err(|e| CallError::Transport(format!("bad address {addr}: {e}")))?;
        for sa in addrs {
            match TcpStream::connect_timeout(&sa, timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(timeout)).ok();
                    stream.set_write_timeout(Some(timeout)).ok();
                    stream.set_nodelay(true).ok();
                    return Ok(Connection {
                        stream,
                        buf: Vec::new(),
                        timeout,
                        closed: false,
                    });
                }
                Err(e) => last = format!("cannot reach the server at {addr}: {e}"),
            }
        }
        Err(CallError::Transport(last))
    }

    /// Describes a failed read or write: a time-out as such, anything else as a lost
    /// connection.
    fn failure(&self, e: &io::Error) -> CallError {
        CallError::Transport(match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
                "no answer from the server within {} ms",
                self.timeout.as_millis()
            ),
            _ => format!("connection lost: {e}"),
        })
    }

    /// Whether the connection can carry the next request: `Ok(false)` when the server has
    /// closed it (a fresh one will do).
    ///
    /// # Errors
    ///
    /// A protocol error when the server sent a frame since the last answer (other than the
    /// notice that it closed the connection).
    pub(super) fn ready(&mut self) -> Result<bool, CallError> {
        if self.closed {
            return Ok(false);
        }
        // Whatever is there already, without waiting.
        let mut chunk = [0u8; 4096];
        if self.stream.set_nonblocking(true).is_err() {
            return Ok(false);
        }
        let read = self.stream.read(&mut chunk);
        if self.stream.set_nonblocking(false).is_err() {
            return Ok(false);
        }
        match read {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.buf.is_empty() => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.unsolicited(),
            Ok(n) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.unsolicited()
            }
            // Closed by the server, or broken.
            _ => Ok(false),
        }
    }

    /// Judges the bytes received since the last answer: `Ok(false)` for a closing notice
    /// alone, a protocol error for anything else.
    fn unsolicited(&mut self) -> Result<bool, CallError> {
        match Response::decode(&self.buf, MAX_RESPONSE_FRAME) {
            Ok(Some((notice, used))) if used == self.buf.len() && closing_notice(&notice) => {
                self.closed = true;
                Ok(false)
            }
            _ => Err(CallError::Protocol(format!(
                "the server sent a frame that answers no request: {}; the connection is closed",
                first_frame(&self.buf)
            ))),
        }
    }

    /// Sends `request` and reads its answer, all within the time-out: the time-out bounds
    /// the whole exchange, not each read, so a server sending a byte at a time cannot keep
    /// the client waiting. A response larger than [`MAX_RESPONSE_BYTES`] is refused, and so is
    /// one that does not answer `request` or that comes with a further frame.
    ///
    /// Call [`Connection::ready`] first on a connection that has carried a request before.
    pub(super) fn call(&mut self, request: &Request) -> Result<Response, CallError> {
        debug_assert!(
            self.buf.is_empty(),
            "a request sent on a connection out of step"
        );
        let deadline = Instant::now() + self.timeout;
        if let Err(e) = self.stream.write_all(request.encode().as_bytes()) {
            return Err(self.failure(&e));
        }
        let mut decoder = ResponseDecoder::new(MAX_RESPONSE_FRAME);
        let mut received = 0usize;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match decoder.feed(&mut self.buf) {
                Ok(Some(response)) => return self.answer(request, response),
                Ok(None) => {}
                Err(e) => {
                    return Err(CallError::Protocol(format!(
                        "the server sent a bad response: {e}"
                    )))
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                return Err(self.failure(&io::ErrorKind::TimedOut.into()));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(CallError::Transport(
                        "the server closed the connection".into(),
                    ))
                }
                Ok(n) => {
                    received += n;
                    if received > MAX_RESPONSE_BYTES {
                        return Err(CallError::Protocol(format!(
                            "the server's answer is larger than {} MiB",
                            MAX_RESPONSE_BYTES >> 20
                        )));
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) => return Err(self.failure(&e)),
            }
        }
    }

    /// Checks that `response`, the first after `request`, answers it and came alone.
    fn answer(&mut self, request: &Request, response: Response) -> Result<Response, CallError> {
        if !response.answers(request) {
            return Err(CallError::Protocol(match (request, &response) {
                (
                    Request::Buy { upc, quantity },
                    Response::Bought {
                        upc: got_upc,
                        quantity: got_quantity,
                        ..
                    },
                ) => format!(
                    "asked to buy {quantity} x UPC {upc}, the server answered that \
                     {got_quantity} x UPC {got_upc} were bought"
                ),
                _ => format!(
                    "the server answered {request:?} with {}",
                    summary(&response)
                ),
            }));
        }
        if !self.buf.is_empty() {
            // Not `ready`'s verdict on the connection: the answer itself is in doubt.
            self.unsolicited()?;
        }
        Ok(response)
    }
}

/// Whether `response`, sent unasked, is the server's notice that it closed the connection.
fn closing_notice(response: &Response) -> bool {
    matches!(
        response,
        Response::Error {
            code: ErrorCode::Timeout | ErrorCode::Busy | ErrorCode::ShuttingDown,
            ..
        }
    )
}

/// The first frame in `buf` (or its start), quoted with every character that is not plain
/// text escaped.
fn first_frame(buf: &[u8]) -> String {
    let frame = match split_frame(buf, MAX_RESPONSE_FRAME) {
        Ok(Some((frame, _))) => frame,
        _ => buf,
    };
    let text = String::from_utf8_lossy(&frame[..frame.len().min(120)]);
    format!("{text:?}")
}

/// A response as a short, escaped text for an error message.
fn summary(response: &Response) -> String {
    // `Debug` escapes control and invisible characters, and hides tokens.
    let text = format!("{response:?}");
    match text.char_indices().nth(120) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}
