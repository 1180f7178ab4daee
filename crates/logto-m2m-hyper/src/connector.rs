//! How [`HyperTransport`](crate::HyperTransport) reaches a server: directly, or through the HTTP
//! proxy the caller configured (a `CONNECT` tunnel), never through one named by the environment.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::rt::TokioIo;
use logto_m2m_proto::http::Uri;
use tokio::net::TcpStream;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Opens TCP connections, directly or through a proxy's `CONNECT` tunnel; TLS (when the URL is
/// `https`) is layered on top by the https connector, end to end through the tunnel.
#[derive(Debug, Clone)]
pub(crate) enum Connector {
    /// Straight to the server.
    Direct(HttpConnector),
    /// Through the configured proxy.
    Tunnel(Tunnel<HttpConnector>),
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Self::Direct(direct) => direct.poll_ready(cx).map_err(Into::into),
            Self::Tunnel(tunnel) => tunnel.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        match self {
            Self::Direct(direct) => {
                let connecting = direct.call(destination);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Self::Tunnel(tunnel) => {
                let connecting = tunnel.call(destination);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
        }
    }
}
