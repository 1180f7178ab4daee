//! The async manager on two runtimes (tokio multi-thread and smol), with the same tests: logto-m2m
//! itself depends on neither.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{FakeLogto, config, params};
use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{AsyncTokenManager, BackgroundTask, ErrorKind, Transport};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a test needs from a runtime.
trait Runtime: Clone + Send + Sync + 'static {
    fn sleep(&self, duration: Duration) -> BoxFuture<()>;
    fn spawn(&self, task: BackgroundTask);
    fn spawn_join<T: Send + 'static>(&self, task: BoxFuture<T>) -> BoxFuture<T>;
}

#[derive(Clone)]
struct Tokio;

impl Runtime for Tokio {
    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(duration))
    }
    fn spawn(&self, task: BackgroundTask) {
        tokio::spawn(task);
    }
    fn spawn_join<T: Send + 'static>(&self, task: BoxFuture<T>) -> BoxFuture<T> {
        let handle = tokio::spawn(task);
        Box::pin(async move { handle.await.unwrap() })
    }
}

#[derive(Clone)]
struct Smol;

impl Runtime for Smol {
    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(async move {
            smol::Timer::after(duration).await;
        })
    }
    fn spawn(&self, task: BackgroundTask) {
        smol::spawn(task).detach();
    }
    fn spawn_join<T: Send + 'static>(&self, task: BoxFuture<T>) -> BoxFuture<T> {
        Box::pin(smol::spawn(task))
    }
}

fn on_tokio(test: impl FnOnce(Tokio) -> BoxFuture<()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test(Tokio));
}

fn on_smol(test: impl FnOnce(Smol) -> BoxFuture<()>) {
    // A few executor threads, so tasks really run concurrently.
    for _ in 0..3 {
        std::thread::spawn(|| smol::block_on(smol::future::pending::<()>()));
    }
    smol::block_on(test(Smol));
}

/// The fake endpoint as an async transport that answers after its delay on `runtime`'s timer.
fn transport<R: Runtime>(fake: &Arc<FakeLogto>, runtime: &R) -> impl Transport + 'static {
    let (fake, runtime) = (Arc::clone(fake), runtime.clone());
    move |request: Request<Vec<u8>>| {
        let (fake, sleep) = (Arc::clone(&fake), runtime.sleep(fake.delay));
        fake.arrive(&request);
        async move {
            sleep.await;
            Ok::<Response<Vec<u8>>, std::io::Error>(fake.answer(&request))
        }
    }
}

fn manager<R: Runtime>(
    fake: &Arc<FakeLogto>,
    runtime: &R,
) -> AsyncTokenManager<impl Transport + 'static> {
    let (spawner, sleeper) = (runtime.clone(), runtime.clone());
    AsyncTokenManager::builder(transport(fake, runtime), config())
        .spawner(move |task| spawner.spawn(task))
        .sleeper(move |d| sleeper.sleep(d))
        .build_async()
}

async fn thousand_callers_on_a_cold_cache_send_one_request<R: Runtime>(runtime: R) {
    let fake = FakeLogto::new(3600, Duration::from_millis(200));
    let manager = manager(&fake, &runtime);
    let request = Arc::new(manager.request(params()).unwrap());
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (manager, request) = (manager.clone(), Arc::clone(&request));
            runtime.spawn_join(Box::pin(
                async move { manager.token(&request).await.unwrap() },
            ))
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await);
    }
    assert_eq!(fake.requests(), 1);
    assert!(tokens.iter().all(|t| Arc::ptr_eq(t, &tokens[0])));
}

async fn dropping_a_fetching_future_never_wedges_the_slot<R: Runtime>(runtime: R) {
    let fake = FakeLogto::new(3600, Duration::from_millis(300));
    let manager = manager(&fake, &runtime);
    let request = manager.request(params()).unwrap();
    {
        // Start a fetch, and drop the future while its request is in flight.
        let mut fetching = Box::pin(manager.token(&request));
        let mut sleep = runtime.sleep(Duration::from_millis(50));
        std::future::poll_fn(|cx| {
            assert!(fetching.as_mut().poll(cx).is_pending());
            sleep.as_mut().poll(cx)
        })
        .await;
    }
    let started = Instant::now();
    let token = manager.token(&request).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the next caller was not stuck"
    );
    assert!(!token.access_token().expose_secret().is_empty());
    assert_eq!(
        fake.requests(),
        2,
        "the dropped request was handed back and a new one sent"
    );
}

async fn refresh_ahead_never_blocks_a_caller<R: Runtime>(runtime: R) {
    let fake = FakeLogto::new(2, Duration::from_millis(300));
    let manager = manager(&fake, &runtime);
    let source = manager.source(params()).unwrap();
    let mut seen = vec![
        source
            .token()
            .await
            .unwrap()
            .access_token()
            .expose_secret()
            .to_owned(),
    ];
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    while start.elapsed() < Duration::from_millis(2500) {
        let asked = Instant::now();
        let token = source.token().await.unwrap();
        slowest = slowest.max(asked.elapsed());
        assert!(
            Instant::now() < token.expires_at(),
            "an expired token was served"
        );
        let value = token.access_token().expose_secret().to_owned();
        if seen.last() != Some(&value) {
            seen.push(value);
        }
        runtime.sleep(Duration::from_millis(5)).await;
    }
    assert!(seen.len() >= 3, "refreshed ahead of expiry: {seen:?}");
    assert!(
        slowest < Duration::from_millis(250),
        "a caller waited for a refresh: {slowest:?}"
    );
}

async fn errors_reach_every_waiter<R: Runtime>(runtime: R) {
    let fake = FakeLogto::new(3600, Duration::from_millis(100));
    fake.fail_with(401);
    let manager = manager(&fake, &runtime);
    let request = Arc::new(manager.request(params()).unwrap());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (manager, request) = (manager.clone(), Arc::clone(&request));
            runtime.spawn_join(Box::pin(async move {
                manager.token(&request).await.unwrap_err()
            }))
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.kind(), ErrorKind::CredentialsRejected);
    }
    assert_eq!(fake.requests(), 1);
}

async fn a_source_lends_the_cached_token_and_fetches_only_when_it_must<R: Runtime>(runtime: R) {
    let fake = FakeLogto::new(3600, Duration::from_millis(50));
    let manager = manager(&fake, &runtime);
    let source = manager.source(params()).unwrap();
    // Cold: 100 tasks lend at once; one request.
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let source = source.clone();
            runtime.spawn_join(Box::pin(async move {
                let mut values = Vec::new();
                for _ in 0..100 {
                    let value = source
                        .with_token(|token| token.access_token().expose_secret().to_owned())
                        .await
                        .unwrap();
                    values.push(value);
                }
                values
            }))
        })
        .collect();
    for task in tasks {
        assert!(task.await.iter().all(|value| value == "token-0"));
    }
    assert_eq!(fake.requests(), 1);

    // After a 401, the next lend fetches a new token; `authorize` lends it too.
    let owned = source.token().await.unwrap();
    assert!(source.invalidate(&owned));
    let mut call = Request::new(());
    source.authorize(&mut call).await.unwrap();
    assert_eq!(call.headers()["authorization"], "Bearer token-1");
    assert_eq!(fake.requests(), 2);

    // Without a token, the closure is never called and the request is untouched.
    fake.fail_with(401);
    assert!(source.invalidate(&source.token().await.unwrap()));
    let error = source
        .with_token(|_| panic!("called without a token"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    let mut call = Request::new(());
    assert!(source.authorize(&mut call).await.is_err());
    assert!(call.headers().is_empty());
}

macro_rules! on_both_runtimes {
    ($($name:ident),*) => {
        mod tokio_multi_thread {
            $(#[test] fn $name() { super::on_tokio(|rt| Box::pin(super::$name(rt))); })*
        }
        mod smol_executor {
            $(#[test] fn $name() { super::on_smol(|rt| Box::pin(super::$name(rt))); })*
        }
    };
}

on_both_runtimes!(
    thousand_callers_on_a_cold_cache_send_one_request,
    dropping_a_fetching_future_never_wedges_the_slot,
    refresh_ahead_never_blocks_a_caller,
    errors_reach_every_waiter,
    a_source_lends_the_cached_token_and_fetches_only_when_it_must
);

#[test]
fn without_a_runtime_hook_the_manager_still_works() {
    // No spawner, no sleeper: a plain executor drives it.
    let fake = FakeLogto::new(3600, Duration::ZERO);
    let fake2 = Arc::clone(&fake);
    let manager = AsyncTokenManager::new(
        move |request: Request<Vec<u8>>| {
            let fake = Arc::clone(&fake2);
            fake.arrive(&request);
            async move { Ok::<_, std::io::Error>(fake.answer(&request)) }
        },
        config(),
    );
    let request = manager.request(params()).unwrap();
    let token = smol::block_on(manager.token(&request)).unwrap();
    assert_eq!(token.access_token().expose_secret(), "token-0");
}

/// What each of N callers waiting on a cold cache holds: the future of `source.token()` (and of
/// `with_token` and `authorize`) holds what a caller waiting on the source's watch needs (a wake-up
/// registration, its start, a few words: no allocation), and the rest of a call (on the heap, only
/// for a caller that asks the state machine) stays small too. Before, with this test's transport,
/// the future of `source.token()` was 1,984 bytes (a waiting call held the state of the exchange
/// it did not send) and that of `manager.token(..)` 1,944.
#[test]
fn the_futures_of_a_waiting_caller_stay_small() {
    let fake = FakeLogto::new(3600, Duration::ZERO);
    let manager = manager(&fake, &Tokio);
    let source = manager.source(params()).unwrap();
    let request = manager.request(params()).unwrap();
    let token = size_of_val(&source.token());
    let with_token = size_of_val(&source.with_token(|token| token.lifetime()));
    let mut call = Request::new(());
    let authorize = size_of_val(&source.authorize(&mut call));
    let manager_token = size_of_val(&manager.token(&request));
    assert!(token <= 128, "source.token() future: {token} bytes");
    assert!(
        with_token <= 136,
        "source.with_token(..) future: {with_token} bytes"
    );
    assert!(
        authorize <= 160,
        "source.authorize(..) future: {authorize} bytes"
    );
    assert!(
        manager_token <= 448,
        "manager.token(..) future: {manager_token} bytes"
    );
}
