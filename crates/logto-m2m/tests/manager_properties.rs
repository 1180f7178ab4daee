//! Property test of the async manager itself (not only the core): random scripts of callers (of
//! the manager, and of a token source, whose callers wait on one another's watch), polls,
//! cancellations (dropped futures), time jumps, invalidations, and token-endpoint answers
//! (tokens, errors, garbage, panics, hangs, slow answers), on a synthetic clock, with refreshes run
//! as background tasks that the test polls too. After every step and at the end it checks that
//!
//! - no token is handed out at or after its usable end (`expires_at - margin`);
//! - no request is sent for a key while an earlier one for that key is still within its time;
//! - every call ends by its deadline (`max_wait` from its start), or at once when polled after a
//!   time jump past it; no call waits with no timer to end it;
//! - nothing panics but the scripted panics, and at most one call or task per scripted panic;
//! - once the endpoint is healthy and the backoffs are over, a call gets a token: nothing wedges.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::synthetic::SyntheticClock;
use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{
    AsyncTokenManager, AttemptTimeout, BackgroundTask, ClientConfig, Error, RetryPolicy, Sleep,
    Token, TokenParams, TokenRequest, TokenSource,
};
use proptest::prelude::*;

const RESOURCES: [&str; 2] = ["https://a.example.com", "https://b.example.com"];
const SCRIPTED_PANIC: &str = "scripted transport panic";
const MARGIN: Duration = Duration::from_secs(60);

/// What the token endpoint does with the next request.
#[derive(Debug, Clone)]
enum Answer {
    Token { lifetime: u64 },
    Status(u16),
    Garbage,
    Panic,
    Hang,
    Slow { millis: u64, lifetime: u64 },
}

/// One step of a script.
#[derive(Debug, Clone)]
enum Op {
    /// A caller for a key: of the manager (`false`), or of the key's token source (`true`).
    Start(usize, bool),
    Poll(usize),
    Cancel(usize),
    PollTasks,
    Advance(u64),
    Invalidate(usize),
    Script(Answer),
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        3 => (1u64..7200).prop_map(|lifetime| Answer::Token { lifetime }),
        1 => prop_oneof![Just(503u16), Just(429), Just(401), Just(400)].prop_map(Answer::Status),
        1 => Just(Answer::Garbage),
        1 => Just(Answer::Panic),
        1 => Just(Answer::Hang),
        1 => (1u64..120_000, 1u64..7200)
            .prop_map(|(millis, lifetime)| Answer::Slow { millis, lifetime }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..2, any::<bool>()).prop_map(|(key, source)| Op::Start(key, source)),
        4 => (0usize..8).prop_map(Op::Poll),
        1 => (0usize..8).prop_map(Op::Cancel),
        2 => Just(Op::PollTasks),
        2 => prop_oneof![0u64..2_000, 0u64..120_000, 0u64..8_000_000].prop_map(Op::Advance),
        1 => (0usize..2).prop_map(Op::Invalidate),
        3 => answer().prop_map(Op::Script),
    ]
}

/// A request the endpoint has seen and not yet finished: its key and when its time runs out.
#[derive(Debug)]
struct Live {
    id: u64,
    key: usize,
    until: Instant,
}

#[derive(Debug, Default)]
struct EndpointState {
    script: VecDeque<Answer>,
    live: Vec<Live>,
    next_id: u64,
    serial: u64,
    panics: usize,
}

/// One exchange with the endpoint.
type Exchange = Pin<Box<dyn Future<Output = Result<Response<Vec<u8>>, std::io::Error>> + Send>>;

/// The scripted token endpoint.
#[derive(Clone)]
struct Endpoint {
    clock: SyntheticClock,
    state: Arc<Mutex<EndpointState>>,
}

/// Removes a request from the live ones when its exchange ends or is dropped.
struct LiveGuard(Endpoint, u64);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        state.live.retain(|live| live.id != self.1);
    }
}

fn respond(status: u16, body: String) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.into_bytes())
        .unwrap()
}

impl Endpoint {
    fn send(&self, request: Request<Vec<u8>>) -> Exchange {
        let body = String::from_utf8_lossy(request.body()).into_owned();
        let key = usize::from(body.contains("b.example.com"));
        let now = self.clock.now_instant();
        let time = AttemptTimeout::limit(&request, Duration::MAX);
        let (answer, id, serial) = {
            let mut state = self.state.lock().unwrap();
            if let Some(earlier) = state
                .live
                .iter()
                .find(|live| live.key == key && now < live.until)
            {
                panic!("a second request for key {key} while {earlier:?} is in flight");
            }
            let answer = state
                .script
                .pop_front()
                .unwrap_or(Answer::Token { lifetime: 3600 });
            state.next_id += 1;
            state.serial += 1;
            let (id, serial) = (state.next_id, state.serial);
            state.live.push(Live {
                id,
                key,
                until: now + time,
            });
            if matches!(answer, Answer::Panic) {
                state.panics += 1;
            }
            (answer, id, serial)
        };
        let guard = LiveGuard(self.clone(), id);
        let token = move |lifetime: u64| {
            respond(
                200,
                format!(r#"{{"access_token":"t{serial}","expires_in":{lifetime}}}"#),
            )
        };
        let sleeper = self.clock.sleeper();
        Box::pin(async move {
            let _guard = guard;
            match answer {
                Answer::Token { lifetime } => Ok(token(lifetime)),
                Answer::Status(status) => Ok(respond(
                    status,
                    r#"{"error":"invalid_client"}"#.replace(
                        "invalid_client",
                        if status == 401 {
                            "invalid_client"
                        } else {
                            "server_error"
                        },
                    ),
                )),
                Answer::Garbage => Ok(respond(200, "<html>".to_owned())),
                Answer::Panic => panic!("{SCRIPTED_PANIC}"),
                Answer::Hang => std::future::pending().await,
                Answer::Slow { millis, lifetime } => {
                    sleeper.sleep(Duration::from_millis(millis)).await;
                    Ok(token(lifetime))
                }
            }
        })
    }
}

trait NowInstant {
    fn now_instant(&self) -> Instant;
}

impl NowInstant for SyntheticClock {
    fn now_instant(&self) -> Instant {
        logto_m2m::Clock::now(self)
    }
}

type Call = Pin<Box<dyn Future<Output = Result<Arc<Token>, Error>> + Send>>;

/// A call in progress: its future, and its deadline (from its first poll: futures are lazy).
struct Caller {
    key: usize,
    future: Call,
    deadline: Option<Instant>,
}

struct Harness {
    clock: SyntheticClock,
    endpoint: Endpoint,
    manager: AsyncTokenManager<ScriptedTransport>,
    requests: [Arc<TokenRequest>; 2],
    sources: [TokenSource<AsyncTokenManager<ScriptedTransport>>; 2],
    tasks: Arc<Mutex<Vec<BackgroundTask>>>,
    callers: Vec<Caller>,
    last_tokens: [Option<Arc<Token>>; 2],
    max_wait: Duration,
    /// The latest instant time jumped to from outside (a call polled then may end then).
    jumped_to: Instant,
    panics_seen: usize,
}

/// The endpoint as a transport.
struct ScriptedTransport(Endpoint);

#[async_trait::async_trait]
impl logto_m2m::Transport for ScriptedTransport {
    type Error = std::io::Error;

    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, std::io::Error> {
        self.0.send(request).await
    }
}

impl Harness {
    fn new(max_wait: Duration) -> Self {
        let clock = SyntheticClock::new();
        let endpoint = Endpoint {
            clock: clock.clone(),
            state: Arc::default(),
        };
        let tasks: Arc<Mutex<Vec<BackgroundTask>>> = Arc::default();
        let spawned = Arc::clone(&tasks);
        let config = ClientConfig::builder("http://127.0.0.1:1", "m2m-app", "m2m-secret")
            .build()
            .unwrap();
        let transport = ScriptedTransport(endpoint.clone());
        let manager = AsyncTokenManager::builder(transport, config)
            .retry_policy(RetryPolicy::default().with_max_wait(max_wait))
            .spawner(move |task| spawned.lock().unwrap().push(task))
            .sleeper(clock.sleeper())
            .clock(clock.clone())
            .build_async();
        let requests = RESOURCES.map(|resource| {
            Arc::new(
                manager
                    .request(TokenParams::for_resource(resource))
                    .unwrap(),
            )
        });
        let sources =
            RESOURCES.map(|resource| manager.source(TokenParams::for_resource(resource)).unwrap());
        let jumped_to = clock.now_instant();
        Self {
            clock,
            endpoint,
            manager,
            requests,
            sources,
            tasks,
            callers: Vec::new(),
            last_tokens: [None, None],
            max_wait,
            jumped_to,
            panics_seen: 0,
        }
    }

    fn check_panics(&self) {
        let scripted = self.endpoint.state.lock().unwrap().panics;
        assert!(
            self.panics_seen <= scripted,
            "{} panics for {scripted} scripted",
            self.panics_seen
        );
    }

    fn start(&mut self, key: usize, through_source: bool) {
        if self.callers.len() >= 8 {
            return;
        }
        let future: Call = if through_source {
            let source = self.sources[key].clone();
            Box::pin(async move { source.token().await })
        } else {
            let (manager, request) = (self.manager.clone(), Arc::clone(&self.requests[key]));
            Box::pin(async move { manager.token(&request).await })
        };
        self.callers.push(Caller {
            key,
            future,
            deadline: None,
        });
    }

    /// Polls caller `index` once; checks what it returns. Returns whether it ended.
    fn poll(&mut self, index: usize) -> bool {
        let Some(caller) = self.callers.get_mut(index) else {
            return false;
        };
        let now = self.clock.now_instant();
        let deadline = *caller.deadline.get_or_insert(now + self.max_wait);
        let mut cx = Context::from_waker(Waker::noop());
        let polled =
            std::panic::catch_unwind(AssertUnwindSafe(|| caller.future.as_mut().poll(&mut cx)));
        let ended = match polled {
            Err(_) => {
                self.panics_seen += 1;
                true
            }
            Ok(Poll::Pending) => false,
            Ok(Poll::Ready(result)) => {
                if let Ok(token) = &result {
                    let margin = MARGIN.min(token.lifetime() / 2);
                    assert!(
                        now + margin < token.expires_at(),
                        "a token handed out past its usable end"
                    );
                    self.last_tokens[caller.key] = Some(Arc::clone(token));
                }
                true
            }
        };
        if ended {
            self.callers.remove(index);
            assert!(
                now <= deadline.max(self.jumped_to),
                "a call ended {:?} after its deadline",
                now - deadline.max(self.jumped_to)
            );
        }
        self.check_panics();
        ended
    }

    fn poll_tasks(&mut self) {
        let tasks: Vec<BackgroundTask> = std::mem::take(&mut *self.tasks.lock().unwrap());
        let mut cx = Context::from_waker(Waker::noop());
        for mut task in tasks {
            match std::panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(&mut cx))) {
                Ok(Poll::Pending) => self.tasks.lock().unwrap().push(task),
                Ok(Poll::Ready(())) => {}
                Err(_) => self.panics_seen += 1,
            }
        }
        self.check_panics();
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Start(key, through_source) => self.start(*key, *through_source),
            Op::Poll(index) => {
                self.poll(*index);
            }
            Op::Cancel(index) => {
                if *index < self.callers.len() {
                    drop(self.callers.remove(*index));
                }
            }
            Op::PollTasks => self.poll_tasks(),
            Op::Advance(millis) => {
                self.clock.advance(Duration::from_millis(*millis));
                self.jumped_to = self.clock.now_instant();
            }
            Op::Invalidate(key) => {
                if let Some(token) = &self.last_tokens[*key] {
                    self.manager.invalidate(&self.requests[*key], token);
                }
            }
            Op::Script(answer) => self
                .endpoint
                .state
                .lock()
                .unwrap()
                .script
                .push_back(answer.clone()),
        }
    }

    /// Polls every call and task, moving time only to the next timer, until all calls ended.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            for _ in 0..3 {
                self.poll_tasks();
                let mut index = 0;
                while index < self.callers.len() {
                    if !self.poll(index) {
                        index += 1;
                    }
                }
            }
            if self.callers.is_empty() {
                return;
            }
            assert!(
                self.clock.advance_to_next_timer(),
                "{} calls wait with no timer to end them",
                self.callers.len()
            );
        }
        panic!("calls did not end");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_async_manager_holds_its_invariants(
        max_wait_secs in 1u64..90,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        silence_scripted_panics();
        let mut harness = Harness::new(Duration::from_secs(max_wait_secs));
        for op in &ops {
            harness.apply(op);
        }
        harness.drain();
        // A healthy endpoint, every backoff over: each key gets a token.
        harness.endpoint.state.lock().unwrap().script.clear();
        harness.clock.advance(Duration::from_secs(3 * 3600));
        harness.jumped_to = harness.clock.now_instant();
        harness.poll_tasks();
        harness.last_tokens = [None, None];
        for key in 0..2 {
            harness.start(key, false);
            harness.start(key, true);
        }
        harness.drain();
        prop_assert!(harness.last_tokens.iter().all(Option::is_some));
    }
}

/// Keeps the default panic hook for anything but the scripted panics.
fn silence_scripted_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(silence);
}

fn silence() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let scripted = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|message| message == SCRIPTED_PANIC);
        if !scripted {
            default(info);
        }
    }));
}
