//! Who is at fault for a failure, and what `Retry-After` a recorded failure reports.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    CachePolicy, Error, ErrorKind, Jitter, Poll, TokenCache, TokenParams, TransportError,
    TransportErrorKind,
};

fn transport(kind: TransportErrorKind) -> Error {
    Error::Transport(TransportError::new(kind, "refused by the transport"))
}

#[test]
fn an_answer_the_transport_refused_is_the_servers_doing_not_misuse() {
    for kind in [
        TransportErrorKind::Redirect,
        TransportErrorKind::BodyTooLarge,
        TransportErrorKind::HeadersTooLarge,
    ] {
        let error = transport(kind);
        assert_eq!(error.kind(), ErrorKind::ResponseRefused, "{kind:?}");
        assert_ne!(error.kind(), ErrorKind::Misuse, "{kind:?}");
        // The same request gets the same answer: not retried on its own.
        assert!(!error.is_retryable(), "{kind:?}");
    }
}

#[test]
fn transport_failures_keep_their_classification() {
    for kind in [
        TransportErrorKind::Connect,
        TransportErrorKind::Timeout,
        TransportErrorKind::Io,
        TransportErrorKind::Other,
    ] {
        assert_eq!(transport(kind).kind(), ErrorKind::Transient, "{kind:?}");
    }
    // A request that cannot be sent as configured (a refused URL) is the caller's.
    assert_eq!(
        transport(TransportErrorKind::InvalidRequest).kind(),
        ErrorKind::Misuse
    );
}

fn throttled(retry_after_secs: u64) -> Response<Vec<u8>> {
    Response::builder()
        .status(429)
        .header("content-type", "application/json")
        .header("retry-after", retry_after_secs.to_string())
        .body(br#"{"code":"auth.exceed_token_limit","message":"slow down"}"#.to_vec())
        .unwrap()
}

#[test]
fn retry_after_reports_the_delay_the_state_machine_honours() {
    let policy = CachePolicy::default().with_retry_after_max(Duration::from_secs(600));
    let mut cache = TokenCache::new(policy);
    let request = common::request(TokenParams::for_resource(common::API));
    let (now, wall_now) = (Instant::now(), SystemTime::now());
    let Poll::Fetch(fetch) = cache.poll(&request, now, wall_now) else {
        panic!("an empty cache fetches")
    };

    // A hostile or broken server asks for 10^12 s (some 31,700 years).
    let returned = cache
        .handle_response(
            fetch.ticket,
            now,
            wall_now,
            Jitter::NONE,
            &throttled(1_000_000_000_000),
        )
        .unwrap_err();
    let Poll::Failed { error, retry_at } = cache.poll(&request, now, wall_now) else {
        panic!("a failure is recorded")
    };

    let honoured = retry_at.duration_since(now);
    assert_eq!(honoured, Duration::from_secs(600));
    assert_eq!(error.retry_after(), Some(honoured));
    assert_eq!(returned.retry_after(), Some(honoured));
    assert_eq!(returned.kind(), ErrorKind::Throttled);
}

#[test]
fn a_retry_after_within_the_cap_is_reported_as_sent() {
    let mut cache = TokenCache::new(CachePolicy::default());
    let request = common::request(TokenParams::for_resource(common::API));
    let (now, wall_now) = (Instant::now(), SystemTime::now());
    let Poll::Fetch(fetch) = cache.poll(&request, now, wall_now) else {
        panic!("an empty cache fetches")
    };
    let returned = cache
        .handle_response(fetch.ticket, now, wall_now, Jitter::NONE, &throttled(120))
        .unwrap_err();
    assert_eq!(returned.retry_after(), Some(Duration::from_secs(120)));
}
