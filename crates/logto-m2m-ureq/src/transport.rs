//! [`UreqTransport`] and its builder.

use std::io::Read;
use std::time::Duration;

use logto_m2m::BlockingTransport;
use logto_m2m_proto::http::{Request, Response};

use crate::error::UreqTransportError;

/// The default connect timeout: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default overall timeout for one exchange, from the first DNS lookup to the last body byte:
/// 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default cap on a response body: 64 KiB, far more than any token response.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A blocking [`BlockingTransport`] over one shared [`ureq::Agent`].
///
/// - TLS by rustls (ring) with the webpki roots; plain `http` only to loopback hosts
///   (`localhost`, 127.0.0.0/8, `::1`) unless [`UreqTransportBuilder::allow_insecure_http`] is set.
///   Anything else is refused before any DNS lookup or connection.
/// - Error statuses (4xx, 5xx) come back as responses, so OAuth error bodies reach the parser.
/// - Redirects are never followed: a 3xx is a [`UreqTransportError::Redirect`].
/// - A connect timeout and an overall timeout (both 10 s by default).
/// - The response body is capped (64 KiB by default) while it is read: at most the cap and one
///   more byte are read, so an endless body costs no more memory than the cap.
/// - Connections are pooled and reused; clones share the pool.
/// - Proxies come from the usual environment variables (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`...),
///   as ureq does by default.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    max_response_bytes: usize,
    allow_insecure_http: bool,
}

impl UreqTransport {
    /// A transport with the default settings (10 s timeouts, a 64 KiB cap, https only except
    /// loopback).
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to change the timeouts, the response cap or the plain-`http` policy.
    pub fn builder() -> UreqTransportBuilder {
        UreqTransportBuilder::default()
    }

    /// The response-size cap, in bytes.
    #[must_use]
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// Whether plain `http` to hosts that are not loopback is allowed.
    #[must_use]
    pub fn allows_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    fn read_response(
        &self,
        response: Response<ureq::Body>,
    ) -> Result<Response<Vec<u8>>, UreqTransportError> {
        let (parts, mut body) = response.into_parts();
        if parts.status.is_redirection() {
            let location = parts
                .headers
                .get(logto_m2m_proto::http::header::LOCATION)
                .and_then(|value| value.to_str().ok());
            return Err(UreqTransportError::redirect(parts.status, location));
        }
        let cap = u64::try_from(self.max_response_bytes).unwrap_or(u64::MAX);
        // A declared length over the cap is refused before reading anything.
        let declared = body.content_length();
        if declared.is_some_and(|len| len > cap) {
            return Err(UreqTransportError::BodyTooLarge { limit: cap });
        }
        // Pre-size for the declared length, which is within the cap.
        let capacity = declared
            .and_then(|len| usize::try_from(len).ok())
            .unwrap_or(0);
        let mut bytes = Vec::with_capacity(capacity);
        // The limit reads at most `cap + 1` bytes and fails on the extra one.
        body.with_config()
            .limit(cap)
            .reader()
            .read_to_end(&mut bytes)
            .map_err(|e| UreqTransportError::from_ureq(ureq::Error::from(e)))?;
        Ok(Response::from_parts(parts, bytes))
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockingTransport for UreqTransport {
    type Error = UreqTransportError;

    fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, UreqTransportError> {
        logto_m2m::check_url(request.uri(), self.allow_insecure_http)
            .map_err(UreqTransportError::refused)?;
        let response = self
            .agent
            .run(request)
            .map_err(UreqTransportError::from_ureq)?;
        self.read_response(response)
    }
}

/// Builds a [`UreqTransport`]; start from [`UreqTransport::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct UreqTransportBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    allow_insecure_http: bool,
}

impl Default for UreqTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            allow_insecure_http: false,
        }
    }
}

impl UreqTransportBuilder {
    /// How long connecting (DNS, TCP and TLS) may take. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one whole exchange may take, from the DNS lookup to the last body byte. Default:
    /// 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes; a larger one is a
    /// [`UreqTransportError::BodyTooLarge`]. Default: 64 KiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Allows plain `http` to hosts that are not loopback. The app secret then travels
    /// unencrypted: only for private networks you trust. Default: `false`.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Builds the transport and its connection pool.
    #[must_use]
    pub fn build(self) -> UreqTransport {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.timeout))
            .build()
            .new_agent();
        UreqTransport {
            agent,
            max_response_bytes: self.max_response_bytes,
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}
