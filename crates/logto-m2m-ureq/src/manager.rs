//! One call from credentials to a blocking token manager on this transport, and a builder chain for
//! when one value must change.

use std::time::Duration;

use logto_m2m::{
    AppSecret, BlockingTokenManager, ClientConfig, ConfigError, EnvError, TokenManagerBuilder,
    TransportBuilder, TransportManagerBuilder,
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
    UreqManagerBuilder::from_credentials(endpoint, app_id, app_secret)
}

/// As [`token_manager_builder`], configured from the environment (every variable is listed at
/// [`logto_m2m::config_from_env`]).
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_builder_from_env() -> Result<UreqManagerBuilder, EnvError> {
    UreqManagerBuilder::from_env()
}

/// Builds an [`BlockingTokenManager`] on a [`UreqTransport`]: the transport's settings and the
/// manager's policies in one chain ([`TransportManagerBuilder`], whose methods it has). Start from
/// [`token_manager_builder`], [`token_manager_builder_from_env`] or `UreqManagerBuilder::new(config)`.
pub type UreqManagerBuilder = TransportManagerBuilder<UreqTransportBuilder>;

impl TransportBuilder for UreqTransportBuilder {
    type Manager = BlockingTokenManager<UreqTransport>;

    fn for_config(config: &ClientConfig) -> Self {
        UreqTransport::builder().allow_insecure_http(config.allows_insecure_http())
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

    fn build_manager(self, manager: TokenManagerBuilder<()>) -> Self::Manager {
        manager.with_transport(self.build()).build_blocking()
    }
}
