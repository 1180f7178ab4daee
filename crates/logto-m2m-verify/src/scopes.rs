//! Required scopes: all of a list, or any of it.

use std::fmt;

/// The scopes a request needs: all of them ([`RequiredScopes::all`]) or at least one
/// ([`RequiredScopes::any`]). An empty list needs nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct RequiredScopes {
    any: bool,
    scopes: Vec<String>,
}

impl fmt::Debug for RequiredScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = if self.any { "any" } else { "all" };
        f.debug_struct("RequiredScopes")
            .field(rule, &self.scopes)
            .finish()
    }
}

impl RequiredScopes {
    /// Every one of `scopes` must be granted.
    #[must_use]
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            any: false,
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// At least one of `scopes` must be granted.
    #[must_use]
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            any: true,
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// No scope is needed.
    #[must_use]
    pub fn none() -> Self {
        Self::all(Vec::<String>::new())
    }

    /// The listed scopes.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `granted` satisfies this requirement.
    #[must_use]
    pub fn is_met_by(&self, granted: &[String]) -> bool {
        if self.scopes.is_empty() {
            return true;
        }
        let has = |s: &String| granted.contains(s);
        if self.any {
            self.scopes.iter().any(has)
        } else {
            self.scopes.iter().all(has)
        }
    }

    /// The scopes space-separated, as a challenge's `scope` attribute.
    #[must_use]
    pub fn to_wire(&self) -> String {
        self.scopes.join(" ")
    }
}
