//! Verifying an access token the test server issued: signature against the served key set,
//! issuer, expiry and audience, as an API protected by Logto checks it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p384::ecdsa::signature::Verifier as _;
use serde_json::{Map, Value};

/// The claims of an access token that [`TestServer::verify_token`](crate::TestServer::verify_token)
/// accepted.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessTokenClaims {
    claims: Map<String, Value>,
}

impl fmt::Debug for AccessTokenClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenClaims")
            .field("sub", &self.subject())
            .field("aud", &self.audience())
            .field("scope", &self.scope())
            .field("organization_id", &self.organization_id())
            .field("exp", &self.expires_at())
            .finish_non_exhaustive()
    }
}

impl AccessTokenClaims {
    fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// `iss`.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.str("iss")
    }

    /// `sub`: the application id, for client-credentials tokens.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.str("sub")
    }

    /// `client_id`.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.str("client_id")
    }

    /// `aud`: the resource indicator (or `urn:logto:organization:<id>`).
    #[must_use]
    pub fn audience(&self) -> Option<&str> {
        self.str("aud")
    }

    /// `scope`, as written (space-separated), if present.
    #[must_use]
    pub fn scope(&self) -> Option<&str> {
        self.str("scope")
    }

    /// Whether `scope` holds `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope()
            .is_some_and(|all| all.split(' ').any(|s| s == scope))
    }

    /// `organization_id`, for organization + resource tokens.
    #[must_use]
    pub fn organization_id(&self) -> Option<&str> {
        self.str("organization_id")
    }

    /// `exp`, in seconds since the Unix epoch.
    #[must_use]
    pub fn expires_at(&self) -> Option<u64> {
        self.claims.get("exp").and_then(Value::as_u64)
    }

    /// `iat`, in seconds since the Unix epoch.
    #[must_use]
    pub fn issued_at(&self) -> Option<u64> {
        self.claims.get("iat").and_then(Value::as_u64)
    }

    /// Every claim.
    #[must_use]
    pub fn json(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// Why [`TestServer::verify_token`](crate::TestServer::verify_token) refused a token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenRejected {
    /// Not a compact JWS with a JSON header and claims.
    Malformed,
    /// The header names an algorithm or key that the served key set does not have.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `iss` is not the server's issuer.
    WrongIssuer,
    /// `aud` is not the expected audience.
    WrongAudience,
    /// `exp` is missing or past.
    Expired,
}

impl fmt::Display for TokenRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "the token is not a JWT",
            Self::UnknownKey => "the token's key is not in the key set",
            Self::BadSignature => "the token's signature does not verify",
            Self::WrongIssuer => "the token was issued by another issuer",
            Self::WrongAudience => "the token is for another audience",
            Self::Expired => "the token has expired",
        })
    }
}

impl std::error::Error for TokenRejected {}

/// Verifies `token` against `jwks` (the served JWK Set), `issuer`, `audience` and `now_secs`.
pub(crate) fn verify(
    token: &str,
    jwks: &str,
    issuer: &str,
    audience: &str,
    now_secs: u64,
) -> Result<AccessTokenClaims, TokenRejected> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejected::Malformed);
    };
    let decode_json = |part: &str| -> Result<Map<String, Value>, TokenRejected> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenRejected::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| TokenRejected::Malformed)
    };
    let header_json = decode_json(header)?;
    let claims = decode_json(payload)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenRejected::Malformed)?;

    let alg = header_json.get("alg").and_then(Value::as_str);
    let kid = header_json.get("kid").and_then(Value::as_str);
    let jwks: Value = serde_json::from_str(jwks).map_err(|_| TokenRejected::UnknownKey)?;
    let jwk = jwks
        .get("keys")
        .and_then(Value::as_array)
        .and_then(|keys| {
            keys.iter()
                .find(|k| kid.is_some() && k.get("kid").and_then(Value::as_str) == kid)
        })
        .ok_or(TokenRejected::UnknownKey)?;
    if alg.is_none() || jwk.get("alg").and_then(Value::as_str) != alg {
        return Err(TokenRejected::UnknownKey);
    }
    let signing_input_len = header.len() + 1 + payload.len();
    let signing_input = token
        .get(..signing_input_len)
        .ok_or(TokenRejected::Malformed)?;
    verify_signature(jwk, signing_input.as_bytes(), &signature)?;

    let claims = AccessTokenClaims { claims };
    if claims.issuer() != Some(issuer) {
        return Err(TokenRejected::WrongIssuer);
    }
    if claims.audience() != Some(audience) {
        return Err(TokenRejected::WrongAudience);
    }
    match claims.expires_at() {
        Some(exp) if exp > now_secs => Ok(claims),
        _ => Err(TokenRejected::Expired),
    }
}

/// Checks `signature` over `message` with the public key `jwk` (its `alg` already matched).
fn verify_signature(jwk: &Value, message: &[u8], signature: &[u8]) -> Result<(), TokenRejected> {
    let member = |name: &str| -> Result<Vec<u8>, TokenRejected> {
        let text = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or(TokenRejected::UnknownKey)?;
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| TokenRejected::UnknownKey)
    };
    match jwk.get("alg").and_then(Value::as_str) {
        Some("ES384") => {
            let (x, y) = (member("x")?, member("y")?);
            if x.len() != 48 || y.len() != 48 {
                return Err(TokenRejected::UnknownKey);
            }
            // SEC1 uncompressed point: 0x04, x, y.
            let point: Vec<u8> = [&[4_u8][..], &x, &y].concat();
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                .map_err(|_| TokenRejected::UnknownKey)?;
            let signature = p384::ecdsa::Signature::from_slice(signature)
                .map_err(|_| TokenRejected::BadSignature)?;
            key.verify(message, &signature)
                .map_err(|_| TokenRejected::BadSignature)
        }
        Some("ES256") => {
            let (x, y) = (member("x")?, member("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(TokenRejected::UnknownKey);
            }
            let point: Vec<u8> = [&[4_u8][..], &x, &y].concat();
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                .map_err(|_| TokenRejected::UnknownKey)?;
            let signature = p256::ecdsa::Signature::from_slice(signature)
                .map_err(|_| TokenRejected::BadSignature)?;
            key.verify(message, &signature)
                .map_err(|_| TokenRejected::BadSignature)
        }
        Some("RS256") => {
            let (n, e) = (member("n")?, member("e")?);
            let public = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
            )
            .map_err(|_| TokenRejected::UnknownKey)?;
            let key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
            let signature = rsa::pkcs1v15::Signature::try_from(signature)
                .map_err(|_| TokenRejected::BadSignature)?;
            key.verify(message, &signature)
                .map_err(|_| TokenRejected::BadSignature)
        }
        _ => Err(TokenRejected::UnknownKey),
    }
}
