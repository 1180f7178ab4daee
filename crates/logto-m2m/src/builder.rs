//! Building a token manager: the configuration, the transport, and the policies (the proto
//! defaults unless set).

use std::sync::Arc;

use logto_m2m_proto::{CachePolicy, ClientConfig, SharedStorePolicy};

use crate::asynchronous::{AsyncTokenManager, Sleep, Spawn};
use crate::blocking::BlockingTokenManager;
use crate::clock::{Clock, ManagerClock};
use crate::env::{EnvError, config_from_env};
use crate::retry::RetryPolicy;
use crate::shared_store::{BlockingSharedStore, SharedStore};
use crate::transport::{BlockingTransport, Transport};

/// Builds a [`BlockingTokenManager`] or an [`AsyncTokenManager`].
#[must_use = "call build_blocking() or build_async()"]
pub struct TokenManagerBuilder<T> {
    pub(crate) transport: T,
    pub(crate) config: ClientConfig,
    pub(crate) cache_policy: CachePolicy,
    pub(crate) retry_policy: RetryPolicy,
    pub(crate) spawner: Option<Arc<dyn Spawn>>,
    pub(crate) sleeper: Option<Arc<dyn Sleep>>,
    pub(crate) clock: ManagerClock,
    pub(crate) store: StoreSetting,
}

/// The shared store a builder was given, for either kind of manager, and its policy.
#[derive(Default)]
pub(crate) struct StoreSetting {
    pub(crate) blocking: Option<Arc<dyn BlockingSharedStore>>,
    pub(crate) asynchronous: Option<Arc<dyn SharedStore>>,
    pub(crate) policy: SharedStorePolicy,
}

impl StoreSetting {
    /// Whether any store was given.
    fn is_set(&self) -> bool {
        self.blocking.is_some() || self.asynchronous.is_some()
    }

    /// The store for a blocking manager, and the policy that goes with it.
    pub(crate) fn for_blocking(
        &self,
    ) -> (
        Option<Arc<dyn BlockingSharedStore>>,
        Option<SharedStorePolicy>,
    ) {
        if self.blocking.is_none() && self.asynchronous.is_some() {
            crate::events::store_of_other_kind();
        }
        let policy = self.blocking.is_some().then_some(self.policy);
        (self.blocking.clone(), policy)
    }

    /// The store for an async manager, and the policy that goes with it.
    pub(crate) fn for_async(&self) -> (Option<Arc<dyn SharedStore>>, Option<SharedStorePolicy>) {
        if self.asynchronous.is_none() && self.blocking.is_some() {
            crate::events::store_of_other_kind();
        }
        let policy = self.asynchronous.is_some().then_some(self.policy);
        (self.asynchronous.clone(), policy)
    }
}

impl<T> std::fmt::Debug for TokenManagerBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManagerBuilder")
            .field("config", &self.config)
            .field("cache_policy", &self.cache_policy)
            .field("retry_policy", &self.retry_policy)
            .field("spawner", &self.spawner.is_some())
            .field("sleeper", &self.sleeper.is_some())
            .field("clock", &self.clock)
            .field("shared_store", &self.store.is_set())
            .field("shared_store_policy", &self.store.policy)
            .finish_non_exhaustive()
    }
}

impl<T> TokenManagerBuilder<T> {
    /// Starts with `transport` and `config`, and the default policies.
    pub fn new(transport: T, config: ClientConfig) -> Self {
        Self {
            transport,
            config,
            cache_policy: CachePolicy::default(),
            retry_policy: RetryPolicy::default(),
            spawner: None,
            sleeper: None,
            clock: ManagerClock::System,
            store: StoreSetting::default(),
        }
    }

    /// Starts with `transport` and the configuration from the environment (every variable:
    /// [`crate::config_from_env`]).
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable that is missing or malformed.
    pub fn from_env(transport: T) -> Result<Self, EnvError> {
        Ok(Self::new(transport, config_from_env()?))
    }

    /// The same settings over `transport`.
    pub fn with_transport<U>(self, transport: U) -> TokenManagerBuilder<U> {
        TokenManagerBuilder {
            transport,
            config: self.config,
            cache_policy: self.cache_policy,
            retry_policy: self.retry_policy,
            spawner: self.spawner,
            sleeper: self.sleeper,
            clock: self.clock,
            store: self.store,
        }
    }

    /// Sets the state machine's policy: margins, refresh point, backoff, key bound.
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache_policy = policy;
        self
    }

    /// Sets how long one call keeps trying.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// (Async only.) Runs refreshes ahead of expiry in the background with `spawner` (for example
    /// `|task| { tokio::spawn(task); }`), so that no caller waits for them. Without a spawner, the
    /// caller that reaches the refresh point performs the refresh itself (every other caller keeps
    /// getting the still-valid token).
    pub fn spawner(mut self, spawner: impl Spawn) -> Self {
        self.spawner = Some(Arc::new(spawner));
        self
    }

    /// (Async only.) Sleeps through backoffs, and times waits and attempts out, on `sleeper` (for
    /// example `|d| tokio::time::sleep(d)`) instead of the runtime-agnostic
    /// [`DefaultSleeper`](crate::DefaultSleeper).
    pub fn sleeper(mut self, sleeper: impl Sleep) -> Self {
        self.sleeper = Some(Arc::new(sleeper));
        self
    }

    /// Shares tokens with every replica through `store` (for example `logto_m2m_redis::RedisStore`),
    /// for either kind of manager: before fetching or refreshing a token, the manager adopts the
    /// one another replica published, or fetches it for them all while the others wait. A store
    /// that fails or is slow never fails a call: the manager fetches on its own meanwhile. See the
    /// `shared_store` module and the protocol in `logto_m2m_proto::shared_store`.
    pub fn shared_store<S: BlockingSharedStore + SharedStore>(mut self, store: S) -> Self {
        let store = Arc::new(store);
        self.store.blocking = Some(Arc::clone(&store) as Arc<dyn BlockingSharedStore>);
        self.store.asynchronous = Some(store);
        self
    }

    /// (Blocking only.) Shares tokens through a store that only has blocking operations; see
    /// [`shared_store`](Self::shared_store).
    pub fn blocking_shared_store(mut self, store: impl BlockingSharedStore) -> Self {
        self.store.blocking = Some(Arc::new(store));
        self
    }

    /// (Async only.) Shares tokens through a store that only has async operations; see
    /// [`shared_store`](Self::shared_store).
    pub fn async_shared_store(mut self, store: impl SharedStore) -> Self {
        self.store.asynchronous = Some(Arc::new(store));
        self
    }

    /// Sets the shared store's policy: operation timeout, lock lifetime, clock skew, breaker.
    pub fn shared_store_policy(mut self, policy: SharedStorePolicy) -> Self {
        self.store.policy = policy;
        self
    }

    /// Reads the time from `clock` instead of the system's clocks: for tests on a synthetic clock.
    /// Every decision and deadline of the manager follows it; its sleeps last the durations it
    /// gives (give an async manager a [sleeper](Self::sleeper) driven by the same clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ManagerClock::Injected(Arc::new(clock));
        self
    }
}

impl<T: BlockingTransport + 'static> TokenManagerBuilder<T> {
    /// Builds a blocking manager.
    pub fn build_blocking(self) -> BlockingTokenManager<T> {
        BlockingTokenManager::from_builder(self)
    }
}

impl<T: Transport + 'static> TokenManagerBuilder<T> {
    /// Builds an async manager.
    pub fn build_async(self) -> AsyncTokenManager<T> {
        AsyncTokenManager::from_builder(self)
    }
}
