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
use std::time::Instant;

use logto_m2m_benches::fleet::logto_plans::{dev_tenant, pro_overage, rate_limit};
use logto_m2m_benches::fleet::{FleetConfig, FleetCounts, ratio, simulate};
use logto_m2m_benches::table::{Table, thousands};

/// The fleet sizes simulated.
const REPLICAS: [usize; 4] = [1, 10, 50, 200];
/// The numbers of token keys per replica simulated.
const KEYS: [usize; 3] = [1, 6, 20];
/// The target: with the store, at most this times what one replica alone sends.
const TARGET_WITH_STORE: f64 = 1.05;
/// Without the store, R replicas send R times what one sends, within this fraction.
const WITHOUT_STORE_TOLERANCE: f64 = 0.10;

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

fn run_every_fleet() -> Vec<Row> {
    let mut rows = Vec::new();
    for keys in KEYS {
        for replicas in REPLICAS {
            let run = |shared_store| {
                simulate(&FleetConfig::month(replicas, keys, shared_store))
                    .expect("the simulated keys' requests are valid")
            };
            rows.push(Row {
                replicas,
                keys,
                without: run(false),
                with: run(true),
            });
        }
    }
    rows
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
