//! `--log`: every market call on entry and exit, UTC timestamps, rotated by size.

mod common;

use common::{ringmarket, scenario, stderr};

#[test]
fn logs_calls_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/market.log");
    let out = ringmarket(&[
        "run",
        scenario("zero_waits.json").to_str().unwrap(),
        "--quiet",
        "--log",
        log.to_str().unwrap(),
        "--log-max-bytes",
        "4000",
        "--log-backups",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let current = std::fs::read_to_string(&log).unwrap();
    let rotated: Vec<_> = (1..=5)
        .map(|i| dir.path().join(format!("logs/market.log.{i}")))
        .collect();
    assert!(
        rotated[0].is_file() && rotated[2].is_file(),
        "three backups kept"
    );
    assert!(!rotated[3].is_file(), "no more than three backups");
    // Oldest first; a file is rotated once it passes the limit, so none is much larger.
    let mut all = String::new();
    for backup in rotated[..3].iter().rev() {
        let older = std::fs::read_to_string(backup).unwrap();
        assert!(older.len() < 4000 + 1000, "{} bytes", older.len());
        all.push_str(&older);
    }
    all.push_str(&current);
    // Which calls the last files hold depends on the threads' interleaving: look at all.
    for needle in [
        "publish",
        "enter",
        "exit",
        "add",
        "place_order",
        "product=",
        "ok=true",
    ] {
        assert!(all.contains(needle), "log lacks {needle:?}:\n{all}");
    }
    // RFC 3339 timestamps in UTC.
    let first = all.lines().next().unwrap();
    let stamp = first.split_whitespace().next().unwrap();
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{first}");
}

#[test]
fn no_log_without_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringmarket"))
        .args([
            "run",
            scenario("zero_waits.json").to_str().unwrap(),
            "--quiet",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn an_unwritable_log_is_bad_input() {
    let out = ringmarket(&["run", "--log", "/proc/nope/market.log"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

/// Park mode waits with the market's blocking calls, sleep mode polls with plain calls: the
/// log shows which market calls each mode makes.
#[test]
fn park_mode_uses_the_blocking_waits() {
    let dir = tempfile::tempdir().unwrap();
    for (mode, wanted, unwanted) in [
        (
            "park",
            ["add_wait: enter", "publish_wait: enter"],
            ["add: enter", "publish: enter"],
        ),
        (
            "sleep",
            ["add: enter", "publish: enter"],
            ["add_wait: enter", "publish_wait: enter"],
        ),
    ] {
        let log = dir.path().join(format!("{mode}.log"));
        let out = ringmarket(&[
            "run",
            scenario("queue1_multi_unit.json").to_str().unwrap(),
            "--quiet",
            "--wait",
            mode,
            "--log",
            log.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = std::fs::read_to_string(&log).unwrap();
        for w in wanted {
            assert!(text.contains(w), "{mode}: log lacks {w:?}");
        }
        for u in unwanted {
            assert!(!text.contains(&format!(" {u}")), "{mode}: log has {u:?}");
        }
    }
}
