//! The async side: [`SharedStore`] on one multiplexed connection (or one Redis Cluster
//! connection) per store, opened by the first operation and again after it breaks. Each operation
//! is bounded by its timeout with tokio's timer, so it needs a tokio runtime with the time driver
//! enabled (any flavour); elsewhere operations fail with [`StoreFailure::Unavailable`] rather
//! than panic.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use logto_m2m::{SharedStore, StoreError};
use logto_m2m_proto::{LockOwner, StoreFailure, StoreKey, StoreView, StoreWrite};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterConfig;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::sync::Mutex;

use crate::commands;
use crate::error::{RedisFailure, timed_out};
use crate::notifications::MAX_WAIT;
use crate::store::{RedisStore, Servers, Target};

/// The store's async connection, once opened.
#[derive(Default)]
pub(crate) struct AsyncSlot {
    connection: Mutex<Option<AsyncConnection>>,
}

/// A connection that many operations share at once (commands are pipelined on it).
#[derive(Clone)]
pub(crate) enum AsyncConnection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for AsyncConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

impl AsyncConnection {
    async fn open(target: &Target, timeout: Duration) -> RedisResult<Self> {
        target.prepare_tls();
        Ok(match &target.servers {
            Servers::Single(client) => Self::Single(
                client
                    .get_multiplexed_async_connection_with_config(
                        &AsyncConnectionConfig::new()
                            .set_connection_timeout(Some(timeout))
                            .set_response_timeout(None),
                    )
                    .await?,
            ),
            Servers::Cluster { client, .. } => Self::Cluster(
                client
                    .get_async_connection_with_config(
                        ClusterConfig::new().set_connection_timeout(timeout),
                    )
                    .await?,
            ),
        })
    }
}

impl AsyncSlot {
    /// The open connection, or a new one; and whether it is new.
    async fn get(
        &self,
        target: &Target,
        timeout: Duration,
    ) -> RedisResult<(AsyncConnection, bool)> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok((connection.clone(), false));
        }
        let connection = AsyncConnection::open(target, timeout).await?;
        *slot = Some(connection.clone());
        Ok((connection, true))
    }

    /// Forgets the connection, so the next operation opens another.
    async fn reset(&self) {
        *self.connection.lock().await = None;
    }
}

impl RedisStore {
    /// Runs `op` within `timeout`, on the store's connection. A connection that turns out to be
    /// broken (the server restarted since) is replaced once, within the same time.
    /// Sends `command` and takes its reply, as [`run_async`](Self::run_async) does.
    async fn query(&self, timeout: Duration, command: &Cmd) -> Result<Value, StoreError> {
        self.run_async(timeout, |mut connection| async move {
            command.query_async::<Value>(&mut connection).await
        })
        .await
    }

    async fn run_async<T, F, Fut>(&self, timeout: Duration, op: F) -> Result<T, StoreError>
    where
        F: Fn(AsyncConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(no_runtime());
        }
        let attempts = async {
            let mut retried = false;
            loop {
                let (connection, fresh) = self.asynchronous.get(&self.target, timeout).await?;
                match op(connection).await {
                    Ok(value) => return Ok(value),
                    Err(error) => {
                        if error.is_unrecoverable_error() || error.is_connection_dropped() {
                            self.asynchronous.reset().await;
                        }
                        if fresh || retried || !error.is_connection_dropped() {
                            return Err(error);
                        }
                        retried = true;
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, attempts).await {
            Ok(result) => result.map_err(|error| self.target.redactor.store_error(&error)),
            Err(_) => Err(timed_out()),
        }
    }
}

fn no_runtime() -> StoreError {
    StoreError::new(
        StoreFailure::Unavailable,
        RedisFailure("the async Redis store needs a tokio runtime".into()),
    )
}

#[async_trait]
impl SharedStore for RedisStore {
    async fn read(&self, key: &StoreKey, timeout: Duration) -> Result<StoreView, StoreError> {
        let reply = self
            .query(timeout, &commands::read(&self.names, key))
            .await?;
        commands::read_reply(reply)
    }

    async fn try_lock(
        &self,
        key: &StoreKey,
        owner: &LockOwner,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<bool, StoreError> {
        let command = commands::try_lock(&self.names, key, owner, ttl);
        let reply = self.query(timeout, &command).await?;
        commands::try_lock_reply(&reply)
    }

    async fn write(&self, write: &StoreWrite, timeout: Duration) -> Result<(), StoreError> {
        if commands::write_is_empty(write) {
            return Ok(());
        }
        let invocation = commands::write(&self.names, write);
        let reply = self
            .run_async(timeout, |mut connection| {
                let invocation = &invocation;
                async move { invocation.invoke_async::<Value>(&mut connection).await }
            })
            .await?;
        commands::write_reply(&reply)
    }

    async fn wait(&self, key: &StoreKey, timeout: Duration) -> Result<(), StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(no_runtime());
        }
        let registration = self.notifications.register(key.id())?;
        let _ = tokio::time::timeout(timeout.min(MAX_WAIT), registration.woken()).await;
        Ok(())
    }
}
