//! `tracing` events (with the `tracing` feature): fetch started, succeeded or failed, refresh ahead,
//! backoff, invalidation. They name the key's resource, organization and scopes, never a secret or
//! a token.

use std::sync::Arc;
use std::time::Duration;

use logto_m2m_proto::{Error, Token, TokenKey};

#[cfg(feature = "tracing")]
fn scopes(key: &TokenKey) -> String {
    key.scopes().join(" ")
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

pub(crate) fn fetch_finished(key: &TokenKey, result: &Result<Arc<Token>, Error>) {
    #[cfg(feature = "tracing")]
    match result {
        Ok(token) => tracing::info!(
            resource = key.resource(),
            organization = key.organization_id(),
            scopes = %scopes(key),
            lifetime_secs = token.lifetime().as_secs(),
            not_granted = %token.not_granted_scopes().to_wire(),
            warnings = token.warnings().len(),
            "logto-m2m: token fetched"
        ),
        Err(error) => tracing::warn!(
            resource = key.resource(),
            organization = key.organization_id(),
            scopes = %scopes(key),
            kind = ?error.kind(),
            status = error.status().map(|s| s.as_u16()),
            error = %error,
            "logto-m2m: token fetch failed"
        ),
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (key, result);
}

pub(crate) fn refresh_ahead(key: &TokenKey) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        resource = key.resource(),
        organization = key.organization_id(),
        scopes = %scopes(key),
        "logto-m2m: refreshing ahead of expiry"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = key;
}

pub(crate) fn backoff(key: &TokenKey, error: &Error, delay: Duration) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        resource = key.resource(),
        scopes = %scopes(key),
        kind = ?error.kind(),
        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        "logto-m2m: backing off before retrying"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (key, error, delay);
}

pub(crate) fn invalidated(key: &TokenKey) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        resource = key.resource(),
        organization = key.organization_id(),
        scopes = %scopes(key),
        "logto-m2m: token invalidated"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = key;
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
