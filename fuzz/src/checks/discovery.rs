//! `discovery`: any Logto endpoint and any answer to the discovery request. Preparing discovery
//! gives a typed `ConfigError` or a `GET` of `{endpoint}/oidc/.well-known/openid-configuration`;
//! parsing never panics, and gives a document only for a 2xx whose issuer is the endpoint's.
//!
//! Every `@I` in the body is replaced by the expected issuer, so that the fuzzer reaches the
//! success path.

use arbitrary::Arbitrary;
use logto_m2m_proto::http::Method;
use logto_m2m_proto::{ClientAuthMethod, ClientConfig, Discovery, Error};

use super::Mode;
use super::common::{self, APP_ID, EndpointInput, Header, SECRET, any_status};
use super::wire::{Encode, Flag, List, Rest, U16, U32};

/// Replaced by the expected issuer in the body.
pub const ISSUER_MARKER: &[u8] = b"@I";

/// A discovery exchange.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug)]
pub struct DiscoveryInput {
    /// The Logto endpoint.
    pub endpoint: EndpointInput,
    /// Whether plain `http` to any host is allowed.
    pub allow_insecure_http: Flag,
    /// The status, through [`any_status`].
    pub status: U16,
    /// The wall clock, in seconds after the Unix epoch.
    pub wall_clock: U32,
    /// The headers.
    pub headers: List<Header>,
    /// The body: the rest of the input; `@I` is replaced by the expected issuer.
    pub body: Rest,
}

impl Encode for DiscoveryInput {
    fn encode(&self, out: &mut Vec<u8>) {
        self.endpoint.encode(out);
        self.allow_insecure_http.encode(out);
        self.status.encode(out);
        self.wall_clock.encode(out);
        self.headers.encode(out);
        self.body.encode(out);
    }
}

/// The checks.
pub fn check(input: &DiscoveryInput, _mode: Mode) {
    let endpoint = input.endpoint.url();
    let allow_insecure = input.allow_insecure_http.0;
    let discovery = match Discovery::new(&endpoint, allow_insecure) {
        Ok(discovery) => discovery,
        Err(error) => {
            let _ = (error.to_string(), format!("{error:?}"));
            return;
        }
    };
    let issuer = discovery.expected_issuer();
    let request = discovery.to_http();
    assert_eq!(request.method(), Method::GET);
    assert_eq!(
        request.uri().to_string(),
        format!("{issuer}/.well-known/openid-configuration"),
        "discovery for {endpoint:?} is not sent where it is expected"
    );
    // The client configuration reads the endpoint the same way.
    if let Ok(config) = ClientConfig::builder(endpoint.as_str(), APP_ID, SECRET)
        .allow_insecure_http(allow_insecure)
        .build()
    {
        assert_eq!(format!("{}/oidc", config.endpoint()), issuer);
    }

    let status = any_status(input.status.0);
    let body = common::replace(&input.body.0, ISSUER_MARKER, issuer.as_bytes());
    let response = common::response(status, &input.headers.0, body, &|v| v.to_vec());
    match discovery.parse_response(&response, common::wall_clock(input.wall_clock.0)) {
        Ok(document) => {
            assert!(status.is_success(), "a {status} answer gave a document");
            assert_eq!(document.issuer, issuer);
            let preferred = document.preferred_auth_method();
            if document.token_endpoint_auth_methods_supported.is_empty() {
                assert_eq!(preferred, Some(ClientAuthMethod::Basic));
            }
            let _ = document.supports_client_credentials();
            // A discovered token endpoint is checked like a configured one.
            let built = ClientConfig::builder(endpoint.as_str(), APP_ID, SECRET)
                .token_endpoint(document.token_endpoint.as_str())
                .auth_method(preferred.unwrap_or_default())
                .allow_insecure_http(allow_insecure)
                .build();
            if let Err(error) = built {
                let _ = error.to_string();
            }
        }
        Err(error) => {
            let _ = (error.to_string(), format!("{error:?}"));
            match &error {
                Error::Server(server) => {
                    assert!(!status.is_success(), "a {status} answer gave {error:?}");
                    assert_eq!(server.status(), status);
                }
                Error::InvalidResponse(invalid) => {
                    assert!(status.is_success(), "a {status} answer gave {error:?}");
                    assert_eq!(invalid.status(), status);
                }
                other => panic!("parsing gave {other:?}"),
            }
        }
    }
}
