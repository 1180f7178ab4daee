//! The most events in any window of a given span, counted as the events come in time order: what
//! a rate limit such as Logto's (200 requests per 10 s per tenant) sees at its worst.

use std::collections::VecDeque;
use std::time::Duration;

/// The busiest window of `span` so far.
#[derive(Debug)]
pub struct BusiestWindow {
    span: Duration,
    recent: VecDeque<Duration>,
    most: usize,
}

impl BusiestWindow {
    /// No events yet, windows of `span`.
    #[must_use]
    pub fn new(span: Duration) -> Self {
        Self {
            span,
            recent: VecDeque::new(),
            most: 0,
        }
    }

    /// An event at `at`, no earlier than the last one.
    pub fn record(&mut self, at: Duration) {
        while self
            .recent
            .front()
            .is_some_and(|&first| first + self.span <= at)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(at);
        self.most = self.most.max(self.recent.len());
    }

    /// The most events seen in any window of `span` (half-open: `[t, t + span)`).
    #[must_use]
    pub fn most(&self) -> usize {
        self.most
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_busiest_span() {
        let mut window = BusiestWindow::new(Duration::from_secs(10));
        for secs in [0, 1, 2, 10, 11, 12, 13, 30] {
            window.record(Duration::from_secs(secs));
        }
        // [10, 20) holds 4; [0, 10) holds 3.
        assert_eq!(window.most(), 4);
    }
}
