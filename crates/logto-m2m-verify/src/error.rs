//! Errors, split by who is at fault, each with its HTTP answer.
//!
//! - [`VerifyError::Missing`]: the request carried no bearer token (RFC 6750 §3.1: 401 and a bare
//!   `Bearer` challenge, no error code).
//! - [`InvalidToken`]: the token is malformed, signed by no key of the issuer, or its claims do not
//!   fit this API (401 `invalid_token`).
//! - [`Forbidden`]: a valid token that lacks a required scope or is for another organization
//!   (403 `insufficient_scope`).
//! - [`KeySetError`]: the issuer's key set could not be had, so nothing could be checked (503, no
//!   challenge: the token is not at fault).
//! - [`ConfigError`]: the verifier's own configuration, found when it is built.
//!
//! No error holds any part of a token: descriptions are fixed texts chosen here.

use http::{HeaderValue, StatusCode};
use logto_m2m_proto::TransportError;

/// Why a request's token was refused, or why it could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No bearer token in the request.
    #[error("no bearer token")]
    Missing,
    /// The token is not valid for this API.
    #[error(transparent)]
    InvalidToken(#[from] InvalidToken),
    /// The token is valid but does not grant what this request needs.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// The issuer's signing keys could not be had; the token was not judged.
    #[error(transparent)]
    KeysUnavailable(#[from] KeySetError),
}

impl VerifyError {
    /// The HTTP status to answer with: 401, 403, or 503 when the keys are unavailable.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code: `invalid_token`, `insufficient_scope`, or none.
    #[must_use]
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::Forbidden(_) => Some("insufficient_scope"),
            Self::Missing | Self::KeysUnavailable(_) => None,
        }
    }

    /// The `WWW-Authenticate` value to answer with (RFC 6750 §3), or `None` for a 503.
    ///
    /// `Bearer` alone for a missing token; `Bearer error="invalid_token", error_description="…"`;
    /// `Bearer error="insufficient_scope", error_description="…", scope="…"` with the scopes the
    /// request needs. The description is a fixed text; nothing of the token is quoted.
    #[must_use]
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        let value = match self {
            Self::Missing => "Bearer".to_owned(),
            Self::InvalidToken(e) => {
                crate::challenge::bearer("invalid_token", e.description(), None)
            }
            Self::Forbidden(e) => {
                crate::challenge::bearer("insufficient_scope", e.description(), e.scope())
            }
            Self::KeysUnavailable(_) => return None,
        };
        HeaderValue::from_str(&value).ok()
    }

    /// Whether the same token may pass later without the caller changing anything: only when the
    /// keys were unavailable.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::KeysUnavailable(_))
    }
}

/// Why a token is not valid for this API (401 `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Not a compact JWS of three base64url parts with a JSON object header.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// Longer than the configured limit, or its header is.
    #[error("the token is too large")]
    TooLarge,
    /// `alg` is `none`: an unsigned token.
    #[error("the token is not signed")]
    Unsigned,
    /// `alg` is an HMAC algorithm (`HS256`…): never accepted from a public key set.
    #[error("the token uses a symmetric algorithm")]
    SymmetricAlgorithm,
    /// `alg` is not one this crate verifies (ES384, ES256, RS256).
    #[error("the token uses an unsupported algorithm")]
    UnsupportedAlgorithm,
    /// `alg` names another algorithm than the key's.
    #[error("the token's algorithm does not match its key")]
    AlgorithmMismatch,
    /// The header has no `kid`.
    #[error("the token names no key")]
    MissingKeyId,
    /// No key of the issuer's key set has the token's `kid`, even after a refetch.
    #[error("the token's key is unknown")]
    UnknownKey,
    /// The signature does not verify with the key.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// The header lists critical extensions (`crit`), which this verifier does not implement.
    #[error("the token requires unsupported extensions")]
    CriticalHeader,
    /// `typ` is not `at+jwt`: not an access token.
    #[error("the token is not an access token")]
    WrongType,
    /// The claims are not a JSON object of the expected shapes.
    #[error("the token's claims are malformed")]
    MalformedClaims,
    /// A required claim is absent.
    #[error("the token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// `iss` is not this Logto tenant's issuer.
    #[error("the token is from another issuer")]
    WrongIssuer,
    /// `aud` is not this API.
    #[error("the token is for another audience")]
    WrongAudience,
    /// `exp` has passed, beyond the leeway.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway.
    #[error("the token was issued in the future")]
    IssuedInTheFuture,
}

impl InvalidToken {
    /// The `error_description` sent in the challenge: the error's own fixed text.
    #[must_use]
    pub fn description(&self) -> &'static str {
        match self {
            Self::Malformed => "the token is not a well-formed JWT",
            Self::TooLarge => "the token is too large",
            Self::Unsigned => "the token is not signed",
            Self::SymmetricAlgorithm => "the token uses a symmetric algorithm",
            Self::UnsupportedAlgorithm => "the token uses an unsupported algorithm",
            Self::AlgorithmMismatch => "the token's algorithm does not match its key",
            Self::MissingKeyId => "the token names no key",
            Self::UnknownKey => "the token's key is unknown",
            Self::BadSignature => "the token's signature is invalid",
            Self::CriticalHeader => "the token requires unsupported extensions",
            Self::WrongType => "the token is not an access token",
            Self::MalformedClaims => "the token's claims are malformed",
            Self::MissingClaim(_) => "the token lacks a required claim",
            Self::WrongIssuer => "the token is from another issuer",
            Self::WrongAudience => "the token is for another audience",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::IssuedInTheFuture => "the token was issued in the future",
        }
    }
}

/// Why a valid token does not grant this request (403 `insufficient_scope`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Forbidden {
    /// The token lacks required scopes.
    #[error("the token lacks required scopes")]
    MissingScopes {
        /// The scopes the request needs, space-separated, as the challenge's `scope`.
        required: String,
    },
    /// The token is for another organization than the request's (or for none).
    #[error("the token is for another organization")]
    OrganizationMismatch,
}

impl Forbidden {
    /// The `error_description` sent in the challenge.
    #[must_use]
    pub fn description(&self) -> &'static str {
        match self {
            Self::MissingScopes { .. } => "the token lacks required scopes",
            Self::OrganizationMismatch => "the token is for another organization",
        }
    }

    /// The `scope` attribute of the challenge: the scopes the request needs.
    #[must_use]
    pub fn scope(&self) -> Option<&str> {
        match self {
            Self::MissingScopes { required } => Some(required),
            Self::OrganizationMismatch => None,
        }
    }
}

/// Why the issuer's key set could not be had.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeySetError {
    /// No key set has been fetched yet (the first fetch is under way or waiting to be retried).
    #[error("the issuer's key set is not loaded yet")]
    NotLoaded,
    /// The discovery document was refused (error status, not JSON, wrong issuer...).
    #[error("discovery failed: {0}")]
    Discovery(#[source] logto_m2m_proto::Error),
    /// The discovery document's `jwks_uri` is not on the issuer's origin, or not a URL.
    #[error("the discovery document's jwks_uri is not on the issuer's origin")]
    ForeignJwksUri,
    /// The key set answer had an error status.
    #[error("the key set answer has status {0}")]
    Status(StatusCode),
    /// The key set document is larger than the limit.
    #[error("the key set document is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The key set document holds more keys than the limit.
    #[error("the key set holds more than {limit} keys")]
    TooManyKeys {
        /// The limit.
        limit: usize,
    },
    /// The key set document is not a JSON object with a `keys` array.
    #[error("the key set document is malformed")]
    Malformed,
    /// The key set holds no key this crate can verify with.
    #[error("the key set holds no usable signing key")]
    NoUsableKey,
    /// The HTTP exchange failed.
    #[error("fetching the key set failed: {0}")]
    Transport(#[source] TransportError),
}

impl PartialEq for KeySetError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Status(a), Self::Status(b)) => a == b,
            (Self::TooLarge { limit: a }, Self::TooLarge { limit: b })
            | (Self::TooManyKeys { limit: a }, Self::TooManyKeys { limit: b }) => a == b,
            (Self::Discovery(a), Self::Discovery(b)) => a.to_string() == b.to_string(),
            (Self::Transport(a), Self::Transport(b)) => a.to_string() == b.to_string(),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for KeySetError {}

/// The verifier's configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The Logto endpoint is not an absolute `https` URL (or `http` on loopback).
    #[error("invalid Logto endpoint: {0}")]
    Endpoint(#[source] logto_m2m_proto::ConfigError),
    /// An audience or organization id is empty.
    #[error("the {0} must not be empty")]
    Empty(&'static str),
}
