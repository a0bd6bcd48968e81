//! Bad input never crashes the server nor disturbs other clients.

mod inventory_support;

use std::io::Write;
use std::time::{Duration, Instant};

use inventory_support::{error_code, units_of, Conn, Server, ALICE};
use rand::Rng;
use ringmarket_cli::inventory::protocol::{ErrorCode, Request, Response};

fn hello(c: &mut Conn) {
    assert_eq!(
        c.request(&Request::Hello { version: 1 }),
        Response::Hello { version: 1 }
    );
}

#[test]
fn garbage_gets_refused_and_the_connection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    c.send_raw(b"\xff\xfe\x00garbage\r\n").unwrap();
    assert_eq!(
        error_code(&c.read_response().unwrap()),
        ErrorCode::BadRequest
    );
    c.send_raw(b"\n\nBUY\nLOGIN \x1b[31m x\n").unwrap();
    for _ in 0..4 {
        assert_eq!(
            error_code(&c.read_response().unwrap()),
            ErrorCode::BadRequest
        );
    }
    hello(&mut c);

    // Random bytes on many connections at once; the server stays up for everyone else.
    let addr = server.addr;
    let floods: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                let mut rng = rand::rng();
                let mut c = Conn::connect(addr);
                for _ in 0..50 {
                    let len = rng.random_range(1..200);
                    let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                    if c.send_raw(&bytes).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    for f in floods {
        f.join().unwrap();
    }
    let mut c = server.connect();
    c.login(ALICE);
    assert_eq!(units_of(&mut c, 1001), 50);
}

#[test]
fn oversized_frames_close_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-frame", "256"]);
    // No newline at all.
    let mut c = server.connect();
    let _ = c.send_raw(&[b'A'; 4096]);
    assert_eq!(error_code(&c.read_response().unwrap()), ErrorCode::TooLong);
    assert!(c.closed_within(Duration::from_secs(5)));
    // A newline, but too late.
    let mut c = server.connect();
    let mut frame = b"LOGIN alice ".to_vec();
    frame.extend_from_slice(&[b'x'; 300]);
    frame.push(b'\n');
    let _ = c.send_raw(&frame);
    assert_eq!(error_code(&c.read_response().unwrap()), ErrorCode::TooLong);
    assert!(c.closed_within(Duration::from_secs(5)));
    // Exactly at the limit is fine.
    let mut c = server.connect();
    let mut frame = b"HELLO 1".to_vec();
    frame.resize(255, b' ');
    frame.push(b'\n');
    c.send_raw(&frame).unwrap();
    assert_eq!(
        error_code(&c.read_response().unwrap()),
        ErrorCode::BadRequest
    );
    hello(&mut c);
}

#[test]
fn slow_and_idle_clients_are_timed_out_without_disturbing_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--request-timeout-ms",
            "1500",
            "--idle-timeout-ms",
            "2500",
            "--max-connections",
            "4",
        ],
    );
    let addr = server.addr;
    // One byte a second: never a complete request within the deadline.
    let slowloris = std::thread::spawn(move || {
        let mut c = Conn::connect(addr);
        let start = Instant::now();
        for &b in b"INVENTORY\n" {
            if c.stream.write_all(&[b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            if start.elapsed() > Duration::from_secs(4) {
                break;
            }
        }
        let timed_out = matches!(
            c.read_response(),
            Some(Response::Error {
                code: ErrorCode::Timeout,
                ..
            })
        );
        (timed_out, c.closed_within(Duration::from_secs(5)))
    });
    let mut idle = server.connect();
    // Meanwhile another client is served as usual.
    let mut c = server.connect();
    c.login(ALICE);
    for _ in 0..5 {
        assert!(matches!(
            c.request(&Request::Buy {
                upc: 1004,
                quantity: 1
            }),
            Response::Bought { .. }
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(slowloris.join().unwrap(), (true, true));
    // The idle connection got the idle time-out.
    assert_eq!(
        error_code(&idle.read_response().unwrap()),
        ErrorCode::Timeout
    );
    assert!(idle.closed_within(Duration::from_secs(5)));
}

#[test]
fn connections_beyond_the_limit_wait_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-connections", "2"]);
    let mut a = server.connect();
    let mut b = server.connect();
    hello(&mut a);
    hello(&mut b);
    let mut c = server.connect();
    c.send_raw(b"HELLO 1\n").unwrap();
    c.stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    // Not served while two connections are open ...
    assert!(std::io::Read::read(&mut c.stream, &mut byte).is_err());
    drop(a);
    // ... and served as soon as one closes.
    c.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(c.read_response(), Some(Response::Hello { version: 1 }));
    hello(&mut b);
}
