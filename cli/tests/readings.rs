//! End-to-end tests of `ringmarket readings run` and `ringmarket readings read`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn ringmarket(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringmarket"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the pipeline into `dir` with `extra` options; asserts success.
fn run(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["readings", "run", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = ringmarket(&args);
    assert!(
        out.status.success(),
        "run failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn consumer_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rdg"))
        .collect();
    files.sort();
    files
}

/// Reads files with `--json`; returns the readings per file (as JSON objects) and the output.
fn read_json(files: &[PathBuf]) -> (Vec<Value>, Output) {
    let mut args = vec!["readings", "read", "--json"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = ringmarket(&args);
    let readings = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    (readings, out)
}

/// Checks that the files in `dir` hold every `(producer, sequence)` for `producers x per`
/// exactly once; returns the readings keyed by identity.
fn check_exactly_once(
    dir: &Path,
    producers: u64,
    per: u64,
    consumers: usize,
) -> BTreeMap<(u64, u64), Value> {
    let files = consumer_files(dir);
    assert_eq!(files.len(), consumers);
    let (readings, out) = read_json(&files);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(readings.len() as u64, producers * per);
    let mut by_id = BTreeMap::new();
    for r in readings {
        let id = (
            r["producer"].as_u64().unwrap(),
            r["sequence"].as_u64().unwrap(),
        );
        assert!(id.0 < producers && id.1 < per, "unexpected reading {r}");
        assert!(
            by_id.insert(id, r).is_none(),
            "reading {id:?} written twice"
        );
    }
    assert_eq!(
        by_id.len() as u64,
        producers * per,
        "some reading is missing"
    );
    // The per-file counts on stderr add up to the same total.
    let counted: u64 = text(&out.stderr)
        .lines()
        .map(|l| {
            let n = l.rsplit(": ").next().unwrap().trim_end_matches(" readings");
            n.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(counted, producers * per);
    by_id
}

#[test]
fn defaults_write_every_reading_exactly_once_and_seeds_reproduce() {
    let a = tempfile::tempdir().unwrap();
    let out = run(a.path(), &["--seed", "42"]);
    assert!(text(&out.stdout).starts_with("14000 readings written by 3 consumers"));
    let first = check_exactly_once(a.path(), 7, 2000, 3);
    // Every reading carries a unit that matches its quantity and a plausible value.
    for r in first.values() {
        let (q, unit) = (r["quantity"].as_str().unwrap(), r["unit"].as_str().unwrap());
        let expected = match q {
            "temperature" => "°C",
            "humidity" => "%RH",
            "pressure" => "hPa",
            "light" => "lx",
            "co2" => "ppm",
            other => panic!("unknown quantity {other}"),
        };
        assert_eq!(unit, expected);
        assert!(r["value"].as_f64().unwrap().is_finite());
    }
    // The same seed gives the same readings, however the threads interleaved.
    let b = tempfile::tempdir().unwrap();
    run(b.path(), &["--seed", "42"]);
    assert_eq!(check_exactly_once(b.path(), 7, 2000, 3), first);
    // Another seed gives other readings.
    let c = tempfile::tempdir().unwrap();
    run(c.path(), &["--seed", "43"]);
    assert_ne!(check_exactly_once(c.path(), 7, 2000, 3), first);
}

#[test]
fn odd_shapes_write_every_reading_exactly_once() {
    let one_to_five = tempfile::tempdir().unwrap();
    run(
        one_to_five.path(),
        &[
            "--seed",
            "1",
            "--producers",
            "1",
            "--per-producer",
            "3000",
            "--consumers",
            "5",
        ],
    );
    check_exactly_once(one_to_five.path(), 1, 3000, 5);

    let buffer_of_one = tempfile::tempdir().unwrap();
    run(buffer_of_one.path(), &["--seed", "2", "--buffer", "1"]);
    check_exactly_once(buffer_of_one.path(), 7, 2000, 3);

    let locked = tempfile::tempdir().unwrap();
    run(
        locked.path(),
        &[
            "--seed",
            "3",
            "--queue",
            "mutex",
            "--buffer",
            "2",
            "--consumers",
            "2",
        ],
    );
    check_exactly_once(locked.path(), 7, 2000, 2);

    let nothing = tempfile::tempdir().unwrap();
    run(nothing.path(), &["--per-producer", "0"]);
    check_exactly_once(nothing.path(), 7, 0, 3);
}

#[test]
fn text_output_is_one_reading_per_line() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        &["--seed", "5", "--producers", "2", "--per-producer", "10"],
    );
    let files = consumer_files(dir.path());
    let mut args = vec!["readings", "read"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = ringmarket(&args);
    assert!(out.status.success());
    let lines: Vec<_> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 20);
    assert!(lines
        .iter()
        .all(|l| l.starts_with("2026-01-01T") && l.contains(" quality=")));
}

/// Writes a small valid file and returns its bytes and the readings it holds (as JSON).
fn sample_file(dir: &Path) -> (Vec<u8>, Vec<Value>) {
    run(
        dir,
        &[
            "--seed",
            "9",
            "--producers",
            "1",
            "--per-producer",
            "5",
            "--consumers",
            "1",
        ],
    );
    let path = dir.join("consumer-0.rdg");
    let (readings, out) = read_json(std::slice::from_ref(&path));
    assert!(out.status.success());
    assert_eq!(readings.len(), 5);
    (fs::read(&path).unwrap(), readings)
}

/// Reads one file with the given bytes; returns the readings kept, stderr and success.
fn read_bytes(dir: &Path, name: &str, bytes: &[u8]) -> (Vec<Value>, String, bool) {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    let (readings, out) = read_json(&[path]);
    (readings, text(&out.stderr), out.status.success())
}

/// The damage offset in a reader's report.
fn damage_offset(stderr: &str) -> u64 {
    let at = stderr.find("damaged from byte ").expect("a damage report") + 18;
    stderr[at..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("an offset")
}

#[test]
fn truncated_files_keep_what_precedes_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, readings) = sample_file(dir.path());
    // Each record is 4 + payload + 4 bytes; find where each starts by walking the lengths.
    let mut starts = vec![8_usize];
    for _ in 0..5 {
        let at = *starts.last().unwrap();
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        starts.push(at + 8 + len);
    }
    for cut in [
        1,
        7,
        8,
        9,
        starts[2],
        starts[2] + 5,
        starts[5],
        bytes.len() - 1,
    ] {
        let (kept, stderr, ok) = read_bytes(dir.path(), "cut.rdg", &bytes[..cut]);
        assert!(!ok, "a file cut at {cut} is reported as damaged");
        let whole = starts
            .iter()
            .filter(|&&s| s <= cut)
            .count()
            .saturating_sub(1);
        let whole = if cut < 8 { 0 } else { whole };
        assert_eq!(kept, readings[..whole], "cut at {cut}");
        let want = if cut < 8 { 0 } else { starts[whole] };
        assert_eq!(
            damage_offset(&stderr),
            want as u64,
            "cut at {cut}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("{whole} readings, then damaged")),
            "{stderr}"
        );
    }
}

#[test]
fn bit_flips_are_caught_at_the_damaged_record() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, readings) = sample_file(dir.path());
    let second = 8 + 8 + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    for byte in [second, second + 3, second + 6, second + 12, bytes.len() - 3] {
        for bit in [0, 5] {
            let mut bad = bytes.clone();
            bad[byte] ^= 1 << bit;
            let (kept, stderr, ok) = read_bytes(dir.path(), "flip.rdg", &bad);
            assert!(!ok, "flip at byte {byte} bit {bit} noticed");
            assert_eq!(kept, readings[..kept.len()]);
            let offset = damage_offset(&stderr);
            assert!(offset <= byte as u64, "{stderr}");
            if byte < bytes.len() - 16 {
                assert_eq!(offset, second as u64, "{stderr}");
                assert_eq!(kept.len(), 1);
            }
        }
    }
}

#[test]
fn empty_foreign_and_missing_files_are_reported_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, stderr, ok) = read_bytes(dir.path(), "empty.rdg", b"");
    assert!(!ok && kept.is_empty());
    assert!(stderr.contains("empty file"), "{stderr}");

    let (kept, stderr, ok) = read_bytes(dir.path(), "notes.txt", b"just some text, not readings\n");
    assert!(!ok && kept.is_empty());
    assert!(stderr.contains("not a readings file"), "{stderr}");
    assert_eq!(damage_offset(&stderr), 0);

    let mut pseudo_random = Vec::new();
    let mut x = 88172645463325252_u64;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pseudo_random.push(x as u8);
    }
    // Random bytes behind a valid header: damage, no panic.
    let mut with_header = b"RMRDGS\x01\x00".to_vec();
    with_header.extend_from_slice(&pseudo_random);
    let (_, stderr, ok) = read_bytes(dir.path(), "noise.rdg", &with_header);
    assert!(!ok);
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A missing file among good ones: the good ones are still read, the exit is non-zero.
    let (_, readings) = sample_file(dir.path());
    let good = dir.path().join("consumer-0.rdg");
    let missing = dir.path().join("no-such-file.rdg");
    let (got, out) = read_json(&[missing, good]);
    assert!(!out.status.success());
    assert_eq!(got, readings);
    assert!(text(&out.stderr).contains("cannot open"));
}

#[test]
fn consumers_stop_after_the_idle_timeout() {
    // One slow producer: after its first reading it pauses far longer than the consumers
    // wait, so they all give up; the run reports it and fails, and the files stay readable.
    let dir = tempfile::tempdir().unwrap();
    let out = ringmarket(&[
        "readings",
        "run",
        "--out",
        dir.path().to_str().unwrap(),
        "--producers",
        "1",
        "--per-producer",
        "3",
        "--consumers",
        "2",
        "--period-ms",
        "2000",
        "--idle-timeout",
        "0.5",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("2 consumer(s) stopped after waiting"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 3 readings written"), "{stderr}");
    let (readings, read) = read_json(&consumer_files(dir.path()));
    assert!(read.status.success(), "{}", text(&read.stderr));
    assert_eq!(readings.len(), 1);
    assert_eq!(readings[0]["sequence"], 0);
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for bad in [
        vec!["--buffer", "0"],
        vec!["--producers", "0"],
        vec!["--consumers", "0"],
        vec!["--idle-timeout", "0"],
        vec!["--idle-timeout", "-1"],
        vec!["--idle-timeout", "soon"],
        vec!["--per-producer", "-5"],
    ] {
        let mut args = vec!["readings", "run", "--out", d];
        args.extend(bad.iter().copied());
        let out = ringmarket(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?} refused by the parser");
        assert!(!text(&out.stderr).contains("panicked"));
    }
    // An output path that is a file.
    let file = dir.path().join("plain");
    fs::write(&file, "x").unwrap();
    let out = ringmarket(&["readings", "run", "--out", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("output folder"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_buffer_too_large_to_allocate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for queue in ["ring", "mutex"] {
        for buffer in ["1048577", "1000000000", "4294967295"] {
            let out = ringmarket(&[
                "readings", "run", "--out", d, "--queue", queue, "--buffer", buffer,
            ]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{queue} {buffer}: {err}");
            assert!(
                err.contains("--buffer") && err.contains("1048576"),
                "{queue} {buffer}: {err}"
            );
            assert!(!err.contains("memory allocation"), "{err}");
        }
    }
    assert!(consumer_files(dir.path()).is_empty());
    // The bound itself is accepted.
    run(
        dir.path(),
        &[
            "--buffer",
            "1048576",
            "--producers",
            "1",
            "--per-producer",
            "10",
        ],
    );
    check_exactly_once(dir.path(), 1, 10, 3);
}

#[test]
fn a_summary_that_cannot_be_printed_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "readings",
        "run",
        "--out",
        dir.path().to_str().unwrap(),
        "--seed",
        "1",
        "--per-producer",
        "100",
    ];
    // A full device: a clear error and a non-zero exit.
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ringmarket"))
        .args(args)
        .stdout(full)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: writing to stdout"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A reader that has gone (`| true`): quiet, and the run's own result.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringmarket"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{}: {err}", out.status);
    assert!(err.is_empty(), "{err}");
    check_exactly_once(dir.path(), 7, 100, 3);
}

/// The names and contents of the files in `dir`.
fn snapshot(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).ok())
        })
        .collect()
}

#[test]
fn a_failed_run_leaves_the_old_files_intact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let small = ["--producers", "2", "--per-producer", "50"];
    let mut args = vec!["--seed", "1"];
    args.extend(small);
    run(dir.path(), &args);
    // A later consumer's file is a folder: nothing may be replaced.
    fs::create_dir(dir.path().join("consumer-3.rdg")).unwrap();
    let before = snapshot(dir.path());
    assert_eq!(before.len(), 4);
    let mut args = vec![
        "readings",
        "run",
        "--out",
        d,
        "--seed",
        "2",
        "--consumers",
        "4",
    ];
    args.extend(small);
    let out = ringmarket(&args);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("consumer-3.rdg"), "{err}");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "old files changed, or temporaries left"
    );

    fs::remove_dir(dir.path().join("consumer-3.rdg")).unwrap();
    let before = snapshot(dir.path());
    assert_eq!(before.len(), 3);

    // Too many open files, after some consumer files were opened.
    let script = format!(
        "ulimit -n 24 && exec '{}' readings run --out '{d}' --seed 2 --consumers 100",
        env!("CARGO_BIN_EXE_ringmarket")
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("open files"), "{err}");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "old files changed, or temporaries left"
    );

    // A run that succeeds replaces them, and leaves no temporary behind.
    let mut args = vec!["--seed", "2"];
    args.extend(small);
    run(dir.path(), &args);
    let after = snapshot(dir.path());
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        ["consumer-0.rdg", "consumer-1.rdg", "consumer-2.rdg"]
    );
    // Which consumer got which readings depends on the threads (one may get none in both
    // runs): compare the set of files, and check that they hold the new run's readings.
    assert_ne!(after, before);
    check_exactly_once(dir.path(), 2, 50, 3);
}
