//! The error of [`UreqTransport`](crate::UreqTransport), classified for retrying.

use logto_m2m::transport_rules::{self, RefusedResponse};
use logto_m2m::{IntoTransportError, UrlRefusal};
use logto_m2m_proto::TransportErrorKind;

/// Why a [`UreqTransport`](crate::UreqTransport) exchange produced no usable response.
///
/// Error statuses (4xx, 5xx) are not errors: they come back as responses so that OAuth error bodies
/// reach the parser. [`IntoTransportError::transport_error_kind`] says how each variant is retried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UreqTransportError {
    /// Plain `http` to a host that is not loopback, without
    /// [`allow_insecure_http`](crate::UreqTransportBuilder::allow_insecure_http): refused before
    /// any DNS lookup or connection, because the app secret would travel unencrypted.
    #[error(
        "refusing plain http to non-loopback host {host:?}: the app secret would travel \
         unencrypted (use https, or opt in with allow_insecure_http)"
    )]
    InsecureHttp {
        /// The refused host.
        host: String,
    },
    /// The request cannot be sent as built: no scheme or host, an unsupported scheme, a header
    /// ureq refuses.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// Why it was refused.
        reason: String,
        /// The underlying ureq error, when ureq refused it.
        #[source]
        source: Option<ureq::Error>,
    },
    /// No connection could be made: refused, host not found, TLS failure, proxy failure.
    #[error("could not connect: {0}")]
    Connect(#[source] ureq::Error),
    /// A configured timeout (connect or overall) ran out before the whole response arrived.
    #[error("timed out: {0}")]
    Timeout(#[source] ureq::Error),
    /// The connection broke, or the server sent something that is not HTTP, while sending or
    /// receiving.
    #[error("i/o failure: {0}")]
    Io(#[source] ureq::Error),
    /// The server's answer was refused: a redirect (never followed), a body over the body cap,
    /// or a status line and headers over the header cap. The server's doing, never retried.
    #[error(transparent)]
    Refused(#[from] RefusedResponse),
    /// Any other ureq failure.
    #[error("ureq failed: {0}")]
    Other(#[source] ureq::Error),
}

impl UreqTransportError {
    pub(crate) fn refused(refusal: UrlRefusal) -> Self {
        match refusal {
            UrlRefusal::InsecureHttp { host } => Self::InsecureHttp { host },
            UrlRefusal::InvalidUrl { reason } => Self::InvalidRequest {
                reason: reason.to_owned(),
                source: None,
            },
            _ => Self::InvalidRequest {
                reason: "the URL was refused".to_owned(),
                source: None,
            },
        }
    }

    /// Sorts a ureq error into the variant that says how it is retried.
    pub(crate) fn from_ureq(error: ureq::Error) -> Self {
        use ureq::Error as E;
        match error {
            E::Timeout(_) => Self::Timeout(error),
            E::BodyExceedsLimit(limit) => RefusedResponse::BodyTooLarge { limit }.into(),
            E::LargeResponseHeader(_, limit) => RefusedResponse::headers_too_large(limit).into(),
            E::HostNotFound
            | E::ConnectionFailed
            | E::ConnectProxyFailed(_)
            | E::Tls(_)
            | E::Pem(_)
            | E::Rustls(_)
            | E::TlsRequired => Self::Connect(error),
            // ureq reports a failed TLS handshake (bad certificate, not TLS at all) as i/o.
            E::Io(ref io)
                if io
                    .get_ref()
                    .is_some_and(|inner| inner.is::<rustls::Error>()) =>
            {
                Self::Connect(error)
            }
            E::Io(ref io) => match transport_rules::io_error_kind(io) {
                TransportErrorKind::Connect => Self::Connect(error),
                TransportErrorKind::Timeout => Self::Timeout(error),
                _ => Self::Io(error),
            },
            E::Protocol(_) => Self::Io(error),
            E::BadUri(ref reason) | E::RequireHttpsOnly(ref reason) => Self::InvalidRequest {
                reason: reason.clone(),
                source: Some(error),
            },
            E::Http(_) | E::InvalidProxyUrl => Self::InvalidRequest {
                reason: error.to_string(),
                source: Some(error),
            },
            _ => Self::Other(error),
        }
    }
}

impl IntoTransportError for UreqTransportError {
    fn transport_error_kind(&self) -> TransportErrorKind {
        match self {
            Self::InsecureHttp { .. } | Self::InvalidRequest { .. } => {
                TransportErrorKind::InvalidRequest
            }
            Self::Connect(_) => TransportErrorKind::Connect,
            Self::Timeout(_) => TransportErrorKind::Timeout,
            Self::Io(_) => TransportErrorKind::Io,
            Self::Refused(refused) => refused.kind(),
            Self::Other(_) => TransportErrorKind::Other,
        }
    }
}
