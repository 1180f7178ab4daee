//! Verification keys: the algorithm a key verifies, fixed by the key itself.

use std::fmt;

use p384::ecdsa::signature::Verifier as _;

use crate::error::InvalidToken;

/// A signature algorithm this crate verifies. It always comes from the key, never from a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// ECDSA on P-384 with SHA-384: Logto's default signing key.
    Es384,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256: tenants whose key was rotated to RSA.
    Rs256,
}

impl Algorithm {
    /// The JWA name: `ES384`, `ES256` or `RS256`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es384 => "ES384",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The public key material, prepared once when the key set is read.
#[derive(Clone)]
enum Material {
    P384(p384::ecdsa::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<sha2::Sha256>>),
}

/// One signing key of the issuer: its `kid`, its algorithm and its public key.
#[derive(Clone)]
pub struct VerificationKey {
    kid: Box<str>,
    material: Material,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    pub(crate) fn p384(kid: &str, key: p384::ecdsa::VerifyingKey) -> Self {
        Self {
            kid: kid.into(),
            material: Material::P384(key),
        }
    }

    pub(crate) fn p256(kid: &str, key: p256::ecdsa::VerifyingKey) -> Self {
        Self {
            kid: kid.into(),
            material: Material::P256(key),
        }
    }

    pub(crate) fn rsa(kid: &str, key: rsa::RsaPublicKey) -> Self {
        Self {
            kid: kid.into(),
            material: Material::Rsa(Box::new(rsa::pkcs1v15::VerifyingKey::new(key))),
        }
    }

    /// The key id (`kid`).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.material {
            Material::P384(_) => Algorithm::Es384,
            Material::P256(_) => Algorithm::Es256,
            Material::Rsa(_) => Algorithm::Rs256,
        }
    }

    /// Checks `signature` over `signing_input` (`header.payload`, as sent) with this key's own
    /// algorithm. ECDSA signatures are the JWS `r || s` form (RFC 7518 §3.4).
    pub(crate) fn verify(
        &self,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidToken> {
        let verified = match &self.material {
            Material::P384(key) => p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| key.verify(signing_input, &s).is_ok()),
            Material::P256(key) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| key.verify(signing_input, &s).is_ok()),
            Material::Rsa(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|s| key.verify(signing_input, &s).is_ok()),
        };
        if verified {
            Ok(())
        } else {
            Err(InvalidToken::BadSignature)
        }
    }
}
