//! The ES384 signing key, its JWK and JWT access tokens.

use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p384::ecdsa::SigningKey;
use p384::ecdsa::signature::Signer as _;
use rand_core::{OsRng, RngCore as _};
use serde::Serialize;
use sha2::Digest as _;

/// The server's signing key and its public JWK.
pub(crate) struct Keys {
    signing: SigningKey,
    kid: String,
    x: String,
    y: String,
}

/// Access token claims, in the order Logto writes them.
#[derive(Serialize)]
pub(crate) struct Claims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) organization_id: Option<&'a str>,
    pub(crate) jti: &'a str,
    pub(crate) sub: &'a str,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<&'a str>,
    pub(crate) client_id: &'a str,
    pub(crate) iss: &'a str,
    pub(crate) aud: &'a str,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

#[derive(Serialize)]
struct Jwk<'a> {
    kty: &'static str,
    #[serde(rename = "use")]
    use_: &'static str,
    kid: &'a str,
    alg: &'static str,
    crv: &'static str,
    x: &'a str,
    y: &'a str,
}

#[derive(Serialize)]
struct Jwks<'a> {
    keys: [Jwk<'a>; 1],
}

impl Keys {
    /// A fresh P-384 key from the operating system's random source.
    pub(crate) fn generate() -> io::Result<Self> {
        let signing = random_signing_key()?;
        let point = signing.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(io::Error::other(
                "P-384 public key has no affine coordinates",
            ));
        };
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        // RFC 7638: the required members in lexicographic order, no whitespace, SHA-256.
        let canonical = format!(r#"{{"crv":"P-384","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()));
        Ok(Self { signing, kid, x, y })
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK Set document served at `/oidc/jwks`.
    pub(crate) fn jwks_json(&self) -> String {
        let jwks = Jwks {
            keys: [Jwk {
                kty: "EC",
                use_: "sig",
                kid: &self.kid,
                alg: "ES384",
                crv: "P-384",
                x: &self.x,
                y: &self.y,
            }],
        };
        serde_json::to_string(&jwks).unwrap_or_default()
    }

    /// A compact JWS (`alg` ES384, `typ` at+jwt) over the claims.
    pub(crate) fn sign(&self, claims: &Claims<'_>) -> Result<String, String> {
        let header = Header {
            alg: "ES384",
            typ: "at+jwt",
            kid: &self.kid,
        };
        let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let claims = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let signature: p384::ecdsa::Signature = self
            .signing
            .try_sign(token.as_bytes())
            .map_err(|e| e.to_string())?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        Ok(token)
    }
}

/// A random P-384 secret scalar. A draw of 48 bytes is a valid scalar unless it is zero or not
/// below the group order, which is astronomically unlikely; draw again then.
fn random_signing_key() -> io::Result<SigningKey> {
    let mut last_error = None;
    for _ in 0..16 {
        let mut bytes = [0u8; 48];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| io::Error::other(format!("no randomness for a P-384 key: {e}")))?;
        match SigningKey::from_slice(&bytes) {
            Ok(key) => return Ok(key),
            Err(e) => last_error = Some(e),
        }
    }
    Err(io::Error::other(format!(
        "cannot generate a P-384 key: {last_error:?}"
    )))
}

/// A random token id of 43 base64url characters, like Logto's.
pub(crate) fn random_jti() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
