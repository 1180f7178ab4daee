//! A synthetic clock that only moves when told (or when every task waits on it), its sleeper, and
//! a one-thread executor that runs a future on it: time-dependent tests without sleeping.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant, SystemTime};

use logto_m2m::{Clock, Sleep};

#[derive(Debug)]
struct State {
    offset: Duration,
    timers: Vec<(Duration, Waker)>,
}

/// A clock standing still until [`advance`](Self::advance)d. Cheap to clone; clones share time.
#[derive(Debug, Clone)]
pub struct SyntheticClock {
    base: Instant,
    wall_base: SystemTime,
    state: Arc<Mutex<State>>,
}

impl Default for SyntheticClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SyntheticClock {
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            wall_base: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            state: Arc::new(Mutex::new(State {
                offset: Duration::ZERO,
                timers: Vec::new(),
            })),
        }
    }

    /// How much time has passed on this clock.
    pub fn elapsed(&self) -> Duration {
        self.state.lock().unwrap().offset
    }

    /// Moves time forward by `by`, waking the timers that are due.
    pub fn advance(&self, by: Duration) {
        let due: Vec<Waker> = {
            let mut state = self.state.lock().unwrap();
            state.offset += by;
            let now = state.offset;
            let (due, waiting) = state.timers.drain(..).partition(|(at, _)| *at <= now);
            state.timers = waiting;
            due.into_iter().map(|(_, waker)| waker).collect()
        };
        due.into_iter().for_each(Waker::wake);
    }

    /// Moves time to the earliest timer, if any is waiting; returns whether one was.
    pub fn advance_to_next_timer(&self) -> bool {
        let next = {
            let state = self.state.lock().unwrap();
            state.timers.iter().map(|(at, _)| *at).min()
        };
        match next {
            Some(at) => {
                let by = at.saturating_sub(self.elapsed());
                self.advance(by);
                true
            }
            None => false,
        }
    }

    /// A sleeper on this clock, for an async manager.
    pub fn sleeper(&self) -> impl Sleep {
        let clock = self.clone();
        move |duration: Duration| {
            let at = clock.elapsed() + duration;
            Delay {
                clock: clock.clone(),
                at,
            }
        }
    }

    /// Runs `future` to completion on this thread; whenever it waits with nothing else to do,
    /// time jumps to the next timer. Returns `None` if it waits with no timer left: it would wait
    /// forever.
    pub fn run<F: Future>(&self, future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        let flag = Arc::new(Flag(AtomicBool::new(true)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        for _ in 0..100_000 {
            if flag.0.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return Some(output);
                }
            } else if !self.advance_to_next_timer() {
                return None;
            }
        }
        None
    }
}

impl Clock for SyntheticClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }

    fn wall_now(&self) -> SystemTime {
        self.wall_base + self.elapsed()
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}

/// A timer of a [`SyntheticClock`].
struct Delay {
    clock: SyntheticClock,
    at: Duration,
}

impl Future for Delay {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.clock.state.lock().unwrap();
        if state.offset >= self.at {
            Poll::Ready(())
        } else {
            state.timers.push((self.at, cx.waker().clone()));
            Poll::Pending
        }
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}
