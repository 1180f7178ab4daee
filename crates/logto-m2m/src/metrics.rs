//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`), so that
//! any of its exporters (Prometheus, OpenTelemetry, ...) publishes them. Every manager records
//! them; install your exporter's recorder before building managers, or call [`describe`] after
//! installing it, so that each metric carries its description and unit.
//!
//! | name | kind | unit | labels | what it counts |
//! |---|---|---|---|---|
//! | `logto_m2m.token.requests` | counter | requests | `resource`, `outcome` | token requests that ended with an answer or a transport error |
//! | `logto_m2m.token.request.duration` | histogram | seconds | `resource`, `outcome` | how long each of those took, from the moment the state machine handed it out to its outcome |
//! | `logto_m2m.token.cache.hits` | counter | calls | `resource` | calls served a cached token without sending a request of their own: token requests avoided |
//! | `logto_m2m.token.refreshes` | counter | refreshes | `resource` | refreshes started ahead of expiry while the cached token was still served |
//! | `logto_m2m.token.backoffs` | counter | backoffs | `resource`, `outcome` | calls waiting out a backoff after a failed attempt before retrying |
//! | `logto_m2m.token.invalidations` | counter | tokens | `resource` | tokens dropped by `invalidate` (a 401 from the resource server) |
//! | `logto_m2m.store.adoptions` | counter | tokens | `resource` | tokens adopted from the shared store: token requests the fleet did not send |
//! | `logto_m2m.store.publications` | counter | tokens | `resource` | tokens fetched by this replica and published for the fleet |
//! | `logto_m2m.store.waits` | counter | waits | `resource` | waits for another replica's entry while it held the key's lock |
//! | `logto_m2m.store.entries.refused` | counter | entries | `resource`, `reason` | entries found and refused (`reason`: [`EntryRefusal::as_str`](crate::proto::EntryRefusal::as_str)); never served |
//! | `logto_m2m.store.errors` | counter | operations | `resource`, `kind` | store operations that failed (`kind`: [`StoreFailure::as_str`](crate::StoreFailure::as_str)) |
//! | `logto_m2m.store.breaker` | counter | changes | `state` | the store's breaker opening (`open`) or closing (`closed`) |
//!
//! Labels, and why each is bounded:
//!
//! - `resource`: the API resource indicator of the token request (`""` for none). It comes from
//!   your configuration, one value per API your service calls.
//! - `outcome`: `success`, or the [`ErrorKind`](crate::ErrorKind) of the failure
//!   ([`ErrorKind::as_str`](crate::ErrorKind::as_str): `transient`, `throttled`, `credentials_rejected`, ...): a fixed set.
//!
//! Nothing else is a label: not the organization id (one per tenant's customer, unbounded), not
//! the scopes, not the endpoint, the app id, any part of a secret or of a token, nor an error's
//! message.
//!
//! `logto_m2m.token.cache.hits` is exact, but the hits on the lock-free path
//! (`TokenSource::with_token` / `token` / `authorize` while the remembered token is fresh) reach
//! the counter in batches, so that a hit writes only to a cache line of its own thread: each thread
//! tallies its own, and the tallies are added to the counter every 1,024 hits of a thread, whenever
//! the source asks its manager again (at the token's refresh point at the latest, or after any
//! change) and when the last clone of the source is dropped. Between those points the counter may
//! trail by up to 1,023 hits per thread. Hits on the manager's own path (`manager.token(&request)`,
//! and the calls a source passes to its manager) are counted at once.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ::metrics::{Unit, counter, describe_counter, describe_histogram, histogram};
use crossbeam_utils::CachePadded;
use logto_m2m_proto::{BreakerChange, EntryRefusal, Error, StoreFailure, TokenKey};
use thread_local::ThreadLocal;

/// Counter: token requests that ended with an answer or a transport error, by `resource` and
/// `outcome`.
pub const TOKEN_REQUESTS: &str = "logto_m2m.token.requests";
/// Histogram (seconds): how long each token request took, by `resource` and `outcome`.
pub const TOKEN_REQUEST_DURATION: &str = "logto_m2m.token.request.duration";
/// Counter: calls served a cached token without a request of their own, by `resource`.
pub const CACHE_HITS: &str = "logto_m2m.token.cache.hits";
/// Counter: refreshes started ahead of expiry, by `resource`.
pub const REFRESHES: &str = "logto_m2m.token.refreshes";
/// Counter: calls waiting out a backoff before retrying, by `resource` and `outcome` (the failed
/// attempt's).
pub const BACKOFFS: &str = "logto_m2m.token.backoffs";
/// Counter: tokens dropped by `invalidate`, by `resource`.
pub const INVALIDATIONS: &str = "logto_m2m.token.invalidations";

/// Counter: tokens adopted from the shared store, by `resource`.
pub const STORE_ADOPTIONS: &str = "logto_m2m.store.adoptions";
/// Counter: tokens fetched and published for the fleet, by `resource`.
pub const STORE_PUBLICATIONS: &str = "logto_m2m.store.publications";
/// Counter: waits for another replica's entry, by `resource`.
pub const STORE_WAITS: &str = "logto_m2m.store.waits";
/// Counter: entries found in the store and refused, by `resource` and `reason`.
pub const STORE_ENTRIES_REFUSED: &str = "logto_m2m.store.entries.refused";
/// Counter: failed store operations, by `resource` and `kind`.
pub const STORE_ERRORS: &str = "logto_m2m.store.errors";
/// Counter: the store's breaker moving, by `state` (`open` or `closed`).
pub const STORE_BREAKER: &str = "logto_m2m.store.breaker";

/// Label: the API resource indicator of the token request (`""` when it names none).
pub const RESOURCE: &str = "resource";
/// Label: [`SUCCESS`], or the failure's [`ErrorKind::as_str`](crate::ErrorKind::as_str).
pub const OUTCOME: &str = "outcome";
/// The `outcome` of a request that got a token.
pub const SUCCESS: &str = "success";

/// Registers the description and unit of every metric with the installed recorder. Building a
/// manager does this; call it yourself if you install the recorder after building managers.
pub fn describe() {
    describe_counter!(
        TOKEN_REQUESTS,
        Unit::Count,
        "Token requests to Logto that ended with an answer or a transport error, by resource and \
         outcome (success, or the error kind)"
    );
    describe_histogram!(
        TOKEN_REQUEST_DURATION,
        Unit::Seconds,
        "Duration of token requests to Logto, from the moment one is handed out to its outcome, \
         by resource and outcome"
    );
    describe_counter!(
        CACHE_HITS,
        Unit::Count,
        "Calls served a cached token without sending a token request of their own (token \
         requests avoided), by resource"
    );
    describe_counter!(
        REFRESHES,
        Unit::Count,
        "Token refreshes started ahead of expiry while the cached token was still served, by \
         resource"
    );
    describe_counter!(
        BACKOFFS,
        Unit::Count,
        "Calls waiting out a backoff after a failed token request before retrying, by resource \
         and the failure's outcome"
    );
    describe_counter!(
        INVALIDATIONS,
        Unit::Count,
        "Tokens dropped by invalidate (after a 401 from the resource server), by resource"
    );
    describe_store();
}

fn describe_store() {
    describe_counter!(
        STORE_ADOPTIONS,
        Unit::Count,
        "Tokens adopted from the shared store (token requests the fleet did not send), by resource"
    );
    describe_counter!(
        STORE_PUBLICATIONS,
        Unit::Count,
        "Tokens fetched by this replica and published to the shared store, by resource"
    );
    describe_counter!(
        STORE_WAITS,
        Unit::Count,
        "Waits for another replica's entry while it held the key's lock, by resource"
    );
    describe_counter!(
        STORE_ENTRIES_REFUSED,
        Unit::Count,
        "Entries of the shared store refused (never served), by resource and reason"
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Shared store operations that failed, by resource and kind"
    );
    describe_counter!(
        STORE_BREAKER,
        Unit::Count,
        "The shared store's breaker opening or closing, by state"
    );
}

pub(crate) fn store_adoption(key: &TokenKey) {
    counter!(STORE_ADOPTIONS, RESOURCE => resource(key)).increment(1);
}

pub(crate) fn store_publication(key: &TokenKey) {
    counter!(STORE_PUBLICATIONS, RESOURCE => resource(key)).increment(1);
}

pub(crate) fn store_wait(key: &TokenKey) {
    counter!(STORE_WAITS, RESOURCE => resource(key)).increment(1);
}

pub(crate) fn store_entry_refused(key: &TokenKey, refusal: EntryRefusal) {
    counter!(STORE_ENTRIES_REFUSED, RESOURCE => resource(key), "reason" => refusal.as_str())
        .increment(1);
}

pub(crate) fn store_error(key: &TokenKey, kind: StoreFailure) {
    counter!(STORE_ERRORS, RESOURCE => resource(key), "kind" => kind.as_str()).increment(1);
}

pub(crate) fn store_breaker(change: BreakerChange) {
    let state = match change {
        BreakerChange::Opened => "open",
        _ => "closed",
    };
    counter!(STORE_BREAKER, "state" => state).increment(1);
}

/// The `resource` label of `key`.
fn resource(key: &TokenKey) -> String {
    key.resource().unwrap_or_default().to_owned()
}

pub(crate) fn token_request<T>(key: &TokenKey, result: &Result<T, Error>, took: Duration) {
    let outcome = match result {
        Ok(_) => SUCCESS,
        Err(error) => error.kind().as_str(),
    };
    let resource = resource(key);
    counter!(TOKEN_REQUESTS, RESOURCE => resource.clone(), OUTCOME => outcome).increment(1);
    histogram!(TOKEN_REQUEST_DURATION, RESOURCE => resource, OUTCOME => outcome)
        .record(took.as_secs_f64());
}

pub(crate) fn cache_hit(key: &TokenKey) {
    counter!(CACHE_HITS, RESOURCE => resource(key)).increment(1);
}

pub(crate) fn refresh(key: &TokenKey) {
    counter!(REFRESHES, RESOURCE => resource(key)).increment(1);
}

pub(crate) fn backoff(key: &TokenKey, error: &Error) {
    counter!(BACKOFFS, RESOURCE => resource(key), OUTCOME => error.kind().as_str()).increment(1);
}

pub(crate) fn invalidation(key: &TokenKey) {
    counter!(INVALIDATIONS, RESOURCE => resource(key)).increment(1);
}

/// A thread adds its tally to the counter each time it reaches a multiple of this.
const HITS_PER_BATCH: u64 = 1024;

/// The cache hits of one token source's lock-free path, tallied per thread so that a hit writes
/// only to a cache line of its own thread; see the module docs for when they reach the counter.
pub(crate) struct HitTally {
    resource: String,
    /// Each thread's hits so far; only that thread writes its slot (a thread that exits leaves
    /// its slot, with its count, to the next thread given its id). Each slot has a cache line of
    /// its own: adjacent slots would make the threads' writes contend after all.
    per_thread: ThreadLocal<CachePadded<AtomicU64>>,
    /// The sum of the slots already added to the counter.
    recorded: Mutex<u64>,
}

impl HitTally {
    pub(crate) fn new(key: &TokenKey) -> Self {
        Self {
            resource: resource(key),
            per_thread: ThreadLocal::new(),
            recorded: Mutex::new(0),
        }
    }

    /// Counts one hit: a load and a store on this thread's slot (no read-modify-write, as no
    /// other thread writes it), and every [`HITS_PER_BATCH`] hits a [`flush`](Self::flush).
    #[inline]
    pub(crate) fn hit(&self) {
        let mine = self.per_thread.get_or_default();
        let hits = mine.load(Ordering::Relaxed).wrapping_add(1);
        mine.store(hits, Ordering::Relaxed);
        if hits % HITS_PER_BATCH == 0 {
            self.flush();
        }
    }

    /// Adds the hits of every thread not added yet to the counter.
    pub(crate) fn flush(&self) {
        let mut recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        let total = self
            .per_thread
            .iter()
            .map(|hits| hits.load(Ordering::Relaxed))
            .fold(0_u64, u64::wrapping_add);
        let new = total.wrapping_sub(*recorded);
        if new != 0 {
            counter!(CACHE_HITS, RESOURCE => self.resource.clone()).increment(new);
            *recorded = total;
        }
    }
}

impl Drop for HitTally {
    fn drop(&mut self) {
        self.flush();
    }
}

impl fmt::Debug for HitTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HitTally")
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}
