//! Every fault, observed from a raw client: status, headers, body, resets, early closes and
//! timing (with generous bounds).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{self, Read, Write};
use std::time::{Duration, Instant, SystemTime};

use common::{BodyEnd, RawRequest, connect, exchange, read_response, send};
use logto_m2m_testkit::http::{HeaderValue, StatusCode, header};
use logto_m2m_testkit::{CannedResponse, Fault, RetryAfter, TestServer, defaults};

fn good_request() -> RawRequest {
    RawRequest::token(&[
        ("grant_type", "client_credentials"),
        ("resource", defaults::RESOURCE),
        ("scope", "read:items"),
    ])
    .basic(defaults::APP_ID, defaults::APP_SECRET)
}

/// Waits (bounded) until `condition` holds.
fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_canned_response_replaces_the_answer() {
    let server = TestServer::start_default().unwrap();
    server.inject(
        Fault::Respond(
            CannedResponse::new(StatusCode::IM_A_TEAPOT)
                .header(header::CONTENT_TYPE, HeaderValue::from_static("text/x-tea"))
                .header(
                    header::HeaderName::from_static("x-test"),
                    HeaderValue::from_static("1"),
                )
                .header(
                    header::HeaderName::from_static("x-test"),
                    HeaderValue::from_static("2"),
                )
                .body("short and stout"),
        ),
        1,
    );
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 418);
    assert_eq!(r.header("content-type"), Some("text/x-tea"));
    assert_eq!(r.header_count("x-test"), 2);
    assert_eq!(r.text(), "short and stout");
    assert_eq!(r.header("cache-control"), None);

    server.inject(
        Fault::json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": "invalid_grant", "error_description": "x"}),
        ),
        1,
    );
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.json()["error"], "invalid_grant");

    server.inject(Fault::respond(StatusCode::INTERNAL_SERVER_ERROR, ""), 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!((r.status, r.body.len()), (500, 0));

    // Faults are used up: back to normal.
    assert_eq!(exchange(server.addr(), &good_request()).status, 200);
}

#[test]
fn a_delay_comes_before_the_normal_answer() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::Delay(Duration::from_millis(300)), 1);
    let started = Instant::now();
    let r = exchange(server.addr(), &good_request());
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(r.json()["access_token"].is_string());
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

    server.inject(
        Fault::ServiceUnavailable(RetryAfter::Absent).after(Duration::from_millis(200)),
        1,
    );
    let started = Instant::now();
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), None);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn a_client_timeout_during_a_delay_is_harmless() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::Delay(Duration::from_secs(30)), 1);
    let mut stream = connect(server.addr());
    stream
        .write_all(&good_request().to_bytes(server.addr(), true))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 16];
    let err = stream.read(&mut buf).unwrap_err();
    assert!(matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ));
    drop(stream);
    // The server keeps serving; shutting down does not wait for the 30 s.
    assert_eq!(exchange(server.addr(), &good_request()).status, 200);
    let started = Instant::now();
    server.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_reset_comes_before_any_response_byte() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::ResetConnection, 1);
    let err = send(server.addr(), &good_request()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    // The request was still logged and counted.
    assert_eq!(server.token_requests(), 1);
    assert_eq!(server.requests()[0].fault(), Some(&Fault::ResetConnection));
    assert_eq!(exchange(server.addr(), &good_request()).status, 200);
}

#[test]
fn a_close_in_the_middle_of_a_chunked_body() {
    let server = TestServer::start_default().unwrap();
    let full = exchange(server.addr(), &good_request()).body.len();
    server.inject(Fault::CloseMidBody, 1);
    let r = send(server.addr(), &good_request()).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.end, BodyEnd::ClosedEarly);
    assert!(
        !r.body.is_empty() && r.body.len() < full,
        "{} of {full}",
        r.body.len()
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
}

#[test]
fn a_truncated_body_announces_more_than_it_sends() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::TruncatedBody { missing: 100 }, 1);
    let r = send(server.addr(), &good_request()).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.end, BodyEnd::ClosedEarly);
    let announced: usize = r.header("content-length").unwrap().parse().unwrap();
    assert_eq!(announced, r.body.len() + 100);
    // What did arrive is a complete token JSON.
    assert!(r.json()["access_token"].is_string());
}

#[test]
fn an_endless_body_stops_when_the_client_hangs_up() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::EndlessBody, 1);
    let mut stream = connect(server.addr());
    stream
        .write_all(&good_request().to_bytes(server.addr(), true))
        .unwrap();
    let limit = 4 * 1024 * 1024;
    let r = read_response(&mut stream, limit).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body.len(), limit, "still streaming after {limit} bytes");
    assert!(r.body.starts_with(b"{\"access_token\":\"aaaa"));
    assert_eq!(server.open_connections(), 1);
    drop(stream);
    eventually("the endless response stops", || {
        server.open_connections() == 0
    });
    assert_eq!(exchange(server.addr(), &good_request()).status, 200);
}

#[test]
fn a_huge_body_has_exactly_the_requested_size() {
    let server = TestServer::start_default().unwrap();
    let size = 3 * 1024 * 1024 + 7;
    server.inject(Fault::HugeBody(size), 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
    assert_eq!(r.body.len() as u64, size);
    let json = r.json();
    assert_eq!(json["token_type"], "Bearer");
    assert!(json["access_token"].as_str().unwrap().len() > 3 * 1024 * 1024 - 100);

    // Smaller than a JSON frame: just the bytes.
    server.inject(Fault::HugeBody(5), 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.body, b"{\"acc");
}

#[test]
fn too_many_requests_with_retry_after_in_seconds_and_as_a_date() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::TooManyRequests(RetryAfter::Seconds(7)), 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    let body = r.json();
    assert_eq!(body["code"], "auth.exceed_token_limit");
    assert!(
        body.get("error").is_none(),
        "Logto's quota body has no `error`"
    );

    let at = SystemTime::now() + Duration::from_secs(120);
    server.inject(Fault::TooManyRequests(RetryAfter::Date(at)), 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 429);
    let date = httpdate::parse_http_date(r.header("retry-after").unwrap()).unwrap();
    let diff = date.duration_since(at).unwrap_or_else(|e| e.duration());
    assert!(diff <= Duration::from_secs(1), "{diff:?}");
}

#[test]
fn service_unavailable_with_retry_after() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::ServiceUnavailable(RetryAfter::Seconds(0)), 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("0"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));

    server.inject(
        Fault::ServiceUnavailable(RetryAfter::date_in(Duration::from_secs(30))),
        1,
    );
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 503);
    let date = httpdate::parse_http_date(r.header("retry-after").unwrap()).unwrap();
    let ahead = date.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        ahead > Duration::from_secs(20) && ahead <= Duration::from_secs(31),
        "{ahead:?}"
    );
}

#[test]
fn an_html_bad_gateway_page() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::BadGatewayHtml, 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 502);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.text().contains("<title>502 Bad Gateway</title>"));
}

#[test]
fn a_200_that_carries_an_oauth_error() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::OkWithError, 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = r.json();
    assert_eq!(body["error"], "invalid_client");
    assert!(body.get("access_token").is_none());
}

#[test]
fn a_valid_token_under_a_wrong_content_type() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::WrongContentType, 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json()["expires_in"], 1800);
}

#[test]
fn expires_in_as_a_string_or_missing() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::ExpiresInString, 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 200);
    assert!(r.text().contains(r#""expires_in":"1800""#), "{}", r.text());

    server.inject(Fault::MissingExpiresIn, 1);
    let r = exchange(server.addr(), &good_request());
    assert_eq!(r.status, 200);
    let body = r.json();
    assert!(body.get("expires_in").is_none());
    assert!(body["access_token"].is_string());

    // Errors pass through unchanged.
    server.inject(Fault::MissingExpiresIn, 1);
    let r = exchange(
        server.addr(),
        &RawRequest::token(&[("grant_type", "client_credentials")]),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");
}

#[test]
fn redirects_point_elsewhere_and_the_target_sees_no_secret_unless_sent_one() {
    let server = TestServer::start_default().unwrap();
    let elsewhere = TestServer::start_default().unwrap();
    for status in [StatusCode::FOUND, StatusCode::TEMPORARY_REDIRECT] {
        server.inject(Fault::redirect(status, elsewhere.token_endpoint()), 1);
        let r = exchange(server.addr(), &good_request());
        assert_eq!(r.status, status.as_u16());
        assert_eq!(
            r.header("location"),
            Some(elsewhere.token_endpoint().as_str())
        );
        assert!(r.body.is_empty());
    }
    assert_eq!(elsewhere.token_requests(), 0);
    // A client that follows without credentials, then one that leaks them.
    let follow = RawRequest::token(&[("grant_type", "client_credentials")]);
    exchange(elsewhere.addr(), &follow);
    exchange(elsewhere.addr(), &good_request());
    let seen = elsewhere.requests();
    assert!(!seen[0].has_credentials());
    assert!(seen[1].has_credentials());
    assert_eq!(seen[1].client_id(), Some(defaults::APP_ID));
}

#[test]
fn queued_faults_apply_in_order_then_rules_then_nothing() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::respond(StatusCode::BAD_GATEWAY, ""), 2);
    server.inject(Fault::respond(StatusCode::GATEWAY_TIMEOUT, ""), 1);
    server.inject(Fault::respond(StatusCode::OK, "never"), 0);
    server.inject_when(|_| true, Fault::respond(StatusCode::CONFLICT, ""));
    let statuses: Vec<u16> = (0..5)
        .map(|_| exchange(server.addr(), &good_request()).status)
        .collect();
    assert_eq!(statuses, [502, 502, 504, 409, 409]);
    server.clear_faults();
    assert_eq!(exchange(server.addr(), &good_request()).status, 200);
    assert_eq!(server.token_requests(), 6);
    let faults: Vec<bool> = server
        .requests()
        .iter()
        .map(|r| r.fault().is_some())
        .collect();
    assert_eq!(faults, [true, true, true, true, true, false]);
}

#[test]
fn predicates_see_the_decoded_request_and_the_authenticated_client() {
    let server = TestServer::start_default().unwrap();
    server.inject_when(
        |r| r.param("resource") == Some(defaults::MANAGEMENT_API),
        Fault::ServiceUnavailable(RetryAfter::Seconds(1)),
    );
    server.inject_when(
        |r| r.client_id().is_none(),
        Fault::respond(StatusCode::FORBIDDEN, "no anonymous requests"),
    );
    let management = RawRequest::token(&[
        ("grant_type", "client_credentials"),
        ("resource", defaults::MANAGEMENT_API),
        ("scope", "all"),
    ])
    .basic(defaults::APP_ID, defaults::APP_SECRET);
    assert_eq!(exchange(server.addr(), &management).status, 503);
    assert_eq!(exchange(server.addr(), &good_request()).status, 200);
    let wrong_secret =
        RawRequest::token(&[("grant_type", "client_credentials")]).basic(defaults::APP_ID, "wrong");
    let r = exchange(server.addr(), &wrong_secret);
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, "no anonymous requests")
    );

    // A predicate may call back into the server.
    server.clear_faults();
    let inner = std::sync::Arc::new(std::sync::Mutex::new(None::<usize>));
    let seen = std::sync::Arc::clone(&inner);
    server.inject_when(
        move |r| {
            *seen.lock().unwrap() = Some(r.params().len());
            false
        },
        Fault::BadGatewayHtml,
    );
    assert_eq!(exchange(server.addr(), &good_request()).status, 200);
    assert_eq!(*inner.lock().unwrap(), Some(3));
}

#[test]
fn faults_apply_to_token_requests_only() {
    let server = TestServer::start_default().unwrap();
    server.inject(Fault::BadGatewayHtml, 1);
    let r = exchange(server.addr(), &RawRequest::new("GET", "/oidc/jwks"));
    assert_eq!(r.status, 200);
    assert_eq!(exchange(server.addr(), &good_request()).status, 502);
}
