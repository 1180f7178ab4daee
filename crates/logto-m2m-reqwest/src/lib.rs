#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod manager;
mod middleware;
mod transport;

pub use error::{ReqwestTransportError, SetupError};
/// The token managers, sources, configuration and errors this crate plugs into.
pub use logto_m2m;
pub use logto_m2m::bearer_retry::Replay;
pub use logto_m2m::{
    AsyncTokenManager, CachePolicy, ClientConfig, ConfigError, EnvError, Error, ErrorCode,
    ErrorKind, RetryPolicy, Token, TokenParams, TokenProvider, TokenSource, config_from_env,
    params_from_env,
};
pub use manager::{
    ReqwestManagerBuilder, token_manager, token_manager_builder, token_manager_builder_from_env,
    token_manager_for, token_manager_from_env,
};
pub use middleware::BearerTokenMiddleware;
/// The reqwest version this crate is built on.
pub use reqwest;
/// The reqwest-middleware version [`BearerTokenMiddleware`] implements.
pub use reqwest_middleware;
pub use transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, ReqwestTransport,
    ReqwestTransportBuilder, client_builder,
};
