//! `fleet`: token requests a month of a fleet of R replicas using K token keys, with and without a
//! shared token store, set beside Logto's plans. A simulation, not a timing: each replica drives
//! its own `TokenCache` (the sans-IO core) with simulated clocks (wall clocks within ±5 s of each
//! other), against a simulated token endpoint (3600 s tokens) and a simulated shared store; see
//! `logto_m2m_benches::fleet`.
//!
//! Asserted (the bench exits non-zero otherwise), for every R and K:
//! - with the store, the fleet sends at most 1.05 × what one replica alone sends;
//! - without it, R replicas send R times what one sends (within ±10 %): the count measures what
//!   the store saves;
//! - no token is ever handed out at or after its real expiry less the margin, no token request
//!   fails, no entry is refused, the store's breaker never moves, and every answer of the core is
//!   one the simulation knows.
#![allow(clippy::expect_used)] // A bench that cannot set itself up has nothing to measure.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use logto_m2m_benches::fleet::logto_plans::{dev_tenant, pro_overage, rate_limit};
use logto_m2m_benches::fleet::{FleetConfig, FleetCounts, ratio, simulate};
use logto_m2m_benches::table::{Table, thousands};
use logto_m2m_proto::{CachePolicy, SharedStorePolicy};

/// The fleet sizes simulated.
const REPLICAS: [usize; 4] = [1, 10, 50, 200];
/// The numbers of token keys per replica simulated.
const KEYS: [usize; 3] = [1, 6, 20];
/// The target: with the store, at most this times what one replica alone sends.
const TARGET_WITH_STORE: f64 = 1.05;
/// Without the store, R replicas send R times what one sends, within this fraction.
const WITHOUT_STORE_TOLERANCE: f64 = 0.10;

/// The fleet size of the table of causes.
const CAUSES_REPLICAS: usize = 200;

/// One fleet size and key count, run without and with the store.
#[derive(Debug, Clone, Copy)]
struct Row {
    replicas: usize,
    keys: usize,
    without: FleetCounts,
    with: FleetCounts,
}

fn main() -> ExitCode {
    let started = Instant::now();
    let rows = run_every_fleet();
    let took = started.elapsed();
    println!("\n## Fleet: token requests a month (30 days, 3600 s tokens, default policies)\n");
    println!("{}", requests_table(&rows).render());
    println!("## Against Logto's plans\n");
    println!("{}", plans_table(&rows).render());
    println!("## Where the fleet's extra requests come from (R = {CAUSES_REPLICAS}, K = 1)\n");
    println!("{}", causes_table().render());
    println!(
        "{} runs of a simulated month in {took:.1?}.",
        2 * rows.len()
    );
    let problems = check(&rows);
    if problems.is_empty() {
        println!("Every target met.");
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        eprintln!("MISSED: {problem}");
    }
    ExitCode::FAILURE
}

/// Runs every fleet size and key count, without and with the store, on every core.
fn run_every_fleet() -> Vec<Row> {
    let fleets: Vec<(usize, usize)> = KEYS
        .iter()
        .flat_map(|&keys| REPLICAS.iter().map(move |&replicas| (replicas, keys)))
        .collect();
    let runs: Vec<FleetConfig> = fleets
        .iter()
        .flat_map(|&(replicas, keys)| {
            [false, true].map(|shared_store| FleetConfig::month(replicas, keys, shared_store))
        })
        .collect();
    let mut counts = run_on_every_core(&runs).into_iter();
    fleets
        .into_iter()
        .map(|(replicas, keys)| Row {
            replicas,
            keys,
            without: counts.next().unwrap_or_default(),
            with: counts.next().unwrap_or_default(),
        })
        .collect()
}

/// Simulates each of `runs`, as many at once as there are cores (each run is independent and
/// single-threaded), the largest fleets first; the counts in the order of `runs`.
fn run_on_every_core(runs: &[FleetConfig]) -> Vec<FleetCounts> {
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut largest_first: Vec<usize> = (0..runs.len()).collect();
    largest_first.sort_by_key(|&index| {
        runs.get(index)
            .map(|run| std::cmp::Reverse(run.replicas * run.keys))
    });
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, FleetCounts)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let taken = next.fetch_add(1, Ordering::Relaxed);
                        let Some((index, run)) = largest_first
                            .get(taken)
                            .and_then(|&index| Some((index, runs.get(index)?)))
                        else {
                            return done;
                        };
                        let counts = simulate(run).expect("the simulated keys' requests are valid");
                        done.push((index, counts));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a simulation thread panicked"))
            .collect()
    });
    done.sort_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, counts)| counts).collect()
}

/// The fleet with the store, beside one replica alone, under the default policies and with each
/// of the two things that make a fleet refresh earlier than one replica turned off: the jitter of
/// the refresh point (the fleet refreshes at the earliest of its replicas' points) and the clock
/// skew allowed (an adopted entry counts as that much older; with none allowed, the replicas'
/// wall clocks agree exactly, else entries from a clock ahead would be refused as from the
/// future). Not a target: an explanation.
fn causes_table() -> Table {
    let defaults = CachePolicy::default();
    let no_jitter = defaults.with_refresh_jitter_ratio(0.0);
    let no_skew = SharedStorePolicy::default().with_max_clock_skew(Duration::ZERO);
    let skewed = FleetConfig::month(1, 1, false).max_wall_skew;
    let variants = [
        (
            "default policies",
            defaults,
            SharedStorePolicy::default(),
            skewed,
        ),
        (
            "max_clock_skew 0, clocks agree",
            defaults,
            no_skew,
            Duration::ZERO,
        ),
        (
            "refresh_jitter_ratio 0",
            no_jitter,
            SharedStorePolicy::default(),
            skewed,
        ),
        ("both", no_jitter, no_skew, Duration::ZERO),
    ];
    let mut table = Table::new([
        "policies",
        "one replica alone",
        "fleet with store",
        "fleet / one alone",
    ]);
    for (name, cache_policy, store_policy, max_wall_skew) in variants {
        let run = |replicas, shared_store| {
            let config = FleetConfig {
                cache_policy,
                store_policy,
                max_wall_skew,
                ..FleetConfig::month(replicas, 1, shared_store)
            };
            simulate(&config)
                .expect("the simulated keys' requests are valid")
                .token_requests
        };
        let (alone, fleet) = (run(1, false), run(CAUSES_REPLICAS, true));
        table.row([
            name.to_owned(),
            thousands(alone),
            thousands(fleet),
            format!("{:.3}", ratio(fleet, alone)),
        ]);
    }
    table
}

/// What one replica alone sends (without a store) for `keys` keys.
fn one_replica_alone(rows: &[Row], keys: usize) -> Option<u64> {
    rows.iter()
        .find(|row| row.replicas == 1 && row.keys == keys)
        .map(|row| row.without.token_requests)
}

fn requests_table(rows: &[Row]) -> Table {
    let mut table = Table::new([
        "R",
        "K",
        "requests/month without store",
        "with store",
        "with store / one replica alone",
        "without / one alone",
        "entries adopted",
        "lock waits",
        "most requests in 10 s, without / with",
    ]);
    for row in rows {
        let alone = one_replica_alone(rows, row.keys).unwrap_or_default();
        table.row([
            row.replicas.to_string(),
            row.keys.to_string(),
            thousands(row.without.token_requests),
            thousands(row.with.token_requests),
            format!("{:.3}", ratio(row.with.token_requests, alone)),
            format!("{:.1}", ratio(row.without.token_requests, alone)),
            thousands(row.with.adopted),
            thousands(row.with.lock_waits),
            format!(
                "{} / {} (after the first hour: {} / {})",
                row.without.busiest_10s,
                row.with.busiest_10s,
                row.without.busiest_10s_after_start,
                row.with.busiest_10s_after_start,
            ),
        ]);
    }
    table
}

fn plans_table(rows: &[Row]) -> Table {
    let mut table = Table::new([
        "R",
        "K",
        "dev tenant (50,000 cap), without store",
        "with store",
        "Pro overage a month, without store",
        "with store",
        "rate limit (200 per 10 s), without / with",
    ]);
    for row in rows {
        let (without, with) = (row.without.token_requests, row.with.token_requests);
        table.row([
            row.replicas.to_string(),
            row.keys.to_string(),
            dev_tenant(without),
            dev_tenant(with),
            pro_overage(without),
            pro_overage(with),
            format!(
                "{} / {}",
                rate_limit(row.without.busiest_10s),
                rate_limit(row.with.busiest_10s)
            ),
        ]);
    }
    table
}

/// Every target missed, and every run that saw something it must not.
fn check(rows: &[Row]) -> Vec<String> {
    let mut problems = Vec::new();
    for row in rows {
        let (r, k) = (row.replicas, row.keys);
        let alone = one_replica_alone(rows, k).unwrap_or_default();
        let with_store = ratio(row.with.token_requests, alone);
        if with_store > TARGET_WITH_STORE {
            problems.push(format!(
                "R={r} K={k}: with the store {} requests, {with_store:.3} × one replica alone \
                 ({alone}); the target is at most {TARGET_WITH_STORE}",
                row.with.token_requests
            ));
        }
        #[allow(clippy::cast_precision_loss)] // At most 200.
        let growth = ratio(row.without.token_requests, alone) / r as f64;
        if (growth - 1.0).abs() > WITHOUT_STORE_TOLERANCE {
            problems.push(format!(
                "R={r} K={k}: without the store {} requests, {growth:.3} × R × one replica alone",
                row.without.token_requests
            ));
        }
        for (store, counts) in [("without", &row.without), ("with", &row.with)] {
            let seen = [
                ("tokens handed out too late", counts.used_too_late),
                ("failures", counts.failed),
                ("entries refused", counts.refused_entries),
                ("breaker moves", counts.breaker_moves),
                ("unexpected answers", counts.unexpected),
            ];
            for (what, count) in seen {
                if count > 0 {
                    problems.push(format!("R={r} K={k} {store} the store: {count} {what}"));
                }
            }
        }
    }
    problems
}
