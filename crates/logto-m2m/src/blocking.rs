//! The blocking token manager: a thin driver of the state machine for threads.

use std::sync::Arc;
use std::time::Instant;

use logto_m2m_proto::http::Request;
use logto_m2m_proto::{
    AppSecret, ClientConfig, ConfigError, Error, StoreKey, StoreOp, Token, TokenParams,
    TokenRequest,
};

use crate::builder::TokenManagerBuilder;
use crate::config_cell::ConfigCell;
use crate::driver::{Attempt, Core, InFlight, Started, Step, out_of_time};
use crate::env::EnvError;
use crate::shared_flight::{StoreEnd, StoreTask};
use crate::shared_store::BlockingSharedStore;
use crate::source::{FreshUntil, TokenSource};
use crate::transport::{BlockingTransport, IntoTransportError};

/// Gets, caches and refreshes Logto M2M tokens for threads. Cheap to clone; clones share the cache.
///
/// With N threads asking for a key that has no usable token, exactly one request is sent and the
/// others wait for its outcome (without spinning). From a token's refresh point on, one caller
/// starts a refresh on a background thread and everyone keeps getting the still-valid token.
///
/// ```no_run
/// use logto_m2m::{BlockingTokenManager, TokenParams};
/// # fn transport(_: logto_m2m::proto::http::Request<Vec<u8>>) -> Result<logto_m2m::proto::http::Response<Vec<u8>>, std::io::Error> { unimplemented!() }
/// let manager = BlockingTokenManager::from_env(transport)?;
/// let api = manager.source(TokenParams::for_resource("https://api.example.com").scope("read:items"))?;
/// let token = api.token()?;
/// let mut call = logto_m2m::proto::http::Request::new(Vec::<u8>::new());
/// logto_m2m::proto::authorize(&mut call, &token);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BlockingTokenManager<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    core: Arc<Core>,
    transport: T,
    config: ConfigCell,
    /// The store shared with other replicas, if any.
    store: Option<Arc<dyn BlockingSharedStore>>,
}

impl<T> Clone for BlockingTokenManager<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for BlockingTokenManager<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingTokenManager")
            .field("config", &self.inner.config.current())
            .finish_non_exhaustive()
    }
}

impl<T: BlockingTransport + 'static> BlockingTokenManager<T> {
    /// A manager with the default policies.
    pub fn new(transport: T, config: ClientConfig) -> Self {
        TokenManagerBuilder::new(transport, config).build_blocking()
    }

    /// A builder, to set policies.
    pub fn builder(transport: T, config: ClientConfig) -> TokenManagerBuilder<T> {
        TokenManagerBuilder::new(transport, config)
    }

    /// A manager configured from the environment (every variable: [`crate::config_from_env`]).
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable that is missing or malformed.
    pub fn from_env(transport: T) -> Result<Self, EnvError> {
        Ok(TokenManagerBuilder::from_env(transport)?.build_blocking())
    }

    pub(crate) fn from_builder(builder: TokenManagerBuilder<T>) -> Self {
        let (store, store_policy) = builder.store.for_blocking();
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
    pub fn token(&self, request: &TokenRequest) -> Result<Arc<Token>, Error> {
        self.inner.config.check(request)?;
        self.token_until(request).map(|(token, _)| token)
    }

    /// Gets a token for `request` and sets it as `Authorization: Bearer <token>` on `http_request`.
    ///
    /// # Errors
    ///
    /// As [`token`](Self::token).
    pub fn authorize<B>(
        &self,
        http_request: &mut Request<B>,
        request: &TokenRequest,
    ) -> Result<Arc<Token>, Error> {
        let token = self.token(request)?;
        logto_m2m_proto::authorize(http_request, &token);
        Ok(token)
    }

    /// Drops `token` if it is still the one handed out for `request` (after the resource server
    /// answered 401), so the next call fetches a new one. A second call for the same token does
    /// nothing. The failed API call is never replayed: that is the caller's decision.
    pub fn invalidate(&self, request: &TokenRequest, token: &Token) -> bool {
        self.inner.core.invalidate(request.key(), token)
    }

    /// Under the model check (`--cfg logto_m2m_loom`): how many tickets are out, not yet handed
    /// back.
    #[cfg(logto_m2m_loom)]
    #[doc(hidden)]
    pub fn tickets_out(&self) -> usize {
        self.inner
            .core
            .tickets_out
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The token and, when it came from the cache, until when the same answer holds.
    fn token_until(
        &self,
        request: &TokenRequest,
    ) -> Result<(Arc<Token>, Option<FreshUntil>), Error> {
        let core = &self.inner.core;
        let mut call = core.start_call();
        let mut cache = core.lock();
        loop {
            match core.decide(&mut cache, request, &mut call) {
                Step::Ready(token, fresh_until) => return Ok((token, Some(fresh_until))),
                Step::Done(result) => return result.map(|token| (token, None)),
                Step::Wait(until) => cache = core.wait_blocking(cache, until),
                Step::RefreshThenDone(token, attempt) => {
                    drop(cache);
                    self.refresh_in_background(attempt);
                    return Ok((token, None));
                }
                Step::Fetch(attempt) => {
                    drop(cache);
                    let started = core.now();
                    let outcome = self.inner.fetch(attempt);
                    call.attempt_took(started, core.now());
                    if let Ok(token) = outcome {
                        return Ok((token, None));
                    }
                    cache = core.lock();
                }
                Step::Sleep(until) => {
                    drop(cache);
                    core.clock
                        .sleep(until.saturating_duration_since(core.now()));
                    cache = core.lock();
                }
            }
        }
    }

    /// Sends a refresh on its own thread. If no thread can be started, the ticket is cancelled (by
    /// the guard dropped with the closure) and a later call tries again; if the thread panics, the
    /// guard hands the ticket back as a failure, and the state machine backs off.
    fn refresh_in_background(&self, attempt: Attempt) {
        let (guard, started, deadline) = attempt.start(&self.inner.core);
        let inner = Arc::clone(&self.inner);
        let _ = crate::sync::spawn_thread("logto-m2m-refresh", move || {
            let _ = inner.carry_out(guard, started, deadline);
        });
    }
}

impl<T: BlockingTransport> Inner<T> {
    fn fetch(&self, attempt: Attempt) -> Result<Arc<Token>, Error> {
        let (guard, started, deadline) = attempt.start(&self.core);
        self.carry_out(guard, started, deadline)
    }

    /// Carries out a started flight: through the shared store first if it says so, then the token
    /// request if it comes to one.
    fn carry_out(
        &self,
        mut guard: InFlight,
        started: Started,
        deadline: Instant,
    ) -> Result<Arc<Token>, Error> {
        let request = match started {
            Started::Send(request) => request,
            Started::Shared(key, op) => match self.through_store(&mut guard, &key, op, deadline) {
                StoreEnd::Send(request) => request,
                StoreEnd::Done(result) => return result,
            },
        };
        self.exchange(guard, request, deadline)
    }

    /// Carries out the store tasks of a shared flight until it comes to a token request or an
    /// end. Every task is bounded in time: the store is given each operation's
    /// timeout, and the state machine ends the flight by `deadline`.
    fn through_store(
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
                    let result = store.read(key, timeout);
                    core.store_read(guard, key, result, deadline)
                }
                StoreTask::Lock {
                    owner,
                    ttl,
                    timeout,
                } => {
                    let result = store.try_lock(key, &owner, ttl, timeout);
                    core.store_locked(guard, key, owner, result, deadline)
                }
                StoreTask::Wait(duration) => {
                    let started = core.now();
                    if store.wait(key, duration).is_err() {
                        let waited = core.now().saturating_duration_since(started);
                        core.clock.sleep(duration.saturating_sub(waited));
                    }
                    core.store_task(guard, key, StoreOp::Read, deadline)
                }
                StoreTask::Send(request) => return StoreEnd::Send(request),
                StoreTask::Done(result) => return StoreEnd::Done(result),
            };
        }
    }

    /// Sends `request` if any time is left until `deadline` (else hands the ticket back unsent);
    /// the transport is given that time as an [`AttemptTimeout`](crate::AttemptTimeout) (a
    /// blocking send cannot be cut short from here).
    fn exchange(
        &self,
        guard: InFlight,
        mut request: Request<Vec<u8>>,
        deadline: Instant,
    ) -> Result<Arc<Token>, Error> {
        if self.core.time_left(&mut request, deadline).is_none() {
            drop(guard);
            return Err(out_of_time());
        }
        guard.sending();
        let outcome = self
            .transport
            .send(request)
            .map_err(IntoTransportError::into_transport_error);
        let ticket = self.store.as_ref().and_then(|_| guard.ticket().cloned());
        let (result, write) = guard.complete(outcome);
        if let (Some(store), Some(write), Some(ticket)) = (&self.store, write, ticket) {
            let written = store.write(&write, self.core.store_op_timeout());
            self.core.store_written(&write, ticket.key(), written);
        }
        result
    }
}

impl<T: BlockingTransport + 'static> TokenSource<BlockingTokenManager<T>> {
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
    /// As [`BlockingTokenManager::token`].
    pub fn token(&self) -> Result<Arc<Token>, Error> {
        match self.inner.cell.with_fresh(self.core(), Arc::clone) {
            Ok(token) => Ok(token),
            Err(_) => self.ask_manager(),
        }
    }

    /// Runs `use_token` with a usable token, lent for the duration of the call: the fastest way to
    /// use the same token over and over. While the remembered token is fresh this takes no lock,
    /// allocates nothing and writes nothing that other threads read, so it scales with cores.
    /// Keep `use_token` short (it cannot await); to keep the token, use [`token`](Self::token).
    ///
    /// # Errors
    ///
    /// As [`BlockingTokenManager::token`]; `use_token` is then not called.
    ///
    /// # Example
    ///
    /// The header value for an HTTP client of your own:
    ///
    /// ```
    /// # fn example<T: logto_m2m::BlockingTransport + 'static>(
    /// #     source: logto_m2m::TokenSource<logto_m2m::BlockingTokenManager<T>>,
    /// # ) -> Result<(), logto_m2m::Error> {
    /// let authorization = source.with_token(|token| token.authorization_value())?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_token<R>(&self, use_token: impl FnOnce(&Token) -> R) -> Result<R, Error> {
        match self
            .inner
            .cell
            .with_fresh(self.core(), |token| use_token(token))
        {
            Ok(result) => Ok(result),
            Err(use_token) => Ok(use_token(&self.ask_manager()?)),
        }
    }

    /// Sets `Authorization: Bearer <token>` on `http_request` (replacing any `Authorization` it
    /// had), and returns the token it set: if the resource server answers 401, pass it to
    /// [`invalidate`](Self::invalidate), which drops exactly that token.
    ///
    /// # Errors
    ///
    /// As [`BlockingTokenManager::token`]; `http_request` is then unchanged.
    pub fn authorize<B>(&self, http_request: &mut Request<B>) -> Result<Arc<Token>, Error> {
        let token = self.token()?;
        logto_m2m_proto::authorize(http_request, &token);
        Ok(token)
    }

    /// Asks the manager, and remembers its answer for the calls that follow.
    fn ask_manager(&self) -> Result<Arc<Token>, Error> {
        let changes = self.core().change_count();
        let request = self
            .inner
            .request
            .current(&self.inner.manager.inner.config.current());
        let (token, fresh_until) = self.inner.manager.token_until(&request)?;
        self.inner.cell.remember(
            &token,
            fresh_until.map(|fresh_until| (fresh_until, changes)),
        );
        Ok(token)
    }

    /// Drops `token` after a 401 from the resource server; see [`BlockingTokenManager::invalidate`].
    pub fn invalidate(&self, token: &Token) -> bool {
        self.inner.cell.clear();
        self.inner
            .manager
            .invalidate(&self.inner.request.load(), token)
    }
}
