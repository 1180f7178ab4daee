//! The fuzz targets' corpus as ordinary tests, on stable: every file in `fuzz/corpus/<target>/`
//! goes through the same checks as the fuzz target (they live in `fuzz/src/checks/`), every fixed
//! regression in `fuzz/regressions/<target>/` goes through them strictly, and the reproducer of
//! each open bug listed in `fuzz/regressions/open-bugs.txt` must still fail until it is fixed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/checks/mod.rs"]
mod checks;

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use checks::seeds::{self, Recorded, Seed};
use checks::{Mode, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir` (none if it does not exist), sorted by name, without hidden files and
/// READMEs.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, path)
        })
        .filter(|(name, _)| !name.starts_with('.') && !name.starts_with("README"))
        .map(|(name, path)| (name, fs::read(&path).unwrap()))
        .collect();
    files.sort();
    files
}

/// `target/file` of every open bug's reproducer, from `fuzz/regressions/open-bugs.txt`.
fn open_bugs() -> Vec<String> {
    let Ok(text) = fs::read_to_string(fuzz_dir().join("regressions/open-bugs.txt")) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Runs `target`'s checks on `bytes`; the panic message if one failed.
fn failure(target: &str, bytes: &[u8], mode: Mode) -> Option<String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        assert!(checks::run(target, bytes, mode), "unknown target {target}");
    }));
    outcome.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic".to_owned())
    })
}

fn recorded() -> Vec<Recorded> {
    common::recorded_responses()
        .into_iter()
        .map(|case| Recorded {
            name: case.name,
            status: case.response.status().as_u16(),
            headers: case
                .response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect(),
            body: case.response.body().clone(),
        })
        .collect()
}

fn generated() -> Vec<Seed> {
    let recorded = recorded();
    assert_eq!(recorded.len(), 26, "the recorded answers");
    seeds::all(&recorded)
}

fn seed_path(seed: &Seed) -> PathBuf {
    fuzz_dir().join(seed.dir).join(seed.target).join(&seed.name)
}

#[test]
fn every_target_has_a_seed_corpus_with_every_recorded_answer() {
    for target in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(target));
        assert!(corpus.len() >= 5, "{target}: {} seeds", corpus.len());
        let recorded = corpus
            .iter()
            .filter(|(name, _)| name.starts_with("seed-recorded-"))
            .count();
        if matches!(target, "token_response" | "error_body") {
            assert_eq!(recorded, 26, "{target}: the recorded Logto answers");
        }
    }
}

#[test]
fn the_corpus_passes_the_fuzz_targets_checks() {
    let mut failures = Vec::new();
    let mut count = 0;
    for target in TARGETS {
        for (name, bytes) in files(&fuzz_dir().join("corpus").join(target)) {
            count += 1;
            if let Some(message) = failure(target, &bytes, Mode::SkipKnownBugs) {
                failures.push(format!("corpus/{target}/{name}: {message}"));
            }
        }
    }
    assert!(count > 0, "no corpus");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixed_regressions_pass_every_check() {
    let open = open_bugs();
    let mut failures = Vec::new();
    for target in TARGETS {
        for (name, bytes) in files(&fuzz_dir().join("regressions").join(target)) {
            if open.contains(&format!("{target}/{name}")) {
                continue;
            }
            if let Some(message) = failure(target, &bytes, Mode::Strict) {
                failures.push(format!("regressions/{target}/{name}: {message}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn open_bugs_still_reproduce() {
    let mut fixed = Vec::new();
    for entry in open_bugs() {
        let (target, _) = entry
            .split_once('/')
            .unwrap_or_else(|| panic!("open-bugs.txt: {entry:?} is not target/file"));
        let path = fuzz_dir().join("regressions").join(&entry);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            failure(target, &bytes, Mode::SkipKnownBugs).is_none(),
            "{entry}: the fuzz target must step around this open bug"
        );
        if failure(target, &bytes, Mode::Strict).is_none() {
            fixed.push(entry);
        }
    }
    assert!(
        fixed.is_empty(),
        "fixed (see fuzz/README.md, \"When a bug is fixed\"): {fixed:?}"
    );
}

#[test]
fn the_generated_seeds_are_up_to_date() {
    let mut stale = Vec::new();
    for seed in generated() {
        let path = seed_path(&seed);
        if fs::read(&path).ok().as_deref() != Some(seed.bytes.as_slice()) {
            stale.push(format!("{}/{}/{}", seed.dir, seed.target, seed.name));
        }
    }
    assert!(
        stale.is_empty(),
        "stale or missing seeds {stale:?}: regenerate them with \
         `cargo test -p logto-m2m-proto --test fuzz_corpus -- --ignored write_seed_files`"
    );
}

/// Writes the generated seeds and reproducers (run it after changing an input format or a seed).
#[test]
#[ignore = "writes fuzz/corpus and fuzz/regressions"]
fn write_seed_files() {
    for seed in generated() {
        let path = seed_path(&seed);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &seed.bytes).unwrap();
    }
}
