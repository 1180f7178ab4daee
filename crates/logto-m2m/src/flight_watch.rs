//! Waiting for a request in flight without the state machine's lock. When a caller of an async
//! token source is told, under the lock, to wait for a request in flight, it posts a watch on the
//! source: the change count it saw and until when to wait. The source's callers that come after it
//! wait on the watch alone (one wake-up registration each; no lock, no decision, no timer of their
//! own) for as long as the count has not moved and the watch's time has not passed, and then ask
//! the state machine as before. The state machine still makes every decision: a watch only says
//! "nothing has changed since a caller was told to wait".
//!
//! Each watch has one timer until its end, held by one of its waiters (at first the caller that
//! posted it). A holder that stops waiting while the watch still holds (its timer fired, or its
//! future was dropped) gives the timer up and wakes the waiters: one of them takes it over, or, if
//! the watch's time has passed, they all ask the state machine again. So no waiter waits past the
//! watch's end, and a waiter only uses a watch that ends by its own call's deadline. A watch that
//! holds is not replaced (and if two are posted at once, each keeps its own timer).

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::futures::Notified;

use crate::asynchronous::first_of;
use crate::driver::Core;

/// A request in flight, as a caller saw it under the lock.
#[derive(Debug)]
struct Watch {
    /// The core's change count then: the watch holds while the count is the same.
    changes: u64,
    /// When its waiters ask the state machine again, whatever happened.
    until: Instant,
    /// Whether one of its waiters holds a timer until `until`.
    timed: AtomicBool,
}

/// The last watch posted on a token source, if any.
#[derive(Debug, Default)]
pub(crate) struct FlightWatch(ArcSwapOption<Watch>);

/// The timer of a watch, held by one of its waiters. Dropped while the watch still holds (the
/// holder stops waiting before anything changed), it is given up and the waiters are woken, so
/// that one of them takes it over, or all of them ask again once the watch has ended.
#[derive(Debug)]
pub(crate) struct WatchTimer<'a> {
    watch: Arc<Watch>,
    core: &'a Core,
}

impl Drop for WatchTimer<'_> {
    fn drop(&mut self) {
        if self.watch.changes == self.core.change_count() {
            self.watch.timed.store(false, Ordering::SeqCst);
            self.core.wake_async_waiters();
        }
    }
}

impl FlightWatch {
    /// Posts what a caller saw under the lock, a request in flight at change count `changes` to
    /// wait for until `until`, unless a watch that holds is posted already. The caller holds the
    /// timer of the watch it posted (it waits until `until` anyway).
    pub(crate) fn post<'a>(
        &self,
        core: &'a Core,
        changes: u64,
        until: Instant,
    ) -> Option<WatchTimer<'a>> {
        if let Some(posted) = self.0.load().as_ref() {
            if posted.changes == changes && core.now() < posted.until {
                return None;
            }
        }
        let watch = Arc::new(Watch {
            changes,
            until,
            timed: AtomicBool::new(true),
        });
        self.0.store(Some(Arc::clone(&watch)));
        Some(WatchTimer { watch, core })
    }

    /// Joins the posted watch, if it still holds at `now` and ends by `deadline`: what to await
    /// is the next wake-up, or, if this caller takes over the watch's timer (`timer` makes one),
    /// the first change or the watch's end. `None` when there is no such watch: the caller asks
    /// the state machine.
    pub(crate) fn join<'a, T>(
        &self,
        core: &'a Core,
        now: Instant,
        deadline: Option<Instant>,
        timer: impl FnOnce(Duration) -> T,
    ) -> Option<Waiting<'a>>
    where
        T: Future<Output = ()> + Send + 'a,
    {
        // Taken before the watch is read, so that a change or a timer given up after the read
        // wakes this caller.
        let woken = core.listen();
        let duty = {
            let guard = self.0.load();
            let watch = guard.as_ref()?;
            let holds = watch.changes == core.change_count()
                && now < watch.until
                && deadline.is_none_or(|deadline| watch.until <= deadline);
            if !holds {
                return None;
            }
            let untimed =
                !watch.timed.load(Ordering::Relaxed) && !watch.timed.swap(true, Ordering::SeqCst);
            untimed.then(|| WatchTimer {
                watch: Arc::clone(watch),
                core,
            })
        };
        Some(match duty {
            Some(duty) => {
                let timer = timer(duty.watch.until.saturating_duration_since(now));
                Waiting::Timed {
                    timed: Box::pin(duty.hold(woken, timer)),
                }
            }
            None => Waiting::Woken { woken },
        })
    }
}

pin_project_lite::pin_project! {
    /// What a caller that joined a watch awaits: the next wake-up, or (boxed: one caller per
    /// watch) the watch's timer held. A plain waiter holds only its wake-up registration (what
    /// most callers in a stampede hold).
    #[project = WaitingProjection]
    pub(crate) enum Waiting<'a> {
        /// The next wake-up.
        Woken { #[pin] woken: Notified<'a> },
        /// The watch's timer held until something changes or it fires.
        Timed { timed: Pin<Box<dyn Future<Output = ()> + Send + 'a>> },
    }
}

impl Future for Waiting<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project() {
            WaitingProjection::Woken { woken } => woken.poll(cx),
            WaitingProjection::Timed { timed } => timed.as_mut().poll(cx),
        }
    }
}

impl<'a> WatchTimer<'a> {
    /// Holds the timer until something changes or it fires. Wake-ups that change nothing (a timer
    /// given up on another source) do not make the holder give it up, so that two holders never
    /// hand their timers to each other in turn.
    async fn hold(self, woken: Notified<'a>, timer: impl Future<Output = ()>) {
        let mut woken = pin!(woken);
        let mut timer = pin!(timer);
        while first_of(woken.as_mut(), timer.as_mut()).await.is_some() {
            woken.set(self.core.listen());
            if self.core.change_count() != self.watch.changes {
                break;
            }
        }
    }
}

impl WatchTimer<'_> {
    /// Whether this is the timer of a watch posted at change count `changes`.
    pub(crate) fn posted_at(&self, changes: u64) -> bool {
        self.watch.changes == changes
    }
}
