//! The issuer's key set document (RFC 7517 JWK Set), read with bounds: its size, its key count,
//! and only signing keys of the three algorithms this crate verifies.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::error::KeySetError;
use crate::key::VerificationKey;

/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits (the `rsa` crate's own limit, which bounds the work
/// of one verification).
pub const MAX_RSA_BITS: usize = 4096;

/// The signing keys of one key set document, ready to verify with.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<Arc<VerificationKey>>,
}

#[derive(Deserialize)]
struct Document<'a> {
    #[serde(borrow)]
    keys: Vec<Jwk<'a>>,
}

#[derive(Deserialize)]
struct Jwk<'a> {
    #[serde(borrow)]
    kty: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "use")]
    use_: Option<Cow<'a, str>>,
    #[serde(borrow)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    crv: Option<Cow<'a, str>>,
    #[serde(borrow)]
    x: Option<Cow<'a, str>>,
    #[serde(borrow)]
    y: Option<Cow<'a, str>>,
    #[serde(borrow)]
    n: Option<Cow<'a, str>>,
    #[serde(borrow)]
    e: Option<Cow<'a, str>>,
}

impl Jwks {
    /// Reads a JWK Set document of at most `max_bytes` bytes and at most `max_keys` keys.
    ///
    /// Keys that cannot sign access tokens for this crate are skipped, not refused: no `kid`,
    /// `use` other than `sig`, `kty` other than `EC` and `RSA` (so never a symmetric `oct` key),
    /// curves other than P-384 and P-256, an `alg` that disagrees with the key's type, an RSA
    /// modulus outside 2048–4096 bits, or a point not on its curve. A second key with the same
    /// `kid` is skipped too.
    ///
    /// # Errors
    ///
    /// [`KeySetError::TooLarge`], [`KeySetError::Malformed`] (not a JSON object with a `keys`
    /// array of objects), [`KeySetError::TooManyKeys`], or [`KeySetError::NoUsableKey`].
    pub fn parse(document: &[u8], max_bytes: usize, max_keys: usize) -> Result<Self, KeySetError> {
        if document.len() > max_bytes {
            return Err(KeySetError::TooLarge { limit: max_bytes });
        }
        if !crate::jws::starts_an_object(document) {
            return Err(KeySetError::Malformed);
        }
        let document: Document<'_> =
            serde_json::from_slice(document).map_err(|_| KeySetError::Malformed)?;
        if document.keys.len() > max_keys {
            return Err(KeySetError::TooManyKeys { limit: max_keys });
        }
        let mut keys: Vec<Arc<VerificationKey>> = Vec::with_capacity(document.keys.len());
        for jwk in &document.keys {
            if let Some(key) = jwk.to_key() {
                if !keys.iter().any(|k| k.kid() == key.kid()) {
                    keys.push(Arc::new(key));
                }
            }
        }
        if keys.is_empty() {
            return Err(KeySetError::NoUsableKey);
        }
        Ok(Self { keys })
    }

    /// The key with this `kid`.
    #[must_use]
    pub fn find(&self, kid: &str) -> Option<&Arc<VerificationKey>> {
        self.keys.iter().find(|k| k.kid() == kid)
    }

    /// The keys, in document order.
    pub fn iter(&self) -> impl Iterator<Item = &VerificationKey> {
        self.keys.iter().map(AsRef::as_ref)
    }

    /// How many usable keys there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is none (only for [`Jwks::default`]: a parsed set has at least one).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Jwk<'_> {
    fn to_key(&self) -> Option<VerificationKey> {
        let kid = self.kid.as_deref().filter(|k| !k.is_empty())?;
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let alg = self.alg.as_deref();
        match (self.kty.as_deref()?, self.crv.as_deref()) {
            ("EC", Some("P-384")) if alg.is_none_or(|a| a == "ES384") => {
                let point = ec_point(self.x.as_deref()?, self.y.as_deref()?, 48)?;
                let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).ok()?;
                Some(VerificationKey::p384(kid, key))
            }
            ("EC", Some("P-256")) if alg.is_none_or(|a| a == "ES256") => {
                let point = ec_point(self.x.as_deref()?, self.y.as_deref()?, 32)?;
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).ok()?;
                Some(VerificationKey::p256(kid, key))
            }
            ("RSA", _) if alg.is_none_or(|a| a == "RS256") => {
                let n = decode(self.n.as_deref()?, MAX_RSA_BITS / 8 + 1)?;
                let e = decode(self.e.as_deref()?, 8)?;
                let n = rsa::BigUint::from_bytes_be(&n);
                if n.bits() < MIN_RSA_BITS {
                    return None;
                }
                let key = rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(&e)).ok()?;
                Some(VerificationKey::rsa(kid, key))
            }
            _ => None,
        }
    }
}

/// `0x04 || x || y` from base64url coordinates of exactly `len` bytes each.
fn ec_point(x: &str, y: &str, len: usize) -> Option<Vec<u8>> {
    let x = decode(x, len)?;
    let y = decode(y, len)?;
    if x.len() != len || y.len() != len {
        return None;
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Some(point)
}

/// Strict base64url without padding, of at most `max` decoded bytes.
fn decode(text: &str, max: usize) -> Option<Vec<u8>> {
    if text.len() > max.div_ceil(3) * 4 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(text).ok().filter(|b| b.len() <= max)
}
