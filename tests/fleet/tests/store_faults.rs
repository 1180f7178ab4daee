//! Store faults under a running fleet (a blocking and an async replica, four workers each, three
//! keys), each against a redis-server of the test's own: Redis absent at start, killed and
//! restarted, stopped (SIGSTOP) so it answers nothing, out of memory so writes fail, an address
//! that never answers, entries tampered with, and the lock holder killed mid-fetch. In every case
//! no caller gets an expired or foreign token or an error, every call ends within its limits, and
//! the token requests stay bounded (at most what the replicas send without a store, plus slack).
#![allow(clippy::panic, clippy::unwrap_used)]

use std::process::Child;
use std::time::Duration;

use logto_m2m_fleet::{
    APP_ID, APP_SECRET, OTHER_APP_ID, OTHER_APP_SECRET, OwnRedis, RawStore, ReplicaPlan, Report,
    free_port, redis_url_or_skip, resources, server_config, start_replica, wait_report,
};
use logto_m2m_testkit::{Fault, TestServer};

const RUN: Duration = Duration::from_secs(8);
const LOCK_TTL: Duration = Duration::from_secs(2);

/// Requests one replica alone sends over `RUN` for every key (6 s tokens, refreshed from 2.1 s),
/// with slack.
fn alone_bound() -> usize {
    resources().len() * (RUN.as_secs() as usize / 2 + 2)
}

fn plan(mode: &'static str, redis_url: &str) -> ReplicaPlan {
    ReplicaPlan {
        mode,
        run_for: RUN,
        workers: 4,
        redis_url: Some(redis_url.to_owned()),
        lock_ttl: LOCK_TTL,
        app: (APP_ID, APP_SECRET),
    }
}

fn start_fleet(server: &TestServer, redis_url: &str) -> Vec<(&'static str, Child)> {
    let binary = env!("CARGO_BIN_EXE_fleet-replica");
    ["blocking", "async"]
        .into_iter()
        .map(|mode| {
            (
                mode,
                start_replica(binary, server.endpoint(), &plan(mode, redis_url)),
            )
        })
        .collect()
}

/// Every replica's calls got a usable token of the right key, within the calls' limit (5 s).
fn check(fault: &str, replicas: Vec<(&'static str, Child)>) -> Vec<Report> {
    replicas
        .into_iter()
        .map(|(mode, child)| {
            let report = wait_report(child);
            report.assert_all_served(&format!("{fault}, {mode}"), 20, 5_500);
            report
        })
        .collect()
}

/// Runs the fleet on `redis_url` while `during` acts on the store; checks every caller and the
/// request count.
fn under_fault(fault: &str, redis_url: &str, during: impl FnOnce()) {
    let server = TestServer::start(server_config()).unwrap();
    let fleet = start_fleet(&server, redis_url);
    during();
    let _ = check(fault, fleet);
    let requests = server.token_requests();
    let bound = 2 * alone_bound();
    eprintln!("{fault}: {requests} token requests (bound {bound})");
    assert!(
        requests <= bound,
        "{fault}: {requests} token requests, more than {bound}"
    );
    server.shutdown();
}

fn own_redis(test: &str, extra: &[&str]) -> Option<OwnRedis> {
    redis_url_or_skip(test)?;
    Some(OwnRedis::start(extra).unwrap_or_else(|| panic!("{test}: no LOGTO_M2M_TEST_REDIS_SERVER")))
}

#[test]
fn redis_absent_at_start() {
    if redis_url_or_skip("redis_absent_at_start").is_none() {
        return;
    }
    let url = format!("redis://127.0.0.1:{}", free_port());
    under_fault("absent at start", &url, || {});
}

#[test]
fn redis_killed_and_restarted_mid_run() {
    let Some(mut redis) = own_redis("redis_killed_and_restarted_mid_run", &[]) else {
        return;
    };
    let url = redis.url();
    under_fault("killed and restarted", &url, || {
        std::thread::sleep(Duration::from_secs(2));
        redis.kill();
        std::thread::sleep(Duration::from_secs(2));
        redis.restart();
    });
}

#[test]
fn redis_stopped_so_it_answers_nothing() {
    let Some(redis) = own_redis("redis_stopped_so_it_answers_nothing", &[]) else {
        return;
    };
    under_fault("stopped (SIGSTOP)", &redis.url(), || {
        std::thread::sleep(Duration::from_secs(2));
        redis.signal("STOP");
        std::thread::sleep(Duration::from_secs(4));
        redis.signal("CONT");
    });
}

#[test]
fn redis_out_of_memory_so_writes_fail() {
    let Some(redis) = own_redis(
        "redis_out_of_memory_so_writes_fail",
        &["--maxmemory", "1", "--maxmemory-policy", "noeviction"],
    ) else {
        return;
    };
    under_fault("out of memory", &redis.url(), || {});
}

#[test]
fn a_store_address_that_never_answers() {
    if redis_url_or_skip("a_store_address_that_never_answers").is_none() {
        return;
    }
    // Connections are accepted by the kernel into the backlog, and nothing ever answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    under_fault("never answers", &url, || {});
    drop(listener);
}

#[test]
fn entries_tampered_with_are_never_served() {
    let Some(redis) = own_redis("entries_tampered_with_are_never_served", &[]) else {
        return;
    };
    let url = redis.url();
    under_fault("tampered entries", &url, || {
        // Overwrite every entry the fleet writes, for a while, with a flipped byte or garbage.
        let mut store = RawStore::connect(&url);
        for round in 0..40 {
            for name in store.entry_names() {
                let Some(mut bytes) = store.get(&name) else {
                    continue;
                };
                if round % 2 == 0 {
                    if let Some(last) = bytes.last_mut() {
                        *last ^= 1;
                    }
                } else {
                    bytes = b"lm2m garbage that is not an entry of this library at all".to_vec();
                }
                store.set(&name, &bytes, Duration::from_secs(5));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}

#[test]
fn the_lock_holder_killed_mid_fetch() {
    let Some(redis) = own_redis("the_lock_holder_killed_mid_fetch", &[]) else {
        return;
    };
    let url = redis.url();
    let server = TestServer::start(server_config()).unwrap();
    // The first token request hangs: its sender holds the lock for that key when it is killed.
    server.inject(Fault::Delay(Duration::from_secs(30)), 1);
    let binary = env!("CARGO_BIN_EXE_fleet-replica");
    let mut holder = start_replica(binary, server.endpoint(), &plan("blocking", &url));
    for _ in 0..100 {
        if server.token_requests() >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = holder.kill();
    let _ = holder.wait();
    let others = vec![
        (
            "async",
            start_replica(binary, server.endpoint(), &plan("async", &url)),
        ),
        (
            "blocking",
            start_replica(binary, server.endpoint(), &plan("blocking", &url)),
        ),
    ];
    let _ = check("lock holder killed", others);
    let requests = server.token_requests();
    let bound = 2 * alone_bound() + 1;
    assert!(
        requests <= bound,
        "{requests} token requests, more than {bound}"
    );
    server.shutdown();
}

/// The name of the entry of `app`'s token key for `resource` in the store (the adapter's default
/// prefix, the core's store key).
fn entry_name(endpoint: &str, app: (&str, &str), resource: &str) -> String {
    use logto_m2m::proto::{StoreKey, TokenRequest};
    let config = logto_m2m::ClientConfig::builder(endpoint, app.0, app.1)
        .build()
        .unwrap();
    let request = TokenRequest::new(
        &config,
        logto_m2m::TokenParams::for_resource(resource).scope("read"),
    )
    .unwrap();
    let id = StoreKey::of(request.key()).id().to_owned();
    format!("{}{{{id}}}:entry", logto_m2m_redis::DEFAULT_PREFIX)
}

#[test]
fn entries_written_under_another_app_secret_are_never_served() {
    let Some(redis) = own_redis(
        "entries_written_under_another_app_secret_are_never_served",
        &[],
    ) else {
        return;
    };
    let url = redis.url();
    let server = TestServer::start(server_config()).unwrap();
    let binary = env!("CARGO_BIN_EXE_fleet-replica");
    // The other app's replica fills the store with entries sealed under its own secret...
    let mut other_plan = plan("blocking", &url);
    other_plan.app = (OTHER_APP_ID, OTHER_APP_SECRET);
    let other = start_replica(binary, server.endpoint(), &other_plan);
    let fleet = start_fleet(&server, &url);
    // ...and they are copied where the fleet's own entries go, over and over.
    let mut store = RawStore::connect(&url);
    let names: Vec<(String, String)> = resources()
        .iter()
        .map(|resource| {
            (
                entry_name(
                    server.endpoint(),
                    (OTHER_APP_ID, OTHER_APP_SECRET),
                    resource,
                ),
                entry_name(server.endpoint(), (APP_ID, APP_SECRET), resource),
            )
        })
        .collect();
    let mut copied = 0;
    for _ in 0..60 {
        for (from, to) in &names {
            if let Some(entry) = store.get(from) {
                store.set(to, &entry, Duration::from_secs(3));
                copied += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(copied > 0, "the other app's replica wrote no entry to copy");
    let _ = check("other app's entries", fleet);
    let _ = check("the other app", vec![("other", other)]);
    server.shutdown();
}
