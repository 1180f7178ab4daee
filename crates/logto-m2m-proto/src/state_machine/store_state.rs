//! What a cache knows about the shared store beyond any one key: its policy, the breaker that stops
//! asking a store that keeps failing (with a probe now and then to find it back), and per key the
//! last token dropped after a 401, which is never adopted from the store again.

use std::time::{Instant, SystemTime};

use hashlink::LruCache;

use super::after;
use crate::key::TokenKey;
use crate::secret::AccessToken;
use crate::shared_store::{BreakerChange, SharedStorePolicy};
use crate::token::Token;

/// The shared store as the cache knows it: its policy and its breaker. One per cache: a store that
/// is down is down for every key.
#[derive(Debug, Clone)]
pub(crate) struct StoreState {
    pub(crate) policy: SharedStorePolicy,
    /// Store failures in a row.
    failures: u32,
    breaker: Breaker,
    /// Per key, the last token dropped after a 401 (kept apart from the slots, so that evicting a
    /// slot does not forget it; as many keys as the cache holds).
    rejected: LruCache<TokenKey, Rejected>,
}

#[derive(Debug, Clone, Copy)]
enum Breaker {
    /// The store is asked.
    Closed,
    /// The store is not asked before `until`.
    Open { until: Instant },
    /// One flight is probing the store; the others do not ask it before `until`.
    Probing { until: Instant },
}

impl StoreState {
    pub(crate) fn new(policy: SharedStorePolicy, max_keys: usize) -> Self {
        Self {
            policy,
            failures: 0,
            breaker: Breaker::Closed,
            rejected: LruCache::new(max_keys.max(1)),
        }
    }

    /// `token` of `key` was dropped after a 401: it is never adopted from the store again.
    pub(crate) fn reject(&mut self, key: &TokenKey, token: &Token) {
        let rejected = Rejected {
            token: token.access_token().clone(),
            expires_at_wall: token.expires_at_wall(),
        };
        self.rejected.insert(key.clone(), rejected);
    }

    /// Whether `token`, found in the store for `key`, is covered by the last token of `key` dropped
    /// after a 401.
    pub(super) fn rejects(&self, key: &TokenKey, token: &Token) -> bool {
        self.rejected
            .peek(key)
            .is_some_and(|rejected| rejected.covers(token))
    }

    /// Whether a flight starting at `now` asks the store. Past an open breaker's time, the first
    /// flight to ask probes it.
    pub(super) fn allows(&mut self, now: Instant) -> bool {
        match self.breaker {
            Breaker::Closed => true,
            Breaker::Open { until } | Breaker::Probing { until } if now < until => false,
            Breaker::Open { .. } | Breaker::Probing { .. } => {
                // A probe's first operation ends within op_timeout; one whose result never came
                // back (its caller went away) is replaced by the next flight after twice that.
                self.breaker = Breaker::Probing {
                    until: after(now, self.policy.op_timeout.saturating_mul(2)),
                };
                true
            }
        }
    }

    /// Whether the breaker is open (a probe out included).
    pub(crate) fn is_open(&self) -> bool {
        !matches!(self.breaker, Breaker::Closed)
    }

    /// Counts the result of a store operation at `now`; says whether the breaker moved.
    pub(crate) fn record(&mut self, now: Instant, ok: bool) -> Option<BreakerChange> {
        if ok {
            self.failures = 0;
            let was_open = self.is_open();
            self.breaker = Breaker::Closed;
            return was_open.then_some(BreakerChange::Closed);
        }
        self.failures = self.failures.saturating_add(1);
        let opens = match self.breaker {
            Breaker::Closed => self.failures >= self.policy.breaker_failures.max(1),
            Breaker::Probing { .. } => true,
            // Late results of flights that started before it opened.
            Breaker::Open { .. } => false,
        };
        if !opens {
            return None;
        }
        let change = matches!(self.breaker, Breaker::Closed).then_some(BreakerChange::Opened);
        self.breaker = Breaker::Open {
            until: after(now, self.policy.breaker_open_for),
        };
        change
    }
}

/// The last token of a key dropped after a 401. Neither it nor any token that expires no later (by
/// the wall clock) is adopted from the store: an entry older than a token the resource server
/// refused is no better.
#[derive(Debug, Clone)]
struct Rejected {
    token: AccessToken,
    expires_at_wall: SystemTime,
}

impl Rejected {
    fn covers(&self, token: &Token) -> bool {
        self.token == *token.access_token() || token.expires_at_wall() <= self.expires_at_wall
    }
}
