//! What the fleet tests share: the test server's configuration, starting replica processes, and
//! reading their reports. See the README.
#![forbid(unsafe_code)]
// A test harness: a failure to start a process or a server is a failed test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use logto_m2m_testkit::{ApiResource, App, Config};

/// The app every replica authenticates as.
pub const APP_ID: &str = "fleet-app";
/// Its secret.
pub const APP_SECRET: &str = "fleet-secret-0123456789";
/// A second app of the same tenant, with a secret of its own: its entries must never serve the
/// first app's replicas.
pub const OTHER_APP_ID: &str = "fleet-other-app";
/// Its secret.
pub const OTHER_APP_SECRET: &str = "fleet-other-secret-9876543210";

/// The token lifetime of every resource, in seconds: a few, so a run spans several.
pub const TOKEN_TTL_SECS: u64 = 6;

/// The resources (token keys) the replicas ask tokens for.
#[must_use]
pub fn resources() -> Vec<String> {
    (1..=3)
        .map(|index| format!("https://api{index}.fleet.test"))
        .collect()
}

/// The test server's configuration: two apps granted every resource, with short-lived tokens.
///
/// # Panics
///
/// Never: the configuration is fixed.
#[must_use]
pub fn server_config() -> Config {
    let mut app = App::new(APP_ID, APP_SECRET);
    let mut other = App::new(OTHER_APP_ID, OTHER_APP_SECRET);
    let mut builder = Config::builder();
    for resource in resources() {
        app = app.grant(resource.clone(), ["read"]);
        other = other.grant(resource.clone(), ["read"]);
        builder = builder.resource(
            ApiResource::new(resource)
                .ttl(TOKEN_TTL_SECS)
                .scopes(["read"]),
        );
    }
    builder
        .app(app)
        .app(other)
        .build()
        .unwrap_or_else(|error| panic!("test server configuration: {error}"))
}

/// How a replica runs.
#[derive(Debug, Clone)]
pub struct ReplicaPlan {
    /// `blocking` (ureq, threads) or `async` (hyper, tokio tasks).
    pub mode: &'static str,
    /// How long it calls for.
    pub run_for: Duration,
    /// Threads or tasks calling at once.
    pub workers: usize,
    /// The store's URL, or `None` to run without one.
    pub redis_url: Option<String>,
    /// How long a lock lives (the store policy's `lock_ttl`).
    pub lock_ttl: Duration,
    /// The app id and secret it authenticates with.
    pub app: (&'static str, &'static str),
}

/// Starts a replica process against `endpoint` with `plan`; its report is its last line.
///
/// # Panics
///
/// If the process cannot be started.
#[must_use]
pub fn start_replica(binary: &str, endpoint: &str, plan: &ReplicaPlan) -> Child {
    Command::new(binary)
        .arg(endpoint)
        .arg(plan.mode)
        .arg(plan.run_for.as_millis().to_string())
        .arg(plan.workers.to_string())
        .arg(plan.redis_url.as_deref().unwrap_or("none"))
        .arg(plan.lock_ttl.as_millis().to_string())
        .arg(plan.app.0)
        .arg(plan.app.1)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"))
}

/// What a replica reports when it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Calls made.
    pub calls: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Tokens served past their expiry (by the `exp` claim and the wall clock).
    pub expired: u64,
    /// Tokens served for another resource than asked (by the `aud` claim) or to another app (by
    /// the `client_id` claim), or not JWTs.
    pub foreign: u64,
    /// The longest call, in milliseconds.
    pub max_call_ms: u64,
}

impl Report {
    /// Asserts that a replica (named in failures by `context`) made more than `min_calls` calls,
    /// each of which got a usable token of the right key (no error, nothing expired or foreign),
    /// and none took `max_call_ms` or longer.
    pub fn assert_all_served(&self, context: &str, min_calls: u64, max_call_ms: u64) {
        assert!(self.calls > min_calls, "{context}: {self:?}");
        assert_eq!(self.errors, 0, "{context}: {self:?}");
        assert_eq!(
            self.expired, 0,
            "{context}: served an expired token: {self:?}"
        );
        assert_eq!(
            self.foreign, 0,
            "{context}: served a foreign token: {self:?}"
        );
        assert!(
            self.max_call_ms < max_call_ms,
            "{context}: a call took too long: {self:?}"
        );
    }
}

/// Waits for `child` and reads its report.
///
/// # Panics
///
/// If the process fails or prints no report.
#[must_use]
pub fn wait_report(mut child: Child) -> Report {
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let last = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .last()
        .unwrap_or_default();
    let status = child.wait().unwrap_or_else(|error| panic!("wait: {error}"));
    assert!(status.success(), "replica exited with {status}");
    let value: serde_json::Value =
        serde_json::from_str(&last).unwrap_or_else(|_| panic!("no report: {last:?}"));
    let field = |name: &str| {
        value
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(u64::MAX)
    };
    Report {
        calls: field("calls"),
        errors: field("errors"),
        expired: field("expired"),
        foreign: field("foreign"),
        max_call_ms: field("max_call_ms"),
    }
}

/// The Redis URL of the harness (`tests/redis/run-with-redis.sh`), or `None` (with a message) to
/// skip: but under `CI=true` a missing Redis fails the test.
///
/// # Panics
///
/// Under `CI=true` without the harness's Redis.
#[must_use]
pub fn redis_url_or_skip(test: &str) -> Option<String> {
    match std::env::var("LOGTO_M2M_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CI").is_ok_and(|value| value == "true") => {
            panic!(
                "{test}: LOGTO_M2M_TEST_REDIS_URL is not set under CI=true: run the tests inside tests/redis/run-with-redis.sh"
            )
        }
        Err(_) => {
            eprintln!("{test}: skipped: no Redis (run inside tests/redis/run-with-redis.sh)");
            None
        }
    }
}

/// A redis-server of a test's own (so a test can stop, kill and restart it without disturbing the
/// others), from the binary the harness found, on a free 127.0.0.1 port.
#[derive(Debug)]
pub struct OwnRedis {
    binary: String,
    port: u16,
    extra: Vec<String>,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts one with `extra` arguments (e.g. `--maxmemory 1mb`); `None` without the harness.
    #[must_use]
    pub fn start(extra: &[&str]) -> Option<Self> {
        let binary = std::env::var("LOGTO_M2M_TEST_REDIS_SERVER").ok()?;
        let port = free_port();
        let mut redis = Self {
            binary,
            port,
            extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            child: None,
        };
        redis.restart();
        Some(redis)
    }

    /// Its URL.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again (after [`kill`](Self::kill)), on the same port, and waits until it answers.
    pub fn restart(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// Kills it (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends it `signal` (`STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.signal("CONT");
        self.kill();
    }
}

/// A port nobody listens on now.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap()
}

/// A plain connection to the store, for tests that read and rewrite its entries behind the
/// replicas' backs.
pub struct RawStore(redis::Connection);

impl std::fmt::Debug for RawStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawStore")
    }
}

impl RawStore {
    /// Connects to the Redis at `url`.
    #[must_use]
    pub fn connect(url: &str) -> Self {
        Self(redis::Client::open(url).unwrap().get_connection().unwrap())
    }

    /// The names of every entry in the store.
    pub fn entry_names(&mut self) -> Vec<String> {
        redis::cmd("KEYS")
            .arg("*:entry")
            .query(&mut self.0)
            .unwrap()
    }

    /// The bytes stored under `name`, if any.
    pub fn get(&mut self, name: &str) -> Option<Vec<u8>> {
        redis::cmd("GET").arg(name).query(&mut self.0).unwrap()
    }

    /// Stores `bytes` under `name` for `ttl`.
    pub fn set(&mut self, name: &str, bytes: &[u8], ttl: Duration) {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let () = redis::cmd("SET")
            .arg(name)
            .arg(bytes)
            .arg("PX")
            .arg(millis)
            .query(&mut self.0)
            .unwrap();
    }
}
