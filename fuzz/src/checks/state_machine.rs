//! `state_machine`: any sequence of polls, answers (tokens of any lifetime, errors, garbage),
//! transport errors, cancels, invalidations, replayed tickets and time jumps over three keys, with
//! a small `max_keys` and varied policies, on a monotonic and a wall clock that drift apart (a
//! suspend moves the wall clock alone, a correction sets it back). After every step:
//!
//! - no token is handed out at or after `policy.usable_until(token)` nor, by the wall clock,
//!   `policy.usable_until_wall(token)`, nor after it was invalidated;
//! - at most one live request per key (one whose ticket is neither handed back nor abandoned by
//!   time); a key with a live request is never evicted, and no request starts for a key before the
//!   backoff it was last seen in has ended;
//! - `Failed { retry_at }` is in the future, at most `policy.max_retry_delay()` away (for a key
//!   refused room with `CacheFull`: only when the cache is full, at most the longest backoff or
//!   in-flight timeout away);
//! - `poll_timeout` never lies: polling a copy at any instant before it answers the same;
//! - a stale ticket (abandoned, evicted or already handed back) changes nothing;
//! - a token that arrives for the live request is handed out right away;
//! - `len() <= max_keys`, and nothing panics.
//!
//! When the policy byte `keys` asks for replicas (`(keys / 3) % 4` of them), the same operations
//! drive a fleet of caches sharing one simulated store instead, with the store operations
//! (`StoreAnswer`, `StoreEntry`, `StoreFail`, `Switch`, `StoreMode`) and the oracles of
//! `shared_flight`; without replicas, those operations do nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Result, Unstructured};
use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    CachePolicy, ClientConfig, Error, Jitter, Poll, Ticket, Token, TokenCache, TokenParams,
    TokenRequest, TransportError, TransportErrorKind,
};

use super::Mode;
use super::common::{self, APP_ID, ENDPOINT, SECRET, Seen, pick, seen};
use super::shared_flight::Fleet;
use super::wire::{Byte, Bytes, Encode, U16, byte, u16_be};

/// The most operations one input runs.
pub const MAX_OPS: usize = 128;
/// The keys' resources.
pub const RESOURCES: [&str; 3] = [
    "https://a.example.com",
    "https://b.example.com",
    "https://c.example.com",
];

/// `expiry_margin` choices, in milliseconds. Index 0 is the default.
pub const MARGINS_MS: [u64; 6] = [60_000, 0, 1_000, 10_000, 300_000, 1_800_000];
/// `refresh_ratio` choices. Index 0 is the default.
pub const REFRESH_RATIOS: [f64; 8] = [0.8, 0.5, 1.0, 0.1, 0.0, 2.0, -1.0, f64::NAN];
/// `refresh_jitter_ratio` choices. Index 0 is the default.
pub const REFRESH_JITTER_RATIOS: [f64; 8] =
    [0.1, 0.0, 0.5, 1.0, -1.0, 2.0, f64::INFINITY, f64::NAN];
/// `backoff_initial` choices, in milliseconds. Index 0 is the default.
pub const BACKOFF_INITIAL_MS: [u64; 4] = [1_000, 0, 100, 10_000];
/// `backoff_max` choices, in milliseconds. Index 0 is the default.
pub const BACKOFF_MAX_MS: [u64; 4] = [60_000, 1_000, 0, 3_600_000];
/// `negative_cache` choices, in milliseconds. Index 0 is the default.
pub const NEGATIVE_CACHE_MS: [u64; 4] = [5_000, 0, 1_000, 600_000];
/// `retry_after_max` choices, in milliseconds. Index 0 is the default.
pub const RETRY_AFTER_MAX_MS: [u64; 4] = [3_600_000, 0, 10_000, 86_400_000];
/// `in_flight_timeout` choices, in milliseconds. Index 0 is the default.
pub const IN_FLIGHT_MS: [u64; 4] = [60_000, 1_000, 10, 600_000];
/// `expires_in` choices of a token answer (`None`: left out). Index 0 is an hour.
pub const EXPIRES_IN: [Option<u64>; 12] = [
    Some(3600),
    None,
    Some(1),
    Some(2),
    Some(5),
    Some(59),
    Some(60),
    Some(61),
    Some(120),
    Some(86_400),
    Some(u64::MAX),
    Some(0),
];
/// Transport error kinds, by index.
pub const TRANSPORT_ERRORS: [TransportErrorKind; 8] = [
    TransportErrorKind::Io,
    TransportErrorKind::Connect,
    TransportErrorKind::Timeout,
    TransportErrorKind::BodyTooLarge,
    TransportErrorKind::Redirect,
    TransportErrorKind::InvalidRequest,
    TransportErrorKind::Other,
    TransportErrorKind::HeadersTooLarge,
];

fn millis(table: &[u64], index: u8) -> Duration {
    Duration::from_millis(pick(table, index))
}

/// The cache policy: each byte picks from the tables above; all zero is the default policy with
/// `max_keys` 1.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug, Default)]
pub struct PolicyInput {
    /// `max_keys = 1 + keys % 3`; `(keys / 3) % 4` replicas share a store (0: one cache, no
    /// store); the store's `max_clock_skew` is `shared_flight::MAX_SKEWS[(keys / 12) % 2]`.
    pub keys: Byte,
    /// `expiry_margin`: [`MARGINS_MS`].
    pub margin: Byte,
    /// Bits 0-2: [`REFRESH_RATIOS`]; bits 3-5: [`REFRESH_JITTER_RATIOS`].
    pub refresh: Byte,
    /// Bits 0-1: [`BACKOFF_INITIAL_MS`]; 2-3: [`BACKOFF_MAX_MS`]; 4-5: [`NEGATIVE_CACHE_MS`];
    /// 6-7: [`RETRY_AFTER_MAX_MS`].
    pub backoff: Byte,
    /// `in_flight_timeout`: [`IN_FLIGHT_MS`].
    pub in_flight: Byte,
}

impl Encode for PolicyInput {
    fn encode(&self, out: &mut Vec<u8>) {
        for field in [
            &self.keys,
            &self.margin,
            &self.refresh,
            &self.backoff,
            &self.in_flight,
        ] {
            field.encode(out);
        }
    }
}

impl PolicyInput {
    /// How many replicas share a store (0: a single cache without one).
    pub fn replicas(&self) -> usize {
        usize::from(self.keys.0 / 3 % 4)
    }

    /// The index of the store's `max_clock_skew` in `shared_flight::MAX_SKEWS`.
    pub fn skew(&self) -> u8 {
        self.keys.0 / 12 % 2
    }

    /// The policy chosen.
    pub fn policy(&self) -> CachePolicy {
        let ratio = pick(&REFRESH_RATIOS, self.refresh.0 & 7);
        let jitter_ratio = pick(&REFRESH_JITTER_RATIOS, (self.refresh.0 >> 3) & 7);
        let backoff = self.backoff.0;
        CachePolicy::default()
            .with_max_keys(1 + usize::from(self.keys.0 % 3))
            .with_expiry_margin(millis(&MARGINS_MS, self.margin.0))
            .with_refresh_ratio(ratio)
            .with_refresh_jitter_ratio(jitter_ratio)
            .with_backoff_initial(millis(&BACKOFF_INITIAL_MS, backoff & 3))
            .with_backoff_max(millis(&BACKOFF_MAX_MS, (backoff >> 2) & 3))
            .with_negative_cache(millis(&NEGATIVE_CACHE_MS, (backoff >> 4) & 3))
            .with_retry_after_max(millis(&RETRY_AFTER_MAX_MS, backoff >> 6))
            .with_in_flight_timeout(millis(&IN_FLIGHT_MS, self.in_flight.0))
    }
}

/// [`Answer::Token`] `form` bit: `expires_in` as a string.
pub const AS_STRING: u8 = 1;
/// [`Answer::Token`] `form` bit: `token_type` `DPoP`.
pub const DPOP: u8 = 1 << 1;
/// [`Answer::Token`] `form` bit: no `token_type`.
pub const NO_TOKEN_TYPE: u8 = 1 << 2;

/// The token endpoint's answer: one byte, `kind % 8`, then the variant's fields.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Answer {
    /// 200 with a new token: `expires_in` from [`EXPIRES_IN`], `form` bits [`AS_STRING`],
    /// [`DPOP`], [`NO_TOKEN_TYPE`].
    Token {
        /// Index into [`EXPIRES_IN`].
        expires_in: u8,
        /// How it is written.
        form: u8,
    },
    /// 503 `temporarily_unavailable`.
    Retryable,
    /// 400 `invalid_target`.
    Rejection,
    /// 401 `invalid_client`.
    CredentialsRejected,
    /// 429, Logto Cloud's quota answer, with `Retry-After` in seconds.
    Throttled {
        /// `Retry-After`.
        retry_after: u16,
    },
    /// 503 with `Retry-After` in seconds.
    Unavailable {
        /// `Retry-After`.
        retry_after: u16,
    },
    /// 200 `<html>`.
    Garbage,
    /// Any status (through `any_status`) and body.
    Raw {
        /// The raw status.
        status: u16,
        /// The body.
        body: Bytes,
    },
}

impl<'a> Arbitrary<'a> for Answer {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match byte(u)? % 8 {
            0 => Self::Token {
                expires_in: byte(u)?,
                form: byte(u)?,
            },
            1 => Self::Retryable,
            2 => Self::Rejection,
            3 => Self::CredentialsRejected,
            4 => Self::Throttled {
                retry_after: u16_be(u)?,
            },
            5 => Self::Unavailable {
                retry_after: u16_be(u)?,
            },
            6 => Self::Garbage,
            _ => Self::Raw {
                status: u16_be(u)?,
                body: Bytes::arbitrary(u)?,
            },
        })
    }
}

impl Encode for Answer {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Token { expires_in, form } => out.extend_from_slice(&[0, *expires_in, *form]),
            Self::Retryable => out.push(1),
            Self::Rejection => out.push(2),
            Self::CredentialsRejected => out.push(3),
            Self::Throttled { retry_after } => {
                out.push(4);
                U16(*retry_after).encode(out);
            }
            Self::Unavailable { retry_after } => {
                out.push(5);
                U16(*retry_after).encode(out);
            }
            Self::Garbage => out.push(6),
            Self::Raw { status, body } => {
                out.push(7);
                U16(*status).encode(out);
                body.encode(out);
            }
        }
    }
}

impl Answer {
    /// The answer as a response; `token` is the access token's value for a token answer.
    pub fn response(&self, token: &str) -> Response<Vec<u8>> {
        let json = "application/json";
        let (status, content_type, body, retry_after) = match self {
            Self::Token { expires_in, form } => {
                let expires_in = match (pick(&EXPIRES_IN, *expires_in), form & AS_STRING != 0) {
                    (None, _) => String::new(),
                    (Some(secs), true) => format!(r#","expires_in":"{secs}""#),
                    (Some(secs), false) => format!(r#","expires_in":{secs}"#),
                };
                let token_type = if form & NO_TOKEN_TYPE != 0 {
                    ""
                } else if form & DPOP != 0 {
                    r#","token_type":"DPoP""#
                } else {
                    r#","token_type":"Bearer""#
                };
                let body = format!(r#"{{"access_token":"{token}"{token_type}{expires_in}}}"#);
                (200, json, body.into_bytes(), None)
            }
            Self::Retryable => (
                503,
                json,
                br#"{"error":"temporarily_unavailable"}"#.to_vec(),
                None,
            ),
            Self::Rejection => (400, json, br#"{"error":"invalid_target"}"#.to_vec(), None),
            Self::CredentialsRejected => {
                (401, json, br#"{"error":"invalid_client"}"#.to_vec(), None)
            }
            Self::Throttled { retry_after } => (
                429,
                json,
                br#"{"code":"auth.exceed_token_limit"}"#.to_vec(),
                Some(*retry_after),
            ),
            Self::Unavailable { retry_after } => {
                (503, "text/html", b"<html>".to_vec(), Some(*retry_after))
            }
            Self::Garbage => (200, "text/html", b"<html>".to_vec(), None),
            Self::Raw { status, body } => (
                common::any_status(*status).as_u16(),
                json,
                body.0.clone(),
                None,
            ),
        };
        let mut builder = Response::builder()
            .status(status)
            .header("content-type", content_type);
        if let Some(secs) = retry_after {
            builder = builder.header("retry-after", secs.to_string());
        }
        builder
            .body(body)
            .unwrap_or_else(|e| panic!("a fixed response is invalid: {e}"))
    }
}

/// One step: one byte, `kind % 16`, then the variant's fields (one byte each, but answers).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Op {
    /// Poll key `key % 3`.
    Poll {
        /// The key.
        key: u8,
    },
    /// Hand back outstanding ticket `ticket % n` with an answer.
    Respond {
        /// Which outstanding ticket.
        ticket: u8,
        /// The answer.
        answer: Answer,
    },
    /// Hand back outstanding ticket `ticket % n` with a transport error.
    TransportError {
        /// Which outstanding ticket.
        ticket: u8,
        /// [`TRANSPORT_ERRORS`] index.
        kind: u8,
    },
    /// Cancel outstanding ticket `ticket % n`.
    Cancel {
        /// Which outstanding ticket.
        ticket: u8,
    },
    /// Invalidate token `token % n` (of every token handed out) for key `key % 3`.
    Invalidate {
        /// The key.
        key: u8,
        /// Which token.
        token: u8,
    },
    /// Move the clock by `amount` milliseconds, seconds, minutes or hours (`scale % 4`).
    Advance {
        /// The unit.
        scale: u8,
        /// How many.
        amount: u8,
    },
    /// Set the jitter to `value / 256`.
    Jitter {
        /// The jitter, in 256ths.
        value: u8,
    },
    /// Move the clock to `poll_timeout_for(key % 4)` (3: `poll_timeout()`), exactly, a nanosecond
    /// before or a nanosecond after (`offset % 3`).
    JumpToTimeout {
        /// The key, or 3 for all.
        key: u8,
        /// 0: exactly, 1: a nanosecond before, 2: a nanosecond after.
        offset: u8,
    },
    /// Hand back, again, ticket `spent % n` of those already handed back.
    Replay {
        /// Which spent ticket.
        spent: u8,
        /// The answer.
        answer: Answer,
    },
    /// Move the wall clock alone ahead (the machine slept) by `amount` milliseconds, seconds,
    /// minutes or hours (`scale % 4`).
    Suspend {
        /// The unit.
        scale: u8,
        /// How many.
        amount: u8,
    },
    /// Set the wall clock alone back by `amount` milliseconds, seconds, minutes or hours
    /// (`scale % 4`). With a shared store: step the current replica's wall clock to
    /// `u16(scale, amount)` mapped into the skew allowed (see `shared_flight`).
    WallBack {
        /// The unit.
        scale: u8,
        /// How many.
        amount: u8,
    },
    /// With a shared store: the store answers the current replica's pending step `step % n`
    /// (`how` says how: honestly, entry missing, tampered with, written under another app secret,
    /// another key's, lock free or held; see `shared_flight::Fleet::store_answer`). Without one,
    /// nothing.
    StoreAnswer {
        /// Which pending step.
        step: u8,
        /// How the store answers.
        how: u8,
    },
    /// With a shared store: the current replica's pending read `step % n` finds `entry`, any bytes.
    StoreEntry {
        /// Which pending step.
        step: u8,
        /// The entry's bytes.
        entry: Bytes,
    },
    /// With a shared store: the current replica's pending step `step % n` fails (`kind % 3`:
    /// unavailable, timed out, refused).
    StoreFail {
        /// Which pending step.
        step: u8,
        /// The failure.
        kind: u8,
    },
    /// With a shared store: the next operations act on replica `replica % n`.
    Switch {
        /// The replica.
        replica: u8,
    },
    /// With a shared store: it keeps writes (`mode % 3` 0), fails them (1), or loses everything
    /// (2, a restart).
    StoreMode {
        /// The mode.
        mode: u8,
    },
}

/// `amount` of the unit `scale % 4`: milliseconds, seconds, minutes or hours.
pub(crate) fn span(scale: u8, amount: u8) -> Duration {
    let amount = u64::from(amount);
    match scale % 4 {
        0 => Duration::from_millis(amount),
        1 => Duration::from_secs(amount),
        2 => Duration::from_secs(amount * 60),
        _ => Duration::from_secs(amount * 3600),
    }
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match byte(u)? % 16 {
            0 => Self::Poll { key: byte(u)? },
            1 => Self::Respond {
                ticket: byte(u)?,
                answer: Answer::arbitrary(u)?,
            },
            2 => Self::TransportError {
                ticket: byte(u)?,
                kind: byte(u)?,
            },
            3 => Self::Cancel { ticket: byte(u)? },
            4 => Self::Invalidate {
                key: byte(u)?,
                token: byte(u)?,
            },
            5 => Self::Advance {
                scale: byte(u)?,
                amount: byte(u)?,
            },
            6 => Self::Jitter { value: byte(u)? },
            7 => Self::JumpToTimeout {
                key: byte(u)?,
                offset: byte(u)?,
            },
            8 => Self::Replay {
                spent: byte(u)?,
                answer: Answer::arbitrary(u)?,
            },
            9 => Self::Suspend {
                scale: byte(u)?,
                amount: byte(u)?,
            },
            10 => Self::WallBack {
                scale: byte(u)?,
                amount: byte(u)?,
            },
            11 => Self::StoreAnswer {
                step: byte(u)?,
                how: byte(u)?,
            },
            12 => Self::StoreEntry {
                step: byte(u)?,
                entry: Bytes::arbitrary(u)?,
            },
            13 => Self::StoreFail {
                step: byte(u)?,
                kind: byte(u)?,
            },
            14 => Self::Switch { replica: byte(u)? },
            _ => Self::StoreMode { mode: byte(u)? },
        })
    }
}

impl Encode for Op {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Poll { key } => out.extend_from_slice(&[0, *key]),
            Self::Respond { ticket, answer } => {
                out.extend_from_slice(&[1, *ticket]);
                answer.encode(out);
            }
            Self::TransportError { ticket, kind } => out.extend_from_slice(&[2, *ticket, *kind]),
            Self::Cancel { ticket } => out.extend_from_slice(&[3, *ticket]),
            Self::Invalidate { key, token } => out.extend_from_slice(&[4, *key, *token]),
            Self::Advance { scale, amount } => out.extend_from_slice(&[5, *scale, *amount]),
            Self::Jitter { value } => out.extend_from_slice(&[6, *value]),
            Self::JumpToTimeout { key, offset } => out.extend_from_slice(&[7, *key, *offset]),
            Self::Replay { spent, answer } => {
                out.extend_from_slice(&[8, *spent]);
                answer.encode(out);
            }
            Self::Suspend { scale, amount } => out.extend_from_slice(&[9, *scale, *amount]),
            Self::WallBack { scale, amount } => out.extend_from_slice(&[10, *scale, *amount]),
            Self::StoreAnswer { step, how } => out.extend_from_slice(&[11, *step, *how]),
            Self::StoreEntry { step, entry } => {
                out.extend_from_slice(&[12, *step]);
                entry.encode(out);
            }
            Self::StoreFail { step, kind } => out.extend_from_slice(&[13, *step, *kind]),
            Self::Switch { replica } => out.extend_from_slice(&[14, *replica]),
            Self::StoreMode { mode } => out.extend_from_slice(&[15, *mode]),
        }
    }
}

/// The steps: every operation until the input ends (at most [`MAX_OPS`]).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Ops(pub Vec<Op>);

impl<'a> Arbitrary<'a> for Ops {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(Self(ops))
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> Result<Self> {
        Self::arbitrary(&mut u)
    }
}

impl Encode for Ops {
    fn encode(&self, out: &mut Vec<u8>) {
        assert!(self.0.len() <= MAX_OPS);
        for op in &self.0 {
            op.encode(out);
        }
    }
}

/// A policy and the steps to run under it.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug)]
pub struct StateMachineInput {
    /// The cache policy.
    pub policy: PolicyInput,
    /// The steps: the rest of the input.
    pub ops: Ops,
}

impl Encode for StateMachineInput {
    fn encode(&self, out: &mut Vec<u8>) {
        self.policy.encode(out);
        self.ops.encode(out);
    }
}

/// A ticket handed out and not handed back yet.
struct Outstanding {
    ticket: Ticket,
    key: usize,
    /// Known to be no longer current: abandoned by time, or its key was evicted.
    dead: bool,
}

struct World {
    cache: TokenCache,
    policy: CachePolicy,
    requests: Vec<TokenRequest>,
    outstanding: Vec<Outstanding>,
    /// Tickets already handed back (the latest few).
    spent: Vec<Ticket>,
    /// Every token the cache returned, with its key.
    tokens: Vec<(usize, Arc<Token>)>,
    /// Values of tokens dropped by `invalidate`.
    invalidated: Vec<String>,
    /// The latest backoff each key was seen in (`Poll::Failed` for the key itself).
    retry_at: HashMap<usize, Instant>,
    now: Instant,
    wall: SystemTime,
    jitter: Jitter,
    issued_tokens: u64,
}

impl World {
    fn new(policy: CachePolicy) -> Self {
        let config = ClientConfig::builder(ENDPOINT, APP_ID, SECRET)
            .build()
            .unwrap_or_else(|e| panic!("the fixed configuration is refused: {e}"));
        let requests = RESOURCES
            .iter()
            .map(|resource| {
                TokenRequest::new(&config, TokenParams::for_resource(*resource).scope("read"))
                    .unwrap_or_else(|e| panic!("a fixed request is refused: {e}"))
            })
            .collect();
        let now = Instant::now();
        Self {
            cache: TokenCache::new(policy),
            policy,
            requests,
            outstanding: Vec::new(),
            spent: Vec::new(),
            tokens: Vec::new(),
            invalidated: Vec::new(),
            retry_at: HashMap::new(),
            now,
            wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            jitter: Jitter::NONE,
            issued_tokens: 0,
        }
    }

    fn request(&self, key: u8) -> &TokenRequest {
        let index = usize::from(key) % RESOURCES.len();
        match self.requests.get(index) {
            Some(request) => request,
            None => panic!("no request {index}"),
        }
    }

    /// The wall clock at `at`, running with the monotonic clock from now.
    fn wall_at(&self, at: Instant) -> SystemTime {
        self.wall + at.saturating_duration_since(self.now)
    }

    fn take_ticket(&mut self, index: u8) -> Option<Outstanding> {
        if self.outstanding.is_empty() {
            return None;
        }
        let i = usize::from(index) % self.outstanding.len();
        Some(self.outstanding.swap_remove(i))
    }

    fn spend(&mut self, ticket: Ticket) {
        if self.spent.len() >= 8 {
            let _ = self.spent.remove(0);
        }
        self.spent.push(ticket);
    }

    fn mark_dead(&mut self) {
        for o in &mut self.outstanding {
            let abandoned = self.now >= o.ticket.sent_at() + self.policy.in_flight_timeout;
            let evicted = self.cache.state(o.ticket.key()).is_none();
            assert!(
                o.dead || abandoned || !evicted,
                "a key with a request in flight was evicted"
            );
            if abandoned || evicted {
                o.dead = true;
            }
        }
    }

    fn check_served(&self, token: &Token) {
        assert!(
            self.now < self.policy.usable_until(token),
            "a token was handed out at or after expires_at - margin"
        );
        assert!(
            self.wall < self.policy.usable_until_wall(token),
            "a token was handed out at or after its wall-clock expires_at - margin"
        );
        assert!(self.now < token.expires_at());
        let value = token.access_token().expose_secret();
        assert!(
            !self.invalidated.iter().any(|v| v == value),
            "an invalidated token was handed out"
        );
    }

    fn poll(&mut self, key: u8) {
        let index = usize::from(key) % RESOURCES.len();
        let Some(request) = self.requests.get(index) else {
            panic!("no request {index}");
        };
        let held = self.cache.state(request.key()).is_some();
        match self.cache.poll(request, self.now, self.wall) {
            Poll::Ready {
                token,
                fresh_until,
                fresh_until_wall,
            } => {
                self.check_served(&token);
                assert!(fresh_until > self.now);
                assert!(fresh_until <= self.policy.usable_until(&token));
                assert!(fresh_until_wall > self.wall);
                assert!(fresh_until_wall <= self.policy.usable_until_wall(&token));
            }
            Poll::ReadyAndRefresh { token, fetch } => {
                self.check_served(&token);
                self.issued(index, fetch.ticket);
            }
            Poll::Fetch(fetch) => self.issued(index, fetch.ticket),
            Poll::Pending { until } => assert!(until > self.now),
            Poll::Failed {
                error: Error::CacheFull { .. },
                retry_at,
            } => {
                assert!(!held, "a key the cache holds was refused room");
                assert_eq!(
                    self.cache.len(),
                    self.policy.max_keys,
                    "refused with room left"
                );
                assert!(retry_at > self.now, "a refusal must wait");
                let longest = self
                    .policy
                    .max_retry_delay()
                    .max(self.policy.in_flight_timeout);
                assert!(retry_at.duration_since(self.now) <= longest);
            }
            Poll::Failed { retry_at, .. } => {
                assert!(retry_at > self.now, "a failure must wait");
                assert!(
                    retry_at.duration_since(self.now) <= self.policy.max_retry_delay(),
                    "backoff over its cap"
                );
                self.retry_at.insert(index, retry_at);
            }
            other => panic!("an unknown poll answer: {other:?}"),
        }
    }

    /// A new request for `key`: no other live request for `key` may be in flight.
    fn issued(&mut self, key: usize, ticket: Ticket) {
        if let Some(retry_at) = self.retry_at.get(&key) {
            assert!(
                self.now >= *retry_at,
                "a request was sent before its backoff ended"
            );
        }
        self.mark_dead();
        let live = self
            .outstanding
            .iter()
            .filter(|o| o.key == key && !o.dead)
            .count();
        assert_eq!(live, 0, "two requests in flight for one key");
        self.outstanding.push(Outstanding {
            ticket,
            key,
            dead: false,
        });
    }

    /// What every held key's poll answers at `at`, on a copy (polling changes state).
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

    fn check_poll_timeout(&self) {
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
            let last = horizon - Duration::from_nanos(1);
            for at in [self.now + span / 2, last] {
                if at < self.now {
                    continue;
                }
                let later = seen(&self.cache.clone().poll(request, at, self.wall_at(at)));
                assert_eq!(
                    later, answer_now,
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
        assert_eq!(overall, earliest);
        let overall_wall = self.cache.poll_timeout_wall();
        let earliest_wall = self
            .requests
            .iter()
            .filter_map(|r| self.cache.poll_timeout_wall_for(r.key()))
            .min();
        assert_eq!(overall_wall, earliest_wall);
    }

    fn next_token(&mut self) -> String {
        self.issued_tokens += 1;
        format!("tok-{}", self.issued_tokens)
    }

    /// Hands `ticket` back with `answer`; `stale` when it is known to change nothing.
    fn respond(&mut self, ticket: Ticket, key: usize, stale: bool, answer: &Answer) {
        let before = stale.then(|| self.snapshot(self.now));
        let token = self.next_token();
        let outcome = self.cache.handle_response(
            ticket.clone(),
            self.now,
            self.wall,
            self.jitter,
            &answer.response(&token),
        );
        if let Ok(token) = &outcome {
            self.check_served(token);
            self.tokens.push((key, Arc::clone(token)));
        }
        match before {
            Some(before) => assert_eq!(
                self.snapshot(self.now),
                before,
                "a stale answer changed the state"
            ),
            None => {
                if let Ok(token) = &outcome {
                    // The live request's token is handed out at once.
                    let now = seen(&self.cache.clone().poll(
                        self.request_for(key),
                        self.now,
                        self.wall,
                    ));
                    let value = token.access_token().expose_secret().to_owned();
                    assert!(
                        now == Seen::Ready(value.clone()) || now == Seen::Refresh(value),
                        "a fresh token is not handed out: {now:?}"
                    );
                }
            }
        }
        self.spend(ticket);
    }

    fn request_for(&self, key: usize) -> &TokenRequest {
        match self.requests.get(key) {
            Some(request) => request,
            None => panic!("no request {key}"),
        }
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Poll { key } => self.poll(*key),
            Op::Respond { ticket, answer } => {
                if let Some(o) = self.take_ticket(*ticket) {
                    self.respond(o.ticket, o.key, o.dead, answer);
                }
            }
            Op::TransportError { ticket, kind } => {
                if let Some(o) = self.take_ticket(*ticket) {
                    let before = o.dead.then(|| self.snapshot(self.now));
                    let error = TransportError::new(pick(&TRANSPORT_ERRORS, *kind), "reset");
                    let _ = self.cache.handle_transport_error(
                        o.ticket.clone(),
                        self.now,
                        self.jitter,
                        error,
                    );
                    if let Some(before) = before {
                        assert_eq!(
                            self.snapshot(self.now),
                            before,
                            "a stale transport error changed the state"
                        );
                    }
                    self.spend(o.ticket);
                }
            }
            Op::Cancel { ticket } => {
                if let Some(o) = self.take_ticket(*ticket) {
                    let before = o.dead.then(|| self.snapshot(self.now));
                    self.cache.cancel(o.ticket.clone(), self.now);
                    if let Some(before) = before {
                        assert_eq!(
                            self.snapshot(self.now),
                            before,
                            "a stale cancel changed the state"
                        );
                    }
                    self.spend(o.ticket);
                }
            }
            Op::Invalidate { key, token } => {
                if !self.tokens.is_empty() {
                    let index = usize::from(*token) % self.tokens.len();
                    if let Some((_, token)) = self.tokens.get(index).cloned() {
                        let key = self.request(*key).key().clone();
                        if self.cache.invalidate(&key, &token, self.now) {
                            // A second invalidation of the same token does nothing.
                            assert!(!self.cache.invalidate(&key, &token, self.now));
                            self.invalidated
                                .push(token.access_token().expose_secret().to_owned());
                        }
                    }
                }
            }
            Op::Advance { scale, amount } => {
                self.now += span(*scale, *amount);
                self.wall += span(*scale, *amount);
            }
            Op::Suspend { scale, amount } => self.wall += span(*scale, *amount),
            Op::WallBack { scale, amount } => self.wall -= span(*scale, *amount),
            // No store: nothing to answer, no other replica.
            Op::StoreAnswer { .. }
            | Op::StoreEntry { .. }
            | Op::StoreFail { .. }
            | Op::Switch { .. }
            | Op::StoreMode { .. } => {}
            Op::Jitter { value } => self.jitter = Jitter::new(f64::from(*value) / 256.0),
            Op::JumpToTimeout { key, offset } => {
                let timeout = match key % 4 {
                    3 => self.cache.poll_timeout(),
                    k => self.cache.poll_timeout_for(self.request(k).key()),
                };
                if let Some(at) = timeout {
                    let at = match offset % 3 {
                        0 => Some(at),
                        1 => at.checked_sub(Duration::from_nanos(1)),
                        _ => at.checked_add(Duration::from_nanos(1)),
                    };
                    if let Some(at) = at.filter(|at| *at > self.now) {
                        self.wall = self.wall_at(at);
                        self.now = at;
                    }
                }
            }
            Op::Replay { spent, answer } => {
                if !self.spent.is_empty() {
                    let index = usize::from(*spent) % self.spent.len();
                    if let Some(ticket) = self.spent.get(index).cloned() {
                        let key = RESOURCES
                            .iter()
                            .position(|r| ticket.key().resource() == Some(*r))
                            .unwrap_or(0);
                        self.respond(ticket, key, true, answer);
                    }
                }
            }
        }
        assert!(
            self.cache.len() <= self.policy.max_keys,
            "the key bound was exceeded"
        );
        self.mark_dead();
        self.check_poll_timeout();
    }
}

/// The checks.
pub fn check(input: &StateMachineInput, _mode: Mode) {
    let replicas = input.policy.replicas();
    if replicas > 0 {
        let mut fleet = Fleet::new(input.policy.policy(), replicas, input.policy.skew());
        for op in input.ops.0.iter().take(MAX_OPS) {
            fleet.step(op);
        }
        return;
    }
    let mut world = World::new(input.policy.policy());
    for op in input.ops.0.iter().take(MAX_OPS) {
        world.step(op);
    }
}
