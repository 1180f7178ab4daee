//! One call from credentials to an async token manager on this transport and tokio.

use std::time::Duration;

use logto_m2m::{AsyncTokenManager, ClientConfig, EnvError, config_from_env};
use logto_m2m_proto::{AppSecret, ConfigError};

use crate::ReqwestTransport;

/// An async token manager for the Logto `endpoint` and the M2M app's id and secret, on a
/// [`ReqwestTransport`] with the default timeouts and response cap, refreshing ahead of expiry in
/// tokio tasks and sleeping through backoffs on tokio's timer. Call it within a tokio runtime.
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
    let config = ClientConfig::builder(endpoint, app_id, app_secret).build()?;
    Ok(token_manager_for(config))
}

/// An async token manager from `LOGTO_ENDPOINT`, `LOGTO_APP_ID` and `LOGTO_APP_SECRET`.
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_from_env() -> Result<AsyncTokenManager<ReqwestTransport>, EnvError> {
    Ok(token_manager_for(config_from_env()?))
}

/// An async token manager for `config` on a [`ReqwestTransport`] that follows the configuration's
/// plain-`http` choice, with tokio hooks.
#[must_use]
pub fn token_manager_for(config: ClientConfig) -> AsyncTokenManager<ReqwestTransport> {
    let transport = ReqwestTransport::builder()
        .allow_insecure_http(config.allows_insecure_http())
        .build();
    AsyncTokenManager::builder(transport, config)
        .spawner(|task| {
            tokio::spawn(task);
        })
        .sleeper(|duration: Duration| tokio::time::sleep(duration))
        .build_async()
}
