//! `Retry-After` on both stacks: waited for within a call (delta-seconds and HTTP-date), never a
//! request before it, not waited for beyond the call's budget (and then no request at all until
//! it has passed), and capped by `retry_after_max`.
#![allow(clippy::panic, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use logto_m2m::ErrorKind;
use logto_m2m::proto::http::StatusCode;
use logto_m2m_reliability::{
    CLOCK_TOLERANCE, Client, ExpectedError, ExpectedRetryAfter, POLL_EVERY, Row, SCHEDULING_SLACK,
    Setup, Stack, format_duration, gap, on_both_stacks, report, token_request_times,
};
use logto_m2m_testkit::{Fault, RetryAfter, TestServer};

const ONE_SECOND: Duration = Duration::from_secs(1);
/// Around an instant a call must not start at (see
/// `a_retry_due_at_the_call_deadline_is_not_turned_into_a_timeout`), this much on either side.
const RACE_MARGIN: Duration = Duration::from_millis(20);

/// Asks until a token comes (each call returns at once while the cached failure holds), for at
/// most `limit`.
fn ask_until_token(stack: Stack, client: &Client, expected: &ExpectedError, limit: Duration) {
    let start = Instant::now();
    loop {
        match client.token() {
            Ok(_) => return,
            Err(e) => expected.check(stack, &e),
        }
        assert!(
            start.elapsed() < limit,
            "{stack}: no token within {}",
            format_duration(limit)
        );
        std::thread::sleep(POLL_EVERY);
    }
}

/// One throttled answer with `Retry-After: 1`, then normal ones: the call sleeps through the
/// second and gets a token; the server sees the retry no earlier than 1 s after the first request.
fn seconds_within_a_call(label: &str, fault: Fault) {
    on_both_stacks(|stack| {
        let server = TestServer::start_default().expect("a test server");
        let client = Client::new(stack, &server, Setup::default());
        server.inject(fault.clone(), 1);
        let (token, took) = client.timed_token();
        token.unwrap_or_else(|e| panic!("{stack}: a token after the wait, got {e}"));
        let times = token_request_times(&server);
        assert_eq!(
            times.len(),
            2,
            "{stack}: the throttled request and the retry"
        );
        let waited = times
            .windows(2)
            .map(|pair| match pair {
                [a, b] => gap(*a, *b),
                _ => Duration::ZERO,
            })
            .sum::<Duration>();
        assert!(
            waited + CLOCK_TOLERANCE >= ONE_SECOND,
            "{stack}: retried {} after a Retry-After of 1 s",
            format_duration(waited)
        );
        assert!(
            waited <= ONE_SECOND + SCHEDULING_SLACK,
            "{stack}: retried only {} after a Retry-After of 1 s",
            format_duration(waited)
        );
        report(&Row {
            scenario: "Retry-After within a call",
            case: label,
            stack,
            outcome: format!("token in {}", format_duration(took)),
            requests: format!("2, {} apart", format_duration(waited)),
            allowed: "2, ≥ 1000 ms apart".to_owned(),
        });
    });
}

#[test]
fn too_many_requests_retry_after_seconds_is_waited_for() {
    seconds_within_a_call(
        "TooManyRequests(Seconds(1)) once",
        Fault::TooManyRequests(RetryAfter::Seconds(1)),
    );
}

#[test]
fn service_unavailable_retry_after_seconds_is_waited_for() {
    seconds_within_a_call(
        "ServiceUnavailable(Seconds(1)) once",
        Fault::ServiceUnavailable(RetryAfter::Seconds(1)),
    );
}

/// One throttled answer whose `Retry-After` is an HTTP-date about 2 s ahead. Without retries
/// within a call, the caller sees the delay (measured against the answer's `Date`, so whole
/// seconds: 1 or 2 s); the callers that keep asking get the cached error and send nothing until
/// the date, which the next request never precedes.
fn date(label: &str, make: fn(RetryAfter) -> Fault, status: StatusCode) {
    on_both_stacks(|stack| {
        let server = TestServer::start_default().expect("a test server");
        let client = Client::new(stack, &server, Setup::default().with_max_attempts(1));
        let at = SystemTime::now() + Duration::from_secs(2);
        let whole_seconds = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        // What the header says: the date rounded down to the second.
        let date = UNIX_EPOCH + Duration::from_secs(whole_seconds);
        server.inject(make(RetryAfter::Date(at)), 1);

        let expected = ExpectedError::server(ErrorKind::Throttled, status).with_retry_after(
            ExpectedRetryAfter::Between(ONE_SECOND, Duration::from_secs(2)),
        );
        let error = client.token().expect_err("throttled");
        expected.check(stack, &error);
        let reported = error.retry_after().unwrap_or_default();
        let start = Instant::now();
        ask_until_token(stack, &client, &expected, Duration::from_secs(4));
        let took = start.elapsed();

        let times = token_request_times(&server);
        assert_eq!(
            times.len(),
            2,
            "{stack}: the throttled request and the retry"
        );
        let retry = times.last().copied().unwrap_or(UNIX_EPOCH);
        assert!(
            retry + CLOCK_TOLERANCE >= date,
            "{stack}: the retry came {} before the Retry-After date",
            format_duration(date.duration_since(retry).unwrap_or_default())
        );
        report(&Row {
            scenario: "Retry-After date",
            case: label,
            stack,
            outcome: format!(
                "{}; token {} later",
                expected_describe(&error),
                format_duration(took)
            ),
            requests: format!(
                "2; the retry {} after the date",
                format_duration(gap(date, retry))
            ),
            allowed: format!(
                "2; the retry not before the date (Retry-After seen: {})",
                format_duration(reported)
            ),
        });
    });
}

fn expected_describe(error: &logto_m2m::Error) -> String {
    logto_m2m_reliability::describe_error(error)
}

#[test]
fn too_many_requests_retry_after_date_is_honoured() {
    date(
        "TooManyRequests(Date(now + 2 s)) once",
        Fault::TooManyRequests,
        StatusCode::TOO_MANY_REQUESTS,
    );
}

#[test]
fn service_unavailable_retry_after_date_is_honoured() {
    date(
        "ServiceUnavailable(Date(now + 2 s)) once",
        Fault::ServiceUnavailable,
        StatusCode::SERVICE_UNAVAILABLE,
    );
}

/// `Retry-After: 2` with a wait budget of 500 ms: the call does not wait, it returns the
/// throttling at once; a hot loop of callers then sends nothing until the 2 s have passed, and
/// the first request after them gets a token.
#[test]
fn retry_after_beyond_the_wait_budget_is_returned_at_once_and_holds() {
    on_both_stacks(|stack| {
        let server = TestServer::start_default().expect("a test server");
        let budget = Duration::from_millis(500);
        let client = Client::new(stack, &server, Setup::default().with_max_wait(budget));
        server.inject_when(|_| true, Fault::TooManyRequests(RetryAfter::Seconds(2)));
        let expected = ExpectedError::server(ErrorKind::Throttled, StatusCode::TOO_MANY_REQUESTS)
            .with_retry_after(ExpectedRetryAfter::Exactly(Duration::from_secs(2)));

        let first_start = Instant::now();
        let (first, took) = client.timed_token();
        expected.check(stack, &first.expect_err("throttled"));
        // The retry is due 2 s after the answer came, so between these two instants less the
        // budget, a call would sleep until it (that edge has its own test,
        // `a_retry_due_at_the_call_deadline_is_not_turned_into_a_timeout`).
        let risky_from = first_start + Duration::from_secs(2) - budget - RACE_MARGIN;
        let risky_until = first_start + took + Duration::from_secs(2) - budget + RACE_MARGIN;
        assert!(
            took < budget,
            "{stack}: waited {} for a retry beyond the budget",
            format_duration(took)
        );

        let hot = Instant::now();
        let mut calls = 0usize;
        while hot.elapsed() < Duration::from_millis(300) {
            expected.check(stack, &client.token().expect_err("still throttled"));
            calls += 1;
        }
        assert_eq!(
            server.token_requests(),
            1,
            "{stack}: the hot loop sent nothing"
        );

        server.clear_faults();
        let start = Instant::now();
        loop {
            let now = Instant::now();
            if risky_from <= now && now < risky_until {
                std::thread::sleep(risky_until - now);
                continue;
            }
            match client.token() {
                Ok(_) => break,
                Err(e) => expected.check(stack, &e),
            }
            assert!(
                start.elapsed() < Duration::from_secs(4),
                "{stack}: no token within 4 s"
            );
            std::thread::sleep(POLL_EVERY);
        }
        let times = token_request_times(&server);
        assert_eq!(
            times.len(),
            2,
            "{stack}: the throttled request and the retry"
        );
        let waited = times
            .first()
            .zip(times.last())
            .map_or(Duration::ZERO, |(a, b)| gap(*a, *b));
        assert!(
            waited + CLOCK_TOLERANCE >= Duration::from_secs(2),
            "{stack}: retried {} after a Retry-After of 2 s",
            format_duration(waited)
        );
        report(&Row {
            scenario: "Retry-After beyond max_wait (500 ms)",
            case: "TooManyRequests(Seconds(2))",
            stack,
            outcome: format!(
                "Throttled, retry_after 2000 ms, returned in {}; {calls} more calls in 300 ms \
                 answered from the cache",
                format_duration(took)
            ),
            requests: format!("1, then the retry {} later", format_duration(waited)),
            allowed: "1, then 1 after ≥ 2000 ms".to_owned(),
        });
    });
}

/// `Retry-After: 30` with `retry_after_max` 300 ms: the retry comes after 300 ms, not 30 s.
#[test]
fn retry_after_is_capped_by_retry_after_max() {
    on_both_stacks(|stack| {
        let server = TestServer::start_default().expect("a test server");
        let cap = Duration::from_millis(300);
        let setup = Setup::default()
            .with_retry_after_max(cap)
            .with_max_attempts(2);
        let client = Client::new(stack, &server, setup);
        server.inject_when(|_| true, Fault::TooManyRequests(RetryAfter::Seconds(30)));
        // The error reports the delay honoured, not the server's 30 s.
        let expected = ExpectedError::server(ErrorKind::Throttled, StatusCode::TOO_MANY_REQUESTS)
            .with_retry_after(ExpectedRetryAfter::Exactly(cap));

        let (error, took) = client.timed_token();
        expected.check(stack, &error.expect_err("throttled"));
        let times = token_request_times(&server);
        assert_eq!(times.len(), 2, "{stack}: one retry within the call");
        let waited = times
            .first()
            .zip(times.last())
            .map_or(Duration::ZERO, |(a, b)| gap(*a, *b));
        assert!(
            waited + CLOCK_TOLERANCE >= cap && waited <= cap + SCHEDULING_SLACK,
            "{stack}: retried {} after a Retry-After capped to 300 ms",
            format_duration(waited)
        );

        server.clear_faults();
        server.reset_log();
        let start = Instant::now();
        ask_until_token(stack, &client, &expected, cap + SCHEDULING_SLACK);
        assert_eq!(
            server.token_requests(),
            1,
            "{stack}: one request to recover"
        );
        report(&Row {
            scenario: "Retry-After over retry_after_max (300 ms)",
            case: "TooManyRequests(Seconds(30))",
            stack,
            outcome: format!(
                "Throttled, retry_after 300 ms (sent: 30 s), after {}; recovered in {}",
                format_duration(took),
                format_duration(start.elapsed())
            ),
            requests: format!("2, {} apart; recovery 1", format_duration(waited)),
            allowed: "2, ≥ 300 ms apart; recovery 1".to_owned(),
        });
    });
}

/// A call whose budget ends just when the retry it sleeps for is due. The delay is made exact
/// (`Retry-After: 1` capped to 100 ms by `retry_after_max`, backoff 1 ms), so a call started
/// 50 ms (its `max_wait`) before the retry's instant sleeps until that instant and then sends the
/// retry. Started a little earlier or later across trials, some calls have their deadline between
/// the retry's instant and the moment their sleep ends.
///
/// Expected: every call returns the throttling (or a token); no call fails with a timeout while
/// no other request is in flight. Actual: such a call wakes after its deadline, has the fetch it
/// slept for cancelled, and returns `Transport(Timeout)` "another caller's request is still in
/// flight", without sending anything.
#[test]
fn a_retry_due_at_the_call_deadline_is_not_turned_into_a_timeout() {
    on_both_stacks(|stack| {
        let server = TestServer::start_default().expect("a test server");
        let budget = Duration::from_millis(50);
        let delay = Duration::from_millis(100);
        let mut setup = Setup::default()
            .with_retry_after_max(delay)
            .with_max_wait(budget)
            .with_max_attempts(2);
        setup.cache = setup
            .cache
            .with_backoff_initial(Duration::from_millis(1))
            .with_backoff_max(Duration::from_millis(1));
        let client = Client::new(stack, &server, setup);
        server.inject_when(|_| true, Fault::TooManyRequests(RetryAfter::Seconds(1)));
        let throttled = ExpectedError::server(ErrorKind::Throttled, StatusCode::TOO_MANY_REQUESTS)
            .with_retry_after(ExpectedRetryAfter::Exactly(delay));

        let trials = 60u32;
        let mut spurious = 0u32;
        // Each call that ends in a failure leaves the retry due `delay` after it.
        expected_throttled(stack, &client, &throttled);
        let mut failed_at = Instant::now();
        let mut sent = server.token_requests();
        for trial in 0..trials {
            // Start so that the deadline falls 0 to 1.5 ms before the retry's instant, plus the
            // (unknown, small) time between the failure and the return of the call.
            let offset = Duration::from_micros(u64::from(trial % 30) * 50);
            let start = failed_at + delay - budget - offset;
            std::thread::sleep(start.saturating_duration_since(Instant::now()));
            match client.token() {
                Ok(token) => panic!("{stack}: a token while throttled: {token:?}"),
                Err(e) if e.kind() == ErrorKind::Throttled => throttled.check(stack, &e),
                Err(e) => {
                    spurious += 1;
                    eprintln!("{stack}: trial {trial}: {e}");
                    // The state machine is Empty now: the next call fetches at once.
                    expected_throttled(stack, &client, &throttled);
                    failed_at = Instant::now();
                    sent = server.token_requests();
                    continue;
                }
            }
            // A call that sent nothing (its deadline came before the retry) leaves the retry due
            // when it was.
            if server.token_requests() > sent {
                failed_at = Instant::now();
                sent = server.token_requests();
            }
        }
        report(&Row {
            scenario: "retry due at the call's deadline",
            case: "TooManyRequests(Seconds(1)), retry_after_max 100 ms, max_wait 50 ms",
            stack,
            outcome: format!("{spurious} of {trials} calls failed with a spurious Timeout"),
            requests: format!("{}", server.token_requests()),
            allowed: "0 spurious Timeouts".to_owned(),
        });
        assert_eq!(
            spurious, 0,
            "{stack}: {spurious} of {trials} calls returned a timeout while nothing was in flight"
        );
    });
}

fn expected_throttled(stack: Stack, client: &Client, throttled: &ExpectedError) {
    throttled.check(stack, &client.token().expect_err("throttled"));
}
