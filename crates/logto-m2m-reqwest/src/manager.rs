//! One call from credentials to an async token manager on this transport and tokio, and a builder
//! chain for when one value must change.

use std::time::Duration;

use logto_m2m::{
    AppSecret, AsyncTokenManager, ClientConfig, ConfigError, EnvError, TokenManagerBuilder,
    TransportBuilder, TransportManagerBuilder, with_tokio,
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
    ReqwestManagerBuilder::from_credentials(endpoint, app_id, app_secret)
}

/// As [`token_manager_builder`], configured from the environment (every variable is listed at
/// [`logto_m2m::config_from_env`]).
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_builder_from_env() -> Result<ReqwestManagerBuilder, EnvError> {
    ReqwestManagerBuilder::from_env()
}

/// Builds a [`AsyncTokenManager`] on a [`ReqwestTransport`]: the transport's settings and the
/// manager's policies in one chain ([`TransportManagerBuilder`], whose methods it has). Start from
/// [`token_manager_builder`], [`token_manager_builder_from_env`] or `ReqwestManagerBuilder::new(config)`.
pub type ReqwestManagerBuilder = TransportManagerBuilder<ReqwestTransportBuilder>;

impl TransportBuilder for ReqwestTransportBuilder {
    type Manager = AsyncTokenManager<ReqwestTransport>;

    fn for_config(config: &ClientConfig) -> Self {
        ReqwestTransport::builder().allow_insecure_http(config.allows_insecure_http())
    }

    fn connect_timeout(self, timeout: Duration) -> Self {
        Self::connect_timeout(self, timeout)
    }

    fn timeout(self, timeout: Duration) -> Self {
        Self::timeout(self, timeout)
    }

    fn max_response_bytes(self, bytes: usize) -> Self {
        Self::max_response_bytes(self, bytes)
    }

    /// Builds the transport and the manager, with tokio hooks ([`with_tokio`]).
    fn build_manager(self, manager: TokenManagerBuilder<()>) -> Self::Manager {
        with_tokio(manager.with_transport(self.build())).build_async()
    }
}
