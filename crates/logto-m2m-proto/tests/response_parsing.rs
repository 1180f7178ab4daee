//! What the parser tolerates (with warnings), refuses, and how it classifies error answers.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{API, request};
use logto_m2m_proto::http::{Response, StatusCode};
use logto_m2m_proto::{
    ClientConfig, Error, ErrorCode, ErrorKind, ExpiryPolicy, ParseWarning, ResponseProblem,
    ServerErrorReason, TokenParams, TokenRequest, TokenType,
};

fn respond(status: u16, content_type: Option<&str>, body: &str) -> Response<Vec<u8>> {
    let mut builder = Response::builder().status(status);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

fn json(status: u16, body: &str) -> Response<Vec<u8>> {
    respond(status, Some("application/json; charset=utf-8"), body)
}

fn parse(response: &Response<Vec<u8>>) -> Result<logto_m2m_proto::Token, Error> {
    request(TokenParams::for_resource(API).scope("read:items")).parse_response(
        response,
        Instant::now(),
        SystemTime::now(),
    )
}

fn problem(response: &Response<Vec<u8>>) -> ResponseProblem {
    match parse(response) {
        Err(Error::InvalidResponse(e)) => e.problem().clone(),
        other => panic!("expected an invalid response, got {other:?}"),
    }
}

#[test]
fn any_2xx_is_success_and_token_type_is_case_insensitive() {
    for status in [200, 201, 203] {
        let token = parse(&json(
            status,
            r#"{"access_token":"t","expires_in":60,"token_type":"bearer"}"#,
        ))
        .unwrap();
        assert_eq!(token.token_type(), &TokenType::Bearer);
    }
    let dpop = parse(&json(
        200,
        r#"{"access_token":"t","expires_in":60,"token_type":"DPoP"}"#,
    ))
    .unwrap();
    assert_eq!(dpop.token_type(), &TokenType::DPoP);
    assert_eq!(dpop.authorization_value(), "DPoP t");
    let other = parse(&json(
        200,
        r#"{"access_token":"t","expires_in":60,"token_type":"mac"}"#,
    ))
    .unwrap();
    assert_eq!(other.token_type(), &TokenType::Other("mac".into()));
    let extra = parse(&json(
        200,
        r#"{"access_token":"t","expires_in":60,"token_type":"Bearer","foo":1}"#,
    ))
    .unwrap();
    assert_eq!(extra.extra_fields()["foo"], 1);
    assert_eq!(extra.authorization_value(), "Bearer t");
}

#[test]
fn tolerated_deviations_are_reported_as_warnings() {
    let string = parse(&json(
        200,
        r#"{"access_token":"t","expires_in":"3600","token_type":"Bearer"}"#,
    ))
    .unwrap();
    assert_eq!(string.lifetime(), Duration::from_secs(3600));
    assert_eq!(string.warnings(), [ParseWarning::ExpiresInAsString]);

    let missing = parse(&json(200, r#"{"access_token":"t","token_type":"Bearer"}"#)).unwrap();
    let default = ExpiryPolicy::default().default_expires_in;
    assert_eq!(missing.lifetime(), default);
    assert_eq!(
        missing.warnings(),
        [ParseWarning::ExpiresInMissing { assumed: default }]
    );

    let huge = parse(&json(
        200,
        r#"{"access_token":"t","expires_in":99999999999999999999999,"token_type":"Bearer"}"#,
    ))
    .unwrap();
    let max = ExpiryPolicy::default().max_expires_in;
    assert_eq!(huge.lifetime(), max);
    assert!(matches!(
        huge.warnings(),
        [ParseWarning::ExpiresInClamped {
            announced_secs: u64::MAX,
            ..
        }]
    ));

    let no_type = parse(&json(200, r#"{"access_token":"t","expires_in":60}"#)).unwrap();
    assert_eq!(no_type.warnings(), [ParseWarning::TokenTypeMissing]);

    let no_content_type = parse(&respond(
        200,
        None,
        r#"{"access_token":"t","expires_in":60,"token_type":"Bearer"}"#,
    ))
    .unwrap();
    assert_eq!(
        no_content_type.warnings(),
        [ParseWarning::ContentTypeMissing]
    );
    let text = parse(&respond(
        200,
        Some("text/plain"),
        r#"{"access_token":"t","expires_in":60,"token_type":"Bearer"}"#,
    ))
    .unwrap();
    assert_eq!(
        text.warnings(),
        [ParseWarning::UnexpectedContentType {
            content_type: "text/plain".into()
        }]
    );
    let problem_json = parse(&respond(
        200,
        Some("application/vnd.x+json"),
        r#"{"access_token":"t","expires_in":60,"token_type":"Bearer"}"#,
    ))
    .unwrap();
    assert!(problem_json.warnings().is_empty());
}

#[test]
fn the_expiry_policy_is_configurable() {
    let config = ClientConfig::builder("https://t.logto.app", "id", "secret")
        .expiry_policy(
            ExpiryPolicy::default()
                .with_default_expires_in(Duration::from_secs(42))
                .with_max_expires_in(Duration::from_secs(100)),
        )
        .build()
        .unwrap();
    let request = TokenRequest::new(&config, TokenParams::for_resource(API)).unwrap();
    let now = Instant::now();
    let missing = request
        .parse_response(
            &json(200, r#"{"access_token":"t","token_type":"Bearer"}"#),
            now,
            SystemTime::now(),
        )
        .unwrap();
    assert_eq!(missing.expires_at(), now + Duration::from_secs(42));
    let long = request
        .parse_response(
            &json(
                200,
                r#"{"access_token":"t","expires_in":3600,"token_type":"Bearer"}"#,
            ),
            now,
            SystemTime::now(),
        )
        .unwrap();
    assert_eq!(long.lifetime(), Duration::from_secs(100));
}

#[test]
fn unusable_success_bodies_are_errors_that_name_the_problem_without_content() {
    for expires_in in [
        "0", "-5", "1.5", "\"\"", "\"12a\"", "\"-1\"", "true", "[]", "{}",
    ] {
        let body =
            format!(r#"{{"access_token":"t","expires_in":{expires_in},"token_type":"Bearer"}}"#);
        assert!(
            matches!(
                problem(&json(200, &body)),
                ResponseProblem::InvalidExpiresIn { .. }
            ),
            "{expires_in}"
        );
    }
    assert_eq!(
        problem(&json(200, r#"{"expires_in":60,"token_type":"Bearer"}"#)),
        ResponseProblem::MissingAccessToken
    );
    assert_eq!(
        problem(&json(200, r#"{"access_token":"","expires_in":60}"#)),
        ResponseProblem::MissingAccessToken
    );
    assert_eq!(
        problem(&json(200, r#"{"access_token":7,"expires_in":60}"#)),
        ResponseProblem::MissingAccessToken
    );
    assert_eq!(
        problem(&json(200, "{\"access_token\":\"a b\",\"expires_in\":60}")),
        ResponseProblem::InvalidAccessToken
    );
    assert_eq!(
        problem(&json(
            200,
            r#"{"access_token":"t","expires_in":60,"token_type":1}"#
        )),
        ResponseProblem::InvalidTokenType
    );
    assert_eq!(
        problem(&json(
            200,
            r#"{"access_token":"t","expires_in":60,"scope":[]}"#
        )),
        ResponseProblem::InvalidScope
    );
    assert_eq!(problem(&json(200, "[1,2]")), ResponseProblem::NotAnObject);
    assert_eq!(
        problem(&json(
            200,
            "{\n  \"access_token\": \"secret-token-value\",\n  oops"
        )),
        ResponseProblem::MalformedJson {
            line: 3,
            column: 3,
            category: "syntax"
        }
    );
    assert!(matches!(
        problem(&json(200, "{\"access_token\":")),
        ResponseProblem::MalformedJson {
            category: "end of input",
            ..
        }
    ));
    assert!(matches!(
        problem(&respond(200, None, "")),
        ResponseProblem::MalformedJson { .. }
    ));
    // The success body never reaches the error.
    let error = parse(&json(200, "{\"access_token\":\"secret-token-value\", oops")).unwrap_err();
    assert!(!format!("{error} {error:?}").contains("secret-token-value"));
    assert_eq!(error.kind(), ErrorKind::InvalidResponse);
    assert!(error.is_retryable());
}

#[test]
fn a_2xx_carrying_an_oauth_error_is_an_error() {
    let error = parse(&json(
        200,
        r#"{"error":"invalid_client","error_description":"nope"}"#,
    ))
    .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::OK));
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
}

#[test]
fn error_answers_are_classified_for_retrying() {
    let kind = |response: Response<Vec<u8>>| parse(&response).unwrap_err().kind();
    assert_eq!(
        kind(json(
            500,
            r#"{"error":"server_error","error_description":"oops! something went wrong"}"#
        )),
        ErrorKind::Transient
    );
    assert_eq!(
        kind(json(503, r#"{"error":"temporarily_unavailable"}"#)),
        ErrorKind::Transient
    );
    assert_eq!(
        kind(respond(
            502,
            Some("text/html"),
            "<html><body><h1>502 Bad Gateway</h1></body></html>"
        )),
        ErrorKind::Transient
    );
    assert_eq!(kind(respond(408, None, "")), ErrorKind::Transient);
    assert_eq!(
        kind(respond(404, Some("text/html"), "<h1>Not Found</h1>")),
        ErrorKind::RequestRejected
    );
    assert_eq!(
        kind(json(400, r#"{"error":"invalid_scope"}"#)),
        ErrorKind::RequestRejected
    );
    assert_eq!(
        kind(json(
            400,
            r#"{"error":"invalid_grant","error_uri":"https://openid.sh/debug/invalid_grant"}"#
        )),
        ErrorKind::RequestRejected
    );
    assert_eq!(
        kind(json(400, r#"{"error":"unauthorized_client"}"#)),
        ErrorKind::CredentialsRejected
    );
    assert_eq!(
        kind(json(418, r#"{"error":"brand_new_code"}"#)),
        ErrorKind::RequestRejected
    );
    assert_eq!(
        kind(json(502, r#"{"error":"brand_new_code"}"#)),
        ErrorKind::Transient
    );
    let throttled = Response::builder()
        .status(503)
        .header("retry-after", "7")
        .body(b"busy".to_vec())
        .unwrap();
    let error = parse(&throttled).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Throttled);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    let unknown = parse(&json(400, r#"{"error":"brand_new_code"}"#)).unwrap_err();
    let Error::Server(server) = unknown else {
        panic!()
    };
    assert_eq!(
        server.oauth().unwrap().code,
        ErrorCode::Other("brand_new_code".into())
    );
}

#[test]
fn logto_cloud_quota_answer_is_its_own_case() {
    let quota = Response::builder()
        .status(429)
        .header("content-type", "application/json")
        .header("retry-after", "60")
        .body(br#"{"code":"auth.exceed_token_limit","message":"Token limit exceeded. Please contact your administrator."}"#.to_vec())
        .unwrap();
    let error = parse(&quota).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Throttled);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));
    let Error::Server(server) = error else {
        panic!()
    };
    assert_eq!(server.reason(), &ServerErrorReason::QuotaExceeded);
    assert_eq!(server.logto_code(), Some("auth.exceed_token_limit"));
    assert!(
        server
            .logto_message()
            .unwrap()
            .starts_with("Token limit exceeded")
    );
    // Another Logto error without `error`.
    let other = parse(&json(
        403,
        r#"{"code":"auth.forbidden","message":"Forbidden."}"#,
    ))
    .unwrap_err();
    let Error::Server(server) = other else {
        panic!()
    };
    assert_eq!(server.reason(), &ServerErrorReason::Logto);
}

#[test]
fn html_pages_give_a_short_printable_excerpt() {
    let page = format!(
        "<html>\n<head><title>502 Bad Gateway</title></head>\n\x07<body>{}</body></html>",
        "x".repeat(10_000)
    );
    let error = parse(&respond(502, Some("text/html"), &page)).unwrap_err();
    let Error::Server(server) = &error else {
        panic!()
    };
    assert_eq!(server.reason(), &ServerErrorReason::UnexpectedStatus);
    let excerpt = server.body_excerpt().unwrap();
    assert!(
        excerpt.starts_with("<html> <head><title>502 Bad Gateway</title></head> \u{FFFD}<body>xxx"),
        "{excerpt}"
    );
    assert!(excerpt.chars().count() <= 201 && excerpt.ends_with('…'));
    assert!(error.to_string().contains("502"));
}

#[test]
fn the_app_secret_is_scrubbed_from_anything_the_server_echoes() {
    let echo = json(
        400,
        r#"{"error":"invalid_request","error_description":"bad secret m2m-secret","message":"m2m-secret"}"#,
    );
    let error = parse(&echo).unwrap_err();
    let printed = format!("{error} {error:?}");
    assert!(!printed.contains("m2m-secret"), "{printed}");
    assert!(printed.contains("[redacted]"));
    let page = respond(502, Some("text/html"), "<p>m2m-secret</p>");
    let error = parse(&page).unwrap_err();
    assert!(!format!("{error:?}").contains("m2m-secret"));
}

#[test]
fn retry_after_as_seconds_or_http_date() {
    use logto_m2m_proto::http::HeaderMap;
    use logto_m2m_proto::retry_after;
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    };
    assert_eq!(
        retry_after(&headers(&[("retry-after", "120")]), now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        retry_after(&headers(&[("retry-after", " 0 ")]), now),
        Some(Duration::ZERO)
    );
    assert_eq!(
        retry_after(&headers(&[("retry-after", "99999999999999999999999")]), now),
        Some(Duration::from_secs(u64::MAX))
    );
    assert_eq!(
        retry_after(
            &headers(&[("retry-after", "Wed, 21 Oct 2015 07:30:00 GMT")]),
            now
        ),
        Some(Duration::from_secs(120))
    );
    // The answer's own Date wins over the local clock.
    assert_eq!(
        retry_after(
            &headers(&[
                ("retry-after", "Wed, 21 Oct 2015 07:30:00 GMT"),
                ("date", "Wed, 21 Oct 2015 07:29:30 GMT")
            ]),
            now
        ),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        retry_after(
            &headers(&[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]),
            now
        ),
        Some(Duration::ZERO)
    );
    for bad in ["-1", "1.5", "soon", ""] {
        assert_eq!(
            retry_after(&headers(&[("retry-after", bad)]), now),
            None,
            "{bad:?}"
        );
    }
    assert_eq!(retry_after(&HeaderMap::new(), now), None);
}

#[test]
fn discovery_document() {
    use logto_m2m_proto::{ClientAuthMethod, Discovery};
    let discovery = Discovery::new("http://127.0.0.1:3001/", false).unwrap();
    let request = discovery.to_http();
    assert_eq!(request.method(), "GET");
    assert_eq!(
        request.uri(),
        "http://127.0.0.1:3001/oidc/.well-known/openid-configuration"
    );
    let document = json(
        200,
        r#"{"issuer":"http://127.0.0.1:3001/oidc","token_endpoint":"http://127.0.0.1:3001/oidc/token",
        "jwks_uri":"http://127.0.0.1:3001/oidc/jwks","grant_types_supported":["client_credentials"],
        "token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"]}"#,
    );
    let parsed = discovery
        .parse_response(&document, SystemTime::now())
        .unwrap();
    assert_eq!(parsed.token_endpoint, "http://127.0.0.1:3001/oidc/token");
    assert_eq!(parsed.jwks_uri, "http://127.0.0.1:3001/oidc/jwks");
    assert_eq!(
        parsed.preferred_auth_method(),
        Some(ClientAuthMethod::Basic)
    );
    assert!(parsed.supports_client_credentials());
    let wrong_issuer = json(
        200,
        r#"{"issuer":"https://evil.example/oidc","token_endpoint":"x","jwks_uri":"y"}"#,
    );
    assert!(matches!(
        discovery.parse_response(&wrong_issuer, SystemTime::now()),
        Err(Error::InvalidResponse(e)) if *e.problem() == ResponseProblem::IssuerMismatch
    ));
    let missing = json(200, r#"{"issuer":"http://127.0.0.1:3001/oidc"}"#);
    assert!(matches!(
        discovery.parse_response(&missing, SystemTime::now()),
        Err(Error::InvalidResponse(e)) if *e.problem() == ResponseProblem::MissingField { name: "token_endpoint" }
    ));
    assert_eq!(
        discovery
            .parse_response(&respond(404, None, "nope"), SystemTime::now())
            .unwrap_err()
            .status(),
        Some(StatusCode::NOT_FOUND)
    );
    assert!(Discovery::new("http://example.com", false).is_err());
}

#[test]
fn granted_scopes_are_the_servers_whatever_their_order_or_spacing() {
    let request = request(
        TokenParams::for_resource(API)
            .scope("read:items")
            .scope("write:items"),
    );
    let granted = |scope: &str| {
        let body = format!(
            r#"{{"access_token":"t","expires_in":60,"token_type":"Bearer","scope":"{scope}"}}"#
        );
        let token = request
            .parse_response(&json(200, &body), Instant::now(), SystemTime::now())
            .unwrap();
        let granted: Vec<String> = token.granted_scopes().iter().map(str::to_owned).collect();
        let missing: Vec<String> = token
            .not_granted_scopes()
            .iter()
            .map(str::to_owned)
            .collect();
        (granted, missing)
    };
    let both = vec!["read:items".to_owned(), "write:items".to_owned()];
    // Exactly what was asked for, in another order, with odd spacing: all granted.
    assert_eq!(granted("read:items write:items"), (both.clone(), vec![]));
    assert_eq!(
        granted("write:items read:items"),
        (both.iter().rev().cloned().collect(), vec![])
    );
    assert_eq!(granted(" read:items  write:items "), (both, vec![]));
    // Narrowed, or widened: what the server says, and what is missing.
    assert_eq!(
        granted("write:items"),
        (
            vec!["write:items".to_owned()],
            vec!["read:items".to_owned()]
        )
    );
    assert_eq!(
        granted("read:items write:items admin"),
        (
            vec![
                "read:items".to_owned(),
                "write:items".to_owned(),
                "admin".to_owned()
            ],
            vec![]
        )
    );
}

#[test]
fn the_oauth_error_code_is_one_call_away() {
    let unknown_resource = parse(&json(
        400,
        r#"{"code":"oidc.invalid_target","message":"Invalid resource indicator.","error":"invalid_target","error_description":"resource indicator is missing, or unknown"}"#,
    ))
    .unwrap_err();
    assert_eq!(
        unknown_resource.oauth_error_code(),
        Some(&ErrorCode::InvalidTarget)
    );
    assert_eq!(
        unknown_resource
            .oauth_error()
            .and_then(|oauth| oauth.description.as_deref()),
        Some("resource indicator is missing, or unknown")
    );
    assert_eq!(
        unknown_resource
            .server_error()
            .and_then(|server| server.logto_code()),
        Some("oidc.invalid_target")
    );
    let bad_gateway = parse(&respond(502, Some("text/html"), "<h1>502</h1>")).unwrap_err();
    assert!(bad_gateway.server_error().is_some());
    assert_eq!(bad_gateway.oauth_error_code(), None);
    let unusable = parse(&json(200, r#"{"expires_in":60}"#)).unwrap_err();
    assert_eq!(unusable.server_error().map(|_| ()), None);
    assert_eq!(unusable.oauth_error_code(), None);
}

#[test]
fn a_discovery_document_cannot_send_the_secret_or_the_key_lookup_elsewhere() {
    use logto_m2m_proto::Discovery;
    let document = |token_endpoint: &str, jwks_uri: &str| {
        json(
            200,
            &format!(
                r#"{{"issuer":"https://t.logto.app/oidc","token_endpoint":"{token_endpoint}","jwks_uri":"{jwks_uri}"}}"#
            ),
        )
    };
    let discovery = Discovery::new("https://T.logto.app/", false).unwrap();
    let problem = |response: Response<Vec<u8>>| match discovery
        .parse_response(&response, SystemTime::now())
    {
        Err(Error::InvalidResponse(e)) => Some(e.problem().clone()),
        Err(other) => panic!("{other}"),
        Ok(_) => None,
    };
    let jwks = "https://t.logto.app/oidc/jwks";
    assert_eq!(
        problem(document("https://t.logto.app/oidc/token", jwks)),
        None
    );
    assert_eq!(
        problem(document("https://T.LOGTO.app:443/oidc/token", jwks)),
        None
    );
    for token_endpoint in [
        "https://evil.example/oidc/token",
        "http://t.logto.app/oidc/token",
        "https://t.logto.app:8443/oidc/token",
        "https://t.logto.app.evil.example/oidc/token",
        "https://user@t.logto.app/oidc/token",
        "/oidc/token",
        "not a url",
    ] {
        assert_eq!(
            problem(document(token_endpoint, jwks)),
            Some(ResponseProblem::ForeignEndpoint {
                name: "token_endpoint"
            }),
            "{token_endpoint}"
        );
    }
    assert_eq!(
        problem(document(
            "https://t.logto.app/oidc/token",
            "https://evil.example/jwks"
        )),
        Some(ResponseProblem::ForeignEndpoint { name: "jwks_uri" })
    );
}
