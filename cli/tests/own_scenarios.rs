//! The project's own scenarios (in `tests/scenarios/`), each in both wait modes.

mod common;

use common::{normalize, ringmarket, run_ok, scenario, stderr, MODES};

fn both_modes(name: &str, scale: &str) {
    let file = scenario(name);
    for mode in MODES {
        let out = run_ok(
            &file,
            &[
                "--wait",
                mode,
                "--time-scale",
                scale,
                "--expect",
                file.to_str().unwrap(),
            ],
        );
        assert!(!out.is_empty(), "{name} {mode}: nothing printed");
    }
}

#[test]
fn queue_size_1_with_multi_unit_adds() {
    both_modes("queue1_multi_unit.json", "1");
}

#[test]
fn returns_that_another_consumer_buys() {
    both_modes("returns_bought_by_others.json", "1");
}

/// Eight consumers with equal retry waits each take two units of one product and give both
/// back, and a ninth, slower to retry, buys one: served in turn, one unit each, nobody gets to
/// give anything back until a ninth unit is published; served by progress, each one's returns
/// complete the next one's two.
#[test]
fn consumers_who_try_units_and_give_them_back() {
    both_modes("try_and_give_back.json", "1");
}

#[test]
fn zero_wait_times() {
    both_modes("zero_waits.json", "1");
}

#[test]
fn many_consumers_with_several_carts() {
    both_modes("many_consumers.json", "0");
    both_modes("many_consumers.json", "0.2");
}

/// Every field type's repr edge cases, against CPython's own output (`.ref.out`, written by
/// `make_repr_edge_cases.py` from Python's dataclasses).
#[test]
fn repr_edge_cases_match_python() {
    let file = scenario("repr_edge_cases.json");
    let reference = scenario("repr_edge_cases.ref.out");
    let out = run_ok(&file, &["--expect", reference.to_str().unwrap()]);
    let want = std::fs::read_to_string(&reference).unwrap();
    assert_eq!(normalize(&out), normalize(&want));
}

/// A wrong expectation is caught: exit code 1 and a short diff naming the difference.
#[test]
fn expect_reports_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.ref.out");
    let reference = std::fs::read_to_string(scenario("repr_edge_cases.ref.out")).unwrap();
    std::fs::write(&wrong, reference.replacen("price=-17", "price=17", 1)).unwrap();
    let out = ringmarket(&[
        "run",
        scenario("repr_edge_cases.json").to_str().unwrap(),
        "--quiet",
        "--expect",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("1 missing, 1 unexpected"), "{err}");
    assert!(
        err.contains("- c1 bought Tea(name='say \"hi\"', price=17"),
        "{err}"
    );
    assert!(
        err.contains("+ c1 bought Tea(name='say \"hi\"', price=-17"),
        "{err}"
    );
}

/// Without a file, the built-in demo runs and prints what its consumers bought.
#[test]
fn demo_runs_without_a_file() {
    let out = ringmarket(&["run", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines = normalize(&text);
    // alice: 2 linden + 1 arabica, then 1 robusta; bob: 2 sencha + 1 robusta; carol: 1 + 1.
    assert_eq!(lines.len(), 9, "{text}");
    assert!(lines.iter().all(|l| l.contains(" bought ")), "{text}");
}
