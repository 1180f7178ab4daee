//! No secret in any log record or `Debug` output: a whole run through the layer (a token fetched
//! with Basic credentials, an API call, a 401 and its retry, a rejected secret) with every
//! `tracing` event captured at `trace`, and the `Debug` and `Display` of everything a caller can
//! print (the layer, the service, the errors, and each request as the wrapped service sees it).
//! The app secret, its encodings and the tokens must show in none of them.
//!
//! One test in its own binary: a `tracing` subscriber is installed once per process.
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

use std::future::poll_fn;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use logto_m2m::TokenParams;
use logto_m2m::proto::http::Request;
use logto_m2m_testkit::{ApiResource, App, Config, TestServer};
use logto_m2m_tower::BearerTokenLayer;
use resource_server::ResourceServer;
use tower_layer::Layer;
use tower_service::Service;

const APP_ID: &str = "canary-app";
const SECRET: &str = "Canary-Secret/7Qx+Zp9wLm";
const API: &str = "https://canary.example";

/// Everything captured: tracing output and `Debug` / `Display` strings.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

impl Capture {
    fn push(&self, text: &str) {
        let mut all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.push_str(text);
        all.push('\n');
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The wrapped service, printing each request as it sees it.
#[derive(Clone)]
struct Printing<S> {
    inner: S,
    capture: Capture,
}

impl<S: Service<Request<B>>, B> Service<Request<B>> for Printing<S>
where
    B: std::fmt::Debug,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> S::Future {
        self.capture.push(&format!("{request:?}"));
        self.inner.call(request)
    }
}

/// Every form the credentials take on the wire.
fn secret_forms() -> Vec<(&'static str, String)> {
    let encoded_secret: String = form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{APP_ID}:{encoded_secret}"));
    vec![
        ("the secret", SECRET.to_owned()),
        ("the form-encoded secret", encoded_secret),
        ("the Basic credentials", basic),
    ]
}

#[tokio::test]
async fn no_secret_or_token_in_any_log_record_or_debug_output() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let config = Config::builder()
        .resource(ApiResource::new(API).scopes(["read"]))
        .app(App::new(APP_ID, SECRET).grant(API, ["read"]))
        .build()
        .unwrap();
    let logto = TestServer::start(config).unwrap();
    let api = ResourceServer::start();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let printing = Printing {
        inner: client,
        capture: capture.clone(),
    };

    let manager = logto_m2m_hyper::token_manager(logto.endpoint(), APP_ID, SECRET).unwrap();
    let source = manager.source(TokenParams::for_resource(API)).unwrap();
    let layer = BearerTokenLayer::new(source.clone());
    let mut service = layer.layer(printing.clone());
    api.refuse_next_token();
    let request = Request::get(api.url("/items"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
    let response = service.call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    capture.push(&format!("{response:?}"));

    let wrong = logto_m2m_hyper::token_manager(logto.endpoint(), APP_ID, "not-the-secret").unwrap();
    let wrong_source = wrong.source(TokenParams::for_resource(API)).unwrap();
    let mut wrong_service = BearerTokenLayer::new(wrong_source).layer(printing);
    let request = Request::get(api.url("/items"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    poll_fn(|cx| wrong_service.poll_ready(cx)).await.unwrap();
    let error = wrong_service.call(request).await.unwrap_err();
    capture.push(&format!("{error:?}\n{error}"));
    for printed in [
        format!("{manager:?}"),
        format!("{source:?}"),
        format!("{layer:?}"),
        format!("{:?}", source.token().await.unwrap()),
    ] {
        capture.push(&printed);
    }

    let tokens: Vec<String> = api
        .authorizations()
        .into_iter()
        .map(|value| value.unwrap().trim_start_matches("Bearer ").to_owned())
        .collect();
    assert_eq!(tokens.len(), 2, "the 401 and its retry");
    let text = capture.text();
    assert!(
        text.contains("authorization"),
        "the requests were printed: {text}"
    );
    assert!(text.contains("invalid_client"), "the error was printed");
    let mut forms = secret_forms();
    forms.extend(tokens.into_iter().map(|token| ("a token", token)));
    let leaked: Vec<&str> = forms
        .iter()
        .filter(|(_, form)| text.contains(form.as_str()))
        .map(|(name, _)| *name)
        .collect();
    assert!(leaked.is_empty(), "leaked {leaked:?}");
}
