//! `run` on hostile input and surroundings: odd names, failing stdout and log, out-of-range
//! options, oversized expectations and endless files. Each gets a clear message and an exit
//! code, never a panic, an unbounded allocation or a silent success.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{ringmarket, scenario, small_scenario, stderr};
use serde_json::{json, Value};

/// Writes `v` as `dir/name` and returns the path.
fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_string_pretty(v).unwrap()).unwrap();
    file
}

/// Checks a refusal: exit 2, nothing on stdout, no panic, and `wanted` in the message.
fn assert_refused(out: &std::process::Output, wanted: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout must stay empty");
    assert!(!err.contains("panicked"), "{err}");
    for w in wanted {
        assert!(err.contains(w), "stderr should contain {w:?}: {err}");
    }
}

#[test]
fn a_nul_in_a_name_runs_and_prints_the_name_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = small_scenario();
    v["consumers"][0]["name"] = json!("a\u{0}b");
    v["producers"][0]["name"] = json!("p\u{0}q");
    let file = write(dir.path(), "nul.in", &v);
    let out = ringmarket(&["run", "-q", file.to_str().unwrap(), "--time-scale", "0"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("a\u{0}b bought ").count(), 3, "{text:?}");
}

#[test]
fn a_failing_stdout_is_an_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("no /dev/full here: nothing to check");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_ringmarket"))
        .args(["run", "-q", "--time-scale", "0"])
        .arg(scenario("zero_waits.json"))
        .stdout(full)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(74), "exit code; stderr: {err}");
    assert_eq!(
        err.matches("error: writing to stdout:").count(),
        1,
        "one message: {err}"
    );
}

#[test]
fn a_closed_pipe_on_stdout_is_not_an_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringmarket"))
        .args(["run", "-q", "--time-scale", "0"])
        .arg(scenario("zero_waits.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads: every write meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{}: {err}", out.status);
    assert!(err.is_empty(), "{err}");
}

#[test]
fn stall_after_out_of_range_names_the_real_range() {
    for bad in ["1e300", "1e9", "0", "-1", "inf", "1e-300", "0.0009"] {
        let out = ringmarket(&["run", "--stall-after", bad]);
        assert_refused(
            &out,
            &["--stall-after", "at least 0.001, 1 ms) and below 1e9"],
        );
        assert!(!stderr(&out).contains("0000000000"), "{}", stderr(&out));
    }
    // Just inside the range still runs.
    let out = ringmarket(&[
        "run",
        "-q",
        "--time-scale",
        "0",
        "--stall-after",
        "0.001",
        scenario("zero_waits.json").to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = ringmarket(&[
        "run",
        "-q",
        "--time-scale",
        "0",
        "--stall-after",
        "999999999",
        scenario("zero_waits.json").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_log_path_that_is_not_a_regular_file_is_refused() {
    for device in ["/dev/null", "/dev/full"] {
        if !Path::new(device).exists() {
            continue;
        }
        let out = ringmarket(&["run", "-q", "--time-scale", "0", "--log", device]);
        assert_refused(&out, &[device, "not a regular file"]);
    }
    // A folder too, with a message that says so rather than a failure to open.
    let dir = tempfile::tempdir().unwrap();
    let out = ringmarket(&[
        "run",
        "-q",
        "--time-scale",
        "0",
        "--log",
        dir.path().to_str().unwrap(),
    ]);
    assert_refused(&out, &["not a regular file"]);
}

/// A log that stops taking writes mid-run (here: past the file size limit, as a full disk):
/// one message at the end and a failing exit, not one complaint per event and success.
#[cfg(target_os = "linux")]
#[test]
fn a_log_write_failure_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("market.log");
    // SIGXFSZ ignored, so that writing past the limit fails with EFBIG instead of killing.
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_ringmarket"))
        .args(["run", "-q", "--time-scale", "0", "--log"])
        .arg(&log)
        .arg(scenario("zero_waits.json"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(74), "exit code; stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one message: {err}");
    assert!(err.contains("writing the log"), "{err}");
    // The run itself finished: every cart was printed.
    assert!(!out.stdout.is_empty());
}

/// Runs the small scenario with `expected` (the scenario with `expected_cart`s) as `--expect`.
fn run_expecting(expected: &Value) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "s.in", &small_scenario());
    let expect = write(dir.path(), "x.json", expected);
    ringmarket(&[
        "run",
        "-q",
        "--time-scale",
        "0",
        file.to_str().unwrap(),
        "--expect",
        expect.to_str().unwrap(),
    ])
}

#[test]
fn an_expected_count_above_what_the_cart_adds_is_refused() {
    let mut v = small_scenario();
    v["consumers"][0]["carts"][0] = json!({
        "ops": v["consumers"][0]["carts"][0].clone(),
        "expected_cart": {"id2": 1, "id1": 1_000_000_000_000u64}
    });
    let out = run_expecting(&v);
    assert_refused(
        &out,
        &[
            "at consumers[0].carts[0].expected_cart",
            "1000000000001 units",
            "adds only 4",
        ],
    );
}

#[test]
fn more_expected_lines_than_the_cap_are_refused() {
    let mut v = small_scenario();
    // Consistent with the cart (it adds that many), but past the cap of ten million.
    v["consumers"][0]["carts"][0] = json!({
        "ops": [{"type": "add", "product": "id2", "quantity": 20_000_000}],
        "expected_cart": {"id2": 20_000_000}
    });
    let out = run_expecting(&v);
    assert_refused(
        &out,
        &["at consumers[0].carts[0].expected_cart", "10000000"],
    );
}

#[test]
fn endless_input_is_refused_at_the_size_cap() {
    if !Path::new("/dev/zero").exists() {
        return;
    }
    let out = ringmarket(&["run", "-q", "/dev/zero"]);
    assert_refused(&out, &["/dev/zero", "64 MiB"]);
    let out = ringmarket(&[
        "run",
        "-q",
        "--time-scale",
        "0",
        scenario("zero_waits.json").to_str().unwrap(),
        "--expect",
        "/dev/zero",
    ]);
    assert_refused(&out, &["/dev/zero", "64 MiB"]);
}
