#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use http;

mod challenge;
mod claims;
mod error;
mod jwks;
mod jws;
mod key;
mod key_set;
mod scopes;
mod validation;

#[cfg(feature = "async")]
mod asynchronous;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "blocking")]
mod blocking;
#[cfg(any(feature = "blocking", feature = "async"))]
mod driver;

pub use claims::VerifiedToken;
pub use error::{ConfigError, Forbidden, InvalidToken, KeySetError, VerifyError};
pub use jwks::{Jwks, MAX_RSA_BITS, MIN_RSA_BITS};
pub use jws::{Jws, MAX_HEADER_BYTES};
pub use key::{Algorithm, VerificationKey};
pub use key_set::{Fetch, KeySet, KeySetPolicy, Lookup, Ticket};
pub use scopes::RequiredScopes;
pub use validation::{Audience, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, Validation};

#[cfg(feature = "async")]
pub use asynchronous::AsyncVerifier;
#[cfg(feature = "blocking")]
pub use blocking::BlockingVerifier;
#[cfg(any(feature = "blocking", feature = "async"))]
pub use driver::bearer_token;
