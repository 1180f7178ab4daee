//! What the blocking and async managers share when a flight goes through the shared store: the
//! store results handed back to the state machine, and its answers turned into the next task for
//! the driver ("read", "lock", "wait", "send", "done"), each bounded in time. The drivers only
//! carry the tasks out on their store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use logto_m2m_proto::http::Request;
use logto_m2m_proto::{
    Error, LockOwner, StoreAnswer, StoreFailure, StoreKey, StoreNext, StoreOp, StoreView,
    StoreWrite, Ticket, Token, TokenCache, TokenKey,
};

use crate::driver::{Core, InFlight, out_of_time};
use crate::events;
use crate::randomness::{lock_owner, random_jitter};
use crate::shared_store::StoreError;

/// The next thing a driver does for a shared flight.
pub(crate) enum StoreTask {
    /// Read the key's entry and lock, within this time.
    Read(Duration),
    /// Try to take the key's lock with this owner, for this long, within this time.
    Lock {
        owner: LockOwner,
        ttl: Duration,
        timeout: Duration,
    },
    /// Wait for the key's entry to be published, this long at most, then read again.
    Wait(Duration),
    /// Send this token request (through the flight's guard).
    Send(Request<Vec<u8>>),
    /// The flight is over: give this to the caller.
    Done(Result<Arc<Token>, Error>),
}

/// How the store phase of a shared flight ends.
pub(crate) enum StoreEnd {
    /// With this token request to send (through the flight's guard).
    Send(Request<Vec<u8>>),
    /// With the flight over: give this to the caller.
    Done(Result<Arc<Token>, Error>),
}

impl Core {
    /// The task for the store operation `op` of the flight held by `guard`, ending by `deadline`.
    pub(crate) fn store_task(
        &self,
        guard: &mut InFlight,
        key: &StoreKey,
        op: StoreOp,
        deadline: Instant,
    ) -> StoreTask {
        let now = self.now();
        let left = deadline.saturating_duration_since(now);
        let Some(policy) = self.store_policy.filter(|_| !left.is_zero()) else {
            return StoreTask::Done(Err(out_of_time()));
        };
        let timeout = policy.op_timeout.min(left);
        match op {
            StoreOp::Read => StoreTask::Read(timeout),
            StoreOp::Lock { ttl } => StoreTask::Lock {
                owner: lock_owner(),
                ttl,
                timeout,
            },
            StoreOp::Wait { until } => {
                if let (false, Some(ticket)) = (guard.waited, guard.ticket()) {
                    events::store_waiting(ticket.key(), key);
                }
                guard.waited = true;
                let wait = until
                    .saturating_duration_since(now)
                    .min(policy.poll_interval)
                    .min(left);
                StoreTask::Wait(wait)
            }
            _ => StoreTask::Done(Err(out_of_time())),
        }
    }

    /// Hands back the result of a read; the next task.
    pub(crate) fn store_read(
        &self,
        guard: &mut InFlight,
        key: &StoreKey,
        result: Result<StoreView, StoreError>,
        deadline: Instant,
    ) -> StoreTask {
        self.hand_back(guard, key, result, deadline, |cache, ticket, result| {
            let (now, wall_now) = (self.now(), self.wall_now());
            cache.handle_store_read(ticket, now, wall_now, random_jitter(), result)
        })
    }

    /// Hands back the result of trying to take the lock with `owner`; the next task.
    pub(crate) fn store_locked(
        &self,
        guard: &mut InFlight,
        key: &StoreKey,
        owner: LockOwner,
        result: Result<bool, StoreError>,
        deadline: Instant,
    ) -> StoreTask {
        let result = result.map(|won| won.then_some(owner));
        self.hand_back(guard, key, result, deadline, |cache, ticket, result| {
            cache.handle_store_lock(ticket, self.now(), self.wall_now(), result)
        })
    }

    /// Hands a store result back with `hand` (a failure is said, and given to the state machine
    /// by its kind), and turns the answer into the next task.
    fn hand_back<T>(
        &self,
        guard: &mut InFlight,
        key: &StoreKey,
        result: Result<T, StoreError>,
        deadline: Instant,
        hand: impl FnOnce(&mut TokenCache, &Ticket, Result<T, StoreFailure>) -> StoreAnswer,
    ) -> StoreTask {
        let Some(ticket) = guard.ticket().cloned() else {
            return StoreTask::Done(Err(out_of_time()));
        };
        if let Err(error) = &result {
            events::store_failed(ticket.key(), error);
        }
        let answer = hand(
            &mut self.lock(),
            &ticket,
            result.map_err(|error| error.kind),
        );
        self.follow(guard, key, answer, deadline)
    }

    /// How long one store operation may take.
    pub(crate) fn store_op_timeout(&self) -> Duration {
        self.store_policy
            .map_or(Duration::ZERO, |policy| policy.op_timeout)
    }

    /// Hands back the result of a write to the store.
    pub(crate) fn store_written(
        &self,
        write: &StoreWrite,
        key: &TokenKey,
        result: Result<(), StoreError>,
    ) {
        match &result {
            Ok(()) if write.entry.is_some() => events::store_published(key),
            Ok(()) => {}
            Err(error) => events::store_failed(key, error),
        }
        let change = self
            .lock()
            .handle_store_write(self.now(), result.map_err(|error| error.kind));
        if let Some(change) = change {
            events::store_breaker(change);
        }
    }

    /// Turns the state machine's answer into the next task.
    fn follow(
        &self,
        guard: &mut InFlight,
        key: &StoreKey,
        answer: StoreAnswer,
        deadline: Instant,
    ) -> StoreTask {
        if let (Some(refusal), Some(ticket)) = (answer.refused, guard.ticket()) {
            events::store_entry_refused(ticket.key(), refusal);
        }
        if let Some(change) = answer.breaker {
            events::store_breaker(change);
        }
        match answer.next {
            StoreNext::Op(op) => self.store_task(guard, key, op, deadline),
            StoreNext::Fetch(fetch) => {
                guard.replace_ticket(fetch.ticket);
                StoreTask::Send(fetch.request)
            }
            StoreNext::Adopted(token) => {
                if let Some(ticket) = guard.ticket() {
                    events::store_adopted(ticket.key());
                }
                // The state machine took the ticket back with the entry.
                guard.settled();
                self.changed();
                StoreTask::Done(Ok(token))
            }
            _ => StoreTask::Done(Err(out_of_time())),
        }
    }
}
