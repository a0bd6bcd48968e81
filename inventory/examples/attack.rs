//! Attacks on a running inventory server, and what a real client sees while they go on.
//!
//! ```sh
//! cargo run --release -p ringmarket-inventory --example attack -- ADDR PID MODE [SECONDS] [N]
//! ```
//!
//! The server at ADDR (on 127.0.0.1) runs the demo users and sells item 9001 in large numbers
//! (`--inventory` with a line `9001 <units> <name>`); PID is its process, whose resident
//! memory is read from `/proc` (Linux). `scripts/attack.sh` starts such a server and runs this.
//!
//! MODE is one of:
//!
//! - `flood`: N threads (default 50) send `LOGIN alice <wrong password>` from 127.0.0.1, each
//!   on a fresh connection, for SECONDS seconds (default 20).
//! - `sockets`: N connections (default 1030) from the twenty addresses 127.0.1.1 to
//!   127.0.1.20; half stay idle, half drip `HELLO 1` one byte a second (a whole request every
//!   8 s). A connection the server closes is opened again 100 ms later.
//! - `disk`: N rounds (default 10) of: a purchase; a file-size limit of 4 KiB set on the
//!   server (`prlimit`, the server ignoring SIGXFSZ), standing in for a full disk; purchases
//!   refused; the limit lifted, standing in for space freed; purchases until one is
//!   acknowledged. Prints the time from lifting the limit to that acknowledgement.
//!
//! During `flood` and `sockets` two real users are served: alice logs in with her password
//! from 127.0.0.2 on a fresh connection every 100 ms, and bob, logged in from 127.0.0.3
//! before the attack starts, buys one unit of item 9001 every 100 ms on one connection (a new
//! connection and login if the server closes it). Their latencies are printed as p50 and p99.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringmarket_inventory::protocol::{ErrorCode, Request, Response};

/// Seconds the socket attack takes to open its connections before the real users start.
const RAMP: u64 = 5;

/// The item bob buys.
const UPC: u64 = 9001;

/// A blocking connection with its unread bytes.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to `addr` from `from` (any local address when `None`).
    fn open(addr: SocketAddr, from: Option<IpAddr>) -> Option<Conn> {
        let stream = match from {
            None => TcpStream::connect(addr).ok()?,
            Some(ip) => {
                // std cannot bind before connecting; tokio's socket can.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .ok()?;
                let stream = runtime
                    .block_on(async {
                        let socket = tokio::net::TcpSocket::new_v4()?;
                        socket.bind(SocketAddr::new(ip, 0))?;
                        socket.connect(addr).await?.into_std()
                    })
                    .ok()?;
                stream.set_nonblocking(false).ok()?;
                stream
            }
        };
        stream.set_nodelay(true).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .ok()?;
        Some(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends `request` and reads its response; `None` when the connection failed or closed.
    fn call(&mut self, request: &Request) -> Option<Response> {
        self.stream.write_all(request.encode().as_bytes()).ok()?;
        let mut chunk = [0u8; 4096];
        loop {
            if let Ok(Some((response, used))) = Response::decode(&self.buf, 1 << 20) {
                self.buf.drain(..used);
                return Some(response);
            }
            let n = self.stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn login(user: &str, password: &str) -> Request {
    Request::Login {
        user: user.into(),
        password: password.into(),
    }
}

fn buy() -> Request {
    Request::Buy {
        upc: UPC,
        quantity: 1,
    }
}

/// Counters shared by the threads of an attack.
#[derive(Default)]
struct Counts {
    a: AtomicU64,
    b: AtomicU64,
    c: AtomicU64,
    d: AtomicU64,
}

impl Counts {
    fn get(&self) -> [u64; 4] {
        [&self.a, &self.b, &self.c, &self.d].map(|n| n.load(Ordering::Relaxed))
    }
}

/// What the real users saw.
#[derive(Default)]
struct Seen {
    logins: Vec<Duration>,
    logins_refused: u32,
    purchases: Vec<Duration>,
    purchases_refused: u32,
    reconnects: u32,
}

/// Runs the real users until `stop`: alice's logins from 127.0.0.2, bob's purchases from
/// 127.0.0.3 (logged in before this returns).
fn real_users(addr: SocketAddr, stop: &Arc<AtomicBool>) -> impl FnOnce() -> Seen {
    let bob_from: IpAddr = "127.0.0.3".parse().expect("an address");
    let bob_login = move || {
        let mut conn = Conn::open(addr, Some(bob_from))?;
        matches!(
            conn.call(&login("bob", "builder")),
            Some(Response::LoggedIn { .. })
        )
        .then_some(conn)
    };
    let mut bob = bob_login().expect("bob logs in before the attack");
    let alice = {
        let stop = Arc::clone(stop);
        std::thread::spawn(move || {
            let from = Some("127.0.0.2".parse().expect("an address"));
            let (mut latencies, mut refused) = (Vec::new(), 0);
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                match Conn::open(addr, from).and_then(|mut c| c.call(&login("alice", "wonderland")))
                {
                    Some(Response::LoggedIn { .. }) => latencies.push(start.elapsed()),
                    _ => refused += 1,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (latencies, refused)
        })
    };
    let bob = {
        let stop = Arc::clone(stop);
        std::thread::spawn(move || {
            let mut seen = Seen::default();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                match bob.call(&buy()) {
                    Some(Response::Bought { .. }) => seen.purchases.push(start.elapsed()),
                    Some(_) => seen.purchases_refused += 1,
                    None => {
                        seen.purchases_refused += 1;
                        seen.reconnects += 1;
                        while !stop.load(Ordering::Relaxed) {
                            if let Some(conn) = bob_login() {
                                bob = conn;
                                break;
                            }
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        })
    };
    move || {
        let mut seen = bob.join().expect("bob's thread");
        (seen.logins, seen.logins_refused) = alice.join().expect("alice's thread");
        seen.logins.sort();
        seen.purchases.sort();
        seen
    }
}

fn report(seen: &Seen) {
    println!(
        "alice's logins: {} ok, {} refused; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        seen.logins.len(),
        seen.logins_refused,
        ms(percentile(&seen.logins, 0.5)),
        ms(percentile(&seen.logins, 0.99)),
        ms(seen.logins.last().copied().unwrap_or_default()),
    );
    println!(
        "bob's purchases: {} ok, {} refused, {} reconnects; p50 {:.2} ms, p99 {:.2} ms, max \
         {:.1} ms",
        seen.purchases.len(),
        seen.purchases_refused,
        seen.reconnects,
        ms(percentile(&seen.purchases, 0.5)),
        ms(percentile(&seen.purchases, 0.99)),
        ms(seen.purchases.last().copied().unwrap_or_default()),
    );
}

/// Samples the server's resident memory every 100 ms for `seconds`; returns the peak (KiB).
fn watch_memory(pid: u32, seconds: u64) -> u64 {
    let start = Instant::now();
    let mut peak = 0;
    while start.elapsed() < Duration::from_secs(seconds) {
        peak = peak.max(rss_kib(pid, "VmRSS:"));
        std::thread::sleep(Duration::from_millis(100));
    }
    peak
}

fn flood(addr: SocketAddr, pid: u32, seconds: u64, threads: usize) {
    let before = rss_kib(pid, "VmRSS:");
    let stop = Arc::new(AtomicBool::new(false));
    let finish = real_users(addr, &stop);
    // a: checked (bad credentials), b: rate-limited, c: busy, d: anything else.
    let counts = Arc::new(Counts::default());
    let flood: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, counts) = (Arc::clone(&stop), Arc::clone(&counts));
            std::thread::spawn(move || {
                let wrong = login("alice", "not her password");
                while !stop.load(Ordering::Relaxed) {
                    let counter = match Conn::open(addr, None).and_then(|mut c| c.call(&wrong)) {
                        Some(Response::Error { code, .. }) => match code {
                            ErrorCode::BadCredentials => &counts.a,
                            ErrorCode::RateLimited => &counts.b,
                            ErrorCode::Busy => &counts.c,
                            _ => &counts.d,
                        },
                        _ => &counts.d,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let peak = watch_memory(pid, seconds).max(before);
    stop.store(true, Ordering::Relaxed);
    for thread in flood {
        let _ = thread.join();
    }
    let seen = finish();
    let [checked, limited, busy, other] = counts.get();
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("login flood: {threads} threads, {seconds} s");
    println!(
        "server RSS: {:.0} MiB before, {:.0} MiB peak during, {:.0} MiB after",
        mib(before),
        mib(peak),
        mib(rss_kib(pid, "VmRSS:")),
    );
    println!(
        "flood logins: {checked} checked (bad-credentials), {limited} refused unchecked \
         (rate-limited), {busy} turned away (busy), {other} failed otherwise"
    );
    report(&seen);
}

/// One attacking connection, opened again whenever the server closes it; `drip` sends
/// `HELLO 1` one byte a second. Counts opened (a), closed by the server (b) and failed
/// connects (c).
async fn attacker(
    addr: SocketAddr,
    from: IpAddr,
    drip: bool,
    start: Duration,
    counts: Arc<Counts>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const REQUEST: &[u8] = b"HELLO 1\n";
    tokio::time::sleep(start).await;
    loop {
        let connected = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(from, 0))?;
            socket.connect(addr).await
        }
        .await;
        let Ok(stream) = connected else {
            counts.c.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        counts.a.fetch_add(1, Ordering::Relaxed);
        let (mut reader, mut writer) = stream.into_split();
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        let mut sent = 0usize;
        let mut buf = [0u8; 512];
        loop {
            tokio::select! {
                _ = ticks.tick(), if drip => {
                    if writer.write_all(&REQUEST[sent % REQUEST.len()..][..1]).await.is_err() {
                        break;
                    }
                    sent += 1;
                }
                read = reader.read(&mut buf) => {
                    if !matches!(read, Ok(n) if n > 0) {
                        break;
                    }
                }
            }
        }
        counts.b.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sockets(addr: SocketAddr, pid: u32, seconds: u64, connections: usize) {
    let before = rss_kib(pid, "VmRSS:");
    let counts = Arc::new(Counts::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    for i in 0..connections {
        let from = IpAddr::from([127, 0, 1, 1 + (i % 20) as u8]);
        // 3 ms apart: a burst would overflow the listen queue, whose overflow the kernel
        // handles by dropping handshakes the client already counts as done.
        let start = Duration::from_millis(3 * i as u64);
        runtime.spawn(attacker(addr, from, i % 2 == 1, start, Arc::clone(&counts)));
    }
    let attack = std::thread::spawn(move || {
        // Drives the attackers until the runtime is dropped.
        runtime.block_on(async { tokio::time::sleep(Duration::from_secs(seconds + RAMP)).await });
    });
    // Let the attack take the slots first.
    std::thread::sleep(Duration::from_secs(RAMP));
    let established = counts.get();
    let stop = Arc::new(AtomicBool::new(false));
    let finish = real_users(addr, &stop);
    let peak = watch_memory(pid, seconds).max(before);
    stop.store(true, Ordering::Relaxed);
    let seen = finish();
    let [opened, closed, failed, _] = counts.get();
    let _ = attack.join();
    println!(
        "socket attack: {connections} connections from 20 addresses (half idle, half dripping \
         HELLO 1 a byte a second), {seconds} s after a {RAMP} s start"
    );
    println!(
        "attack connections: {} open after the start; {opened} opened, {closed} closed by the \
         server, {failed} connects failed in all",
        established[0] - established[1]
    );
    println!(
        "server RSS: {:.0} MiB before, {:.0} MiB peak",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    report(&seen);
}

fn disk(addr: SocketAddr, pid: u32, rounds: usize) {
    let limit = |fsize: &str| {
        let status = Command::new("prlimit")
            .args(["--pid", &pid.to_string(), &format!("--fsize={fsize}:")])
            .status()
            .expect("prlimit runs");
        assert!(status.success(), "prlimit failed");
    };
    let mut bob = Conn::open(addr, None).expect("a connection");
    assert!(matches!(
        bob.call(&login("bob", "builder")),
        Some(Response::LoggedIn { .. })
    ));
    let mut recoveries = Vec::new();
    let mut refused_while_full = 0;
    for _ in 0..rounds {
        assert!(matches!(bob.call(&buy()), Some(Response::Bought { .. })));
        limit("4096");
        for _ in 0..3 {
            match bob.call(&buy()) {
                Some(Response::Error {
                    code: ErrorCode::Internal,
                    ..
                }) => refused_while_full += 1,
                other => panic!("a purchase with the disk full: {other:?}"),
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        limit("unlimited");
        let freed = Instant::now();
        loop {
            match bob.call(&buy()) {
                Some(Response::Bought { .. }) => break,
                Some(_) if freed.elapsed() < Duration::from_secs(30) => {}
                other => panic!("no recovery within 30 s: {other:?}"),
            }
        }
        recoveries.push(freed.elapsed());
    }
    recoveries.sort();
    println!(
        "full disk: {rounds} rounds, {refused_while_full} purchases refused (ERR internal) while \
         full"
    );
    println!(
        "time from space freed to the first acknowledged purchase: p50 {:.1} ms, max {:.1} ms",
        ms(percentile(&recoveries, 0.5)),
        ms(recoveries.last().copied().unwrap_or_default()),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(pid), Some(mode)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|p| p.parse::<u32>().ok()),
        args.get(2),
    ) else {
        eprintln!("usage: attack ADDR PID flood|sockets|disk [SECONDS] [N]");
        std::process::exit(2);
    };
    let seconds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let n: Option<usize> = args.get(4).and_then(|s| s.parse().ok());
    match mode.as_str() {
        "flood" => flood(addr, pid, seconds, n.unwrap_or(50)),
        "sockets" => sockets(addr, pid, seconds, n.unwrap_or(1030)),
        "disk" => disk(addr, pid, n.unwrap_or(10)),
        other => {
            eprintln!("unknown mode {other:?}: flood, sockets or disk");
            std::process::exit(2);
        }
    }
}
