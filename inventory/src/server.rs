//! The inventory server: one tokio task per connection, a bounded number of connections.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{timeout, timeout_at, Instant};

use argon2::Block;

use crate::protocol::{split_frame, ErrorCode, Request, Response, Token, VERSION};
use crate::slots::{SlotGuard, Slots};
use crate::store::{Purchase, Store};
use crate::throttle::{Throttle, ThrottleLimits};
use crate::users::Users;

/// Limits and time-outs of a server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; when all are taken, a new connection evicts the one
    /// whose last request is the oldest (see [`crate::slots`]), or waits when every one is
    /// carrying out a request.
    pub max_connections: usize,
    /// Connections one source address may hold at once.
    pub max_connections_per_address: usize,
    /// The largest request frame, `\n` included.
    pub max_frame: usize,
    /// Time from the first byte of a request to its `\n`; also bounds writing a response.
    pub request_timeout: Duration,
    /// Time a connection may sit with no request under way.
    pub idle_timeout: Duration,
    /// Wait imposed after the first failed login on a connection; doubles with each failure.
    pub login_backoff: Duration,
    /// Failed logins an address may make per minute (see [`crate::throttle`]); `0`: no
    /// limit.
    pub login_failures_per_address: u32,
    /// Failed logins after which the connection is closed.
    pub max_login_failures: u32,
    /// Time connections get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Password verifications at once, each on its own thread with its own Argon2 buffer
    /// (19 MiB for the default parameters); `0` means one per core.
    pub login_workers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            max_connections_per_address: 64,
            max_frame: crate::protocol::DEFAULT_MAX_FRAME,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            login_backoff: Duration::from_secs(1),
            max_login_failures: 10,
            shutdown_grace: Duration::from_secs(5),
            login_workers: 0,
            login_failures_per_address: 30,
        }
    }
}

/// How often a connection waiting for a slot looks again for one to evict, while every
/// connection is carrying out a request.
const EVICTION_RETRY: Duration = Duration::from_millis(50);

/// How long a closing connection reads and drops what its peer still sends.
const LINGER: Duration = Duration::from_millis(200);

/// The longest wait between login attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

struct Shared {
    store: Store,
    users: Arc<Users>,
    limits: Limits,
    /// Bounds concurrent Argon2 verifications (a buffer and a core each).
    hashing: Arc<Semaphore>,
    /// Argon2 buffers not in use: at most one per hashing permit, kept for reuse, so that a
    /// flood of logins costs a fixed amount of memory instead of an allocation each (which
    /// the allocator keeps afterwards).
    buffers: Arc<std::sync::Mutex<Vec<Vec<Block>>>>,
    /// Failed logins across connections.
    throttle: Throttle,
    /// Bounds the closing connections that linger for their peer after giving up their slot
    /// (a descriptor each, for at most [`LINGER`]).
    lingering: Arc<Semaphore>,
}

/// Serves `listener` until `shutdown` completes, then lets open connections finish their
/// current request (up to the grace period) and returns.
///
/// Dropping the `store` clones happens here; the caller joins the writer thread afterwards.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    users: Users,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let workers = match limits.login_workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let lingering = Arc::new(Semaphore::new(limits.max_connections));
    let slots = Arc::new(Slots::new(limits.max_connections_per_address));
    let grace = limits.shutdown_grace;
    let throttle = Throttle::new(ThrottleLimits {
        backoff: limits.login_backoff,
        max_backoff: MAX_BACKOFF,
        per_address_per_minute: limits.login_failures_per_address,
    });
    let shared = Arc::new(Shared {
        store,
        users: Arc::new(users),
        limits,
        hashing: Arc::new(Semaphore::new(workers)),
        buffers: Arc::default(),
        throttle,
        lingering,
    });
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    'accept: loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before accept: keep serving.
                    eprintln!("ringmarket serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if slots.address_full(peer.ip()) {
            // Nothing was read from it: closing sends the refusal, not a reset.
            let _ = stream.try_write(busy_too_many().encode().as_bytes());
            continue;
        }
        let permit = match Arc::clone(&connections).try_acquire_owned() {
            Ok(permit) => permit,
            // Every slot is taken: ask the idlest connection to go, again and again while
            // every connection is carrying out a request.
            Err(_) => loop {
                slots.evict_idlest();
                tokio::select! {
                    permit = Arc::clone(&connections).acquire_owned() => {
                        break permit.expect("never closed");
                    }
                    () = tokio::time::sleep(EVICTION_RETRY) => {}
                    () = &mut shutdown => break 'accept,
                }
            },
        };
        let slot = slots.register(peer.ip());
        let shared = Arc::clone(&shared);
        let stopped = stopped.clone();
        tasks.spawn(async move {
            connection(stream, &shared, (slot, permit), stopped).await;
        });
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(true);
    while tasks.try_join_next().is_some() {}
    let open = tasks.len();
    if open > 0 {
        eprintln!("ringmarket serve: waiting for {open} connection(s) to finish");
    }
    if timeout(grace, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        eprintln!("ringmarket serve: grace period over, closing the remaining connections");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Why reading a request stopped.
enum Read {
    /// A frame: its length without the line ending, and the bytes to drop after it.
    Frame(usize, usize),
    /// The peer closed the connection (or it failed).
    Closed,
    /// A frame longer than the limit.
    TooLong,
    /// No complete request in time.
    Timeout,
    /// The server is shutting down and no request is under way.
    Shutdown,
    /// The server needs this connection's slot.
    Evicted,
}

async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limits: &Limits,
    slot: &SlotGuard,
    stopped: &mut watch::Receiver<bool>,
) -> Read {
    // A request is under way from its first byte; until then only the idle time-out runs.
    let mut deadline = (!buf.is_empty()).then(|| Instant::now() + limits.request_timeout);
    let mut chunk = [0u8; 4096];
    loop {
        match split_frame(buf, limits.max_frame) {
            Ok(Some((frame, used))) => return Read::Frame(frame.len(), used),
            Err(_) => return Read::TooLong,
            Ok(None) => {}
        }
        if buf.is_empty() && *stopped.borrow() {
            return Read::Shutdown;
        }
        let limit = deadline.unwrap_or_else(|| Instant::now() + limits.idle_timeout);
        tokio::select! {
            read = timeout_at(limit, reader.read(&mut chunk)) => match read {
                Err(_) => return Read::Timeout,
                Ok(Ok(0) | Err(_)) => return Read::Closed,
                Ok(Ok(n)) => {
                    buf.extend_from_slice(&chunk[..n]);
                    deadline.get_or_insert_with(|| Instant::now() + limits.request_timeout);
                }
            },
            // Wakes an idle connection at shutdown; the loop head then returns.
            _ = stopped.changed(), if buf.is_empty() => {}
            () = slot.evict.notified() => return Read::Evicted,
        }
    }
}

/// The state of one connection.
struct Session {
    /// The logged-in user and the login's token.
    login: Option<(String, Token)>,
    /// Failed logins (or resumes) so far.
    failures: u32,
    /// No login attempt is considered before this instant.
    next_attempt: Instant,
    /// The peer's address.
    peer: IpAddr,
}

impl Session {
    /// The token of the current login; only called once a login is checked to exist.
    fn token(&self) -> Token {
        self.login
            .as_ref()
            .map_or(Token([0; 16]), |(_, token)| *token)
    }
}

/// Serves one connection, holding `held` (its slot and the server's permit) until it closes
/// or starts lingering.
async fn connection(
    stream: TcpStream,
    shared: &Shared,
    held: (SlotGuard, OwnedSemaphorePermit),
    mut stopped: watch::Receiver<bool>,
) {
    let slot = &held.0;
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let (mut reader, mut writer) = stream.into_split();
    let limits = &shared.limits;
    let mut buf = Vec::with_capacity(1024);
    let mut session = Session {
        login: None,
        failures: 0,
        next_attempt: Instant::now(),
        peer,
    };
    loop {
        let read = read_frame(&mut reader, &mut buf, limits, slot, &mut stopped).await;
        let (response, close) = match read {
            Read::Frame(len, used) => {
                slot.busy();
                let parsed = Request::parse(&buf[..len]);
                buf.drain(..used);
                let handled = match parsed {
                    Ok(request) => handle(request, &mut session, shared, &mut reader).await,
                    Err(e) => (Response::error(ErrorCode::BadRequest, e.to_string()), false),
                };
                slot.done();
                handled
            }
            Read::Closed => return,
            Read::TooLong => (
                Response::error(
                    ErrorCode::TooLong,
                    format!("frames are at most {} bytes", limits.max_frame),
                ),
                true,
            ),
            Read::Timeout => (
                Response::error(ErrorCode::Timeout, "no complete request in time"),
                true,
            ),
            Read::Shutdown => (
                Response::error(ErrorCode::ShuttingDown, "the server is shutting down"),
                true,
            ),
            Read::Evicted => (
                Response::error(
                    ErrorCode::Busy,
                    "every connection slot is taken and this connection was idle longest; \
                     reconnect when needed",
                ),
                true,
            ),
        };
        if !send(&mut writer, &response, limits).await || close {
            let _ = timeout(Duration::from_millis(100), writer.shutdown()).await;
            // The slot is free from here on: a peer that neither reads nor closes must not
            // hold it (nor hold up the evictions, which go one at a time) while the server
            // waits for it.
            drop(held);
            if let Ok(_lingering) = shared.lingering.try_acquire() {
                linger(&mut reader).await;
            }
            return;
        }
    }
}

/// Reads and drops what the peer is still sending, briefly, before the socket closes: closing
/// with unread input makes the kernel send a reset, which can destroy the final error reply
/// before the peer reads it.
async fn linger<R: AsyncRead + Unpin>(reader: &mut R) {
    let mut chunk = [0u8; 4096];
    let mut budget: usize = 64 * 1024;
    let until = Instant::now() + LINGER;
    while budget > 0 {
        match timeout_at(until, reader.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => budget = budget.saturating_sub(n),
            _ => return,
        }
    }
}

async fn send<W: AsyncWrite + Unpin>(writer: &mut W, response: &Response, limits: &Limits) -> bool {
    matches!(
        timeout(
            limits.request_timeout,
            writer.write_all(response.encode().as_bytes())
        )
        .await,
        Ok(Ok(()))
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    eprintln!("ringmarket serve: storage failure: {e}");
    Response::error(ErrorCode::Internal, "storage failure; nothing was changed")
}

fn busy_too_many() -> Response {
    Response::error(
        ErrorCode::Busy,
        "too many connections from this address; close one first",
    )
}

fn not_logged_in() -> Response {
    Response::error(ErrorCode::NotLoggedIn, "log in first")
}

/// Carries out one request; returns the response and whether to close the connection after it.
async fn handle(
    request: Request,
    session: &mut Session,
    shared: &Shared,
    reader: &mut OwnedReadHalf,
) -> (Response, bool) {
    let store = &shared.store;
    let response = match request {
        Request::Hello { version } if version == VERSION => Response::Hello { version },
        Request::Hello { version } => Response::error(
            ErrorCode::UnsupportedVersion,
            format!("version {version} is not spoken here; this server speaks {VERSION}"),
        ),
        Request::Login { .. } | Request::Resume { .. } if session.login.is_some() => {
            Response::error(ErrorCode::AlreadyLoggedIn, "log out first")
        }
        Request::Login { .. } | Request::Resume { .. } if Instant::now() < session.next_attempt => {
            let wait = session.next_attempt - Instant::now();
            Response::error(
                ErrorCode::RateLimited,
                format!(
                    "too many failed logins; retry in {} ms",
                    wait.as_millis() + 1
                ),
            )
        }
        Request::Login { user, password } => {
            return login(session, shared, reader, user, password).await
        }
        Request::Resume { token } => match store.session_user(&token) {
            Ok(Some(user)) => {
                session.login = Some((user.clone(), token));
                session.failures = 0;
                Response::Resumed { user }
            }
            Ok(None) => {
                return failed_attempt(
                    session,
                    &shared.limits,
                    Response::error(ErrorCode::UnknownSession, "no login has this token"),
                )
            }
            Err(e) => internal(e),
        },
        Request::Inventory | Request::Buy { .. } | Request::Logout if session.login.is_none() => {
            not_logged_in()
        }
        Request::Inventory => match store.inventory(&session.token()) {
            Ok(Some(items)) => Response::Inventory(items),
            Ok(None) => {
                session.login = None;
                Response::error(ErrorCode::NotLoggedIn, "this login has ended; log in again")
            }
            Err(e) => internal(e),
        },
        Request::Buy { upc, quantity } => match store.buy(session.token(), upc, quantity).await {
            Ok(Purchase::Bought { left, name }) => Response::Bought {
                upc,
                quantity,
                left,
                name,
            },
            Ok(Purchase::Refused(code, message)) => {
                if code == ErrorCode::NotLoggedIn {
                    session.login = None;
                }
                Response::error(code, message)
            }
            Err(e) => internal(e),
        },
        Request::Logout => {
            let (user, token) = session.login.take().expect("checked above");
            match store.logout(token).await {
                Ok(()) => Response::LoggedOut { user },
                Err(e) => {
                    session.login = Some((user, token));
                    internal(e)
                }
            }
        }
        Request::Quit => return (Response::Bye, true),
    };
    (response, false)
}

/// Carries out a `LOGIN` (not logged in, not in the connection's back-off).
async fn login(
    session: &mut Session,
    shared: &Shared,
    reader: &mut OwnedReadHalf,
    user: String,
    password: String,
) -> (Response, bool) {
    let throttle = &shared.throttle;
    if let Err(wait) = throttle.check(&user, session.peer, std::time::Instant::now()) {
        let message = format!(
            "too many failed logins from this address; retry in {} ms",
            wait.as_millis() + 1
        );
        return (Response::error(ErrorCode::RateLimited, message), false);
    }
    let Some(ok) = verify(shared, reader, user.clone(), password).await else {
        // Nobody is left to read the answer: the password was not checked.
        throttle.unchecked(session.peer);
        let gone = Response::error(ErrorCode::BadRequest, "the connection closed");
        return (gone, true);
    };
    if !ok {
        throttle.failed(&user, session.peer, std::time::Instant::now());
        let refusal = Response::error(ErrorCode::BadCredentials, "unknown user or wrong password");
        return failed_attempt(session, &shared.limits, refusal);
    }
    throttle.succeeded(&user, session.peer);
    let token = Token(rand::random());
    match shared.store.login(token, user.clone()).await {
        Ok(()) => {
            session.login = Some((user.clone(), token));
            session.failures = 0;
            (Response::LoggedIn { user, token }, false)
        }
        Err(e) => (internal(e), false),
    }
}

/// Counts a failed login or resume; after too many, the connection closes.
fn failed_attempt(session: &mut Session, limits: &Limits, refusal: Response) -> (Response, bool) {
    session.failures += 1;
    let doublings = (session.failures - 1).min(16);
    let wait = limits
        .login_backoff
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF);
    session.next_attempt = Instant::now() + wait;
    (refusal, session.failures >= limits.max_login_failures)
}

/// Checks `password` on a hashing worker; `None` when the peer closed the connection before
/// a worker was free (a flood of logins whose senders do not wait costs no hashing).
async fn verify(
    shared: &Shared,
    reader: &mut OwnedReadHalf,
    user: String,
    password: String,
) -> Option<bool> {
    let permit = tokio::select! {
        permit = Arc::clone(&shared.hashing).acquire_owned() => permit.ok()?,
        () = peer_gone(reader) => return None,
    };
    // The permit may have been free at once: look at the connection once more.
    if timeout(Duration::ZERO, peer_gone(reader)).await.is_ok() {
        return None;
    }
    let users = Arc::clone(&shared.users);
    let buffers = Arc::clone(&shared.buffers);
    // The permit and the buffer stay with the blocking thread until the hash is done, even if
    // this future is dropped: buffers never outnumber permits.
    tokio::task::spawn_blocking(move || {
        let mut memory = lock(&buffers).pop().unwrap_or_default();
        let ok = users.verify_in(&user, &password, &mut memory);
        lock(&buffers).push(memory);
        drop(permit);
        ok
    })
    .await
    .ok()
}

/// Completes when the peer has closed its side of the connection (or it failed); never
/// while bytes wait to be read (a pipelined request means someone is there).
async fn peer_gone(reader: &mut OwnedReadHalf) {
    let mut byte = [0u8; 1];
    match reader.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// Locks `mutex`, also after a panic while it was held (the data stays consistent: each
/// critical section is a single push, pop or map update).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
