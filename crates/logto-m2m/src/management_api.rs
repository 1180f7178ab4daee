//! Logto's Management API: the presets (the resource and scope of Logto Cloud or a self-hosted
//! Logto), and calls with a cached token over any transport, blocking
//! ([`BlockingManagementApi`]) or async ([`AsyncManagementApi`]).
//!
//! A call is a JSON request for a path under the endpoint, with a method and a body. It
//! - gets the Management API token from a provider and sets it as the Bearer token, and on a 401
//!   invalidates that token and sends the request once more when it can be replayed (by the
//!   [`bearer_retry`](crate::bearer_retry) rule: `GET`, `PUT`, `DELETE`; `PATCH` and `POST` only
//!   when opted in with [`Replay::AnyMethod`](crate::bearer_retry::Replay::AnyMethod));
//! - caps the answer at its own limit ([`DEFAULT_MAX_RESPONSE_BYTES`], 4 MiB; API answers are
//!   larger than token answers), which the transport applies to that request
//!   ([`ResponseBodyCap`](crate::transport_rules::ResponseBodyCap));
//! - turns a 4xx or 5xx into an [`ApiError`] with Logto's `code` and `message`, the app secret
//!   and any token scrubbed from them, classified retryable or not.
//!
//! Lists follow Logto's pagination (`page` from 1, `page_size`, the total in the `Total-Number`
//! header): [`BlockingManagementApi::list`] is an [`Iterator`], [`AsyncManagementApi::list`] an
//! async iterator ([`AsyncPages::next`]). Typed calls, the pattern for more:
//! [`list_applications`](BlockingManagementApi::list_applications) (an [`Application`] has no
//! secret field: the secrets of Logto's answer are dropped while parsing, and the answer's bytes
//! are zeroized) and [`update_user_custom_data`](BlockingManagementApi::update_user_custom_data).
//!
//! The resource is chosen from the endpoint ([`token_params`]): `https://{tenant}.logto.app`
//! is Logto Cloud (resource `https://{tenant}.logto.app/api`), any other host a self-hosted Logto
//! (`https://default.logto.app/api`). A Logto Cloud tenant on a custom domain must get its
//! Management API tokens from `{tenant}.logto.app`: [`cloud_token_params`] for that tenant with a
//! custom-domain endpoint is refused with that reason
//! ([`ConfigError::ManagementApiViaCustomDomain`]).
//!
//! ```no_run
//! use logto_m2m::management_api::BlockingManagementApi;
//! # fn transport(_: logto_m2m::proto::http::Request<Vec<u8>>) -> Result<logto_m2m::proto::http::Response<Vec<u8>>, std::io::Error> { unimplemented!() }
//! # let manager = logto_m2m::BlockingTokenManager::new(transport,
//! #     logto_m2m::ClientConfig::builder("https://my-tenant.logto.app", "app-id", "app-secret").build()?);
//! let api = BlockingManagementApi::for_manager(&manager, transport)?;
//! for application in api.list_applications() {
//!     let application = application?;
//!     println!("{} ({})", application.name, application.id);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod asynchronous;
mod blocking;
mod error;
mod exchange;
mod pagination;
mod types;

pub use asynchronous::{AsyncManagementApi, AsyncPages};
pub use blocking::{BlockingManagementApi, Pages};
pub use error::{ApiError, ManagementApiError};
pub use exchange::{ApiResponse, DEFAULT_MAX_RESPONSE_BYTES};
pub use logto_m2m_proto::management_api::{
    SCOPE, SELF_HOSTED_RESOURCE, cloud_endpoint, cloud_resource, cloud_token_params,
    self_hosted_token_params,
};
pub use pagination::DEFAULT_PAGE_SIZE;
pub use types::{Application, ApplicationType};

use logto_m2m_proto::{ClientConfig, ConfigError, TokenParams};

/// The Management API token parameters for `config`'s endpoint: Logto Cloud's
/// ([`cloud_token_params`]) for `https://{tenant}.logto.app`, a self-hosted Logto's
/// ([`self_hosted_token_params`]) for any other host. For a Logto Cloud tenant behind a custom
/// domain, use `https://{tenant}.logto.app` as the endpoint instead.
///
/// # Errors
///
/// [`ConfigError::InvalidTenant`] when the `logto.app` subdomain is not a tenant id.
pub fn token_params(config: &ClientConfig) -> Result<TokenParams, ConfigError> {
    let host = config.endpoint_host().to_ascii_lowercase();
    match host.strip_suffix(".logto.app") {
        Some(tenant) => cloud_token_params(tenant),
        None => Ok(self_hosted_token_params()),
    }
}
