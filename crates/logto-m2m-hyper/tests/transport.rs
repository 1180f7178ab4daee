//! `HyperTransport` against a loopback server that writes exact HTTP/1.1 responses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../tests/support/raw_http_server.rs"]
mod support;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use logto_m2m::transport_rules::RefusedResponse;
use logto_m2m::{IntoTransportError, Transport};
use logto_m2m_hyper::{HyperTransport, HyperTransportError};
use logto_m2m_proto::TransportErrorKind;
use logto_m2m_proto::http::{Response, StatusCode};
use support::{Reply, TestServer, Untouched, closed_port, response, token_request};

/// Far below the 50 MiB a flood offers: what a bounded read may leave in flight in socket buffers.
const BOUNDED: u64 = 16 * 1024 * 1024;
/// How long a test waits for its server to report, at most.
const WAIT: Duration = Duration::from_secs(20);

const TOKEN_JSON: &str = r#"{"access_token":"eyJhbGciOiJFUzM4NCJ9.e30.sig","expires_in":3600,"token_type":"Bearer","scope":"read:all"}"#;

async fn send(
    transport: &HyperTransport,
    url: &str,
) -> Result<Response<Vec<u8>>, HyperTransportError> {
    transport.send(token_request(url)).await
}

#[tokio::test]
async fn success_json_comes_back_intact() {
    let server = TestServer::always(&response(
        "200 OK",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("cache-control", "no-store"),
            ("x-request-id", "abc-123"),
        ],
        TOKEN_JSON,
    ));
    let transport = HyperTransport::new();

    let response = send(&transport, &server.url("/oidc/token")).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    assert_eq!(response.body(), TOKEN_JSON.as_bytes());

    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].request_line, "POST /oidc/token HTTP/1.1");
    assert_eq!(
        received[0].header("host"),
        Some(server.addr().to_string().as_str())
    );
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
    let bad_request = r#"{"error":"invalid_target","error_description":"resource indicator is missing, or unknown"}"#;
    let unauthorized =
        r#"{"error":"invalid_client","error_description":"client authentication failed"}"#;
    let server = TestServer::start(move |n| {
        Reply::Raw(if n == 0 {
            response(
                "400 Bad Request",
                &[("content-type", "application/json")],
                bad_request,
            )
        } else {
            response(
                "401 Unauthorized",
                &[
                    ("content-type", "application/json"),
                    ("www-authenticate", "Basic realm=\"logto\""),
                ],
                unauthorized,
            )
        })
    });
    let transport = HyperTransport::new();

    let first = send(&transport, &server.url("/oidc/token")).await.unwrap();
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    assert_eq!(first.body(), bad_request.as_bytes());

    let second = send(&transport, &server.url("/oidc/token")).await.unwrap();
    assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        second.headers()["www-authenticate"],
        "Basic realm=\"logto\""
    );
    assert_eq!(second.body(), unauthorized.as_bytes());
}

#[tokio::test]
async fn bad_gateway_html_is_a_response() {
    let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    let server = TestServer::always(&response(
        "502 Bad Gateway",
        &[("content-type", "text/html")],
        page,
    ));

    let response = send(&HyperTransport::new(), &server.url("/oidc/token"))
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(response.body(), page.as_bytes());
}

// Multi-threaded so that the runtime closes the dropped connection while the test waits for the
// server's count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_chunked_body_stops_at_the_cap() {
    let server = TestServer::start(|_| Reply::Flood { chunked: true });
    let transport = HyperTransport::builder()
        .max_response_bytes(64 * 1024)
        .build();

    let error = send(&transport, &server.url("/oidc/token"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            HyperTransportError::Refused(RefusedResponse::BodyTooLarge { limit: 65_536 })
        ),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::BodyTooLarge
    );
    let written = server.flood_written(WAIT).expect("the flood ended");
    assert!(
        written < BOUNDED,
        "the server wrote {written} bytes before the client closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_fifty_mebibytes_is_refused_without_reading_them() {
    let server = TestServer::start(|_| Reply::Flood { chunked: false });

    let error = send(&HyperTransport::new(), &server.url("/oidc/token"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            HyperTransportError::Refused(RefusedResponse::BodyTooLarge { .. })
        ),
        "{error:?}"
    );
    let written = server.flood_written(WAIT).expect("the flood ended");
    assert!(
        written < BOUNDED,
        "the server wrote {written} bytes before the client closed"
    );
}

#[tokio::test]
async fn body_exactly_at_the_cap_is_accepted() {
    let body = "x".repeat(1024);
    let server = TestServer::always(&response("200 OK", &[], &body));
    let transport = HyperTransport::builder().max_response_bytes(1024).build();

    let response = send(&transport, &server.url("/")).await.unwrap();

    assert_eq!(response.body().len(), 1024);
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = TestServer::start(|_| {
        Reply::Slow(Duration::from_secs(2), response("200 OK", &[], TOKEN_JSON))
    });
    let transport = HyperTransport::builder()
        .timeout(Duration::from_millis(300))
        .build();

    let error = send(&transport, &server.url("/oidc/token"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, HyperTransportError::Timeout(_)),
        "{error:?}"
    );
    let error = error.into_transport_error();
    assert_eq!(error.kind(), TransportErrorKind::Timeout);
    assert!(error.kind().is_retryable());
}

#[tokio::test]
async fn body_stalling_past_the_timeout_times_out() {
    let server = TestServer::start(|_| {
        Reply::Stall(
            b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n{\"access_".to_vec(),
            Duration::from_secs(2),
            b"token\":\"x\"}".to_vec(),
        )
    });
    let transport = HyperTransport::builder()
        .timeout(Duration::from_millis(300))
        .build();

    let error = send(&transport, &server.url("/oidc/token"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, HyperTransportError::Timeout(_)),
        "{error:?}"
    );
    assert_eq!(error.transport_error_kind(), TransportErrorKind::Timeout);
}

#[tokio::test]
async fn redirects_are_refused_and_not_followed() {
    for status in ["302 Found", "307 Temporary Redirect"] {
        let elsewhere = Untouched::bind();
        let location = elsewhere.url("/oidc/token");
        let server = TestServer::always(&response(status, &[("location", location.as_str())], ""));

        let error = send(&HyperTransport::new(), &server.url("/oidc/token"))
            .await
            .unwrap_err();

        match &error {
            HyperTransportError::Refused(RefusedResponse::Redirect {
                status: got,
                location: Some(got_location),
            }) => {
                assert_eq!(got.as_u16().to_string(), status[..3]);
                assert_eq!(got_location, &location);
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
        assert_eq!(error.transport_error_kind(), TransportErrorKind::Redirect);
        assert!(!error.transport_error_kind().is_retryable());
        assert!(
            !elsewhere.was_connected(),
            "the redirect target received a connection"
        );
        assert_eq!(server.accepts(), 1);
    }
}

#[tokio::test]
async fn connection_refused_is_a_retryable_connect_error() {
    let url = format!("http://127.0.0.1:{}/oidc/token", closed_port());

    let error = send(&HyperTransport::new(), &url).await.unwrap_err();

    assert!(
        matches!(error, HyperTransportError::Connect(_)),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("could not connect: ") && message.contains("refused"),
        "{message}"
    );
    let error = error.into_transport_error();
    assert_eq!(error.kind(), TransportErrorKind::Connect);
    assert!(error.kind().is_retryable());
}

#[tokio::test]
async fn https_to_a_server_without_tls_is_a_connect_error() {
    let url = format!("https://{}/oidc/token", support::plain_http_server());

    let error = send(&HyperTransport::new(), &url).await.unwrap_err();

    assert!(
        matches!(error, HyperTransportError::Connect(_)),
        "{error:?}"
    );
    assert_eq!(error.transport_error_kind(), TransportErrorKind::Connect);
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_connecting() {
    let error = send(&HyperTransport::new(), "http://example.invalid/oidc/token")
        .await
        .unwrap_err();

    assert!(
        matches!(&error, HyperTransportError::InsecureHttp { host } if host == "example.invalid"),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::InvalidRequest
    );
    assert!(!error.transport_error_kind().is_retryable());
}

#[tokio::test]
async fn unsupported_scheme_is_an_invalid_request() {
    let error = send(&HyperTransport::new(), "ftp://127.0.0.1/oidc/token")
        .await
        .unwrap_err();

    assert!(
        matches!(error, HyperTransportError::InvalidRequest { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::InvalidRequest
    );
}

#[tokio::test]
async fn connections_are_reused() {
    let server = TestServer::always(&response(
        "200 OK",
        &[("content-type", "application/json")],
        TOKEN_JSON,
    ));
    let transport = HyperTransport::new();
    let clone = transport.clone();

    let first = send(&transport, &server.url("/oidc/token")).await.unwrap();
    // hyper-util puts an HTTP/1 connection back into the pool from a task it spawned once the
    // connection is idle again; on this single-threaded runtime, yielding lets that task run.
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
    let second = send(&clone, &server.url("/oidc/token")).await.unwrap();

    assert_eq!(first.body(), TOKEN_JSON.as_bytes());
    assert_eq!(second.body(), TOKEN_JSON.as_bytes());
    assert_eq!(server.received().len(), 2);
    assert_eq!(server.accepts(), 1);
}

#[test]
fn without_a_runtime_send_fails_with_a_typed_error() {
    let server = TestServer::always(&response("200 OK", &[], TOKEN_JSON));
    let transport = HyperTransport::new();

    let error = block_on(send(&transport, &server.url("/oidc/token"))).unwrap_err();

    assert!(
        matches!(error, HyperTransportError::NoTokioRuntime),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::InvalidRequest
    );
    assert_eq!(server.accepts(), 0);
}

#[test]
fn with_a_runtime_handle_send_works_from_any_executor() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = TestServer::always(&response(
        "200 OK",
        &[("content-type", "application/json")],
        TOKEN_JSON,
    ));
    let transport = HyperTransport::builder()
        .tokio_handle(runtime.handle().clone())
        .build();

    // Polled by a bare executor on a thread that has no tokio context.
    let response = block_on(send(&transport, &server.url("/oidc/token"))).unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), TOKEN_JSON.as_bytes());
}

#[tokio::test]
async fn headers_over_the_default_header_cap_are_refused_as_headers_not_io() {
    // Over hyper's own default read buffer (about 400 KiB) as well as over the 64 KiB header cap.
    let padding = "p".repeat(512 * 1024);
    let server = TestServer::always(&response(
        "200 OK",
        &[
            ("x-padding", padding.as_str()),
            ("content-type", "application/json"),
        ],
        TOKEN_JSON,
    ));

    let error = send(&HyperTransport::new(), &server.url("/oidc/token"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            HyperTransportError::Refused(RefusedResponse::HeadersTooLarge { limit: 65_536 })
        ),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::HeadersTooLarge
    );
    let error = logto_m2m_proto::Error::Transport(error.into_transport_error());
    assert_eq!(error.kind(), logto_m2m_proto::ErrorKind::ResponseRefused);
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_smaller_header_cap_is_kept_down_to_hypers_minimum() {
    let padding = "p".repeat(12 * 1024);
    let server = TestServer::always(&response(
        "200 OK",
        &[("x-padding", padding.as_str())],
        TOKEN_JSON,
    ));
    // Below hyper's 8 KiB minimum: 8 KiB it is, and no panic.
    let transport = HyperTransport::builder().max_header_bytes(1024).build();

    let error = send(&transport, &server.url("/oidc/token"))
        .await
        .unwrap_err();

    assert!(
        matches!(
            error,
            HyperTransportError::Refused(RefusedResponse::HeadersTooLarge { limit: 8192 })
        ),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_is_the_servers_doing_not_misuse() {
    let server = TestServer::start(|_| Reply::Flood { chunked: true });
    let error = send(&HyperTransport::new(), &server.url("/oidc/token"))
        .await
        .unwrap_err();
    let error = logto_m2m_proto::Error::Transport(error.into_transport_error());
    assert_eq!(error.kind(), logto_m2m_proto::ErrorKind::ResponseRefused);
}

/// The environment variables a proxy is read from, by ureq and by most HTTP stacks.
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
    assert!(
        output.status.success(),
        "the request did not reach the token endpoint: {stdout}"
    );
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
    let transport = HyperTransport::builder()
        .timeout(Duration::from_secs(3))
        .build();
    let response = send(&transport, &target).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_configured_proxy_is_used() {
    // The "proxy" accepts the CONNECT, then answers the tunnelled request itself.
    let proxy = TestServer::start(|n| {
        Reply::Raw(if n == 0 {
            b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec()
        } else {
            response("200 OK", &[], TOKEN_JSON)
        })
    });
    let transport = HyperTransport::builder()
        .proxy(proxy.url("").parse().unwrap())
        .proxy_authorization(logto_m2m_proto::http::HeaderValue::from_static(
            "Basic cHJveHk6cHc=",
        ))
        .build();

    let response = send(&transport, "http://127.0.0.1:9/oidc/token")
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), TOKEN_JSON.as_bytes());
    let received = proxy.received();
    assert_eq!(received[0].request_line, "CONNECT 127.0.0.1:9 HTTP/1.1");
    assert_eq!(
        received[0].header("proxy-authorization"),
        Some("Basic cHJveHk6cHc=")
    );
    assert_eq!(received[1].request_line, "POST /oidc/token HTTP/1.1");
}

/// A minimal executor with no tokio context: polls `future` on this thread, parking in between.
fn block_on<F: Future>(future: F) -> F::Output {
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
