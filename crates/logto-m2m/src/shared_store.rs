//! A token store shared by every replica of a service: the operations a store adapter carries
//! out (logto-m2m-redis implements them on Redis and Valkey), blocking and async.
//!
//! The adapter only runs commands: which one, when, and what its answer means is decided by the
//! state machine (`logto_m2m_proto::shared_store`). Entries arrive sealed (nobody without the app
//! secret can read or forge one) and key names are hashes that reveal nothing of the token key, so
//! an adapter never handles a secret.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use logto_m2m_proto::{LockOwner, StoreFailure, StoreKey, StoreView, StoreWrite};

/// Why a store operation failed: its kind, and the store client's error (which must not quote a
/// password: adapters strip credentials from what they report).
#[derive(Debug, thiserror::Error)]
#[error("shared token store {}: {source}", kind.as_str())]
#[non_exhaustive]
pub struct StoreError {
    /// What kind of failure it was.
    pub kind: StoreFailure,
    /// The store client's error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// A failure of `kind`, caused by `source`.
    pub fn new(
        kind: StoreFailure,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            source: source.into(),
        }
    }

    /// A failure of `kind` described by `message`.
    #[must_use]
    pub fn message(kind: StoreFailure, message: &'static str) -> Self {
        Self::new(kind, message)
    }
}

/// The operations of a shared store, blocking. Each one must end within the `timeout` it is given
/// (the manager cannot cut a blocking call short): configure the client's connect, read and write
/// timeouts from it.
pub trait BlockingSharedStore: Send + Sync + fmt::Debug + 'static {
    /// Reads `key`'s entry and whether its lock is held, in one round trip if the store allows.
    ///
    /// # Errors
    ///
    /// The store could not be reached, answered with an error, or did not answer within `timeout`.
    fn read(&self, key: &StoreKey, timeout: Duration) -> Result<StoreView, StoreError>;

    /// Takes `key`'s lock with `owner`'s value for `ttl`, if nobody holds it (`SET NX PX`).
    /// Returns whether it was taken.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    fn try_lock(
        &self,
        key: &StoreKey,
        owner: &LockOwner,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<bool, StoreError>;

    /// Carries out `write`: stores its entry (with its time to live) and notifies the replicas
    /// waiting for it, then releases the lock if `write.release` still holds it
    /// (compare-and-delete). Atomically if the store allows.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    fn write(&self, write: &StoreWrite, timeout: Duration) -> Result<(), StoreError>;

    /// Waits until an entry is published for `key` or `timeout` has passed, whichever comes
    /// first. It may return early (the caller reads again and may wait again); a store without
    /// notifications simply sleeps for `timeout`.
    ///
    /// # Errors
    ///
    /// The wait could not be set up; the caller then waits out `timeout` itself.
    fn wait(&self, key: &StoreKey, timeout: Duration) -> Result<(), StoreError>;
}

/// The operations of a shared store, async, on any runtime. The manager bounds each call by the
/// `timeout` it is given (a call still going then is dropped and counts as timed out); adapters
/// should bound their own IO by it too.
#[async_trait::async_trait]
pub trait SharedStore: Send + Sync + fmt::Debug + 'static {
    /// As [`BlockingSharedStore::read`].
    ///
    /// # Errors
    ///
    /// As [`BlockingSharedStore::read`].
    async fn read(&self, key: &StoreKey, timeout: Duration) -> Result<StoreView, StoreError>;

    /// As [`BlockingSharedStore::try_lock`].
    ///
    /// # Errors
    ///
    /// As [`BlockingSharedStore::read`].
    async fn try_lock(
        &self,
        key: &StoreKey,
        owner: &LockOwner,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<bool, StoreError>;

    /// As [`BlockingSharedStore::write`].
    ///
    /// # Errors
    ///
    /// As [`BlockingSharedStore::read`].
    async fn write(&self, write: &StoreWrite, timeout: Duration) -> Result<(), StoreError>;

    /// As [`BlockingSharedStore::wait`].
    ///
    /// # Errors
    ///
    /// As [`BlockingSharedStore::wait`].
    async fn wait(&self, key: &StoreKey, timeout: Duration) -> Result<(), StoreError>;
}

impl<S: BlockingSharedStore + ?Sized> BlockingSharedStore for Arc<S> {
    fn read(&self, key: &StoreKey, timeout: Duration) -> Result<StoreView, StoreError> {
        (**self).read(key, timeout)
    }

    fn try_lock(
        &self,
        key: &StoreKey,
        owner: &LockOwner,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        (**self).try_lock(key, owner, ttl, timeout)
    }

    fn write(&self, write: &StoreWrite, timeout: Duration) -> Result<(), StoreError> {
        (**self).write(write, timeout)
    }

    fn wait(&self, key: &StoreKey, timeout: Duration) -> Result<(), StoreError> {
        (**self).wait(key, timeout)
    }
}

#[async_trait::async_trait]
impl<S: SharedStore + ?Sized> SharedStore for Arc<S> {
    async fn read(&self, key: &StoreKey, timeout: Duration) -> Result<StoreView, StoreError> {
        (**self).read(key, timeout).await
    }

    async fn try_lock(
        &self,
        key: &StoreKey,
        owner: &LockOwner,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        (**self).try_lock(key, owner, ttl, timeout).await
    }

    async fn write(&self, write: &StoreWrite, timeout: Duration) -> Result<(), StoreError> {
        (**self).write(write, timeout).await
    }

    async fn wait(&self, key: &StoreKey, timeout: Duration) -> Result<(), StoreError> {
        (**self).wait(key, timeout).await
    }
}
