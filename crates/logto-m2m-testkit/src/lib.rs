#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use http;

mod config;
mod fault;
mod jwt;
mod management_api;
mod management_data;
mod oidc;
mod record;
mod server;
mod transport;
mod verify;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub use crate::config::{
    ApiResource, App, Config, ConfigBuilder, ConfigError, OrganizationMembership, defaults,
};
pub use crate::fault::{CannedResponse, Fault, RetryAfter};
pub use crate::jwt::{KeyKind, TestKey};
pub use crate::management_data::{ManagementData, UserJson};
pub use crate::record::RecordedRequest;
use crate::server::{Rule, Shared};
pub use crate::verify::{AccessTokenClaims, TokenRejected};

/// The largest request body the server reads, in bytes; a larger one gets `413`.
pub const MAX_REQUEST_BODY: usize = server::MAX_BODY;
/// The most requests [`TestServer::requests`] keeps; older entries are dropped first.
pub const MAX_LOGGED_REQUESTS: usize = server::MAX_LOG;

/// A Logto-compatible token endpoint on `127.0.0.1`, running until dropped.
///
/// See the [crate documentation](crate) for what it serves.
pub struct TestServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("endpoint", &self.shared.endpoint)
            .field("running", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts a server for `config` on `127.0.0.1` with an ephemeral port, on a thread of its
    /// own with its own tokio runtime, and returns once it accepts connections. A new ES384
    /// signing key is generated for each server.
    ///
    /// Blocking but short: call it from synchronous tests or from async tests on any runtime.
    ///
    /// # Errors
    ///
    /// Binding the port, creating the runtime or thread, or generating the key failed.
    pub fn start(config: Config) -> io::Result<Self> {
        Self::start_with_key(config, TestKey::generate(KeyKind::Es384)?)
    }

    /// Starts a server for `config` that signs with `key`: [`TestKey::generate`]`(`[`KeyKind::Rs256`]`)`
    /// gives a tenant rotated to RSA. Otherwise as [`TestServer::start`].
    ///
    /// # Errors
    ///
    /// Binding the port, or creating the runtime or thread, failed.
    pub fn start_with_key(config: Config, key: TestKey) -> io::Result<Self> {
        Self::start_listening(config, key, 0)
    }

    /// As [`TestServer::start`], on `127.0.0.1:port` (`0`: an ephemeral port), for a server that
    /// other programs are told where to find.
    ///
    /// # Errors
    ///
    /// As [`TestServer::start`]; binding fails when the port is taken.
    pub fn start_on_port(config: Config, port: u16) -> io::Result<Self> {
        Self::start_listening(config, TestKey::generate(KeyKind::Es384)?, port)
    }

    fn start_listening(config: Config, key: TestKey, port: u16) -> io::Result<Self> {
        let keys = jwt::Keys::with(key);
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let endpoint = format!("http://{addr}");
        let management = Mutex::new(config.management.clone());
        let shared = Arc::new(Shared {
            management,
            config,
            keys: RwLock::new(keys),
            issuer: format!("{endpoint}/oidc"),
            endpoint,
            state: Mutex::default(),
            connections: AtomicUsize::new(0),
        });

        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("logto-testkit-{}", addr.port()))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            let _ = ready_tx.send(Ok(()));
                            server::accept_loop(listener, thread_shared, shutdown_rx).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                // Dropping the runtime cancels every connection task and closes its socket.
                drop(runtime);
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                shared,
                addr,
                shutdown: Some(shutdown_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other(
                    "the test server thread stopped while starting",
                ))
            }
        }
    }

    /// Starts a server for [`Config::logto_default`], the tenant of the recorded Logto responses.
    ///
    /// # Errors
    ///
    /// As [`TestServer::start`].
    pub fn start_default() -> io::Result<Self> {
        Self::start(Config::logto_default())
    }

    /// The Logto endpoint, `http://127.0.0.1:<port>` (no trailing slash).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// The issuer, `{endpoint}/oidc`: the tokens' `iss` and the `Basic` realm.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The token endpoint, `{endpoint}/oidc/token`.
    #[must_use]
    pub fn token_endpoint(&self) -> String {
        format!("{}{}", self.shared.endpoint, server::TOKEN_PATH)
    }

    /// The JWK Set URL, `{endpoint}/oidc/jwks`.
    #[must_use]
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.shared.issuer)
    }

    /// The socket address the server listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration the server was started with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The signing key's id (`kid`): its RFC 7638 JWK thumbprint.
    #[must_use]
    pub fn kid(&self) -> String {
        self.shared.keys().kid().to_owned()
    }

    /// The JWK Set served at [`TestServer::jwks_uri`], as JSON text: the signing key first,
    /// then the one it replaced, if any.
    #[must_use]
    pub fn jwks_json(&self) -> String {
        self.shared.keys().jwks_json()
    }

    /// The key tokens are signed with now (a copy, to sign tokens of your own with it).
    #[must_use]
    pub fn signing_key(&self) -> TestKey {
        self.shared.keys().signing().clone()
    }

    /// The keys of the served key set, the signing key first.
    #[must_use]
    pub fn keys(&self) -> Vec<TestKey> {
        self.shared.keys().all().cloned().collect()
    }

    /// Rotates the signing key as Logto does: a fresh key of `kind` signs from now on, and the
    /// key set serves it and the previous signing key (older ones are dropped). Returns the new
    /// `kid`.
    ///
    /// # Errors
    ///
    /// Generating the key failed.
    pub fn rotate_key(&self, kind: KeyKind) -> io::Result<String> {
        let key = TestKey::generate(kind)?;
        let kid = key.kid().to_owned();
        self.rotate_to(key);
        Ok(kid)
    }

    /// Rotates to `key` (see [`TestServer::rotate_key`]).
    pub fn rotate_to(&self, key: TestKey) {
        self.shared.keys_mut().rotate(key);
    }

    /// How many `GET /oidc/jwks` requests arrived since the start or the last
    /// [`TestServer::reset_log`] (among the last [`MAX_LOGGED_REQUESTS`]).
    #[must_use]
    pub fn jwks_requests(&self) -> usize {
        self.count_gets(server::JWKS_PATH)
    }

    /// How many discovery requests (`GET /oidc/.well-known/…`) arrived since the start or the
    /// last [`TestServer::reset_log`] (among the last [`MAX_LOGGED_REQUESTS`]).
    #[must_use]
    pub fn discovery_requests(&self) -> usize {
        self.shared
            .state()
            .log
            .iter()
            .filter(|r| {
                r.method == http::Method::GET && server::DISCOVERY_PATHS.contains(&r.path.as_str())
            })
            .count()
    }

    fn count_gets(&self, path: &str) -> usize {
        self.shared
            .state()
            .log
            .iter()
            .filter(|r| r.method == http::Method::GET && r.path == path)
            .count()
    }

    /// How many token requests (`POST /oidc/token`) arrived since the start or the last
    /// [`TestServer::reset_log`], faulted ones included.
    #[must_use]
    pub fn token_requests(&self) -> usize {
        self.shared.state().token_requests
    }

    /// The logged requests, oldest first: token requests, JWKS and discovery fetches and
    /// anything else that reached the server.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().log.iter().cloned().collect()
    }

    /// Empties the log and sets the token request counter to zero.
    pub fn reset_log(&self) {
        let mut state = self.shared.state();
        state.log.clear();
        state.token_requests = 0;
    }

    /// Answers the next `times` token requests with `fault`. Faults queued by several calls apply
    /// in order, and before any [`TestServer::inject_when`] rule.
    pub fn inject(&self, fault: Fault, times: usize) {
        if times > 0 {
            self.shared.state().queued.push_back((fault, times));
        }
    }

    /// Answers every token request that `predicate` accepts with `fault`, until
    /// [`TestServer::clear_faults`]. The predicate sees the request as it will be logged
    /// (params decoded, [`RecordedRequest::client_id`] set if authentication succeeded); the
    /// first matching rule wins.
    pub fn inject_when<F>(&self, predicate: F, fault: Fault)
    where
        F: Fn(&RecordedRequest) -> bool + Send + Sync + 'static,
    {
        self.shared.state().rules.push(Rule {
            predicate: Arc::new(predicate),
            fault,
        });
    }

    /// Answers the next `times` Management API requests (under `/api/`) with `fault`. Only
    /// [`Fault::Respond`], [`Fault::Delay`] and [`Fault::DelayThen`] apply there; any other fault
    /// gives the normal answer. A faulted request is still logged.
    pub fn inject_api(&self, fault: Fault, times: usize) {
        if times > 0 {
            self.shared.state().api_queued.push_back((fault, times));
        }
    }

    /// Verifies an access token this server issued, as an API protected by Logto does: its
    /// signature against the served key set ([`TestServer::jwks_json`]: ES384, ES256 or RS256,
    /// the signing key and, after a rotation, the previous one), `iss` the
    /// [`TestServer::issuer`], `aud` exactly `audience`, and `exp` still ahead. Returns its
    /// claims; check the scopes with [`AccessTokenClaims::has_scope`]. For the fake APIs of your
    /// tests.
    ///
    /// # Errors
    ///
    /// [`TokenRejected`] says which check failed.
    pub fn verify_token(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<AccessTokenClaims, TokenRejected> {
        self.shared.verify_token(token, audience)
    }

    /// The Management API's user `id` as it is now (after `PATCH` requests), if it exists.
    #[must_use]
    pub fn user(&self, id: &str) -> Option<serde_json::Value> {
        self.shared
            .management()
            .users
            .iter()
            .find(|u| u.get("id").and_then(serde_json::Value::as_str) == Some(id))
            .cloned()
    }

    /// Removes every queued fault and rule.
    pub fn clear_faults(&self) {
        let mut state = self.shared.state();
        state.api_queued.clear();
        state.queued.clear();
        state.rules.clear();
    }

    /// Overrides the lifetime (`expires_in`, `exp - iat`) of tokens for a resource, or restores
    /// the configured one with `None`. `Some(0)` issues tokens that expire at once.
    pub fn set_resource_ttl(&self, indicator: &str, ttl_secs: Option<u64>) {
        let mut state = self.shared.state();
        match ttl_secs {
            Some(t) => {
                state.ttl.resources.insert(indicator.to_owned(), t);
            }
            None => {
                state.ttl.resources.remove(indicator);
            }
        }
    }

    /// Overrides the lifetime of organization tokens (Logto: 3600 s), or restores it with `None`.
    pub fn set_organization_ttl(&self, ttl_secs: Option<u64>) {
        self.shared.state().ttl.organization = ttl_secs;
    }

    /// How many client connections are open right now.
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Stops the server, closes every connection and waits for its thread; the port is free
    /// when this returns. Dropping the server does the same.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}
