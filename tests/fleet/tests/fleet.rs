//! Four replica processes (two blocking, two async, four workers each) × three token keys, over
//! more than two token lifetimes, against the test server: with the shared store on a real Redis,
//! the token requests the server saw stay within one per key per refresh period plus a small
//! slack; the same run without the store sends about four times more.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::time::Duration;

use logto_m2m_fleet::{
    APP_ID, APP_SECRET, ReplicaPlan, TOKEN_TTL_SECS, redis_url_or_skip, resources, server_config,
    start_replica, wait_report,
};
use logto_m2m_testkit::TestServer;

const REPLICAS: [&str; 4] = ["blocking", "async", "blocking", "async"];
const RUN: Duration = Duration::from_secs(20);

/// Runs the fleet with or without the store; returns the token requests the server saw.
fn run_fleet(redis_url: Option<String>) -> usize {
    let server = TestServer::start(server_config()).unwrap_or_else(|e| panic!("server: {e}"));
    let plan = |mode| ReplicaPlan {
        mode,
        run_for: RUN,
        workers: 4,
        redis_url: redis_url.clone(),
        lock_ttl: Duration::from_secs(2),
        app: (APP_ID, APP_SECRET),
    };
    let binary = env!("CARGO_BIN_EXE_fleet-replica");
    let children: Vec<_> = REPLICAS
        .iter()
        .map(|mode| start_replica(binary, server.endpoint(), &plan(mode)))
        .collect();
    for (mode, child) in REPLICAS.iter().zip(children) {
        wait_report(child).assert_all_served(mode, 100, 5_000);
    }
    let requests = server.token_requests();
    server.shutdown();
    requests
}

#[test]
fn a_fleet_sharing_a_store_sends_what_one_replica_sends_and_without_it_about_four_times_more() {
    // Each run's server has its own port, so its token keys (and store key names) are its own.
    let Some(url) = redis_url_or_skip("fleet") else {
        return;
    };
    let keys = resources().len() as f64;
    // Tokens of 6 s: usable 3 s (the margin is half the lifetime), refreshed from 70 % of that.
    let usable = TOKEN_TTL_SECS as f64 / 2.0;
    let periods = RUN.as_secs_f64() / (0.7 * usable) + 1.0;
    let bound = (keys * periods).ceil() as usize + 3;

    let shared = run_fleet(Some(url));
    let alone = run_fleet(None);
    eprintln!("token requests: {shared} with the store (bound {bound}), {alone} without");
    assert!(
        shared <= bound,
        "{shared} token requests with the store, more than {bound}"
    );
    assert!(
        alone >= 3 * shared,
        "without the store {alone} requests, not about {} × the {shared} with it",
        REPLICAS.len()
    );
}
