//! One replica of the fleet: a blocking manager on ureq with threads, or an async manager on hyper
//! with tokio tasks, asking tokens for every resource for a while, through the shared store (or
//! without it), and checking every token it is served. Prints its report as one JSON line.
//!
//! `fleet-replica ENDPOINT blocking|async RUN_MS WORKERS REDIS_URL|none LOCK_TTL_MS APP_ID APP_SECRET`

// A test program: a bad argument or a failure to start is a failed run.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use logto_m2m::{
    CachePolicy, ConfigError, RetryPolicy, SharedStorePolicy, Token, TokenParams, TokenSource,
    TransportBuilder, TransportManagerBuilder,
};
use logto_m2m_fleet::resources;
use logto_m2m_redis::RedisStore;

/// What every call saw.
#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    errors: AtomicU64,
    expired: AtomicU64,
    foreign: AtomicU64,
    max_call_ms: AtomicU64,
}

impl Tally {
    fn record(&self, app_id: &str, resource: &str, result: Result<&Token, ()>, took: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let millis = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.max_call_ms.fetch_max(millis, Ordering::Relaxed);
        let Ok(token) = result else {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match claims(token) {
            Some((audience, client_id, expiry)) => {
                if audience != resource || client_id != app_id {
                    self.foreign.fetch_add(1, Ordering::Relaxed);
                }
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |since| since.as_secs());
                if expiry <= now {
                    self.expired.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn report(&self) -> String {
        serde_json::json!({
            "calls": self.calls.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
            "expired": self.expired.load(Ordering::Relaxed),
            "foreign": self.foreign.load(Ordering::Relaxed),
            "max_call_ms": self.max_call_ms.load(Ordering::Relaxed),
        })
        .to_string()
    }
}

/// The token's `aud`, `client_id` and `exp` claims (read, not verified: the server signed what it
/// issued; a token from anywhere else would not even be a JWT of this shape).
fn claims(token: &Token) -> Option<(String, String, u64)> {
    let payload = token.access_token().expose_secret().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let audience = value.get("aud")?.as_str()?.to_owned();
    let client_id = value.get("client_id")?.as_str()?.to_owned();
    let expiry = value.get("exp")?.as_u64()?;
    Some((audience, client_id, expiry))
}

struct Args {
    endpoint: String,
    mode: String,
    run_for: Duration,
    workers: usize,
    redis_url: Option<String>,
    lock_ttl: Duration,
    app_id: String,
    app_secret: String,
}

fn args() -> Args {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |index: usize| args.get(index).cloned().unwrap_or_default();
    let millis = |index: usize| Duration::from_millis(arg(index).parse().unwrap_or(1000));
    Args {
        endpoint: arg(0),
        mode: arg(1),
        run_for: millis(2),
        workers: arg(3).parse().unwrap_or(4),
        redis_url: Some(arg(4)).filter(|url| url != "none" && !url.is_empty()),
        lock_ttl: millis(5),
        app_id: arg(6),
        app_secret: arg(7),
    }
}

fn store_policy(args: &Args) -> SharedStorePolicy {
    SharedStorePolicy::default()
        .with_lock_ttl(args.lock_ttl)
        // Every replica runs on this machine, on one clock.
        .with_max_clock_skew(Duration::from_millis(200))
}

/// Each call has this long at most: a token, or an error.
const MAX_WAIT: Duration = Duration::from_secs(5);

fn retry_policy() -> RetryPolicy {
    RetryPolicy::default().with_max_wait(MAX_WAIT)
}

fn main() {
    let args = args();
    let tally = Arc::new(Tally::default());
    let store = args.redis_url.as_deref().map(|url| {
        RedisStore::from_url(url).unwrap_or_else(|error| panic!("bad Redis URL: {error}"))
    });
    match args.mode.as_str() {
        "blocking" => run_blocking(&args, store, &tally),
        "async" => run_async(&args, store, &tally),
        other => panic!("unknown mode {other}"),
    }
    println!("{}", tally.report());
}

/// The manager of either transport, with this run's policies and store.
fn configured<B: TransportBuilder>(
    builder: Result<TransportManagerBuilder<B>, ConfigError>,
    args: &Args,
    store: Option<RedisStore>,
) -> TransportManagerBuilder<B> {
    let builder = builder
        .unwrap_or_else(|error| panic!("config: {error}"))
        .cache_policy(CachePolicy::default())
        .retry_policy(retry_policy())
        .shared_store_policy(store_policy(args));
    match store {
        Some(store) => builder.shared_store(store),
        None => builder,
    }
}

/// A token source for each resource, named by it.
fn sources<M>(
    source: impl Fn(TokenParams) -> Result<TokenSource<M>, ConfigError>,
) -> Vec<(String, TokenSource<M>)> {
    resources()
        .into_iter()
        .map(|resource| {
            let params = TokenParams::for_resource(resource.clone()).scope("read");
            (resource, source(params).unwrap_or_else(|e| panic!("{e}")))
        })
        .collect()
}

fn run_blocking(args: &Args, store: Option<RedisStore>, tally: &Arc<Tally>) {
    let builder = logto_m2m_ureq::token_manager_builder(
        &args.endpoint,
        args.app_id.as_str(),
        args.app_secret.as_str(),
    );
    let manager = configured(builder, args, store).build();
    let deadline = Instant::now() + args.run_for;
    std::thread::scope(|scope| {
        for _ in 0..args.workers {
            let manager = manager.clone();
            let tally = Arc::clone(tally);
            let app_id = args.app_id.clone();
            scope.spawn(move || {
                let sources = sources(|params| manager.source(params));
                while Instant::now() < deadline {
                    for (resource, source) in &sources {
                        let started = Instant::now();
                        let result = source.token();
                        tally.record(
                            &app_id,
                            resource,
                            result.as_deref().map_err(|_| ()),
                            started.elapsed(),
                        );
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
    });
}

fn run_async(args: &Args, store: Option<RedisStore>, tally: &Arc<Tally>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("runtime: {error}"));
    runtime.block_on(async {
        let builder = logto_m2m_hyper::token_manager_builder(
            &args.endpoint,
            args.app_id.as_str(),
            args.app_secret.as_str(),
        );
        let manager = configured(builder, args, store).build();
        let deadline = tokio::time::Instant::now() + args.run_for;
        let mut tasks = Vec::new();
        for _ in 0..args.workers {
            let manager = manager.clone();
            let tally = Arc::clone(tally);
            let app_id = args.app_id.clone();
            tasks.push(tokio::spawn(async move {
                let sources = sources(|params| manager.source(params));
                while tokio::time::Instant::now() < deadline {
                    for (resource, source) in &sources {
                        let started = Instant::now();
                        let result = source.token().await;
                        tally.record(
                            &app_id,
                            resource,
                            result.as_deref().map_err(|_| ()),
                            started.elapsed(),
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}
