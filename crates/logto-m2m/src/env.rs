//! Configuration from the environment: `LOGTO_ENDPOINT`, `LOGTO_APP_ID`, `LOGTO_APP_SECRET`.

use std::ffi::OsString;

use logto_m2m_proto::{AppSecret, ClientConfig, ClientConfigBuilder, ConfigError};

/// The variable holding the Logto endpoint.
pub const ENDPOINT_VAR: &str = "LOGTO_ENDPOINT";
/// The variable holding the M2M app's id.
pub const APP_ID_VAR: &str = "LOGTO_APP_ID";
/// The variable holding the M2M app's secret.
pub const APP_SECRET_VAR: &str = "LOGTO_APP_SECRET";

/// A configuration variable that is missing or malformed. Names the variable; never holds a value
/// of the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The variable is not set (or empty).
    #[error("environment variable {variable} is not set")]
    Missing {
        /// The variable's name.
        variable: &'static str,
    },
    /// The variable is not valid Unicode.
    #[error("environment variable {variable} is not valid Unicode")]
    NotUnicode {
        /// The variable's name.
        variable: &'static str,
    },
    /// The variable's value was refused.
    #[error("environment variable {variable} is invalid: {source}")]
    Invalid {
        /// The variable's name.
        variable: &'static str,
        /// Why it was refused.
        source: ConfigError,
    },
}

fn read(
    lookup: &impl Fn(&str) -> Option<OsString>,
    variable: &'static str,
) -> Result<String, EnvError> {
    match lookup(variable) {
        None => Err(EnvError::Missing { variable }),
        Some(value) if value.is_empty() => Err(EnvError::Missing { variable }),
        Some(value) => value
            .into_string()
            .map_err(|_| EnvError::NotUnicode { variable }),
    }
}

/// A configuration builder from `LOGTO_ENDPOINT`, `LOGTO_APP_ID` and `LOGTO_APP_SECRET`, for more
/// settings before [`build`](ClientConfigBuilder::build).
///
/// # Errors
///
/// [`EnvError::Missing`] or [`EnvError::NotUnicode`], naming the variable.
pub fn config_builder_from_env() -> Result<ClientConfigBuilder, EnvError> {
    config_builder_from_vars(|name| std::env::var_os(name))
}

/// As [`config_builder_from_env`], reading the variables through `lookup` (a map, a secrets store,
/// a test fixture) instead of the process environment.
///
/// # Errors
///
/// [`EnvError::Missing`] or [`EnvError::NotUnicode`], naming the variable.
pub fn config_builder_from_vars(
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<ClientConfigBuilder, EnvError> {
    let endpoint = read(&lookup, ENDPOINT_VAR)?;
    let app_id = read(&lookup, APP_ID_VAR)?;
    let app_secret = AppSecret::new(read(&lookup, APP_SECRET_VAR)?);
    Ok(ClientConfig::builder(endpoint, app_id, app_secret))
}

/// A configuration from `LOGTO_ENDPOINT`, `LOGTO_APP_ID` and `LOGTO_APP_SECRET`.
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn config_from_env() -> Result<ClientConfig, EnvError> {
    config_from_vars(|name| std::env::var_os(name))
}

/// As [`config_from_env`], reading the variables through `lookup`.
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn config_from_vars(
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<ClientConfig, EnvError> {
    config_builder_from_vars(lookup)?.build().map_err(|source| {
        let variable = match source {
            ConfigError::EmptyAppId => APP_ID_VAR,
            ConfigError::EmptyAppSecret => APP_SECRET_VAR,
            _ => ENDPOINT_VAR,
        };
        EnvError::Invalid { variable, source }
    })
}
