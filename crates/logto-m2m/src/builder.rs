//! Building a token manager: the configuration, the transport, and the policies (the proto
//! defaults unless set).

use std::sync::Arc;

use logto_m2m_proto::{CachePolicy, ClientConfig};

use crate::asynchronous::{AsyncTokenManager, Sleep, Spawn};
use crate::blocking::BlockingTokenManager;
use crate::clock::{Clock, ManagerClock};
use crate::env::{EnvError, config_from_env};
use crate::retry::RetryPolicy;
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
