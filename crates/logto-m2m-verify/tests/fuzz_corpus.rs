//! The `verify_parsers` fuzz target's corpus as an ordinary test, on stable: every file in
//! `fuzz/corpus/verify_parsers/` goes through the target's checks (`fuzz/src/verify.rs`).
//! `write_seed_files` (ignored) writes the seeds: tokens of each algorithm with their key sets,
//! and hostile tokens and key sets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/verify.rs"]
mod verify;

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{claims, jwks_json, key, t0, with};
use logto_m2m_testkit::KeyKind;
use serde_json::json;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/verify_parsers")
}

#[test]
fn the_corpus_passes_the_checks() {
    let mut files: Vec<PathBuf> = fs::read_dir(corpus())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the seeds are in the corpus");
    let mut verified = Vec::new();
    for path in files {
        let bytes = fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| verify::check(&bytes));
        assert!(outcome.is_ok(), "{} fails the checks", path.display());
        if outcome.unwrap() {
            verified.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    // The checks reach a verified token: the valid seeds verify, the hostile ones do not.
    assert_eq!(
        verified,
        [
            "seed-es256",
            "seed-es384",
            "seed-many-keys-valid",
            "seed-organization",
            "seed-rs256"
        ]
        .map(String::from)
    );
}

#[test]
fn the_constants_match_the_tests() {
    assert_eq!(verify::ENDPOINT, common::ENDPOINT);
    assert_eq!(verify::RESOURCE, common::RESOURCE);
    assert_eq!(common::secs(t0()), verify::NOW_SECS);
}

fn seed(document: &str, token: &str) -> Vec<u8> {
    let mut bytes = document.as_bytes().to_vec();
    bytes.push(0xFF);
    bytes.extend_from_slice(token.as_bytes());
    bytes
}

#[test]
#[ignore = "writes the seed files of fuzz/corpus/verify_parsers"]
fn write_seed_files() {
    let es384 = key(KeyKind::Es384);
    let es256 = key(KeyKind::Es256);
    let rs256 = key(KeyKind::Rs256);
    let all = jwks_json(&[&es384, &rs256, &es256]);
    let good = claims(t0());
    let org = with(
        with(good.clone(), "aud", json!("urn:logto:organization:org-1")),
        "scope",
        json!("read:items"),
    );
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    let header = |h: serde_json::Value| URL_SAFE_NO_PAD.encode(h.to_string());
    let many = format!(
        r#"{{"keys":[{}]}}"#,
        vec![r#"{"kty":"EC"}"#; 5_000].join(",")
    );
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-es384", seed(&all, &es384.sign(&good).unwrap())),
        ("seed-es256", seed(&all, &es256.sign(&good).unwrap())),
        ("seed-rs256", seed(&all, &rs256.sign(&good).unwrap())),
        ("seed-organization", seed(&all, &es384.sign(&org).unwrap())),
        (
            "seed-alg-none",
            seed(
                &all,
                &format!(
                    "{}.{payload}.",
                    header(json!({"alg":"none","typ":"at+jwt","kid":es384.kid()}))
                ),
            ),
        ),
        (
            "seed-es384-header-on-rsa",
            seed(
                &all,
                &rs256
                    .sign_with_header(
                        &json!({"alg":"ES384","typ":"at+jwt","kid":rs256.kid()}),
                        &good,
                    )
                    .unwrap(),
            ),
        ),
        (
            "seed-expired",
            seed(
                &all,
                &es384
                    .sign(&claims(t0() - std::time::Duration::from_secs(7200)))
                    .unwrap(),
            ),
        ),
        ("seed-many-keys", seed(&many, &es384.sign(&good).unwrap())),
        (
            "seed-many-keys-valid",
            seed(
                &format!(
                    r#"{{"keys":[{},{}]}}"#,
                    vec![r#"{"kty":"EC"}"#; 14].join(","),
                    es384.jwk()
                ),
                &es384.sign(&good).unwrap(),
            ),
        ),
        (
            "seed-nested-header",
            seed(
                &all,
                &format!(
                    "{}.{payload}.AAAA",
                    URL_SAFE_NO_PAD.encode(format!(
                        r#"{{"alg":"ES384","typ":"at+jwt","kid":"{}","x":{}0{}}}"#,
                        es384.kid(),
                        "[".repeat(200),
                        "]".repeat(200)
                    ))
                ),
            ),
        ),
        ("seed-token-only", es384.sign(&good).unwrap().into_bytes()),
        (
            "seed-oct-key",
            seed(
                r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#,
                "a.b.c",
            ),
        ),
    ];
    fs::create_dir_all(corpus()).unwrap();
    for (name, bytes) in seeds {
        fs::write(corpus().join(name), bytes).unwrap();
    }
}
