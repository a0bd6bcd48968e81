//! Load generator for the inventory server: purchases per second and latency percentiles with
//! 1, 16 and 64 concurrent clients on 127.0.0.1.
//!
//! ```sh
//! cargo run --release -p ringmarket-inventory --example inventory_load -- [SECONDS] [CLIENTS...]
//! ```
//!
//! It starts a server in this process (its own tokio runtime, a fresh store in a temporary
//! directory, every purchase durable before its acknowledgement), then for each client count
//! runs that many blocking clients, each on its own thread and connection, buying one unit at
//! a time for SECONDS seconds (default 5), and prints one table row per count.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ringmarket_inventory::protocol::{Item, Request, Response};
use ringmarket_inventory::server::{self, Limits};
use ringmarket_inventory::store::Store;
use ringmarket_inventory::users::Users;

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn call(&mut self, request: &Request) -> Response {
        self.stream.write_all(request.encode().as_bytes()).unwrap();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((response, used)) = Response::decode(&self.buf, 1 << 20).unwrap() {
                self.buf.drain(..used);
                return response;
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn connect(addr: SocketAddr) -> Conn {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    Conn {
        stream,
        buf: Vec::new(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(5, |s| s.parse().expect("SECONDS"));
    let mut counts: Vec<usize> = args.map(|s| s.parse().expect("CLIENTS")).collect();
    if counts.is_empty() {
        counts = vec![1, 16, 64];
    }

    let dir = std::env::temp_dir().join(format!("ringmarket-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let seed = vec![Item {
        upc: 1,
        units: u64::MAX / 2,
        name: "Load item".into(),
    }];
    let (store, writer, _) = Store::open(&dir, &seed).expect("open the store");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(server::serve(
        listener,
        store,
        Users::demo(),
        Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let token = match connect(addr).call(&Request::Login {
        user: "alice".into(),
        password: "wonderland".into(),
    }) {
        Response::LoggedIn { token, .. } => token,
        other => panic!("login failed: {other:?}"),
    };

    println!(
        "{} s per row, every purchase fsync'd before its acknowledgement",
        seconds
    );
    println!("| clients | purchases/s | p50 latency | p99 latency |");
    println!("|--------:|------------:|------------:|------------:|");
    for &clients in &counts {
        let barrier = Arc::new(Barrier::new(clients + 1));
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let mut c = connect(addr);
                    assert!(matches!(
                        c.call(&Request::Resume { token }),
                        Response::Resumed { .. }
                    ));
                    let buy = Request::Buy {
                        upc: 1,
                        quantity: 1,
                    };
                    barrier.wait();
                    let end = Instant::now() + Duration::from_secs(seconds);
                    let mut latencies = Vec::new();
                    while Instant::now() < end {
                        let start = Instant::now();
                        let response = c.call(&buy);
                        latencies.push(start.elapsed());
                        assert!(matches!(response, Response::Bought { .. }), "{response:?}");
                    }
                    latencies
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut latencies: Vec<Duration> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let elapsed = start.elapsed();
        latencies.sort();
        println!(
            "| {:>7} | {:>11.0} | {:>8.2} ms | {:>8.2} ms |",
            clients,
            latencies.len() as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        );
    }

    let _ = stop.send(());
    runtime.block_on(server).unwrap();
    drop(runtime);
    writer.join();
    let _ = std::fs::remove_dir_all(&dir);
}
