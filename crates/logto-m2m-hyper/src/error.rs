//! The error of [`HyperTransport`](crate::HyperTransport), classified for retrying.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use logto_m2m::transport_rules::{self, RefusedResponse, error_chain};
use logto_m2m::{IntoTransportError, UrlRefusal};
use logto_m2m_proto::TransportErrorKind;

/// A boxed error from hyper, hyper-util, rustls or tokio, kept as the source.
type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a [`HyperTransport`](crate::HyperTransport) exchange produced no usable response.
///
/// Error statuses (4xx, 5xx) are not errors: they come back as responses so that OAuth error bodies
/// reach the parser. [`IntoTransportError::transport_error_kind`] says how each variant is retried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HyperTransportError {
    /// Plain `http` to a host that is not loopback, without
    /// [`allow_insecure_http`](crate::HyperTransportBuilder::allow_insecure_http): refused before
    /// any DNS lookup or connection, because the app secret would travel unencrypted.
    #[error(
        "refusing plain http to non-loopback host {host:?}: the app secret would travel \
         unencrypted (use https, or opt in with allow_insecure_http)"
    )]
    InsecureHttp {
        /// The refused host.
        host: String,
    },
    /// The request cannot be sent as built: no scheme or host, an unsupported scheme.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// Why it was refused.
        reason: String,
    },
    /// `send` was polled outside a tokio runtime and the transport was given no
    /// [`tokio_handle`](crate::HyperTransportBuilder::tokio_handle) to run on.
    #[error(
        "the hyper transport needs a tokio runtime: call it from within one, or give it a \
         runtime handle with HyperTransportBuilder::tokio_handle"
    )]
    NoTokioRuntime,
    /// The TLS configuration could not be built, so nothing can be sent.
    #[error("could not set up TLS: {0}")]
    TlsConfig(#[source] rustls::Error),
    /// No connection could be made: refused, host not found, TLS handshake failure.
    #[error("could not connect: {}", describe(.0))]
    Connect(#[source] BoxError),
    /// A timeout (connect or overall) ran out before the whole response arrived.
    #[error("timed out: {}", describe(.0))]
    Timeout(#[source] BoxError),
    /// The connection broke, or the server sent something that is not HTTP, while sending or
    /// receiving.
    #[error("i/o failure: {}", describe(.0))]
    Io(#[source] BoxError),
    /// The server's answer was refused: a redirect (never followed), a body over the body cap,
    /// or a status line and headers over the header cap. The server's doing, never retried.
    #[error(transparent)]
    Refused(#[from] RefusedResponse),
    /// Any other failure.
    #[error("hyper transport failed: {}", describe(.0))]
    Other(#[source] BoxError),
}

impl HyperTransportError {
    pub(crate) fn refused(refusal: UrlRefusal) -> Self {
        match refusal {
            UrlRefusal::InsecureHttp { host } => Self::InsecureHttp { host },
            UrlRefusal::InvalidUrl { reason } => Self::InvalidRequest {
                reason: reason.to_owned(),
            },
            _ => Self::InvalidRequest {
                reason: "the URL was refused".to_owned(),
            },
        }
    }

    pub(crate) fn overall_timeout(after: Duration) -> Self {
        Self::Timeout(Box::new(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no complete response within {after:?}"),
        )))
    }

    /// Sorts a failure of the client (connecting, sending, receiving the head) by its cause;
    /// `max_header_bytes` is the header cap the client was built with.
    pub(crate) fn from_client(
        error: hyper_util::client::legacy::Error,
        max_header_bytes: usize,
    ) -> Self {
        if error.is_connect() {
            if chain_has_io_kind(&error, io::ErrorKind::TimedOut) {
                Self::Timeout(Box::new(error))
            } else {
                Self::Connect(Box::new(error))
            }
        } else {
            Self::from_exchange(Box::new(error), max_header_bytes)
        }
    }

    /// Sorts a failure after the connection was made (sending, receiving the head or the body).
    pub(crate) fn from_exchange(error: BoxError, max_header_bytes: usize) -> Self {
        let hyper_error = error_chain(&*error).find_map(|e| e.downcast_ref::<hyper::Error>());
        match hyper_error {
            // hyper's "message head is too large" (over the read buffer cap, or too many
            // headers). `is_parse_too_large` exists only with hyper's server feature; the
            // transport's tests pin this message.
            Some(e) if e.is_parse() && e.to_string().contains("too large") => {
                RefusedResponse::headers_too_large(max_header_bytes).into()
            }
            Some(e) if e.is_timeout() => Self::Timeout(error),
            Some(_) => Self::Io(error),
            None => match transport_rules::kind_in_chain(&*error) {
                Some(TransportErrorKind::Timeout) => Self::Timeout(error),
                Some(_) => Self::Io(error),
                None => Self::Other(error),
            },
        }
    }
}

fn describe(error: &BoxError) -> String {
    transport_rules::describe_chain(&**error)
}

fn chain_has_io_kind(error: &(dyn StdError + 'static), kind: io::ErrorKind) -> bool {
    error_chain(error).any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == kind)
    })
}

impl IntoTransportError for HyperTransportError {
    fn transport_error_kind(&self) -> TransportErrorKind {
        match self {
            Self::InsecureHttp { .. }
            | Self::InvalidRequest { .. }
            | Self::NoTokioRuntime
            | Self::TlsConfig(_) => TransportErrorKind::InvalidRequest,
            Self::Connect(_) => TransportErrorKind::Connect,
            Self::Timeout(_) => TransportErrorKind::Timeout,
            Self::Io(_) => TransportErrorKind::Io,
            Self::Refused(refused) => refused.kind(),
            Self::Other(_) => TransportErrorKind::Other,
        }
    }
}
