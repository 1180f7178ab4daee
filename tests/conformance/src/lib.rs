//! Shared pieces of the `logto-m2m` conformance suite.
//!
//! The suite (under `tests/`) runs every case through both token managers, the blocking one on
//! `logto-m2m-ureq` and the async one on `logto-m2m-hyper`, against the Logto-compatible
//! `oidc-provider` server of `tests/logto-server/`, over real HTTP, with real ES384 JWTs. Nothing is
//! mocked. This library holds what both halves share:
//!
//! - [`Server`]: the server named by `LOGTO_TEST_ENDPOINT` (loopback only), its request counters
//!   (`/__stats`), its key set (`/oidc/jwks`), and the client configurations of its apps. When the
//!   variable is not set, [`Server::from_env`] skips the test with a message on stderr, or fails it
//!   when `CI=true`.
//! - [`App`]: the apps configured in `tests/logto-server/config.json`, among them one app per
//!   transport and per counted case, so that cases running in parallel never share a counter.
//! - [`Jwt`] and [`Jwks`]: decoding an access token and checking its signature.
//! - [`Server::check_token`], [`expect_server_error`]: the checks of a token and of an error;
//!   every token checked is also verified as an API would ([`Server::verify`], with
//!   `logto-m2m-verify`).
//! - [`RefreshWatch`]: the observer of the real-time refresh case.
//!
//! Run the suite with the server up:
//!
//! ```sh
//! bash tests/logto-server/run-with-server.sh cargo test -p logto-m2m-conformance
//! ```
#![forbid(unsafe_code)]
// A test-support library: a failed check or an unusable server must stop the test, loudly.
#![allow(clippy::panic, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use logto_m2m::proto::http::Uri;
use logto_m2m::proto::{
    CachePolicy, ClientAuthMethod, ClientConfig, Error, ErrorCode, ErrorKind, ServerError, Token,
    TokenType, is_loopback_host,
};
use logto_m2m_verify::{Algorithm, Audience, BlockingVerifier, RequiredScopes, VerifiedToken};
use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::{Signature, VerifyingKey};
use serde_json::{Map, Value};

/// The environment variable that names the running test server: `http://127.0.0.1:<port>`.
pub const ENDPOINT_VAR: &str = "LOGTO_TEST_ENDPOINT";

/// The main API resource of the test server (TTL 1800 s; scopes `read:items write:items
/// delete:items`).
pub const API: &str = "https://api.example.com";
/// The lifetime of [`API`] tokens.
pub const API_TTL: Duration = Duration::from_secs(1800);
/// A resource whose tokens live 4 seconds, for the real-time refresh case.
pub const SHORT_LIVED: &str = "https://short.example.com";
/// The lifetime of [`SHORT_LIVED`] tokens.
pub const SHORT_LIVED_TTL: Duration = Duration::from_secs(4);
/// The lifetime of Management API tokens (`https://default.logto.app/api`).
pub const MANAGEMENT_API_TTL: Duration = Duration::from_secs(3600);
/// The lifetime of organization tokens (fixed by Logto).
pub const ORGANIZATION_TTL: Duration = Duration::from_secs(3600);
/// The organization `m2m-app` is associated with (organization scope `org:read`; with
/// `resource=https://api.example.com`, `read:items`).
pub const ORGANIZATION: &str = "org-1";
/// An organization no app is associated with.
pub const ORGANIZATION_NOT_ASSOCIATED: &str = "org-x";

/// How many callers the cold-cache case starts at once.
pub const HERD_SIZE: usize = 200;
/// How often the real-time refresh case polls its token source.
pub const POLL_EVERY: Duration = Duration::from_millis(20);
/// How long the real-time refresh case watches (about two token lifetimes).
pub const WATCH_FOR: Duration = Duration::from_secs(7);

/// The transport (and token manager) a case runs through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `logto-m2m-ureq`: the blocking manager.
    Ureq,
    /// `logto-m2m-hyper`: the async manager on tokio.
    Hyper,
}

impl Transport {
    /// `"ureq"` or `"hyper"`, as in the dedicated apps' ids.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ureq => "ureq",
            Self::Hyper => "hyper",
        }
    }
}

/// The cases that count the server's requests, each with its own app per transport
/// (`conformance-<transport>-<case>` in `config.json`), since the cases of one test binary run in
/// parallel and the counters are per client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counted {
    /// 200 callers on a cold cache: exactly one request.
    Herd,
    /// The 4-second resource: the refreshes.
    ShortLived,
    /// Parameters refused locally: no request at all.
    LocalRefusal,
    /// A wrong secret: one request per call, no retry.
    WrongSecret,
    /// An unknown resource: one request, no retry.
    UnknownResource,
    /// An organization the app is not associated with: one request, no retry.
    OrganizationDenied,
}

impl Counted {
    fn name(self) -> &'static str {
        match self {
            Self::Herd => "herd",
            Self::ShortLived => "short",
            Self::LocalRefusal => "local",
            Self::WrongSecret => "wrong-secret",
            Self::UnknownResource => "unknown-resource",
            Self::OrganizationDenied => "org-denied",
        }
    }
}

/// An app's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The app id (`client_id`).
    pub id: String,
    /// The app secret.
    pub secret: String,
}

impl App {
    /// `m2m-app`: `https://api.example.com` (`read:items write:items`), the Management API (`all`),
    /// `https://short.example.com` (`read:items`), and associated with `org-1`.
    #[must_use]
    pub fn m2m() -> Self {
        Self::new("m2m-app", "m2m-secret")
    }

    /// The app whose id and secret hold `: % + / space & = ? ~ " \`: they only work when encoded as
    /// RFC 6749 §2.3.1 asks. Granted `read:items` on `https://api.example.com`.
    #[must_use]
    pub fn weird() -> Self {
        Self::new("weird:app%+/ &=?~id", "s:e%c+r/e t&=?~\"\\secret")
    }

    /// The dedicated app of a counted case on one transport. Granted `read:items` on
    /// `https://api.example.com` (on `https://short.example.com` for [`Counted::ShortLived`]); the
    /// [`Counted::OrganizationDenied`] one is associated with `org-1` only.
    #[must_use]
    pub fn dedicated(transport: Transport, case: Counted) -> Self {
        let id = format!("conformance-{}-{}", transport.name(), case.name());
        let secret = format!("{id}-secret");
        Self { id, secret }
    }

    /// An app id the server does not know (never configured), unique to the transport.
    #[must_use]
    pub fn unknown(transport: Transport) -> Self {
        let id = format!("conformance-{}-unknown-app", transport.name());
        Self {
            secret: format!("{id}-secret"),
            id,
        }
    }

    /// The same id with another secret.
    #[must_use]
    pub fn with_secret(&self, secret: &str) -> Self {
        Self::new(&self.id, secret)
    }

    fn new(id: &str, secret: &str) -> Self {
        Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
        }
    }
}

/// What to do when [`ENDPOINT_VAR`] is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Outside CI: skip the test, with a message on stderr.
    Skip,
    /// In CI (`CI=true`): fail the test.
    Fail,
}

impl Missing {
    /// The decision for a value of the `CI` variable: `true` (any case) or `1` fail.
    #[must_use]
    pub fn for_ci(ci: Option<&str>) -> Self {
        match ci.map(str::trim) {
            Some(value) if value.eq_ignore_ascii_case("true") || value == "1" => Self::Fail,
            _ => Self::Skip,
        }
    }
}

/// The running test server.
#[derive(Debug, Clone)]
pub struct Server {
    endpoint: String,
    agent: ureq::Agent,
}

impl Server {
    /// The server named by [`ENDPOINT_VAR`].
    ///
    /// When it is not set, this prints `<test>: skipped: LOGTO_TEST_ENDPOINT is not set; run through
    /// tests/logto-server/run-with-server.sh` to stderr and returns `None`, or, when `CI=true`,
    /// fails the test with a message that says how to run it.
    ///
    /// # Panics
    ///
    /// When `CI=true` and the variable is not set, or when it does not name a plain-`http`
    /// loopback URL without a path (the suite talks to nothing else).
    #[must_use]
    pub fn from_env() -> Option<Self> {
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("conformance test");
        match std::env::var(ENDPOINT_VAR) {
            Ok(endpoint) if !endpoint.trim().is_empty() => Some(
                Self::new(&endpoint)
                    .unwrap_or_else(|reason| panic!("{ENDPOINT_VAR}={endpoint:?}: {reason}")),
            ),
            _ => match Missing::for_ci(std::env::var("CI").ok().as_deref()) {
                Missing::Fail => panic!(
                    "{test}: {ENDPOINT_VAR} is not set, and CI=true does not allow skipping the \
                     conformance suite: run it through the test server with \
                     `bash tests/logto-server/run-with-server.sh cargo test -p logto-m2m-conformance`"
                ),
                Missing::Skip => {
                    // Straight to the process's stderr: the test harness captures `eprintln!`
                    // of passing tests, and a skip must be seen.
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "{test}: skipped: {ENDPOINT_VAR} is not set; run through \
                         tests/logto-server/run-with-server.sh"
                    );
                    None
                }
            },
        }
    }

    /// The server at `endpoint`, which must be `http://<loopback host>[:port]` with no path, query
    /// or fragment.
    ///
    /// # Errors
    ///
    /// Why `endpoint` was refused.
    pub fn new(endpoint: &str) -> Result<Self, String> {
        let endpoint = endpoint.trim().trim_end_matches('/');
        let uri: Uri = endpoint.parse().map_err(|e| format!("not a URL ({e})"))?;
        if uri.scheme_str() != Some("http") {
            return Err("the test server is plain http".to_owned());
        }
        let host = uri.host().unwrap_or_default();
        if !is_loopback_host(host) {
            return Err(format!(
                "{host:?} is not a loopback host: the suite only talks to the local test server"
            ));
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err("the endpoint has no path (no /oidc)".to_owned());
        }
        let agent = ureq::Agent::config_builder()
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Ok(Self {
            endpoint: endpoint.to_owned(),
            agent,
        })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The issuer of the tokens: `{endpoint}/oidc`.
    #[must_use]
    pub fn issuer(&self) -> String {
        format!("{}/oidc", self.endpoint)
    }

    /// The configuration of `app` on this server, with Basic authentication.
    #[must_use]
    pub fn config(&self, app: &App) -> ClientConfig {
        self.config_with(app, ClientAuthMethod::Basic)
    }

    /// The configuration of `app` on this server, with the authentication `method`.
    #[must_use]
    pub fn config_with(&self, app: &App, method: ClientAuthMethod) -> ClientConfig {
        ClientConfig::builder(self.endpoint.as_str(), app.id.as_str(), app.secret.as_str())
            .auth_method(method)
            .build()
            .expect("a loopback endpoint and non-empty credentials are a valid configuration")
    }

    /// The server's request counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let stats = self.get_json("/__stats");
        let token_requests = stats
            .get("token_requests")
            .and_then(Value::as_u64)
            .expect("/__stats has a token_requests count");
        let by_client = stats
            .get("by_client")
            .and_then(Value::as_object)
            .expect("/__stats has a by_client object")
            .iter()
            .map(|(id, n)| (id.clone(), n.as_u64().unwrap_or_default()))
            .collect();
        Stats {
            token_requests,
            by_client,
        }
    }

    /// How many token requests the server has counted for `client_id` since it started.
    #[must_use]
    pub fn requests_by(&self, client_id: &str) -> u64 {
        self.stats().requests_by(client_id)
    }

    /// The server's signing keys.
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        let document = self.get_json("/oidc/jwks");
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .expect("/oidc/jwks has a keys array")
            .iter()
            .filter_map(|key| key.as_object().cloned())
            .collect();
        Jwks { keys }
    }

    /// Checks an issued token against what is expected of it and returns its decoded JWT: the
    /// response fields (`token_type`, lifetime, granted scopes, no parse warning), the JWT header
    /// (`alg` ES384, `typ` at+jwt), its signature against `/oidc/jwks`, and the claims `iss`
    /// (`{endpoint}/oidc`), `sub` and `client_id` (the app id), `aud`, `scope` (value or absence),
    /// `organization_id` (value or absence), `exp - iat` (the lifetime), `iat` (now, within two
    /// minutes) and `jti`.
    ///
    /// # Panics
    ///
    /// On the first difference, naming it.
    pub fn check_token(&self, token: &Token, expect: &Expect<'_>) -> Jwt {
        assert_eq!(token.token_type(), &TokenType::Bearer, "token_type");
        assert!(
            token.warnings().is_empty(),
            "the response was tolerated, not conforming: {:?}",
            token.warnings()
        );
        assert_eq!(token.lifetime(), expect.lifetime, "lifetime (expires_in)");
        assert_eq!(
            token.granted_scopes().to_wire(),
            expect.scope.unwrap_or(""),
            "granted scopes (response `scope`)"
        );

        let jwt = Jwt::decode(token.access_token().expose_secret())
            .unwrap_or_else(|e| panic!("the access token is not a JWT: {e}"));
        assert_eq!(jwt.header_str("alg"), Some("ES384"), "JWT alg");
        assert_eq!(jwt.header_str("typ"), Some("at+jwt"), "JWT typ");
        let jwks = self.jwks();
        jwt.verify(&jwks)
            .unwrap_or_else(|e| panic!("JWT signature: {e}"));
        // The same signature over other claims must not verify: the check above is not vacuous.
        let mut forged = jwt.clone();
        forged.signing_input.push('A');
        assert!(forged.verify(&jwks).is_err(), "a forged JWT verified");

        let issuer = self.issuer();
        assert_eq!(jwt.claim_str("iss"), Some(issuer.as_str()), "iss");
        assert_eq!(jwt.claim_str("sub"), Some(expect.app_id), "sub");
        assert_eq!(jwt.claim_str("client_id"), Some(expect.app_id), "client_id");
        assert_eq!(jwt.claim_str("aud"), Some(expect.audience), "aud");
        match expect.scope {
            Some(scope) if !scope.is_empty() => {
                assert_eq!(jwt.claim_str("scope"), Some(scope), "scope claim");
            }
            _ => assert!(
                !jwt.claims.contains_key("scope"),
                "no scope claim expected, found {:?}",
                jwt.claims.get("scope")
            ),
        }
        match expect.organization_id {
            Some(id) => assert_eq!(
                jwt.claim_str("organization_id"),
                Some(id),
                "organization_id"
            ),
            None => assert!(
                !jwt.claims.contains_key("organization_id"),
                "no organization_id claim expected"
            ),
        }
        let iat = jwt.claim_u64("iat").expect("iat claim");
        let exp = jwt.claim_u64("exp").expect("exp claim");
        assert_eq!(
            exp.checked_sub(iat),
            Some(expect.lifetime.as_secs()),
            "exp - iat"
        );
        let now = unix_now().as_secs();
        assert!(
            iat.abs_diff(now) <= 120,
            "iat {iat} is not now ({now}): the server's clock and ours differ"
        );
        assert!(
            jwt.claim_str("jti").is_some_and(|jti| !jti.is_empty()),
            "jti claim"
        );
        self.verify(token.access_token().expose_secret(), expect);
        jwt
    }

    /// Verifies `access_token` as an API would, with `logto-m2m-verify` (discovery, the key set,
    /// the signature with the key's algorithm, `typ`, `iss`, `aud` and the times), and checks the
    /// verified claims against `expect`: subject and client id, audience, the granted scopes
    /// exactly and as a requirement, and the organization. The audience required is
    /// `urn:logto:organization:<id>` for an organization token, else the resource, with an
    /// `organization_id` claim required when `expect` has one.
    ///
    /// # Panics
    ///
    /// When the token does not verify, or its verified claims differ from `expect`.
    pub fn verify(&self, access_token: &str, expect: &Expect<'_>) -> VerifiedToken {
        let audience = match (
            expect.audience.strip_prefix("urn:logto:organization:"),
            expect.organization_id,
        ) {
            (Some(id), _) => Audience::Organization(id.to_owned()),
            (None, Some(_)) => Audience::OrganizationResource(expect.audience.to_owned()),
            (None, None) => Audience::Resource(expect.audience.to_owned()),
        };
        let verifier = BlockingVerifier::new(
            logto_m2m_ureq::UreqTransport::new(),
            &self.endpoint,
            audience,
        )
        .expect("a loopback endpoint and a non-empty audience");
        let scopes: Vec<&str> = expect
            .scope
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        let verified = verifier
            .verify(access_token, &RequiredScopes::all(scopes.iter().copied()))
            .unwrap_or_else(|e| panic!("the token does not verify: {e:?}"));
        assert_eq!(verified.subject(), expect.app_id, "verified sub");
        assert_eq!(
            verified.client_id(),
            Some(expect.app_id),
            "verified client_id"
        );
        assert_eq!(verified.audience(), expect.audience, "verified aud");
        assert_eq!(verified.scopes(), scopes.as_slice(), "verified scopes");
        assert_eq!(verified.algorithm(), Algorithm::Es384, "verified algorithm");
        let organization = expect
            .organization_id
            .or_else(|| expect.audience.strip_prefix("urn:logto:organization:"));
        assert_eq!(
            verified.organization_id(),
            organization,
            "verified organization"
        );
        if let Some(id) = organization {
            verified
                .require_organization(id)
                .expect("the token is for its organization");
            assert!(verified.require_organization("another-org").is_err());
        }
        // A scope the token was not granted is refused with 403.
        let refused = verifier
            .verify(access_token, &RequiredScopes::all(["never:granted"]))
            .expect_err("an ungranted scope is refused");
        assert_eq!(refused.status().as_u16(), 403, "{refused:?}");
        verified
    }

    fn get_json(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.endpoint);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status();
        let body = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
        assert!(status.is_success(), "GET {url}: {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
    }
}

/// The server's request counters (`GET /__stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Every `POST /oidc/token` since the server started (or was reset).
    pub token_requests: u64,
    /// The same, per client id (the authenticated one, else the one the request claimed).
    pub by_client: BTreeMap<String, u64>,
}

impl Stats {
    /// The count of `client_id` (0 if the server has not seen it).
    #[must_use]
    pub fn requests_by(&self, client_id: &str) -> u64 {
        self.by_client.get(client_id).copied().unwrap_or_default()
    }
}

/// What a token must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect<'a> {
    /// `sub` and `client_id`.
    pub app_id: &'a str,
    /// `aud`: the resource indicator, or `urn:logto:organization:<id>`.
    pub audience: &'a str,
    /// The granted scopes as the response and the `scope` claim carry them; `None` (or `""`) for
    /// none, which means no `scope` claim.
    pub scope: Option<&'a str>,
    /// The `organization_id` claim, if any.
    pub organization_id: Option<&'a str>,
    /// `expires_in`, and `exp - iat`.
    pub lifetime: Duration,
}

impl<'a> Expect<'a> {
    /// A token for `app_id` with audience `audience`, no scope, no organization.
    #[must_use]
    pub fn new(app_id: &'a str, audience: &'a str, lifetime: Duration) -> Self {
        Self {
            app_id,
            audience,
            scope: None,
            organization_id: None,
            lifetime,
        }
    }

    /// With these granted scopes (space-separated, in request order).
    #[must_use]
    pub fn scope(self, scope: &'a str) -> Self {
        Self {
            scope: Some(scope),
            ..self
        }
    }

    /// With an `organization_id` claim.
    #[must_use]
    pub fn organization_id(self, organization_id: &'a str) -> Self {
        Self {
            organization_id: Some(organization_id),
            ..self
        }
    }
}

/// The audience of an organization token: `urn:logto:organization:<id>`.
#[must_use]
pub fn organization_audience(organization_id: &str) -> String {
    format!("urn:logto:organization:{organization_id}")
}

/// Checks that `error` is the server's answer `status` with the OAuth `code` (inside Logto's
/// envelope, `code` `oidc.<code>`), classified as `kind`, and returns it.
///
/// # Panics
///
/// On the first difference, naming it.
pub fn expect_server_error<'e>(
    error: &'e Error,
    status: u16,
    code: &ErrorCode,
    kind: ErrorKind,
) -> &'e ServerError {
    let Error::Server(server) = error else {
        panic!("expected the server's {status} {code:?}, got {error:?}");
    };
    assert_eq!(server.status().as_u16(), status, "status of {error}");
    let oauth = server
        .oauth()
        .unwrap_or_else(|| panic!("no OAuth error body in {error}"));
    assert_eq!(&oauth.code, code, "OAuth error code");
    let logto_code = format!("oidc.{}", code.as_str());
    assert_eq!(
        server.logto_code(),
        Some(logto_code.as_str()),
        "Logto error code"
    );
    assert_eq!(error.kind(), kind, "error kind of {error}");
    assert_eq!(server.kind(), kind, "server error kind");
    assert!(!error.is_retryable(), "a rejection is not retryable");
    server
}

/// A decoded JWT (compact JWS).
#[derive(Debug, Clone)]
pub struct Jwt {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    /// Decodes `token`'s three base64url parts; the signature is checked by [`verify`](Self::verify).
    ///
    /// # Errors
    ///
    /// What is malformed.
    pub fn decode(token: &str) -> Result<Self, String> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("a JWS has three dot-separated parts".to_owned());
        };
        let json_object = |what: &str, part: &str| -> Result<Map<String, Value>, String> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|e| format!("{what}: not base64url ({e})"))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(format!("{what}: not a JSON object")),
                Err(e) => Err(format!("{what}: not JSON ({e})")),
            }
        };
        Ok(Self {
            header: json_object("header", header)?,
            claims: json_object("claims", claims)?,
            signing_input: format!("{header}.{claims}"),
            signature: URL_SAFE_NO_PAD
                .decode(signature)
                .map_err(|e| format!("signature: not base64url ({e})"))?,
        })
    }

    /// A string header parameter.
    #[must_use]
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A string claim.
    #[must_use]
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A whole-number claim.
    #[must_use]
    pub fn claim_u64(&self, name: &str) -> Option<u64> {
        self.claims.get(name).and_then(Value::as_u64)
    }

    /// Checks the ES384 signature with the key of `jwks` whose `kid` is the header's.
    ///
    /// # Errors
    ///
    /// Why the signature is not valid.
    pub fn verify(&self, jwks: &Jwks) -> Result<(), String> {
        if self.header_str("alg") != Some("ES384") {
            return Err(format!(
                "alg {:?}: only ES384 is checked",
                self.header.get("alg")
            ));
        }
        let kid = self.header_str("kid").ok_or("the header has no kid")?;
        let key = jwks
            .key(kid)
            .ok_or_else(|| format!("no key {kid:?} in the key set"))?;
        let member = |name: &str| key.get(name).and_then(Value::as_str);
        if member("kty") != Some("EC") || member("crv") != Some("P-384") {
            return Err(format!("key {kid:?} is not an EC P-384 key"));
        }
        if member("alg").is_some_and(|alg| alg != "ES384") {
            return Err(format!("key {kid:?} is not for ES384"));
        }
        let coordinate = |name: &str| -> Result<Vec<u8>, String> {
            let value = member(name).ok_or_else(|| format!("key {kid:?} has no {name}"))?;
            let bytes = URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|e| format!("key {kid:?}: {name} is not base64url ({e})"))?;
            if bytes.len() == 48 {
                Ok(bytes)
            } else {
                Err(format!("key {kid:?}: {name} is not 48 bytes"))
            }
        };
        let mut sec1 = vec![0x04];
        sec1.extend(coordinate("x")?);
        sec1.extend(coordinate("y")?);
        let key = VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(|_| format!("key {kid:?} is not a point of P-384"))?;
        let signature = Signature::from_slice(&self.signature)
            .map_err(|_| "the signature is not 96 bytes of r || s".to_owned())?;
        key.verify(self.signing_input.as_bytes(), &signature)
            .map_err(|_| format!("the signature does not verify with key {kid:?}"))
    }
}

/// A JWK Set (`/oidc/jwks`).
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Map<String, Value>>,
}

impl Jwks {
    /// The key with this `kid`.
    #[must_use]
    pub fn key(&self, kid: &str) -> Option<&Map<String, Value>> {
        self.keys
            .iter()
            .find(|key| key.get("kid").and_then(Value::as_str) == Some(kid))
    }
}

/// The wall-clock time since the Unix epoch.
#[must_use]
pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// One token the refresh case was handed.
#[derive(Debug)]
struct Seen {
    token: Arc<Token>,
    /// The JWT `exp`, in Unix seconds.
    exp: u64,
    first_seen: Instant,
}

/// Watches a token source being polled in real time: every token handed out must be unexpired
/// (both by the client's `expires_at` and by the JWT's `exp` on the wall clock), tokens must only
/// move forward, and each new token must have been requested before the previous one stopped being
/// usable (`expires_at` minus the expiry margin): the refresh happened ahead, not after expiry.
#[derive(Debug)]
pub struct RefreshWatch {
    policy: CachePolicy,
    started: Instant,
    seen: Vec<Seen>,
    polls: u64,
    slowest_call: Duration,
}

impl Default for RefreshWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RefreshWatch {
    /// Starts watching, for managers on the default [`CachePolicy`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            policy: CachePolicy::default(),
            started: Instant::now(),
            seen: Vec::new(),
            polls: 0,
            slowest_call: Duration::ZERO,
        }
    }

    /// Whether the watch has lasted [`WATCH_FOR`].
    #[must_use]
    pub fn is_over(&self) -> bool {
        self.started.elapsed() >= WATCH_FOR
    }

    /// Records the token a call that started at `call_started` returned, and checks it.
    ///
    /// # Panics
    ///
    /// When the token is expired, or is an older token than one already handed out.
    pub fn observe(&mut self, token: Arc<Token>, call_started: Instant) {
        let now = Instant::now();
        let wall_now = unix_now();
        self.polls += 1;
        self.slowest_call = self.slowest_call.max(now.duration_since(call_started));
        assert!(
            now < token.expires_at(),
            "poll {}: an expired token was handed out ({:?} past its expires_at)",
            self.polls,
            now.duration_since(token.expires_at())
        );
        let value = token.access_token().expose_secret();
        let is_last = self
            .seen
            .last()
            .is_some_and(|last| last.token.access_token().expose_secret() == value);
        if !is_last {
            assert!(
                self.seen
                    .iter()
                    .all(|seen| seen.token.access_token().expose_secret() != value),
                "poll {}: an older token came back",
                self.polls
            );
            let exp = Jwt::decode(value)
                .ok()
                .and_then(|jwt| jwt.claim_u64("exp"))
                .expect("the token is a JWT with an exp claim");
            self.seen.push(Seen {
                token,
                exp,
                first_seen: now,
            });
        }
        let exp = self.seen.last().map(|seen| seen.exp).unwrap_or_default();
        assert!(
            wall_now < Duration::from_secs(exp),
            "poll {}: a token past its JWT exp ({exp}) was handed out at {:?}",
            self.polls,
            wall_now
        );
    }

    /// Checks the whole watch and reports it.
    ///
    /// # Panics
    ///
    /// When fewer than two refreshes were seen, or a refresh was requested only after the previous
    /// token had stopped being usable.
    #[must_use]
    pub fn finish(&self) -> RefreshReport {
        for pair in self.seen.windows(2) {
            let [previous, next] = pair else { continue };
            let usable_until = self.policy.usable_until(&previous.token);
            assert!(
                next.token.sent_at() < usable_until,
                "a refresh was requested {:?} after the previous token stopped being usable",
                next.token.sent_at().duration_since(usable_until)
            );
            assert!(
                next.first_seen < previous.token.expires_at(),
                "a new token first came after the previous one had expired"
            );
        }
        let report = RefreshReport {
            tokens: self.seen.len(),
            polls: self.polls,
            watched: self.started.elapsed(),
            slowest_call: self.slowest_call,
        };
        assert!(
            report.refreshes() >= 2,
            "at least two refreshes expected in {:?} of 4-second tokens: {report:?}",
            report.watched
        );
        report
    }
}

/// What a [`RefreshWatch`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshReport {
    /// Distinct tokens handed out.
    pub tokens: usize,
    /// Calls made.
    pub polls: u64,
    /// How long the watch lasted.
    pub watched: Duration,
    /// The longest a call took after the first (which fetched) or including it.
    pub slowest_call: Duration,
}

impl RefreshReport {
    /// Tokens after the first.
    #[must_use]
    pub fn refreshes(&self) -> usize {
        self.tokens.saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_decides_between_skip_and_fail() {
        assert_eq!(Missing::for_ci(None), Missing::Skip);
        assert_eq!(Missing::for_ci(Some("")), Missing::Skip);
        assert_eq!(Missing::for_ci(Some("false")), Missing::Skip);
        assert_eq!(Missing::for_ci(Some("true")), Missing::Fail);
        assert_eq!(Missing::for_ci(Some("TRUE")), Missing::Fail);
        assert_eq!(Missing::for_ci(Some("1")), Missing::Fail);
    }

    #[test]
    fn only_loopback_http_endpoints_are_accepted() {
        for ok in [
            "http://127.0.0.1:3001",
            "http://127.0.0.1:3001/",
            "http://localhost:8080",
        ] {
            assert!(Server::new(ok).is_ok(), "{ok}");
        }
        for refused in [
            "https://127.0.0.1:3001",
            "http://example.com:3001",
            "http://10.0.0.1",
            "http://127.0.0.1:3001/oidc",
            "127.0.0.1:3001",
        ] {
            assert!(Server::new(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn jwt_parts_are_decoded() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES384","typ":"at+jwt","kid":"k"}"#);
        let claims = URL_SAFE_NO_PAD.encode(br#"{"jti":"j","sub":"app","iat":1,"exp":5}"#);
        let signature = URL_SAFE_NO_PAD.encode([7u8; 96]);
        let jwt = Jwt::decode(&format!("{header}.{claims}.{signature}")).unwrap();
        assert_eq!(jwt.header_str("typ"), Some("at+jwt"));
        assert_eq!(jwt.claim_str("sub"), Some("app"));
        assert_eq!(jwt.claim_u64("exp"), Some(5));
        assert!(
            jwt.verify(&Jwks::default())
                .unwrap_err()
                .contains("no key \"k\"")
        );
        assert!(Jwt::decode("a.b").is_err());
        assert!(Jwt::decode(&format!("{header}.{claims}.{signature}.x")).is_err());
    }
}
