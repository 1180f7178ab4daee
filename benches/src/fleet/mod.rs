//! A fleet of replicas over a simulated month: each replica drives its own `TokenCache` (the
//! sans-IO core, nothing else) with simulated clocks, against a simulated token endpoint and, when
//! the fleet shares one, a simulated shared store. The runs are reproducible: every random value
//! (jitter, nonces, lock owners, delays, clock skews) comes from a seeded generator, and events are
//! handled in the order of the run's time.
//!
//! - [`clock`]: the run's time, and each replica's monotonic and (skewed) wall clocks.
//! - [`store`]: the shared store (entries and locks with expiries, compare-and-delete release).
//! - [`endpoint`]: the token endpoint (Logto's JSON; when each token really expires).
//! - [`events`]: the event queue.
//! - [`busiest_window`]: the most token requests in any 10 s, for the rate limit.
//! - [`logto_plans`]: Logto Cloud's cap, price and rate limit, beside which the counts are set.
//! - [`simulation`]: the replicas' callers and flights, acting on every answer of the core.

pub mod busiest_window;
pub mod clock;
pub mod endpoint;
pub mod events;
pub mod logto_plans;
pub mod simulation;
pub mod store;

use std::time::Duration;

use logto_m2m_proto::{CachePolicy, SharedStorePolicy};

pub use simulation::simulate;

/// What a run simulates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetConfig {
    /// How many replicas (processes) run.
    pub replicas: usize,
    /// How many token keys (resource, organization, scopes) each replica uses.
    pub keys: usize,
    /// Whether the replicas share a token store.
    pub shared_store: bool,
    /// How long the run lasts.
    pub duration: Duration,
    /// How often each replica's callers use each key (they skip the polls that the core's last
    /// `Ready` says would answer the same).
    pub poll_every: Duration,
    /// The lifetime of the endpoint's tokens.
    pub token_lifetime: Duration,
    /// The most a replica's wall clock is ahead of or behind the true time.
    pub max_wall_skew: Duration,
    /// Every replica's cache policy.
    pub cache_policy: CachePolicy,
    /// Every replica's shared-store policy (when there is a store).
    pub store_policy: SharedStorePolicy,
    /// The seed of every random value of the run.
    pub seed: u64,
}

impl FleetConfig {
    /// A 30-day run of `replicas` × `keys`, with or without a shared store: callers every 10 s,
    /// Logto's 3600 s tokens, wall clocks within ±5 s, the default policies.
    #[must_use]
    pub fn month(replicas: usize, keys: usize, shared_store: bool) -> Self {
        Self {
            replicas,
            keys,
            shared_store,
            duration: Duration::from_secs(30 * 24 * 60 * 60),
            poll_every: Duration::from_secs(10),
            token_lifetime: Duration::from_secs(3600),
            max_wall_skew: Duration::from_secs(5),
            cache_policy: CachePolicy::default(),
            store_policy: SharedStorePolicy::default(),
            seed: 0x00f1_ee75_0000_0001,
        }
    }
}

/// What a run counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetCounts {
    /// Token requests sent to the endpoint, by the whole fleet.
    pub token_requests: u64,
    /// Entries adopted from the shared store (no token request).
    pub adopted: u64,
    /// Times a flight was told to wait for another replica's entry (the lock was held).
    pub lock_waits: u64,
    /// The most token requests in any 10 s.
    pub busiest_10s: usize,
    /// The same, after the first hour (when every replica started at once is behind).
    pub busiest_10s_after_start: usize,
    /// Polls that answered `Pending` (a caller's flight still running at its next use).
    pub pending: u64,
    /// Polls that answered `Failed`, and token requests that failed.
    pub failed: u64,
    /// Entries read from the store and refused.
    pub refused_entries: u64,
    /// Times the store's breaker opened or closed.
    pub breaker_moves: u64,
    /// Tokens handed out at or after their real expiry less the policy's margin.
    pub used_too_late: u64,
    /// Answers of the core this simulation does not know (new variants).
    pub unexpected: u64,
}

/// `part / whole` (`whole` counted as at least 1).
#[must_use]
#[allow(clippy::cast_precision_loss)] // Counts stay far below 2^52.
pub fn ratio(part: u64, whole: u64) -> f64 {
    part as f64 / whole.max(1) as f64
}
