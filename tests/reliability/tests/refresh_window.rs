//! Every fault during the refresh of a still-valid token, through both stacks: the token keeps
//! being served while its refreshes fail (spaced as the policy says), is never served past its
//! usable life, and the manager recovers by itself once the fault stops. See
//! [`logto_m2m_reliability::refresh_window`].
#![allow(clippy::panic, clippy::expect_used)]

use std::time::Duration;

use logto_m2m::ErrorKind;
use logto_m2m::proto::http::StatusCode;
use logto_m2m::proto::{ParseWarning, TransportErrorKind};
use logto_m2m_reliability::{
    Case, ExpectedError, ExpectedRetryAfter, RESPONSE_CAP, Setup, eventually, on_both_stacks,
    refresh_window,
};
use logto_m2m_testkit::http::{HeaderValue, header};
use logto_m2m_testkit::{CannedResponse, Fault, RetryAfter, TestServer};

const NO_SLACK: Duration = Duration::ZERO;

fn run(label: &str, fault: Fault, expected: ExpectedError) {
    let case = Case::fails(label, fault, expected).with_setup(Setup::short_lived());
    on_both_stacks(|stack| {
        refresh_window(stack, &case, NO_SLACK);
    });
}

fn run_token(label: &str, fault: Fault, warnings: Vec<ParseWarning>) {
    let case = Case::token(label, fault, warnings).with_setup(Setup::short_lived());
    on_both_stacks(|stack| {
        refresh_window(stack, &case, NO_SLACK);
    });
}

fn transient(transport: TransportErrorKind) -> ExpectedError {
    ExpectedError::transport(ErrorKind::Transient, transport)
}

fn too_large() -> ExpectedError {
    ExpectedError::transport(ErrorKind::ResponseRefused, TransportErrorKind::BodyTooLarge)
}

/// An abandoned body leaves no connection behind: at most the pooled one of the recovery.
fn body_case(label: &str, fault: Fault) {
    let case = Case::fails(label, fault, too_large()).with_setup(Setup::short_lived());
    on_both_stacks(|stack| {
        let run = refresh_window(stack, &case, NO_SLACK);
        assert!(
            eventually(Duration::from_secs(3), || run.server.open_connections()
                <= 1),
            "{stack}: {} connections still open",
            run.server.open_connections()
        );
    });
}

#[test]
fn respond_canned_oauth_rejection() {
    let fault = Fault::Respond(
        CannedResponse::new(StatusCode::BAD_REQUEST)
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )
            .body(r#"{"error":"invalid_target","error_description":"resource indicator is missing, or unknown"}"#),
    );
    run(
        "Respond(400 invalid_target)",
        fault,
        ExpectedError::server(ErrorKind::RequestRejected, StatusCode::BAD_REQUEST),
    );
}

#[test]
fn respond_canned_plain_500() {
    run(
        "Respond(500 text/plain)",
        Fault::respond(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        ExpectedError::server(ErrorKind::Transient, StatusCode::INTERNAL_SERVER_ERROR),
    );
}

#[test]
fn delay_within_the_timeout() {
    run_token(
        "Delay(300 ms), timeout 10 s",
        Fault::Delay(Duration::from_millis(300)),
        vec![],
    );
}

#[test]
fn delay_beyond_the_timeout() {
    let case = Case::fails(
        "Delay(5 s), timeout 400 ms",
        Fault::Delay(Duration::from_secs(5)),
        transient(TransportErrorKind::Timeout),
    )
    .with_setup(Setup::short_lived().with_timeout(Duration::from_millis(400)));
    on_both_stacks(|stack| {
        refresh_window(stack, &case, Duration::from_millis(500));
    });
}

#[test]
fn delay_then_bad_gateway() {
    let case = Case::fails(
        "DelayThen(300 ms, BadGatewayHtml)",
        Fault::BadGatewayHtml.after(Duration::from_millis(300)),
        ExpectedError::server(ErrorKind::Transient, StatusCode::BAD_GATEWAY),
    )
    .with_setup(Setup::short_lived());
    on_both_stacks(|stack| {
        refresh_window(stack, &case, Duration::from_millis(400));
    });
}

#[test]
fn reset_connection() {
    run(
        "ResetConnection",
        Fault::ResetConnection,
        transient(TransportErrorKind::Io),
    );
}

#[test]
fn close_mid_body() {
    run(
        "CloseMidBody",
        Fault::CloseMidBody,
        transient(TransportErrorKind::Io),
    );
}

#[test]
fn truncated_body() {
    run(
        "TruncatedBody { missing: 100 }",
        Fault::TruncatedBody { missing: 100 },
        transient(TransportErrorKind::Io),
    );
}

#[test]
fn endless_body() {
    body_case("EndlessBody", Fault::EndlessBody);
}

#[test]
fn huge_body_one_byte_over_the_cap() {
    let cap = u64::try_from(RESPONSE_CAP).expect("a small cap");
    body_case("HugeBody(64 KiB + 1)", Fault::HugeBody(cap + 1));
}

#[test]
fn huge_body_of_a_gibibyte() {
    body_case("HugeBody(1 GiB)", Fault::HugeBody(1 << 30));
}

#[test]
fn huge_body_exactly_at_the_cap() {
    let cap = u64::try_from(RESPONSE_CAP).expect("a small cap");
    run_token("HugeBody(64 KiB)", Fault::HugeBody(cap), vec![]);
}

#[test]
fn too_many_requests_without_retry_after() {
    run(
        "TooManyRequests(Absent)",
        Fault::TooManyRequests(RetryAfter::Absent),
        ExpectedError::server(ErrorKind::Throttled, StatusCode::TOO_MANY_REQUESTS),
    );
}

#[test]
fn too_many_requests_with_retry_after_seconds() {
    run(
        "TooManyRequests(Seconds(1))",
        Fault::TooManyRequests(RetryAfter::Seconds(1)),
        ExpectedError::server(ErrorKind::Throttled, StatusCode::TOO_MANY_REQUESTS)
            .with_retry_after(ExpectedRetryAfter::Exactly(Duration::from_secs(1))),
    );
}

#[test]
fn service_unavailable_without_retry_after() {
    run(
        "ServiceUnavailable(Absent)",
        Fault::ServiceUnavailable(RetryAfter::Absent),
        ExpectedError::server(ErrorKind::Transient, StatusCode::SERVICE_UNAVAILABLE),
    );
}

#[test]
fn service_unavailable_with_retry_after_seconds() {
    run(
        "ServiceUnavailable(Seconds(1))",
        Fault::ServiceUnavailable(RetryAfter::Seconds(1)),
        ExpectedError::server(ErrorKind::Throttled, StatusCode::SERVICE_UNAVAILABLE)
            .with_retry_after(ExpectedRetryAfter::Exactly(Duration::from_secs(1))),
    );
}

#[test]
fn bad_gateway_html() {
    run(
        "BadGatewayHtml",
        Fault::BadGatewayHtml,
        ExpectedError::server(ErrorKind::Transient, StatusCode::BAD_GATEWAY),
    );
}

#[test]
fn ok_with_error() {
    run(
        "OkWithError (invalid_client)",
        Fault::OkWithError,
        ExpectedError::server(ErrorKind::CredentialsRejected, StatusCode::OK),
    );
}

#[test]
fn wrong_content_type() {
    run_token(
        "WrongContentType",
        Fault::WrongContentType,
        vec![ParseWarning::UnexpectedContentType {
            content_type: "text/plain; charset=utf-8".to_owned(),
        }],
    );
}

#[test]
fn expires_in_string() {
    run_token(
        "ExpiresInString",
        Fault::ExpiresInString,
        vec![ParseWarning::ExpiresInAsString],
    );
}

#[test]
fn missing_expires_in() {
    run_token(
        "MissingExpiresIn",
        Fault::MissingExpiresIn,
        vec![ParseWarning::ExpiresInMissing {
            assumed: Duration::from_secs(300),
        }],
    );
}

#[test]
fn redirect_is_never_followed() {
    on_both_stacks(|stack| {
        let elsewhere = TestServer::start_default().expect("a second test server");
        let case = Case::fails(
            "Redirect(307) to a second server",
            Fault::redirect(StatusCode::TEMPORARY_REDIRECT, elsewhere.token_endpoint()),
            ExpectedError::transport(ErrorKind::ResponseRefused, TransportErrorKind::Redirect),
        )
        .with_setup(Setup::short_lived());
        let run = refresh_window(stack, &case, NO_SLACK);
        assert!(
            elsewhere.requests().is_empty(),
            "{stack}: the redirect target saw {:?}",
            elsewhere.requests()
        );
        drop(run);
    });
}
