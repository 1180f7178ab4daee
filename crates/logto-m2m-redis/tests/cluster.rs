//! `RedisStore::from_cluster_urls` against a real Redis Cluster of the test's own (three
//! masters, started from the harness's redis-server): every operation through both traits, on a
//! key served by another node than the one the store's subscriber listens on, so that the
//! waiters are woken by a `PUBLISH` that crossed the Cluster bus. A key's entry and lock share
//! one slot (`CLUSTER KEYSLOT`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use logto_m2m_redis::RedisStore;
use support::cluster::OwnCluster;
use support::operations;
use support::server_binary;

const MASTERS: u32 = 3;

#[test]
fn blocking_operations_on_a_cluster() {
    let Some(binary) = server_binary("blocking_operations_on_a_cluster") else {
        return;
    };
    let cluster = OwnCluster::start(&binary, MASTERS, None);
    let urls = cluster.urls();
    // The store knows one node and finds the others; the writer knows them all.
    let store = RedisStore::from_cluster_urls(urls.iter().take(1)).unwrap();
    let writer = RedisStore::from_cluster_urls(&urls).unwrap();
    let key = cluster.key_off_the_first_node("cluster-blocking");
    operations::blocking(&store, &writer, &key, &mut cluster.inspect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_operations_on_a_cluster() {
    let Some(binary) = server_binary("async_operations_on_a_cluster") else {
        return;
    };
    let cluster = OwnCluster::start(&binary, MASTERS, None);
    let urls = cluster.urls();
    let store = RedisStore::from_cluster_urls(urls.iter().take(1)).unwrap();
    let writer = RedisStore::from_cluster_urls(&urls).unwrap();
    let key = cluster.key_off_the_first_node("cluster-async");
    operations::asynchronous(&store, &writer, &key, &mut cluster.inspect()).await;
}
