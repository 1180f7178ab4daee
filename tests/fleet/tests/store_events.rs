//! The shared store's events and metrics, through two managers in one process sharing a real Redis:
//! the first fetches and publishes, the second adopts, and a tampered entry is refused; the
//! counters say so, the tracing events say so, and neither carries the app secret or a token.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logto_m2m::metrics::{
    STORE_ADOPTIONS, STORE_ENTRIES_REFUSED, STORE_PUBLICATIONS, TOKEN_REQUESTS,
};
use logto_m2m::{SharedStorePolicy, TokenParams};
use logto_m2m_fleet::{
    APP_ID, APP_SECRET, OwnRedis, RawStore, redis_url_or_skip, resources, server_config,
};
use logto_m2m_redis::RedisStore;
use logto_m2m_testkit::TestServer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A counter's name, labels and count.
type Counted = (String, Vec<(String, String)>, u64);

/// The sum of counter `name` over its labels (and `label` = `value`, when given).
fn counter(snapshot: &[Counted], name: &str, label: Option<(&str, &str)>) -> u64 {
    snapshot
        .iter()
        .filter(|(n, labels, _)| {
            n == name && label.is_none_or(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, count)| count)
        .sum()
}

#[test]
fn publication_adoption_and_refusal_are_counted_and_logged_without_a_secret_or_a_token() {
    let Some(redis) = redis_url_or_skip("store_events").and_then(|_| OwnRedis::start(&[])) else {
        return;
    };
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let server = TestServer::start(server_config()).unwrap();
    let resource = resources().remove(0);
    let manager = || {
        logto_m2m_ureq::token_manager_builder(server.endpoint(), APP_ID, APP_SECRET)
            .unwrap()
            .shared_store(RedisStore::from_url(&redis.url()).unwrap())
            // Tokens of a few seconds, clocks of one machine: see docs/shared-store.md.
            .shared_store_policy(
                SharedStorePolicy::default().with_max_clock_skew(Duration::from_millis(200)),
            )
            .build()
    };
    let params = || TokenParams::for_resource(resource.clone()).scope("read");
    let first = manager().source(params()).unwrap().token().unwrap();
    let second = manager().source(params()).unwrap().token().unwrap();
    assert_eq!(
        first.access_token().expose_secret(),
        second.access_token().expose_secret(),
        "the second manager adopts the first one's token"
    );
    assert_eq!(server.token_requests(), 1);

    // A tampered entry: refused by a third manager, which fetches its own.
    let mut store = RawStore::connect(&redis.url());
    let names = store.entry_names();
    assert_eq!(names.len(), 1);
    let mut entry = store.get(&names[0]).unwrap();
    if let Some(last) = entry.last_mut() {
        *last ^= 1;
    }
    store.set(&names[0], &entry, Duration::from_secs(60));
    let third = manager().source(params()).unwrap().token().unwrap();
    assert_ne!(
        third.access_token().expose_secret(),
        first.access_token().expose_secret()
    );
    assert_eq!(server.token_requests(), 2);

    let snapshot: Vec<Counted> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(count) => {
                let (_, key) = key.into_parts();
                let labels = key
                    .labels()
                    .map(|label| (label.key().to_owned(), label.value().to_owned()))
                    .collect();
                Some((key.name().to_owned(), labels, count))
            }
            _ => None,
        })
        .collect();
    assert_eq!(counter(&snapshot, TOKEN_REQUESTS, None), 2);
    assert_eq!(counter(&snapshot, STORE_PUBLICATIONS, None), 2);
    assert_eq!(counter(&snapshot, STORE_ADOPTIONS, None), 1);
    assert_eq!(
        counter(&snapshot, STORE_ENTRIES_REFUSED, Some(("reason", "forged"))),
        1
    );

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    for said in [
        "token fetched for the fleet and published",
        "token adopted from the shared store",
        "refused an entry of the shared store",
    ] {
        assert!(log.contains(said), "no event {said:?} in:\n{log}");
    }
    for token in [&first, &third] {
        assert!(
            !log.contains(token.access_token().expose_secret()),
            "a token was logged"
        );
    }
    assert!(!log.contains(APP_SECRET), "the app secret was logged");
    server.shutdown();
}
