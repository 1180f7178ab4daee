//! No secret in any log record or `Debug` output: a whole run (a token fetched with Basic
//! credentials, an API call, a 401 and its retry, a rejected secret) with every `log` record and
//! every `tracing` event captured at `trace`, and the `Debug` and `Display` of everything a caller
//! can print (the manager, the source, the middleware, the client, the errors, and the request as
//! the middlewares after this one see it). The app secret, its encodings and the tokens must show
//! in none of them.
//!
//! One test in its own binary: a `log` logger and a `tracing` subscriber are installed once per
//! process.
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

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use logto_m2m::TokenParams;
use logto_m2m_reqwest::reqwest_middleware::{self, Middleware, Next};
use logto_m2m_reqwest::{BearerTokenMiddleware, client_builder, reqwest, token_manager};
use logto_m2m_testkit::{ApiResource, App, Config, TestServer};
use resource_server::ResourceServer;

const APP_ID: &str = "canary-app";
const SECRET: &str = "Canary-Secret/7Qx+Zp9wLm";
const API: &str = "https://canary.example";

/// Everything captured: log records, tracing output and `Debug` / `Display` strings.
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

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.push(&format!("{} {}", record.target(), record.args()));
    }

    fn flush(&self) {}
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

/// A middleware after the bearer one that prints each request as it sees it.
struct PrintRequests(Capture);

#[async_trait::async_trait]
impl Middleware for PrintRequests {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut logto_m2m::proto::http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        self.0.push(&format!("{request:?}"));
        let response = next.run(request, extensions).await;
        self.0.push(&format!("{response:?}"));
        response
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
    log::set_boxed_logger(Box::new(capture.clone())).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
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
    let manager = token_manager(logto.endpoint(), APP_ID, SECRET).unwrap();
    let source = manager.source(TokenParams::for_resource(API)).unwrap();
    let middleware = BearerTokenMiddleware::new(source.clone());
    let client = reqwest_middleware::ClientBuilder::new(client_builder().unwrap().build().unwrap())
        .with(middleware.clone())
        .with(PrintRequests(capture.clone()))
        .build();

    api.refuse_next_token();
    let response = client.get(api.url("/items")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    capture.push(&format!("{response:?}"));

    let wrong = token_manager(logto.endpoint(), APP_ID, "not-the-secret").unwrap();
    let wrong_source = wrong.source(TokenParams::for_resource(API)).unwrap();
    let wrong_client =
        reqwest_middleware::ClientBuilder::new(client_builder().unwrap().build().unwrap())
            .with(BearerTokenMiddleware::new(wrong_source))
            .build();
    let error = wrong_client
        .get(api.url("/items"))
        .send()
        .await
        .unwrap_err();
    capture.push(&format!("{error:?}\n{error}"));
    for printed in [
        format!("{manager:?}"),
        format!("{source:?}"),
        format!("{middleware:?}"),
        format!("{client:?}"),
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
    assert!(text.contains("GET"), "the requests were printed: {text}");
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
