//! Configuration from the environment: what a deployment sets, each in one `LOGTO_*` variable.
//!
//! | variable | read by | value |
//! |---|---|---|
//! | `LOGTO_ENDPOINT` | [`config_from_env`] | Logto's base URL, e.g. `https://your-tenant.logto.app` (required) |
//! | `LOGTO_APP_ID` | [`config_from_env`] | the M2M app's id (required) |
//! | `LOGTO_APP_SECRET` | [`config_from_env`] | the M2M app's secret (required) |
//! | `LOGTO_AUTH_METHOD` | [`config_from_env`] | `client_secret_basic` (default) or `client_secret_post` (`basic` and `post` also do) |
//! | `LOGTO_ALLOW_INSECURE_HTTP` | [`config_from_env`] | `true` to allow plain `http` to a host that is not loopback (default `false`) |
//! | `LOGTO_RESOURCE` | [`params_from_env`] | the API resource indicator to ask a token for |
//! | `LOGTO_SCOPES` | [`params_from_env`] | the scopes to ask for, separated by spaces (default: none) |
//! | `LOGTO_ORGANIZATION_ID` | [`params_from_env`] | the organization to ask a token for (alone, or with the resource) |
//!
//! An empty variable counts as unset. Every `*_from_env` function has a `*_from_vars` twin that
//! reads through a lookup function instead (a map, a secrets store, a test fixture).

use std::ffi::OsString;

use logto_m2m_proto::{
    AppSecret, ClientAuthMethod, ClientConfig, ClientConfigBuilder, ConfigError, TokenParams,
};

/// The variable holding the Logto endpoint (its base URL).
pub const ENDPOINT_VAR: &str = "LOGTO_ENDPOINT";
/// The variable holding the M2M app's id.
pub const APP_ID_VAR: &str = "LOGTO_APP_ID";
/// The variable holding the M2M app's secret.
pub const APP_SECRET_VAR: &str = "LOGTO_APP_SECRET";
/// The variable choosing how the app authenticates: `client_secret_basic` (default) or
/// `client_secret_post` (`basic` and `post` also do, in any letter case).
pub const AUTH_METHOD_VAR: &str = "LOGTO_AUTH_METHOD";
/// The variable allowing plain `http` to a host that is not loopback: `true` or `false` (default;
/// `1`/`0`, `yes`/`no` also do). Only for a private network you trust: the app secret then travels
/// unencrypted.
pub const ALLOW_INSECURE_HTTP_VAR: &str = "LOGTO_ALLOW_INSECURE_HTTP";
/// The variable holding the API resource indicator to ask a token for.
pub const RESOURCE_VAR: &str = "LOGTO_RESOURCE";
/// The variable holding the scopes to ask for, separated by spaces.
pub const SCOPES_VAR: &str = "LOGTO_SCOPES";
/// The variable holding the organization to ask a token for.
pub const ORGANIZATION_ID_VAR: &str = "LOGTO_ORGANIZATION_ID";

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
    /// The variable's value is not one of those it accepts.
    #[error("environment variable {variable} must be one of: {expected}")]
    Unrecognized {
        /// The variable's name.
        variable: &'static str,
        /// The values it accepts.
        expected: &'static str,
    },
    /// Neither `LOGTO_RESOURCE` nor `LOGTO_ORGANIZATION_ID` is set: a token is for an API
    /// resource, an organization, or both.
    #[error(
        "neither {RESOURCE_VAR} nor {ORGANIZATION_ID_VAR} is set: set the API resource \
         indicator, the organization id, or both"
    )]
    NoResourceOrOrganization,
    /// The variable's value was refused.
    #[error("environment variable {variable} is invalid: {source}")]
    Invalid {
        /// The variable's name.
        variable: &'static str,
        /// Why it was refused.
        source: ConfigError,
    },
}

/// The variable's value, or `None` when it is unset or empty.
fn optional(
    lookup: &impl Fn(&str) -> Option<OsString>,
    variable: &'static str,
) -> Result<Option<String>, EnvError> {
    match lookup(variable) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => value
            .into_string()
            .map(Some)
            .map_err(|_| EnvError::NotUnicode { variable }),
    }
}

fn required(
    lookup: &impl Fn(&str) -> Option<OsString>,
    variable: &'static str,
) -> Result<String, EnvError> {
    optional(lookup, variable)?.ok_or(EnvError::Missing { variable })
}

fn auth_method(value: &str) -> Option<ClientAuthMethod> {
    let value = value.trim().to_ascii_lowercase();
    match value.as_str() {
        "client_secret_basic" | "basic" => Some(ClientAuthMethod::Basic),
        "client_secret_post" | "post" => Some(ClientAuthMethod::Post),
        _ => None,
    }
}

fn flag(value: &str) -> Option<bool> {
    let value = value.trim().to_ascii_lowercase();
    match value.as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// A configuration builder from the environment, for more settings before
/// [`build`](ClientConfigBuilder::build): the variables [`config_from_env`] reads.
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or not readable.
pub fn config_builder_from_env() -> Result<ClientConfigBuilder, EnvError> {
    config_builder_from_vars(|name| std::env::var_os(name))
}

/// As [`config_builder_from_env`], reading the variables through `lookup` (a map, a secrets store,
/// a test fixture) instead of the process environment.
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or not readable.
pub fn config_builder_from_vars(
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<ClientConfigBuilder, EnvError> {
    let endpoint = required(&lookup, ENDPOINT_VAR)?;
    let app_id = required(&lookup, APP_ID_VAR)?;
    let app_secret = AppSecret::new(required(&lookup, APP_SECRET_VAR)?);
    let mut builder = ClientConfig::builder(endpoint, app_id, app_secret);
    if let Some(value) = optional(&lookup, AUTH_METHOD_VAR)? {
        let method = auth_method(&value).ok_or(EnvError::Unrecognized {
            variable: AUTH_METHOD_VAR,
            expected: "client_secret_basic, client_secret_post",
        })?;
        builder = builder.auth_method(method);
    }
    if let Some(value) = optional(&lookup, ALLOW_INSECURE_HTTP_VAR)? {
        let allow = flag(&value).ok_or(EnvError::Unrecognized {
            variable: ALLOW_INSECURE_HTTP_VAR,
            expected: "true, false",
        })?;
        builder = builder.allow_insecure_http(allow);
    }
    Ok(builder)
}

/// A client configuration from the environment:
///
/// - `LOGTO_ENDPOINT` (required): Logto's base URL, e.g. `https://your-tenant.logto.app`;
/// - `LOGTO_APP_ID` and `LOGTO_APP_SECRET` (required): the M2M app's credentials;
/// - `LOGTO_AUTH_METHOD` (optional): `client_secret_basic` (default) or `client_secret_post`;
/// - `LOGTO_ALLOW_INSECURE_HTTP` (optional): `true` to allow plain `http` to a host that is not
///   loopback (default `false`).
///
/// What token to ask for is read by [`params_from_env`], from `LOGTO_RESOURCE`, `LOGTO_SCOPES`
/// (separated by spaces) and `LOGTO_ORGANIZATION_ID`. An empty variable counts as unset.
///
/// ```
/// use std::collections::HashMap;
/// use std::ffi::OsString;
///
/// // The same, through a lookup instead of the process environment:
/// let vars = HashMap::from([
///     ("LOGTO_ENDPOINT", "https://my-tenant.logto.app"),
///     ("LOGTO_APP_ID", "app-id"),
///     ("LOGTO_APP_SECRET", "app-secret"),
///     ("LOGTO_RESOURCE", "https://api.example.com"),
///     ("LOGTO_SCOPES", "read:items write:items"),
/// ]);
/// let lookup = |name: &str| vars.get(name).map(OsString::from);
/// let config = logto_m2m::config_from_vars(lookup)?;
/// let params = logto_m2m::params_from_vars(lookup)?;
/// assert_eq!(config.token_endpoint(), "https://my-tenant.logto.app/oidc/token");
/// assert_eq!(params.requested_scopes().to_wire(), "read:items write:items");
/// # Ok::<(), logto_m2m::EnvError>(())
/// ```
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

/// What token to ask for, from the environment: `LOGTO_RESOURCE` (the API resource indicator),
/// `LOGTO_SCOPES` (separated by spaces) and `LOGTO_ORGANIZATION_ID`. At least one of the resource
/// and the organization must be set. Checked as [`TokenParams::validate`] does.
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is malformed, or
/// [`EnvError::NoResourceOrOrganization`].
pub fn params_from_env() -> Result<TokenParams, EnvError> {
    params_from_vars(|name| std::env::var_os(name))
}

/// As [`params_from_env`], reading the variables through `lookup`.
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is malformed, or
/// [`EnvError::NoResourceOrOrganization`].
pub fn params_from_vars(
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<TokenParams, EnvError> {
    let resource = optional(&lookup, RESOURCE_VAR)?;
    let organization = optional(&lookup, ORGANIZATION_ID_VAR)?;
    let scopes = optional(&lookup, SCOPES_VAR)?;
    let mut params = TokenParams::new();
    match (resource, organization) {
        (None, None) => return Err(EnvError::NoResourceOrOrganization),
        (resource, organization) => {
            if let Some(resource) = resource {
                params = params.resource(resource);
            }
            if let Some(organization) = organization {
                params = params.organization(organization);
            }
        }
    }
    if let Some(scopes) = scopes {
        params = params.scopes(scopes.split_ascii_whitespace());
    }
    params.validate().map_err(|source| {
        let variable = match source {
            ConfigError::InvalidScope { .. } => SCOPES_VAR,
            ConfigError::EmptyOrganizationId => ORGANIZATION_ID_VAR,
            _ => RESOURCE_VAR,
        };
        EnvError::Invalid { variable, source }
    })?;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use logto_m2m_proto::ClientAuthMethod;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), OsString::from(value)))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        (ENDPOINT_VAR, "https://t.logto.app"),
        (APP_ID_VAR, "app"),
        (APP_SECRET_VAR, "secret"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let mut all = BASE.to_vec();
        all.extend_from_slice(extra);
        vars(&all)
    }

    #[test]
    fn the_three_required_variables_are_named_when_missing() {
        for missing in [ENDPOINT_VAR, APP_ID_VAR, APP_SECRET_VAR] {
            let others: Vec<_> = BASE.into_iter().filter(|(n, _)| *n != missing).collect();
            assert_eq!(
                config_from_vars(vars(&others)).unwrap_err(),
                EnvError::Missing { variable: missing }
            );
        }
        let config = config_from_vars(with(&[])).unwrap();
        assert_eq!(config.auth_method(), ClientAuthMethod::Basic);
        assert!(!config.allows_insecure_http());
    }

    #[test]
    fn the_auth_method_and_the_plain_http_opt_in_are_read() {
        for (value, method) in [
            ("client_secret_post", ClientAuthMethod::Post),
            ("POST", ClientAuthMethod::Post),
            ("client_secret_basic", ClientAuthMethod::Basic),
            ("basic", ClientAuthMethod::Basic),
        ] {
            let config = config_from_vars(with(&[(AUTH_METHOD_VAR, value)])).unwrap();
            assert_eq!(config.auth_method(), method, "{value}");
        }
        assert_eq!(
            config_from_vars(with(&[(AUTH_METHOD_VAR, "private_key_jwt")])).unwrap_err(),
            EnvError::Unrecognized {
                variable: AUTH_METHOD_VAR,
                expected: "client_secret_basic, client_secret_post"
            }
        );

        let remote = |allow: &'static str| {
            config_from_vars(vars(&[
                (ENDPOINT_VAR, "http://logto.internal:3001"),
                (APP_ID_VAR, "app"),
                (APP_SECRET_VAR, "secret"),
                (ALLOW_INSECURE_HTTP_VAR, allow),
            ]))
        };
        let config = remote("true").unwrap();
        assert!(config.allows_insecure_http());
        assert_eq!(
            config.token_endpoint(),
            "http://logto.internal:3001/oidc/token"
        );
        for refused in ["false", "0", ""] {
            assert!(
                matches!(
                    remote(refused),
                    Err(EnvError::Invalid {
                        variable: ENDPOINT_VAR,
                        source: ConfigError::InsecureHttp { .. }
                    })
                ),
                "{refused:?}"
            );
        }
        assert!(matches!(
            remote("maybe"),
            Err(EnvError::Unrecognized {
                variable: ALLOW_INSECURE_HTTP_VAR,
                ..
            })
        ));
    }

    #[test]
    fn resource_scopes_and_organization_make_the_token_params() {
        let params = params_from_vars(vars(&[
            (RESOURCE_VAR, "https://api.example.com"),
            (SCOPES_VAR, " read:items  write:items "),
            (ORGANIZATION_ID_VAR, "org-1"),
        ]))
        .unwrap();
        assert_eq!(params.resource_indicator(), Some("https://api.example.com"));
        assert_eq!(params.organization_id(), Some("org-1"));
        assert_eq!(
            params.requested_scopes().to_wire(),
            "read:items write:items"
        );

        let organization_only = params_from_vars(vars(&[(ORGANIZATION_ID_VAR, "org-1")])).unwrap();
        assert_eq!(organization_only.resource_indicator(), None);
        assert!(organization_only.requested_scopes().is_empty());

        assert_eq!(
            params_from_vars(vars(&[(SCOPES_VAR, "read:items")])).unwrap_err(),
            EnvError::NoResourceOrOrganization
        );
        assert!(matches!(
            params_from_vars(vars(&[(RESOURCE_VAR, "api.example.com")])),
            Err(EnvError::Invalid {
                variable: RESOURCE_VAR,
                source: ConfigError::InvalidResource { .. }
            })
        ));
        assert!(matches!(
            params_from_vars(vars(&[
                (RESOURCE_VAR, "https://api.example.com"),
                (SCOPES_VAR, "read:\"items\"")
            ])),
            Err(EnvError::Invalid {
                variable: SCOPES_VAR,
                source: ConfigError::InvalidScope { .. }
            })
        ));
    }

    #[test]
    fn an_endpoint_with_an_oidc_path_is_refused_naming_the_variable() {
        let error = config_from_vars(vars(&[
            (ENDPOINT_VAR, "https://t.logto.app/oidc/token"),
            (APP_ID_VAR, "app"),
            (APP_SECRET_VAR, "secret"),
        ]))
        .unwrap_err();
        assert!(matches!(
            error,
            EnvError::Invalid {
                variable: ENDPOINT_VAR,
                source: ConfigError::EndpointWithOidcPath { .. }
            }
        ));
        assert!(
            error
                .to_string()
                .starts_with("environment variable LOGTO_ENDPOINT is invalid")
        );
    }
}
