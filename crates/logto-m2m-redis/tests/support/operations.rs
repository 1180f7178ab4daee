//! Every operation of a store, through both traits, checked against what the server holds: the
//! run the TLS and Cluster tests make on a store of their kind. `inspect` is a connection of the
//! test's own to the same server (or Cluster).

use std::thread;
use std::time::{Duration, Instant};

use logto_m2m_proto::{LockOwner, SealedEntry, StoreKey, StoreWrite};
use logto_m2m_redis::redis::{self, ConnectionLike, FromRedisValue};
use logto_m2m_redis::{BlockingSharedStore, RedisStore, SharedStore};

use super::fresh_key;

/// The timeout of each operation.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a waiter would wait if no write woke it.
const WAIT: Duration = Duration::from_secs(10);
/// How soon after a write its waiter must be awake.
const WOKEN_WITHIN: Duration = Duration::from_secs(2);
const LOCK_TTL: Duration = Duration::from_secs(10);
const ENTRY_TTL: Duration = Duration::from_secs(5);

pub fn entry_name(key: &StoreKey) -> String {
    format!("logto-m2m:{{{}}}:entry", key.id())
}

pub fn lock_name(key: &StoreKey) -> String {
    format!("logto-m2m:{{{}}}:lock", key.id())
}

fn write_of(key: &StoreKey, entry: Option<&[u8]>, release: Option<LockOwner>) -> StoreWrite {
    let entry = entry.map(|bytes| SealedEntry {
        bytes: bytes.to_vec(),
        ttl: ENTRY_TTL,
    });
    StoreWrite::new(key.clone(), entry, release)
}

fn query<T: FromRedisValue>(inspect: &mut dyn ConnectionLike, command: &str, name: &str) -> T {
    redis::cmd(command).arg(name).query(inspect).unwrap()
}

/// What the server holds for `key`: the entry, the lock's holder, and their PTTLs.
struct Held {
    entry: Option<Vec<u8>>,
    entry_pttl: i64,
    lock: Option<String>,
    lock_pttl: i64,
}

fn held(inspect: &mut dyn ConnectionLike, key: &StoreKey) -> Held {
    Held {
        entry: query(inspect, "GET", &entry_name(key)),
        entry_pttl: query(inspect, "PTTL", &entry_name(key)),
        lock: query(inspect, "GET", &lock_name(key)),
        lock_pttl: query(inspect, "PTTL", &lock_name(key)),
    }
}

/// Waits once so that the store's subscriber is up (its first subscription wakes every waiter),
/// and checks that it came up.
/// `owner` holds the lock, for at most its 10 s.
fn assert_locked_by(inspect: &mut dyn ConnectionLike, key: &StoreKey, owner: LockOwner) {
    let now = held(inspect, key);
    assert_eq!(now.lock, Some(owner.to_hex()));
    assert!(
        now.lock_pttl > 0 && now.lock_pttl <= 10_000,
        "PTTL {}",
        now.lock_pttl
    );
}

/// The entry `v1` is stored with a TTL of its 5 s (less what has passed since), and `owner`'s lock
/// is still held: a write whose release names another owner leaves the lock alone.
fn assert_written_under_lock(inspect: &mut dyn ConnectionLike, key: &StoreKey, owner: LockOwner) {
    let now = held(inspect, key);
    assert_eq!(now.entry.as_deref(), Some(&b"v1"[..]));
    assert!(
        now.entry_pttl > 4_000 && now.entry_pttl <= 5_000,
        "PTTL {}",
        now.entry_pttl
    );
    assert_eq!(now.lock, Some(owner.to_hex()));
}

pub fn warm_up(store: &RedisStore) {
    let start = Instant::now();
    BlockingSharedStore::wait(store, &fresh_key("warm-up"), Duration::from_secs(5)).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the subscriber never subscribed"
    );
}

/// Read, lock, wait and write through [`BlockingSharedStore`], on `key`; `writer` is another
/// store on the same server (another replica), whose write wakes `store`'s waiter.
pub fn blocking(
    store: &RedisStore,
    writer: &RedisStore,
    key: &StoreKey,
    inspect: &mut dyn ConnectionLike,
) {
    let (owner, other) = (LockOwner::new([0x11; 16]), LockOwner::new([0x22; 16]));
    warm_up(store);

    // read: nothing yet.
    let view = BlockingSharedStore::read(store, key, TIMEOUT).unwrap();
    assert_eq!((view.entry, view.locked), (None, false));

    // try_lock: taken once, for its ttl.
    assert!(BlockingSharedStore::try_lock(store, key, &owner, LOCK_TTL, TIMEOUT).unwrap());
    assert!(!BlockingSharedStore::try_lock(store, key, &other, LOCK_TTL, TIMEOUT).unwrap());
    assert_locked_by(inspect, key, owner);
    assert!(
        BlockingSharedStore::read(store, key, TIMEOUT)
            .unwrap()
            .locked
    );

    // wait, woken by a write from another store (another replica) that publishes the entry;
    // that write's release (another owner's) leaves the lock alone.
    let waiter = {
        let (store, key) = (store.clone(), key.clone());
        thread::spawn(move || {
            let start = Instant::now();
            BlockingSharedStore::wait(&store, &key, WAIT).unwrap();
            start.elapsed()
        })
    };
    thread::sleep(Duration::from_millis(300));
    let written = Instant::now();
    BlockingSharedStore::write(writer, &write_of(key, Some(b"v1"), Some(other)), TIMEOUT).unwrap();
    let waited = waiter.join().unwrap();
    assert!(
        written.elapsed() < WOKEN_WITHIN && waited < WAIT,
        "woken {:?} after the write",
        written.elapsed()
    );
    assert_written_under_lock(inspect, key, owner);

    // write with the owner's release: compare-and-delete deletes its lock.
    BlockingSharedStore::write(store, &write_of(key, Some(b"v2"), Some(owner)), TIMEOUT).unwrap();
    let now = held(inspect, key);
    assert_eq!((now.entry.as_deref(), now.lock), (Some(&b"v2"[..]), None));

    // a release alone deletes only the owner's lock and leaves the entry.
    assert!(BlockingSharedStore::try_lock(store, key, &owner, LOCK_TTL, TIMEOUT).unwrap());
    BlockingSharedStore::write(store, &write_of(key, None, Some(owner)), TIMEOUT).unwrap();
    let view = BlockingSharedStore::read(store, key, TIMEOUT).unwrap();
    assert_eq!(
        (view.entry.as_deref(), view.locked),
        (Some(&b"v2"[..]), false)
    );
}

/// Read, lock, wait and write through [`SharedStore`], on `key`, as [`blocking`] (in a
/// multi-threaded runtime).
pub async fn asynchronous(
    store: &RedisStore,
    writer: &RedisStore,
    key: &StoreKey,
    inspect: &mut dyn ConnectionLike,
) {
    let (owner, other) = (LockOwner::new([0x33; 16]), LockOwner::new([0x44; 16]));
    let start = Instant::now();
    SharedStore::wait(store, &fresh_key("warm-up"), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the subscriber never subscribed"
    );

    let view = SharedStore::read(store, key, TIMEOUT).await.unwrap();
    assert_eq!((view.entry, view.locked), (None, false));

    assert!(
        SharedStore::try_lock(store, key, &owner, LOCK_TTL, TIMEOUT)
            .await
            .unwrap()
    );
    assert!(
        !SharedStore::try_lock(store, key, &other, LOCK_TTL, TIMEOUT)
            .await
            .unwrap()
    );
    assert_locked_by(inspect, key, owner);
    assert!(SharedStore::read(store, key, TIMEOUT).await.unwrap().locked);

    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                let start = Instant::now();
                SharedStore::wait(&store, &key, WAIT).await.unwrap();
                start.elapsed()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = Instant::now();
    SharedStore::write(writer, &write_of(key, Some(b"v1"), Some(other)), TIMEOUT)
        .await
        .unwrap();
    for waiter in waiters {
        let waited = waiter.await.unwrap();
        assert!(waited < WAIT, "not woken: waited {waited:?}");
    }
    assert!(
        written.elapsed() < WOKEN_WITHIN,
        "woken {:?} after the write",
        written.elapsed()
    );
    assert_written_under_lock(inspect, key, owner);

    SharedStore::write(store, &write_of(key, Some(b"v2"), Some(owner)), TIMEOUT)
        .await
        .unwrap();
    let now = held(inspect, key);
    assert_eq!((now.entry.as_deref(), now.lock), (Some(&b"v2"[..]), None));

    assert!(
        SharedStore::try_lock(store, key, &owner, LOCK_TTL, TIMEOUT)
            .await
            .unwrap()
    );
    SharedStore::write(store, &write_of(key, None, Some(owner)), TIMEOUT)
        .await
        .unwrap();
    let view = SharedStore::read(store, key, TIMEOUT).await.unwrap();
    assert_eq!(
        (view.entry.as_deref(), view.locked),
        (Some(&b"v2"[..]), false)
    );
}
