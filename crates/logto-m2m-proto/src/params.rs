//! What a token is asked for: the resource or organization, the scopes, and extra parameters.

use crate::error::ConfigError;
use crate::scopes::Scopes;

/// Parameter names this library sets itself, refused as extra parameters.
pub const RESERVED_PARAMETERS: [&str; 6] = [
    "grant_type",
    "client_id",
    "client_secret",
    "resource",
    "scope",
    "organization_id",
];

/// The parameters of one client-credentials token request.
///
/// Logto needs a `resource` (an API resource indicator), an `organization_id` (an organization
/// token), or both (a resource token with an `organization_id` claim). Exactly one resource is
/// allowed per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct TokenParams {
    pub(crate) resources: Vec<String>,
    pub(crate) organization_id: Option<String>,
    pub(crate) scopes: Scopes,
    pub(crate) extra: Vec<(String, String)>,
    pub(crate) allow_default_resource: bool,
}

impl TokenParams {
    /// No parameters yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parameters for a token for the API resource `indicator`.
    pub fn for_resource(indicator: impl Into<String>) -> Self {
        Self::new().resource(indicator)
    }

    /// Parameters for an organization token.
    pub fn for_organization(organization_id: impl Into<String>) -> Self {
        Self::new().organization(organization_id)
    }

    /// Sets the API resource indicator. Calling this twice is refused when the request is built:
    /// Logto accepts one resource per request.
    pub fn resource(mut self, indicator: impl Into<String>) -> Self {
        self.resources.push(indicator.into());
        self
    }

    /// Asks for an organization token (alone) or adds an `organization_id` claim (with a resource).
    pub fn organization(mut self, organization_id: impl Into<String>) -> Self {
        self.organization_id = Some(organization_id.into());
        self
    }

    /// Adds one scope (duplicates are dropped, order is kept).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope);
        self
    }

    /// Adds several scopes.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        for scope in scopes {
            self.scopes.push(scope);
        }
        self
    }

    /// Adds an extra form parameter, sent in the order added. Names this library sets itself
    /// ([`RESERVED_PARAMETERS`]) are refused when the request is built.
    pub fn extra_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// Allows a request with neither resource nor organization, for a tenant that has a default API.
    pub fn allow_default_resource(mut self) -> Self {
        self.allow_default_resource = true;
        self
    }

    /// The resource indicator, if one was set.
    #[must_use]
    pub fn resource_indicator(&self) -> Option<&str> {
        self.resources.first().map(String::as_str)
    }

    /// The organization id, if one was set.
    #[must_use]
    pub fn organization_id(&self) -> Option<&str> {
        self.organization_id.as_deref()
    }

    /// The scopes asked for.
    #[must_use]
    pub fn requested_scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// The extra parameters, in order.
    #[must_use]
    pub fn extra_params(&self) -> &[(String, String)] {
        &self.extra
    }

    /// Checks everything that Logto would refuse, before anything is sent. Building a
    /// [`TokenRequest`](crate::TokenRequest) runs this check (and those that need the
    /// configuration); call it to check parameters read from elsewhere early.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] that says what Logto would refuse: several resources, neither resource
    /// nor organization, a resource that is not an absolute URI, an empty organization id, a scope
    /// outside RFC 6749 §3.3's characters, a reserved extra parameter.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.resources.as_slice() {
            [] => {}
            [resource] => validate_resource(resource)?,
            _ => return Err(ConfigError::MultipleResources),
        }
        if let Some(organization_id) = &self.organization_id {
            if organization_id.is_empty() {
                return Err(ConfigError::EmptyOrganizationId);
            }
        }
        if self.resources.is_empty()
            && self.organization_id.is_none()
            && !self.allow_default_resource
        {
            return Err(ConfigError::NoResourceOrOrganization);
        }
        self.scopes.validate()?;
        if let Some((name, _)) = self
            .extra
            .iter()
            .find(|(name, _)| RESERVED_PARAMETERS.contains(&name.as_str()))
        {
            return Err(ConfigError::ReservedParameter { name: name.clone() });
        }
        Ok(())
    }
}

/// A resource indicator must be an absolute URI without a fragment (RFC 8707 §2, and what Logto
/// checks). The string is sent as given: Logto compares indicators as strings.
fn validate_resource(resource: &str) -> Result<(), ConfigError> {
    let invalid = |reason| ConfigError::InvalidResource {
        resource: resource.to_owned(),
        reason,
    };
    if resource.contains('#') {
        return Err(invalid("it must not contain a fragment"));
    }
    if resource.trim() != resource || resource.is_empty() {
        return Err(invalid(
            "it must not be empty or have surrounding white space",
        ));
    }
    if !crate::endpoint::is_absolute_uri(resource) {
        return Err(invalid("it must be an absolute URI"));
    }
    Ok(())
}
