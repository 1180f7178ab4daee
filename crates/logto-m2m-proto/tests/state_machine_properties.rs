//! Random sequences of polls, answers, transport errors, cancels, invalidations and time jumps over
//! more keys than the cache holds, on a monotonic and a wall clock that drift apart (a suspend
//! moves the wall clock alone, a correction sets it back), with the state machine's invariants
//! checked after every step.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    CachePolicy, Error, Jitter, Poll, Ticket, Token, TokenCache, TokenParams, TokenRequest,
    TransportError, TransportErrorKind,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Answer {
    Token {
        lifetime: Option<u64>,
        as_string: bool,
    },
    Retryable,
    Rejection,
    Throttled {
        retry_after: u64,
    },
    Garbage,
}

#[derive(Debug, Clone)]
enum Op {
    Poll {
        key: usize,
    },
    Respond {
        ticket: usize,
        answer: Answer,
    },
    TransportError {
        ticket: usize,
    },
    Cancel {
        ticket: usize,
    },
    Invalidate {
        key: usize,
        token: usize,
    },
    Advance {
        millis: u64,
    },
    /// The wall clock alone moves ahead: the machine slept, the monotonic clock stood still.
    Suspend {
        millis: u64,
    },
    /// The wall clock alone is set back.
    WallBack {
        millis: u64,
    },
    Jitter {
        value: f64,
    },
}

/// How many keys the operations use: more than any cache here holds.
const KEYS: usize = 6;

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        4 => (prop_oneof![Just(None), (1u64..5).prop_map(Some), (5u64..200).prop_map(Some), Just(Some(3600)), Just(Some(u64::MAX))], any::<bool>())
            .prop_map(|(lifetime, as_string)| Answer::Token { lifetime, as_string }),
        2 => Just(Answer::Retryable),
        1 => Just(Answer::Rejection),
        1 => (0u64..8000).prop_map(|retry_after| Answer::Throttled { retry_after }),
        1 => Just(Answer::Garbage),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..KEYS).prop_map(|key| Op::Poll { key }),
        4 => (any::<usize>(), answer()).prop_map(|(ticket, answer)| Op::Respond { ticket, answer }),
        1 => any::<usize>().prop_map(|ticket| Op::TransportError { ticket }),
        1 => any::<usize>().prop_map(|ticket| Op::Cancel { ticket }),
        1 => (0usize..KEYS, any::<usize>()).prop_map(|(key, token)| Op::Invalidate { key, token }),
        4 => prop_oneof![0u64..10, 10u64..2_000, 2_000u64..100_000, 100_000u64..5_000_000].prop_map(|millis| Op::Advance { millis }),
        1 => prop_oneof![0u64..2_000, 2_000u64..5_000_000].prop_map(|millis| Op::Suspend { millis }),
        1 => (0u64..5_000_000).prop_map(|millis| Op::WallBack { millis }),
        1 => (0.0f64..1.0).prop_map(|value| Op::Jitter { value }),
    ]
}

fn response(answer: &Answer) -> Response<Vec<u8>> {
    let (status, body, retry_after) = match answer {
        Answer::Token {
            lifetime,
            as_string,
        } => {
            let expires_in = match (lifetime, as_string) {
                (None, _) => String::new(),
                (Some(l), true) => format!(r#","expires_in":"{l}""#),
                (Some(l), false) => format!(r#","expires_in":{l}"#),
            };
            (
                200,
                format!(
                    r#"{{"access_token":"t{}","token_type":"Bearer"{expires_in}}}"#,
                    rand_suffix(answer)
                ),
                None,
            )
        }
        Answer::Retryable => (
            503,
            r#"{"error":"temporarily_unavailable"}"#.to_owned(),
            None,
        ),
        Answer::Rejection => (400, r#"{"error":"invalid_target"}"#.to_owned(), None),
        Answer::Throttled { retry_after } => (
            429,
            r#"{"code":"auth.exceed_token_limit"}"#.to_owned(),
            Some(*retry_after),
        ),
        Answer::Garbage => (200, "<html>".to_owned(), None),
    };
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(secs) = retry_after {
        builder = builder.header("retry-after", secs.to_string());
    }
    builder.body(body.into_bytes()).unwrap()
}

/// Tokens must differ from one another (invalidation compares values): a process-wide counter.
fn rand_suffix(_: &Answer) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

/// A ticket handed out, with what the test knows about it.
struct Outstanding {
    ticket: Ticket,
    key: usize,
    /// Known to be no longer current: its key was evicted since, or its request was abandoned.
    dead: bool,
}

struct World {
    cache: TokenCache,
    policy: CachePolicy,
    requests: Vec<TokenRequest>,
    outstanding: Vec<Outstanding>,
    tokens: Vec<(usize, Arc<Token>)>,
    /// The latest backoff each key was seen in (`Poll::Failed` for the key itself): no request
    /// for the key may start before it, eviction or not.
    retry_at: HashMap<usize, Instant>,
    now: Instant,
    wall: SystemTime,
    jitter: Jitter,
}

/// The comparable part of a poll's answer.
#[derive(Debug, PartialEq)]
enum Seen {
    Ready(String),
    Refresh(String),
    Fetch,
    Pending(Instant),
    Failed(Instant),
}

fn seen(poll: &Poll) -> Seen {
    match poll {
        Poll::Ready { token, .. } => Seen::Ready(token.access_token().expose_secret().to_owned()),
        Poll::ReadyAndRefresh { token, .. } => {
            Seen::Refresh(token.access_token().expose_secret().to_owned())
        }
        Poll::Fetch(_) => Seen::Fetch,
        Poll::Pending { until } => Seen::Pending(*until),
        Poll::Failed { retry_at, .. } => Seen::Failed(*retry_at),
        _ => panic!("unknown poll answer"),
    }
}

impl World {
    fn new(max_keys: usize) -> Self {
        let policy = CachePolicy::default()
            .with_max_keys(max_keys)
            .with_expiry_margin(Duration::from_secs(60));
        let requests = (0..KEYS)
            .map(|i| {
                let resource = format!("https://{i}.example");
                common::request(TokenParams::for_resource(resource).scope("read"))
            })
            .collect();
        Self {
            cache: TokenCache::new(policy),
            policy,
            requests,
            outstanding: Vec::new(),
            tokens: Vec::new(),
            retry_at: HashMap::new(),
            now: Instant::now(),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            jitter: Jitter::NONE,
        }
    }

    fn take_ticket(&mut self, index: usize) -> Option<Outstanding> {
        if self.outstanding.is_empty() {
            return None;
        }
        let i = index % self.outstanding.len();
        Some(self.outstanding.swap_remove(i))
    }

    fn mark_dead(&mut self) -> Result<(), TestCaseError> {
        for o in &mut self.outstanding {
            let abandoned = self.now >= o.ticket.sent_at() + self.policy.in_flight_timeout;
            let evicted = self.cache.state(o.ticket.key()).is_none();
            prop_assert!(
                o.dead || abandoned || !evicted,
                "a key with a request in flight was evicted"
            );
            if abandoned || evicted {
                o.dead = true;
            }
        }
        Ok(())
    }

    fn check_served(&self, token: &Token) -> Result<(), TestCaseError> {
        prop_assert!(
            self.now < self.policy.usable_until(token),
            "a token was handed out at or after expires_at - margin"
        );
        prop_assert!(
            self.wall < self.policy.usable_until_wall(token),
            "a token was handed out at or after its wall-clock expires_at - margin"
        );
        prop_assert!(self.now < token.expires_at());
        Ok(())
    }

    fn poll(&mut self, key: usize) -> Result<(), TestCaseError> {
        let held = self.cache.state(self.requests[key].key()).is_some();
        let poll = self.cache.poll(&self.requests[key], self.now, self.wall);
        match poll {
            Poll::Ready {
                token,
                fresh_until,
                fresh_until_wall,
            } => {
                self.check_served(&token)?;
                prop_assert!(fresh_until > self.now);
                prop_assert!(fresh_until <= self.policy.usable_until(&token));
                prop_assert!(fresh_until_wall > self.wall);
                prop_assert!(fresh_until_wall <= self.policy.usable_until_wall(&token));
            }
            Poll::ReadyAndRefresh { token, fetch } => {
                self.check_served(&token)?;
                self.issued(key, fetch.ticket)?;
                self.tokens.push((key, token));
            }
            Poll::Fetch(fetch) => self.issued(key, fetch.ticket)?,
            Poll::Pending { until } => prop_assert!(until > self.now),
            Poll::Failed {
                error: Error::CacheFull { .. },
                retry_at,
            } => {
                prop_assert!(!held, "a key the cache holds was refused room");
                prop_assert_eq!(
                    self.cache.len(),
                    self.policy.max_keys,
                    "refused with room left"
                );
                prop_assert!(retry_at > self.now, "a refusal must wait");
                let longest = self
                    .policy
                    .max_retry_delay()
                    .max(self.policy.in_flight_timeout);
                prop_assert!(retry_at.duration_since(self.now) <= longest);
            }
            Poll::Failed { retry_at, .. } => {
                prop_assert!(retry_at > self.now, "a failure must wait");
                prop_assert!(
                    retry_at.duration_since(self.now) <= self.policy.max_retry_delay(),
                    "backoff over its cap"
                );
                self.retry_at.insert(key, retry_at);
            }
            _ => prop_assert!(false, "unknown poll answer"),
        }
        Ok(())
    }

    /// A new request for `key`: no other live request for `key` may be in flight.
    fn issued(&mut self, key: usize, ticket: Ticket) -> Result<(), TestCaseError> {
        if let Some(retry_at) = self.retry_at.get(&key) {
            prop_assert!(
                self.now >= *retry_at,
                "a request was sent before its backoff ended"
            );
        }
        self.mark_dead()?;
        let live = self
            .outstanding
            .iter()
            .filter(|o| o.key == key && !o.dead)
            .count();
        prop_assert_eq!(live, 0, "two requests in flight for one key");
        self.outstanding.push(Outstanding {
            ticket,
            key,
            dead: false,
        });
        Ok(())
    }

    /// What every key's poll answers now, on a copy (polling changes state).
    fn snapshot(&self, at: Instant) -> Vec<Seen> {
        let mut copy = self.cache.clone();
        let held: Vec<&TokenRequest> = self
            .requests
            .iter()
            .filter(|r| copy.state(r.key()).is_some())
            .collect();
        let wall = self.wall_at(at);
        held.into_iter()
            .map(|r| seen(&copy.poll(r, at, wall)))
            .collect()
    }

    /// The wall clock at `at`, running with the monotonic clock from now.
    fn wall_at(&self, at: Instant) -> SystemTime {
        self.wall + at.saturating_duration_since(self.now)
    }

    fn check_poll_timeout(&self) -> Result<(), TestCaseError> {
        for request in &self.requests {
            if self.cache.state(request.key()).is_none() {
                continue;
            }
            let answer_now = seen(&self.cache.clone().poll(request, self.now, self.wall));
            let until = self.cache.poll_timeout_for(request.key());
            let until_wall = self
                .cache
                .poll_timeout_wall_for(request.key())
                .map(|wall| self.now + wall.duration_since(self.wall).unwrap_or_default());
            let horizon = [until, until_wall]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(self.now + Duration::from_secs(10 * 24 * 3600));
            if horizon <= self.now {
                continue;
            }
            let span = horizon - self.now;
            for fraction in [0.0, 0.3, 0.9999] {
                let at = self.now + span.mul_f64(fraction);
                if at >= horizon {
                    continue;
                }
                let later = seen(&self.cache.clone().poll(request, at, self.wall_at(at)));
                prop_assert_eq!(
                    &later,
                    &answer_now,
                    "poll_timeout lied: the answer changed before it"
                );
            }
        }
        let overall = self.cache.poll_timeout();
        let earliest = self
            .requests
            .iter()
            .filter_map(|r| self.cache.poll_timeout_for(r.key()))
            .min();
        prop_assert_eq!(overall, earliest);
        let overall_wall = self.cache.poll_timeout_wall();
        let earliest_wall = self
            .requests
            .iter()
            .filter_map(|r| self.cache.poll_timeout_wall_for(r.key()))
            .min();
        prop_assert_eq!(overall_wall, earliest_wall);
        Ok(())
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Poll { key } => self.poll(key)?,
            Op::Respond { ticket, answer } => {
                if let Some(o) = self.take_ticket(ticket) {
                    let before = o.dead.then(|| self.snapshot(self.now));
                    let outcome = self.cache.handle_response(
                        o.ticket,
                        self.now,
                        self.wall,
                        self.jitter,
                        &response(&answer),
                    );
                    if let Ok(token) = &outcome {
                        self.check_served(token)?;
                        self.tokens.push((o.key, Arc::clone(token)));
                    }
                    if let Some(before) = before {
                        prop_assert_eq!(
                            self.snapshot(self.now),
                            before,
                            "a stale answer changed the state"
                        );
                    }
                }
            }
            Op::TransportError { ticket } => {
                if let Some(o) = self.take_ticket(ticket) {
                    let error = TransportError::new(TransportErrorKind::Io, "reset");
                    let _ =
                        self.cache
                            .handle_transport_error(o.ticket, self.now, self.jitter, error);
                }
            }
            Op::Cancel { ticket } => {
                if let Some(o) = self.take_ticket(ticket) {
                    self.cache.cancel(o.ticket, self.now);
                }
            }
            Op::Invalidate { key, token } => {
                if !self.tokens.is_empty() {
                    let (token_key, token) = self.tokens[token % self.tokens.len()].clone();
                    let key_request =
                        &self.requests[if token_key == key { key } else { token_key }];
                    let dropped = self.cache.invalidate(key_request.key(), &token, self.now);
                    if dropped {
                        // A second invalidation of the same token does nothing.
                        prop_assert!(!self.cache.invalidate(key_request.key(), &token, self.now));
                    }
                }
            }
            Op::Advance { millis } => {
                self.now += Duration::from_millis(millis);
                self.wall += Duration::from_millis(millis);
            }
            Op::Suspend { millis } => self.wall += Duration::from_millis(millis),
            Op::WallBack { millis } => self.wall -= Duration::from_millis(millis),
            Op::Jitter { value } => self.jitter = Jitter::new(value),
        }
        prop_assert!(
            self.cache.len() <= self.policy.max_keys,
            "the key bound was exceeded"
        );
        self.mark_dead()?;
        self.check_poll_timeout()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_state_machine_keeps_its_invariants(
        max_keys in 1usize..4,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let mut world = World::new(max_keys);
        for op in ops {
            world.step(op)?;
        }
    }
}
