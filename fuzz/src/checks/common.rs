//! What several targets share: the fixed configuration, HTTP responses built from fuzzed headers,
//! the check that no error shows the app secret, the comparable part of a poll's answer, and
//! picking from a table by a fuzzed index.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Result, Unstructured};
use logto_m2m_proto::http::{HeaderName, HeaderValue, Response, StatusCode};
use logto_m2m_proto::{Error, Poll, Token};

use super::secret_forms;
use super::wire::{Bytes, Encode, byte};

/// The app id of the fixed configuration.
pub const APP_ID: &str = "m2m-app";
/// The app secret of the fixed configuration (what the recorded requests used).
pub const SECRET: &str = "m2m-secret";
/// The Logto endpoint of the fixed configuration.
pub const ENDPOINT: &str = "https://tenant.logto.app";
/// The API resource of the fixed configuration.
pub const API: &str = "https://api.example.com";

/// Header names a fuzzed header picks from by index; any other name is spelled out.
pub const KNOWN_HEADERS: [&str; 6] = [
    "content-type",
    "retry-after",
    "date",
    "www-authenticate",
    "cache-control",
    "content-length",
];

/// The byte that announces a spelled-out header name.
const CUSTOM_HEADER: u8 = 7;

/// A header's name: one byte, `i % 8`; below 6 it picks `KNOWN_HEADERS[i]`, else the name's
/// bytes follow.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum HeaderNameInput {
    /// `KNOWN_HEADERS[index]`.
    Known(u8),
    /// Any bytes (a header that `http` refuses is left out).
    Custom(Bytes),
}

impl<'a> Arbitrary<'a> for HeaderNameInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let choice = byte(u)? % 8;
        Ok(if usize::from(choice) < KNOWN_HEADERS.len() {
            Self::Known(choice)
        } else {
            Self::Custom(Bytes::arbitrary(u)?)
        })
    }
}

impl Encode for HeaderNameInput {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Known(index) => {
                assert!(usize::from(*index) < KNOWN_HEADERS.len());
                out.push(*index);
            }
            Self::Custom(name) => {
                out.push(CUSTOM_HEADER);
                name.encode(out);
            }
        }
    }
}

/// One response header.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug)]
pub struct Header {
    /// Its name.
    pub name: HeaderNameInput,
    /// Its value's bytes (a value that `http` refuses is left out).
    pub value: Bytes,
}

impl Header {
    /// A header as a seed: a known name by index, or spelled out.
    pub fn new(name: &str, value: &[u8]) -> Self {
        let lower = name.to_ascii_lowercase();
        let name = match KNOWN_HEADERS.iter().position(|known| *known == lower) {
            Some(index) => HeaderNameInput::Known(u8::try_from(index).unwrap_or(0)),
            None => HeaderNameInput::Custom(Bytes(lower.into_bytes())),
        };
        Self {
            name,
            value: Bytes(value.to_vec()),
        }
    }

    /// The header for `http`, if `http` accepts its name and value (after `substitute`).
    pub fn to_http(
        &self,
        substitute: &dyn Fn(&[u8]) -> Vec<u8>,
    ) -> Option<(HeaderName, HeaderValue)> {
        let name = match &self.name {
            HeaderNameInput::Known(index) => {
                HeaderName::from_static(KNOWN_HEADERS.get(usize::from(*index))?)
            }
            HeaderNameInput::Custom(name) => HeaderName::from_bytes(&name.0).ok()?,
        };
        let value = HeaderValue::from_bytes(&substitute(&self.value.0)).ok()?;
        Some((name, value))
    }
}

impl Encode for Header {
    fn encode(&self, out: &mut Vec<u8>) {
        self.name.encode(out);
        self.value.encode(out);
    }
}

/// Any status: `100 + raw % 900`.
pub fn any_status(raw: u16) -> StatusCode {
    StatusCode::from_u16(100 + raw % 900).unwrap_or(StatusCode::OK)
}

/// The raw value that [`any_status`] maps to `status`.
pub fn any_status_raw(status: u16) -> u16 {
    assert!((100..1000).contains(&status), "status {status}");
    status - 100
}

/// A status that is not success: [`any_status`], with 2xx moved to 5xx.
pub fn error_status(raw: u16) -> StatusCode {
    let status = any_status(raw);
    if status.is_success() {
        StatusCode::from_u16(status.as_u16() + 300).unwrap_or(StatusCode::BAD_GATEWAY)
    } else {
        status
    }
}

/// The wall clock `secs` seconds after the Unix epoch.
pub fn wall_clock(secs: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(secs))
}

/// Replaces every `marker` in `bytes` with `with`.
pub fn replace(bytes: &[u8], marker: &[u8], with: &[u8]) -> Vec<u8> {
    if marker.is_empty() {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.starts_with(marker) {
            out.extend_from_slice(with);
            rest = rest.get(marker.len()..).unwrap_or_default();
        } else {
            out.extend_from_slice(rest.get(..1).unwrap_or_default());
            rest = rest.get(1..).unwrap_or_default();
        }
    }
    out
}

/// A response with `status`, the headers that `http` accepts, and `body`; `substitute` is applied
/// to header values.
pub fn response(
    status: StatusCode,
    headers: &[Header],
    body: Vec<u8>,
    substitute: &dyn Fn(&[u8]) -> Vec<u8>,
) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for header in headers {
        if let Some((name, value)) = header.to_http(substitute) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// Everything a caller can print of `error`: `Display`, both `Debug`s and the source chain, each
/// with whether it is a `Debug` text.
pub fn printed(error: &Error) -> Vec<(String, bool)> {
    let mut all = vec![
        (error.to_string(), false),
        (format!("{error:?}"), true),
        (format!("{error:#?}"), true),
    ];
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        all.push((inner.to_string(), false));
        source = inner.source();
    }
    all
}

/// Panics if any printed form of `error` shows the app secret of [`APP_ID`] in any form it takes
/// on the wire ([`secret_forms::all_forms`]).
pub fn assert_no_secret(error: &Error, secret: &str) {
    let forms = secret_forms::all_forms(APP_ID, secret);
    for (text, is_debug) in printed(error) {
        if let Some(form) = secret_forms::shown(&text, is_debug, &forms) {
            panic!(
                "the error shows the app secret {secret:?} as {} ({:?}): {text}",
                form.name, form.text
            );
        }
    }
}

/// Endpoints an [`EndpointInput`] picks from by index.
pub const KNOWN_ENDPOINTS: [&str; 8] = [
    "https://tenant.logto.app",
    "http://127.0.0.1:3001",
    "https://auth.example.com/logto/",
    "http://localhost:3001/",
    "http://auth.internal",
    "https://[::1]:8443",
    "https://tenant.logto.app/oidc/token",
    "not a url",
];

/// The byte that announces a spelled-out endpoint.
const CUSTOM_ENDPOINT: u8 = 15;

/// A URL: one byte, `i % 16`; below 8 it picks `KNOWN_ENDPOINTS[i]`, else the URL's bytes
/// follow (invalid UTF-8 replaced).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum EndpointInput {
    /// `KNOWN_ENDPOINTS[index]`.
    Known(u8),
    /// Any text.
    Custom(Bytes),
}

impl EndpointInput {
    /// A URL as a seed: a known one by index, or spelled out.
    pub fn new(url: &str) -> Self {
        match KNOWN_ENDPOINTS.iter().position(|known| *known == url) {
            Some(index) => Self::Known(u8::try_from(index).unwrap_or(0)),
            None => Self::Custom(Bytes::from_text(url)),
        }
    }

    /// The URL.
    pub fn url(&self) -> String {
        match self {
            Self::Known(index) => KNOWN_ENDPOINTS
                .get(usize::from(*index))
                .copied()
                .unwrap_or_default()
                .to_owned(),
            Self::Custom(url) => url.lossy(),
        }
    }
}

impl<'a> Arbitrary<'a> for EndpointInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let choice = byte(u)? % 16;
        Ok(if usize::from(choice) < KNOWN_ENDPOINTS.len() {
            Self::Known(choice)
        } else {
            Self::Custom(Bytes::arbitrary(u)?)
        })
    }
}

impl Encode for EndpointInput {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Known(index) => {
                assert!(usize::from(*index) < KNOWN_ENDPOINTS.len());
                out.push(*index);
            }
            Self::Custom(url) => {
                out.push(CUSTOM_ENDPOINT);
                url.encode(out);
            }
        }
    }
}

/// The comparable part of a poll's answer, to compare the answers of two polls: a flight started
/// through the store or not is the same answer (the breaker decides which, by its own time).
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// Served this token.
    Ready(String),
    /// Served this token, and a refresh starts.
    Refresh(String),
    /// A request (or a flight through the store) starts.
    Fetch,
    /// Wait until then.
    Pending(Instant),
    /// Failed; retry from then.
    Failed(Instant),
}

/// What `poll` answered, comparably.
pub fn seen(poll: &Poll) -> Seen {
    let value = |token: &Token| token.access_token().expose_secret().to_owned();
    match poll {
        Poll::Ready { token, .. } => Seen::Ready(value(token)),
        Poll::ReadyAndRefresh { token, .. } | Poll::ReadyAndShared { token, .. } => {
            Seen::Refresh(value(token))
        }
        Poll::Fetch(_) | Poll::Shared(_) => Seen::Fetch,
        Poll::Pending { until } => Seen::Pending(*until),
        Poll::Failed { retry_at, .. } => Seen::Failed(*retry_at),
        other => panic!("an unknown poll answer: {other:?}"),
    }
}

/// The entry `index` picks in `table`, modulo its length.
pub fn pick<T: Copy>(table: &[T], index: u8) -> T {
    match table.get(usize::from(index) % table.len().max(1)) {
        Some(value) => *value,
        None => panic!("an empty table"),
    }
}
