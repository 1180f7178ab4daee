//! One call from credentials to a blocking token manager on this transport.

use logto_m2m::{BlockingTokenManager, ClientConfig, EnvError, config_from_env};
use logto_m2m_proto::{AppSecret, ConfigError};

use crate::UreqTransport;

/// A blocking token manager for the Logto `endpoint` and the M2M app's id and secret, on a
/// [`UreqTransport`] with the default timeouts and response cap, and the default policies.
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
    let config = ClientConfig::builder(endpoint, app_id, app_secret).build()?;
    Ok(token_manager_for(config))
}

/// A blocking token manager from `LOGTO_ENDPOINT`, `LOGTO_APP_ID` and `LOGTO_APP_SECRET`.
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_from_env() -> Result<BlockingTokenManager<UreqTransport>, EnvError> {
    Ok(token_manager_for(config_from_env()?))
}

/// A blocking token manager for `config` on a [`UreqTransport`] that follows the configuration's
/// plain-`http` choice.
#[must_use]
pub fn token_manager_for(config: ClientConfig) -> BlockingTokenManager<UreqTransport> {
    let transport = UreqTransport::builder()
        .allow_insecure_http(config.allows_insecure_http())
        .build();
    BlockingTokenManager::new(transport, config)
}
