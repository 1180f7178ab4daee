//! The event queue of a simulation: events in the order of the run's time, and among events due
//! at the same time, in the order they were scheduled (so a run is the same every time). Events
//! are kept boxed: the heap then moves a pointer, not the event, at every step of a push or pop.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

/// Events of type `E`, earliest first.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Scheduled<E>>,
    scheduled: u64,
}

#[derive(Debug)]
struct Scheduled<E> {
    at: Duration,
    serial: u64,
    event: Box<E>,
}

impl<E> Scheduled<E> {
    fn order(&self) -> (Duration, u64) {
        (self.at, self.serial)
    }
}

// Reversed: `BinaryHeap` is a max-heap, the queue hands out the earliest event first.
impl<E> Ord for Scheduled<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.order().cmp(&self.order())
    }
}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        self.order() == other.order()
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> EventQueue<E> {
    /// An empty queue.
    #[must_use]
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            scheduled: 0,
        }
    }

    /// Schedules `event` at `at`.
    pub fn schedule(&mut self, at: Duration, event: E) {
        self.scheduled += 1;
        self.heap.push(Scheduled {
            at,
            serial: self.scheduled,
            event: Box::new(event),
        });
    }

    /// The earliest event and its time, if it is due no later than `end`.
    pub fn next_until(&mut self, end: Duration) -> Option<(Duration, E)> {
        if self.heap.peek()?.at > end {
            return None;
        }
        self.heap.pop().map(|next| (next.at, *next.event))
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_in_scheduling_order() {
        let mut queue = EventQueue::new();
        queue.schedule(Duration::from_secs(2), "b");
        queue.schedule(Duration::from_secs(1), "a");
        queue.schedule(Duration::from_secs(2), "c");
        queue.schedule(Duration::from_secs(9), "late");
        let end = Duration::from_secs(5);
        let order: Vec<_> = std::iter::from_fn(|| queue.next_until(end))
            .map(|(_, event)| event)
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
    }
}
