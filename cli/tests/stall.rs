//! The stall detector: a scenario that can no longer progress ends with exit code 3 and a
//! report of who waits for what, instead of hanging.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ringmarket, stderr, MODES};

/// `prod1` publishes `id1` first; its queue (size 1) then stays full of `id1`, which nobody
/// buys, so it never reaches `id2`, which `cons1` waits for.
const STALLS: &str = r#"{
    "products": {
        "id1": {"product_type": "Tea", "name": "Unwanted", "type": "Black", "price": 1},
        "id2": {"product_type": "Tea", "name": "Wanted", "type": "Green", "price": 2}
    },
    "producers": [{"name": "prod1", "products": [["id1", 1, 0.0], ["id2", 1, 0.0]], "republish_wait_time": 0.01}],
    "consumers": [
        {"name": "cons1", "retry_wait_time": 0.01, "carts": [[{"type": "add", "product": "id2", "quantity": 1}]]},
        {"name": "cons2", "retry_wait_time": 0.01, "carts": [[]]}
    ],
    "marketplace": {"queue_size_per_producer": 1}
}"#;

#[test]
fn a_stall_is_reported_not_hung() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stall.in");
    std::fs::write(&file, STALLS).unwrap();
    for (mode, exec) in MODES.iter().flat_map(|m| [(m, "threads"), (m, "tasks")]) {
        let out = ringmarket(&[
            "run",
            file.to_str().unwrap(),
            "--quiet",
            "--wait",
            mode,
            "--mode",
            exec,
            "--stall-after",
            "0.5",
        ]);
        let mode = format!("{mode} {exec}");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{mode}: {err}");
        assert!(err.contains("stalled"), "{mode}: {err}");
        assert!(
            err.contains("1 of 2 consumers are not done"),
            "{mode}: {err}"
        );
        assert!(
            err.contains("consumer cons1: cart 1, operation 1: waiting to add unit 1 of 1 of id2 Tea(name='Wanted', price=2, type='Green') (published by prod1; 0 equal on sale by the runner's count)"),
            "{mode}: {err}"
        );
        assert!(
            err.contains("producer prod1: its queue is full"),
            "{mode}: {err}"
        );
        assert!(
            err.contains("waiting to publish id2 Tea(name='Wanted'"),
            "{mode}: {err}"
        );
        assert!(
            !err.contains("consumer cons2"),
            "a done consumer is not stuck: {err}"
        );
        // cons2's empty cart was ordered and printed nothing.
        assert!(out.stdout.is_empty());
    }
}

/// The same scenario with the consumer asking for what is on sale finishes normally: the
/// detector does not fire on a live run, even with a short quiet period.
#[test]
fn a_live_run_is_not_a_stall() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.in");
    std::fs::write(
        &file,
        STALLS.replace(r#""product": "id2""#, r#""product": "id1""#),
    )
    .unwrap();
    let out = ringmarket(&[
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--stall-after",
        "0.5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "cons1 bought Tea(name='Unwanted', price=1, type='Black')\n"
    );
}

/// A deadlocking scenario whose waits are huge (3 x 6e307 overflows to infinity, and infinity
/// times a scale of 0 is NaN): at `--time-scale 0` the default window is still 5 s, so the
/// run ends with exit code 3 instead of waiting for days. (The 60 s guard only keeps a broken
/// build from hanging the test suite.)
#[test]
fn huge_waits_at_time_scale_zero_still_stall_in_the_default_window() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.in");
    std::fs::write(
        &file,
        STALLS
            .replace(
                r#""republish_wait_time": 0.01"#,
                r#""republish_wait_time": 1e308"#,
            )
            .replace(r#""retry_wait_time": 0.01"#, r#""retry_wait_time": 6e307"#),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringmarket"))
        .args(["run", file.to_str().unwrap(), "-q", "--time-scale", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the run did not end: its stall window is not the default 5 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("for 5.0 s"), "{err}");
}
