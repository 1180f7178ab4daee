//! Printing a request for logs and diagnostics with its secrets redacted.

use std::fmt;

use http::Request;

/// Form fields whose values are secret.
const SECRET_FIELDS: [&str; 2] = ["client_secret", "client_assertion"];

/// Wraps `request` so that `Display` prints it like an HTTP/1.1 message with every sensitive header
/// (`Authorization` as built by this crate) and every secret form field replaced by `[redacted]`.
#[must_use]
pub fn redacted<B: AsRef<[u8]>>(request: &Request<B>) -> Redacted<'_, B> {
    Redacted { request }
}

/// A request printed with its secrets redacted; see [`redacted`]. `Debug` prints the same
/// redacted text (the request's own `Debug` would show the body, secret and all).
pub struct Redacted<'a, B> {
    request: &'a Request<B>,
}

impl<B: AsRef<[u8]>> fmt::Debug for Redacted<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Redacted")
            .field(&format_args!("{self}"))
            .finish()
    }
}

impl<B: AsRef<[u8]>> fmt::Display for Redacted<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let request = self.request;
        writeln!(f, "{} {} HTTP/1.1", request.method(), request.uri())?;
        for (name, value) in request.headers() {
            let secret = value.is_sensitive() || name == http::header::AUTHORIZATION;
            match value.to_str() {
                _ if secret => writeln!(f, "{name}: [redacted]")?,
                Ok(text) => writeln!(f, "{name}: {text}")?,
                Err(_) => writeln!(f, "{name}: <{} bytes>", value.len())?,
            }
        }
        writeln!(f)?;
        let body = request.body().as_ref();
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in form_urlencoded::parse(body) {
            if SECRET_FIELDS.contains(&name.as_ref()) {
                form.append_pair(&name, "[redacted]");
            } else {
                form.append_pair(&name, &value);
            }
        }
        f.write_str(&form.finish())
    }
}
