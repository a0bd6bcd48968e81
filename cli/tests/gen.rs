//! `ringmarket gen`: deterministic, valid scenarios.

mod common;

use common::{ringmarket, stderr};

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
fn bad_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    let out = ringmarket(&["gen", "-o", p.to_str().unwrap(), "--products", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--products"));
}
