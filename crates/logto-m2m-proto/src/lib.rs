//! The sans-IO core of `logto-m2m`: Logto machine-to-machine tokens by the OAuth 2.0
//! client-credentials grant, without sockets, async, clock reads or randomness.
//!
//! This crate builds token requests as [`http::Request<Vec<u8>>`](http::Request), parses the answers
//! into a [`Token`] or a typed [`Error`], and decides, for a `now` the caller passes in, whether to use
//! a cached token, fetch, refresh ahead, wait or back off. The caller owns time and IO, so the same
//! core runs under blocking code, any async runtime, wasm, and deterministic tests.
//!
//! # Building a request and parsing its answer
//!
//! ```
//! use std::time::{Duration, Instant, SystemTime};
//! use logto_m2m_proto::{ClientConfig, TokenParams, TokenRequest, http};
//!
//! let config = ClientConfig::builder("https://my-tenant.logto.app", "my-app", "my-secret").build()?;
//! let params = TokenParams::for_resource("https://api.example.com").scope("read:items");
//! let request = TokenRequest::new(&config, params)?;
//!
//! let sent_at = Instant::now();
//! let http_request = request.to_http(); // POST https://my-tenant.logto.app/oidc/token
//! assert_eq!(http_request.uri(), "https://my-tenant.logto.app/oidc/token");
//!
//! // ... send it with any HTTP client, then:
//! let response = http::Response::builder()
//!     .status(200)
//!     .header("content-type", "application/json")
//!     .body(r#"{"access_token":"eyJ.x.y","expires_in":3600,"token_type":"Bearer","scope":"read:items"}"#)?;
//! let token = request.parse_response(&response, sent_at, SystemTime::now())?;
//! assert_eq!(token.expires_at(), sent_at + Duration::from_secs(3600));
//! assert!(token.not_granted_scopes().is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What this crate does not do
//!
//! It never opens a connection, reads a clock, draws a random number or spawns a task. Transports,
//! timers and waiting belong to the `logto-m2m` drivers (or to your own).
#![forbid(unsafe_code)]
#![cfg_attr(not(fuzzing), warn(missing_docs))]

pub use http;

mod basic_auth;
mod bearer;
mod config;
mod discovery;
mod endpoint;
pub mod error;
mod key;
pub mod management_api;
mod params;
mod policy;
mod redact;
mod request;
mod response;
mod retry_after;
mod scopes;
mod secret;
mod sensitive_header;
pub mod state_machine;
mod success_body;
mod token;
mod token_cache;

pub use bearer::authorize;
pub use config::{ClientAuthMethod, ClientConfig, ClientConfigBuilder, ExpiryPolicy};
pub use discovery::{Discovery, DiscoveryDocument};
pub use endpoint::is_loopback_host;
pub use error::{
    ConfigError, Error, ErrorCode, ErrorKind, InvalidResponse, OAuthError, ResponseProblem,
    ServerError, ServerErrorReason, TransportError, TransportErrorKind,
};
pub use key::TokenKey;
pub use params::{RESERVED_PARAMETERS, TokenParams};
pub use policy::{CachePolicy, Jitter};
pub use redact::{Redacted, redacted};
pub use request::{TokenRequest, USER_AGENT_VALUE};
pub use retry_after::retry_after;
pub use scopes::Scopes;
pub use secret::{AccessToken, AppSecret};
pub use state_machine::{Fetch, Poll, SlotState, Ticket};
pub use token::{ParseWarning, Token, TokenType};
pub use token_cache::TokenCache;

/// Compiles the README's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
