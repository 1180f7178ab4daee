//! The token-expiry state machine of one token key. **Every state transition lives in this module**
//! (with its two parts about the shared store: `shared_flight`, the flights that ask the store
//! first, and `store_state`, the store's breaker and the tokens refused after a 401).
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

use http::Response;

use crate::error::{Error, InvalidResponse, ResponseProblem};
use crate::key::TokenKey;
use crate::policy::{CachePolicy, Jitter};
use crate::request::TokenRequest;
use crate::response::parse_token_response;
use crate::shared_store::{SharedStep, StoreKey, StoreOp};
use crate::token::Token;

mod shared_flight;
mod store_state;

use shared_flight::{SharedFlight, TicketShare};
pub(crate) use shared_flight::{answer, store_write};
pub(crate) use store_state::StoreState;

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

/// Far enough in the future to stand for "never", for durations a caller set absurdly large.
const FAR_FUTURE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// `at + delay`, saturating instead of overflowing.
pub(crate) fn after(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay.min(FAR_FUTURE)).unwrap_or(at)
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
        store: Option<&mut StoreState>,
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
        store: Option<&mut StoreState>,
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
