//! `rediss://` against a real redis-server of the test's own that listens with TLS only, its
//! certificate signed by a throwaway CA: every operation through both traits with that CA
//! trusted (`RedisStore::from_url_with_root_certs`), and every operation refused (never a silent
//! success) by a store that does not trust it. Also a TLS-only Cluster
//! (`RedisStore::from_cluster_urls_with_root_certs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use logto_m2m_proto::{LockOwner, SealedEntry, StoreFailure, StoreWrite};
use logto_m2m_redis::redis;
use logto_m2m_redis::{BlockingSharedStore, RedisConfigError, RedisStore, SharedStore, StoreError};
use support::cluster::OwnCluster;
use support::operations::{self, TIMEOUT, lock_name};
use support::tls::ServerCertificates;
use support::{OwnServer, fresh_key, server_binary};

/// What a refused operation may take beyond its timeout (scheduling on a busy machine).
const SLACK: Duration = Duration::from_millis(500);

fn tls_server(test: &str) -> Option<(OwnServer, ServerCertificates)> {
    let binary = server_binary(test)?;
    let certificates = ServerCertificates::generate("logto-m2m test CA");
    let server = OwnServer::start_tls(binary, &certificates, &[]);
    Some((server, certificates))
}

#[test]
fn blocking_operations_over_tls_with_the_servers_ca_trusted() {
    let Some((server, certificates)) = tls_server("blocking_operations_over_tls") else {
        return;
    };
    let url = server.url();
    assert!(url.starts_with("rediss://127.0.0.1:"), "{url}");
    let ca = certificates.ca_pem.as_bytes();
    let store = RedisStore::from_url_with_root_certs(&url, ca).unwrap();
    let writer = RedisStore::from_url_with_root_certs(&url, ca).unwrap();
    let key = fresh_key("tls-blocking");
    operations::blocking(&store, &writer, &key, &mut server.inspect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_operations_over_tls_with_the_servers_ca_trusted() {
    let Some((server, certificates)) = tls_server("async_operations_over_tls") else {
        return;
    };
    let ca = certificates.ca_pem.as_bytes();
    let store = RedisStore::from_url_with_root_certs(&server.url(), ca).unwrap();
    let writer = RedisStore::from_url_with_root_certs(&server.url(), ca).unwrap();
    let key = fresh_key("tls-async");
    operations::asynchronous(&store, &writer, &key, &mut server.inspect()).await;
}

/// Checks that `result` is a failure that says the store is unusable, within the timeout.
fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>, start: Instant, what: &str) {
    let took = start.elapsed();
    assert!(took <= TIMEOUT + SLACK, "{what} took {took:?}");
    let error = result.expect_err(what);
    assert!(
        matches!(
            error.kind,
            StoreFailure::Unavailable | StoreFailure::Refused
        ),
        "{what}: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_the_store_does_not_trust_is_refused() {
    let Some((server, _)) = tls_server("untrusted_server_certificate") else {
        return;
    };
    let url = server.url();
    let other_ca = ServerCertificates::generate("another CA").ca_pem;
    let untrusting = [
        // The webpki roots: the test CA is not among them.
        ("webpki roots", RedisStore::from_url(&url).unwrap()),
        (
            "another CA",
            RedisStore::from_url_with_root_certs(&url, other_ca.as_bytes()).unwrap(),
        ),
    ];
    let key = fresh_key("tls-untrusted");
    let owner = LockOwner::new([0x55; 16]);
    let write = StoreWrite::new(
        key.clone(),
        Some(SealedEntry {
            bytes: b"v".to_vec(),
            ttl: Duration::from_secs(5),
        }),
        Some(owner),
    );
    let ttl = Duration::from_secs(5);
    for (trust, store) in &untrusting {
        let start = Instant::now();
        let result = BlockingSharedStore::read(store, &key, TIMEOUT);
        refused(result, start, &format!("blocking read, {trust}"));
        let start = Instant::now();
        let result = BlockingSharedStore::try_lock(store, &key, &owner, ttl, TIMEOUT);
        refused(result, start, &format!("blocking try_lock, {trust}"));
        let start = Instant::now();
        let result = BlockingSharedStore::write(store, &write, TIMEOUT);
        refused(result, start, &format!("blocking write, {trust}"));
        let start = Instant::now();
        let result = SharedStore::read(store, &key, TIMEOUT).await;
        refused(result, start, &format!("async read, {trust}"));
        let start = Instant::now();
        let result = SharedStore::try_lock(store, &key, &owner, ttl, TIMEOUT).await;
        refused(result, start, &format!("async try_lock, {trust}"));
        let start = Instant::now();
        let result = SharedStore::write(store, &write, TIMEOUT).await;
        refused(result, start, &format!("async write, {trust}"));
    }
    // Nothing reached the server.
    let mut inspect = server.inspect();
    let lock: Option<String> = redis::cmd("GET")
        .arg(lock_name(&key))
        .query(&mut inspect)
        .unwrap();
    assert_eq!(lock, None);
}

#[test]
fn root_certificates_need_a_rediss_url_and_a_certificate() {
    let ca = ServerCertificates::generate("logto-m2m test CA").ca_pem;
    assert!(matches!(
        RedisStore::from_url_with_root_certs("redis://127.0.0.1:6379", ca.as_bytes()),
        Err(RedisConfigError::InvalidUrl(_))
    ));
    assert!(matches!(
        RedisStore::from_cluster_urls_with_root_certs(
            ["rediss://127.0.0.1:7000", "redis://127.0.0.1:7001"],
            ca.as_bytes()
        ),
        Err(RedisConfigError::InvalidUrl(_))
    ));
    for pem in [
        &b""[..],
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        assert!(matches!(
            RedisStore::from_url_with_root_certs("rediss://127.0.0.1:6379", pem),
            Err(RedisConfigError::RootCertificates(_))
        ));
    }
    // Several roots in one bundle are fine.
    let bundle = format!("{ca}{}", ServerCertificates::generate("another CA").ca_pem);
    assert!(
        RedisStore::from_url_with_root_certs("rediss://127.0.0.1:6379", bundle.as_bytes()).is_ok()
    );
}

/// A three-node cluster on TLS with a private CA, a store that knows only its first node, and a
/// writer that knows them all.
fn tls_cluster(binary: &Path) -> (OwnCluster, RedisStore, RedisStore) {
    let certificates = ServerCertificates::generate("logto-m2m test CA");
    let cluster = OwnCluster::start(binary, 3, Some(&certificates));
    let urls = cluster.urls();
    let ca = certificates.ca_pem.as_bytes();
    let store = RedisStore::from_cluster_urls_with_root_certs(urls.iter().take(1), ca).unwrap();
    let writer = RedisStore::from_cluster_urls_with_root_certs(&urls, ca).unwrap();
    (cluster, store, writer)
}

#[test]
fn blocking_operations_on_a_tls_cluster() {
    let Some(binary) = server_binary("blocking_operations_on_a_tls_cluster") else {
        return;
    };
    let (cluster, store, writer) = tls_cluster(&binary);
    let key = cluster.key_off_the_first_node("tls-cluster-blocking");
    operations::blocking(&store, &writer, &key, &mut cluster.inspect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_operations_on_a_tls_cluster() {
    let Some(binary) = server_binary("async_operations_on_a_tls_cluster") else {
        return;
    };
    let (cluster, store, writer) = tls_cluster(&binary);
    let key = cluster.key_off_the_first_node("tls-cluster-async");
    operations::asynchronous(&store, &writer, &key, &mut cluster.inspect()).await;
}
