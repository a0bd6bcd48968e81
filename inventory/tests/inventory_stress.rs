//! The inventory server under concurrent load, and killed with SIGKILL under load.

mod inventory_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use inventory_support::{error_code, units_of, Conn, Server, ALICE};
use rand::Rng;
use ringmarket_inventory::protocol::{ErrorCode, Request, Response};

const SCARCE: [(u64, u64); 3] = [(1, 300), (2, 120), (3, 7)];

#[test]
fn fifty_clients_never_oversell() {
    let (clients, purchases) = (50, 100);
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory");
    let text: String = SCARCE
        .iter()
        .map(|(upc, units)| format!("{upc} {units} Scarce {upc}\n"))
        .collect();
    std::fs::write(&inventory, text).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--inventory", inventory.to_str().unwrap()],
    );
    let token = server.connect().login(ALICE);

    let addr = server.addr;
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                // A few log in themselves; the rest resume the shared login (cheaper than
                // fifty Argon2 verifications).
                if i % 10 == 0 {
                    c.login(ALICE);
                } else {
                    assert!(matches!(
                        c.request(&Request::Resume { token }),
                        Response::Resumed { .. }
                    ));
                }
                let mut rng = rand::rng();
                let mut acks = Vec::new();
                for _ in 0..purchases {
                    let upc = rng.random_range(1..=3);
                    let quantity = rng.random_range(1..=3);
                    match c.request(&Request::Buy { upc, quantity }) {
                        Response::Bought {
                            upc: u,
                            quantity: q,
                            left,
                            ..
                        } => {
                            assert_eq!((u, q), (upc, quantity));
                            acks.push((upc, quantity, left));
                        }
                        refusal => {
                            assert_eq!(error_code(&refusal), ErrorCode::InsufficientUnits)
                        }
                    }
                }
                acks
            })
        })
        .collect();
    let acks: Vec<(u64, u32, u64)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();

    let mut c = server.connect();
    c.login(ALICE);
    for (upc, initial) in SCARCE {
        let left = units_of(&mut c, upc);
        let sold: u64 = acks
            .iter()
            .filter(|a| a.0 == upc)
            .map(|a| u64::from(a.1))
            .sum();
        assert_eq!(sold + left, initial, "UPC {upc}");
        // Demand far exceeds supply: the item sold out, up to a last unfillable remainder.
        assert!(left < 3, "UPC {upc}: {left} left");
        // The acknowledgements form one serial history: sorted by units left, each purchase
        // takes exactly its quantity from what the previous one left.
        let mut history: Vec<(u32, u64)> = acks
            .iter()
            .filter(|a| a.0 == upc)
            .map(|a| (a.1, a.2))
            .collect();
        history.sort_by_key(|h| std::cmp::Reverse(h.1));
        let mut before = initial;
        for (quantity, after) in history {
            assert_eq!(before - u64::from(quantity), after, "UPC {upc}");
            before = after;
        }
    }
}

#[test]
fn acknowledged_purchases_survive_sigkill() {
    let (rounds, clients, max_quantity) = (4, 8, 5u32);
    let initial = 1_000_000u64;
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory");
    std::fs::write(&inventory, format!("42 {initial} Durable thing\n")).unwrap();
    let data = dir.path().join("data");
    let args = ["--inventory", inventory.to_str().unwrap()];

    let mut server = Server::start(&data, &args);
    let token = server.connect().login(ALICE);
    let mut acked_total = 0u64;
    let mut acked_by_round = HashMap::new();
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let addr = server.addr;
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut c = Conn::connect(addr);
                    // The login made before the first kill is still valid after each restart.
                    match c.try_request(&Request::Resume { token }) {
                        Some(Response::Resumed { .. }) => {}
                        other => panic!("resume failed: {other:?}"),
                    }
                    let mut rng = rand::rng();
                    let mut acked = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let quantity = rng.random_range(1..=max_quantity);
                        match c.try_request(&Request::Buy { upc: 42, quantity }) {
                            Some(Response::Bought { quantity: q, .. }) => acked += u64::from(q),
                            Some(other) => panic!("unexpected {other:?}"),
                            // The server died: this purchase was never acknowledged.
                            None => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(400 + 150 * round));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        let acked: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(acked > 0, "round {round}: no purchase was acknowledged");
        acked_total += acked;
        acked_by_round.insert(round, acked);

        server = Server::start(&data, &args);
        let mut c = server.connect();
        c.request(&Request::Resume { token });
        let sold = initial - units_of(&mut c, 42);
        // Every acknowledged purchase is there; at most the in-flight unacknowledged ones
        // (one per client per round) may have been committed as well.
        assert!(
            sold >= acked_total,
            "round {round}: {sold} sold < {acked_total} acknowledged"
        );
        let in_flight = u64::from(max_quantity) * clients as u64 * (round + 1);
        assert!(
            sold <= acked_total + in_flight,
            "round {round}: {sold} sold, only {acked_total} acknowledged"
        );
    }
    eprintln!("acknowledged per round: {acked_by_round:?}");
}
