//! [`RedisStore`]: where the store connects, its key prefix, and what its clones share.

use std::fmt;
use std::sync::{Arc, Once};

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::{Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::asynchronous::AsyncSlot;
use crate::blocking::BlockingPool;
use crate::error::{Redactor, RedisConfigError};
use crate::key_names::{DEFAULT_PREFIX, KeyNames};
use crate::notifications::Notifications;
use crate::root_certificates::RootCertificates;

/// The environment variable [`RedisStore::from_env`] reads the Redis URL from.
pub const REDIS_URL_ENV: &str = "LOGTO_REDIS_URL";

/// A shared token store on Redis (or Valkey): implements both
/// [`BlockingSharedStore`](logto_m2m::BlockingSharedStore) and
/// [`SharedStore`](logto_m2m::SharedStore).
///
/// Building one never touches the network: it connects on its first operation, and connects
/// again on the next operation after a connection breaks (a server restart, say). Clones share
/// their connections and their notification subscriber.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) names: KeyNames,
    pub(crate) target: Arc<Target>,
    pub(crate) blocking: Arc<BlockingPool>,
    pub(crate) asynchronous: Arc<AsyncSlot>,
    pub(crate) notifications: Arc<Notifications>,
}

/// Where the commands go.
pub(crate) struct Target {
    pub(crate) servers: Servers,
    /// Cuts the URLs' credentials out of every error message.
    pub(crate) redactor: Redactor,
    /// Whether any connection uses TLS (`rediss://`).
    tls: bool,
}

// One per store, built once: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Servers {
    /// One server (or a primary behind a proxy).
    Single(Client),
    /// A Redis Cluster, found from its nodes; `nodes` for the notification subscriber, which
    /// listens on any one of them (a Cluster broadcasts `PUBLISH` to every node).
    Cluster {
        client: ClusterClient,
        nodes: Vec<Client>,
    },
}

impl Target {
    /// Makes sure rustls has a crypto provider before a TLS connection is made: redis builds its
    /// TLS configuration from the process default, which is ring here unless the program installed
    /// another one.
    pub(crate) fn prepare_tls(&self) {
        static INSTALL: Once = Once::new();
        if self.tls {
            INSTALL.call_once(|| {
                if rustls::crypto::CryptoProvider::get_default().is_none() {
                    // Another thread may have installed one meanwhile: either way there is one.
                    let _ = rustls::crypto::ring::default_provider().install_default();
                }
            });
        }
    }

    /// The clients the notification subscriber may listen on, in the order to try them.
    pub(crate) fn subscriber_clients(&self) -> Vec<Client> {
        match &self.servers {
            Servers::Single(client) => vec![client.clone()],
            Servers::Cluster { nodes, .. } => nodes.clone(),
        }
    }
}

impl RedisStore {
    /// A store on the server at `url`: `redis://[[user]:password@]host[:port][/db]`,
    /// `rediss://...` for TLS (rustls, with the webpki roots), or `redis+unix:///path` /
    /// `unix:///path`. Nothing is sent until the first operation.
    ///
    /// # Errors
    ///
    /// The URL is not a Redis URL ([`RedisConfigError::InvalidUrl`], which never quotes it).
    pub fn from_url(url: &str) -> Result<Self, RedisConfigError> {
        Self::single(url, None)
    }

    /// A store on the TLS server at `url` (`rediss://host[:port][/db]`, as for
    /// [`from_url`](Self::from_url)) whose certificate is checked against `root_certs_pem`, one or
    /// more PEM certificates (e.g. a private CA's), instead of the webpki roots. The server's
    /// name in the URL (a host name or an IP address) must be one its certificate names.
    ///
    /// # Errors
    ///
    /// The URL is not a `rediss://` URL ([`RedisConfigError::InvalidUrl`]), or `root_certs_pem`
    /// holds no certificate or one that cannot be read ([`RedisConfigError::RootCertificates`]).
    pub fn from_url_with_root_certs(
        url: &str,
        root_certs_pem: &[u8],
    ) -> Result<Self, RedisConfigError> {
        let roots = RootCertificates::from_pem(root_certs_pem)?;
        Self::single(url, Some(&roots))
    }

    fn single(url: &str, roots: Option<&RootCertificates>) -> Result<Self, RedisConfigError> {
        let mut redactor = Redactor::default();
        let info = parse(url, &mut redactor)?;
        let tls = is_tls(&info);
        let client = client(info, roots, &redactor)?;
        Ok(Self::new(Target {
            servers: Servers::Single(client),
            redactor,
            tls,
        }))
    }

    /// A store on the server whose URL is in the `LOGTO_REDIS_URL` environment variable
    /// ([`REDIS_URL_ENV`]), as for [`from_url`](Self::from_url).
    ///
    /// # Errors
    ///
    /// The variable is not set ([`RedisConfigError::MissingEnv`]) or not a Redis URL.
    pub fn from_env() -> Result<Self, RedisConfigError> {
        let url = zeroize::Zeroizing::new(
            std::env::var(REDIS_URL_ENV)
                .map_err(|_| RedisConfigError::MissingEnv(REDIS_URL_ENV))?,
        );
        Self::from_url(&url)
    }

    /// A store on a Redis Cluster, found from the nodes at `urls` (any of its nodes will do; more
    /// than one in case some are down). Each URL is as for [`from_url`](Self::from_url), all of the
    /// same scheme. Nothing is sent until the first operation.
    ///
    /// # Errors
    ///
    /// No URL ([`RedisConfigError::NoClusterNode`]), or one is not a Redis URL.
    pub fn from_cluster_urls<I, S>(urls: I) -> Result<Self, RedisConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::cluster(urls, None)
    }

    /// A store on a Redis Cluster over TLS, found from the nodes at `urls` (`rediss://` URLs, as
    /// for [`from_cluster_urls`](Self::from_cluster_urls)), whose certificates are checked
    /// against `root_certs_pem` as for [`from_url_with_root_certs`](Self::from_url_with_root_certs).
    ///
    /// # Errors
    ///
    /// No URL, one is not a `rediss://` URL, or `root_certs_pem` holds no certificate or one
    /// that cannot be read.
    pub fn from_cluster_urls_with_root_certs<I, S>(
        urls: I,
        root_certs_pem: &[u8],
    ) -> Result<Self, RedisConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let roots = RootCertificates::from_pem(root_certs_pem)?;
        Self::cluster(urls, Some(&roots))
    }

    fn cluster<I, S>(urls: I, roots: Option<&RootCertificates>) -> Result<Self, RedisConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut redactor = Redactor::default();
        let mut infos = Vec::new();
        for url in urls {
            infos.push(parse(url.as_ref(), &mut redactor)?);
        }
        if infos.is_empty() {
            return Err(RedisConfigError::NoClusterNode);
        }
        let tls = infos.iter().any(is_tls);
        let nodes = infos
            .iter()
            .map(|info| client(info.clone(), roots, &redactor))
            .collect::<Result<Vec<_>, _>>()?;
        let mut builder = ClusterClientBuilder::new(infos)
            // Every operation is bounded by its own timeout: no retry may wait past it.
            .retries(1)
            .min_retry_wait(1)
            .max_retry_wait(10);
        if let Some(roots) = roots {
            builder = builder.certs(roots.certificates());
        }
        let client = builder
            .build()
            .map_err(|error| invalid(&redactor, &error))?;
        Ok(Self::new(Target {
            servers: Servers::Cluster { client, nodes },
            redactor,
            tls,
        }))
    }

    fn new(target: Target) -> Self {
        let names = KeyNames::new(DEFAULT_PREFIX);
        let target = Arc::new(target);
        Self {
            notifications: Notifications::new(Arc::clone(&target), names.channel()),
            names,
            blocking: Arc::new(BlockingPool::default()),
            asynchronous: Arc::new(AsyncSlot::default()),
            target,
        }
    }

    /// The same store with every key name (and the notification channel) under `prefix` instead
    /// of `logto-m2m:` ([`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX)); e.g. one prefix per
    /// environment sharing a server. A key's names are `{prefix}{<id>}:entry` and
    /// `{prefix}{<id>}:lock` (the id in a Redis Cluster hash tag, so both share a slot, as long as
    /// the prefix has no `{`), and writes publish on `{prefix}published`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.names = KeyNames::new(prefix);
        self.notifications = Notifications::new(Arc::clone(&self.target), self.names.channel());
        self
    }

    /// The prefix of the store's key names.
    #[must_use]
    pub fn prefix(&self) -> &str {
        self.names.prefix()
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers = match &self.target.servers {
            Servers::Single(_) => "single",
            Servers::Cluster { .. } => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("servers", &servers)
            .field("tls", &self.target.tls)
            .field("prefix", &self.names.prefix())
            .finish_non_exhaustive()
    }
}

/// Parses `url`, first noting its credentials (as written and as decoded) in `redactor`.
fn parse(url: &str, redactor: &mut Redactor) -> Result<ConnectionInfo, RedisConfigError> {
    // The userinfo as written, even if the URL does not parse: what precedes the last '@' of the
    // authority, and each part of it.
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            redactor.add(userinfo);
            for part in userinfo.split(':') {
                redactor.add(part);
            }
        }
    }
    let info = url
        .into_connection_info()
        .map_err(|error| invalid(redactor, &error))?;
    let settings = info.redis_settings();
    if let Some(password) = settings.password() {
        redactor.add(password);
    }
    if let Some(username) = settings.username() {
        redactor.add(username);
    }
    Ok(info)
}

fn invalid(redactor: &Redactor, error: &redis::RedisError) -> RedisConfigError {
    RedisConfigError::InvalidUrl(redactor.clean(&error.to_string()))
}

/// The client of one server, trusting `roots` (which need a `rediss://` URL) if given.
fn client(
    info: ConnectionInfo,
    roots: Option<&RootCertificates>,
    redactor: &Redactor,
) -> Result<Client, RedisConfigError> {
    match roots {
        None => Client::open(info),
        Some(_) if !is_tls(&info) => {
            return Err(RedisConfigError::InvalidUrl(
                "root certificates are for a `rediss://` URL".into(),
            ));
        }
        Some(roots) => Client::build_with_tls(info, roots.certificates()),
    }
    .map_err(|error| invalid(redactor, &error))
}

fn is_tls(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::TcpTls { .. })
}
