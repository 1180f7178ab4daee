//! The one-call constructors take the transport's and the manager's options in one chain, and each
//! option reaches the part it sets.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use logto_m2m::proto::TransportErrorKind;
use logto_m2m_reqwest::{CachePolicy, Error, RetryPolicy, TokenParams};
use logto_m2m_testkit::http::StatusCode;
use logto_m2m_testkit::{Fault, TestServer, defaults};

fn params() -> TokenParams {
    TokenParams::for_resource(defaults::RESOURCE)
}

fn transport_kind(error: &Error) -> TransportErrorKind {
    match error {
        Error::Transport(e) => e.kind(),
        other => panic!("not a transport error: {other}"),
    }
}

#[tokio::test]
async fn the_timeout_reaches_the_transport() {
    let logto = TestServer::start_default().unwrap();
    logto.inject(Fault::Delay(Duration::from_secs(10)), 1);
    let manager = logto_m2m_reqwest::token_manager_builder(
        logto.endpoint(),
        defaults::APP_ID,
        defaults::APP_SECRET,
    )
    .unwrap()
    .timeout(Duration::from_millis(300))
    .retry_policy(RetryPolicy::no_retries())
    .build();
    let started = Instant::now();
    let error = manager.source(params()).unwrap().token().await.unwrap_err();
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

#[tokio::test]
async fn the_response_cap_reaches_the_transport() {
    let logto = TestServer::start_default().unwrap();
    logto.inject(Fault::HugeBody(8 * 1024), 1);
    let manager = logto_m2m_reqwest::token_manager_builder(
        logto.endpoint(),
        defaults::APP_ID,
        defaults::APP_SECRET,
    )
    .unwrap()
    .max_response_bytes(4 * 1024)
    .build();
    let error = manager.source(params()).unwrap().token().await.unwrap_err();
    assert_eq!(
        transport_kind(&error),
        TransportErrorKind::BodyTooLarge,
        "{error}"
    );
}

#[tokio::test]
async fn the_policies_reach_the_manager() {
    let logto = TestServer::start_default().unwrap();
    logto.inject(Fault::respond(StatusCode::SERVICE_UNAVAILABLE, "down"), 1);
    let manager = logto_m2m_reqwest::token_manager_builder(
        logto.endpoint(),
        defaults::APP_ID,
        defaults::APP_SECRET,
    )
    .unwrap()
    .retry_policy(RetryPolicy::no_retries())
    .cache_policy(CachePolicy::default().with_backoff_initial(Duration::ZERO))
    .build();
    let api = manager.source(params()).unwrap();
    assert!(api.token().await.is_err());
    assert_eq!(logto.token_requests(), 1);
    // No backoff: the next call asks again at once, and gets a token.
    assert!(api.token().await.is_ok());
    assert_eq!(logto.token_requests(), 2);
}
