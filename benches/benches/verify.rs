//! `verify`: one access token verified with a cached key, ours (`logto-m2m-verify`) against
//! `jsonwebtoken` 10 on its `rust_crypto` backend doing the same checks (see
//! `logto_m2m_benches::verify`).
//!
//! Two tokens: ES384 (Logto's default; the P-384 signature check dominates both sides) and
//! RS256 (a tenant rotated to RSA; the check is cheap, so the rest shows). Before measuring, both
//! sides are checked to accept each token with the same claims, and to refuse it once its claims
//! are changed. Then criterion times each, and an interleaved run gives
//! the ratio (the two sides alternate, so load from elsewhere weighs on both alike).
#![allow(clippy::expect_used, clippy::panic)] // A bench that cannot set itself up has nothing to measure.

use std::hint::black_box;
use std::time::{Duration, Instant};

use logto_m2m_benches::verify::{KeyKind, VerifySetup, jsonwebtoken, ours, setup_for};
use logto_m2m_benches::{NOT_MEASURED, Recorder, Summary, Verdict, format_ns, interleaved_median};

const SAMPLE_SIZE: usize = 20;
const OURS: &str = "ours";
const JSONWEBTOKEN: &str = "jsonwebtoken";
/// Rounds and verifications per side and round of the interleaved comparison.
const ROUNDS: usize = 40;
const BLOCK: u32 = 200;

fn main() {
    let cases = [
        ("ES384", setup_for(KeyKind::Es384).expect("the ES384 setup")),
        ("RS256", setup_for(KeyKind::Rs256).expect("the RS256 setup")),
    ];
    for (_, setup) in &cases {
        same_verdicts(setup);
    }

    let recorder = Recorder::new(SAMPLE_SIZE);
    let mut criterion = logto_m2m_benches::criterion(SAMPLE_SIZE);
    {
        let mut group = criterion.benchmark_group("verify");
        for (alg, setup) in &cases {
            let ours_id = format!("{OURS}_{alg}");
            group.bench_function(&ours_id, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(ours(black_box(setup))).expect("valid");
                    }
                    recorder.record(&ours_id, iters, start.elapsed())
                });
            });
            let jwt_id = format!("{JSONWEBTOKEN}_{alg}");
            group.bench_function(&jwt_id, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(jsonwebtoken(black_box(setup))).expect("valid");
                    }
                    recorder.record(&jwt_id, iters, start.elapsed())
                });
            });
        }
        group.finish();
    }
    criterion.final_summary();

    let quick = std::env::args().any(|a| a == "--test");
    let mut summary =
        Summary::new("verify: an access token with a cached key, ours against jsonwebtoken 10");
    let median = |id: &str| {
        recorder
            .median_ns(id)
            .map_or_else(|| NOT_MEASURED.to_owned(), format_ns)
    };
    for (alg, setup) in &cases {
        let ratio = (!quick)
            .then(|| {
                interleaved_median(
                    ROUNDS,
                    || timed(|| drop(black_box(ours(setup)))),
                    || timed(|| drop(black_box(jsonwebtoken(setup)))),
                    |ours_s, jwt_s| jwt_s / ours_s,
                )
            })
            .flatten();
        summary.row(
            format!("{alg}: logto-m2m-verify (median)"),
            median(&format!("{OURS}_{alg}")),
            "",
            Verdict::Info,
        );
        summary.row(
            format!("{alg}: jsonwebtoken 10, rust_crypto (median)"),
            median(&format!("{JSONWEBTOKEN}_{alg}")),
            "",
            Verdict::Info,
        );
        summary.row(
            format!("{alg}: jsonwebtoken time / ours (interleaved median)"),
            ratio.map_or_else(|| NOT_MEASURED.to_owned(), |r| format!("{r:.2}×")),
            "",
            Verdict::Info,
        );
    }
    summary.print();
}

fn timed(mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..BLOCK {
        op();
    }
    start.elapsed()
}

/// Both sides accept the token with the same claims, and both refuse it with other claims.
fn same_verdicts(setup: &VerifySetup) {
    let a = ours(setup).expect("ours accepts the token");
    let b = jsonwebtoken(setup).expect("jsonwebtoken accepts the token");
    assert_eq!(a.subject(), b.sub);
    assert_eq!(a.client_id(), b.client_id.as_deref());
    assert_eq!(a.audience(), b.aud);
    assert_eq!(a.scopes().join(" "), b.scope);
    assert_eq!(a.jwt_id(), b.jti.as_deref());
    assert_eq!(a.organization_id(), b.organization_id.as_deref());
    let exp = a
        .expires_at()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_secs();
    assert_eq!(exp, b.exp);
    assert!(b.iat.is_some());

    let (signing_input, signature) = setup.token.rsplit_once('.').expect("a JWS");
    let (header, _) = signing_input.split_once('.').expect("a JWS");
    let forged = VerifySetup {
        token: format!("{header}.eyJzdWIiOiJ4In0.{signature}"),
        ..setup_clone(setup)
    };
    assert!(ours(&forged).is_err() && jsonwebtoken(&forged).is_err());
}

fn setup_clone(setup: &VerifySetup) -> VerifySetup {
    VerifySetup {
        token: setup.token.clone(),
        keys: setup.keys.clone(),
        validation: setup.validation.clone(),
        required: setup.required.clone(),
        jwt_key: setup.jwt_key.clone(),
        jwt_validation: setup.jwt_validation.clone(),
        kid: setup.kid.clone(),
    }
}
