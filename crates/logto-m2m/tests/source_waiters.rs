//! The callers of an async token source that wait for one request in flight: after the first one
//! told to wait, they wait on its watch, with one timer between them instead of one each; the
//! timer is handed on when its holder goes away, every waiter asks again when the watch ends, each
//! within its own deadline, and two sources' watches settle instead of waking each other in turn.
//! All on a synthetic clock, with futures polled by hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::synthetic::SyntheticClock;
use common::{FakeLogto, config, params};
use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{
    AsyncTokenManager, CachePolicy, Error, ErrorKind, RetryPolicy, Sleep, Token, TokenParams,
    TokenSource, Transport,
};

type Call = Pin<Box<dyn Future<Output = Result<Arc<Token>, Error>> + Send>>;

/// A waker that remembers it was woken.
#[derive(Default)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A caller's future and the waker it is polled with.
struct Caller {
    call: Call,
    woken: Arc<Woken>,
}

/// A caller of `source`, polled once.
fn caller_of<T: Transport + 'static>(source: &TokenSource<AsyncTokenManager<T>>) -> Caller {
    let source = source.clone();
    let mut caller = Caller::new(Box::pin(async move { source.token().await }));
    assert!(caller.poll().is_pending());
    caller
}

impl Caller {
    fn new(call: Call) -> Self {
        Self {
            call,
            woken: Arc::default(),
        }
    }

    fn poll(&mut self) -> Poll<Result<Arc<Token>, Error>> {
        self.woken.0.store(false, Ordering::SeqCst);
        let waker = Waker::from(Arc::clone(&self.woken));
        self.call.as_mut().poll(&mut Context::from_waker(&waker))
    }

    fn was_woken(&self) -> bool {
        self.woken.0.load(Ordering::SeqCst)
    }

    fn token(&mut self) -> String {
        match self.poll() {
            Poll::Ready(Ok(token)) => token.access_token().expose_secret().to_owned(),
            Poll::Ready(Err(error)) => panic!("no token: {error}"),
            Poll::Pending => panic!("still waiting"),
        }
    }

    fn error(&mut self) -> Error {
        match self.poll() {
            Poll::Ready(Err(error)) => error,
            Poll::Ready(Ok(_)) => panic!("a token, where an error was due"),
            Poll::Pending => panic!("still waiting"),
        }
    }
}

/// A manager on a synthetic clock whose token endpoint answers only once `open` is set, and whose
/// sleeper counts the timers it makes.
struct Rig {
    manager: AsyncTokenManager<GatedEndpoint>,
    clock: SyntheticClock,
    fake: Arc<FakeLogto>,
    open: Arc<AtomicBool>,
    timers: Arc<AtomicUsize>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Vec<u8>>, std::io::Error>> + Send>>;

/// The token endpoint of a [`Rig`]: counts each request, and answers it once `open` is set.
type GatedEndpoint = Box<dyn Fn(Request<Vec<u8>>) -> Answer + Send + Sync>;

impl Rig {
    fn new() -> Self {
        Self::with_policy(CachePolicy::default())
    }

    fn with_policy(policy: CachePolicy) -> Self {
        let clock = SyntheticClock::new();
        let fake = FakeLogto::new(3600, Duration::ZERO);
        let open = Arc::new(AtomicBool::new(false));
        let timers = Arc::new(AtomicUsize::new(0));
        let transport: GatedEndpoint = {
            let (fake, open) = (Arc::clone(&fake), Arc::clone(&open));
            Box::new(move |request| {
                fake.arrive(&request);
                let (fake, open) = (Arc::clone(&fake), Arc::clone(&open));
                Box::pin(std::future::poll_fn(move |_| {
                    if open.load(Ordering::SeqCst) {
                        Poll::Ready(Ok(fake.answer(&request)))
                    } else {
                        Poll::Pending
                    }
                }))
            })
        };
        let sleeper = {
            let (inner, timers) = (clock.sleeper(), Arc::clone(&timers));
            move |duration: Duration| {
                timers.fetch_add(1, Ordering::SeqCst);
                inner.sleep(duration)
            }
        };
        let manager = AsyncTokenManager::builder(transport, config())
            .cache_policy(policy)
            .retry_policy(RetryPolicy::default().with_max_wait(Duration::from_secs(30)))
            .clock(clock.clone())
            .sleeper(sleeper)
            .build_async();
        Self {
            manager,
            clock,
            fake,
            open,
            timers,
        }
    }

    /// `count` callers of one source for `params`, each polled once.
    fn callers(&self, params: TokenParams, count: usize) -> Vec<Caller> {
        let source = self.manager.source(params).unwrap();
        (0..count).map(|_| caller_of(&source)).collect()
    }

    fn timers(&self) -> usize {
        self.timers.load(Ordering::SeqCst)
    }
}

#[test]
fn the_waiters_of_a_source_share_one_timer_and_one_request() {
    let rig = Rig::new();
    // The first caller sends (its attempt's timer); the second is told to wait (its own timer,
    // the watch's); the 998 after it wait on the watch, with no timer of their own.
    let mut callers = rig.callers(params(), 1_000);
    assert_eq!(rig.fake.requests(), 1);
    assert_eq!(
        rig.timers(),
        2,
        "one timer for the attempt, one for the watch"
    );

    rig.open.store(true, Ordering::SeqCst);
    let first = callers[0].token();
    for caller in &mut callers[1..] {
        assert!(caller.was_woken(), "every waiter is woken by the outcome");
        assert_eq!(caller.token(), first);
    }
    assert_eq!(rig.fake.requests(), 1);
    assert_eq!(rig.timers(), 2);
}

#[test]
fn a_timer_holder_that_goes_away_hands_the_timer_on() {
    let rig = Rig::new();
    let mut callers = rig.callers(params(), 10);
    assert_eq!(rig.timers(), 2);

    // The caller that holds the watch's timer is dropped: the others are woken, and exactly one of
    // them takes the timer over.
    drop(callers.remove(1));
    assert!(callers[1..].iter().all(Caller::was_woken));
    for caller in &mut callers[1..] {
        assert!(caller.poll().is_pending());
    }
    assert_eq!(rig.timers(), 3, "one waiter took the timer over");

    // It is dropped too: the next one takes it.
    drop(callers.remove(1));
    for caller in &mut callers[1..] {
        assert!(caller.poll().is_pending());
    }
    assert_eq!(rig.timers(), 4);

    rig.open.store(true, Ordering::SeqCst);
    let first = callers[0].token();
    for caller in &mut callers[1..] {
        assert_eq!(caller.token(), first);
    }
    assert_eq!(rig.fake.requests(), 1);
}

#[test]
fn when_the_watch_ends_each_waiter_asks_again_within_its_own_deadline() {
    // The request hangs. Callers that came at 0 s give up at 30 s (their `max_wait`); one that
    // came at 10 s waits on the same watch until 30 s, then until its own deadline at 40 s.
    let rig = Rig::new();
    let source = rig.manager.source(params()).unwrap();
    let mut early: Vec<Caller> = (0..5).map(|_| caller_of(&source)).collect();
    rig.clock.advance(Duration::from_secs(10));
    let mut late = caller_of(&source);
    assert_eq!(rig.timers(), 2, "the late caller waits on the watch too");

    rig.clock.advance(Duration::from_secs(20));
    // The watch's timer fired: its holder gives up (its deadline), and wakes the others.
    for caller in &mut early[1..] {
        assert_eq!(caller.error().kind(), ErrorKind::Transient);
    }
    assert!(late.was_woken());
    assert!(late.poll().is_pending(), "30 s is before its own deadline");

    rig.clock.advance(Duration::from_secs(9));
    assert!(late.poll().is_pending());
    rig.clock.advance(Duration::from_secs(1));
    assert!(late.was_woken());
    assert_eq!(late.error().kind(), ErrorKind::Transient);
    assert_eq!(rig.fake.requests(), 1);
}

#[test]
fn when_the_request_is_abandoned_the_waiters_ask_again_and_wait_for_the_next_one() {
    // The first request counts as abandoned after 10 s (its sender is never polled again): the
    // caller that posted the watch sends the next one, and the others, woken, wait for it.
    let rig =
        Rig::with_policy(CachePolicy::default().with_in_flight_timeout(Duration::from_secs(10)));
    let mut callers = rig.callers(params(), 6);
    rig.clock.advance(Duration::from_secs(10));
    assert!(callers[1].poll().is_pending());
    assert_eq!(
        rig.fake.requests(),
        2,
        "the caller that posted the watch sends again"
    );
    assert!(
        callers[2..].iter().all(Caller::was_woken),
        "the watch ended: its waiters are woken to ask again"
    );
    for caller in &mut callers[2..] {
        assert!(caller.poll().is_pending());
    }
    assert_eq!(rig.fake.requests(), 2);

    rig.open.store(true, Ordering::SeqCst);
    let token = callers[1].token();
    for caller in &mut callers[2..] {
        assert_eq!(caller.token(), token);
    }
    assert_eq!(rig.fake.requests(), 2);
}

/// Polls every caller that was woken; each is still waiting.
fn poll_the_woken(first: &mut [Caller], second: &mut [Caller]) {
    for caller in first.iter_mut().chain(second) {
        if caller.was_woken() {
            assert!(caller.poll().is_pending());
        }
    }
}

#[test]
fn two_sources_watches_settle_without_waking_each_other_in_turn() {
    let rig = Rig::new();
    let other = TokenParams::for_resource("https://other.example.com").scope("read:items");
    let mut first = rig.callers(params(), 6);
    let mut second = rig.callers(other, 6);
    assert_eq!(rig.fake.requests(), 2);

    // Both sources' timer holders go away; after a round of polls, a waiter of each source holds
    // its source's timer (the first one polled).
    drop(first.remove(1));
    drop(second.remove(1));
    poll_the_woken(&mut first[1..], &mut second[1..]);
    assert_eq!(
        rig.timers(),
        6,
        "two attempts, two posted watches, two taken over"
    );

    // The first source's new holder goes away too: every waiter of the core is woken, the other
    // source's holder among them; it keeps its timer, and after a round of polls nothing wakes
    // anyone again (no timer bounces between the two sources).
    drop(first.remove(1));
    assert!(first[1..].iter().chain(&second[1..]).all(Caller::was_woken));
    for _ in 0..3 {
        poll_the_woken(&mut first[1..], &mut second[1..]);
    }
    assert!(
        !first[1..].iter().chain(&second[1..]).any(Caller::was_woken),
        "the waiters keep waking each other"
    );
    assert_eq!(rig.timers(), 7);

    rig.open.store(true, Ordering::SeqCst);
    let (a, b) = (first[0].token(), second[0].token());
    for caller in &mut first[1..] {
        assert_eq!(caller.token(), a);
    }
    for caller in &mut second[1..] {
        assert_eq!(caller.token(), b);
    }
    assert_eq!(rig.fake.requests(), 2);
}
