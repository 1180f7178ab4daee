//! A Redis Cluster of a test's own: masters started from the harness's binary, each given an
//! equal range of the 16384 slots, introduced to each other with `CLUSTER MEET`, and ready once
//! every node reports `cluster_state:ok` and knows every other.

use std::path::Path;
use std::time::{Duration, Instant};

use logto_m2m_redis::redis::{self, ConnectionLike};

use logto_m2m_proto::StoreKey;

use super::operations::{entry_name, lock_name};
use super::tls::ServerCertificates;
use super::{OwnServer, free_port, fresh_key};

/// How long the nodes may take to agree that the Cluster is up.
const READY_WITHIN: Duration = Duration::from_secs(15);

const SLOTS: u32 = 16_384;

pub struct OwnCluster {
    pub nodes: Vec<OwnServer>,
    /// The first and last slot of each node, in the order of `nodes`.
    pub ranges: Vec<(u16, u16)>,
}

impl OwnCluster {
    /// Starts `masters` nodes (no replicas) and waits until the Cluster is up; with TLS only
    /// (clients and the Cluster bus alike) if `tls` is given.
    pub fn start(binary: &Path, masters: u32, tls: Option<&ServerCertificates>) -> Self {
        assert!(masters > 0);
        let mut nodes = Vec::new();
        let mut buses = Vec::new();
        for _ in 0..masters {
            // Its own bus port: the default (port + 10000) may be past 65535.
            let bus = free_port().to_string();
            let mut args = vec![
                "--cluster-enabled",
                "yes",
                // Relative to the server's own folder.
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                &bus,
            ];
            nodes.push(match tls {
                None => OwnServer::start(binary.to_owned(), &args),
                Some(certificates) => {
                    args.extend(["--tls-cluster", "yes"]);
                    OwnServer::start_tls(binary.to_owned(), certificates, &args)
                }
            });
            buses.push(bus);
        }
        let slot = |n: u32| u16::try_from(n).unwrap();
        let ranges: Vec<(u16, u16)> = (0..masters)
            .map(|at| {
                (
                    slot(at * SLOTS / masters),
                    slot((at + 1) * SLOTS / masters - 1),
                )
            })
            .collect();
        for (node, (first, last)) in nodes.iter().zip(&ranges) {
            let () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query(&mut node.inspect())
                .unwrap();
        }
        let mut first = nodes.first().unwrap().inspect();
        for (node, bus) in nodes.iter().zip(&buses).skip(1) {
            let () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(node.port)
                .arg(bus)
                .query(&mut first)
                .unwrap();
        }
        let cluster = Self { nodes, ranges };
        cluster.wait_ready(masters);
        cluster
    }

    /// Waits (bounded) until every node says the Cluster is ok and knows all `masters`.
    fn wait_ready(&self, masters: u32) {
        let deadline = Instant::now() + READY_WITHIN;
        let known = format!("cluster_known_nodes:{masters}");
        let mut last = String::new();
        while Instant::now() < deadline {
            let ready = self.nodes.iter().all(|node| {
                last = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut node.inspect())
                    .unwrap_or_default();
                last.contains("cluster_state:ok") && last.lines().any(|line| line.trim() == known)
            });
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the Cluster was not up within {READY_WITHIN:?}; a node's CLUSTER INFO:\n{last}");
    }

    /// The node the store's subscriber listens on when given [`urls`](Self::urls) in order.
    pub fn first(&self) -> &OwnServer {
        self.nodes.first().unwrap()
    }

    /// A fresh key whose entry and lock hash to one slot (checked), served by another node than
    /// the first: a write to it reaches the first node's subscribers over the Cluster bus.
    pub fn key_off_the_first_node(&self, test: &str) -> StoreKey {
        for _ in 0..64 {
            let key = fresh_key(test);
            let slot = self.keyslot(&entry_name(&key));
            assert_eq!(
                slot,
                self.keyslot(&lock_name(&key)),
                "the entry and the lock of a key are in different slots"
            );
            if self.node_of(slot) != 0 {
                return key;
            }
        }
        panic!("64 keys in a row on the first node");
    }

    /// A URL of each node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(OwnServer::url).collect()
    }

    /// A Cluster connection of the test's own (it follows each key to its node).
    pub fn inspect(&self) -> impl ConnectionLike {
        let mut builder = redis::cluster::ClusterClientBuilder::new(self.urls())
            .connection_timeout(Duration::from_secs(5))
            .response_timeout(Duration::from_secs(5));
        if let Some(ca) = self.first().tls_ca() {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.as_bytes().to_vec()),
            });
        }
        builder.build().unwrap().get_connection().unwrap()
    }

    /// The slot of a key name, as the Cluster computes it.
    pub fn keyslot(&self, name: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(name)
            .query(&mut self.first().inspect())
            .unwrap()
    }

    /// The index in `nodes` of the node that serves `slot`.
    pub fn node_of(&self, slot: u16) -> usize {
        self.ranges
            .iter()
            .position(|(first, last)| (*first..=*last).contains(&slot))
            .unwrap()
    }
}
