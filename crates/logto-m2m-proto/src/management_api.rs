//! Presets for Logto's Management API.
//!
//! - Logto Cloud: endpoint `https://{tenant}.logto.app`, resource `https://{tenant}.logto.app/api`,
//!   scope `all`. Tokens must come from the `logto.app` endpoint, never through a custom domain
//!   (the token's issuer would not be accepted); [`TokenRequest::new`](crate::TokenRequest::new)
//!   refuses that combination.
//! - Self-hosted Logto: your endpoint, resource `https://default.logto.app/api`, scope `all`.

use crate::error::ConfigError;
use crate::params::TokenParams;

/// The one scope of the Management API.
pub const SCOPE: &str = "all";

/// The Management API resource indicator of self-hosted Logto (its tenant is `default`).
pub const SELF_HOSTED_RESOURCE: &str = "https://default.logto.app/api";

/// The Logto Cloud endpoint of `tenant`: `https://{tenant}.logto.app`.
///
/// # Errors
///
/// [`ConfigError::InvalidTenant`] unless `tenant` is a DNS label (letters, digits, inner hyphens).
pub fn cloud_endpoint(tenant: &str) -> Result<String, ConfigError> {
    check_tenant(tenant)?;
    Ok(format!("https://{tenant}.logto.app"))
}

/// The Logto Cloud Management API resource indicator of `tenant`: `https://{tenant}.logto.app/api`.
///
/// # Errors
///
/// [`ConfigError::InvalidTenant`] unless `tenant` is a DNS label.
pub fn cloud_resource(tenant: &str) -> Result<String, ConfigError> {
    check_tenant(tenant)?;
    Ok(format!("https://{tenant}.logto.app/api"))
}

/// Token parameters for the Logto Cloud Management API of `tenant`.
///
/// # Errors
///
/// [`ConfigError::InvalidTenant`] unless `tenant` is a DNS label.
pub fn cloud_token_params(tenant: &str) -> Result<TokenParams, ConfigError> {
    Ok(TokenParams::for_resource(cloud_resource(tenant)?).scope(SCOPE))
}

/// Token parameters for the Management API of a self-hosted Logto.
pub fn self_hosted_token_params() -> TokenParams {
    TokenParams::for_resource(SELF_HOSTED_RESOURCE).scope(SCOPE)
}

fn check_tenant(tenant: &str) -> Result<(), ConfigError> {
    let valid = !tenant.is_empty()
        && tenant.len() <= 63
        && !tenant.starts_with('-')
        && !tenant.ends_with('-')
        && tenant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::InvalidTenant {
            tenant: tenant.to_owned(),
        })
    }
}
