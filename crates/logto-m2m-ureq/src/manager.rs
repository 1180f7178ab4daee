//! One call from credentials to a blocking token manager on this transport, and a builder chain for
//! when one value must change.

use std::time::Duration;

use logto_m2m::{
    AppSecret, BlockingTokenManager, CachePolicy, ClientConfig, ConfigError, EnvError, RetryPolicy,
    TokenManagerBuilder, config_from_env,
};

use crate::{UreqTransport, UreqTransportBuilder};

/// A blocking token manager for the Logto `endpoint` and the M2M app's id and secret, on a
/// [`UreqTransport`] with the default timeouts and response cap, and the default policies. To
/// change any of them, use [`token_manager_builder`].
///
/// ```no_run
/// use logto_m2m::TokenParams;
///
/// let manager = logto_m2m_ureq::token_manager("https://my-tenant.logto.app", "app-id", "app-secret")?;
/// let api = manager.source(TokenParams::for_resource("https://api.example.com"))?;
/// let token = api.token()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A [`ConfigError`] when the endpoint, id or secret is refused.
pub fn token_manager(
    endpoint: impl Into<String>,
    app_id: impl Into<String>,
    app_secret: impl Into<AppSecret>,
) -> Result<BlockingTokenManager<UreqTransport>, ConfigError> {
    Ok(token_manager_builder(endpoint, app_id, app_secret)?.build())
}

/// A blocking token manager configured from the environment (every variable is listed at
/// [`logto_m2m::config_from_env`]), on a [`UreqTransport`] with the default timeouts and response
/// cap, and the default policies. To change any of them, use [`token_manager_builder_from_env`].
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_from_env() -> Result<BlockingTokenManager<UreqTransport>, EnvError> {
    Ok(token_manager_builder_from_env()?.build())
}

/// A blocking token manager for `config` on a [`UreqTransport`] that follows the configuration's
/// plain-`http` choice, with the default timeouts, response cap and policies.
#[must_use]
pub fn token_manager_for(config: ClientConfig) -> BlockingTokenManager<UreqTransport> {
    UreqManagerBuilder::new(config).build()
}

/// Starts a blocking token manager for the Logto `endpoint` and the M2M app's id and secret, to set
/// the transport's timeouts and response cap and the manager's policies in one chain.
///
/// ```no_run
/// use std::time::Duration;
///
/// use logto_m2m::RetryPolicy;
///
/// let manager = logto_m2m_ureq::token_manager_builder("https://my-tenant.logto.app", "app-id", "app-secret")?
///     .timeout(Duration::from_secs(3))
///     .retry_policy(RetryPolicy::no_retries())
///     .build();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A [`ConfigError`] when the endpoint, id or secret is refused.
pub fn token_manager_builder(
    endpoint: impl Into<String>,
    app_id: impl Into<String>,
    app_secret: impl Into<AppSecret>,
) -> Result<UreqManagerBuilder, ConfigError> {
    let config = ClientConfig::builder(endpoint, app_id, app_secret).build()?;
    Ok(UreqManagerBuilder::new(config))
}

/// As [`token_manager_builder`], configured from the environment (every variable is listed at
/// [`logto_m2m::config_from_env`]).
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_builder_from_env() -> Result<UreqManagerBuilder, EnvError> {
    Ok(UreqManagerBuilder::new(config_from_env()?))
}

/// Builds a [`BlockingTokenManager`] on a [`UreqTransport`]: the transport's settings and the
/// manager's policies in one chain. Start from [`token_manager_builder`],
/// [`token_manager_builder_from_env`] or [`UreqManagerBuilder::new`].
#[derive(Debug)]
#[must_use = "call build() to get the manager"]
pub struct UreqManagerBuilder {
    config: ClientConfig,
    transport: UreqTransportBuilder,
    cache_policy: CachePolicy,
    retry_policy: RetryPolicy,
}

impl UreqManagerBuilder {
    /// Starts with `config`, a transport that follows its plain-`http` choice, and the defaults.
    pub fn new(config: ClientConfig) -> Self {
        let transport = UreqTransport::builder().allow_insecure_http(config.allows_insecure_http());
        Self {
            config,
            transport,
            cache_policy: CachePolicy::default(),
            retry_policy: RetryPolicy::default(),
        }
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
    pub fn configure_transport(
        mut self,
        configure: impl FnOnce(UreqTransportBuilder) -> UreqTransportBuilder,
    ) -> Self {
        self.transport = configure(self.transport);
        self
    }

    /// How long one call keeps trying ([`RetryPolicy`]). Default: 3 attempts within 30 s.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// The state machine's policy: margins, refresh point, backoff, key bound ([`CachePolicy`]).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache_policy = policy;
        self
    }

    /// Builds the transport and the manager.
    #[must_use]
    pub fn build(self) -> BlockingTokenManager<UreqTransport> {
        TokenManagerBuilder::new(self.transport.build(), self.config)
            .cache_policy(self.cache_policy)
            .retry_policy(self.retry_policy)
            .build_blocking()
    }
}
