//! The `metrics` feature, read back through `metrics-util`'s debugging recorder: each metric moves as
//! it should, through real managers (against the testkit over loopback HTTP, and a scripted
//! transport on a synthetic clock), and no label carries anything but a resource and an outcome.
//!
//! The recorder is global and its snapshots drain it, so every test reads through [`recorded`],
//! which keeps what all snapshots gave, and uses resources no other test uses.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use common::synthetic::SyntheticClock;
use common::{FakeLogto, config};
use logto_m2m::metrics::{
    BACKOFFS, CACHE_HITS, INVALIDATIONS, OUTCOME, REFRESHES, RESOURCE, SUCCESS,
    TOKEN_REQUEST_DURATION, TOKEN_REQUESTS,
};
use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{AsyncTokenManager, BlockingTokenManager, ClientConfig, RetryPolicy, TokenParams};
use logto_m2m_testkit::{TestServer, defaults};
use metrics::Unit;
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// A metric's name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

/// Everything recorded since the recorder was installed.
#[derive(Default)]
struct Recorded {
    counters: HashMap<Series, u64>,
    histograms: HashMap<Series, Vec<f64>>,
    descriptions: HashMap<String, (Option<Unit>, String)>,
}

impl Recorded {
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .get(&series(name, labels))
            .copied()
            .unwrap_or(0)
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.histograms
            .get(&series(name, labels))
            .cloned()
            .unwrap_or_default()
    }

    /// Every series of any metric recorded with `resource` as its resource label.
    fn series_for(&self, resource: &str) -> Vec<Series> {
        self.counters
            .keys()
            .chain(self.histograms.keys())
            .filter(|(_, labels)| labels.iter().any(|(k, v)| k == RESOURCE && v == resource))
            .cloned()
            .collect()
    }

    fn assert_described(&self, name: &str, unit: Unit) {
        let (found, description) = self
            .descriptions
            .get(name)
            .unwrap_or_else(|| panic!("{name} has no description"));
        assert_eq!(*found, Some(unit), "{name}");
        assert!(!description.is_empty(), "{name}");
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// Installs the debugging recorder (once), adds what it recorded since the last call to what
/// earlier calls gathered, and returns all of it.
fn recorded() -> MutexGuard<'static, Recorded> {
    static STATE: OnceLock<(Snapshotter, Mutex<Recorded>)> = OnceLock::new();
    let (snapshotter, recorded) = STATE.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        (snapshotter, Mutex::new(Recorded::default()))
    });
    let mut recorded = recorded
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (key, unit, description, value) in snapshotter.snapshot().into_vec() {
        let (kind, key) = key.into_parts();
        let name = key.name().to_owned();
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        labels.sort();
        if let Some(description) = description {
            recorded
                .descriptions
                .insert(name.clone(), (unit, description.into_owned()));
        }
        match (kind, value) {
            (MetricKind::Counter, DebugValue::Counter(n)) => {
                *recorded.counters.entry((name, labels)).or_default() += n;
            }
            (MetricKind::Histogram, DebugValue::Histogram(values)) => recorded
                .histograms
                .entry((name, labels))
                .or_default()
                .extend(values.into_iter().map(f64::from)),
            _ => {}
        }
    }
    recorded
}

#[test]
fn requests_hits_and_invalidations_through_the_testkit() {
    drop(recorded());
    let logto = TestServer::start_default().unwrap();
    let manager =
        logto_m2m_ureq::token_manager(logto.endpoint(), defaults::APP_ID, defaults::APP_SECRET)
            .unwrap();
    let api = manager
        .source(TokenParams::for_resource(defaults::RESOURCE).scope("read:items"))
        .unwrap();

    // 1 request, then 1 hit on the manager's path (the source remembers the token), then 8 on the
    // lock-free path.
    let token = api.token().unwrap();
    for _ in 0..9 {
        assert_eq!(
            api.with_token(|t| t.access_token().expose_secret().len())
                .unwrap(),
            token.access_token().expose_secret().len()
        );
    }
    assert_eq!(logto.token_requests(), 1);
    // A 401 from the API: the token is dropped once, and the next call fetches another.
    assert!(api.invalidate(&token));
    assert!(!api.invalidate(&token));
    let second = api.token().unwrap();
    assert_eq!(logto.token_requests(), 2);
    // The source's hits are added when it asks its manager again, and when it is dropped.
    drop(api);

    // A wrong secret, and a resource the tenant does not have: one request each, not retried.
    let wrong_secret =
        logto_m2m_ureq::token_manager(logto.endpoint(), defaults::APP_ID, "not-the-secret")
            .unwrap();
    let rejected = wrong_secret
        .source(TokenParams::for_resource(defaults::RESOURCE))
        .unwrap();
    assert!(rejected.token().is_err());
    const UNKNOWN: &str = "https://unknown-to-the-tenant.example.com";
    let unknown = manager.source(TokenParams::for_resource(UNKNOWN)).unwrap();
    assert!(unknown.token().is_err());
    assert_eq!(logto.token_requests(), 4);

    let recorded = recorded();
    let api = defaults::RESOURCE;
    assert_eq!(
        recorded.counter(TOKEN_REQUESTS, &[(RESOURCE, api), (OUTCOME, SUCCESS)]),
        2
    );
    assert_eq!(
        recorded.counter(
            TOKEN_REQUESTS,
            &[(RESOURCE, api), (OUTCOME, "credentials_rejected")]
        ),
        1
    );
    assert_eq!(
        recorded.counter(
            TOKEN_REQUESTS,
            &[(RESOURCE, UNKNOWN), (OUTCOME, "request_rejected")]
        ),
        1
    );
    assert_eq!(recorded.counter(CACHE_HITS, &[(RESOURCE, api)]), 9);
    assert_eq!(recorded.counter(INVALIDATIONS, &[(RESOURCE, api)]), 1);
    assert_eq!(recorded.counter(CACHE_HITS, &[(RESOURCE, UNKNOWN)]), 0);
    let durations = recorded.histogram(
        TOKEN_REQUEST_DURATION,
        &[(RESOURCE, api), (OUTCOME, SUCCESS)],
    );
    assert_eq!(durations.len(), 2);
    assert!(
        durations.iter().all(|s| *s > 0.0 && *s < 30.0),
        "{durations:?}"
    );

    // Only `resource` and `outcome` label anything, and nothing recorded quotes a secret or a token.
    let secrets = [
        defaults::APP_SECRET,
        "not-the-secret",
        defaults::APP_ID,
        token.access_token().expose_secret(),
        second.access_token().expose_secret(),
    ];
    for (name, labels) in recorded
        .series_for(api)
        .iter()
        .chain(&recorded.series_for(UNKNOWN))
    {
        assert!(name.starts_with("logto_m2m.token."), "{name}");
        for (key, value) in labels {
            assert!(key == RESOURCE || key == OUTCOME, "{name}: label {key}");
            for secret in secrets {
                assert!(!value.contains(secret), "{name}: {key} quotes a secret");
            }
        }
    }
    recorded.assert_described(TOKEN_REQUESTS, Unit::Count);
    recorded.assert_described(TOKEN_REQUEST_DURATION, Unit::Seconds);
    recorded.assert_described(CACHE_HITS, Unit::Count);
    recorded.assert_described(INVALIDATIONS, Unit::Count);
}

/// What [`scripted`] answers.
type Answer = std::future::Ready<Result<Response<Vec<u8>>, std::io::Error>>;

/// A scripted endpoint on a synthetic clock: answers with the next status of its script (200: a
/// token living `lifetime`), each answer taking 250 ms of the clock.
fn scripted(
    clock: &SyntheticClock,
    script: &[u16],
    lifetime: Duration,
) -> impl Fn(Request<Vec<u8>>) -> Answer + Send + Sync + 'static {
    let clock = clock.clone();
    let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
    move |_request| {
        clock.advance(Duration::from_millis(250));
        let status = script.lock().unwrap().pop_front().unwrap_or(500);
        let body = if status == 200 {
            format!(
                r#"{{"access_token":"scripted-token","expires_in":{},"token_type":"Bearer"}}"#,
                lifetime.as_secs()
            )
        } else {
            r#"{"error":"server_error"}"#.to_owned()
        };
        std::future::ready(Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap()))
    }
}

#[test]
fn refreshes_backoffs_and_latency_on_a_synthetic_clock() {
    const REFRESHED: &str = "https://refreshed.example.com";
    const BACKED_OFF: &str = "https://backed-off.example.com";
    drop(recorded());
    let clock = SyntheticClock::new();
    // Token; refresh ahead fails (503); then a fetch that fails once and is retried within its call.
    let transport = scripted(&clock, &[200, 503, 503, 200], Duration::from_secs(1000));
    // No spawner: the caller that reaches the refresh point sends the refresh itself.
    let manager = AsyncTokenManager::builder(transport, config())
        .clock(clock.clone())
        .sleeper(clock.sleeper())
        .build_async();
    let refreshed = manager
        .source(TokenParams::for_resource(REFRESHED))
        .unwrap();
    let backed_off = manager
        .source(TokenParams::for_resource(BACKED_OFF))
        .unwrap();

    clock
        .run(async {
            refreshed.token().await.unwrap();
            // Usable for 940 s, refreshed from 70–80 % of that: at 800 s the next call refreshes.
            clock.advance(Duration::from_secs(800));
            refreshed.token().await.unwrap(); // served the cached token; the refresh fails
            backed_off.token().await.unwrap(); // 503, a backoff, then a token
        })
        .unwrap();
    drop((refreshed, backed_off));

    let recorded = recorded();
    let ok = [(RESOURCE, REFRESHED), (OUTCOME, SUCCESS)];
    let failed = [(RESOURCE, REFRESHED), (OUTCOME, "transient")];
    assert_eq!(recorded.counter(TOKEN_REQUESTS, &ok), 1);
    assert_eq!(recorded.counter(TOKEN_REQUESTS, &failed), 1);
    assert_eq!(recorded.counter(REFRESHES, &[(RESOURCE, REFRESHED)]), 1);
    assert_eq!(recorded.counter(CACHE_HITS, &[(RESOURCE, REFRESHED)]), 1);
    assert_eq!(recorded.histogram(TOKEN_REQUEST_DURATION, &ok), [0.25]);
    assert_eq!(recorded.histogram(TOKEN_REQUEST_DURATION, &failed), [0.25]);

    let ok = [(RESOURCE, BACKED_OFF), (OUTCOME, SUCCESS)];
    let failed = [(RESOURCE, BACKED_OFF), (OUTCOME, "transient")];
    assert_eq!(recorded.counter(TOKEN_REQUESTS, &ok), 1);
    assert_eq!(recorded.counter(TOKEN_REQUESTS, &failed), 1);
    assert_eq!(recorded.counter(BACKOFFS, &failed), 1);
    assert_eq!(recorded.counter(REFRESHES, &[(RESOURCE, BACKED_OFF)]), 0);
    assert_eq!(recorded.counter(CACHE_HITS, &[(RESOURCE, BACKED_OFF)]), 0);
    recorded.assert_described(REFRESHES, Unit::Count);
    recorded.assert_described(BACKOFFS, Unit::Count);
}

#[test]
fn lock_free_hits_on_several_threads_are_counted_exactly() {
    const HITS: &str = "https://hits.example.com";
    const THREADS: u64 = 4;
    const CALLS: u64 = 2_500;
    drop(recorded());
    let fake = FakeLogto::new(3600, Duration::ZERO);
    let config = ClientConfig::builder("http://127.0.0.1:1", "m2m-app", "m2m-secret")
        .build()
        .unwrap();
    let manager = BlockingTokenManager::builder(fake.blocking(), config)
        .retry_policy(RetryPolicy::default())
        .build_blocking();
    let source = manager.source(TokenParams::for_resource(HITS)).unwrap();
    source.token().unwrap(); // the request
    source.token().unwrap(); // a hit on the manager's path; the source remembers the token
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..CALLS {
                    source.with_token(|_| ()).unwrap();
                }
            });
        }
    });
    assert_eq!(fake.requests(), 1);
    // Each thread added the tallies at its 1,024th and 2,048th hit.
    let batched = recorded().counter(CACHE_HITS, &[(RESOURCE, HITS)]);
    assert!(
        (1 + 2_048..=1 + THREADS * CALLS).contains(&batched),
        "{batched}"
    );
    drop(source);
    assert_eq!(
        recorded().counter(CACHE_HITS, &[(RESOURCE, HITS)]),
        1 + THREADS * CALLS
    );
}
