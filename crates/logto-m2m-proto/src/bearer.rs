//! Using a token: the `Authorization` header value, and setting it on a request.

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use zeroize::Zeroizing;

use crate::sensitive_header::sensitive_header_value;
use crate::token::{Token, TokenType};

/// The `Authorization` value for `token`: `Bearer <token>` (or `DPoP <token>` for a DPoP token),
/// marked sensitive so that `Debug` hides it and HTTP/2 never indexes it, and zeroized when the
/// request that carries it is dropped.
pub(crate) fn authorization_value(token: &Token) -> HeaderValue {
    let scheme = match token.token_type() {
        TokenType::DPoP => "DPoP ",
        _ => "Bearer ",
    };
    let mut value = Zeroizing::new(String::with_capacity(
        scheme.len() + token.access_token().expose_secret().len(),
    ));
    value.push_str(scheme);
    value.push_str(token.access_token().expose_secret());
    // A token with bytes that a header cannot carry was refused by the parser; an empty value is
    // the safe fallback (the resource server answers 401).
    sensitive_header_value(value).unwrap_or_else(|| HeaderValue::from_static(""))
}

/// Sets `Authorization: Bearer <token>` on `request`, replacing any `Authorization` it had.
pub fn authorize<B>(request: &mut Request<B>, token: &Token) {
    request
        .headers_mut()
        .insert(AUTHORIZATION, authorization_value(token));
}
