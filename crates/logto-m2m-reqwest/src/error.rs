//! The error of [`ReqwestTransport`](crate::ReqwestTransport), classified for retrying.

use std::error::Error as StdError;
use std::sync::Arc;

use logto_m2m::transport_rules::{self, RefusedResponse, error_chain};
use logto_m2m::{IntoTransportError, UrlRefusal};
use logto_m2m_proto::TransportErrorKind;

/// Why a reqwest client could not be set up (its TLS configuration, or reqwest's own checks),
/// shared by the clones of the transport that holds it.
pub type SetupError = Arc<dyn StdError + Send + Sync + 'static>;

/// hyper's cap on a response head under reqwest (its default read buffer: 8 KiB + 100 × 4 KiB).
const HYPER_MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;

/// Why a [`ReqwestTransport`](crate::ReqwestTransport) exchange produced no usable response.
///
/// Error statuses (4xx, 5xx) are not errors: they come back as responses so that OAuth error bodies
/// reach the parser. [`IntoTransportError::transport_error_kind`] says how each variant is retried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReqwestTransportError {
    /// Plain `http` to a host that is not loopback, without
    /// [`allow_insecure_http`](crate::ReqwestTransportBuilder::allow_insecure_http): refused before
    /// any DNS lookup or connection, because the app secret would travel unencrypted.
    #[error(
        "refusing plain http to non-loopback host {host:?}: the app secret would travel \
         unencrypted (use https, or opt in with allow_insecure_http)"
    )]
    InsecureHttp {
        /// The refused host.
        host: String,
    },
    /// The request cannot be sent as built: no scheme or host, an unsupported scheme, a request
    /// reqwest refuses.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// Why it was refused.
        reason: String,
        /// The underlying reqwest error, when reqwest refused it.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// `send` was polled outside a tokio runtime: reqwest needs one.
    #[error("the reqwest transport needs a tokio runtime: call it from within one")]
    NoTokioRuntime,
    /// The TLS configuration or reqwest's client could not be built, so nothing can be sent.
    #[error("could not set up the reqwest client: {0}")]
    ClientSetup(#[source] SetupError),
    /// No connection could be made: refused, host not found, TLS handshake failure.
    #[error("could not connect: {}", describe(.0))]
    Connect(#[source] reqwest::Error),
    /// A timeout (connect or overall) ran out before the whole response arrived.
    #[error("timed out: {}", describe(.0))]
    Timeout(#[source] reqwest::Error),
    /// The connection broke, or the server sent something that is not HTTP, while sending or
    /// receiving.
    #[error("i/o failure: {}", describe(.0))]
    Io(#[source] reqwest::Error),
    /// The server's answer was refused: a redirect (never followed), a body over the body cap,
    /// or a status line and headers over hyper's head cap. The server's doing, never retried.
    #[error(transparent)]
    Refused(#[from] RefusedResponse),
    /// Any other reqwest failure.
    #[error("reqwest failed: {}", describe(.0))]
    Other(#[source] reqwest::Error),
}

impl ReqwestTransportError {
    pub(crate) fn refused(refusal: UrlRefusal) -> Self {
        let reason = match refusal {
            UrlRefusal::InsecureHttp { host } => return Self::InsecureHttp { host },
            UrlRefusal::InvalidUrl { reason } => reason.to_owned(),
            _ => "the URL was refused".to_owned(),
        };
        Self::InvalidRequest {
            reason,
            source: None,
        }
    }

    pub(crate) fn invalid(error: reqwest::Error) -> Self {
        Self::InvalidRequest {
            reason: describe(&error),
            source: Some(error),
        }
    }

    /// Sorts a reqwest failure (connecting, sending, receiving the head or the body) by its cause.
    pub(crate) fn from_reqwest(error: reqwest::Error) -> Self {
        let hyper_error = error_chain(&error).find_map(|e| e.downcast_ref::<hyper::Error>());
        if hyper_error.is_some_and(|e| e.is_parse() && e.to_string().contains("too large")) {
            // hyper's "message head is too large"; the transport's tests pin this message.
            return RefusedResponse::headers_too_large(HYPER_MAX_HEAD_BYTES).into();
        }
        if error.is_timeout() {
            Self::Timeout(error)
        } else if error.is_connect() {
            Self::Connect(error)
        } else if error.is_builder() {
            Self::invalid(error)
        } else if hyper_error.is_some() || error.is_body() || error.is_decode() {
            Self::Io(error)
        } else {
            match transport_rules::kind_in_chain(&error) {
                Some(TransportErrorKind::Timeout) => Self::Timeout(error),
                Some(TransportErrorKind::Connect) => Self::Connect(error),
                Some(_) => Self::Io(error),
                None => Self::Other(error),
            }
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    transport_rules::describe_chain(error)
}

impl IntoTransportError for ReqwestTransportError {
    fn transport_error_kind(&self) -> TransportErrorKind {
        match self {
            Self::InsecureHttp { .. }
            | Self::InvalidRequest { .. }
            | Self::NoTokioRuntime
            | Self::ClientSetup(_) => TransportErrorKind::InvalidRequest,
            Self::Connect(_) => TransportErrorKind::Connect,
            Self::Timeout(_) => TransportErrorKind::Timeout,
            Self::Io(_) => TransportErrorKind::Io,
            Self::Refused(refused) => refused.kind(),
            Self::Other(_) => TransportErrorKind::Other,
        }
    }
}
