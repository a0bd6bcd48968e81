//! Shared helpers for the inventory service tests: a server process and a protocol client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ringmarket_inventory::protocol::{Request, Response, Token};

/// The demo users' passwords (documented in the README).
pub const ALICE: (&str, &str) = ("alice", "wonderland");
pub const BOB: (&str, &str) = ("bob", "builder");

/// A `ringmarket-inventory serve` process on 127.0.0.1 with an ephemeral port.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the server binary on `data`, with extra flags.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_with(data, extra, false)
    }

    /// As [`Server::start`]; `capture_stderr` pipes the server's log for the test to read.
    pub fn start_with(data: &Path, extra: &[&str], capture_stderr: bool) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ringmarket-inventory"));
        command
            .arg("serve")
            .args(["--addr", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .stderr(if capture_stderr {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        Server::spawn(command)
    }

    /// Starts `command`, a server whose first line on standard output names its address
    /// (standard input and output are set here; standard error is the caller's choice).
    pub fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read the server's first line");
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("server did not start: {line:?}")
            });
        Server { child, addr }
    }

    /// Kills the server with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (at most 20 s) for the server to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "server ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far (only with `capture_stderr`, after it exited).
    pub fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = ChildStderr::read_to_string(&mut err, &mut text);
        }
        text
    }

    /// A fresh connection to this server.
    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A protocol connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// A connection from the source address `from` (another loopback address, such as
    /// 127.0.0.2, stands for another host).
    pub fn connect_from(addr: SocketAddr, from: std::net::IpAddr) -> Conn {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a runtime");
        let stream = runtime
            .block_on(async {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(from, 0))?;
                socket.connect(addr).await?.into_std()
            })
            .expect("connect");
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next response, or `None` when the server closed the connection.
    pub fn read_response(&mut self) -> Option<Response> {
        loop {
            if let Some((response, used)) =
                Response::decode(&self.buf, 1 << 20).expect("a valid response")
            {
                self.buf.drain(..used);
                return Some(response);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Sends `request` and returns the response (panics if the connection closed).
    pub fn request(&mut self, request: &Request) -> Response {
        self.send_raw(request.encode().as_bytes()).expect("send");
        self.read_response().expect("a response before close")
    }

    /// Like [`Conn::request`], but `None` when the connection broke (a killed server).
    pub fn try_request(&mut self, request: &Request) -> Option<Response> {
        self.send_raw(request.encode().as_bytes()).ok()?;
        let mut chunk = [0u8; 4096];
        loop {
            if let Ok(Some((response, used))) = Response::decode(&self.buf, 1 << 20) {
                self.buf.drain(..used);
                return Some(response);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Logs in; panics unless the server accepts.
    pub fn login(&mut self, (user, password): (&str, &str)) -> Token {
        match self.request(&Request::Login {
            user: user.into(),
            password: password.into(),
        }) {
            Response::LoggedIn { user: who, token } => {
                assert_eq!(who, user);
                token
            }
            other => panic!("login refused: {other:?}"),
        }
    }

    /// Whether the server has closed this connection (within `wait`).
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut chunk = [0u8; 256];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The error code of a response, or a panic naming what came instead.
pub fn error_code(response: &Response) -> ringmarket_inventory::protocol::ErrorCode {
    match response {
        Response::Error { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Units of `upc` in an inventory listing.
pub fn units_of(conn: &mut Conn, upc: u64) -> u64 {
    match conn.request(&Request::Inventory) {
        Response::Inventory(items) => {
            items
                .iter()
                .find(|i| i.upc == upc)
                .expect("the item is listed")
                .units
        }
        other => panic!("expected the inventory, got {other:?}"),
    }
}

/// The peak resident memory of process `pid` so far, in KiB (`VmHWM`; Linux only).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Sends `count` wrong-password logins for each user of `users`, on a thread per user, each
/// on a fresh connection (so no per-connection back-off applies); returns the responses'
/// codes.
pub fn wrong_password_flood(
    addr: SocketAddr,
    users: &[&'static str],
    count: usize,
) -> Vec<ringmarket_inventory::protocol::ErrorCode> {
    let floods: Vec<_> = users
        .iter()
        .map(|&user| {
            std::thread::spawn(move || {
                let mut codes = Vec::new();
                for _ in 0..count {
                    let request = Request::Login {
                        user: user.into(),
                        password: "wrong".into(),
                    };
                    if let Some(response) = Conn::connect(addr).try_request(&request) {
                        codes.push(error_code(&response));
                    }
                }
                codes
            })
        })
        .collect();
    floods
        .into_iter()
        .flat_map(|f| f.join().expect("flood thread"))
        .collect()
}
