//! What a token must be for this API: Logto's issuer, the audience, the times with a leeway; and
//! the check of one token against one key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::claims::VerifiedToken;
use crate::error::{ConfigError, InvalidToken, VerifyError};
use crate::jwks::Jwks;
use crate::jws::Jws;
use crate::key::VerificationKey;
use crate::scopes::RequiredScopes;

/// The default clock leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The default largest token accepted, in bytes.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

const ORGANIZATION_URN: &str = "urn:logto:organization:";

/// The audience a token must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Audience {
    /// An API resource: `aud` is its indicator.
    Resource(String),
    /// An organization-level API resource: `aud` is its indicator and the token has an
    /// `organization_id` claim (check it with [`VerifiedToken::require_organization`]).
    OrganizationResource(String),
    /// Organization tokens of this organization: `aud` is `urn:logto:organization:<id>`.
    Organization(String),
    /// Organization tokens of any organization, whose id the caller then checks
    /// ([`VerifiedToken::organization_id`], [`VerifiedToken::require_organization`]).
    AnyOrganization,
}

/// The checks of this API's tokens. Build it once and share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    issuer: String,
    audience: Audience,
    leeway: Duration,
    max_token_bytes: usize,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    client_id: Option<String>,
    aud: Option<OneOrMany>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    scope: Option<String>,
    organization_id: Option<String>,
    jti: Option<String>,
}

impl Validation {
    /// Tokens of the Logto tenant at `endpoint` (issuer `{endpoint}/oidc`) for `audience`, with
    /// a leeway of [`DEFAULT_LEEWAY`] and tokens of at most [`DEFAULT_MAX_TOKEN_BYTES`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Endpoint`] when `endpoint` is not an absolute `https` URL (`http` only on
    /// loopback), [`ConfigError::Empty`] for an empty resource or organization id.
    pub fn new(endpoint: &str, audience: Audience) -> Result<Self, ConfigError> {
        let discovery =
            logto_m2m_proto::Discovery::new(endpoint, false).map_err(ConfigError::Endpoint)?;
        match &audience {
            Audience::Resource(r) | Audience::OrganizationResource(r) if r.is_empty() => {
                return Err(ConfigError::Empty("API resource indicator"));
            }
            Audience::Organization(o) if o.is_empty() => {
                return Err(ConfigError::Empty("organization id"));
            }
            _ => {}
        }
        Ok(Self {
            issuer: discovery.expected_issuer(),
            audience,
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        })
    }

    /// Sets the clock leeway for `exp`, `nbf` and `iat`.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Sets the largest token accepted, in bytes.
    #[must_use]
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// The issuer tokens must name: `{endpoint}/oidc`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience tokens must carry.
    #[must_use]
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// Splits `token` and checks its header (see [`Jws::parse`]).
    ///
    /// # Errors
    ///
    /// The [`InvalidToken`] reason.
    pub fn parse<'t>(&self, token: &'t str) -> Result<Jws<'t>, InvalidToken> {
        Jws::parse(token, self.max_token_bytes)
    }

    /// Verifies a parsed token with `key` at wall-clock time `now`: the key's algorithm equals the
    /// header's, the signature, then the claims: `iss` exactly the issuer, `aud`, `exp` (required),
    /// `nbf` and `iat` with the leeway, `sub` present, `organization_id` for organization-level
    /// resources.
    ///
    /// # Errors
    ///
    /// The first [`InvalidToken`] reason found, in that order.
    pub fn check(
        &self,
        jws: &Jws<'_>,
        key: &VerificationKey,
        now: SystemTime,
    ) -> Result<VerifiedToken, InvalidToken> {
        if key.algorithm() != jws.algorithm() {
            return Err(InvalidToken::AlgorithmMismatch);
        }
        key.verify(jws.signing_input(), jws.signature())?;
        let payload = URL_SAFE_NO_PAD
            .decode(jws.payload())
            .map_err(|_| InvalidToken::Malformed)?;
        if !crate::jws::starts_an_object(&payload) {
            return Err(InvalidToken::MalformedClaims);
        }
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|_| InvalidToken::MalformedClaims)?;

        match claims.iss {
            None => return Err(InvalidToken::MissingClaim("iss")),
            Some(iss) if iss != self.issuer => return Err(InvalidToken::WrongIssuer),
            Some(_) => {}
        }
        let audiences = match claims.aud {
            None => return Err(InvalidToken::MissingClaim("aud")),
            Some(OneOrMany::One(a)) => vec![a],
            Some(OneOrMany::Many(a)) => a,
        };
        let (audience, organization_id) = self.match_audience(audiences, claims.organization_id)?;

        let exp = claims
            .exp
            .ok_or(InvalidToken::MissingClaim("exp"))
            .and_then(numeric_date)?;
        let nbf = claims.nbf.map(numeric_date).transpose()?;
        let iat = claims.iat.map(numeric_date).transpose()?;
        if exp.checked_add(self.leeway).is_some_and(|t| now >= t) {
            return Err(InvalidToken::Expired);
        }
        let late = now.checked_add(self.leeway);
        if nbf.is_some_and(|nbf| late.is_some_and(|l| l < nbf)) {
            return Err(InvalidToken::NotYetValid);
        }
        if iat.is_some_and(|iat| late.is_some_and(|l| l < iat)) {
            return Err(InvalidToken::IssuedInTheFuture);
        }
        let subject = claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or(InvalidToken::MissingClaim("sub"))?;
        let scopes = claims
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(VerifiedToken {
            subject,
            client_id: claims.client_id,
            audience,
            organization_id,
            scopes,
            expires_at: exp,
            issued_at: iat,
            jwt_id: claims.jti,
            key_id: key.kid().to_owned(),
            algorithm: key.algorithm(),
        })
    }

    /// Parses, finds the key by `kid` in `keys`, checks, and checks `required`: the whole of one
    /// verification when the caller holds the key set itself.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidToken`] (with [`InvalidToken::UnknownKey`] when no key has the
    /// token's `kid`) or [`VerifyError::Forbidden`].
    pub fn verify(
        &self,
        keys: &Jwks,
        token: &str,
        required: &RequiredScopes,
        now: SystemTime,
    ) -> Result<VerifiedToken, VerifyError> {
        let jws = self.parse(token)?;
        let key = keys.find(jws.kid()).ok_or(InvalidToken::UnknownKey)?;
        let verified = self.check(&jws, key, now)?;
        verified.require(required)?;
        Ok(verified)
    }

    fn match_audience(
        &self,
        audiences: Vec<String>,
        organization_claim: Option<String>,
    ) -> Result<(String, Option<String>), InvalidToken> {
        let position = |wanted: &str| audiences.iter().position(|a| a == wanted);
        let take = |mut audiences: Vec<String>, i: usize| audiences.swap_remove(i);
        match &self.audience {
            Audience::Resource(resource) => {
                let i = position(resource).ok_or(InvalidToken::WrongAudience)?;
                Ok((take(audiences, i), organization_claim))
            }
            Audience::OrganizationResource(resource) => {
                let i = position(resource).ok_or(InvalidToken::WrongAudience)?;
                let organization = organization_claim
                    .filter(|o| !o.is_empty())
                    .ok_or(InvalidToken::MissingClaim("organization_id"))?;
                Ok((take(audiences, i), Some(organization)))
            }
            Audience::Organization(id) => {
                let i = audiences
                    .iter()
                    .position(|a| a.strip_prefix(ORGANIZATION_URN) == Some(id.as_str()))
                    .ok_or(InvalidToken::WrongAudience)?;
                Ok((take(audiences, i), Some(id.clone())))
            }
            Audience::AnyOrganization => {
                let mut organizations = audiences.iter().enumerate().filter_map(|(i, a)| {
                    a.strip_prefix(ORGANIZATION_URN)
                        .filter(|id| !id.is_empty())
                        .map(|id| (i, id.to_owned()))
                });
                match (organizations.next(), organizations.next()) {
                    (Some((i, id)), None) => Ok((take(audiences, i), Some(id))),
                    _ => Err(InvalidToken::WrongAudience),
                }
            }
        }
    }
}

/// A `NumericDate` (seconds since the epoch, possibly fractional) as a `SystemTime`.
fn numeric_date(seconds: f64) -> Result<SystemTime, InvalidToken> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .ok_or(InvalidToken::MalformedClaims)
}
