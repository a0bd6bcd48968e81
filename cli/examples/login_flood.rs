//! A wrong-password flood against a running inventory server: its resident memory, and a real
//! user's login latency, while the flood goes on.
//!
//! ```sh
//! cargo run --release -p ringmarket-cli --example login_flood -- ADDR PID [SECONDS] [THREADS]
//! ```
//!
//! THREADS threads (default 50) send `LOGIN alice <wrong>` from 127.0.0.1, each on a fresh
//! connection, for SECONDS seconds (default 20), while another thread logs in as alice with
//! her password from 127.0.0.2 (another host, as far as the server can tell) every 100 ms.
//! The server at ADDR (127.0.0.1) must run the demo users; PID is its process, whose peak
//! resident memory is read from `/proc` (Linux). `scripts/login-flood.sh` runs it all.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringmarket_cli::inventory::protocol::{ErrorCode, Request, Response};

/// Sends `request` on a fresh connection from `from` (any address when `None`) and returns
/// the response, or `None` when the connection failed.
fn call(addr: SocketAddr, from: Option<IpAddr>, request: &Request) -> Option<Response> {
    let mut stream = match from {
        None => TcpStream::connect(addr).ok()?,
        Some(ip) => {
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
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    stream.write_all(request.encode().as_bytes()).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Ok(Some((response, _))) = Response::decode(&buf, 4096) {
            return Some(response);
        }
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
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
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(pid)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|p| p.parse::<u32>().ok()),
    ) else {
        eprintln!("usage: login_flood ADDR PID [SECONDS] [THREADS]");
        std::process::exit(2);
    };
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(50);
    let before = rss_kib(pid, "VmRSS:");
    let stop = Arc::new(AtomicBool::new(false));
    let (checked, limited, busy, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let flood: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, checked, limited, busy, failed) = (
                Arc::clone(&stop),
                Arc::clone(&checked),
                Arc::clone(&limited),
                Arc::clone(&busy),
                Arc::clone(&failed),
            );
            std::thread::spawn(move || {
                let wrong = Request::Login {
                    user: "alice".into(),
                    password: "not her password".into(),
                };
                while !stop.load(Ordering::Relaxed) {
                    let counter = match call(addr, None, &wrong) {
                        Some(Response::Error {
                            code: ErrorCode::BadCredentials,
                            ..
                        }) => &checked,
                        Some(Response::Error {
                            code: ErrorCode::RateLimited,
                            ..
                        }) => &limited,
                        Some(Response::Error {
                            code: ErrorCode::Busy,
                            ..
                        }) => &busy,
                        _ => &failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let owner = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let right = Request::Login {
                user: "alice".into(),
                password: "wonderland".into(),
            };
            let mut latencies = Vec::new();
            let mut refused = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                match call(addr, Some("127.0.0.2".parse().expect("an address")), &right) {
                    Some(Response::LoggedIn { .. }) => latencies.push(start.elapsed()),
                    _ => refused += 1,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (latencies, refused)
        })
    };
    let start = Instant::now();
    let mut peak = before;
    while start.elapsed() < Duration::from_secs(seconds) {
        peak = peak.max(rss_kib(pid, "VmRSS:"));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for thread in flood {
        let _ = thread.join();
    }
    let (mut latencies, refused) = owner.join().expect("the owner's thread");
    latencies.sort();
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("flood: {threads} threads, {seconds} s");
    println!(
        "server RSS: {:.0} MiB before, {:.0} MiB peak during, {:.0} MiB after (VmHWM {:.0} MiB)",
        mib(before),
        mib(peak),
        mib(rss_kib(pid, "VmRSS:")),
        mib(rss_kib(pid, "VmHWM:"))
    );
    println!(
        "flood logins: {} checked (bad-credentials), {} refused unchecked (rate-limited), {} \
         turned away (busy: too many connections from the address), {} failed otherwise",
        checked.load(Ordering::Relaxed),
        limited.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    println!(
        "real user's logins: {} ok, {refused} refused; latency p50 {:.1} ms, p99 {:.1} ms, max \
         {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}
