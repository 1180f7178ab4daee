//! The verified claims handed to the caller.

use std::time::SystemTime;

use crate::error::Forbidden;
use crate::key::Algorithm;
use crate::scopes::RequiredScopes;

/// An access token whose signature, issuer, audience, type and times checked out.
///
/// It holds no copy of the token, only the claims a caller decides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub(crate) subject: String,
    pub(crate) client_id: Option<String>,
    pub(crate) audience: String,
    pub(crate) organization_id: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: SystemTime,
    pub(crate) issued_at: Option<SystemTime>,
    pub(crate) jwt_id: Option<String>,
    pub(crate) key_id: String,
    pub(crate) algorithm: Algorithm,
}

impl VerifiedToken {
    /// `sub`: for a machine-to-machine token, the app id.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// `client_id`: the app that obtained the token.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The audience that matched: the API resource indicator, or `urn:logto:organization:<id>`.
    #[must_use]
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The organization: the `organization_id` claim (organization-level API resources), or the
    /// id in an organization token's audience.
    #[must_use]
    pub fn organization_id(&self) -> Option<&str> {
        self.organization_id.as_deref()
    }

    /// The granted scopes (`scope`, split at spaces), in the token's order.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `scope` is granted.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `exp`.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// `iat`, if present.
    #[must_use]
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.issued_at
    }

    /// `jti`, if present.
    #[must_use]
    pub fn jwt_id(&self) -> Option<&str> {
        self.jwt_id.as_deref()
    }

    /// The `kid` of the key that verified the signature.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The algorithm of that key.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Checks that the granted scopes meet `required`.
    ///
    /// # Errors
    ///
    /// [`Forbidden::MissingScopes`], naming the required scopes (for the challenge).
    pub fn require(&self, required: &RequiredScopes) -> Result<(), Forbidden> {
        if required.is_met_by(&self.scopes) {
            Ok(())
        } else {
            Err(Forbidden::MissingScopes {
                required: required.to_wire(),
            })
        }
    }

    /// Checks that the token is for the organization `organization_id` (the one the request
    /// addresses), as organization-level API resources and organization tokens need.
    ///
    /// # Errors
    ///
    /// [`Forbidden::OrganizationMismatch`] when it is for another organization or none.
    pub fn require_organization(&self, organization_id: &str) -> Result<(), Forbidden> {
        if self.organization_id.as_deref() == Some(organization_id) {
            Ok(())
        } else {
            Err(Forbidden::OrganizationMismatch)
        }
    }
}
