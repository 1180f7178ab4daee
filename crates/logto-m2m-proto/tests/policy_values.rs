//! No policy value can make the core panic: any `CachePolicy` (durations up to `Duration::MAX`,
//! ratios NaN or infinite, `max_keys` 0 or `usize::MAX`) and any `ExpiryPolicy`, with any answer and
//! any clock, give answers, never a panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    CachePolicy, ClientConfig, ExpiryPolicy, Jitter, Poll, TokenCache, TokenParams, TokenRequest,
    TransportError, TransportErrorKind,
};
use proptest::prelude::*;

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::new(u64::MAX - 1, 999_999_999)),
        (0u64..100_000).prop_map(Duration::from_millis),
        any::<u64>().prop_map(Duration::from_secs),
    ]
}

fn ratio() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(-0.0),
        -2.0f64..3.0,
    ]
}

prop_compose! {
    fn cache_policy()(
        margin in duration(),
        refresh in ratio(),
        jitter_ratio in ratio(),
        backoff_initial in duration(),
        backoff_max in duration(),
        retry_after_max in duration(),
        negative in duration(),
        in_flight in duration(),
        max_keys in prop_oneof![Just(0usize), Just(1), Just(usize::MAX), 0usize..4],
    ) -> CachePolicy {
        CachePolicy::default()
            .with_expiry_margin(margin)
            .with_refresh_ratio(refresh)
            .with_refresh_jitter_ratio(jitter_ratio)
            .with_backoff_initial(backoff_initial)
            .with_backoff_max(backoff_max)
            .with_retry_after_max(retry_after_max)
            .with_negative_cache(negative)
            .with_in_flight_timeout(in_flight)
            .with_max_keys(max_keys)
    }
}

fn answer(kind: u8, secs: u64) -> Response<Vec<u8>> {
    let (status, body, retry_after) = match kind % 5 {
        0 => (
            200,
            format!(r#"{{"access_token":"t","expires_in":{secs}}}"#),
            None,
        ),
        1 => (200, r#"{"access_token":"t"}"#.to_owned(), None),
        2 => (
            503,
            r#"{"error":"temporarily_unavailable"}"#.to_owned(),
            Some(secs),
        ),
        3 => (
            429,
            r#"{"code":"auth.exceed_token_limit"}"#.to_owned(),
            Some(secs),
        ),
        _ => (401, r#"{"error":"invalid_client"}"#.to_owned(), None),
    };
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(secs) = retry_after {
        builder = builder.header("retry-after", secs.to_string());
    }
    builder.body(body.into_bytes()).unwrap()
}

/// Polls, answers and moves both clocks (forward by `steps`, the wall clock also back), returning
/// nothing: the test is that nothing panics.
fn run(policy: CachePolicy, expiry: ExpiryPolicy, steps: &[(u8, u64, u64, f64)]) {
    let config = ClientConfig::builder("https://t.logto.app", "app", "secret")
        .expiry_policy(expiry)
        .build()
        .unwrap();
    let requests: Vec<TokenRequest> = ["https://a.example", "https://b.example"]
        .iter()
        .map(|r| TokenRequest::new(&config, TokenParams::for_resource(*r)).unwrap())
        .collect();
    let mut cache = TokenCache::new(policy);
    let mut now = Instant::now();
    let mut wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for (i, &(kind, secs, advance_ms, jitter)) in steps.iter().enumerate() {
        let request = &requests[i % requests.len()];
        let jitter = Jitter::new(jitter);
        match cache.poll(request, now, wall) {
            Poll::Fetch(fetch) | Poll::ReadyAndRefresh { fetch, .. } => {
                if kind == 255 {
                    let error = TransportError::new(TransportErrorKind::Timeout, "timeout");
                    let _ = cache.handle_transport_error(fetch.ticket, now, jitter, error);
                } else {
                    let _ =
                        cache.handle_response(fetch.ticket, now, wall, jitter, &answer(kind, secs));
                }
            }
            _ => {}
        }
        let _ = (cache.poll_timeout(), cache.poll_timeout_wall());
        let step = Duration::from_millis(advance_ms);
        now = now.checked_add(step).unwrap_or(now);
        wall = if advance_ms % 7 == 0 {
            wall.checked_sub(step).unwrap_or(wall)
        } else {
            wall.checked_add(step).unwrap_or(wall)
        };
    }
}

#[test]
fn the_longest_backoff_does_not_panic() {
    let policy = CachePolicy::default()
        .with_backoff_initial(Duration::MAX)
        .with_backoff_max(Duration::MAX);
    run(
        policy,
        ExpiryPolicy::default(),
        &[(2, 1, 0, 0.0), (2, 1, 0, 0.0)],
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_policy_value_makes_the_core_panic(
        policy in cache_policy(),
        default_expires_in in duration(),
        max_expires_in in duration(),
        steps in proptest::collection::vec(
            (any::<u8>(), prop_oneof![Just(u64::MAX), 0u64..100_000], 0u64..10_000_000, -1.0f64..2.0),
            1..40,
        ),
    ) {
        let expiry = ExpiryPolicy::default()
            .with_default_expires_in(default_expires_in)
            .with_max_expires_in(max_expires_in);
        run(policy, expiry, &steps);
    }
}
