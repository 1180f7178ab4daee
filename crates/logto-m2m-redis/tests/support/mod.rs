//! What the Redis tests share: the server of tests/redis/run-with-redis.sh (or a skip), servers of
//! their own for the tests that stop, kill or fill one (or need TLS or a Cluster), fresh store
//! keys, and the run of every operation that the TLS and Cluster tests make.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use logto_m2m_proto::{ClientConfig, StoreKey, TokenParams, TokenRequest};
use logto_m2m_redis::redis;

pub mod cluster;
pub mod operations;
pub mod tls;

use tls::ServerCertificates;

/// The URL of the harness's server, or `None` (with a message) to skip; under `CI=true` a missing
/// server fails the test instead.
pub fn shared_url(test: &str) -> Option<String> {
    if let Ok(url) = std::env::var("LOGTO_M2M_TEST_REDIS_URL") {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!(
            "{test}: LOGTO_M2M_TEST_REDIS_URL is not set under CI=true; run through tests/redis/run-with-redis.sh"
        );
    }
    eprintln!(
        "{test}: skipped: LOGTO_M2M_TEST_REDIS_URL is not set; run through tests/redis/run-with-redis.sh"
    );
    None
}

/// The redis-server binary the harness found, or `None` (as [`shared_url`]).
pub fn server_binary(test: &str) -> Option<PathBuf> {
    shared_url(test)?;
    match std::env::var("LOGTO_M2M_TEST_REDIS_SERVER") {
        Ok(path) => Some(PathBuf::from(path)),
        Err(_) => panic!("{test}: LOGTO_M2M_TEST_REDIS_SERVER is not set"),
    }
}

/// A store key no other test uses.
pub fn fresh_key(test: &str) -> StoreKey {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let config = ClientConfig::builder("https://t.logto.app", "m2m-app", "secret")
        .build()
        .unwrap();
    let resource = format!(
        "https://{test}-{}-{nanos}-{n}.example.com",
        std::process::id()
    );
    StoreKey::of(
        TokenRequest::new(&config, TokenParams::for_resource(resource))
            .unwrap()
            .key(),
    )
}

/// A plain connection to look at what the store did.
pub fn inspect(url: &str) -> redis::Connection {
    connection_of(&redis::Client::open(url).unwrap())
}

/// A connection of `client` whose every step is bounded (5 s).
pub fn connection_of(client: &redis::Client) -> redis::Connection {
    let connection = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    connection
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    connection
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    connection
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A redis-server of a test's own, on its own port: stopped, continued, killed and started again
/// as the test needs; killed when dropped.
pub struct OwnServer {
    binary: PathBuf,
    dir: PathBuf,
    pub port: u16,
    extra: Vec<String>,
    /// The CA its TLS certificate is signed by, if it listens with TLS only.
    tls_ca: Option<String>,
    child: Option<Child>,
}

impl OwnServer {
    /// Starts a server with these extra arguments (e.g. `--requirepass`).
    pub fn start(binary: PathBuf, extra: &[&str]) -> Self {
        let mut server = Self::prepare(binary, extra);
        server.launch();
        server
    }

    /// Starts a server that listens with TLS only (no plain port), with `certificates` and
    /// these extra arguments; it does not ask clients for a certificate.
    pub fn start_tls(binary: PathBuf, certificates: &ServerCertificates, extra: &[&str]) -> Self {
        let mut server = Self::prepare(binary, extra);
        let files = certificates.write_to(&server.dir);
        server.extra.extend(
            [
                "--tls-cert-file",
                &files.cert,
                "--tls-key-file",
                &files.key,
                "--tls-ca-cert-file",
                &files.ca,
                "--tls-auth-clients",
                "no",
            ]
            .map(str::to_owned),
        );
        server.tls_ca = Some(certificates.ca_pem.clone());
        server.launch();
        server
    }

    fn prepare(binary: PathBuf, extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "logto-m2m-redis-test-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            binary,
            dir,
            port: free_port(),
            extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            tls_ca: None,
            child: None,
        }
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls_ca.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA of a TLS server's certificate.
    pub fn tls_ca(&self) -> Option<&str> {
        self.tls_ca.as_deref()
    }

    /// A client of this server (trusting its CA, for a TLS server).
    pub fn client(&self) -> redis::Client {
        self.client_at(&self.url())
    }

    fn client_at(&self, url: &str) -> redis::Client {
        match &self.tls_ca {
            None => redis::Client::open(url).unwrap(),
            Some(ca) => {
                tls::install_crypto_provider();
                redis::Client::build_with_tls(
                    url,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(ca.clone().into_bytes()),
                    },
                )
                .unwrap()
            }
        }
    }

    /// A plain connection to look at what the store did.
    pub fn inspect(&self) -> redis::Connection {
        connection_of(&self.client())
    }

    fn launch(&mut self) {
        let port = self.port.to_string();
        let ports = if self.tls_ca.is_some() {
            vec!["--port", "0", "--tls-port", &port]
        } else {
            vec!["--port", &port]
        };
        let child = Command::new(&self.binary)
            .args(["--bind", "127.0.0.1"])
            .args(ports)
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("server.log"))
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits (5 s at most) until the server answers PING.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let password = self
            .extra
            .iter()
            .position(|arg| arg == "--requirepass")
            .and_then(|at| self.extra.get(at + 1));
        let url = match password {
            Some(password) => self.url().replace("://", &format!("://:{password}@")),
            None => self.url(),
        };
        let client = self.client_at(&url);
        while Instant::now() < deadline {
            if let Ok(mut connection) =
                client.get_connection_with_timeout(Duration::from_millis(200))
            {
                connection
                    .set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                if redis::cmd("PING").query::<String>(&mut connection).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        panic!(
            "redis-server on port {} did not answer within 5 s; its log:\n{log}",
            self.port
        );
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Stops the server (SIGSTOP): it keeps its connections but answers nothing.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Continues a stopped server (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        self.launch();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            // It may be stopped: continue it so that the kill takes.
            self.signal("CONT");
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
