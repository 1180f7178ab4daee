//! The replicas of a fleet, driven event by event.
//!
//! Each replica has one `TokenCache` (with the shared store's default policy, or without a
//! store) and, for each key, callers that use the key every `poll_every`, on a grid of their own
//! phase. A caller acts on every answer of the core: it uses a `Ready` token (and skips the polls
//! that would answer the same, until the answer's `fresh_until`), sends the token request of a
//! `Fetch` or `ReadyAndRefresh`, carries out the store operations of a `Shared` or
//! `ReadyAndShared` flight, and after `Pending` or `Failed` uses the key again at its next tick (or
//! at the retry time). A refresh runs as a flight of its own, beside the callers.
//!
//! A store operation takes [`STORE_LATENCY`]; a token request is answered after 50–300 ms, by a
//! token issued halfway through. A flight told to wait for another replica's entry is woken by the
//! publication of an entry for its key (as by a notification), or after the store policy's poll
//! interval, but not past the wait's deadline, and then reads again.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use fastrand::Rng;
use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    ConfigError, Fetch, Jitter, LockOwner, Poll, SharedStep, SharedStorePolicy, StoreAnswer,
    StoreKey, StoreNext, StoreOp, StoreWrite, Ticket, Token, TokenCache, TokenParams, TokenRequest,
};

use super::busiest_window::BusiestWindow;
use super::clock::{SimClock, WallSkew};
use super::endpoint::SimEndpoint;
use super::events::EventQueue;
use super::store::SimStore;
use super::{FleetConfig, FleetCounts};

/// How long one store operation takes (a store in the same region).
pub const STORE_LATENCY: Duration = Duration::from_millis(1);
/// The shortest time a token request takes, in milliseconds.
const TOKEN_REQUEST_MIN_MS: u64 = 50;
/// The longest time a token request takes, in milliseconds.
const TOKEN_REQUEST_MAX_MS: u64 = 300;
/// The span of Logto's rate limit.
const RATE_LIMIT_SPAN: Duration = Duration::from_secs(10);
/// From when the busiest window "after the start" counts.
const STARTED: Duration = Duration::from_secs(3600);
/// The scope every token grants.
const SCOPE: &str = "read:items";

/// Runs `config` and says what it counted.
///
/// # Errors
///
/// None in practice: the requests of the keys are valid.
pub fn simulate(config: &FleetConfig) -> Result<FleetCounts, ConfigError> {
    Ok(Fleet::new(config)?.run())
}

/// A caller of one replica, using one key.
#[derive(Debug, Clone, Copy)]
struct Caller {
    replica: usize,
    key: usize,
}

/// A flight that goes through the shared store: its caller, ticket and place in the store.
#[derive(Debug)]
struct SharedFlight {
    caller: Caller,
    ticket: Ticket,
    store_key: StoreKey,
}

#[derive(Debug)]
enum Event {
    /// A caller uses its key.
    Use(Caller),
    /// A store operation of a shared flight reaches the store; its result comes back at once.
    StoreOp { flight: SharedFlight, op: StoreOp },
    /// A waiting flight's poll interval (or deadline) has come.
    WaitOver { wait: u64 },
    /// The answer to a token request arrives.
    TokenAnswer {
        caller: Caller,
        ticket: Ticket,
        response: Response<Vec<u8>>,
    },
    /// A replica's write (publish, release) reaches the store.
    StoreWrite { replica: usize, write: StoreWrite },
}

/// One process of the fleet.
#[derive(Debug)]
struct Replica {
    cache: TokenCache,
    skew: WallSkew,
    /// Where its callers' grid of uses starts.
    phase: Duration,
}

/// Flights waiting for another replica's entry.
#[derive(Debug, Default)]
struct Waiting {
    flights: HashMap<u64, SharedFlight>,
    by_key: HashMap<StoreKey, Vec<u64>>,
    serials: u64,
}

impl Waiting {
    fn add(&mut self, flight: SharedFlight) -> u64 {
        self.serials += 1;
        self.by_key
            .entry(flight.store_key.clone())
            .or_default()
            .push(self.serials);
        self.flights.insert(self.serials, flight);
        self.serials
    }

    fn take(&mut self, wait: u64) -> Option<SharedFlight> {
        self.flights.remove(&wait)
    }

    /// Every flight still waiting for `key`'s entry.
    fn take_all(&mut self, key: &StoreKey) -> Vec<SharedFlight> {
        let waits = self.by_key.remove(key).unwrap_or_default();
        waits
            .into_iter()
            .filter_map(|wait| self.flights.remove(&wait))
            .collect()
    }
}

struct Fleet {
    config: FleetConfig,
    clock: SimClock,
    margin: Duration,
    store_policy: SharedStorePolicy,
    requests: Vec<TokenRequest>,
    replicas: Vec<Replica>,
    store: SimStore,
    endpoint: SimEndpoint,
    queue: EventQueue<Event>,
    waiting: Waiting,
    rng: Rng,
    counts: FleetCounts,
    busiest: BusiestWindow,
    busiest_after_start: BusiestWindow,
}

impl Fleet {
    fn new(config: &FleetConfig) -> Result<Self, ConfigError> {
        let mut rng = Rng::with_seed(config.seed);
        let (cache_policy, store_policy) = (config.cache_policy, config.store_policy);
        let skew_ms = i64::try_from(config.max_wall_skew.as_millis()).unwrap_or(i64::MAX);
        let poll_every_ms = u64::try_from(config.poll_every.as_millis()).unwrap_or(u64::MAX);
        let replicas = (0..config.replicas)
            .map(|_| {
                let cache = TokenCache::new(cache_policy);
                Replica {
                    cache: if config.shared_store {
                        cache.with_shared_store(store_policy)
                    } else {
                        cache
                    },
                    skew: WallSkew::from_millis(rng.i64(-skew_ms..=skew_ms)),
                    phase: Duration::from_millis(rng.u64(0..poll_every_ms.max(1))),
                }
            })
            .collect();
        Ok(Self {
            config: *config,
            clock: SimClock::new(),
            margin: cache_policy.expiry_margin,
            store_policy,
            requests: key_requests(config.keys)?,
            replicas,
            store: SimStore::new(),
            endpoint: SimEndpoint::new(config.token_lifetime, SCOPE),
            queue: EventQueue::new(),
            waiting: Waiting::default(),
            rng,
            counts: FleetCounts::default(),
            busiest: BusiestWindow::new(RATE_LIMIT_SPAN),
            busiest_after_start: BusiestWindow::new(RATE_LIMIT_SPAN),
        })
    }

    fn run(mut self) -> FleetCounts {
        for (replica, state) in self.replicas.iter().enumerate() {
            for key in 0..self.requests.len() {
                self.queue
                    .schedule(state.phase, Event::Use(Caller { replica, key }));
            }
        }
        while let Some((now, event)) = self.queue.next_until(self.config.duration) {
            self.handle(now, event);
        }
        self.counts.busiest_10s = self.busiest.most();
        self.counts.busiest_10s_after_start = self.busiest_after_start.most();
        self.counts
    }

    fn handle(&mut self, now: Duration, event: Event) {
        match event {
            Event::Use(caller) => self.use_key(now, caller),
            Event::StoreOp { flight, op } => self.carry_out_store_op(now, flight, op),
            Event::WaitOver { wait } => {
                if let Some(flight) = self.waiting.take(wait) {
                    self.schedule_store_op(now, flight, StoreOp::Read);
                }
            }
            Event::TokenAnswer {
                caller,
                ticket,
                response,
            } => self.receive_token_answer(now, caller, ticket, &response),
            Event::StoreWrite { replica, write } => {
                self.carry_out_store_write(now, replica, &write);
            }
        }
    }

    /// The replica's clocks at `now`.
    fn clocks(&self, replica: usize, now: Duration) -> (Instant, SystemTime) {
        (
            self.clock.instant(now),
            self.clock.wall(now, self.skew(replica)),
        )
    }

    fn skew(&self, replica: usize) -> WallSkew {
        self.replicas
            .get(replica)
            .map(|replica| replica.skew)
            .unwrap_or_default()
    }

    fn phase(&self, replica: usize) -> Duration {
        self.replicas
            .get(replica)
            .map(|replica| replica.phase)
            .unwrap_or_default()
    }

    /// A caller uses its key: polls the core and acts on the answer, then comes back at its next
    /// tick, or later when the answer says it stays the same until then.
    fn use_key(&mut self, now: Duration, caller: Caller) {
        let (instant, wall) = self.clocks(caller.replica, now);
        let (Some(request), Some(replica)) = (
            self.requests.get(caller.key),
            self.replicas.get_mut(caller.replica),
        ) else {
            self.counts.unexpected += 1;
            return;
        };
        let poll = replica.cache.poll(request, instant, wall);
        let next_tick = now + Duration::from_millis(1);
        let next_use = match poll {
            Poll::Ready {
                token,
                fresh_until,
                fresh_until_wall,
            } => {
                self.check_usable(&token, now);
                let skew = self.skew(caller.replica);
                self.clock
                    .at_instant(fresh_until)
                    .min(self.clock.at_wall(fresh_until_wall, skew))
                    .max(next_tick)
            }
            Poll::ReadyAndRefresh { token, fetch } => {
                self.check_usable(&token, now);
                self.send_token_request(now, caller, fetch);
                next_tick
            }
            Poll::ReadyAndShared { token, step } => {
                self.check_usable(&token, now);
                self.start_shared_flight(now, caller, step);
                next_tick
            }
            Poll::Fetch(fetch) => {
                self.send_token_request(now, caller, fetch);
                next_tick
            }
            Poll::Shared(step) => {
                self.start_shared_flight(now, caller, step);
                next_tick
            }
            Poll::Pending { .. } => {
                self.counts.pending += 1;
                next_tick
            }
            Poll::Failed { retry_at, .. } => {
                self.counts.failed += 1;
                self.clock.at_instant(retry_at).max(next_tick)
            }
            _ => {
                self.counts.unexpected += 1;
                next_tick
            }
        };
        let at = self.tick_at_or_after(caller, next_use);
        self.queue.schedule(at, Event::Use(caller));
    }

    /// The first tick of `caller`'s grid at or after `at`.
    fn tick_at_or_after(&self, caller: Caller, at: Duration) -> Duration {
        let phase = self.phase(caller.replica);
        let every = self.config.poll_every.as_nanos().max(1);
        let since_phase = at.saturating_sub(phase).as_nanos();
        let ticks = u64::try_from(since_phase.div_ceil(every)).unwrap_or(u64::MAX);
        phase
            + self
                .config
                .poll_every
                .saturating_mul(u32::try_from(ticks).unwrap_or(u32::MAX))
    }

    /// Counts a token handed out at `now` at or after its real expiry less the margin.
    fn check_usable(&mut self, token: &Token, now: Duration) {
        let expiry = self
            .endpoint
            .expiry_of(token.access_token().expose_secret());
        if expiry.is_none_or(|expiry| now + self.margin >= expiry) {
            self.counts.used_too_late += 1;
        }
    }

    fn send_token_request(&mut self, now: Duration, caller: Caller, fetch: Fetch) {
        self.counts.token_requests += 1;
        self.busiest.record(now);
        if now >= STARTED {
            self.busiest_after_start.record(now);
        }
        let took = Duration::from_millis(self.rng.u64(TOKEN_REQUEST_MIN_MS..=TOKEN_REQUEST_MAX_MS));
        let response = self.endpoint.issue(now + took / 2);
        self.queue.schedule(
            now + took,
            Event::TokenAnswer {
                caller,
                ticket: fetch.ticket,
                response,
            },
        );
    }

    /// Hands the answer back, then carries out what the flight owes the store.
    fn receive_token_answer(
        &mut self,
        now: Duration,
        caller: Caller,
        ticket: Ticket,
        response: &Response<Vec<u8>>,
    ) {
        let (instant, wall) = self.clocks(caller.replica, now);
        let (jitter, nonce) = (self.jitter(), self.random_bytes());
        let Some(Replica { cache, .. }) = self.replicas.get_mut(caller.replica) else {
            self.counts.unexpected += 1;
            return;
        };
        let token = cache.handle_response(ticket.clone(), instant, wall, jitter, response);
        if token.is_err() {
            self.counts.failed += 1;
        }
        let write = cache.store_write(&ticket, token.as_deref().ok(), instant, wall, jitter, nonce);
        if let Some(write) = write {
            let replica = caller.replica;
            self.queue
                .schedule(now + STORE_LATENCY, Event::StoreWrite { replica, write });
        }
    }

    fn carry_out_store_write(&mut self, now: Duration, replica: usize, write: &StoreWrite) {
        self.store.write(write, now);
        let instant = self.clock.instant(now);
        let moved = self
            .replicas
            .get_mut(replica)
            .and_then(|replica| replica.cache.handle_store_write(instant, Ok(())));
        if moved.is_some() {
            self.counts.breaker_moves += 1;
        }
        // The publication wakes the flights waiting for this key.
        for flight in self.waiting.take_all(&write.key) {
            self.schedule_store_op(now, flight, StoreOp::Read);
        }
    }

    fn start_shared_flight(&mut self, now: Duration, caller: Caller, step: SharedStep) {
        let flight = SharedFlight {
            caller,
            ticket: step.ticket,
            store_key: step.key,
        };
        self.schedule_store_op(now, flight, step.op);
    }

    /// Sends a store operation on its way; a wait is taken at once.
    fn schedule_store_op(&mut self, now: Duration, flight: SharedFlight, op: StoreOp) {
        if let StoreOp::Wait { until } = op {
            self.counts.lock_waits += 1;
            let wake = (now + self.store_policy.poll_interval)
                .min(self.clock.at_instant(until))
                .max(now);
            let wait = self.waiting.add(flight);
            self.queue.schedule(wake, Event::WaitOver { wait });
        } else {
            self.queue
                .schedule(now + STORE_LATENCY, Event::StoreOp { flight, op });
        }
    }

    /// A read or a lock in the store, its result handed back to the replica's core.
    fn carry_out_store_op(&mut self, now: Duration, flight: SharedFlight, op: StoreOp) {
        let (instant, wall) = self.clocks(flight.caller.replica, now);
        let (jitter, owner) = (self.jitter(), LockOwner::new(self.random_bytes()));
        let Some(Replica { cache, .. }) = self.replicas.get_mut(flight.caller.replica) else {
            self.counts.unexpected += 1;
            return;
        };
        let answer = match op {
            StoreOp::Read => {
                let view = self.store.read(&flight.store_key, now);
                cache.handle_store_read(&flight.ticket, instant, wall, jitter, Ok(view))
            }
            StoreOp::Lock { ttl } => {
                let won = self.store.try_lock(&flight.store_key, owner, ttl, now);
                cache.handle_store_lock(&flight.ticket, instant, wall, Ok(won.then_some(owner)))
            }
            _ => {
                self.counts.unexpected += 1;
                cache.cancel(flight.ticket, instant);
                return;
            }
        };
        self.follow(now, flight, answer);
    }

    /// Acts on what the core says after a store result.
    fn follow(&mut self, now: Duration, flight: SharedFlight, answer: StoreAnswer) {
        if answer.refused.is_some() {
            self.counts.refused_entries += 1;
        }
        if answer.breaker.is_some() {
            self.counts.breaker_moves += 1;
        }
        match answer.next {
            StoreNext::Op(op) => self.schedule_store_op(now, flight, op),
            StoreNext::Fetch(fetch) => self.send_token_request(now, flight.caller, fetch),
            StoreNext::Adopted(token) => {
                self.counts.adopted += 1;
                self.check_usable(&token, now);
            }
            StoreNext::Over => {}
            _ => self.counts.unexpected += 1,
        }
    }

    fn jitter(&mut self) -> Jitter {
        Jitter::from_bits(self.rng.u64(..))
    }

    fn random_bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0; N];
        self.rng.fill(&mut bytes);
        bytes
    }
}

/// The requests of `keys` token keys: one API resource each, the same app.
fn key_requests(keys: usize) -> Result<Vec<TokenRequest>, ConfigError> {
    let config = crate::config()?;
    (0..keys)
        .map(|key| {
            let resource = format!("https://api-{key}.example.com");
            TokenRequest::new(&config, TokenParams::for_resource(resource).scope(SCOPE))
        })
        .collect()
}
