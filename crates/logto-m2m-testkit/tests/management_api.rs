//! The Management API routes: the Bearer check (401 / 403 as Logto's `koa-auth`), pagination,
//! the custom-data update, API faults, and the public token verifier.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{RawRequest, exchange};
use logto_m2m_testkit::http::StatusCode;
use logto_m2m_testkit::{
    ApiResource, App, Config, Fault, KeyKind, ManagementData, TestServer, TokenRejected, defaults,
};
use serde_json::{Value, json};

/// A token from the server for `resource` (and `scope`), as `app`/`secret`.
fn token_for(server: &TestServer, app: &str, secret: &str, resource: &str, scope: &str) -> String {
    let response = exchange(
        server.addr(),
        &RawRequest::token(&[
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", scope),
        ])
        .basic(app, secret),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["access_token"].as_str().unwrap().to_owned()
}

fn management_token(server: &TestServer) -> String {
    token_for(
        server,
        defaults::APP_ID,
        defaults::APP_SECRET,
        defaults::MANAGEMENT_API,
        "all",
    )
}

fn get(server: &TestServer, target: &str, token: &str) -> common::RawResponse {
    exchange(
        server.addr(),
        &RawRequest::new("GET", target).header("authorization", &format!("Bearer {token}")),
    )
}

fn ids(body: &Value) -> Vec<&str> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

#[test]
fn applications_are_listed_with_their_secrets_as_logto_does() {
    let server = TestServer::start_default().unwrap();
    let token = management_token(&server);
    let response = get(&server, "/api/applications", &token);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = response.json();
    assert_eq!(ids(&body), [defaults::APP_ID, "web-app", "spa-app"]);
    assert_eq!(body[0]["secret"], defaults::APP_SECRET);
    assert_eq!(body[0]["type"], "MachineToMachine");
    // Pagination is optional on this route: without `page` / `page_size`, no header.
    assert_eq!(response.header("total-number"), None);

    let paged = get(&server, "/api/applications?page=2&page_size=2", &token);
    assert_eq!(ids(&paged.json()), ["spa-app"]);
    assert_eq!(paged.header("total-number"), Some("3"));
}

#[test]
fn users_are_paginated_with_the_total_in_a_header() {
    let data = ManagementData::empty()
        .users((1..=45).map(|i| ManagementData::user_json(&format!("u{i}"), &format!("n{i}"))));
    let config = Config::builder()
        .resource(ApiResource::management_api("default"))
        .app(App::new("svc", "svc-secret").grant(defaults::MANAGEMENT_API, ["all"]))
        .management_data(data)
        .build()
        .unwrap();
    let server = TestServer::start(config).unwrap();
    let token = token_for(
        &server,
        "svc",
        "svc-secret",
        defaults::MANAGEMENT_API,
        "all",
    );

    // Logto's defaults: page 1, 20 items.
    let first = get(&server, "/api/users", &token);
    assert_eq!(first.header("total-number"), Some("45"));
    assert_eq!(ids(&first.json()).len(), 20);
    assert_eq!(ids(&first.json())[0], "u1");

    let third = get(&server, "/api/users?page=3&page_size=20", &token);
    assert_eq!(ids(&third.json()), ["u41", "u42", "u43", "u44", "u45"]);
    let past_the_end = get(&server, "/api/users?page=9&page_size=20", &token);
    assert_eq!(past_the_end.json(), json!([]));
    assert_eq!(past_the_end.header("total-number"), Some("45"));

    for bad in ["page=0", "page_size=0", "page_size=101", "page=x"] {
        let response = get(&server, &format!("/api/users?{bad}"), &token);
        assert_eq!(response.status, 400, "{bad}");
        assert_eq!(response.json()["code"], "guard.invalid_pagination");
    }
}

#[test]
fn custom_data_is_merged_and_the_result_answered() {
    let server = TestServer::start_default().unwrap();
    let token = management_token(&server);
    let patch = |id: &str, body: &str| {
        exchange(
            server.addr(),
            &RawRequest::new("PATCH", &format!("/api/users/{id}/custom-data"))
                .header("authorization", &format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(body),
        )
    };
    let response = patch("user-1", r#"{"customData":{"tier":"gold","seats":3}}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    let merged = json!({"plan": "free", "tier": "gold", "seats": 3});
    assert_eq!(response.json(), merged);
    assert_eq!(server.user("user-1").unwrap()["customData"], merged);

    let replaced = patch("user-1", r#"{"customData":{"plan":"pro"}}"#);
    assert_eq!(replaced.json()["plan"], "pro");
    assert_eq!(replaced.json()["tier"], "gold");

    let missing = patch("nobody", r#"{"customData":{}}"#);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "entity.not_exists_with_id");
    for invalid in ["{}", r#"{"customData":[1]}"#, "not json"] {
        let response = patch("user-1", invalid);
        assert_eq!(response.status, 400, "{invalid}");
        assert_eq!(response.json()["code"], "guard.invalid_input");
    }
}

#[test]
fn requests_without_a_good_token_get_logtos_401_and_without_all_a_403() {
    let config = Config::builder()
        .resource(ApiResource::new(defaults::RESOURCE).scopes(["read:items"]))
        .resource(ApiResource::management_api("default"))
        .app(
            App::new("svc", "svc-secret")
                .grant(defaults::MANAGEMENT_API, Vec::<String>::new())
                .grant(defaults::RESOURCE, ["read:items"]),
        )
        .management_data(ManagementData::sample())
        .build()
        .unwrap();
    let server = TestServer::start(config).unwrap();

    let none = exchange(server.addr(), &RawRequest::new("GET", "/api/users"));
    assert_eq!(none.status, 401);
    assert_eq!(
        none.json(),
        json!({"message": "Authorization header is missing.", "code": "auth.authorization_header_missing"})
    );
    let basic = exchange(
        server.addr(),
        &RawRequest::new("GET", "/api/users").basic("svc", "svc-secret"),
    );
    assert_eq!(
        basic.json()["code"],
        "auth.authorization_token_type_not_supported"
    );

    // Another API's token, a forged one, garbage: 401 auth.unauthorized.
    let other = token_for(
        &server,
        "svc",
        "svc-secret",
        defaults::RESOURCE,
        "read:items",
    );
    let mut forged = other.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    for token in [other.as_str(), forged.as_str(), "garbage"] {
        let response = get(&server, "/api/users", token);
        assert_eq!(response.status, 401, "{token}");
        assert_eq!(response.json()["code"], "auth.unauthorized");
    }

    // A Management API token without `all`: 403.
    let no_all = token_for(
        &server,
        "svc",
        "svc-secret",
        defaults::MANAGEMENT_API,
        "all",
    );
    let response = get(&server, "/api/users", &no_all);
    assert_eq!(response.status, 403);
    assert_eq!(
        response.json(),
        json!({"message": "Forbidden. Please check your user roles and permissions.", "code": "auth.forbidden"})
    );
}

#[test]
fn a_queued_api_fault_answers_the_next_api_requests_only() {
    let server = TestServer::start_default().unwrap();
    let token = management_token(&server);
    server.inject_api(
        Fault::json(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "Unauthorized.", "code": "auth.unauthorized"}),
        ),
        1,
    );
    assert_eq!(get(&server, "/api/users", &token).status, 401);
    assert_eq!(get(&server, "/api/users", &token).status, 200);
    let log = server.requests();
    assert!(log[log.len() - 2].fault().is_some());
    assert!(log[log.len() - 1].fault().is_none());
}

#[test]
fn verify_token_checks_signature_issuer_audience_and_expiry() {
    let server = TestServer::start_default().unwrap();
    let token = management_token(&server);
    let claims = server
        .verify_token(&token, defaults::MANAGEMENT_API)
        .unwrap();
    assert_eq!(claims.subject(), Some(defaults::APP_ID));
    assert_eq!(claims.client_id(), Some(defaults::APP_ID));
    assert_eq!(claims.issuer(), Some(server.issuer()));
    assert!(claims.has_scope("all"));
    assert!(!claims.has_scope("al"));
    assert_eq!(
        server.verify_token(&token, defaults::RESOURCE),
        Err(TokenRejected::WrongAudience)
    );

    let mut forged = token;
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert_eq!(
        server.verify_token(&forged, defaults::MANAGEMENT_API),
        Err(TokenRejected::BadSignature)
    );
    assert_eq!(
        server.verify_token("a.b", defaults::MANAGEMENT_API),
        Err(TokenRejected::Malformed)
    );

    // Another server's token: its key is not in this key set.
    let other = TestServer::start_default().unwrap();
    assert_eq!(
        server.verify_token(&management_token(&other), defaults::MANAGEMENT_API),
        Err(TokenRejected::UnknownKey)
    );

    // Tokens that expire at once.
    server.set_resource_ttl(defaults::MANAGEMENT_API, Some(0));
    assert_eq!(
        server.verify_token(&management_token(&server), defaults::MANAGEMENT_API),
        Err(TokenRejected::Expired)
    );
}

#[test]
fn tokens_of_every_key_kind_verify_until_their_key_leaves_the_key_set() {
    let server = TestServer::start_default().unwrap();
    let es384 = management_token(&server);
    server.rotate_key(KeyKind::Rs256).unwrap();
    let rs256 = management_token(&server);
    // The previous key is still served: both verify, and both are accepted by the API.
    for token in [&es384, &rs256] {
        server
            .verify_token(token, defaults::MANAGEMENT_API)
            .unwrap();
        assert_eq!(get(&server, "/api/users", token).status, 200);
    }
    server.rotate_key(KeyKind::Es256).unwrap();
    let es256 = management_token(&server);
    server
        .verify_token(&es256, defaults::MANAGEMENT_API)
        .unwrap();
    server
        .verify_token(&rs256, defaults::MANAGEMENT_API)
        .unwrap();
    // Rotated out twice: the ES384 key is gone, and its token gets Logto's 401.
    assert_eq!(
        server.verify_token(&es384, defaults::MANAGEMENT_API),
        Err(TokenRejected::UnknownKey)
    );
    let refused = get(&server, "/api/users", &es384);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["code"], "auth.unauthorized");
}

#[test]
fn debug_output_shows_ids_not_secrets() {
    let config = Config::logto_default();
    let debug = format!("{config:?} {:?}", config.management_data());
    assert!(!debug.contains(defaults::APP_SECRET), "{debug}");
    assert!(!debug.contains("web-app-secret"), "{debug}");
    assert!(debug.contains("web-app"), "{debug}");

    let server = TestServer::start_default().unwrap();
    let claims = server
        .verify_token(&management_token(&server), defaults::MANAGEMENT_API)
        .unwrap();
    assert!(format!("{claims:?}").contains(defaults::APP_ID));
}
