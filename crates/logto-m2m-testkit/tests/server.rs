//! The server's life cycle, request log, configuration and the Logto rules the fixtures do not
//! cover.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use base64::Engine as _;
use common::{RawRequest, connect, exchange, read_response};
use logto_m2m_testkit::{
    ApiResource, App, Config, OrganizationMembership, TestServer, defaults, http::Method,
};

fn basic_header(raw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn good_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("resource", defaults::RESOURCE),
        ("scope", "read:items"),
    ]
}

#[test]
fn the_log_records_method_path_headers_params_and_client() {
    let server = TestServer::start_default().unwrap();
    exchange(
        server.addr(),
        &RawRequest::token(&good_params()).basic(defaults::APP_ID, defaults::APP_SECRET),
    );
    let mut post = good_params();
    post.extend([("client_id", defaults::APP_ID), ("client_secret", "wrong")]);
    exchange(server.addr(), &RawRequest::token(&post));
    exchange(server.addr(), &RawRequest::new("GET", "/oidc/jwks?x=1"));

    assert_eq!(server.token_requests(), 2);
    let log = server.requests();
    assert_eq!(log.len(), 3);

    let first = &log[0];
    assert_eq!(first.method(), Method::POST);
    assert_eq!(first.path(), "/oidc/token");
    assert!(first.is_token_request());
    assert_eq!(first.client_id(), Some(defaults::APP_ID));
    assert_eq!(first.param("resource"), Some(defaults::RESOURCE));
    assert_eq!(first.param_values("scope"), ["read:items"]);
    assert_eq!(
        first.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert!(first.has_credentials());
    assert!(first.fault().is_none());

    // Authentication failed: no client id, but the secret is there for assertions...
    let second = &log[1];
    assert_eq!(second.client_id(), None);
    assert_eq!(second.param("client_secret"), Some("wrong"));
    // ...and never in Debug output.
    for r in &log[..2] {
        let debug = format!("{r:?}");
        assert!(!debug.contains(defaults::APP_SECRET), "{debug}");
        assert!(!debug.contains("wrong"), "{debug}");
        assert!(
            !debug.contains(&basic_header("m2m-app:m2m-secret")[6..]),
            "{debug}"
        );
        assert!(debug.contains("[redacted]"));
    }

    let third = &log[2];
    assert_eq!(third.method(), Method::GET);
    assert_eq!((third.path(), third.query()), ("/oidc/jwks", Some("x=1")));
    assert!(!third.is_token_request());

    server.reset_log();
    assert_eq!(server.token_requests(), 0);
    assert!(server.requests().is_empty());
}

#[test]
fn config_debug_never_shows_secrets() {
    let debug = format!("{:?}", Config::logto_default());
    assert!(debug.contains(defaults::APP_ID));
    assert!(!debug.contains(defaults::APP_SECRET));
    let server = TestServer::start_default().unwrap();
    assert!(!format!("{server:?}").contains(defaults::APP_SECRET));
}

#[test]
fn keep_alive_connections_serve_several_requests() {
    let server = TestServer::start_default().unwrap();
    let mut stream = connect(server.addr());
    let request = RawRequest::token(&good_params()).basic(defaults::APP_ID, defaults::APP_SECRET);
    for _ in 0..3 {
        stream
            .write_all(&request.to_bytes(server.addr(), false))
            .unwrap();
        let r = read_response(&mut stream, usize::MAX).unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(server.open_connections(), 1);
    assert_eq!(server.token_requests(), 3);
}

#[test]
fn shutdown_and_drop_release_the_port() {
    let server = TestServer::start_default().unwrap();
    let addr = server.addr();
    assert!(server.endpoint().starts_with("http://127.0.0.1:"));
    assert_eq!(server.endpoint(), format!("http://{addr}"));
    assert_eq!(server.issuer(), format!("http://{addr}/oidc"));
    // An idle keep-alive connection does not hold the server up.
    let idle = connect(addr);
    server.shutdown();
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens any more"
    );
    drop(idle);
    drop(TcpListener::bind(addr).expect("the port is free again"));

    let server = TestServer::start_default().unwrap();
    let addr = server.addr();
    drop(server);
    drop(TcpListener::bind(addr).expect("the port is free again"));
}

#[test]
fn servers_run_side_by_side() {
    let servers: Vec<TestServer> = (0..4)
        .map(|_| TestServer::start_default().unwrap())
        .collect();
    for s in &servers {
        let r = exchange(
            s.addr(),
            &RawRequest::token(&good_params()).basic(defaults::APP_ID, defaults::APP_SECRET),
        );
        assert_eq!(r.status, 200);
    }
}

#[tokio::test]
async fn starts_and_stops_inside_an_async_test() {
    let server = TestServer::start_default().unwrap();
    let addr = server.addr();
    let r = tokio::task::spawn_blocking(move || {
        exchange(
            addr,
            &RawRequest::token(&good_params()).basic(defaults::APP_ID, defaults::APP_SECRET),
        )
    })
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(server.token_requests(), 1);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_and_stops_on_a_multi_threaded_runtime() {
    let server = TestServer::start_default().unwrap();
    let addr = server.addr();
    let statuses = tokio::task::spawn_blocking(move || {
        (0..3)
            .map(|_| {
                exchange(
                    addr,
                    &RawRequest::token(&good_params())
                        .basic(defaults::APP_ID, defaults::APP_SECRET),
                )
                .status
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(statuses, [200, 200, 200]);
    server.shutdown();
}

#[test]
fn ttl_overrides_apply_per_resource_and_to_organization_tokens() {
    let server = TestServer::start_default().unwrap();
    let token = |params: &[(&str, &str)]| {
        let r = exchange(
            server.addr(),
            &RawRequest::token(params).basic(defaults::APP_ID, defaults::APP_SECRET),
        );
        assert_eq!(r.status, 200);
        r.json()["expires_in"].as_u64().unwrap()
    };
    let resource = [
        ("grant_type", "client_credentials"),
        ("resource", defaults::RESOURCE),
    ];
    let management = [
        ("grant_type", "client_credentials"),
        ("resource", defaults::MANAGEMENT_API),
    ];
    let organization = [
        ("grant_type", "client_credentials"),
        ("organization_id", defaults::ORGANIZATION),
    ];
    assert_eq!(token(&resource), 1800);
    server.set_resource_ttl(defaults::RESOURCE, Some(5));
    server.set_organization_ttl(Some(0));
    assert_eq!(token(&resource), 5);
    assert_eq!(token(&management), 3600);
    assert_eq!(token(&organization), 0);
    server.set_resource_ttl(defaults::RESOURCE, None);
    server.set_organization_ttl(None);
    assert_eq!(token(&resource), 1800);
    assert_eq!(token(&organization), 3600);
}

#[test]
fn a_custom_tenant_with_a_default_resource() {
    let config = Config::builder()
        .resource(
            ApiResource::new("https://orders.example")
                .ttl(60)
                .scopes(["orders:read", "orders:write"]),
        )
        .resource(ApiResource::management_api("acme"))
        .default_resource("https://orders.example")
        .organization("team-a")
        .app(
            App::new("svc", "s3cr+t/=")
                .grant("https://orders.example", ["orders:read"])
                .organization(
                    OrganizationMembership::new("team-a")
                        .scopes(["members:read", "members:write"])
                        .resource_scopes("https://orders.example", ["orders:write"]),
                ),
        )
        .build()
        .unwrap();
    assert_eq!(
        config.resources()[1].indicator(),
        "https://acme.logto.app/api"
    );
    let server = TestServer::start(config).unwrap();

    // The secret has `+`, `/` and `=`: urlencoded before base64, as RFC 6749 wants.
    let encoded = basic_header("svc:s3cr%2Bt%2F%3D");
    let send = |params: &[(&str, &str)]| {
        exchange(
            server.addr(),
            &RawRequest::token(params).header("Authorization", &encoded),
        )
    };
    let r = send(&[
        ("grant_type", "client_credentials"),
        ("scope", "orders:write orders:read"),
    ]);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(
        (body["expires_in"].as_u64(), body["scope"].as_str()),
        (Some(60), Some("orders:read"))
    );

    // Organization token scopes follow the role's order, not the request's.
    let r = send(&[
        ("grant_type", "client_credentials"),
        ("organization_id", "team-a"),
        ("scope", "members:write members:read"),
    ]);
    assert_eq!(r.json()["scope"], "members:read members:write");

    // Organization + resource: the organization roles' resource scopes.
    let r = send(&[
        ("grant_type", "client_credentials"),
        ("organization_id", "team-a"),
        ("resource", "https://orders.example"),
        ("scope", "orders:read orders:write"),
    ]);
    assert_eq!(r.json()["scope"], "orders:write");

    // Not granted anything on the Management API: a token without scope.
    let r = send(&[
        ("grant_type", "client_credentials"),
        ("resource", "https://acme.logto.app/api"),
        ("scope", "all"),
    ]);
    assert_eq!(r.status, 200);
    assert!(r.json().get("scope").is_none());

    // The raw (not urlencoded) secret decodes `+` to a space: authentication fails.
    let r = exchange(
        server.addr(),
        &RawRequest::token(&[("grant_type", "client_credentials")])
            .header("Authorization", &basic_header("svc:s3cr+t/=")),
    );
    assert_eq!(r.status, 401);
}

#[test]
fn configuration_mistakes_are_reported() {
    let cases = [
        Config::builder().default_resource("https://nope"),
        Config::builder().resource(ApiResource::new("relative")),
        Config::builder().resource(ApiResource::new("https://a#frag")),
        Config::builder()
            .resource(ApiResource::new("https://a"))
            .resource(ApiResource::new("https://a")),
        Config::builder().app(App::new("a", "b").grant("https://unknown", ["x"])),
        Config::builder()
            .resource(ApiResource::new("https://a").scopes(["x"]))
            .app(App::new("a", "b").grant("https://a", ["y"])),
        Config::builder().app(App::new("a", "b").organization(OrganizationMembership::new("o"))),
        Config::builder()
            .app(App::new("a", "b"))
            .app(App::new("a", "c")),
        Config::builder().app(App::new("", "b")),
    ];
    for builder in cases {
        let debug = format!("{builder:?}");
        let err = builder.build().expect_err(&debug);
        assert!(
            err.to_string()
                .starts_with("invalid test server configuration: ")
        );
    }
}

#[test]
fn client_authentication_edge_cases() {
    let server = TestServer::start_default().unwrap();
    let base = || RawRequest::token(&good_params());
    let check = |request: RawRequest, status: u16, error: &str, description: &str, www: bool| {
        let r = exchange(server.addr(), &request);
        let body = r.json();
        assert_eq!(
            (
                r.status,
                body["error"].as_str(),
                body["error_description"].as_str()
            ),
            (status, Some(error), Some(description)),
            "{request:?}"
        );
        assert_eq!(r.header("www-authenticate").is_some(), www, "{request:?}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("WWW-Authenticate")
        );
    };
    let encoding =
        "client_id and client_secret in the authorization header are not properly encoded";
    let format = "invalid authorization header value format";
    // Percent-encoded id and secret work.
    let r = exchange(
        server.addr(),
        &base().header("Authorization", &basic_header("m2m%2Dapp:m2m%2Dsecret")),
    );
    assert_eq!(r.status, 200);
    check(
        base().header("Authorization", &basic_header("m2m-app:m2m\tsecret")),
        400,
        "invalid_request",
        encoding,
        false,
    );
    check(
        base().header("Authorization", &basic_header("m2m-app:%0A")),
        400,
        "invalid_request",
        encoding,
        false,
    );
    check(
        base().header("Authorization", &basic_header("m2m-app:%zz")),
        400,
        "invalid_request",
        encoding,
        false,
    );
    check(
        base().header("Authorization", &basic_header("m2m-app:sécret")),
        400,
        "invalid_request",
        encoding,
        false,
    );
    check(
        base().header("Authorization", &basic_header("no-colon")),
        400,
        "invalid_request",
        format,
        false,
    );
    check(
        base().header("Authorization", "Bearer abc"),
        400,
        "invalid_request",
        format,
        false,
    );
    check(
        base().header("Authorization", "Basic"),
        400,
        "invalid_request",
        format,
        false,
    );
    check(
        base().header("Authorization", "Basic YQ="),
        400,
        "invalid_request",
        format,
        false,
    );
    check(
        base().header("Authorization", &basic_header("m2m-app:")),
        400,
        "invalid_request",
        "client_secret must be provided in the Authorization header",
        false,
    );
    check(
        base()
            .basic(defaults::APP_ID, defaults::APP_SECRET)
            .body(format!(
                "{}&client_id=other",
                String::from_utf8(base().body).unwrap()
            )),
        400,
        "invalid_request",
        "client_id mismatch",
        false,
    );
    // A client id alone is the `none` method, which this app may not use.
    let mut only_id = good_params();
    only_id.push(("client_id", defaults::APP_ID));
    check(
        RawRequest::token(&only_id),
        401,
        "invalid_client",
        "client authentication failed",
        false,
    );
    check(
        base().basic("nope", "x"),
        400,
        "invalid_client",
        "invalid client nope",
        false,
    );
    check(
        base().basic(defaults::APP_ID, "wrong"),
        401,
        "invalid_client",
        "client authentication failed",
        true,
    );
    let mut twice = good_params();
    twice.extend([("client_id", "a"), ("client_id", "b")]);
    check(
        RawRequest::token(&twice),
        400,
        "invalid_request",
        "'client_id' parameter must not be provided twice",
        false,
    );
    // A JWT client assertion: the app is registered for client_secret_basic.
    let mut assertion = good_params();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"m2m-app"}"#);
    let jwt = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln");
    assertion.extend([
        ("client_assertion", jwt.as_str()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
    ]);
    check(
        RawRequest::token(&assertion),
        401,
        "invalid_client",
        "client authentication failed",
        false,
    );
}

#[test]
fn body_formats_and_limits() {
    let server = TestServer::start_default().unwrap();
    let auth = |r: RawRequest| r.basic(defaults::APP_ID, defaults::APP_SECRET);

    // JSON, with an array turned into repeated parameters.
    let json = RawRequest::new("POST", "/oidc/token")
        .header("Content-Type", "application/json")
        .body(r#"{"grant_type":"client_credentials","resource":["https://api.example.com","https://default.logto.app/api"]}"#);
    let r = exchange(server.addr(), &auth(json));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error_description"],
        "only a single resource indicator value is supported for this grant type"
    );
    assert_eq!(server.requests()[0].param_values("resource").len(), 2);

    // A charset on the form type is fine; other types are not.
    let form = String::from_utf8(RawRequest::token(&good_params()).body).unwrap();
    let charset = RawRequest::new("POST", "/oidc/token")
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(form.clone());
    assert_eq!(exchange(server.addr(), &auth(charset)).status, 200);
    let text = RawRequest::new("POST", "/oidc/token")
        .header("Content-Type", "text/plain")
        .body(form);
    let r = exchange(server.addr(), &auth(text));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // More than the cap.
    let big = RawRequest::new("POST", "/oidc/token")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; logto_m2m_testkit::MAX_REQUEST_BODY + 1]);
    let r = exchange(server.addr(), &auth(big));
    assert_eq!(r.status, 413);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(server.token_requests(), 4);
}

#[test]
fn grant_and_resource_rules_beyond_the_fixtures() {
    let server = TestServer::start_default().unwrap();
    let send = |params: &[(&str, &str)]| {
        let r = exchange(
            server.addr(),
            &RawRequest::token(params).basic(defaults::APP_ID, defaults::APP_SECRET),
        );
        (r.status, r.json())
    };
    // Several resources of which one is unknown: the unknown one is reported.
    let (status, body) = send(&[
        ("grant_type", "client_credentials"),
        ("resource", defaults::RESOURCE),
        ("resource", "https://unknown.example"),
    ]);
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("resource indicator is missing, or unknown"))
    );
    // The organization check comes before the resource check.
    let (status, body) = send(&[
        ("grant_type", "client_credentials"),
        ("organization_id", "org-x"),
        ("resource", "https://unknown.example"),
    ]);
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("access_denied"))
    );
    // Other grants the provider knows are not allowed; unknown ones are unsupported.
    for (grant, error) in [
        ("refresh_token", "invalid_request"),
        (
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "invalid_request",
        ),
        ("implicit", "unsupported_grant_type"),
        (
            "urn:ietf:params:oauth:grant-type:device_code",
            "unsupported_grant_type",
        ),
    ] {
        let (status, body) = send(&[("grant_type", grant)]);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{grant}"
        );
    }
    let (status, body) = send(&[
        ("grant_type", "client_credentials"),
        ("grant_type", "client_credentials"),
    ]);
    assert_eq!(
        (status, body["error_description"].as_str()),
        (
            400,
            Some("'grant_type' parameter must not be provided twice")
        )
    );
    // An empty scope or resource counts as absent.
    let (status, body) = send(&[
        ("grant_type", "client_credentials"),
        ("resource", defaults::RESOURCE),
        ("scope", ""),
    ]);
    assert_eq!(status, 200);
    assert!(body.get("scope").is_none());
    let (status, body) = send(&[("grant_type", "client_credentials"), ("resource", "")]);
    assert_eq!(
        (status, body["error_description"].as_str()),
        (
            400,
            Some("both `resource` and `organization_id` are not provided")
        )
    );
}

#[test]
fn unknown_routes_and_methods_get_oidc_provider_404s() {
    let server = TestServer::start_default().unwrap();
    let r = exchange(server.addr(), &RawRequest::new("GET", "/oidc/token"));
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["error_description"],
        "unrecognized route or not allowed method (GET on /token)"
    );
    let r = exchange(server.addr(), &RawRequest::new("POST", "/oidc/jwks"));
    assert_eq!(r.status, 404);
    assert_eq!(server.token_requests(), 0);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn connections_close_when_the_client_goes_away() {
    let server = TestServer::start_default().unwrap();
    let stream = connect(server.addr());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.open_connections() != 1 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stream);
    while server.open_connections() != 0 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
}
