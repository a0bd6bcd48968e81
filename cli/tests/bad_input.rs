//! Bad input: a clear message naming the place, exit code 2, no panic, nothing on stdout.

mod common;

use common::{ringmarket, small_scenario, stderr};
use serde_json::{json, Value};

/// Runs `text` as a scenario and checks the refusal: exit 2, empty stdout, and a message
/// containing each of `wanted`.
fn refused(text: &str, wanted: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.in");
    std::fs::write(&file, text).unwrap();
    let out = ringmarket(&[
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--time-scale",
        "0",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {err}");
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty, got {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!err.contains("panicked"), "{err}");
    for w in wanted {
        assert!(err.contains(w), "stderr should contain {w:?}: {err}");
    }
}

fn edited(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = small_scenario();
    edit(&mut v);
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn the_valid_base_scenario_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ok.in");
    std::fs::write(&file, edited(|_| {})).unwrap();
    let out = ringmarket(&[
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--time-scale",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn malformed_json_names_line_and_column() {
    refused(
        "{\n  \"products\": {,\n}",
        &["line 2, column 16", "malformed JSON"],
    );
    refused("", &["line 1, column 0", "malformed JSON"]);
    refused(
        &format!("{} trailing", edited(|_| {})),
        &["malformed JSON", "trailing characters"],
    );
}

#[test]
fn not_an_object() {
    refused("[1, 2]", &["at the top level", "expected a scenario"]);
}

#[test]
fn unknown_product_id() {
    refused(
        &edited(|v| v["consumers"][0]["carts"][0][1]["product"] = json!("id7")),
        &[
            "at consumers[0].carts[0][1].product",
            "unknown product id \"id7\"",
        ],
    );
    refused(
        &edited(|v| v["producers"][0]["products"][1][0] = json!("nope")),
        &[
            "at producers[0].products[1][0]",
            "unknown product id \"nope\"",
        ],
    );
}

#[test]
fn unknown_product_type() {
    refused(
        &edited(|v| v["products"]["id2"]["product_type"] = json!("Juice")),
        &[
            "at products.id2.product_type",
            "unknown product type \"Juice\"",
        ],
    );
}

#[test]
fn unknown_operation() {
    refused(
        &edited(|v| v["consumers"][0]["carts"][0][0]["type"] = json!("buy")),
        &[
            "at consumers[0].carts[0][0].type",
            "unknown operation \"buy\"",
        ],
    );
}

#[test]
fn missing_fields() {
    refused(
        &edited(|v| {
            v["products"]["id1"]
                .as_object_mut()
                .unwrap()
                .remove("acidity");
        }),
        &["at products.id1", "missing field `acidity`"],
    );
    refused(
        &edited(|v| {
            v.as_object_mut().unwrap().remove("marketplace");
        }),
        &["at the top level", "missing field `marketplace`"],
    );
    refused(
        &edited(|v| {
            v["consumers"][0]
                .as_object_mut()
                .unwrap()
                .remove("retry_wait_time");
        }),
        &["at consumers[0]", "missing field `retry_wait_time`"],
    );
}

#[test]
fn unknown_fields() {
    refused(
        &edited(|v| v["producers"][0]["republish_wait"] = json!(1)),
        &["at producers[0].republish_wait", "unknown field"],
    );
}

#[test]
fn mistyped_fields() {
    refused(
        &edited(|v| v["products"]["id2"]["price"] = json!("9")),
        &[
            "at products.id2.price",
            "expected a number, found the string \"9\"",
        ],
    );
    refused(
        &edited(|v| v["products"]["id1"]["name"] = json!(null)),
        &["at products.id1.name", "expected a string, found null"],
    );
    refused(
        &edited(|v| v["consumers"][0]["carts"] = json!({"a": 1})),
        &["at consumers[0].carts", "expected a list of carts"],
    );
    refused(
        &edited(|v| v["producers"][0]["products"][0] = json!(["id2", 2])),
        &["at producers[0].products[0]", "found a list of 2"],
    );
    refused(
        &edited(|v| v["consumers"][0]["carts"][0][2]["quantity"] = json!(true)),
        &["at consumers[0].carts[0][2].quantity", "found true"],
    );
}

#[test]
fn negative_or_fractional_quantities() {
    refused(
        &edited(|v| v["consumers"][0]["carts"][0][1]["quantity"] = json!(-3)),
        &[
            "at consumers[0].carts[0][1].quantity",
            "found the number -3",
        ],
    );
    refused(
        &edited(|v| v["consumers"][0]["carts"][0][1]["quantity"] = json!(1.5)),
        &[
            "at consumers[0].carts[0][1].quantity",
            "found the number 1.5",
        ],
    );
    refused(
        &edited(|v| v["producers"][0]["products"][0][1] = json!(2.0)),
        &["at producers[0].products[0][1]", "whole number"],
    );
    refused(
        &edited(|v| v["marketplace"]["queue_size_per_producer"] = json!(0)),
        &["at marketplace.queue_size_per_producer", "at least 1"],
    );
}

#[test]
fn negative_waits() {
    refused(
        &edited(|v| v["producers"][0]["products"][1][2] = json!(-0.5)),
        &["at producers[0].products[1][2]", "negative"],
    );
    refused(
        &edited(|v| v["consumers"][0]["retry_wait_time"] = json!(-1)),
        &["at consumers[0].retry_wait_time", "negative"],
    );
    refused(
        &edited(|v| v["producers"][0]["republish_wait_time"] = json!(-0.01)),
        &["at producers[0].republish_wait_time", "negative"],
    );
}

#[test]
fn a_product_nobody_produces() {
    refused(
        &edited(|v| v["producers"][0]["products"][1][1] = json!(0)),
        &[
            "at consumers[0].carts[0][1].product",
            "\"id1\" is never produced",
        ],
    );
}

#[test]
fn the_generator_form_names_ops() {
    refused(
        &edited(|v| {
            v["consumers"][0]["carts"][0] = json!({
                "ops": [{"type": "add", "product": "id2", "quantity": -1}],
                "expected_cart": {}
            })
        }),
        &["at consumers[0].carts[0].ops[0].quantity"],
    );
}

#[test]
fn unreadable_file_and_bad_options() {
    let out = ringmarket(&["run", "/nonexistent/scenario.in"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read /nonexistent/scenario.in"));
    assert!(out.stdout.is_empty());

    let out = ringmarket(&["run", "--time-scale", "-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--time-scale"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    let out = ringmarket(&["run", "--stall-after", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());

    let out = ringmarket(&["run", "--expect", "/nonexistent/x.ref.out"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "bad --expect must stop the run before it starts"
    );
}
