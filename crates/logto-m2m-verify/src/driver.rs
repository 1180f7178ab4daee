//! What the blocking and async verifiers share: the key set behind a lock, the clock, one step of
//! a verification, and reading the `Authorization` header.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use http::{HeaderValue, Response};
use logto_m2m_proto::TransportError;

use crate::claims::VerifiedToken;
use crate::error::{InvalidToken, KeySetError, VerifyError};
use crate::jws::Jws;
use crate::key_set::{Fetch, KeySet, Lookup, Ticket};
use crate::scopes::RequiredScopes;
use crate::validation::Validation;

/// The most fetches or waits one verification goes through: a discovery and key set fetch, a
/// refetch for an unknown `kid`, and a wait for another caller's fetch.
pub(crate) const MAX_ROUNDS: usize = 4;

/// The wall clock a verifier reads.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

pub(crate) fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// What to do next in one verification.
#[expect(
    clippy::large_enum_variant,
    reason = "a value on the stack, matched at once"
)]
pub(crate) enum Next {
    /// The verdict; send `refresh` too if it is set.
    Verdict(Result<VerifiedToken, VerifyError>, Option<Fetch>),
    /// Send this fetch, then step again.
    Fetch(Fetch),
    /// Wait until the generation moves past this one, then step again.
    Wait(u64),
}

/// The key set, the checks and the clock.
pub(crate) struct Core {
    key_set: Mutex<KeySet>,
    validation: Validation,
    clock: Clock,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("key_set", &self.key_set)
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(key_set: KeySet, validation: Validation, clock: Clock) -> Self {
        Self {
            key_set: Mutex::new(key_set),
            validation,
            clock,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, KeySet> {
        self.key_set.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    pub(crate) fn validation(&self) -> &Validation {
        &self.validation
    }

    pub(crate) fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// One step for a parsed token: the key is looked up under the lock, the signature and
    /// claims are checked outside it.
    pub(crate) fn step(&self, jws: &Jws<'_>, required: &RequiredScopes) -> Next {
        let now = self.now();
        let lookup = self.lock().lookup(jws.kid(), now);
        match lookup {
            Lookup::Found { key, refresh } => {
                let verdict = self
                    .validation
                    .check(jws, &key, now)
                    .map_err(VerifyError::from)
                    .and_then(|token| {
                        token.require(required)?;
                        Ok(token)
                    });
                Next::Verdict(verdict, refresh)
            }
            Lookup::Fetch(fetch) => Next::Fetch(fetch),
            Lookup::Wait { generation } => Next::Wait(generation),
            Lookup::Unavailable(e) => Next::Verdict(Err(e.into()), None),
            _ => Next::Verdict(Err(InvalidToken::UnknownKey.into()), None),
        }
    }

    /// A fetch to start now, if one is due (for an explicit refresh).
    pub(crate) fn poll(&self) -> Option<Fetch> {
        let now = self.now();
        self.lock().poll(now)
    }

    /// Hands an outcome back; gives the follow-up fetch, if any.
    pub(crate) fn answer(
        &self,
        ticket: Ticket,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> Option<Fetch> {
        let now = self.now();
        let mut key_set = self.lock();
        match outcome {
            Ok(response) => key_set
                .handle_response(ticket, &response, now)
                .ok()
                .flatten(),
            Err(error) => {
                key_set.handle_transport_error(ticket, error);
                None
            }
        }
    }

    /// How long one fetch, or a wait for another caller's, may take.
    #[cfg(feature = "async")]
    pub(crate) fn fetch_timeout(&self) -> std::time::Duration {
        self.lock().policy().timeout()
    }

    #[cfg(feature = "async")]
    pub(crate) fn cancel(&self, ticket: Ticket) {
        self.lock().cancel(ticket);
    }

    #[cfg(feature = "async")]
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation()
    }

    /// The outcome of an explicit refresh: the keys are loaded, or why not.
    pub(crate) fn loaded(&self) -> Result<(), KeySetError> {
        let key_set = self.lock();
        match (key_set.keys(), key_set.last_error()) {
            (_, Some(e)) => Err(e.clone()),
            (Some(_), None) => Ok(()),
            (None, None) => Err(KeySetError::NotLoaded),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme in any
/// case).
///
/// # Errors
///
/// [`VerifyError::Missing`] when there is no header or another scheme;
/// [`InvalidToken::Malformed`] when the value is not `Bearer` and a token68.
pub fn bearer_token(authorization: Option<&HeaderValue>) -> Result<&str, VerifyError> {
    let value = authorization.ok_or(VerifyError::Missing)?;
    let value = value.to_str().map_err(|_| InvalidToken::Malformed)?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(VerifyError::Missing);
    }
    let token = token.trim_matches(' ');
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    if token.is_empty() || !token.trim_end_matches('=').chars().all(token68) {
        return Err(InvalidToken::Malformed.into());
    }
    Ok(token)
}
