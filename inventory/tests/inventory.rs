//! The inventory server over real TCP: every request, every refusal, restart and files.

mod inventory_support;

use std::time::Duration;

use inventory_support::{error_code, units_of, Conn, Server, ALICE, BOB};
use ringmarket_inventory::protocol::{ErrorCode, Request, Response, Token};

fn buy(upc: u64, quantity: u32) -> Request {
    Request::Buy { upc, quantity }
}

#[test]
fn every_request_and_every_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--login-backoff-ms", "0"]);
    let mut c = server.connect();

    assert_eq!(
        c.request(&Request::Hello { version: 1 }),
        Response::Hello { version: 1 }
    );
    assert_eq!(
        error_code(&c.request(&Request::Hello { version: 2 })),
        ErrorCode::UnsupportedVersion
    );

    // Nothing but logging in works before logging in.
    for request in [Request::Inventory, buy(1001, 1), Request::Logout] {
        assert_eq!(error_code(&c.request(&request)), ErrorCode::NotLoggedIn);
    }
    // Wrong password and unknown user get the same refusal.
    let wrong = Request::Login {
        user: "alice".into(),
        password: "not her password".into(),
    };
    assert_eq!(error_code(&c.request(&wrong)), ErrorCode::BadCredentials);
    let unknown = Request::Login {
        user: "mallory".into(),
        password: "wonderland".into(),
    };
    assert_eq!(error_code(&c.request(&unknown)), ErrorCode::BadCredentials);
    assert_eq!(
        error_code(&c.request(&Request::Resume {
            token: Token([9; 16])
        })),
        ErrorCode::UnknownSession
    );

    let token = c.login(ALICE);
    assert_eq!(
        error_code(&c.request(&Request::Login {
            user: "bob".into(),
            password: "builder".into()
        })),
        ErrorCode::AlreadyLoggedIn
    );

    let Response::Inventory(items) = c.request(&Request::Inventory) else {
        panic!("expected the inventory")
    };
    let upcs: Vec<u64> = items.iter().map(|i| i.upc).collect();
    assert_eq!(upcs, [1001, 1002, 1003, 1004, 1005]);
    assert_eq!(items[4].units, 1);
    assert_eq!(items[4].name, "Antique gear");

    assert_eq!(error_code(&c.request(&buy(4242, 1))), ErrorCode::UnknownUpc);
    assert_eq!(
        error_code(&c.request(&buy(1005, 2))),
        ErrorCode::InsufficientUnits
    );
    assert_eq!(
        c.request(&buy(1005, 1)),
        Response::Bought {
            upc: 1005,
            quantity: 1,
            left: 0,
            name: "Antique gear".into()
        }
    );
    assert_eq!(
        error_code(&c.request(&buy(1005, 1))),
        ErrorCode::InsufficientUnits
    );
    assert_eq!(
        c.request(&buy(1001, 7)),
        Response::Bought {
            upc: 1001,
            quantity: 7,
            left: 43,
            name: "Blue widget".into()
        }
    );
    assert_eq!(units_of(&mut c, 1005), 0);
    assert_eq!(units_of(&mut c, 1001), 43);

    // A second connection sees the same inventory and resumes the same login.
    let mut other = server.connect();
    assert_eq!(
        other.request(&Request::Resume { token }),
        Response::Resumed {
            user: "alice".into()
        }
    );
    assert_eq!(units_of(&mut other, 1001), 43);

    // Malformed requests are refused and the connection carries on.
    c.send_raw(b"BUY 1001 zero\n").unwrap();
    assert_eq!(
        error_code(&c.read_response().unwrap()),
        ErrorCode::BadRequest
    );

    assert_eq!(
        c.request(&Request::Logout),
        Response::LoggedOut {
            user: "alice".into()
        }
    );
    assert_eq!(
        error_code(&c.request(&Request::Inventory)),
        ErrorCode::NotLoggedIn
    );
    // The login record is gone: the other connection that resumed it is logged out too, and
    // the token resumes nothing.
    assert_eq!(
        error_code(&other.request(&buy(1001, 1))),
        ErrorCode::NotLoggedIn
    );
    assert_eq!(
        error_code(&other.request(&Request::Inventory)),
        ErrorCode::NotLoggedIn
    );
    assert_eq!(
        error_code(&c.request(&Request::Resume { token })),
        ErrorCode::UnknownSession
    );

    // A different user can log in on the same connection after a logout.
    c.login(BOB);
    assert_eq!(c.request(&Request::Quit), Response::Bye);
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn failed_logins_are_rate_limited_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--login-backoff-ms", "60000", "--max-login-failures", "3"],
    );
    let mut c = server.connect();
    let wrong = Request::Login {
        user: "alice".into(),
        password: "guess".into(),
    };
    assert_eq!(error_code(&c.request(&wrong)), ErrorCode::BadCredentials);
    // Even the right password is not considered during the back-off.
    let right = Request::Login {
        user: ALICE.0.into(),
        password: ALICE.1.into(),
    };
    assert_eq!(error_code(&c.request(&right)), ErrorCode::RateLimited);
    assert_eq!(
        error_code(&c.request(&Request::Resume {
            token: Token([1; 16])
        })),
        ErrorCode::RateLimited
    );
    // The back-off holds for this user from this address on any connection ...
    let mut other = server.connect();
    assert_eq!(error_code(&other.request(&right)), ErrorCode::RateLimited);
    // ... and not from another address.
    let mut other = Conn::connect_from(server.addr, "127.0.0.2".parse().unwrap());
    other.login(ALICE);

    // Too many failures close the connection.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--login-backoff-ms", "0", "--max-login-failures", "3"],
    );
    let mut c = server.connect();
    for _ in 0..3 {
        assert_eq!(error_code(&c.request(&wrong)), ErrorCode::BadCredentials);
    }
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn state_survives_sigterm_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(dir.path(), &[], true);
    let mut c = server.connect();
    let token = c.login(ALICE);
    assert!(matches!(
        c.request(&buy(1003, 2)),
        Response::Bought { left: 3, .. }
    ));
    let bob = server.connect().login(BOB);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    // The idle connection was told why it is being closed.
    assert_eq!(
        error_code(&c.read_response().unwrap()),
        ErrorCode::ShuttingDown
    );
    let log = server.stderr();
    assert!(log.contains("shut down cleanly"), "{log}");

    let server = Server::start_with(dir.path(), &[], true);
    let mut c = server.connect();
    // Both logins were restored.
    assert_eq!(
        c.request(&Request::Resume { token }),
        Response::Resumed {
            user: "alice".into()
        }
    );
    assert_eq!(units_of(&mut c, 1003), 3);
    let mut d = server.connect();
    assert_eq!(
        d.request(&Request::Resume { token: bob }),
        Response::Resumed { user: "bob".into() }
    );
}

#[test]
fn users_and_inventory_files() {
    let dir = tempfile::tempdir().unwrap();
    // Make a hash the way an operator would.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringmarket-inventory"))
        .args(["serve", "--print-hash"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret pass\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let phc = String::from_utf8(out.stdout).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(!phc.contains("s3cret"));

    let users = dir.path().join("users");
    std::fs::write(&users, format!("# operators\nzoe {phc}")).unwrap();
    let inventory = dir.path().join("inventory");
    std::fs::write(&inventory, "7 2 Lucky seven\n8 0 Sold-out eight\n").unwrap();
    let data = dir.path().join("data");
    let args = [
        "--users",
        users.to_str().unwrap(),
        "--inventory",
        inventory.to_str().unwrap(),
    ];
    let server = Server::start(&data, &args);
    let mut c = server.connect();
    let demo = Request::Login {
        user: ALICE.0.into(),
        password: ALICE.1.into(),
    };
    assert_eq!(error_code(&c.request(&demo)), ErrorCode::BadCredentials);
    let mut c = server.connect();
    c.login(("zoe", "s3cret pass"));
    let Response::Inventory(items) = c.request(&Request::Inventory) else {
        panic!()
    };
    assert_eq!(items.len(), 2);
    assert_eq!((items[0].upc, items[0].units), (7, 2));
    assert_eq!(items[1].name, "Sold-out eight");
    drop(server);

    // A users file with a plaintext password is refused at start-up.
    std::fs::write(&users, "zoe hunter2\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringmarket-inventory"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&data)
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("zoe"));
}
