//! The hyper server: accept loop, routing, the token endpoint with faults, JWKS and discovery.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::config::Config;
use crate::fault::{CannedResponse, Fault};
use crate::jwt::Keys;
use crate::management_api;
use crate::management_data::ManagementData;
use crate::oidc::{self, ExpiresInShape, Issued, OidcError, TtlOverrides};
use crate::record::RecordedRequest;
use crate::transport::{CutState, FaultIo, Filler, IoControl, IoMode, ResponseBody, set_mode};

pub(crate) const TOKEN_PATH: &str = "/oidc/token";
pub(crate) const JWKS_PATH: &str = "/oidc/jwks";
pub(crate) const DISCOVERY_PATHS: [&str; 2] = [
    "/oidc/.well-known/openid-configuration",
    "/oidc/.well-known/oauth-authorization-server",
];
/// The largest request body read; larger ones get 413.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// How much of a too-large body is read and discarded so that the client sees the 413.
const DRAIN_LIMIT: u64 = 1024 * 1024;
/// The most log entries kept; older ones are dropped (the counter keeps counting).
pub(crate) const MAX_LOG: usize = 10_000;

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

type Predicate = dyn Fn(&RecordedRequest) -> bool + Send + Sync;

/// A fault that applies while its predicate accepts the request.
#[derive(Clone)]
pub(crate) struct Rule {
    pub(crate) predicate: Arc<Predicate>,
    pub(crate) fault: Fault,
}

/// Mutable server state.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) log: VecDeque<RecordedRequest>,
    pub(crate) token_requests: usize,
    pub(crate) queued: VecDeque<(Fault, usize)>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) ttl: TtlOverrides,
    /// Faults for the next Management API requests.
    pub(crate) api_queued: VecDeque<(Fault, usize)>,
}

/// Everything the server thread and the handle share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) keys: RwLock<Keys>,
    pub(crate) endpoint: String,
    pub(crate) issuer: String,
    pub(crate) state: Mutex<State>,
    pub(crate) connections: AtomicUsize,
    /// The Management API's applications and users, as updated by requests.
    pub(crate) management: Mutex<ManagementData>,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn keys(&self) -> RwLockReadGuard<'_, Keys> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn keys_mut(&self) -> RwLockWriteGuard<'_, Keys> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn management(&self) -> MutexGuard<'_, ManagementData> {
        self.management
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The fault queued for the next Management API request, if any.
    fn pick_api_fault(&self) -> Option<Fault> {
        let mut state = self.state();
        let (fault, times) = state.api_queued.front_mut()?;
        let fault = fault.clone();
        *times = times.saturating_sub(1);
        if *times == 0 {
            state.api_queued.pop_front();
        }
        Some(fault)
    }

    /// The fault for a token request: queued faults first, then the first matching rule.
    fn pick_fault(&self, request: &RecordedRequest) -> Option<Fault> {
        let rules = {
            let mut state = self.state();
            if let Some((fault, times)) = state.queued.front_mut() {
                let fault = fault.clone();
                *times = times.saturating_sub(1);
                if *times == 0 {
                    state.queued.pop_front();
                }
                return Some(fault);
            }
            state.rules.clone()
        };
        // Predicates run without the lock, so they may call back into the server.
        rules
            .into_iter()
            .find(|r| (r.predicate)(request))
            .map(|r| r.fault)
    }

    fn record(&self, request: RecordedRequest) {
        let mut state = self.state();
        if request.is_token_request() {
            state.token_requests = state.token_requests.saturating_add(1);
        }
        if state.log.len() >= MAX_LOG {
            state.log.pop_front();
        }
        state.log.push_back(request);
    }
}

/// Accepts connections until `shutdown` fires.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                // Out of descriptors or similar: back off a little instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// Counts a live connection for as long as it exists.
struct ConnectionGuard(Arc<Shared>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    shared.connections.fetch_add(1, Ordering::SeqCst);
    let _guard = ConnectionGuard(Arc::clone(&shared));
    let _ = stream.set_nodelay(true);
    let control: IoControl = Arc::default();
    let io = TokioIo::new(FaultIo::new(stream, Arc::clone(&control)));
    let service = hyper::service::service_fn(move |request| {
        handle(Arc::clone(&shared), Arc::clone(&control), request)
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}

async fn handle(
    shared: Arc<Shared>,
    control: IoControl,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let mut record = RecordedRequest {
        method: parts.method.clone(),
        path,
        query,
        headers: parts.headers,
        params: Vec::new(),
        client_id: None,
        fault: None,
        received_at: SystemTime::now(),
    };
    if record.path.starts_with(management_api::PREFIX) {
        let mut fault = shared.pick_api_fault();
        record.fault.clone_from(&fault);
        while let Some(Fault::Delay(d) | Fault::DelayThen(d, _)) = &fault {
            tokio::time::sleep(*d).await;
            fault = match fault {
                Some(Fault::DelayThen(_, inner)) => Some(*inner),
                _ => None,
            };
        }
        let response = match fault {
            Some(Fault::Respond(canned)) => canned_response(canned),
            _ => management_api::handle(
                &shared,
                &record.method,
                &record.path,
                record.query.as_deref(),
                &record.headers,
                body,
            ),
        };
        shared.record(record);
        return Ok(response);
    }
    if !record.is_token_request() {
        let response = route_other(&shared, &record.method, &record.path);
        shared.record(record);
        return Ok(response);
    }

    let params = match body {
        Ok(bytes) => oidc::parse_body(
            record
                .headers
                .get(header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes),
            &bytes,
        ),
        Err(StatusCode::PAYLOAD_TOO_LARGE) => Err(OidcError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: "invalid_request",
            description: "request entity too large".to_owned(),
        }),
        Err(_) => Err(OidcError::invalid_request("request body could not be read")),
    };
    let auth = params.as_ref().map_err(Clone::clone).and_then(|p| {
        oidc::authenticate(&shared.config, record.headers.get(header::AUTHORIZATION), p)
    });
    if let Ok(p) = &params {
        record.params.clone_from(&p.0);
    }
    if let Ok(app) = auth {
        record.client_id = Some(app.id.clone());
    }
    let fault = shared.pick_fault(&record);
    record.fault.clone_from(&fault);
    let raw_errors = record.query.as_deref().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "parse_error" && v == "false")
    });
    let sent_authorization = record.headers.contains_key(header::AUTHORIZATION);
    shared.record(record);

    let answer = || {
        let outcome = match (&params, &auth) {
            (Ok(p), Ok(app)) => {
                let ttl = shared.state().ttl.clone();
                oidc::grant(&shared.config, app, p, &ttl).and_then(|g| {
                    oidc::issue(&shared.keys(), &shared.issuer, &app.id, &g, unix_now())
                })
            }
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        };
        TokenAnswer {
            outcome,
            raw_errors,
            sent_authorization,
            issuer: &shared.issuer,
        }
    };

    let mut fault = fault;
    loop {
        match fault {
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                fault = None;
            }
            Some(Fault::DelayThen(d, inner)) => {
                tokio::time::sleep(d).await;
                fault = Some(*inner);
            }
            _ => break,
        }
    }

    let response = match fault {
        None | Some(Fault::Delay(_) | Fault::DelayThen(..)) => {
            answer().render(ExpiresInShape::Number, JSON)
        }
        Some(Fault::Respond(canned)) => canned_response(canned),
        Some(Fault::ResetConnection) => {
            set_mode(&control, IoMode::Reset);
            response(StatusCode::INTERNAL_SERVER_ERROR, ResponseBody::empty())
        }
        Some(Fault::CloseMidBody) => {
            let mut r = answer().render(ExpiresInShape::Number, JSON);
            let body = take_full(&mut r);
            // Chunked framing: "<hex len>\r\n" then the data; keep half the data.
            let keep = format!("{:X}\r\n", body.len()).len() + (body.len() / 2).max(1);
            set_mode(&control, IoMode::Cut(CutState::keep(keep)));
            *r.body_mut() = ResponseBody::Chunked(VecDeque::from([body]));
            r
        }
        Some(Fault::TruncatedBody { missing }) => {
            let mut r = answer().render(ExpiresInShape::Number, JSON);
            let body = take_full(&mut r);
            set_mode(&control, IoMode::Cut(CutState::keep(body.len())));
            *r.body_mut() = ResponseBody::Sized {
                head: Some(body),
                filler: Filler::Space,
                filler_len: missing.max(1) as u64,
                tail: None,
            };
            r
        }
        Some(Fault::EndlessBody) => {
            let mut r = response(
                StatusCode::OK,
                ResponseBody::Endless {
                    head: Some(Bytes::from_static(b"{\"access_token\":\"")),
                },
            );
            set_header(&mut r, header::CONTENT_TYPE, JSON);
            r
        }
        Some(Fault::HugeBody(size)) => {
            let head: &[u8] = b"{\"access_token\":\"";
            let tail: &[u8] = b"\",\"expires_in\":3600,\"token_type\":\"Bearer\"}";
            let frame = (head.len() + tail.len()) as u64;
            let body = if size >= frame {
                ResponseBody::Sized {
                    head: Some(Bytes::from_static(head)),
                    filler: Filler::A,
                    filler_len: size - frame,
                    tail: Some(Bytes::from_static(tail)),
                }
            } else {
                let n = usize::try_from(size).unwrap_or_default();
                ResponseBody::full(Bytes::from_static(head).slice(..n.min(head.len())))
            };
            let mut r = response(StatusCode::OK, body);
            set_header(&mut r, header::CONTENT_TYPE, JSON);
            set_header(&mut r, header::CACHE_CONTROL, "no-store");
            r
        }
        Some(Fault::TooManyRequests(retry_after)) => {
            let mut r = response(
                StatusCode::TOO_MANY_REQUESTS,
                ResponseBody::full(Bytes::from_static(
                    br#"{"code":"auth.exceed_token_limit","message":"Token limit exceeded. Please contact your administrator."}"#,
                )),
            );
            set_header(&mut r, header::CONTENT_TYPE, JSON);
            if let Some(v) = retry_after.header_value() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Some(Fault::ServiceUnavailable(retry_after)) => {
            let mut r = response(
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseBody::full(Bytes::from_static(
                    b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n",
                )),
            );
            set_header(&mut r, header::CONTENT_TYPE, HTML);
            if let Some(v) = retry_after.header_value() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Some(Fault::BadGatewayHtml) => {
            let mut r = response(
                StatusCode::BAD_GATEWAY,
                ResponseBody::full(Bytes::from_static(
                    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
                )),
            );
            set_header(&mut r, header::CONTENT_TYPE, HTML);
            r
        }
        Some(Fault::OkWithError) => {
            let mut r = response(
                StatusCode::OK,
                ResponseBody::full(Bytes::from_static(
                    br#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
                )),
            );
            set_header(&mut r, header::CONTENT_TYPE, JSON);
            set_header(&mut r, header::CACHE_CONTROL, "no-store");
            r
        }
        Some(Fault::WrongContentType) => {
            answer().render(ExpiresInShape::Number, "text/plain; charset=utf-8")
        }
        Some(Fault::Redirect { status, location }) => {
            let mut r = response(status, ResponseBody::empty());
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Some(Fault::ExpiresInString) => answer().render(ExpiresInShape::String, JSON),
        Some(Fault::MissingExpiresIn) => answer().render(ExpiresInShape::Missing, JSON),
    };
    Ok(response)
}

/// Reads a request body of at most [`MAX_BODY`] bytes. A larger one is drained (up to
/// [`DRAIN_LIMIT`], so the client gets to read the answer) and refused with 413.
async fn read_body(mut body: Incoming) -> Result<Bytes, StatusCode> {
    use hyper::body::Body as _;
    if body.size_hint().lower() > DRAIN_LIMIT {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let mut kept = Vec::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(StatusCode::BAD_REQUEST);
        };
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len() as u64);
            if total <= MAX_BODY as u64 {
                kept.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
        }
    }
    if total > MAX_BODY as u64 {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    Ok(Bytes::from(kept))
}

/// The normal answer of the token endpoint, before rendering.
struct TokenAnswer<'a> {
    outcome: Result<Issued, OidcError>,
    raw_errors: bool,
    sent_authorization: bool,
    issuer: &'a str,
}

impl TokenAnswer<'_> {
    fn render(self, shape: ExpiresInShape, content_type: &'static str) -> Response<ResponseBody> {
        let mut r = match &self.outcome {
            Ok(issued) => response(StatusCode::OK, ResponseBody::full(issued.body(shape))),
            Err(e) => {
                let mut r = response(e.status, ResponseBody::full(e.body(self.raw_errors)));
                if e.status == StatusCode::UNAUTHORIZED && self.sent_authorization {
                    let value = format!(
                        "Basic realm=\"{}\", error=\"{}\", error_description=\"{}\"",
                        self.issuer, e.error, e.description
                    );
                    if let Ok(v) = HeaderValue::from_str(&value) {
                        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                    }
                }
                r
            }
        };
        set_header(&mut r, header::CACHE_CONTROL, "no-store");
        set_header(&mut r, header::CONTENT_TYPE, content_type);
        set_header(
            &mut r,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "WWW-Authenticate",
        );
        r
    }
}

fn route_other(shared: &Shared, method: &Method, path: &str) -> Response<ResponseBody> {
    if method == Method::GET && path == JWKS_PATH {
        let mut r = response(
            StatusCode::OK,
            ResponseBody::full(shared.keys().jwks_json()),
        );
        set_header(&mut r, header::CONTENT_TYPE, "application/jwk-set+json");
        set_header(
            &mut r,
            header::CACHE_CONTROL,
            "no-cache, max-age=0, must-revalidate",
        );
        return r;
    }
    if method == Method::GET && DISCOVERY_PATHS.contains(&path) {
        let mut r = response(StatusCode::OK, ResponseBody::full(discovery(shared)));
        set_header(&mut r, header::CONTENT_TYPE, JSON);
        return r;
    }
    let inner = path
        .strip_prefix("/oidc")
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let error = OidcError {
        status: StatusCode::NOT_FOUND,
        error: "invalid_request",
        description: format!("unrecognized route or not allowed method ({method} on {inner})"),
    };
    let mut r = response(StatusCode::NOT_FOUND, ResponseBody::full(error.body(false)));
    set_header(&mut r, header::CONTENT_TYPE, JSON);
    r
}

fn discovery(shared: &Shared) -> String {
    let issuer = &shared.issuer;
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/me"),
        "end_session_endpoint": format!("{issuer}/session/end"),
        "revocation_endpoint": format!("{issuer}/token/revocation"),
        "introspection_endpoint": format!("{issuer}/token/introspection"),
        "response_types_supported": ["code", "none"],
        "response_modes_supported": ["form_post", "fragment", "query"],
        "subject_types_supported": ["public"],
        "grant_types_supported": [
            "implicit",
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_jwt",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["HS256", "RS256", "PS256", "ES256", "ES384", "EdDSA"],
        "id_token_signing_alg_values_supported": ["ES384"],
        "scopes_supported": ["openid", "offline_access", "profile", "email", "phone", "address"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "code_challenge_methods_supported": ["S256"]
    })
    .to_string()
}

fn response(status: StatusCode, body: ResponseBody) -> Response<ResponseBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

fn set_header(r: &mut Response<ResponseBody>, name: HeaderName, value: &'static str) {
    r.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

/// Takes the bytes of a [`ResponseBody::Full`] (empty for other bodies).
fn take_full(r: &mut Response<ResponseBody>) -> Bytes {
    match std::mem::replace(r.body_mut(), ResponseBody::empty()) {
        ResponseBody::Full(bytes) => bytes.unwrap_or_default(),
        _ => Bytes::new(),
    }
}

fn canned_response(canned: CannedResponse) -> Response<ResponseBody> {
    let mut r = response(canned.status, ResponseBody::full(canned.body));
    let mut headers = canned.headers;
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::TRANSFER_ENCODING);
    *r.headers_mut() = headers;
    r
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
