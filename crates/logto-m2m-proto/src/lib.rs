#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![cfg_attr(not(fuzzing), warn(missing_docs))]

pub use http;

mod basic_auth;
mod bearer;
mod config;
mod credentials;
mod discovery;
mod endpoint;
pub mod error;
mod key;
mod lower_hex;
pub mod management_api;
mod params;
mod policy;
mod redact;
mod request;
mod response;
mod retry_after;
mod scopes;
mod scrub;
mod secret;
mod sensitive_header;
mod shared_entry;
pub mod shared_store;
pub mod state_machine;
mod success_body;
mod token;
mod token_cache;

pub use bearer::authorize;
pub use config::{ClientAuthMethod, ClientConfig, ClientConfigBuilder, ExpiryPolicy};
pub use credentials::CredentialsFingerprint;
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
pub use shared_store::{
    BreakerChange, EntryRefusal, LockOwner, SealedEntry, SharedStep, SharedStorePolicy,
    StoreAnswer, StoreFailure, StoreKey, StoreNext, StoreOp, StoreView, StoreWrite,
};
pub use state_machine::{Fetch, Poll, SlotState, Ticket};
pub use token::{ParseWarning, Token, TokenType};
pub use token_cache::TokenCache;
