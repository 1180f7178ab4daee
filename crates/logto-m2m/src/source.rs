//! The lock-free hot path: a per-request handle that keeps the state machine's last "use this token
//! until `fresh_until`" answer, and hands it out without taking any lock until then.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use logto_m2m_proto::{Token, TokenRequest};

use crate::driver::Core;

/// A usable token, the state machine's promise of how long it stays the answer without other input,
/// and the core's change count when it was asked (any outcome, cancellation or invalidation since
/// makes it stale: a refresh that finished, say).
#[derive(Debug)]
pub(crate) struct Snapshot {
    token: Arc<Token>,
    fresh_until: Instant,
    changes: u64,
}

/// The last answer for one request, shared by clones of a token source.
#[derive(Debug, Default)]
pub(crate) struct SnapshotCell(ArcSwapOption<Snapshot>);

impl SnapshotCell {
    /// The remembered token, if the state machine's answer still holds: one atomic load for the
    /// cell, one for the change count, one clock read, and a reference-count increment.
    pub(crate) fn get(&self, core: &Core) -> Option<Arc<Token>> {
        let guard = self.0.load();
        let snapshot = guard.as_ref()?;
        let fresh =
            Instant::now() < snapshot.fresh_until && snapshot.changes == core.change_count();
        fresh.then(|| Arc::clone(&snapshot.token))
    }

    /// Remembers the state machine's answer, asked after the change count was `changes`.
    pub(crate) fn store(&self, token: Arc<Token>, fresh_until: Instant, changes: u64) {
        self.0.store(Some(Arc::new(Snapshot {
            token,
            fresh_until,
            changes,
        })));
    }

    pub(crate) fn clear(&self) {
        self.0.store(None);
    }
}

/// A handle for one token request on one manager: the fastest way to get the same token over and
/// over. While the cached token is fresh, [`token`](Self::token) takes no lock and allocates nothing
/// (a reference-count increment aside); otherwise it asks the manager like any call.
///
/// Cheap to clone; clones share what they remember.
#[derive(Debug, Clone)]
pub struct TokenSource<M> {
    pub(crate) manager: M,
    pub(crate) request: Arc<TokenRequest>,
    pub(crate) cell: Arc<SnapshotCell>,
}

impl<M> TokenSource<M> {
    /// The token request this source asks for.
    #[must_use]
    pub fn request(&self) -> &TokenRequest {
        &self.request
    }

    /// The manager this source asks.
    #[must_use]
    pub fn manager(&self) -> &M {
        &self.manager
    }
}
