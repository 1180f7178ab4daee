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
///
/// Held as a `Box<str>` (no spare capacity), which `zeroize` clears with one bulk write: a token is
/// several hundred bytes, and one is dropped for every token fetched.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct AccessToken(Box<str>);

impl AccessToken {
    /// Wraps a token value. The `String` is moved; if it had spare capacity, its value is copied
    /// into an exact-size buffer and the `String` zeroized, so no copy stays behind.
    #[must_use]
    pub fn new(mut token: String) -> Self {
        if token.len() == token.capacity() {
            // No reallocation: the buffer becomes the box as it is.
            return Self(token.into_boxed_str());
        }
        let exact = Box::from(token.as_str());
        token.zeroize();
        Self(exact)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_token_keeps_its_value_whatever_the_capacity_it_came_with() {
        let mut roomy = String::with_capacity(64);
        roomy.push_str("eyJ.a.b");
        let exact = String::from("eyJ.a.b");
        assert_eq!(AccessToken::new(roomy).expose_secret(), "eyJ.a.b");
        assert_eq!(AccessToken::new(exact).expose_secret(), "eyJ.a.b");
        assert_eq!(AccessToken::new(String::new()).expose_secret(), "");
    }
}
