//! Every fault on an empty cache, through both stacks: what the caller gets, how many requests the
//! server sees against what the policy allows, how they are spaced, and the recovery once the
//! fault stops. See [`logto_m2m_reliability::cold_cache`].
#![allow(clippy::panic, clippy::expect_used)]

use std::time::Duration;

use logto_m2m::ErrorKind;
use logto_m2m::proto::http::StatusCode;
use logto_m2m::proto::{ParseWarning, TransportErrorKind};
use logto_m2m_reliability::{
    Case, ExpectedError, ExpectedRetryAfter, RESPONSE_CAP, Run, Setup, Stack, cold_cache,
    eventually, on_both_stacks,
};
use logto_m2m_testkit::http::{HeaderValue, header};
use logto_m2m_testkit::{CannedResponse, Fault, RetryAfter, TestServer, defaults};

const NO_SLACK: Duration = Duration::ZERO;
/// How long a dropped connection may take to be noticed by the server.
const CONNECTIONS_SETTLE: Duration = Duration::from_secs(3);
/// How long a call that meets an oversized body may take: reading up to the cap is quick, reading
/// a gibibyte (or an endless body until the 10 s timeout) is not.
const CAPPED_CALL: Duration = Duration::from_secs(2);

fn run(case: &Case) {
    on_both_stacks(|stack| {
        cold_cache(stack, case, NO_SLACK, |_| {});
    });
}

fn transient(transport: TransportErrorKind) -> ExpectedError {
    ExpectedError::transport(ErrorKind::Transient, transport)
}

/// Nothing of an abandoned body stays open: the server sees its connections close.
fn connections_close(stack: Stack, run: &Run) {
    assert!(
        eventually(CONNECTIONS_SETTLE, || run.server.open_connections() == 0),
        "{stack}: {} connections still open",
        run.server.open_connections()
    );
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
    run(&Case::fails(
        "Respond(400 invalid_target)",
        fault,
        ExpectedError::server(ErrorKind::RequestRejected, StatusCode::BAD_REQUEST),
    ));
}

#[test]
fn respond_canned_plain_500() {
    run(&Case::fails(
        "Respond(500 text/plain)",
        Fault::respond(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        ExpectedError::server(ErrorKind::Transient, StatusCode::INTERNAL_SERVER_ERROR),
    ));
}

#[test]
fn delay_within_the_timeout() {
    run(&Case::token(
        "Delay(300 ms), timeout 10 s",
        Fault::Delay(Duration::from_millis(300)),
        vec![],
    ));
}

#[test]
fn delay_beyond_the_timeout() {
    let case = Case::fails(
        "Delay(5 s), timeout 400 ms",
        Fault::Delay(Duration::from_secs(5)),
        transient(TransportErrorKind::Timeout),
    )
    .with_setup(Setup::default().with_timeout(Duration::from_millis(400)));
    on_both_stacks(|stack| {
        cold_cache(stack, &case, Duration::from_millis(500), |_| {});
    });
}

#[test]
fn delay_then_bad_gateway() {
    let case = Case::fails(
        "DelayThen(300 ms, BadGatewayHtml)",
        Fault::BadGatewayHtml.after(Duration::from_millis(300)),
        ExpectedError::server(ErrorKind::Transient, StatusCode::BAD_GATEWAY),
    );
    on_both_stacks(|stack| {
        cold_cache(stack, &case, Duration::from_millis(400), |_| {});
    });
}

#[test]
fn reset_connection() {
    run(&Case::fails(
        "ResetConnection",
        Fault::ResetConnection,
        transient(TransportErrorKind::Io),
    ));
}

#[test]
fn close_mid_body() {
    run(&Case::fails(
        "CloseMidBody",
        Fault::CloseMidBody,
        transient(TransportErrorKind::Io),
    ));
}

#[test]
fn truncated_body() {
    run(&Case::fails(
        "TruncatedBody { missing: 100 }",
        Fault::TruncatedBody { missing: 100 },
        transient(TransportErrorKind::Io),
    ));
}

#[test]
fn endless_body() {
    let case = Case::fails(
        "EndlessBody",
        Fault::EndlessBody,
        ExpectedError::transport(ErrorKind::ResponseRefused, TransportErrorKind::BodyTooLarge),
    )
    .with_call_time_limit(CAPPED_CALL);
    on_both_stacks(|stack| {
        cold_cache(stack, &case, NO_SLACK, |run| connections_close(stack, run));
    });
}

#[test]
fn huge_body_one_byte_over_the_cap() {
    let cap = u64::try_from(RESPONSE_CAP).expect("a small cap");
    let case = Case::fails(
        "HugeBody(64 KiB + 1)",
        Fault::HugeBody(cap + 1),
        ExpectedError::transport(ErrorKind::ResponseRefused, TransportErrorKind::BodyTooLarge),
    )
    .with_call_time_limit(CAPPED_CALL);
    on_both_stacks(|stack| {
        cold_cache(stack, &case, NO_SLACK, |run| connections_close(stack, run));
    });
}

#[test]
fn huge_body_of_a_gibibyte() {
    let case = Case::fails(
        "HugeBody(1 GiB)",
        Fault::HugeBody(1 << 30),
        ExpectedError::transport(ErrorKind::ResponseRefused, TransportErrorKind::BodyTooLarge),
    )
    .with_call_time_limit(CAPPED_CALL);
    on_both_stacks(|stack| {
        cold_cache(stack, &case, NO_SLACK, |run| connections_close(stack, run));
    });
}

#[test]
fn huge_body_exactly_at_the_cap() {
    let cap = u64::try_from(RESPONSE_CAP).expect("a small cap");
    run(&Case::token(
        "HugeBody(64 KiB)",
        Fault::HugeBody(cap),
        vec![],
    ));
}

#[test]
fn too_many_requests_without_retry_after() {
    run(&Case::fails(
        "TooManyRequests(Absent)",
        Fault::TooManyRequests(RetryAfter::Absent),
        ExpectedError::server(ErrorKind::Throttled, StatusCode::TOO_MANY_REQUESTS),
    ));
}

#[test]
fn too_many_requests_with_retry_after_seconds() {
    let case = Case::fails(
        "TooManyRequests(Seconds(1))",
        Fault::TooManyRequests(RetryAfter::Seconds(1)),
        ExpectedError::server(ErrorKind::Throttled, StatusCode::TOO_MANY_REQUESTS)
            .with_retry_after(ExpectedRetryAfter::Exactly(Duration::from_secs(1))),
    )
    .with_setup(Setup::default().with_max_attempts(2));
    run(&case);
}

#[test]
fn service_unavailable_without_retry_after() {
    run(&Case::fails(
        "ServiceUnavailable(Absent)",
        Fault::ServiceUnavailable(RetryAfter::Absent),
        ExpectedError::server(ErrorKind::Transient, StatusCode::SERVICE_UNAVAILABLE),
    ));
}

#[test]
fn service_unavailable_with_retry_after_seconds() {
    let case = Case::fails(
        "ServiceUnavailable(Seconds(1))",
        Fault::ServiceUnavailable(RetryAfter::Seconds(1)),
        ExpectedError::server(ErrorKind::Throttled, StatusCode::SERVICE_UNAVAILABLE)
            .with_retry_after(ExpectedRetryAfter::Exactly(Duration::from_secs(1))),
    )
    .with_setup(Setup::default().with_max_attempts(2));
    run(&case);
}

#[test]
fn bad_gateway_html() {
    run(&Case::fails(
        "BadGatewayHtml",
        Fault::BadGatewayHtml,
        ExpectedError::server(ErrorKind::Transient, StatusCode::BAD_GATEWAY),
    ));
}

#[test]
fn ok_with_error() {
    run(&Case::fails(
        "OkWithError (invalid_client)",
        Fault::OkWithError,
        ExpectedError::server(ErrorKind::CredentialsRejected, StatusCode::OK),
    ));
}

#[test]
fn wrong_content_type() {
    run(&Case::token(
        "WrongContentType",
        Fault::WrongContentType,
        vec![ParseWarning::UnexpectedContentType {
            content_type: "text/plain; charset=utf-8".to_owned(),
        }],
    ));
}

#[test]
fn expires_in_string() {
    run(&Case::token(
        "ExpiresInString",
        Fault::ExpiresInString,
        vec![ParseWarning::ExpiresInAsString],
    ));
}

#[test]
fn missing_expires_in() {
    run(&Case::token(
        "MissingExpiresIn",
        Fault::MissingExpiresIn,
        vec![ParseWarning::ExpiresInMissing {
            assumed: Duration::from_secs(300),
        }],
    ));
}

/// Every redirect status: never followed, so the second server (the `Location`) sees nothing,
/// let alone the credentials; the first one did get them.
#[test]
fn redirects_are_never_followed() {
    let statuses = [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ];
    on_both_stacks(|stack| {
        for status in statuses {
            let elsewhere = TestServer::start_default().expect("a second test server");
            let case = Case::fails(
                format!("Redirect({}) to a second server", status.as_u16()),
                Fault::redirect(status, elsewhere.token_endpoint()),
                ExpectedError::transport(ErrorKind::ResponseRefused, TransportErrorKind::Redirect),
            );
            let run = cold_cache(stack, &case, NO_SLACK, |run| {
                assert!(
                    run.server
                        .requests()
                        .iter()
                        .all(|r| r.has_credentials() && r.client_id() == Some(defaults::APP_ID)),
                    "{stack}: the token endpoint got the credentials"
                );
            });
            assert!(
                elsewhere.requests().is_empty(),
                "{stack}: {status}: the redirect target saw {:?}",
                elsewhere.requests()
            );
            drop(run);
        }
    });
}
