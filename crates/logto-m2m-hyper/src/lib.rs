#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connector;
mod error;
mod manager;
mod transport;

pub use error::HyperTransportError;
/// The token managers, sources, configuration and errors this transport plugs into.
pub use logto_m2m;
/// The `http` crate whose requests [`TokenSource::authorize`] fills in.
pub use logto_m2m::proto::http;
/// Tokio hooks for any manager builder (from `logto-m2m`'s `tokio` feature).
pub use logto_m2m::with_tokio;
pub use logto_m2m::{
    AsyncTokenManager, CachePolicy, ClientConfig, ConfigError, EnvError, Error, ErrorCode,
    ErrorKind, RetryPolicy, Token, TokenParams, TokenSource, config_from_env, params_from_env,
};
pub use manager::{
    HyperManagerBuilder, token_manager, token_manager_builder, token_manager_builder_from_env,
    token_manager_for, token_manager_from_env,
};
pub use transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
    HyperTransport, HyperTransportBuilder,
};
