//! `with_tokio` hooks: they never panic a caller for want of a runtime, and a manager built inside
//! a runtime keeps using it from anywhere.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant, SystemTime};

use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{AsyncTokenManager, CachePolicy, ClientConfig, Clock, TokenParams};
use logto_m2m_hyper::with_tokio;

/// Runs `future` on this thread, outside any runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let started = Instant::now();
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "stuck");
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

fn config() -> ClientConfig {
    ClientConfig::builder("http://127.0.0.1:1", "m2m-app", "m2m-secret")
        .build()
        .unwrap()
}

/// The endpoint's answer.
type Answer = std::future::Ready<Result<Response<Vec<u8>>, std::io::Error>>;

/// An endpoint answering tokens (`lifetime` seconds), after a 503 if `fail_first`.
fn flaky_endpoint(
    fail_first: bool,
    lifetime: u64,
    requests: &Arc<AtomicUsize>,
) -> impl Fn(Request<Vec<u8>>) -> Answer + Send + Sync + 'static {
    let requests = Arc::clone(requests);
    move |_request| {
        let n = requests.fetch_add(1, Ordering::SeqCst);
        let (status, body) = if fail_first && n == 0 {
            (503, r#"{"error":"server_error"}"#.to_owned())
        } else {
            (
                200,
                format!(r#"{{"access_token":"token-{n}","expires_in":{lifetime}}}"#),
            )
        };
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap();
        std::future::ready(Ok(response))
    }
}

fn fast_backoff() -> CachePolicy {
    CachePolicy::default().with_backoff_initial(Duration::from_millis(10))
}

#[test]
fn outside_a_runtime_a_retry_sleeps_without_panicking() {
    let requests = Arc::new(AtomicUsize::new(0));
    let builder = AsyncTokenManager::builder(flaky_endpoint(true, 3600, &requests), config())
        .cache_policy(fast_backoff());
    let manager = with_tokio(builder).build_async();
    let request = manager
        .request(TokenParams::for_resource("https://api.example.com"))
        .unwrap();
    let token = block_on(manager.token(&request)).unwrap();
    assert_eq!(token.access_token().expose_secret(), "token-1");
}

/// A clock that stands still until moved.
#[derive(Clone)]
struct SteppedClock(Instant, Arc<AtomicU64>);

impl Clock for SteppedClock {
    fn now(&self) -> Instant {
        self.0 + Duration::from_secs(self.1.load(Ordering::SeqCst))
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + self.1.load(Ordering::SeqCst))
    }
}

#[test]
fn outside_a_runtime_a_refresh_ahead_does_not_panic_the_caller() {
    let requests = Arc::new(AtomicUsize::new(0));
    let clock = SteppedClock(Instant::now(), Arc::new(AtomicU64::new(0)));
    let builder = AsyncTokenManager::builder(flaky_endpoint(false, 100, &requests), config())
        .cache_policy(fast_backoff())
        .clock(clock.clone());
    let manager = with_tokio(builder).build_async();
    let request = manager
        .request(TokenParams::for_resource("https://api.example.com"))
        .unwrap();
    let first = block_on(manager.token(&request)).unwrap();
    // Past the refresh point (35-40 s of a 100 s token's 50 s usable life).
    clock.1.store(41, Ordering::SeqCst);
    for _ in 0..10 {
        let token = block_on(manager.token(&request)).unwrap();
        assert_eq!(token.access_token(), first.access_token());
    }
    // No runtime, no background task: nothing was sent.
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[test]
fn built_inside_a_runtime_it_sleeps_and_refreshes_on_it_from_anywhere() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let builder = AsyncTokenManager::builder(flaky_endpoint(true, 3600, &requests), config())
        .cache_policy(fast_backoff());
    let manager = {
        let _inside = runtime.enter();
        with_tokio(builder).build_async()
    };
    let request = manager
        .request(TokenParams::for_resource("https://api.example.com"))
        .unwrap();
    // Awaited on a thread of its own, outside the runtime: the backoff sleeps on its timer.
    let token = std::thread::spawn(move || block_on(manager.token(&request)))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(token.access_token().expose_secret(), "token-1");
}
