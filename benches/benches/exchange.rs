//! `exchange`: one client-credentials exchange without a network, ours against oauth2 5.
//!
//! Both sides build a `client_secret_basic` request for the same resource and scopes, hand it to
//! the same in-memory transport (a closure that answers with a copy of the recorded "good basic"
//! Logto response), and parse the answer into a token:
//!
//! - ours: `TokenRequest::to_http`, the transport, `TokenRequest::parse_response` (what the token
//!   managers do for each fetch), and the same with `TokenRequest::new` first (checking the
//!   parameters again each time, as oauth2 builds its request from scratch each time);
//! - oauth2: `BasicClient::exchange_client_credentials().add_scope(..).add_extra_param("resource",
//!   ..).request(&transport)`.
//!
//! Before measuring, the two requests are checked to carry the same form parameters and the same
//! `Authorization` header, and the two tokens to be the same.
#![allow(clippy::expect_used)] // A bench that cannot set itself up has nothing to measure.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::Criterion;
use logto_m2m_benches::{
    GOOD_BASIC, NOT_MEASURED, Recorder, Summary, Verdict, config, format_ns, interleaved_median,
    oauth2_client, oauth2_request, params, recorded_response, replay,
};
use logto_m2m_proto::TokenRequest;
use logto_m2m_proto::http::{Request, Response, header};
use oauth2::TokenResponse;
use oauth2::basic::BasicTokenType;

const SAMPLE_SIZE: usize = 20;
/// The target: ours at least this many times faster than oauth2.
const TARGET_SPEEDUP: f64 = 3.0;

// Benchmark ids (criterion's group is `exchange`).
const OURS: &str = "ours";
const OURS_WITH_NEW: &str = "ours_with_new";
const OAUTH2: &str = "oauth2";
const TRANSPORT_ONLY: &str = "transport_only";
const OURS_NEW_ONLY: &str = "ours_new_only";
const OURS_TO_HTTP_ONLY: &str = "ours_to_http_only";
const OURS_PARSE_ONLY: &str = "ours_parse_only";
const OAUTH2_BUILD_ONLY: &str = "oauth2_build_only";

/// The error of a transport that refuses every request: what lets the bench time oauth2's request
/// building alone (the request is built, handed over and dropped; nothing is parsed).
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

impl std::error::Error for Refused {}

fn main() {
    let recorder = Recorder::new(SAMPLE_SIZE);
    let mut criterion = logto_m2m_benches::criterion(SAMPLE_SIZE);
    let interleaved = bench(&mut criterion, &recorder);
    criterion.final_summary();
    summary(&recorder, interleaved).print();
}

/// The form parameters, sorted, and the `Authorization` header of a request.
fn essentials(request: &Request<Vec<u8>>) -> (Vec<(String, String)>, Option<String>) {
    let mut form: Vec<(String, String)> = form_pairs(request.body());
    form.sort();
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (form, authorization)
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Checks that both sides send the same thing and get the same token.
fn check_equivalence(request: &TokenRequest, response: &Response<Vec<u8>>) {
    let client = oauth2_client().expect("a valid token URL");
    let captured = std::sync::Mutex::new(None);
    let capture = |sent: Request<Vec<u8>>| -> Result<Response<Vec<u8>>, std::io::Error> {
        *captured.lock().expect("not poisoned") = Some(sent);
        Ok(response.clone())
    };
    let theirs = oauth2_request(&client)
        .request(&capture)
        .expect("oauth2 parses the recorded answer");
    let their_request = captured
        .lock()
        .expect("not poisoned")
        .take()
        .expect("oauth2 sent a request");

    let our_request = request.to_http();
    assert_eq!(
        essentials(&our_request),
        essentials(&their_request),
        "both sides must send the same form parameters and Authorization header"
    );
    assert_eq!(our_request.uri(), their_request.uri());
    assert_eq!(our_request.method(), their_request.method());

    let ours = request
        .parse_response(response, Instant::now(), SystemTime::now())
        .expect("ours parses the recorded answer");
    assert_eq!(
        ours.access_token().expose_secret(),
        theirs.access_token().secret()
    );
    assert_eq!(Some(ours.lifetime()), theirs.expires_in());
    assert_eq!(theirs.token_type(), &BasicTokenType::Bearer);
    let their_scopes: Vec<String> = theirs
        .scopes()
        .map(|scopes| scopes.iter().map(|scope| scope.to_string()).collect())
        .unwrap_or_default();
    let our_scopes: Vec<String> = ours.granted_scopes().iter().map(str::to_owned).collect();
    assert_eq!(our_scopes, their_scopes);
}

/// Times `iters` runs of `op`.
fn timed(iters: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed()
}

/// Rounds and exchanges per side and round of the interleaved comparison.
const ROUNDS: usize = 41;
const BLOCK: u64 = 2_000;

/// Ours and oauth2 interleaved, `BLOCK` exchanges each per round: the median of the per-round
/// ratios oauth2 time / our time.
fn interleaved_speedup(mut ours: impl FnMut(), mut oauth2: impl FnMut()) -> Option<f64> {
    interleaved_median(
        ROUNDS,
        || timed(BLOCK, &mut ours),
        || timed(BLOCK, &mut oauth2),
        |ours, oauth2| oauth2 / ours,
    )
}

/// Runs the criterion benchmarks, then the interleaved comparison; returns the latter's speed-ups
/// (`to_http` + `parse_response`, and with `TokenRequest::new`).
fn bench(criterion: &mut Criterion, recorder: &Recorder) -> (Option<f64>, Option<f64>) {
    let response = recorded_response(GOOD_BASIC).expect("the recorded good basic answer");
    let config = config().expect("a valid configuration");
    let request = TokenRequest::new(&config, params()).expect("valid parameters");
    check_equivalence(&request, &response);

    // One transport closure, the same for both sides.
    let transport = replay(response);
    let client = oauth2_client().expect("a valid token URL");
    let params = params();

    let ours = || {
        let answer = transport(request.to_http());
        let token =
            answer.map(|answer| request.parse_response(&answer, Instant::now(), SystemTime::now()));
        black_box(token).ok();
    };
    let ours_with_new = || {
        let Ok(request) = TokenRequest::new(&config, params.clone()) else {
            return;
        };
        let answer = transport(request.to_http());
        let token =
            answer.map(|answer| request.parse_response(&answer, Instant::now(), SystemTime::now()));
        black_box(token).ok();
    };
    let oauth2 = || {
        let token = oauth2_request(&client).request(&transport);
        black_box(token).ok();
    };

    let mut group = criterion.benchmark_group("exchange");
    for (id, op) in [
        (OURS, &ours as &dyn Fn()),
        (OURS_WITH_NEW, &ours_with_new),
        (OAUTH2, &oauth2),
    ] {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| recorder.record(id, iters, timed(iters, op)));
        });
    }
    group.bench_function(TRANSPORT_ONLY, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(transport(Request::new(Vec::new()))).ok();
            }
            recorder.record(TRANSPORT_ONLY, iters, start.elapsed())
        });
    });

    // The parts, to see where the time goes.
    group.bench_function(OURS_NEW_ONLY, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(TokenRequest::new(&config, params.clone())).ok();
            }
            recorder.record(OURS_NEW_ONLY, iters, start.elapsed())
        });
    });
    group.bench_function(OURS_TO_HTTP_ONLY, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(request.to_http());
            }
            recorder.record(OURS_TO_HTTP_ONLY, iters, start.elapsed())
        });
    });
    let answer = recorded_response(GOOD_BASIC).expect("the recorded good basic answer");
    group.bench_function(OURS_PARSE_ONLY, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(request.parse_response(&answer, Instant::now(), SystemTime::now())).ok();
            }
            recorder.record(OURS_PARSE_ONLY, iters, start.elapsed())
        });
    });
    let refuse = |sent: Request<Vec<u8>>| -> Result<Response<Vec<u8>>, Refused> {
        drop(black_box(sent));
        Err(Refused)
    };
    group.bench_function(OAUTH2_BUILD_ONLY, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let refused = oauth2_request(&client).request(&refuse);
                black_box(refused).ok();
            }
            recorder.record(OAUTH2_BUILD_ONLY, iters, start.elapsed())
        });
    });
    group.finish();

    // Only after a real run of both sides (not when filtered out, nor under `--test`).
    let measured = |id| recorder.median_ns(id).is_some();
    if measured(OURS) && measured(OURS_WITH_NEW) && measured(OAUTH2) {
        (
            interleaved_speedup(ours, oauth2),
            interleaved_speedup(ours_with_new, oauth2),
        )
    } else {
        (None, None)
    }
}

fn summary(recorder: &Recorder, interleaved: (Option<f64>, Option<f64>)) -> Summary {
    let mut summary = Summary::new(
        "exchange: build a client-credentials request, answer it in memory, parse the recorded Logto response",
    );
    let ours = recorder.median_ns(OURS);
    let ours_with_new = recorder.median_ns(OURS_WITH_NEW);
    let oauth2 = recorder.median_ns(OAUTH2);
    let transport = recorder.median_ns(TRANSPORT_ONLY);
    for (label, value) in [
        ("ours: to_http + transport + parse_response", ours),
        (
            "ours: TokenRequest::new + to_http + transport + parse_response",
            ours_with_new,
        ),
        ("oauth2 5: exchange_client_credentials().request", oauth2),
        ("in-memory transport alone (in every row above)", transport),
    ] {
        let shown = value.map_or_else(
            || NOT_MEASURED.to_owned(),
            |ns| format!("{} per exchange", format_ns(ns)),
        );
        summary.row(label, shown, "", Verdict::Info);
    }
    let oauth2_build = recorder.median_ns(OAUTH2_BUILD_ONLY);
    for (label, value) in [
        (
            "part: ours, TokenRequest::new",
            recorder.median_ns(OURS_NEW_ONLY),
        ),
        ("part: ours, to_http", recorder.median_ns(OURS_TO_HTTP_ONLY)),
        (
            "part: ours, parse_response",
            recorder.median_ns(OURS_PARSE_ONLY),
        ),
        (
            "part: oauth2, building the request (refused by the transport)",
            oauth2_build,
        ),
    ] {
        let shown = value.map_or_else(|| NOT_MEASURED.to_owned(), format_ns);
        summary.row(label, shown, "", Verdict::Info);
    }
    if let (Some(total), Some(build), Some(transport)) = (oauth2, oauth2_build, transport) {
        summary.row(
            "part: oauth2, parsing (derived: exchange − building − transport)",
            format_ns(total - build - transport),
            "",
            Verdict::Info,
        );
    }
    let speedup_row = |summary: &mut Summary, label: &str, speedup: Option<f64>| match speedup {
        Some(speedup) => summary.row(
            label,
            format!("{speedup:.2}×"),
            format!("≥ {TARGET_SPEEDUP:.0}×"),
            Verdict::of(speedup >= TARGET_SPEEDUP),
        ),
        None => summary.row(label, NOT_MEASURED, "", Verdict::Info),
    };
    let ratio = |ours: Option<f64>| match (ours, oauth2) {
        (Some(ours), Some(oauth2)) if ours > 0.0 => Some(oauth2 / ours),
        _ => None,
    };
    speedup_row(
        &mut summary,
        "speed-up vs oauth2, to_http + parse_response (criterion medians)",
        ratio(ours),
    );
    speedup_row(
        &mut summary,
        "speed-up vs oauth2, with TokenRequest::new (criterion medians)",
        ratio(ours_with_new),
    );
    speedup_row(
        &mut summary,
        &format!(
            "speed-up vs oauth2, to_http + parse_response (interleaved, median of {ROUNDS} rounds)"
        ),
        interleaved.0,
    );
    speedup_row(
        &mut summary,
        &format!(
            "speed-up vs oauth2, with TokenRequest::new (interleaved, median of {ROUNDS} rounds)"
        ),
        interleaved.1,
    );
    summary
}
