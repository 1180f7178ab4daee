//! Errors, split by who is at fault, and their retry classification.
//!
//! - [`ConfigError`]: the caller's misuse, found locally before anything is sent.
//! - [`ServerError`]: the token endpoint answered with an error (an OAuth error body, Logto Cloud's
//!   quota answer, or an unexpected status).
//! - [`InvalidResponse`]: the token endpoint answered something that cannot be used (malformed JSON,
//!   no `access_token`, a bad `expires_in`).
//! - [`TransportError`]: the HTTP exchange itself failed (connect, timeout, a body over the cap...).
//!
//! [`Error`] joins them, and [`Error::kind`] says what to do about any of them, so that the state
//! machine and callers agree on what is retried.
//!
//! No error value ever holds the app secret or an access token: bodies of successful responses are
//! never copied into errors, and the app secret, in every form it takes on the wire (raw,
//! form- or percent-encoded, inside the base64 Basic credentials, JSON- or HTML-escaped), is
//! scrubbed from every text a server sends back.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// Any error of this crate.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's misuse, found before anything was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The token endpoint answered with an error.
    #[error(transparent)]
    Server(Box<ServerError>),
    /// The token endpoint answered something that cannot be used.
    #[error(transparent)]
    InvalidResponse(#[from] InvalidResponse),
    /// The HTTP exchange failed before a complete response arrived.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Every one of the cache's `max_keys` slots is busy (a request in flight or a backoff
    /// running), so there is no room for another key yet; nothing was sent. Transient: a slot
    /// frees at the `retry_at` given with it at the latest.
    #[error(
        "all {max_keys} token keys are busy (a request in flight or a backoff running): no room \
         for another key yet (raise CachePolicy::max_keys to hold more keys at once)"
    )]
    CacheFull {
        /// The cache's bound on keys.
        max_keys: usize,
    },
}

impl From<ServerError> for Error {
    fn from(error: ServerError) -> Self {
        Self::Server(Box::new(error))
    }
}

/// Reading what the server said, in one call.
impl Error {
    /// The error answer of the token endpoint, if this is one: its Logto `code`, message,
    /// `WWW-Authenticate` header and more.
    #[must_use]
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Self::Server(e) => Some(e),
            _ => None,
        }
    }

    /// The OAuth error (`error`, `error_description`, `error_uri`) the token endpoint answered
    /// with, if any.
    #[must_use]
    pub fn oauth_error(&self) -> Option<&OAuthError> {
        self.server_error().and_then(ServerError::oauth)
    }

    /// The OAuth `error` code the token endpoint answered with, if any: for example
    /// `Some(&ErrorCode::InvalidTarget)` for an unknown resource.
    #[must_use]
    pub fn oauth_error_code(&self) -> Option<&ErrorCode> {
        self.oauth_error().map(|oauth| &oauth.code)
    }
}

impl Error {
    /// What kind of failure this is, which decides whether and when it is retried.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Misuse,
            Self::CacheFull { .. } => ErrorKind::Transient,
            Self::Server(e) => e.kind(),
            Self::InvalidResponse(_) => ErrorKind::InvalidResponse,
            Self::Transport(e) => e.kind().error_kind(),
        }
    }

    /// Whether trying again later can succeed without the caller changing anything.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// Whether the same call may send the request again after a backoff. As
    /// [`is_retryable`](Self::is_retryable), except for an unusable answer with a success status
    /// (a bad `expires_in`, no or an invalid token, not JSON): the server may already have issued,
    /// and counted, a token, and would most likely answer the same again. Such an answer waits for
    /// a later call (the state machine's backoff still applies).
    #[must_use]
    pub fn is_retryable_within_call(&self) -> bool {
        match self {
            Self::InvalidResponse(e) if e.status().is_success() => false,
            _ => self.is_retryable(),
        }
    }

    /// The HTTP status of the response that caused this error, if there was a response.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Server(e) => Some(e.status()),
            Self::InvalidResponse(e) => Some(e.status()),
            Self::Config(_) | Self::Transport(_) | Self::CacheFull { .. } => None,
        }
    }

    /// How long the server asked us to wait (`Retry-After`), if it did: the delay the state
    /// machine honours, that is the server's value cut to
    /// [`CachePolicy::retry_after_max`](crate::CachePolicy::retry_after_max) (1 h by default) for
    /// an error it recorded. The raw value of a server error parsed outside the state machine is
    /// in [`ServerError::retry_after`].
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Server(e) => e.retry_after(),
            _ => None,
        }
    }

    /// This error with its `Retry-After` delay cut to `max`: what the state machine records, so
    /// that [`retry_after`](Self::retry_after) says how long it will actually wait.
    #[must_use]
    pub(crate) fn with_retry_after_capped(mut self, max: Duration) -> Self {
        if let Self::Server(server) = &mut self {
            server.retry_after = server.retry_after.map(|delay| delay.min(max));
        }
        self
    }
}

/// What kind of failure an [`Error`] is: the one classification that the state machine and callers
/// share to decide what to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's misuse or a transport that cannot work as configured: retrying changes nothing.
    Misuse,
    /// A passing failure (5xx, 408, a connection failure or a timeout, or no room in the cache for
    /// another key yet): retry with backoff.
    Transient,
    /// The server asks us to slow down (429, or 503 with `Retry-After`): retry after the delay.
    Throttled,
    /// The app's credentials were refused (`invalid_client`, `unauthorized_client`): retrying does
    /// not help until the configuration changes.
    CredentialsRejected,
    /// The request was refused (`invalid_target`, `invalid_scope`, `invalid_request`,
    /// `access_denied`, `unsupported_grant_type`, other 4xx): retrying the same request does not help.
    RequestRejected,
    /// The server's answer could not be used (malformed JSON, no token, bad `expires_in`): most likely
    /// a proxy or a server fault, retried with backoff.
    InvalidResponse,
    /// The transport refused the server's answer before it reached the parser: a redirect (never
    /// followed, it could send the secret elsewhere), a body or headers over their cap. The
    /// server's (or a proxy's) doing, not the caller's; the same request gets the same answer, so
    /// it is not retried on its own (the next attempt waits the negative-cache delay).
    ResponseRefused,
}

impl ErrorKind {
    /// Whether a failure of this kind is worth retrying on its own (after a backoff).
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Transient | Self::Throttled | Self::InvalidResponse
        )
    }

    /// The kind's name in `snake_case` (`"credentials_rejected"`): stable, for logs and metric
    /// labels.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Misuse => "misuse",
            Self::Transient => "transient",
            Self::Throttled => "throttled",
            Self::CredentialsRejected => "credentials_rejected",
            Self::RequestRejected => "request_rejected",
            Self::InvalidResponse => "invalid_response",
            Self::ResponseRefused => "response_refused",
        }
    }
}

/// The caller's misuse: a configuration or request that is refused locally, before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The Logto endpoint (or token endpoint) is not a usable absolute URL.
    #[error("invalid {what} URL: {reason}")]
    InvalidUrl {
        /// Which URL: "endpoint", "token endpoint" or "discovery".
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// Plain `http` to a host that is not loopback, without an explicit opt-in.
    #[error(
        "refusing plain http to non-loopback host {host:?}: the app secret would travel unencrypted \
         (use https, or opt in with allow_insecure_http)"
    )]
    InsecureHttp {
        /// The host that was refused.
        host: String,
    },
    /// The endpoint ends in one of Logto's OIDC paths (a pasted token endpoint, say): the endpoint
    /// is Logto's base URL, and `/oidc/token` is appended to it.
    #[error(
        "the endpoint {endpoint:?} ends in Logto's OIDC path {suffix:?}: give Logto's base URL \
         {base:?} instead (the token endpoint {base}/oidc/token is derived from it)"
    )]
    EndpointWithOidcPath {
        /// The endpoint as given.
        endpoint: String,
        /// The OIDC path it ends in: `/oidc`, `/oidc/token`, `/oidc/jwks` or
        /// `/oidc/.well-known/openid-configuration`.
        suffix: &'static str,
        /// The base URL to give instead.
        base: String,
    },
    /// The app id is empty.
    #[error("the app id is empty")]
    EmptyAppId,
    /// The app secret is empty.
    #[error("the app secret is empty")]
    EmptyAppSecret,
    /// The `resource` is not an absolute URI, or has a fragment.
    #[error("invalid resource indicator {resource:?}: {reason}")]
    InvalidResource {
        /// The refused resource indicator (not a secret).
        resource: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// More than one `resource` was given: Logto accepts exactly one per client-credentials request
    /// (more is `invalid_target`); ask for each resource in its own request.
    #[error(
        "only one resource per token request: Logto refuses several with invalid_target; \
         request one token per resource"
    )]
    MultipleResources,
    /// Neither `resource` nor `organization_id` was given, which Logto refuses with `invalid_target`
    /// (unless the tenant has a default API; opt in with `allow_default_resource`).
    #[error(
        "neither resource nor organization_id given: Logto refuses this with invalid_target \
         unless the tenant has a default API (opt in with allow_default_resource)"
    )]
    NoResourceOrOrganization,
    /// The `organization_id` is empty.
    #[error("the organization id is empty")]
    EmptyOrganizationId,
    /// A scope is empty or contains characters RFC 6749 §3.3 does not allow in a scope token.
    #[error("invalid scope {scope:?}: a scope token is one or more of %x21 / %x23-5B / %x5D-7E")]
    InvalidScope {
        /// The refused scope.
        scope: String,
    },
    /// An extra parameter uses a name this library sets itself.
    #[error("extra parameter {name:?} is reserved: use the dedicated setting")]
    ReservedParameter {
        /// The refused parameter name.
        name: String,
    },
    /// A Logto Cloud Management API token was asked for through a custom domain.
    #[error(
        "Logto Cloud issues Management API tokens only from https://{{tenant}}.logto.app: a token \
         minted on the custom domain {host:?} carries an issuer the Management API does not accept"
    )]
    ManagementApiViaCustomDomain {
        /// The custom domain that was used.
        host: String,
    },
    /// The tenant id is not a valid host label.
    #[error("invalid Logto Cloud tenant id {tenant:?}")]
    InvalidTenant {
        /// The refused tenant id.
        tenant: String,
    },
    /// A token request was handed to a manager whose configuration it was not built with (another
    /// app, endpoint or secret, or a secret the manager has rotated away from).
    #[error(
        "this token request was built for another configuration than the manager's (another app, \
         endpoint or secret, or before a secret rotation): build it with the manager's request(), \
         or use a TokenSource, which follows rotations"
    )]
    ForeignRequest,
}

/// The token endpoint answered with an error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("token endpoint answered {status}: {reason}")]
#[non_exhaustive]
pub struct ServerError {
    pub(crate) status: StatusCode,
    pub(crate) reason: ServerErrorReason,
    pub(crate) logto_code: Option<String>,
    pub(crate) logto_message: Option<String>,
    pub(crate) www_authenticate: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body_excerpt: Option<String>,
}

impl ServerError {
    /// The HTTP status of the answer (may be 2xx for a success status that carried an OAuth error).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why the server refused.
    #[must_use]
    pub fn reason(&self) -> &ServerErrorReason {
        &self.reason
    }

    /// The OAuth error, when the body carried one.
    #[must_use]
    pub fn oauth(&self) -> Option<&OAuthError> {
        match &self.reason {
            ServerErrorReason::OAuth(e) => Some(e),
            _ => None,
        }
    }

    /// Logto's own error `code` (for example `oidc.invalid_target` or `auth.exceed_token_limit`).
    #[must_use]
    pub fn logto_code(&self) -> Option<&str> {
        self.logto_code.as_deref()
    }

    /// Logto's human-readable `message`.
    #[must_use]
    pub fn logto_message(&self) -> Option<&str> {
        self.logto_message.as_deref()
    }

    /// The `WWW-Authenticate` header of the answer (Logto sends it on a 401 to a Basic request).
    #[must_use]
    pub fn www_authenticate(&self) -> Option<&str> {
        self.www_authenticate.as_deref()
    }

    /// How long the server asked us to wait, from `Retry-After` (delta-seconds or an HTTP-date).
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// A short, printable excerpt of a body that was not an error JSON (an HTML error page, say).
    #[must_use]
    pub fn body_excerpt(&self) -> Option<&str> {
        self.body_excerpt.as_deref()
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        let status = self.status;
        if status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE && self.retry_after.is_some())
        {
            return ErrorKind::Throttled;
        }
        if let ServerErrorReason::OAuth(oauth) = &self.reason {
            match oauth.code {
                ErrorCode::InvalidClient | ErrorCode::UnauthorizedClient => {
                    return ErrorKind::CredentialsRejected;
                }
                ErrorCode::InvalidRequest
                | ErrorCode::InvalidGrant
                | ErrorCode::UnsupportedGrantType
                | ErrorCode::InvalidScope
                | ErrorCode::InvalidTarget
                | ErrorCode::AccessDenied => return ErrorKind::RequestRejected,
                ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable => {
                    return ErrorKind::Transient;
                }
                ErrorCode::Other(_) => {}
            }
        }
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            ErrorKind::Transient
        } else {
            ErrorKind::RequestRejected
        }
    }
}

/// Why the token endpoint refused, from its answer's body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorReason {
    /// An OAuth 2.0 error body (RFC 6749 §5.2), possibly wrapped in Logto's envelope.
    OAuth(OAuthError),
    /// Logto Cloud's token quota: `429 {"code":"auth.exceed_token_limit",...}`, with no `error` field.
    QuotaExceeded,
    /// A Logto error body (`code`, `message`) without an OAuth `error` field.
    Logto,
    /// A status that is not success, with no recognisable error body (an HTML 502 page, say).
    UnexpectedStatus,
}

impl fmt::Display for ServerErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OAuth(e) => fmt::Display::fmt(e, f),
            Self::QuotaExceeded => f.write_str("Logto Cloud token quota exceeded"),
            Self::Logto => f.write_str("Logto error"),
            Self::UnexpectedStatus => f.write_str("no OAuth error body"),
        }
    }
}

/// An OAuth 2.0 error body (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// The `error` code.
    pub code: ErrorCode,
    /// The `error_description`, if any (the app secret scrubbed in all its forms, length bounded).
    pub description: Option<String>,
    /// The `error_uri`, if any.
    pub uri: Option<String>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code.as_str())?;
        if let Some(description) = &self.description {
            write!(f, " ({description})")?;
        }
        Ok(())
    }
}

/// An OAuth 2.0 `error` code: RFC 6749 §5.2's, RFC 8707's `invalid_target`, `access_denied`,
/// the generic ones, and any other kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client`: unknown client (Logto: 400) or failed authentication (401).
    InvalidClient,
    /// `invalid_grant`.
    InvalidGrant,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `invalid_target` (RFC 8707): unknown, malformed or several resources.
    InvalidTarget,
    /// `access_denied`: Logto's answer for an organization the app is not associated with (403).
    AccessDenied,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// Any other code, kept as it came.
    Other(String),
}

impl ErrorCode {
    /// Parses an `error` value.
    #[must_use]
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "invalid_target" => Self::InvalidTarget,
            "access_denied" => Self::AccessDenied,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as it appears on the wire.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::Other(code) => code,
        }
    }
}

/// The token endpoint answered something that cannot be used as a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable token response ({status}): {problem}")]
#[non_exhaustive]
pub struct InvalidResponse {
    pub(crate) status: StatusCode,
    pub(crate) problem: ResponseProblem,
}

impl InvalidResponse {
    /// The HTTP status of the answer.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What was wrong with it.
    #[must_use]
    pub fn problem(&self) -> &ResponseProblem {
        &self.problem
    }
}

/// What was wrong with an unusable token response. Never holds any part of a success body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseProblem {
    /// The body is not valid JSON; says where it broke.
    #[error("malformed JSON at line {line}, column {column}: {category}")]
    MalformedJson {
        /// The 1-based line where parsing failed.
        line: usize,
        /// The 1-based column where parsing failed.
        column: usize,
        /// What kind of problem: "syntax", "end of input" or "not UTF-8".
        category: &'static str,
    },
    /// The JSON is not an object.
    #[error("the body is not a JSON object")]
    NotAnObject,
    /// There is no `access_token` string, or it is empty.
    #[error("no access_token in the response")]
    MissingAccessToken,
    /// The `access_token` has characters that an `Authorization` header cannot carry (only visible
    /// ASCII is accepted).
    #[error("the access_token has characters an Authorization header cannot carry")]
    InvalidAccessToken,
    /// `expires_in` is zero, negative, fractional or not a number.
    #[error("expires_in is not a positive whole number of seconds ({found})")]
    InvalidExpiresIn {
        /// What was found, described without its value's content when it is not a number.
        found: String,
    },
    /// `token_type` is not a string.
    #[error("token_type is not a string")]
    InvalidTokenType,
    /// `scope` is not a string.
    #[error("scope is not a string")]
    InvalidScope,
    /// The token's usable life (up to `expires_at - margin`) was over when it arrived.
    #[error("the token's usable lifetime was over when it arrived")]
    ExpiredOnArrival,
    /// A required field of a discovery document is missing or not a string.
    #[error("the required field {name} is missing or not a string")]
    MissingField {
        /// The field's name.
        name: &'static str,
    },
    /// The discovery document names another issuer than the endpoint's `{endpoint}/oidc`.
    #[error("the document names another issuer than the endpoint's")]
    IssuerMismatch,
    /// A discovery document's endpoint is not a secure URL on the configured endpoint's scheme,
    /// host and port: nothing is sent to it.
    #[error(
        "the document's {name} is not on the endpoint's scheme, host and port (or is not a URL \
         the configuration allows)"
    )]
    ForeignEndpoint {
        /// The field's name: `token_endpoint` or `jwks_uri`.
        name: &'static str,
    },
}

/// How a transport failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Could not connect (refused, DNS failure, TLS handshake failure...).
    Connect,
    /// No complete answer in time.
    Timeout,
    /// The connection broke while sending or receiving.
    Io,
    /// The answer's body was larger than the transport's body cap.
    BodyTooLarge,
    /// The answer's status line and headers were larger than the transport's header cap.
    HeadersTooLarge,
    /// The server answered with a redirect, which is never followed: following it could send the
    /// secret elsewhere.
    Redirect,
    /// The request could not be sent as built (an unsupported URL scheme, a refused insecure URL).
    InvalidRequest,
    /// Anything else.
    Other,
}

impl TransportErrorKind {
    /// Whether a failure of this kind can pass by itself.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Connect | Self::Timeout | Self::Io | Self::Other)
    }

    /// The [`ErrorKind`] of an [`Error`] with this transport failure: retryable ones are
    /// [`Transient`](ErrorKind::Transient); an answer the transport refused (a redirect, a body or
    /// headers over their cap) is [`ResponseRefused`](ErrorKind::ResponseRefused), the server's
    /// doing; a request that cannot be sent as configured is [`Misuse`](ErrorKind::Misuse).
    #[must_use]
    pub fn error_kind(self) -> ErrorKind {
        match self {
            Self::BodyTooLarge | Self::HeadersTooLarge | Self::Redirect => {
                ErrorKind::ResponseRefused
            }
            Self::InvalidRequest => ErrorKind::Misuse,
            Self::Connect | Self::Timeout | Self::Io | Self::Other => ErrorKind::Transient,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Io => "i/o",
            Self::BodyTooLarge => "body over the cap",
            Self::HeadersTooLarge => "headers over the header cap",
            Self::Redirect => "redirect refused",
            Self::InvalidRequest => "invalid request",
            Self::Other => "other",
        }
    }
}

/// The HTTP exchange failed before a complete response arrived. Cheap to clone: every caller waiting
/// on the same fetch receives the same error.
#[derive(Clone)]
pub struct TransportError {
    kind: TransportErrorKind,
    source: Arc<dyn std::error::Error + Send + Sync + 'static>,
}

impl TransportError {
    /// Wraps a transport's own error with its kind.
    pub fn new(
        kind: TransportErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            source: Arc::from(source.into()),
        }
    }

    /// How the transport failed.
    #[must_use]
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The transport's own error, or, when its text carried the app secret in any form (an error
    /// quoting a redirect's `Location` or an echoed header), that text with the secret redacted.
    #[must_use]
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }

    /// This error, with its source replaced by a redacted text if `scrub` changes any text it
    /// prints (its `Display`, its sources' or its `Debug`). Otherwise unchanged, so that callers
    /// can still downcast the transport's own error.
    pub(crate) fn scrubbed(self, scrub: impl Fn(&str) -> String) -> Self {
        let mut display = self.source.to_string();
        let mut next = self.source.source();
        while let Some(inner) = next {
            display.push_str(": ");
            display.push_str(&inner.to_string());
            next = inner.source();
        }
        let debug = format!("{:?}", self.source);
        let (clean_display, clean_debug) = (scrub(&display), scrub(&debug));
        if clean_display == display && clean_debug == debug {
            return self;
        }
        Self {
            kind: self.kind,
            source: Arc::new(ScrubbedSource {
                display: clean_display,
                debug: clean_debug,
            }),
        }
    }
}

/// A transport error whose text carried the app secret: what it printed, redacted.
struct ScrubbedSource {
    display: String,
    debug: String,
}

impl fmt::Debug for ScrubbedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.debug)
    }
}

impl fmt::Display for ScrubbedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl std::error::Error for ScrubbedSource {}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "transport failed ({}): {}",
            self.kind.as_str(),
            self.source
        )
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}
