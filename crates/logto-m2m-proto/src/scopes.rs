//! Scope lists: duplicates removed, the caller's order kept on the wire, and a sorted form for
//! cache keys.

use std::sync::Arc;

use crate::error::ConfigError;

/// A list of scopes as asked for: duplicates removed, order kept.
///
/// Clones share the list: a token granted exactly the scopes it was asked for shares its request's
/// list instead of copying it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes {
    in_order: Arc<[String]>,
}

impl Scopes {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a scope unless it is already there. The scope is checked when the request is built.
    pub fn push(&mut self, scope: impl Into<String>) {
        let scope = scope.into();
        if !self.in_order.contains(&scope) {
            let mut in_order = self.in_order.to_vec();
            in_order.push(scope);
            self.in_order = in_order.into();
        }
    }

    /// Parses a space-separated `scope` value (as a server sends it).
    #[must_use]
    pub fn from_wire(value: &str) -> Self {
        value.split(' ').filter(|s| !s.is_empty()).collect()
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.in_order.is_empty()
    }

    /// How many scopes there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.in_order.len()
    }

    /// Whether `scope` is in the list.
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.in_order.iter().any(|s| s == scope)
    }

    /// The scopes in the order they were asked for.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.in_order.iter().map(String::as_str)
    }

    /// The `scope` parameter as sent: the scopes in order, joined by single spaces.
    #[must_use]
    pub fn to_wire(&self) -> String {
        self.in_order.join(" ")
    }

    /// The normalised form used in cache keys: sorted, so that the order of asking does not matter.
    #[must_use]
    pub fn sorted(&self) -> Vec<String> {
        let mut sorted = self.in_order.to_vec();
        sorted.sort_unstable();
        sorted
    }

    /// The scopes of `self` that are not in `other`, in order.
    #[must_use]
    pub fn missing_from(&self, other: &Self) -> Self {
        if self.in_order.iter().all(|s| other.contains(s)) {
            return Self::new();
        }
        Self {
            in_order: self
                .in_order
                .iter()
                .filter(|s| !other.contains(s))
                .cloned()
                .collect(),
        }
    }

    /// Checks every scope against RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for scope in self.in_order.iter() {
            let valid = !scope.is_empty()
                && scope
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid {
                return Err(ConfigError::InvalidScope {
                    scope: scope.clone(),
                });
            }
        }
        Ok(())
    }
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut in_order: Vec<String> = Vec::new();
        for scope in iter {
            let scope = scope.into();
            if !in_order.contains(&scope) {
                in_order.push(scope);
            }
        }
        Self {
            in_order: in_order.into(),
        }
    }
}
