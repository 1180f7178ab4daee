//! Every public type and error, built with a canary secret and a canary token, prints neither; and
//! a server that echoes the secret in any form it takes on the wire, in any place of its answer,
//! gets none of them into an error or a warning.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::{Instant, SystemTime};

use logto_m2m_proto::http::{self, Response};
use logto_m2m_proto::{
    AccessToken, AppSecret, ClientAuthMethod, ClientConfig, ConfigError, Discovery, Error, Jitter,
    Poll, TokenCache, TokenParams, TokenRequest, TransportError, TransportErrorKind, redacted,
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
        let poll = cache.poll(&request, Instant::now(), SystemTime::now());
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
    let (now, wall_now) = (Instant::now(), SystemTime::now());
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
        let poll = TokenCache::default().poll(&request, now, wall_now);
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

/// The wire forms of a secret and the escapes an echo may add, written from the protocol; the
/// fuzz oracle looks for the same ones.
#[allow(dead_code, unreachable_pub)]
#[path = "../../../fuzz/src/checks/secret_forms.rs"]
mod secret_forms;

use logto_m2m_proto::ServerError;
use secret_forms::Form;

/// Secrets whose characters every encoding writes its own way.
const ECHOED_SECRETS: [&str; 2] = ["CANARY s+/&<\"\\%é-7f3a", "CANARY'>=:?#🦀~*x 9c"];
const APP_ID: &str = "m2m app";

/// Panics if `printed` (a `Debug` text when `is_debug`) shows any of `forms`.
fn assert_shows_none(what: &str, printed: &str, is_debug: bool, forms: &[Form]) {
    if let Some(form) = secret_forms::shown(printed, is_debug, forms) {
        panic!("{what} shows the secret as {}: {printed}", form.name);
    }
}

/// Everything a caller can read of `error`: `Display`, both `Debug`s, the sources, and the texts
/// the accessors of a server error return.
fn assert_error_shows_none(what: &str, error: &Error, forms: &[Form]) {
    assert_shows_none(what, &error.to_string(), false, forms);
    assert_shows_none(what, &format!("{error:?}"), true, forms);
    assert_shows_none(what, &format!("{error:#?}"), true, forms);
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        assert_shows_none(what, &inner.to_string(), false, forms);
        source = inner.source();
    }
    let Error::Server(server) = error else {
        panic!("{what}: not a server error: {error:?}");
    };
    let server: &ServerError = server;
    let oauth = server.oauth();
    for text in [
        server.body_excerpt(),
        server.www_authenticate(),
        server.logto_code(),
        server.logto_message(),
        oauth.map(|oauth| oauth.code.as_str()),
        oauth.and_then(|oauth| oauth.description.as_deref()),
        oauth.and_then(|oauth| oauth.uri.as_deref()),
    ]
    .into_iter()
    .flatten()
    {
        assert_shows_none(what, text, false, forms);
    }
}

/// Answers that echo `echo` in every place a server's answer reaches an error: each header, a
/// non-JSON body (also right where the excerpt is cut), and each field of a JSON error.
fn echoing_answers(echo: &str) -> Vec<(String, Response<Vec<u8>>)> {
    let json = |value: serde_json::Value| value.to_string().into_bytes();
    let bodies: Vec<(&str, u16, &str, Vec<u8>)> = vec![
        (
            "OAuth error fields",
            401,
            "application/json",
            json(serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("client authentication failed for {echo}"),
                "error_uri": format!("https://e.example/?c={echo}"),
                "code": echo,
                "message": echo,
                "echo": echo,
            })),
        ),
        (
            "OAuth error code",
            400,
            "application/json",
            json(serde_json::json!({ "error": echo })),
        ),
        (
            "quota answer",
            429,
            "application/json",
            json(serde_json::json!({ "code": echo, "message": echo })),
        ),
        (
            "2xx with an OAuth error",
            200,
            "application/json",
            json(serde_json::json!({ "error": "server_error", "error_description": echo })),
        ),
        (
            "HTML page",
            502,
            "text/html",
            format!("<html><body><p>upstream saw {echo}</p></body></html>").into_bytes(),
        ),
        (
            "body cut at the excerpt's end",
            500,
            "text/plain",
            format!("{}{echo}", "x".repeat(195)).into_bytes(),
        ),
        (
            "JSON that is not an object",
            500,
            "application/json",
            json(serde_json::json!([echo])),
        ),
    ];
    let headers = [
        "www-authenticate",
        "x-echo",
        "set-cookie",
        "location",
        "retry-after",
        "warning",
    ];
    bodies
        .into_iter()
        .map(|(place, status, content_type, body)| {
            let mut builder = Response::builder()
                .status(status)
                .header("content-type", content_type);
            for name in headers {
                let value = format!(r#"Basic realm="{echo}", error="invalid_client""#);
                let value = http::HeaderValue::from_bytes(value.as_bytes()).unwrap();
                builder = builder.header(name, value);
            }
            (place.to_owned(), builder.body(body).unwrap())
        })
        .collect()
}

#[test]
fn no_form_of_an_echoed_secret_reaches_an_error_or_a_warning() {
    for secret in ECHOED_SECRETS {
        let forms = secret_forms::all_forms(APP_ID, secret);
        for method in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
            let config = ClientConfig::builder("https://t.logto.app", APP_ID, secret)
                .auth_method(method)
                .build()
                .unwrap();
            let request = TokenRequest::new(
                &config,
                TokenParams::for_resource("https://api.example.com").scope("a"),
            )
            .unwrap();
            // What went on the wire, echoed as it is, and every form of the secret.
            let sent = request.to_http();
            let mut echoes: Vec<(String, String)> = forms
                .iter()
                .map(|form| (form.name.clone(), form.text.clone()))
                .collect();
            if let Some(authorization) = sent.headers().get(http::header::AUTHORIZATION) {
                let value = authorization.to_str().unwrap().to_owned();
                echoes.push(("the Authorization header as sent".to_owned(), value));
            }
            let body = String::from_utf8(sent.body().clone()).unwrap();
            echoes.push(("the form body as sent".to_owned(), body));
            for (name, echo) in &echoes {
                for (place, response) in echoing_answers(echo) {
                    let what = format!("{method:?}, {secret:?} echoed as {name} in {place}");
                    let error = request
                        .parse_response(&response, Instant::now(), SystemTime::now())
                        .unwrap_err();
                    assert_error_shows_none(&what, &error, &forms);
                }
                // A success whose Content-Type echoes it: the warning quotes the header.
                let success = Response::builder()
                    .header(
                        "content-type",
                        http::HeaderValue::from_bytes(echo.as_bytes()).unwrap(),
                    )
                    .body(r#"{"access_token":"t","expires_in":60,"token_type":"Bearer"}"#)
                    .unwrap();
                let token = request
                    .parse_response(&success, Instant::now(), SystemTime::now())
                    .unwrap();
                let what = format!("{method:?}, {secret:?} echoed as {name} in Content-Type");
                assert_shows_none(&what, &format!("{token:?}"), true, &forms);
                assert_shows_none(&what, &format!("{:#?}", token.warnings()), true, &forms);
            }
        }
    }
}

/// A server that echoes the request gives the same error whatever the secret's length.
#[test]
fn an_echoed_secret_does_not_tell_its_length() {
    let printed = |secret: &str, method| {
        let config = ClientConfig::builder("https://t.logto.app", APP_ID, secret)
            .auth_method(method)
            .build()
            .unwrap();
        let request = TokenRequest::new(
            &config,
            TokenParams::for_resource("https://api.example.com"),
        )
        .unwrap();
        let sent = request.to_http();
        let authorization = sent
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = String::from_utf8(sent.body().clone()).unwrap();
        let echo = format!("{authorization} {body}");
        echoing_answers(&echo)
            .into_iter()
            .map(|(_, response)| {
                let error = request
                    .parse_response(&response, Instant::now(), SystemTime::now())
                    .unwrap_err();
                format!("{error:#?}")
            })
            .collect::<Vec<_>>()
    };
    for method in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
        let short = printed("s+/&é", method);
        let long = printed("a much longer secret, with more of + / & é in it", method);
        assert_eq!(short, long, "{method:?}");
    }
}

/// A transport error that quotes what the server sent back (a redirect's `Location` carrying the
/// form body, an echoed `Authorization` header) reaches no caller with the secret in it.
#[test]
fn a_transport_error_quoting_the_secret_is_scrubbed() {
    #[derive(Debug)]
    struct Quoting(String);
    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "refused a redirect to https://elsewhere.example/?{}",
                self.0
            )
        }
    }
    impl std::error::Error for Quoting {}

    for secret in ECHOED_SECRETS {
        let forms = secret_forms::all_forms(APP_ID, secret);
        for method in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
            let config = ClientConfig::builder("https://t.logto.app", APP_ID, secret)
                .auth_method(method)
                .build()
                .unwrap();
            let request = TokenRequest::new(
                &config,
                TokenParams::for_resource("https://api.example.com"),
            )
            .unwrap();
            let mut cache = TokenCache::default();
            let (now, wall_now) = (Instant::now(), SystemTime::now());
            let Poll::Fetch(fetch) = cache.poll(&request, now, wall_now) else {
                panic!("an empty cache fetches");
            };
            let echoed = match fetch.request.headers().get(http::header::AUTHORIZATION) {
                Some(value) => value.to_str().unwrap().to_owned(),
                None => String::from_utf8(fetch.request.body().clone()).unwrap(),
            };
            let quoting = TransportError::new(TransportErrorKind::Other, Quoting(echoed));
            let error = cache.handle_transport_error(fetch.ticket, now, Jitter::NONE, quoting);
            let what = format!("{method:?}, {secret:?} quoted by a transport error");
            assert_shows_none(&what, &error.to_string(), false, &forms);
            assert_shows_none(&what, &format!("{error:?}"), true, &forms);
            assert_shows_none(&what, &format!("{error:#?}"), true, &forms);
            let mut source = std::error::Error::source(&error);
            while let Some(inner) = source {
                assert_shows_none(&what, &inner.to_string(), false, &forms);
                source = inner.source();
            }
            assert!(error.to_string().contains("[redacted]"), "{error}");
            // The state machine keeps the same scrubbed error for every waiter.
            let Poll::Failed { error, .. } = cache.poll(&request, now, wall_now) else {
                panic!("a failed key answers Failed");
            };
            assert_shows_none(&what, &format!("{error:?}"), true, &forms);
        }
    }
}

/// A transport error that quotes nothing secret keeps the transport's own error, for downcasting.
#[test]
fn a_transport_error_without_the_secret_keeps_its_source() {
    let config = ClientConfig::builder("https://t.logto.app", APP_ID, ECHOED_SECRETS[0])
        .build()
        .unwrap();
    let request = TokenRequest::new(
        &config,
        TokenParams::for_resource("https://api.example.com"),
    )
    .unwrap();
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    let error = request.scrub_transport_error(TransportError::new(TransportErrorKind::Connect, io));
    assert!(error.inner().downcast_ref::<std::io::Error>().is_some());
}
