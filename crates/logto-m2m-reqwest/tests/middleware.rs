//! `BearerTokenMiddleware` over real loopback HTTP: tokens from the testkit's Logto-compatible
//! server through a `ReqwestTransport` manager, requests to a loopback API that answers 401 when
//! told to.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../tests/support/raw_http_server.rs"]
mod support;

#[path = "../../../tests/support/resource_server.rs"]
mod resource_server;

#[path = "../../../tests/support/counting_provider.rs"]
mod counting_provider;

use std::sync::Arc;

use counting_provider::Counting;
use logto_m2m::{ErrorKind, TokenParams, TokenProvider};
use logto_m2m_reqwest::reqwest_middleware::{self, ClientWithMiddleware};
use logto_m2m_reqwest::{BearerTokenMiddleware, Replay, client_builder, token_manager};
use logto_m2m_testkit::{TestServer, defaults};
use resource_server::ResourceServer;
use support::{Untouched, response};

struct Setup {
    logto: TestServer,
    api: ResourceServer,
    tokens: Arc<Counting>,
    client: ClientWithMiddleware,
}

impl Setup {
    fn new(secret: &str) -> Self {
        let logto = TestServer::start_default().unwrap();
        let manager = token_manager(logto.endpoint(), defaults::APP_ID, secret).unwrap();
        let source = manager
            .source(TokenParams::for_resource(defaults::RESOURCE))
            .unwrap();
        let tokens = Counting::new(source);
        let client =
            reqwest_middleware::ClientBuilder::new(client_builder().unwrap().build().unwrap())
                .with(BearerTokenMiddleware::from_arc(
                    Arc::clone(&tokens) as Arc<dyn TokenProvider>
                ))
                .build();
        Self {
            logto,
            api: ResourceServer::start(),
            tokens,
            client,
        }
    }

    fn invalidations(&self) -> usize {
        self.tokens.invalidations()
    }

    async fn current_token(&self) -> String {
        self.tokens.current_authorization().await
    }
}

#[tokio::test]
async fn the_token_is_set_on_every_request_and_fetched_once() {
    let setup = Setup::new(defaults::APP_SECRET);

    for _ in 0..3 {
        let response = setup
            .client
            .get(setup.api.url("/items"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), resource_server::OK_BODY);
    }

    let expected = setup.current_token().await;
    assert!(expected.starts_with("Bearer eyJ"), "a JWT from the testkit");
    assert_eq!(setup.api.authorizations(), vec![Some(expected); 3]);
    assert_eq!(setup.logto.token_requests(), 1);
    assert_eq!(setup.invalidations(), 0);
}

#[tokio::test]
async fn a_401_invalidates_the_token_once_and_an_idempotent_request_is_sent_once_more() {
    let setup = Setup::new(defaults::APP_SECRET);
    let first = setup.current_token().await;
    setup.api.refuse_next_token();

    let response = setup
        .client
        .put(setup.api.url("/items/1"))
        .body(r#"{"name":"one"}"#)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let second = setup.current_token().await;
    assert_ne!(first, second, "a new token after the 401");
    assert_eq!(
        setup.api.authorizations(),
        [Some(first), Some(second.clone())]
    );
    let received = setup.api.received();
    assert_eq!(received[1].request_line, "PUT /items/1 HTTP/1.1");
    assert_eq!(
        received[1].body, br#"{"name":"one"}"#,
        "the same body again"
    );
    assert_eq!(setup.invalidations(), 1);
    assert_eq!(setup.logto.token_requests(), 2);

    // The next request uses the new token without asking Logto again.
    setup
        .client
        .get(setup.api.url("/items"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        setup.api.authorizations()[2].as_deref(),
        Some(second.as_str())
    );
    assert_eq!(setup.logto.token_requests(), 2);
}

#[tokio::test]
async fn a_second_401_comes_back_without_a_third_attempt() {
    let setup = Setup::new(defaults::APP_SECRET);
    setup.api.refuse_next_token();
    setup.api.refuse_next_token();

    let response = setup
        .client
        .get(setup.api.url("/items"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(setup.api.received().len(), 2);
    assert_eq!(setup.invalidations(), 1);
}

#[tokio::test]
async fn a_post_is_not_sent_again_after_a_401_unless_it_opted_in() {
    let setup = Setup::new(defaults::APP_SECRET);
    setup.api.refuse_next_token();

    let response = setup
        .client
        .post(setup.api.url("/items"))
        .body("{}")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401, "the 401 is the answer");
    assert_eq!(setup.api.received().len(), 1, "not sent again");
    assert_eq!(
        setup.invalidations(),
        1,
        "the token is invalidated all the same"
    );

    // Opted in on the request.
    setup.api.refuse_next_token();
    let response = setup
        .client
        .post(setup.api.url("/items"))
        .body("{}")
        .with_extension(Replay::AnyMethod)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(setup.api.received().len(), 3);
    assert_eq!(setup.invalidations(), 2);
    assert_eq!(setup.logto.token_requests(), 3);
}

#[tokio::test]
async fn without_a_token_no_request_is_sent_and_the_token_error_comes_back() {
    let setup = Setup::new("not-the-secret");

    let error = setup
        .client
        .get(setup.api.url("/items"))
        .send()
        .await
        .unwrap_err();

    let reqwest_middleware::Error::Middleware(error) = error else {
        panic!("expected the token error, got {error:?}");
    };
    let error = error.downcast_ref::<logto_m2m::Error>().unwrap();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert!(
        setup.api.received().is_empty(),
        "no unauthenticated request"
    );
    assert_eq!(setup.logto.token_requests(), 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed_by_the_client_of_client_builder() {
    let setup = Setup::new(defaults::APP_SECRET);
    let elsewhere = Untouched::bind();
    let location = elsewhere.url("/steal");
    setup.api.answer_next(response(
        "302 Found",
        &[("location", location.as_str())],
        "",
    ));

    let response = setup
        .client
        .get(setup.api.url("/items"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 302, "the redirect is the answer");
    assert!(
        !elsewhere.was_connected(),
        "the token went to the redirect target"
    );
    assert_eq!(setup.api.received().len(), 1);
    assert_eq!(setup.invalidations(), 0);
}
