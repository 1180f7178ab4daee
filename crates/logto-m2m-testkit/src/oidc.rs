//! Logto's `/oidc/token` for the client-credentials grant: body parsing, client
//! authentication, grant checks and token issuance, without IO.

use std::collections::HashMap;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use crate::config::{App, Config, ORGANIZATION_TOKEN_TTL};
use crate::jwt::{Claims, Keys, random_jti};

/// The client authentication parameters (`oidc-provider`'s `authParams`).
const AUTH_PARAMS: [&str; 4] = [
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];
/// Grant types the provider knows; only `client_credentials` is allowed for M2M apps.
const KNOWN_GRANTS: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange",
];
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An OAuth error as `oidc-provider` raises it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OidcError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

impl OidcError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn client_auth_failed() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    }

    fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", description)
    }

    pub(crate) fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "oops! something went wrong",
        )
    }

    /// Logto's English `message` for the error.
    pub(crate) fn message(&self) -> String {
        match self.error {
            "invalid_target" => "Invalid resource indicator.".to_owned(),
            "invalid_request" => "Request is invalid.".to_owned(),
            "access_denied" => "Access denied.".to_owned(),
            "unsupported_grant_type" => "Unsupported `grant_type` requested.".to_owned(),
            "invalid_scope" => format!("Invalid scope: {}.", self.description),
            "invalid_grant" => "Grant request is invalid.".to_owned(),
            "server_error" => "An unknown OIDC error occurred. Please try again later.".to_owned(),
            other => format!("An OIDC error occurred: oidc.{other}."),
        }
    }

    /// The JSON body: Logto's envelope, or the raw OAuth error when `raw`
    /// (`?parse_error=false`).
    pub(crate) fn body(&self, raw: bool) -> String {
        #[derive(Serialize)]
        struct Envelope<'a> {
            code: String,
            message: String,
            error: &'a str,
            error_description: &'a str,
        }
        #[derive(Serialize)]
        struct Raw<'a> {
            error: &'a str,
            error_description: &'a str,
        }
        let json = if raw {
            serde_json::to_string(&Raw {
                error: self.error,
                error_description: &self.description,
            })
        } else {
            serde_json::to_string(&Envelope {
                code: format!("oidc.{}", self.error),
                message: self.message(),
                error: self.error,
                error_description: &self.description,
            })
        };
        json.unwrap_or_default()
    }
}

/// Request parameters in order, as decoded from the body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    fn count(&self, key: &str) -> usize {
        self.0.iter().filter(|(k, _)| k == key).count()
    }

    fn values(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of a parameter given once, treating an empty value as absent
    /// (`params[key] || undefined`). Callers reject duplicates first.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Rejects duplicated parameters among `keys` with `oidc-provider`'s message.
    fn reject_dupes(&self, keys: &[&str]) -> Result<(), OidcError> {
        let mut dupes: Vec<&str> = Vec::new();
        for (k, _) in &self.0 {
            if keys.contains(&k.as_str()) && self.count(k) > 1 && !dupes.contains(&k.as_str()) {
                dupes.push(k);
            }
        }
        if dupes.is_empty() {
            return Ok(());
        }
        let quoted: Vec<String> = dupes.iter().map(|d| format!("'{d}'")).collect();
        let list = match quoted.as_slice() {
            [one] => one.clone(),
            [a, b] => format!("{a} and {b}"),
            [init @ .., last] => format!("{}, and {last}", init.join(", ")),
            [] => String::new(),
        };
        let noun = if dupes.len() == 1 {
            "parameter"
        } else {
            "parameters"
        };
        Err(OidcError::invalid_request(format!(
            "{list} {noun} must not be provided twice"
        )))
    }
}

/// Decodes a token request body: `application/x-www-form-urlencoded` (any charset), or
/// `application/json` converted to parameters as Logto does. A body-less request without a
/// content type has no parameters.
pub(crate) fn parse_body(content_type: Option<&[u8]>, body: &[u8]) -> Result<Params, OidcError> {
    let unsupported = || {
        OidcError::invalid_request(
            "only application/x-www-form-urlencoded content-type bodies are supported on POST /token",
        )
    };
    let Some(content_type) = content_type else {
        return if body.is_empty() {
            Ok(Params::default())
        } else {
            Err(unsupported())
        };
    };
    let mime = String::from_utf8_lossy(content_type);
    let mime = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let params: Vec<(String, String)> = match mime.as_str() {
        "application/x-www-form-urlencoded" => form_urlencoded::parse(body).into_owned().collect(),
        "application/json" => json_params(body)?,
        _ => return Err(unsupported()),
    };
    if params
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(OidcError::invalid_request(
            "request parameters must not contain null bytes",
        ));
    }
    Ok(Params(params))
}

fn json_params(body: &[u8]) -> Result<Vec<(String, String)>, OidcError> {
    let invalid = || OidcError::invalid_request("invalid JSON request body");
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| invalid())?;
    let serde_json::Value::Object(map) = value else {
        return Err(invalid());
    };
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut out = Vec::new();
    for (k, v) in &map {
        if let serde_json::Value::Array(items) = v {
            out.extend(items.iter().filter_map(scalar).map(|s| (k.clone(), s)));
        } else if let Some(s) = scalar(v) {
            out.push((k.clone(), s));
        }
    }
    Ok(out)
}

/// Authenticates the client as `oidc-provider` v9 does for a `client_secret_basic` client
/// (which also accepts `client_secret_post`), with Logto's 400 for unknown clients.
pub(crate) fn authenticate<'c>(
    config: &'c Config,
    authorization: Option<&HeaderValue>,
    params: &Params,
) -> Result<&'c App, OidcError> {
    params.reject_dupes(&AUTH_PARAMS)?;

    let header = authorization.map(latin1);
    let mechanisms = [
        header.as_deref().is_some_and(|h| !h.is_empty()),
        params.get("client_assertion").is_some(),
        params.get("client_secret").is_some(),
    ];
    if mechanisms.iter().filter(|m| **m).count() > 1 {
        return Err(OidcError::invalid_request(
            "client authentication must only be provided using one mechanism",
        ));
    }

    let mut client_id: Option<String> = None;
    let mut set_client_id = |value: String| -> Result<(), OidcError> {
        if client_id.as_ref().is_some_and(|c| *c != value) {
            return Err(OidcError::invalid_request("client_id mismatch"));
        }
        client_id = Some(value);
        Ok(())
    };
    if let Some(id) = params.get("client_id") {
        set_client_id(id.to_owned())?;
    }

    let secret: Option<String>;
    if let Some(s) = params.get("client_secret") {
        secret = Some(s.to_owned());
    } else if let Some(header) = header {
        let (id, s) = parse_basic(&header)?;
        set_client_id(id)?;
        if s.is_empty() {
            return Err(OidcError::invalid_request(
                "client_secret must be provided in the Authorization header",
            ));
        }
        secret = Some(s);
    } else if let Some(assertion) = params.get("client_assertion") {
        let sub = assertion_subject(assertion)?;
        match params.get("client_assertion_type") {
            None => {
                return Err(OidcError::invalid_request(
                    "client_assertion_type must be provided",
                ));
            }
            Some(t) if t != ASSERTION_TYPE => {
                return Err(OidcError::invalid_request(format!(
                    "client_assertion_type must have value {ASSERTION_TYPE}"
                )));
            }
            Some(_) => {}
        }
        set_client_id(sub)?;
        // The app is registered for client_secret_basic, so a JWT assertion never matches.
        secret = None;
    } else {
        secret = None;
    }

    let Some(client_id) = client_id.filter(|c| !c.is_empty()) else {
        return Err(OidcError::invalid_request(
            "no client authentication mechanism provided",
        ));
    };
    let Some(app) = config.app(&client_id) else {
        return Err(OidcError::unknown_client(&client_id));
    };
    match secret {
        Some(s) if s == app.secret => Ok(app),
        _ => Err(OidcError::client_auth_failed()),
    }
}

impl OidcError {
    /// Logto's client adapter answers an unknown id with the generic (400) `InvalidClient`.
    fn unknown_client(id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            format!("invalid client {id}"),
        )
    }
}

/// A header value as Node reads it (one char per byte).
fn latin1(value: &HeaderValue) -> String {
    value.as_bytes().iter().map(|&b| char::from(b)).collect()
}

/// Splits a `Basic` header into the form-urldecoded client id and secret.
fn parse_basic(header: &str) -> Result<(String, String), OidcError> {
    let format = || OidcError::invalid_request("invalid authorization header value format");
    let parts: Vec<&str> = header.split(' ').collect();
    let [scheme, token] = parts.as_slice() else {
        return Err(format());
    };
    if !scheme.eq_ignore_ascii_case("basic") || !is_valid_base64(token) {
        return Err(format());
    }
    let lenient = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let decoded = lenient.decode(token).map_err(|_| format())?;
    let basic = String::from_utf8_lossy(&decoded);
    let Some((id, secret)) = basic.split_once(':') else {
        return Err(format());
    };
    let encoding = || {
        OidcError::invalid_request(
            "client_id and client_secret in the authorization header are not properly encoded",
        )
    };
    let id = decode_auth_token(id).ok_or_else(encoding)?;
    let secret = decode_auth_token(secret).ok_or_else(encoding)?;
    Ok((id, secret))
}

/// `oidc-provider`'s strict check: standard alphabet, non-empty, correct padding.
fn is_valid_base64(input: &str) -> bool {
    let data = input.trim_end_matches('=');
    let pad = input.len() - data.len();
    if data.is_empty()
        || pad > 2
        || !data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return false;
    }
    let remainder = data.len() % 4;
    if pad == 0 {
        remainder != 1
    } else {
        (data.len() + pad) % 4 == 0 && pad == 4 - remainder
    }
}

/// `decodeURIComponent(token.replace(/\+/g, '%20'))`, then only printable ASCII allowed.
fn decode_auth_token(token: &str) -> Option<String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    let decoded = String::from_utf8(out).ok()?;
    decoded
        .chars()
        .all(|c| (' '..='~').contains(&c))
        .then_some(decoded)
}

/// The `sub` of an unverified JWT client assertion.
fn assertion_subject(assertion: &str) -> Result<String, OidcError> {
    let format = || OidcError::invalid_request("invalid client_assertion format");
    let parts: Vec<&str> = assertion.split('.').collect();
    let [_, payload, _] = parts.as_slice() else {
        return Err(format());
    };
    let payload = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| format())?;
    let payload: serde_json::Value = serde_json::from_slice(&payload).map_err(|_| format())?;
    match payload.get("sub").and_then(serde_json::Value::as_str) {
        Some(sub) if !sub.is_empty() => Ok(sub.to_owned()),
        _ => Err(OidcError::client_auth_failed()),
    }
}

/// A token to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) audience: String,
    pub(crate) organization_claim: Option<String>,
    pub(crate) scope: String,
    /// Organization tokens always echo `scope`, even `""`.
    pub(crate) echo_empty_scope: bool,
    pub(crate) ttl: u64,
}

/// Lifetime overrides set by tests.
#[derive(Clone, Debug, Default)]
pub(crate) struct TtlOverrides {
    pub(crate) resources: HashMap<String, u64>,
    pub(crate) organization: Option<u64>,
}

/// The grant-type checks and Logto's client-credentials grant, for an authenticated app.
pub(crate) fn grant(
    config: &Config,
    app: &App,
    params: &Params,
    ttl: &TtlOverrides,
) -> Result<Grant, OidcError> {
    params.reject_dupes(&["grant_type"])?;
    let Some(grant_type) = params.get("grant_type") else {
        return Err(OidcError::invalid_request(
            "missing required parameter 'grant_type'",
        ));
    };
    if !KNOWN_GRANTS.contains(&grant_type) {
        return Err(OidcError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "unsupported grant_type requested",
        ));
    }
    if grant_type != "client_credentials" {
        return Err(OidcError::invalid_request(
            "requested grant type is not allowed for this client",
        ));
    }
    params.reject_dupes(&["scope", "organization_id"])?;

    let organization_id = params.get("organization_id");
    let membership = match organization_id {
        Some(org) => {
            let Some(m) = app.organizations.iter().find(|m| m.organization_id == org) else {
                return Err(OidcError::new(
                    StatusCode::FORBIDDEN,
                    "access_denied",
                    "app has not associated with the organization",
                ));
            };
            Some(m)
        }
        None => None,
    };

    let raw_resources = params.values("resource");
    let mut resources: Vec<&str> = match raw_resources.as_slice() {
        [] | [""] => Vec::new(),
        _ => raw_resources,
    };
    let scope_param = params.get("scope");
    let mut servers = Vec::new();
    if !(organization_id.is_some() && resources.is_empty()) {
        if resources.is_empty() {
            if let Some(default) = config.default_resource() {
                resources.push(default);
            }
        }
        if !(scope_param.is_some() && resources.is_empty()) {
            for identifier in &resources {
                let Ok(url) = url::Url::parse(identifier) else {
                    return Err(OidcError::invalid_target(
                        "resource indicator must be an absolute URI",
                    ));
                };
                if url.fragment().is_some() {
                    return Err(OidcError::invalid_target(
                        "resource indicator must not contain a fragment component",
                    ));
                }
                let Some(resource) = config.resource(identifier) else {
                    return Err(OidcError::invalid_target(
                        "resource indicator is missing, or unknown",
                    ));
                };
                servers.push(resource);
            }
        }
    }
    if organization_id.is_none() && servers.is_empty() {
        return Err(OidcError::invalid_target(
            "both `resource` and `organization_id` are not provided",
        ));
    }

    let mut requested: Vec<&str> = Vec::new();
    for s in scope_param.unwrap_or_default().split(' ') {
        if !requested.contains(&s) {
            requested.push(s);
        }
    }

    if let Some(resource) = servers.first() {
        if servers.len() != 1 {
            return Err(OidcError::invalid_target(
                "only a single resource indicator value is supported for this grant type",
            ));
        }
        let granted: &[String] = match membership {
            Some(m) => scopes_for(&m.resource_scopes, &resource.indicator),
            None => scopes_for(&app.grants, &resource.indicator),
        };
        let scope: Vec<&str> = requested
            .iter()
            .copied()
            .filter(|s| granted.iter().any(|g| g == s))
            .collect();
        return Ok(Grant {
            audience: resource.indicator.clone(),
            organization_claim: organization_id.map(str::to_owned),
            scope: scope.join(" "),
            echo_empty_scope: false,
            ttl: ttl
                .resources
                .get(&resource.indicator)
                .copied()
                .unwrap_or(resource.ttl_secs),
        });
    }

    let (Some(org), Some(m)) = (organization_id, membership) else {
        return Err(OidcError::server_error());
    };
    let scope: Vec<&str> = m
        .scopes
        .iter()
        .map(String::as_str)
        .filter(|s| requested.contains(s))
        .collect();
    Ok(Grant {
        audience: format!("urn:logto:organization:{org}"),
        organization_claim: None,
        scope: scope.join(" "),
        echo_empty_scope: true,
        ttl: ttl.organization.unwrap_or(ORGANIZATION_TOKEN_TTL),
    })
}

fn scopes_for<'a>(list: &'a [(String, Vec<String>)], resource: &str) -> &'a [String] {
    list.iter()
        .find(|(r, _)| r == resource)
        .map(|(_, s)| s.as_slice())
        .unwrap_or_default()
}

/// How a successful answer carries `expires_in` (faults change it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExpiresInShape {
    Number,
    String,
    Missing,
}

/// An issued token, ready to render.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) expires_in: u64,
    pub(crate) scope: Option<String>,
}

impl Issued {
    /// The success body: `{"access_token","expires_in","token_type","scope"?}`.
    pub(crate) fn body(&self, shape: ExpiresInShape) -> String {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum ExpiresIn {
            Number(u64),
            Text(String),
        }
        #[derive(Serialize)]
        struct Body<'a> {
            access_token: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            expires_in: Option<ExpiresIn>,
            token_type: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            scope: Option<&'a str>,
        }
        let expires_in = match shape {
            ExpiresInShape::Number => Some(ExpiresIn::Number(self.expires_in)),
            ExpiresInShape::String => Some(ExpiresIn::Text(self.expires_in.to_string())),
            ExpiresInShape::Missing => None,
        };
        serde_json::to_string(&Body {
            access_token: &self.access_token,
            expires_in,
            token_type: "Bearer",
            scope: self.scope.as_deref(),
        })
        .unwrap_or_default()
    }
}

/// Signs the token for a grant.
pub(crate) fn issue(
    keys: &Keys,
    issuer: &str,
    client_id: &str,
    grant: &Grant,
    now_secs: u64,
) -> Result<Issued, OidcError> {
    let jti = random_jti().map_err(|_| OidcError::server_error())?;
    let claims = Claims {
        organization_id: grant.organization_claim.as_deref(),
        jti: &jti,
        sub: client_id,
        iat: now_secs,
        exp: now_secs.saturating_add(grant.ttl),
        scope: Some(grant.scope.as_str()).filter(|s| !s.is_empty()),
        client_id,
        iss: issuer,
        aud: &grant.audience,
    };
    let access_token = keys.sign(&claims).map_err(|_| OidcError::server_error())?;
    let scope = if grant.scope.is_empty() && !grant.echo_empty_scope {
        None
    } else {
        Some(grant.scope.clone())
    };
    Ok(Issued {
        access_token,
        expires_in: grant.ttl,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_validation_follows_oidc_provider() {
        assert!(is_valid_base64("bTJtLWFwcDptMm0tc2VjcmV0"));
        assert!(is_valid_base64("YQ=="));
        assert!(is_valid_base64("YQ"));
        assert!(!is_valid_base64("YQ="));
        assert!(!is_valid_base64("Y"));
        assert!(!is_valid_base64(""));
        assert!(!is_valid_base64("===="));
        assert!(!is_valid_base64("YQ-_"));
    }

    #[test]
    fn auth_tokens_are_form_decoded() {
        assert_eq!(decode_auth_token("m2m%2Dapp").as_deref(), Some("m2m-app"));
        assert_eq!(decode_auth_token("a+b").as_deref(), Some("a b"));
        assert_eq!(decode_auth_token("%zz"), None);
        assert_eq!(decode_auth_token("%"), None);
        assert_eq!(decode_auth_token("%0A"), None);
        assert_eq!(decode_auth_token("%C3%A9"), None);
    }

    #[test]
    fn dupes_are_listed_like_oidc_provider() {
        let p = Params(vec![
            ("scope".into(), "a".into()),
            ("organization_id".into(), "b".into()),
            ("scope".into(), "c".into()),
            ("organization_id".into(), "d".into()),
        ]);
        let e = p.reject_dupes(&["scope", "organization_id"]).unwrap_err();
        assert_eq!(
            e.description,
            "'scope' and 'organization_id' parameters must not be provided twice"
        );
    }
}
