//! Logto machine-to-machine token managers: thin drivers of the one state machine in
//! [`logto_m2m_proto`], for threads ([`BlockingTokenManager`]) and for async code on any runtime
//! ([`AsyncTokenManager`]), over any HTTP stack ([`BlockingTransport`], [`Transport`], or a closure).
//!
//! The managers take no expiry or retry decision of their own: they poll the state machine, send
//! what it asks for, wait when it says so, and hand the outcomes back.
//!
//! ```
//! use logto_m2m::{BlockingTokenManager, ClientConfig, TokenParams};
//! use logto_m2m::proto::http::{Request, Response};
//!
//! // Any HTTP stack is a transport; here a closure that answers like Logto.
//! let transport = |request: Request<Vec<u8>>| -> Result<Response<Vec<u8>>, std::io::Error> {
//!     assert_eq!(request.uri(), "https://my-tenant.logto.app/oidc/token");
//!     Ok(Response::new(br#"{"access_token":"eyJ.x.y","expires_in":3600,"token_type":"Bearer"}"#.to_vec()))
//! };
//! let config = ClientConfig::builder("https://my-tenant.logto.app", "app-id", "app-secret").build()?;
//! let manager = BlockingTokenManager::new(transport, config);
//! let api = manager.source(TokenParams::for_resource("https://api.example.com"))?;
//! let token = api.token()?;
//! assert_eq!(token.access_token().expose_secret(), "eyJ.x.y");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod asynchronous;
mod blocking;
mod builder;
mod driver;
mod env;
mod events;
mod jitter;
mod retry;
mod source;
pub mod transport;
pub mod transport_rules;
mod url_policy;

/// The attribute that [`Transport`] implementations carry: `#[logto_m2m::async_trait]`.
pub use async_trait::async_trait;
pub use asynchronous::{AsyncTokenManager, BackgroundTask, Sleep, Spawn};
pub use blocking::BlockingTokenManager;
pub use builder::TokenManagerBuilder;
pub use env::{
    ALLOW_INSECURE_HTTP_VAR, APP_ID_VAR, APP_SECRET_VAR, AUTH_METHOD_VAR, ENDPOINT_VAR, EnvError,
    ORGANIZATION_ID_VAR, RESOURCE_VAR, SCOPES_VAR, config_builder_from_env,
    config_builder_from_vars, config_from_env, config_from_vars, params_from_env, params_from_vars,
};
pub use logto_m2m_proto as proto;
pub use logto_m2m_proto::{
    AccessToken, AppSecret, CachePolicy, ClientAuthMethod, ClientConfig, ClientConfigBuilder,
    ConfigError, Error, ErrorCode, ErrorKind, ExpiryPolicy, InvalidResponse, OAuthError,
    ParseWarning, ResponseProblem, Scopes, ServerError, ServerErrorReason, Token, TokenParams,
    TokenRequest, TransportError, TransportErrorKind, management_api,
};
pub use retry::RetryPolicy;
pub use source::TokenSource;
pub use transport::{BlockingTransport, IntoTransportError, Transport};
pub use url_policy::{UrlRefusal, check_url};
