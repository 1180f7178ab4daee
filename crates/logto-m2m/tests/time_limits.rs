//! Every call is bounded in time: one deadline (`RetryPolicy::max_wait`) covers sending, waiting
//! and backoff; attempts get what is left of it; async waits are bounded on any runtime, with no
//! sleeper configured; `max_wait = Duration::MAX` means no limit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::synthetic::SyntheticClock;
use common::{FakeLogto, config, params};
use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{
    AsyncTokenManager, AttemptTimeout, BlockingTokenManager, CachePolicy, ErrorKind, RetryPolicy,
};

/// A transport that times out after `own_timeout`, or earlier at the request's
/// [`AttemptTimeout`], as the ureq and hyper transports do; on a synthetic clock.
fn timing_out(
    clock: &SyntheticClock,
    own_timeout: Duration,
    requests: &Arc<AtomicUsize>,
) -> impl Fn(Request<Vec<u8>>) -> Result<Response<Vec<u8>>, std::io::Error> + Send + Sync + 'static
{
    let (clock, requests) = (clock.clone(), Arc::clone(requests));
    move |request| {
        requests.fetch_add(1, Ordering::SeqCst);
        clock.advance(AttemptTimeout::limit(&request, own_timeout));
        Err(std::io::ErrorKind::TimedOut.into())
    }
}

#[test]
fn a_blocking_call_ends_within_max_wait_sending_included() {
    // A 3 s transport timeout and a 5 s budget: sending, backoff and retries all fit in 5 s.
    let clock = SyntheticClock::new();
    let requests = Arc::new(AtomicUsize::new(0));
    let manager = BlockingTokenManager::builder(
        timing_out(&clock, Duration::from_secs(3), &requests),
        config(),
    )
    .retry_policy(RetryPolicy::default().with_max_wait(Duration::from_secs(5)))
    .clock(clock.clone())
    .build_blocking();
    let request = manager.request(params()).unwrap();
    let error = manager.token(&request).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert!(
        clock.elapsed() <= Duration::from_secs(5),
        "the call took {:?}",
        clock.elapsed()
    );
    // After a 3 s attempt, a retry with less than 3 s left is not started.
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[test]
fn an_attempt_is_given_what_is_left_of_the_call() {
    let clock = SyntheticClock::new();
    let requests = Arc::new(AtomicUsize::new(0));
    let manager = BlockingTokenManager::builder(
        timing_out(&clock, Duration::from_secs(3), &requests),
        config(),
    )
    .retry_policy(RetryPolicy::default().with_max_wait(Duration::from_secs(2)))
    .clock(clock.clone())
    .build_blocking();
    let request = manager.request(params()).unwrap();
    manager.token(&request).unwrap_err();
    assert_eq!(clock.elapsed(), Duration::from_secs(2));
}

#[test]
fn an_async_call_ends_within_max_wait_when_the_transport_never_answers() {
    let clock = SyntheticClock::new();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    let hanging = move |_request: Request<Vec<u8>>| {
        counted.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<Result<Response<Vec<u8>>, std::io::Error>>()
    };
    let manager = AsyncTokenManager::builder(hanging, config())
        .retry_policy(RetryPolicy::default().with_max_wait(Duration::from_secs(5)))
        .sleeper(clock.sleeper())
        .clock(clock.clone())
        .build_async();
    let request = manager.request(params()).unwrap();
    let error = clock
        .run(manager.token(&request))
        .expect("the call ends")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(clock.elapsed(), Duration::from_secs(5));
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[test]
fn max_wait_duration_max_means_no_limit() {
    let clock = SyntheticClock::new();
    let fake = FakeLogto::new(3600, Duration::ZERO);
    fake.fail_with(503);
    let answers = Arc::clone(&fake);
    let transport = move |request: Request<Vec<u8>>| {
        answers.arrive(&request);
        let response = answers.answer(&request);
        answers.fail_with(0);
        Ok::<_, std::io::Error>(response)
    };
    let manager = BlockingTokenManager::builder(transport, config())
        .retry_policy(RetryPolicy::default().with_max_wait(Duration::MAX))
        .clock(clock)
        .build_blocking();
    let request = manager.request(params()).unwrap();
    let token = manager.token(&request).expect("retried after the 503");
    assert_eq!(token.access_token().expose_secret(), "token-0");
    assert_eq!(fake.requests(), 2);
}

// The default sleeper: real time, on the runtime that runs the call.

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn on_tokio(test: BoxFuture<()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(5), test)
                .await
                .expect("the test ends within 5 s");
        });
}

fn on_smol(test: BoxFuture<()>) {
    smol::block_on(async {
        let limit = async {
            smol::Timer::after(Duration::from_secs(5)).await;
            panic!("the test did not end within 5 s");
        };
        smol::future::or(test, limit).await;
    });
}

/// A waiter for a request that never ends gives up at its deadline, with no sleeper configured.
async fn a_waiter_without_a_sleeper_gives_up_at_its_deadline() {
    let hanging = |_request: Request<Vec<u8>>| {
        std::future::pending::<Result<Response<Vec<u8>>, std::io::Error>>()
    };
    let budget = Duration::from_millis(200);
    let manager = AsyncTokenManager::builder(hanging, config())
        .retry_policy(RetryPolicy::default().with_max_wait(budget))
        .build_async();
    let request = manager.request(params()).unwrap();
    // The leader's future is parked (polled once, then never again), its request in flight.
    let mut leader = Box::pin(manager.token(&request));
    std::future::poll_fn(|cx| {
        assert!(leader.as_mut().poll(cx).is_pending());
        std::task::Poll::Ready(())
    })
    .await;
    let started = Instant::now();
    let error = manager.token(&request).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert!(started.elapsed() >= budget);
    drop(leader);
}

/// Retries work with no sleeper configured.
async fn retries_work_without_a_sleeper() {
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
        .cache_policy(CachePolicy::default().with_backoff_initial(Duration::from_millis(20)))
        .build_async();
    let request = manager.request(params()).unwrap();
    let token = manager
        .token(&request)
        .await
        .expect("retried after the 503");
    assert_eq!(token.access_token().expose_secret(), "token-0");
    assert_eq!(fake.requests(), 2);
}

#[test]
fn tokio_a_waiter_without_a_sleeper_gives_up_at_its_deadline() {
    on_tokio(Box::pin(
        a_waiter_without_a_sleeper_gives_up_at_its_deadline(),
    ));
}

#[test]
fn smol_a_waiter_without_a_sleeper_gives_up_at_its_deadline() {
    on_smol(Box::pin(
        a_waiter_without_a_sleeper_gives_up_at_its_deadline(),
    ));
}

#[test]
fn tokio_retries_work_without_a_sleeper() {
    on_tokio(Box::pin(retries_work_without_a_sleeper()));
}

#[test]
fn smol_retries_work_without_a_sleeper() {
    on_smol(Box::pin(retries_work_without_a_sleeper()));
}

#[test]
fn a_refresh_task_that_starts_after_its_time_sends_nothing() {
    let clock = SyntheticClock::new();
    let fake = FakeLogto::new(100, Duration::ZERO);
    let answers = Arc::clone(&fake);
    let transport = move |request: Request<Vec<u8>>| {
        answers.arrive(&request);
        std::future::ready(Ok::<_, std::io::Error>(answers.answer(&request)))
    };
    let tasks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let spawned = Arc::clone(&tasks);
    let manager = AsyncTokenManager::builder(transport, config())
        .spawner(move |task| spawned.lock().unwrap().push(task))
        .sleeper(clock.sleeper())
        .clock(clock.clone())
        .build_async();
    let request = manager.request(params()).unwrap();
    clock.run(manager.token(&request)).unwrap().unwrap();
    // Past the refresh point (35-40 s): the refresh is spawned, but its task only runs after the
    // request would count as abandoned (60 s later).
    clock.advance(Duration::from_secs(41));
    clock.run(manager.token(&request)).unwrap().unwrap();
    assert_eq!(tasks.lock().unwrap().len(), 1);
    clock.advance(Duration::from_secs(61));
    let task = tasks.lock().unwrap().pop().unwrap();
    clock.run(task).unwrap();
    assert_eq!(fake.requests(), 1, "the late task sent nothing");
}
