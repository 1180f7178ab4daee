//! `UreqTransport` against a loopback server that writes exact HTTP/1.1 responses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../tests/support/raw_http_server.rs"]
mod support;

use std::time::Duration;

use logto_m2m::transport_rules::RefusedResponse;
use logto_m2m::{BlockingTransport, IntoTransportError};
use logto_m2m_proto::TransportErrorKind;
use logto_m2m_proto::http::StatusCode;
use logto_m2m_ureq::{UreqTransport, UreqTransportError};
use support::{Reply, TestServer, Untouched, closed_port, response, token_request};

/// Far below the 50 MiB a flood offers: what a bounded read may leave in flight in socket buffers.
const BOUNDED: u64 = 16 * 1024 * 1024;
/// How long a test waits for its server to report, at most.
const WAIT: Duration = Duration::from_secs(20);

const TOKEN_JSON: &str = r#"{"access_token":"eyJhbGciOiJFUzM4NCJ9.e30.sig","expires_in":3600,"token_type":"Bearer","scope":"read:all"}"#;

fn send(
    transport: &UreqTransport,
    url: &str,
) -> Result<logto_m2m_proto::http::Response<Vec<u8>>, UreqTransportError> {
    transport.send(token_request(url))
}

#[test]
fn success_json_comes_back_intact() {
    let server = TestServer::always(&response(
        "200 OK",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("cache-control", "no-store"),
            ("x-request-id", "abc-123"),
        ],
        TOKEN_JSON,
    ));
    let transport = UreqTransport::new();

    let response = send(&transport, &server.url("/oidc/token")).unwrap();

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
        received[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        received[0].body,
        b"grant_type=client_credentials&resource=https%3A%2F%2Fapi.example"
    );
}

#[test]
fn oauth_error_statuses_are_responses() {
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
    let transport = UreqTransport::new();

    let first = send(&transport, &server.url("/oidc/token")).unwrap();
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    assert_eq!(first.body(), bad_request.as_bytes());

    let second = send(&transport, &server.url("/oidc/token")).unwrap();
    assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        second.headers()["www-authenticate"],
        "Basic realm=\"logto\""
    );
    assert_eq!(second.body(), unauthorized.as_bytes());
}

#[test]
fn bad_gateway_html_is_a_response() {
    let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    let server = TestServer::always(&response(
        "502 Bad Gateway",
        &[("content-type", "text/html")],
        page,
    ));

    let response = send(&UreqTransport::new(), &server.url("/oidc/token")).unwrap();

    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(response.body(), page.as_bytes());
}

#[test]
fn endless_chunked_body_stops_at_the_cap() {
    let server = TestServer::start(|_| Reply::Flood { chunked: true });
    let transport = UreqTransport::builder()
        .max_response_bytes(64 * 1024)
        .build();

    let error = send(&transport, &server.url("/oidc/token")).unwrap_err();

    assert!(
        matches!(
            error,
            UreqTransportError::Refused(RefusedResponse::BodyTooLarge { limit: 65_536 })
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

#[test]
fn declared_fifty_mebibytes_is_refused_without_reading_them() {
    let server = TestServer::start(|_| Reply::Flood { chunked: false });

    let error = send(&UreqTransport::new(), &server.url("/oidc/token")).unwrap_err();

    assert!(
        matches!(
            error,
            UreqTransportError::Refused(RefusedResponse::BodyTooLarge { .. })
        ),
        "{error:?}"
    );
    let written = server.flood_written(WAIT).expect("the flood ended");
    assert!(
        written < BOUNDED,
        "the server wrote {written} bytes before the client closed"
    );
}

#[test]
fn body_exactly_at_the_cap_is_accepted() {
    let body = "x".repeat(1024);
    let server = TestServer::always(&response("200 OK", &[], &body));
    let transport = UreqTransport::builder().max_response_bytes(1024).build();

    let response = send(&transport, &server.url("/")).unwrap();

    assert_eq!(response.body().len(), 1024);
}

#[test]
fn slow_server_times_out() {
    let server = TestServer::start(|_| {
        Reply::Slow(Duration::from_secs(2), response("200 OK", &[], TOKEN_JSON))
    });
    let transport = UreqTransport::builder()
        .timeout(Duration::from_millis(300))
        .build();

    let error = send(&transport, &server.url("/oidc/token")).unwrap_err();

    assert!(matches!(error, UreqTransportError::Timeout(_)), "{error:?}");
    let error = error.into_transport_error();
    assert_eq!(error.kind(), TransportErrorKind::Timeout);
    assert!(error.kind().is_retryable());
}

#[test]
fn body_stalling_past_the_timeout_times_out() {
    let server = TestServer::start(|_| {
        Reply::Stall(
            b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n{\"access_".to_vec(),
            Duration::from_secs(2),
            b"token\":\"x\"}".to_vec(),
        )
    });
    let transport = UreqTransport::builder()
        .timeout(Duration::from_millis(300))
        .build();

    let error = send(&transport, &server.url("/oidc/token")).unwrap_err();

    assert!(matches!(error, UreqTransportError::Timeout(_)), "{error:?}");
    assert_eq!(error.transport_error_kind(), TransportErrorKind::Timeout);
}

#[test]
fn redirects_are_refused_and_not_followed() {
    for status in ["302 Found", "307 Temporary Redirect"] {
        let elsewhere = Untouched::bind();
        let location = elsewhere.url("/oidc/token");
        let server = TestServer::always(&response(status, &[("location", location.as_str())], ""));

        let error = send(&UreqTransport::new(), &server.url("/oidc/token")).unwrap_err();

        match &error {
            UreqTransportError::Refused(RefusedResponse::Redirect {
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

#[test]
fn connection_refused_is_a_retryable_connect_error() {
    let url = format!("http://127.0.0.1:{}/oidc/token", closed_port());

    let error = send(&UreqTransport::new(), &url).unwrap_err();

    assert!(matches!(error, UreqTransportError::Connect(_)), "{error:?}");
    let error = error.into_transport_error();
    assert_eq!(error.kind(), TransportErrorKind::Connect);
    assert!(error.kind().is_retryable());
}

#[test]
fn https_to_a_server_without_tls_is_a_connect_error() {
    let url = format!("https://{}/oidc/token", support::plain_http_server());

    let error = send(&UreqTransport::new(), &url).unwrap_err();

    assert!(matches!(error, UreqTransportError::Connect(_)), "{error:?}");
    assert_eq!(error.transport_error_kind(), TransportErrorKind::Connect);
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_connecting() {
    let transport = UreqTransport::new();

    let error = send(&transport, "http://example.invalid/oidc/token").unwrap_err();

    assert!(
        matches!(&error, UreqTransportError::InsecureHttp { host } if host == "example.invalid"),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::InvalidRequest
    );
    assert!(!error.transport_error_kind().is_retryable());
}

#[test]
fn unsupported_scheme_is_an_invalid_request() {
    let error = send(&UreqTransport::new(), "ftp://127.0.0.1/oidc/token").unwrap_err();

    assert!(
        matches!(error, UreqTransportError::InvalidRequest { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::InvalidRequest
    );
}

#[test]
fn connections_are_reused() {
    let server = TestServer::always(&response(
        "200 OK",
        &[("content-type", "application/json")],
        TOKEN_JSON,
    ));
    let transport = UreqTransport::new();
    let clone = transport.clone();

    let first = send(&transport, &server.url("/oidc/token")).unwrap();
    let second = send(&clone, &server.url("/oidc/token")).unwrap();

    assert_eq!(first.body(), TOKEN_JSON.as_bytes());
    assert_eq!(second.body(), TOKEN_JSON.as_bytes());
    assert_eq!(server.received().len(), 2);
    assert_eq!(server.accepts(), 1);
}

#[test]
fn builder_settings_are_kept() {
    let transport = UreqTransport::builder()
        .connect_timeout(Duration::from_secs(1))
        .max_response_bytes(10)
        .allow_insecure_http(true)
        .build();
    assert_eq!(transport.max_response_bytes(), 10);
    assert!(transport.allows_insecure_http());

    let default = UreqTransport::default();
    assert_eq!(
        default.max_response_bytes(),
        logto_m2m_ureq::DEFAULT_MAX_RESPONSE_BYTES
    );
    assert!(!default.allows_insecure_http());
}

#[test]
fn headers_over_the_header_cap_are_refused_as_headers_not_body() {
    let padding = "p".repeat(8 * 1024);
    let server = TestServer::always(&response(
        "200 OK",
        &[
            ("x-padding", padding.as_str()),
            ("content-type", "application/json"),
        ],
        TOKEN_JSON,
    ));
    let transport = UreqTransport::builder().max_header_bytes(4 * 1024).build();

    let error = send(&transport, &server.url("/oidc/token")).unwrap_err();

    assert!(
        matches!(
            error,
            UreqTransportError::Refused(RefusedResponse::HeadersTooLarge { limit: 4096 })
        ),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::HeadersTooLarge
    );
    let error = error.into_transport_error();
    assert_eq!(
        logto_m2m_proto::Error::Transport(error).kind(),
        logto_m2m_proto::ErrorKind::ResponseRefused
    );
}

#[test]
fn headers_over_the_default_header_cap_are_refused_as_headers_not_body() {
    // The same answer as the hyper transport's test: both transports say the same.
    let padding = "p".repeat(512 * 1024);
    let server = TestServer::always(&response(
        "200 OK",
        &[
            ("x-padding", padding.as_str()),
            ("content-type", "application/json"),
        ],
        TOKEN_JSON,
    ));

    let error = send(&UreqTransport::new(), &server.url("/oidc/token")).unwrap_err();

    assert!(
        matches!(
            error,
            UreqTransportError::Refused(RefusedResponse::HeadersTooLarge { limit: 65_536 })
        ),
        "{error:?}"
    );
    assert_eq!(
        error.transport_error_kind(),
        TransportErrorKind::HeadersTooLarge
    );
}

#[test]
fn a_refused_body_is_the_servers_doing_not_misuse() {
    let server = TestServer::start(|_| Reply::Flood { chunked: true });
    let error = send(&UreqTransport::new(), &server.url("/oidc/token")).unwrap_err();
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

/// Runs `test` (an ignored test of this binary) in a child process with every proxy variable
/// pointing at `proxy`, and returns whether it passed.
fn run_child_with_proxy_env(test: &str, proxy: &str, target: &str) -> bool {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", test, "--ignored", "--test-threads=1"])
        .env("LOGTO_M2M_TEST_TARGET", target)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for variable in PROXY_VARIABLES {
        child.env(variable, proxy);
    }
    let output = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 passed") || stdout.contains("1 failed"),
        "the child ran no test: {stdout}"
    );
    output.status.success()
}

#[test]
fn proxy_environment_variables_are_ignored() {
    let proxy = Untouched::bind();
    let server = TestServer::always(&response("200 OK", &[], TOKEN_JSON));

    let passed = run_child_with_proxy_env(
        "child_sends_with_the_default_builder",
        &proxy.url(""),
        &server.url("/oidc/token"),
    );

    assert!(
        !proxy.was_connected(),
        "the credentials went to the proxy named by the environment"
    );
    assert!(
        passed,
        "the request did not reach the token endpoint directly"
    );
    assert_eq!(server.received().len(), 1);
}

/// Run by `proxy_environment_variables_are_ignored`, in a child process whose proxy variables are
/// set.
#[test]
#[ignore = "run in a child process with proxy variables set"]
fn child_sends_with_the_default_builder() {
    let target = std::env::var("LOGTO_M2M_TEST_TARGET").unwrap();
    assert!(
        std::env::var("HTTP_PROXY").is_ok(),
        "run by the parent test"
    );
    // A short timeout, so a request sent to the silent proxy fails fast.
    let transport = UreqTransport::builder()
        .timeout(Duration::from_secs(3))
        .build();
    let response = transport.send(token_request(&target)).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn a_configured_proxy_is_used() {
    // The "proxy" accepts ureq's CONNECT, then answers the tunnelled request itself.
    let proxy = TestServer::start(|n| {
        Reply::Raw(if n == 0 {
            b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec()
        } else {
            response("200 OK", &[], TOKEN_JSON)
        })
    });
    let transport = UreqTransport::builder()
        .proxy(ureq::Proxy::new(&proxy.url("")).unwrap())
        .build();

    let response = send(&transport, "http://127.0.0.1:9/oidc/token").unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), TOKEN_JSON.as_bytes());
    let received = proxy.received();
    assert_eq!(received[0].request_line, "CONNECT 127.0.0.1:9 HTTP/1.1");
    assert_eq!(received[1].request_line, "POST /oidc/token HTTP/1.1");
}
