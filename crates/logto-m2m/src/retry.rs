//! How long one call may keep trying before it returns an error.

use std::time::Duration;

/// The budget of one call for a token. Backoff delays themselves come from the state machine's
/// [`CachePolicy`](logto_m2m_proto::CachePolicy); this only says how much of them a call sits through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The most failed attempts one call sees before it returns the last error. Default 3: two
    /// retries of a transient failure (1 s, then 2 s of backoff by default).
    pub max_attempts: u32,
    /// The longest one call waits, for another caller's request or for a backoff to pass. Default
    /// 30 s. A retry whose backoff (or `Retry-After`) ends later is not waited for: the error is
    /// returned at once.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Never retries within a call: a failure is returned at once (the state machine's backoff
    /// still spaces the attempts of later calls).
    #[must_use]
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets [`max_attempts`](Self::max_attempts) (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets [`max_wait`](Self::max_wait).
    #[must_use]
    pub fn with_max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }
}
