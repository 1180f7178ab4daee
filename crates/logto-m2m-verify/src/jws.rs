//! The compact JWS form of an access token: three base64url parts, a bounded JSON header, and the
//! header checks that need no key.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::InvalidToken;
use crate::key::Algorithm;

/// The longest encoded header accepted, in bytes. Logto's is about 120.
pub const MAX_HEADER_BYTES: usize = 1024;

/// An access token split into its parts, its header read and checked. Borrowed from the token.
///
/// `Debug` shows the algorithm and the `kid`, never the token.
pub struct Jws<'t> {
    signing_input: &'t str,
    payload: &'t str,
    signature: Vec<u8>,
    algorithm: Algorithm,
    kid: String,
}

impl fmt::Debug for Jws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jws")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

impl<'t> Jws<'t> {
    /// Splits `token` and reads its header, refusing before any key is looked up:
    ///
    /// - more than `max_bytes` bytes, or a header over [`MAX_HEADER_BYTES`]: [`InvalidToken::TooLarge`];
    /// - not three strict base64url parts with a JSON object header (duplicate members refused):
    ///   [`InvalidToken::Malformed`];
    /// - `alg` `none`: [`InvalidToken::Unsigned`]; `HS*`: [`InvalidToken::SymmetricAlgorithm`];
    ///   anything but ES384, ES256 and RS256: [`InvalidToken::UnsupportedAlgorithm`];
    /// - a `crit` member: [`InvalidToken::CriticalHeader`];
    /// - `typ` other than `at+jwt` (RFC 9068 §2.1, or `application/at+jwt`, in any case):
    ///   [`InvalidToken::WrongType`];
    /// - no `kid`: [`InvalidToken::MissingKeyId`].
    ///
    /// # Errors
    ///
    /// The first of those that applies.
    pub fn parse(token: &'t str, max_bytes: usize) -> Result<Self, InvalidToken> {
        if token.len() > max_bytes {
            return Err(InvalidToken::TooLarge);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(InvalidToken::Malformed)?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(InvalidToken::Malformed)?;
        if payload.contains('.') {
            return Err(InvalidToken::Malformed);
        }
        if header.len() > MAX_HEADER_BYTES {
            return Err(InvalidToken::TooLarge);
        }
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| InvalidToken::Malformed)?;
        if !starts_an_object(&header) {
            return Err(InvalidToken::Malformed);
        }
        let header: Header<'_> =
            serde_json::from_slice(&header).map_err(|_| InvalidToken::Malformed)?;
        let algorithm = match header.alg.as_ref() {
            "ES384" => Algorithm::Es384,
            "ES256" => Algorithm::Es256,
            "RS256" => Algorithm::Rs256,
            alg if alg.eq_ignore_ascii_case("none") => return Err(InvalidToken::Unsigned),
            alg if alg.starts_with("HS") => return Err(InvalidToken::SymmetricAlgorithm),
            _ => return Err(InvalidToken::UnsupportedAlgorithm),
        };
        if header.crit.is_some() {
            return Err(InvalidToken::CriticalHeader);
        }
        match header.typ.as_deref() {
            Some(typ)
                if typ.eq_ignore_ascii_case("at+jwt")
                    || typ.eq_ignore_ascii_case("application/at+jwt") => {}
            _ => return Err(InvalidToken::WrongType),
        }
        let kid = match header.kid {
            Some(kid) if !kid.is_empty() => kid.into_owned(),
            _ => return Err(InvalidToken::MissingKeyId),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| InvalidToken::Malformed)?;
        Ok(Self {
            signing_input,
            payload,
            signature,
            algorithm,
            kid,
        })
    }

    /// The header's `kid`.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The header's `alg`: a claim of the token, checked against the key's.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub(crate) fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    pub(crate) fn signature(&self) -> &[u8] {
        &self.signature
    }

    pub(crate) fn payload(&self) -> &'t str {
        self.payload
    }
}

/// Whether JSON text starts with `{`: serde reads a struct from an array too, and a JOSE header
/// or a claims set must be an object.
pub(crate) fn starts_an_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}
