//! The shared token store, as the caller sees it: what the state machine asks a driver to do in a
//! store that every replica of a service shares (Redis, say), what the driver hands back, and the
//! knobs. The decisions are taken in [`crate::state_machine`]; the entries' format and sealing is
//! in `shared_entry`.
//!
//! A flight (the work of getting one token for one key) that uses the store goes:
//!
//! 1. [`StoreOp::Read`]: read the key's entry and whether its lock is held. A valid entry is
//!    adopted: no token request at all.
//! 2. [`StoreOp::Lock`]: no valid entry and the lock is free: take it (`SET NX PX`), with a
//!    [`LockOwner`] the caller draws at random. Won: send the token request
//!    ([`StoreNext::Fetch`]), then write the entry and release the lock ([`StoreWrite`]).
//! 3. [`StoreOp::Wait`]: another replica holds the lock: wait for its entry (a notification, or
//!    polling every [`SharedStorePolicy::poll_interval`]) and read again; once the lock's time
//!    has passed, fetch without it.
//!
//! A store that fails or times out sends the flight to a plain token request, and a breaker stops
//! asking a store that keeps failing, with one probe now and then to find it back.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::key::TokenKey;
use crate::lower_hex::lower_hex;
use crate::state_machine::{Fetch, Ticket};
use crate::token::Token;

/// Where a token key's entry lives in the shared store: a SHA-256 of everything in the key
/// (endpoint, app id, the keyed fingerprint of the credentials, authentication method, resource,
/// organization, sorted scopes, extra parameters), so a store's key names reveal none of them.
/// Store adapters build their key names from [`id`](Self::id).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StoreKey {
    id: Arc<str>,
}

/// Separates this hash of a token key from any other use of SHA-256.
const STORE_KEY_LABEL: &[u8] = b"logto-m2m store key v1\0";

impl StoreKey {
    /// The store key of `key`.
    #[must_use]
    pub fn of(key: &TokenKey) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(STORE_KEY_LABEL);
        key.feed_canonical(&mut |field: &[u8]| {
            // Each field with its length first: no two keys share an encoding.
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field);
        });
        Self {
            id: lower_hex(&hasher.finalize()).into(),
        }
    }

    /// The key's id: 64 lowercase hexadecimal characters.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreKey").field(&self.id()).finish()
    }
}

/// Who holds a key's lock in the store: 128 random bits the caller draws for each attempt to take
/// it, so a replica only ever releases a lock it holds (compare-and-delete).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockOwner([u8; 16]);

impl LockOwner {
    /// An owner from 16 random bytes.
    #[must_use]
    pub fn new(random: [u8; 16]) -> Self {
        Self(random)
    }

    /// The owner's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The owner in lowercase hexadecimal (32 characters), the lock's value in the store.
    #[must_use]
    pub fn to_hex(&self) -> String {
        lower_hex(&self.0)
    }
}

impl fmt::Debug for LockOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LockOwner({})", self.to_hex())
    }
}

/// What a read of a key found in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreView {
    /// The sealed entry, if there is one (its bytes as stored).
    pub entry: Option<Vec<u8>>,
    /// Whether the key's lock is held (by anyone).
    pub locked: bool,
}

impl StoreView {
    /// A view of `entry` and of whether the lock is held.
    #[must_use]
    pub fn new(entry: Option<Vec<u8>>, locked: bool) -> Self {
        Self { entry, locked }
    }
}

/// Why a store operation gave no answer. The state machine treats every kind alike (the flight
/// goes on without the store, and the breaker counts it); the kinds are for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreFailure {
    /// The store could not be reached, or the connection broke.
    Unavailable,
    /// The store did not answer within [`SharedStorePolicy::op_timeout`].
    TimedOut,
    /// The store answered with an error (out of memory, read-only replica, a script refused...).
    Refused,
}

impl StoreFailure {
    /// A short name for logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::TimedOut => "timed_out",
            Self::Refused => "refused",
        }
    }
}

/// Why an entry found in the store was not adopted. Such an entry is never served: the flight goes
/// on as if there were none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryRefusal {
    /// Not an entry of this library (too short, wrong magic bytes, or not the expected contents).
    Malformed,
    /// An entry of a format version this build does not read.
    UnknownVersion,
    /// Written under other credentials (another app secret, as after a rotation).
    OtherCredentials,
    /// It does not open: tampered with, or written for another key.
    Forged,
    /// Its usable life is over (by this replica's clock, less the clock skew allowed).
    Expired,
    /// It claims more life left than its own lifetime: its issue time is ahead of this replica's
    /// clock by more than the clock skew allowed.
    FromTheFuture,
    /// It holds the token this replica dropped after a 401 from a resource server.
    Rejected,
}

impl EntryRefusal {
    /// A short name for logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownVersion => "unknown_version",
            Self::OtherCredentials => "other_credentials",
            Self::Forged => "forged",
            Self::Expired => "expired",
            Self::FromTheFuture => "from_the_future",
            Self::Rejected => "rejected",
        }
    }
}

/// A store operation the state machine asks for, for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreOp {
    /// Read the entry and whether the lock is held; hand the result back with
    /// [`TokenCache::handle_store_read`](crate::TokenCache::handle_store_read).
    Read,
    /// Take the lock with a fresh random [`LockOwner`] if nobody holds it (`SET NX`), for `ttl`;
    /// hand the result back with
    /// [`TokenCache::handle_store_lock`](crate::TokenCache::handle_store_lock).
    Lock {
        /// How long the lock lives unless released.
        ttl: Duration,
    },
    /// Another replica holds the lock: wait for its entry to be published (or
    /// [`SharedStorePolicy::poll_interval`] at most), but not past `until`, then [`Read`](Self::Read)
    /// again.
    Wait {
        /// The latest instant to read again at.
        until: Instant,
    },
}

/// A flight that starts in the shared store: the ticket to hand back, the key, and the first
/// operation (always [`StoreOp::Read`]).
#[derive(Debug)]
#[must_use = "the ticket must be handed back"]
pub struct SharedStep {
    /// The flight's ticket: hand it back with each store result, and with the token request's
    /// outcome if it comes to one.
    pub ticket: Ticket,
    /// The key's place in the store.
    pub key: StoreKey,
    /// What to do.
    pub op: StoreOp,
}

/// What to do after a store result was handed back.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
// Moved once per store operation: boxing the request would cost more than it saves.
#[allow(clippy::large_enum_variant)]
pub enum StoreNext {
    /// Another store operation for the same ticket and key.
    Op(StoreOp),
    /// Send this token request, then hand its outcome back as for any [`Fetch`]; its ticket
    /// replaces the one held so far (it says whether the lock is held, for [`StoreWrite`]).
    Fetch(Fetch),
    /// The entry was adopted: this token is now the key's, with no token request.
    Adopted(Arc<Token>),
    /// The ticket no longer counts (cancelled, abandoned or evicted meanwhile): stop.
    Over,
}

/// What a store result changed, beside the next step: an entry refused, the breaker moving.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub struct StoreAnswer {
    /// What to do next.
    pub next: StoreNext,
    /// An entry was found and refused, for this reason (never served).
    pub refused: Option<EntryRefusal>,
    /// The breaker opened or closed with this result.
    pub breaker: Option<BreakerChange>,
}

/// The breaker of the shared store moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerChange {
    /// The store failed too often: flights stop asking it, until a probe finds it back.
    Opened,
    /// A probe (or any operation) succeeded: flights ask the store again.
    Closed,
}

/// An entry sealed for the store, and how long the store should keep it (its remaining usable
/// life: the store's own TTL never outlives the token).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedEntry {
    /// The bytes to store.
    pub bytes: Vec<u8>,
    /// The store's time to live for them.
    pub ttl: Duration,
}

impl fmt::Debug for SealedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedEntry")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// What to write to the store after a token request of a shared flight: the entry to publish
/// (its waiters notified), and the lock to release (compare-and-delete with this owner), in that
/// order. Hand the result back with
/// [`TokenCache::handle_store_write`](crate::TokenCache::handle_store_write).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub struct StoreWrite {
    /// The key's place in the store.
    pub key: StoreKey,
    /// The entry to write, with its time to live; `None` after a failed request.
    pub entry: Option<SealedEntry>,
    /// Release the lock if this owner still holds it.
    pub release: Option<LockOwner>,
}

impl StoreWrite {
    /// A write of `entry` (if any) to `key`'s place, releasing `release`'s lock (if any). The
    /// state machine makes these; store adapters make them to test their writes.
    pub fn new(key: StoreKey, entry: Option<SealedEntry>, release: Option<LockOwner>) -> Self {
        Self {
            key,
            entry,
            release,
        }
    }
}

/// The knobs of the shared store, each default with its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedStorePolicy {
    /// The longest one store operation may take before the flight goes on without the store.
    /// Default 250 ms: a store in the same region answers in a millisecond or two; a token request
    /// costs far more than waiting this long.
    pub op_timeout: Duration,
    /// How long a lock lives unless released: the longest one replica's token request may keep
    /// the others waiting. Default 10 s: a token request takes well under a second; past this, the
    /// waiters fetch themselves.
    /// Keep it well below the time a call may take (the managers' `RetryPolicy::max_wait`,
    /// default 30 s): a call waiting on a replica that died mid-fetch fetches itself only once
    /// the lock's time has passed, and ends with a timeout if its own time runs out first.
    pub lock_ttl: Duration,
    /// While waiting for another replica's entry: how often to read again when no notification
    /// comes. Default 250 ms (notifications normally wake waiters at once).
    pub poll_interval: Duration,
    /// How far the wall clocks of two replicas may disagree. An adopted entry's expiry is moved
    /// this much earlier, so no replica uses a token past its real expiry less its margin. Default
    /// 30 s.
    pub max_clock_skew: Duration,
    /// How many store failures in a row open the breaker. Default 3.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one flight probes the store again. Default 15 s.
    pub breaker_open_for: Duration,
}

impl Default for SharedStorePolicy {
    fn default() -> Self {
        Self {
            op_timeout: Duration::from_millis(250),
            lock_ttl: Duration::from_secs(10),
            poll_interval: Duration::from_millis(250),
            max_clock_skew: Duration::from_secs(30),
            breaker_failures: 3,
            breaker_open_for: Duration::from_secs(15),
        }
    }
}

crate::policy::with! {
    SharedStorePolicy;
    /// Sets [`op_timeout`](Self::op_timeout).
    with_op_timeout: op_timeout: Duration;
    /// Sets [`lock_ttl`](Self::lock_ttl).
    with_lock_ttl: lock_ttl: Duration;
    /// Sets [`poll_interval`](Self::poll_interval).
    with_poll_interval: poll_interval: Duration;
    /// Sets [`max_clock_skew`](Self::max_clock_skew).
    with_max_clock_skew: max_clock_skew: Duration;
    /// Sets [`breaker_failures`](Self::breaker_failures).
    with_breaker_failures: breaker_failures: u32;
    /// Sets [`breaker_open_for`](Self::breaker_open_for).
    with_breaker_open_for: breaker_open_for: Duration;
}
