//! The token-expiry state machine of one token key. **Every state transition lives in this module.**
//!
//! ```text
//!                        poll: Fetch                      response: token
//!            ┌───────┐ ───────────────▶ ┌──────────┐ ─────────────────────────▶ ┌───────┐
//!            │ Empty │                  │ Fetching │                            │ Ready │◀─┐
//!            └───────┘ ◀─────────────── └──────────┘ ──┐                        └───────┘  │
//!              ▲   ▲      cancel / abandoned           │ failure                 │  poll ≥ │ response:
//!              │   │                                    ▼                        │ refresh │ token
//!              │   │  retry_at passed             ┌────────┐                     ▼   _at   │
//!              │   └───────────────────────────── │ Failed │               ┌────────────┐  │
//!              │                                  └────────┘               │ Refreshing │──┘
//!              │ usable_until passed                   ▲                   └────────────┘
//!              │ (Ready, or RefreshBackoff                │ usable_until passed │    ▲  failure
//!              │  after retry_at)                         │ before retry_at     ▼    │ poll ≥ retry_at
//!              └──────────────────────────────────── ┌────────────────┐ ◀───────┘    │
//!                                                    │ RefreshBackoff │ ─────────────┘
//!                                                    └────────────────┘
//! ```
//!
//! - `Empty`: no token, nothing in flight. `poll` asks the caller to fetch.
//! - `Fetching`: no usable token, one request in flight. `poll` says to wait for it.
//! - `Ready`: a usable token. `poll` hands it out; at its refresh point, the next `poll` also asks
//!   that caller to refresh it (in the background) while it keeps being handed out.
//! - `Refreshing`: a usable token and one refresh in flight. `poll` hands the token out.
//! - `RefreshBackoff`: a usable token, and the last refresh failed. `poll` hands the token out and
//!   asks for another refresh once the backoff has passed.
//! - `Failed`: no usable token, and the last attempt failed. `poll` gives that error until the
//!   backoff (retryable errors) or the negative cache (rejections) has passed.
//!
//! A token stops being handed out at `expires_at - margin` (its *usable-until* instant): `Ready`
//! falls back to `Empty`, `Refreshing` to `Fetching`, `RefreshBackoff` to `Failed` (or `Empty`, once
//! its retry instant has passed too). These time-driven moves happen at the start of every call, for the `now` given.
//!
//! Expiry is kept by two clocks: the monotonic one (`now`, an `Instant`) and the wall clock
//! (`wall_now`, a `SystemTime`, given to `poll`). The monotonic clock stops while a machine sleeps
//! or a VM is paused, so a token's usable-until and refresh point are also kept as wall-clock
//! times, counted from the wall-clock time at send that the ticket records, and whichever clock
//! reaches them first decides. A wall clock set back never extends a token's life: the monotonic
//! deadline still holds. Backoff and abandonment count by the monotonic clock only.
//!
//! The full transition table is in `docs/state-machine.md`; a test walks it against this code.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hashlink::LruCache;
use http::Response;

use crate::error::{Error, InvalidResponse, ResponseProblem};
use crate::key::TokenKey;
use crate::policy::{CachePolicy, Jitter};
use crate::request::TokenRequest;
use crate::response::parse_token_response;
use crate::secret::AccessToken;
use crate::shared_entry::{self, Opened};
use crate::shared_store::{
    BreakerChange, EntryRefusal, LockOwner, SealedEntry, SharedStep, SharedStorePolicy,
    StoreAnswer, StoreFailure, StoreKey, StoreNext, StoreOp, StoreView, StoreWrite,
};
use crate::token::Token;

/// Identifies one request in flight. Hand it back, exactly once, with the outcome of that request.
#[derive(Debug, Clone)]
#[must_use = "a ticket must be handed back with handle_response, handle_transport_error or cancel"]
pub struct Ticket {
    request: Arc<TokenRequest>,
    id: u64,
    sent_at: Instant,
    sent_at_wall: SystemTime,
    /// For a flight that uses the shared store: what its token request owes the store.
    shared: Option<TicketShare>,
}

/// What the token request of a shared flight owes the store once it is answered.
#[derive(Debug, Clone)]
struct TicketShare {
    key: StoreKey,
    /// The lock this flight holds, to release.
    owner: Option<LockOwner>,
    /// Whether to publish the token (the store answered this flight: it is worth writing to).
    publish: bool,
}

impl Ticket {
    /// The key of the token this request fetches.
    #[must_use]
    pub fn key(&self) -> &TokenKey {
        self.request.key()
    }

    /// The token request this ticket is for.
    #[must_use]
    pub fn request(&self) -> &TokenRequest {
        &self.request
    }

    /// When the request was handed out for sending; the token's lifetime counts from then.
    #[must_use]
    pub fn sent_at(&self) -> Instant {
        self.sent_at
    }

    /// The wall-clock time at which the request was handed out for sending; the token's wall-clock
    /// expiry counts from then.
    #[must_use]
    pub fn sent_at_wall(&self) -> SystemTime {
        self.sent_at_wall
    }
}

/// A request for the caller to send, with its ticket. Its `Debug` shows the request line only:
/// with `client_secret_post` the body holds the app secret (and its length would tell the
/// secret's).
#[must_use = "the request must be sent and its outcome handed back"]
pub struct Fetch {
    /// Hand this back with the outcome.
    pub ticket: Ticket,
    /// The request to send.
    pub request: http::Request<Vec<u8>>,
}

impl std::fmt::Debug for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("ticket", &self.ticket)
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .finish_non_exhaustive()
    }
}

/// What the caller must do, for the `now` it polled at.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Poll {
    /// Use this token. The same answer holds, without polling, until `fresh_until` by the monotonic
    /// clock and `fresh_until_wall` by the wall clock, whichever comes first.
    Ready {
        /// The token.
        token: Arc<Token>,
        /// Until when (exclusive) this answer stays the same, barring an invalidation.
        fresh_until: Instant,
        /// Until when (exclusive), by the wall clock, this answer stays the same.
        fresh_until_wall: SystemTime,
    },
    /// Use this token, and send this refresh request without making anyone wait for it.
    ReadyAndRefresh {
        /// The still-usable token.
        token: Arc<Token>,
        /// The refresh to send.
        fetch: Fetch,
    },
    /// There is no usable token: send this request, then hand its outcome back.
    Fetch(Fetch),
    /// There is no usable token, and the shared store is asked first: carry out the step's store
    /// operation and hand the result back to the [`TokenCache`](crate::TokenCache), which says
    /// what comes next (more store operations, a token request, or a token adopted from the store).
    Shared(SharedStep),
    /// Use this token, and refresh it through the shared store without making anyone wait: the
    /// refresh starts with this step (see [`Poll::Shared`]).
    ReadyAndShared {
        /// The still-usable token.
        token: Arc<Token>,
        /// The refresh's first store step.
        step: SharedStep,
    },
    /// Another caller's request is in flight: wait for its outcome, then poll again. At `until` the
    /// request counts as abandoned and polling sends a new one.
    Pending {
        /// When the request in flight counts as abandoned.
        until: Instant,
    },
    /// The last attempt failed and there is no usable token. Nothing is sent before `retry_at`:
    /// wait until then (if `error.is_retryable()`) or give the error to the caller.
    Failed {
        /// The error of the last attempt.
        error: Error,
        /// When the next attempt is allowed.
        retry_at: Instant,
    },
}

/// The state of one key, for inspection and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlotState {
    /// No token, nothing in flight.
    Empty,
    /// No usable token, a request in flight.
    Fetching,
    /// A usable token.
    Ready,
    /// A usable token, a refresh in flight.
    Refreshing,
    /// A usable token, the last refresh failed.
    RefreshBackoff,
    /// No usable token, the last attempt failed.
    Failed,
}

/// A usable token and when it stops being handed out, by either clock.
#[derive(Debug, Clone)]
struct Held {
    token: Arc<Token>,
    usable_until: Instant,
    usable_until_wall: SystemTime,
}

impl Held {
    fn new(token: &Arc<Token>, policy: &CachePolicy) -> Self {
        Self {
            token: Arc::clone(token),
            usable_until: policy.usable_until(token),
            usable_until_wall: policy.usable_until_wall(token),
        }
    }

    /// Whether the token may no longer be handed out: its usable-until has passed by the monotonic
    /// clock, or by the wall clock when it is known.
    fn is_over(&self, now: Instant, wall_now: Option<SystemTime>) -> bool {
        now >= self.usable_until || wall_now.is_some_and(|wall| wall >= self.usable_until_wall)
    }
}

/// The request in flight.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u64,
    abandoned_at: Instant,
}

#[derive(Debug, Clone)]
enum State {
    Empty,
    Fetching {
        flight: InFlight,
    },
    Ready {
        held: Held,
        refresh_at: Instant,
        refresh_at_wall: SystemTime,
    },
    Refreshing {
        held: Held,
        flight: InFlight,
    },
    RefreshBackoff {
        held: Held,
        error: Error,
        retry_at: Instant,
    },
    Failed {
        error: Error,
        retry_at: Instant,
    },
}

impl State {
    /// `Ready`, with the refresh due at once (a refresh that was cancelled or abandoned).
    fn refresh_due(held: Held, now: Instant) -> Self {
        let refresh_at_wall = held.usable_until_wall;
        Self::Ready {
            held,
            refresh_at: now,
            refresh_at_wall,
        }
    }
}

/// How much later than its publisher's a replica's refresh point of an adopted token may be, as a
/// fraction of the token's usable life (by the replica's jitter): enough that the replicas do not
/// all read the store at one instant, small enough that the fleet refreshes about where its
/// publisher would have (the fleet simulation in benches/ measures what it costs).
const ADOPTED_REFRESH_SPREAD: f64 = 0.02;

/// Far enough in the future to stand for "never", for durations a caller set absurdly large.
const FAR_FUTURE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// `at + delay`, saturating instead of overflowing.
pub(crate) fn after(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay.min(FAR_FUTURE)).unwrap_or(at)
}

/// The shared store as the cache knows it: its policy and its breaker. One per cache: a store that
/// is down is down for every key.
#[derive(Debug, Clone)]
pub(crate) struct SharedStore {
    pub(crate) policy: SharedStorePolicy,
    /// Store failures in a row.
    failures: u32,
    breaker: Breaker,
    /// Per key, the last token dropped after a 401 (kept apart from the slots, so that evicting a
    /// slot does not forget it; as many keys as the cache holds).
    rejected: LruCache<TokenKey, Rejected>,
}

#[derive(Debug, Clone, Copy)]
enum Breaker {
    /// The store is asked.
    Closed,
    /// The store is not asked before `until`.
    Open { until: Instant },
    /// One flight is probing the store; the others do not ask it before `until`.
    Probing { until: Instant },
}

impl SharedStore {
    pub(crate) fn new(policy: SharedStorePolicy, max_keys: usize) -> Self {
        Self {
            policy,
            failures: 0,
            breaker: Breaker::Closed,
            rejected: LruCache::new(max_keys.max(1)),
        }
    }

    /// `token` of `key` was dropped after a 401: it is never adopted from the store again.
    pub(crate) fn reject(&mut self, key: &TokenKey, token: &Token) {
        let rejected = Rejected {
            token: token.access_token().clone(),
            expires_at_wall: token.expires_at_wall(),
        };
        self.rejected.insert(key.clone(), rejected);
    }

    /// Whether a flight starting at `now` asks the store. Past an open breaker's time, the first
    /// flight to ask probes it.
    fn allows(&mut self, now: Instant) -> bool {
        match self.breaker {
            Breaker::Closed => true,
            Breaker::Open { until } | Breaker::Probing { until } if now < until => false,
            Breaker::Open { .. } | Breaker::Probing { .. } => {
                // A probe's first operation ends within op_timeout; one whose result never came
                // back (its caller went away) is replaced by the next flight after twice that.
                self.breaker = Breaker::Probing {
                    until: after(now, self.policy.op_timeout.saturating_mul(2)),
                };
                true
            }
        }
    }

    /// Whether the breaker is open (a probe out included).
    pub(crate) fn is_open(&self) -> bool {
        !matches!(self.breaker, Breaker::Closed)
    }

    /// Counts the result of a store operation at `now`; says whether the breaker moved.
    pub(crate) fn record(&mut self, now: Instant, ok: bool) -> Option<BreakerChange> {
        if ok {
            self.failures = 0;
            let was_open = self.is_open();
            self.breaker = Breaker::Closed;
            return was_open.then_some(BreakerChange::Closed);
        }
        self.failures = self.failures.saturating_add(1);
        let opens = match self.breaker {
            Breaker::Closed => self.failures >= self.policy.breaker_failures.max(1),
            Breaker::Probing { .. } => true,
            // Late results of flights that started before it opened.
            Breaker::Open { .. } => false,
        };
        if !opens {
            return None;
        }
        let change = matches!(self.breaker, Breaker::Closed).then_some(BreakerChange::Opened);
        self.breaker = Breaker::Open {
            until: after(now, self.policy.breaker_open_for),
        };
        change
    }
}

/// The store's side of the current flight, when it is a shared one.
#[derive(Debug, Clone)]
struct SharedFlight {
    /// The flight it belongs to.
    id: u64,
    /// Once another replica's lock was seen: how long to wait for its entry.
    wait_until: Option<Instant>,
}

/// The state machine of one token key.
#[derive(Debug, Clone)]
pub(crate) struct TokenSlot {
    request: Arc<TokenRequest>,
    state: State,
    /// Consecutive failed attempts, for the backoff; reset by a success.
    failures: u32,
    /// The key's place in the shared store, once a flight has used it.
    store_key: Option<StoreKey>,
    /// The store's side of the current flight, if it is a shared one.
    shared: Option<SharedFlight>,
}

/// The last token of a key dropped after a 401. Neither it nor any token that expires no later (by
/// the wall clock) is adopted from the store: an entry older than a token the resource server
/// refused is no better.
#[derive(Debug, Clone)]
struct Rejected {
    token: AccessToken,
    expires_at_wall: SystemTime,
}

impl Rejected {
    fn covers(&self, token: &Token) -> bool {
        self.token == *token.access_token() || token.expires_at_wall() <= self.expires_at_wall
    }
}

/// How a flight starts: a token request, or the shared store first.
#[allow(clippy::large_enum_variant)] // moved once, straight into a `Poll`
enum Start {
    Plain(Fetch),
    Shared(SharedStep),
}

impl TokenSlot {
    pub(crate) fn new(request: Arc<TokenRequest>) -> Self {
        Self {
            request,
            state: State::Empty,
            failures: 0,
            store_key: None,
            shared: None,
        }
    }

    /// The request this slot sends.
    pub(crate) fn request(&self) -> &Arc<TokenRequest> {
        &self.request
    }

    pub(crate) fn state(&self) -> SlotState {
        match self.state {
            State::Empty => SlotState::Empty,
            State::Fetching { .. } => SlotState::Fetching,
            State::Ready { .. } => SlotState::Ready,
            State::Refreshing { .. } => SlotState::Refreshing,
            State::RefreshBackoff { .. } => SlotState::RefreshBackoff,
            State::Failed { .. } => SlotState::Failed,
        }
    }

    /// Until when the slot must be kept, at `now`: while a request is in flight (until it counts
    /// as abandoned) or a backoff runs (until its retry instant). `None`: the slot holds nothing
    /// that evicting it would lose but a token, which a later poll fetches again.
    pub(crate) fn busy_until(&self, now: Instant) -> Option<Instant> {
        let until = match &self.state {
            State::Empty | State::Ready { .. } => return None,
            State::Fetching { flight } | State::Refreshing { flight, .. } => flight.abandoned_at,
            State::RefreshBackoff { retry_at, .. } | State::Failed { retry_at, .. } => *retry_at,
        };
        (now < until).then_some(until)
    }

    /// What the caller must do now. May start a request (and so change state).
    pub(crate) fn poll(
        &mut self,
        now: Instant,
        wall_now: SystemTime,
        policy: &CachePolicy,
        ids: &mut u64,
        store: Option<&mut SharedStore>,
    ) -> Poll {
        self.advance_time(now, Some(wall_now));
        match &self.state {
            State::Empty => {
                let (flight, start) = self.start_flight(now, wall_now, policy, ids, store);
                self.state = State::Fetching { flight };
                match start {
                    Start::Plain(fetch) => Poll::Fetch(fetch),
                    Start::Shared(step) => Poll::Shared(step),
                }
            }
            State::Fetching { flight } => Poll::Pending {
                until: flight.abandoned_at,
            },
            State::Ready {
                held,
                refresh_at,
                refresh_at_wall,
            } if now < *refresh_at && wall_now < *refresh_at_wall => Poll::Ready {
                token: Arc::clone(&held.token),
                fresh_until: *refresh_at,
                fresh_until_wall: *refresh_at_wall,
            },
            State::RefreshBackoff { held, retry_at, .. } if now < *retry_at => Poll::Ready {
                token: Arc::clone(&held.token),
                fresh_until: (*retry_at).min(held.usable_until),
                fresh_until_wall: held.usable_until_wall,
            },
            State::Ready { held, .. } | State::RefreshBackoff { held, .. } => {
                let held = held.clone();
                let (flight, start) = self.start_flight(now, wall_now, policy, ids, store);
                let token = Arc::clone(&held.token);
                self.state = State::Refreshing { held, flight };
                match start {
                    Start::Plain(fetch) => Poll::ReadyAndRefresh { token, fetch },
                    Start::Shared(step) => Poll::ReadyAndShared { token, step },
                }
            }
            State::Refreshing { held, flight } => Poll::Ready {
                token: Arc::clone(&held.token),
                fresh_until: held.usable_until.min(flight.abandoned_at),
                fresh_until_wall: held.usable_until_wall,
            },
            State::Failed { error, retry_at } => Poll::Failed {
                error: error.clone(),
                retry_at: *retry_at,
            },
        }
    }

    /// The outcome of a request (already through [`on_arrival`]): a token or an error. A ticket that
    /// is not the current request (cancelled, abandoned, superseded, evicted) changes nothing.
    pub(crate) fn finish(
        &mut self,
        ticket: &Ticket,
        now: Instant,
        wall_now: Option<SystemTime>,
        jitter: Jitter,
        policy: &CachePolicy,
        outcome: Result<Arc<Token>, Error>,
    ) -> Result<Arc<Token>, Error> {
        self.advance_time(now, wall_now);
        if !self.is_current(ticket) {
            return outcome;
        }
        match &outcome {
            Ok(token) => {
                self.failures = 0;
                self.state = State::Ready {
                    held: Held::new(token, policy),
                    refresh_at: policy.refresh_at(token, jitter),
                    refresh_at_wall: policy.refresh_at_wall(token, jitter),
                };
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                let retry_at = after(now, policy.retry_delay(self.failures, error, jitter));
                let error = error.clone();
                self.state = match std::mem::replace(&mut self.state, State::Empty) {
                    State::Refreshing { held, .. } => State::RefreshBackoff {
                        held,
                        error,
                        retry_at,
                    },
                    _ => State::Failed { error, retry_at },
                };
            }
        }
        outcome
    }

    /// The caller of the current request went away: the request no longer counts, and the next poll
    /// sends another (at once: nothing failed).
    pub(crate) fn cancel(&mut self, ticket: &Ticket, now: Instant) {
        self.advance_time(now, None);
        if !self.is_current(ticket) {
            return;
        }
        self.state = match std::mem::replace(&mut self.state, State::Empty) {
            State::Refreshing { held, .. } => State::refresh_due(held, now),
            _ => State::Empty,
        };
    }

    /// Drops `token` if it is still the one handed out (after a 401 from a resource server). A
    /// request in flight goes on. Returns whether anything was dropped.
    pub(crate) fn invalidate(&mut self, token: &Token, now: Instant) -> bool {
        self.advance_time(now, None);
        let is_current = match &self.state {
            State::Ready { held, .. }
            | State::Refreshing { held, .. }
            | State::RefreshBackoff { held, .. } => {
                held.token.access_token() == token.access_token()
            }
            _ => false,
        };
        if !is_current {
            return false;
        }
        self.state = match std::mem::replace(&mut self.state, State::Empty) {
            State::Refreshing { flight, .. } => State::Fetching { flight },
            State::RefreshBackoff {
                error, retry_at, ..
            } if now < retry_at => State::Failed { error, retry_at },
            _ => State::Empty,
        };
        true
    }

    /// The next wall-clock time at which polling may answer differently: a token reaching its
    /// refresh point or its usable-until by the wall clock.
    pub(crate) fn poll_timeout_wall(&self) -> Option<SystemTime> {
        match &self.state {
            State::Ready {
                refresh_at_wall, ..
            } => Some(*refresh_at_wall),
            State::Refreshing { held, .. } | State::RefreshBackoff { held, .. } => {
                Some(held.usable_until_wall)
            }
            State::Empty | State::Fetching { .. } | State::Failed { .. } => None,
        }
    }

    /// The next instant at which polling may answer differently without any other input.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Empty => None,
            State::Fetching { flight } => Some(flight.abandoned_at),
            State::Ready { refresh_at, .. } => Some(*refresh_at),
            State::Refreshing { held, flight } => Some(held.usable_until.min(flight.abandoned_at)),
            State::RefreshBackoff { held, retry_at, .. } => {
                Some((*retry_at).min(held.usable_until))
            }
            State::Failed { retry_at, .. } => Some(*retry_at),
        }
    }

    fn is_current(&self, ticket: &Ticket) -> bool {
        match &self.state {
            State::Fetching { flight } | State::Refreshing { flight, .. } => flight.id == ticket.id,
            _ => false,
        }
    }

    /// Starts a flight: through the shared store if there is one and its breaker lets it be
    /// asked, else as a token request.
    fn start_flight(
        &mut self,
        now: Instant,
        wall_now: SystemTime,
        policy: &CachePolicy,
        ids: &mut u64,
        store: Option<&mut SharedStore>,
    ) -> (InFlight, Start) {
        *ids = ids.wrapping_add(1);
        let flight = InFlight {
            id: *ids,
            abandoned_at: after(now, policy.in_flight_timeout),
        };
        let ticket = Ticket {
            request: Arc::clone(&self.request),
            id: flight.id,
            sent_at: now,
            sent_at_wall: wall_now,
            shared: None,
        };
        self.shared = None;
        if !store.is_some_and(|store| store.allows(now)) {
            return (flight, Start::Plain(self.fetch(ticket)));
        }
        let key = self.store_key();
        self.shared = Some(SharedFlight {
            id: flight.id,
            wait_until: None,
        });
        let step = SharedStep {
            ticket,
            key,
            op: StoreOp::Read,
        };
        (flight, Start::Shared(step))
    }

    /// The token request of `ticket`'s flight.
    fn fetch(&self, ticket: Ticket) -> Fetch {
        Fetch {
            ticket,
            request: self.request.to_http(),
        }
    }

    /// The key's place in the shared store (computed once).
    fn store_key(&mut self) -> StoreKey {
        self.store_key
            .get_or_insert_with(|| StoreKey::of(self.request.key()))
            .clone()
    }

    /// The result of reading the store for `ticket`'s shared flight at `now`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_store_read(
        &mut self,
        ticket: &Ticket,
        now: Instant,
        wall_now: SystemTime,
        jitter: Jitter,
        policy: &CachePolicy,
        store: &mut SharedStore,
        result: Result<StoreView, StoreFailure>,
    ) -> StoreAnswer {
        self.advance_time(now, Some(wall_now));
        if !self.is_current_shared(ticket) {
            return answer(StoreNext::Over, None, None);
        }
        let Ok(view) = result else {
            let breaker = store.record(now, false);
            return answer(self.fetch_without_store(ticket), None, breaker);
        };
        let breaker = store.record(now, true);
        let mut refused = None;
        if let Some(entry) = &view.entry {
            let key = self.store_key();
            match self.adoptable(entry, &key, now, wall_now, policy, store) {
                Ok(Some(opened)) => {
                    let token = self.adopt(opened, jitter, policy);
                    return answer(StoreNext::Adopted(token), None, breaker);
                }
                Ok(None) => {}
                Err(refusal) => refused = Some(refusal),
            }
        }
        let next = if view.locked {
            self.wait_for_holder(ticket, now, &store.policy)
        } else {
            StoreNext::Op(StoreOp::Lock {
                ttl: store.policy.lock_ttl,
            })
        };
        answer(next, refused, breaker)
    }

    /// The result of trying to take the lock for `ticket`'s shared flight at `now`: `Some(owner)`
    /// if it was taken with that owner, `None` if another replica holds it.
    pub(crate) fn handle_store_lock(
        &mut self,
        ticket: &Ticket,
        now: Instant,
        wall_now: SystemTime,
        store: &mut SharedStore,
        result: Result<Option<LockOwner>, StoreFailure>,
    ) -> StoreAnswer {
        self.advance_time(now, Some(wall_now));
        if !self.is_current_shared(ticket) {
            return answer(StoreNext::Over, None, None);
        }
        let breaker = store.record(now, result.is_ok());
        let next = match result {
            Err(_) => self.fetch_without_store(ticket),
            Ok(Some(owner)) => self.fetch_for_store(ticket, Some(owner)),
            Ok(None) => self.wait_for_holder(ticket, now, &store.policy),
        };
        answer(next, None, breaker)
    }

    /// Whether `ticket` is the current flight's, and that flight a shared one.
    fn is_current_shared(&self, ticket: &Ticket) -> bool {
        self.is_current(ticket)
            && self
                .shared
                .as_ref()
                .is_some_and(|shared| shared.id == ticket.id)
    }

    /// An entry's token if it may be adopted now: `Ok(None)` for a valid entry that is no better
    /// than the token held (a refresh is still needed).
    fn adoptable(
        &self,
        entry: &[u8],
        key: &StoreKey,
        now: Instant,
        wall_now: SystemTime,
        policy: &CachePolicy,
        store: &SharedStore,
    ) -> Result<Option<Opened>, EntryRefusal> {
        let opened = shared_entry::open(
            entry,
            &self.request,
            key,
            now,
            wall_now,
            store.policy.max_clock_skew,
        )?;
        let token = &opened.token;
        if store
            .rejected
            .peek(self.request.key())
            .is_some_and(|rejected| rejected.covers(token))
        {
            return Err(EntryRefusal::Rejected);
        }
        let usable_until = policy.usable_until(token);
        if now >= usable_until || wall_now >= policy.usable_until_wall(token) {
            return Err(EntryRefusal::Expired);
        }
        let better = match &self.state {
            State::Refreshing { held: current, .. } => {
                current.token.access_token() != token.access_token()
                    && usable_until > current.usable_until
            }
            _ => true,
        };
        Ok(better.then_some(opened))
    }

    /// Makes an opened entry's token the key's (the flight is over, with no token request). Its
    /// refresh point is the publisher's, moved later by this replica's jitter by up to
    /// [`ADOPTED_REFRESH_SPREAD`] of its usable life: the fleet refreshes once, where its publisher
    /// would have, and the replicas do not all come back to the store at one instant.
    fn adopt(&mut self, opened: Opened, jitter: Jitter, policy: &CachePolicy) -> Arc<Token> {
        let token = Arc::new(opened.token);
        let held = Held::new(&token, policy);
        let usable = held.usable_until.saturating_duration_since(token.sent_at());
        let spread = usable.mul_f64(ADOPTED_REFRESH_SPREAD * jitter.value());
        self.failures = 0;
        self.state = State::Ready {
            refresh_at: after(opened.refresh_at, spread).min(held.usable_until),
            refresh_at_wall: opened
                .refresh_at_wall
                .checked_add(spread)
                .unwrap_or(held.usable_until_wall)
                .min(held.usable_until_wall),
            held,
        };
        token
    }

    /// Another replica holds the lock: wait for its entry until the lock's time has passed, then
    /// fetch without it.
    fn wait_for_holder(
        &mut self,
        ticket: &Ticket,
        now: Instant,
        policy: &SharedStorePolicy,
    ) -> StoreNext {
        let abandoned_at = match &self.state {
            State::Fetching { flight } | State::Refreshing { flight, .. } => flight.abandoned_at,
            _ => now,
        };
        let Some(shared) = self.shared.as_mut() else {
            return self.fetch_without_store(ticket);
        };
        let until = *shared
            .wait_until
            .get_or_insert_with(|| after(now, policy.lock_ttl).min(abandoned_at));
        if now < until {
            StoreNext::Op(StoreOp::Wait { until })
        } else {
            // The holder went quiet: fetch, and publish for the others.
            self.fetch_for_store(ticket, None)
        }
    }

    /// The token request of a shared flight, holding the lock with `owner` (or none), publishing
    /// its token.
    fn fetch_for_store(&mut self, ticket: &Ticket, owner: Option<LockOwner>) -> StoreNext {
        let key = self.store_key();
        let mut ticket = ticket.clone();
        ticket.shared = Some(TicketShare {
            key,
            owner,
            publish: true,
        });
        StoreNext::Fetch(self.fetch(ticket))
    }

    /// The store failed this flight: a plain token request, nothing owed to the store.
    fn fetch_without_store(&mut self, ticket: &Ticket) -> StoreNext {
        self.shared = None;
        let mut ticket = ticket.clone();
        ticket.shared = None;
        StoreNext::Fetch(self.fetch(ticket))
    }

    /// The moves that time alone makes: a token passing its usable-until (by the monotonic clock,
    /// or by the wall clock when `wall_now` is given), a backoff or a negative cache running out, a
    /// request in flight for too long.
    fn advance_time(&mut self, now: Instant, wall_now: Option<SystemTime>) {
        let abandoned = |flight: &InFlight| now >= flight.abandoned_at;
        self.state = match std::mem::replace(&mut self.state, State::Empty) {
            State::Fetching { flight } if abandoned(&flight) => State::Empty,
            State::Ready { held, .. } if held.is_over(now, wall_now) => State::Empty,
            State::Refreshing { held, flight } if held.is_over(now, wall_now) => {
                if abandoned(&flight) {
                    State::Empty
                } else {
                    State::Fetching { flight }
                }
            }
            State::Refreshing { held, flight } if abandoned(&flight) => {
                State::refresh_due(held, now)
            }
            State::RefreshBackoff {
                held,
                error,
                retry_at,
            } if held.is_over(now, wall_now) => {
                if now >= retry_at {
                    State::Empty
                } else {
                    State::Failed { error, retry_at }
                }
            }
            State::Failed { retry_at, .. } if now >= retry_at => State::Empty,
            other => other,
        };
    }
}

/// What a shared flight's token request owes the store, once answered (`token` on success):
/// the entry to publish, sealed with `nonce`, and the lock to release.
pub(crate) fn store_write(
    ticket: &Ticket,
    token: Option<&Token>,
    now: Instant,
    wall_now: SystemTime,
    jitter: Jitter,
    nonce: [u8; 24],
    policy: &CachePolicy,
) -> Option<StoreWrite> {
    let share = ticket.shared.as_ref()?;
    let entry = token.filter(|_| share.publish).and_then(|token| {
        // The store keeps the entry as long as the token is usable, by either clock.
        let ttl = policy
            .usable_until(token)
            .saturating_duration_since(now)
            .min(
                policy
                    .usable_until_wall(token)
                    .duration_since(wall_now)
                    .unwrap_or_default(),
            );
        // The publisher's own refresh point (as `finish` set it with the same jitter).
        let refresh_offset = policy
            .refresh_at(token, jitter)
            .saturating_duration_since(token.sent_at());
        let bytes = shared_entry::seal(token, refresh_offset, &ticket.request, &share.key, nonce)?;
        (!ttl.is_zero()).then_some(SealedEntry { bytes, ttl })
    });
    (entry.is_some() || share.owner.is_some()).then(|| StoreWrite {
        key: share.key.clone(),
        entry,
        release: share.owner,
    })
}

/// A store answer.
pub(crate) fn answer(
    next: StoreNext,
    refused: Option<EntryRefusal>,
    breaker: Option<BreakerChange>,
) -> StoreAnswer {
    StoreAnswer {
        next,
        refused,
        breaker,
    }
}

/// The outcome of a request as it arrives at `now`, for its key's slot if there still is one and
/// for its caller in any case: a token whose usable life is already over is useless and must not be
/// handed out, so it counts as a failed attempt.
pub(crate) fn on_arrival(
    outcome: Result<Arc<Token>, Error>,
    now: Instant,
    wall_now: Option<SystemTime>,
    policy: &CachePolicy,
) -> Result<Arc<Token>, Error> {
    outcome.and_then(|token| {
        if !Held::new(&token, policy).is_over(now, wall_now) {
            Ok(token)
        } else {
            Err(InvalidResponse {
                status: http::StatusCode::OK,
                problem: ResponseProblem::ExpiredOnArrival,
            }
            .into())
        }
    })
}

/// Parses `response` for `ticket`'s request.
pub(crate) fn parse_for_ticket<B: AsRef<[u8]>>(
    ticket: &Ticket,
    response: &Response<B>,
    wall_now: SystemTime,
) -> Result<Arc<Token>, Error> {
    parse_token_response(
        &ticket.request,
        response,
        ticket.sent_at,
        ticket.sent_at_wall,
        wall_now,
    )
    .map(Arc::new)
}
