//! The provider traits: what application code needs from a token source, as a trait object.
//!
//! Application code (and the integrations: the 401 rule, the reqwest middleware, the tower layer)
//! holds an `Arc<dyn TokenProvider>` (async) or an `Arc<dyn BlockingTokenProvider>` (threads)
//! instead of naming `TokenSource<AsyncTokenManager<SomeTransport>>`, and tests hand in a fake.
//! The trait is the same in both forms, one method to get the token and one to drop it after a
//! 401: the blocking form cannot be awaited, and the async form must not block a thread, so
//! there is one trait for each, as there is [`BlockingTransport`](crate::BlockingTransport) and
//! [`Transport`](crate::Transport).
//!
//! [`TokenSource`] implements both (its blocking form the first, its async form the second).
//!
//! ```
//! use std::sync::Arc;
//!
//! use logto_m2m::proto::http::{Request, Response};
//! use logto_m2m::{BlockingTokenManager, BlockingTokenProvider, ClientConfig, TokenParams};
//!
//! let transport = |_: Request<Vec<u8>>| -> Result<Response<Vec<u8>>, std::io::Error> {
//!     Ok(Response::new(br#"{"access_token":"eyJ.x.y","expires_in":3600,"token_type":"Bearer"}"#.to_vec()))
//! };
//! let config = ClientConfig::builder("https://my-tenant.logto.app", "app-id", "app-secret").build()?;
//! let manager = BlockingTokenManager::new(transport, config);
//! let provider: Arc<dyn BlockingTokenProvider> =
//!     Arc::new(manager.source(TokenParams::for_resource("https://api.example.com"))?);
//!
//! let token = provider.token()?;
//! // The resource server answered 401: drop exactly that token; the next call fetches a new one.
//! assert!(provider.invalidate(&token));
//! assert!(!provider.invalidate(&token), "a second call for the same token does nothing");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

use logto_m2m_proto::{Error, Token};

use crate::asynchronous::AsyncTokenManager;
use crate::blocking::BlockingTokenManager;
use crate::source::TokenSource;
use crate::transport::{BlockingTransport, Transport};

/// Hands out the token for one request, for threads. Object-safe: hold an
/// `Arc<dyn BlockingTokenProvider>`.
pub trait BlockingTokenProvider: Send + Sync {
    /// A usable token (cached, or fetched now).
    ///
    /// # Errors
    ///
    /// When no usable token could be had.
    fn token(&self) -> Result<Arc<Token>, Error>;

    /// Drops `token` after the resource server answered 401, if it is still the current one, so
    /// that the next call fetches a new one. Returns whether it was dropped: a second call for the
    /// same token does nothing.
    fn invalidate(&self, token: &Token) -> bool;
}

/// Hands out the token for one request, for async code on any runtime. Object-safe: hold an
/// `Arc<dyn TokenProvider>` (the future of [`token`](Self::token) is boxed for that).
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync {
    /// A usable token (cached, or fetched now).
    ///
    /// # Errors
    ///
    /// When no usable token could be had.
    async fn token(&self) -> Result<Arc<Token>, Error>;

    /// Drops `token` after the resource server answered 401, if it is still the current one, so
    /// that the next call fetches a new one. Returns whether it was dropped: a second call for the
    /// same token does nothing.
    fn invalidate(&self, token: &Token) -> bool;
}

impl<T: BlockingTransport + 'static> BlockingTokenProvider
    for TokenSource<BlockingTokenManager<T>>
{
    fn token(&self) -> Result<Arc<Token>, Error> {
        Self::token(self)
    }

    fn invalidate(&self, token: &Token) -> bool {
        Self::invalidate(self, token)
    }
}

#[async_trait::async_trait]
impl<T: Transport + 'static> TokenProvider for TokenSource<AsyncTokenManager<T>> {
    async fn token(&self) -> Result<Arc<Token>, Error> {
        Self::token(self).await
    }

    fn invalidate(&self, token: &Token) -> bool {
        Self::invalidate(self, token)
    }
}
