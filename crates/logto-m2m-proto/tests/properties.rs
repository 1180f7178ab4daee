//! Properties: the Basic header round-trips through Logto's decoding, parsing never panics, and the
//! scope cache key ignores order while the wire keeps it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::{Instant, SystemTime};

use base64::Engine as _;
use logto_m2m_proto::http::{HeaderName, HeaderValue, Response, StatusCode};
use logto_m2m_proto::{ClientConfig, TokenParams, TokenRequest};
use proptest::prelude::*;

/// Logto's decoding (oidc-provider `client_auth.js`): base64, split at the first `:`, then each half
/// through `decodeURIComponent(x.replace(/\+/g, '%20'))`.
fn decode_like_logto(header: &str) -> (String, String) {
    let encoded = header.strip_prefix("Basic ").unwrap();
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    assert!(
        decoded.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "Logto refuses bytes outside 0x20-0x7E"
    );
    let (id, secret) = decoded.split_once(':').unwrap();
    let decode = |part: &str| {
        let spaced = part.replace('+', "%20");
        percent_decode(&spaced)
    };
    (decode(id), decode(secret))
}

/// `decodeURIComponent`: every `%XX` is a byte; the result must be UTF-8.
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn credential() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{1,24}",
        "[:%+/ a-z]{1,16}",
        "\\PC{1,24}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

proptest! {
    #[test]
    fn basic_header_decodes_as_logto_does_to_the_same_id_and_secret(id in credential(), secret in credential()) {
        let config = ClientConfig::builder("https://t.logto.app", id.clone(), secret.clone()).build().unwrap();
        let request = TokenRequest::new(&config, TokenParams::for_resource("https://api.example.com")).unwrap();
        let http = request.to_http();
        let header = http.headers()["authorization"].to_str().unwrap();
        let (decoded_id, decoded_secret) = decode_like_logto(header);
        prop_assert_eq!(decoded_id, id);
        prop_assert_eq!(decoded_secret, secret);
    }

    #[test]
    fn parsing_arbitrary_answers_never_panics(
        status in 100u16..1000,
        headers in proptest::collection::vec(
            (
                prop_oneof![
                    Just("retry-after".to_owned()),
                    Just("content-type".to_owned()),
                    Just("date".to_owned()),
                    Just("www-authenticate".to_owned()),
                    "[a-z-]{1,20}",
                ],
                prop_oneof![
                    proptest::collection::vec(0x20u8..0x7f, 0..40),
                    "[0-9]{1,25}|application/json|[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT".prop_map(String::into_bytes),
                ],
            ),
            0..6,
        ),
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            "\\{\"access_token\":\"[ -~]{0,10}\",\"expires_in\":(-?[0-9]{1,25}(\\.[0-9])?|\"[ -~]{0,6}\"|null|true),\"token_type\":\"[a-zA-Z]{0,8}\",\"scope\":\"[ a-z:]{0,20}\"\\}".prop_map(String::into_bytes),
            "\\{\"error\":\"[a-z_]{0,20}\",\"error_description\":\"[ -~]{0,30}\",\"code\":\"[a-z.]{0,20}\"\\}".prop_map(String::into_bytes),
        ],
    ) {
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            response.headers_mut().append(name, HeaderValue::from_bytes(&value).unwrap());
        }
        let request = common::request(TokenParams::for_resource("https://api.example.com").scope("read"));
        let sent_at = Instant::now();
        if let Ok(token) = request.parse_response(&response, sent_at, SystemTime::now()) {
            prop_assert!(response.status().is_success());
            prop_assert!(token.expires_at() > sent_at);
            prop_assert!(token.lifetime() <= request.config().expiry_policy().max_expires_in);
        }
    }

    #[test]
    fn scope_cache_key_is_order_insensitive_and_the_wire_keeps_the_order(
        scopes in proptest::collection::vec("[a-z:]{1,8}", 0..8),
        seed in any::<u64>(),
    ) {
        let mut shuffled = scopes.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let a = common::request(TokenParams::for_resource("https://api.example.com").scopes(scopes.clone()));
        let b = common::request(TokenParams::for_resource("https://api.example.com").scopes(shuffled));
        prop_assert_eq!(a.key(), b.key());
        let mut expected_wire: Vec<&str> = Vec::new();
        for scope in &scopes {
            if !expected_wire.contains(&scope.as_str()) {
                expected_wire.push(scope);
            }
        }
        prop_assert_eq!(a.params().requested_scopes().iter().collect::<Vec<_>>(), expected_wire);
    }
}
