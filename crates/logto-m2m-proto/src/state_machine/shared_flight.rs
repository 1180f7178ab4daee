//! The shared flight: a flight that asks the shared store first. Its transitions (read, adopt,
//! lock, wait, fetch with or without the lock), and what its token request owes the store once
//! answered (the sealed entry to publish, the lock to release). The protocol is described in
//! `crate::shared_store` and docs/shared-store.md.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::store_state::StoreState;
use super::{Held, State, Ticket, TokenSlot, after};
use crate::policy::{CachePolicy, Jitter};
use crate::shared_entry::{self, Opened};
use crate::shared_store::{
    BreakerChange, EntryRefusal, LockOwner, SealedEntry, SharedStorePolicy, StoreAnswer,
    StoreFailure, StoreKey, StoreNext, StoreOp, StoreView, StoreWrite,
};
use crate::token::Token;

/// What the token request of a shared flight owes the store once it is answered: its token, and
/// the release of the lock if it holds it. (A flight the store failed becomes a plain one: its
/// ticket carries no share, and nothing is written.)
#[derive(Debug, Clone)]
pub(super) struct TicketShare {
    pub(super) key: StoreKey,
    /// The lock this flight holds, to release.
    pub(super) owner: Option<LockOwner>,
}

/// The store's side of the current flight, when it is a shared one.
#[derive(Debug, Clone)]
pub(super) struct SharedFlight {
    /// The flight it belongs to.
    pub(super) id: u64,
    /// Once another replica's lock was seen: how long to wait for its entry.
    pub(super) wait_until: Option<Instant>,
}

/// How much later than its publisher's a replica's refresh point of an adopted token may be, as a
/// fraction of the token's usable life (by the replica's jitter): enough that the replicas do not
/// all read the store at one instant, small enough that the fleet refreshes about where its
/// publisher would have (the fleet simulation in benches/ measures what it costs).
const ADOPTED_REFRESH_SPREAD: f64 = 0.02;

impl TokenSlot {
    /// The key's place in the shared store (computed once).
    pub(super) fn store_key(&mut self) -> StoreKey {
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
        store: &mut StoreState,
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
        store: &mut StoreState,
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
        store: &StoreState,
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
        if store.rejects(self.request.key(), token) {
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
        ticket.shared = Some(TicketShare { key, owner });
        StoreNext::Fetch(self.fetch(ticket))
    }

    /// The store failed this flight: a plain token request, nothing owed to the store.
    fn fetch_without_store(&mut self, ticket: &Ticket) -> StoreNext {
        self.shared = None;
        let mut ticket = ticket.clone();
        ticket.shared = None;
        StoreNext::Fetch(self.fetch(ticket))
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
    let entry = token.and_then(|token| {
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
