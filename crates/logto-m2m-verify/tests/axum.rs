//! The axum layer and extractor, over real HTTP on loopback: an axum server whose routes require
//! scopes, tokens from the testkit, requests through the hyper transport.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::issued_token;
use logto_m2m::{TokenParams, Transport as _};
use logto_m2m_hyper::HyperTransport;
use logto_m2m_testkit::{TestServer, defaults};
use logto_m2m_verify::axum::{RequireScopes, Verified};
use logto_m2m_verify::http::{Request, Response};
use logto_m2m_verify::{AsyncVerifier, Audience, RequiredScopes, VerifyError};
use serde_json::Value;

async fn items(Verified(token): Verified) -> String {
    format!("items for {}", token.subject())
}

async fn organization(
    Path(id): Path<String>,
    Verified(token): Verified,
) -> Result<String, VerifyError> {
    token.require_organization(&id)?;
    Ok(format!("organization {id}"))
}

/// Starts the API on loopback; returns its base URL.
async fn start_api(logto: &TestServer) -> String {
    let verifier = AsyncVerifier::new(
        HyperTransport::new(),
        logto.endpoint(),
        Audience::Resource(defaults::RESOURCE.to_owned()),
    )
    .unwrap();
    let org_verifier = AsyncVerifier::new(
        HyperTransport::new(),
        logto.endpoint(),
        Audience::OrganizationResource(defaults::RESOURCE.to_owned()),
    )
    .unwrap();
    let app = Router::new()
        .route(
            "/items",
            get(items).layer(RequireScopes::new(
                verifier.clone(),
                RequiredScopes::all(["read:items"]),
            )),
        )
        .route(
            "/admin",
            get(items).layer(RequireScopes::new(
                verifier,
                RequiredScopes::any(["delete:items", "admin"]),
            )),
        )
        .route(
            "/organizations/{id}/items",
            get(organization).layer(RequireScopes::new(
                org_verifier,
                RequiredScopes::all(["read:items"]),
            )),
        )
        .route("/unguarded", get(items));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn get_with(url: &str, authorization: Option<&str>) -> Response<Vec<u8>> {
    let mut request = Request::get(url);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    HyperTransport::new()
        .send(request.body(Vec::new()).unwrap())
        .await
        .unwrap()
}

fn challenge(response: &Response<Vec<u8>>) -> Option<&str> {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap())
}

fn body(response: &Response<Vec<u8>>) -> String {
    String::from_utf8(response.body().clone()).unwrap()
}

async fn token(logto: &TestServer, params: TokenParams) -> String {
    tokio::task::block_in_place(|| issued_token(logto, params))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_200_401_and_403_with_the_rfc_6750_challenge() {
    let logto = TestServer::start_default().unwrap();
    let api = start_api(&logto).await;
    let read = token(
        &logto,
        TokenParams::for_resource(defaults::RESOURCE).scopes(["read:items"]),
    )
    .await;
    let bearer = format!("Bearer {read}");

    let ok = get_with(&format!("{api}/items"), Some(&bearer)).await;
    assert_eq!(ok.status(), 200, "{}", body(&ok));
    assert_eq!(body(&ok), format!("items for {}", defaults::APP_ID));

    let missing = get_with(&format!("{api}/items"), None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(challenge(&missing), Some("Bearer"));
    assert_eq!(missing.headers()["cache-control"], "no-store");
    let json: Value = serde_json::from_slice(missing.body()).unwrap();
    assert!(json.get("error").is_none());

    let forged = format!("Bearer {}x", &read[..read.len() - 1]);
    let invalid = get_with(&format!("{api}/items"), Some(&forged)).await;
    assert_eq!(invalid.status(), 401);
    assert_eq!(
        challenge(&invalid),
        Some(
            r#"Bearer error="invalid_token", error_description="the token's signature is invalid""#
        )
    );
    assert!(
        !body(&invalid).contains(&read[..20]),
        "the body echoes no token"
    );

    let forbidden = get_with(&format!("{api}/admin"), Some(&bearer)).await;
    assert_eq!(forbidden.status(), 403);
    assert_eq!(
        challenge(&forbidden),
        Some(
            r#"Bearer error="insufficient_scope", error_description="the token lacks required scopes", scope="delete:items admin""#
        )
    );
    let json: Value = serde_json::from_slice(forbidden.body()).unwrap();
    assert_eq!(json["error"], "insufficient_scope");

    // A handler that takes `Verified` without the layer in front refuses: no verified token.
    let unguarded = get_with(&format!("{api}/unguarded"), Some(&bearer)).await;
    assert_eq!(unguarded.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_level_routes_check_the_organization() {
    let logto = TestServer::start_default().unwrap();
    let api = start_api(&logto).await;
    let org_token = token(
        &logto,
        TokenParams::for_resource(defaults::RESOURCE)
            .organization(defaults::ORGANIZATION)
            .scopes(["read:items"]),
    )
    .await;
    let bearer = format!("Bearer {org_token}");

    let ok = get_with(&format!("{api}/organizations/org-1/items"), Some(&bearer)).await;
    assert_eq!(ok.status(), 200, "{}", body(&ok));
    let other = get_with(&format!("{api}/organizations/org-2/items"), Some(&bearer)).await;
    assert_eq!(other.status(), 403);
    assert_eq!(
        challenge(&other),
        Some(
            r#"Bearer error="insufficient_scope", error_description="the token is for another organization""#
        )
    );

    // A plain resource token has no organization_id: not valid for this resource.
    let plain = token(
        &logto,
        TokenParams::for_resource(defaults::RESOURCE).scopes(["read:items"]),
    )
    .await;
    let refused = get_with(
        &format!("{api}/organizations/org-1/items"),
        Some(&format!("Bearer {plain}")),
    )
    .await;
    assert_eq!(refused.status(), 401);
    assert!(challenge(&refused).unwrap().contains("invalid_token"));
}
