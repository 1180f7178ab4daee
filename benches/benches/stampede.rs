//! `stampede`: 10,000 async callers ask for the same token at once, on an empty cache, from the
//! in-process test server (a Logto-compatible token endpoint on 127.0.0.1) that answers every token
//! request after a fixed 50 ms delay, over the real hyper transport
//! (`logto_m2m_hyper::token_manager_for`) on a tokio multi-thread runtime.
//!
//! Each iteration starts with a new manager (an empty cache and a new connection pool; built
//! before the clock starts), spawns the 10,000 callers as tokio tasks (each with a clone of one
//! `TokenSource`), and stops the clock when the last one has its token. Every iteration asserts
//! that the server saw exactly one token request and that every caller got the same token. The
//! same is measured for a single caller, as the baseline of one exchange with the same delay.
//!
//! Beside ours, the same stampede on:
//!
//! - huskarl 0.11's cached client-credentials token (`InMemoryTokenCache::token()`, a new cache per
//!   iteration), sending through a new hyper transport of ours to the same server, so that only
//!   the token handling differs;
//! - a bare tokio baseline: one task sends the same token request through a new hyper transport
//!   and publishes the answer in a `tokio::sync::watch` channel that the 10,000 callers wait on
//!   (the least any single-flight cache on tokio can do).
//!
//! Ours against each is judged on an interleaved measurement: stampedes of the two sides
//! alternating, and the median of the per-round ratios of their times until all are served. Every
//! stampede starts after the same pause, so that none inherits the tail of the one before.
//!
//! Apart from the runtime's scheduling, the summary also gives what one waiting caller costs ours
//! and huskarl's: the first poll of 10,000 callers' futures while a request is in flight, and their
//! drop, polled by hand with a no-op waker.
#![allow(clippy::expect_used)] // A bench that cannot set itself up has nothing to measure.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use huskarl::cache::TokenSource as _;
use logto_m2m::{AsyncTokenManager, ClientConfig, TokenParams, TokenRequest, Transport};
use logto_m2m_benches::huskarl::{HuskarlCache, SameTransport, huskarl_cache};
use logto_m2m_benches::{
    NOT_MEASURED, Recorder, Summary, Verdict, format_ns, interleaved_median, median,
};
use logto_m2m_hyper::HyperTransport;
use logto_m2m_testkit::{Fault, TestServer, defaults};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const SAMPLE_SIZE: usize = 10;
const CALLERS: usize = 10_000;
const SERVER_DELAY: Duration = Duration::from_millis(50);
/// Rounds of each interleaved comparison (each round: one stampede of each side).
const ROUNDS: usize = 41;
/// The pause before each stampede, on the runtime it runs on: the previous stampede's tail (its
/// connection closed, its memory freed, the workers it kept busy) is over before the clock starts,
/// whichever side ran it. Without it, whether a worker is still awake from the round before
/// decides whether the first callers are polled while the others are still being spawned or only
/// after (a swing of about 2 ms), and that depends on which side ran the round before.
const SETTLE: Duration = Duration::from_millis(5);

const STAMPEDE: &str = "10000_callers";
const SINGLE: &str = "1_caller";
const HUSKARL: &str = "huskarl_10000_callers";
const TOKIO_WATCH: &str = "tokio_watch_10000_callers";

/// Who serves the callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Ours: a `TokenSource` of `logto_m2m_hyper::token_manager_for`.
    Ours,
    /// huskarl 0.11's `InMemoryTokenCache`, on a hyper transport of ours.
    Huskarl,
    /// One task sends the request; the callers wait on a `tokio::sync::watch` channel.
    TokioWatch,
}

/// What the assertions saw (stampedes run, the most token requests one of them sent), and when,
/// in each 10,000-caller stampede of each side, the callers were all spawned, the first was served
/// and the last was served.
#[derive(Debug, Default)]
struct Tally {
    stampedes: u64,
    max_requests: usize,
    ours: Milestones,
    huskarl: Milestones,
    tokio_watch: Milestones,
}

impl Tally {
    fn milestones(&mut self, side: Side) -> &mut Milestones {
        match side {
            Side::Ours => &mut self.ours,
            Side::Huskarl => &mut self.huskarl,
            Side::TokioWatch => &mut self.tokio_watch,
        }
    }
}

/// When, in each stampede of one side, the callers were all spawned, the first was served and the
/// last was served (ns from the first spawn).
#[derive(Debug, Default)]
struct Milestones {
    spawned: Vec<f64>,
    first_served: Vec<f64>,
    all_served: Vec<f64>,
}

/// The milestones of one round, from the first spawn.
struct Round {
    spawned: Duration,
    first_served: Duration,
    all_served: Duration,
}

/// Everything a round needs.
struct Setup {
    runtime: Runtime,
    server: TestServer,
    config: ClientConfig,
}

fn main() {
    let recorder = Recorder::new(SAMPLE_SIZE);
    let tally = Mutex::new(Tally::default());
    let mut criterion = logto_m2m_benches::criterion(SAMPLE_SIZE);
    let interleaved = bench(&mut criterion, &recorder, &tally);
    criterion.final_summary();
    summary(&recorder, &tally, &interleaved).print();
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn params() -> TokenParams {
    TokenParams::for_resource(defaults::RESOURCE).scopes(defaults::GRANTED_SCOPES)
}

/// Spawns `callers` tasks running `call()` and waits for them all; checks that every caller got
/// the same token (`token_of` reads it).
async fn stampede<T, F>(
    callers: usize,
    call: impl Fn() -> F,
    token_of: impl Fn(&T) -> &str,
) -> Round
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..callers {
        tasks.spawn(call());
    }
    let spawned = start.elapsed();
    let mut first: Option<(T, Duration)> = None;
    while let Some(joined) = tasks.join_next().await {
        let token = joined.expect("a caller finished");
        match &first {
            Some((first, _)) => {
                assert_eq!(
                    token_of(first),
                    token_of(&token),
                    "every caller gets the same token"
                );
            }
            None => first = Some((token, start.elapsed())),
        }
    }
    Round {
        spawned,
        first_served: first.map_or(Duration::ZERO, |(_, at)| at),
        all_served: start.elapsed(),
    }
}

/// One stampede of `callers` on `side`, on a new cache and a new connection pool (built before the
/// clock starts, after a pause of [`SETTLE`]). Asserts that the server saw exactly one token
/// request.
fn one_round(setup: &Setup, side: Side, callers: usize, tally: &Mutex<Tally>) -> Round {
    let Setup {
        runtime,
        server,
        config,
    } = setup;
    let before = server.token_requests();
    let round = runtime.block_on(async {
        tokio::time::sleep(SETTLE).await;
        match side {
            Side::Ours => {
                let manager = logto_m2m_hyper::token_manager_for(config.clone());
                let source = manager.source(params()).expect("valid parameters");
                stampede(
                    callers,
                    || {
                        let source = source.clone();
                        async move { source.token().await.expect("a token") }
                    },
                    |token| token.access_token().expose_secret(),
                )
                .await
            }
            Side::Huskarl => {
                let transport = HyperTransport::new();
                let cache = huskarl_cache(
                    &server.token_endpoint(),
                    defaults::APP_ID,
                    defaults::APP_SECRET,
                    defaults::RESOURCE,
                    &defaults::GRANTED_SCOPES,
                    SameTransport(move |request| {
                        let transport = transport.clone();
                        async move { transport.send(request).await }
                    }),
                )
                .expect("huskarl takes the token endpoint");
                stampede(
                    callers,
                    || {
                        let cache = Arc::clone(&cache);
                        async move { cache.token().await.expect("a token") }
                    },
                    |token| token.access_token().token().expose_secret(),
                )
                .await
            }
            Side::TokioWatch => {
                let transport = HyperTransport::new();
                let request = TokenRequest::new(config, params()).expect("valid parameters");
                let (publish, answer) = tokio::sync::watch::channel(None);
                tokio::spawn(async move {
                    let response = transport
                        .send(request.to_http())
                        .await
                        .expect("the token endpoint answers");
                    publish.send_replace(Some(Arc::new(response.into_body())));
                });
                stampede(
                    callers,
                    || {
                        let mut answer = answer.clone();
                        async move {
                            let answer = answer.wait_for(Option::is_some).await.expect("an answer");
                            answer.clone().expect("an answer")
                        }
                    },
                    |body: &Arc<Vec<u8>>| std::str::from_utf8(body).expect("a JSON answer"),
                )
                .await
            }
        }
    });
    let sent = server.token_requests() - before;
    assert_eq!(
        sent, 1,
        "{callers} callers on one key must send exactly one request"
    );
    let mut tally = tally.lock().expect("not poisoned");
    if callers == CALLERS {
        if side == Side::Ours {
            tally.stampedes += 1;
        }
        let milestones = tally.milestones(side);
        milestones.spawned.push(round.spawned.as_secs_f64() * 1e9);
        milestones
            .first_served
            .push(round.first_served.as_secs_f64() * 1e9);
        milestones
            .all_served
            .push(round.all_served.as_secs_f64() * 1e9);
    }
    tally.max_requests = tally.max_requests.max(sent);
    round
}

/// `iters` stampedes of `callers` on `side`: the time from the first spawn to the last token,
/// summed over them.
fn rounds(setup: &Setup, side: Side, callers: usize, iters: u64, tally: &Mutex<Tally>) -> Duration {
    (0..iters)
        .map(|_| one_round(setup, side, callers, tally).all_served)
        .sum()
}

/// What the interleaved comparisons found: the median of the per-round ratios huskarl time / our
/// time, and tokio baseline time / our time.
#[derive(Debug, Default)]
struct Interleaved {
    huskarl: Option<f64>,
    tokio_watch: Option<f64>,
}

fn bench(criterion: &mut Criterion, recorder: &Recorder, tally: &Mutex<Tally>) -> Interleaved {
    let server = TestServer::start_default().expect("the test server");
    server.inject_when(|_| true, Fault::Delay(SERVER_DELAY));
    let config = ClientConfig::builder(server.endpoint(), defaults::APP_ID, defaults::APP_SECRET)
        .build()
        .expect("a valid configuration");
    let setup = Setup {
        runtime: runtime(),
        server,
        config,
    };

    let mut group = criterion.benchmark_group("stampede");
    group.sampling_mode(SamplingMode::Flat);
    for (id, side, callers) in [
        (STAMPEDE, Side::Ours, CALLERS),
        (SINGLE, Side::Ours, 1),
        (HUSKARL, Side::Huskarl, CALLERS),
        (TOKIO_WATCH, Side::TokioWatch, CALLERS),
    ] {
        group.throughput(Throughput::Elements(callers as u64));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                recorder.record(id, iters, rounds(&setup, side, callers, iters, tally))
            });
        });
    }
    group.finish();

    // Ours against each of the others, interleaved; only after a real run.
    let versus = |side: Side, id: &str| {
        recorder.median_ns(id)?;
        recorder.median_ns(STAMPEDE)?;
        interleaved_median(
            ROUNDS,
            || one_round(&setup, Side::Ours, CALLERS, tally).all_served,
            || one_round(&setup, side, CALLERS, tally).all_served,
            |ours, theirs| theirs / ours,
        )
    };
    Interleaved {
        huskarl: versus(Side::Huskarl, HUSKARL),
        tokio_watch: versus(Side::TokioWatch, TOKIO_WATCH),
    }
}

/// The configuration of an app whose token endpoint nobody answers (for what is measured without
/// a server).
fn unreachable_config() -> ClientConfig {
    ClientConfig::builder("http://127.0.0.1:1", defaults::APP_ID, defaults::APP_SECRET)
        .build()
        .expect("a valid configuration")
}

/// huskarl's cache for the same app, sending through `http`.
fn unreachable_huskarl(http: impl huskarl::core::http::HttpClient + 'static) -> Arc<HuskarlCache> {
    huskarl_cache(
        "http://127.0.0.1:1/oidc/token",
        defaults::APP_ID,
        defaults::APP_SECRET,
        defaults::RESOURCE,
        &defaults::GRANTED_SCOPES,
        http,
    )
    .expect("huskarl takes the token endpoint")
}

/// The size of what tokio spawns for one caller of each side, in bytes: the future of
/// `async move { source.token().await }` (ours) and `async move { cache.token().await }`
/// (huskarl's).
fn caller_future_sizes() -> (usize, usize) {
    let config = unreachable_config();
    let runtime = runtime();
    let _entered = runtime.enter();
    let manager = logto_m2m_hyper::token_manager_for(config);
    let source = manager.source(params()).expect("valid parameters");
    let ours = async move { source.token().await };
    let transport = HyperTransport::new();
    let cache = unreachable_huskarl(SameTransport(move |request| {
        let transport = transport.clone();
        async move { transport.send(request).await }
    }));
    let theirs = async move { cache.token().await };
    (size_of_val(&ours), size_of_val(&theirs))
}

/// Rounds of [`waiter_costs`], and how many of them are left out first (warm-up).
const COST_ROUNDS: usize = 20;
const COST_WARM_UP: usize = 5;

/// What one waiting caller costs each side, without a runtime's scheduling (medians over rounds,
/// ns per caller).
#[derive(Debug, Default)]
struct WaiterCosts {
    ours_poll: f64,
    ours_drop: f64,
    huskarl_poll: f64,
    huskarl_drop: f64,
}

/// [`CALLERS`] callers' futures of each side (each boxed, as tokio boxes a task's), polled once
/// each with a no-op waker while the request is in flight (the endpoint never answers: ours has
/// sent it and a second caller waits for it; huskarl's first caller holds its mutex), then
/// dropped: the time per caller of the first poll (starting to wait) and of the drop.
fn waiter_costs() -> WaiterCosts {
    type Answer = Result<logto_m2m::proto::http::Response<Vec<u8>>, std::io::Error>;
    fn never(_request: logto_m2m::proto::http::Request<Vec<u8>>) -> std::future::Pending<Answer> {
        std::future::pending()
    }
    fn per_caller(took: Duration) -> f64 {
        #[allow(clippy::cast_precision_loss)] // 10,000 is exact.
        let callers = CALLERS as f64;
        took.as_secs_f64() * 1e9 / callers
    }
    fn first_polls<F: Future>(futures: &mut [std::pin::Pin<Box<F>>]) -> Duration {
        let mut context = Context::from_waker(Waker::noop());
        let start = Instant::now();
        for future in futures.iter_mut() {
            assert!(future.as_mut().poll(&mut context).is_pending(), "a waiter");
        }
        start.elapsed()
    }
    fn dropped<T>(futures: Vec<T>) -> Duration {
        let start = Instant::now();
        drop(futures);
        start.elapsed()
    }
    let config = unreachable_config();
    let runtime = runtime();
    let _entered = runtime.enter();
    let mut context = Context::from_waker(Waker::noop());
    let mut rounds = Vec::new();
    for _ in 0..COST_ROUNDS {
        let manager = AsyncTokenManager::builder(never, config.clone())
            .sleeper(|_| std::future::pending::<()>())
            .build_async();
        let source = manager.source(params()).expect("valid parameters");
        let mut first = [Box::pin(source.token()), Box::pin(source.token())];
        for future in &mut first {
            assert!(future.as_mut().poll(&mut context).is_pending());
        }
        let mut ours: Vec<_> = (0..CALLERS)
            .map(|_| {
                let source = source.clone();
                Box::pin(async move { source.token().await })
            })
            .collect();
        let ours_poll = first_polls(&mut ours);
        let ours_drop = dropped(ours);

        let cache = unreachable_huskarl(SameTransport(never));
        let mut holder = {
            let cache = Arc::clone(&cache);
            Box::pin(async move { cache.token().await })
        };
        assert!(holder.as_mut().poll(&mut context).is_pending());
        let mut theirs: Vec<_> = (0..CALLERS)
            .map(|_| {
                let cache = Arc::clone(&cache);
                Box::pin(async move { cache.token().await })
            })
            .collect();
        let huskarl_poll = first_polls(&mut theirs);
        let huskarl_drop = dropped(theirs);
        rounds.push([ours_poll, ours_drop, huskarl_poll, huskarl_drop].map(per_caller));
    }
    let median_of = |column: usize| {
        let mut values: Vec<f64> = rounds
            .iter()
            .skip(COST_WARM_UP)
            .filter_map(|round| round.get(column).copied())
            .collect();
        values.sort_by(f64::total_cmp);
        median(&values).unwrap_or(f64::NAN)
    };
    WaiterCosts {
        ours_poll: median_of(0),
        ours_drop: median_of(1),
        huskarl_poll: median_of(2),
        huskarl_drop: median_of(3),
    }
}

fn summary(recorder: &Recorder, tally: &Mutex<Tally>, interleaved: &Interleaved) -> Summary {
    let tally = &*tally.lock().expect("not poisoned");
    let mut summary = Summary::new(format!(
        "stampede: {CALLERS} async callers, one key, empty cache, server delay {} ms, hyper transport",
        SERVER_DELAY.as_millis()
    ));
    summary.row(
        "token requests sent per stampede (every side)",
        format!(
            "{} (asserted in each stampede; {} of ours with {CALLERS} callers)",
            tally.max_requests, tally.stampedes
        ),
        "1",
        Verdict::of(tally.max_requests == 1 && tally.stampedes > 0),
    );
    let delay_ns = SERVER_DELAY.as_secs_f64() * 1e9;
    let stampede = recorder.median_ns(STAMPEDE);
    let single = recorder.median_ns(SINGLE);
    for (id, label) in [
        (
            STAMPEDE,
            format!("ours: time until all {CALLERS} are served"),
        ),
        (SINGLE, "ours: time for 1 caller (baseline)".to_owned()),
        (
            HUSKARL,
            format!("huskarl 0.11: time until all {CALLERS} are served"),
        ),
        (
            TOKIO_WATCH,
            format!(
                "bare tokio (one request, `watch` waiters): time until all {CALLERS} are served"
            ),
        ),
    ] {
        let result = recorder.median_ns(id).map_or_else(
            || NOT_MEASURED.to_owned(),
            |ns| format!("{} (delay + {})", format_ns(ns), format_ns(ns - delay_ns)),
        );
        summary.row(label, result, "", Verdict::Info);
    }
    let median_of = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        median(&sorted)
    };
    for (milestones, name) in [
        (&tally.ours, "ours"),
        (&tally.huskarl, "huskarl"),
        (&tally.tokio_watch, "bare tokio"),
    ] {
        let (Some(spawned), Some(first), Some(all)) = (
            median_of(&milestones.spawned),
            median_of(&milestones.first_served),
            median_of(&milestones.all_served),
        ) else {
            continue;
        };
        summary.row(
            format!("{name}, in one stampede (medians over all rounds): all spawned / first served / all served"),
            format!(
                "{} / {} / {}: the {} waiters are served {} after the first",
                format_ns(spawned),
                format_ns(first),
                format_ns(all),
                CALLERS - 1,
                format_ns(all - first)
            ),
            "",
            Verdict::Info,
        );
    }
    if let (Some(stampede), Some(single)) = (stampede, single) {
        #[allow(clippy::cast_precision_loss)] // 10,000 is exact.
        let per_caller = (stampede - single) / (CALLERS - 1) as f64;
        summary.row(
            "ours: cost of each extra caller",
            format!(
                "{} ({:.2}× the single caller's time in all)",
                format_ns(per_caller),
                stampede / single
            ),
            "",
            Verdict::Info,
        );
    }
    for (ratio, label) in [
        (interleaved.huskarl, "huskarl 0.11 time / our time"),
        (interleaved.tokio_watch, "bare tokio time / our time"),
    ] {
        let label = format!(
            "{label}, until all {CALLERS} are served (interleaved, median of {ROUNDS} rounds)"
        );
        match ratio {
            Some(ratio) => summary.row(
                label,
                format!("{ratio:.3}×"),
                "> 1× (ahead)",
                Verdict::of(ratio > 1.0),
            ),
            None => summary.row(label, NOT_MEASURED, "", Verdict::Info),
        }
    }
    let (ours, theirs) = caller_future_sizes();
    summary.row(
        "size of what tokio spawns per caller: ours / huskarl's",
        format!("{ours} / {theirs} bytes"),
        "",
        Verdict::Info,
    );
    let costs = waiter_costs();
    summary.row(
        format!(
            "one waiting caller, no runtime (median of {} rounds of {CALLERS}): first poll / drop",
            COST_ROUNDS - COST_WARM_UP
        ),
        format!(
            "ours {} / {}, huskarl {} / {}",
            format_ns(costs.ours_poll),
            format_ns(costs.ours_drop),
            format_ns(costs.huskarl_poll),
            format_ns(costs.huskarl_drop)
        ),
        "",
        Verdict::Info,
    );
    summary
}
