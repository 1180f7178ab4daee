//! The cache key: everything that changes which token the server issues.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::config::{ClientAuthMethod, ClientConfig};
use crate::credentials::CredentialsFingerprint;

/// Identifies one token: token endpoint, app id, the keyed fingerprint of the app's credentials
/// (never the secret), authentication method, resource, organization, the normalised (sorted)
/// scopes and the extra parameters. Two requests with the same key get interchangeable tokens;
/// anything that could change the token is part of it, so a token fetched with one secret is never
/// handed out for another.
///
/// The key's hash is computed once, when the key is made, so looking a key up costs no more than
/// hashing one `u64` and comparing the fields.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey {
    hash: u64,
    fields: KeyFields,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct KeyFields {
    credentials: CredentialsFingerprint,
    token_endpoint: String,
    app_id: String,
    auth_method: ClientAuthMethod,
    resource: Option<String>,
    organization_id: Option<String>,
    sorted_scopes: Vec<String>,
    extra: Vec<(String, String)>,
}

impl TokenKey {
    pub(crate) fn new(
        config: &ClientConfig,
        resource: Option<&str>,
        organization_id: Option<&str>,
        sorted_scopes: Vec<String>,
        extra: &[(String, String)],
    ) -> Self {
        let fields = KeyFields {
            credentials: config.credentials_fingerprint(),
            token_endpoint: config.token_endpoint().to_owned(),
            app_id: config.app_id().to_owned(),
            auth_method: config.auth_method(),
            resource: resource.map(str::to_owned),
            organization_id: organization_id.map(str::to_owned),
            sorted_scopes,
            extra: extra.to_vec(),
        };
        let mut hasher = DefaultHasher::new();
        fields.hash(&mut hasher);
        Self {
            hash: hasher.finish(),
            fields,
        }
    }

    /// The keyed fingerprint of the credentials the token is fetched with.
    #[must_use]
    pub fn credentials(&self) -> CredentialsFingerprint {
        self.fields.credentials
    }

    /// The resource indicator of this key, if any.
    #[must_use]
    pub fn resource(&self) -> Option<&str> {
        self.fields.resource.as_deref()
    }

    /// The organization id of this key, if any.
    #[must_use]
    pub fn organization_id(&self) -> Option<&str> {
        self.fields.organization_id.as_deref()
    }

    /// Feeds every field of the key, in a fixed order, to `feed` (an absent field as an empty one
    /// after a presence byte), for a hash that is the same in every process: the shared store's
    /// key names.
    pub(crate) fn feed_canonical(&self, feed: &mut dyn FnMut(&[u8])) {
        let fields = &self.fields;
        feed(fields.credentials.as_bytes());
        feed(fields.token_endpoint.as_bytes());
        feed(fields.app_id.as_bytes());
        feed(match fields.auth_method {
            ClientAuthMethod::Basic => b"client_secret_basic",
            ClientAuthMethod::Post => b"client_secret_post",
        });
        for optional in [&fields.resource, &fields.organization_id] {
            match optional {
                Some(value) => {
                    feed(b"\x01");
                    feed(value.as_bytes());
                }
                None => feed(b"\x00"),
            }
        }
        feed(&(fields.sorted_scopes.len() as u64).to_be_bytes());
        for scope in &fields.sorted_scopes {
            feed(scope.as_bytes());
        }
        feed(&(fields.extra.len() as u64).to_be_bytes());
        for (name, value) in &fields.extra {
            feed(name.as_bytes());
            feed(value.as_bytes());
        }
    }

    /// The scopes of this key, sorted.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.fields.sorted_scopes
    }
}

/// The fields, without the hash (which depends on the credentials' fingerprint: a `Debug` print
/// must not change with the secret).
impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenKey").field(&self.fields).finish()
    }
}

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}
