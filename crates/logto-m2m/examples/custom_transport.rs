//! A transport for an HTTP stack of your own, written from scratch over `std::net::TcpStream`, and
//! run against the in-process Logto-compatible server of `logto-m2m-testkit`.
//!
//! Run with `cargo run -p logto-m2m --example custom_transport`.
//!
//! What a transport must do (docs/transports.md): refuse URLs the secret must not travel to
//! (`logto_m2m::check_url`), send the request as built, return every answer whatever its status
//! (OAuth error bodies must reach the parser), never follow a redirect, bound the time and the
//! size of the answer, leave no copy of the secret or the token behind, and say what kind of
//! failure an error is (`IntoTransportError`). `logto_m2m::transport_rules` does the redirect, the
//! size caps and the buffers; what is left is the calls into the HTTP stack.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use logto_m2m::proto::http::{Request, Response, StatusCode, header};
use logto_m2m::transport_rules::{BodyBuffer, ReadBodyError, RefusedResponse};
use logto_m2m::{
    BlockingTokenManager, BlockingTransport, ClientConfig, IntoTransportError, TokenParams,
    TransportErrorKind, management_api,
};
use logto_m2m_testkit::{TestServer, defaults};

/// HTTP/1.1 over a plain TCP connection (so: loopback only), one connection per request.
struct StdNetTransport {
    timeout: Duration,
    max_response_bytes: usize,
    max_header_bytes: u64,
}

/// The transport's own error type, with the kind the state machine retries by.
#[derive(Debug, thiserror::Error)]
#[error("{kind:?}: {message}")]
struct StdNetError {
    kind: TransportErrorKind,
    message: String,
}

impl StdNetError {
    fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<io::Error> for StdNetError {
    fn from(error: io::Error) -> Self {
        Self::new(error.transport_error_kind(), error.to_string())
    }
}

impl From<RefusedResponse> for StdNetError {
    fn from(refused: RefusedResponse) -> Self {
        Self::new(refused.kind(), refused.to_string())
    }
}

impl From<ReadBodyError> for StdNetError {
    fn from(error: ReadBodyError) -> Self {
        match error {
            ReadBodyError::Refused(refused) => refused.into(),
            ReadBodyError::Read(e) => e.into(),
            other => Self::new(TransportErrorKind::Other, other.to_string()),
        }
    }
}

impl IntoTransportError for StdNetError {
    fn transport_error_kind(&self) -> TransportErrorKind {
        self.kind
    }
}

impl BlockingTransport for StdNetTransport {
    type Error = StdNetError;

    fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, StdNetError> {
        // 1. Only where the secret may go: https anywhere, http only on loopback.
        logto_m2m::check_url(request.uri(), false).map_err(|refusal| {
            StdNetError::new(TransportErrorKind::InvalidRequest, refusal.to_string())
        })?;
        if request.uri().scheme_str() != Some("http") {
            return Err(StdNetError::new(
                TransportErrorKind::InvalidRequest,
                "this example speaks plain http only",
            ));
        }
        let host = request.uri().host().unwrap_or_default();
        let port = request.uri().port_u16().unwrap_or(80);

        // 2. Send the request exactly as built, with a bounded time: never more than what is left
        //    of the calling `token()`'s budget.
        let timeout = logto_m2m::AttemptTimeout::limit(&request, self.timeout);
        let mut stream = TcpStream::connect((host, port))
            .map_err(|e| StdNetError::new(TransportErrorKind::Connect, e.to_string()))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        write!(
            stream,
            "{} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n",
            request.method()
        )?;
        for (name, value) in request.headers() {
            stream.write_all(name.as_str().as_bytes())?;
            stream.write_all(b": ")?;
            stream.write_all(value.as_bytes())?;
            stream.write_all(b"\r\n")?;
        }
        // The body may hold the secret (`client_secret_post`): zeroized once written.
        let body = zeroize::Zeroizing::new(request.into_body());
        write!(stream, "Content-Length: {}\r\n\r\n", body.len())?;
        stream.write_all(&body)?;
        drop(body);

        // 3. Read the head, whatever its status, within the header cap.
        let mut reader = BufReader::new(stream);
        let mut head_reader = (&mut reader).take(self.max_header_bytes);
        let mut line = String::new();
        head_reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .ok_or_else(|| StdNetError::new(TransportErrorKind::Io, "no HTTP status line"))?;
        let mut response = Response::builder().status(status);
        loop {
            line.clear();
            if head_reader.read_line(&mut line)? == 0 {
                return Err(if head_reader.limit() == 0 {
                    RefusedResponse::HeadersTooLarge {
                        limit: self.max_header_bytes,
                    }
                    .into()
                } else {
                    StdNetError::new(TransportErrorKind::Io, "the connection closed in the head")
                });
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                response = response.header(name.trim(), value.trim());
            }
        }
        let (head, ()) = response
            .body(())
            .map_err(|e| StdNetError::new(TransportErrorKind::Io, e.to_string()))?
            .into_parts();
        // 4. Never follow a redirect (it could carry the secret elsewhere), and read the body
        //    never past the cap: `BodyBuffer` does both, and leaves no copy of the token behind.
        let declared = head
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse().ok());
        let mut body = BodyBuffer::for_head(&head, declared, self.max_response_bytes)?;
        body.read_from(reader)?;
        Ok(body.into_response(head))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start_default()?;
    let config =
        ClientConfig::builder(server.endpoint(), defaults::APP_ID, defaults::APP_SECRET).build()?;
    let transport = StdNetTransport {
        timeout: Duration::from_secs(10),
        max_response_bytes: 64 * 1024,
        max_header_bytes: 64 * 1024,
    };
    let manager = BlockingTokenManager::new(transport, config);

    let api = manager.source(
        TokenParams::for_resource(defaults::RESOURCE).scopes(["read:items", "delete:items"]),
    )?;
    let token = api.token()?;
    println!("token for {}: {:?}", defaults::RESOURCE, token);
    println!(
        "granted: {:?}, not granted: {:?}",
        token.granted_scopes().to_wire(),
        token.not_granted_scopes().to_wire()
    );
    let again = api.token()?;
    println!(
        "second call served from the cache: {}",
        std::sync::Arc::ptr_eq(&token, &again)
    );

    let management = manager.request(management_api::self_hosted_token_params())?;
    let mut call =
        Request::get(format!("{}/api/applications", server.endpoint())).body(Vec::<u8>::new())?;
    manager.authorize(&mut call, &management)?;
    println!(
        "Management API call ready: {} {} (Authorization set: {})",
        call.method(),
        call.uri(),
        call.headers().contains_key("authorization")
    );

    let unassociated = manager.request(TokenParams::for_organization(
        defaults::UNKNOWN_ORGANIZATION,
    ))?;
    if let Err(error) = manager.token(&unassociated) {
        println!("organization not associated: {error} ({:?})", error.kind());
    }
    println!("the server saw {} token requests", server.token_requests());
    Ok(())
}
