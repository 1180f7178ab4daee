//! The Redis key names and the notification channel of a store: a prefix, then each token key's
//! id in a hash tag, so that a key's entry and its lock live in one Redis Cluster hash slot (the
//! write script touches both).

use logto_m2m_proto::StoreKey;

/// The prefix of every key name when none is set.
pub const DEFAULT_PREFIX: &str = "logto-m2m:";

/// Builds the names a store uses under its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyNames {
    prefix: String,
}

impl KeyNames {
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}{<id>}:entry`: the sealed entry.
    pub(crate) fn entry(&self, key: &StoreKey) -> String {
        format!("{}{{{}}}:entry", self.prefix, key.id())
    }

    /// `{prefix}{<id>}:lock`: the fleet lock, holding its owner in hexadecimal.
    pub(crate) fn lock(&self, key: &StoreKey) -> String {
        format!("{}{{{}}}:lock", self.prefix, key.id())
    }

    /// `{prefix}published`: the channel every write publishes the id of its key on.
    pub(crate) fn channel(&self) -> String {
        format!("{}published", self.prefix)
    }
}
