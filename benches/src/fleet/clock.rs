//! Simulated time. The run counts time as a `Duration` since its start; each replica reads it
//! through its own clocks: a monotonic `Instant` (the same for every replica: instants are never
//! compared across processes) and a wall clock that may be off by a few seconds.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The wall-clock time at which every run starts: 2026-12-01T00:00:00Z.
const START_WALL_SECS: u64 = 1_796_083_200;

/// What the clocks of a replica say at a point of the run.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    start: Instant,
    start_wall: SystemTime,
}

impl SimClock {
    /// A clock whose run starts now (by the monotonic clock) and on 2026-12-01 (by the wall clock).
    #[must_use]
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            start_wall: UNIX_EPOCH + Duration::from_secs(START_WALL_SECS),
        }
    }

    /// The monotonic clock at `at`.
    #[must_use]
    pub fn instant(&self, at: Duration) -> Instant {
        self.start + at
    }

    /// The point of the run a monotonic `instant` stands for (the start, for an earlier one).
    #[must_use]
    pub fn at_instant(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.start)
    }

    /// A replica's wall clock at `at`.
    #[must_use]
    pub fn wall(&self, at: Duration, skew: WallSkew) -> SystemTime {
        skew.apply(self.start_wall + at)
    }

    /// The point of the run at which a replica's wall clock shows `wall` (the start, for an
    /// earlier one).
    #[must_use]
    pub fn at_wall(&self, wall: SystemTime, skew: WallSkew) -> Duration {
        skew.remove(wall)
            .duration_since(self.start_wall)
            .unwrap_or_default()
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

/// How far a replica's wall clock is ahead of the true time (behind, when negative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WallSkew {
    millis: i64,
}

impl WallSkew {
    /// A wall clock `millis` milliseconds ahead (behind, when negative).
    #[must_use]
    pub fn from_millis(millis: i64) -> Self {
        Self { millis }
    }

    /// How far ahead, in milliseconds.
    #[must_use]
    pub fn millis(self) -> i64 {
        self.millis
    }

    fn offset(self) -> Duration {
        Duration::from_millis(self.millis.unsigned_abs())
    }

    fn apply(self, true_time: SystemTime) -> SystemTime {
        if self.millis >= 0 {
            true_time + self.offset()
        } else {
            true_time - self.offset()
        }
    }

    fn remove(self, shown: SystemTime) -> SystemTime {
        if self.millis >= 0 {
            shown - self.offset()
        } else {
            shown + self.offset()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skewed_wall_clock_maps_back_to_the_run() {
        let clock = SimClock::new();
        let at = Duration::from_secs(3600);
        for millis in [-4_000, 0, 2_500] {
            let skew = WallSkew::from_millis(millis);
            let wall = clock.wall(at, skew);
            assert_eq!(clock.at_wall(wall, skew), at);
        }
        let ahead = clock.wall(at, WallSkew::from_millis(2_000));
        let behind = clock.wall(at, WallSkew::default());
        assert_eq!(
            ahead.duration_since(behind).ok(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(clock.at_instant(clock.instant(at)), at);
    }
}
