//! A panic is a failure, not a cancellation: it backs off like any failure. An unusable answer to
//! a successful status is not retried within the call.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::synthetic::SyntheticClock;
use common::{FakeLogto, config, params};
use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{AsyncTokenManager, BlockingTokenManager, ErrorKind};

/// A token endpoint whose answers, after the first token, panic.
fn panicking_after_first(
    fake: &Arc<FakeLogto>,
) -> impl Fn(Request<Vec<u8>>) -> Result<Response<Vec<u8>>, std::io::Error> + Send + Sync + 'static
{
    let fake = Arc::clone(fake);
    move |request| {
        fake.arrive(&request);
        if fake.requests() > 1 {
            panic!("transport bug");
        }
        Ok(fake.answer(&request))
    }
}

#[test]
fn a_refresh_whose_transport_panics_backs_off() {
    // A 100 s token is usable for 50 s (the 60 s margin, halved), and refreshed from 35 s to 40 s.
    let clock = SyntheticClock::new();
    let fake = FakeLogto::new(100, Duration::ZERO);
    let manager = BlockingTokenManager::builder(panicking_after_first(&fake), config())
        .clock(clock.clone())
        .build_blocking();
    let request = manager.request(params()).unwrap();
    let first = manager.token(&request).unwrap();
    clock.advance(Duration::from_secs(41));
    // Every call gets the valid token; the refresh thread panics once, and then the backoff holds.
    for _ in 0..20_000 {
        let token = manager.token(&request).unwrap();
        assert_eq!(token.access_token(), first.access_token());
        if fake.requests() > 2 {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(fake.requests(), 2, "one refresh, then the backoff");
}

#[test]
fn a_fetch_whose_transport_panics_backs_off_before_the_next_attempt() {
    let clock = SyntheticClock::new();
    let fake = FakeLogto::new(3600, Duration::ZERO);
    let times = Arc::new(Mutex::new(Vec::new()));
    let transport = {
        let (fake, clock, times) = (Arc::clone(&fake), clock.clone(), Arc::clone(&times));
        move |request: Request<Vec<u8>>| {
            fake.arrive(&request);
            times.lock().unwrap().push(clock.elapsed());
            if fake.requests() == 1 {
                panic!("transport bug");
            }
            std::future::ready(Ok::<_, std::io::Error>(fake.answer(&request)))
        }
    };
    let manager = AsyncTokenManager::builder(transport, config())
        .sleeper(clock.sleeper())
        .clock(clock.clone())
        .build_async();
    let request = manager.request(params()).unwrap();
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        clock.run(manager.token(&request));
    }));
    assert!(panicked.is_err(), "the panic reaches the caller");
    // The next call waits out the backoff (1 s, shortened by jitter to no less than 0.5 s).
    let token = clock.run(manager.token(&request)).unwrap().unwrap();
    assert_eq!(token.access_token().expose_secret(), "token-0");
    let times = times.lock().unwrap().clone();
    assert_eq!(times.len(), 2);
    assert!(
        times[1] >= Duration::from_millis(500),
        "the second request came {:?} after the panic",
        times[1]
    );
}

#[test]
fn a_panicking_spawner_neither_fails_the_caller_nor_restarts_the_refresh_each_call() {
    let clock = SyntheticClock::new();
    let fake = FakeLogto::new(100, Duration::ZERO);
    let answers = Arc::clone(&fake);
    let transport = move |request: Request<Vec<u8>>| {
        answers.arrive(&request);
        std::future::ready(Ok::<_, std::io::Error>(answers.answer(&request)))
    };
    let spawns = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&spawns);
    let manager = AsyncTokenManager::builder(transport, config())
        .spawner(move |_task| {
            counted.fetch_add(1, Ordering::SeqCst);
            panic!("no runtime here");
        })
        .sleeper(clock.sleeper())
        .clock(clock.clone())
        .build_async();
    let request = manager.request(params()).unwrap();
    let first = clock.run(manager.token(&request)).unwrap().unwrap();
    clock.advance(Duration::from_secs(41));
    for _ in 0..100 {
        let token = std::panic::catch_unwind(AssertUnwindSafe(|| {
            clock.run(manager.token(&request)).unwrap()
        }))
        .expect("the caller does not panic")
        .unwrap();
        assert_eq!(token.access_token(), first.access_token());
    }
    assert_eq!(spawns.load(Ordering::SeqCst), 1, "then the backoff holds");
}

/// A 200 whose body cannot be used.
fn unusable_ok(
    body: &'static str,
    fake: &Arc<FakeLogto>,
) -> impl Fn(Request<Vec<u8>>) -> Result<Response<Vec<u8>>, std::io::Error> + Send + Sync + 'static
{
    let fake = Arc::clone(fake);
    move |request| {
        fake.arrive(&request);
        Ok(Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap())
    }
}

const UNUSABLE_OK_BODIES: [&str; 4] = [
    r#"{"access_token":"eyJ.x.y","expires_in":-5,"token_type":"Bearer"}"#,
    r#"{"expires_in":3600,"token_type":"Bearer"}"#,
    r#"{"access_token":"bad token\u0001","expires_in":3600,"token_type":"Bearer"}"#,
    "<html>not json</html>",
];

#[test]
fn an_unusable_success_answer_is_not_retried_within_the_call() {
    for body in UNUSABLE_OK_BODIES {
        let clock = SyntheticClock::new();
        let fake = FakeLogto::new(3600, Duration::ZERO);
        let manager = BlockingTokenManager::builder(unusable_ok(body, &fake), config())
            .clock(clock.clone())
            .build_blocking();
        let request = manager.request(params()).unwrap();
        let error = manager.token(&request).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{body}");
        assert_eq!(fake.requests(), 1, "{body}");
        // The backoff across calls still applies: a call at once sends nothing...
        manager.token(&request).unwrap_err();
        assert_eq!(fake.requests(), 1, "{body}");
        // ...and one after it sends one request.
        clock.advance(Duration::from_secs(2));
        manager.token(&request).unwrap_err();
        assert_eq!(fake.requests(), 2, "{body}");
    }
}

#[test]
fn an_unusable_success_answer_is_not_retried_within_an_async_call() {
    for body in UNUSABLE_OK_BODIES {
        let clock = SyntheticClock::new();
        let fake = FakeLogto::new(3600, Duration::ZERO);
        let blocking = unusable_ok(body, &fake);
        let transport = move |request| std::future::ready(blocking(request));
        let manager = AsyncTokenManager::builder(transport, config())
            .sleeper(clock.sleeper())
            .clock(clock.clone())
            .build_async();
        let request = manager.request(params()).unwrap();
        let error = clock.run(manager.token(&request)).unwrap().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidResponse, "{body}");
        assert_eq!(fake.requests(), 1, "{body}");
    }
}

#[cfg(feature = "tracing")]
#[test]
fn a_spawner_that_drops_refresh_tasks_is_reported_once() {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();

    let clock = SyntheticClock::new();
    let fake = FakeLogto::new(100, Duration::ZERO);
    let answers = Arc::clone(&fake);
    let transport = move |request: Request<Vec<u8>>| {
        answers.arrive(&request);
        std::future::ready(Ok::<_, std::io::Error>(answers.answer(&request)))
    };
    let manager = AsyncTokenManager::builder(transport, config())
        .spawner(drop)
        .sleeper(clock.sleeper())
        .clock(clock.clone())
        .build_async();
    let request = manager.request(params()).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        clock.run(manager.token(&request)).unwrap().unwrap();
        clock.advance(Duration::from_secs(41));
        for _ in 0..10 {
            clock.run(manager.token(&request)).unwrap().unwrap();
        }
    });
    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        output
            .matches("the spawner dropped a refresh task without running it")
            .count(),
        1,
        "{output}"
    );
    assert_eq!(fake.requests(), 1);
}

#[test]
fn a_panicking_sleeper_is_replaced_by_the_default_timer() {
    // A runtime's timer called outside its runtime panics when the timer is made.
    let fake = FakeLogto::new(3600, Duration::ZERO);
    fake.fail_with(503);
    let answers = Arc::clone(&fake);
    let transport = move |request: Request<Vec<u8>>| {
        answers.arrive(&request);
        let response = answers.answer(&request);
        answers.fail_with(0);
        std::future::ready(Ok::<_, std::io::Error>(response))
    };
    let manager = AsyncTokenManager::builder(transport, config())
        .cache_policy(
            logto_m2m::CachePolicy::default().with_backoff_initial(Duration::from_millis(20)),
        )
        .sleeper(|_duration: Duration| -> std::future::Ready<()> { panic!("no reactor running") })
        .build_async();
    let request = manager.request(params()).unwrap();
    let token =
        std::panic::catch_unwind(AssertUnwindSafe(|| smol::block_on(manager.token(&request))))
            .expect("the caller does not panic")
            .unwrap();
    assert_eq!(token.access_token().expose_secret(), "token-0");
    assert_eq!(fake.requests(), 2);
}
