//! Walks the transition table of docs/state-machine.md against the code: every row has a scenario
//! here, every scenario has a row there, and each gives the row's next state and output.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    CachePolicy, Jitter, Poll, SlotState, Ticket, Token, TokenCache, TokenParams, TokenRequest,
    TransportError, TransportErrorKind,
};

const TABLE: &str = include_str!("../../../docs/state-machine.md");

/// With the default policy and a 3600 s token sent at t0: usable until t0+3540 s, refresh at
/// 0.8 × 3540 = t0+2832 s (jitter 0), abandoned at sent + 60 s.
const LIFETIME: u64 = 3600;
const USABLE: u64 = 3540;
const REFRESH: u64 = 2832;
const ABANDON: u64 = 60;

struct Harness {
    cache: TokenCache,
    request: TokenRequest,
    t0: Instant,
    /// The wall clock at `t0`: it runs with the monotonic one unless a scenario says otherwise.
    w0: SystemTime,
}

fn token_response(lifetime: u64) -> Response<Vec<u8>> {
    Response::builder()
        .header("content-type", "application/json")
        .body(format!(r#"{{"access_token":"tok-{lifetime}","expires_in":{lifetime},"token_type":"Bearer"}}"#).into_bytes())
        .unwrap()
}

fn error_response(status: u16, body: &str, retry_after: Option<u64>) -> Response<Vec<u8>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(secs) = retry_after {
        builder = builder.header("retry-after", secs.to_string());
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

fn retryable() -> Response<Vec<u8>> {
    error_response(503, r#"{"error":"temporarily_unavailable"}"#, None)
}

fn rejection() -> Response<Vec<u8>> {
    error_response(401, r#"{"error":"invalid_client"}"#, None)
}

impl Harness {
    fn new() -> Self {
        Self::with_policy(CachePolicy::default())
    }

    fn with_policy(policy: CachePolicy) -> Self {
        Self {
            cache: TokenCache::new(policy),
            request: common::request(TokenParams::for_resource(common::API)),
            t0: Instant::now(),
            w0: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    fn wall(&self, secs: u64) -> SystemTime {
        self.w0 + Duration::from_secs(secs)
    }

    fn state(&self) -> SlotState {
        self.cache
            .state(self.request.key())
            .unwrap_or(SlotState::Empty)
    }

    fn poll(&mut self, secs: u64) -> Poll {
        self.poll_clocks(secs, self.wall(secs))
    }

    /// Polls at `secs` by the monotonic clock and at `wall` by the wall clock.
    fn poll_clocks(&mut self, secs: u64, wall: SystemTime) -> Poll {
        let now = self.at(secs);
        self.cache.poll(&self.request, now, wall)
    }

    fn respond(
        &mut self,
        ticket: Ticket,
        secs: u64,
        response: &Response<Vec<u8>>,
    ) -> Result<Arc<Token>, logto_m2m_proto::Error> {
        let now = self.at(secs);
        let wall = self.wall(secs);
        self.cache
            .handle_response(ticket, now, wall, Jitter::NONE, response)
    }

    /// `Fetching`, with the ticket, sent at t0.
    fn fetching() -> (Self, Ticket) {
        let mut h = Self::new();
        let Poll::Fetch(fetch) = h.poll(0) else {
            panic!("empty must fetch")
        };
        (h, fetch.ticket)
    }

    /// `Ready`, with the token, fetched at t0.
    fn ready() -> (Self, Arc<Token>) {
        let (mut h, ticket) = Self::fetching();
        let token = h.respond(ticket, 0, &token_response(LIFETIME)).unwrap();
        (h, token)
    }

    /// `Refreshing` at the refresh point, with the held token and the refresh ticket.
    fn refreshing() -> (Self, Arc<Token>, Ticket) {
        Self::refreshing_at(REFRESH)
    }

    /// `Refreshing`, the refresh started at `secs` (at or after the refresh point).
    fn refreshing_at(secs: u64) -> (Self, Arc<Token>, Ticket) {
        let (mut h, _) = Self::ready();
        let Poll::ReadyAndRefresh { token, fetch } = h.poll(secs) else {
            panic!("refresh point")
        };
        (h, token, fetch.ticket)
    }

    /// `RefreshBackoff` after a failed refresh answered at the refresh point, retry in `retry` s.
    fn refresh_backoff(retry: u64) -> (Self, Arc<Token>) {
        let (mut h, token, ticket) = Self::refreshing();
        let error = error_response(503, r#"{"error":"temporarily_unavailable"}"#, Some(retry));
        h.respond(ticket, REFRESH, &error).unwrap_err();
        (h, token)
    }

    /// `Ready` in a cache that holds one key.
    fn ready_in_full_cache() -> (Self, Arc<Token>) {
        let mut h = Self::with_policy(CachePolicy::default().with_max_keys(1));
        let Poll::Fetch(fetch) = h.poll(0) else {
            panic!("empty must fetch")
        };
        let token = h
            .respond(fetch.ticket, 0, &token_response(LIFETIME))
            .unwrap();
        (h, token)
    }

    /// Polls another key at `secs`: "evicted" when this key's slot made room for it, "not evicted"
    /// when the other key was refused for want of room.
    fn poll_other(&mut self, secs: u64) -> &'static str {
        let other = common::request(TokenParams::for_resource("https://other.example.com"));
        let (now, wall) = (self.at(secs), self.wall(secs));
        let poll = self.cache.poll(&other, now, wall);
        let held = self.cache.state(self.request.key()).is_some();
        match (poll, held) {
            (Poll::Fetch(_), false) => "evicted",
            (
                Poll::Failed {
                    error: logto_m2m_proto::Error::CacheFull { max_keys: 1 },
                    retry_at,
                },
                true,
            ) => {
                assert!(retry_at > now);
                "not evicted"
            }
            (poll, held) => panic!("unexpected: {poll:?}, held: {held}"),
        }
    }

    /// `Failed` after a retryable failure at t0 (retry after 1 s).
    fn failed() -> Self {
        let (mut h, ticket) = Self::fetching();
        h.respond(ticket, 0, &retryable()).unwrap_err();
        h
    }
}

fn poll_kind(poll: &Poll) -> &'static str {
    match poll {
        Poll::Ready { .. } => "`Ready`",
        Poll::ReadyAndRefresh { .. } => "`ReadyAndRefresh`",
        Poll::Fetch(_) => "`Fetch`",
        Poll::Pending { .. } => "`Pending`",
        Poll::Failed { .. } => "`Failed`",
        _ => "unknown",
    }
}

fn outcome_kind(outcome: &Result<Arc<Token>, logto_m2m_proto::Error>) -> &'static str {
    if outcome.is_ok() { "token" } else { "error" }
}

fn dropped(dropped: bool) -> &'static str {
    if dropped { "dropped" } else { "not dropped" }
}

/// Runs the scenario of one row; returns (next state, output).
fn run(case: &str) -> (SlotState, &'static str) {
    let transport_error = || TransportError::new(TransportErrorKind::Connect, "connection refused");
    match case {
        "empty-poll" => {
            let mut h = Harness::new();
            let out = poll_kind(&h.poll(0));
            (h.state(), out)
        }
        "empty-invalidate" => {
            let (_, token) = Harness::ready();
            let mut h = Harness::new();
            let now = h.at(0);
            let out = dropped(h.cache.invalidate(h.request.key(), &token, now));
            (h.state(), out)
        }
        "fetching-poll" => {
            let (mut h, _ticket) = Harness::fetching();
            let out = poll_kind(&h.poll(ABANDON - 1));
            (h.state(), out)
        }
        "fetching-poll-abandoned" => {
            let (mut h, _ticket) = Harness::fetching();
            let out = poll_kind(&h.poll(ABANDON));
            (h.state(), out)
        }
        "fetching-token" => {
            let (mut h, ticket) = Harness::fetching();
            let out = outcome_kind(&h.respond(ticket, 1, &token_response(LIFETIME)));
            (h.state(), out)
        }
        "fetching-retryable" | "fetching-rejection" => {
            let (mut h, ticket) = Harness::fetching();
            let response = if case == "fetching-retryable" {
                retryable()
            } else {
                rejection()
            };
            let out = outcome_kind(&h.respond(ticket, 1, &response));
            (h.state(), out)
        }
        "fetching-transport" => {
            let (mut h, ticket) = Harness::fetching();
            let now = h.at(1);
            let error =
                h.cache
                    .handle_transport_error(ticket, now, Jitter::NONE, transport_error());
            assert!(error.is_retryable());
            (h.state(), "error")
        }
        "fetching-cancel" => {
            let (mut h, ticket) = Harness::fetching();
            let now = h.at(1);
            h.cache.cancel(ticket, now);
            (h.state(), "nothing")
        }
        "fetching-stale" => {
            // The first request was abandoned; its late answer must not win.
            let (mut h, stale) = Harness::fetching();
            let Poll::Fetch(_current) = h.poll(ABANDON) else {
                panic!()
            };
            let out = outcome_kind(&h.respond(stale, ABANDON + 1, &token_response(LIFETIME)));
            (h.state(), out)
        }
        "ready-poll" => {
            let (mut h, _) = Harness::ready();
            let out = poll_kind(&h.poll(REFRESH - 1));
            (h.state(), out)
        }
        "ready-poll-refresh" => {
            let (mut h, _) = Harness::ready();
            let out = poll_kind(&h.poll(REFRESH));
            (h.state(), out)
        }
        "ready-poll-unusable" => {
            let (mut h, _) = Harness::ready();
            let out = poll_kind(&h.poll(USABLE));
            (h.state(), out)
        }
        "ready-invalidate" => {
            let (mut h, token) = Harness::ready();
            let now = h.at(1);
            let out = dropped(h.cache.invalidate(h.request.key(), &token, now));
            (h.state(), out)
        }
        "ready-invalidate-stale" => {
            let (mut h, old) = Harness::ready();
            let now = h.at(1);
            assert!(h.cache.invalidate(h.request.key(), &old, now));
            let Poll::Fetch(fetch) = h.poll(2) else {
                panic!()
            };
            h.respond(fetch.ticket, 2, &token_response(LIFETIME + 1))
                .unwrap();
            let now = h.at(3);
            let out = dropped(h.cache.invalidate(h.request.key(), &old, now));
            (h.state(), out)
        }
        "refreshing-poll" => {
            let (mut h, held, _ticket) = Harness::refreshing();
            let poll = h.poll(REFRESH + 1);
            let Poll::Ready { token, .. } = &poll else {
                panic!()
            };
            assert!(Arc::ptr_eq(token, &held));
            (h.state(), poll_kind(&poll))
        }
        "refreshing-poll-unusable" => {
            let (mut h, _, _ticket) = Harness::refreshing_at(USABLE - 10);
            let out = poll_kind(&h.poll(USABLE));
            (h.state(), out)
        }
        "refreshing-poll-abandoned" => {
            let (mut h, _, _ticket) = Harness::refreshing();
            let out = poll_kind(&h.poll(REFRESH + ABANDON));
            (h.state(), out)
        }
        "refreshing-token" => {
            let (mut h, held, ticket) = Harness::refreshing();
            let outcome = h.respond(ticket, REFRESH + 1, &token_response(LIFETIME + 5));
            assert!(!Arc::ptr_eq(outcome.as_ref().unwrap(), &held));
            (h.state(), outcome_kind(&outcome))
        }
        "refreshing-retryable" | "refreshing-rejection" => {
            let (mut h, _, ticket) = Harness::refreshing();
            let response = if case == "refreshing-retryable" {
                retryable()
            } else {
                rejection()
            };
            let out = outcome_kind(&h.respond(ticket, REFRESH + 1, &response));
            (h.state(), out)
        }
        "refreshing-transport" => {
            let (mut h, _, ticket) = Harness::refreshing();
            let now = h.at(REFRESH + 1);
            let _ = h
                .cache
                .handle_transport_error(ticket, now, Jitter::NONE, transport_error());
            (h.state(), "error")
        }
        "refreshing-cancel" => {
            let (mut h, _, ticket) = Harness::refreshing();
            let now = h.at(REFRESH + 1);
            h.cache.cancel(ticket, now);
            (h.state(), "nothing")
        }
        "refreshing-invalidate" => {
            let (mut h, held, _ticket) = Harness::refreshing();
            let now = h.at(REFRESH + 1);
            let out = dropped(h.cache.invalidate(h.request.key(), &held, now));
            (h.state(), out)
        }
        "backoff-poll" => {
            let (mut h, _) = Harness::refresh_backoff(10);
            let out = poll_kind(&h.poll(REFRESH + 9));
            (h.state(), out)
        }
        "backoff-poll-retry" => {
            let (mut h, _) = Harness::refresh_backoff(10);
            let out = poll_kind(&h.poll(REFRESH + 10));
            (h.state(), out)
        }
        "backoff-poll-unusable" => {
            let (mut h, _) = Harness::refresh_backoff(1000);
            let out = poll_kind(&h.poll(USABLE));
            (h.state(), out)
        }
        "backoff-poll-both" => {
            let (mut h, _) = Harness::refresh_backoff(1000);
            let out = poll_kind(&h.poll(REFRESH + 1000));
            (h.state(), out)
        }
        "backoff-invalidate" => {
            let (mut h, held) = Harness::refresh_backoff(10);
            let now = h.at(REFRESH + 1);
            let out = dropped(h.cache.invalidate(h.request.key(), &held, now));
            (h.state(), out)
        }
        "failed-poll" => {
            let mut h = Harness::failed();
            let poll = h.poll(0);
            let Poll::Failed { retry_at, error } = &poll else {
                panic!()
            };
            assert_eq!(*retry_at, h.at(1));
            assert!(error.is_retryable());
            (h.state(), poll_kind(&poll))
        }
        "failed-poll-retry" => {
            let mut h = Harness::failed();
            let out = poll_kind(&h.poll(1));
            (h.state(), out)
        }
        "failed-stale" => {
            let (mut h, stale) = Harness::fetching();
            h.cache.cancel(stale.clone(), h.at(0));
            let Poll::Fetch(current) = h.poll(0) else {
                panic!()
            };
            h.respond(current.ticket, 0, &retryable()).unwrap_err();
            let out = outcome_kind(&h.respond(stale, 0, &token_response(LIFETIME)));
            (h.state(), out)
        }
        // The wall clock runs ahead of a monotonic clock stopped by a suspend.
        "ready-poll-wall-refresh" => {
            let (mut h, _) = Harness::ready();
            let out = poll_kind(&h.poll_clocks(1, h.wall(REFRESH)));
            (h.state(), out)
        }
        "ready-poll-wall-unusable" => {
            let (mut h, _) = Harness::ready();
            let out = poll_kind(&h.poll_clocks(1, h.wall(USABLE)));
            (h.state(), out)
        }
        "ready-poll-wall-back" => {
            let (mut h, _) = Harness::ready();
            let out = poll_kind(&h.poll_clocks(USABLE, h.w0 - Duration::from_secs(86_400)));
            (h.state(), out)
        }
        "refreshing-poll-wall-unusable" => {
            let (mut h, _, _ticket) = Harness::refreshing();
            let out = poll_kind(&h.poll_clocks(REFRESH + 1, h.wall(USABLE)));
            (h.state(), out)
        }
        "backoff-poll-wall-unusable" => {
            let (mut h, _) = Harness::refresh_backoff(1000);
            let out = poll_kind(&h.poll_clocks(REFRESH + 1, h.wall(USABLE)));
            (h.state(), out)
        }
        // Another key's poll when the cache (one key here) is full.
        "ready-evicted" => {
            let (mut h, _) = Harness::ready_in_full_cache();
            let out = h.poll_other(1);
            (h.state(), out)
        }
        "fetching-kept" | "fetching-abandoned-evicted" => {
            let mut h = Harness::with_policy(CachePolicy::default().with_max_keys(1));
            let Poll::Fetch(_ticket) = h.poll(0) else {
                panic!("empty must fetch")
            };
            let secs = if case == "fetching-kept" {
                ABANDON - 1
            } else {
                ABANDON
            };
            let out = h.poll_other(secs);
            (h.state(), out)
        }
        "refreshing-kept" => {
            let (mut h, _) = Harness::ready_in_full_cache();
            let Poll::ReadyAndRefresh { .. } = h.poll(REFRESH) else {
                panic!("refresh point")
            };
            let out = h.poll_other(REFRESH + 1);
            (h.state(), out)
        }
        "backoff-kept" => {
            let (mut h, _) = Harness::ready_in_full_cache();
            let Poll::ReadyAndRefresh { fetch, .. } = h.poll(REFRESH) else {
                panic!("refresh point")
            };
            h.respond(fetch.ticket, REFRESH, &retryable()).unwrap_err();
            let out = h.poll_other(REFRESH);
            (h.state(), out)
        }
        "failed-kept" | "failed-evicted" => {
            let mut h = Harness::with_policy(CachePolicy::default().with_max_keys(1));
            let Poll::Fetch(fetch) = h.poll(0) else {
                panic!("empty must fetch")
            };
            h.respond(fetch.ticket, 0, &rejection()).unwrap_err();
            // The negative cache: 5 s.
            let secs = if case == "failed-kept" { 4 } else { 5 };
            let out = h.poll_other(secs);
            (h.state(), out)
        }
        other => panic!("the table has a case {other:?} that no scenario here runs"),
    }
}

fn parse_state(name: &str) -> SlotState {
    match name.trim_matches('`') {
        "Empty" => SlotState::Empty,
        "Fetching" => SlotState::Fetching,
        "Ready" => SlotState::Ready,
        "Refreshing" => SlotState::Refreshing,
        "RefreshBackoff" => SlotState::RefreshBackoff,
        "Failed" => SlotState::Failed,
        other => panic!("unknown state {other:?} in the table"),
    }
}

#[test]
fn every_row_of_the_transition_table_matches_the_code() {
    // The main table only: the section ends at the next heading.
    let section = TABLE.split("## Transitions").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let mut rows = BTreeMap::new();
    for line in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| case") && !l.starts_with("|---"))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 6, "malformed row {line}");
        assert!(
            rows.insert(
                cells[0].to_owned(),
                (
                    cells[1].to_owned(),
                    cells[4].to_owned(),
                    cells[5].to_owned()
                )
            )
            .is_none(),
            "duplicate case {}",
            cells[0]
        );
    }
    assert!(rows.len() >= 30, "the table lost rows: {}", rows.len());
    for (case, (state, next, output)) in &rows {
        let _ = parse_state(state);
        let (actual_state, actual_output) = run(case);
        assert_eq!(actual_state, parse_state(next), "case {case}: next state");
        assert_eq!(actual_output, output, "case {case}: output");
    }
}

#[test]
fn refresh_ahead_keeps_serving_and_a_failed_refresh_keeps_the_old_token_until_its_margin() {
    let (mut h, held, ticket) = Harness::refreshing();
    // Every other caller gets the old token while the refresh is in flight.
    for secs in [REFRESH, REFRESH + 1, REFRESH + 30] {
        let Poll::Ready { token, .. } = h.poll(secs) else {
            panic!()
        };
        assert!(Arc::ptr_eq(&token, &held));
    }
    h.respond(ticket, REFRESH + 30, &retryable()).unwrap_err();
    // Backoff 1 s (first failure), then a new refresh, while the old token is still served.
    let Poll::Ready { fresh_until, .. } = h.poll(REFRESH + 30) else {
        panic!()
    };
    assert_eq!(fresh_until, h.at(REFRESH + 31));
    let Poll::ReadyAndRefresh { token, fetch } = h.poll(REFRESH + 31) else {
        panic!()
    };
    assert!(Arc::ptr_eq(&token, &held));
    h.respond(fetch.ticket, REFRESH + 31, &retryable())
        .unwrap_err();
    // Second failure: 2 s.
    assert!(matches!(h.poll(REFRESH + 32), Poll::Ready { .. }));
    let Poll::ReadyAndRefresh { fetch, .. } = h.poll(REFRESH + 33) else {
        panic!()
    };
    h.cache.cancel(fetch.ticket, h.at(REFRESH + 34));
    // A refresh still in flight when the margin is reached: callers now wait for it (the old token
    // is never served past its margin).
    let Poll::ReadyAndRefresh { .. } = h.poll(USABLE - 10) else {
        panic!()
    };
    assert!(matches!(h.poll(USABLE - 1), Poll::Ready { .. }));
    assert!(matches!(h.poll(USABLE), Poll::Pending { .. }));
}

#[test]
fn backoff_doubles_to_its_cap_and_retry_after_is_honoured_up_to_its_cap() {
    let mut h = Harness::new();
    let mut now = 0;
    let mut delays = Vec::new();
    for _ in 0..9 {
        let Poll::Fetch(fetch) = h.poll(now) else {
            panic!("at {now}")
        };
        h.respond(fetch.ticket, now, &retryable()).unwrap_err();
        let Poll::Failed { retry_at, .. } = h.poll(now) else {
            panic!()
        };
        let delay = retry_at.duration_since(h.at(now)).as_secs();
        delays.push(delay);
        now += delay;
    }
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    // A Retry-After longer than the backoff wins, capped at 1 h.
    let Poll::Fetch(fetch) = h.poll(now) else {
        panic!()
    };
    h.respond(fetch.ticket, now, &error_response(429, "{}", Some(7200)))
        .unwrap_err();
    let Poll::Failed { retry_at, error } = h.poll(now) else {
        panic!()
    };
    assert_eq!(retry_at, h.at(now + 3600));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    // Jitter shortens the backoff by up to half, never lengthens it.
    let mut j = Harness::new();
    let Poll::Fetch(fetch) = j.poll(0) else {
        panic!()
    };
    let (t, w) = (j.at(0), j.wall(0));
    j.cache
        .handle_response(fetch.ticket, t, w, Jitter::new(0.5), &retryable())
        .unwrap_err();
    let Poll::Failed { retry_at, .. } = j.poll(0) else {
        panic!()
    };
    assert_eq!(retry_at, j.at(0) + Duration::from_millis(750));
}

#[test]
fn a_success_resets_the_backoff_and_rejections_use_the_negative_cache() {
    let mut h = Harness::new();
    let Poll::Fetch(fetch) = h.poll(0) else {
        panic!()
    };
    h.respond(fetch.ticket, 0, &rejection()).unwrap_err();
    let Poll::Failed { retry_at, error } = h.poll(0) else {
        panic!()
    };
    assert!(!error.is_retryable());
    assert_eq!(retry_at, h.at(5));
    let Poll::Fetch(fetch) = h.poll(5) else {
        panic!()
    };
    h.respond(fetch.ticket, 5, &token_response(60)).unwrap();
    // 60 s token: margin 30 s, usable until 35, refresh at 5 + 0.8 × 30 = 29.
    let Poll::Ready { fresh_until, .. } = h.poll(6) else {
        panic!()
    };
    assert_eq!(fresh_until, h.at(29));
    assert!(matches!(h.poll(35), Poll::Fetch(_)));
}

#[test]
fn margin_never_exceeds_half_the_lifetime() {
    let (mut h, ticket) = Harness::fetching();
    h.respond(ticket, 0, &token_response(10)).unwrap();
    // 10 s token: margin 5 s (not 60), usable until 5 s, refresh at 4 s.
    assert!(matches!(h.poll(3), Poll::Ready { .. }));
    assert!(matches!(h.poll(4), Poll::ReadyAndRefresh { .. }));
    assert!(matches!(h.poll(5), Poll::Pending { .. }));
    // A token whose usable life is over on arrival is a failure, never handed out.
    let (mut h, ticket) = Harness::fetching();
    let error = h.respond(ticket, 6, &token_response(10)).unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(h.state(), SlotState::Failed);
}

#[test]
fn the_refresh_point_moves_earlier_with_jitter() {
    let mut h = Harness::new();
    let Poll::Fetch(fetch) = h.poll(0) else {
        panic!()
    };
    let (t, w) = (h.at(0), h.wall(0));
    h.cache
        .handle_response(
            fetch.ticket,
            t,
            w,
            Jitter::new(0.999_999),
            &token_response(LIFETIME),
        )
        .unwrap();
    let Poll::Ready { fresh_until, .. } = h.poll(0) else {
        panic!()
    };
    // Between 70 % and 80 % of the usable lifetime.
    let at = fresh_until.duration_since(h.at(0)).as_secs_f64();
    assert!(
        (USABLE as f64 * 0.7 - 1.0..USABLE as f64 * 0.7 + 1.0).contains(&at),
        "{at}"
    );
}

#[test]
fn the_key_bound_evicts_the_least_recently_used_key() {
    let mut cache = TokenCache::new(CachePolicy::default().with_max_keys(2));
    let (t, w) = (Instant::now(), SystemTime::now());
    let request = |resource: &str| common::request(TokenParams::for_resource(resource));
    let (a, b, c) = (
        request("https://a.example"),
        request("https://b.example"),
        request("https://c.example"),
    );
    for r in [&a, &b] {
        let Poll::Fetch(fetch) = cache.poll(r, t, w) else {
            panic!()
        };
        cache
            .handle_response(fetch.ticket, t, w, Jitter::NONE, &token_response(LIFETIME))
            .unwrap();
    }
    let _ = cache.poll(&a, t, w); // a is now more recent than b
    let Poll::Fetch(fetch) = cache.poll(&c, t, w) else {
        panic!()
    };
    assert_eq!(cache.len(), 2);
    assert!(cache.state(a.key()).is_some());
    assert!(cache.state(b.key()).is_none());
    // An answer for an evicted key is still parsed for its caller, and changes nothing.
    cache.remove(c.key());
    assert!(
        cache
            .handle_response(fetch.ticket, t, w, Jitter::NONE, &token_response(LIFETIME))
            .is_ok()
    );
    assert!(cache.state(c.key()).is_none());
}
