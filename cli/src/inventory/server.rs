//! The inventory server: one tokio task per connection, a bounded number of connections.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{timeout, timeout_at, Instant};

use super::protocol::{split_frame, ErrorCode, Request, Response, Token, VERSION};
use super::store::{Purchase, Store};
use super::users::Users;

/// Limits and time-outs of a server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// The largest request frame, `\n` included.
    pub max_frame: usize,
    /// Time from the first byte of a request to its `\n`; also bounds writing a response.
    pub request_timeout: Duration,
    /// Time a connection may sit with no request under way.
    pub idle_timeout: Duration,
    /// Wait imposed after the first failed login on a connection; doubles with each failure.
    pub login_backoff: Duration,
    /// Failed logins after which the connection is closed.
    pub max_login_failures: u32,
    /// Time connections get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            max_frame: super::protocol::DEFAULT_MAX_FRAME,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            login_backoff: Duration::from_secs(1),
            max_login_failures: 10,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// The longest wait between login attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

struct Shared {
    store: Store,
    users: Arc<Users>,
    limits: Limits,
    /// Bounds concurrent Argon2 verifications (19 MiB and a core each).
    hashing: Semaphore,
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
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let grace = limits.shutdown_grace;
    let shared = Arc::new(Shared {
        store,
        users: Arc::new(users),
        limits,
        hashing: Semaphore::new(cores),
    });
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, or a connection reset before accept: keep serving.
                    eprintln!("ringmarket serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let shared = Arc::clone(&shared);
        let stopped = stopped.clone();
        tasks.spawn(async move {
            let _permit = permit;
            connection(stream, &shared, stopped).await;
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
}

async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limits: &Limits,
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
}

impl Session {
    /// The token of the current login; only called once a login is checked to exist.
    fn token(&self) -> Token {
        self.login
            .as_ref()
            .map_or(Token([0; 16]), |(_, token)| *token)
    }
}

async fn connection(stream: TcpStream, shared: &Shared, mut stopped: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let limits = &shared.limits;
    let mut buf = Vec::with_capacity(1024);
    let mut session = Session {
        login: None,
        failures: 0,
        next_attempt: Instant::now(),
    };
    loop {
        let (response, close) = match read_frame(&mut reader, &mut buf, limits, &mut stopped).await
        {
            Read::Frame(len, used) => {
                let parsed = Request::parse(&buf[..len]);
                buf.drain(..used);
                match parsed {
                    Ok(request) => handle(request, &mut session, shared).await,
                    Err(e) => (Response::error(ErrorCode::BadRequest, e.to_string()), false),
                }
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
        };
        if !send(&mut writer, &response, limits).await || close {
            let _ = timeout(Duration::from_millis(100), writer.shutdown()).await;
            linger(&mut reader).await;
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
    let until = Instant::now() + Duration::from_millis(200);
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

fn not_logged_in() -> Response {
    Response::error(ErrorCode::NotLoggedIn, "log in first")
}

/// Carries out one request; returns the response and whether to close the connection after it.
async fn handle(request: Request, session: &mut Session, shared: &Shared) -> (Response, bool) {
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
            let ok = verify(shared, user.clone(), password).await;
            if ok {
                let token = Token(rand::random());
                match store.login(token, user.clone()).await {
                    Ok(()) => {
                        session.login = Some((user.clone(), token));
                        session.failures = 0;
                        Response::LoggedIn { user, token }
                    }
                    Err(e) => internal(e),
                }
            } else {
                return failed_attempt(
                    session,
                    &shared.limits,
                    Response::error(ErrorCode::BadCredentials, "unknown user or wrong password"),
                );
            }
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

async fn verify(shared: &Shared, user: String, password: String) -> bool {
    let Ok(_permit) = shared.hashing.acquire().await else {
        return false;
    };
    let users = Arc::clone(&shared.users);
    tokio::task::spawn_blocking(move || users.verify(&user, &password))
        .await
        .unwrap_or(false)
}
