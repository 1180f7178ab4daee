//! `tracing` events (with the `tracing` feature): fetch started, succeeded or failed, refresh ahead,
//! backoff, invalidation. They name the key's resource, organization and scopes, never a secret or
//! a token. With the `metrics` feature, the same calls record the metrics of [`crate::metrics`]
//! (labelled by resource and outcome only), and cache hits are counted here too.

use std::sync::Arc;
use std::time::Duration;

use logto_m2m_proto::{BreakerChange, EntryRefusal, Error, StoreKey, Token, TokenKey};

use crate::shared_store::StoreError;

#[cfg(feature = "tracing")]
fn scopes(key: &TokenKey) -> String {
    key.scopes().join(" ")
}

#[cfg(feature = "tracing")]
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn fetch_started(key: &TokenKey) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        resource = key.resource(),
        organization = key.organization_id(),
        scopes = %scopes(key),
        "logto-m2m: token fetch started"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = key;
}

/// `took`: from the moment the state machine handed the request out to its outcome.
pub(crate) fn fetch_finished(key: &TokenKey, result: &Result<Arc<Token>, Error>, took: Duration) {
    #[cfg(feature = "metrics")]
    crate::metrics::token_request(key, result, took);
    #[cfg(feature = "tracing")]
    match result {
        Ok(token) => tracing::info!(
            resource = key.resource(),
            organization = key.organization_id(),
            scopes = %scopes(key),
            lifetime_secs = token.lifetime().as_secs(),
            not_granted = %token.not_granted_scopes().to_wire(),
            warnings = token.warnings().len(),
            elapsed_ms = millis(took),
            "logto-m2m: token fetched"
        ),
        Err(error) => tracing::warn!(
            resource = key.resource(),
            organization = key.organization_id(),
            scopes = %scopes(key),
            kind = ?error.kind(),
            status = error.status().map(|s| s.as_u16()),
            error = %error,
            elapsed_ms = millis(took),
            "logto-m2m: token fetch failed"
        ),
    }
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = (key, result, took);
}

pub(crate) fn refresh_ahead(key: &TokenKey) {
    #[cfg(feature = "metrics")]
    crate::metrics::refresh(key);
    #[cfg(feature = "tracing")]
    tracing::debug!(
        resource = key.resource(),
        organization = key.organization_id(),
        scopes = %scopes(key),
        "logto-m2m: refreshing ahead of expiry"
    );
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = key;
}

pub(crate) fn backoff(key: &TokenKey, error: &Error, delay: Duration) {
    #[cfg(feature = "metrics")]
    crate::metrics::backoff(key, error);
    #[cfg(feature = "tracing")]
    tracing::debug!(
        resource = key.resource(),
        scopes = %scopes(key),
        kind = ?error.kind(),
        delay_ms = millis(delay),
        "logto-m2m: backing off before retrying"
    );
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = (key, error, delay);
    #[cfg(all(feature = "metrics", not(feature = "tracing")))]
    let _ = delay;
}

pub(crate) fn invalidated(key: &TokenKey) {
    #[cfg(feature = "metrics")]
    crate::metrics::invalidation(key);
    #[cfg(feature = "tracing")]
    tracing::info!(
        resource = key.resource(),
        organization = key.organization_id(),
        scopes = %scopes(key),
        "logto-m2m: token invalidated"
    );
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = key;
}

/// A call answered from the manager's cache, without a request of its own (no `tracing` event: one
/// per call would drown the rest).
pub(crate) fn served_from_cache(key: &TokenKey) {
    #[cfg(feature = "metrics")]
    crate::metrics::cache_hit(key);
    #[cfg(not(feature = "metrics"))]
    let _ = key;
}

/// When a manager is built: the metrics' descriptions, for the recorder installed by then.
pub(crate) fn manager_built() {
    #[cfg(feature = "metrics")]
    crate::metrics::describe();
}

/// The cache hits of a token source's lock-free path, tallied per thread
/// ([`crate::metrics`] says when they reach the counter); nothing without the `metrics` feature.
#[cfg(feature = "metrics")]
pub(crate) type CacheHits = crate::metrics::HitTally;

/// The cache hits of a token source's lock-free path: not counted without the `metrics` feature.
#[cfg(not(feature = "metrics"))]
#[derive(Debug)]
pub(crate) struct CacheHits;

#[cfg(not(feature = "metrics"))]
impl CacheHits {
    pub(crate) fn new(_key: &TokenKey) -> Self {
        Self
    }

    #[inline]
    pub(crate) fn hit(&self) {}

    pub(crate) fn flush(&self) {}
}

pub(crate) fn spawner_panicked() {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        "logto-m2m: the spawner panicked while starting a refresh; the refresh counts as failed"
    );
}

pub(crate) fn refresh_not_started() {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        "logto-m2m: the spawner dropped a refresh task without running it (no runtime?): tokens \
         are refreshed only once they are no longer usable; this is said once per manager"
    );
}

pub(crate) fn sleeper_panicked() {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        "logto-m2m: the sleeper panicked (no runtime?): the manager times its waits with its \
         default timer instead; this is said once per manager"
    );
}

/// A token adopted from the shared store: a token request the fleet did not send.
pub(crate) fn store_adopted(key: &TokenKey) {
    #[cfg(feature = "metrics")]
    crate::metrics::store_adoption(key);
    #[cfg(feature = "tracing")]
    tracing::info!(
        resource = key.resource(),
        organization = key.organization_id(),
        scopes = %scopes(key),
        "logto-m2m: token adopted from the shared store"
    );
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = key;
}

/// A token fetched by this replica and published for the fleet.
pub(crate) fn store_published(key: &TokenKey) {
    #[cfg(feature = "metrics")]
    crate::metrics::store_publication(key);
    #[cfg(feature = "tracing")]
    tracing::info!(
        resource = key.resource(),
        organization = key.organization_id(),
        scopes = %scopes(key),
        "logto-m2m: token fetched for the fleet and published to the shared store"
    );
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = key;
}

/// Another replica holds the key's lock: waiting for its entry.
pub(crate) fn store_waiting(key: &TokenKey, store_key: &StoreKey) {
    #[cfg(feature = "metrics")]
    crate::metrics::store_wait(key);
    #[cfg(feature = "tracing")]
    tracing::debug!(
        resource = key.resource(),
        organization = key.organization_id(),
        scopes = %scopes(key),
        store_key = store_key.id(),
        "logto-m2m: another replica is fetching this token; waiting for its entry"
    );
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = key;
    #[cfg(not(feature = "tracing"))]
    let _ = store_key;
}

/// An entry found in the store and refused (never served).
pub(crate) fn store_entry_refused(key: &TokenKey, refusal: EntryRefusal) {
    #[cfg(feature = "metrics")]
    crate::metrics::store_entry_refused(key, refusal);
    #[cfg(feature = "tracing")]
    tracing::warn!(
        resource = key.resource(),
        organization = key.organization_id(),
        scopes = %scopes(key),
        reason = refusal.as_str(),
        "logto-m2m: refused an entry of the shared store"
    );
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = (key, refusal);
}

/// A store operation failed: the flight goes on without the store.
pub(crate) fn store_failed(key: &TokenKey, error: &StoreError) {
    #[cfg(feature = "metrics")]
    crate::metrics::store_error(key, error.kind);
    #[cfg(feature = "tracing")]
    tracing::warn!(
        resource = key.resource(),
        organization = key.organization_id(),
        kind = error.kind.as_str(),
        error = %error,
        "logto-m2m: shared store operation failed; going on without it"
    );
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = (key, error);
}

/// The store's breaker opened or closed.
pub(crate) fn store_breaker(change: BreakerChange) {
    #[cfg(feature = "metrics")]
    crate::metrics::store_breaker(change);
    #[cfg(feature = "tracing")]
    match change {
        BreakerChange::Opened => tracing::warn!(
            "logto-m2m: shared store breaker opened: tokens are fetched without the store until \
             a probe finds it back"
        ),
        _ => tracing::info!("logto-m2m: shared store breaker closed: the store answers again"),
    }
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = change;
}

/// A manager was built with a shared store of the other kind only (a blocking manager with an
/// async store, or the reverse): it does without.
pub(crate) fn store_of_other_kind() {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        "logto-m2m: the shared store given implements only the other kind of manager's \
         operations (blocking or async); this manager fetches its own tokens"
    );
}
