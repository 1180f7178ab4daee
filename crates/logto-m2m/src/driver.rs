//! What the blocking and async managers share: the one state machine behind a mutex (never held
//! during IO), the wake-ups of waiting callers, the retry decision of one call, and the guard that
//! hands every ticket back exactly once.
//!
//! No expiry or retry decision is taken here: the state machine (`logto_m2m_proto::TokenCache`)
//! answers, and this module only turns its answer into "return", "send", "wait" or "sleep".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    CachePolicy, Error, Fetch, Poll, Ticket, Token, TokenCache, TokenKey, TokenRequest,
    TransportError,
};

use crate::events;
use crate::jitter::random_jitter;
use crate::retry::RetryPolicy;

/// The state shared by every clone of a manager.
#[derive(Debug)]
pub(crate) struct Core {
    cache: Mutex<TokenCache>,
    /// Wakes blocking callers waiting for a request in flight.
    blocking_wakeup: Condvar,
    /// Wakes async callers waiting for a request in flight, on any runtime.
    async_wakeup: event_listener::Event,
    /// Bumped by every input that can change an answer before its `fresh_until` (an outcome, a
    /// cancellation, an invalidation), so that lock-free snapshots can tell they are stale.
    changes: AtomicU64,
    pub(crate) retry: RetryPolicy,
}

/// What one call must do next.
pub(crate) enum Step {
    /// Return this usable token; the state machine gives the same answer until `fresh_until`.
    Ready(Arc<Token>, Instant),
    /// Return this to the caller.
    Done(Result<Arc<Token>, Error>),
    /// Return this token; first start this refresh in the background.
    RefreshThenDone(Arc<Token>, Fetch),
    /// Send this request and hand its outcome back.
    Fetch(Fetch),
    /// Another caller's request is in flight: wait for a wake-up, at the latest until this instant.
    Wait(Instant),
    /// The last attempt failed and a retry is allowed at this instant, within the call's budget.
    Sleep(Instant),
}

/// One call's progress: when it stops waiting, how many failed attempts it has seen, and how many
/// requests it has sent itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    deadline: Instant,
    failures_seen: u32,
    sent: u32,
}

impl Core {
    pub(crate) fn new(policy: CachePolicy, retry: RetryPolicy) -> Self {
        Self {
            cache: Mutex::new(TokenCache::new(policy)),
            blocking_wakeup: Condvar::new(),
            async_wakeup: event_listener::Event::new(),
            changes: AtomicU64::new(0),
            retry,
        }
    }

    /// The cache. A poisoned lock is taken over: the state machine's own state is always whole
    /// between calls, so a panic elsewhere leaves nothing half-done in it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, TokenCache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn start_call(&self) -> Call {
        Call {
            deadline: after(Instant::now(), self.retry.max_wait),
            failures_seen: 0,
            sent: 0,
        }
    }

    /// Decides the call's next step from the state machine's answer.
    pub(crate) fn decide(
        &self,
        cache: &mut TokenCache,
        request: &TokenRequest,
        call: &mut Call,
        can_sleep: bool,
    ) -> Step {
        let now = Instant::now();
        match cache.poll(request, now) {
            Poll::Ready { token, fresh_until } => Step::Ready(token, fresh_until),
            Poll::ReadyAndRefresh { token, fetch } => {
                events::refresh_ahead(request.key());
                Step::RefreshThenDone(token, fetch)
            }
            // The deadline bounds waiting, not sending: a retry that falls due at the deadline is
            // still sent. Failures end the call through `max_attempts`; this bounds the rest.
            Poll::Fetch(fetch) if call.sent >= self.retry.max_attempts => {
                cache.cancel(fetch.ticket, now);
                Step::Done(Err(waited_too_long()))
            }
            Poll::Fetch(fetch) => {
                call.sent += 1;
                Step::Fetch(fetch)
            }
            Poll::Pending { until } => {
                if now >= call.deadline {
                    Step::Done(Err(waited_too_long()))
                } else {
                    Step::Wait(until.min(call.deadline))
                }
            }
            Poll::Failed { error, retry_at } => {
                call.failures_seen += 1;
                let retry = can_sleep
                    && error.is_retryable()
                    && call.failures_seen < self.retry.max_attempts
                    && retry_at <= call.deadline;
                if retry {
                    events::backoff(
                        request.key(),
                        &error,
                        retry_at.saturating_duration_since(now),
                    );
                    Step::Sleep(retry_at)
                } else {
                    Step::Done(Err(error))
                }
            }
            _ => Step::Done(Err(waited_too_long())),
        }
    }

    /// Hands back the outcome of a request, and wakes every waiting caller.
    fn complete(
        &self,
        ticket: Ticket,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> Result<Arc<Token>, Error> {
        // The ticket is handed back below; a copy (a reference count) names the key in the event.
        let fetched = ticket.clone();
        let now = Instant::now();
        let jitter = random_jitter();
        let result = {
            let mut cache = self.lock();
            match outcome {
                // The body holds the token: zeroized as soon as it is parsed.
                Ok(response) => cache.handle_response(
                    ticket,
                    now,
                    SystemTime::now(),
                    jitter,
                    &response.map(zeroize::Zeroizing::new),
                ),
                Err(error) => Err(cache.handle_transport_error(ticket, now, jitter, error)),
            }
        };
        self.changed();
        events::fetch_finished(fetched.key(), &result);
        result
    }

    fn cancel(&self, ticket: Ticket) {
        self.lock().cancel(ticket, Instant::now());
        self.changed();
    }

    /// Drops `token` if it is still current for `key`; returns whether it was.
    pub(crate) fn invalidate(&self, key: &TokenKey, token: &Token) -> bool {
        let dropped = self.lock().invalidate(key, token, Instant::now());
        if dropped {
            events::invalidated(key);
            self.changed();
        }
        dropped
    }

    /// How many inputs have changed the state machine so far; see [`changed`](Self::changed).
    pub(crate) fn change_count(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// After an input that changed the state machine: stale snapshots are dropped, and every
    /// waiting caller is woken to poll again.
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Release);
        self.blocking_wakeup.notify_all();
        self.async_wakeup.notify(usize::MAX);
    }

    /// Blocks on the wake-up of blocking callers until `until` at the latest.
    pub(crate) fn wait_blocking<'a>(
        &self,
        cache: MutexGuard<'a, TokenCache>,
        until: Instant,
    ) -> MutexGuard<'a, TokenCache> {
        let timeout = until.saturating_duration_since(Instant::now());
        match self.blocking_wakeup.wait_timeout(cache, timeout) {
            Ok((cache, _)) => cache,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// A listener for the wake-up of async callers. Take it while holding the cache lock, so that no
    /// wake-up can be missed between the decision to wait and the wait.
    pub(crate) fn listen(&self) -> event_listener::EventListener {
        self.async_wakeup.listen()
    }
}

/// A ticket in flight. Hands the ticket back exactly once: with the outcome, or as a cancellation
/// when dropped first (the caller's future was dropped, or it panicked), so a slot never wedges.
pub(crate) struct InFlight {
    core: Arc<Core>,
    ticket: Option<Ticket>,
}

impl InFlight {
    pub(crate) fn new(core: Arc<Core>, ticket: Ticket) -> Self {
        events::fetch_started(ticket.key());
        Self {
            core,
            ticket: Some(ticket),
        }
    }

    /// Hands back the outcome of the request.
    pub(crate) fn complete(
        mut self,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> Result<Arc<Token>, Error> {
        match self.ticket.take() {
            Some(ticket) => self.core.complete(ticket, outcome),
            None => Err(waited_too_long()),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.core.cancel(ticket);
        }
    }
}

/// The error for a call that ran out of its wait budget with no outcome.
pub(crate) fn waited_too_long() -> Error {
    Error::Transport(TransportError::new(
        logto_m2m_proto::TransportErrorKind::Timeout,
        "no token within the call's wait budget: another caller's request is still in flight",
    ))
}

/// `at + delay`, saturating.
pub(crate) fn after(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay).unwrap_or(at)
}
