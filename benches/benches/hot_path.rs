//! `hot_path`: getting a fresh cached token, from the blocking and the async manager, on one thread
//! and on two.
//!
//! - `TokenSource::with_token(|token| ..)`: the lock-free path that lends the token (an `ArcSwap`
//!   load, an atomic load, a clock read; the closure reads the token's length);
//! - `TokenSource::token()`: the same path handing out an owned `Arc<Token>` (a reference-count
//!   increment; the bench then drops the `Arc`, a decrement);
//! - `manager.token(&request)`: the locking path (the state machine behind a mutex), for
//!   comparison.
//!
//! The token is fetched once before measuring, through an in-memory transport that answers with
//! the recorded Logto response (`expires_in` 1800 s), so every measured call is a cache hit. Async
//! calls are awaited in a loop inside one `block_on` of a current-thread tokio runtime per thread:
//! a cache hit is ready at the first poll, so this is the call's own cost.
//!
//! With two threads, both threads share one source (one manager, one cached token) and each makes
//! `iters` calls; the time reported is the wall time for both, i.e. nanoseconds per call per
//! thread, and the summary gives the aggregate throughput against one thread. The scaling targets
//! are judged on an interleaved measurement (one-thread and two-thread runs alternating, the
//! median of the per-round ratios), which drifting load from other processes cannot tilt; the
//! clock-read control is measured the same way.
//!
//! The peer: huskarl 0.11's cached client-credentials token (`InMemoryTokenCache::token()`, an
//! owned `Arc` of the token response), fetched once through the same in-memory transport, on one
//! thread and on two sharing one cache. Ours against it is judged on an interleaved measurement
//! too (the two sides alternating, on the same number of threads, the median of the per-round
//! ratios huskarl time / our time).
//!
//! Reference rows give the floor and the cause: a clock read (shares nothing, so on two threads it
//! shows whether the machine really runs two threads at once), and an `Arc` clone + drop of one
//! shared `Arc` (what `token()` adds to `with_token`).
#![allow(clippy::expect_used)] // A bench that cannot set itself up has nothing to measure.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use huskarl::cache::TokenSource as _;
use logto_m2m::{AsyncTokenManager, BlockingTokenManager};
use logto_m2m_benches::huskarl::{SameTransport, huskarl_cache};
use logto_m2m_benches::{
    APP_ID, APP_SECRET, GOOD_BASIC, NOT_MEASURED, RESOURCE, Recorder, SCOPES, Summary,
    TOKEN_ENDPOINT, Verdict, config, format_ns, interleaved_median, params, recorded_response,
    replay, timed_on_threads,
};

const SAMPLE_SIZE: usize = 20;
/// Target: at most this many nanoseconds per call of a targeted path on one thread.
const TARGET_NS: f64 = 50.0;
/// Target: two threads get at least this many times the one-thread throughput.
const TARGET_SCALING: f64 = 1.8;

/// The measured paths: benchmark id prefix, what the summary calls it, and whether the targets
/// apply to it.
const PATHS: [(&str, &str, bool); 7] = [
    (
        "blocking_source_lend",
        "blocking TokenSource::with_token(..)",
        true,
    ),
    (
        "async_source_lend",
        "async TokenSource::with_token(..).await",
        true,
    ),
    ("blocking_source", "blocking TokenSource::token()", true),
    ("async_source", "async TokenSource::token().await", true),
    (
        "blocking_manager",
        "blocking manager.token(&request)",
        false,
    ),
    (
        "async_manager",
        "async manager.token(&request).await",
        false,
    ),
    (
        HUSKARL,
        "huskarl 0.11: InMemoryTokenCache::token().await",
        false,
    ),
];
/// The peer's path: huskarl's cached client-credentials token.
const HUSKARL: &str = "huskarl_cache";
/// Ours against the peer, interleaved: our path's id prefix and what the summary calls it.
const VERSUS_HUSKARL: [(&str, &str); 2] = [
    ("async_source_lend", "async TokenSource::with_token(..)"),
    ("async_source", "async TokenSource::token()"),
];
/// Rounds of the interleaved comparison with the peer, and calls per thread in each run.
const PEER_ROUNDS: usize = 15;
const PEER_BLOCK: u64 = 1_000_000;
/// The reference whose scaling is measured interleaved too: a clock read shares nothing, so it
/// shows how far two threads can scale on this machine at all.
const CONTROL: &str = "instant_now";
/// With the `metrics` feature, a reference row: the per-thread tally of one hit, alone.
const HIT_TALLY: &str = "hit_tally";
/// Reference rows: the clock read, an `Arc` clone + drop of one shared `Arc`, and (with the
/// `metrics` feature) the per-thread hit tally.
const REFERENCES: [(&str, &str); 3] = [
    ("instant_now", "reference: Instant::now() (nothing shared)"),
    (
        "arc_clone_drop",
        "reference: Arc clone + drop, one shared Arc",
    ),
    (
        HIT_TALLY,
        "reference: the per-thread tally of one cache hit (what the `metrics` feature adds)",
    ),
];

fn main() {
    // With the `metrics` feature: a recorder installed before the managers are built, as a
    // service would, so that cache hits are tallied and their batches recorded.
    #[cfg(feature = "metrics")]
    metrics_util::debugging::DebuggingRecorder::new()
        .install()
        .expect("the only recorder");
    let recorder = Recorder::new(SAMPLE_SIZE);
    let mut criterion = logto_m2m_benches::criterion(SAMPLE_SIZE);
    let interleaved = bench(&mut criterion, &recorder);
    criterion.final_summary();
    summary(&recorder, &interleaved).print();
}

fn id(path: &str, threads: usize) -> String {
    format!(
        "{path}/{threads}_thread{}",
        if threads == 1 { "" } else { "s" }
    )
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
}

/// What one thread runs: built in the thread for a number of calls, then timed.
type Run<'a> = Box<dyn FnOnce() + 'a>;

/// A thread's run of `iters` calls of `call` on `state` (the thread's own clone of a source or a
/// manager).
fn repeated<'a, S: 'a, R>(iters: u64, state: S, call: impl Fn(&S) -> R + 'a) -> Run<'a> {
    Box::new(move || {
        for _ in 0..iters {
            black_box(call(&state));
        }
    })
}

/// A thread's run of `iters` awaited calls of `call` on `state`, in one `block_on` of the thread's
/// own current-thread runtime.
fn awaited<'a, S: 'a, R>(iters: u64, state: S, call: impl AsyncFn(&S) -> R + 'a) -> Run<'a> {
    let runtime = current_thread_runtime();
    Box::new(move || {
        runtime.block_on(async {
            for _ in 0..iters {
                black_box(call(&state).await);
            }
        });
    })
}
/// Builds a thread's [`Run`] of `iters` calls.
type Setup<'a> = Box<dyn Fn(u64) -> Run<'a> + Sync + 'a>;

/// Rounds of the interleaved scaling measurement, and calls per thread in each run of a round. A
/// run lasts a few hundred milliseconds: on a VM, the second thread of a two-thread run may start
/// a few milliseconds after the first (its vCPU wakes from idle), which in 25 ms runs alone made
/// the clock control scale only 1.7×.
const ROUNDS: usize = 15;
const BLOCK: u64 = 8_000_000;

/// Benchmarks `iters` calls of `setup`'s run on `threads` threads, each thread building its own.
fn bench_threads(
    group: &mut BenchmarkGroup<'_, WallTime>,
    recorder: &Recorder,
    id: &str,
    threads: usize,
    setup: &Setup<'_>,
) {
    group.throughput(Throughput::Elements(threads as u64));
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            recorder.record(id, iters, timed_on_threads(threads, || setup(iters)))
        });
    });
}

/// Two-thread throughput over one-thread throughput, measured interleaved: `ROUNDS` rounds, each
/// timing `BLOCK` calls on one thread and `BLOCK` calls per thread on two, and the median of the
/// per-round ratios.
fn interleaved_scaling(setup: &Setup<'_>) -> Option<f64> {
    interleaved_median(
        ROUNDS,
        || timed_on_threads(1, || setup(BLOCK)),
        || timed_on_threads(2, || setup(BLOCK)),
        |one, two| 2.0 * one / two,
    )
}

/// What the interleaved measurements found: each path's scaling on two threads, by id prefix; and
/// ours against huskarl (huskarl time / our time), by our path's id prefix and thread count.
#[derive(Debug, Default)]
struct Interleaved {
    scaling: HashMap<&'static str, f64>,
    versus_huskarl: HashMap<(&'static str, usize), f64>,
}

/// Ours against huskarl on `threads` threads: `PEER_ROUNDS` rounds, each timing `PEER_BLOCK` calls
/// per thread of each side, and the median of the per-round ratios huskarl time / our time.
fn interleaved_versus(ours: &Setup<'_>, theirs: &Setup<'_>, threads: usize) -> Option<f64> {
    interleaved_median(
        PEER_ROUNDS,
        || timed_on_threads(threads, || ours(PEER_BLOCK)),
        || timed_on_threads(threads, || theirs(PEER_BLOCK)),
        |ours, theirs| theirs / ours,
    )
}

fn bench(criterion: &mut Criterion, recorder: &Recorder) -> Interleaved {
    let response = recorded_response(GOOD_BASIC).expect("the recorded good basic answer");
    let config = config().expect("a valid configuration");

    // Blocking manager, token fetched once.
    let blocking = BlockingTokenManager::new(replay(response.clone()), config.clone());
    let blocking_source = blocking.source(params()).expect("valid parameters");
    let blocking_request = blocking.request(params()).expect("valid parameters");
    blocking_source.token().expect("the first fetch");
    blocking.token(&blocking_request).expect("a cached token");

    // Async manager (tokio hooks), token fetched once.
    let reply = replay(response);
    let transport = move |request| std::future::ready(reply(request));
    let runtime = current_thread_runtime();
    let asynchronous = {
        let _entered = runtime.enter();
        logto_m2m_hyper::with_tokio(AsyncTokenManager::builder(transport, config)).build_async()
    };
    let async_source = asynchronous.source(params()).expect("valid parameters");
    let async_request = asynchronous.request(params()).expect("valid parameters");
    runtime.block_on(async {
        async_source.token().await.expect("the first fetch");
        asynchronous
            .token(&async_request)
            .await
            .expect("a cached token");
    });
    // huskarl's cache (the same in-memory answer), token fetched once; the same token as ours.
    let huskarl_reply = replay(recorded_response(GOOD_BASIC).expect("the recorded answer"));
    let huskarl = huskarl_cache(
        TOKEN_ENDPOINT,
        APP_ID,
        APP_SECRET,
        RESOURCE,
        &SCOPES,
        SameTransport(move |request| std::future::ready(huskarl_reply(request))),
    )
    .expect("huskarl takes the token endpoint");
    runtime.block_on(async {
        let theirs = huskarl.token().await.expect("huskarl's first fetch");
        let ours = async_source.token().await.expect("a cached token");
        assert_eq!(
            theirs.access_token().token().expose_secret(),
            ours.access_token().expose_secret(),
            "both sides hold the same token"
        );
    });
    let shared = Arc::new(0_u64);
    #[cfg(feature = "metrics")]
    let tally = thread_local::ThreadLocal::<
        crossbeam_utils::CachePadded<std::sync::atomic::AtomicU64>,
    >::new();

    // Each path, by benchmark id prefix. Async calls are awaited in one `block_on` per thread.
    #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
    let mut setups: Vec<(&'static str, Setup<'_>)> = vec![
        (
            "blocking_source_lend",
            Box::new(|iters| {
                repeated(iters, blocking_source.clone(), |source| {
                    source.with_token(|token| black_box(token.access_token().expose_secret().len()))
                })
            }),
        ),
        (
            "async_source_lend",
            Box::new(|iters| {
                awaited(iters, async_source.clone(), async |source| {
                    source
                        .with_token(|token| black_box(token.access_token().expose_secret().len()))
                        .await
                })
            }),
        ),
        (
            "blocking_source",
            Box::new(|iters| repeated(iters, blocking_source.clone(), |source| source.token())),
        ),
        (
            "async_source",
            Box::new(|iters| {
                awaited(iters, async_source.clone(), async |source| {
                    source.token().await
                })
            }),
        ),
        (
            "blocking_manager",
            Box::new(|iters| {
                let request = &blocking_request;
                repeated(iters, blocking.clone(), move |manager| {
                    manager.token(request)
                })
            }),
        ),
        (
            "async_manager",
            Box::new(|iters| {
                let request = &async_request;
                awaited(iters, asynchronous.clone(), async move |manager| {
                    manager.token(request).await
                })
            }),
        ),
        (
            HUSKARL,
            Box::new(|iters| {
                awaited(iters, Arc::clone(&huskarl), async |cache| {
                    cache.token().await
                })
            }),
        ),
        // The clock read shares nothing between threads: on two threads it scales as far as the
        // machine lets two threads run at once.
        (
            "instant_now",
            Box::new(|iters| repeated(iters, (), |()| Instant::now())),
        ),
        (
            "arc_clone_drop",
            Box::new(|iters| repeated(iters, &shared, |shared| Arc::clone(shared))),
        ),
    ];

    // With the `metrics` feature: what it adds to every hit, alone (the same steps as the
    // library's per-thread tally: this thread's padded slot, a load, a store, the batch check).
    #[cfg(feature = "metrics")]
    setups.push((
        HIT_TALLY,
        Box::new(|iters| {
            repeated(iters, &tally, |tally| {
                let mine = tally.get_or_default();
                let hits = mine
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .wrapping_add(1);
                mine.store(hits, std::sync::atomic::Ordering::Relaxed);
                hits % 1024 == 0
            })
        }),
    ));

    let mut group = criterion.benchmark_group("hot_path");
    for threads in [1, 2] {
        for (path, setup) in &setups {
            bench_threads(&mut group, recorder, &id(path, threads), threads, setup);
        }
    }
    group.finish();

    // The targeted paths and the control, interleaved; only after a real run (not when filtered
    // out, nor under `--test`).
    let mut interleaved = Interleaved::default();
    let setup_of = |wanted: &str| {
        setups
            .iter()
            .find(|(path, _)| *path == wanted)
            .map(|(_, setup)| setup)
    };
    let measured = |path: &str| {
        [1, 2]
            .iter()
            .all(|&threads| recorder.median_ns(&id(path, threads)).is_some())
    };
    for (path, setup) in &setups {
        let targeted = PATHS.iter().any(|(p, _, targeted)| p == path && *targeted);
        if measured(path) && (targeted || *path == CONTROL) {
            if let Some(ratio) = interleaved_scaling(setup) {
                interleaved.scaling.insert(*path, ratio);
            }
        }
    }
    // Ours against huskarl, on one thread and on two.
    for (path, _) in VERSUS_HUSKARL {
        if let (Some(ours), Some(theirs)) = (setup_of(path), setup_of(HUSKARL)) {
            if measured(path) && measured(HUSKARL) {
                for threads in [1, 2] {
                    if let Some(ratio) = interleaved_versus(ours, theirs, threads) {
                        interleaved.versus_huskarl.insert((path, threads), ratio);
                    }
                }
            }
        }
    }
    interleaved
}

fn summary(recorder: &Recorder, interleaved: &Interleaved) -> Summary {
    let mut summary = Summary::new(if cfg!(feature = "metrics") {
        "hot_path, with logto-m2m's `metrics` feature and a recorder: a fresh cached token (ns per call per thread; scaling = 2-thread throughput / 1-thread throughput)"
    } else {
        "hot_path: a fresh cached token (ns per call per thread; scaling = 2-thread throughput / 1-thread throughput)"
    });
    for (path, label, targeted) in PATHS {
        let one = recorder.median_ns(&id(path, 1));
        let two = recorder.median_ns(&id(path, 2));
        match one {
            Some(one) if targeted => summary.row(
                format!("{label}, 1 thread"),
                format_ns(one),
                format!("≤ {TARGET_NS:.0} ns"),
                Verdict::of(one <= TARGET_NS),
            ),
            Some(one) => summary.row(
                format!("{label}, 1 thread"),
                format_ns(one),
                "",
                Verdict::Info,
            ),
            None => summary.row(
                format!("{label}, 1 thread"),
                NOT_MEASURED,
                "",
                Verdict::Info,
            ),
        }
        match (one, two) {
            (Some(one), Some(two)) if two > 0.0 => {
                let scaling = 2.0 * one / two;
                let result = format!(
                    "{} per thread, {:.1} M calls/s in all, scaling {scaling:.2}× (criterion medians)",
                    format_ns(two),
                    2e3 / two
                );
                summary.row(format!("{label}, 2 threads"), result, "", Verdict::Info);
            }
            _ => summary.row(
                format!("{label}, 2 threads"),
                NOT_MEASURED,
                "",
                Verdict::Info,
            ),
        }
        if targeted {
            let label =
                format!("{label}, scaling on 2 threads (interleaved, median of {ROUNDS} rounds)");
            match interleaved.scaling.get(path) {
                Some(scaling) => summary.row(
                    label,
                    format!("{scaling:.2}×"),
                    format!("≥ {TARGET_SCALING}×"),
                    Verdict::of(*scaling >= TARGET_SCALING),
                ),
                None => summary.row(label, NOT_MEASURED, "", Verdict::Info),
            }
        }
    }
    for (path, label) in REFERENCES {
        for threads in [1, 2] {
            let Some(ns) = recorder.median_ns(&id(path, threads)) else {
                continue;
            };
            let result = if threads == 1 {
                format_ns(ns)
            } else {
                let one = recorder.median_ns(&id(path, 1)).unwrap_or(f64::NAN);
                format!(
                    "{} per thread, scaling {:.2}× (criterion medians)",
                    format_ns(ns),
                    2.0 * one / ns
                )
            };
            summary.row(
                format!(
                    "{label}, {threads} thread{}",
                    if threads == 1 { "" } else { "s" }
                ),
                result,
                "",
                Verdict::Info,
            );
        }
        if let Some(scaling) = interleaved.scaling.get(path) {
            summary.row(
                format!("{label}, scaling on 2 threads (interleaved) — the control"),
                format!("{scaling:.2}×"),
                "",
                Verdict::Info,
            );
        }
    }
    for (path, label) in VERSUS_HUSKARL {
        for threads in [1, 2] {
            let what = format!(
                "huskarl 0.11 time / {label} time, {threads} thread{} (interleaved, median of {PEER_ROUNDS} rounds)",
                if threads == 1 { "" } else { "s" }
            );
            match interleaved.versus_huskarl.get(&(path, threads)) {
                Some(ratio) => summary.row(
                    what,
                    format!("{ratio:.2}×"),
                    "> 1× (ahead)",
                    Verdict::of(*ratio > 1.0),
                ),
                None => summary.row(what, NOT_MEASURED, "", Verdict::Info),
            }
        }
    }
    summary
}
