//! The issuer's key set as a state machine: when to fetch it, what to do with the answers, and
//! which key a token's `kid` names. No IO and no clock reads: every method that can change state
//! takes `now` (wall-clock, like the tokens' times).
//!
//! See `docs/verify.md` for the states and transitions.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{ACCEPT, USER_AGENT};
use http::{HeaderValue, Method, Request, Response, Uri};
use logto_m2m_proto::{Discovery, TransportError, USER_AGENT_VALUE};

use crate::error::{ConfigError, KeySetError};
use crate::jwks::Jwks;
use crate::key::VerificationKey;

/// When the key set is fetched, and how much of it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySetPolicy {
    max_age: Duration,
    refetch_cooldown: Duration,
    retry_unavailable: Duration,
    fetch_timeout: Duration,
    max_keys: usize,
    max_document_bytes: usize,
}

impl Default for KeySetPolicy {
    /// Keys kept 10 minutes; at most one refetch per 30 s; 5 s between attempts while no key set
    /// has ever loaded; a fetch given up after 30 s; at most 16 keys and 64 KiB.
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(600),
            refetch_cooldown: Duration::from_secs(30),
            retry_unavailable: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(30),
            max_keys: 16,
            max_document_bytes: 64 * 1024,
        }
    }
}

impl KeySetPolicy {
    /// How long a fetched key set is used before it is fetched again (10 min by default). It is
    /// still used after that while the refetch is in flight or failing.
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// The least time between two fetches once a key set is loaded (30 s by default): however
    /// many tokens name unknown keys, at most one request is sent per cooldown.
    #[must_use]
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.refetch_cooldown = cooldown;
        self
    }

    /// The least time between two attempts while no key set has loaded yet (5 s by default).
    #[must_use]
    pub fn retry_unavailable(mut self, delay: Duration) -> Self {
        self.retry_unavailable = delay;
        self
    }

    /// How long a fetch may stay unanswered before it is taken as lost and another may start
    /// (30 s by default). Transports should time out before that.
    #[must_use]
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The most keys a key set document may hold (16 by default; Logto serves one or two). A
    /// document with more is refused whole.
    #[must_use]
    pub fn max_keys(mut self, keys: usize) -> Self {
        self.max_keys = keys;
        self
    }

    /// The largest key set or discovery document read, in bytes (64 KiB by default).
    #[must_use]
    pub fn max_document_bytes(mut self, bytes: usize) -> Self {
        self.max_document_bytes = bytes;
        self
    }

    /// The refetch cooldown.
    #[must_use]
    pub fn cooldown(&self) -> Duration {
        self.refetch_cooldown
    }

    /// The fetch timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.fetch_timeout
    }
}

/// Identifies one fetch; answers to a fetch that is no longer current are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(u64);

/// A request the caller must send, then hand the outcome back with [`KeySet::handle_response`]
/// or [`KeySet::handle_transport_error`] (or [`KeySet::cancel`] it).
#[derive(Debug)]
#[must_use = "send the request and hand the answer back, or cancel it"]
pub struct Fetch {
    /// This fetch.
    pub ticket: Ticket,
    /// `GET` of the discovery document or of the key set.
    pub request: Request<Vec<u8>>,
}

/// What to do for a token whose header names `kid` ([`KeySet::lookup`]).
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Lookup {
    /// The key; check the token with it. When `refresh` is set the key set is due for its
    /// periodic refetch: send it too (after checking, if you like).
    Found {
        /// The key with the token's `kid`.
        key: Arc<VerificationKey>,
        /// A refetch to send.
        refresh: Option<Fetch>,
    },
    /// Send this fetch, hand its answer back, then look up again.
    Fetch(Fetch),
    /// A fetch is in flight: wait until [`KeySet::generation`] differs from `generation` (or
    /// until [`KeySet::poll_timeout`]), then look up again.
    Wait {
        /// The generation to wait past.
        generation: u64,
    },
    /// No key has this `kid`, and no refetch may be sent now: refuse the token.
    Unknown,
    /// No key set is loaded and none may be fetched now: the token cannot be judged.
    Unavailable(KeySetError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Discovery,
    Jwks,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    ticket: Ticket,
    stage: Stage,
    sent_at: SystemTime,
}

/// The issuer's key set and when to fetch it.
///
/// - At start, [`poll`](Self::poll) or [`lookup`](Self::lookup) asks for the discovery document,
///   then for its `jwks_uri`.
/// - Keys are kept for [`KeySetPolicy::max_age`], then refetched; they stay in use while the
///   refetch is in flight or failing.
/// - A `kid` not in the set asks for one refetch, at most once per
///   [`KeySetPolicy::refetch_cooldown`], and never while another fetch is in flight.
/// - A fetched set replaces the previous one whole: during a rotation Logto serves both keys.
#[derive(Debug)]
pub struct KeySet {
    policy: KeySetPolicy,
    discovery: Discovery,
    origin: String,
    jwks_uri: Option<Uri>,
    keys: Option<Arc<Jwks>>,
    fetched_at: Option<SystemTime>,
    last_attempt: Option<SystemTime>,
    in_flight: Option<InFlight>,
    refetch_wanted: bool,
    next_ticket: u64,
    generation: u64,
    last_error: Option<KeySetError>,
}

impl KeySet {
    /// The key set of the Logto tenant at `endpoint`, found through its discovery document
    /// (`{endpoint}/oidc/.well-known/openid-configuration`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Endpoint`] when `endpoint` is not an absolute `https` URL (`http` only on
    /// loopback).
    pub fn new(endpoint: &str, policy: KeySetPolicy) -> Result<Self, ConfigError> {
        let discovery = Discovery::new(endpoint, false).map_err(ConfigError::Endpoint)?;
        let issuer: Uri = discovery
            .expected_issuer()
            .parse()
            .map_err(|_| ConfigError::Empty("endpoint host"))?;
        let origin = format!(
            "{}://{}",
            issuer.scheme_str().unwrap_or_default(),
            issuer.authority().map(|a| a.as_str()).unwrap_or_default()
        );
        Ok(Self {
            policy,
            discovery,
            origin,
            jwks_uri: None,
            keys: None,
            fetched_at: None,
            last_attempt: None,
            in_flight: None,
            refetch_wanted: false,
            next_ticket: 0,
            generation: 0,
            last_error: None,
        })
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &KeySetPolicy {
        &self.policy
    }

    /// The current keys, if a key set has loaded.
    #[must_use]
    pub fn keys(&self) -> Option<&Arc<Jwks>> {
        self.keys.as_ref()
    }

    /// The `jwks_uri` found by discovery.
    #[must_use]
    pub fn jwks_uri(&self) -> Option<&Uri> {
        self.jwks_uri.as_ref()
    }

    /// Counts the fetches that ended (answered, failed, cancelled or given up): waiters of
    /// [`Lookup::Wait`] look up again when it changes.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The error of the last fetch, if it failed.
    #[must_use]
    pub fn last_error(&self) -> Option<&KeySetError> {
        self.last_error.as_ref()
    }

    /// Whether a fetch is in flight at `now` (one older than the fetch timeout is not).
    #[must_use]
    pub fn is_fetching(&self, now: SystemTime) -> bool {
        self.in_flight
            .is_some_and(|f| elapsed(f.sent_at, now) < self.policy.fetch_timeout)
    }

    /// When something changes on its own: the in-flight fetch times out, or the keys reach their
    /// maximum age (or the retry delay passes while none are loaded).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<SystemTime> {
        if let Some(f) = self.in_flight {
            return f.sent_at.checked_add(self.policy.fetch_timeout);
        }
        match (self.fetched_at, self.last_attempt) {
            (Some(fetched), _) => fetched.checked_add(self.policy.max_age),
            (None, Some(attempt)) => attempt.checked_add(self.policy.retry_unavailable),
            (None, None) => None,
        }
    }

    /// A fetch, if one is due at `now`: the first one, the periodic refetch, a refetch asked for
    /// by an unknown `kid` once the cooldown has passed, or a retry while nothing is loaded.
    pub fn poll(&mut self, now: SystemTime) -> Option<Fetch> {
        self.settle(now);
        self.fetch_due(now).then(|| self.start(now))
    }

    /// What to do for a token whose header names `kid`, at `now`. See [`Lookup`].
    pub fn lookup(&mut self, kid: &str, now: SystemTime) -> Lookup {
        self.settle(now);
        match &self.keys {
            Some(keys) => {
                if let Some(key) = keys.find(kid) {
                    let key = Arc::clone(key);
                    let refresh = self.fetch_due(now).then(|| self.start(now));
                    return Lookup::Found { key, refresh };
                }
                self.refetch_wanted = true;
                if self.fetch_due(now) {
                    Lookup::Fetch(self.start(now))
                } else if self.in_flight.is_some() {
                    Lookup::Wait {
                        generation: self.generation,
                    }
                } else {
                    Lookup::Unknown
                }
            }
            None => {
                if self.fetch_due(now) {
                    Lookup::Fetch(self.start(now))
                } else if self.in_flight.is_some() {
                    Lookup::Wait {
                        generation: self.generation,
                    }
                } else {
                    Lookup::Unavailable(self.last_error.clone().unwrap_or(KeySetError::NotLoaded))
                }
            }
        }
    }

    /// Takes the answer to `ticket`. A discovery answer gives the key set fetch that follows at
    /// once; a key set answer replaces the keys. An answer to a fetch that is no longer current
    /// changes nothing.
    ///
    /// # Errors
    ///
    /// Why the answer was refused (it is also kept as [`last_error`](Self::last_error)); the
    /// keys held so far stay in use.
    pub fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        ticket: Ticket,
        response: &Response<B>,
        now: SystemTime,
    ) -> Result<Option<Fetch>, KeySetError> {
        let Some(in_flight) = self.in_flight.filter(|f| f.ticket == ticket) else {
            return Ok(None);
        };
        self.in_flight = None;
        let result = match in_flight.stage {
            Stage::Discovery => self.read_discovery(response, now).map(|uri| {
                self.jwks_uri = Some(uri);
                Some(self.start(now))
            }),
            Stage::Jwks => self.read_jwks(response).map(|keys| {
                self.keys = Some(Arc::new(keys));
                self.fetched_at = Some(now);
                self.refetch_wanted = false;
                None
            }),
        };
        match &result {
            Ok(Some(_)) => {}
            Ok(None) => {
                self.last_error = None;
                self.generation = self.generation.wrapping_add(1);
            }
            Err(e) => self.fail(e.clone()),
        }
        result
    }

    /// Takes the failure of the exchange for `ticket`; the keys held so far stay in use.
    pub fn handle_transport_error(&mut self, ticket: Ticket, error: TransportError) {
        if self.in_flight.is_some_and(|f| f.ticket == ticket) {
            self.in_flight = None;
            self.fail(KeySetError::Transport(error));
        }
    }

    /// Gives `ticket` up without an outcome (its sender went away); the cooldown still counts
    /// from when it was sent.
    pub fn cancel(&mut self, ticket: Ticket) {
        if self.in_flight.is_some_and(|f| f.ticket == ticket) {
            self.in_flight = None;
            self.generation = self.generation.wrapping_add(1);
        }
    }

    fn fail(&mut self, error: KeySetError) {
        self.last_error = Some(error);
        self.generation = self.generation.wrapping_add(1);
    }

    /// Drops a fetch that outlived the timeout, and pulls times from a clock that went back to
    /// `now`, so that a backward jump delays fetches by one cooldown at most.
    fn settle(&mut self, now: SystemTime) {
        if let Some(f) = self.in_flight {
            if f.sent_at > now {
                self.in_flight = Some(InFlight { sent_at: now, ..f });
            } else if elapsed(f.sent_at, now) >= self.policy.fetch_timeout {
                self.in_flight = None;
                self.fail(KeySetError::Transport(TransportError::new(
                    logto_m2m_proto::TransportErrorKind::Timeout,
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "key set fetch timed out"),
                )));
            }
        }
        for t in [&mut self.fetched_at, &mut self.last_attempt] {
            if t.is_some_and(|t| t > now) {
                *t = Some(now);
            }
        }
    }

    fn fetch_due(&self, now: SystemTime) -> bool {
        if self.in_flight.is_some() {
            return false;
        }
        let since_attempt = self.last_attempt.map(|t| elapsed(t, now));
        match self.fetched_at {
            None => since_attempt.is_none_or(|d| d >= self.policy.retry_unavailable),
            Some(fetched) => {
                (self.refetch_wanted || elapsed(fetched, now) >= self.policy.max_age)
                    && since_attempt.is_none_or(|d| d >= self.policy.refetch_cooldown)
            }
        }
    }

    fn start(&mut self, now: SystemTime) -> Fetch {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket = self.next_ticket.wrapping_add(1);
        self.last_attempt = Some(now);
        let (stage, request) = match &self.jwks_uri {
            Some(uri) => (
                Stage::Jwks,
                get(uri.clone(), "application/jwk-set+json, application/json"),
            ),
            None => (Stage::Discovery, self.discovery.to_http()),
        };
        self.in_flight = Some(InFlight {
            ticket,
            stage,
            sent_at: now,
        });
        Fetch { ticket, request }
    }

    fn read_discovery<B: AsRef<[u8]>>(
        &self,
        response: &Response<B>,
        now: SystemTime,
    ) -> Result<Uri, KeySetError> {
        if response.body().as_ref().len() > self.policy.max_document_bytes {
            return Err(KeySetError::TooLarge {
                limit: self.policy.max_document_bytes,
            });
        }
        let document = self
            .discovery
            .parse_response(response, now)
            .map_err(KeySetError::Discovery)?;
        let uri: Uri = document
            .jwks_uri
            .parse()
            .map_err(|_| KeySetError::ForeignJwksUri)?;
        let same_origin = uri.scheme_str().zip(uri.authority()).is_some_and(|(s, a)| {
            self.origin
                .strip_prefix(s)
                .and_then(|rest| rest.strip_prefix("://"))
                .is_some_and(|authority| authority.eq_ignore_ascii_case(a.as_str()))
        });
        if !same_origin {
            return Err(KeySetError::ForeignJwksUri);
        }
        Ok(uri)
    }

    fn read_jwks<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<Jwks, KeySetError> {
        if !response.status().is_success() {
            return Err(KeySetError::Status(response.status()));
        }
        Jwks::parse(
            response.body().as_ref(),
            self.policy.max_document_bytes,
            self.policy.max_keys,
        )
    }
}

fn get(uri: Uri, accept: &'static str) -> Request<Vec<u8>> {
    let mut request = Request::new(Vec::new());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(ACCEPT, HeaderValue::from_static(accept));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    request
}

/// The time from `since` to `now`, zero when the clock went back.
fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or_default()
}
