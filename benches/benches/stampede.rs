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
#![allow(clippy::expect_used)] // A bench that cannot set itself up has nothing to measure.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use logto_m2m::{ClientConfig, TokenParams};
use logto_m2m_benches::{Recorder, Summary, Verdict, format_ns, median};
use logto_m2m_testkit::{Fault, TestServer, defaults};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const SAMPLE_SIZE: usize = 10;
const CALLERS: usize = 10_000;
const SERVER_DELAY: Duration = Duration::from_millis(50);

const STAMPEDE: &str = "10000_callers";
const SINGLE: &str = "1_caller";

/// What the assertions saw (stampedes run, the most token requests one of them sent), and when,
/// in each stampede, the callers were all spawned, the first was served and the last was served.
#[derive(Debug, Default)]
struct Tally {
    stampedes: u64,
    max_requests: usize,
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

fn main() {
    let recorder = Recorder::new(SAMPLE_SIZE);
    let tally = Mutex::new(Tally::default());
    let mut criterion = logto_m2m_benches::criterion(SAMPLE_SIZE);
    bench(&mut criterion, &recorder, &tally);
    criterion.final_summary();
    summary(&recorder, &tally).print();
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs `iters` rounds of `callers` concurrent callers on a fresh manager; returns the time spent
/// from the first spawn to the last token, summed over the rounds.
fn rounds(
    runtime: &Runtime,
    server: &TestServer,
    config: &ClientConfig,
    callers: usize,
    iters: u64,
    tally: &Mutex<Tally>,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let before = server.token_requests();
        let elapsed = runtime.block_on(async {
            let manager = logto_m2m_hyper::token_manager_for(config.clone());
            let source = manager
                .source(
                    TokenParams::for_resource(defaults::RESOURCE).scopes(defaults::GRANTED_SCOPES),
                )
                .expect("valid parameters");
            let start = Instant::now();
            let mut tasks = JoinSet::new();
            for _ in 0..callers {
                let source = source.clone();
                tasks.spawn(async move { source.token().await });
            }
            let spawned = start.elapsed();
            let mut first: Option<(String, Duration)> = None;
            while let Some(joined) = tasks.join_next().await {
                let token = joined.expect("a caller finished").expect("a token");
                let token = token.access_token().expose_secret();
                match &first {
                    Some((first, _)) => {
                        assert_eq!(first, token, "every caller gets the same token");
                    }
                    None => first = Some((token.to_owned(), start.elapsed())),
                }
            }
            Round {
                spawned,
                first_served: first.map_or(Duration::ZERO, |(_, at)| at),
                all_served: start.elapsed(),
            }
        });
        let sent = server.token_requests() - before;
        assert_eq!(
            sent, 1,
            "{callers} callers on one key must send exactly one request"
        );
        let mut tally = tally.lock().expect("not poisoned");
        if callers == CALLERS {
            tally.stampedes += 1;
            tally.spawned.push(elapsed.spawned.as_secs_f64() * 1e9);
            tally
                .first_served
                .push(elapsed.first_served.as_secs_f64() * 1e9);
            tally
                .all_served
                .push(elapsed.all_served.as_secs_f64() * 1e9);
        }
        tally.max_requests = tally.max_requests.max(sent);
        total += elapsed.all_served;
    }
    total
}

fn bench(criterion: &mut Criterion, recorder: &Recorder, tally: &Mutex<Tally>) {
    let server = TestServer::start_default().expect("the test server");
    server.inject_when(|_| true, Fault::Delay(SERVER_DELAY));
    let config = ClientConfig::builder(server.endpoint(), defaults::APP_ID, defaults::APP_SECRET)
        .build()
        .expect("a valid configuration");
    let runtime = runtime();

    let mut group = criterion.benchmark_group("stampede");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(CALLERS as u64));
    group.bench_function(STAMPEDE, |b| {
        b.iter_custom(|iters| {
            let elapsed = rounds(&runtime, &server, &config, CALLERS, iters, tally);
            recorder.record(STAMPEDE, iters, elapsed)
        });
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function(SINGLE, |b| {
        b.iter_custom(|iters| {
            let elapsed = rounds(&runtime, &server, &config, 1, iters, tally);
            recorder.record(SINGLE, iters, elapsed)
        });
    });
    group.finish();
}

fn summary(recorder: &Recorder, tally: &Mutex<Tally>) -> Summary {
    let tally = tally.lock().expect("not poisoned");
    let mut summary = Summary::new(format!(
        "stampede: {CALLERS} async callers, one key, empty cache, server delay {} ms, hyper transport",
        SERVER_DELAY.as_millis()
    ));
    summary.row(
        "token requests sent per stampede",
        format!(
            "{} (asserted in each of {} stampedes)",
            tally.max_requests, tally.stampedes
        ),
        "1",
        Verdict::of(tally.max_requests == 1 && tally.stampedes > 0),
    );
    let delay_ns = SERVER_DELAY.as_secs_f64() * 1e9;
    let stampede = recorder.median_ns(STAMPEDE);
    let single = recorder.median_ns(SINGLE);
    if let Some(ns) = stampede {
        summary.row(
            format!("time until all {CALLERS} are served"),
            format!("{} (delay + {})", format_ns(ns), format_ns(ns - delay_ns)),
            "",
            Verdict::Info,
        );
    }
    if let Some(ns) = single {
        summary.row(
            "time for 1 caller (baseline)",
            format!("{} (delay + {})", format_ns(ns), format_ns(ns - delay_ns)),
            "",
            Verdict::Info,
        );
    }
    let median_of = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        median(&sorted)
    };
    if let (Some(spawned), Some(first), Some(all)) = (
        median_of(&tally.spawned),
        median_of(&tally.first_served),
        median_of(&tally.all_served),
    ) {
        summary.row(
            "in one stampede (medians over all rounds): all spawned / first served / all served",
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
            "cost of each extra caller",
            format!(
                "{} ({:.2}× the single caller's time in all)",
                format_ns(per_caller),
                stampede / single
            ),
            "",
            Verdict::Info,
        );
    }
    summary
}
