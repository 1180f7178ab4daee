//! Management API calls over hyper against the testkit's Management API, on real loopback HTTP:
//! pagination across pages, the custom-data update, the 401 rule (one invalidation, one retry;
//! none for a `PATCH` unless opted in), a 403 without the scope `all`, the answer cap, and no
//! secret or token in anything printed or logged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};

use logto_m2m::bearer_retry::Replay;
use logto_m2m::management_api::{
    Application, ApplicationType, AsyncManagementApi, ManagementApiError,
};
use logto_m2m::{AsyncTokenManager, ClientConfig, ErrorKind, TransportErrorKind};
use logto_m2m_hyper::HyperTransport;
use logto_m2m_testkit::http::StatusCode;
use logto_m2m_testkit::{ApiResource, App, Config, Fault, ManagementData, TestServer, defaults};
use serde_json::{Map, Value, json};
use tracing_subscriber::util::SubscriberInitExt as _;

fn manager(server: &TestServer, app: &str, secret: &str) -> AsyncTokenManager<HyperTransport> {
    let config = ClientConfig::builder(server.endpoint(), app, secret)
        .build()
        .unwrap();
    logto_m2m_hyper::token_manager_for(config)
}

fn api(server: &TestServer) -> AsyncManagementApi<HyperTransport> {
    let manager = manager(server, defaults::APP_ID, defaults::APP_SECRET);
    AsyncManagementApi::for_manager(&manager, HyperTransport::new()).unwrap()
}

/// The Management API requests the server saw, with their `Authorization`.
fn api_requests(server: &TestServer) -> Vec<(String, String)> {
    server
        .requests()
        .iter()
        .filter(|r| r.path().starts_with("/api/"))
        .map(|r| {
            let target = match r.query() {
                Some(q) => format!("{} {}?{q}", r.method(), r.path()),
                None => format!("{} {}", r.method(), r.path()),
            };
            (target, r.header("authorization").unwrap_or("").to_owned())
        })
        .collect()
}

fn unauthorized() -> Fault {
    Fault::json(
        StatusCode::UNAUTHORIZED,
        &json!({"message": "Unauthorized. Please check credentials and its scope.", "code": "auth.unauthorized"}),
    )
}

fn server_with_users(count: usize) -> TestServer {
    let users = (1..=count).map(|i| ManagementData::user_json(&format!("u{i}"), &format!("n{i}")));
    let config = Config::builder()
        .resource(ApiResource::management_api("default"))
        .app(
            App::new(defaults::APP_ID, defaults::APP_SECRET)
                .grant(defaults::MANAGEMENT_API, ["all"]),
        )
        .management_data(ManagementData::sample().users(users))
        .build()
        .unwrap();
    TestServer::start(config).unwrap()
}

#[tokio::test]
async fn a_list_is_followed_across_pages_with_one_token() {
    let server = server_with_users(42);
    let api = api(&server);
    let mut users = api.list::<Value>("/api/users").page_size(20);
    let mut ids = Vec::new();
    while let Some(user) = users.next().await {
        ids.push(user.unwrap()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(users.total(), Some(45), "3 sample users and 42 more");
    assert_eq!(ids.len(), 45);
    assert_eq!(ids[3], "u1");
    assert_eq!(ids[44], "u42");
    let targets: Vec<String> = api_requests(&server).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        targets,
        [
            "GET /api/users?page=1&page_size=20",
            "GET /api/users?page=2&page_size=20",
            "GET /api/users?page=3&page_size=20",
        ]
    );
    assert_eq!(server.token_requests(), 1, "the token is cached");
}

#[tokio::test]
async fn applications_are_typed_and_carry_no_secret() {
    let server = TestServer::start_default().unwrap();
    let api = api(&server);
    let applications: Vec<Application> = collect(api.list_applications()).await;
    let names: Vec<(&str, &str, ApplicationType)> = applications
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_str(), a.application_type))
        .collect();
    assert_eq!(
        names,
        [
            (
                defaults::APP_ID,
                "Backend service",
                ApplicationType::MachineToMachine
            ),
            ("web-app", "Web app", ApplicationType::Traditional),
            ("spa-app", "Dashboard", ApplicationType::Spa),
        ]
    );
    let debug = format!("{applications:?}");
    assert!(!debug.contains(defaults::APP_SECRET), "{debug}");
    assert!(!debug.contains("web-app-secret"), "{debug}");
}

#[tokio::test]
async fn custom_data_is_updated_and_the_result_returned() {
    let server = TestServer::start_default().unwrap();
    let api = api(&server);
    let mut update = Map::new();
    update.insert("tier".to_owned(), json!("gold"));
    let custom_data = api
        .update_user_custom_data("user-1", &update)
        .await
        .unwrap();
    assert_eq!(
        Value::Object(custom_data),
        json!({"plan": "free", "tier": "gold"})
    );
    assert_eq!(
        server.user("user-1").unwrap()["customData"],
        json!({"plan": "free", "tier": "gold"})
    );

    let error = api
        .update_user_custom_data("no/body", &update)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(
        error.api_error().unwrap().code(),
        Some("entity.not_exists_with_id")
    );
    assert_eq!(error.kind(), ErrorKind::RequestRejected);
    assert!(!error.is_retryable());
    assert_eq!(
        api_requests(&server).last().unwrap().0,
        "PATCH /api/users/no%2Fbody/custom-data"
    );
}

#[tokio::test]
async fn a_401_invalidates_the_token_once_and_a_get_is_sent_once_more() {
    let server = TestServer::start_default().unwrap();
    let api = api(&server);
    server.inject_api(unauthorized(), 1);
    assert_eq!(collect(api.list_applications()).await.len(), 3);
    let sent = api_requests(&server);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_ne!(sent[0].1, sent[1].1, "the retry carries a new token");
    assert_eq!(
        server.token_requests(),
        2,
        "one invalidation, one new token"
    );

    // A second 401 comes back, without another invalidation.
    server.reset_log();
    server.inject_api(unauthorized(), 2);
    let error = api.list_applications().next().await.unwrap().unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(api_requests(&server).len(), 2);
    assert_eq!(server.token_requests(), 1);
}

#[tokio::test]
async fn a_patch_is_not_sent_again_after_a_401_unless_opted_in() {
    let server = TestServer::start_default().unwrap();
    let api = api(&server);
    let mut update = Map::new();
    update.insert("seats".to_owned(), json!(3));

    server.inject_api(unauthorized(), 1);
    let error = api
        .update_user_custom_data("user-2", &update)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(api_requests(&server).len(), 1, "not sent again");
    assert_eq!(server.user("user-2").unwrap()["customData"], json!({}));
    // The token was invalidated all the same: the next call fetches a new one.
    api.list_applications().next().await.unwrap().unwrap();
    assert_eq!(server.token_requests(), 2);

    let api = api.replay(Replay::AnyMethod);
    server.reset_log();
    server.inject_api(unauthorized(), 1);
    api.update_user_custom_data("user-2", &update)
        .await
        .unwrap();
    assert_eq!(api_requests(&server).len(), 2, "sent once more");
    assert_eq!(
        server.user("user-2").unwrap()["customData"],
        json!({"seats": 3})
    );
}

#[tokio::test]
async fn a_token_without_all_gets_a_403_that_is_not_retried() {
    let config = Config::builder()
        .resource(ApiResource::management_api("default"))
        .app(App::new("svc", "svc-secret").grant(defaults::MANAGEMENT_API, Vec::<String>::new()))
        .build()
        .unwrap();
    let server = TestServer::start(config).unwrap();
    let manager = manager(&server, "svc", "svc-secret");
    let api = AsyncManagementApi::for_manager(&manager, HyperTransport::new()).unwrap();
    let error = api.list_applications().next().await.unwrap().unwrap_err();
    let api_error = error.api_error().unwrap();
    assert_eq!(api_error.status(), StatusCode::FORBIDDEN);
    assert_eq!(api_error.code(), Some("auth.forbidden"));
    assert_eq!(error.kind(), ErrorKind::RequestRejected);
    assert_eq!(
        error.to_string(),
        "Management API answered 403 Forbidden: auth.forbidden (Forbidden. Please check your user roles and permissions.)"
    );
    assert_eq!(api_requests(&server).len(), 1);
    assert_eq!(server.token_requests(), 1, "a 403 invalidates nothing");
}

#[tokio::test]
async fn the_api_cap_applies_to_its_answers_whatever_the_transports_own() {
    let server = server_with_users(40);
    // The transport's own cap is for token answers: the API's (4 MiB) replaces it.
    let small = HyperTransport::builder().max_response_bytes(2048).build();
    let manager = manager(&server, defaults::APP_ID, defaults::APP_SECRET);
    let api = AsyncManagementApi::for_manager(&manager, small).unwrap();
    assert_eq!(collect(api.list::<Value>("/api/users")).await.len(), 43);

    // An answer over the API's cap is refused, and not retried.
    let api = api.max_response_bytes(4096);
    server.reset_log();
    let error = api
        .list::<Value>("/api/users")
        .next()
        .await
        .unwrap()
        .unwrap_err();
    let ManagementApiError::Transport(transport) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(transport.kind(), TransportErrorKind::BodyTooLarge);
    assert_eq!(error.kind(), ErrorKind::ResponseRefused);
    assert!(error.to_string().contains("4096"), "{error}");
    assert_eq!(api_requests(&server).len(), 1);
}

#[tokio::test]
async fn a_cloud_tenant_behind_a_custom_domain_is_refused_with_the_reason() {
    let config = ClientConfig::builder("https://auth.example.com", "app", "secret")
        .build()
        .unwrap();
    let manager = logto_m2m_hyper::token_manager_for(config);
    // From the endpoint alone, a custom domain is a self-hosted Logto...
    let params = logto_m2m::management_api::token_params(&manager.config()).unwrap();
    assert_eq!(params.resource_indicator(), Some(defaults::MANAGEMENT_API));
    // ...and a Cloud tenant named for it is refused, with the reason.
    let cloud = logto_m2m::management_api::cloud_token_params("my-tenant").unwrap();
    let error =
        AsyncManagementApi::for_manager_with(&manager, HyperTransport::new(), cloud).unwrap_err();
    assert!(
        error.to_string().contains("https://{tenant}.logto.app"),
        "{error}"
    );
}

/// Everything a `tracing` subscriber at `trace` writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn collect<T: logto_m2m::Transport, I: serde::de::DeserializeOwned>(
    mut pages: logto_m2m::management_api::AsyncPages<'_, T, I>,
) -> Vec<I> {
    let mut items = Vec::new();
    while let Some(item) = pages.next().await {
        items.push(item.unwrap());
    }
    items
}

#[tokio::test]
async fn nothing_printed_or_logged_holds_a_secret_or_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_writer(move || writer.clone())
        .set_default();
    let server = TestServer::start_default().unwrap();
    let api = api(&server);
    let mut printed = vec![format!("{api:?}")];

    let applications: Vec<Application> = collect(api.list_applications()).await;
    printed.push(format!("{applications:?}"));
    let response = api
        .send(
            logto_m2m::proto::http::Method::GET,
            "/api/applications",
            None,
        )
        .await
        .unwrap();
    printed.push(format!("{response:?}"));

    // An error whose message quotes the app secret and a token (a server echoing them).
    let token = server.requests().iter().rev().find_map(|r| {
        r.header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::to_owned)
    });
    let token = token.unwrap();
    let echo = format!("bad request from {} with {token}", defaults::APP_SECRET);
    server.inject_api(
        Fault::json(
            StatusCode::BAD_REQUEST,
            &json!({"code": "guard.invalid_input", "message": echo}),
        ),
        1,
    );
    let error = api.list_applications().next().await.unwrap().unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
    printed.push(format!("{error:?}"));
    printed.push(error.to_string());
    assert!(error.to_string().contains("[redacted]"), "{error}");

    for fault in [
        unauthorized(),
        Fault::respond(StatusCode::BAD_GATEWAY, "<html>"),
    ] {
        server.inject_api(fault, 2);
        let error = api.list_applications().next().await.unwrap().unwrap_err();
        printed.push(format!("{error:?}"));
        printed.push(error.to_string());
    }
    let too_large = api
        .max_response_bytes(100)
        .list_applications()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    printed.push(format!("{too_large:?} {too_large}"));

    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        !logged.is_empty(),
        "the subscriber sees the token manager's events"
    );
    printed.push(logged);
    // The secrets, the token and the start of each of its parts (a cut message keeps a part).
    let mut secrets = vec![defaults::APP_SECRET, "web-app-secret", token.as_str()];
    secrets.extend(token.split('.').map(|part| &part[..32]));
    for text in &printed {
        for secret in &secrets {
            assert!(!text.contains(secret), "{secret:?} in {text}");
        }
    }
}
