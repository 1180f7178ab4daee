//! One call from credentials to an async token manager on this transport and tokio, and a builder
//! chain for when one value must change.

use std::time::Duration;

use logto_m2m::{
    AppSecret, AsyncTokenManager, CachePolicy, ClientConfig, ConfigError, EnvError, RetryPolicy,
    TokenManagerBuilder, config_from_env,
};

use crate::{ReqwestTransport, ReqwestTransportBuilder};

/// An async token manager for the Logto `endpoint` and the M2M app's id and secret, on a
/// [`ReqwestTransport`] with the default timeouts and response cap, and the default policies,
/// refreshing ahead of expiry in tokio tasks and sleeping through backoffs on tokio's timer. Call
/// it within a tokio runtime. To change any option, use [`token_manager_builder`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use logto_m2m::TokenParams;
///
/// let manager = logto_m2m_reqwest::token_manager("https://my-tenant.logto.app", "app-id", "app-secret")?;
/// let api = manager.source(TokenParams::for_resource("https://api.example.com"))?;
/// let token = api.token().await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// A [`ConfigError`] when the endpoint, id or secret is refused.
pub fn token_manager(
    endpoint: impl Into<String>,
    app_id: impl Into<String>,
    app_secret: impl Into<AppSecret>,
) -> Result<AsyncTokenManager<ReqwestTransport>, ConfigError> {
    Ok(token_manager_builder(endpoint, app_id, app_secret)?.build())
}

/// An async token manager configured from the environment (every variable is listed at
/// [`logto_m2m::config_from_env`]), on a [`ReqwestTransport`] with the default timeouts and
/// response cap, and the default policies. To change any of them, use
/// [`token_manager_builder_from_env`].
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_from_env() -> Result<AsyncTokenManager<ReqwestTransport>, EnvError> {
    Ok(token_manager_builder_from_env()?.build())
}

/// An async token manager for `config` on a [`ReqwestTransport`] that follows the configuration's
/// plain-`http` choice, with the default timeouts, response cap and policies.
#[must_use]
pub fn token_manager_for(config: ClientConfig) -> AsyncTokenManager<ReqwestTransport> {
    ReqwestManagerBuilder::new(config).build()
}

/// Starts an async token manager for the Logto `endpoint` and the M2M app's id and secret, to set
/// the transport's timeouts and response cap and the manager's policies in one chain.
///
/// ```no_run
/// use std::time::Duration;
///
/// use logto_m2m::RetryPolicy;
///
/// let manager = logto_m2m_reqwest::token_manager_builder("https://my-tenant.logto.app", "app-id", "app-secret")?
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
) -> Result<ReqwestManagerBuilder, ConfigError> {
    let config = ClientConfig::builder(endpoint, app_id, app_secret).build()?;
    Ok(ReqwestManagerBuilder::new(config))
}

/// As [`token_manager_builder`], configured from the environment (every variable is listed at
/// [`logto_m2m::config_from_env`]).
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_builder_from_env() -> Result<ReqwestManagerBuilder, EnvError> {
    Ok(ReqwestManagerBuilder::new(config_from_env()?))
}

/// Builds an [`AsyncTokenManager`] on a [`ReqwestTransport`]: the transport's settings and the
/// manager's policies in one chain. Start from [`token_manager_builder`],
/// [`token_manager_builder_from_env`] or [`ReqwestManagerBuilder::new`].
#[derive(Debug)]
#[must_use = "call build() to get the manager"]
pub struct ReqwestManagerBuilder {
    config: ClientConfig,
    transport: ReqwestTransportBuilder,
    cache_policy: CachePolicy,
    retry_policy: RetryPolicy,
}

impl ReqwestManagerBuilder {
    /// Starts with `config`, a transport that follows its plain-`http` choice, and the defaults.
    pub fn new(config: ClientConfig) -> Self {
        let transport =
            ReqwestTransport::builder().allow_insecure_http(config.allows_insecure_http());
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
        configure: impl FnOnce(ReqwestTransportBuilder) -> ReqwestTransportBuilder,
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

    /// Builds the transport and the manager, refreshing ahead of expiry in tokio tasks and
    /// sleeping through backoffs on tokio's timer.
    #[must_use]
    pub fn build(self) -> AsyncTokenManager<ReqwestTransport> {
        TokenManagerBuilder::new(self.transport.build(), self.config)
            .cache_policy(self.cache_policy)
            .retry_policy(self.retry_policy)
            .spawner(|task| {
                tokio::spawn(task);
            })
            .sleeper(|duration: Duration| tokio::time::sleep(duration))
            .build_async()
    }
}
