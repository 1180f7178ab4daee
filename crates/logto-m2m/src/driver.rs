//! What the blocking and async managers share: the one state machine behind a mutex (never held
//! during IO), the wake-ups of waiting callers, the deadline and retry decisions of one call, and
//! the guard that hands every ticket back exactly once.
//!
//! No expiry or retry decision is taken here: the state machine (`logto_m2m_proto::TokenCache`)
//! answers, and this module only turns its answer into "return", "send", "wait" or "sleep".

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use logto_m2m_proto::http::{Request, Response};
use logto_m2m_proto::{
    CachePolicy, CredentialsFingerprint, Error, Fetch, Poll, SharedStep, SharedStorePolicy,
    StoreKey, StoreOp, StoreWrite, Ticket, Token, TokenCache, TokenKey, TokenRequest,
    TransportError, TransportErrorKind,
};

use crate::attempt_timeout::AttemptTimeout;
use crate::clock::ManagerClock;
use crate::events;
use crate::randomness::{entry_nonce, random_jitter};
use crate::retry::RetryPolicy;
use crate::source::FreshUntil;
use crate::sync::{AtomicU64, Condvar, Mutex, MutexGuard};

/// The state shared by every clone of a manager.
#[derive(Debug)]
pub(crate) struct Core {
    cache: Mutex<TokenCache>,
    /// Wakes blocking callers waiting for a request in flight.
    blocking_wakeup: Condvar,
    /// Wakes async callers waiting for a request in flight, on any runtime (`tokio::sync::Notify`
    /// needs no tokio runtime, registers a waiter without allocating, and wakes outside its lock).
    async_wakeup: tokio::sync::Notify,
    /// Bumped by every input that can change an answer before its `fresh_until` (an outcome, a
    /// cancellation, an invalidation), so that lock-free snapshots can tell they are stale.
    changes: AtomicU64,
    pub(crate) retry: RetryPolicy,
    pub(crate) clock: ManagerClock,
    /// The shared store's policy, when the manager has a store (fixed for its life).
    pub(crate) store_policy: Option<SharedStorePolicy>,
    /// Under the model check: how many tickets are out with a guard, not yet handed back.
    #[cfg(logto_m2m_loom)]
    pub(crate) tickets_out: loom::sync::atomic::AtomicUsize,
}

/// What one call must do next.
pub(crate) enum Step {
    /// Return this usable token; the state machine gives the same answer until `fresh_until`.
    Ready(Arc<Token>, FreshUntil),
    /// Return this to the caller.
    Done(Result<Arc<Token>, Error>),
    /// Return this token; first start this refresh in the background.
    RefreshThenDone(Arc<Token>, Attempt),
    /// Send this request and hand its outcome back.
    Fetch(Attempt),
    /// Another caller's request is in flight: wait for a wake-up, at the latest until this instant.
    Wait(Instant),
    /// The last attempt failed and a retry is allowed at this instant, within the call's budget.
    Sleep(Instant),
}

/// A flight to carry out (a request to send, or the shared store to ask first), its ticket, and
/// the instant by which it must end.
pub(crate) struct Attempt {
    pub(crate) work: Work,
    pub(crate) deadline: Instant,
}

/// How a flight starts.
#[allow(clippy::large_enum_variant)] // moved once per flight
pub(crate) enum Work {
    /// Send this token request.
    Send(Fetch),
    /// Ask the shared store first.
    Shared(SharedStep),
}

/// A started flight's first move, its ticket now held by its guard.
#[allow(clippy::large_enum_variant)] // moved once per flight
pub(crate) enum Started {
    /// Send this token request.
    Send(Request<Vec<u8>>),
    /// Carry out this store operation for this key.
    Shared(StoreKey, StoreOp),
}

/// One call's progress: its deadline, how many failed attempts it has seen, how many requests it
/// has sent itself and how long the last one took, and the last error it saw.
#[derive(Debug)]
pub(crate) struct Call {
    /// `None`: no limit (`max_wait` too large to be an instant).
    deadline: Option<Instant>,
    polls: u32,
    failures_seen: u32,
    sent: u32,
    last_attempt: Duration,
    last_error: Option<Error>,
}

impl Call {
    /// Whether an attempt starting at `at` leaves it the time it needs before the deadline: for
    /// the call's first poll, any time at all; after that, `min_attempt_time` or as long as the
    /// call's previous attempt took, whichever is longer.
    fn fits(&self, at: Instant, retry: &RetryPolicy) -> bool {
        let Some(deadline) = self.deadline else {
            return true;
        };
        let needed = if self.polls <= 1 {
            Duration::ZERO
        } else {
            retry.min_attempt_time.max(self.last_attempt)
        };
        at < deadline && deadline.saturating_duration_since(at) >= needed
    }

    /// The instant by which an attempt started now must end: the call's deadline, or earlier the
    /// instant its request counts as abandoned.
    fn attempt_deadline(&self, abandoned_at: Instant) -> Instant {
        self.deadline
            .map_or(abandoned_at, |deadline| deadline.min(abandoned_at))
    }

    /// The call's deadline, `None` for no limit.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The error for a call that ends without a token: the last one it saw, else a timeout.
    fn give_up(&mut self) -> Error {
        self.last_error.take().unwrap_or_else(out_of_time)
    }

    /// Records how long the attempt started at `started` took, up to `now`.
    pub(crate) fn attempt_took(&mut self, started: Instant, now: Instant) {
        self.last_attempt = now.saturating_duration_since(started);
    }
}

impl Core {
    pub(crate) fn new(
        policy: CachePolicy,
        retry: RetryPolicy,
        clock: ManagerClock,
        store: Option<SharedStorePolicy>,
    ) -> Self {
        events::manager_built();
        let cache = TokenCache::new(policy);
        let cache = match store {
            Some(store) => cache.with_shared_store(store),
            None => cache,
        };
        Self {
            cache: Mutex::new(cache),
            blocking_wakeup: Condvar::new(),
            async_wakeup: tokio::sync::Notify::new(),
            changes: AtomicU64::new(0),
            retry,
            clock,
            store_policy: store,
            #[cfg(logto_m2m_loom)]
            tickets_out: loom::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The current instant on the manager's clock.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The current wall-clock time on the manager's clock.
    pub(crate) fn wall_now(&self) -> std::time::SystemTime {
        self.clock.wall_now()
    }

    /// The cache. A poisoned lock is taken over: the state machine's own state is always whole
    /// between calls, so a panic elsewhere leaves nothing half-done in it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, TokenCache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn start_call(&self) -> Call {
        self.start_call_at(self.now())
    }

    /// A call that started at `started` (its deadline counts from then).
    pub(crate) fn start_call_at(&self, started: Instant) -> Call {
        Call {
            deadline: self.call_deadline(started),
            polls: 0,
            failures_seen: 0,
            sent: 0,
            last_attempt: Duration::ZERO,
            last_error: None,
        }
    }

    /// The deadline of a call that starts at `started`; `None`: no limit (`max_wait` too large to
    /// be an instant).
    pub(crate) fn call_deadline(&self, started: Instant) -> Option<Instant> {
        started.checked_add(self.retry.max_wait)
    }

    /// Decides the call's next step from the state machine's answer.
    pub(crate) fn decide(
        &self,
        cache: &mut TokenCache,
        request: &TokenRequest,
        call: &mut Call,
    ) -> Step {
        let now = self.now();
        call.polls = call.polls.saturating_add(1);
        let abandoned_at = after(now, cache.policy().in_flight_timeout);
        let wall_now = self.clock.wall_now();
        match cache.poll(request, now, wall_now) {
            Poll::Ready {
                token,
                fresh_until,
                fresh_until_wall,
            } => {
                events::served_from_cache(request.key());
                let until = (fresh_until, fresh_until_wall);
                Step::Ready(
                    token,
                    FreshUntil {
                        instant: fresh_until,
                        wall: fresh_until_wall,
                        boot: self.clock.boot_deadline(until, (now, wall_now)),
                    },
                )
            }
            Poll::ReadyAndRefresh { token, fetch } => {
                Self::refresh_then_done(request, token, Work::Send(fetch), abandoned_at)
            }
            Poll::ReadyAndShared { token, step } => {
                Self::refresh_then_done(request, token, Work::Shared(step), abandoned_at)
            }
            Poll::Fetch(fetch) => self.fetch(cache, call, now, Work::Send(fetch), abandoned_at),
            Poll::Shared(step) => self.fetch(cache, call, now, Work::Shared(step), abandoned_at),
            Poll::Pending { until } => match call.deadline {
                Some(deadline) if now >= deadline => Step::Done(Err(call.give_up())),
                Some(deadline) => Step::Wait(until.min(deadline)),
                None => Step::Wait(until),
            },
            Poll::Failed { error, retry_at } => {
                call.failures_seen += 1;
                // The retry happens on a later poll than this one.
                call.polls = call.polls.max(2);
                let retry = error.is_retryable_within_call()
                    && call.failures_seen < self.retry.max_attempts
                    && call.fits(retry_at, &self.retry);
                if retry {
                    events::backoff(
                        request.key(),
                        &error,
                        retry_at.saturating_duration_since(now),
                    );
                    call.last_error = Some(error);
                    Step::Sleep(retry_at)
                } else {
                    Step::Done(Err(error))
                }
            }
            _ => Step::Done(Err(call.give_up())),
        }
    }

    /// Serve `token`, and refresh it with `work` in the background.
    fn refresh_then_done(
        request: &TokenRequest,
        token: Arc<Token>,
        work: Work,
        abandoned_at: Instant,
    ) -> Step {
        events::served_from_cache(request.key());
        events::refresh_ahead(request.key());
        // Nobody waits for it: it only has to end before it would count as abandoned.
        let deadline = abandoned_at;
        Step::RefreshThenDone(token, Attempt { work, deadline })
    }

    /// Carry out `work` within the call's budget; if the budget is spent, nothing was sent: the
    /// ticket goes straight back, and the next caller may send.
    fn fetch(
        &self,
        cache: &mut TokenCache,
        call: &mut Call,
        now: Instant,
        work: Work,
        abandoned_at: Instant,
    ) -> Step {
        if call.sent >= self.retry.max_attempts || !call.fits(now, &self.retry) {
            cache.cancel(work.into_ticket(), now);
            return Step::Done(Err(call.give_up()));
        }
        call.sent += 1;
        let deadline = call.attempt_deadline(abandoned_at);
        Step::Fetch(Attempt { work, deadline })
    }

    /// Hands back the outcome of a request, and wakes every waiting caller. Also says what the
    /// request owes the shared store, if anything.
    fn complete(
        &self,
        ticket: Ticket,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> (Result<Arc<Token>, Error>, Option<StoreWrite>) {
        // The ticket is handed back below; a copy (a reference count) names the key in the event.
        let fetched = ticket.clone();
        let now = self.now();
        let jitter = random_jitter();
        let wall_now = self.clock.wall_now();
        let (result, write) = {
            let mut cache = self.lock();
            let result = match outcome {
                // The body holds the token: zeroized as soon as it is parsed.
                Ok(response) => cache.handle_response(
                    ticket,
                    now,
                    wall_now,
                    jitter,
                    &response.map(zeroize::Zeroizing::new),
                ),
                Err(error) => Err(cache.handle_transport_error(ticket, now, jitter, error)),
            };
            let write = self.store_policy.and_then(|_| {
                let token = result.as_deref().ok();
                cache.store_write(&fetched, token, now, wall_now, jitter, entry_nonce())
            });
            (result, write)
        };
        self.changed();
        events::fetch_finished(
            fetched.key(),
            &result,
            now.saturating_duration_since(fetched.sent_at()),
        );
        (result, write)
    }

    fn cancel(&self, ticket: Ticket) {
        self.lock().cancel(ticket, self.now());
        self.changed();
    }

    /// Drops `token` if it is still current for `key`; returns whether it was.
    pub(crate) fn invalidate(&self, key: &TokenKey, token: &Token) -> bool {
        let dropped = self.lock().invalidate(key, token, self.now());
        if dropped {
            events::invalidated(key);
            self.changed();
        }
        dropped
    }

    /// After a secret rotation away from the `old` credentials: their idle keys are forgotten (their
    /// tokens are handed out to nobody any more), and every remembered answer is stale.
    pub(crate) fn rotated(&self, old: CredentialsFingerprint) {
        self.lock()
            .remove_idle_where(|key| key.credentials() == old);
        self.changed();
    }

    /// How many inputs have changed the state machine so far; see [`changed`](Self::changed).
    pub(crate) fn change_count(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// After an input that changed the state machine: stale snapshots are dropped, and every
    /// waiting caller is woken to poll again.
    pub(crate) fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Release);
        self.blocking_wakeup.notify_all();
        self.async_wakeup.notify_waiters();
    }

    /// Blocks on the wake-up of blocking callers until `until` at the latest.
    pub(crate) fn wait_blocking<'a>(
        &self,
        cache: MutexGuard<'a, TokenCache>,
        until: Instant,
    ) -> MutexGuard<'a, TokenCache> {
        let timeout = until.saturating_duration_since(self.now());
        match self.blocking_wakeup.wait_timeout(cache, timeout) {
            Ok((cache, _)) => cache,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// Just before `request` is sent: the time its exchange may take until `deadline`, also given
    /// to the transport as an [`AttemptTimeout`]; `None` when none is left (a refresh task that
    /// started late, say): the attempt must not be sent.
    pub(crate) fn time_left(
        &self,
        request: &mut Request<Vec<u8>>,
        deadline: Instant,
    ) -> Option<Duration> {
        let left = deadline.saturating_duration_since(self.now());
        request.extensions_mut().insert(AttemptTimeout(left));
        (!left.is_zero()).then_some(left)
    }

    /// A listener for the wake-up of async callers: woken by every wake-up from the moment it is
    /// taken, polled or not. Take it while holding the cache lock (or before reading the change
    /// count), so that no wake-up can be missed between the decision to wait and the wait.
    pub(crate) fn listen(&self) -> tokio::sync::futures::Notified<'_> {
        self.async_wakeup.notified()
    }

    /// Wakes every waiting async caller without a change (a source's watch timer given up), to
    /// look again.
    pub(crate) fn wake_async_waiters(&self) {
        self.async_wakeup.notify_waiters();
    }
}

impl Work {
    fn into_ticket(self) -> Ticket {
        match self {
            Self::Send(fetch) => fetch.ticket,
            Self::Shared(step) => step.ticket,
        }
    }
}

impl Attempt {
    /// The guard of its ticket, its first move, and the instant the flight must end by.
    pub(crate) fn start(self, core: &Arc<Core>) -> (InFlight, Started, Instant) {
        let (ticket, started) = match self.work {
            Work::Send(Fetch { ticket, request }) => (ticket, Started::Send(request)),
            Work::Shared(SharedStep { ticket, key, op }) => (ticket, Started::Shared(key, op)),
        };
        (
            InFlight::new(Arc::clone(core), ticket),
            started,
            self.deadline,
        )
    }

    /// The same attempt, ending by `deadline` at the latest.
    pub(crate) fn end_by(mut self, deadline: Option<Instant>) -> Self {
        if let Some(deadline) = deadline {
            self.deadline = self.deadline.min(deadline);
        }
        self
    }
}

/// A ticket in flight. Hands the ticket back exactly once: with the outcome; as a failure when
/// dropped while its thread panics (a panicking transport or spawner), so that the state machine
/// backs off as after any failure; as a cancellation when dropped otherwise (the caller's future
/// was dropped, a spawner dropped the task), so a slot never wedges.
pub(crate) struct InFlight {
    core: Arc<Core>,
    ticket: Option<Ticket>,
    /// Whether the flight has waited for another replica's entry yet (said once per flight).
    pub(crate) waited: bool,
}

impl InFlight {
    pub(crate) fn new(core: Arc<Core>, ticket: Ticket) -> Self {
        #[cfg(logto_m2m_loom)]
        core.tickets_out.fetch_add(1, Ordering::SeqCst);
        Self {
            core,
            ticket: Some(ticket),
            waited: false,
        }
    }

    /// Just before its token request is sent.
    pub(crate) fn sending(&self) {
        if let Some(ticket) = &self.ticket {
            events::fetch_started(ticket.key());
        }
    }

    /// Hands back the outcome of the request; says what it owes the shared store.
    pub(crate) fn complete(
        mut self,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> (Result<Arc<Token>, Error>, Option<StoreWrite>) {
        match self.ticket.take() {
            Some(ticket) => {
                let completed = self.core.complete(ticket, outcome);
                self.handed_back();
                completed
            }
            None => (Err(out_of_time()), None),
        }
    }

    /// The ticket, to hand a store result back with.
    pub(crate) fn ticket(&self) -> Option<&Ticket> {
        self.ticket.as_ref()
    }

    /// The flight goes on with `ticket` (which says what it now owes the store).
    pub(crate) fn replace_ticket(&mut self, ticket: Ticket) {
        if self.ticket.is_some() {
            self.ticket = Some(ticket);
        }
    }

    /// The ticket was handed back another way (with a token adopted from the shared store):
    /// nothing is left to hand back.
    pub(crate) fn settled(&mut self) {
        if self.ticket.take().is_some() {
            self.handed_back();
        }
    }

    /// Under the model check: counts the ticket as handed back, and fails a second hand-back.
    fn handed_back(&self) {
        #[cfg(logto_m2m_loom)]
        assert!(
            self.core.tickets_out.fetch_sub(1, Ordering::SeqCst) > 0,
            "a ticket was handed back twice"
        );
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            if std::thread::panicking() {
                let panicked = TransportError::new(
                    TransportErrorKind::Other,
                    "the request's transport or task panicked",
                );
                let _ = self.core.complete(ticket, Err(panicked));
            } else {
                self.core.cancel(ticket);
            }
            self.handed_back();
        }
    }
}

/// The error for a call that ran out of its time budget with no outcome of its own.
pub(crate) fn out_of_time() -> Error {
    Error::Transport(TransportError::new(
        TransportErrorKind::Timeout,
        "no token within the call's time budget (max_wait)",
    ))
}

/// The error for an attempt that did not end within its time budget.
pub(crate) fn attempt_timed_out() -> TransportError {
    TransportError::new(
        TransportErrorKind::Timeout,
        "no answer within the attempt's time budget",
    )
}

/// Far enough in the future to stand for "never", for durations set absurdly large.
const FAR_FUTURE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// `at + delay`, with a delay beyond ten years taken as ten years.
pub(crate) fn after(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay.min(FAR_FUTURE)).unwrap_or(at)
}
