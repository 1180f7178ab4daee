//! Secret newtypes: the app secret and the access token.
//!
//! Both have a redacted `Debug`, no `Display`, no `Serialize`, are zeroized on drop, and give their
//! value only through an explicit `expose_secret()` call.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// The M2M app's secret.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AppSecret(String);

impl AppSecret {
    /// Wraps a secret. The `String` is moved, so no copy stays behind.
    #[must_use]
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret's value. Call this only to send it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for AppSecret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for AppSecret {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecret([redacted])")
    }
}

/// An access token's value.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token value.
    #[must_use]
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The token's value. Call this only to send it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}
