//! The token cache: one state machine per token key, with a bound on the number of keys.
//!
//! The cache only routes calls to the key's state machine ([`crate::state_machine`]) and evicts
//! the least recently used key when the bound is reached; it takes no decision of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::Response;

use crate::error::{Error, TransportError};
use crate::key::TokenKey;
use crate::policy::{CachePolicy, Jitter};
use crate::request::TokenRequest;
use crate::state_machine::{Poll, SlotState, Ticket, TokenSlot, on_arrival, parse_for_ticket};
use crate::token::Token;

/// Tokens for many keys, each driven by its own state machine. The caller owns time and IO: every
/// call that can change state takes `now`.
///
/// The run loop of a driver:
///
/// 1. [`poll`](Self::poll) with the request and `now`, and act on the [`Poll`]:
///    use the token, send the request, wait, or fail.
/// 2. After sending: [`handle_response`](Self::handle_response) with the answer, or
///    [`handle_transport_error`](Self::handle_transport_error) when no answer came, or
///    [`cancel`](Self::cancel) when the caller went away.
/// 3. After a 401 from a resource server: [`invalidate`](Self::invalidate).
/// 4. [`poll_timeout`](Self::poll_timeout) says when polling can next answer differently.
#[derive(Debug, Clone)]
pub struct TokenCache {
    policy: CachePolicy,
    slots: HashMap<TokenKey, Entry>,
    ticket_ids: u64,
    uses: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    slot: TokenSlot,
    last_used: u64,
}

impl TokenCache {
    /// An empty cache with `policy`.
    #[must_use]
    pub fn new(policy: CachePolicy) -> Self {
        Self {
            policy,
            slots: HashMap::new(),
            ticket_ids: 0,
            uses: 0,
        }
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &CachePolicy {
        &self.policy
    }

    /// What to do now for `request`'s token. Call before every use of a token (or rely on the
    /// `fresh_until` of a [`Poll::Ready`] to skip calls until then).
    pub fn poll(&mut self, request: &TokenRequest, now: Instant) -> Poll {
        self.uses += 1;
        let uses = self.uses;
        if let Some(entry) = self.slots.get_mut(request.key()) {
            entry.last_used = uses;
            return entry.slot.poll(now, &self.policy, &mut self.ticket_ids);
        }
        self.make_room();
        let mut slot = TokenSlot::new(Arc::new(request.clone()));
        let poll = slot.poll(now, &self.policy, &mut self.ticket_ids);
        self.slots.insert(
            request.key().clone(),
            Entry {
                slot,
                last_used: uses,
            },
        );
        poll
    }

    /// Hands back the answer to `ticket`'s request, received at `now`. Returns the token or the
    /// error, for the caller that sent the request.
    ///
    /// `wall_now` turns a `Retry-After` date into a delay; `jitter` spreads the next refresh point
    /// or backoff. An answer to a ticket that is no longer current (cancelled, abandoned, or its
    /// token invalidated meanwhile) is parsed and returned but changes nothing.
    ///
    /// # Errors
    ///
    /// The parsed error, or [`ResponseProblem::ExpiredOnArrival`](crate::ResponseProblem) for a
    /// token whose usable life was over when it arrived.
    pub fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        ticket: Ticket,
        now: Instant,
        wall_now: SystemTime,
        jitter: Jitter,
        response: &Response<B>,
    ) -> Result<Arc<Token>, Error> {
        let outcome = parse_for_ticket(&ticket, response, wall_now);
        self.finish(&ticket, now, jitter, outcome)
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
        self.finish(&ticket, now, jitter, Err(error.clone()))
            .err()
            .unwrap_or(error)
    }

    /// The caller of `ticket`'s request went away before the outcome: the request no longer
    /// counts, and the next poll sends another.
    pub fn cancel(&mut self, ticket: Ticket, now: Instant) {
        if let Some(entry) = self.slots.get_mut(ticket.key()) {
            entry.slot.cancel(&ticket, now);
        }
    }

    /// Drops `token` for `key` if it is still the one handed out, after a 401 from a resource
    /// server. Does nothing for an older token, so a second 401 for the same token costs nothing.
    /// Returns whether the token was dropped.
    pub fn invalidate(&mut self, key: &TokenKey, token: &Token, now: Instant) -> bool {
        self.slots
            .get_mut(key)
            .is_some_and(|entry| entry.slot.invalidate(token, now))
    }

    /// The next instant at which polling any key may answer differently without other input.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter_map(|entry| entry.slot.poll_timeout())
            .min()
    }

    /// The next instant at which polling `key` may answer differently without other input.
    #[must_use]
    pub fn poll_timeout_for(&self, key: &TokenKey) -> Option<Instant> {
        self.slots
            .get(key)
            .and_then(|entry| entry.slot.poll_timeout())
    }

    /// The state of `key`'s state machine, if the cache holds the key.
    #[must_use]
    pub fn state(&self, key: &TokenKey) -> Option<SlotState> {
        self.slots.get(key).map(|entry| entry.slot.state())
    }

    /// How many keys the cache holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the cache holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Forgets `key`. An answer to its request in flight is then parsed but changes nothing.
    pub fn remove(&mut self, key: &TokenKey) {
        self.slots.remove(key);
    }

    fn finish(
        &mut self,
        ticket: &Ticket,
        now: Instant,
        jitter: Jitter,
        outcome: Result<Arc<Token>, Error>,
    ) -> Result<Arc<Token>, Error> {
        // The error keeps the `Retry-After` the policy honours, not the server's raw value.
        let outcome = on_arrival(outcome, now, &self.policy)
            .map_err(|error| error.with_retry_after_capped(self.policy.retry_after_max));
        match self.slots.get_mut(ticket.key()) {
            Some(entry) => entry
                .slot
                .finish(ticket, now, jitter, &self.policy, outcome),
            None => outcome,
        }
    }

    /// Evicts the least recently used key while the cache is full, preferring keys with no request
    /// in flight.
    fn make_room(&mut self) {
        let max_keys = self.policy.max_keys.max(1);
        while self.slots.len() >= max_keys {
            let victim = self
                .slots
                .iter()
                .min_by_key(|(_, entry)| (entry.slot.has_request_in_flight(), entry.last_used))
                .map(|(key, _)| key.clone());
            match victim {
                Some(key) => {
                    self.slots.remove(&key);
                }
                None => break,
            }
        }
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(CachePolicy::default())
    }
}
