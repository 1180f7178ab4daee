//! The lock-free hot path: a per-request handle that keeps the state machine's last "use this token
//! until `fresh_until`" answer, and hands it out without taking any lock until then.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use logto_m2m_proto::{ClientConfig, Token, TokenRequest};

use crate::clock::boot_time;
use crate::driver::Core;
use crate::events::CacheHits;
use crate::flight_watch::FlightWatch;

/// Until when the state machine's answer "use this token" holds: by the monotonic clock and by
/// the wall clock (which goes on while a machine sleeps), whichever comes first; and, where the
/// system has it, the same deadline as one time of `CLOCK_BOOTTIME`, which a single clock read
/// checks (see [`ManagerClock::boot_deadline`](crate::clock::ManagerClock::boot_deadline)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FreshUntil {
    pub(crate) instant: Instant,
    pub(crate) wall: SystemTime,
    pub(crate) boot: Option<Duration>,
}

impl FreshUntil {
    /// Whether the answer still holds, on `core`'s clock.
    #[inline]
    fn holds(&self, core: &Core) -> bool {
        match self.boot {
            Some(deadline) => boot_time().is_some_and(|boot| boot < deadline),
            None => core.now() < self.instant && core.wall_now() < self.wall,
        }
    }
}

/// A usable token, the state machine's promise of how long it stays the answer without other input,
/// and the core's change count when it was asked (any outcome, cancellation or invalidation since
/// makes it stale: a refresh that finished, say).
#[derive(Debug)]
pub(crate) struct Snapshot {
    token: Arc<Token>,
    fresh_until: FreshUntil,
    changes: u64,
}

/// The last answer for one request, shared by clones of a token source, the hits it served, and
/// (async sources) the request in flight its callers wait for.
#[derive(Debug)]
pub(crate) struct SnapshotCell {
    snapshot: ArcSwapOption<Snapshot>,
    hits: CacheHits,
    pub(crate) watch: FlightWatch,
}

impl SnapshotCell {
    /// An empty cell for `request`.
    pub(crate) fn new(request: &TokenRequest) -> Self {
        Self {
            snapshot: ArcSwapOption::empty(),
            hits: CacheHits::new(request.key()),
            watch: FlightWatch::default(),
        }
    }

    /// Runs `use_token` on the remembered token if the state machine's answer still holds, else
    /// hands `use_token` back. One atomic load for the cell (through `arc-swap`'s per-thread slots),
    /// one for the change count and one clock read (`CLOCK_BOOTTIME`; both clocks where the system
    /// has no such clock, or with an injected clock): nothing is written to memory that another
    /// thread reads, so readers on several cores never contend (with the `metrics` feature, the
    /// hit is tallied in a slot of the calling thread's own). The token is pinned, not counted,
    /// while `use_token` runs.
    pub(crate) fn with_fresh<R, F: FnOnce(&Arc<Token>) -> R>(
        &self,
        core: &Core,
        use_token: F,
    ) -> Result<R, F> {
        let guard = self.snapshot.load();
        match guard.as_ref() {
            Some(snapshot)
                if snapshot.fresh_until.holds(core) && snapshot.changes == core.change_count() =>
            {
                self.hits.hit();
                Ok(use_token(&snapshot.token))
            }
            _ => Err(use_token),
        }
    }

    /// Remembers the manager's answer: a token with until when it holds and the change count the
    /// answer was taken at (or before), or (`None`) a token that must not be reused without
    /// asking again, which leaves the cell as it is: a snapshot taken before any change since is
    /// refused by its change count, and one taken after it by another caller still holds.
    /// The cache hits counted so far are recorded then.
    pub(crate) fn remember(&self, token: &Arc<Token>, fresh: Option<(FreshUntil, u64)>) {
        self.hits.flush();
        let Some((fresh_until, changes)) = fresh else {
            return;
        };
        // Callers woken by the same outcome give the same answer: the first one's is kept.
        if let Some(current) = self.snapshot.load().as_ref() {
            if current.changes == changes && Arc::ptr_eq(&current.token, token) {
                return;
            }
        }
        self.snapshot.store(Some(Arc::new(Snapshot {
            token: Arc::clone(token),
            fresh_until,
            changes,
        })));
    }

    /// Forgets the remembered token: the next call asks the manager.
    pub(crate) fn clear(&self) {
        self.snapshot.store(None);
    }
}

/// The request of a token source: built with the manager's configuration, and built again from
/// the same parameters when a secret rotation has replaced that configuration.
#[derive(Debug)]
pub(crate) struct RequestCell(ArcSwap<TokenRequest>);

impl RequestCell {
    pub(crate) fn new(request: TokenRequest) -> Self {
        Self(ArcSwap::from_pointee(request))
    }

    /// The request for `config`, the manager's configuration in force.
    pub(crate) fn current(&self, config: &ClientConfig) -> Arc<TokenRequest> {
        let request = self.0.load_full();
        if request.config() == config {
            return request;
        }
        // Only the secret changes in a rotation, and nothing the request checks depends on it.
        match TokenRequest::new(config, request.params().clone()) {
            Ok(rebuilt) => {
                let rebuilt = Arc::new(rebuilt);
                self.0.store(Arc::clone(&rebuilt));
                rebuilt
            }
            Err(_) => request,
        }
    }

    pub(crate) fn load(&self) -> Arc<TokenRequest> {
        self.0.load_full()
    }
}

/// A handle for one token request on one manager: the fastest way to get the same token over and
/// over. While the cached token is fresh, a call takes no lock and allocates nothing; otherwise it
/// asks the manager like any call.
///
/// - `with_token(|token| ..)` lends the token to a closure. It writes nothing to shared memory, so
///   threads that share a source scale with the number of cores. Use it on hot paths, e.g. to set
///   the header of each API call.
/// - `token()` returns an owned `Arc<Token>`, to keep or send elsewhere. Each call increments the
///   token's shared reference count, which threads on several cores contend for. `authorize`
///   sets the header and returns the token too, so that a 401 can `invalidate` exactly that one.
///
/// After the manager's secret is rotated, the source asks for its token with the new secret.
///
/// Cheap to clone (one reference count); clones share what they remember.
#[derive(Debug)]
pub struct TokenSource<M> {
    pub(crate) inner: Arc<SourceInner<M>>,
}

/// What the clones of a token source share: the manager, the request and the remembered answer.
#[derive(Debug)]
pub(crate) struct SourceInner<M> {
    pub(crate) manager: M,
    pub(crate) request: RequestCell,
    pub(crate) cell: SnapshotCell,
}

impl<M> Clone for TokenSource<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M> TokenSource<M> {
    /// A source of `manager` for `request`, with nothing remembered yet.
    pub(crate) fn new(manager: M, request: TokenRequest) -> Self {
        Self {
            inner: Arc::new(SourceInner {
                manager,
                cell: SnapshotCell::new(&request),
                request: RequestCell::new(request),
            }),
        }
    }

    /// The token request this source last asked for (built again after a secret rotation).
    #[must_use]
    pub fn request(&self) -> Arc<TokenRequest> {
        self.inner.request.load()
    }

    /// The manager this source asks.
    #[must_use]
    pub fn manager(&self) -> &M {
        &self.inner.manager
    }
}
