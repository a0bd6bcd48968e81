//! `ringmarket client` driven end to end through its menu with piped input.

mod inventory_support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use inventory_support::{units_of, Server, ALICE};

fn run_client(addr: std::net::SocketAddr, local: &Path, script: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringmarket"))
        .args(["client", "--addr", &addr.to_string(), "--local"])
        .arg(local)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn menu_purchases_and_local_inventory_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--login-backoff-ms", "0"]);
    let local = dir.path().join("local.json");

    let out = run_client(
        server.addr,
        &local,
        "2\n1\nalice\nwrong\n1\nalice\nwonderland\n2\n4\n1001\n3\n4\n1005\n9\n4\n4242\n1\n\
         4\n1001\n2\n3\n5\n4\n1001\n1\nq\n",
    );
    assert!(out.contains("refused (not-logged-in)"), "{out}");
    assert!(out.contains("refused (bad-credentials)"), "{out}");
    assert!(out.contains("logged in as alice"), "{out}");
    // The server inventory as an aligned table.
    assert!(
        out.contains(" UPC  Units  Name\n1001     50  Blue widget\n"),
        "{out}"
    );
    assert!(out.contains("1005      1  Antique gear\n"), "{out}");
    assert!(
        out.contains("bought 3 x Blue widget (UPC 1001); 47 left"),
        "{out}"
    );
    assert!(out.contains("refused (insufficient-units)"), "{out}");
    assert!(out.contains("refused (unknown-upc)"), "{out}");
    assert!(
        out.contains("bought 2 x Blue widget (UPC 1001); 45 left"),
        "{out}"
    );
    assert!(
        out.contains("local inventory of alice:\n UPC  Units  Name\n1001      5  Blue widget\n"),
        "{out}"
    );
    assert!(out.contains("logged out alice"), "{out}");
    // After logging out, purchases are refused.
    assert!(out.contains("quantity: refused (not-logged-in)"), "{out}");

    // A new client process restores the local inventory from its file.
    let out = run_client(server.addr, &local, "1\nalice\nwonderland\n3\n");
    assert!(
        out.contains("local inventory of alice:\n UPC  Units  Name\n1001      5  Blue widget\n"),
        "{out}"
    );
    // The end of input quits and logs out.
    assert!(out.contains("logged out alice\nbye"), "{out}");

    // A different user has their own local inventory.
    let out = run_client(
        server.addr,
        &local,
        "1\nbob\nbuilder\n3\n4\n1003\n1\n3\nq\n",
    );
    assert!(
        out.contains("local inventory of bob: nothing bought yet"),
        "{out}"
    );
    assert!(
        out.contains("local inventory of bob:\n UPC  Units  Name\n1003      1  Gold sprocket"),
        "{out}"
    );

    let mut c = server.connect();
    c.login(ALICE);
    assert_eq!(units_of(&mut c, 1001), 45);
    let json = std::fs::read_to_string(&local).unwrap();
    assert!(
        json.contains("Blue widget") && json.contains("Gold sprocket"),
        "{json}"
    );
}

#[test]
fn an_unreachable_server_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind one, then free it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = run_client(addr, &dir.path().join("local.json"), "2\n1\nalice\nx\nq\n");
    assert!(out.contains("error: cannot reach the server"), "{out}");
    assert!(out.ends_with("bye\n"), "{out}");
}
