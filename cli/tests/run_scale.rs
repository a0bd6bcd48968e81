//! `run` on scenarios with many consumers: the work per consumer stays constant, so a few
//! thousand consumers finish quickly and match the generator's expectation.

mod common;

use common::{ringmarket, stderr};

/// Generates the tracker's scenario shape with `consumers` consumers under `dir`.
fn generate(dir: &std::path::Path, consumers: usize) -> std::path::PathBuf {
    let prefix = dir.join("many");
    let consumers = consumers.to_string();
    let out = ringmarket(&[
        "gen",
        "-o",
        prefix.to_str().unwrap(),
        "--seed",
        "3",
        "--products",
        "50",
        "--mixed-producers",
        "20",
        "--consumers",
        &consumers,
        "--carts",
        "1",
        "--ops",
        "2",
        "--max-quantity",
        "2",
        "--queue-size",
        "40",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    prefix.with_extension("json")
}

#[test]
fn thousands_of_consumers_finish_with_the_expected_output() {
    let dir = tempfile::tempdir().unwrap();
    let json = generate(dir.path(), 3000);
    let file = json.to_str().unwrap();
    let mut outputs = Vec::new();
    for exec in ["threads", "tasks"] {
        let out = ringmarket(&[
            "run",
            file,
            "-q",
            "--time-scale",
            "0",
            "--mode",
            exec,
            "--expect",
            file,
            "--stats",
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{exec}: {err}");
        assert!(err.contains("3000 carts"), "{exec}: {err}");
        assert!(!out.stdout.is_empty());
        outputs.push(common::normalize(&common::stdout(&out)));
    }
    assert_eq!(
        outputs[0], outputs[1],
        "threads and tasks print the same lines"
    );
}

/// A consumer with a long name buying many units: its lines are written (and checked against
/// `--expect`) one by one, all of them, together and unchanged.
#[test]
fn a_long_name_buying_many_units_prints_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let name = "n".repeat(100_000);
    let mut v = common::small_scenario();
    v["producers"][0]["products"] = serde_json::json!([["id2", 1, 0.0]]);
    v["consumers"][0]["name"] = serde_json::json!(name);
    v["consumers"][0]["carts"] =
        serde_json::json!([[{"type": "add", "product": "id2", "quantity": 40}]]);
    let file = dir.path().join("long.in");
    std::fs::write(&file, v.to_string()).unwrap();
    let line = format!("{name} bought Tea(name='Linden', price=9, type='Herbal')\n");
    let reference = dir.path().join("long.ref.out");
    std::fs::write(&reference, line.repeat(40)).unwrap();
    let out = ringmarket(&[
        "run",
        file.to_str().unwrap(),
        "-q",
        "--time-scale",
        "0",
        "--expect",
        reference.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == line.repeat(40).as_bytes(), "the lines differ");
    // One line short of the reference is a mismatch.
    std::fs::write(&reference, line.repeat(41)).unwrap();
    let out = ringmarket(&[
        "run",
        file.to_str().unwrap(),
        "-q",
        "--time-scale",
        "0",
        "--expect",
        reference.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{}", &err[..err.len().min(300)]);
    assert!(err.contains("41 items expected, 40 produced, 1 missing, 0 unexpected"));
}
