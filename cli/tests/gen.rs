//! `ringmarket gen`: deterministic, valid, live scenarios whose expected output is right.

mod common;

use common::{normalize, ringmarket, run_ok, stderr, MODES};

fn generate(dir: &std::path::Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let prefix = dir.join(name);
    let mut all = vec!["gen", "-o", prefix.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = ringmarket(&all);
    assert!(out.status.success(), "gen {args:?}: {}", stderr(&out));
    prefix
}

#[test]
fn same_seed_same_files_other_seed_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = generate(dir.path(), "a", &["--seed", "5"]);
    let b = generate(dir.path(), "b", &["--seed", "5"]);
    let c = generate(dir.path(), "c", &["--seed", "6"]);
    let read = |p: &std::path::Path, ext: &str| std::fs::read(p.with_extension(ext)).unwrap();
    assert_eq!(read(&a, "json"), read(&b, "json"));
    assert_eq!(read(&a, "in"), read(&b, "in"));
    assert_ne!(read(&a, "json"), read(&c, "json"));
}

#[test]
fn generated_scenarios_finish_with_the_expected_output() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..4 {
        let seed = seed.to_string();
        let p = generate(
            dir.path(),
            &format!("s{seed}"),
            &[
                "--seed",
                &seed,
                "--products",
                "5",
                "--mixed-producers",
                "4",
                "--consumers",
                "12",
                "--queue-size",
                "2",
            ],
        );
        let json = p.with_extension("json");
        let input = p.with_extension("in");
        let reference = p.with_extension("ref.out");
        for mode in MODES {
            let out = run_ok(
                &input,
                &[
                    "--time-scale",
                    "0",
                    "--wait",
                    mode,
                    "--expect",
                    reference.to_str().unwrap(),
                ],
            );
            let want = std::fs::read_to_string(&reference).unwrap();
            assert_eq!(normalize(&out), normalize(&want));
            run_ok(
                &json,
                &[
                    "--time-scale",
                    "0",
                    "--wait",
                    mode,
                    "--expect",
                    json.to_str().unwrap(),
                ],
            );
        }
    }
}

#[test]
fn bad_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    let out = ringmarket(&["gen", "-o", p.to_str().unwrap(), "--products", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--products"));
}

#[test]
fn sizes_beyond_the_bounds_are_refused_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    let p = p.to_str().unwrap();
    for (bad, named) in [
        // Cheap to build without a bound, so this one fails first where bounds are missing.
        (
            vec!["--consumers", "0", "--max-quantity", "1000001"],
            "--max-quantity",
        ),
        (vec!["--max-quantity", "1000000"], "--max-quantity"),
        (vec!["--max-quantity", "1000001"], "--max-quantity"),
        (vec!["--ops", "18446744073709551615"], "--ops"),
        (vec!["--carts", "18446744073709551615"], "--carts"),
        (vec!["--products", "100000000"], "--products"),
        (vec!["--mixed-producers", "100000000"], "--mixed-producers"),
        (vec!["--consumers", "100000000"], "--consumers"),
        (
            vec!["--consumers", "100000", "--carts", "1000", "--ops", "1000"],
            "--ops",
        ),
    ] {
        let mut args = vec!["gen", "-o", p];
        args.extend(bad.iter().copied());
        let out = ringmarket(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains(named), "{bad:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The names and contents of the files in `dir`.
fn snapshot(dir: &std::path::Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).ok())
        })
        .collect();
    files.sort();
    files
}

fn names(files: &[(String, Option<Vec<u8>>)]) -> Vec<&str> {
    files.iter().map(|f| f.0.as_str()).collect()
}

#[test]
fn a_failed_write_leaves_the_old_set_of_files_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let old = generate(dir.path(), "x", &["--seed", "1"]);
    let p = old.to_str().unwrap();
    for blocked in ["in", "ref.out"] {
        // One of the three is a folder: the other two must not be replaced either.
        let blocker = old.with_extension(blocked);
        std::fs::remove_file(&blocker).unwrap();
        std::fs::create_dir(&blocker).unwrap();
        let before = snapshot(dir.path());
        let out = ringmarket(&["gen", "-o", p, "--seed", "2"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("x.{blocked}")), "{err}");
        assert_eq!(
            snapshot(dir.path()),
            before,
            "files changed, or temporaries left"
        );
        std::fs::remove_dir(&blocker).unwrap();
        generate(dir.path(), "x", &["--seed", "1"]);
    }
    // A run that succeeds replaces all three, and leaves no temporary behind.
    let before = snapshot(dir.path());
    generate(dir.path(), "x", &["--seed", "2"]);
    let after = snapshot(dir.path());
    assert_eq!(names(&after), ["x.in", "x.json", "x.ref.out"]);
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(b.1, a.1, "{} not replaced", a.0);
    }
}
