//! What the test server knows: applications, API resources, organizations.

use std::fmt;

use crate::management_data::ManagementData;

/// The values of [`Config::logto_default`], for tests that use the default server.
pub mod defaults {
    /// The machine-to-machine application's id.
    pub const APP_ID: &str = "m2m-app";
    /// The machine-to-machine application's secret.
    pub const APP_SECRET: &str = "m2m-secret";
    /// The example API resource's indicator.
    pub const RESOURCE: &str = "https://api.example.com";
    /// The example API resource's token lifetime in seconds.
    pub const RESOURCE_TTL: u64 = 1800;
    /// The scopes the example API resource defines.
    pub const RESOURCE_SCOPES: [&str; 3] = ["read:items", "write:items", "delete:items"];
    /// The example API scopes granted to the application.
    pub const GRANTED_SCOPES: [&str; 2] = ["read:items", "write:items"];
    /// The Management API indicator of the OSS tenant `default`.
    pub const MANAGEMENT_API: &str = "https://default.logto.app/api";
    /// The Management API's only scope.
    pub const MANAGEMENT_API_SCOPE: &str = "all";
    /// The organization the application is associated with.
    pub const ORGANIZATION: &str = "org-1";
    /// The organization scope the application holds in [`ORGANIZATION`].
    pub const ORGANIZATION_SCOPE: &str = "org:read";
    /// An organization id the application is not associated with.
    pub const UNKNOWN_ORGANIZATION: &str = "org-x";
}

/// The lifetime Logto gives organization tokens, in seconds.
pub(crate) const ORGANIZATION_TOKEN_TTL: u64 = 3600;

/// An API resource: an indicator (the token's `aud`), a token lifetime and the scopes it defines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResource {
    pub(crate) indicator: String,
    pub(crate) ttl_secs: u64,
    pub(crate) scopes: Vec<String>,
}

impl ApiResource {
    /// A resource with this indicator, Logto's default lifetime of 3600 seconds and no scopes.
    #[must_use]
    pub fn new(indicator: impl Into<String>) -> Self {
        Self {
            indicator: indicator.into(),
            ttl_secs: 3600,
            scopes: Vec::new(),
        }
    }

    /// The Management API of the tenant `tenant_id` (`https://{tenant_id}.logto.app/api`):
    /// lifetime 3600 seconds, one scope `all`.
    #[must_use]
    pub fn management_api(tenant_id: &str) -> Self {
        Self::new(format!("https://{tenant_id}.logto.app/api"))
            .scopes([defaults::MANAGEMENT_API_SCOPE])
    }

    /// Sets the access token lifetime (`expires_in`) in seconds.
    #[must_use]
    pub fn ttl(mut self, secs: u64) -> Self {
        self.ttl_secs = secs;
        self
    }

    /// Adds scopes (permissions) that this resource defines.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The resource indicator.
    #[must_use]
    pub fn indicator(&self) -> &str {
        &self.indicator
    }

    /// The configured token lifetime in seconds.
    #[must_use]
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }
}

/// An application's association with an organization (Logto's organization roles of type
/// machine-to-machine, flattened into the scopes they grant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationMembership {
    pub(crate) organization_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) resource_scopes: Vec<(String, Vec<String>)>,
}

impl OrganizationMembership {
    /// An association with the organization `organization_id`, granting nothing yet.
    #[must_use]
    pub fn new(organization_id: impl Into<String>) -> Self {
        Self {
            organization_id: organization_id.into(),
            scopes: Vec::new(),
            resource_scopes: Vec::new(),
        }
    }

    /// Adds organization scopes, which go into organization tokens (`aud` =
    /// `urn:logto:organization:<id>`). Their order here is the order in issued tokens.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds scopes of an API resource that the organization roles grant; they go into tokens
    /// requested with both `organization_id` and `resource`.
    #[must_use]
    pub fn resource_scopes<I, S>(mut self, resource: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        push_scopes(&mut self.resource_scopes, resource.into(), scopes);
        self
    }

    /// The organization id.
    #[must_use]
    pub fn organization_id(&self) -> &str {
        &self.organization_id
    }
}

/// A machine-to-machine application: id, secret, the resource scopes its roles grant and the
/// organizations it is associated with. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct App {
    pub(crate) id: String,
    pub(crate) secret: String,
    pub(crate) grants: Vec<(String, Vec<String>)>,
    pub(crate) organizations: Vec<OrganizationMembership>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("grants", &self.grants)
            .field("organizations", &self.organizations)
            .finish()
    }
}

impl App {
    /// An application with this id and secret, granted nothing yet.
    #[must_use]
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
            grants: Vec::new(),
            organizations: Vec::new(),
        }
    }

    /// Grants scopes of an API resource (Logto: machine-to-machine roles). Granting an empty list
    /// still lets the application get (scope-less) tokens for the resource, as Logto does.
    #[must_use]
    pub fn grant<I, S>(mut self, resource: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        push_scopes(&mut self.grants, resource.into(), scopes);
        self
    }

    /// Associates the application with an organization.
    #[must_use]
    pub fn organization(mut self, membership: OrganizationMembership) -> Self {
        self.organizations.push(membership);
        self
    }

    /// The application id (`client_id`).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn push_scopes<I, S>(list: &mut Vec<(String, Vec<String>)>, resource: String, scopes: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let scopes = scopes.into_iter().map(Into::into);
    if let Some((_, existing)) = list.iter_mut().find(|(r, _)| *r == resource) {
        existing.extend(scopes);
    } else {
        list.push((resource, scopes.collect()));
    }
}

/// The test server's tenant: applications, API resources, an optional default resource and
/// organizations. Build one with [`Config::builder`] or take [`Config::logto_default`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) apps: Vec<App>,
    pub(crate) resources: Vec<ApiResource>,
    pub(crate) default_resource: Option<String>,
    pub(crate) organizations: Vec<String>,
    pub(crate) management: ManagementData,
}

impl Config {
    /// An empty configuration to fill in.
    #[must_use]
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The tenant the recorded Logto responses came from (see [`defaults`]):
    ///
    /// - application `m2m-app` / `m2m-secret`;
    /// - resource `https://api.example.com`, lifetime 1800 s, scopes `read:items write:items
    ///   delete:items`, of which the application is granted `read:items write:items`;
    /// - the Management API `https://default.logto.app/api`, lifetime 3600 s, scope `all`
    ///   (granted);
    /// - organization `org-1`, with which the application is associated: organization scope
    ///   `org:read` and, through its organization roles, `read:items` on the example resource;
    ///   `org-x` is unknown;
    /// - no default resource;
    /// - the Management API data of [`ManagementData::sample`].
    #[must_use]
    pub fn logto_default() -> Self {
        Self {
            apps: vec![
                App::new(defaults::APP_ID, defaults::APP_SECRET)
                    .grant(defaults::RESOURCE, defaults::GRANTED_SCOPES)
                    .grant(defaults::MANAGEMENT_API, [defaults::MANAGEMENT_API_SCOPE])
                    .organization(
                        OrganizationMembership::new(defaults::ORGANIZATION)
                            .scopes([defaults::ORGANIZATION_SCOPE])
                            .resource_scopes(defaults::RESOURCE, ["read:items"]),
                    ),
            ],
            resources: vec![
                ApiResource::new(defaults::RESOURCE)
                    .ttl(defaults::RESOURCE_TTL)
                    .scopes(defaults::RESOURCE_SCOPES),
                ApiResource::management_api("default"),
            ],
            default_resource: None,
            organizations: vec![defaults::ORGANIZATION.to_owned()],
            management: ManagementData::sample(),
        }
    }

    /// The applications.
    #[must_use]
    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    /// The API resources.
    #[must_use]
    pub fn resources(&self) -> &[ApiResource] {
        &self.resources
    }

    /// The default resource, used when a request names neither `resource` nor `organization_id`.
    #[must_use]
    pub fn default_resource(&self) -> Option<&str> {
        self.default_resource.as_deref()
    }

    /// The applications and users the Management API routes start with.
    #[must_use]
    pub fn management_data(&self) -> &ManagementData {
        &self.management
    }

    /// The indicators of the configured Management API resources (`https://{tenant}.logto.app/api`).
    pub(crate) fn management_api_indicators(&self) -> impl Iterator<Item = &str> {
        self.resources
            .iter()
            .map(|r| r.indicator.as_str())
            .filter(|i| {
                i.strip_prefix("https://")
                    .and_then(|rest| rest.strip_suffix(".logto.app/api"))
                    .is_some_and(|tenant| !tenant.is_empty() && !tenant.contains(['/', '.']))
            })
    }

    pub(crate) fn app(&self, id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.id == id)
    }

    pub(crate) fn resource(&self, indicator: &str) -> Option<&ApiResource> {
        self.resources.iter().find(|r| r.indicator == indicator)
    }
}

/// Builds a [`Config`]; [`ConfigBuilder::build`] checks that every reference resolves.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    config: Config,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                apps: Vec::new(),
                resources: Vec::new(),
                default_resource: None,
                organizations: Vec::new(),
                management: ManagementData::empty(),
            },
        }
    }
}

impl ConfigBuilder {
    /// Adds an application.
    #[must_use]
    pub fn app(mut self, app: App) -> Self {
        self.config.apps.push(app);
        self
    }

    /// Adds an API resource.
    #[must_use]
    pub fn resource(mut self, resource: ApiResource) -> Self {
        self.config.resources.push(resource);
        self
    }

    /// Makes a configured resource the tenant's default API.
    #[must_use]
    pub fn default_resource(mut self, indicator: impl Into<String>) -> Self {
        self.config.default_resource = Some(indicator.into());
        self
    }

    /// Declares an organization.
    #[must_use]
    pub fn organization(mut self, id: impl Into<String>) -> Self {
        self.config.organizations.push(id.into());
        self
    }

    /// Sets the applications and users the Management API routes serve (none by default).
    #[must_use]
    pub fn management_data(mut self, data: ManagementData) -> Self {
        self.config.management = data;
        self
    }

    /// Checks the configuration: unique application ids and resource indicators, absolute
    /// resource indicators without fragments, and every granted scope, default resource and
    /// organization defined.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] names the first problem found.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.config;
        for (i, r) in c.resources.iter().enumerate() {
            if c.resources
                .iter()
                .skip(i + 1)
                .any(|o| o.indicator == r.indicator)
            {
                return Err(ConfigError::new(format!(
                    "resource {} is defined twice",
                    r.indicator
                )));
            }
            match url::Url::parse(&r.indicator) {
                Ok(u) if u.fragment().is_none() => {}
                _ => {
                    return Err(ConfigError::new(format!(
                        "resource indicator {} must be an absolute URI without a fragment",
                        r.indicator
                    )));
                }
            }
        }
        if let Some(d) = &c.default_resource {
            if c.resource(d).is_none() {
                return Err(ConfigError::new(format!(
                    "default resource {d} is not defined"
                )));
            }
        }
        let check_scopes = |owner: &str, resource: &str, scopes: &[String]| {
            let Some(r) = c.resource(resource) else {
                return Err(ConfigError::new(format!(
                    "{owner}: resource {resource} is not defined"
                )));
            };
            match scopes.iter().find(|s| !r.scopes.contains(s)) {
                Some(s) => Err(ConfigError::new(format!(
                    "{owner}: resource {resource} does not define scope {s}"
                ))),
                None => Ok(()),
            }
        };
        for (i, app) in c.apps.iter().enumerate() {
            if app.id.is_empty() || app.secret.is_empty() {
                return Err(ConfigError::new(
                    "application id and secret must not be empty",
                ));
            }
            if c.apps.iter().skip(i + 1).any(|o| o.id == app.id) {
                return Err(ConfigError::new(format!(
                    "application {} is defined twice",
                    app.id
                )));
            }
            let owner = format!("application {}", app.id);
            for (resource, scopes) in &app.grants {
                check_scopes(&owner, resource, scopes)?;
            }
            for m in &app.organizations {
                if !c.organizations.contains(&m.organization_id) {
                    return Err(ConfigError::new(format!(
                        "{owner}: organization {} is not declared",
                        m.organization_id
                    )));
                }
                for (resource, scopes) in &m.resource_scopes {
                    check_scopes(&owner, resource, scopes)?;
                }
            }
        }
        Ok(c)
    }
}

/// A [`ConfigBuilder::build`] failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid test server configuration: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}
