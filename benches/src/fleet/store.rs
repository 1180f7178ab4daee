//! The simulated shared store, as Redis keeps it: per store key an entry with an expiry (`GET`,
//! `SET PX`) and a lock with an owner and an expiry (`SET NX PX`, released by compare-and-delete).
//! Expired values read as absent, as Redis's lazy expiry makes them.

use std::collections::HashMap;
use std::time::Duration;

use logto_m2m_proto::{LockOwner, StoreKey, StoreView, StoreWrite};

/// A value and the point of the run at which the store drops it.
#[derive(Debug, Clone)]
struct Expiring<T> {
    value: T,
    until: Duration,
}

impl<T> Expiring<T> {
    fn live_at(&self, now: Duration) -> Option<&T> {
        (now < self.until).then_some(&self.value)
    }
}

/// One store shared by every replica of a run.
#[derive(Debug, Default)]
pub struct SimStore {
    entries: HashMap<StoreKey, Expiring<Vec<u8>>>,
    locks: HashMap<StoreKey, Expiring<LockOwner>>,
}

impl SimStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `GET` of the entry, and whether the lock is held, at `now`.
    #[must_use]
    pub fn read(&self, key: &StoreKey, now: Duration) -> StoreView {
        let entry = self
            .entries
            .get(key)
            .and_then(|entry| entry.live_at(now))
            .cloned();
        StoreView::new(entry, self.lock_holder(key, now).is_some())
    }

    /// `SET lock owner NX PX ttl` at `now`: whether `owner` took the lock.
    pub fn try_lock(
        &mut self,
        key: &StoreKey,
        owner: LockOwner,
        ttl: Duration,
        now: Duration,
    ) -> bool {
        if self.lock_holder(key, now).is_some() {
            return false;
        }
        self.locks.insert(
            key.clone(),
            Expiring {
                value: owner,
                until: now + ttl,
            },
        );
        true
    }

    /// Carries out `write` at `now`: `SET entry PX ttl`, then the release of the lock if its owner
    /// still holds it.
    pub fn write(&mut self, write: &StoreWrite, now: Duration) {
        if let Some(entry) = &write.entry {
            self.entries.insert(
                write.key.clone(),
                Expiring {
                    value: entry.bytes.clone(),
                    until: now + entry.ttl,
                },
            );
        }
        if let Some(owner) = write.release {
            if self.lock_holder(&write.key, now) == Some(owner) {
                self.locks.remove(&write.key);
            }
        }
    }

    fn lock_holder(&self, key: &StoreKey, now: Duration) -> Option<LockOwner> {
        self.locks
            .get(key)
            .and_then(|lock| lock.live_at(now))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logto_m2m_proto::{TokenKey, TokenRequest};

    fn store_key() -> StoreKey {
        let request = TokenRequest::new(&crate::config().unwrap(), crate::params()).unwrap();
        let key: &TokenKey = request.key();
        StoreKey::of(key)
    }

    #[test]
    fn a_lock_is_taken_once_until_it_expires() {
        let (mut store, key) = (SimStore::new(), store_key());
        let ttl = Duration::from_secs(10);
        let (first, second) = (LockOwner::new([1; 16]), LockOwner::new([2; 16]));
        assert!(store.try_lock(&key, first, ttl, Duration::ZERO));
        assert!(store.read(&key, Duration::from_secs(9)).locked);
        assert!(!store.try_lock(&key, second, ttl, Duration::from_secs(9)));
        assert!(!store.read(&key, ttl).locked);
        assert!(store.try_lock(&key, second, ttl, ttl));
    }
}
