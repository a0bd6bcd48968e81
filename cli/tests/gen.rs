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
