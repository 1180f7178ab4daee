//! The transport traits: how a token request reaches the token endpoint.
//!
//! A transport sends one `http::Request<Vec<u8>>` and returns the whole `http::Response<Vec<u8>>`,
//! whatever its status: error statuses are answers, not transport failures, because OAuth error
//! bodies must reach the parser. A transport must not follow redirects (following one could send
//! the app secret to another host) and should cap the response size.
//!
//! Implement [`BlockingTransport`] or [`Transport`] for your own HTTP stack, or pass a closure:
//! both traits have blanket impls for `Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, E>`
//! (returning a future, for [`Transport`]) where `E` implements [`IntoTransportError`].

use std::future::Future;

use logto_m2m_proto::http::{Request, Response};
use logto_m2m_proto::{TransportError, TransportErrorKind};

/// A blocking HTTP transport.
pub trait BlockingTransport: Send + Sync {
    /// The transport's own error type.
    type Error: IntoTransportError;

    /// Sends `request` and returns the complete response, whatever its status.
    ///
    /// # Errors
    ///
    /// When no complete response arrived: connection failures, timeouts, a body over the size cap,
    /// a redirect (never followed).
    fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Self::Error>;
}

/// An async HTTP transport, on any runtime.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// The transport's own error type.
    type Error: IntoTransportError;

    /// Sends `request` and returns the complete response, whatever its status.
    ///
    /// # Errors
    ///
    /// When no complete response arrived: connection failures, timeouts, a body over the size cap,
    /// a redirect (never followed).
    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Self::Error>;
}

/// Turns a transport's error into the [`TransportError`] that the state machine classifies.
pub trait IntoTransportError: std::error::Error + Send + Sync + Sized + 'static {
    /// How this failure should be treated: retried (connect, timeout, i/o) or not.
    fn transport_error_kind(&self) -> TransportErrorKind;

    /// Converts the error, keeping it as the source.
    fn into_transport_error(self) -> TransportError {
        TransportError::new(self.transport_error_kind(), self)
    }
}

impl IntoTransportError for TransportError {
    fn transport_error_kind(&self) -> TransportErrorKind {
        self.kind()
    }

    fn into_transport_error(self) -> TransportError {
        self
    }
}

impl IntoTransportError for std::io::Error {
    fn transport_error_kind(&self) -> TransportErrorKind {
        crate::transport_rules::io_error_kind(self)
    }
}

impl<F, E> BlockingTransport for F
where
    F: Fn(Request<Vec<u8>>) -> Result<Response<Vec<u8>>, E> + Send + Sync,
    E: IntoTransportError,
{
    type Error = E;

    fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, E> {
        self(request)
    }
}

#[async_trait::async_trait]
impl<F, Fut, E> Transport for F
where
    F: Fn(Request<Vec<u8>>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Response<Vec<u8>>, E>> + Send,
    E: IntoTransportError,
{
    type Error = E;

    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, E> {
        self(request).await
    }
}
