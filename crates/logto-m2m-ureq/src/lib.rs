#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod manager;
mod transport;

pub use error::UreqTransportError;
/// The token managers, sources, configuration and errors this transport plugs into.
pub use logto_m2m;
/// The `http` crate whose requests [`TokenSource::authorize`] fills in.
pub use logto_m2m::proto::http;
pub use logto_m2m::{
    BlockingTokenManager, CachePolicy, ClientConfig, ConfigError, EnvError, Error, ErrorCode,
    ErrorKind, RetryPolicy, Token, TokenParams, TokenSource, config_from_env, params_from_env,
};
pub use manager::{
    UreqManagerBuilder, token_manager, token_manager_builder, token_manager_builder_from_env,
    token_manager_for, token_manager_from_env,
};
pub use transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
    UreqTransport, UreqTransportBuilder,
};
/// The ureq version this transport is built on, for inspecting the errors it wraps.
pub use ureq;
