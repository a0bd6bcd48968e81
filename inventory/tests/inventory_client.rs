//! `ringmarket-inventory client` driven end to end through its menu with piped input.

mod inventory_support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use inventory_support::{units_of, Server, ALICE};
use ringmarket_inventory::client::Outcome;
use ringmarket_inventory::local::LocalInventory;

/// `ringmarket-inventory client` against `addr` with the local inventory `local`, stdin and
/// stdout piped.
fn client(addr: std::net::SocketAddr, local: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringmarket-inventory"));
    command
        .args(["client", "--addr", &addr.to_string(), "--local"])
        .arg(local)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    command
}

/// Runs a client on `script` (piped, so not a terminal); its output, once it has exited with
/// status 0.
fn run_client(addr: std::net::SocketAddr, local: &Path, script: &str) -> String {
    run_client_expecting(addr, local, script, 0)
}

/// Runs a client on `script`; its output, once it has exited with status `code`.
fn run_client_expecting(
    addr: std::net::SocketAddr,
    local: &Path,
    script: &str,
    code: i32,
) -> String {
    let mut child = client(addr, local)
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
    assert_eq!(
        out.status.code(),
        Some(code),
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
        "1\nalice\nwonderland\n2\n4\n1001\n3\n4\n1001\n2\n3\n5\nq\n",
    );
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
    assert!(
        out.contains("bought 2 x Blue widget (UPC 1001); 45 left"),
        "{out}"
    );
    assert!(
        out.contains("local inventory of alice:\n UPC  Units  Name\n1001      5  Blue widget\n"),
        "{out}"
    );
    assert!(out.contains("logged out alice\n"), "{out}");

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
    let out = run_client_expecting(
        addr,
        &dir.path().join("local.json"),
        "2\n1\nalice\nx\nq\n",
        3,
    );
    assert!(out.contains("error: cannot reach the server"), "{out}");
    assert!(out.ends_with("bye\n"), "{out}");
}

/// A client process whose menu is fed a piece at a time.
struct LiveClient {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl LiveClient {
    /// Starts a client and waits for its banner, printed once it has read its local
    /// inventory.
    fn start(addr: std::net::SocketAddr, local: &Path) -> LiveClient {
        let mut child = client(addr, local)
            .stderr(Stdio::null())
            .spawn()
            .expect("start the client");
        let stdin = child.stdin.take();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut client = LiveClient {
            child,
            stdin,
            stdout,
        };
        let banner = client.wait_for("ringmarket client");
        assert!(banner.starts_with("ringmarket client"), "{banner}");
        client
    }

    /// Feeds more menu input.
    fn feed(&mut self, script: &str) {
        let stdin = self.stdin.as_mut().expect("input still open");
        stdin.write_all(script.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Reads output up to the end of the line holding `needle`; the output read (a panic if
    /// the client ends first).
    fn wait_for(&mut self, needle: &str) -> String {
        use std::io::BufRead;
        let mut seen = String::new();
        while !seen.contains(needle) {
            let read = self.stdout.read_line(&mut seen).unwrap();
            assert!(read > 0, "{needle:?} never came: {seen}");
        }
        seen
    }

    /// Feeds the rest of the menu input and returns the rest of the output, once the client
    /// has exited with status 0.
    fn finish(self, script: &str) -> String {
        self.finish_expecting(script, 0)
    }

    /// As [`LiveClient::finish`], with the exit status `code`.
    fn finish_expecting(mut self, script: &str, code: i32) -> String {
        use std::io::Read;
        self.feed(script);
        drop(self.stdin.take());
        let mut out = String::new();
        self.stdout.read_to_string(&mut out).unwrap();
        assert_eq!(self.child.wait().unwrap().code(), Some(code), "{out}");
        out
    }
}

#[test]
fn clients_sharing_a_local_inventory_keep_each_others_purchases() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--login-backoff-ms", "0"]);
    let local = dir.path().join("shared.json");

    // Both clients have read the (missing) file before either buys.
    let alice = LiveClient::start(server.addr, &local);
    let bob = LiveClient::start(server.addr, &local);
    let out = alice.finish("1\nalice\nwonderland\n4\n1001\n1\nq\n");
    assert!(out.contains("bought 1 x Blue widget"), "{out}");
    let out = bob.finish("1\nbob\nbuilder\n4\n1001\n2\n3\nq\n");
    assert!(out.contains("bought 2 x Blue widget"), "{out}");

    let saved = LocalInventory::load(&local).unwrap();
    assert_eq!(saved.users["alice"][&1001].units, 1, "{saved:?}");
    assert_eq!(saved.users["bob"][&1001].units, 2, "{saved:?}");
    // Only the inventory is left in the directory: no lock or temporary file.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["data", "shared.json"]);

    // The same user buying through two clients: the units add up.
    let first = LiveClient::start(server.addr, &local);
    let second = LiveClient::start(server.addr, &local);
    first.finish("1\nalice\nwonderland\n4\n1001\n3\nq\n");
    let out = second.finish("1\nalice\nwonderland\n4\n1001\n4\n3\nq\n");
    assert!(
        out.contains("local inventory of alice:\n UPC  Units  Name\n1001      8  Blue widget\n"),
        "{out}"
    );
    let saved = LocalInventory::load(&local).unwrap();
    assert_eq!(saved.users["alice"][&1001].units, 8, "{saved:?}");
    assert_eq!(saved.users["bob"][&1001].units, 2, "{saved:?}");
}

#[test]
fn concurrent_saves_to_one_local_inventory_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.json");
    let threads = 4;
    let saves = if cfg!(miri) { 2 } else { 25 };
    std::thread::scope(|s| {
        for t in 0..threads {
            let path = &path;
            s.spawn(move || {
                for i in 0..saves {
                    // Each save adds what one purchase bought: one unit for the thread's own
                    // user and `t + 1` units to an item every thread buys.
                    let mut bought = LocalInventory::default();
                    bought.add(&format!("user{t}"), 1000 + i, "Own item", 1);
                    bought.add("shared", 7, "Seven", t + 1);
                    bought.add_to_file(path).unwrap();
                }
            });
        }
    });
    let saved = LocalInventory::load(&path).unwrap();
    for t in 0..threads {
        let own = &saved.users[&format!("user{t}")];
        assert_eq!(own.len() as u64, saves, "{own:?}");
        assert!(own.values().all(|item| item.units == 1), "{own:?}");
    }
    let total: u64 = (1..=threads).sum::<u64>() * saves;
    assert_eq!(saved.users["shared"][&7].units, total);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// A fake server on 127.0.0.1: each request line gets what `answer` writes for it (any number
/// of frames, or none); `None` from `answer` asks for the server's usual reply. Each connection
/// is served on its own thread until the client goes.
fn scripted_server<F>(answer: F) -> std::net::SocketAddr
where
    F: Fn(&str, &mut std::net::TcpStream) -> Option<std::io::Result<()>> + Send + Sync + 'static,
{
    use std::io::BufRead;
    let answer = std::sync::Arc::new(answer);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let result = answer(&line, &mut writer)
                        .unwrap_or_else(|| writer.write_all(usual_answer(&line).as_bytes()));
                    if result.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// What an honest server would answer to `line`, in outline: anyone logs in, as `alice` when
/// resumed or logged out.
fn usual_answer(line: &str) -> String {
    let mut words = line.split(' ');
    match words.next().unwrap_or("") {
        "HELLO" => "OK HELLO 1\n".to_owned(),
        "LOGIN" => format!("OK LOGIN {} {TOKEN}\n", words.next().unwrap_or("")),
        "RESUME" => "OK RESUME alice\n".to_owned(),
        "LOGOUT" => "OK LOGOUT alice\n".to_owned(),
        _ => "ERR bad-request what\n".to_owned(),
    }
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A fake server that logs anyone in and answers every `BUY` with `buy_answer` (a whole
/// frame).
fn fake_server(buy_answer: &'static str) -> std::net::SocketAddr {
    scripted_server(move |line, w| {
        line.starts_with("BUY ")
            .then(|| w.write_all(buy_answer.as_bytes()))
    })
}

#[test]
fn a_purchase_answer_that_does_not_match_the_request_is_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.json");
    for answer in [
        "OK BOUGHT 1001 1000000 5 Blue widget\n",
        "OK BOUGHT 1002 1 5 Red widget\n",
    ] {
        let addr = fake_server(answer);
        let out = run_client_expecting(addr, &local, "1\nalice\nx\n4\n1001\n1\n3\nq\n", 3);
        assert!(out.contains("logged in as alice"), "{out}");
        assert!(
            out.contains("error: protocol error: asked to buy 1 x UPC 1001"),
            "{out}"
        );
        assert!(!out.contains("quantity: bought"), "{out}");
        // The session ends with the protocol error.
        assert!(out.contains("logged out here: log in again"), "{out}");
        assert!(
            !local.exists(),
            "{}",
            std::fs::read_to_string(&local).unwrap()
        );
    }
    // A matching answer is recorded (the fake server works).
    let addr = fake_server("OK BOUGHT 1001 1 5 Blue widget\n");
    let out = run_client(addr, &local, "1\nalice\nx\n4\n1001\n1\nq\n");
    assert!(
        out.contains("bought 1 x Blue widget (UPC 1001); 5 left"),
        "{out}"
    );
    let saved = LocalInventory::load(&local).unwrap();
    assert_eq!(saved.users["alice"][&1001].units, 1, "{saved:?}");
}

#[test]
fn an_unknown_error_code_is_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.json");
    let addr = fake_server("ERR out-of-season not sold in winter\n");
    let out = run_client_expecting(addr, &local, "1\nalice\nx\n4\n1001\n1\nq\n", 3);
    assert!(
        out.contains("quantity: refused (out-of-season): not sold in winter\n"),
        "{out}"
    );
    assert!(!out.contains("bad response"), "{out}");
    assert!(!local.exists());
}

#[cfg(unix)]
#[test]
fn a_save_waits_for_the_lock_and_a_lock_file_left_behind_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.json");
    let lock = dir.path().join("shared.json.lock");
    let mut bought = LocalInventory::default();
    bought.add("alice", 1001, "Blue widget", 1);

    // Another client holds the lock for a moment: the save waits, then adds its units.
    let holder = std::fs::File::create(&lock).unwrap();
    rustix::fs::flock(&holder, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let saved = std::thread::scope(|s| {
        let save = s.spawn(|| bought.add_to_file(&path));
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!path.exists(), "saved while the lock was held");
        drop(holder);
        save.join().unwrap().unwrap()
    });
    assert_eq!(saved.users["alice"][&1001].units, 1);

    // A lock file left by a client that stopped mid-save holds no lock: saves go on.
    let file = std::fs::File::create(&lock).unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    drop(file);
    let saved = bought.add_to_file(&path).unwrap();
    assert_eq!(saved.users["alice"][&1001].units, 2);
    assert_eq!(LocalInventory::load(&path).unwrap(), saved);
    #[cfg(unix)]
    assert!(!lock.exists());

    // A file that is not a local inventory is left as it is, and so is no lock.
    std::fs::write(&path, "{ not json").unwrap();
    let err = bought.add_to_file(&path).unwrap_err();
    assert!(
        err.to_string().contains("is not a local inventory"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");
    #[cfg(unix)]
    assert!(!lock.exists());
}

/// A server that speaks `HELLO` and answers `INVENTORY` with `answer` on the stream, on each
/// connection, until the client goes.
fn hostile_server(
    answer: fn(&mut std::net::TcpStream) -> std::io::Result<()>,
) -> std::net::SocketAddr {
    scripted_server(move |line, w| (line == "INVENTORY").then(|| answer(w)))
}

/// Runs the client with a one-second time-out to view the server inventory and quit; its
/// output once it has exited with status `code`, or a panic if it is still running after 20 s.
fn view_inventory_with_deadline(addr: std::net::SocketAddr, code: i32) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = client(addr, &dir.path().join("local.json"))
        .args(["--timeout-ms", "1000"])
        .stderr(Stdio::null())
        .spawn()
        .expect("start the client");
    child.stdin.take().unwrap().write_all(b"2\nq\n").unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the client is still waiting for the answer");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(code), "{stdout}");
    stdout
}

#[test]
fn a_server_dripping_its_answer_cannot_hold_the_client() {
    // One byte every 100 ms: each read succeeds well within the time-out, the answer never
    // ends.
    let addr = hostile_server(|w| {
        w.write_all(b"OK INVENTORY 1\nITEM 1001 5 Blue")?;
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            w.write_all(b"e")?;
        }
    });
    let out = view_inventory_with_deadline(addr, 3);
    assert!(
        out.contains("error: no answer from the server within 1000 ms"),
        "{out}"
    );
}

#[test]
fn a_server_announcing_a_huge_answer_cannot_hold_the_client() {
    // Long items: refused at the first one.
    let addr = hostile_server(|w| {
        w.write_all(b"OK INVENTORY 100000\n")?;
        let item = format!("ITEM 1 1 {}\n", "x".repeat(1 << 20));
        loop {
            w.write_all(item.as_bytes())?;
        }
    });
    let out = view_inventory_with_deadline(addr, 3);
    assert!(
        out.contains("error: the server sent a bad response"),
        "{out}"
    );
    // Items of a valid size, too many bytes of them.
    let addr = hostile_server(|w| {
        w.write_all(b"OK INVENTORY 100000\n")?;
        let item = format!("ITEM 1 1 {}\n", "x".repeat(1000));
        loop {
            w.write_all(item.as_bytes())?;
        }
    });
    let out = view_inventory_with_deadline(addr, 3);
    assert!(
        out.contains("error: the server's answer is larger than 32 MiB")
            || out.contains("error: no answer from the server within 1000 ms"),
        "{out}"
    );
}

#[test]
fn a_connection_taken_back_by_the_server_is_replaced() {
    // The first connection's slot is taken back (`ERR busy`, then closed); the client
    // reconnects and asks again.
    static CONNECTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let addr = hostile_server(|w| {
        if CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            w.write_all(b"ERR busy this connection was idle longest\n")?;
            return w.shutdown(std::net::Shutdown::Both);
        }
        w.write_all(b"OK INVENTORY 1\nITEM 1001 5 Blue widget\n")
    });
    let out = view_inventory_with_deadline(addr, 0);
    assert!(out.contains("1001      5  Blue widget"), "{out}");
    assert!(!out.contains("busy"), "{out}");
}

/// The temporary file of a save used to have a predictable name (`FILE.tmp<pid>`) and be
/// opened without `O_EXCL`: a link planted there was written through.
#[cfg(unix)]
#[test]
fn a_save_does_not_write_through_a_planted_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local.json");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let planted = dir
        .path()
        .join(format!("local.json.tmp{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let mut bought = LocalInventory::default();
    bought.add("alice", 1001, "Blue widget", 1);
    bought.save(&path).unwrap();
    let saved = bought.add_to_file(&path).unwrap();
    assert_eq!(saved.users["alice"][&1001].units, 2);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(LocalInventory::load(&path).unwrap(), saved);
}

/// The protocol has no request ids: a frame the server sends unasked would be taken as the
/// answer to the next request, and every answer after it would be shifted by one. Here a
/// purchase the server refuses would have been recorded as made.
#[test]
fn a_frame_sent_unasked_is_a_protocol_error_not_the_next_answer() {
    let refused = "ERR insufficient-units asked for 1, 0 left\n";
    let stale = "OK BOUGHT 1001 1 5 Blue widget\n";
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.json");

    // The extra frame comes with the answer to LOGIN.
    let addr = scripted_server(move |line, w| {
        if line.starts_with("LOGIN ") {
            return Some(w.write_all(format!("OK LOGIN alice {TOKEN}\n{stale}").as_bytes()));
        }
        line.starts_with("BUY ")
            .then(|| w.write_all(refused.as_bytes()))
    });
    let out = run_client_expecting(addr, &local, "1\nalice\nx\n4\n1001\n1\n3\nq\n", 3);
    assert!(
        out.contains(
            "error: protocol error: the server sent a frame that answers no request: \
             \"OK BOUGHT 1001 1 5 Blue widget\"; the connection is closed"
        ),
        "{out}"
    );
    assert!(!out.contains("bought 1 x"), "{out}");
    assert!(!local.exists());

    // The extra frame comes on its own, after the answer, before the next request.
    let addr = scripted_server(move |line, w| {
        if line.starts_with("LOGIN ") {
            let answered = w.write_all(format!("OK LOGIN alice {TOKEN}\n").as_bytes());
            std::thread::sleep(std::time::Duration::from_millis(50));
            return Some(answered.and_then(|()| w.write_all(stale.as_bytes())));
        }
        line.starts_with("BUY ")
            .then(|| w.write_all(refused.as_bytes()))
    });
    let mut client = LiveClient::start(addr, &local);
    client.feed("1\nalice\nx\n");
    client.wait_for("logged in as alice");
    // Time for the extra frame to arrive (it is sent 50 ms after the answer).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = client.finish_expecting("4\n1001\n1\n3\nq\n", 3);
    assert!(
        out.contains(
            "quantity: error: protocol error: the server sent a frame that answers no request: \
             \"OK BOUGHT 1001 1 5 Blue widget\"; the connection is closed; logged out here: \
             log in again"
        ),
        "{out}"
    );
    assert!(!out.contains("bought 1 x"), "{out}");
    assert!(!local.exists());
}

/// The notice a server sends as it closes an idle connection (`ERR timeout` here) is not the
/// answer to the client's next request: that request goes over a fresh connection, and the
/// login is resumed.
#[test]
fn a_connection_the_server_closed_while_idle_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--idle-timeout-ms", "200"]);
    let mut client = LiveClient::start(server.addr, &dir.path().join("local.json"));
    client.feed(&format!("1\n{}\n{}\n", ALICE.0, ALICE.1));
    client.wait_for("logged in as alice");
    // Past the idle time-out: the server has sent `ERR timeout` and closed the connection.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let out = client.finish("2\nq\n");
    assert!(out.contains("1001     50  Blue widget"), "{out}");
    assert!(!out.contains("timeout"), "{out}");
    assert!(out.contains("logged out alice"), "{out}");
}

/// The client used to show, and record purchases under, the user named in the server's
/// answer rather than the one it asked for.
#[test]
fn the_user_is_the_one_asked_for_not_the_one_the_server_names() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.json");
    let bought = "OK BOUGHT 1001 1 5 Blue widget\n";

    // LOGIN answered for another user.
    let addr = scripted_server(move |line, w| {
        if line.starts_with("LOGIN ") {
            return Some(w.write_all(format!("OK LOGIN mallory {TOKEN}\n").as_bytes()));
        }
        line.starts_with("BUY ")
            .then(|| w.write_all(bought.as_bytes()))
    });
    let out = run_client_expecting(addr, &local, "1\nalice\nx\n4\n1001\n1\nq\n", 3);
    assert!(!out.contains("logged in as mallory"), "{out}");
    assert!(
        out.contains(
            "error: protocol error: the server answered Login(\"alice\", <password>) with \
             LoggedIn { user: \"mallory\""
        ),
        "{out}"
    );
    assert!(!local.exists());

    // RESUME answered for another user, once the server took the first connection back.
    let inventories = std::sync::atomic::AtomicUsize::new(0);
    let addr = scripted_server(move |line, w| match line {
        "INVENTORY" if inventories.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 => Some(
            w.write_all(b"ERR busy this connection was idle longest\n")
                .and_then(|()| w.shutdown(std::net::Shutdown::Both)),
        ),
        _ if line.starts_with("RESUME ") => Some(w.write_all(b"OK RESUME mallory\n")),
        _ => line
            .starts_with("BUY ")
            .then(|| w.write_all(bought.as_bytes())),
    });
    let out = run_client_expecting(addr, &local, "1\nalice\nx\n2\n4\n1001\n1\nq\n", 3);
    assert!(out.contains("logged in as alice"), "{out}");
    assert!(
        out.contains(
            "error: protocol error: resumed the login of alice, the server answered that it \
             resumed \"mallory\"'s; logged out here: log in again"
        ),
        "{out}"
    );
    assert!(!local.exists());

    // LOGOUT answered for another user (this server always names alice).
    let addr = fake_server(bought);
    let out = run_client_expecting(addr, &local, "1\nbob\nx\n5\nq\n", 3);
    assert!(out.contains("logged in as bob"), "{out}");
    assert!(!out.contains("logged out alice"), "{out}");
    assert!(
        out.contains(
            "error: protocol error: asked to log bob out, the server answered that it logged \
             \"alice\" out"
        ),
        "{out}"
    );

    // What is not a user id is not sent: this server would log in "al".
    let out = run_client_expecting(addr, &local, "1\nal ice\nx\nq\n", 3);
    assert!(
        out.contains("\"al ice\" is not a user id (1 to 64 ASCII letters"),
        "{out}"
    );
    assert!(!out.contains("logged in"), "{out}");
}

/// Item names and messages from the server used to be printed as they came, bidirectional
/// overrides included: a name could make the line printed around it read differently from
/// what it is.
#[test]
fn characters_that_reorder_text_are_escaped_when_shown() {
    const REORDERING: [char; 12] = [
        '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}',
    ];
    let name: String = REORDERING.iter().map(|c| format!("x{c}")).collect();
    let answers = std::sync::Arc::new(name.clone());
    let addr = scripted_server(move |line, w| {
        let frames = match line {
            "INVENTORY" => format!("OK INVENTORY 1\nITEM 1001 5 {answers}\n"),
            "BUY 1001 1" => format!("OK BOUGHT 1001 1 4 {answers}\n"),
            "BUY 1002 1" => "ERR unknown-upc no item \u{202e}2001 CPU sah\n".to_owned(),
            _ => return None,
        };
        Some(w.write_all(frames.as_bytes()))
    });
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.json");
    let out = run_client_expecting(
        addr,
        &local,
        "1\nalice\nx\n2\n4\n1001\n1\n3\n4\n1002\n1\n",
        3,
    );
    assert!(!out.contains(&REORDERING[..]), "{out:?}");
    let escaped: String = REORDERING
        .iter()
        .map(|&c| format!("x\\u{{{:x}}}", u32::from(c)))
        .collect();
    assert!(escaped.starts_with("x\\u{202a}x\\u{202b}"), "{escaped}");
    // The server inventory, the purchase, the refusal and the local inventory.
    assert!(out.contains(&format!("1001      5  {escaped}\n")), "{out}");
    assert!(
        out.contains(&format!("bought 1 x {escaped} (UPC 1001); 4 left")),
        "{out}"
    );
    assert!(
        out.contains("refused (unknown-upc): no item \\u{202e}2001 CPU sah\n"),
        "{out}"
    );
    assert!(out.contains(&format!("1001      1  {escaped}\n")), "{out}");
    // The local inventory keeps the name as it came.
    let saved = LocalInventory::load(&local).unwrap();
    assert_eq!(saved.users["alice"][&1001].name, name);
}

/// With its standard input not a terminal, the client used to go on after a failed step and
/// exit with status 0, so a script could not tell that something went wrong.
#[test]
fn a_script_stops_at_the_first_step_that_fails_with_status_3() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--login-backoff-ms", "0"]);
    let local = dir.path().join("local.json");
    let login = "1\nalice\nwonderland\n";
    // Each script's failing step is followed by steps that would succeed or fail visibly.
    let after = "2\n1\nalice\nwonderland\n2\nq\n";
    for (script, failure, logged_in) in [
        (
            "2\n".to_owned(),
            "refused (not-logged-in): log in first",
            false,
        ),
        ("4\n1001\n1\n".to_owned(), "refused (not-logged-in)", false),
        (
            "1\nalice\nwrong\n".to_owned(),
            "refused (bad-credentials)",
            false,
        ),
        (
            format!("{login}4\n1005\n9\n"),
            "refused (insufficient-units)",
            true,
        ),
        (
            format!("{login}4\n4242\n1\n"),
            "refused (unknown-upc)",
            true,
        ),
        (
            format!("{login}4\n+1001\n1\n"),
            "the UPC is 1 to 19 digits",
            true,
        ),
        (format!("{login}1\n"), "already logged in as alice", true),
        ("7\n".to_owned(), "no such choice: \"7\"", false),
        ("3\n".to_owned(), "log in to see what you bought", false),
        ("5\n".to_owned(), "not logged in", false),
    ] {
        let mut child = client(server.addr, &local)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the client");
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{script}{after}").as_bytes())
            .unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(3), "{script:?}: {stdout}\n{stderr}");
        assert!(
            stderr.contains("stopped at a step that failed or was refused"),
            "{stderr}"
        );
        // Nothing after the failed step, but the logout of the end.
        let at = stdout
            .find(failure)
            .unwrap_or_else(|| panic!("{failure:?}: {stdout}"));
        let rest = &stdout[at..];
        let rest = &rest[rest.find('\n').unwrap() + 1..];
        let logout = if logged_in { "logged out alice\n" } else { "" };
        assert_eq!(
            rest,
            format!("stopped: the step above failed\n{logout}bye\n"),
            "{script:?}: {stdout}"
        );
    }

    // Input that ends in the middle of a step.
    let out = run_client_expecting(server.addr, &local, "1\nalice\n", 3);
    assert!(
        out.ends_with("password: \nstopped: the step above failed\nbye\n"),
        "{out}"
    );

    // On a terminal (here, the library with the same setting) a failure is shown and the
    // menu goes on.
    let mut client = ringmarket_inventory::client::Client::new(
        &server.addr.to_string(),
        &local,
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    client.stop_at_failure(false);
    let mut out = Vec::new();
    let outcome = client
        .run(&mut format!("2\n{login}2\nq\n").as_bytes(), &mut out)
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(outcome, Outcome::Done);
    assert!(out.contains("refused (not-logged-in)"), "{out}");
    assert!(out.contains("1001     50  Blue widget"), "{out}");
    client.stop_at_failure(true);
    let mut out = Vec::new();
    let outcome = client.run(&mut &b"2\n7\n2\n"[..], &mut out).unwrap();
    assert_eq!(
        outcome,
        Outcome::Failed,
        "{}",
        String::from_utf8_lossy(&out)
    );
}
