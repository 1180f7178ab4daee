//! One call from credentials to an async token manager on this transport and tokio.

use std::time::Duration;

use logto_m2m::{AsyncTokenManager, ClientConfig, EnvError, TokenManagerBuilder, config_from_env};
use logto_m2m_proto::{AppSecret, ConfigError};

use crate::HyperTransport;

/// An async token manager for the Logto `endpoint` and the M2M app's id and secret, on a
/// [`HyperTransport`] with the default timeouts and response cap, refreshing ahead of expiry in
/// tokio tasks and sleeping through backoffs on tokio's timer. Call it within a tokio runtime.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use logto_m2m::TokenParams;
///
/// let manager = logto_m2m_hyper::token_manager("https://my-tenant.logto.app", "app-id", "app-secret")?;
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
) -> Result<AsyncTokenManager<HyperTransport>, ConfigError> {
    let config = ClientConfig::builder(endpoint, app_id, app_secret).build()?;
    Ok(token_manager_for(config))
}

/// An async token manager from `LOGTO_ENDPOINT`, `LOGTO_APP_ID` and `LOGTO_APP_SECRET`.
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_from_env() -> Result<AsyncTokenManager<HyperTransport>, EnvError> {
    Ok(token_manager_for(config_from_env()?))
}

/// An async token manager for `config` on a [`HyperTransport`] that follows the configuration's
/// plain-`http` choice, with tokio hooks.
#[must_use]
pub fn token_manager_for(config: ClientConfig) -> AsyncTokenManager<HyperTransport> {
    let transport = HyperTransport::builder()
        .allow_insecure_http(config.allows_insecure_http())
        .build();
    with_tokio(AsyncTokenManager::builder(transport, config)).build_async()
}

/// Sets tokio hooks on a manager builder: refreshes ahead of expiry run as tokio tasks, and calls
/// sleep through backoffs on tokio's timer.
pub fn with_tokio<T>(builder: TokenManagerBuilder<T>) -> TokenManagerBuilder<T> {
    builder
        .spawner(|task| {
            tokio::spawn(task);
        })
        .sleeper(|duration: Duration| tokio::time::sleep(duration))
}
