//! A validated token request: builds the `http::Request` for each attempt and parses its answer.

use std::fmt;
use std::time::{Instant, SystemTime};

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use zeroize::Zeroizing;

use crate::basic_auth::basic_authorization;
use crate::config::{ClientAuthMethod, ClientConfig};
use crate::error::{ConfigError, Error, TransportError};
use crate::key::TokenKey;
use crate::params::TokenParams;
use crate::response::parse_token_response;
use crate::scrub::Scrubber;
use crate::sensitive_header::sensitive_header_value;
use crate::token::Token;

/// The `User-Agent` sent with every request: this crate's name and version.
pub const USER_AGENT_VALUE: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// A client-credentials token request, checked once and then sent as often as needed.
///
/// Everything Logto would refuse about the parameters is refused here, before anything is sent.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    config: ClientConfig,
    params: TokenParams,
    key: TokenKey,
    encoded: Encoded,
}

/// What every attempt sends, encoded once: the form body and the headers, the `Authorization:
/// Basic` value among them. Both may hold the app secret: the body is zeroized on drop, the Basic
/// value when its last clone is dropped (each attempt's request shares it), and `Debug` shows
/// neither (nor their lengths, which would tell the secret's).
#[derive(Clone)]
struct Encoded {
    body: Zeroizing<Vec<u8>>,
    /// The `scope` value sent (empty when no scope is asked for).
    scope: String,
    headers: HeaderMap,
}

impl Encoded {
    fn new(config: &ClientConfig, params: &TokenParams) -> Self {
        let scope = params.scopes.to_wire();
        let mut pairs: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if config.auth_method() == ClientAuthMethod::Post {
            pairs.push(("client_id", config.app_id()));
            pairs.push(("client_secret", config.app_secret().expose_secret()));
        }
        if let Some(resource) = params.resource_indicator() {
            pairs.push(("resource", resource));
        }
        if let Some(organization_id) = params.organization_id() {
            pairs.push(("organization_id", organization_id));
        }
        if !scope.is_empty() {
            pairs.push(("scope", &scope));
        }
        for (name, value) in &params.extra {
            pairs.push((name, value));
        }
        let body = form_body(&pairs);
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if config.auth_method() == ClientAuthMethod::Basic {
            // "Basic " and base64 are visible ASCII: always a valid header value.
            let basic = basic_authorization(config.app_id(), config.app_secret());
            if let Some(value) = sensitive_header_value(basic) {
                headers.insert(AUTHORIZATION, value);
            }
        }
        Self {
            body,
            scope,
            headers,
        }
    }
}

/// The form body of `pairs`, written into one buffer sized for the worst case up front: growing
/// it would free copies of the secret (with `client_secret_post`) that nothing zeroizes.
fn form_body(pairs: &[(&str, &str)]) -> Zeroizing<Vec<u8>> {
    let capacity = form_body_bound(pairs);
    let mut form = form_urlencoded::Serializer::new(String::with_capacity(capacity));
    for (name, value) in pairs {
        form.append_pair(name, value);
    }
    Zeroizing::new(form.finish().into_bytes())
}

/// The longest form body `pairs` can encode to: each byte takes at most three (`%XX`), plus an `=`
/// and an `&` per pair.
fn form_body_bound(pairs: &[(&str, &str)]) -> usize {
    pairs.iter().fold(0, |total: usize, (name, value)| {
        total.saturating_add(
            name.len()
                .saturating_add(value.len())
                .saturating_mul(3)
                .saturating_add(2),
        )
    })
}

impl fmt::Debug for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Encoded([redacted])")
    }
}

impl TokenRequest {
    /// Checks `params` against `config` and Logto's rules.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for several resources, neither resource nor organization (unless allowed),
    /// a resource that is not an absolute URI or has a fragment, an empty organization id, an
    /// invalid scope, a reserved extra parameter, or a Logto Cloud Management API resource asked
    /// for through another host than `{tenant}.logto.app`.
    pub fn new(config: &ClientConfig, params: TokenParams) -> Result<Self, ConfigError> {
        params.validate()?;
        if let Some(resource) = params.resource_indicator() {
            check_cloud_management_api_host(config, resource)?;
        }
        let key = TokenKey::new(
            config,
            params.resource_indicator(),
            params.organization_id(),
            params.scopes.sorted(),
            &params.extra,
        );
        Ok(Self {
            config: config.clone(),
            encoded: Encoded::new(config, &params),
            params,
            key,
        })
    }

    /// The cache key of the token this request asks for.
    #[must_use]
    pub fn key(&self) -> &TokenKey {
        &self.key
    }

    /// The configuration this request uses.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The parameters of this request.
    pub fn params(&self) -> &TokenParams {
        &self.params
    }

    /// The `scope` value this request sends: the requested scopes in order, joined by single spaces.
    pub(crate) fn scope_sent(&self) -> &str {
        &self.encoded.scope
    }

    /// Builds the HTTP request: `POST {token endpoint}` with a form body
    /// `grant_type=client_credentials&...`, and the client authentication chosen in the configuration.
    ///
    /// The `Authorization` header is marked sensitive and shares this request's zeroizing buffer.
    /// With [`ClientAuthMethod::Post`] the body holds the secret: do not log it (see
    /// [`redacted`](crate::redacted)), and zeroize it once sent (the body is an exact-size copy,
    /// so `zeroize::Zeroize::zeroize(&mut body)` clears every byte of it); the ready-made
    /// transports do.
    #[must_use]
    pub fn to_http(&self) -> Request<Vec<u8>> {
        let mut request = Request::new(self.encoded.body.to_vec());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.config.token_endpoint_uri().clone();
        *request.headers_mut() = self.encoded.headers.clone();
        request
    }

    /// Parses the token endpoint's answer to this request.
    ///
    /// `sent_at` is when the request was sent: the token's expiry counts from then, so network time
    /// never makes a token look fresher than it is. `wall_now` is the current wall-clock time: it
    /// turns a `Retry-After` HTTP-date into a delay when the answer has no `Date` header, and the
    /// token's wall-clock expiry ([`Token::expires_at_wall`]) counts from it. (The
    /// [`TokenCache`](crate::TokenCache) counts that one from the wall-clock time at send, which
    /// its ticket records.)
    ///
    /// # Errors
    ///
    /// [`Error::Server`] for an error answer, [`Error::InvalidResponse`] for an unusable one.
    pub fn parse_response<B: AsRef<[u8]>>(
        &self,
        response: &Response<B>,
        sent_at: Instant,
        wall_now: SystemTime,
    ) -> Result<Token, Error> {
        parse_token_response(self, response, sent_at, wall_now, wall_now)
    }

    /// `error` with the app secret, in any form it takes on the wire, redacted from everything it
    /// prints: a transport's error may quote what a server sent back (a redirect's `Location`, an
    /// echoed header). [`TokenCache::handle_transport_error`](crate::TokenCache::handle_transport_error)
    /// does this already; a driver of its own that reports transport errors elsewhere does it too.
    #[must_use]
    pub fn scrub_transport_error(&self, error: TransportError) -> TransportError {
        let scrubber = self.scrubber();
        error.scrubbed(|text| scrubber.scrub(text))
    }

    /// `text` with the app secret, in any form it takes on the wire, redacted: for text that a
    /// server sent back in another answer than a token response (a Management API error message,
    /// say) before it goes into an error or a log.
    #[must_use]
    pub fn scrub_text(&self, text: &str) -> String {
        self.scrubber().scrub(text)
    }

    /// The scrubber of this request's credentials: built only on an error path, never on the
    /// success path.
    pub(crate) fn scrubber(&self) -> Scrubber {
        Scrubber::new(
            self.config.app_id(),
            self.config.app_secret().expose_secret(),
        )
    }
}

/// Logto Cloud issues Management API tokens (`https://{tenant}.logto.app/api`) only from
/// `{tenant}.logto.app`; a token minted on a custom domain carries an issuer that the Management
/// API does not accept. Self-hosted Logto's `https://default.logto.app/api` works from any host.
fn check_cloud_management_api_host(
    config: &ClientConfig,
    resource: &str,
) -> Result<(), ConfigError> {
    let Some(tenant) = resource
        .strip_prefix("https://")
        .and_then(|rest| rest.strip_suffix(".logto.app/api"))
    else {
        return Ok(());
    };
    if tenant == "default" || tenant.contains(['/', '.']) {
        return Ok(());
    }
    let expected_host = format!("{tenant}.logto.app");
    if config.endpoint_host().eq_ignore_ascii_case(&expected_host) {
        Ok(())
    } else {
        Err(ConfigError::ManagementApiViaCustomDomain {
            host: config.endpoint_host().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_attempt_gets_an_exact_copy_of_the_body_with_no_spare_capacity() {
        let config = ClientConfig::builder("https://tenant.logto.app", "app-id", "s3cr3t/+")
            .auth_method(ClientAuthMethod::Post)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let request = TokenRequest::new(&config, TokenParams::for_resource("https://api.example"))
            .unwrap_or_else(|e| panic!("{e}"));
        let body = request.to_http().into_body();
        // Whoever zeroizes the body clears every byte the secret was copied into.
        assert_eq!(body.capacity(), body.len());
        assert_eq!(body.as_slice(), request.encoded.body.as_slice());
    }

    #[test]
    fn the_form_body_is_written_without_ever_growing_its_buffer() {
        // Every byte of this secret needs percent-encoding: the longest body it can make.
        let secret = "é ü/+&=%\u{1F511}".repeat(40);
        let pairs = [
            ("grant_type", "client_credentials"),
            ("client_id", "app-id"),
            ("client_secret", secret.as_str()),
            ("scope", "read:all write:all"),
        ];
        let body = form_body(&pairs);
        // Growing would have moved the buffer to a larger one, freeing the old copy unzeroized.
        assert_eq!(body.capacity(), form_body_bound(&pairs));
        let expected = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        assert_eq!(body.as_slice(), expected.as_bytes());
    }
}
