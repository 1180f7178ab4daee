//! Expiry holds across a suspend: the monotonic clock (`Instant`) stops while a machine sleeps or a
//! VM is paused, the wall clock does not. With the two injected clocks diverging, a token is never
//! handed out once either says its usable life is over, and a wall clock set back never extends it.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use logto_m2m_proto::http::Response;
use logto_m2m_proto::{CachePolicy, Jitter, Poll, ResponseProblem, Token, TokenCache, TokenParams};

const HOUR: Duration = Duration::from_secs(3600);

fn token_answer() -> Response<Vec<u8>> {
    Response::builder()
        .header("content-type", "application/json")
        .body(br#"{"access_token":"tok","expires_in":3600,"token_type":"Bearer"}"#.to_vec())
        .unwrap()
}

/// A cache holding an hour-long token fetched at `t0` / `w0`.
fn cache_with_token() -> (
    TokenCache,
    logto_m2m_proto::TokenRequest,
    Instant,
    SystemTime,
    Arc<Token>,
) {
    let mut cache = TokenCache::new(CachePolicy::default());
    let request = common::request(TokenParams::for_resource(common::API));
    let (t0, w0) = (
        Instant::now(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    );
    let Poll::Fetch(fetch) = cache.poll(&request, t0, w0) else {
        panic!("an empty cache fetches")
    };
    let token = cache
        .handle_response(fetch.ticket, t0, w0, Jitter::NONE, &token_answer())
        .unwrap();
    (cache, request, t0, w0, token)
}

#[test]
fn a_token_is_not_handed_out_after_a_suspend_longer_than_its_life() {
    let (mut cache, request, t0, w0, token) = cache_with_token();
    assert_eq!(token.sent_at_wall(), w0);
    assert_eq!(token.expires_at_wall(), w0 + HOUR);
    // The machine slept two hours: the monotonic clock says a second went by, the wall clock two
    // hours.
    let (now, wall) = (t0 + Duration::from_secs(1), w0 + 2 * HOUR);
    match cache.poll(&request, now, wall) {
        Poll::Fetch(fetch) => assert_eq!(fetch.ticket.sent_at_wall(), wall),
        other => panic!("an expired token was handed out: {other:?}"),
    }
}

#[test]
fn the_refresh_point_and_the_usable_until_hold_by_the_wall_clock_too() {
    let (mut cache, request, t0, w0, _) = cache_with_token();
    // Usable until w0 + 3540 s, refresh at 0.8 of it: w0 + 2832 s.
    let Poll::Ready {
        fresh_until,
        fresh_until_wall,
        ..
    } = cache.poll(&request, t0, w0)
    else {
        panic!("fresh")
    };
    assert_eq!(fresh_until, t0 + Duration::from_secs(2832));
    assert_eq!(fresh_until_wall, w0 + Duration::from_secs(2832));
    assert_eq!(
        cache.poll_timeout_wall(),
        Some(w0 + Duration::from_secs(2832))
    );
    let just_before = w0 + Duration::from_secs(2831);
    assert!(matches!(
        cache.poll(&request, t0, just_before),
        Poll::Ready { .. }
    ));
    let Poll::ReadyAndRefresh { fetch, .. } =
        cache.poll(&request, t0, w0 + Duration::from_secs(2832))
    else {
        panic!("the wall clock reached the refresh point")
    };
    // The refresh is in flight; the token stops at its wall-clock usable-until.
    assert!(matches!(
        cache.poll(&request, t0, w0 + Duration::from_secs(3539)),
        Poll::Ready { .. }
    ));
    assert!(matches!(
        cache.poll(&request, t0, w0 + Duration::from_secs(3540)),
        Poll::Pending { .. }
    ));
    drop(fetch);
}

#[test]
fn a_wall_clock_set_back_never_extends_a_token_life() {
    let (mut cache, request, t0, w0, _) = cache_with_token();
    let back = w0 - 24 * HOUR;
    assert!(matches!(
        cache.poll(&request, t0 + Duration::from_secs(3539), back),
        Poll::Ready { .. } | Poll::ReadyAndRefresh { .. }
    ));
    assert!(matches!(
        cache.poll(&request, t0 + Duration::from_secs(3540), back),
        Poll::Fetch(_) | Poll::Pending { .. }
    ));
}

#[test]
fn a_token_that_arrives_after_its_wall_clock_usable_until_is_never_handed_out() {
    let mut cache = TokenCache::new(CachePolicy::default());
    let request = common::request(TokenParams::for_resource(common::API));
    let (t0, w0) = (
        Instant::now(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    );
    let Poll::Fetch(fetch) = cache.poll(&request, t0, w0) else {
        panic!("an empty cache fetches")
    };
    // The machine slept while the request was in flight.
    let error = cache
        .handle_response(
            fetch.ticket,
            t0,
            w0 + 2 * HOUR,
            Jitter::NONE,
            &token_answer(),
        )
        .unwrap_err();
    let logto_m2m_proto::Error::InvalidResponse(invalid) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*invalid.problem(), ResponseProblem::ExpiredOnArrival);
    assert!(matches!(
        cache.poll(&request, t0, w0 + 2 * HOUR),
        Poll::Failed { .. }
    ));
}
