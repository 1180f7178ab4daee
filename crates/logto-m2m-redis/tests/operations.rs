//! Each operation of `RedisStore`, blocking and async, against the server of
//! tests/redis/run-with-redis.sh: what it stores, with which time to live, what it publishes, and
//! whose lock it releases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use logto_m2m_proto::{LockOwner, SealedEntry, StoreKey, StoreWrite};
use logto_m2m_redis::redis::Commands;
use logto_m2m_redis::{BlockingSharedStore, RedisStore, SharedStore};
use support::{fresh_key, inspect, shared_url};

const TIMEOUT: Duration = Duration::from_secs(2);

fn write_of(
    key: &StoreKey,
    entry: Option<(&[u8], Duration)>,
    release: Option<LockOwner>,
) -> StoreWrite {
    let entry = entry.map(|(bytes, ttl)| SealedEntry {
        bytes: bytes.to_vec(),
        ttl,
    });
    StoreWrite::new(key.clone(), entry, release)
}

fn entry_name(key: &StoreKey) -> String {
    format!("logto-m2m:{{{}}}:entry", key.id())
}

fn lock_name(key: &StoreKey) -> String {
    format!("logto-m2m:{{{}}}:lock", key.id())
}

#[test]
fn blocking_read_finds_the_entry_and_whether_the_lock_is_held() {
    let Some(url) = shared_url("blocking_read") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    let key = fresh_key("blocking-read");
    let view = BlockingSharedStore::read(&store, &key, TIMEOUT).unwrap();
    assert_eq!((view.entry, view.locked), (None, false));

    let mut redis = inspect(&url);
    let () = redis.set(entry_name(&key), b"sealed\x00bytes").unwrap();
    let () = redis.set(lock_name(&key), "someone").unwrap();
    let view = BlockingSharedStore::read(&store, &key, TIMEOUT).unwrap();
    assert_eq!(view.entry.as_deref(), Some(&b"sealed\x00bytes"[..]));
    assert!(view.locked);
}

#[tokio::test]
async fn async_read_finds_the_entry_and_whether_the_lock_is_held() {
    let Some(url) = shared_url("async_read") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    let key = fresh_key("async-read");
    let view = SharedStore::read(&store, &key, TIMEOUT).await.unwrap();
    assert_eq!((view.entry, view.locked), (None, false));

    let mut redis = inspect(&url);
    let () = redis.set(entry_name(&key), b"sealed").unwrap();
    let view = SharedStore::read(&store, &key, TIMEOUT).await.unwrap();
    assert_eq!(
        (view.entry.as_deref(), view.locked),
        (Some(&b"sealed"[..]), false)
    );
    let () = redis.set(lock_name(&key), "someone").unwrap();
    assert!(
        SharedStore::read(&store, &key, TIMEOUT)
            .await
            .unwrap()
            .locked
    );
}

#[test]
fn blocking_try_lock_takes_a_free_lock_once_for_its_ttl() {
    let Some(url) = shared_url("blocking_try_lock") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    let key = fresh_key("blocking-lock");
    let (first, second) = (LockOwner::new([1; 16]), LockOwner::new([2; 16]));
    let ttl = Duration::from_millis(300);
    assert!(BlockingSharedStore::try_lock(&store, &key, &first, ttl, TIMEOUT).unwrap());
    assert!(!BlockingSharedStore::try_lock(&store, &key, &second, ttl, TIMEOUT).unwrap());

    let mut redis = inspect(&url);
    let value: String = redis.get(lock_name(&key)).unwrap();
    assert_eq!(value, first.to_hex());
    let pttl: i64 = redis.pttl(lock_name(&key)).unwrap();
    assert!(pttl > 0 && pttl <= 300, "PTTL {pttl}");

    thread::sleep(Duration::from_millis(400));
    assert!(BlockingSharedStore::try_lock(&store, &key, &second, ttl, TIMEOUT).unwrap());
    let value: String = redis.get(lock_name(&key)).unwrap();
    assert_eq!(value, second.to_hex());
}

#[tokio::test]
async fn async_try_lock_takes_a_free_lock_once_for_its_ttl() {
    let Some(url) = shared_url("async_try_lock") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    let key = fresh_key("async-lock");
    let (first, second) = (LockOwner::new([3; 16]), LockOwner::new([4; 16]));
    let ttl = Duration::from_millis(300);
    assert!(
        SharedStore::try_lock(&store, &key, &first, ttl, TIMEOUT)
            .await
            .unwrap()
    );
    assert!(
        !SharedStore::try_lock(&store, &key, &second, ttl, TIMEOUT)
            .await
            .unwrap()
    );
    let pttl: i64 = inspect(&url).pttl(lock_name(&key)).unwrap();
    assert!(pttl > 0 && pttl <= 300, "PTTL {pttl}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        SharedStore::try_lock(&store, &key, &second, ttl, TIMEOUT)
            .await
            .unwrap()
    );
}

#[test]
fn a_lock_ttl_under_a_millisecond_still_takes_a_lock_that_expires() {
    let Some(url) = shared_url("sub_millisecond_lock") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    let key = fresh_key("tiny-lock");
    let owner = LockOwner::new([5; 16]);
    assert!(
        BlockingSharedStore::try_lock(&store, &key, &owner, Duration::from_micros(10), TIMEOUT)
            .unwrap()
    );
    thread::sleep(Duration::from_millis(20));
    assert!(
        !BlockingSharedStore::read(&store, &key, TIMEOUT)
            .unwrap()
            .locked
    );
}

/// Subscribes to the store's channel (before a write, to see what it publishes): the payloads
/// of its messages, from a thread that ends with its connection's read timeout after the last.
fn subscriber(url: &str) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    let (ready, subscribed) = mpsc::channel();
    let mut connection = inspect(url);
    thread::spawn(move || {
        let mut pubsub = connection.as_pubsub();
        pubsub
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        pubsub.subscribe("logto-m2m:published").unwrap();
        ready.send(()).unwrap();
        while let Ok(message) = pubsub.get_message() {
            if sender.send(message.get_payload_bytes().to_vec()).is_err() {
                break;
            }
        }
    });
    subscribed.recv_timeout(Duration::from_secs(5)).unwrap();
    receiver
}

/// The next message published for `key` (others' writes are published on the same channel).
fn published(messages: &mpsc::Receiver<Vec<u8>>, key: &StoreKey) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if messages.recv_timeout(left).unwrap() == key.id().as_bytes() {
            return;
        }
    }
    panic!("nothing published for the key");
}

#[test]
fn blocking_write_stores_with_its_ttl_publishes_and_releases_only_its_owners_lock() {
    let Some(url) = shared_url("blocking_write") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    let key = fresh_key("blocking-write");
    let (owner, other) = (LockOwner::new([6; 16]), LockOwner::new([7; 16]));
    let mut redis = inspect(&url);
    let messages = subscriber(&url);

    assert!(BlockingSharedStore::try_lock(&store, &key, &owner, TIMEOUT * 5, TIMEOUT).unwrap());
    // Another owner's release leaves the lock alone; the entry is written all the same.
    let write = write_of(&key, Some((b"v1", Duration::from_secs(5))), Some(other));
    BlockingSharedStore::write(&store, &write, TIMEOUT).unwrap();
    let stored: Vec<u8> = redis.get(entry_name(&key)).unwrap();
    assert_eq!(stored, b"v1");
    let pttl: i64 = redis.pttl(entry_name(&key)).unwrap();
    assert!(pttl > 4_000 && pttl <= 5_000, "PTTL {pttl}");
    published(&messages, &key);
    let holder: String = redis.get(lock_name(&key)).unwrap();
    assert_eq!(holder, owner.to_hex());

    // The owner's release deletes it.
    let write = write_of(&key, Some((b"v2", Duration::from_secs(5))), Some(owner));
    BlockingSharedStore::write(&store, &write, TIMEOUT).unwrap();
    assert!(!redis.exists::<_, bool>(lock_name(&key)).unwrap());
    assert_eq!(redis.get::<_, Vec<u8>>(entry_name(&key)).unwrap(), b"v2");
    published(&messages, &key);

    // A release alone (after a failed token request) deletes only the owner's lock, publishes
    // nothing, and leaves the entry.
    assert!(BlockingSharedStore::try_lock(&store, &key, &owner, TIMEOUT * 5, TIMEOUT).unwrap());
    BlockingSharedStore::write(&store, &write_of(&key, None, Some(owner)), TIMEOUT).unwrap();
    assert!(!redis.exists::<_, bool>(lock_name(&key)).unwrap());
    assert_eq!(redis.get::<_, Vec<u8>>(entry_name(&key)).unwrap(), b"v2");
    let deadline = Instant::now() + Duration::from_millis(300);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok(id) = messages.recv_timeout(left) {
            assert_ne!(id, key.id().as_bytes(), "a release alone published");
        }
    }
}

#[test]
fn an_entry_whose_ttl_rounds_to_zero_is_not_stored() {
    let Some(url) = shared_url("zero_ttl_write") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    let key = fresh_key("zero-ttl");
    let write = write_of(&key, Some((b"v", Duration::from_micros(900))), None);
    BlockingSharedStore::write(&store, &write, TIMEOUT).unwrap();
    assert!(!inspect(&url).exists::<_, bool>(entry_name(&key)).unwrap());
    let owner = LockOwner::new([8; 16]);
    assert!(BlockingSharedStore::try_lock(&store, &key, &owner, TIMEOUT * 5, TIMEOUT).unwrap());
    let write = write_of(&key, Some((b"v", Duration::ZERO)), Some(owner));
    BlockingSharedStore::write(&store, &write, TIMEOUT).unwrap();
    let view = BlockingSharedStore::read(&store, &key, TIMEOUT).unwrap();
    assert_eq!((view.entry, view.locked), (None, false));
}

#[tokio::test]
async fn async_write_stores_with_its_ttl_publishes_and_releases_only_its_owners_lock() {
    let Some(url) = shared_url("async_write") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    let key = fresh_key("async-write");
    let (owner, other) = (LockOwner::new([9; 16]), LockOwner::new([10; 16]));
    let mut redis = inspect(&url);
    let messages = subscriber(&url);

    assert!(
        SharedStore::try_lock(&store, &key, &owner, TIMEOUT * 5, TIMEOUT)
            .await
            .unwrap()
    );
    let write = write_of(&key, Some((b"v1", Duration::from_secs(5))), Some(other));
    SharedStore::write(&store, &write, TIMEOUT).await.unwrap();
    let pttl: i64 = redis.pttl(entry_name(&key)).unwrap();
    assert!(pttl > 4_000 && pttl <= 5_000, "PTTL {pttl}");
    published(&messages, &key);
    assert!(redis.exists::<_, bool>(lock_name(&key)).unwrap());
    let write = write_of(&key, Some((b"v2", Duration::from_secs(5))), Some(owner));
    SharedStore::write(&store, &write, TIMEOUT).await.unwrap();
    assert!(!redis.exists::<_, bool>(lock_name(&key)).unwrap());
    assert_eq!(redis.get::<_, Vec<u8>>(entry_name(&key)).unwrap(), b"v2");
}

/// Waits once so that the store's subscriber is up: its first subscription wakes every waiter.
fn warm_up(store: &RedisStore) {
    let start = Instant::now();
    BlockingSharedStore::wait(store, &fresh_key("warm-up"), Duration::from_secs(3)).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "the subscriber never subscribed"
    );
}

#[test]
fn blocking_wait_wakes_on_a_write_to_its_key_and_otherwise_lasts_its_timeout() {
    let Some(url) = shared_url("blocking_wait") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    warm_up(&store);
    let (key, other_key) = (fresh_key("blocking-wait"), fresh_key("blocking-wait-other"));

    let waiter = {
        let (store, key) = (store.clone(), key.clone());
        thread::spawn(move || {
            let start = Instant::now();
            BlockingSharedStore::wait(&store, &key, Duration::from_secs(10)).unwrap();
            start.elapsed()
        })
    };
    let bystander = {
        thread::spawn(move || {
            let start = Instant::now();
            BlockingSharedStore::wait(&store, &other_key, Duration::from_millis(1_500)).unwrap();
            start.elapsed()
        })
    };
    thread::sleep(Duration::from_millis(300));
    // Another store (another replica) writes the key.
    let writer = RedisStore::from_url(&url).unwrap();
    let written = Instant::now();
    let write = write_of(&key, Some((b"v", Duration::from_secs(5))), None);
    BlockingSharedStore::write(&writer, &write, TIMEOUT).unwrap();
    let waited = waiter.join().unwrap();
    assert!(waited < Duration::from_secs(2), "woken after {waited:?}");
    assert!(written.elapsed() < Duration::from_secs(1));
    // The other key's waiter was not woken by it: it lasted its timeout.
    let waited = bystander.join().unwrap();
    assert!(waited >= Duration::from_millis(1_500), "{waited:?}");
    assert!(waited < Duration::from_millis(2_500), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_wait_wakes_on_a_write_to_its_key_and_otherwise_lasts_its_timeout() {
    let Some(url) = shared_url("async_wait") else {
        return;
    };
    let store = RedisStore::from_url(&url).unwrap();
    let start = Instant::now();
    SharedStore::wait(&store, &fresh_key("warm-up"), Duration::from_secs(3))
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "the subscriber never subscribed"
    );
    let key = fresh_key("async-wait");

    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                let start = Instant::now();
                SharedStore::wait(&store, &key, Duration::from_secs(10))
                    .await
                    .unwrap();
                start.elapsed()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writer = RedisStore::from_url(&url).unwrap();
    let write = write_of(&key, Some((b"v", Duration::from_secs(5))), None);
    SharedStore::write(&writer, &write, TIMEOUT).await.unwrap();
    for waiter in waiters {
        let waited = waiter.await.unwrap();
        assert!(waited < Duration::from_secs(2), "woken after {waited:?}");
    }

    let start = Instant::now();
    SharedStore::wait(
        &store,
        &fresh_key("nobody-writes"),
        Duration::from_millis(400),
    )
    .await
    .unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(1_400),
        "{waited:?}"
    );
}

#[test]
fn stores_under_other_prefixes_do_not_see_each_others_entries() {
    let Some(url) = shared_url("prefixes") else {
        return;
    };
    let a = RedisStore::from_url(&url).unwrap().with_prefix("app-a:");
    let b = RedisStore::from_url(&url).unwrap().with_prefix("app-b:");
    assert_eq!(a.prefix(), "app-a:");
    let key = fresh_key("prefixes");
    let write = write_of(&key, Some((b"a", Duration::from_secs(5))), None);
    BlockingSharedStore::write(&a, &write, TIMEOUT).unwrap();
    assert!(
        BlockingSharedStore::read(&b, &key, TIMEOUT)
            .unwrap()
            .entry
            .is_none()
    );
    assert!(
        BlockingSharedStore::read(&a, &key, TIMEOUT)
            .unwrap()
            .entry
            .is_some()
    );
    let stored: Vec<u8> = inspect(&url)
        .get(format!("app-a:{{{}}}:entry", key.id()))
        .unwrap();
    assert_eq!(stored, b"a");
}
