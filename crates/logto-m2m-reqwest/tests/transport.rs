//! `ReqwestTransport` against a loopback server that writes exact HTTP/1.1 responses, and against
//! the testkit's Logto-compatible token endpoint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../tests/support/raw_http_server.rs"]
mod support;

use std::future::Future;
use std::time::Duration;

use logto_m2m::transport_rules::RefusedResponse;
use logto_m2m::{IntoTransportError, TokenParams, Transport};
use logto_m2m_proto::http::{Response, StatusCode};
use logto_m2m_proto::{ErrorKind, TransportErrorKind};
use logto_m2m_reqwest::{ReqwestTransport, ReqwestTransportError, token_manager};
use logto_m2m_testkit::{Fault, defaults};
use support::{Reply, TestServer, Untouched, closed_port, response, token_request};

/// Far below the 50 MiB a flood offers: what a bounded read may leave in flight in socket buffers.
const BOUNDED: u64 = 16 * 1024 * 1024;
/// How long a test waits for its server to report, at most.
const WAIT: Duration = Duration::from_secs(20);

const TOKEN_JSON: &str = r#"{"access_token":"eyJhbGciOiJFUzM4NCJ9.e30.sig","expires_in":3600,"token_type":"Bearer","scope":"read:all"}"#;

async fn send(
    transport: &ReqwestTransport,
    url: &str,
) -> Result<Response<Vec<u8>>, ReqwestTransportError> {
    transport.send(token_request(url)).await
}

#[tokio::test]
async fn a_token_from_the_testkit_through_the_one_call_constructor() {
    let logto = logto_m2m_testkit::TestServer::start_default().unwrap();
    let manager = token_manager(logto.endpoint(), defaults::APP_ID, defaults::APP_SECRET).unwrap();
    let source = manager
        .source(TokenParams::for_resource(defaults::RESOURCE).scope("read:items"))
        .unwrap();

    let token = source.token().await.unwrap();

    assert!(token.access_token().expose_secret().starts_with("eyJ"));
    assert!(token.granted_scopes().contains("read:items"));
    let sent = &logto.requests()[0];
    assert_eq!(sent.client_id(), Some(defaults::APP_ID));
    assert_eq!(sent.param("resource"), Some(defaults::RESOURCE));
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_refused_and_the_secret_goes_nowhere() {
    let logto = logto_m2m_testkit::TestServer::start_default().unwrap();
    let elsewhere = logto_m2m_testkit::TestServer::start_default().unwrap();
    logto.inject(
        Fault::redirect(StatusCode::TEMPORARY_REDIRECT, elsewhere.token_endpoint()),
        1,
    );
    let manager = token_manager(logto.endpoint(), defaults::APP_ID, defaults::APP_SECRET).unwrap();
    let source = manager
        .source(TokenParams::for_resource(defaults::RESOURCE))
        .unwrap();

    let error = source.token().await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::ResponseRefused);
    assert!(!error.is_retryable());
    assert_eq!(logto.token_requests(), 1);
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn success_json_comes_back_intact() {
    let server = TestServer::always(&response(
        "200 OK",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("cache-control", "no-store"),
        ],
        TOKEN_JSON,
    ));

    let response = send(&ReqwestTransport::new(), &server.url("/oidc/token"))
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.body(), TOKEN_JSON.as_bytes());
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].request_line, "POST /oidc/token HTTP/1.1");
    assert_eq!(
        received[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        received[0].body,
        b"grant_type=client_credentials&resource=https%3A%2F%2Fapi.example"
    );
}

#[tokio::test]
async fn oauth_error_statuses_are_responses() {
    let unauthorized =
        r#"{"error":"invalid_client","error_description":"client authentication failed"}"#;
    let server = TestServer::always(&response(
        "401 Unauthorized",
        &[("www-authenticate", "Basic realm=\"logto\"")],
        unauthorized,
    ));

    let response = send(&ReqwestTransport::new(), &server.url("/oidc/token"))
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.body(), unauthorized.as_bytes());
}

#[tokio::test]
async fn redirects_are_refused_and_not_followed() {
    for status in [
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let elsewhere = Untouched::bind();
        let location = elsewhere.url("/oidc/token");
        let server = TestServer::always(&response(status, &[("location", location.as_str())], ""));

        let error = send(&ReqwestTransport::new(), &server.url("/oidc/token"))
            .await
            .unwrap_err();

        match &error {
            ReqwestTransportError::Refused(RefusedResponse::Redirect {
                status: got,
                location: Some(got_location),
            }) => {
                assert_eq!(got.as_u16().to_string(), status[..3]);
                assert_eq!(got_location, &location);
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
        assert_eq!(error.transport_error_kind(), TransportErrorKind::Redirect);
        assert!(
            !elsewhere.was_connected(),
            "the redirect target was reached"
        );
        assert_eq!(server.accepts(), 1);
    }
}

// Multi-threaded so that the runtime closes the dropped connection while the test waits for the
// server's count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_chunked_body_stops_at_the_cap() {
    let server = TestServer::start(|_| Reply::Flood { chunked: true });
    let transport = ReqwestTransport::builder()
        .max_response_bytes(64 * 1024)
        .build();

    let error = send(&transport, &server.url("/oidc/token"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            ReqwestTransportError::Refused(RefusedResponse::BodyTooLarge { limit: 65_536 })
        ),
        "{error:?}"
    );
    let written = server.flood_written(WAIT).expect("the flood ended");
    assert!(written < BOUNDED, "the server wrote {written} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_fifty_mebibytes_is_refused_without_reading_them() {
    let server = TestServer::start(|_| Reply::Flood { chunked: false });

    let error = send(&ReqwestTransport::new(), &server.url("/oidc/token"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            ReqwestTransportError::Refused(RefusedResponse::BodyTooLarge { limit: 65_536 })
        ),
        "{error:?}"
    );
    let written = server.flood_written(WAIT).expect("the flood ended");
    assert!(written < BOUNDED, "the server wrote {written} bytes");
}

#[tokio::test]
async fn body_exactly_at_the_cap_is_accepted() {
    let body = "x".repeat(1024);
    let server = TestServer::always(&response("200 OK", &[], &body));
    let transport = ReqwestTransport::builder().max_response_bytes(1024).build();

    let response = send(&transport, &server.url("/")).await.unwrap();

    assert_eq!(response.body().len(), 1024);
}

/// The manager's `AttemptTimeout` (what is left of the call's budget) shortens the transport's own
/// 10 s timeout.
#[tokio::test]
async fn the_attempt_timeout_of_a_request_cuts_the_exchange() {
    let slow = TestServer::start(|_| {
        Reply::Slow(Duration::from_secs(3), response("200 OK", &[], TOKEN_JSON))
    });
    let transport = ReqwestTransport::new();
    let mut request = token_request(&slow.url("/oidc/token"));
    request
        .extensions_mut()
        .insert(logto_m2m::AttemptTimeout(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let error = transport.send(request).await.unwrap_err();
    assert!(
        matches!(error, ReqwestTransportError::Timeout(_)),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_server_and_stalled_body_time_out() {
    let slow = TestServer::start(|_| {
        Reply::Slow(Duration::from_secs(2), response("200 OK", &[], TOKEN_JSON))
    });
    let stalled = TestServer::start(|_| {
        Reply::Stall(
            b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n{\"access_".to_vec(),
            Duration::from_secs(2),
            b"token\":\"x\"}".to_vec(),
        )
    });
    let transport = ReqwestTransport::builder()
        .timeout(Duration::from_millis(300))
        .build();

    for server in [slow, stalled] {
        let error = send(&transport, &server.url("/oidc/token"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ReqwestTransportError::Timeout(_)),
            "{error:?}"
        );
        assert!(error.transport_error_kind().is_retryable());
    }
}

#[tokio::test]
async fn connection_refused_is_a_retryable_connect_error() {
    let url = format!("http://127.0.0.1:{}/oidc/token", closed_port());

    let error = send(&ReqwestTransport::new(), &url).await.unwrap_err();

    assert!(
        matches!(error, ReqwestTransportError::Connect(_)),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("could not connect: "),
        "{error}"
    );
    assert_eq!(error.transport_error_kind(), TransportErrorKind::Connect);
}

#[tokio::test]
async fn https_to_a_server_without_tls_is_a_connect_error() {
    let url = format!("https://{}/oidc/token", support::plain_http_server());

    let error = send(&ReqwestTransport::new(), &url).await.unwrap_err();

    assert!(
        matches!(error, ReqwestTransportError::Connect(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_connecting() {
    let error = send(
        &ReqwestTransport::new(),
        "http://example.invalid/oidc/token",
    )
    .await
    .unwrap_err();

    assert!(
        matches!(&error, ReqwestTransportError::InsecureHttp { host } if host == "example.invalid"),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::InvalidRequest
    );

    let error = send(&ReqwestTransport::new(), "ftp://127.0.0.1/oidc/token")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ReqwestTransportError::InvalidRequest { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn headers_over_hypers_cap_are_refused_as_headers_not_io() {
    let padding = "p".repeat(512 * 1024);
    let server = TestServer::always(&response(
        "200 OK",
        &[("x-padding", padding.as_str())],
        TOKEN_JSON,
    ));

    let error = send(&ReqwestTransport::new(), &server.url("/oidc/token"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            ReqwestTransportError::Refused(RefusedResponse::HeadersTooLarge { .. })
        ),
        "{error:?}"
    );
    assert!(!error.transport_error_kind().is_retryable());
}

#[test]
fn without_a_runtime_send_fails_with_a_typed_error() {
    let server = TestServer::always(&response("200 OK", &[], TOKEN_JSON));
    let transport = ReqwestTransport::new();

    let url = server.url("/oidc/token");
    let error = block_on(send(&transport, &url)).unwrap_err();

    assert!(
        matches!(error, ReqwestTransportError::NoTokioRuntime),
        "{error:?}"
    );
    assert_eq!(server.accepts(), 0);
}

/// Polls a future to completion on this thread, outside any tokio runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::{self, Thread};

    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// The environment variables a proxy is read from, by reqwest and by most HTTP stacks.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

#[test]
fn proxy_environment_variables_are_ignored() {
    let proxy = Untouched::bind();
    let server = TestServer::always(&response("200 OK", &[], TOKEN_JSON));
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--exact",
            "child_sends_with_the_default_builder",
            "--ignored",
            "--test-threads=1",
        ])
        .env("LOGTO_M2M_TEST_TARGET", server.url("/oidc/token"))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for variable in PROXY_VARIABLES {
        child.env(variable, proxy.url(""));
    }

    let output = child.output().unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 passed") || stdout.contains("1 failed"),
        "{stdout}"
    );
    assert!(
        !proxy.was_connected(),
        "the credentials went to the proxy named by the environment"
    );
    assert!(output.status.success(), "{stdout}");
    assert_eq!(server.received().len(), 1);
}

/// Run by `proxy_environment_variables_are_ignored`, in a child process whose proxy variables are
/// set.
#[tokio::test]
#[ignore = "run in a child process with proxy variables set"]
async fn child_sends_with_the_default_builder() {
    let target = std::env::var("LOGTO_M2M_TEST_TARGET").unwrap();
    assert!(
        std::env::var("HTTP_PROXY").is_ok(),
        "run by the parent test"
    );
    let transport = ReqwestTransport::builder()
        .timeout(Duration::from_secs(3))
        .build();
    let response = send(&transport, &target).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
