//! The blocking side: [`BlockingSharedStore`] on a small pool of connections, each operation
//! bounded by its timeout (connect timeout, then read and write timeouts set to what is left).

use std::sync::{Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use logto_m2m::{BlockingSharedStore, StoreError, StoreFailure};
use logto_m2m_proto::{LockOwner, StoreKey, StoreView, StoreWrite};
use redis::cluster::{ClusterConfig, ClusterConnection};
use redis::{Connection, ConnectionLike, RedisResult, Value};

use crate::commands;
use crate::error::timed_out;
use crate::notifications::MAX_WAIT;
use crate::store::{RedisStore, Servers, Target};

/// How many idle connections a store keeps for its blocking operations (more may be open while
/// more threads run operations at once; the extra ones are closed after use).
const MAX_IDLE: usize = 8;

/// The idle connections of the blocking side. Each operation takes one (or opens one), so that no
/// operation ever waits for another's, and puts it back only if the operation succeeded.
#[derive(Default)]
pub(crate) struct BlockingPool {
    idle: Mutex<Vec<BlockingConnection>>,
}

pub(crate) enum BlockingConnection {
    Single(Connection),
    Cluster(Box<ClusterConnection>),
}

impl BlockingConnection {
    fn open(target: &Target, timeout: Duration) -> RedisResult<Self> {
        target.prepare_tls();
        Ok(match &target.servers {
            Servers::Single(client) => Self::Single(client.get_connection_with_timeout(timeout)?),
            Servers::Cluster { client, .. } => Self::Cluster(Box::new(
                client.get_connection_with_config(
                    ClusterConfig::new()
                        .set_connection_timeout(timeout)
                        .set_response_timeout(timeout),
                )?,
            )),
        })
    }

    fn set_timeouts(&self, timeout: Duration) -> RedisResult<()> {
        match self {
            Self::Single(connection) => {
                connection.set_read_timeout(Some(timeout))?;
                connection.set_write_timeout(Some(timeout))
            }
            Self::Cluster(connection) => {
                connection.set_read_timeout(Some(timeout))?;
                connection.set_write_timeout(Some(timeout))
            }
        }
    }

    fn as_dyn(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Self::Single(connection) => connection,
            Self::Cluster(connection) => &mut **connection,
        }
    }
}

impl BlockingPool {
    fn take(&self) -> Option<BlockingConnection> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn give_back(&self, connection: BlockingConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }
}

impl RedisStore {
    /// Runs `op` within `timeout`, whatever the servers do. On one server, the connection's own
    /// timeouts bound it. A blocking Redis Cluster connection gives every node it reaches the
    /// whole timeout, so a node that answers nothing would hold the call about twice as long: there
    /// the operation runs on a thread of its own, and the call returns `TimedOut` at its timeout
    /// while that thread ends by its own timeouts.
    fn run_bounded<T: Send + 'static>(
        &self,
        timeout: Duration,
        op: impl Fn(&mut dyn ConnectionLike) -> RedisResult<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        if !matches!(self.target.servers, Servers::Cluster { .. }) {
            return self.run_blocking(timeout, op);
        }
        let (answer, answered) = mpsc::sync_channel(1);
        let store = self.clone();
        std::thread::Builder::new()
            .name("logto-m2m-redis-op".into())
            .spawn(move || {
                let _ = answer.send(store.run_blocking(timeout, op));
            })
            .map_err(|_| {
                StoreError::message(
                    StoreFailure::Unavailable,
                    "redis: no thread could be started for the operation",
                )
            })?;
        answered
            .recv_timeout(timeout)
            .unwrap_or_else(|_| Err(timed_out()))
    }

    /// Runs `op` on a connection within `timeout`. A pooled connection that turns out to be
    /// broken (the server restarted since) is replaced once, within the same time.
    fn run_blocking<T>(
        &self,
        timeout: Duration,
        op: impl Fn(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let remaining =
            || Some(timeout.saturating_sub(start.elapsed())).filter(|left| !left.is_zero());
        let mut pooled = self.blocking.take();
        loop {
            let reused = pooled.is_some();
            let mut connection = match pooled.take() {
                Some(connection) => connection,
                None => {
                    let left = remaining().ok_or_else(timed_out)?;
                    BlockingConnection::open(&self.target, left)
                        .map_err(|error| self.target.redactor.store_error(&error))?
                }
            };
            let left = remaining().ok_or_else(timed_out)?;
            let result = connection
                .set_timeouts(left)
                .and_then(|()| op(connection.as_dyn()));
            match result {
                Ok(value) => {
                    self.blocking.give_back(connection);
                    return Ok(value);
                }
                // The connection is dropped on any error: it may be out of step with the server.
                Err(error) if reused && error.is_connection_dropped() => {}
                Err(error) => return Err(self.target.redactor.store_error(&error)),
            }
        }
    }
}

impl BlockingSharedStore for RedisStore {
    fn read(&self, key: &StoreKey, timeout: Duration) -> Result<StoreView, StoreError> {
        let cmd = commands::read(&self.names, key);
        let reply = self.run_bounded(timeout, move |connection| cmd.query::<Value>(connection))?;
        commands::read_reply(reply)
    }

    fn try_lock(
        &self,
        key: &StoreKey,
        owner: &LockOwner,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let cmd = commands::try_lock(&self.names, key, owner, ttl);
        let reply = self.run_bounded(timeout, move |connection| cmd.query::<Value>(connection))?;
        commands::try_lock_reply(&reply)
    }

    fn write(&self, write: &StoreWrite, timeout: Duration) -> Result<(), StoreError> {
        if commands::write_is_empty(write) {
            return Ok(());
        }
        let invocation = commands::write(&self.names, write);
        let reply = self.run_bounded(timeout, move |connection| {
            invocation.invoke::<Value>(connection)
        })?;
        commands::write_reply(&reply)
    }

    fn wait(&self, key: &StoreKey, timeout: Duration) -> Result<(), StoreError> {
        let start = Instant::now();
        let registration = self.notifications.register(key.id())?;
        let deadline = start.checked_add(timeout.min(MAX_WAIT)).unwrap_or(start);
        registration.wait_until(deadline);
        Ok(())
    }
}
