//! The `state_machine` target with a shared store: one to three replicas, each a `TokenCache`
//! built `with_shared_store`, share one simulated store (entries and locks with their expiry, on
//! the true clock) and one simulated token endpoint. The replicas' wall clocks are off the true
//! one by up to half the policy's `max_clock_skew` either way (so any two disagree by at most
//! `max_clock_skew`); a suspend stops one replica's monotonic clock while the true and wall clocks
//! go on. The operations of [`super::state_machine::Op`] act on the current replica; the store
//! operations answer a replica's pending store step: honestly, with the entry missing, tampered
//! with, written under another app secret, copied from another key, as any bytes, with the lock
//! held, or with a store failure; the store can also lose its writes or everything it holds.
//!
//! After every step, for every token any replica hands out (`Ready`, `ReadyAndRefresh`,
//! `ReadyAndShared`, adopted from the store, or returned by an answer):
//!
//! - the endpoint issued its value for that very key (no forged, foreign or other key's token);
//! - the true clock is before its real expiry (when the endpoint issued it, plus its lifetime)
//!   less its margin (`min(expiry_margin, lifetime / 2)`), and the replica's own clocks before its
//!   `usable_until` and `usable_until_wall`;
//! - it is not one that replica invalidated;
//!
//! and: an answer that refused an entry never adopts one; at most one live flight (store steps
//! or token request, neither abandoned by time nor evicted) per key per replica; `poll_timeout`
//! and `poll_timeout_wall` never lie; `len() <= max_keys`; nothing panics.
//!
//! The one allowance: a replica whose monotonic clock stood still (a suspend) and whose wall clock
//! was then set back has neither clock to tell it the truth; its own tokens may then be handed out
//! up to the wall clock's step back late, which is less than `max_clock_skew`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use logto_m2m_proto::{
    CachePolicy, ClientConfig, Jitter, LockOwner, Poll, SharedStep, SharedStorePolicy,
    StoreFailure, StoreKey, StoreNext, StoreOp, StoreView, StoreWrite, Ticket, Token, TokenCache,
    TokenParams, TokenRequest, TransportError,
};

use super::common::{APP_ID, ENDPOINT, SECRET, pick, seen};
use super::state_machine::{Answer, Op, RESOURCES, TRANSPORT_ERRORS, span};

/// `max_clock_skew` choices; the replicas' wall clocks stay within half of it of the true clock.
pub const MAX_SKEWS: [Duration; 2] = [Duration::from_secs(30), Duration::from_secs(60)];

/// Far enough from the machine's boot that every `Instant` subtraction the core makes reaches back.
const ORIGIN_AHEAD: Duration = Duration::from_secs(10 * 24 * 3600);

/// The store, simulated: entries and locks with their expiry, on the true clock (time since the
/// start).
#[derive(Default, Clone)]
pub struct Store {
    entries: HashMap<String, (Vec<u8>, Duration)>,
    locks: HashMap<String, (LockOwner, Duration)>,
}

impl Store {
    fn entry(&self, key: &StoreKey, at: Duration) -> Option<Vec<u8>> {
        self.entries
            .get(key.id())
            .filter(|(_, until)| at < *until)
            .map(|(bytes, _)| bytes.clone())
    }

    fn locked(&self, key: &StoreKey, at: Duration) -> bool {
        self.locks
            .get(key.id())
            .is_some_and(|(_, until)| at < *until)
    }

    fn try_lock(&mut self, key: &StoreKey, owner: LockOwner, ttl: Duration, at: Duration) -> bool {
        if self.locked(key, at) {
            return false;
        }
        self.locks
            .insert(key.id().to_owned(), (owner, at.saturating_add(ttl)));
        true
    }

    fn write(&mut self, write: &StoreWrite, at: Duration) {
        if let Some(entry) = &write.entry {
            self.entries.insert(
                write.key.id().to_owned(),
                (entry.bytes.clone(), at.saturating_add(entry.ttl)),
            );
        }
        if let Some(owner) = write.release {
            if self
                .locks
                .get(write.key.id())
                .is_some_and(|(held, _)| *held == owner)
            {
                self.locks.remove(write.key.id());
            }
        }
    }
}

/// How the store takes writes ([`Op::StoreMode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    Kept,
    /// Every write fails (out of memory, read-only): nothing is kept.
    Fail,
}

/// A token the endpoint issued.
#[derive(Debug, Clone)]
struct Issued {
    key: usize,
    /// When it stops being valid, on the true clock.
    real_expiry: Duration,
    margin: Duration,
}

/// A store step a replica has to carry out.
struct Step {
    ticket: Ticket,
    /// No longer counts: abandoned by time, or its key was evicted.
    dead: bool,
    key: usize,
    store_key: StoreKey,
    op: StoreOp,
}

/// A token request a replica has sent.
struct Sent {
    ticket: Ticket,
    dead: bool,
    key: usize,
}

/// One replica: its cache and clocks, and what it has in flight.
struct Replica {
    cache: TokenCache,
    /// How far its monotonic clock is behind the true one (its suspends).
    lag: Duration,
    /// How far its wall clock is ahead of the true one, in milliseconds (negative: behind).
    skew_ms: i64,
    suspended: bool,
    set_back: bool,
    steps: Vec<Step>,
    sent: Vec<Sent>,
    /// Tickets already handed back (the latest few).
    spent: Vec<(Ticket, usize)>,
    /// Every token it was handed, with its key.
    tokens: Vec<(usize, Arc<Token>)>,
    invalidated: Vec<String>,
    jitter: Jitter,
    owners: u64,
}

/// The fleet, the store and the endpoint.
pub struct Fleet {
    policy: CachePolicy,
    store_policy: SharedStorePolicy,
    requests: Vec<TokenRequest>,
    /// The same keys under another app secret, for entries written with it.
    rotated: Vec<TokenRequest>,
    origin: Instant,
    wall_origin: SystemTime,
    /// The true clock: time since the start.
    elapsed: Duration,
    replicas: Vec<Replica>,
    current: usize,
    store: Store,
    writes: Writes,
    issued: HashMap<String, Issued>,
    /// Token requests sent, per key.
    sent_per_key: Vec<usize>,
    tokens_issued: u64,
    nonces: u64,
}

fn config(secret: &str) -> ClientConfig {
    ClientConfig::builder(ENDPOINT, APP_ID, secret)
        .build()
        .unwrap_or_else(|e| panic!("the fixed configuration is refused: {e}"))
}

fn requests(config: &ClientConfig) -> Vec<TokenRequest> {
    RESOURCES
        .iter()
        .map(|resource| {
            TokenRequest::new(config, TokenParams::for_resource(*resource).scope("read"))
                .unwrap_or_else(|e| panic!("a fixed request is refused: {e}"))
        })
        .collect()
}

const FAILURES: [StoreFailure; 3] = [
    StoreFailure::Unavailable,
    StoreFailure::TimedOut,
    StoreFailure::Refused,
];

impl Fleet {
    /// `replicas` (1 to 3) replicas under `policy`, with `max_clock_skew` [`MAX_SKEWS`]`[skew % 2]`;
    /// their wall clocks start at the extremes allowed (half the skew ahead, half behind, on time).
    pub fn new(policy: CachePolicy, replicas: usize, skew: u8) -> Self {
        let max_skew = pick(&MAX_SKEWS, skew);
        let store_policy = SharedStorePolicy::default().with_max_clock_skew(max_skew);
        let half = i64::try_from(max_skew.as_millis() / 2).unwrap_or(0);
        let replicas = (0..replicas.clamp(1, 3))
            .map(|i| Replica {
                cache: TokenCache::new(policy).with_shared_store(store_policy),
                lag: Duration::ZERO,
                skew_ms: [half, -half, 0][i % 3],
                suspended: false,
                set_back: false,
                steps: Vec::new(),
                sent: Vec::new(),
                spent: Vec::new(),
                tokens: Vec::new(),
                invalidated: Vec::new(),
                jitter: Jitter::NONE,
                owners: 0,
            })
            .collect();
        let origin = Instant::now();
        let origin = origin.checked_add(ORIGIN_AHEAD).unwrap_or(origin);
        Self {
            policy,
            store_policy,
            requests: requests(&config(SECRET)),
            rotated: requests(&config("rotated-secret")),
            origin,
            wall_origin: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            elapsed: Duration::ZERO,
            replicas,
            current: 0,
            store: Store::default(),
            writes: Writes::Kept,
            issued: HashMap::new(),
            sent_per_key: vec![0; RESOURCES.len()],
            tokens_issued: 0,
            nonces: 0,
        }
    }

    /// Token requests sent so far, per key (across every replica).
    pub fn sent_per_key(&self) -> &[usize] {
        &self.sent_per_key
    }

    /// The true clock: time since the start.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    fn replica(&self, r: usize) -> &Replica {
        match self.replicas.get(r) {
            Some(replica) => replica,
            None => panic!("no replica {r}"),
        }
    }

    fn replica_mut(&mut self, r: usize) -> &mut Replica {
        match self.replicas.get_mut(r) {
            Some(replica) => replica,
            None => panic!("no replica {r}"),
        }
    }

    fn request(&self, key: usize) -> &TokenRequest {
        match self.requests.get(key % RESOURCES.len()) {
            Some(request) => request,
            None => panic!("no request {key}"),
        }
    }

    /// Replica `r`'s monotonic clock.
    fn now(&self, r: usize) -> Instant {
        self.origin + self.elapsed.saturating_sub(self.replica(r).lag)
    }

    /// Replica `r`'s wall clock.
    fn wall(&self, r: usize) -> SystemTime {
        let wall = self.wall_origin + self.elapsed;
        let skew = self.replica(r).skew_ms;
        let by = Duration::from_millis(skew.unsigned_abs());
        if skew >= 0 { wall + by } else { wall - by }
    }

    fn next_nonce(&mut self) -> [u8; 24] {
        self.nonces += 1;
        let mut nonce = [0u8; 24];
        for (to, from) in nonce.iter_mut().zip(self.nonces.to_be_bytes()) {
            *to = from;
        }
        nonce
    }

    fn next_owner(&mut self, r: usize) -> LockOwner {
        let replica = self.replica_mut(r);
        replica.owners += 1;
        let mut bytes = [0u8; 16];
        bytes[0] = u8::try_from(r).unwrap_or(0xff);
        for (to, from) in bytes.iter_mut().skip(8).zip(replica.owners.to_be_bytes()) {
            *to = from;
        }
        LockOwner::new(bytes)
    }

    /// The checks on a token replica `r` hands out for `key` now.
    /// Replica `r` starts a shared flight for `key` with `step`, its first store operation.
    fn start_shared(&mut self, r: usize, key: usize, step: SharedStep) {
        self.starts(r, key);
        assert_eq!(step.op, StoreOp::Read, "a shared flight starts with a read");
        self.replica_mut(r).steps.push(Step {
            ticket: step.ticket,
            dead: false,
            key,
            store_key: step.key,
            op: step.op,
        });
    }

    fn check_served(&self, r: usize, key: usize, token: &Token) {
        let value = token.access_token().expose_secret();
        let Some(issued) = self.issued.get(value) else {
            panic!("replica {r} handed out a token the endpoint never issued: {value}");
        };
        assert_eq!(
            issued.key, key,
            "replica {r} handed out another key's token for key {key}"
        );
        let replica = self.replica(r);
        let allowance = if replica.suspended && replica.set_back {
            self.store_policy.max_clock_skew
        } else {
            Duration::ZERO
        };
        assert!(
            self.elapsed
                < issued
                    .real_expiry
                    .saturating_sub(issued.margin)
                    .saturating_add(allowance),
            "replica {r} handed out a token past its real expiry less its margin"
        );
        assert!(self.now(r) < self.policy.usable_until(token));
        assert!(self.wall(r) < self.policy.usable_until_wall(token));
        assert!(
            !replica.invalidated.iter().any(|v| v == value),
            "replica {r} handed out a token it invalidated"
        );
    }

    /// Marks the flights of every replica that no longer count: abandoned by time, or of an
    /// evicted key. A key with a live flight is never evicted.
    fn mark_dead(&mut self) {
        for r in 0..self.replicas.len() {
            let now = self.now(r);
            let timeout = self.policy.in_flight_timeout;
            let replica = self.replica_mut(r);
            let cache = &replica.cache;
            let tickets = replica
                .steps
                .iter_mut()
                .map(|s| (&s.ticket, &mut s.dead))
                .chain(replica.sent.iter_mut().map(|s| (&s.ticket, &mut s.dead)));
            for (ticket, dead) in tickets {
                let abandoned = now >= ticket.sent_at() + timeout;
                let evicted = cache.state(ticket.key()).is_none();
                assert!(
                    *dead || abandoned || !evicted,
                    "a key with a flight was evicted"
                );
                *dead |= abandoned || evicted;
            }
        }
    }

    /// The live flights of replica `r` for `key`.
    fn live_flights(&self, r: usize, key: usize) -> usize {
        let replica = self.replica(r);
        let steps = replica.steps.iter().filter(|s| s.key == key && !s.dead);
        let sent = replica.sent.iter().filter(|s| s.key == key && !s.dead);
        steps.count() + sent.count()
    }

    /// A flight starts on replica `r` for `key`: no other may be live.
    fn starts(&mut self, r: usize, key: usize) {
        self.mark_dead();
        assert_eq!(
            self.live_flights(r, key),
            0,
            "replica {r} has two flights for key {key}"
        );
    }

    /// Replica `r` polls `key`.
    pub fn poll(&mut self, r: usize, key: usize) {
        let key = key % RESOURCES.len();
        let (now, wall) = (self.now(r), self.wall(r));
        let request = self.request(key).clone();
        let poll = self.replica_mut(r).cache.poll(&request, now, wall);
        match poll {
            Poll::Ready {
                token,
                fresh_until,
                fresh_until_wall,
            } => {
                self.check_served(r, key, &token);
                assert!(fresh_until > now && fresh_until <= self.policy.usable_until(&token));
                assert!(
                    fresh_until_wall > wall
                        && fresh_until_wall <= self.policy.usable_until_wall(&token)
                );
            }
            Poll::ReadyAndRefresh { token, fetch } => {
                self.check_served(r, key, &token);
                self.starts(r, key);
                self.send(r, key, fetch.ticket);
            }
            Poll::ReadyAndShared { token, step } => {
                self.check_served(r, key, &token);
                self.start_shared(r, key, step);
            }
            Poll::Fetch(fetch) => {
                self.starts(r, key);
                self.send(r, key, fetch.ticket);
            }
            Poll::Shared(step) => {
                self.start_shared(r, key, step);
            }
            Poll::Pending { until } => assert!(until > now),
            Poll::Failed { retry_at, .. } => assert!(retry_at > now, "a failure must wait"),
            other => panic!("an unknown poll answer: {other:?}"),
        }
    }

    fn send(&mut self, r: usize, key: usize, ticket: Ticket) {
        if let Some(count) = self.sent_per_key.get_mut(key) {
            *count += 1;
        }
        self.replica_mut(r).sent.push(Sent {
            ticket,
            dead: false,
            key,
        });
    }

    fn spend(&mut self, r: usize, ticket: Ticket, key: usize) {
        let spent = &mut self.replica_mut(r).spent;
        if spent.len() >= 8 {
            let _ = spent.remove(0);
        }
        spent.push((ticket, key));
    }

    /// The endpoint answers replica `r`'s request `index % n` with `answer`; the replica then
    /// writes to the store what its flight owes it.
    pub fn respond(&mut self, r: usize, index: u8, answer: &Answer) {
        let replica = self.replica_mut(r);
        if replica.sent.is_empty() {
            return;
        }
        let i = usize::from(index) % replica.sent.len();
        let Sent { ticket, key, .. } = replica.sent.swap_remove(i);
        self.answer(r, ticket, key, answer, true);
    }

    fn answer(&mut self, r: usize, ticket: Ticket, key: usize, answer: &Answer, write: bool) {
        let (now, wall) = (self.now(r), self.wall(r));
        self.tokens_issued += 1;
        let value = format!("tok-{}", self.tokens_issued);
        let jitter = self.replica(r).jitter;
        let outcome = self.replica_mut(r).cache.handle_response(
            ticket.clone(),
            now,
            wall,
            jitter,
            &answer.response(&value),
        );
        if let Ok(token) = &outcome {
            // Issued now by the true clock, for the lifetime the client counts (at most the
            // server's: the client clamps, never extends).
            self.issued.insert(
                token.access_token().expose_secret().to_owned(),
                Issued {
                    key,
                    real_expiry: self.elapsed.saturating_add(token.lifetime()),
                    margin: self.policy.margin_for(token),
                },
            );
            self.check_served(r, key, token);
            self.replica_mut(r).tokens.push((key, Arc::clone(token)));
        }
        if write {
            let nonce = self.next_nonce();
            let token = outcome.as_deref().ok();
            let store_write = self
                .replica(r)
                .cache
                .store_write(&ticket, token, now, wall, jitter, nonce);
            if let Some(store_write) = store_write {
                if let Some(entry) = &store_write.entry {
                    assert!(!entry.ttl.is_zero(), "an entry with no life is written");
                    assert!(
                        token.is_some_and(|t| entry.ttl
                            <= self.policy.usable_until(t).saturating_duration_since(now)),
                        "an entry outlives its token's usable life"
                    );
                }
                self.write(r, &store_write);
            }
        }
        self.spend(r, ticket, key);
    }

    fn write(&mut self, r: usize, write: &StoreWrite) {
        let now = self.now(r);
        let result = match self.writes {
            Writes::Kept => {
                self.store.write(write, self.elapsed);
                Ok(())
            }
            Writes::Fail => Err(StoreFailure::Refused),
        };
        let _ = self.replica_mut(r).cache.handle_store_write(now, result);
    }

    /// Replica `r`'s request `index % n` fails in transport.
    pub fn transport_error(&mut self, r: usize, index: u8, kind: u8) {
        let replica = self.replica_mut(r);
        if replica.sent.is_empty() {
            return;
        }
        let i = usize::from(index) % replica.sent.len();
        let Sent { ticket, key, .. } = replica.sent.swap_remove(i);
        let (now, wall) = (self.now(r), self.wall(r));
        let jitter = self.replica(r).jitter;
        let error = TransportError::new(pick(&TRANSPORT_ERRORS, kind), "reset");
        let _ =
            self.replica_mut(r)
                .cache
                .handle_transport_error(ticket.clone(), now, jitter, error);
        let nonce = self.next_nonce();
        if let Some(write) =
            self.replica(r)
                .cache
                .store_write(&ticket, None, now, wall, Jitter::NONE, nonce)
        {
            assert!(write.entry.is_none(), "a failed request publishes nothing");
            self.write(r, &write);
        }
        self.spend(r, ticket, key);
    }

    /// The caller of replica `r`'s flight `index % n` (store steps first, then requests) went
    /// away.
    pub fn cancel(&mut self, r: usize, index: u8) {
        let now = self.now(r);
        let replica = self.replica_mut(r);
        let total = replica.steps.len() + replica.sent.len();
        if total == 0 {
            return;
        }
        let i = usize::from(index) % total;
        let ticket = if i < replica.steps.len() {
            replica.steps.swap_remove(i).ticket
        } else {
            replica.sent.swap_remove(i - replica.steps.len()).ticket
        };
        // A request cancelled after it was sent still owes the store its lock: it is released.
        let (wall, nonce) = (self.wall(r), self.next_nonce());
        let write =
            self.replica(r)
                .cache
                .store_write(&ticket, None, now, wall, Jitter::NONE, nonce);
        self.replica_mut(r).cache.cancel(ticket, now);
        if let Some(write) = write {
            self.write(r, &write);
        }
    }

    /// Replica `r` drops token `index % n` of those it was handed, for `key`.
    pub fn invalidate(&mut self, r: usize, key: usize, index: u8) {
        let now = self.now(r);
        let replica = self.replica_mut(r);
        if replica.tokens.is_empty() {
            return;
        }
        let i = usize::from(index) % replica.tokens.len();
        let Some((_, token)) = replica.tokens.get(i).cloned() else {
            return;
        };
        let key = self.request(key).key().clone();
        let replica = self.replica_mut(r);
        if replica.cache.invalidate(&key, &token, now) {
            assert!(!replica.cache.invalidate(&key, &token, now));
            replica
                .invalidated
                .push(token.access_token().expose_secret().to_owned());
        }
    }

    /// The true clock moves; every replica's clocks with it.
    pub fn advance(&mut self, by: Duration) {
        self.elapsed = self.elapsed.saturating_add(by);
    }

    /// Replica `r` sleeps for `by`: its monotonic clock stands still, the rest goes on.
    pub fn suspend(&mut self, r: usize, by: Duration) {
        self.advance(by);
        let replica = self.replica_mut(r);
        replica.lag = replica.lag.saturating_add(by);
        replica.suspended = true;
    }

    /// Replica `r`'s wall clock is stepped to `raw` mapped into the allowed skew.
    pub fn set_skew(&mut self, r: usize, raw: u16) {
        let range = i64::try_from(self.store_policy.max_clock_skew.as_millis()).unwrap_or(0);
        let skew = if range == 0 {
            0
        } else {
            i64::from(raw) % (range + 1) - range / 2
        };
        let replica = self.replica_mut(r);
        if skew < replica.skew_ms {
            replica.set_back = true;
        }
        replica.skew_ms = skew;
    }

    /// Moves the true clock to replica `r`'s `poll_timeout` (for `key`, or all keys with
    /// `None`), `offset % 3`: exactly, a nanosecond before, a nanosecond after.
    pub fn jump_to_timeout(&mut self, r: usize, key: Option<usize>, offset: u8) {
        let cache = &self.replica(r).cache;
        let timeout = match key {
            None => cache.poll_timeout(),
            Some(k) => cache.poll_timeout_for(self.request(k).key()),
        };
        let Some(at) = timeout else { return };
        let at = match offset % 3 {
            0 => Some(at),
            1 => at.checked_sub(Duration::from_nanos(1)),
            _ => at.checked_add(Duration::from_nanos(1)),
        };
        let now = self.now(r);
        if let Some(at) = at.filter(|at| *at > now) {
            self.advance(at - now);
        }
    }

    /// Replica `r` hands back, again, spent ticket `index % n` with `answer` (nothing written).
    pub fn replay(&mut self, r: usize, index: u8, answer: &Answer) {
        let spent = &self.replica(r).spent;
        if spent.is_empty() {
            return;
        }
        let i = usize::from(index) % spent.len();
        if let Some((ticket, key)) = spent.get(i).cloned() {
            self.answer(r, ticket, key, answer, false);
        }
    }

    /// How the store answers a step ([`Op::StoreAnswer`]'s `how`, [`Op::StoreEntry`],
    /// [`Op::StoreFail`]).
    fn take_step(&mut self, r: usize, index: u8) -> Option<Step> {
        let steps = &mut self.replica_mut(r).steps;
        if steps.is_empty() {
            return None;
        }
        let i = usize::from(index) % steps.len();
        Some(steps.swap_remove(i))
    }

    /// The store answers replica `r`'s step `index % n`: `how % 8` for a read: 0-2 honestly, 3
    /// with no entry, 4 with the entry tampered with (byte `how / 8` flipped), 5 with an entry
    /// written under another app secret, 6 with another key's entry, 7 honestly but with the lock
    /// free; for a lock, `how % 4`: 0-2 honestly, 3 held by someone else; a wait is over (the
    /// step reads again).
    pub fn store_answer(&mut self, r: usize, index: u8, how: u8) {
        let Some(step) = self.take_step(r, index) else {
            return;
        };
        match step.op {
            StoreOp::Read => {
                let honest = self.store.entry(&step.store_key, self.elapsed);
                let locked = self.store.locked(&step.store_key, self.elapsed);
                let (entry, locked) = match how % 8 {
                    3 => (None, locked),
                    4 => (
                        honest.map(|mut bytes| {
                            let len = bytes.len().max(1);
                            if let Some(b) = bytes.get_mut(usize::from(how / 8) * 7 % len) {
                                *b ^= 0x5a;
                            }
                            bytes
                        }),
                        locked,
                    ),
                    5 => (Some(self.rotated_entry(r, step.key)), locked),
                    6 => {
                        let other = self.request(step.key + 1 + usize::from(how / 8) % 2);
                        let other = StoreKey::of(other.key());
                        (self.store.entry(&other, self.elapsed), locked)
                    }
                    7 => (honest, false),
                    _ => (honest, locked),
                };
                self.read(r, step, Ok(StoreView::new(entry, locked)));
            }
            StoreOp::Lock { ttl } => {
                let owner = self.next_owner(r);
                let won = how % 4 != 3
                    && self
                        .store
                        .try_lock(&step.store_key, owner, ttl, self.elapsed);
                self.lock(r, step, Ok(won.then_some(owner)));
            }
            StoreOp::Wait { until } => {
                assert!(until > step.ticket.sent_at(), "a wait with no time");
                self.replica_mut(r).steps.push(Step {
                    op: StoreOp::Read,
                    ..step
                });
            }
            other => panic!("an unknown store op: {other:?}"),
        }
    }

    /// The store answers replica `r`'s step `index % n` with `bytes` as the entry (a read), or as
    /// [`store_answer`](Self::store_answer) does.
    pub fn store_entry(&mut self, r: usize, index: u8, bytes: &[u8]) {
        let Some(step) = self.take_step(r, index) else {
            return;
        };
        if step.op != StoreOp::Read {
            self.replica_mut(r).steps.push(step);
            return self.store_answer(r, index, 0);
        }
        let locked = self.store.locked(&step.store_key, self.elapsed);
        self.read(r, step, Ok(StoreView::new(Some(bytes.to_vec()), locked)));
    }

    /// Replica `r`'s step `index % n` fails in the store, with failure `kind % 3`.
    pub fn store_fail(&mut self, r: usize, index: u8, kind: u8) {
        let Some(step) = self.take_step(r, index) else {
            return;
        };
        let failure = pick(&FAILURES, kind);
        match step.op {
            StoreOp::Lock { .. } => self.lock(r, step, Err(failure)),
            _ => self.read(r, step, Err(failure)),
        }
    }

    /// The store takes writes (`mode % 3` 0), fails them (1), or loses everything it holds (2).
    pub fn store_mode(&mut self, mode: u8) {
        match mode % 3 {
            0 => self.writes = Writes::Kept,
            1 => self.writes = Writes::Fail,
            _ => self.store = Store::default(),
        }
    }

    /// An entry for `key` sealed under another app secret, as a rotation leaves behind; its token
    /// was never issued for this app.
    fn rotated_entry(&mut self, r: usize, key: usize) -> Vec<u8> {
        let (now, wall) = (self.now(r), self.wall(r));
        let request = match self.rotated.get(key % RESOURCES.len()) {
            Some(request) => request.clone(),
            None => panic!("no rotated request {key}"),
        };
        let mut cache = TokenCache::new(self.policy).with_shared_store(self.store_policy);
        let Poll::Shared(step) = cache.poll(&request, now, wall) else {
            panic!("a fresh cache with a store starts with the store");
        };
        let _ = cache.handle_store_read(
            &step.ticket,
            now,
            wall,
            Jitter::NONE,
            Ok(StoreView::default()),
        );
        let owner = LockOwner::new([0xee; 16]);
        let StoreNext::Fetch(fetch) = cache
            .handle_store_lock(&step.ticket, now, wall, Ok(Some(owner)))
            .next
        else {
            panic!("a won lock sends the request");
        };
        let ticket = fetch.ticket;
        let answer = Answer::Token {
            expires_in: 0,
            form: 0,
        };
        let token = cache
            .handle_response(
                ticket.clone(),
                now,
                wall,
                Jitter::NONE,
                &answer.response("rotated-secret-token"),
            )
            .unwrap_or_else(|e| panic!("an hour's token is refused: {e}"));
        let nonce = self.next_nonce();
        cache
            .store_write(&ticket, Some(&token), now, wall, Jitter::NONE, nonce)
            .and_then(|write| write.entry)
            .map(|entry| entry.bytes)
            .unwrap_or_else(|| panic!("an hour's token is not published"))
    }

    fn read(&mut self, r: usize, step: Step, result: Result<StoreView, StoreFailure>) {
        let (now, wall) = (self.now(r), self.wall(r));
        let jitter = self.replica(r).jitter;
        let answer =
            self.replica_mut(r)
                .cache
                .handle_store_read(&step.ticket, now, wall, jitter, result);
        if answer.refused.is_some() {
            assert!(
                !matches!(answer.next, StoreNext::Adopted(_)),
                "an entry was refused and adopted"
            );
        }
        self.next(r, step, answer.next);
    }

    fn lock(&mut self, r: usize, step: Step, result: Result<Option<LockOwner>, StoreFailure>) {
        let (now, wall) = (self.now(r), self.wall(r));
        let answer = self
            .replica_mut(r)
            .cache
            .handle_store_lock(&step.ticket, now, wall, result);
        assert!(answer.refused.is_none(), "a lock refuses no entry");
        self.next(r, step, answer.next);
    }

    fn next(&mut self, r: usize, step: Step, next: StoreNext) {
        match next {
            StoreNext::Op(op) => {
                if let StoreOp::Wait { until } = op {
                    let now = self.now(r);
                    assert!(until > now, "a wait that is already over");
                    assert!(
                        until <= now + self.store_policy.lock_ttl,
                        "a wait longer than the lock's lifetime"
                    );
                }
                self.replica_mut(r).steps.push(Step { op, ..step });
            }
            StoreNext::Fetch(fetch) => self.send(r, step.key, fetch.ticket),
            StoreNext::Adopted(token) => {
                self.check_served(r, step.key, &token);
                self.replica_mut(r).tokens.push((step.key, token));
            }
            StoreNext::Over => {}
            other => panic!("an unknown store answer: {other:?}"),
        }
    }

    /// `poll_timeout` and `poll_timeout_wall` of replica `r` never lie, and the key bound holds.
    fn check_replica(&self, r: usize) {
        let replica = self.replica(r);
        let cache = &replica.cache;
        assert!(
            cache.len() <= self.policy.max_keys.max(1),
            "the key bound was exceeded"
        );
        let (now, wall) = (self.now(r), self.wall(r));
        let wall_at = |at: Instant| wall + at.saturating_duration_since(now);
        for request in &self.requests {
            if cache.state(request.key()).is_none() {
                continue;
            }
            let answer_now = seen(&cache.clone().poll(request, now, wall));
            let until = cache.poll_timeout_for(request.key());
            let until_wall = cache
                .poll_timeout_wall_for(request.key())
                .map(|w| now + w.duration_since(wall).unwrap_or_default());
            let horizon = [until, until_wall]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now + Duration::from_secs(10 * 24 * 3600));
            if horizon <= now {
                continue;
            }
            let last = horizon - Duration::from_nanos(1);
            for at in [now + (horizon - now) / 2, last] {
                let later = seen(&cache.clone().poll(request, at, wall_at(at)));
                assert_eq!(
                    later, answer_now,
                    "poll_timeout lied: the answer changed before it"
                );
            }
        }
        let earliest = self
            .requests
            .iter()
            .filter_map(|q| cache.poll_timeout_for(q.key()))
            .min();
        assert_eq!(cache.poll_timeout(), earliest);
    }

    /// One operation, on the current replica.
    pub fn step(&mut self, op: &Op) {
        let r = self.current;
        match op {
            Op::Poll { key } => self.poll(r, usize::from(*key)),
            Op::Respond { ticket, answer } => self.respond(r, *ticket, answer),
            Op::TransportError { ticket, kind } => self.transport_error(r, *ticket, *kind),
            Op::Cancel { ticket } => self.cancel(r, *ticket),
            Op::Invalidate { key, token } => self.invalidate(r, usize::from(*key), *token),
            Op::Advance { scale, amount } => self.advance(span(*scale, *amount)),
            Op::Jitter { value } => {
                self.replica_mut(r).jitter = Jitter::new(f64::from(*value) / 256.0);
            }
            Op::JumpToTimeout { key, offset } => {
                let key = (key % 4 != 3).then_some(usize::from(key % 4));
                self.jump_to_timeout(r, key, *offset);
            }
            Op::Replay { spent, answer } => self.replay(r, *spent, answer),
            Op::Suspend { scale, amount } => self.suspend(r, span(*scale, *amount)),
            Op::WallBack { scale, amount } => {
                self.set_skew(r, u16::from_be_bytes([*scale, *amount]));
            }
            Op::StoreAnswer { step, how } => self.store_answer(r, *step, *how),
            Op::StoreEntry { step, entry } => self.store_entry(r, *step, &entry.0),
            Op::StoreFail { step, kind } => self.store_fail(r, *step, *kind),
            Op::Switch { replica } => self.current = usize::from(*replica) % self.replicas.len(),
            Op::StoreMode { mode } => self.store_mode(*mode),
        }
        self.mark_dead();
        for r in 0..self.replicas.len() {
            self.check_replica(r);
        }
    }

    /// Carries out replica `r`'s first pending flight for `key` to its end with an honest store
    /// and an endpoint that answers at once with an hour's token: for the bound on requests.
    pub fn drive_healthy(&mut self, r: usize, key: usize) {
        for _ in 0..16 {
            let replica = self.replica(r);
            if let Some(i) = replica.steps.iter().position(|s| s.key == key) {
                let index = u8::try_from(i).unwrap_or(0);
                self.store_answer(r, index, 0);
                continue;
            }
            if let Some(i) = replica.sent.iter().position(|s| s.key == key) {
                let answer = Answer::Token {
                    expires_in: 0,
                    form: 0,
                };
                self.respond(r, u8::try_from(i).unwrap_or(0), &answer);
                continue;
            }
            return;
        }
        panic!("a healthy flight did not end within 16 steps");
    }
}
