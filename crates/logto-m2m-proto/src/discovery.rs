//! OIDC discovery: `{endpoint}/oidc/.well-known/openid-configuration`, so that a custom setup never
//! hard-codes the token endpoint or the JWKS path.

use std::time::SystemTime;

use http::header::{ACCEPT, USER_AGENT};
use http::{HeaderValue, Method, Request, Response};
use serde_json::Value;

use crate::config::{ClientAuthMethod, to_uri};
use crate::endpoint::{SecureUrl, parse_endpoint, parse_secure_url};
use crate::error::{ConfigError, Error, InvalidResponse, ResponseProblem};
use crate::request::USER_AGENT_VALUE;

/// A discovery request for one Logto endpoint.
#[derive(Debug, Clone)]
pub struct Discovery {
    endpoint: String,
    url: String,
    /// The endpoint's scheme, host and port: the document's endpoints must be on it.
    origin: String,
    allow_insecure_http: bool,
}

impl Discovery {
    /// Prepares discovery for the Logto `endpoint`, checked like the client configuration's.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the endpoint is not an absolute `https` URL (or `http` on loopback, or
    /// anywhere with `allow_insecure_http`), or ends in one of Logto's OIDC paths.
    pub fn new(endpoint: &str, allow_insecure_http: bool) -> Result<Self, ConfigError> {
        let parsed = parse_endpoint(endpoint, allow_insecure_http)?;
        let endpoint = parsed.without_trailing_slash();
        let url = format!("{endpoint}/oidc/.well-known/openid-configuration");
        to_uri("discovery", &url)?;
        Ok(Self {
            origin: origin(&parsed),
            endpoint,
            url,
            allow_insecure_http,
        })
    }

    /// Checks an endpoint the document names before anything is sent to it: a URL the same rules
    /// as the configured endpoint accept (so `https`, or `http` only where the configuration allows
    /// it), on the configured endpoint's scheme, host and port. A document that points the secret
    /// or the key set anywhere else is refused.
    fn check_endpoint(&self, name: &'static str, url: &str) -> Result<(), ResponseProblem> {
        let foreign = || ResponseProblem::ForeignEndpoint { name };
        let parsed =
            parse_secure_url("discovery", url, self.allow_insecure_http).map_err(|_| foreign())?;
        if origin(&parsed) == self.origin {
            Ok(())
        } else {
            Err(foreign())
        }
    }

    /// The issuer the document must name: `{endpoint}/oidc`.
    #[must_use]
    pub fn expected_issuer(&self) -> String {
        format!("{}/oidc", self.endpoint)
    }

    /// Builds `GET {endpoint}/oidc/.well-known/openid-configuration`.
    #[must_use]
    pub fn to_http(&self) -> Request<Vec<u8>> {
        let mut request = Request::new(Vec::new());
        *request.method_mut() = Method::GET;
        if let Ok(uri) = to_uri("discovery", &self.url) {
            // Checked in `new`.
            *request.uri_mut() = uri;
        }
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        request
    }

    /// Parses the discovery document.
    ///
    /// # Errors
    ///
    /// [`Error::Server`] for an error status, [`Error::InvalidResponse`] for a body that is not a
    /// JSON object with string `issuer`, `token_endpoint` and `jwks_uri`, whose issuer is not
    /// [`expected_issuer`](Self::expected_issuer) (OpenID Connect Discovery §4.3), or whose
    /// `token_endpoint` or `jwks_uri` is not a secure URL on the endpoint's scheme, host and port
    /// ([`ResponseProblem::ForeignEndpoint`]).
    pub fn parse_response<B: AsRef<[u8]>>(
        &self,
        response: &Response<B>,
        wall_now: SystemTime,
    ) -> Result<DiscoveryDocument, Error> {
        let status = response.status();
        if !status.is_success() {
            return Err(crate::response::server_error(
                status,
                response.headers(),
                response.body().as_ref(),
                wall_now,
                &|text: &str| text.to_owned(),
            )
            .into());
        }
        let invalid = |problem| Error::from(InvalidResponse { status, problem });
        let Value::Object(object) =
            crate::response::parse_json(response.body().as_ref()).map_err(invalid)?
        else {
            return Err(invalid(ResponseProblem::NotAnObject));
        };
        let string = |name: &'static str| {
            object
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(ResponseProblem::MissingField { name })
        };
        let strings = |name: &str| -> Vec<String> {
            object
                .get(name)
                .and_then(Value::as_array)
                .map(|values| {
                    values
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let issuer = string("issuer").map_err(invalid)?;
        if issuer != self.expected_issuer() {
            return Err(invalid(ResponseProblem::IssuerMismatch));
        }
        let token_endpoint = string("token_endpoint").map_err(invalid)?;
        self.check_endpoint("token_endpoint", &token_endpoint)
            .map_err(invalid)?;
        let jwks_uri = string("jwks_uri").map_err(invalid)?;
        self.check_endpoint("jwks_uri", &jwks_uri)
            .map_err(invalid)?;
        Ok(DiscoveryDocument {
            token_endpoint,
            jwks_uri,
            token_endpoint_auth_methods_supported: strings("token_endpoint_auth_methods_supported"),
            grant_types_supported: strings("grant_types_supported"),
            issuer,
        })
    }
}

/// The fields of a discovery document that a client-credentials client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryDocument {
    /// The issuer: `{endpoint}/oidc` on Logto.
    pub issuer: String,
    /// The token endpoint: `{endpoint}/oidc/token` on Logto.
    pub token_endpoint: String,
    /// Where the signing keys are: `{endpoint}/oidc/jwks` on Logto.
    pub jwks_uri: String,
    /// The client authentication methods the server lists (provider-wide on Logto).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// The grant types the server lists.
    pub grant_types_supported: Vec<String>,
}

impl DiscoveryDocument {
    /// The preferred client authentication the server supports: Basic, else Post, else none.
    /// An absent list means Basic (the OAuth default).
    #[must_use]
    pub fn preferred_auth_method(&self) -> Option<ClientAuthMethod> {
        let methods = &self.token_endpoint_auth_methods_supported;
        if methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic") {
            Some(ClientAuthMethod::Basic)
        } else if methods.iter().any(|m| m == "client_secret_post") {
            Some(ClientAuthMethod::Post)
        } else {
            None
        }
    }

    /// Whether the server lists the client-credentials grant (an absent list counts as yes).
    #[must_use]
    pub fn supports_client_credentials(&self) -> bool {
        self.grant_types_supported.is_empty()
            || self
                .grant_types_supported
                .iter()
                .any(|g| g == "client_credentials")
    }
}

/// `scheme://host[:port]` of a checked URL.
fn origin(url: &SecureUrl) -> String {
    let text = url.as_str();
    let after_scheme = text.find("://").map_or(0, |at| at + 3);
    let end = text
        .get(after_scheme..)
        .and_then(|rest| rest.find('/'))
        .map_or(text.len(), |at| after_scheme + at);
    text.get(..end).unwrap_or(text).to_owned()
}
