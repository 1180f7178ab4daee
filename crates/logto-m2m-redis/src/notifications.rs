//! Waking the replicas' waiters when an entry is published, with one subscriber per store.
//!
//! Each write publishes its key's id on the store's channel (`{prefix}published`). One background
//! thread per [`RedisStore`](crate::RedisStore) (started by the first `wait`, shared by its
//! clones, by every waiter, blocking and async alike) holds one subscribed connection and wakes
//! the waiters of that id. A waiter registers, then sleeps until it is woken or its timeout has
//! passed, whichever comes first: when the subscriber is not connected (the server is down,
//! restarting, or stopped), waits simply last their timeout, which the state machine keeps short
//! (its poll interval), so a missed notification costs one poll at most. When the subscriber
//! (re)subscribes, it wakes every waiter, in case an entry was published meanwhile.
//!
//! The thread notices within [`TICK`] that every clone of its store has been dropped, and ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use event_listener::{Event, EventListener, Listener};
use logto_m2m::StoreError;
use logto_m2m_proto::StoreFailure;
use redis::Client;

use crate::error::RedisFailure;
use crate::store::Target;

/// How long the subscriber blocks on its connection (to connect, or for a message) before it
/// checks whether its store still exists.
const TICK: Duration = Duration::from_millis(500);

/// The longest one wait lasts, whatever its timeout (a longer one is cut to this).
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest pause between two attempts to connect the subscriber.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The waiters of one store, and its subscriber.
pub(crate) struct Notifications {
    waiters: Mutex<HashMap<Box<str>, Slot>>,
    /// Whether the subscriber thread runs.
    started: Mutex<bool>,
    target: Arc<Target>,
    channel: String,
}

/// The waiters of one key.
struct Slot {
    event: Arc<Event>,
    count: usize,
}

/// A waiter's place: its listener, and on drop its removal from the key's slot.
pub(crate) struct Registration<'a> {
    notifications: &'a Notifications,
    id: &'a str,
    listener: Option<EventListener>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        drop(self.listener.take());
        let mut waiters = self.notifications.lock_waiters();
        if let Some(slot) = waiters.get_mut(self.id) {
            slot.count = slot.count.saturating_sub(1);
            if slot.count == 0 {
                waiters.remove(self.id);
            }
        }
    }
}

impl Registration<'_> {
    /// Sleeps until woken or `deadline`, whichever comes first.
    pub(crate) fn wait_until(mut self, deadline: Instant) {
        if let Some(listener) = self.listener.take() {
            let _ = listener.wait_deadline(deadline);
        }
    }

    /// Waits until woken (the caller bounds it).
    pub(crate) async fn woken(mut self) {
        if let Some(listener) = self.listener.take() {
            listener.await;
        }
    }
}

impl Notifications {
    pub(crate) fn new(target: Arc<Target>, channel: String) -> Arc<Self> {
        Arc::new(Self {
            waiters: Mutex::new(HashMap::new()),
            started: Mutex::new(false),
            target,
            channel,
        })
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Slot>> {
        // A panic elsewhere while holding the lock leaves the map consistent (each change is
        // one insert or remove).
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a waiter for the key `id`, starting the subscriber if it is not running.
    ///
    /// # Errors
    ///
    /// The subscriber thread could not be started.
    pub(crate) fn register<'a>(
        self: &'a Arc<Self>,
        id: &'a str,
    ) -> Result<Registration<'a>, StoreError> {
        self.start()?;
        let mut waiters = self.lock_waiters();
        let slot = waiters.entry(id.into()).or_insert_with(|| Slot {
            event: Arc::new(Event::new()),
            count: 0,
        });
        slot.count += 1;
        let listener = slot.event.listen();
        Ok(Registration {
            notifications: self,
            id,
            listener: Some(listener),
        })
    }

    /// Starts the subscriber thread, once.
    fn start(self: &Arc<Self>) -> Result<(), StoreError> {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if *started {
            return Ok(());
        }
        let weak = Arc::downgrade(self);
        let clients = self.target.subscriber_clients();
        let channel = self.channel.clone();
        self.target.prepare_tls();
        thread::Builder::new()
            .name("logto-m2m-redis-subscriber".into())
            .spawn(move || subscribe(&weak, &clients, &channel))
            .map_err(|error| {
                StoreError::new(
                    StoreFailure::Unavailable,
                    RedisFailure(format!("could not start the subscriber thread: {error}")),
                )
            })?;
        *started = true;
        Ok(())
    }

    /// Wakes the waiters of the key whose id was published.
    fn wake(&self, id: &[u8]) {
        let Ok(id) = std::str::from_utf8(id) else {
            return;
        };
        if let Some(slot) = self.lock_waiters().get(id) {
            slot.event.notify(usize::MAX);
        }
    }

    /// Wakes every waiter.
    fn wake_all(&self) {
        for slot in self.lock_waiters().values() {
            slot.event.notify(usize::MAX);
        }
    }
}

/// The subscriber thread: subscribes on one of `clients` in turn, wakes waiters on each message,
/// connects again when the connection breaks, and ends once the store is gone.
fn subscribe(weak: &Weak<Notifications>, clients: &[Client], channel: &str) {
    let mut backoff = Duration::from_millis(50);
    for client in clients.iter().cycle() {
        if weak.strong_count() == 0 {
            return;
        }
        if let Ok(mut connection) = client.get_connection_with_timeout(TICK) {
            let mut pubsub = connection.as_pubsub();
            if pubsub.set_read_timeout(Some(TICK)).is_ok() && pubsub.subscribe(channel).is_ok() {
                backoff = Duration::from_millis(50);
                let Some(notifications) = weak.upgrade() else {
                    return;
                };
                notifications.wake_all();
                drop(notifications);
                loop {
                    match pubsub.get_message() {
                        Ok(message) => {
                            let Some(notifications) = weak.upgrade() else {
                                return;
                            };
                            notifications.wake(message.get_payload_bytes());
                        }
                        Err(error) if error.is_timeout() => {
                            if weak.strong_count() == 0 {
                                return;
                            }
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        // Connect again after a pause, still noticing the store's end within a tick.
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if weak.strong_count() == 0 {
                return;
            }
            thread::sleep(TICK.min(until.saturating_duration_since(Instant::now())));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
