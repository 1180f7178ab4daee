//! Faults: what the token endpoint answers instead of (or around) its normal answer.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// A misbehaviour of the token endpoint, for one request.
///
/// Program faults with [`TestServer::inject`](crate::TestServer::inject) (the next N token
/// requests) or [`TestServer::inject_when`](crate::TestServer::inject_when) (every token request
/// a predicate accepts). Faults apply to token requests (`POST /oidc/token`) only; a faulted
/// request is still logged and counted.
///
/// "The normal answer" below is what the server would have answered without the fault: a token
/// for a good request, Logto's error otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer exactly this status, these headers and this body.
    Respond(CannedResponse),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Wait this long, then apply the inner fault.
    DelayThen(Duration, Box<Self>),
    /// Reset the connection (TCP RST) before sending any byte of the response.
    ResetConnection,
    /// Send the normal answer's head with `Transfer-Encoding: chunked`, then half of its body,
    /// then close the connection (FIN) without the terminating chunk.
    CloseMidBody,
    /// Send the normal answer's complete body under a `Content-Length` that is `missing` bytes
    /// larger, then close the connection (FIN).
    TruncatedBody {
        /// How many announced bytes are never sent (at least 1 is used).
        missing: usize,
    },
    /// A `200` response whose chunked body starts like a token JSON and never ends; it stops when
    /// the client hangs up (or the server shuts down).
    EndlessBody,
    /// A `200` JSON token response whose body is exactly this many bytes, announced by
    /// `Content-Length` and streamed (a very long `access_token` when the size allows valid JSON).
    HugeBody(u64),
    /// `429 Too Many Requests` with Logto Cloud's quota body
    /// (`{"code":"auth.exceed_token_limit","message":…}`, no `error` field) and a `Retry-After`.
    TooManyRequests(RetryAfter),
    /// `503 Service Unavailable` with a small HTML body and a `Retry-After`.
    ServiceUnavailable(RetryAfter),
    /// `502 Bad Gateway` with a reverse proxy's HTML page.
    BadGatewayHtml,
    /// `200 OK` whose JSON body is an OAuth error:
    /// `{"error":"invalid_client","error_description":"client authentication failed"}`.
    OkWithError,
    /// The normal answer, but with `Content-Type: text/plain; charset=utf-8`.
    WrongContentType,
    /// A redirect (use 301, 302, 303, 307 or 308) to `location`, with an empty body. A
    /// `location` that is not a valid header value is left out.
    Redirect {
        /// The redirect status.
        status: StatusCode,
        /// The `Location` header value, e.g. another test server's token endpoint.
        location: String,
    },
    /// The normal answer, but a successful one carries `"expires_in":"<n>"` (a string).
    ExpiresInString,
    /// The normal answer, but a successful one has no `expires_in`.
    MissingExpiresIn,
}

impl Fault {
    /// [`Fault::Respond`] with this status and body and no other header than `Content-Length`.
    #[must_use]
    pub fn respond(status: StatusCode, body: impl Into<Vec<u8>>) -> Self {
        Self::Respond(CannedResponse::new(status).body(body))
    }

    /// [`Fault::Respond`] with this status and JSON body
    /// (`Content-Type: application/json; charset=utf-8`, `cache-control: no-store`).
    #[must_use]
    pub fn json(status: StatusCode, body: &serde_json::Value) -> Self {
        Self::Respond(
            CannedResponse::new(status)
                .header(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                )
                .header(
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                )
                .body(body.to_string()),
        )
    }

    /// [`Fault::Redirect`] to `location` with `status` (e.g. `StatusCode::FOUND` or
    /// `StatusCode::TEMPORARY_REDIRECT`).
    #[must_use]
    pub fn redirect(status: StatusCode, location: impl Into<String>) -> Self {
        Self::Redirect {
            status,
            location: location.into(),
        }
    }

    /// [`Fault::DelayThen`]: wait `delay`, then apply `self`.
    #[must_use]
    pub fn after(self, delay: Duration) -> Self {
        Self::DelayThen(delay, Box::new(self))
    }
}

/// A complete response for [`Fault::Respond`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CannedResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl CannedResponse {
    /// A response with this status, no headers and an empty body.
    #[must_use]
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (repeatable). `Content-Length` is computed; don't set it.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    #[must_use]
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }
}

/// The `Retry-After` value of [`Fault::TooManyRequests`] and [`Fault::ServiceUnavailable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfter {
    /// No `Retry-After` header.
    Absent,
    /// Delta-seconds, e.g. `Retry-After: 5`.
    Seconds(u64),
    /// An HTTP-date, e.g. `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`.
    Date(SystemTime),
}

impl RetryAfter {
    /// An HTTP-date `delay` from now (rounded down to whole seconds by the format).
    #[must_use]
    pub fn date_in(delay: Duration) -> Self {
        Self::Date(SystemTime::now() + delay)
    }

    pub(crate) fn header_value(self) -> Option<HeaderValue> {
        match self {
            Self::Absent => None,
            Self::Seconds(s) => Some(HeaderValue::from(s)),
            Self::Date(t) => HeaderValue::from_str(&httpdate::fmt_http_date(t)).ok(),
        }
    }
}
