//! The async verifier: a thin driver of the key set state machine over any [`Transport`], on any
//! runtime. Waiting callers are woken by an `event-listener` event; every send and every wait is
//! bounded by the fetch timeout on a runtime-agnostic timer (`logto_m2m::DefaultSleeper`).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use event_listener::Event;
use http::HeaderValue;
use logto_m2m::proto::{TransportError, TransportErrorKind};
use logto_m2m::{DefaultSleeper, IntoTransportError, Sleep, Transport, first_of};

use crate::claims::VerifiedToken;
use crate::driver::{Core, MAX_ROUNDS, Next, bearer_token, system_clock};
use crate::error::{ConfigError, InvalidToken, KeySetError, VerifyError};
use crate::key_set::{Fetch, KeySet, KeySetPolicy, Ticket};
use crate::scopes::RequiredScopes;
use crate::validation::{Audience, Validation};

/// Verifies Logto access tokens in async code, fetching the key set through an async transport
/// (for example `logto_m2m_hyper::HyperTransport`). Cheap to clone; clones share the key set.
///
/// A fetch is sent by the caller that needs it, one at a time; callers whose token's key is
/// known never wait for it. Callers who need its outcome wait until it ends, at most the fetch
/// timeout (which also bounds the send itself, whatever the transport), and dropping the fetching
/// caller's future hands the fetch back at once.
pub struct AsyncVerifier<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    transport: T,
    core: Core,
    changed: Event,
}

impl<T> Clone for AsyncVerifier<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for AsyncVerifier<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncVerifier")
            .field("core", &self.inner.core)
            .finish_non_exhaustive()
    }
}

/// Hands a fetch back when the future that sends it is dropped before its outcome.
struct InFlight<'a, T> {
    inner: &'a Inner<T>,
    ticket: Option<Ticket>,
}

impl<T> Drop for InFlight<'_, T> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.core.cancel(ticket);
            self.inner.changed.notify(usize::MAX);
        }
    }
}

impl<T: Transport> AsyncVerifier<T> {
    /// A verifier of tokens for `audience` from the Logto tenant at `endpoint`, with the default
    /// [`KeySetPolicy`] and [`Validation`] settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for an unusable endpoint or an empty audience.
    pub fn new(transport: T, endpoint: &str, audience: Audience) -> Result<Self, ConfigError> {
        Ok(Self::from_parts(
            transport,
            KeySet::new(endpoint, KeySetPolicy::default())?,
            Validation::new(endpoint, audience)?,
        ))
    }

    /// A verifier over a key set and validation you configured.
    pub fn from_parts(transport: T, key_set: KeySet, validation: Validation) -> Self {
        Self {
            inner: Arc::new(Inner {
                transport,
                core: Core::new(key_set, validation, system_clock()),
                changed: Event::new(),
            }),
        }
    }

    /// Reads the wall clock from `clock` instead of `SystemTime::now` (for tests). Call it
    /// before cloning.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.core.set_clock(Arc::new(clock));
        }
        self
    }

    /// The checks applied to tokens.
    #[must_use]
    pub fn validation(&self) -> &Validation {
        self.inner.core.validation()
    }

    /// Fetches the key set now if it is due (at start-up, to have keys before the first
    /// request), and says whether keys are loaded.
    ///
    /// # Errors
    ///
    /// Why the last fetch failed, or [`KeySetError::NotLoaded`].
    pub async fn refresh(&self) -> Result<(), KeySetError> {
        if let Some(fetch) = self.inner.core.poll() {
            self.run(fetch).await;
        }
        self.inner.core.loaded()
    }

    /// Verifies the `Authorization` header's bearer token and checks `required`.
    ///
    /// # Errors
    ///
    /// See [`VerifyError`]: its `status()` and `www_authenticate()` are the answer to send.
    pub async fn verify_header(
        &self,
        authorization: Option<&HeaderValue>,
        required: &RequiredScopes,
    ) -> Result<VerifiedToken, VerifyError> {
        self.verify(bearer_token(authorization)?, required).await
    }

    /// Verifies `token` and checks `required`, fetching keys when needed.
    ///
    /// # Errors
    ///
    /// See [`VerifyError`].
    pub async fn verify(
        &self,
        token: &str,
        required: &RequiredScopes,
    ) -> Result<VerifiedToken, VerifyError> {
        let core = &self.inner.core;
        let jws = core.validation().parse(token)?;
        for _ in 0..MAX_ROUNDS {
            match core.step(&jws, required) {
                Next::Verdict(verdict, refresh) => {
                    if let Some(fetch) = refresh {
                        self.run(fetch).await;
                    }
                    return verdict;
                }
                Next::Fetch(fetch) => self.run(fetch).await,
                Next::Wait(generation) => {
                    let listener = self.inner.changed.listen();
                    if core.generation() == generation {
                        // At most the fetch timeout, as the blocking verifier: a fetcher whose
                        // future is parked cannot hold anyone longer.
                        let _ =
                            first_of(listener, DefaultSleeper.sleep(core.fetch_timeout())).await;
                    }
                }
            }
        }
        Err(InvalidToken::UnknownKey.into())
    }

    /// Sends a fetch and its follow-ups, hands every outcome back, and wakes the waiters.
    async fn run(&self, fetch: Fetch) {
        let inner = &*self.inner;
        let mut next = Some(fetch);
        while let Some(Fetch { ticket, request }) = next.take() {
            let mut guard = InFlight {
                inner,
                ticket: Some(ticket),
            };
            let timer = DefaultSleeper.sleep(inner.core.fetch_timeout());
            let outcome = match first_of(inner.transport.send(request), timer).await {
                Some(outcome) => outcome.map_err(IntoTransportError::into_transport_error),
                None => Err(TransportError::new(
                    TransportErrorKind::Timeout,
                    "the key set fetch did not end within the fetch timeout",
                )),
            };
            guard.ticket = None;
            next = inner.core.answer(ticket, outcome);
        }
        inner.changed.notify(usize::MAX);
    }
}
