//! What both forms share: building a request, sending it by the 401 rule through any transport,
//! and reading the answer (the cap, error statuses, scrubbing).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use logto_m2m_proto::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use logto_m2m_proto::{Token, TokenRequest, TransportError};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::error::{ApiError, ManagementApiError};
use crate::bearer_retry::{BearerError, BearerRequests, Replay, SendBearer, SendBearerBlocking};
use crate::transport::{BlockingTransport, IntoTransportError, Transport};
use crate::transport_rules::ResponseBodyCap;

/// The default cap on a Management API answer: 4 MiB (a token answer's cap is 64 KiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The most characters of a server's `code` or `message` kept in an error.
const MAX_TEXT_CHARS: usize = 300;
/// How every JWT starts: the base64url of `{"`, the start of its JSON header.
const JWT_START: &str = "eyJ";

/// Hands out the token request of a source as it is now.
pub(crate) type Scrubber = Arc<dyn Fn() -> Arc<TokenRequest> + Send + Sync>;

/// The settings of a Management API client, shared by both forms.
#[derive(Clone)]
pub(crate) struct Settings {
    /// The endpoint, without a trailing slash.
    base: String,
    pub(crate) max_response_bytes: usize,
    pub(crate) replay: Replay,
    /// The current token request (it follows secret rotations), to scrub the app secret from
    /// what the server sends back.
    scrubber: Option<Scrubber>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint", &self.base)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub(crate) fn new(endpoint: &str, scrubber: Option<Scrubber>) -> Self {
        Self {
            base: endpoint.trim_end_matches('/').to_owned(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            replay: Replay::default(),
            scrubber,
        }
    }

    /// A JSON request for `path` (absolute, with its query if any) under the endpoint.
    pub(crate) fn build(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Request<Vec<u8>>, ManagementApiError> {
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(ManagementApiError::InvalidRequest {
                reason: format!("the path must start with one '/': {path:?}"),
            });
        }
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::ACCEPT, HeaderValue::from_static("application/json"))
            .extension(ResponseBodyCap(self.max_response_bytes));
        if body.is_some() {
            builder = builder.header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        builder
            .body(body.unwrap_or_default())
            .map_err(|e| ManagementApiError::InvalidRequest {
                reason: format!("{e} (path {path:?})"),
            })
    }

    /// `text` without the app secret, anything shaped like a JWT or control characters, cut to
    /// [`MAX_TEXT_CHARS`].
    pub(crate) fn scrub(&self, text: &str) -> String {
        // Scrubbed whole first: a cut could leave the start of a secret behind.
        let text = redact_jwts(text);
        let text = match &self.scrubber {
            Some(request) => request().scrub_text(&text),
            None => text,
        };
        text.chars()
            .filter(|c| !c.is_control())
            .take(MAX_TEXT_CHARS)
            .collect()
    }

    /// The error for a failed exchange.
    pub(crate) fn bearer_error<E: IntoTransportError>(
        &self,
        error: BearerError<E>,
    ) -> ManagementApiError {
        match error {
            BearerError::Token(e) => ManagementApiError::Token(e),
            BearerError::Send(e) => self.transport_error(e.into_transport_error()),
        }
    }

    fn transport_error(&self, error: TransportError) -> ManagementApiError {
        let error = match &self.scrubber {
            Some(request) => request().scrub_transport_error(error),
            None => error,
        };
        ManagementApiError::Transport(error)
    }

    /// The answer: a success within the cap, else the error it is.
    pub(crate) fn read(
        &self,
        response: Response<Vec<u8>>,
    ) -> Result<ApiResponse, ManagementApiError> {
        let (head, body) = response.into_parts();
        let body = Zeroizing::new(body);
        if body.len() > self.max_response_bytes {
            return Err(ManagementApiError::ResponseTooLarge {
                limit: u64::try_from(self.max_response_bytes).unwrap_or(u64::MAX),
            });
        }
        if !head.status.is_success() {
            return Err(ManagementApiError::Api(self.api_error(head.status, &body)));
        }
        let total_number = head
            .headers
            .get("total-number")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(ApiResponse {
            status: head.status,
            total_number,
            body,
            settings: self.clone(),
        })
    }

    fn api_error(&self, status: StatusCode, body: &[u8]) -> ApiError {
        #[derive(serde::Deserialize)]
        struct Envelope {
            code: Option<serde_json::Value>,
            message: Option<serde_json::Value>,
        }
        let envelope = serde_json::from_slice::<Envelope>(body).ok();
        let text = |value: Option<serde_json::Value>| match value {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(self.scrub(&s)),
            _ => None,
        };
        let (code, message) = envelope.map_or((None, None), |e| (text(e.code), text(e.message)));
        ApiError {
            status,
            code,
            message,
        }
    }
}

/// Replaces every JWT (a run of base64url characters and dots that starts like a JSON header and
/// has a dot, whole or cut short) by `[redacted]`.
fn redact_jwts(text: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.starts_with(JWT_START) && run.contains('.') {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if is_token_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// `segment` percent-encoded for a path: every byte but the unreserved characters.
pub(crate) fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A successful Management API answer. Its body is zeroized when dropped (Logto's answers carry
/// secrets: `GET /api/applications` has every application's); `Debug` shows its length only.
pub struct ApiResponse {
    status: StatusCode,
    total_number: Option<u64>,
    body: Zeroizing<Vec<u8>>,
    settings: Settings,
}

impl fmt::Debug for ApiResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiResponse")
            .field("status", &self.status)
            .field("total_number", &self.total_number)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl ApiResponse {
    /// The status (2xx).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `Total-Number` header of a paginated list: how many items there are in all.
    #[must_use]
    pub fn total_number(&self) -> Option<u64> {
        self.total_number
    }

    /// The body as received.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON into `R`; fields `R` does not name are skipped, never kept.
    ///
    /// # Errors
    ///
    /// [`ManagementApiError::InvalidResponse`] when it is not.
    pub fn json<R: DeserializeOwned>(&self) -> Result<R, ManagementApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ManagementApiError::InvalidResponse {
            status: self.status,
            reason: self.settings.scrub(&e.to_string()),
        })
    }
}

/// One transport, seen by the 401 rule.
pub(crate) struct Exchange<'a, T> {
    pub(crate) transport: &'a T,
}

impl<T> BearerRequests for Exchange<'_, T> {
    type Request = Request<Vec<u8>>;
    type Response = Response<Vec<u8>>;

    fn method<'r>(&self, request: &'r Request<Vec<u8>>) -> &'r Method {
        request.method()
    }

    fn try_clone(&self, request: &Request<Vec<u8>>) -> Option<Request<Vec<u8>>> {
        Some(request.clone())
    }

    fn set_token(&self, request: &mut Request<Vec<u8>>, token: &Token) {
        logto_m2m_proto::authorize(request, token);
    }

    fn status(&self, response: &Response<Vec<u8>>) -> StatusCode {
        response.status()
    }
}

impl<T: BlockingTransport> SendBearerBlocking for Exchange<'_, T> {
    type Error = T::Error;

    fn send(&mut self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, T::Error> {
        self.transport.send(request)
    }
}

impl<T: Transport> SendBearer for Exchange<'_, T> {
    type Error = T::Error;

    fn send(
        &mut self,
        request: Request<Vec<u8>>,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, T::Error>> + Send {
        self.transport.send(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_redacted_and_other_words_kept() {
        assert_eq!(
            redact_jwts(
                "bad token eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here: auth.unauthorized"
            ),
            "bad token [redacted] here: auth.unauthorized"
        );
        // Cut short, still redacted; host names are kept.
        assert_eq!(
            redact_jwts("token eyJhbGciOi.eyJzdWIiOiJ4In"),
            "token [redacted]"
        );
        assert_eq!(
            redact_jwts("see https://auth.example.company.com/x"),
            "see https://auth.example.company.com/x"
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("user-1"), "user-1");
        assert_eq!(path_segment("a/b c?"), "a%2Fb%20c%3F");
    }

    #[test]
    fn paths_must_be_absolute_and_carry_the_cap() {
        let settings = Settings::new("https://t.logto.app/", None);
        let request = settings.build(Method::GET, "/api/users?page=1", None);
        let request = request.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(request.uri(), "https://t.logto.app/api/users?page=1");
        assert_eq!(
            request.extensions().get::<ResponseBodyCap>(),
            Some(&ResponseBodyCap(DEFAULT_MAX_RESPONSE_BYTES))
        );
        for bad in ["api/users", "//evil.example/api", "/api users"] {
            assert!(settings.build(Method::GET, bad, None).is_err(), "{bad}");
        }
    }
}
