//! OIDC discovery: `{endpoint}/oidc/.well-known/openid-configuration`, so that a custom setup never
//! hard-codes the token endpoint or the JWKS path.

use std::time::SystemTime;

use http::header::{ACCEPT, USER_AGENT};
use http::{HeaderValue, Method, Request, Response};
use serde_json::Value;

use crate::config::{ClientAuthMethod, checked_url, to_uri};
use crate::endpoint::without_trailing_slash;
use crate::error::{ConfigError, Error, InvalidResponse, ResponseProblem};
use crate::request::USER_AGENT_VALUE;

/// A discovery request for one Logto endpoint.
#[derive(Debug, Clone)]
pub struct Discovery {
    endpoint: String,
    url: String,
}

impl Discovery {
    /// Prepares discovery for the Logto `endpoint`, checked like the client configuration's.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the endpoint is not an absolute `https` URL (or `http` on loopback, or
    /// anywhere with `allow_insecure_http`).
    pub fn new(endpoint: &str, allow_insecure_http: bool) -> Result<Self, ConfigError> {
        let url = checked_url("endpoint", endpoint, allow_insecure_http)?;
        let endpoint = without_trailing_slash(&url);
        let url = format!("{endpoint}/oidc/.well-known/openid-configuration");
        to_uri("discovery", &url)?;
        Ok(Self { endpoint, url })
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
    /// JSON object with string `issuer`, `token_endpoint` and `jwks_uri`, or whose issuer is not
    /// [`expected_issuer`](Self::expected_issuer) (OpenID Connect Discovery §4.3).
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
        Ok(DiscoveryDocument {
            token_endpoint: string("token_endpoint").map_err(invalid)?,
            jwks_uri: string("jwks_uri").map_err(invalid)?,
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
