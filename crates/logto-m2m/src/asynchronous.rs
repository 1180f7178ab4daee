//! The async token manager: a thin driver of the state machine for any async runtime. It needs no
//! runtime of its own: waiting callers are woken by a `tokio::sync::Notify` (tokio's
//! synchronization primitives run on any runtime); refreshes ahead of expiry run on the spawner the
//! caller provides, if any; deadlines and backoff sleeps run on the caller's sleeper, or else on a
//! runtime-agnostic timer (`futures-timer`). The callers of a [`TokenSource`] that wait for the
//! same request share one watch of it (see [`crate::flight_watch`]).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll as TaskPoll;
use std::time::{Duration, Instant};

use logto_m2m_proto::http::Request;
use logto_m2m_proto::{
    AppSecret, ClientConfig, ConfigError, Error, StoreFailure, StoreKey, StoreOp, Token,
    TokenParams, TokenRequest,
};
use tokio::sync::futures::Notified;

use crate::builder::TokenManagerBuilder;
use crate::config_cell::ConfigCell;
use crate::driver::{Attempt, Core, InFlight, Started, Step, attempt_timed_out, out_of_time};
use crate::env::EnvError;
use crate::flight_watch::WatchTimer;
use crate::shared_flight::{StoreEnd, StoreTask};
use crate::shared_store::{SharedStore, StoreError};
use crate::source::{FreshUntil, SnapshotCell, SourceInner, TokenSource};
use crate::transport::{IntoTransportError, Transport};

/// A boxed future that a [`Spawn`] runs to completion in the background.
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs background tasks (refreshes ahead of expiry) on your runtime. Closures
/// `Fn(BackgroundTask)` are spawners: `|task| { tokio::spawn(task); }`.
pub trait Spawn: Send + Sync + 'static {
    /// Starts `task` and returns at once.
    fn spawn(&self, task: BackgroundTask);
}

impl<F> Spawn for F
where
    F: Fn(BackgroundTask) + Send + Sync + 'static,
{
    fn spawn(&self, task: BackgroundTask) {
        self(task);
    }
}

/// Sleeps on your runtime's timer. Closures `Fn(Duration) -> impl Future` are sleepers:
/// `|d| tokio::time::sleep(d)`. Without one, a manager sleeps on [`DefaultSleeper`].
pub trait Sleep: Send + Sync + 'static {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

impl<F, Fut> Sleep for F
where
    F: Fn(Duration) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(self(duration))
    }
}

/// The sleeper of a manager built without one: a runtime-agnostic timer (`futures-timer`'s, which
/// keeps one helper thread for all its timers), so that retries and deadlines work on any runtime.
/// A runtime's own timer ([`TokenManagerBuilder::sleeper`]) replaces it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultSleeper;

impl Sleep for DefaultSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(futures_timer::Delay::new(duration))
    }
}

/// Gets, caches and refreshes Logto M2M tokens for async code, on any runtime. Cheap to clone;
/// clones share the cache.
///
/// With N concurrent callers on a key that has no usable token, exactly one request is sent and the
/// others wait for its outcome (woken, never polling a timer). Dropping a caller's future in the
/// middle of its fetch hands the request back, so the next caller fetches again.
pub struct AsyncTokenManager<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    core: Arc<Core>,
    transport: T,
    config: ConfigCell,
    spawner: Option<Arc<dyn Spawn>>,
    sleeper: Arc<dyn Sleep>,
    /// Whether a refresh task dropped unstarted has been reported.
    unstarted_reported: Arc<AtomicBool>,
    /// Whether a panicking sleeper has been reported.
    sleeper_panic_reported: AtomicBool,
    /// The store shared with other replicas, if any.
    store: Option<Arc<dyn SharedStore>>,
}

impl<T> Clone for AsyncTokenManager<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for AsyncTokenManager<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTokenManager")
            .field("config", &self.inner.config.current())
            .field("spawner", &self.inner.spawner.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Transport + 'static> AsyncTokenManager<T> {
    /// A manager with the default policies, no spawner (the caller that reaches a token's refresh
    /// point performs the refresh) and the [`DefaultSleeper`]: calls retry, and respect their
    /// deadline (`RetryPolicy::max_wait`), on any runtime. To refresh in the background and sleep on
    /// your runtime's timer, set a spawner and a sleeper with [`builder`](Self::builder)
    /// (`logto_m2m_hyper::with_tokio` sets tokio's).
    pub fn new(transport: T, config: ClientConfig) -> Self {
        TokenManagerBuilder::new(transport, config).build_async()
    }

    /// A builder, to set policies, a spawner and a sleeper.
    pub fn builder(transport: T, config: ClientConfig) -> TokenManagerBuilder<T> {
        TokenManagerBuilder::new(transport, config)
    }

    /// A builder configured from the environment (every variable: [`crate::config_from_env`]).
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable that is missing or malformed.
    pub fn from_env(transport: T) -> Result<TokenManagerBuilder<T>, EnvError> {
        TokenManagerBuilder::from_env(transport)
    }

    pub(crate) fn from_builder(builder: TokenManagerBuilder<T>) -> Self {
        let (store, store_policy) = builder.store.for_async();
        Self {
            inner: Arc::new(Inner {
                core: Arc::new(Core::new(
                    builder.cache_policy,
                    builder.retry_policy,
                    builder.clock,
                    store_policy,
                )),
                transport: builder.transport,
                config: ConfigCell::new(builder.config),
                spawner: builder.spawner,
                sleeper: builder.sleeper.unwrap_or_else(|| Arc::new(DefaultSleeper)),
                unstarted_reported: Arc::default(),
                sleeper_panic_reported: AtomicBool::new(false),
                store,
            }),
        }
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> ClientConfig {
        self.inner.config.current()
    }

    /// Rotates the app secret: from now on, requests are sent with `secret`. Tokens fetched with
    /// the old secret are not handed out for the new one (the token key carries the credentials'
    /// fingerprint), and an answer to a request sent with the old secret never lands in the new
    /// key. [`TokenSource`]s follow the rotation; a [`TokenRequest`] built before it is refused
    /// (build it again with [`request`](Self::request)).
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyAppSecret`] when `secret` is empty; the old secret stays in force.
    pub fn rotate_secret(&self, secret: impl Into<AppSecret>) -> Result<(), ConfigError> {
        if let Some(old) = self.inner.config.rotate_secret(&secret.into())? {
            self.inner.core.rotated(old);
        }
        Ok(())
    }

    /// Checks `params` into a request for this manager's app.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for anything Logto would refuse.
    pub fn request(&self, params: TokenParams) -> Result<TokenRequest, ConfigError> {
        TokenRequest::new(&self.inner.config.current(), params)
    }

    /// A lock-free handle for the token `params` asks for.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for anything Logto would refuse.
    pub fn source(&self, params: TokenParams) -> Result<TokenSource<Self>, ConfigError> {
        let request = self.request(params)?;
        Ok(TokenSource::new(self.clone(), request))
    }

    /// A usable token for `request`: the cached one, or a new one (sent by this caller or by another
    /// that is already fetching it).
    ///
    /// # Errors
    ///
    /// [`ConfigError::ForeignRequest`] (nothing sent) when `request` was not built with this
    /// manager's configuration in force. Else the error of the failed attempt when no usable token
    /// could be had within the call's [`RetryPolicy`](crate::RetryPolicy).
    pub async fn token(&self, request: &TokenRequest) -> Result<Arc<Token>, Error> {
        self.inner.config.check(request)?;
        self.token_until(request, None, self.inner.core.now())
            .await
            .map(|(token, _)| token)
    }

    /// Gets a token for `request` and sets it as `Authorization: Bearer <token>` on `http_request`.
    ///
    /// # Errors
    ///
    /// As [`token`](Self::token).
    pub async fn authorize<B: Send>(
        &self,
        http_request: &mut Request<B>,
        request: &TokenRequest,
    ) -> Result<Arc<Token>, Error> {
        let token = self.token(request).await?;
        logto_m2m_proto::authorize(http_request, &token);
        Ok(token)
    }

    /// Drops `token` if it is still the one handed out for `request` (after the resource server
    /// answered 401), so the next call fetches a new one. A second call for the same token does
    /// nothing. The failed API call is never replayed: that is the caller's decision.
    pub fn invalidate(&self, request: &TokenRequest, token: &Token) -> bool {
        self.inner.core.invalidate(request.key(), token)
    }

    /// The token and, when it came from the cache, until when the same answer holds and the change
    /// count it was taken at (read under the lock, so that a snapshot of it is stale as soon as
    /// anything changes after it), for a call that started at `started`. A caller of a token
    /// source (`published`: the source's cell) told to wait posts a watch on the source (see
    /// [`crate::flight_watch`]), so that the source's later callers wait without the lock; once
    /// woken, it first looks at the source's remembered answer: once one woken caller has
    /// remembered the outcome there, the others take it without the lock.
    ///
    /// What only the one caller that sends a request needs (the exchange, a refresh) is boxed, so
    /// that the future of a caller that only waits stays small.
    async fn token_until(
        &self,
        request: &TokenRequest,
        published: Option<&SnapshotCell>,
        started: Instant,
    ) -> Result<(Arc<Token>, Option<(FreshUntil, u64)>), Error> {
        let core = &self.inner.core;
        let mut call = core.start_call_at(started);
        // The timer of the watch this call posted, kept while it waits at the same change count.
        let mut watch_timer: Option<WatchTimer<'_>> = None;
        loop {
            // The state machine's answer is turned into what to await in a scope of its own: a
            // `Step` carries a whole request, and must not be kept across the awaits below.
            let next = {
                let (step, listener, changes) = {
                    let mut cache = core.lock();
                    let step = core.decide(&mut cache, request, &mut call);
                    // Listen before the lock is released, so that no wake-up is missed (boxed,
                    // like the exchange: a caller that waits here holds little across the wait).
                    let listener = matches!(step, Step::Wait(_)).then(|| Box::pin(core.listen()));
                    (step, listener, core.change_count())
                };
                match step {
                    Step::Ready(token, fresh_until) => {
                        return Ok((token, Some((fresh_until, changes))));
                    }
                    Step::Done(result) => return result.map(|token| (token, None)),
                    Step::Wait(until) => Next::Wait(listener, until, changes),
                    Step::RefreshThenDone(token, attempt) => {
                        Next::Refresh(Box::pin(self.refresh(token, attempt, call.deadline())))
                    }
                    Step::Fetch(attempt) => {
                        Next::Fetch(core.now(), Box::pin(self.inner.fetch(attempt)))
                    }
                    Step::Sleep(until) => Next::Sleep(until),
                }
            };
            if !matches!(next, Next::Wait(..)) {
                // This caller stops waiting: the watch it posted ends (its waiters ask again).
                watch_timer = None;
            }
            match next {
                Next::Wait(listener, until, changes) => {
                    if let Some(cell) = published {
                        if !watch_timer
                            .as_ref()
                            .is_some_and(|timer| timer.posted_at(changes))
                        {
                            watch_timer = cell.watch.post(core, changes, until);
                        }
                    }
                    if let Some(listener) = listener {
                        self.wait(listener, until).await;
                    }
                    if let Some(Ok(token)) = published.map(|cell| cell.with_fresh(core, Arc::clone))
                    {
                        return Ok((token, None));
                    }
                }
                Next::Refresh(refreshed) => return Ok((refreshed.await, None)),
                Next::Fetch(started, fetch) => {
                    let outcome = fetch.await;
                    call.attempt_took(started, core.now());
                    if let Ok(token) = outcome {
                        return Ok((token, None));
                    }
                }
                Next::Sleep(until) => {
                    self.inner
                        .timer(until.saturating_duration_since(core.now()))
                        .await;
                }
            }
        }
    }

    /// Waits for a wake-up, at most until `until`.
    async fn wait(&self, listener: Pin<Box<Notified<'_>>>, until: Instant) {
        let timer = self
            .inner
            .timer(until.saturating_duration_since(self.inner.core.now()));
        let _ = first_of(listener, timer).await;
    }

    /// Starts the refresh in the background with the spawner (the refresh may take until `attempt`
    /// counts as abandoned); without one, performs it here, within the call's deadline, and
    /// returns the new token (or the still-valid one if the refresh failed).
    async fn refresh(
        &self,
        token: Arc<Token>,
        attempt: Attempt,
        call_deadline: Option<Instant>,
    ) -> Arc<Token> {
        let Some(spawner) = &self.inner.spawner else {
            let attempt = attempt.end_by(call_deadline);
            return self.inner.fetch(attempt).await.unwrap_or(token);
        };
        let inner = Arc::clone(&self.inner);
        let (guard, started, deadline) = attempt.start(&self.inner.core);
        let unstarted = Unstarted(Some(Arc::clone(&self.inner.unstarted_reported)));
        let task: BackgroundTask = Box::pin(async move {
            let mut unstarted = unstarted;
            unstarted.0 = None;
            let _ = inner.carry_out(guard, started, deadline).await;
        });
        // A spawner that panics drops the task while unwinding: its guard hands the ticket back as
        // a failure, and the caller still gets the valid token.
        let spawned =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spawner.spawn(task)));
        if spawned.is_err() {
            crate::events::spawner_panicked();
        }
        token
    }
}

/// What a call of [`AsyncTokenManager`] awaits next: a wake-up (with the listener taken under the
/// lock) until an instant (and the change count it was decided at), a refresh or an exchange of its
/// own (boxed, to keep the future of a caller that only waits small), or a backoff until an
/// instant.
enum Next<'a, R, F> {
    Wait(Option<Pin<Box<Notified<'a>>>>, Instant, u64),
    Refresh(Pin<Box<R>>),
    Fetch(Instant, Pin<Box<F>>),
    Sleep(Instant),
}

/// Says once per manager (a `tracing` warning) that its spawner dropped a refresh task without
/// running it (as `with_tokio`'s does outside a tokio runtime): refreshes ahead of expiry do not
/// happen, and tokens are fetched only once they are no longer usable.
struct Unstarted(Option<Arc<AtomicBool>>);

impl Drop for Unstarted {
    fn drop(&mut self) {
        if let Some(reported) = self.0.take() {
            if !std::thread::panicking() && !reported.swap(true, Ordering::Relaxed) {
                crate::events::refresh_not_started();
            }
        }
    }
}

impl<T> Inner<T> {
    /// A timer on the sleeper. A sleeper that panics (a runtime's timer called outside its
    /// runtime, say) is replaced by the [`DefaultSleeper`] for this timer, and said once.
    fn timer(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let sleeper = std::panic::AssertUnwindSafe(|| self.sleeper.sleep(duration));
        std::panic::catch_unwind(sleeper).unwrap_or_else(|_| {
            if !self.sleeper_panic_reported.swap(true, Ordering::Relaxed) {
                crate::events::sleeper_panicked();
            }
            DefaultSleeper.sleep(duration)
        })
    }
}

impl<T: Transport> Inner<T> {
    async fn fetch(&self, attempt: Attempt) -> Result<Arc<Token>, Error> {
        let (guard, started, deadline) = attempt.start(&self.core);
        self.carry_out(guard, started, deadline).await
    }

    /// Carries out a started flight: through the shared store first if it says so, then the token
    /// request if it comes to one.
    async fn carry_out(
        &self,
        mut guard: InFlight,
        started: Started,
        deadline: Instant,
    ) -> Result<Arc<Token>, Error> {
        let request = match started {
            Started::Send(request) => request,
            Started::Shared(key, op) => {
                match self.through_store(&mut guard, &key, op, deadline).await {
                    StoreEnd::Send(request) => request,
                    StoreEnd::Done(result) => return result,
                }
            }
        };
        self.exchange(guard, request, deadline).await
    }

    /// Carries out the store tasks of a shared flight until it comes to a token request or an
    /// end. Every operation is raced against its timeout on the sleeper, and the
    /// state machine ends the flight by `deadline`.
    async fn through_store(
        &self,
        guard: &mut InFlight,
        key: &StoreKey,
        op: StoreOp,
        deadline: Instant,
    ) -> StoreEnd {
        let core = &self.core;
        let Some(store) = &self.store else {
            return StoreEnd::Done(Err(out_of_time()));
        };
        let mut task = core.store_task(guard, key, op, deadline);
        loop {
            task = match task {
                StoreTask::Read(timeout) => {
                    let result = self.bounded(store.read(key, timeout), timeout).await;
                    core.store_read(guard, key, result, deadline)
                }
                StoreTask::Lock {
                    owner,
                    ttl,
                    timeout,
                } => {
                    let attempt = store.try_lock(key, &owner, ttl, timeout);
                    let result = self.bounded(attempt, timeout).await;
                    core.store_locked(guard, key, owner, result, deadline)
                }
                StoreTask::Wait(duration) => {
                    // Woken by the store's notification, or at the end of the wait in any case.
                    let _ = first_of(store.wait(key, duration), self.timer(duration)).await;
                    core.store_task(guard, key, StoreOp::Read, deadline)
                }
                StoreTask::Send(request) => return StoreEnd::Send(request),
                StoreTask::Done(result) => return StoreEnd::Done(result),
            };
        }
    }

    /// Runs a store operation, counting it as timed out if it is still going after `timeout`.
    async fn bounded<R>(
        &self,
        operation: impl Future<Output = Result<R, StoreError>>,
        timeout: Duration,
    ) -> Result<R, StoreError> {
        first_of(operation, self.timer(timeout))
            .await
            .unwrap_or_else(|| {
                Err(StoreError::message(
                    StoreFailure::TimedOut,
                    "no answer within the operation's timeout",
                ))
            })
    }

    /// Sends `request` if any time is left until `deadline` (else hands the ticket back unsent),
    /// raced against that time on the sleeper: an exchange still going then is dropped and counts
    /// as a timed-out attempt (a failure, backed off).
    async fn exchange(
        &self,
        guard: InFlight,
        mut request: Request<Vec<u8>>,
        deadline: Instant,
    ) -> Result<Arc<Token>, Error> {
        let Some(timeout) = self.core.time_left(&mut request, deadline) else {
            drop(guard);
            return Err(out_of_time());
        };
        guard.sending();
        let send = self.transport.send(request);
        let timer = self.timer(timeout);
        let outcome = match first_of(send, timer).await {
            Some(outcome) => outcome.map_err(IntoTransportError::into_transport_error),
            None => Err(attempt_timed_out()),
        };
        let ticket = self.store.as_ref().and_then(|_| guard.ticket().cloned());
        let (result, write) = guard.complete(outcome);
        if let (Some(store), Some(write), Some(ticket)) = (&self.store, write, ticket) {
            let timeout = self.core.store_op_timeout();
            let written = self.bounded(store.write(&write, timeout), timeout).await;
            self.core.store_written(&write, ticket.key(), written);
        }
        result
    }
}

/// Runs `work` until it ends (`Some` of its output) or `timer` does first (`None`): how every async
/// driver bounds a send or a wait, on any runtime (with a [`Sleep`]'s future as the timer).
///
/// ```
/// use std::time::Duration;
/// use logto_m2m::{DefaultSleeper, Sleep, first_of};
/// # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// # runtime.block_on(async {
/// let never = std::future::pending::<u32>();
/// assert_eq!(first_of(never, DefaultSleeper.sleep(Duration::from_millis(10))).await, None);
/// assert_eq!(first_of(async { 7 }, DefaultSleeper.sleep(Duration::from_secs(10))).await, Some(7));
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn first_of<F: Future>(work: F, timer: impl Future<Output = ()>) -> Option<F::Output> {
    let mut work = pin!(work);
    let mut timer = pin!(timer);
    std::future::poll_fn(|cx| {
        if let TaskPoll::Ready(output) = work.as_mut().poll(cx) {
            TaskPoll::Ready(Some(output))
        } else if timer.as_mut().poll(cx).is_ready() {
            TaskPoll::Ready(None)
        } else {
            TaskPoll::Pending
        }
    })
    .await
}

impl<T: Transport + 'static> TokenSource<AsyncTokenManager<T>> {
    /// The state shared by the manager's clones.
    fn core(&self) -> &Core {
        &self.inner.manager.inner.core
    }

    /// A usable token: without any lock while the remembered one is fresh, else from the manager.
    ///
    /// On a hot path shared by several threads, prefer [`with_token`](Self::with_token): this call
    /// (and [`authorize`](Self::authorize), which returns the token) increments the token's shared
    /// reference count.
    ///
    /// # Errors
    ///
    /// As [`AsyncTokenManager::token`].
    pub async fn token(&self) -> Result<Arc<Token>, Error> {
        match self.inner.cell.with_fresh(self.core(), Arc::clone) {
            Ok(token) => Ok(token),
            Err(_) => self.ask_manager().await,
        }
    }

    /// Runs `use_token` with a usable token, lent for the duration of the call: the fastest way to
    /// use the same token over and over. While the remembered token is fresh this takes no lock,
    /// allocates nothing and writes nothing that other threads read, so it scales with cores.
    /// Keep `use_token` short (it cannot await); to keep the token, use [`token`](Self::token).
    ///
    /// # Errors
    ///
    /// As [`AsyncTokenManager::token`]; `use_token` is then not called.
    ///
    /// # Example
    ///
    /// The header value for an HTTP client of your own:
    ///
    /// ```
    /// # async fn example<T: logto_m2m::Transport + 'static>(
    /// #     source: logto_m2m::TokenSource<logto_m2m::AsyncTokenManager<T>>,
    /// # ) -> Result<(), logto_m2m::Error> {
    /// let authorization = source.with_token(|token| token.authorization_value()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn with_token<R>(&self, use_token: impl FnOnce(&Token) -> R) -> Result<R, Error> {
        match self
            .inner
            .cell
            .with_fresh(self.core(), |token| use_token(token))
        {
            Ok(result) => Ok(result),
            Err(use_token) => Ok(use_token(&self.ask_manager().await?)),
        }
    }

    /// Sets `Authorization: Bearer <token>` on `http_request` (replacing any `Authorization` it
    /// had), and returns the token it set: if the resource server answers 401, pass it to
    /// [`invalidate`](Self::invalidate), which drops exactly that token.
    ///
    /// # Errors
    ///
    /// As [`AsyncTokenManager::token`]; `http_request` is then unchanged.
    pub async fn authorize<B: Send>(
        &self,
        http_request: &mut Request<B>,
    ) -> Result<Arc<Token>, Error> {
        let token = self.token().await?;
        logto_m2m_proto::authorize(http_request, &token);
        Ok(token)
    }

    /// Asks the manager, and remembers its answer for the calls that follow. While another caller
    /// of this source has been told to wait for a request in flight, waits on its watch first,
    /// without the lock (see [`crate::flight_watch`]): what that takes (a wake-up registration,
    /// the call's start, a few words) is all the futures of [`token`](Self::token),
    /// [`with_token`](Self::with_token) and [`authorize`](Self::authorize) hold, so that a caller
    /// waiting in a stampede allocates nothing of its own. Asking the state machine (a decision, an
    /// exchange, a wait with a timer) is boxed: only a caller that finds no watch to join does it.
    async fn ask_manager(&self) -> Result<Arc<Token>, Error> {
        let started = self.core().now();
        // Kept across a wait: the start and a flag, nothing else (the time is read again after a
        // wake-up), so that the future stays small.
        let mut woken_before = false;
        loop {
            let SourceInner { manager, cell, .. } = &*self.inner;
            let core = &manager.inner.core;
            let now = if woken_before { core.now() } else { started };
            let deadline = core.call_deadline(started);
            let timer = |duration| manager.inner.timer(duration);
            let Some(waiting) = cell.watch.join(core, now, deadline, timer) else {
                break;
            };
            waiting.await;
            woken_before = true;
            if let Ok(token) = self.inner.cell.with_fresh(self.core(), Arc::clone) {
                return Ok(token);
            }
        }
        Box::pin(self.ask_state_machine(started)).await
    }

    /// Asks the state machine, for a call that started at `started`, and remembers its answer.
    async fn ask_state_machine(&self, started: Instant) -> Result<Arc<Token>, Error> {
        let SourceInner {
            manager,
            request,
            cell,
        } = &*self.inner;
        let request = request.current(&manager.inner.config.current());
        let (token, fresh_until) = manager.token_until(&request, Some(cell), started).await?;
        cell.remember(&token, fresh_until);
        Ok(token)
    }

    /// Drops `token` after a 401 from the resource server; see [`AsyncTokenManager::invalidate`].
    pub fn invalidate(&self, token: &Token) -> bool {
        self.inner.cell.clear();
        self.inner
            .manager
            .invalidate(&self.inner.request.load(), token)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    use std::task::{Context, Waker};

    use logto_m2m_proto::http::Response;
    use logto_m2m_proto::{ClientConfig, TokenParams};

    use super::*;

    /// Polls `future` once, with a waker that does nothing (the test polls again itself).
    fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> TaskPoll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// A manager whose token endpoint answers once the flag it returns is set, and whose timers
    /// never fire.
    fn gated_manager() -> (AsyncTokenManager<impl Transport + use<>>, Arc<AtomicBool>) {
        let answer = Arc::new(AtomicBool::new(false));
        let ready = Arc::clone(&answer);
        let transport = move |_request: Request<Vec<u8>>| {
            let ready = Arc::clone(&ready);
            std::future::poll_fn(move |_| {
                if !ready.load(Ordering::SeqCst) {
                    return TaskPoll::Pending;
                }
                let body = r#"{"access_token":"token-0","expires_in":3600,"token_type":"Bearer","scope":"read:items"}"#;
                TaskPoll::Ready(Ok::<_, std::io::Error>(
                    Response::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .body(body.as_bytes().to_vec())
                        .unwrap(),
                ))
            })
        };
        let config = ClientConfig::builder("http://127.0.0.1:1", "m2m-app", "m2m-secret")
            .build()
            .unwrap();
        let manager = AsyncTokenManager::builder(transport, config)
            .sleeper(|_| std::future::pending::<()>())
            .build_async();
        (manager, answer)
    }

    fn api_params() -> TokenParams {
        TokenParams::for_resource("https://api.example.com").scope("read:items")
    }

    /// Polls `future` once on another thread while this one holds the state machine's lock;
    /// `None` if that poll waited for the lock.
    fn poll_under_held_lock<T: Transport, F: Future + Send + ?Sized>(
        manager: &AsyncTokenManager<T>,
        future: Pin<&mut F>,
    ) -> Option<TaskPoll<F::Output>>
    where
        F::Output: Send,
    {
        let (done, finished) = mpsc::channel();
        let (in_time, polled) = std::thread::scope(|scope| {
            let held = manager.inner.core.lock();
            let caller = scope.spawn(move || {
                let polled = poll_once(future);
                let _ = done.send(());
                polled
            });
            let in_time = finished.recv_timeout(Duration::from_secs(5)).is_ok();
            drop(held);
            (in_time, caller.join().unwrap())
        });
        in_time.then_some(polled)
    }

    #[test]
    fn callers_that_join_a_watch_take_no_lock() {
        let (manager, _answer) = gated_manager();
        let source = manager.source(api_params()).unwrap();
        // One caller sends the request; the next is told to wait, and posts the watch.
        let mut fetcher = Box::pin(source.token());
        let mut poster = Box::pin(source.token());
        assert!(poll_once(fetcher.as_mut()).is_pending());
        assert!(poll_once(poster.as_mut()).is_pending());

        let mut joiner = Box::pin(source.token());
        let polled = poll_under_held_lock(&manager, joiner.as_mut())
            .expect("a caller joining the watch waited for the state machine's lock");
        assert!(polled.is_pending());
    }

    #[test]
    fn woken_waiters_take_the_remembered_outcome_without_the_lock() {
        let (manager, answer) = gated_manager();
        let source = manager.source(api_params()).unwrap();

        // One caller sends the request, two wait for it.
        let mut fetcher = Box::pin(source.token());
        let mut first = Box::pin(source.token());
        let mut second = Box::pin(source.token());
        assert!(poll_once(fetcher.as_mut()).is_pending());
        assert!(poll_once(first.as_mut()).is_pending());
        assert!(poll_once(second.as_mut()).is_pending());

        // The answer comes in; the fetcher hands it back and wakes both.
        answer.store(true, Ordering::SeqCst);
        assert!(matches!(
            poll_once(fetcher.as_mut()),
            TaskPoll::Ready(Ok(_))
        ));
        // The first waiter to run asks the state machine and remembers its answer.
        assert!(matches!(poll_once(first.as_mut()), TaskPoll::Ready(Ok(_))));

        // The second takes it while another thread holds the state machine's lock.
        let polled = poll_under_held_lock(&manager, second.as_mut())
            .expect("the woken waiter waited for the state machine's lock");
        match polled {
            TaskPoll::Ready(Ok(token)) => {
                assert_eq!(token.access_token().expose_secret(), "token-0");
            }
            _ => panic!("the woken waiter has no token"),
        }
    }
}
