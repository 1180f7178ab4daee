//! One builder chain, from credentials to a token manager on a ready-made transport: the
//! transport's settings (timeouts, response cap) and the manager's policies, for every transport
//! crate (`logto-m2m-ureq`, `logto-m2m-hyper`, `logto-m2m-reqwest`) at once.

use std::time::Duration;

use logto_m2m_proto::{AppSecret, CachePolicy, ClientConfig, ConfigError, SharedStorePolicy};

use crate::builder::TokenManagerBuilder;
use crate::env::{EnvError, config_from_env};
use crate::retry::RetryPolicy;
use crate::shared_store::{BlockingSharedStore, SharedStore};

/// What a ready-made transport's builder offers to [`TransportManagerBuilder`]: the settings every
/// transport has, and the manager it is driven by (blocking or async, with the hooks its runtime
/// needs).
pub trait TransportBuilder: Sized {
    /// The token manager built over this transport.
    type Manager;

    /// The transport's defaults, following `config`'s plain-`http` choice.
    fn for_config(config: &ClientConfig) -> Self;

    /// How long connecting may take.
    #[must_use]
    fn connect_timeout(self, timeout: Duration) -> Self;

    /// How long one exchange with the token endpoint may take.
    #[must_use]
    fn timeout(self, timeout: Duration) -> Self;

    /// The largest answer accepted from the token endpoint, in bytes.
    #[must_use]
    fn max_response_bytes(self, bytes: usize) -> Self;

    /// Builds the transport, and the manager over it with what `manager` holds (configuration,
    /// policies, shared store): `manager.with_transport(transport)`, then the runtime's hooks if
    /// it needs them.
    fn build_manager(self, manager: TokenManagerBuilder<()>) -> Self::Manager;
}

/// Builds a token manager on a ready-made transport: the transport's settings and the manager's
/// policies in one chain. Each transport crate names it for its transport (`UreqManagerBuilder`,
/// `HyperManagerBuilder`, `ReqwestManagerBuilder`) and starts it from its `token_manager_builder`
/// functions.
#[derive(Debug)]
#[must_use = "call build() to get the manager"]
pub struct TransportManagerBuilder<B> {
    /// The configuration, the policies and the shared store, waiting for the transport.
    manager: TokenManagerBuilder<()>,
    transport: B,
}

impl<B: TransportBuilder> TransportManagerBuilder<B> {
    /// Starts with `config`, a transport that follows its plain-`http` choice, and the defaults.
    pub fn new(config: ClientConfig) -> Self {
        Self {
            transport: B::for_config(&config),
            manager: TokenManagerBuilder::new((), config),
        }
    }

    /// Starts for the Logto `endpoint` and the M2M app's id and secret.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the endpoint, id or secret is refused.
    pub fn from_credentials(
        endpoint: impl Into<String>,
        app_id: impl Into<String>,
        app_secret: impl Into<AppSecret>,
    ) -> Result<Self, ConfigError> {
        Ok(Self::new(
            ClientConfig::builder(endpoint, app_id, app_secret).build()?,
        ))
    }

    /// Starts from the environment (every variable is listed at [`config_from_env`]).
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable that is missing or malformed.
    pub fn from_env() -> Result<Self, EnvError> {
        Ok(Self::new(config_from_env()?))
    }

    /// How long connecting (DNS, TCP and TLS) may take. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.connect_timeout(timeout);
        self
    }

    /// How long one exchange with the token endpoint may take, from the DNS lookup to the last
    /// body byte. Default: 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.timeout(timeout);
        self
    }

    /// The largest answer accepted from the token endpoint, in bytes. Default: 64 KiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.transport = self.transport.max_response_bytes(bytes);
        self
    }

    /// Any other setting of the transport: `|transport| transport.some_setting(..)`.
    pub fn configure_transport(mut self, configure: impl FnOnce(B) -> B) -> Self {
        self.transport = configure(self.transport);
        self
    }

    /// How long one call keeps trying ([`RetryPolicy`]). Default: 3 attempts within 30 s.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.manager = self.manager.retry_policy(policy);
        self
    }

    /// The state machine's policy: margins, refresh point, backoff, key bound ([`CachePolicy`]).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.manager = self.manager.cache_policy(policy);
        self
    }

    /// Shares tokens with every replica through `store`: see
    /// [`TokenManagerBuilder::shared_store`].
    pub fn shared_store<S: BlockingSharedStore + SharedStore>(mut self, store: S) -> Self {
        self.manager = self.manager.shared_store(store);
        self
    }

    /// Sets the shared store's policy: see [`TokenManagerBuilder::shared_store_policy`].
    pub fn shared_store_policy(mut self, policy: SharedStorePolicy) -> Self {
        self.manager = self.manager.shared_store_policy(policy);
        self
    }

    /// Builds the transport and the manager.
    #[must_use]
    pub fn build(self) -> B::Manager {
        self.transport.build_manager(self.manager)
    }
}
