#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod asynchronous;
mod attempt_timeout;
pub mod bearer_retry;
mod blocking;
mod builder;
mod clock;
mod config_cell;
mod driver;
mod env;
mod events;
mod flight_watch;
pub mod management_api;
#[cfg(feature = "metrics")]
pub mod metrics;
mod provider;
mod randomness;
mod retry;
mod shared_flight;
pub mod shared_store;
mod source;
mod sync;
#[cfg(feature = "tokio")]
mod tokio_hooks;
pub mod transport;
mod transport_manager_builder;
pub mod transport_rules;
mod url_policy;

/// The attribute that [`Transport`] implementations carry: `#[logto_m2m::async_trait]`.
pub use async_trait::async_trait;
pub use asynchronous::{AsyncTokenManager, BackgroundTask, DefaultSleeper, Sleep, Spawn, first_of};
pub use attempt_timeout::AttemptTimeout;
pub use blocking::BlockingTokenManager;
pub use builder::TokenManagerBuilder;
pub use clock::{Clock, SystemClock};
pub use env::{
    ALLOW_INSECURE_HTTP_VAR, APP_ID_VAR, APP_SECRET_VAR, AUTH_METHOD_VAR, ENDPOINT_VAR, EnvError,
    ORGANIZATION_ID_VAR, RESOURCE_VAR, SCOPES_VAR, config_builder_from_env,
    config_builder_from_vars, config_from_env, config_from_vars, params_from_env, params_from_vars,
};
pub use logto_m2m_proto as proto;
pub use logto_m2m_proto::{
    AccessToken, AppSecret, CachePolicy, ClientAuthMethod, ClientConfig, ClientConfigBuilder,
    ConfigError, Error, ErrorCode, ErrorKind, ExpiryPolicy, InvalidResponse, OAuthError,
    ParseWarning, ResponseProblem, Scopes, ServerError, ServerErrorReason, SharedStorePolicy,
    StoreFailure, Token, TokenParams, TokenRequest, TransportError, TransportErrorKind,
};
pub use provider::{BlockingTokenProvider, TokenProvider};
pub use retry::RetryPolicy;
pub use shared_store::{BlockingSharedStore, SharedStore, StoreError};
pub use source::TokenSource;
#[cfg(feature = "tokio")]
pub use tokio_hooks::with_tokio;
pub use transport::{BlockingTransport, IntoTransportError, Transport};
pub use transport_manager_builder::{TransportBuilder, TransportManagerBuilder};
pub use url_policy::{UrlRefusal, check_url};
