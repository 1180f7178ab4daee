//! [`UreqTransport`] and its builder.

use std::time::Duration;

use logto_m2m::BlockingTransport;
use logto_m2m::transport_rules::{BodyBuffer, ReadBodyError, ResponseBodyCap};
pub use logto_m2m::transport_rules::{DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_RESPONSE_BYTES};
use logto_m2m_proto::http::{Request, Response};
use zeroize::Zeroizing;

use crate::error::UreqTransportError;

/// The default connect timeout: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default overall timeout for one exchange, from the first DNS lookup to the last body byte:
/// 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking [`BlockingTransport`] over one shared [`ureq::Agent`].
///
/// - TLS by rustls (ring) with the webpki roots; plain `http` only to loopback hosts
///   (`localhost`, 127.0.0.0/8, `::1`) unless [`UreqTransportBuilder::allow_insecure_http`] is set.
///   Anything else is refused before any DNS lookup or connection.
/// - Error statuses (4xx, 5xx) come back as responses, so OAuth error bodies reach the parser.
/// - Redirects are never followed: a 3xx is refused
///   ([`UreqTransportError::Refused`] with
///   [`RefusedResponse::Redirect`](logto_m2m::transport_rules::RefusedResponse::Redirect)).
/// - A connect timeout and an overall timeout (both 10 s by default), the overall one shortened to
///   the request's [`AttemptTimeout`](logto_m2m::AttemptTimeout) (what is left of the calling
///   `token()`'s time budget).
/// - The response body is capped (64 KiB by default) while it is read: reading stops at the first
///   chunk past the cap, so an endless body costs no more memory than the cap. The status line
///   and headers have a cap of their own (64 KiB by default).
/// - Connections are pooled and reused; clones share the pool.
/// - No proxy unless one is configured with [`UreqTransportBuilder::proxy`]: the proxy
///   environment variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`...) are ignored, so that no
///   variable set for other programs can route the credentials through a proxy.
/// - The request body (which holds the app secret with `client_secret_post`) and the buffer the
///   response body is read into are zeroized once done with. Copies inside ureq's and rustls'
///   own buffers are not (see the crate documentation).
///
/// # Logging
///
/// At `trace` level, ureq's protocol crate (log target `ureq_proto`) hex-dumps request heads and
/// whole responses, the `Authorization: Basic` credentials and the access token included. Keep
/// `ureq_proto` at `debug` or below (`RUST_LOG=...,ureq_proto=debug`); see the crate documentation.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    timeout: Duration,
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
        response: Response<ureq::Body>,
        max_response_bytes: usize,
    ) -> Result<Response<Vec<u8>>, UreqTransportError> {
        let (head, mut body) = response.into_parts();
        let mut buffer = BodyBuffer::for_head(&head, body.content_length(), max_response_bytes)?;
        // The cap is the buffer's; ureq's own limit (10 MB by default) is lifted.
        let reader = body.with_config().limit(u64::MAX).reader();
        buffer.read_from(reader).map_err(|e| match e {
            ReadBodyError::Refused(refused) => UreqTransportError::Refused(refused),
            ReadBodyError::Read(e) => UreqTransportError::from_ureq(ureq::Error::from(e)),
            _ => UreqTransportError::Io(ureq::Error::from(std::io::Error::other(e))),
        })?;
        Ok(buffer.into_response(head))
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
        // ureq is lent the body, and this one copy is zeroized once sent: it may hold the secret.
        let (head, body) = request.into_parts();
        let cap = ResponseBodyCap::for_request(&head.extensions, self.max_response_bytes);
        let body = Zeroizing::new(body);
        let request = Request::from_parts(head, body.as_slice());
        // Within what is left of the calling `token()`'s time budget.
        let timeout = logto_m2m::AttemptTimeout::limit(&request, self.timeout);
        let request = if timeout < self.timeout {
            let config = self.agent.configure_request(request);
            config.timeout_global(Some(timeout)).build()
        } else {
            request
        };
        let response = self
            .agent
            .run(request)
            .map_err(UreqTransportError::from_ureq)?;
        drop(body);
        Self::read_response(response, cap)
    }
}

/// Builds a [`UreqTransport`]; start from [`UreqTransport::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct UreqTransportBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    max_header_bytes: usize,
    allow_insecure_http: bool,
    proxy: Option<ureq::Proxy>,
}

impl Default for UreqTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            allow_insecure_http: false,
            proxy: None,
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

    /// The largest response body accepted, in bytes; a larger one is refused
    /// ([`RefusedResponse::BodyTooLarge`](logto_m2m::transport_rules::RefusedResponse)). Default:
    /// 64 KiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The largest status line and headers accepted, in bytes; larger ones are refused
    /// ([`RefusedResponse::HeadersTooLarge`](logto_m2m::transport_rules::RefusedResponse)).
    /// Default: 64 KiB.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Sends every request through this proxy. Default: none, whatever the environment says
    /// (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are ignored). To follow the environment on
    /// purpose, pass [`ureq::Proxy::try_from_env`]'s proxy. Through a plain-`http` proxy, the
    /// app secret of a plain-`http` request travels to the proxy in clear.
    pub fn proxy(mut self, proxy: ureq::Proxy) -> Self {
        self.proxy = Some(proxy);
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
            .max_response_header_size(self.max_header_bytes)
            // `None` unless configured: ureq's default reads the proxy environment variables.
            .proxy(self.proxy)
            .build()
            .new_agent();
        UreqTransport {
            agent,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}
