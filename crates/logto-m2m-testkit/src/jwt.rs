//! Signing keys (ES384 as Logto's default, ES256, RS256 for tenants rotated to RSA), the key
//! ring that a rotation changes, and JWT access tokens.

use std::fmt;
use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p384::ecdsa::signature::{SignatureEncoding as _, Signer as _};
use rand_core::{OsRng, RngCore as _};
use rsa::traits::PublicKeyParts as _;
use serde::Serialize;
use serde_json::Value;
use sha2::Digest as _;

/// The kind of a signing key, which fixes its JWS algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// EC P-384, `ES384`: Logto's default.
    Es384,
    /// EC P-256, `ES256`.
    Es256,
    /// RSA 2048 bits, `RS256`: a tenant whose key was rotated to RSA.
    Rs256,
}

impl KeyKind {
    /// The JWS `alg`.
    #[must_use]
    pub fn alg(self) -> &'static str {
        match self {
            Self::Es384 => "ES384",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

#[derive(Clone)]
enum Secret {
    P384(p384::ecdsa::SigningKey),
    P256(p256::ecdsa::SigningKey),
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
}

/// A signing key with its public JWK, for tests: the server signs with one, and tests can sign
/// tokens of their own (any header, any claims) with the server's key or another.
///
/// `Debug` shows the kind and the `kid` only.
#[derive(Clone)]
pub struct TestKey {
    kind: KeyKind,
    kid: String,
    secret: Secret,
    jwk: Value,
    jwk_json: String,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kind", &self.kind)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
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

impl TestKey {
    /// A fresh key of `kind` from the operating system's random source.
    ///
    /// # Errors
    ///
    /// No randomness, or key generation failed.
    pub fn generate(kind: KeyKind) -> io::Result<Self> {
        let (secret, jwk, canonical) = match kind {
            KeyKind::Es384 => {
                let key = p384::ecdsa::SigningKey::from_slice(&random_scalar::<48>()?)
                    .map_err(io::Error::other)?;
                let point = key.verifying_key().to_encoded_point(false);
                let (x, y) = coordinates(point.x(), point.y())?;
                let canonical = format!(r#"{{"crv":"P-384","kty":"EC","x":"{x}","y":"{y}"}}"#);
                let jwk = format!(r#""alg":"ES384","crv":"P-384","x":"{x}","y":"{y}""#);
                (Secret::P384(key), jwk, canonical)
            }
            KeyKind::Es256 => {
                let key = p256::ecdsa::SigningKey::from_slice(&random_scalar::<32>()?)
                    .map_err(io::Error::other)?;
                let point = key.verifying_key().to_encoded_point(false);
                let (x, y) = coordinates(point.x(), point.y())?;
                let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
                let jwk = format!(r#""alg":"ES256","crv":"P-256","x":"{x}","y":"{y}""#);
                (Secret::P256(key), jwk, canonical)
            }
            KeyKind::Rs256 => {
                let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(io::Error::other)?;
                let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
                let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
                let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
                let jwk = format!(r#""alg":"RS256","n":"{n}","e":"{e}""#);
                let signing = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
                (Secret::Rsa(Box::new(signing)), jwk, canonical)
            }
        };
        // RFC 7638: the required members in lexicographic order, no whitespace, SHA-256.
        let kid = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()));
        let kty = if kind == KeyKind::Rs256 { "RSA" } else { "EC" };
        let jwk_json = format!(r#"{{"kty":"{kty}","use":"sig","kid":"{kid}",{jwk}}}"#);
        let jwk = serde_json::from_str(&jwk_json).map_err(io::Error::other)?;
        Ok(Self {
            jwk_json,
            kind,
            kid,
            secret,
            jwk,
        })
    }

    /// The kind (and so the algorithm).
    #[must_use]
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK, as Logto serves it (`kty`, `use`, `alg`, `kid` and the key's members).
    #[must_use]
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// A JWT access token over `claims`, with Logto's header: `alg` of this key, `typ` at+jwt,
    /// and this key's `kid`.
    ///
    /// # Errors
    ///
    /// The claims do not serialize, or signing failed.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, String> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'static str,
            typ: &'static str,
            kid: &'a str,
        }
        let header = Header {
            alg: self.kind.alg(),
            typ: "at+jwt",
            kid: &self.kid,
        };
        self.sign_with_header(&header, claims)
    }

    /// A compact JWS of `header` and `claims` exactly as given, signed with this key's own
    /// algorithm whatever the header says: for hostile tokens (a header that lies about its
    /// algorithm or key).
    ///
    /// # Errors
    ///
    /// The header or claims do not serialize, or signing failed.
    pub fn sign_with_header(
        &self,
        header: &impl Serialize,
        claims: &impl Serialize,
    ) -> Result<String, String> {
        let header = serde_json::to_vec(header).map_err(|e| e.to_string())?;
        let claims = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }

    /// This key's signature over `message`: `r || s` for ECDSA (RFC 7518 §3.4), PKCS#1 v1.5
    /// for RSA.
    ///
    /// # Errors
    ///
    /// Signing failed.
    pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.secret {
            Secret::P384(key) => key
                .try_sign(message)
                .map(|s: p384::ecdsa::Signature| s.to_vec())
                .map_err(|e| e.to_string()),
            Secret::P256(key) => key
                .try_sign(message)
                .map(|s: p256::ecdsa::Signature| s.to_vec())
                .map_err(|e| e.to_string()),
            Secret::Rsa(key) => key
                .try_sign(message)
                .map(|s| s.to_vec())
                .map_err(|e| e.to_string()),
        }
    }
}

/// The server's keys: the signing key, and the one it replaced, if any (Logto keeps two).
pub(crate) struct Keys {
    signing: TestKey,
    previous: Option<TestKey>,
}

impl Keys {
    /// `key` alone.
    pub(crate) fn with(key: TestKey) -> Self {
        Self {
            signing: key,
            previous: None,
        }
    }

    /// Makes `key` the signing key and keeps the previous one in the key set; older ones go.
    pub(crate) fn rotate(&mut self, key: TestKey) {
        self.previous = Some(std::mem::replace(&mut self.signing, key));
    }

    /// The signing key.
    pub(crate) fn signing(&self) -> &TestKey {
        &self.signing
    }

    /// Every served key, the signing key first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &TestKey> {
        std::iter::once(&self.signing).chain(self.previous.as_ref())
    }

    /// The key id of the signing key.
    pub(crate) fn kid(&self) -> &str {
        self.signing.kid()
    }

    /// The JWK Set document served at `/oidc/jwks`, each key's members in Logto's order.
    pub(crate) fn jwks_json(&self) -> String {
        let keys: Vec<&str> = self.all().map(|k| k.jwk_json.as_str()).collect();
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    /// A compact JWS (`alg` of the signing key, `typ` at+jwt) over the claims.
    pub(crate) fn sign(&self, claims: &Claims<'_>) -> Result<String, String> {
        self.signing.sign(claims)
    }
}

fn coordinates<T: AsRef<[u8]>>(x: Option<&T>, y: Option<&T>) -> io::Result<(String, String)> {
    match (x, y) {
        (Some(x), Some(y)) => Ok((URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y))),
        _ => Err(io::Error::other("public key has no affine coordinates")),
    }
}

/// A random secret scalar of `N` bytes. A draw is a valid scalar unless it is zero or not below
/// the group order, which is astronomically unlikely; the caller's `from_slice` refuses it then.
fn random_scalar<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| io::Error::other(format!("no randomness for a key: {e}")))?;
    Ok(bytes)
}

/// A random token id of 43 base64url characters, like Logto's.
pub(crate) fn random_jti() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
