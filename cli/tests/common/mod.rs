//! Helpers shared by the CLI's integration tests: run the binary, find the data.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `ringmarket ARGS` and waits for it.
pub fn ringmarket(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringmarket"))
        .args(args)
        .output()
        .expect("the ringmarket binary runs")
}

/// The process's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// The process's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The assignment checker's normal form: split on `)`, strip, re-add `)`, drop empties, sort.
/// (Written out again here, apart from the binary's own, so that the tests check it too.)
pub fn normalize(text: &str) -> Vec<String> {
    let mut items: Vec<String> = text
        .split(')')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p})"))
        .collect();
    items.sort();
    items
}

/// A small valid scenario (two products, one producer, one consumer with one cart), as JSON
/// for tests to vary.
pub fn small_scenario() -> serde_json::Value {
    serde_json::json!({
        "products": {
            "id1": {"product_type": "Coffee", "name": "Indonezia", "acidity": 5.05, "roast_level": "MEDIUM", "price": 1},
            "id2": {"product_type": "Tea", "name": "Linden", "type": "Herbal", "price": 9}
        },
        "producers": [
            {"name": "prod1", "products": [["id2", 2, 0.0], ["id1", 1, 0.0]], "republish_wait_time": 0.0}
        ],
        "consumers": [
            {"name": "cons1", "retry_wait_time": 0.0, "carts": [
                [{"type": "add", "product": "id2", "quantity": 1},
                 {"type": "add", "product": "id1", "quantity": 3},
                 {"type": "remove", "product": "id1", "quantity": 1}]
            ]}
        ],
        "marketplace": {"queue_size_per_producer": 15}
    })
}

/// This package's own scenarios.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

/// Runs a scenario with extra options, expecting success, and returns its stdout.
pub fn run_ok(file: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", file.to_str().expect("UTF-8 path"), "--quiet"];
    args.extend_from_slice(extra);
    let out = ringmarket(&args);
    assert!(
        out.status.success(),
        "ringmarket {args:?} failed ({}):\n{}",
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

/// The wait modes every scenario test runs in.
pub const MODES: &[&str] = &["park", "sleep"];
