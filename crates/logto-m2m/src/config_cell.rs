//! The manager's configuration, which a secret rotation replaces, and the check that a token
//! request was built with it.

use std::sync::Arc;

use arc_swap::ArcSwap;
use logto_m2m_proto::{AppSecret, ClientConfig, ConfigError, CredentialsFingerprint, TokenRequest};

/// The configuration in force. Reading it takes no lock.
#[derive(Debug)]
pub(crate) struct ConfigCell(ArcSwap<ClientConfig>);

impl ConfigCell {
    pub(crate) fn new(config: ClientConfig) -> Self {
        Self(ArcSwap::from_pointee(config))
    }

    /// The configuration in force.
    pub(crate) fn current(&self) -> ClientConfig {
        ClientConfig::clone(&self.0.load())
    }

    /// Refuses a request that was not built with the configuration in force: a wrong secret must
    /// not be served the token of the right one, nor an old secret be sent after a rotation.
    pub(crate) fn check(&self, request: &TokenRequest) -> Result<(), ConfigError> {
        if *request.config() == **self.0.load() {
            Ok(())
        } else {
            Err(ConfigError::ForeignRequest)
        }
    }

    /// Puts `secret` in force; returns the fingerprint of the credentials it replaces, if they
    /// differ from the new ones.
    pub(crate) fn rotate_secret(
        &self,
        secret: &AppSecret,
    ) -> Result<Option<CredentialsFingerprint>, ConfigError> {
        let mut replaced = Ok(None);
        self.0
            .rcu(|current| match current.with_app_secret(secret.clone()) {
                Ok(rotated) => {
                    let old = current.credentials_fingerprint();
                    replaced = Ok((old != rotated.credentials_fingerprint()).then_some(old));
                    Arc::new(rotated)
                }
                Err(error) => {
                    replaced = Err(error);
                    Arc::clone(current)
                }
            });
        replaced
    }
}
