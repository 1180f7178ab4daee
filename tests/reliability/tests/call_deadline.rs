//! One deadline per call on both stacks: `max_wait` bounds sending, waiting and backoff together,
//! and each attempt is given what is left of it.
#![allow(clippy::panic, clippy::expect_used)]

use std::time::Duration;

use logto_m2m::ErrorKind;
use logto_m2m::proto::TransportErrorKind;
use logto_m2m_reliability::{
    Client, ExpectedError, Row, SCHEDULING_SLACK, Setup, format_duration, on_both_stacks, report,
};
use logto_m2m_testkit::{Fault, TestServer};

/// Runs one call against a server that answers only after 5 s, with the transport's `timeout`
/// and a 500 ms budget: the call must end within the budget (and some scheduling slack).
fn slow_server(case: &'static str, timeout: Duration) {
    on_both_stacks(|stack| {
        let server = TestServer::start_default().expect("a test server");
        let budget = Duration::from_millis(500);
        let setup = Setup::default().with_timeout(timeout).with_max_wait(budget);
        let client = Client::new(stack, &server, setup);
        server.inject_when(|_| true, Fault::Delay(Duration::from_secs(5)));
        let (outcome, took) = client.timed_token();
        ExpectedError::transport(ErrorKind::Transient, TransportErrorKind::Timeout)
            .check(stack, &outcome.expect_err("every attempt times out"));
        report(&Row {
            scenario: "one deadline per call",
            case,
            stack,
            outcome: format!(
                "Transient, transport Timeout, after {}",
                format_duration(took)
            ),
            requests: format!("{}", server.token_requests()),
            allowed: "the call ends within 500 ms".to_owned(),
        });
        assert!(
            took <= budget + SCHEDULING_SLACK / 4,
            "{stack}: the call took {}",
            format_duration(took)
        );
    });
}

/// The transport's own timeout (10 s) is longer than the call's budget: the attempt is given what
/// is left of the budget. Before, the call took the whole 5 s of the server's delay.
#[test]
fn an_attempt_is_cut_at_the_call_deadline() {
    slow_server(
        "Delay(5 s), transport timeout 10 s, max_wait 500 ms",
        Duration::from_secs(10),
    );
}

/// A 400 ms attempt leaves no room for a retry in a 500 ms budget: the retry is not started.
/// Before, the call sent it after the backoff (850 ms in all).
#[test]
fn a_retry_that_cannot_end_within_the_call_is_not_started() {
    slow_server(
        "Delay(5 s), transport timeout 400 ms, max_wait 500 ms",
        Duration::from_millis(400),
    );
}
