//! The conformance cases through the async token manager on `logto-m2m-hyper` and tokio, against
//! the test server named by `LOGTO_TEST_ENDPOINT` (skipped when it is not set, failed when `CI=true`).
//!
//! `ureq_blocking.rs` runs the same cases, with the same names, through the blocking manager. The
//! checks that talk to the server's control endpoints are blocking calls, made with
//! `block_in_place` so that the runtime's other tasks keep running.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use logto_m2m::proto::management_api;
use logto_m2m::proto::{ConfigError, ErrorCode, Token};
use logto_m2m::{AsyncTokenManager, ClientAuthMethod, ClientConfig, ErrorKind, TokenParams};
use logto_m2m_conformance::{
    API, API_TTL, App, Counted, Expect, HERD_SIZE, MANAGEMENT_API_TTL, ORGANIZATION,
    ORGANIZATION_NOT_ASSOCIATED, ORGANIZATION_TTL, POLL_EVERY, RefreshWatch, SHORT_LIVED,
    SHORT_LIVED_TTL, Server, Transport, expect_server_error, organization_audience,
};
use logto_m2m_hyper::HyperTransport;
use tokio::sync::Barrier;
use tokio::task::block_in_place as blocking;

const TRANSPORT: Transport = Transport::Hyper;

/// The longest a whole case may take.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

fn manager(config: ClientConfig) -> AsyncTokenManager<HyperTransport> {
    logto_m2m_hyper::token_manager_for(config)
}

fn requests_by(server: &Server, client_id: &str) -> u64 {
    blocking(|| server.requests_by(client_id))
}

fn check_token(server: &Server, token: &Token, expect: &Expect<'_>) {
    blocking(|| {
        server.check_token(token, expect);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_token() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::m2m();
    let manager = manager(server.config(&app));
    let source = manager
        .source(TokenParams::for_resource(API).scopes(["read:items", "write:items"]))
        .unwrap();

    let token = source.token().await.unwrap();

    check_token(
        &server,
        &token,
        &Expect::new(&app.id, API, API_TTL).scope("read:items write:items"),
    );
    assert!(token.not_granted_scopes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_auth_token() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::m2m();
    let manager = manager(server.config_with(&app, ClientAuthMethod::Post));
    let source = manager
        .source(TokenParams::for_resource(API).scopes(["read:items", "write:items"]))
        .unwrap();

    let token = source.token().await.unwrap();

    check_token(
        &server,
        &token,
        &Expect::new(&app.id, API, API_TTL).scope("read:items write:items"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_narrowing_is_reported() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::m2m();
    let manager = manager(server.config(&app));
    let source = manager
        .source(TokenParams::for_resource(API).scopes([
            "read:items",
            "delete:items",
            "write:items",
        ]))
        .unwrap();

    let token = source.token().await.unwrap();

    check_token(
        &server,
        &token,
        &Expect::new(&app.id, API, API_TTL).scope("read:items write:items"),
    );
    assert_eq!(token.not_granted_scopes().to_wire(), "delete:items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_scope_asked_gives_no_scope_claim() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::m2m();
    let manager = manager(server.config(&app));
    let source = manager.source(TokenParams::for_resource(API)).unwrap();

    let token = source.token().await.unwrap();

    check_token(&server, &token, &Expect::new(&app.id, API, API_TTL));
    assert!(token.granted_scopes().is_empty());
    assert!(token.not_granted_scopes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_self_hosted() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::m2m();
    let manager = manager(server.config(&app));
    let source = manager
        .source(management_api::self_hosted_token_params())
        .unwrap();

    let token = source.token().await.unwrap();

    check_token(
        &server,
        &token,
        &Expect::new(
            &app.id,
            management_api::SELF_HOSTED_RESOURCE,
            MANAGEMENT_API_TTL,
        )
        .scope(management_api::SCOPE),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_token() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::m2m();
    let manager = manager(server.config(&app));
    let source = manager
        .source(TokenParams::for_organization(ORGANIZATION).scopes(["org:read", "org:write"]))
        .unwrap();

    let token = source.token().await.unwrap();

    let audience = organization_audience(ORGANIZATION);
    check_token(
        &server,
        &token,
        &Expect::new(&app.id, &audience, ORGANIZATION_TTL).scope("org:read"),
    );
    assert_eq!(token.not_granted_scopes().to_wire(), "org:write");

    // No scope asked: Logto still answers `"scope": ""` for an organization token, and the JWT
    // has no scope claim.
    let unscoped = manager
        .source(TokenParams::for_organization(ORGANIZATION))
        .unwrap()
        .token()
        .await
        .unwrap();

    check_token(
        &server,
        &unscoped,
        &Expect::new(&app.id, &audience, ORGANIZATION_TTL),
    );
    assert!(unscoped.not_granted_scopes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_and_resource_token() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::m2m();
    let manager = manager(server.config(&app));
    let source = manager
        .source(
            TokenParams::for_resource(API)
                .organization(ORGANIZATION)
                .scopes(["read:items", "write:items"]),
        )
        .unwrap();

    let token = source.token().await.unwrap();

    check_token(
        &server,
        &token,
        &Expect::new(&app.id, API, API_TTL)
            .scope("read:items")
            .organization_id(ORGANIZATION),
    );
    assert_eq!(token.not_granted_scopes().to_wire(), "write:items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_credentials_rejected() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::dedicated(TRANSPORT, Counted::WrongSecret).with_secret("not-the-secret");
    let before = requests_by(&server, &app.id);

    let basic = manager(server.config(&app))
        .source(TokenParams::for_resource(API))
        .unwrap()
        .token()
        .await
        .unwrap_err();
    let post = manager(server.config_with(&app, ClientAuthMethod::Post))
        .source(TokenParams::for_resource(API))
        .unwrap()
        .token()
        .await
        .unwrap_err();

    let error = expect_server_error(
        &basic,
        401,
        &ErrorCode::InvalidClient,
        ErrorKind::CredentialsRejected,
    );
    let challenge = error
        .www_authenticate()
        .expect("WWW-Authenticate is kept on a 401 to Basic");
    assert!(challenge.starts_with("Basic "), "{challenge}");
    assert!(
        challenge.contains(&format!("realm=\"{}\"", server.issuer())),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"invalid_client\""),
        "{challenge}"
    );
    let error = expect_server_error(
        &post,
        401,
        &ErrorCode::InvalidClient,
        ErrorKind::CredentialsRejected,
    );
    assert_eq!(
        error.www_authenticate(),
        None,
        "no challenge without an Authorization header"
    );
    assert_eq!(
        requests_by(&server, &app.id) - before,
        2,
        "one request per call: a rejection is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_app_is_invalid_client_400() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::unknown(TRANSPORT);
    let before = requests_by(&server, &app.id);

    let error = manager(server.config(&app))
        .source(TokenParams::for_resource(API))
        .unwrap()
        .token()
        .await
        .unwrap_err();

    let error = expect_server_error(
        &error,
        400,
        &ErrorCode::InvalidClient,
        ErrorKind::CredentialsRejected,
    );
    assert_eq!(error.www_authenticate(), None);
    assert_eq!(requests_by(&server, &app.id) - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resource_is_invalid_target() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::dedicated(TRANSPORT, Counted::UnknownResource);
    let before = requests_by(&server, &app.id);

    let error = manager(server.config(&app))
        .source(TokenParams::for_resource("https://unknown.example.com").scope("read:items"))
        .unwrap()
        .token()
        .await
        .unwrap_err();

    expect_server_error(
        &error,
        400,
        &ErrorCode::InvalidTarget,
        ErrorKind::RequestRejected,
    );
    assert_eq!(requests_by(&server, &app.id) - before, 1);
}

fn assert_refused_locally(
    server: &Server,
    params: TokenParams,
    check: impl Fn(&ConfigError) -> bool,
) {
    let app = App::dedicated(TRANSPORT, Counted::LocalRefusal);
    let before = requests_by(server, &app.id);
    let manager = manager(server.config(&app));

    let by_request = manager.request(params.clone()).unwrap_err();
    let by_source = manager.source(params).unwrap_err();

    assert!(check(&by_request), "{by_request:?}");
    assert_eq!(by_source, by_request);
    assert_eq!(
        requests_by(server, &app.id),
        before,
        "nothing may be sent for parameters refused locally"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_resource_refused_locally() {
    let Some(server) = Server::from_env() else {
        return;
    };
    for resource in ["api.example.com", "/api", "api"] {
        assert_refused_locally(
            &server,
            TokenParams::for_resource(resource),
            |e| matches!(e, ConfigError::InvalidResource { resource: r, .. } if r == resource),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_resource_refused_locally() {
    let Some(server) = Server::from_env() else {
        return;
    };
    assert_refused_locally(
        &server,
        TokenParams::for_resource("https://api.example.com#v1"),
        |e| matches!(e, ConfigError::InvalidResource { .. }),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_resources_refused_locally() {
    let Some(server) = Server::from_env() else {
        return;
    };
    assert_refused_locally(
        &server,
        TokenParams::for_resource(API)
            .resource(management_api::SELF_HOSTED_RESOURCE)
            .scope("read:items"),
        |e| matches!(e, ConfigError::MultipleResources),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_not_associated_is_access_denied() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::dedicated(TRANSPORT, Counted::OrganizationDenied);
    let before = requests_by(&server, &app.id);

    let error = manager(server.config(&app))
        .source(TokenParams::for_organization(ORGANIZATION_NOT_ASSOCIATED).scope("org:read"))
        .unwrap()
        .token()
        .await
        .unwrap_err();

    expect_server_error(
        &error,
        403,
        &ErrorCode::AccessDenied,
        ErrorKind::RequestRejected,
    );
    assert_eq!(requests_by(&server, &app.id) - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_characters_in_credentials() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::weird();
    for method in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
        let token = manager(server.config_with(&app, method))
            .source(TokenParams::for_resource(API).scope("read:items"))
            .unwrap()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{method:?}: {e}"));

        check_token(
            &server,
            &token,
            &Expect::new(&app.id, API, API_TTL).scope("read:items"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lifetime_refreshes_ahead_and_never_expired() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::dedicated(TRANSPORT, Counted::ShortLived);
    let before = requests_by(&server, &app.id);
    let manager = manager(server.config(&app));
    let source = manager
        .source(TokenParams::for_resource(SHORT_LIVED).scope("read:items"))
        .unwrap();

    let first = source.token().await.unwrap();
    check_token(
        &server,
        &first,
        &Expect::new(&app.id, SHORT_LIVED, SHORT_LIVED_TTL).scope("read:items"),
    );
    let mut watch = RefreshWatch::new();
    while !watch.is_over() {
        let started = Instant::now();
        let token = source.token().await.unwrap();
        watch.observe(token, started);
        tokio::time::sleep(POLL_EVERY).await;
    }
    let report = watch.finish();
    // A refresh started by the last polls may still be on its way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = requests_by(&server, &app.id) - before;

    eprintln!("hyper refresh: {report:?}, requests counted by the server: {sent}");
    let tokens = u64::try_from(report.tokens).unwrap();
    assert!(
        (tokens..=tokens + 1).contains(&sent),
        "the server counted {sent} requests for {tokens} distinct tokens"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_cache_herd_sends_one_request() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let app = App::dedicated(TRANSPORT, Counted::Herd);
    let before = requests_by(&server, &app.id);
    let manager = manager(server.config(&app));
    let source = manager
        .source(TokenParams::for_resource(API).scope("read:items"))
        .unwrap();
    let barrier = Arc::new(Barrier::new(HERD_SIZE));

    let callers: Vec<_> = (0..HERD_SIZE)
        .map(|_| {
            let source = source.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                source.token().await
            })
        })
        .collect();
    let mut tokens = Vec::with_capacity(HERD_SIZE);
    for caller in callers {
        let token = tokio::time::timeout(CASE_TIMEOUT, caller)
            .await
            .expect("every caller ends")
            .unwrap()
            .unwrap();
        tokens.push(token);
    }

    assert_eq!(tokens.len(), HERD_SIZE);
    let value = tokens[0].access_token().expose_secret();
    assert!(
        tokens
            .iter()
            .all(|token| token.access_token().expose_secret() == value),
        "every caller gets the one token"
    );
    check_token(
        &server,
        &tokens[0],
        &Expect::new(&app.id, API, API_TTL).scope("read:items"),
    );
    assert_eq!(
        requests_by(&server, &app.id) - before,
        1,
        "{HERD_SIZE} callers on a cold cache send exactly one request"
    );
}
