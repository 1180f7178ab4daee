//! The keyed fingerprint of an app's credentials: what token keys carry instead of the secret.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::lower_hex::lower_hex;
use crate::secret::AppSecret;

/// Separates this use of the app secret as an HMAC key from any other.
const LABEL: &[u8] = b"logto-m2m token key credentials v1\0";

/// How many bytes of the HMAC-SHA256 output are kept: 128 bits, far beyond any accidental
/// collision between two secrets of one app.
const LEN: usize = 16;

/// A keyed fingerprint of an app's credentials: `HMAC-SHA256(key = app secret, LABEL ‖ app id)`,
/// truncated to 128 bits.
///
/// It tells two secrets of one app apart without holding either: token keys carry it, so a token
/// fetched with one secret is never handed out for another, and a rotated secret gets new keys.
/// It is the same in every process for the same app id and secret, so replicas can share
/// entries keyed by it. Learning the secret from it takes guessing the secret, as from any token
/// request sent with it; Logto's generated secrets are out of reach of guessing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialsFingerprint([u8; LEN]);

impl CredentialsFingerprint {
    /// The fingerprint of `app_id` with `app_secret`.
    #[must_use]
    pub fn new(app_id: &str, app_secret: &AppSecret) -> Self {
        let key = app_secret.expose_secret().as_bytes();
        // HMAC takes keys of any length: the `else` is never taken.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            return Self([0; LEN]);
        };
        mac.update(LABEL);
        mac.update(app_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0; LEN];
        for (to, from) in bytes.iter_mut().zip(digest.iter()) {
            *to = *from;
        }
        Self(bytes)
    }

    /// The fingerprint's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; LEN] {
        &self.0
    }

    /// The fingerprint in lowercase hexadecimal (32 characters), for a key in a shared store.
    #[must_use]
    pub fn to_hex(&self) -> String {
        lower_hex(&self.0)
    }
}

/// Shows no bytes: a `Debug` print of a key or a request must not change with the secret (and
/// each fingerprint printed would be one more value to test guesses of a weak secret against).
impl fmt::Debug for CredentialsFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialsFingerprint(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_a_fixed_function_of_the_app_id_and_secret() {
        let secret = AppSecret::from("m2m-secret");
        let fingerprint = CredentialsFingerprint::new("m2m-app", &secret);
        // HMAC-SHA256(key = "m2m-secret", "logto-m2m token key credentials v1\0m2m-app"), first
        // 16 bytes, as computed by an independent implementation (Python's hmac module): the
        // value must not change between versions or processes, since shared stores key by it.
        assert_eq!(fingerprint.to_hex(), EXPECTED);
        assert_eq!(CredentialsFingerprint::new("m2m-app", &secret), fingerprint);
        assert_ne!(
            CredentialsFingerprint::new("m2m-app", &AppSecret::from("m2m-secret2")),
            fingerprint
        );
        assert_ne!(CredentialsFingerprint::new("m2m-ap", &secret), fingerprint);
        assert_eq!(format!("{fingerprint:?}"), "CredentialsFingerprint(..)");
    }

    const EXPECTED: &str = "fb1327e375e0cee371e3948f3d5564f0";
}
