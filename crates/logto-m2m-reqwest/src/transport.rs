//! [`ReqwestTransport`] and its builder: only the calls into reqwest; the rules around them are
//! [`logto_m2m::transport_rules`]'.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body as _;
use logto_m2m::Transport;
pub use logto_m2m::transport_rules::DEFAULT_MAX_RESPONSE_BYTES;
use logto_m2m::transport_rules::{BodyBuffer, ResponseBodyCap, WipeOnDrop};
use logto_m2m_proto::http::{Request, Response};

use crate::error::{ReqwestTransportError, SetupError};

/// The default connect timeout: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default overall timeout for one exchange, from the first DNS lookup to the last body byte:
/// 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// An async [`Transport`] over one shared [`reqwest::Client`] (on tokio).
///
/// - TLS by rustls (ring) with the webpki roots; plain `http` only to loopback hosts
///   (`localhost`, 127.0.0.0/8, `::1`) unless [`ReqwestTransportBuilder::allow_insecure_http`]
///   is set. Anything else is refused before any DNS lookup or connection.
/// - Error statuses (4xx, 5xx) come back as responses, so OAuth error bodies reach the parser.
/// - Redirects are never followed: a 3xx is refused ([`ReqwestTransportError::Refused`] with
///   [`RefusedResponse::Redirect`](logto_m2m::transport_rules::RefusedResponse::Redirect)).
/// - A connect timeout and an overall timeout (both 10 s by default), the overall one shortened to
///   the request's [`AttemptTimeout`](logto_m2m::AttemptTimeout) (what is left of the calling
///   `token()`'s time budget).
/// - The response body is capped (64 KiB by default) chunk by chunk while it is read, so an
///   endless body costs no more memory than the cap. The status line and headers are capped by
///   hyper under reqwest (about 400 KiB, 100 headers; reqwest offers no setting for it).
/// - One attempt per `send`: reqwest's own retries are off (the token manager retries).
/// - Connections are pooled and reused; clones share the pool.
/// - No proxy unless one is configured with [`ReqwestTransportBuilder::proxy`]: the proxy
///   environment variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`...) and the system's proxy
///   settings are ignored, so that nothing set for other programs can route the credentials
///   through a proxy.
/// - The request body (which holds the app secret with `client_secret_post`) is zeroized when
///   reqwest drops it after sending, and the buffer the response body is read into is zeroized as
///   it grows and after parsing. Copies inside reqwest's, hyper's and rustls' own buffers are not,
///   and cannot be from outside.
///
/// reqwest runs on tokio: await `send` within a tokio runtime (with I/O and time enabled), or it
/// fails with [`ReqwestTransportError::NoTokioRuntime`].
#[derive(Clone)]
pub struct ReqwestTransport {
    client: Result<reqwest::Client, SetupError>,
    /// The overall timeout of one exchange, shortened per request to its `AttemptTimeout`.
    timeout: Duration,
    max_response_bytes: usize,
    allow_insecure_http: bool,
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("max_response_bytes", &self.max_response_bytes)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

impl ReqwestTransport {
    /// A transport with the default settings (10 s timeouts, a 64 KiB cap, https only except
    /// loopback, no proxy).
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to change the timeouts, the response cap, the plain-`http` policy or the proxy.
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder::default()
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
}

impl Default for ReqwestTransport {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Transport for ReqwestTransport {
    type Error = ReqwestTransportError;

    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Self::Error> {
        logto_m2m::check_url(request.uri(), self.allow_insecure_http)
            .map_err(ReqwestTransportError::refused)?;
        let client = match &self.client {
            Ok(client) => client,
            Err(e) => return Err(ReqwestTransportError::ClientSetup(Arc::clone(e))),
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ReqwestTransportError::NoTokioRuntime);
        }
        // reqwest drops the body once sent: its last reference zeroizes it (it may hold the
        // secret).
        let timeout = logto_m2m::AttemptTimeout::limit(&request, self.timeout);
        let cap = ResponseBodyCap::for_request(request.extensions(), self.max_response_bytes);
        let request = request.map(|body| Bytes::from_owner(WipeOnDrop::new(body)));
        let mut request =
            reqwest::Request::try_from(request).map_err(ReqwestTransportError::invalid)?;
        *request.timeout_mut() = Some(timeout);
        let response = client
            .execute(request)
            .await
            .map_err(ReqwestTransportError::from_reqwest)?;
        read_response(response, cap).await
    }
}

/// Refuses redirects and reads the body up to the cap.
async fn read_response(
    response: reqwest::Response,
    max_body_bytes: usize,
) -> Result<Response<Vec<u8>>, ReqwestTransportError> {
    let (head, mut body) = Response::from(response).into_parts();
    // A declared `Content-Length` is the exact size; a lower bound over the cap is refused too.
    let size = body.size_hint();
    let declared = size
        .exact()
        .or_else(|| Some(size.lower()).filter(|&lower| lower > 0));
    let mut buffer = BodyBuffer::for_head(&head, declared, max_body_bytes)?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReqwestTransportError::from_reqwest)?;
        if let Ok(data) = frame.into_data() {
            buffer.push(&data)?;
        }
    }
    Ok(buffer.into_response(head))
}

/// Builds a [`ReqwestTransport`]; start from [`ReqwestTransport::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ReqwestTransportBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    allow_insecure_http: bool,
    proxy: Option<reqwest::Proxy>,
}

impl Default for ReqwestTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            allow_insecure_http: false,
            proxy: None,
        }
    }
}

impl ReqwestTransportBuilder {
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

    /// Allows plain `http` to hosts that are not loopback. The app secret then travels
    /// unencrypted: only for private networks you trust. Default: `false`.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Sends every request through this proxy. Default: none, whatever the environment or the
    /// system says (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are ignored). Through a
    /// plain-`http` proxy, the app secret of a plain-`http` request travels to the proxy in clear.
    pub fn proxy(mut self, proxy: reqwest::Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Builds the transport and its connection pool. Needs no runtime: nothing connects until the
    /// first `send`.
    #[must_use]
    pub fn build(self) -> ReqwestTransport {
        let client = client_builder().and_then(|builder| {
            let builder = builder
                .retry(reqwest::retry::never())
                .connect_timeout(self.connect_timeout)
                .timeout(self.timeout);
            let builder = match self.proxy {
                Some(proxy) => builder.proxy(proxy),
                None => builder,
            };
            builder.build().map_err(|e| Arc::new(e) as SetupError)
        });
        ReqwestTransport {
            client,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}

/// A [`reqwest::ClientBuilder`] set up as this crate's transport is, for calling the APIs the
/// tokens are for (with [`BearerTokenMiddleware`](crate::BearerTokenMiddleware)): rustls with
/// the ring provider and the webpki roots, redirects not followed (a 3xx comes back as the
/// answer), no proxy from the environment or the system, 10 s connect and overall timeouts.
/// Change any of it on the builder.
///
/// # Errors
///
/// When the TLS configuration cannot be built.
pub fn client_builder() -> Result<reqwest::ClientBuilder, SetupError> {
    let tls = tls_config().map_err(|e| Arc::new(e) as SetupError)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .timeout(DEFAULT_TIMEOUT)
        // Clears the system proxy too; a configured one can be added after.
        .no_proxy())
}

/// rustls with the ring provider and the webpki roots, as the other transports.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
