//! Every public type and error, built with a canary secret and a canary token, prints neither.
#![allow(clippy::unwrap_used)]

use std::time::{Instant, SystemTime};

use logto_m2m_proto::http::{self, Response};
use logto_m2m_proto::{
    AccessToken, AppSecret, ClientAuthMethod, ClientConfig, ConfigError, Discovery, Error, Poll,
    TokenCache, TokenParams, TokenRequest, TransportError, TransportErrorKind, redacted,
};

const SECRET: &str = "CANARY-SECRET-7f3a";
const TOKEN: &str = "CANARY-TOKEN-91bc";

/// `value` as `Debug` prints a byte slice, without the brackets: `67, 65, ..`.
fn as_debug_bytes(value: &str) -> String {
    let printed = format!("{:?}", value.as_bytes());
    printed
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

fn assert_clean(what: &str, printed: &str) {
    for (name, canary) in [("secret", SECRET), ("token", TOKEN)] {
        assert!(
            !printed.contains(canary),
            "{what} leaks the {name}: {printed}"
        );
        assert!(
            !printed.contains(&as_debug_bytes(canary)),
            "{what} shows the {name}'s bytes: {printed}"
        );
    }
}

fn assert_debug_clean(what: &str, value: &dyn std::fmt::Debug) {
    assert_clean(what, &format!("{value:?}"));
    assert_clean(what, &format!("{value:#?}"));
}

fn error_clean(what: &str, error: &Error) {
    assert_debug_clean(what, error);
    assert_clean(what, &error.to_string());
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        assert_clean(what, &inner.to_string());
        source = inner.source();
    }
}

#[test]
fn no_public_type_or_error_prints_a_secret_or_a_token() {
    let secret = AppSecret::from(SECRET);
    assert_debug_clean("AppSecret", &secret);
    assert_eq!(secret.expose_secret(), SECRET);
    let token = AccessToken::new(TOKEN.to_owned());
    assert_debug_clean("AccessToken", &token);

    for method in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
        let builder =
            ClientConfig::builder("https://t.logto.app", "app", SECRET).auth_method(method);
        assert_debug_clean("ClientConfigBuilder", &builder);
        let config = builder.build().unwrap();
        assert_debug_clean("ClientConfig", &config);
        let request = TokenRequest::new(
            &config,
            TokenParams::for_resource("https://api.example.com").scope("a"),
        )
        .unwrap();
        assert_debug_clean("TokenRequest", &request);
        assert_debug_clean("TokenKey", request.key());
        let http = request.to_http();
        assert_clean("redacted request", &redacted(&http).to_string());
        assert_debug_clean("redacted request", &redacted(&http));
        // The request the state machine hands out, with the body (the secret, with Post) inside.
        let mut cache = TokenCache::default();
        let poll = cache.poll(&request, Instant::now());
        assert!(matches!(poll, Poll::Fetch(_)));
        assert_debug_clean("Poll::Fetch", &poll);
        if method == ClientAuthMethod::Basic {
            assert_debug_clean("http::Request (Basic)", &http);
        }

        let success = Response::builder()
            .header("content-type", "text/plain")
            .body(format!(r#"{{"access_token":"{TOKEN}","expires_in":"60","refresh_token":"{TOKEN}","scope":"a b"}}"#))
            .unwrap();
        let parsed = request
            .parse_response(&success, Instant::now(), SystemTime::now())
            .unwrap();
        assert_eq!(parsed.access_token().expose_secret(), TOKEN);
        assert_debug_clean("Token", &parsed);
        assert_debug_clean("Token warnings", &parsed.warnings());
        assert_debug_clean("authorization value", &parsed.authorization_value());
        let mut api_call = http::Request::new(Vec::<u8>::new());
        logto_m2m_proto::authorize(&mut api_call, &parsed);
        assert_debug_clean("authorized API request", &api_call);
        assert_clean("authorized API request", &redacted(&api_call).to_string());

        let answers = [
            // Malformed success bodies that hold the token.
            format!(r#"{{"access_token":"{TOKEN}","expires_in":0}}"#),
            format!(r#"{{"access_token":"{TOKEN}", oops"#),
            format!(r#"{{"access_token":"{TOKEN}","expires_in":"{TOKEN}"}}"#),
            format!(
                r#"{{"access_token":"{TOKEN}","expires_in":60,"token_type":{{"t":"{TOKEN}"}}}}"#
            ),
        ];
        for body in answers {
            let response = Response::builder().body(body).unwrap();
            let error = request
                .parse_response(&response, Instant::now(), SystemTime::now())
                .unwrap_err();
            error_clean("invalid response", &error);
        }
        for (status, body) in [
            (
                400,
                format!(
                    r#"{{"error":"invalid_request","error_description":"{SECRET}","message":"{SECRET}","error_uri":"{SECRET}"}}"#
                ),
            ),
            (502, format!("<html>{SECRET}</html>")),
            (400, format!(r#"{{"error":"{SECRET}"}}"#)),
            (
                429,
                format!(r#"{{"code":"{SECRET}","message":"{SECRET}"}}"#),
            ),
            (
                200,
                format!(r#"{{"error":"server_error","error_description":"{SECRET}"}}"#),
            ),
        ] {
            let response = Response::builder()
                .status(status)
                .header("www-authenticate", format!(r#"Basic realm="{SECRET}""#))
                .body(body)
                .unwrap();
            let error = request
                .parse_response(&response, Instant::now(), SystemTime::now())
                .unwrap_err();
            error_clean("server error", &error);
        }
    }

    let config_errors = [
        ClientConfig::builder("https://t.logto.app", "app", "")
            .build()
            .unwrap_err(),
        ClientConfig::builder("http://remote.example", "app", SECRET)
            .build()
            .unwrap_err(),
        ClientConfig::builder("not a url", "app", SECRET)
            .build()
            .unwrap_err(),
    ];
    for error in config_errors {
        error_clean("config error", &Error::from(error));
    }
    let transport = TransportError::new(TransportErrorKind::Timeout, "timed out after 10s");
    error_clean("transport error", &Error::from(transport));
    error_clean("config error", &Error::from(ConfigError::MultipleResources));

    let discovery = Discovery::new("https://t.logto.app", false).unwrap();
    let echo = Response::builder()
        .status(500)
        .body(SECRET.to_owned())
        .unwrap();
    // Discovery never holds the secret, so there is nothing to scrub; it must not invent one either.
    assert_debug_clean("Discovery", &discovery);
    let _ = discovery.parse_response(&echo, SystemTime::now());
}

/// The length of a secret is a secret too: what is printed of a request, a pending fetch or the
/// redacted request must not change with it.
#[test]
fn nothing_printed_tells_the_length_of_the_secret() {
    let now = Instant::now();
    let printed = |secret: &str, method| {
        let config = ClientConfig::builder("https://t.logto.app", "app", secret)
            .auth_method(method)
            .build()
            .unwrap();
        let request = TokenRequest::new(
            &config,
            TokenParams::for_resource("https://api.example.com").scope("a"),
        )
        .unwrap();
        let poll = TokenCache::default().poll(&request, now);
        let http = request.to_http();
        [
            format!("{request:?}"),
            format!("{poll:?}"),
            redacted(&http).to_string(),
            format!("{:?}", redacted(&http)),
        ]
    };
    for method in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
        assert_eq!(
            printed("short", method),
            printed("a-much-longer-secret-of-another-length", method),
            "{method:?}"
        );
    }
}
