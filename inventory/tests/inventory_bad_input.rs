//! Bad input to `ringmarket-inventory serve` and `ringmarket-inventory client`: a clear error
//! and a non-zero exit, never a panic, and no data directory left behind by a server that could
//! not start.

mod inventory_support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use inventory_support::{Server, ALICE};
use ringmarket_inventory::protocol::{Request, Response};

/// Runs `ringmarket-inventory ARGS` with `stdin` as its input and `stdout` as its standard
/// output, killing it if it runs longer than 20 s (a server that started instead of refusing).
fn run(args: &[&str], stdin: &str, stdout: Stdio) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringmarket-inventory"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ringmarket");
    let mut input = child.stdin.take().expect("piped");
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect the output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that `out` is a refusal with exit status `code` whose message contains every one of
/// `words`, and no panic.
fn assert_refused(out: &Output, code: i32, words: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for word in words {
        assert!(err.contains(word), "{word:?} missing from: {err}");
    }
}

fn serve(data: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["serve", "--data", data.to_str().expect("UTF-8 path")];
    args.extend_from_slice(extra);
    run(&args, "", Stdio::null())
}

#[test]
fn a_damaged_database_file_is_reported_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let mut server = Server::start(&good, &[]);
    assert!(server.terminate().success());
    let file = good.join("inventory.redb");
    let len = std::fs::metadata(&file).unwrap().len();
    for size in [len - 1, 512, 4096, 1_000_000] {
        let data = dir.path().join(format!("cut{size}"));
        std::fs::create_dir(&data).unwrap();
        let cut = data.join("inventory.redb");
        std::fs::copy(&file, &cut).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&cut)
            .unwrap()
            .set_len(size)
            .unwrap();
        let out = serve(&data, &["--addr", "127.0.0.1:0"]);
        assert_refused(
            &out,
            1,
            &[&format!("cannot open {}: damaged", cut.display())],
        );
    }
}

/// An Argon2id PHC string with the given cost parameters (salt and hash are placeholders of
/// valid lengths).
fn phc(m: u64, t: u64, p: u64) -> String {
    format!(
        "$argon2id$v=19$m={m},t={t},p={p}$c2FsdHNhbHRzYWx0c2FsdA\
         $MigF6a990IObsCrCJHF7pIiRkgJzp9rnBQGBER1OhfQ"
    )
}

#[test]
fn argon2_costs_above_the_maxima_are_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let ok = phc(19456, 2, 1);
    let cases = [
        (phc(4_294_967_295, 4_294_967_295, 255), "memory cost"),
        (phc(1024 * 1024 + 1, 2, 1), "memory cost"),
        (phc(19456, 65, 1), "time cost"),
        (phc(19456, 2, 65), "parallelism"),
    ];
    for (huge, what) in cases {
        let users = dir.path().join("users");
        std::fs::write(&users, format!("# users\nok {ok}\nzed {huge}\n")).unwrap();
        let data = dir.path().join("data");
        let out = serve(
            &data,
            &["--addr", "127.0.0.1:0", "--users", users.to_str().unwrap()],
        );
        assert_refused(&out, 1, &["line 3", "user zed", what, "above the maximum"]);
        assert!(!data.exists());
    }
    // The largest accepted costs still load (the server starts).
    let users = dir.path().join("users");
    std::fs::write(&users, format!("zed {}\n", phc(1024 * 1024, 64, 64))).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--users", users.to_str().unwrap()],
    );
    drop(server);
}

#[test]
fn max_connections_out_of_range_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["18446744073709551615", "1000001", "0"] {
        let data = dir.path().join("data");
        let out = serve(&data, &["--addr", "127.0.0.1:0", "--max-connections", n]);
        assert_refused(&out, 2, &["--max-connections", "1..=1000000"]);
        assert!(!data.exists());
    }
}

#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let full = || Stdio::from(std::fs::File::create("/dev/full").unwrap());
    let out = run(&["serve", "--print-hash"], "pw\n", full());
    assert_refused(&out, 1, &["cannot write to standard output"]);
    let data = dir.path().join("data");
    let out = run(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
        "",
        full(),
    );
    assert_refused(&out, 1, &["cannot write to standard output"]);
    // A reader that went away: a quiet failure.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringmarket-inventory"))
        .args(["serve", "--print-hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_server_that_cannot_listen_leaves_no_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().map(|a| (a, taken)).unwrap();
    let data = dir.path().join("data");
    let busy = taken.0.to_string();
    for addr in ["127.0.0.1:99999", "nonsense", busy.as_str()] {
        let out = serve(&data, &["--addr", addr]);
        assert_refused(&out, 1, &[&format!("cannot listen on {addr}")]);
        assert!(!data.exists(), "{addr}");
    }
    // So the inventory file given next time seeds the store.
    let inventory = dir.path().join("inventory");
    std::fs::write(&inventory, "7 3 Seven things\n").unwrap();
    let mut server = Server::start_with(&data, &["--inventory", inventory.to_str().unwrap()], true);
    assert!(server.terminate().success());
    let log = server.stderr();
    assert!(log.contains("1 items (new store)"), "{log}");
}

#[test]
fn a_data_path_that_is_a_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "precious").unwrap();
    let out = serve(&file, &["--addr", "127.0.0.1:0"]);
    assert_refused(
        &out,
        1,
        &[&format!("{}", file.display()), "not a directory"],
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}

#[test]
fn a_bad_client_address_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.json");
    for addr in [
        "nonsense",
        "127.0.0.1:",
        "127.0.0.1:0",
        ":7878",
        "host:port",
    ] {
        let out = run(
            &["client", "--addr", addr, "--local", local.to_str().unwrap()],
            "2\nq\n",
            Stdio::piped(),
        );
        assert_refused(&out, 2, &["--addr", addr]);
        assert!(out.stdout.is_empty(), "{addr}");
    }
}

#[test]
fn a_silent_server_is_reported_as_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    // Accepted by the kernel, never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let local = dir.path().join("local.json");
    let out = run(
        &[
            "client",
            "--addr",
            &addr,
            "--timeout-ms",
            "200",
            "--local",
            local.to_str().unwrap(),
        ],
        "2\nq\n",
        Stdio::piped(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // A failed step, standard input not a terminal: status 3.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout.contains("error: no answer from the server within 200 ms"),
        "{stdout}"
    );
    drop(silent);
}

#[test]
fn a_local_inventory_that_cannot_be_saved_fails_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    // Its directory does not exist, so every save fails.
    let local = dir.path().join("missing").join("local.json");
    let script = format!("1\n{}\n{}\n4\n1001\n2\nq\n", ALICE.0, ALICE.1);
    let out = run(
        &[
            "client",
            "--addr",
            &server.addr.to_string(),
            "--local",
            local.to_str().unwrap(),
        ],
        &script,
        Stdio::piped(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bought 2 x Blue widget"), "{stdout}");
    assert_refused(
        &out,
        1,
        &[&format!(
            "could not save the local inventory to {}",
            local.display()
        )],
    );
    // A failure that goes away before quitting: the save is retried at the end and the
    // purchase is in the file.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringmarket-inventory"))
        .args(["client", "--addr", &server.addr.to_string(), "--local"])
        .arg(&local)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(format!("1\n{}\n{}\n4\n1001\n3\n", ALICE.0, ALICE.1).as_bytes())
        .unwrap();
    let mut output = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("could not save the local inventory") {
        assert!(
            std::io::BufRead::read_line(&mut output, &mut seen).unwrap() > 0,
            "{seen}"
        );
    }
    std::fs::create_dir(local.parent().unwrap()).unwrap();
    input.write_all(b"q\n").unwrap();
    drop(input);
    let status = child.wait().unwrap();
    assert!(status.success());
    let saved = std::fs::read_to_string(&local).unwrap();
    assert!(saved.contains("Blue widget"), "{saved}");
    assert!(saved.contains("\"units\": 3"), "{saved}");
}

/// `serve --inventory FILE` on a fresh data directory; the file holds `text`.
fn serve_inventory(dir: &Path, text: &str) -> Output {
    let file = dir.join("inventory");
    std::fs::write(&file, text).unwrap();
    serve(
        &dir.join("data"),
        &[
            "--addr",
            "127.0.0.1:0",
            "--inventory",
            file.to_str().unwrap(),
        ],
    )
}

/// The inventory file used to take any `u64` and a leading `+` as a UPC, while the protocol
/// carries at most 19 digits: such an item could not be bought, and no client could read the
/// listing that held it.
#[test]
fn an_inventory_file_follows_the_protocols_upc_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inventory");
    for (bad, word) in [
        ("+7 1 Plus seven", "\"+7\""),
        (
            "18446744073709551615 1 Largest u64",
            "\"18446744073709551615\"",
        ),
        (
            "10000000000000000000 1 Twenty digits",
            "\"10000000000000000000\"",
        ),
        ("7 +1 Plus one unit", "bad units \"+1\""),
    ] {
        let out = serve_inventory(dir.path(), &format!("# UPC units name\n1 1 One\n{bad}\n"));
        assert_refused(
            &out,
            1,
            &[&file.display().to_string(), "line 3: bad ", word],
        );
        assert!(!dir.path().join("data").exists(), "{bad}");
    }

    // The longest UPC the rule allows is listed and sold end to end.
    std::fs::write(&file, "9999999999999999999 3 Longest UPC\n").unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--inventory", file.to_str().unwrap()]);
    let mut c = server.connect();
    c.login(ALICE);
    let upc = 9_999_999_999_999_999_999;
    assert_eq!(inventory_support::units_of(&mut c, upc), 3);
    let bought = c.request(&Request::Buy { upc, quantity: 2 });
    assert!(
        matches!(bought, Response::Bought { left: 1, .. }),
        "{bought:?}"
    );
}

#[test]
fn a_repeated_upc_in_the_inventory_file_is_refused_naming_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = serve_inventory(dir.path(), "1 1 One\n2 1 Two\n\n1 5 One again\n");
    assert_refused(&out, 1, &["line 4: UPC 1 repeats line 1"]);
    assert!(!dir.path().join("data").exists());
}

/// A listing announces at most `MAX_ITEMS` items; a file with more used to start a server
/// whose inventory no client could read.
#[test]
fn an_inventory_file_larger_than_a_listing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let max = ringmarket_inventory::protocol::MAX_ITEMS;
    let text: String = (1..=max + 1).map(|upc| format!("{upc} 1 x\n")).collect();
    let out = serve_inventory(dir.path(), &text);
    assert_refused(
        &out,
        1,
        &[&format!("line {}: more than {max} items", max + 1)],
    );
}
