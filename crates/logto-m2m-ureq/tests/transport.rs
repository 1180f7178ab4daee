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
        matches!(error, UreqTransportError::BodyTooLarge { limit: 65_536 }),
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
        matches!(error, UreqTransportError::BodyTooLarge { .. }),
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
            UreqTransportError::Redirect {
                status: got,
                location: Some(got_location),
            } => {
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
