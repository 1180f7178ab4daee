//! [`HyperTransport`] and its builder.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use logto_m2m::Transport;
use logto_m2m::transport_rules::{BodyBuffer, ResponseBodyCap, WipeOnDrop};
pub use logto_m2m::transport_rules::{DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_RESPONSE_BYTES};
use logto_m2m_proto::http::{HeaderValue, Request, Response, Uri};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::connector::Connector;
use crate::error::HyperTransportError;

/// The default connect timeout: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default overall timeout for one exchange, from the first DNS lookup to the last body byte:
/// 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The smallest header cap hyper accepts (its read buffer's minimum): 8 KiB.
const MIN_MAX_HEADER_BYTES: usize = 8 * 1024;

type HyperClient = Client<HttpsConnector<Connector>, Full<Bytes>>;

/// An async [`Transport`] over a pooled hyper 1 client (hyper-util's legacy client).
///
/// - TLS by rustls (ring) with the webpki roots, HTTP/1.1 (HTTP/2 by ALPN only when
///   [`HyperTransportBuilder::http2`] asks for it); plain `http` only to loopback hosts
///   (`localhost`, 127.0.0.0/8, `::1`) unless
///   [`HyperTransportBuilder::allow_insecure_http`] is set. Anything else is refused before any
///   DNS lookup or connection.
/// - Error statuses (4xx, 5xx) come back as responses, so OAuth error bodies reach the parser.
/// - Redirects are never followed: a 3xx is refused
///   ([`HyperTransportError::Refused`] with
///   [`RefusedResponse::Redirect`](logto_m2m::transport_rules::RefusedResponse::Redirect)).
/// - A connect timeout and an overall timeout (both 10 s by default), the overall one shortened to
///   the request's [`AttemptTimeout`](logto_m2m::AttemptTimeout) (what is left of the calling
///   `token()`'s time budget).
/// - The response body is capped (64 KiB by default) frame by frame while it is read, so an
///   endless body costs no more memory than the cap (and one frame). The status line and headers
///   have a cap of their own (64 KiB by default; hyper accepts no less than 8 KiB), and at most
///   100 headers.
/// - Connections are pooled and reused; clones share the pool.
/// - No proxy unless one is configured with [`HyperTransportBuilder::proxy`]: the proxy
///   environment variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`...) are ignored, so that no
///   variable set for other programs can route the credentials through a proxy.
/// - The request body (which holds the app secret with `client_secret_post`) is zeroized when
///   hyper drops it after sending, and the buffer the response body is read into is zeroized as
///   it grows and after parsing. Copies inside hyper's and rustls' own buffers (the connection's
///   read and write buffers, TLS records) are not, and cannot be from outside.
///
/// # Tokio
///
/// hyper-util's client runs on tokio: it connects with tokio's sockets, times the connection out
/// and spawns connection tasks with tokio. So every exchange needs a tokio runtime with I/O and
/// time enabled (as `#[tokio::main]` gives):
///
/// - By default, `send` runs on the runtime it is awaited in, and fails with
///   [`HyperTransportError::NoTokioRuntime`] when there is none.
/// - With [`HyperTransportBuilder::tokio_handle`], each exchange is spawned on that runtime instead,
///   and `send` can then be awaited from any executor (async-std, smol, a plain `block_on`).
///   Dropping the `send` future cancels the exchange.
///
/// Pooled connections belong to the runtime that opened them: share one transport within one
/// runtime, or give it a handle.
#[derive(Clone)]
pub struct HyperTransport {
    client: Result<HyperClient, rustls::Error>,
    runtime: Option<Handle>,
    timeout: Duration,
    max_response_bytes: usize,
    max_header_bytes: usize,
    allow_insecure_http: bool,
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport")
            .field("has_own_runtime", &self.runtime.is_some())
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

impl HyperTransport {
    /// A transport with the default settings (10 s timeouts, a 64 KiB cap, https only except
    /// loopback), running on the tokio runtime that awaits it.
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to change the timeouts, the response cap, the plain-`http` policy or the runtime.
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::default()
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

    /// One exchange, within the overall timeout. Must run inside a tokio runtime.
    async fn exchange(
        client: HyperClient,
        request: Request<Full<Bytes>>,
        timeout: Duration,
        caps: Caps,
    ) -> Result<Response<Vec<u8>>, HyperTransportError> {
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| HyperTransportError::from_client(e, caps.header_bytes))?;
            read_response(response, caps).await
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_elapsed| Err(HyperTransportError::overall_timeout(timeout)))
    }
}

impl Default for HyperTransport {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Transport for HyperTransport {
    type Error = HyperTransportError;

    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Self::Error> {
        logto_m2m::check_url(request.uri(), self.allow_insecure_http)
            .map_err(HyperTransportError::refused)?;
        let client = match &self.client {
            Ok(client) => client.clone(),
            Err(e) => return Err(HyperTransportError::TlsConfig(e.clone())),
        };
        // Within what is left of the calling `token()`'s time budget.
        let timeout = logto_m2m::AttemptTimeout::limit(&request, self.timeout);
        // hyper drops the body once sent: its last reference zeroizes it (it may hold the secret).
        let request = request.map(|body| Full::new(Bytes::from_owner(WipeOnDrop::new(body))));
        let caps = Caps {
            body_bytes: ResponseBodyCap::for_request(request.extensions(), self.max_response_bytes),
            header_bytes: self.max_header_bytes,
        };
        let exchange = Self::exchange(client, request, timeout, caps);
        if let Some(runtime) = &self.runtime {
            let mut task = AbortOnDrop(runtime.spawn(exchange));
            match (&mut task.0).await {
                Ok(result) => result,
                Err(join_error) => Err(HyperTransportError::Other(Box::new(join_error))),
            }
        } else if Handle::try_current().is_ok() {
            exchange.await
        } else {
            Err(HyperTransportError::NoTokioRuntime)
        }
    }
}

/// The response caps of one exchange.
#[derive(Debug, Clone, Copy)]
struct Caps {
    body_bytes: usize,
    header_bytes: usize,
}

/// Refuses redirects and reads the body up to the cap.
async fn read_response(
    response: Response<Incoming>,
    caps: Caps,
) -> Result<Response<Vec<u8>>, HyperTransportError> {
    let (head, mut body) = response.into_parts();
    // A declared `Content-Length` is the exact size; a lower bound over the cap is refused too.
    let hint = body.size_hint();
    let declared = hint
        .exact()
        .or_else(|| Some(hint.lower()).filter(|&lower| lower > 0));
    let mut buffer = BodyBuffer::for_head(&head, declared, caps.body_bytes)?;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| HyperTransportError::from_exchange(Box::new(e), caps.header_bytes))?;
        if let Ok(data) = frame.into_data() {
            buffer.push(&data)?;
        }
    }
    Ok(buffer.into_response(head))
}

/// Aborts a spawned exchange when the `send` future awaiting it is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Builds a [`HyperTransport`]; start from [`HyperTransport::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HyperTransportBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    max_header_bytes: usize,
    allow_insecure_http: bool,
    runtime: Option<Handle>,
    proxy: Option<Uri>,
    proxy_authorization: Option<HeaderValue>,
    http2: bool,
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            allow_insecure_http: false,
            runtime: None,
            proxy: None,
            proxy_authorization: None,
            http2: false,
        }
    }
}

impl HyperTransportBuilder {
    /// How long connecting over TCP may take (per resolved address, split as hyper-util does).
    /// Default: 10 s. The TLS handshake counts against the overall [`timeout`](Self::timeout).
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

    /// The largest status line and headers accepted, in bytes; larger ones (or more than 100
    /// headers) are refused
    /// ([`RefusedResponse::HeadersTooLarge`](logto_m2m::transport_rules::RefusedResponse)).
    /// Default: 64 KiB. hyper accepts no less than 8 KiB: a smaller value means 8 KiB.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Allows plain `http` to hosts that are not loopback. The app secret then travels
    /// unencrypted: only for private networks you trust. Default: `false`.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Sends every request through this HTTP proxy (`http://host:port`), in a `CONNECT` tunnel:
    /// an `https` request stays encrypted end to end. Default: none, whatever the environment says
    /// (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are ignored). Through a proxy, a plain-`http`
    /// request (loopback, or with `allow_insecure_http`) reaches the proxy in clear, the app
    /// secret with it.
    pub fn proxy(mut self, proxy: Uri) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// The `Proxy-Authorization` value sent with each `CONNECT` to the [`proxy`](Self::proxy)
    /// (marked sensitive).
    pub fn proxy_authorization(mut self, value: HeaderValue) -> Self {
        self.proxy_authorization = Some(value);
        self
    }

    /// Offers HTTP/2 as well as HTTP/1.1 in the TLS handshake (ALPN). Default: `false`: a token
    /// endpoint is asked a few times an hour, so HTTP/2's multiplexing gains nothing, and
    /// HTTP/1.1 is what every Logto deployment and proxy in front of it speaks.
    pub fn http2(mut self, enable: bool) -> Self {
        self.http2 = enable;
        self
    }

    /// Runs every exchange on this tokio runtime, so that `send` can be awaited from any executor.
    /// Default: none, each exchange runs on the tokio runtime that awaits `send`.
    pub fn tokio_handle(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Builds the transport and its connection pool. Needs no runtime: nothing connects until the
    /// first `send`.
    #[must_use]
    pub fn build(self) -> HyperTransport {
        let max_header_bytes = self.max_header_bytes.max(MIN_MAX_HEADER_BYTES);
        let mut http = HttpConnector::new();
        // The https connector hands it `https` URLs too; the scheme policy is checked in `send`.
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        let connector = match self.proxy {
            None => Connector::Direct(http),
            Some(proxy) => {
                let tunnel = Tunnel::new(proxy, http);
                Connector::Tunnel(match self.proxy_authorization {
                    Some(value) => tunnel.with_auth(value),
                    None => tunnel,
                })
            }
        };
        let client = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map(|builder| {
                let protocols = builder.https_or_http().enable_http1();
                let https = if self.http2 {
                    protocols.enable_http2().wrap_connector(connector)
                } else {
                    protocols.wrap_connector(connector)
                };
                Client::builder(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .pool_timer(TokioTimer::new())
                    // hyper refuses a head that does not fit its read buffer.
                    .http1_max_buf_size(max_header_bytes)
                    .http2_max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
                    .build(https)
            });
        HyperTransport {
            client,
            runtime: self.runtime,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
            max_header_bytes,
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}
