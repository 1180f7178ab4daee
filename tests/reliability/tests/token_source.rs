//! The refresh window through `TokenSource::token`, the documented fast path, on both stacks.
//!
//! The refresh-window matrix (`refresh_window.rs`) asks through `manager.token(&request)`. Through
//! a `TokenSource`, a call that comes while a refresh is in flight stores the state machine's
//! `Refreshing` answer, `Ready` until the held token's usable end, in the source's lock-free
//! snapshot; the refresh's outcome does not clear that snapshot (only `invalidate` does). Until
//! the old token's usable life ends, the source then neither hands out the refreshed token nor
//! lets a caller reach the state machine to retry a failed refresh. See `docs/reliability.md`.
//!
//! Both cases make the refresh slow (200 ms) so that a call always comes while it is in flight.
#![allow(clippy::panic, clippy::expect_used)]

use std::time::Duration;

use logto_m2m::ErrorKind;
use logto_m2m::proto::http::StatusCode;
use logto_m2m_reliability::{Access, Case, ExpectedError, Setup, on_both_stacks, refresh_window};
use logto_m2m_testkit::Fault;

const SLOW: Duration = Duration::from_millis(200);

fn through_source() -> Setup {
    Setup::short_lived().with_access(Access::Source)
}

/// Expected: the refreshed token is handed out once the refresh succeeded (about 0.65 s into the
/// token's 1.5 s of usable life). Actual: the old token until 1.5 s, the new one only then.
#[test]
fn token_source_hands_out_the_refreshed_token() {
    let case = Case::token(
        "Delay(200 ms) through TokenSource",
        Fault::Delay(SLOW),
        vec![],
    )
    .with_setup(through_source());
    on_both_stacks(|stack| {
        refresh_window(stack, &case, SLOW);
    });
}

/// Expected: a failed refresh is retried after its backoff (50–200 ms here) while the token is
/// usable, 3 attempts in the window as through the manager. Actual: 1 attempt; the next one is a
/// foreground fetch once the old token's usable life is over.
#[test]
fn token_source_retries_failed_refreshes() {
    let case = Case::fails(
        "DelayThen(200 ms, BadGatewayHtml) through TokenSource",
        Fault::BadGatewayHtml.after(SLOW),
        ExpectedError::server(ErrorKind::Transient, StatusCode::BAD_GATEWAY),
    )
    .with_setup(through_source());
    on_both_stacks(|stack| {
        refresh_window(stack, &case, SLOW);
    });
}

/// The same two faults through the manager itself: the refreshed token comes as soon as it is
/// there, and failed refreshes are retried within the window.
#[test]
fn manager_hands_out_the_refreshed_token_and_retries_failed_refreshes() {
    let token = Case::token(
        "Delay(200 ms) through the manager",
        Fault::Delay(SLOW),
        vec![],
    )
    .with_setup(Setup::short_lived());
    let fails = Case::fails(
        "DelayThen(200 ms, BadGatewayHtml) through the manager",
        Fault::BadGatewayHtml.after(SLOW),
        ExpectedError::server(ErrorKind::Transient, StatusCode::BAD_GATEWAY),
    )
    .with_setup(Setup::short_lived());
    on_both_stacks(|stack| {
        refresh_window(stack, &token, SLOW);
        refresh_window(stack, &fails, SLOW);
    });
}
