//! The one-call constructors take the transport's and the manager's options in one chain, and each
//! option reaches the part it sets.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use logto_m2m::proto::TransportErrorKind;
use logto_m2m_testkit::http::StatusCode;
use logto_m2m_testkit::{Fault, TestServer, defaults};
use logto_m2m_ureq::{CachePolicy, Error, RetryPolicy, TokenParams};

fn params() -> TokenParams {
    TokenParams::for_resource(defaults::RESOURCE)
}

fn transport_kind(error: &Error) -> TransportErrorKind {
    match error {
        Error::Transport(e) => e.kind(),
        other => panic!("not a transport error: {other}"),
    }
}

#[test]
fn the_timeout_reaches_the_transport() {
    let logto = TestServer::start_default().unwrap();
    logto.inject(Fault::Delay(Duration::from_secs(10)), 1);
    let manager = logto_m2m_ureq::token_manager_builder(
        logto.endpoint(),
        defaults::APP_ID,
        defaults::APP_SECRET,
    )
    .unwrap()
    .timeout(Duration::from_millis(300))
    .retry_policy(RetryPolicy::no_retries())
    .build();
    let started = Instant::now();
    let error = manager.source(params()).unwrap().token().unwrap_err();
    assert_eq!(
        transport_kind(&error),
        TransportErrorKind::Timeout,
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_response_cap_reaches_the_transport() {
    let logto = TestServer::start_default().unwrap();
    logto.inject(Fault::HugeBody(8 * 1024), 1);
    let manager = logto_m2m_ureq::token_manager_builder(
        logto.endpoint(),
        defaults::APP_ID,
        defaults::APP_SECRET,
    )
    .unwrap()
    .max_response_bytes(4 * 1024)
    .build();
    let error = manager.source(params()).unwrap().token().unwrap_err();
    assert_eq!(
        transport_kind(&error),
        TransportErrorKind::BodyTooLarge,
        "{error}"
    );
    // Under the default 64 KiB cap, the same answer is a token.
    logto.inject(Fault::HugeBody(8 * 1024), 1);
    let default =
        logto_m2m_ureq::token_manager(logto.endpoint(), defaults::APP_ID, defaults::APP_SECRET)
            .unwrap();
    assert!(default.source(params()).unwrap().token().is_ok());
}

#[test]
fn the_retry_policy_reaches_the_manager() {
    let logto = TestServer::start_default().unwrap();
    logto.inject(Fault::respond(StatusCode::SERVICE_UNAVAILABLE, "down"), 1);
    let manager = logto_m2m_ureq::token_manager_builder(
        logto.endpoint(),
        defaults::APP_ID,
        defaults::APP_SECRET,
    )
    .unwrap()
    .retry_policy(RetryPolicy::no_retries())
    .build();
    assert!(manager.source(params()).unwrap().token().is_err());
    assert_eq!(logto.token_requests(), 1);
}

#[test]
fn the_cache_policy_reaches_the_state_machine() {
    let logto = TestServer::start_default().unwrap();
    let wrong_secret = |policy: CachePolicy| {
        logto_m2m_ureq::token_manager_builder(logto.endpoint(), defaults::APP_ID, "wrong-secret")
            .unwrap()
            .cache_policy(policy)
            .retry_policy(RetryPolicy::no_retries())
            .build()
    };
    // A rejection is remembered for `negative_cache` (5 s by default): the second call sends nothing.
    let remembered = wrong_secret(CachePolicy::default())
        .source(params())
        .unwrap();
    assert!(remembered.token().is_err());
    assert!(remembered.token().is_err());
    assert_eq!(logto.token_requests(), 1);
    logto.reset_log();
    let forgotten = wrong_secret(CachePolicy::default().with_negative_cache(Duration::ZERO))
        .source(params())
        .unwrap();
    assert!(forgotten.token().is_err());
    assert!(forgotten.token().is_err());
    assert_eq!(logto.token_requests(), 2);
}
