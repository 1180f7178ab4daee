//! The client's configuration: the Logto endpoint, the app's credentials, how they are sent, and how
//! tolerant the response parser is.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;

use crate::credentials::CredentialsFingerprint;
use crate::endpoint::{parse_endpoint, parse_secure_url};
use crate::error::ConfigError;
use crate::secret::AppSecret;

/// How the app authenticates to the token endpoint. Exactly one is used; never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_secret_basic`: an `Authorization: Basic` header with the id and secret form-encoded
    /// as RFC 6749 §2.3.1 says (what Logto registers M2M apps with).
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

/// Limits that the response parser applies to `expires_in` (normalized when used: see
/// [`ExpiryPolicy::normalized`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpiryPolicy {
    /// The lifetime assumed when a success response has no `expires_in` (reported as a warning).
    /// Default 300 s: finite, and short enough that an unknown lifetime is renewed soon.
    pub default_expires_in: Duration,
    /// The largest lifetime believed; larger values are clamped (reported as a warning).
    /// Default 24 h: refreshing a longer-lived token once a day costs nothing and bounds the damage
    /// of a server that sends nonsense.
    pub max_expires_in: Duration,
}

impl ExpiryPolicy {
    /// The policy as the parser applies it: the largest lifetime at least 1 s, and the default
    /// lifetime between 1 s and the largest. A token never arrives already expired, nor beyond the
    /// largest lifetime, whatever was configured.
    #[must_use]
    pub fn normalized(self) -> Self {
        let max_expires_in = self.max_expires_in.max(Duration::from_secs(1));
        Self {
            max_expires_in,
            default_expires_in: self
                .default_expires_in
                .clamp(Duration::from_secs(1), max_expires_in),
        }
    }

    /// Sets the lifetime assumed when `expires_in` is missing.
    #[must_use]
    pub fn with_default_expires_in(mut self, lifetime: Duration) -> Self {
        self.default_expires_in = lifetime;
        self
    }

    /// Sets the largest lifetime believed.
    #[must_use]
    pub fn with_max_expires_in(mut self, lifetime: Duration) -> Self {
        self.max_expires_in = lifetime;
        self
    }
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            default_expires_in: Duration::from_secs(300),
            max_expires_in: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// A validated client configuration. Cheap to clone (shared).
///
/// Two configurations are equal when they name the same endpoints, app, credentials (compared by
/// their [`CredentialsFingerprint`], never byte by byte), authentication method and parser limits.
#[derive(Clone)]
pub struct ClientConfig {
    inner: Arc<ConfigInner>,
}

struct ConfigInner {
    endpoint: String,
    endpoint_host: String,
    token_endpoint: String,
    token_endpoint_uri: Uri,
    app_id: String,
    app_secret: AppSecret,
    credentials: CredentialsFingerprint,
    auth_method: ClientAuthMethod,
    expiry: ExpiryPolicy,
    allow_insecure_http: bool,
}

impl ClientConfig {
    /// Starts a configuration for the Logto `endpoint` (for example `https://your-tenant.logto.app`
    /// or your self-hosted URL) and the M2M app's id and secret.
    pub fn builder(
        endpoint: impl Into<String>,
        app_id: impl Into<String>,
        app_secret: impl Into<AppSecret>,
    ) -> ClientConfigBuilder {
        ClientConfigBuilder {
            endpoint: endpoint.into(),
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            token_endpoint: None,
            auth_method: ClientAuthMethod::default(),
            allow_insecure_http: false,
            expiry: ExpiryPolicy::default(),
        }
    }

    /// The Logto endpoint, without a trailing slash.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The endpoint's host name.
    #[must_use]
    pub fn endpoint_host(&self) -> &str {
        &self.inner.endpoint_host
    }

    /// The token endpoint: `{endpoint}/oidc/token` unless overridden.
    #[must_use]
    pub fn token_endpoint(&self) -> &str {
        &self.inner.token_endpoint
    }

    pub(crate) fn token_endpoint_uri(&self) -> &Uri {
        &self.inner.token_endpoint_uri
    }

    /// The app id.
    #[must_use]
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The app secret.
    #[must_use]
    pub fn app_secret(&self) -> &AppSecret {
        &self.inner.app_secret
    }

    /// The keyed fingerprint of the app id and secret, which token keys carry.
    #[must_use]
    pub fn credentials_fingerprint(&self) -> CredentialsFingerprint {
        self.inner.credentials
    }

    /// This configuration with another app secret (after a rotation): everything else is kept.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyAppSecret`] when `app_secret` is empty.
    pub fn with_app_secret(&self, app_secret: impl Into<AppSecret>) -> Result<Self, ConfigError> {
        let app_secret = app_secret.into();
        if app_secret.expose_secret().is_empty() {
            return Err(ConfigError::EmptyAppSecret);
        }
        let inner = &self.inner;
        Ok(Self {
            inner: Arc::new(ConfigInner {
                endpoint: inner.endpoint.clone(),
                endpoint_host: inner.endpoint_host.clone(),
                token_endpoint: inner.token_endpoint.clone(),
                token_endpoint_uri: inner.token_endpoint_uri.clone(),
                app_id: inner.app_id.clone(),
                credentials: CredentialsFingerprint::new(&inner.app_id, &app_secret),
                app_secret,
                auth_method: inner.auth_method,
                expiry: inner.expiry,
                allow_insecure_http: inner.allow_insecure_http,
            }),
        })
    }

    /// How the app authenticates.
    #[must_use]
    pub fn auth_method(&self) -> ClientAuthMethod {
        self.inner.auth_method
    }

    /// The parser's limits on `expires_in`.
    #[must_use]
    pub fn expiry_policy(&self) -> ExpiryPolicy {
        self.inner.expiry
    }

    /// Whether plain `http` to non-loopback hosts was allowed.
    #[must_use]
    pub fn allows_insecure_http(&self) -> bool {
        self.inner.allow_insecure_http
    }
}

impl PartialEq for ClientConfig {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.inner, &other.inner);
        Arc::ptr_eq(a, b)
            || (a.credentials == b.credentials
                && a.app_id == b.app_id
                && a.token_endpoint == b.token_endpoint
                && a.endpoint == b.endpoint
                && a.auth_method == b.auth_method
                && a.expiry == b.expiry
                && a.allow_insecure_http == b.allow_insecure_http)
    }
}

impl Eq for ClientConfig {}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoint", &self.inner.endpoint)
            .field("token_endpoint", &self.inner.token_endpoint)
            .field("app_id", &self.inner.app_id)
            .field("app_secret", &self.inner.app_secret)
            .field("auth_method", &self.inner.auth_method)
            .field("expiry", &self.inner.expiry)
            .finish()
    }
}

/// Builds a [`ClientConfig`]; every check runs in [`build`](Self::build).
#[must_use = "call build() to get the configuration"]
pub struct ClientConfigBuilder {
    endpoint: String,
    app_id: String,
    app_secret: AppSecret,
    token_endpoint: Option<String>,
    auth_method: ClientAuthMethod,
    allow_insecure_http: bool,
    expiry: ExpiryPolicy,
}

impl fmt::Debug for ClientConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfigBuilder")
            .field("endpoint", &self.endpoint)
            .field("app_id", &self.app_id)
            .field("app_secret", &self.app_secret)
            .field("token_endpoint", &self.token_endpoint)
            .field("auth_method", &self.auth_method)
            .finish_non_exhaustive()
    }
}

impl ClientConfigBuilder {
    /// Uses another token endpoint than `{endpoint}/oidc/token` (from OIDC discovery, say).
    pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.token_endpoint = Some(url.into());
        self
    }

    /// Chooses how the app authenticates (default [`ClientAuthMethod::Basic`]).
    pub fn auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.auth_method = method;
        self
    }

    /// Allows plain `http` to hosts that are not loopback. The app secret then travels unencrypted:
    /// only for private networks you trust.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Sets the parser's limits on `expires_in`.
    pub fn expiry_policy(mut self, policy: ExpiryPolicy) -> Self {
        self.expiry = policy;
        self
    }

    /// Checks everything and builds the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the endpoint is not an absolute `https` URL (or `http` on loopback)
    /// without query, fragment or user info, when it ends in one of Logto's OIDC paths (`/oidc`,
    /// `/oidc/token`: [`ConfigError::EndpointWithOidcPath`] names the base URL to give instead),
    /// or when the app id or secret is empty.
    pub fn build(self) -> Result<ClientConfig, ConfigError> {
        let endpoint_url = parse_endpoint(&self.endpoint, self.allow_insecure_http)?;
        let endpoint = endpoint_url.without_trailing_slash();
        let token_endpoint = match &self.token_endpoint {
            Some(url) => {
                let url = parse_secure_url("token endpoint", url, self.allow_insecure_http)?;
                url.as_str().to_owned()
            }
            None => format!("{endpoint}/oidc/token"),
        };
        let token_endpoint_uri = to_uri("token endpoint", &token_endpoint)?;
        if self.app_id.is_empty() {
            return Err(ConfigError::EmptyAppId);
        }
        if self.app_secret.expose_secret().is_empty() {
            return Err(ConfigError::EmptyAppSecret);
        }
        Ok(ClientConfig {
            inner: Arc::new(ConfigInner {
                endpoint_host: endpoint_url.host().to_owned(),
                endpoint,
                token_endpoint,
                token_endpoint_uri,
                credentials: CredentialsFingerprint::new(&self.app_id, &self.app_secret),
                app_id: self.app_id,
                app_secret: self.app_secret,
                auth_method: self.auth_method,
                expiry: self.expiry,
                allow_insecure_http: self.allow_insecure_http,
            }),
        })
    }
}

/// Converts a checked URL into an `http::Uri`.
pub(crate) fn to_uri(what: &'static str, url: &str) -> Result<Uri, ConfigError> {
    url.parse::<Uri>().map_err(|e| ConfigError::InvalidUrl {
        what,
        reason: e.to_string(),
    })
}
