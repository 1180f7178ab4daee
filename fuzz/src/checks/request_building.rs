//! `request_building`: any endpoint, app id, secret, authentication method, resources,
//! organization, scopes and extra parameters. Building gives a typed `ConfigError` that the input
//! justifies, or a request whose body form-decodes back to exactly the parameters given and whose
//! `Authorization: Basic` decodes back to exactly the app id and secret. The secret's value never
//! changes anything but those two places.

use arbitrary::{Arbitrary, Result, Unstructured};
use logto_m2m_proto::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use logto_m2m_proto::http::{Method, Request};
use logto_m2m_proto::{
    ClientAuthMethod, ClientConfig, ConfigError, RESERVED_PARAMETERS, TokenParams, TokenRequest,
    USER_AGENT_VALUE, redacted,
};

use super::Mode;
use super::common::EndpointInput;
use super::wire::{Byte, Bytes, Encode, List, Maybe, byte};

/// [`RequestInput::flags`] bit: `client_secret_post` instead of Basic.
pub const POST: u8 = 1;
/// [`RequestInput::flags`] bit: allow plain `http` to any host.
pub const INSECURE: u8 = 1 << 1;
/// [`RequestInput::flags`] bit: allow neither resource nor organization.
pub const DEFAULT_RESOURCE: u8 = 1 << 2;

/// Resource indicators a [`ResourceInput`] picks from by index.
pub const KNOWN_RESOURCES: [&str; 8] = [
    "https://api.example.com",
    "https://default.logto.app/api",
    "https://tenant.logto.app/api",
    "https://other.logto.app/api",
    "urn:example:api",
    "https://api.example.com#fragment",
    " https://api.example.com",
    "relative/api",
];

/// The byte that announces a spelled-out resource.
const CUSTOM_RESOURCE: u8 = 15;

/// A resource indicator: one byte, `i % 16`; below 8 it picks `KNOWN_RESOURCES[i]`, else the
/// indicator's bytes follow (invalid UTF-8 replaced).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ResourceInput {
    /// `KNOWN_RESOURCES[index]`.
    Known(u8),
    /// Any text.
    Custom(Bytes),
}

impl ResourceInput {
    /// A resource as a seed.
    pub fn new(resource: &str) -> Self {
        match KNOWN_RESOURCES.iter().position(|known| *known == resource) {
            Some(index) => Self::Known(u8::try_from(index).unwrap_or(0)),
            None => Self::Custom(Bytes::from_text(resource)),
        }
    }

    /// The indicator.
    pub fn text(&self) -> String {
        match self {
            Self::Known(index) => KNOWN_RESOURCES
                .get(usize::from(*index))
                .copied()
                .unwrap_or_default()
                .to_owned(),
            Self::Custom(text) => text.lossy(),
        }
    }
}

impl<'a> Arbitrary<'a> for ResourceInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let choice = byte(u)? % 16;
        Ok(if usize::from(choice) < KNOWN_RESOURCES.len() {
            Self::Known(choice)
        } else {
            Self::Custom(Bytes::arbitrary(u)?)
        })
    }
}

impl Encode for ResourceInput {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Known(index) => out.push(*index),
            Self::Custom(text) => {
                out.push(CUSTOM_RESOURCE);
                text.encode(out);
            }
        }
    }
}

/// An extra parameter.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug)]
pub struct Pair {
    /// Its name.
    pub name: Bytes,
    /// Its value.
    pub value: Bytes,
}

impl Pair {
    /// A parameter as a seed.
    pub fn new(name: &str, value: &str) -> Self {
        Self {
            name: Bytes::from_text(name),
            value: Bytes::from_text(value),
        }
    }
}

impl Encode for Pair {
    fn encode(&self, out: &mut Vec<u8>) {
        self.name.encode(out);
        self.value.encode(out);
    }
}

/// A configuration and the parameters of one token request.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug)]
pub struct RequestInput {
    /// The Logto endpoint.
    pub endpoint: EndpointInput,
    /// A token endpoint other than `{endpoint}/oidc/token`.
    pub token_endpoint: Maybe<EndpointInput>,
    /// The app id (invalid UTF-8 replaced).
    pub app_id: Bytes,
    /// The app secret (invalid UTF-8 replaced).
    pub app_secret: Bytes,
    /// [`POST`], [`INSECURE`], [`DEFAULT_RESOURCE`].
    pub flags: Byte,
    /// The resources asked for.
    pub resources: List<ResourceInput>,
    /// The organization asked for.
    pub organization: Maybe<Bytes>,
    /// The scopes asked for.
    pub scopes: List<Bytes>,
    /// Extra parameters.
    pub extra: List<Pair>,
}

impl Encode for RequestInput {
    fn encode(&self, out: &mut Vec<u8>) {
        self.endpoint.encode(out);
        self.token_endpoint.encode(out);
        self.app_id.encode(out);
        self.app_secret.encode(out);
        self.flags.encode(out);
        self.resources.encode(out);
        self.organization.encode(out);
        self.scopes.encode(out);
        self.extra.encode(out);
    }
}

/// The input as plain values.
struct Given {
    endpoint: String,
    token_endpoint: Option<String>,
    app_id: String,
    secret: String,
    method: ClientAuthMethod,
    insecure: bool,
    default_resource: bool,
    resources: Vec<String>,
    organization: Option<String>,
    scopes: Vec<String>,
    extra: Vec<(String, String)>,
}

impl Given {
    fn new(input: &RequestInput) -> Self {
        let flags = input.flags.0;
        Self {
            endpoint: input.endpoint.url(),
            token_endpoint: input.token_endpoint.0.as_ref().map(EndpointInput::url),
            app_id: input.app_id.lossy(),
            secret: input.app_secret.lossy(),
            method: if flags & POST != 0 {
                ClientAuthMethod::Post
            } else {
                ClientAuthMethod::Basic
            },
            insecure: flags & INSECURE != 0,
            default_resource: flags & DEFAULT_RESOURCE != 0,
            resources: input.resources.0.iter().map(ResourceInput::text).collect(),
            organization: input.organization.0.as_ref().map(Bytes::lossy),
            scopes: input.scopes.0.iter().map(Bytes::lossy).collect(),
            extra: input
                .extra
                .0
                .iter()
                .map(|pair| (pair.name.lossy(), pair.value.lossy()))
                .collect(),
        }
    }

    fn params(&self, scopes: &[String]) -> TokenParams {
        let mut params = TokenParams::new();
        for resource in &self.resources {
            params = params.resource(resource.as_str());
        }
        if let Some(organization) = &self.organization {
            params = params.organization(organization.as_str());
        }
        params = params.scopes(scopes.iter().map(String::as_str));
        for (name, value) in &self.extra {
            params = params.extra_param(name.as_str(), value.as_str());
        }
        if self.default_resource {
            params = params.allow_default_resource();
        }
        params
    }

    fn build(
        &self,
        secret: &str,
        scopes: &[String],
    ) -> std::result::Result<(ClientConfig, TokenRequest), ConfigError> {
        let mut builder =
            ClientConfig::builder(self.endpoint.as_str(), self.app_id.as_str(), secret)
                .auth_method(self.method)
                .allow_insecure_http(self.insecure);
        if let Some(token_endpoint) = &self.token_endpoint {
            builder = builder.token_endpoint(token_endpoint.as_str());
        }
        let config = builder.build()?;
        let request = TokenRequest::new(&config, self.params(scopes))?;
        Ok((config, request))
    }

    /// The scopes without repeats, in the order first given.
    fn deduped_scopes(&self) -> Vec<&str> {
        let mut scopes: Vec<&str> = Vec::new();
        for scope in &self.scopes {
            if !scopes.contains(&scope.as_str()) {
                scopes.push(scope);
            }
        }
        scopes
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Decodes `application/x-www-form-urlencoded` strictly: every byte that form encoding escapes
/// must have been escaped, and the result must be UTF-8.
pub fn form_decode_component(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'+' => {
                out.push(b' ');
                rest = tail;
            }
            b'%' => {
                let hex = tail
                    .get(..2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(decoded) = hex else {
                    panic!(
                        "a bad percent escape in {:?}",
                        String::from_utf8_lossy(text)
                    );
                };
                out.push(decoded);
                rest = tail.get(2..).unwrap_or_default();
            }
            b'*' | b'-' | b'.' | b'_' => {
                out.push(b);
                rest = tail;
            }
            _ if b.is_ascii_alphanumeric() => {
                out.push(b);
                rest = tail;
            }
            _ => panic!(
                "{:?} is not escaped in {:?}",
                char::from(b),
                String::from_utf8_lossy(text)
            ),
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| panic!("not UTF-8 once decoded: {e}"))
}

/// Decodes a whole form body into its pairs.
pub fn form_decode(body: &[u8]) -> Vec<(String, String)> {
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|b| *b == b'&')
        .map(|pair| {
            let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                panic!("a pair without '=': {:?}", String::from_utf8_lossy(pair));
            };
            let (name, value) = pair.split_at(eq);
            (
                form_decode_component(name),
                form_decode_component(value.get(1..).unwrap_or_default()),
            )
        })
        .collect()
}

/// Decodes standard base64 with padding, strictly.
pub fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    assert!(bytes.len() % 4 == 0, "base64 of length {}", bytes.len());
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (index, chunk) in bytes.chunks(4).enumerate() {
        let last = index + 1 == bytes.len() / 4;
        let padding = chunk.iter().rev().take_while(|b| **b == b'=').count();
        assert!(
            padding <= 2 && (padding == 0 || last),
            "bad base64 padding in {text:?}"
        );
        let mut bits = 0u32;
        for b in chunk.iter().take(4 - padding) {
            let Some(value) = ALPHABET.iter().position(|a| a == b) else {
                panic!("{:?} is not base64", char::from(*b));
            };
            bits = bits << 6 | u32::try_from(value).unwrap_or(0);
        }
        bits <<= 6 * padding;
        let [_, b0, b1, b2] = bits.to_be_bytes();
        out.extend_from_slice([b0, b1, b2].get(..3 - padding).unwrap_or_default());
    }
    out
}

fn check_error(error: &ConfigError, given: &Given) {
    let _ = (error.to_string(), format!("{error:?}"));
    let justified = match error {
        ConfigError::EmptyAppId => given.app_id.is_empty(),
        ConfigError::EmptyAppSecret => given.secret.is_empty(),
        ConfigError::MultipleResources => given.resources.len() > 1,
        ConfigError::NoResourceOrOrganization => {
            given.resources.is_empty() && given.organization.is_none() && !given.default_resource
        }
        ConfigError::EmptyOrganizationId => given.organization.as_deref() == Some(""),
        ConfigError::InvalidScope { scope } => given.scopes.contains(scope) && !valid_scope(scope),
        ConfigError::ReservedParameter { name } => {
            RESERVED_PARAMETERS.contains(&name.as_str())
                && given.extra.iter().any(|(n, _)| n == name)
        }
        ConfigError::InvalidResource { resource, .. } => given.resources == [resource.clone()],
        ConfigError::ManagementApiViaCustomDomain { .. } => given
            .resources
            .iter()
            .any(|r| r.starts_with("https://") && r.ends_with(".logto.app/api")),
        ConfigError::InsecureHttp { .. } => !given.insecure,
        ConfigError::InvalidUrl { what, .. } => {
            matches!(*what, "endpoint" | "token endpoint")
        }
        ConfigError::EndpointWithOidcPath { endpoint, .. } => {
            *endpoint == given.endpoint && given.endpoint.trim_end_matches('/').contains("/oidc")
        }
        other => panic!("an unexpected error: {other:?}"),
    };
    assert!(justified, "the input does not justify {error:?}");
}

fn check_request(
    config: &ClientConfig,
    request: &TokenRequest,
    http: &Request<Vec<u8>>,
    given: &Given,
) {
    // Everything Logto would refuse was refused.
    assert!(!given.app_id.is_empty() && !given.secret.is_empty());
    assert!(
        given.resources.len() <= 1,
        "several resources were accepted"
    );
    assert!(
        !given.resources.is_empty() || given.organization.is_some() || given.default_resource,
        "neither resource nor organization was accepted"
    );
    assert_ne!(given.organization.as_deref(), Some(""));
    for resource in &given.resources {
        assert!(
            !resource.is_empty() && !resource.contains('#') && resource.trim() == resource,
            "the resource {resource:?} was accepted"
        );
    }
    for scope in &given.scopes {
        assert!(valid_scope(scope), "the scope {scope:?} was accepted");
    }
    for (name, _) in &given.extra {
        assert!(
            !RESERVED_PARAMETERS.contains(&name.as_str()),
            "the reserved parameter {name:?} was accepted"
        );
    }

    // Sent where configured.
    assert!(!config.endpoint().ends_with('/'));
    if given.token_endpoint.is_none() {
        assert_eq!(
            config.token_endpoint(),
            format!("{}/oidc/token", config.endpoint())
        );
    }
    assert_eq!(http.method(), Method::POST);
    assert_eq!(
        http.uri().to_string(),
        config.token_endpoint(),
        "the request goes elsewhere than the configured token endpoint"
    );
    let headers = http.headers();
    assert_eq!(
        headers.get(CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/x-www-form-urlencoded"[..])
    );
    assert_eq!(
        headers.get(ACCEPT).map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    assert_eq!(
        headers.get(USER_AGENT).map(|v| v.as_bytes()),
        Some(USER_AGENT_VALUE.as_bytes())
    );

    // The body holds exactly the parameters given.
    let mut expected = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
    if given.method == ClientAuthMethod::Post {
        expected.push(("client_id".to_owned(), given.app_id.clone()));
        expected.push(("client_secret".to_owned(), given.secret.clone()));
    }
    if let Some(resource) = given.resources.first() {
        expected.push(("resource".to_owned(), resource.clone()));
    }
    if let Some(organization) = &given.organization {
        expected.push(("organization_id".to_owned(), organization.clone()));
    }
    let scopes = given.deduped_scopes();
    if !scopes.is_empty() {
        expected.push(("scope".to_owned(), scopes.join(" ")));
    }
    expected.extend(given.extra.iter().cloned());
    assert_eq!(form_decode(http.body()), expected, "the body's parameters");

    // The credentials are where the method says, and decode back exactly.
    let authorization = headers.get_all(AUTHORIZATION).iter().collect::<Vec<_>>();
    match given.method {
        ClientAuthMethod::Basic => {
            let [value] = authorization.as_slice() else {
                panic!("{} Authorization headers", authorization.len());
            };
            assert!(value.is_sensitive(), "the Basic header is not sensitive");
            let text = value.to_str().unwrap_or_else(|e| panic!("{e}"));
            let Some(encoded) = text.strip_prefix("Basic ") else {
                panic!("not a Basic header");
            };
            let decoded = base64_decode(encoded);
            let Some(colon) = decoded.iter().position(|b| *b == b':') else {
                panic!("no ':' in the Basic credentials");
            };
            let (id, secret) = decoded.split_at(colon);
            assert_eq!(form_decode_component(id), given.app_id);
            assert_eq!(
                form_decode_component(secret.get(1..).unwrap_or_default()),
                given.secret
            );
        }
        _ => assert!(
            authorization.is_empty(),
            "an Authorization header with Post"
        ),
    }

    // The cache key does not depend on the order of the scopes.
    let mut reversed = given.scopes.clone();
    reversed.reverse();
    let (_, reordered) = given
        .build(&given.secret, &reversed)
        .unwrap_or_else(|e| panic!("reordered scopes were refused: {e}"));
    assert_eq!(reordered.key(), request.key());
}

/// The checks.
pub fn check(input: &RequestInput, _mode: Mode) {
    let given = Given::new(input);
    let built = given.build(&given.secret, &given.scopes);
    // The same with another secret (empty stays empty): only the credentials may differ.
    let other_secret = match given.secret.as_str() {
        "" => "",
        "another-secret" => "yet-another-secret",
        _ => "another-secret",
    };
    let other = given.build(other_secret, &given.scopes);
    match (&built, &other) {
        (Err(error), Err(other)) => {
            assert_eq!(error, other, "the secret's value changed the error");
            assert_eq!(error.to_string(), other.to_string());
            check_error(error, &given);
        }
        (Ok((config, request)), Ok((other_config, other_request))) => {
            let http = request.to_http();
            let other_http = other_request.to_http();
            assert_eq!(
                redacted(&http).to_string(),
                redacted(&other_http).to_string(),
                "the secret's value shows in the redacted request"
            );
            assert_eq!(format!("{request:?}"), format!("{other_request:?}"));
            assert_eq!(format!("{config:?}"), format!("{other_config:?}"));
            check_request(config, request, &http, &given);
        }
        _ => panic!("the secret's value changed whether the request builds: {built:?}"),
    }
}
