//! The blocking manager against a fake endpoint: single flight across threads, refresh ahead on a
//! background thread while callers keep being served, error fan-out, invalidation.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{FakeLogto, config, params};
use logto_m2m::{BlockingTokenManager, CachePolicy, ErrorKind, RetryPolicy};

#[test]
fn sixty_four_threads_on_a_cold_cache_send_exactly_one_request() {
    let fake = FakeLogto::new(3600, Duration::from_millis(200));
    let manager = BlockingTokenManager::new(fake.blocking(), config());
    let request = manager.request(params()).unwrap();
    let barrier = Arc::new(Barrier::new(64));
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let (manager, request, barrier) =
                (manager.clone(), request.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                manager.token(&request).unwrap()
            })
        })
        .collect();
    let tokens: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(fake.requests(), 1);
    assert!(
        tokens.iter().all(|t| Arc::ptr_eq(t, &tokens[0])),
        "everyone gets the same token"
    );
}

#[test]
fn every_waiter_gets_the_same_error_and_a_rejection_is_not_retried() {
    let fake = FakeLogto::new(3600, Duration::from_millis(100));
    fake.fail_with(401);
    let manager = BlockingTokenManager::new(fake.blocking(), config());
    let request = manager.request(params()).unwrap();
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (manager, request, barrier) =
                (manager.clone(), request.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                manager.token(&request).unwrap_err()
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(
            handle.join().unwrap().kind(),
            ErrorKind::CredentialsRejected
        );
    }
    assert_eq!(
        fake.requests(),
        1,
        "the negative cache keeps the others from trying again"
    );
}

#[test]
fn transient_failures_are_retried_within_the_call() {
    let fake = FakeLogto::new(3600, Duration::ZERO);
    fake.fail_with(503);
    let policy = CachePolicy::default().with_backoff_initial(Duration::from_millis(20));
    let manager = BlockingTokenManager::builder(fake.blocking(), config())
        .cache_policy(policy)
        .retry_policy(RetryPolicy::default().with_max_attempts(3))
        .build_blocking();
    let request = manager.request(params()).unwrap();
    let error = manager.token(&request).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(fake.requests(), 3, "three attempts, then the error");
    fake.fail_with(0);
    // The backoff of the third failure (80 ms) must pass before the next attempt.
    std::thread::sleep(Duration::from_millis(100));
    assert!(manager.token(&request).is_ok());
}

#[test]
fn refresh_ahead_happens_in_the_background_and_no_expired_token_is_served() {
    // A 2 s token: margin 1 s, refresh from 0.7-0.8 s; the endpoint takes 300 ms to answer.
    let fake = FakeLogto::new(2, Duration::from_millis(300));
    let manager = BlockingTokenManager::new(fake.blocking(), config());
    let source = manager.source(params()).unwrap();
    let first = source.token().unwrap();
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut seen = vec![first.access_token().expose_secret().to_owned()];
    while start.elapsed() < Duration::from_millis(2500) {
        let asked = Instant::now();
        let token = source.token().unwrap();
        slowest = slowest.max(asked.elapsed());
        assert!(
            Instant::now() < token.expires_at(),
            "an expired token was served"
        );
        let value = token.access_token().expose_secret().to_owned();
        if seen.last() != Some(&value) {
            seen.push(value);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        seen.len() >= 3,
        "the token was refreshed ahead of expiry: {seen:?}"
    );
    assert!(
        slowest < Duration::from_millis(250),
        "a caller waited for a refresh: {slowest:?}"
    );
}

#[test]
fn invalidation_after_a_401_fetches_a_new_token_once() {
    let fake = FakeLogto::new(3600, Duration::ZERO);
    let manager = BlockingTokenManager::new(fake.blocking(), config());
    let source = manager.source(params()).unwrap();
    let first = source.token().unwrap();
    assert!(source.invalidate(&first));
    assert!(
        !source.invalidate(&first),
        "a second 401 for the same token does nothing"
    );
    let second = source.token().unwrap();
    assert_ne!(first.access_token(), second.access_token());
    assert!(!manager.invalidate(&source.request(), &first));
    assert_eq!(fake.requests(), 2);
    // Invalidation through the manager also reaches sources.
    assert!(manager.invalidate(&source.request(), &second));
    assert_ne!(
        source.token().unwrap().access_token(),
        second.access_token()
    );
}

#[test]
fn authorize_sets_the_bearer_header() {
    let fake = FakeLogto::new(3600, Duration::ZERO);
    let manager = BlockingTokenManager::new(fake.blocking(), config());
    let request = manager.request(params()).unwrap();
    let mut call = logto_m2m::proto::http::Request::new(());
    let token = manager.authorize(&mut call, &request).unwrap();
    let header = call.headers()["authorization"].to_str().unwrap();
    assert_eq!(
        header,
        format!("Bearer {}", token.access_token().expose_secret())
    );
}

#[test]
fn a_source_lends_the_cached_token_and_fetches_only_when_it_must() {
    let fake = FakeLogto::new(3600, Duration::from_millis(50));
    let manager = BlockingTokenManager::new(fake.blocking(), config());
    let source = manager.source(params()).unwrap();
    // Cold: the first lend fetches, on eight threads at once, once.
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (source, barrier) = (source.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                (0..1000)
                    .map(|_| {
                        source
                            .with_token(|token| token.access_token().expose_secret().to_owned())
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for handle in handles {
        assert!(
            handle
                .join()
                .unwrap()
                .iter()
                .all(|value| value == "token-0")
        );
    }
    assert_eq!(fake.requests(), 1);
    let owned = source.token().unwrap();
    assert_eq!(owned.access_token().expose_secret(), "token-0");

    // After a 401, the next lend fetches a new token.
    assert!(source.invalidate(&owned));
    let value = source
        .with_token(|token| token.access_token().expose_secret().to_owned())
        .unwrap();
    assert_eq!(value, "token-1");
    assert_eq!(fake.requests(), 2);

    // The same through `authorize`.
    let mut call = logto_m2m::proto::http::Request::new(());
    source.authorize(&mut call).unwrap();
    assert_eq!(call.headers()["authorization"], "Bearer token-1");
    assert_eq!(fake.requests(), 2);
}

#[test]
fn a_source_that_cannot_get_a_token_never_calls_the_closure_nor_touches_the_request() {
    let fake = FakeLogto::new(3600, Duration::ZERO);
    fake.fail_with(401);
    let manager = BlockingTokenManager::new(fake.blocking(), config());
    let source = manager.source(params()).unwrap();
    let error = source
        .with_token(|_| panic!("called without a token"))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    let mut call = logto_m2m::proto::http::Request::new(());
    assert!(source.authorize(&mut call).is_err());
    assert!(call.headers().is_empty());
}

#[test]
fn a_panicking_transport_never_wedges_the_slot() {
    let fake = FakeLogto::new(3600, Duration::ZERO);
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let transport = {
        let (fake, calls) = (Arc::clone(&fake), Arc::clone(&calls));
        move |request: logto_m2m::proto::http::Request<Vec<u8>>| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                panic!("transport bug");
            }
            fake.arrive(&request);
            Ok::<_, std::io::Error>(fake.answer(&request))
        }
    };
    let manager = BlockingTokenManager::new(transport, config());
    let request = manager.request(params()).unwrap();
    let first = std::thread::spawn({
        let (manager, request) = (manager.clone(), request.clone());
        move || manager.token(&request)
    });
    assert!(first.join().is_err(), "the first call panicked");
    assert!(
        manager.token(&request).is_ok(),
        "the next call fetches again"
    );
}

#[test]
fn env_configuration_names_the_missing_or_bad_variable() {
    use logto_m2m::{EnvError, config_from_vars};
    use std::ffi::OsString;
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(*v))
        }
    };
    assert_eq!(
        config_from_vars(vars(&[("LOGTO_APP_ID", "a"), ("LOGTO_APP_SECRET", "s")])).unwrap_err(),
        EnvError::Missing {
            variable: "LOGTO_ENDPOINT"
        }
    );
    assert_eq!(
        config_from_vars(vars(&[
            ("LOGTO_ENDPOINT", "https://t.logto.app"),
            ("LOGTO_APP_SECRET", "s")
        ]))
        .unwrap_err(),
        EnvError::Missing {
            variable: "LOGTO_APP_ID"
        }
    );
    assert_eq!(
        config_from_vars(vars(&[
            ("LOGTO_ENDPOINT", "https://t.logto.app"),
            ("LOGTO_APP_ID", "a"),
            ("LOGTO_APP_SECRET", "")
        ]))
        .unwrap_err(),
        EnvError::Missing {
            variable: "LOGTO_APP_SECRET"
        }
    );
    let bad = config_from_vars(vars(&[
        ("LOGTO_ENDPOINT", "http://remote.example"),
        ("LOGTO_APP_ID", "a"),
        ("LOGTO_APP_SECRET", "s"),
    ]))
    .unwrap_err();
    assert!(matches!(
        bad,
        EnvError::Invalid {
            variable: "LOGTO_ENDPOINT",
            ..
        }
    ));
    let ok = config_from_vars(vars(&[
        ("LOGTO_ENDPOINT", "https://t.logto.app/"),
        ("LOGTO_APP_ID", "a"),
        ("LOGTO_APP_SECRET", "s"),
    ]))
    .unwrap();
    assert_eq!(ok.token_endpoint(), "https://t.logto.app/oidc/token");
}
