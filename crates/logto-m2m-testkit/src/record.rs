//! The request log.

use std::fmt;
use std::time::SystemTime;

use http::{HeaderMap, Method};

use crate::Fault;

/// Parameters whose values `Debug` hides.
const SECRET_PARAMS: [&str; 2] = ["client_secret", "client_assertion"];

/// One request the server received, as logged.
///
/// Accessors return the raw values, secrets included, so tests can assert on them (for example
/// that a redirect target never saw the credentials). `Debug` redacts the `Authorization` and
/// `Cookie` headers and the `client_secret` and `client_assertion` parameters.
#[derive(Clone)]
pub struct RecordedRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) client_id: Option<String>,
    pub(crate) fault: Option<Fault>,
    pub(crate) received_at: SystemTime,
}

impl RecordedRequest {
    /// The method.
    #[must_use]
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, e.g. `/oidc/token`.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string, if any (without `?`).
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// Whether this was a token request (`POST /oidc/token`).
    #[must_use]
    pub fn is_token_request(&self) -> bool {
        self.method == Method::POST && self.path == crate::server::TOKEN_PATH
    }

    /// All headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of a header, if present and valid UTF-8.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parameters in order, form-decoded (a JSON body is converted the way Logto does).
    #[must_use]
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The first value of a body parameter.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a body parameter, in order.
    #[must_use]
    pub fn param_values(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The id of the application that authenticated successfully, if one did.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// Whether the request carried client credentials: an `Authorization` header, or a
    /// `client_secret` or `client_assertion` parameter.
    #[must_use]
    pub fn has_credentials(&self) -> bool {
        self.headers.contains_key(http::header::AUTHORIZATION)
            || self
                .params
                .iter()
                .any(|(k, _)| SECRET_PARAMS.contains(&k.as_str()))
    }

    /// The fault that answered this request, if one did. Predicates of
    /// [`TestServer::inject_when`](crate::TestServer::inject_when) see `None` here.
    #[must_use]
    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// When the request's body had been read.
    #[must_use]
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a HeaderMap);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut m = f.debug_map();
                for (k, v) in self.0 {
                    if k == http::header::AUTHORIZATION || k == http::header::COOKIE {
                        m.entry(&k.as_str(), &"[redacted]");
                    } else {
                        m.entry(&k.as_str(), v);
                    }
                }
                m.finish()
            }
        }
        struct Params<'a>(&'a [(String, String)]);
        impl fmt::Debug for Params<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut l = f.debug_list();
                for (k, v) in self.0 {
                    if SECRET_PARAMS.contains(&k.as_str()) {
                        l.entry(&(k, "[redacted]"));
                    } else {
                        l.entry(&(k, v));
                    }
                }
                l.finish()
            }
        }
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &Headers(&self.headers))
            .field("params", &Params(&self.params))
            .field("client_id", &self.client_id)
            .field("fault", &self.fault)
            .field("received_at", &self.received_at)
            .finish()
    }
}
