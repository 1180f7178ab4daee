//! The `Authorization: Basic` value for `client_secret_basic`, encoded as RFC 6749 §2.3.1 says:
//! each of id and secret is form-urlencoded (Appendix B) before they are joined with `:` and
//! base64-encoded. Logto decodes it the same way (split at the first `:`, `+` to space, then
//! percent-decoding), so ids and secrets with `:`, `%`, `+`, `/`, spaces or non-ASCII survive.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::secret::AppSecret;

/// The header value, `Basic <base64>`: visible ASCII only. Zeroized when dropped.
pub(crate) fn basic_authorization(app_id: &str, secret: &AppSecret) -> Zeroizing<String> {
    let mut credentials = Zeroizing::new(String::new());
    credentials.extend(form_urlencoded::byte_serialize(app_id.as_bytes()));
    credentials.push(':');
    credentials.extend(form_urlencoded::byte_serialize(
        secret.expose_secret().as_bytes(),
    ));
    let mut value = Zeroizing::new(String::from("Basic "));
    STANDARD.encode_string(credentials.as_bytes(), &mut value);
    value
}
