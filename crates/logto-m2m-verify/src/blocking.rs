//! The blocking verifier: a thin driver of the key set state machine over any
//! [`BlockingTransport`].

use std::fmt;
use std::sync::{Condvar, PoisonError};
use std::time::SystemTime;

use http::HeaderValue;
use logto_m2m::{BlockingTransport, IntoTransportError};

use crate::claims::VerifiedToken;
use crate::driver::{Core, MAX_ROUNDS, Next, bearer_token, system_clock};
use crate::error::{ConfigError, InvalidToken, KeySetError, VerifyError};
use crate::key_set::{Fetch, KeySet, KeySetPolicy};
use crate::scopes::RequiredScopes;
use crate::validation::{Audience, Validation};

/// Verifies Logto access tokens from threads, fetching the key set through a blocking transport
/// (for example `logto_m2m_ureq::UreqTransport`). Share it (`Arc`) between request handlers.
///
/// A fetch is sent by the caller that needs it, one at a time; callers whose token's key is
/// known never wait for it, and callers who need its outcome wait (at most the fetch timeout).
pub struct BlockingVerifier<T> {
    transport: T,
    core: Core,
    changed: Condvar,
}

impl<T> fmt::Debug for BlockingVerifier<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingVerifier")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl<T: BlockingTransport> BlockingVerifier<T> {
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
            transport,
            core: Core::new(key_set, validation, system_clock()),
            changed: Condvar::new(),
        }
    }

    /// Reads the wall clock from `clock` instead of `SystemTime::now` (for tests).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.core.set_clock(std::sync::Arc::new(clock));
        self
    }

    /// The checks applied to tokens.
    #[must_use]
    pub fn validation(&self) -> &Validation {
        self.core.validation()
    }

    /// Fetches the key set now if it is due (at start-up, to have keys before the first
    /// request), and says whether keys are loaded.
    ///
    /// # Errors
    ///
    /// Why the last fetch failed, or [`KeySetError::NotLoaded`].
    pub fn refresh(&self) -> Result<(), KeySetError> {
        if let Some(fetch) = self.core.poll() {
            self.run(fetch);
        }
        self.core.loaded()
    }

    /// Verifies the `Authorization` header's bearer token and checks `required`.
    ///
    /// # Errors
    ///
    /// See [`VerifyError`]: its `status()` and `www_authenticate()` are the answer to send.
    pub fn verify_header(
        &self,
        authorization: Option<&HeaderValue>,
        required: &RequiredScopes,
    ) -> Result<VerifiedToken, VerifyError> {
        self.verify(bearer_token(authorization)?, required)
    }

    /// Verifies `token` and checks `required`, fetching keys when needed.
    ///
    /// # Errors
    ///
    /// See [`VerifyError`].
    pub fn verify(
        &self,
        token: &str,
        required: &RequiredScopes,
    ) -> Result<VerifiedToken, VerifyError> {
        let jws = self.core.validation().parse(token)?;
        for _ in 0..MAX_ROUNDS {
            match self.core.step(&jws, required) {
                Next::Verdict(verdict, refresh) => {
                    if let Some(fetch) = refresh {
                        self.run(fetch);
                    }
                    return verdict;
                }
                Next::Fetch(fetch) => self.run(fetch),
                Next::Wait(generation) => self.wait(generation),
            }
        }
        Err(InvalidToken::UnknownKey.into())
    }

    /// Sends a fetch and its follow-ups, hands every outcome back, and wakes the waiters.
    fn run(&self, fetch: Fetch) {
        let mut next = Some(fetch);
        while let Some(Fetch { ticket, request }) = next.take() {
            let outcome = self
                .transport
                .send(request)
                .map_err(IntoTransportError::into_transport_error);
            next = self.core.answer(ticket, outcome);
        }
        self.changed.notify_all();
    }

    /// Waits until the generation moves past `generation`, at most the fetch timeout.
    fn wait(&self, generation: u64) {
        let guard = self.core.lock();
        let timeout = guard.policy().timeout();
        let _ = self
            .changed
            .wait_timeout_while(guard, timeout, |key_set| key_set.generation() == generation)
            .unwrap_or_else(PoisonError::into_inner);
    }
}
