//! The errors of Management API calls, classified as the rest of the library.

use std::fmt;

use logto_m2m_proto::http::StatusCode;
use logto_m2m_proto::{Error, ErrorKind, TransportError, TransportErrorKind};

/// A 4xx or 5xx answer of the Management API, with Logto's `code` (e.g. `auth.forbidden`) and
/// `message` when its body had them. Both are scrubbed of the app secret and of anything shaped
/// like a token, and cut to a few hundred characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
}

impl ApiError {
    /// The status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Logto's error `code`, e.g. `auth.forbidden` or `entity.not_exists_with_id`.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Logto's `message`.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The kind: 401 [`CredentialsRejected`](ErrorKind::CredentialsRejected) (a new token was
    /// refused too), 429 [`Throttled`](ErrorKind::Throttled), 408 and 5xx
    /// [`Transient`](ErrorKind::Transient), any other 4xx
    /// [`RequestRejected`](ErrorKind::RequestRejected) (403: the token lacks the scope `all`).
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self.status {
            StatusCode::UNAUTHORIZED => ErrorKind::CredentialsRejected,
            StatusCode::TOO_MANY_REQUESTS => ErrorKind::Throttled,
            StatusCode::REQUEST_TIMEOUT => ErrorKind::Transient,
            status if status.is_server_error() => ErrorKind::Transient,
            _ => ErrorKind::RequestRejected,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Management API answered {}", self.status)?;
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => write!(f, ": {code} ({message})"),
            (Some(text), None) | (None, Some(text)) => write!(f, ": {text}"),
            (None, None) => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

/// Why a Management API call has no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagementApiError {
    /// No Management API token could be had: nothing was sent (or, after a 401, sent again).
    #[error("no Management API token: {0}")]
    Token(#[source] Error),
    /// The transport failed to send the request or to receive the answer (a body over the cap
    /// included, when the transport found it so).
    #[error("Management API request failed: {0}")]
    Transport(#[source] TransportError),
    /// The API answered with a 4xx or 5xx.
    #[error(transparent)]
    Api(ApiError),
    /// The answer's body was larger than the cap (for a transport that does not apply
    /// [`ResponseBodyCap`](crate::transport_rules::ResponseBodyCap) itself).
    #[error("Management API answer larger than the {limit}-byte cap")]
    ResponseTooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// A success whose body is not the JSON expected.
    #[error("Management API answered {status} with a body that is not the JSON expected: {reason}")]
    InvalidResponse {
        /// The status.
        status: StatusCode,
        /// What was wrong (scrubbed).
        reason: String,
    },
    /// The request could not be built (a path that is not absolute, a body that does not
    /// serialize): nothing was sent.
    #[error("invalid Management API request: {reason}")]
    InvalidRequest {
        /// What was wrong.
        reason: String,
    },
}

impl ManagementApiError {
    /// The kind, as [`Error::kind`] says for token requests: what to retry.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Token(e) => e.kind(),
            Self::Transport(e) => match e.kind() {
                kind if kind.is_retryable() => ErrorKind::Transient,
                TransportErrorKind::BodyTooLarge
                | TransportErrorKind::HeadersTooLarge
                | TransportErrorKind::Redirect => ErrorKind::ResponseRefused,
                _ => ErrorKind::Misuse,
            },
            Self::Api(e) => e.kind(),
            Self::ResponseTooLarge { .. } => ErrorKind::ResponseRefused,
            Self::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Self::InvalidRequest { .. } => ErrorKind::Misuse,
        }
    }

    /// Whether the call is worth retrying on its own, after a backoff.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// The API's answer, for a 4xx or 5xx.
    #[must_use]
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of the answer, when one came.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api(e) => Some(e.status),
            Self::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }
}
