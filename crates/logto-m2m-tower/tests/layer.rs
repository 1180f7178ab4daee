//! `BearerTokenLayer` around a hyper-util client over real loopback HTTP: tokens from the testkit's
//! Logto-compatible server through a hyper transport manager, requests to a loopback API that
//! answers 401 when told to.
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

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Bytes;
use counting_provider::Counting;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, Error as ClientError};
use hyper_util::rt::TokioExecutor;
use logto_m2m::proto::http::{Method, Request, Response};
use logto_m2m::{ErrorKind, TokenParams, TokenProvider};
use logto_m2m_testkit::{TestServer, defaults};
use logto_m2m_tower::{
    BearerError, BearerToken, BearerTokenLayer, NeverReplay, Replay, ReplayBody,
};
use resource_server::ResourceServer;
use support::{Untouched, response};
use tower_layer::Layer;
use tower_service::Service;

type HyperClient = Client<HttpConnector, Full<Bytes>>;

struct Setup {
    logto: TestServer,
    api: ResourceServer,
    tokens: Arc<Counting>,
}

impl Setup {
    fn new(secret: &str) -> Self {
        let logto = TestServer::start_default().unwrap();
        let manager =
            logto_m2m_hyper::token_manager(logto.endpoint(), defaults::APP_ID, secret).unwrap();
        let source = manager
            .source(TokenParams::for_resource(defaults::RESOURCE))
            .unwrap();
        Self {
            logto,
            api: ResourceServer::start(),
            tokens: Counting::new(source),
        }
    }

    fn layer(&self) -> BearerTokenLayer {
        BearerTokenLayer::from_arc(Arc::clone(&self.tokens) as Arc<dyn TokenProvider>)
    }

    fn service(&self) -> BearerToken<HyperClient> {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        self.layer().layer(client)
    }

    fn request(&self, method: Method, path: &str, body: &'static str) -> Request<Full<Bytes>> {
        Request::builder()
            .method(method)
            .uri(self.api.url(path))
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    }
}

/// Sends `request` through `service` as a tower caller does: ready, then call.
async fn send<S, B>(service: &mut S, request: Request<B>) -> Result<Response<String>, S::Error>
where
    S: Service<Request<B>, Response = Response<hyper::body::Incoming>>,
{
    poll_fn(|cx| service.poll_ready(cx)).await?;
    let response = service.call(request).await?;
    let (head, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Ok(Response::from_parts(
        head,
        String::from_utf8(body.to_vec()).unwrap(),
    ))
}

#[tokio::test]
async fn the_token_is_set_on_every_request_and_fetched_once() {
    let setup = Setup::new(defaults::APP_SECRET);
    let mut service = setup.service();

    for _ in 0..3 {
        let response = send(&mut service, setup.request(Method::GET, "/items", ""))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), resource_server::OK_BODY);
    }

    let expected = setup.tokens.current_authorization().await;
    assert!(expected.starts_with("Bearer eyJ"), "a JWT from the testkit");
    assert_eq!(setup.api.authorizations(), vec![Some(expected); 3]);
    assert_eq!(setup.logto.token_requests(), 1);
    assert_eq!(setup.tokens.invalidations(), 0);
}

#[tokio::test]
async fn a_401_invalidates_the_token_once_and_an_idempotent_request_is_sent_once_more() {
    let setup = Setup::new(defaults::APP_SECRET);
    let mut service = setup.service();
    let first = setup.tokens.current_authorization().await;
    setup.api.refuse_next_token();

    let mut request = setup.request(Method::PUT, "/items/1", r#"{"name":"one"}"#);
    request
        .headers_mut()
        .insert("x-request-id", "put-1".parse().unwrap());
    let response = send(&mut service, request).await.unwrap();

    assert_eq!(response.status(), 200);
    let second = setup.tokens.current_authorization().await;
    assert_ne!(first, second, "a new token after the 401");
    assert_eq!(setup.api.authorizations(), [Some(first), Some(second)]);
    let received = setup.api.received();
    assert_eq!(received[1].request_line, "PUT /items/1 HTTP/1.1");
    assert_eq!(
        received[1].body, br#"{"name":"one"}"#,
        "the same body again"
    );
    assert_eq!(received[1].header("x-request-id"), Some("put-1"));
    assert_eq!(setup.tokens.invalidations(), 1);
    assert_eq!(setup.logto.token_requests(), 2);
}

#[tokio::test]
async fn a_second_401_comes_back_without_a_third_attempt() {
    let setup = Setup::new(defaults::APP_SECRET);
    let mut service = setup.service();
    setup.api.refuse_next_token();
    setup.api.refuse_next_token();

    let response = send(&mut service, setup.request(Method::GET, "/items", ""))
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(setup.api.received().len(), 2);
    assert_eq!(setup.tokens.invalidations(), 1);
}

#[tokio::test]
async fn a_post_is_not_sent_again_after_a_401_unless_it_opted_in() {
    let setup = Setup::new(defaults::APP_SECRET);
    let mut service = setup.service();
    setup.api.refuse_next_token();

    let response = send(&mut service, setup.request(Method::POST, "/items", "{}"))
        .await
        .unwrap();

    assert_eq!(response.status(), 401, "the 401 is the answer");
    assert_eq!(setup.api.received().len(), 1, "not sent again");
    assert_eq!(setup.tokens.invalidations(), 1, "invalidated all the same");

    setup.api.refuse_next_token();
    let mut request = setup.request(Method::POST, "/items", "{}");
    request.extensions_mut().insert(Replay::AnyMethod);
    let response = send(&mut service, request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(setup.api.received().len(), 3);
    assert_eq!(setup.tokens.invalidations(), 2);
}

/// Counts the copies asked for, and makes none: a body that cannot be copied.
#[derive(Clone, Default)]
struct Uncopyable(Arc<std::sync::atomic::AtomicUsize>);

impl<B> ReplayBody<B> for Uncopyable {
    fn try_copy(&self, body: &B) -> Option<B> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        NeverReplay.try_copy(body)
    }
}

#[tokio::test]
async fn a_body_that_cannot_be_copied_is_not_sent_again() {
    let setup = Setup::new(defaults::APP_SECRET);
    let copies = Uncopyable::default();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut service = setup.layer().replay_body(copies.clone()).layer(client);
    setup.api.refuse_next_token();

    let response = send(&mut service, setup.request(Method::GET, "/items", ""))
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(setup.api.received().len(), 1);
    assert_eq!(copies.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(setup.tokens.invalidations(), 1);
}

#[tokio::test]
async fn without_a_token_no_request_is_sent_and_the_token_error_comes_back() {
    let setup = Setup::new("not-the-secret");
    let mut service = setup.service();

    let error = send(&mut service, setup.request(Method::GET, "/items", ""))
        .await
        .unwrap_err();

    let BearerError::Token(error) = error else {
        panic!("expected the token error, got {error:?}");
    };
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert!(
        setup.api.received().is_empty(),
        "no unauthenticated request"
    );
}

#[tokio::test]
async fn a_failure_of_the_wrapped_service_comes_back_as_send() {
    let setup = Setup::new(defaults::APP_SECRET);
    let mut service = setup.service();
    let url = format!("http://127.0.0.1:{}/items", support::closed_port());
    let request = Request::get(url).body(Full::new(Bytes::new())).unwrap();

    let error = send(&mut service, request).await.unwrap_err();

    let BearerError::Send(error) = error else {
        panic!("expected the client's error, got {error:?}");
    };
    let error: ClientError = error;
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(setup.tokens.invalidations(), 0);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let setup = Setup::new(defaults::APP_SECRET);
    let mut service = setup.service();
    let elsewhere = Untouched::bind();
    let location = elsewhere.url("/steal");
    setup.api.answer_next(response(
        "307 Temporary Redirect",
        &[("location", location.as_str())],
        "",
    ));

    let response = send(&mut service, setup.request(Method::GET, "/items", ""))
        .await
        .unwrap();

    assert_eq!(response.status(), 307, "the redirect is the answer");
    assert!(
        !elsewhere.was_connected(),
        "the token went to the redirect target"
    );
    assert_eq!(setup.tokens.invalidations(), 0);
}
