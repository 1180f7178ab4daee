//! The model check of the blocking manager: `loom` runs each scenario under every interleaving of
//! its threads (exhaustively, with its partial-order reduction) and checks that
//!
//! - no wake-up is lost: a caller waiting for another's request is always woken (loom's condvar
//!   never times out, so a lost wake-up is a deadlock, which loom reports);
//! - every ticket is handed back exactly once (the manager's count of tickets out returns to zero,
//!   and a second hand-back fails an assertion);
//! - at most one request is in flight per key;
//! - no snapshot of a `TokenSource` outlives an invalidation that happened before the call;
//! - a panicking request is handed back as a failure that reaches every waiter.
//!
//! Time is an injected clock that stands still unless a scenario moves it (loom explores
//! orderings, not durations).
//!
//! ```sh
//! RUSTFLAGS="--cfg logto_m2m_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p logto-m2m-model-check --release
//! ```
#![cfg(logto_m2m_loom)]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{BlockingTokenManager, ClientConfig, Clock, ErrorKind, RetryPolicy, TokenParams};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

/// A clock that stands still unless moved (a plain atomic: time is not what loom explores).
#[derive(Clone)]
struct StillClock {
    base: Instant,
    seconds: Arc<std::sync::atomic::AtomicU64>,
}

impl StillClock {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            seconds: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    fn set(&self, seconds: u64) {
        self.seconds.store(seconds, Ordering::SeqCst);
    }

    fn elapsed(&self) -> Duration {
        Duration::from_secs(self.seconds.load(Ordering::SeqCst))
    }
}

impl Clock for StillClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }

    fn wall_now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + self.elapsed()
    }

    fn sleep(&self, _duration: Duration) {
        thread::yield_now();
    }
}

/// A token endpoint that checks it never has two requests at once, and counts them.
struct Endpoint {
    in_flight: AtomicUsize,
    requests: AtomicUsize,
    status: u16,
    lifetime: u64,
}

impl Endpoint {
    fn new(status: u16, lifetime: u64) -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            status,
            lifetime,
        })
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn transport(
        self: &Arc<Self>,
    ) -> impl Fn(Request<Vec<u8>>) -> Result<Response<Vec<u8>>, std::io::Error> + Send + Sync + 'static
    {
        let endpoint = Arc::clone(self);
        move |_request| {
            let before = endpoint.in_flight.fetch_add(1, Ordering::SeqCst);
            assert_eq!(before, 0, "two requests in flight for one key");
            let n = endpoint.requests.fetch_add(1, Ordering::SeqCst);
            let body = if endpoint.status == 200 {
                format!(
                    r#"{{"access_token":"token-{n}","expires_in":{}}}"#,
                    endpoint.lifetime
                )
            } else {
                r#"{"error":"server_error"}"#.to_owned()
            };
            endpoint.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(Response::builder()
                .status(endpoint.status)
                .header("content-type", "application/json")
                .body(body.into_bytes())
                .unwrap())
        }
    }
}

/// A transport of the model.
type BoxedTransport =
    Box<dyn Fn(Request<Vec<u8>>) -> Result<Response<Vec<u8>>, std::io::Error> + Send + Sync>;

type Manager = BlockingTokenManager<BoxedTransport>;

fn manager(endpoint: &Arc<Endpoint>, clock: &StillClock) -> Manager {
    let config = ClientConfig::builder("http://127.0.0.1:1", "m2m-app", "m2m-secret")
        .build()
        .unwrap();
    let transport: BoxedTransport = Box::new(endpoint.transport());
    BlockingTokenManager::builder(transport, config)
        .retry_policy(RetryPolicy::no_retries())
        .clock(clock.clone())
        .build_blocking()
}

fn params() -> TokenParams {
    TokenParams::for_resource("https://api.example.com")
}

/// Three callers on a cold cache: one request; the two others are woken with its token.
#[test]
fn cold_cache_single_flight_and_no_lost_wake_up() {
    loom::model(|| {
        let endpoint = Endpoint::new(200, 3600);
        let manager = manager(&endpoint, &StillClock::new());
        let request = Arc::new(manager.request(params()).unwrap());
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (manager, request) = (manager.clone(), Arc::clone(&request));
                thread::spawn(move || manager.token(&request).unwrap())
            })
            .collect();
        let mine = manager.token(&request).unwrap();
        for caller in callers {
            assert!(Arc::ptr_eq(&caller.join().unwrap(), &mine));
        }
        assert_eq!(endpoint.requests(), 1);
        assert_eq!(manager.tickets_out(), 0);
    });
}

/// Two callers, the request fails: both get the error, one request (the backoff holds).
#[test]
fn a_failure_reaches_every_waiter() {
    loom::model(|| {
        let endpoint = Endpoint::new(503, 3600);
        let manager = manager(&endpoint, &StillClock::new());
        let request = Arc::new(manager.request(params()).unwrap());
        let caller = {
            let (manager, request) = (manager.clone(), Arc::clone(&request));
            thread::spawn(move || manager.token(&request).unwrap_err())
        };
        let mine = manager.token(&request).unwrap_err();
        assert_eq!(mine.kind(), ErrorKind::Transient);
        assert_eq!(caller.join().unwrap().kind(), ErrorKind::Transient);
        assert_eq!(endpoint.requests(), 1);
        assert_eq!(manager.tickets_out(), 0);
    });
}

/// Two callers, the transport panics in the first request: the panic is handed back as a failure,
/// and the other caller is woken with it (or sees it) rather than waiting forever.
#[test]
fn a_panicking_request_wakes_every_waiter() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"transport bug") {
            default_hook(info);
        }
    }));
    loom::model(|| {
        let endpoint = Endpoint::new(200, 3600);
        let panicking = {
            let endpoint = Arc::clone(&endpoint);
            move |_request: Request<Vec<u8>>| -> Result<Response<Vec<u8>>, std::io::Error> {
                endpoint.requests.fetch_add(1, Ordering::SeqCst);
                panic!("transport bug");
            }
        };
        let config = ClientConfig::builder("http://127.0.0.1:1", "m2m-app", "m2m-secret")
            .build()
            .unwrap();
        let manager = BlockingTokenManager::builder(panicking, config)
            .retry_policy(RetryPolicy::no_retries())
            .clock(StillClock::new())
            .build_blocking();
        let request = Arc::new(manager.request(params()).unwrap());
        let caller = {
            let (manager, request) = (manager.clone(), Arc::clone(&request));
            thread::spawn(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| manager.token(&request)))
                    .map(|result| result.map(drop).map_err(|e| e.kind()))
            })
        };
        let mine =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| manager.token(&request)))
                .map(|result| result.map(drop).map_err(|e| e.kind()));
        let theirs = caller.join().unwrap();
        // One of the two sent the request and panicked; the other got the failure.
        let outcomes = [mine.ok(), theirs.ok()];
        assert_eq!(outcomes.iter().filter(|o| o.is_none()).count(), 1);
        assert!(outcomes.contains(&Some(Err(ErrorKind::Transient))));
        assert_eq!(endpoint.requests(), 1);
        assert_eq!(manager.tickets_out(), 0);
    });
}

/// Two callers past the refresh point: both get the valid token at once, one refresh runs on a
/// thread of its own, and its ticket is handed back.
#[test]
fn refresh_ahead_single_flight() {
    loom::model(|| {
        let endpoint = Endpoint::new(200, 100);
        let clock = StillClock::new();
        let manager = manager(&endpoint, &clock);
        let request = Arc::new(manager.request(params()).unwrap());
        let first = manager.token(&request).unwrap();
        // Usable for 50 s (the 60 s margin, halved), refreshed from 35 s to 40 s.
        clock.set(41);
        let caller = {
            let (manager, request) = (manager.clone(), Arc::clone(&request));
            thread::spawn(move || manager.token(&request).unwrap())
        };
        let mine = manager.token(&request).unwrap();
        let theirs = caller.join().unwrap();
        // Each got the valid token, or (if the refresh already ended) the new one.
        for token in [mine, theirs] {
            let value = token.access_token().expose_secret().to_owned();
            assert!(value == "token-0" || value == "token-1", "{value}");
        }
        while manager.tickets_out() != 0 {
            thread::yield_now();
        }
        assert_eq!(endpoint.requests(), 2);
        let after = manager.token(&request).unwrap();
        assert_ne!(after.access_token(), first.access_token());
    });
}

/// An invalidation that happened before a call is seen by it, even through the lock-free
/// snapshot of a `TokenSource` that another thread keeps using.
#[test]
fn no_snapshot_outlives_an_invalidation() {
    loom::model(|| {
        let endpoint = Endpoint::new(200, 3600);
        let manager = manager(&endpoint, &StillClock::new());
        let source = manager.source(params()).unwrap();
        let first = source.token().unwrap();
        let invalidated = Arc::new(AtomicBool::new(false));
        let invalidator = {
            let (manager, request, first, invalidated) = (
                manager.clone(),
                source.request().clone(),
                Arc::clone(&first),
                Arc::clone(&invalidated),
            );
            thread::spawn(move || {
                assert!(manager.invalidate(&request, &first));
                invalidated.store(true, Ordering::Release);
            })
        };
        for _ in 0..2 {
            let seen = invalidated.load(Ordering::Acquire);
            let token = source
                .with_token(|token| token.access_token().expose_secret().to_owned())
                .unwrap();
            if seen {
                assert_ne!(token, "token-0", "a snapshot outlived the invalidation");
            }
        }
        invalidator.join().unwrap();
        assert_eq!(manager.tickets_out(), 0);
    });
}
