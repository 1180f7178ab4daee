//! The token verification bench's setup, shared by `benches/verify.rs` (time) and
//! `benches/allocations.rs` (allocations): one ES384 access token as Logto issues it, its key
//! set, and the same checks done by `logto-m2m-verify` and by `jsonwebtoken` 10 (`rust_crypto`).
//!
//! The checks on both sides: the ES384 signature with the key named by `kid` (the algorithm
//! pinned to the key's), `typ` `at+jwt`, `iss` exactly `{endpoint}/oidc`, `aud` the resource,
//! `exp` and `nbf` with 60 s of leeway, `sub` present, and `scope` holding `read:items`; both
//! give the caller typed claims (subject, client id, audience, scopes, organization, expiry).
//! The key is cached on both sides: `Jwks` here, a `DecodingKey` built once there.

use std::time::{SystemTime, UNIX_EPOCH};

pub use logto_m2m_testkit::KeyKind;
use logto_m2m_testkit::TestKey;
use logto_m2m_verify::{Audience, Jwks, RequiredScopes, Validation, VerifiedToken, VerifyError};
use serde::Deserialize;

use crate::{APP_ID, ENDPOINT, RESOURCE};

/// The scope both sides require.
pub const REQUIRED_SCOPE: &str = "read:items";

/// Everything both verifiers need, built once.
#[allow(missing_debug_implementations)] // jsonwebtoken's DecodingKey has no Debug.
pub struct VerifySetup {
    /// The access token: ES384, `typ` at+jwt, Logto's claims, valid for an hour from now.
    pub token: String,
    /// Ours: the parsed key set.
    pub keys: Jwks,
    /// Ours: the checks.
    pub validation: Validation,
    /// Ours: the required scopes.
    pub required: RequiredScopes,
    /// jsonwebtoken's key, from the same JWK.
    pub jwt_key: jsonwebtoken::DecodingKey,
    /// jsonwebtoken's checks.
    pub jwt_validation: jsonwebtoken::Validation,
    /// The key's `kid`.
    pub kid: String,
}

/// The typed claims jsonwebtoken gives the caller: the same as [`VerifiedToken`]'s.
#[derive(Debug, Deserialize)]
pub struct JwtClaims {
    /// `sub`.
    pub sub: String,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `aud`.
    pub aud: String,
    /// `exp`.
    pub exp: u64,
    /// `iat`.
    pub iat: Option<u64>,
    /// `scope`.
    #[serde(default)]
    pub scope: String,
    /// `organization_id`.
    pub organization_id: Option<String>,
    /// `jti`.
    pub jti: Option<String>,
}

/// Builds an ES384 token (Logto's default), its key set and both sides' checks.
///
/// # Errors
///
/// A key could not be generated or read, or a configuration was refused.
pub fn setup() -> Result<VerifySetup, String> {
    setup_for(KeyKind::Es384)
}

/// The same for a key of `kind` (RS256: a tenant rotated to RSA).
///
/// # Errors
///
/// A key could not be generated or read, or a configuration was refused.
pub fn setup_for(kind: KeyKind) -> Result<VerifySetup, String> {
    let key = TestKey::generate(kind).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let issuer = format!("{ENDPOINT}/oidc");
    let claims = serde_json::json!({
        "jti": "rqFP9gDhVZu8pMSpPzP7DQ0Edl0ImvzFL3ezb7CNyWA",
        "sub": APP_ID,
        "iat": now,
        "exp": now + 3600,
        "scope": "read:items write:items",
        "client_id": APP_ID,
        "iss": issuer,
        "aud": RESOURCE,
    });
    let token = key.sign(&claims)?;
    let jwks_json = serde_json::json!({ "keys": [key.jwk()] }).to_string();
    let keys = Jwks::parse(jwks_json.as_bytes(), 64 * 1024, 16).map_err(|e| e.to_string())?;
    let validation = Validation::new(ENDPOINT, Audience::Resource(RESOURCE.to_owned()))
        .map_err(|e| e.to_string())?;

    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(key.jwk().clone()).map_err(|e| e.to_string())?;
    let jwt_key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let algorithm = match kind {
        KeyKind::Rs256 => jsonwebtoken::Algorithm::RS256,
        KeyKind::Es256 => jsonwebtoken::Algorithm::ES256,
        _ => jsonwebtoken::Algorithm::ES384,
    };
    let mut jwt_validation = jsonwebtoken::Validation::new(algorithm);
    jwt_validation.set_issuer(&[issuer]);
    jwt_validation.set_audience(&[RESOURCE]);
    jwt_validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jwt_validation.leeway = 60;
    jwt_validation.validate_nbf = true;
    Ok(VerifySetup {
        token,
        keys,
        validation,
        required: RequiredScopes::all([REQUIRED_SCOPE]),
        jwt_key,
        jwt_validation,
        kid: key.kid().to_owned(),
    })
}

/// Ours: `Validation::verify` with the cached key set, at the current wall-clock time.
///
/// # Errors
///
/// Why the token was refused.
pub fn ours(setup: &VerifySetup) -> Result<VerifiedToken, VerifyError> {
    setup.validation.verify(
        &setup.keys,
        &setup.token,
        &setup.required,
        SystemTime::now(),
    )
}

/// jsonwebtoken 10: the header read for its `kid`, the key looked up, `decode` (signature, `iss`,
/// `aud`, `exp`, `nbf`, required claims), then the checks it does not do: `typ` and the scope.
///
/// # Errors
///
/// Why the token was refused.
pub fn jsonwebtoken(setup: &VerifySetup) -> Result<JwtClaims, String> {
    let header = jsonwebtoken::decode_header(&setup.token).map_err(|e| e.to_string())?;
    if header.kid.as_deref() != Some(setup.kid.as_str()) {
        return Err("unknown key".to_owned());
    }
    let data =
        jsonwebtoken::decode::<JwtClaims>(&setup.token, &setup.jwt_key, &setup.jwt_validation)
            .map_err(|e| e.to_string())?;
    let typ_ok = data
        .header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"));
    if !typ_ok {
        return Err("not an access token".to_owned());
    }
    if !data.claims.scope.split(' ').any(|s| s == REQUIRED_SCOPE) {
        return Err("insufficient scope".to_owned());
    }
    Ok(data.claims)
}
