//! One call from credentials to an async token manager on this transport and tokio, and a builder
//! chain for when one value must change.

use std::time::Duration;

use logto_m2m::{
    AppSecret, AsyncTokenManager, CachePolicy, ClientConfig, ConfigError, EnvError, RetryPolicy,
    TokenManagerBuilder, config_from_env,
};
use tokio::runtime::Handle;

use crate::{HyperTransport, HyperTransportBuilder};

/// An async token manager for the Logto `endpoint` and the M2M app's id and secret, on a
/// [`HyperTransport`] with the default timeouts and response cap, and the default policies,
/// refreshing ahead of expiry in tokio tasks and sleeping through backoffs on tokio's timer
/// ([`with_tokio`]). Calls retry and respect their deadline (`RetryPolicy::max_wait`) by default.
/// Call it within a tokio runtime. To change any option, use [`token_manager_builder`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use logto_m2m::TokenParams;
///
/// let manager = logto_m2m_hyper::token_manager("https://my-tenant.logto.app", "app-id", "app-secret")?;
/// let api = manager.source(TokenParams::for_resource("https://api.example.com"))?;
/// let token = api.token().await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// A [`ConfigError`] when the endpoint, id or secret is refused.
pub fn token_manager(
    endpoint: impl Into<String>,
    app_id: impl Into<String>,
    app_secret: impl Into<AppSecret>,
) -> Result<AsyncTokenManager<HyperTransport>, ConfigError> {
    Ok(token_manager_builder(endpoint, app_id, app_secret)?.build())
}

/// An async token manager configured from the environment (every variable is listed at
/// [`logto_m2m::config_from_env`]), on a [`HyperTransport`] with the default timeouts and response
/// cap, and the default policies. To change any of them, use [`token_manager_builder_from_env`].
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_from_env() -> Result<AsyncTokenManager<HyperTransport>, EnvError> {
    Ok(token_manager_builder_from_env()?.build())
}

/// An async token manager for `config` on a [`HyperTransport`] that follows the configuration's
/// plain-`http` choice, with the default timeouts, response cap and policies.
#[must_use]
pub fn token_manager_for(config: ClientConfig) -> AsyncTokenManager<HyperTransport> {
    HyperManagerBuilder::new(config).build()
}

/// Starts an async token manager for the Logto `endpoint` and the M2M app's id and secret, to set
/// the transport's timeouts and response cap and the manager's policies in one chain.
///
/// ```no_run
/// use std::time::Duration;
///
/// use logto_m2m::RetryPolicy;
///
/// let manager = logto_m2m_hyper::token_manager_builder("https://my-tenant.logto.app", "app-id", "app-secret")?
///     .timeout(Duration::from_secs(3))
///     .retry_policy(RetryPolicy::no_retries())
///     .build();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A [`ConfigError`] when the endpoint, id or secret is refused.
pub fn token_manager_builder(
    endpoint: impl Into<String>,
    app_id: impl Into<String>,
    app_secret: impl Into<AppSecret>,
) -> Result<HyperManagerBuilder, ConfigError> {
    let config = ClientConfig::builder(endpoint, app_id, app_secret).build()?;
    Ok(HyperManagerBuilder::new(config))
}

/// As [`token_manager_builder`], configured from the environment (every variable is listed at
/// [`logto_m2m::config_from_env`]).
///
/// # Errors
///
/// An [`EnvError`] naming the variable that is missing or malformed.
pub fn token_manager_builder_from_env() -> Result<HyperManagerBuilder, EnvError> {
    Ok(HyperManagerBuilder::new(config_from_env()?))
}

/// Builds a [`AsyncTokenManager`] on a [`HyperTransport`]: the transport's settings and the
/// manager's policies in one chain. Start from [`token_manager_builder`],
/// [`token_manager_builder_from_env`] or [`HyperManagerBuilder::new`].
#[derive(Debug)]
#[must_use = "call build() to get the manager"]
pub struct HyperManagerBuilder {
    config: ClientConfig,
    transport: HyperTransportBuilder,
    cache_policy: CachePolicy,
    retry_policy: RetryPolicy,
}

impl HyperManagerBuilder {
    /// Starts with `config`, a transport that follows its plain-`http` choice, and the defaults.
    pub fn new(config: ClientConfig) -> Self {
        let transport =
            HyperTransport::builder().allow_insecure_http(config.allows_insecure_http());
        Self {
            config,
            transport,
            cache_policy: CachePolicy::default(),
            retry_policy: RetryPolicy::default(),
        }
    }

    /// How long connecting over TCP may take. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.connect_timeout(timeout);
        self
    }

    /// How long one exchange with the token endpoint may take, from the DNS lookup to the last
    /// body byte. Default: 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.timeout(timeout);
        self
    }

    /// The largest answer accepted from the token endpoint, in bytes. Default: 64 KiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.transport = self.transport.max_response_bytes(bytes);
        self
    }

    /// Any other setting of the transport: `|transport| transport.some_setting(..)`.
    pub fn configure_transport(
        mut self,
        configure: impl FnOnce(HyperTransportBuilder) -> HyperTransportBuilder,
    ) -> Self {
        self.transport = configure(self.transport);
        self
    }

    /// How long one call keeps trying ([`RetryPolicy`]). Default: 3 attempts within 30 s.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// The state machine's policy: margins, refresh point, backoff, key bound ([`CachePolicy`]).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache_policy = policy;
        self
    }

    /// Runs every exchange on this tokio runtime, so that the manager can be awaited from any
    /// executor. Default: the tokio runtime that awaits each call.
    pub fn tokio_handle(mut self, handle: Handle) -> Self {
        self.transport = self.transport.tokio_handle(handle);
        self
    }

    /// Builds the transport and the manager, with tokio hooks ([`with_tokio`]).
    #[must_use]
    pub fn build(self) -> AsyncTokenManager<HyperTransport> {
        let builder = TokenManagerBuilder::new(self.transport.build(), self.config)
            .cache_policy(self.cache_policy)
            .retry_policy(self.retry_policy);
        with_tokio(builder).build_async()
    }
}

/// Sets tokio hooks on a manager builder: refreshes ahead of expiry run as tokio tasks, and calls
/// sleep through backoffs and time out on tokio's timer.
///
/// Called within a tokio runtime, the hooks use that runtime (through its `Handle`), wherever the
/// manager is used later. Called outside any runtime, the manager keeps its runtime-agnostic
/// [`DefaultSleeper`](logto_m2m::DefaultSleeper), and a refresh runs as a task on the runtime the
/// calling task runs on, if any (else it is not started, which the manager says once in a
/// `tracing` warning; the token is then fetched once it is no longer usable): nothing panics for
/// want of a runtime.
pub fn with_tokio<T>(builder: TokenManagerBuilder<T>) -> TokenManagerBuilder<T> {
    match Handle::try_current() {
        Ok(handle) => {
            let spawn_on = handle.clone();
            builder
                .spawner(move |task| {
                    spawn_on.spawn(task);
                })
                .sleeper(move |duration: Duration| {
                    let _runtime = handle.enter();
                    tokio::time::sleep(duration)
                })
        }
        Err(_) => builder.spawner(|task| {
            if let Ok(handle) = Handle::try_current() {
                handle.spawn(task);
            }
        }),
    }
}
