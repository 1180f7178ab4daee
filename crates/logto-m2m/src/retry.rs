//! How long one call may take, and how many attempts it makes, before it returns an error.

use std::time::Duration;

/// The budget of one call for a token. Backoff delays themselves come from the state machine's
/// [`CachePolicy`](logto_m2m_proto::CachePolicy); this only says how much of them a call sits through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The most failed attempts one call sees before it returns the last error. Default 3: two
    /// retries of a transient failure (1 s, then 2 s of backoff by default).
    pub max_attempts: u32,
    /// The longest one call takes, all included: sending its requests (each is given what is left,
    /// as an [`AttemptTimeout`](crate::AttemptTimeout)), waiting for another caller's request, and
    /// sleeping through backoffs. Default 30 s. A retry that could not be sent and answered before
    /// this deadline is not waited for: the last error is returned at once. `Duration::MAX` means
    /// no limit: a call then ends after `max_attempts`, and waits for another caller's request no
    /// longer than the [`in_flight_timeout`](logto_m2m_proto::CachePolicy::in_flight_timeout).
    /// A zero budget leaves no time to send anything: a call then only returns a cached token or
    /// error.
    pub max_wait: Duration,
    /// The least time an attempt after the call's first one needs: a retry is only made when at
    /// least this much (or as long as the call's previous attempt took, if longer) is left of
    /// `max_wait` when it is due. Default 100 ms.
    pub min_attempt_time: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_wait: Duration::from_secs(30),
            min_attempt_time: Duration::from_millis(100),
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

    /// Sets [`min_attempt_time`](Self::min_attempt_time).
    #[must_use]
    pub fn with_min_attempt_time(mut self, time: Duration) -> Self {
        self.min_attempt_time = time;
        self
    }
}
