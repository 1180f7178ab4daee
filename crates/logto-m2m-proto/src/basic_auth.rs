//! The `Authorization: Basic` value for `client_secret_basic`, encoded as RFC 6749 §2.3.1 says:
//! each of id and secret is form-urlencoded (Appendix B) before they are joined with `:` and
//! base64-encoded. Logto decodes it the same way (split at the first `:`, `+` to space, then
//! percent-decoding), so ids and secrets with `:`, `%`, `+`, `/`, spaces or non-ASCII survive.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use zeroize::Zeroizing;

use crate::secret::AppSecret;

/// Builds the header value, marked sensitive so that HTTP/2 never indexes it and `Debug` hides it.
pub(crate) fn basic_authorization(app_id: &str, secret: &AppSecret) -> HeaderValue {
    let mut credentials = Zeroizing::new(String::new());
    credentials.extend(form_urlencoded::byte_serialize(app_id.as_bytes()));
    credentials.push(':');
    credentials.extend(form_urlencoded::byte_serialize(
        secret.expose_secret().as_bytes(),
    ));
    let mut value = Zeroizing::new(String::from("Basic "));
    STANDARD.encode_string(credentials.as_bytes(), &mut value);
    let mut header = HeaderValue::from_str(&value)
        // base64 and "Basic " are visible ASCII, always a valid header value.
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    header.set_sensitive(true);
    header
}
