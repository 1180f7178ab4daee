//! An issued access token and what is known about it.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

use crate::scopes::Scopes;
use crate::secret::AccessToken;

/// The `token_type` of an issued token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenType {
    /// `Bearer` (compared case-insensitively), what Logto issues.
    Bearer,
    /// `DPoP`: a sender-constrained token (RFC 9449).
    DPoP,
    /// Any other type, kept as it came.
    Other(String),
}

impl TokenType {
    /// Parses a `token_type` value, case-insensitively.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        if value.eq_ignore_ascii_case("bearer") {
            Self::Bearer
        } else if value.eq_ignore_ascii_case("dpop") {
            Self::DPoP
        } else {
            Self::Other(value.to_owned())
        }
    }
}

/// Something tolerated in a success response that a strict caller may want to refuse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseWarning {
    /// `expires_in` came as a numeric string, not a number.
    ExpiresInAsString,
    /// There was no `expires_in`; the configured default lifetime was assumed.
    ExpiresInMissing {
        /// The lifetime assumed.
        assumed: Duration,
    },
    /// `expires_in` was larger than the configured maximum and was clamped.
    ExpiresInClamped {
        /// The lifetime the server announced, in seconds (saturated at `u64::MAX`).
        announced_secs: u64,
        /// The lifetime used instead.
        clamped_to: Duration,
    },
    /// There was no `token_type`; `Bearer` was assumed.
    TokenTypeMissing,
    /// The response had no `Content-Type`, but its body was JSON.
    ContentTypeMissing,
    /// The response's `Content-Type` was not JSON, but its body was.
    UnexpectedContentType {
        /// The `Content-Type` received (shortened, printable).
        content_type: String,
    },
}

/// An access token issued by the token endpoint, with what the response said about it.
#[derive(Clone)]
pub struct Token {
    pub(crate) access_token: AccessToken,
    pub(crate) token_type: TokenType,
    pub(crate) sent_at: Instant,
    pub(crate) sent_at_wall: SystemTime,
    pub(crate) lifetime: Duration,
    pub(crate) expires_at: Instant,
    pub(crate) expires_at_wall: SystemTime,
    pub(crate) granted_scopes: Scopes,
    pub(crate) not_granted_scopes: Scopes,
    pub(crate) extra: Map<String, Value>,
    pub(crate) warnings: Vec<ParseWarning>,
}

impl Token {
    /// The token's value (redacted in `Debug`; call `expose_secret()` to send it).
    #[must_use]
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// The token type.
    #[must_use]
    pub fn token_type(&self) -> &TokenType {
        &self.token_type
    }

    /// When the request for this token was sent; its lifetime counts from then.
    #[must_use]
    pub fn sent_at(&self) -> Instant {
        self.sent_at
    }

    /// The wall-clock time at which the request for this token was sent (for a token parsed with
    /// [`TokenRequest::parse_response`](crate::TokenRequest::parse_response), the `wall_now` given
    /// there).
    #[must_use]
    pub fn sent_at_wall(&self) -> SystemTime {
        self.sent_at_wall
    }

    /// The lifetime used (`expires_in`, after defaults and clamping).
    #[must_use]
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// When the token expires: `sent_at + lifetime`.
    #[must_use]
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// When the token expires by the wall clock: `sent_at_wall + lifetime`. The monotonic clock
    /// stops while a machine sleeps or a VM is paused; the wall clock does not, so a token is
    /// never handed out past either.
    #[must_use]
    pub fn expires_at_wall(&self) -> SystemTime {
        self.expires_at_wall
    }

    /// The scopes granted. Logto omits `scope` when it grants none, so an absent `scope` is an
    /// empty list here.
    #[must_use]
    pub fn granted_scopes(&self) -> &Scopes {
        &self.granted_scopes
    }

    /// The scopes asked for but not granted: Logto drops ungranted scopes silently.
    #[must_use]
    pub fn not_granted_scopes(&self) -> &Scopes {
        &self.not_granted_scopes
    }

    /// Fields of the response other than `access_token`, `expires_in`, `token_type` and `scope`.
    #[must_use]
    pub fn extra_fields(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// What was tolerated while parsing; empty for a response that followed the rules.
    #[must_use]
    pub fn warnings(&self) -> &[ParseWarning] {
        &self.warnings
    }

    /// The `Authorization` header value that carries this token: `Bearer <token>` (or `DPoP <token>`).
    #[must_use]
    pub fn authorization_value(&self) -> http::HeaderValue {
        crate::bearer::authorization_value(self)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("lifetime", &self.lifetime)
            .field("granted_scopes", &self.granted_scopes)
            .field("not_granted_scopes", &self.not_granted_scopes)
            // Values of unknown fields may be secret: show their names only.
            .field("extra_fields", &self.extra.keys().collect::<Vec<_>>())
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}
