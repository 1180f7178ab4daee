//! The clock a manager reads: the system's by default, or one the caller injects (a synthetic clock
//! in tests, so that expiry, backoff and deadlines run without sleeping).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Where a manager reads the time: a monotonic [`Instant`] for every decision of the state machine
/// and every deadline, and the wall clock for `Retry-After` dates and wall-clock expiry.
///
/// The default, [`SystemClock`], reads the system's clocks. A synthetic clock lets tests move time
/// forward (or jump it) without sleeping; the managers then also sleep through backoffs with the
/// durations this clock gives (the async manager on its [sleeper](crate::Sleep), which a test can
/// drive from the same clock).
pub trait Clock: Send + Sync + 'static {
    /// The current monotonic instant. Must never go backwards.
    fn now(&self) -> Instant;

    /// The current wall-clock time.
    fn wall_now(&self) -> SystemTime;

    /// Blocks the calling thread for `duration` (the blocking manager's backoff sleeps). A
    /// synthetic clock moves itself forward instead.
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// The system's clocks: [`Instant::now`] and [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The clock of one manager: the system's without an indirect call on the hot path, or an injected
/// one.
#[derive(Clone, Default)]
pub(crate) enum ManagerClock {
    #[default]
    System,
    Injected(Arc<dyn Clock>),
}

impl ManagerClock {
    pub(crate) fn now(&self) -> Instant {
        match self {
            Self::System => Instant::now(),
            Self::Injected(clock) => clock.now(),
        }
    }

    pub(crate) fn sleep(&self, duration: Duration) {
        match self {
            Self::System => crate::sync::sleep(duration),
            Self::Injected(clock) => clock.sleep(duration),
        }
    }

    pub(crate) fn wall_now(&self) -> SystemTime {
        match self {
            Self::System => SystemTime::now(),
            Self::Injected(clock) => clock.wall_now(),
        }
    }
}

impl ManagerClock {
    /// The hot path's deadline for an answer that holds until `instant` by the monotonic clock and
    /// `wall` by the wall clock, read at `now` / `wall_now`: on the system's clocks on Linux, the
    /// earlier of the two as a time of `CLOCK_BOOTTIME`, which counts the time a machine sleeps
    /// (as the wall clock does) and never goes back (as the monotonic clock does not), so that one
    /// clock read tells whether it still holds. `None` elsewhere and for an injected clock: both
    /// clocks are read then.
    pub(crate) fn boot_deadline(
        &self,
        (instant, wall): (Instant, SystemTime),
        (now, wall_now): (Instant, SystemTime),
    ) -> Option<Duration> {
        match self {
            Self::System => {
                let left = instant
                    .saturating_duration_since(now)
                    .min(wall.duration_since(wall_now).unwrap_or_default());
                boot_time().map(|boot| boot.saturating_add(left))
            }
            Self::Injected(_) => None,
        }
    }
}

/// The time of `CLOCK_BOOTTIME`, where the system has it.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
pub(crate) fn boot_time() -> Option<Duration> {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let secs = u64::try_from(time.tv_sec).ok()?;
    let nanos = u32::try_from(time.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

/// The time of `CLOCK_BOOTTIME`, where the system has it.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[inline]
pub(crate) fn boot_time() -> Option<Duration> {
    None
}

impl std::fmt::Debug for ManagerClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::System => "SystemClock",
            Self::Injected(_) => "InjectedClock",
        })
    }
}
