//! The fault matrix of `logto-m2m`: every [`Fault`] of the `logto-m2m-testkit` server, through
//! both token managers, the blocking one on `logto-m2m-ureq` and the async one on
//! `logto-m2m-hyper` (on a multi-thread tokio runtime), over real loopback HTTP.
//!
//! The suite lives under `tests/`; this library holds what its files share:
//!
//! - [`Client`]: one token request on one [`Stack`], behind the small [`ManagerUnderTest`] trait,
//!   so that every case runs unchanged through both managers ([`on_both_stacks`]), asked through
//!   a `TokenSource` or through the manager itself ([`Access`]). Every call goes through
//!   [`Client::token`], which checks that no token is returned at or after its expiry and that no
//!   error text carries the app secret.
//! - [`Setup`]: the policies and transport limits of a case, fast by default (50 ms initial
//!   backoff, 200 ms at most, 500 ms of negative cache).
//! - [`Case`] and [`Outcome`]: a fault and what the caller must see (an [`ExpectedError`], or a
//!   token with a [`ParseWarning`]).
//! - The scenarios every fault goes through: [`cold_cache`] (the outcome, the requests the server
//!   saw against what the policy allows, the backoff between them, and the recovery once the fault
//!   stops) and [`refresh_window`] (a still-valid token keeps being served while its refreshes
//!   fail, and is never served past its usable life).
//! - The policy arithmetic the counts are checked against ([`min_gap`], [`max_gap`],
//!   [`max_attempts_within`]), written from the documented policy, not from the library's code.
//! - A panic watch: a panic on a background thread (refresh threads, tokio workers, the test
//!   server) fails the case even when nothing joins that thread ([`background_panics`]).
//!
//! Every scenario prints one line per observation, prefixed `MATRIX`, from which
//! `docs/reliability.md` is filled (`cargo test -p logto-m2m-reliability -- --nocapture`).
#![forbid(unsafe_code)]
// A test-support library: a broken expectation must stop the test, loudly.
#![allow(clippy::panic, clippy::expect_used)]

use std::fmt;
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use logto_m2m::proto::http::StatusCode;
use logto_m2m::proto::{ParseWarning, TransportErrorKind};
use logto_m2m::{
    AsyncTokenManager, BlockingTokenManager, CachePolicy, ClientConfig, Error, ErrorKind,
    RetryPolicy, Token, TokenParams, TokenRequest, TokenSource,
};
use logto_m2m_hyper::HyperTransport;
use logto_m2m_testkit::{Fault, TestServer, defaults};
use logto_m2m_ureq::UreqTransport;

/// The first retry delay of [`Setup::default`].
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(50);
/// The largest retry delay of [`Setup::default`].
pub const BACKOFF_MAX: Duration = Duration::from_millis(200);
/// How long [`Setup::default`] remembers a rejection.
pub const NEGATIVE_CACHE: Duration = Duration::from_millis(500);
/// The attempts one call may make in [`Setup::default`].
pub const MAX_ATTEMPTS: u32 = 3;
/// How long one call may wait in [`Setup::default`].
pub const MAX_WAIT: Duration = Duration::from_secs(5);
/// The transports' default response cap (64 KiB).
pub const RESPONSE_CAP: usize = 64 * 1024;
/// The transports' default overall timeout.
pub const TRANSPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much earlier than the policy allows a request may appear to arrive: the server stamps
/// requests with the wall clock, the managers time their backoff on the monotonic clock.
pub const CLOCK_TOLERANCE: Duration = Duration::from_millis(10);
/// How much later than the policy's longest delay a retry may come on a busy machine before it
/// counts as a policy violation (it covers the attempt itself and scheduling).
pub const SCHEDULING_SLACK: Duration = Duration::from_secs(1);
/// How late a due refresh may come in the refresh-window scenario, on a busy machine.
pub const RETRY_DUE_SLACK: Duration = Duration::from_millis(350);
/// How often the refresh-window scenario asks for its token.
pub const POLL_EVERY: Duration = Duration::from_millis(10);

/// The lifetime (seconds) of the tokens of the refresh-window scenario.
pub const SHORT_TTL_SECS: u64 = 2;
/// The expiry margin of the refresh-window scenario: tokens are usable for 1.5 s of their 2 s.
pub const SHORT_MARGIN: Duration = Duration::from_millis(500);
/// The refresh ratio of the refresh-window scenario (no jitter): refreshes start at 0.45 s.
pub const SHORT_REFRESH_RATIO: f64 = 0.3;
/// The refresh-window scenario stops expecting the old token this long before its usable life
/// ends, so that a call that is slow to be scheduled does not cross the line.
pub const WINDOW_GUARD: Duration = Duration::from_millis(150);
/// How long the refresh-window scenario keeps asking once the old token's usable life is over.
pub const PAST_WINDOW: Duration = Duration::from_millis(300);
/// How much longer it keeps asking if no call has failed by then.
pub const PAST_GRACE: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Stacks and clients
// ---------------------------------------------------------------------------------------------

/// A transport and the token manager it runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stack {
    /// `logto-m2m-ureq` under the `BlockingTokenManager`.
    Ureq,
    /// `logto-m2m-hyper` under the `AsyncTokenManager`, on a multi-thread tokio runtime, with
    /// tokio's spawner and sleeper (`logto_m2m_hyper::with_tokio`).
    Hyper,
}

impl Stack {
    /// Both stacks.
    pub const ALL: [Self; 2] = [Self::Ureq, Self::Hyper];

    /// `"ureq"` or `"hyper"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ureq => "ureq",
            Self::Hyper => "hyper",
        }
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a [`Client`] asks its manager for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Through a `TokenSource` (`manager.source(params)?.token()`), the documented fast path: a
    /// lock-free snapshot of the state machine's last answer, until that answer's `fresh_until`.
    Source,
    /// Through the manager itself (`manager.token(&request)`), which polls the state machine on
    /// every call.
    Manager,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Source => "TokenSource::token",
            Self::Manager => "manager.token(&request)",
        })
    }
}

/// The policies and transport limits of a case.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Setup {
    /// How the client asks for tokens.
    pub access: Access,
    /// The state machine's policy.
    pub cache: CachePolicy,
    /// The per-call retry budget.
    pub retry: RetryPolicy,
    /// The transport's overall timeout.
    pub timeout: Duration,
    /// The transport's response cap.
    pub max_response_bytes: usize,
}

impl Default for Setup {
    /// Fast backoff ([`BACKOFF_INITIAL`] doubling to [`BACKOFF_MAX`], [`NEGATIVE_CACHE`]), the
    /// default retry budget shape ([`MAX_ATTEMPTS`], [`MAX_WAIT`]) and the transports' default
    /// limits (10 s, 64 KiB).
    fn default() -> Self {
        Self {
            access: Access::Source,
            cache: CachePolicy::default()
                .with_backoff_initial(BACKOFF_INITIAL)
                .with_backoff_max(BACKOFF_MAX)
                .with_negative_cache(NEGATIVE_CACHE),
            retry: RetryPolicy::default()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_max_wait(MAX_WAIT),
            timeout: TRANSPORT_TIMEOUT,
            max_response_bytes: RESPONSE_CAP,
        }
    }
}

impl Setup {
    /// [`Setup::default`] for the refresh-window scenario: [`SHORT_MARGIN`],
    /// [`SHORT_REFRESH_RATIO`] without jitter, no retries within a call (the refreshes run in
    /// the background anyway; a call past the usable life reports the first failure it sees), and
    /// [`Access::Manager`] (see `docs/reliability.md` for why not [`Access::Source`]).
    #[must_use]
    pub fn short_lived() -> Self {
        let mut setup = Self::default();
        setup.access = Access::Manager;
        setup.cache = setup
            .cache
            .with_expiry_margin(SHORT_MARGIN)
            .with_refresh_ratio(SHORT_REFRESH_RATIO)
            .with_refresh_jitter_ratio(0.0);
        setup.retry = RetryPolicy::no_retries().with_max_wait(MAX_WAIT);
        setup
    }

    /// Sets how the client asks for tokens.
    #[must_use]
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Sets the transport's overall timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the most attempts of one call.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.retry = self.retry.with_max_attempts(attempts);
        self
    }

    /// Sets how long one call may wait.
    #[must_use]
    pub fn with_max_wait(mut self, wait: Duration) -> Self {
        self.retry = self.retry.with_max_wait(wait);
        self
    }

    /// Sets the longest `Retry-After` honoured.
    #[must_use]
    pub fn with_retry_after_max(mut self, max: Duration) -> Self {
        self.cache = self.cache.with_retry_after_max(max);
        self
    }
}

/// A token manager under test, reduced to the one call the matrix needs.
pub trait ManagerUnderTest: Send + Sync + fmt::Debug {
    /// A usable token, from the cache or from the token endpoint.
    ///
    /// # Errors
    ///
    /// Whatever the manager returns.
    fn token(&self) -> Result<Arc<Token>, Error>;
}

/// The blocking manager on ureq.
#[derive(Debug)]
pub struct BlockingManager {
    access: Access,
    manager: BlockingTokenManager<UreqTransport>,
    request: TokenRequest,
    source: TokenSource<BlockingTokenManager<UreqTransport>>,
}

impl ManagerUnderTest for BlockingManager {
    fn token(&self) -> Result<Arc<Token>, Error> {
        match self.access {
            Access::Source => self.source.token(),
            Access::Manager => self.manager.token(&self.request),
        }
    }
}

/// The async manager on hyper, driven by `block_on` on its own multi-thread tokio runtime (whose
/// workers run the background refreshes and hyper's connection tasks between calls).
#[derive(Debug)]
pub struct AsyncManager {
    access: Access,
    runtime: tokio::runtime::Runtime,
    manager: AsyncTokenManager<HyperTransport>,
    request: TokenRequest,
    source: TokenSource<AsyncTokenManager<HyperTransport>>,
}

impl ManagerUnderTest for AsyncManager {
    fn token(&self) -> Result<Arc<Token>, Error> {
        match self.access {
            Access::Source => self.runtime.block_on(self.source.token()),
            Access::Manager => self.runtime.block_on(self.manager.token(&self.request)),
        }
    }
}

/// One token request (`https://api.example.com`, `read:items`, app `m2m-app`) on one stack,
/// against one test server, asked as its [`Setup::access`] says.
#[derive(Debug)]
pub struct Client {
    stack: Stack,
    setup: Setup,
    manager: Box<dyn ManagerUnderTest>,
}

impl Client {
    /// A client of `server` on `stack` with `setup`.
    #[must_use]
    pub fn new(stack: Stack, server: &TestServer, setup: Setup) -> Self {
        watch_panics();
        let config =
            ClientConfig::builder(server.endpoint(), defaults::APP_ID, defaults::APP_SECRET)
                .build()
                .expect("the test server's endpoint is a valid loopback endpoint");
        let params = TokenParams::for_resource(defaults::RESOURCE).scope("read:items");
        let manager: Box<dyn ManagerUnderTest> = match stack {
            Stack::Ureq => {
                let transport = UreqTransport::builder()
                    .timeout(setup.timeout)
                    .max_response_bytes(setup.max_response_bytes)
                    .build();
                let manager = BlockingTokenManager::builder(transport, config)
                    .cache_policy(setup.cache)
                    .retry_policy(setup.retry)
                    .build_blocking();
                Box::new(BlockingManager {
                    access: setup.access,
                    request: manager
                        .request(params.clone())
                        .expect("valid token parameters"),
                    source: manager.source(params).expect("valid token parameters"),
                    manager,
                })
            }
            Stack::Hyper => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(TOKIO_THREAD)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                let transport = HyperTransport::builder()
                    .timeout(setup.timeout)
                    .max_response_bytes(setup.max_response_bytes)
                    .build();
                let manager =
                    logto_m2m_hyper::with_tokio(AsyncTokenManager::builder(transport, config))
                        .cache_policy(setup.cache)
                        .retry_policy(setup.retry)
                        .build_async();
                Box::new(AsyncManager {
                    access: setup.access,
                    runtime,
                    request: manager
                        .request(params.clone())
                        .expect("valid token parameters"),
                    source: manager.source(params).expect("valid token parameters"),
                    manager,
                })
            }
        };
        Self {
            stack,
            setup,
            manager,
        }
    }

    /// The stack.
    #[must_use]
    pub fn stack(&self) -> Stack {
        self.stack
    }

    /// The setup.
    #[must_use]
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// Asks the manager for a token, and checks what comes back: a token must not be expired when
    /// it is returned (`now < expires_at`), and an error's text must not carry the app secret.
    ///
    /// # Errors
    ///
    /// The manager's error.
    pub fn token(&self) -> Result<Arc<Token>, Error> {
        let result = self.manager.token();
        let now = Instant::now();
        match &result {
            Ok(token) => assert!(
                now < token.expires_at(),
                "{}: an expired token was returned ({:?} past its expiry)",
                self.stack,
                now.saturating_duration_since(token.expires_at()),
            ),
            Err(error) => {
                let text = format!("{error} {error:?}");
                assert!(
                    !text.contains(defaults::APP_SECRET),
                    "{}: the app secret appears in an error: {text}",
                    self.stack,
                );
            }
        }
        result
    }

    /// [`Client::token`], and how long it took.
    ///
    /// # Errors
    ///
    /// The manager's error.
    pub fn timed_token(&self) -> (Result<Arc<Token>, Error>, Duration) {
        let start = Instant::now();
        let result = self.token();
        (result, start.elapsed())
    }
}

/// Runs `scenario` on both stacks at once (each on its own thread, so a case costs the time of
/// its slower stack), then fails if either did or if a background thread panicked meanwhile.
pub fn on_both_stacks(scenario: impl Fn(Stack) + Sync) {
    let scenario = &scenario;
    std::thread::scope(|scope| {
        let handles: Vec<_> = Stack::ALL
            .iter()
            .map(|&stack| {
                std::thread::Builder::new()
                    .name(format!("case-{stack}"))
                    .spawn_scoped(scope, move || scenario(stack))
                    .expect("a thread for the case")
            })
            .collect();
        let mut first_panic = None;
        for handle in handles {
            if let Err(panic) = handle.join() {
                first_panic.get_or_insert(panic);
            }
        }
        if let Some(panic) = first_panic {
            std::panic::resume_unwind(panic);
        }
    });
    assert_eq!(
        background_panics(),
        0,
        "a background thread panicked (see its message above)"
    );
}

// ---------------------------------------------------------------------------------------------
// Panic watch
// ---------------------------------------------------------------------------------------------

const TOKIO_THREAD: &str = "reliability-tokio";
/// Threads nobody joins: the blocking manager's refreshes, the tokio workers, the test servers.
const BACKGROUND_THREADS: [&str; 3] = ["logto-m2m-refresh", TOKIO_THREAD, "logto-testkit"];

static BACKGROUND_PANICS: AtomicUsize = AtomicUsize::new(0);
static WATCH: Once = Once::new();

fn watch_panics() {
    WATCH.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or_default();
            if BACKGROUND_THREADS
                .iter()
                .any(|prefix| name.starts_with(prefix))
            {
                BACKGROUND_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// How many panics happened on background threads (refresh threads, tokio workers, test servers)
/// since the first [`Client`] was made, in this test binary.
#[must_use]
pub fn background_panics() -> usize {
    BACKGROUND_PANICS.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------------
// Expected outcomes
// ---------------------------------------------------------------------------------------------

/// What `Retry-After` an error must report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRetryAfter {
    /// None.
    Absent,
    /// Exactly this.
    Exactly(Duration),
    /// Within these bounds (inclusive): an HTTP-date is whole seconds, so its distance varies.
    Between(Duration, Duration),
}

impl ExpectedRetryAfter {
    fn matches(self, found: Option<Duration>) -> bool {
        match (self, found) {
            (Self::Absent, None) => true,
            (Self::Exactly(want), Some(found)) => want == found,
            (Self::Between(low, high), Some(found)) => low <= found && found <= high,
            _ => false,
        }
    }

    /// The shortest delay it stands for, if any.
    #[must_use]
    pub fn at_least(self) -> Option<Duration> {
        match self {
            Self::Absent => None,
            Self::Exactly(d) | Self::Between(d, _) => Some(d),
        }
    }
}

/// The error a caller must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedError {
    /// [`Error::kind`].
    pub kind: ErrorKind,
    /// For [`Error::Transport`], its kind; `None` when the error must not be a transport error.
    pub transport: Option<TransportErrorKind>,
    /// [`Error::status`].
    pub status: Option<StatusCode>,
    /// [`Error::retry_after`].
    pub retry_after: ExpectedRetryAfter,
}

impl ExpectedError {
    /// An answer of the server with this status, of this kind, without `Retry-After`.
    #[must_use]
    pub fn server(kind: ErrorKind, status: StatusCode) -> Self {
        Self {
            kind,
            transport: None,
            status: Some(status),
            retry_after: ExpectedRetryAfter::Absent,
        }
    }

    /// A transport failure of this transport kind, reported as `kind`.
    #[must_use]
    pub fn transport(kind: ErrorKind, transport: TransportErrorKind) -> Self {
        Self {
            kind,
            transport: Some(transport),
            status: None,
            retry_after: ExpectedRetryAfter::Absent,
        }
    }

    /// With this `Retry-After`.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: ExpectedRetryAfter) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Whether the policy retries it (backoff) or remembers it (negative cache).
    #[must_use]
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Transient | ErrorKind::Throttled | ErrorKind::InvalidResponse
        )
    }

    /// Panics unless `error` is this error.
    pub fn check(&self, stack: Stack, error: &Error) {
        let transport = match error {
            Error::Transport(e) => Some(e.kind()),
            _ => None,
        };
        let ok = error.kind() == self.kind
            && transport == self.transport
            && error.status() == self.status
            && self.retry_after.matches(error.retry_after());
        assert!(
            ok,
            "{stack}: expected {}, got {} ({error})",
            self.describe(),
            describe_error(error),
        );
    }

    /// A short description, as in the matrix.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut text = format!("{:?}", self.kind);
        if let Some(transport) = self.transport {
            text.push_str(&format!(", transport {transport:?}"));
        }
        if let Some(status) = self.status {
            text.push_str(&format!(", status {}", status.as_u16()));
        }
        match self.retry_after {
            ExpectedRetryAfter::Absent => {}
            ExpectedRetryAfter::Exactly(d) => {
                text.push_str(&format!(", retry_after {}", format_duration(d)));
            }
            ExpectedRetryAfter::Between(low, high) => text.push_str(&format!(
                ", retry_after {}..{}",
                format_duration(low),
                format_duration(high)
            )),
        }
        text
    }
}

/// A short description of an error: its kind, transport kind, status and `Retry-After`.
#[must_use]
pub fn describe_error(error: &Error) -> String {
    let mut text = format!("{:?}", error.kind());
    if let Error::Transport(e) = error {
        text.push_str(&format!(", transport {:?}", e.kind()));
    }
    if let Some(status) = error.status() {
        text.push_str(&format!(", status {}", status.as_u16()));
    }
    if let Some(retry_after) = error.retry_after() {
        text.push_str(&format!(", retry_after {}", format_duration(retry_after)));
    }
    text
}

/// What a fault must give the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// This error.
    Fails(ExpectedError),
    /// A token whose warnings are exactly these.
    Token(Vec<ParseWarning>),
}

/// One fault and its expected outcome.
#[derive(Debug, Clone)]
pub struct Case {
    /// The label in the matrix.
    pub label: String,
    /// The fault, applied to every token request until it is cleared.
    pub fault: Fault,
    /// What the caller must see.
    pub outcome: Outcome,
    /// The policies and limits.
    pub setup: Setup,
    /// The longest the first failing call of [`cold_cache`] may take, if bounded: a body cut at
    /// the cap fails in milliseconds, one read to its end would not.
    pub call_time_limit: Option<Duration>,
}

impl Case {
    /// A case that must fail with `expected`, with [`Setup::default`].
    #[must_use]
    pub fn fails(label: impl Into<String>, fault: Fault, expected: ExpectedError) -> Self {
        Self {
            label: label.into(),
            fault,
            outcome: Outcome::Fails(expected),
            setup: Setup::default(),
            call_time_limit: None,
        }
    }

    /// A case that must give a token with exactly `warnings`, with [`Setup::default`].
    #[must_use]
    pub fn token(label: impl Into<String>, fault: Fault, warnings: Vec<ParseWarning>) -> Self {
        Self {
            label: label.into(),
            fault,
            outcome: Outcome::Token(warnings),
            setup: Setup::default(),
            call_time_limit: None,
        }
    }

    /// With this setup.
    #[must_use]
    pub fn with_setup(mut self, setup: Setup) -> Self {
        self.setup = setup;
        self
    }

    /// With a limit on the first failing call's duration.
    #[must_use]
    pub fn with_call_time_limit(mut self, limit: Duration) -> Self {
        self.call_time_limit = Some(limit);
        self
    }
}

fn check_warnings(stack: Stack, token: &Token, warnings: &[ParseWarning]) {
    assert_eq!(
        token.warnings(),
        warnings,
        "{stack}: the token's warnings differ"
    );
}

fn describe_token(token: &Token) -> String {
    if token.warnings().is_empty() {
        "token".to_owned()
    } else {
        format!("token + {:?}", token.warnings())
    }
}

// ---------------------------------------------------------------------------------------------
// Policy arithmetic, from docs/state-machine.md
// ---------------------------------------------------------------------------------------------

/// The backoff before the attempt that follows the `failures`-th consecutive failure, without
/// jitter: `backoff_initial × 2^(failures-1)` capped at `backoff_max` for retryable errors, the
/// negative cache for rejections.
fn base_delay(policy: &CachePolicy, failures: u32, retryable: bool) -> Duration {
    if retryable {
        let doubling = 1u32 << failures.saturating_sub(1).min(20);
        policy
            .backoff_initial
            .saturating_mul(doubling)
            .min(policy.backoff_max)
    } else {
        policy.negative_cache
    }
}

/// The shortest gap the policy allows between an attempt that was the `failures`-th consecutive
/// failure and the next attempt: the backoff shortened by at most half by jitter (rejections: the
/// negative cache), lengthened to `Retry-After` (up to `retry_after_max`) when the server sent one.
#[must_use]
pub fn min_gap(
    policy: &CachePolicy,
    failures: u32,
    retryable: bool,
    retry_after: Option<Duration>,
) -> Duration {
    let base = base_delay(policy, failures, retryable);
    let delay = if retryable { base / 2 } else { base };
    match retry_after {
        Some(asked) => delay.max(asked.min(policy.retry_after_max)),
        None => delay,
    }
}

/// The longest such gap: the full backoff (no jitter), or `Retry-After` up to its cap.
#[must_use]
pub fn max_gap(
    policy: &CachePolicy,
    failures: u32,
    retryable: bool,
    retry_after: Option<Duration>,
) -> Duration {
    let base = base_delay(policy, failures, retryable);
    match retry_after {
        Some(asked) => base.max(asked.min(policy.retry_after_max)),
        None => base,
    }
}

/// The most attempts the policy allows within `window` from a first failed attempt (the
/// `first_failure`-th consecutive failure), each following at its [`min_gap`].
#[must_use]
pub fn max_attempts_within(
    window: Duration,
    policy: &CachePolicy,
    first_failure: u32,
    retryable: bool,
    retry_after: Option<Duration>,
) -> usize {
    let mut attempts = 1;
    let mut elapsed = Duration::ZERO;
    let mut failures = first_failure;
    loop {
        elapsed += min_gap(policy, failures, retryable, retry_after);
        if elapsed > window {
            return attempts;
        }
        attempts += 1;
        failures += 1;
    }
}

/// When each token request arrived at `server`, oldest first.
#[must_use]
pub fn token_request_times(server: &TestServer) -> Vec<SystemTime> {
    server
        .requests()
        .iter()
        .filter(|r| r.is_token_request())
        .map(logto_m2m_testkit::RecordedRequest::received_at)
        .collect()
}

/// How long after `earlier` `later` came (zero if it did not).
#[must_use]
pub fn gap(earlier: SystemTime, later: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

/// Checks that consecutive failed attempts (the first being the `first_failure`-th consecutive
/// failure) are spaced as the policy says: never closer than [`min_gap`] (less
/// [`CLOCK_TOLERANCE`]), never further than [`max_gap`] plus [`SCHEDULING_SLACK`] plus
/// `extra_slack` (for attempts that take time themselves, or callers that come rarely).
pub fn check_backoff(
    stack: Stack,
    times: &[SystemTime],
    policy: &CachePolicy,
    first_failure: u32,
    expected: &ExpectedError,
    retry_after: Option<Duration>,
    extra_slack: Duration,
) {
    let retryable = expected.retryable();
    let mut failures = first_failure;
    for pair in times.windows(2) {
        let [earlier, later] = pair else { continue };
        let seen = gap(*earlier, *later);
        let low = min_gap(policy, failures, retryable, retry_after);
        let high = max_gap(policy, failures, retryable, retry_after);
        assert!(
            seen + CLOCK_TOLERANCE >= low,
            "{stack}: the attempt after failure {failures} came {} after it; the policy allows \
             no less than {}",
            format_duration(seen),
            format_duration(low),
        );
        assert!(
            seen <= high + SCHEDULING_SLACK + extra_slack,
            "{stack}: the attempt after failure {failures} came {} after it; the policy says \
             at most {}",
            format_duration(seen),
            format_duration(high),
        );
        failures += 1;
    }
}

/// Whether `condition` holds within `limit` (checked every 10 ms).
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A duration in milliseconds, or seconds from 10 s on.
#[must_use]
pub fn format_duration(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix report
// ---------------------------------------------------------------------------------------------

/// One observation of the matrix.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// The scenario (`cold cache`, `refresh window`...).
    pub scenario: &'a str,
    /// The case's label.
    pub case: &'a str,
    /// The stack.
    pub stack: Stack,
    /// What the caller got.
    pub outcome: String,
    /// What the server saw.
    pub requests: String,
    /// What the policy allows.
    pub allowed: String,
}

/// Prints a row of the matrix: `MATRIX | scenario | case | stack | outcome | requests | allowed`.
pub fn report(row: &Row<'_>) {
    println!(
        "MATRIX | {} | {} | {} | {} | {} | {} |",
        row.scenario, row.case, row.stack, row.outcome, row.requests, row.allowed
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// What a scenario leaves for the case's own checks.
#[derive(Debug)]
pub struct Run {
    /// The test server.
    pub server: TestServer,
    /// The client.
    pub client: Client,
}

/// The cold-cache scenario: with the fault on every token request, a first call on an empty cache,
/// then a second call at once; then the fault stops and the manager must recover by itself.
///
/// - Failing faults: both calls return the expected error. The first call sends
///   `max_attempts` requests for a retryable error (1 for a rejection); the second sends
///   `max_attempts - 1` more (the cached failure counts as its first attempt; 0 for a rejection,
///   which the negative cache answers). Consecutive requests are spaced as the policy says
///   ([`check_backoff`]). `while_failing` then runs (the fault still on). Once the fault is
///   cleared, the next attempt the policy allows succeeds: exactly one more request.
/// - Token faults: the first call returns a token with exactly the expected warnings (one
///   request), the second the same token from the cache (no request).
///
/// `extra_slack` widens the upper bound of the backoff check, for attempts that take time.
pub fn cold_cache(
    stack: Stack,
    case: &Case,
    extra_slack: Duration,
    while_failing: impl FnOnce(&Run),
) -> Run {
    let server = TestServer::start_default().expect("a test server");
    let client = Client::new(stack, &server, case.setup);
    server.inject_when(|_| true, case.fault.clone());
    let run = Run { server, client };
    let (server, client) = (&run.server, &run.client);
    let setup = &case.setup;

    match &case.outcome {
        Outcome::Token(warnings) => {
            let (first, took) = client.timed_token();
            let first = first
                .unwrap_or_else(|e| panic!("{stack}: {}: expected a token, got {e}", case.label));
            check_warnings(stack, &first, warnings);
            assert_eq!(
                server.token_requests(),
                1,
                "{stack}: one request for a token"
            );
            let again = client.token().expect("the cached token");
            assert!(Arc::ptr_eq(&first, &again), "{stack}: the token is cached");
            assert_eq!(server.token_requests(), 1, "{stack}: the cache answers");
            report(&Row {
                scenario: &format!("cold cache, {}", case.setup.access),
                case: &case.label,
                stack,
                outcome: format!("{} in {}", describe_token(&first), format_duration(took)),
                requests: "1, then 0 (cached)".to_owned(),
                allowed: "1, then 0".to_owned(),
            });
        }
        Outcome::Fails(expected) => {
            let (first, took_first) = client.timed_token();
            let first = match first {
                Ok(token) => panic!(
                    "{stack}: {}: expected {}, got a token {token:?}",
                    case.label,
                    expected.describe()
                ),
                Err(e) => e,
            };
            expected.check(stack, &first);
            if let Some(limit) = case.call_time_limit {
                assert!(
                    took_first <= limit,
                    "{stack}: {}: the first call took {}, more than {}",
                    case.label,
                    format_duration(took_first),
                    format_duration(limit)
                );
            }
            let after_first = server.token_requests();
            let retryable = expected.retryable();
            let attempts = setup.retry.max_attempts as usize;
            let allowed_first = if retryable { attempts } else { 1 };
            assert_eq!(
                after_first, allowed_first,
                "{stack}: {}: requests of the first call",
                case.label
            );

            let (second, took_second) = client.timed_token();
            let second = second.expect_err("the fault is still on");
            expected.check(stack, &second);
            let allowed_second = if retryable { attempts - 1 } else { 0 };
            let after_second = server.token_requests();
            assert_eq!(
                after_second - after_first,
                allowed_second,
                "{stack}: {}: requests of the second call",
                case.label
            );

            let retry_after = first.retry_after();
            check_backoff(
                stack,
                &token_request_times(server),
                &setup.cache,
                1,
                expected,
                retry_after,
                extra_slack,
            );
            while_failing(&run);

            // The fault stops: the manager recovers on its own, with exactly one request, once
            // the policy allows the next attempt.
            server.clear_faults();
            server.reset_log();
            let failures = u32::try_from(after_second).unwrap_or(u32::MAX);
            let limit = max_gap(&setup.cache, failures, retryable, retry_after)
                + SCHEDULING_SLACK
                + extra_slack;
            let start = Instant::now();
            let recovered = loop {
                match client.token() {
                    Ok(token) => break token,
                    Err(e) => {
                        expected.check(stack, &e);
                        assert!(
                            start.elapsed() < limit,
                            "{stack}: {}: no recovery within {}",
                            case.label,
                            format_duration(limit)
                        );
                        std::thread::sleep(POLL_EVERY);
                    }
                }
            };
            let recovery = start.elapsed();
            assert!(recovered.warnings().is_empty());
            assert_eq!(
                server.token_requests(),
                1,
                "{stack}: {}: one request to recover",
                case.label
            );

            let allowed = if retryable {
                format!("{attempts} + {}", attempts - 1)
            } else {
                "1 + 0 (negative cache)".to_owned()
            };
            report(&Row {
                scenario: &format!("cold cache, {}", case.setup.access),
                case: &case.label,
                stack,
                outcome: format!(
                    "{} (call 1: {}, call 2: {}); recovered in {}",
                    describe_error(&first),
                    format_duration(took_first),
                    format_duration(took_second),
                    format_duration(recovery)
                ),
                requests: format!("{after_first} + {}; recovery 1", after_second - after_first),
                allowed: format!("{allowed}; recovery 1"),
            });
        }
    }
    run
}

/// The refresh-window scenario: tokens live [`SHORT_TTL_SECS`] s, are usable for 1.5 s and
/// refreshed from 0.45 s. A first token is fetched without fault; then the fault is put on every
/// token request and the client asks every [`POLL_EVERY`].
///
/// - Failing faults: until [`WINDOW_GUARD`] before the end of its usable life, every call returns
///   the first token. At least one refresh was tried, none before the refresh point, spaced as the
///   policy says and no more of them than it allows within the window. For [`PAST_WINDOW`] after
///   the usable life, the first token is never returned and calls fail with the expected error.
///   Once the fault is cleared, the manager recovers by itself with exactly one request.
/// - Token faults: the still-valid token is served until the refresh (exactly one request)
///   brings a new token with exactly the expected warnings.
///
/// `extra_slack` widens the upper bound of the backoff check, for attempts that take time.
pub fn refresh_window(stack: Stack, case: &Case, extra_slack: Duration) -> Run {
    let server = TestServer::start_default().expect("a test server");
    server.set_resource_ttl(defaults::RESOURCE, Some(SHORT_TTL_SECS));
    let client = Client::new(stack, &server, case.setup);
    let policy = case.setup.cache;
    let run = Run { server, client };
    let (server, client) = (&run.server, &run.client);

    let wall_before = SystemTime::now();
    let instant_before = Instant::now();
    let first = client.token().expect("a first token without fault");
    assert_eq!(first.lifetime(), Duration::from_secs(SHORT_TTL_SECS));
    let margin = policy.expiry_margin.min(first.lifetime() / 2);
    let usable_until = first.expires_at() - margin;
    let usable = usable_until.saturating_duration_since(first.sent_at());
    let refresh_at = first.sent_at() + usable.mul_f64(policy.refresh_ratio);
    // The refresh point on the server's clock, at the earliest.
    let refresh_at_wall =
        wall_before + refresh_at.saturating_duration_since(instant_before) - CLOCK_TOLERANCE;
    let first_sent_wall = wall_before + first.sent_at().saturating_duration_since(instant_before);
    let same = |token: &Arc<Token>| {
        token.access_token().expose_secret() == first.access_token().expose_secret()
    };

    server.reset_log();
    server.inject_when(|_| true, case.fault.clone());

    match &case.outcome {
        Outcome::Token(warnings) => {
            let mut refreshed = None;
            while Instant::now() + WINDOW_GUARD < usable_until {
                let token = client
                    .token()
                    .unwrap_or_else(|e| panic!("{stack}: {}: a call failed: {e}", case.label));
                if !same(&token) {
                    refreshed = Some(token);
                    break;
                }
                std::thread::sleep(POLL_EVERY);
            }
            let Some(refreshed) = refreshed else {
                // Say when the refreshed token did come, if it did soon after.
                let mut came = None;
                while came.is_none() && Instant::now() < usable_until + PAST_WINDOW {
                    if client.token().is_ok_and(|token| !same(&token)) {
                        came = Some(Instant::now());
                    }
                    std::thread::sleep(POLL_EVERY);
                }
                let refreshed_at = token_request_times(server)
                    .first()
                    .map_or(Duration::ZERO, |t| gap(first_sent_wall, *t));
                panic!(
                    "{stack}: {}: no refreshed token in the window (refresh sent {} after the \
                     first token's request, usable until {}); {}",
                    case.label,
                    format_duration(refreshed_at),
                    format_duration(usable),
                    came.map_or_else(
                        || "none came".to_owned(),
                        |at| format!(
                            "the refreshed token was first handed out {} after the first \
                             token's request",
                            format_duration(at.saturating_duration_since(first.sent_at()))
                        )
                    )
                );
            };
            check_warnings(stack, &refreshed, warnings);
            let times = token_request_times(server);
            assert_eq!(times.len(), 1, "{stack}: {}: one refresh", case.label);
            assert!(
                times.iter().all(|t| *t >= refresh_at_wall),
                "{stack}: refreshed before the refresh point"
            );
            report(&Row {
                scenario: &format!("refresh window, {}", case.setup.access),
                case: &case.label,
                stack,
                outcome: format!("old token served, then {}", describe_token(&refreshed)),
                requests: "1".to_owned(),
                allowed: "1".to_owned(),
            });
        }
        Outcome::Fails(expected) => {
            // While usable: always the first token, whatever the refreshes meet.
            let mut calls = 0usize;
            while Instant::now() + WINDOW_GUARD < usable_until {
                let token = client.token().unwrap_or_else(|e| {
                    panic!(
                        "{stack}: {}: a call failed while the token was still usable: {e}",
                        case.label
                    )
                });
                assert!(
                    same(&token),
                    "{stack}: {}: a token other than the still-valid one",
                    case.label
                );
                calls += 1;
                std::thread::sleep(POLL_EVERY);
            }
            let window_end = SystemTime::now();
            let times = token_request_times(server);
            let Some(&first_refresh) = times.first() else {
                panic!("{stack}: {}: no refresh was tried", case.label);
            };
            assert!(
                first_refresh >= refresh_at_wall,
                "{stack}: {}: a refresh before the refresh point",
                case.label
            );
            let retry_after = expected.retry_after.at_least();
            let window = gap(first_refresh, window_end);
            let allowed =
                max_attempts_within(window, &policy, 1, expected.retryable(), retry_after);
            assert!(
                times.len() <= allowed,
                "{stack}: {}: {} refreshes in {}; the policy allows {allowed}",
                case.label,
                times.len(),
                format_duration(window)
            );
            let in_window = times.len();
            // And it keeps retrying: while the token is usable, a failed refresh is tried again
            // once its backoff has passed (callers come every POLL_EVERY to trigger it).
            if let Some(&last) = times.last() {
                let failures = u32::try_from(in_window).unwrap_or(u32::MAX);
                let due = last
                    + extra_slack
                    + max_gap(&policy, failures, expected.retryable(), retry_after)
                    + RETRY_DUE_SLACK;
                if window_end > due {
                    // Say when the next attempt did come.
                    while Instant::now() < usable_until + PAST_WINDOW {
                        let _ = client.token();
                        std::thread::sleep(POLL_EVERY);
                    }
                    let next = token_request_times(server).get(in_window).map_or_else(
                        || "none came".to_owned(),
                        |t| {
                            format!(
                                "the next came {} after the first token's request",
                                format_duration(gap(first_sent_wall, *t))
                            )
                        },
                    );
                    panic!(
                        "{stack}: {}: {in_window} refreshes while the token was usable (until {} \
                         after its request), the last {} before the window ended, the next due \
                         within {}; {next}",
                        case.label,
                        format_duration(usable),
                        format_duration(gap(last, window_end)),
                        format_duration(gap(last, due)),
                    );
                }
            }

            // Past the usable life: the first token is never served again.
            let past_end = usable_until + PAST_WINDOW;
            let mut past_errors = 0usize;
            let mut last_error = None;
            // (Longer if no call has failed yet: one that started just before the end of the
            // usable life may have blocked on a slow foreground attempt.)
            while Instant::now() < past_end
                || (past_errors == 0 && Instant::now() < past_end + PAST_GRACE)
            {
                let before = Instant::now();
                match client.token() {
                    // Only a call that started while the token was usable may still get it;
                    // no other token can come while the fault is on.
                    Ok(token) => assert!(
                        before < usable_until && same(&token),
                        "{stack}: {}: a token past the usable life, or a new one while the \
                         fault is on: {token:?}",
                        case.label
                    ),
                    Err(e) => {
                        if before >= usable_until {
                            expected.check(stack, &e);
                            past_errors += 1;
                            last_error = Some(e);
                        }
                    }
                }
                std::thread::sleep(POLL_EVERY);
            }
            assert!(past_errors > 0, "{stack}: {}: no call failed", case.label);
            // One streak of failures, from the first refresh to the last foreground attempt: each
            // attempt spaced as the policy says.
            let all = token_request_times(server);
            check_backoff(stack, &all, &policy, 1, expected, retry_after, extra_slack);
            let past_requests = all.len() - in_window;

            // The fault stops: recovery by itself, one request.
            server.clear_faults();
            server.reset_log();
            let start = Instant::now();
            let limit = Duration::from_secs(3) + extra_slack;
            let recovered = loop {
                if let Ok(token) = client.token() {
                    break token;
                }
                assert!(
                    start.elapsed() < limit,
                    "{stack}: {}: no recovery within {}",
                    case.label,
                    format_duration(limit)
                );
                std::thread::sleep(POLL_EVERY);
            };
            assert!(!same(&recovered));
            let recovery = start.elapsed();
            let recovery_requests = server.token_requests();
            assert_eq!(
                recovery_requests, 1,
                "{stack}: {}: one request to recover",
                case.label
            );

            report(&Row {
                scenario: &format!("refresh window, {}", case.setup.access),
                case: &case.label,
                stack,
                outcome: format!(
                    "old token served to {calls} calls; then {}; recovered in {}",
                    last_error.as_ref().map_or_else(String::new, describe_error),
                    format_duration(recovery)
                ),
                requests: format!(
                    "{in_window} refreshes in {}; {past_requests} past; recovery 1",
                    format_duration(window)
                ),
                allowed: format!("≤ {allowed}; recovery 1"),
            });
        }
    }
    run
}

/// Compiles and runs the main README's examples (the library in ten lines, on ureq and on hyper)
/// as doctests: this crate has both transports, the testkit and tokio.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct MainReadmeDoctests;
