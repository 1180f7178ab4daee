//! The error of [`HyperTransport`](crate::HyperTransport), classified for retrying.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use logto_m2m::IntoTransportError;
use logto_m2m_proto::TransportErrorKind;
use logto_m2m_proto::http::StatusCode;

use logto_m2m::UrlRefusal;

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
    /// The response body was larger than the cap; reading stopped at the cap.
    #[error("response larger than the {limit}-byte cap")]
    BodyTooLarge {
        /// The cap that was exceeded, in bytes.
        limit: u64,
    },
    /// The server answered with a redirect (3xx), which is never followed: following it could send
    /// the app secret to another host.
    #[error("refusing to follow a redirect ({status}) to {location:?}")]
    Redirect {
        /// The redirect's status.
        status: StatusCode,
        /// Its `Location` header, if it had a readable one (cut to a few hundred characters).
        location: Option<String>,
    },
    /// Any other failure.
    #[error("hyper transport failed: {}", describe(.0))]
    Other(#[source] BoxError),
}

/// The longest `Location` kept in a [`HyperTransportError::Redirect`].
const MAX_LOCATION_CHARS: usize = 512;

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

    pub(crate) fn redirect(status: StatusCode, location: Option<&str>) -> Self {
        Self::Redirect {
            status,
            location: location.map(|l| l.chars().take(MAX_LOCATION_CHARS).collect()),
        }
    }

    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::BodyTooLarge {
            limit: u64::try_from(limit).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn overall_timeout(after: Duration) -> Self {
        Self::Timeout(Box::new(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no complete response within {after:?}"),
        )))
    }

    /// Sorts a failure of the client (connecting, sending, receiving the head) by its cause.
    pub(crate) fn from_client(error: hyper_util::client::legacy::Error) -> Self {
        if error.is_connect() {
            if chain_has_io_kind(&error, io::ErrorKind::TimedOut) {
                Self::Timeout(Box::new(error))
            } else {
                Self::Connect(Box::new(error))
            }
        } else {
            Self::from_exchange(Box::new(error))
        }
    }

    /// Sorts a failure after the connection was made (sending, receiving the head or the body).
    pub(crate) fn from_exchange(error: BoxError) -> Self {
        let hyper_error = chain(&*error).find_map(|e| e.downcast_ref::<hyper::Error>());
        match hyper_error {
            Some(e) if e.is_timeout() => Self::Timeout(error),
            Some(_) => Self::Io(error),
            None if chain(&*error).any(|e| e.is::<io::Error>()) => Self::Io(error),
            None => Self::Other(error),
        }
    }
}

/// An error's message followed by its sources' (hyper-util's own messages, such as "client error
/// (Connect)", say little without them), skipping repeats.
fn describe(error: &BoxError) -> String {
    let mut text = String::new();
    let mut last = String::new();
    for e in chain(&**error) {
        let message = e.to_string();
        if message.is_empty() || last.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
        last = message;
    }
    text
}

/// An error and its sources, outermost first.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

fn chain_has_io_kind(error: &(dyn StdError + 'static), kind: io::ErrorKind) -> bool {
    chain(error).any(|e| {
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
            Self::BodyTooLarge { .. } => TransportErrorKind::BodyTooLarge,
            Self::Redirect { .. } => TransportErrorKind::Redirect,
            Self::Other(_) => TransportErrorKind::Other,
        }
    }
}
