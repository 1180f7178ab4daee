//! The token cache: one state machine per token key, with a bound on the number of keys.
//!
//! The cache only routes calls to the key's state machine ([`crate::state_machine`]) and makes
//! room when the bound is reached; it takes no decision about a token of its own.
//!
//! Room is made without losing what a slot must remember: a slot with a request in flight or a
//! backoff running (busy) is never evicted before that is over, so eviction never causes a second
//! request in flight for a key nor a retry before its time. Slots are kept in two places:
//!
//! - idle slots (no token, or a usable token with nothing in flight), least recently used first:
//!   the first one is evicted, in O(1);
//! - busy slots, indexed by the instant their request counts as abandoned or their backoff ends:
//!   once that has passed, the slot has nothing left to lose and is evicted like an idle one
//!   (found in O(log n)).
//!
//! When every slot is busy, a new key is refused with [`Error::CacheFull`] (transient, retry at the
//! instant the first slot frees), so memory stays bounded by `max_keys` whatever callers do.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hashlink::LinkedHashMap;
use http::Response;

use crate::error::{Error, TransportError};
use crate::key::TokenKey;
use crate::policy::{CachePolicy, Jitter};
use crate::request::TokenRequest;
use crate::shared_store::{
    BreakerChange, LockOwner, SharedStorePolicy, StoreAnswer, StoreFailure, StoreNext, StoreView,
    StoreWrite,
};
use crate::state_machine::{
    Poll, SlotState, StoreState, Ticket, TokenSlot, answer, on_arrival, parse_for_ticket,
    store_write,
};
use crate::token::Token;

/// Tokens for many keys, each driven by its own state machine. The caller owns time and IO: every
/// call that can change state takes `now`.
///
/// The run loop of a driver:
///
/// 1. [`poll`](Self::poll) with the request, `now` and `wall_now`, and act on the [`Poll`]:
///    use the token, send the request, wait, or fail.
/// 2. After sending: [`handle_response`](Self::handle_response) with the answer, or
///    [`handle_transport_error`](Self::handle_transport_error) when no answer came, or
///    [`cancel`](Self::cancel) when the caller went away.
/// 3. After a 401 from a resource server: [`invalidate`](Self::invalidate).
/// 4. [`poll_timeout`](Self::poll_timeout) (and [`poll_timeout_wall`](Self::poll_timeout_wall))
///    say when polling can next answer differently.
#[derive(Debug, Clone)]
pub struct TokenCache {
    policy: CachePolicy,
    slots: Slots,
    ticket_ids: u64,
    /// The shared store, when replicas share one: its policy and breaker.
    store: Option<StoreState>,
}

/// The slots, filed as idle or busy.
#[derive(Debug, Clone, Default)]
struct Slots {
    /// Slots with nothing in flight and no backoff running, least recently used first.
    idle: LinkedHashMap<TokenKey, TokenSlot>,
    /// Slots with a request in flight or a backoff running.
    busy: HashMap<TokenKey, Busy>,
    /// The busy slots by the instant they stop being busy (and a serial number, to tell apart
    /// slots that stop at the same instant).
    busy_until: BTreeMap<(Instant, u64), Arc<TokenRequest>>,
    serials: u64,
}

/// Whether a call on a slot counts as a use of its key, for the least-recently-used order: only a
/// poll does (an answer, stale or not, a cancellation or an invalidation does not).
#[derive(Debug, Clone, Copy)]
enum Use {
    Poll,
    Other,
}

/// A busy slot and its place in the index.
#[derive(Debug, Clone)]
struct Busy {
    slot: TokenSlot,
    until: Instant,
    serial: u64,
}

impl TokenCache {
    /// An empty cache with `policy`.
    #[must_use]
    pub fn new(policy: CachePolicy) -> Self {
        Self {
            policy,
            slots: Slots::default(),
            ticket_ids: 0,
            store: None,
        }
    }

    /// The same cache, asking a shared store (with `policy`) before every token request: flights
    /// then start with [`Poll::Shared`] / [`Poll::ReadyAndShared`] instead of [`Poll::Fetch`] /
    /// [`Poll::ReadyAndRefresh`] (see [`crate::shared_store`]).
    #[must_use]
    pub fn with_shared_store(mut self, policy: SharedStorePolicy) -> Self {
        self.store = Some(StoreState::new(policy, self.policy.max_keys));
        self
    }

    /// The shared store's policy, if the cache uses one.
    #[must_use]
    pub fn shared_store_policy(&self) -> Option<&SharedStorePolicy> {
        self.store.as_ref().map(|store| &store.policy)
    }

    /// Whether the shared store's breaker is open: flights do not ask the store (but for one
    /// probe now and then).
    #[must_use]
    pub fn store_breaker_open(&self) -> bool {
        self.store.as_ref().is_some_and(StoreState::is_open)
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &CachePolicy {
        &self.policy
    }

    /// What to do now for `request`'s token. Call before every use of a token (or rely on the
    /// `fresh_until` of a [`Poll::Ready`] to skip calls until then).
    ///
    /// `now` is the monotonic clock, `wall_now` the wall clock: a token is not handed out once
    /// either says its usable life is over (the monotonic clock stops while a machine sleeps).
    ///
    /// A key the cache does not hold yet takes a slot; when all `max_keys` slots are busy, the
    /// answer is [`Poll::Failed`] with [`Error::CacheFull`] and no slot is taken.
    pub fn poll(&mut self, request: &TokenRequest, now: Instant, wall_now: SystemTime) -> Poll {
        let (policy, ids, store) = (&self.policy, &mut self.ticket_ids, &mut self.store);
        if let Ok(poll) = self
            .slots
            .with_slot(request.key(), now, Use::Poll, (), |slot, ()| {
                slot.poll(now, wall_now, policy, ids, store.as_mut())
            })
        {
            return poll;
        }
        if let Err(retry_at) = self.slots.make_room(now, self.max_keys()) {
            return Poll::Failed {
                error: Error::CacheFull {
                    max_keys: self.max_keys(),
                },
                retry_at,
            };
        }
        let mut slot = TokenSlot::new(Arc::new(request.clone()));
        let poll = slot.poll(
            now,
            wall_now,
            &self.policy,
            &mut self.ticket_ids,
            self.store.as_mut(),
        );
        self.slots.file(request.key().clone(), slot, now);
        poll
    }

    /// Hands back the answer to `ticket`'s request, received at `now` (`wall_now` by the wall
    /// clock). Returns the token or the error, for the caller that sent the request.
    ///
    /// `wall_now` turns a `Retry-After` date into a delay; `jitter` spreads the next refresh point
    /// or backoff. An answer to a ticket that is no longer current (cancelled, abandoned, or its
    /// token invalidated meanwhile) is parsed and returned but changes nothing.
    ///
    /// # Errors
    ///
    /// The parsed error, or [`ResponseProblem::ExpiredOnArrival`](crate::ResponseProblem) for a
    /// token whose usable life was over when it arrived (by either clock).
    pub fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        ticket: Ticket,
        now: Instant,
        wall_now: SystemTime,
        jitter: Jitter,
        response: &Response<B>,
    ) -> Result<Arc<Token>, Error> {
        let outcome = parse_for_ticket(&ticket, response, wall_now);
        self.finish(&ticket, now, Some(wall_now), jitter, outcome)
    }

    /// Hands back a transport failure for `ticket`'s request. Returns the error as every waiter
    /// will see it, with the app secret redacted from whatever the transport's error quotes.
    pub fn handle_transport_error(
        &mut self,
        ticket: Ticket,
        now: Instant,
        jitter: Jitter,
        error: TransportError,
    ) -> Error {
        let error = Error::Transport(ticket.request().scrub_transport_error(error));
        self.finish(&ticket, now, None, jitter, Err(error.clone()))
            .err()
            .unwrap_or(error)
    }

    /// Hands back the result of a [`StoreOp::Read`](crate::StoreOp::Read) for `ticket`'s shared
    /// flight, at `now` (`wall_now` by the wall clock; `jitter` spreads the refresh point of a token
    /// adopted from the store). Says what comes next.
    pub fn handle_store_read(
        &mut self,
        ticket: &Ticket,
        now: Instant,
        wall_now: SystemTime,
        jitter: Jitter,
        result: Result<StoreView, StoreFailure>,
    ) -> StoreAnswer {
        let (policy, store) = (&self.policy, &mut self.store);
        let Some(store) = store.as_mut() else {
            return over();
        };
        self.slots
            .with_slot(ticket.key(), now, Use::Other, result, |slot, result| {
                slot.handle_store_read(ticket, now, wall_now, jitter, policy, store, result)
            })
            .unwrap_or_else(|_| over())
    }

    /// Hands back the result of a [`StoreOp::Lock`](crate::StoreOp::Lock) for `ticket`'s shared
    /// flight, at `now`: `Some(owner)` if the lock was taken with that owner, `None` if another
    /// replica holds it. Says what comes next.
    pub fn handle_store_lock(
        &mut self,
        ticket: &Ticket,
        now: Instant,
        wall_now: SystemTime,
        result: Result<Option<LockOwner>, StoreFailure>,
    ) -> StoreAnswer {
        let Some(store) = self.store.as_mut() else {
            return over();
        };
        self.slots
            .with_slot(ticket.key(), now, Use::Other, result, |slot, result| {
                slot.handle_store_lock(ticket, now, wall_now, store, result)
            })
            .unwrap_or_else(|_| over())
    }

    /// After the token request of a shared flight was answered (with `token`, or `None` after a
    /// failure): what to write to the store, if anything. The entry is sealed with `nonce` (24
    /// random bytes, fresh for every call) and carries the refresh point `jitter` gives (pass the
    /// jitter the outcome was handed back with, so that the fleet refreshes where this replica
    /// does). Call it with the ticket the request was sent with, after handing the outcome back.
    #[must_use]
    pub fn store_write(
        &self,
        ticket: &Ticket,
        token: Option<&Token>,
        now: Instant,
        wall_now: SystemTime,
        jitter: Jitter,
        nonce: [u8; 24],
    ) -> Option<StoreWrite> {
        // The slot does not take part: the ticket says what the flight owes the store.
        store_write(ticket, token, now, wall_now, jitter, nonce, &self.policy)
    }

    /// Hands back the result of a [`StoreWrite`] at `now`, for the breaker. Says whether the
    /// breaker moved.
    pub fn handle_store_write(
        &mut self,
        now: Instant,
        result: Result<(), StoreFailure>,
    ) -> Option<BreakerChange> {
        self.store
            .as_mut()
            .and_then(|store| store.record(now, result.is_ok()))
    }

    /// The caller of `ticket`'s request went away before the outcome: the request no longer
    /// counts, and the next poll sends another.
    pub fn cancel(&mut self, ticket: Ticket, now: Instant) {
        let _ = self
            .slots
            .with_slot(ticket.key(), now, Use::Other, (), |slot, ()| {
                slot.cancel(&ticket, now);
            });
    }

    /// Drops `token` for `key` if it is still the one handed out, after a 401 from a resource
    /// server. Does nothing for an older token, so a second 401 for the same token costs nothing.
    /// Returns whether the token was dropped.
    pub fn invalidate(&mut self, key: &TokenKey, token: &Token, now: Instant) -> bool {
        let dropped = self
            .slots
            .with_slot(key, now, Use::Other, (), |slot, ()| {
                slot.invalidate(token, now)
            })
            .unwrap_or(false);
        if let (true, Some(store)) = (dropped, self.store.as_mut()) {
            store.reject(key, token);
        }
        dropped
    }

    /// The next instant at which polling any key may answer differently without other input, by
    /// the monotonic clock.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots.all().filter_map(TokenSlot::poll_timeout).min()
    }

    /// The next instant at which polling `key` may answer differently without other input, by
    /// the monotonic clock.
    #[must_use]
    pub fn poll_timeout_for(&self, key: &TokenKey) -> Option<Instant> {
        self.slots.get(key).and_then(TokenSlot::poll_timeout)
    }

    /// The next wall-clock time at which polling any key may answer differently (a token
    /// reaching its refresh point or its usable-until by the wall clock), should the wall clock
    /// get there before [`poll_timeout`](Self::poll_timeout) by the monotonic one.
    #[must_use]
    pub fn poll_timeout_wall(&self) -> Option<SystemTime> {
        self.slots
            .all()
            .filter_map(TokenSlot::poll_timeout_wall)
            .min()
    }

    /// The same for `key`.
    #[must_use]
    pub fn poll_timeout_wall_for(&self, key: &TokenKey) -> Option<SystemTime> {
        self.slots.get(key).and_then(TokenSlot::poll_timeout_wall)
    }

    /// The state of `key`'s state machine, if the cache holds the key.
    #[must_use]
    pub fn state(&self, key: &TokenKey) -> Option<SlotState> {
        self.slots.get(key).map(TokenSlot::state)
    }

    /// How many keys the cache holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.idle.len() + self.slots.busy.len()
    }

    /// Whether the cache holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets `key`. An answer to its request in flight is then parsed but changes nothing.
    pub fn remove(&mut self, key: &TokenKey) {
        if self.slots.idle.remove(key).is_none() {
            if let Some(busy) = self.slots.busy.remove(key) {
                self.slots.busy_until.remove(&(busy.until, busy.serial));
            }
        }
    }

    /// Forgets every idle key (nothing in flight, no backoff running) for which `forget` says so:
    /// after a secret rotation, the keys of the old credentials, whose tokens nobody may be handed
    /// any more. A busy key stays until its request or backoff is over (its outcome still goes to
    /// it, never to another key), and then leaves with eviction.
    pub fn remove_idle_where(&mut self, mut forget: impl FnMut(&TokenKey) -> bool) {
        self.slots.idle.retain(|key, _| !forget(key));
    }

    fn max_keys(&self) -> usize {
        self.policy.max_keys.max(1)
    }

    fn finish(
        &mut self,
        ticket: &Ticket,
        now: Instant,
        wall_now: Option<SystemTime>,
        jitter: Jitter,
        outcome: Result<Arc<Token>, Error>,
    ) -> Result<Arc<Token>, Error> {
        // The error keeps the `Retry-After` the policy honours, not the server's raw value.
        let outcome = on_arrival(outcome, now, wall_now, &self.policy)
            .map_err(|error| error.with_retry_after_capped(self.policy.retry_after_max));
        let policy = &self.policy;
        // No slot (evicted or removed): the outcome is only for its caller.
        self.slots
            .with_slot(ticket.key(), now, Use::Other, outcome, |slot, outcome| {
                slot.finish(ticket, now, wall_now, jitter, policy, outcome)
            })
            .unwrap_or_else(|outcome| outcome)
    }
}

/// The answer for a ticket with no slot or no store behind it: nothing more to do.
fn over() -> StoreAnswer {
    answer(StoreNext::Over, None, None)
}

impl Slots {
    fn get(&self, key: &TokenKey) -> Option<&TokenSlot> {
        self.idle
            .get(key)
            .or_else(|| self.busy.get(key).map(|busy| &busy.slot))
    }

    fn all(&self) -> impl Iterator<Item = &TokenSlot> {
        self.idle
            .values()
            .chain(self.busy.values().map(|busy| &busy.slot))
    }

    /// Runs `call` with `input` on `key`'s slot and files the slot again by what it is at `now`:
    /// idle (a poll makes it the most recently used) or busy (until when). Gives `input` back when
    /// the cache does not hold the key.
    fn with_slot<I, R>(
        &mut self,
        key: &TokenKey,
        now: Instant,
        used: Use,
        input: I,
        call: impl FnOnce(&mut TokenSlot, I) -> R,
    ) -> Result<R, I> {
        let idle = match used {
            Use::Poll => self.idle.to_back(key),
            Use::Other => self.idle.get_mut(key),
        };
        if let Some(slot) = idle {
            let result = call(slot, input);
            if slot.busy_until(now).is_some() {
                if let Some((key, slot)) = self.idle.remove_entry(key) {
                    self.file(key, slot, now);
                }
            }
            return Ok(result);
        }
        let Some(busy) = self.busy.get_mut(key) else {
            return Err(input);
        };
        let result = call(&mut busy.slot, input);
        if busy.slot.busy_until(now) != Some(busy.until) {
            if let Some((key, busy)) = self.busy.remove_entry(key) {
                self.busy_until.remove(&(busy.until, busy.serial));
                self.file(key, busy.slot, now);
            }
        }
        Ok(result)
    }

    /// Files a slot the cache does not hold: idle, or busy until when.
    fn file(&mut self, key: TokenKey, slot: TokenSlot, now: Instant) {
        match slot.busy_until(now) {
            None => {
                self.idle.insert(key, slot);
            }
            Some(until) => {
                self.serials = self.serials.wrapping_add(1);
                let serial = self.serials;
                self.busy_until
                    .insert((until, serial), Arc::clone(slot.request()));
                self.busy.insert(
                    key,
                    Busy {
                        slot,
                        until,
                        serial,
                    },
                );
            }
        }
    }

    /// Makes room for one more key at `now`: evicts the least recently used idle slot, else a busy
    /// slot whose busy time is over. When every slot is busy, returns the instant the first one
    /// frees.
    fn make_room(&mut self, now: Instant, max_keys: usize) -> Result<(), Instant> {
        while self.idle.len() + self.busy.len() >= max_keys {
            if self.idle.pop_front().is_some() {
                continue;
            }
            let Some((&(until, serial), _)) = self.busy_until.first_key_value() else {
                break;
            };
            if until > now {
                return Err(until);
            }
            if let Some(request) = self.busy_until.remove(&(until, serial)) {
                self.busy.remove(request.key());
            }
        }
        Ok(())
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(CachePolicy::default())
    }
}
