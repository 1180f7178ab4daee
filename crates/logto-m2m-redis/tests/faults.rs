//! `RedisStore` when Redis misbehaves, blocking and async: stopped (SIGSTOP), killed and
//! restarted, out of memory, an address that never answers, nothing listening, a wrong password,
//! replies that are not Redis. Every operation ends within its timeout (plus a small slack), fails
//! with the right kind, works again once the server does, and never quotes a password. The tests
//! that stop, kill or fill a server start their own, so that they never disturb the others.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use logto_m2m_proto::{LockOwner, SealedEntry, StoreFailure, StoreKey, StoreWrite};
use logto_m2m_redis::redis::{self, Commands};
use logto_m2m_redis::{BlockingSharedStore, RedisStore, SharedStore, StoreError};
use support::{OwnServer, free_port, fresh_key, inspect, server_binary, shared_url};

const TIMEOUT: Duration = Duration::from_millis(300);
/// What an operation may take beyond its timeout (scheduling on a busy machine).
const SLACK: Duration = Duration::from_millis(400);

fn entry_write(key: &StoreKey, bytes: usize) -> StoreWrite {
    let entry = SealedEntry {
        bytes: vec![7; bytes],
        ttl: Duration::from_secs(60),
    };
    StoreWrite::new(key.clone(), Some(entry), None)
}

/// Runs `op`, checks it ended within `TIMEOUT` + `SLACK`, and returns its result.
fn bounded<T>(op: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = op();
    let took = start.elapsed();
    assert!(took <= TIMEOUT + SLACK, "took {took:?}");
    result
}

async fn bounded_async<T>(op: impl Future<Output = T>) -> T {
    let start = Instant::now();
    let result = op.await;
    let took = start.elapsed();
    assert!(took <= TIMEOUT + SLACK, "took {took:?}");
    result
}

fn kind<T: std::fmt::Debug>(result: Result<T, StoreError>) -> StoreFailure {
    match result {
        Ok(value) => panic!("expected a failure, got {value:?}"),
        Err(error) => error.kind,
    }
}

/// Every operation of both sides, once: all fail with `expected`, each within its time.
async fn all_fail_with(store: &RedisStore, expected: StoreFailure) {
    let key = fresh_key("fault");
    let owner = LockOwner::new([1; 16]);
    let write = entry_write(&key, 16);
    let blocking = store.clone();
    let (k, w) = (key.clone(), write.clone());
    let kinds = tokio::task::spawn_blocking(move || {
        [
            kind(bounded(|| {
                BlockingSharedStore::read(&blocking, &k, TIMEOUT)
            })),
            kind(bounded(|| {
                BlockingSharedStore::try_lock(&blocking, &k, &owner, TIMEOUT, TIMEOUT)
            })),
            kind(bounded(|| {
                BlockingSharedStore::write(&blocking, &w, TIMEOUT)
            })),
        ]
    })
    .await
    .unwrap();
    assert_eq!(kinds, [expected; 3], "blocking");
    let kinds = [
        kind(bounded_async(SharedStore::read(store, &key, TIMEOUT)).await),
        kind(bounded_async(SharedStore::try_lock(store, &key, &owner, TIMEOUT, TIMEOUT)).await),
        kind(bounded_async(SharedStore::write(store, &write, TIMEOUT)).await),
    ];
    assert_eq!(kinds, [expected; 3], "async");
}

/// Every operation of both sides works (within a generous timeout).
async fn all_work(store: &RedisStore) {
    let generous = Duration::from_secs(2);
    let key = fresh_key("works");
    let owner = LockOwner::new([2; 16]);
    let blocking = store.clone();
    let k = key.clone();
    tokio::task::spawn_blocking(move || {
        BlockingSharedStore::write(&blocking, &entry_write(&k, 16), generous).unwrap();
        assert!(
            BlockingSharedStore::read(&blocking, &k, generous)
                .unwrap()
                .entry
                .is_some()
        );
        assert!(BlockingSharedStore::try_lock(&blocking, &k, &owner, generous, generous).unwrap());
    })
    .await
    .unwrap();
    let key = fresh_key("works");
    SharedStore::write(store, &entry_write(&key, 16), generous)
        .await
        .unwrap();
    assert!(
        SharedStore::read(store, &key, generous)
            .await
            .unwrap()
            .entry
            .is_some()
    );
    assert!(
        SharedStore::try_lock(store, &key, &owner, generous, generous)
            .await
            .unwrap()
    );
}

/// Retries `all_work` for up to 5 s (a server that just came back may still be loading).
async fn works_again(store: &RedisStore) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let key = fresh_key("again");
        let blocking = store.clone();
        let ok_blocking = tokio::task::spawn_blocking(move || {
            BlockingSharedStore::read(&blocking, &key, Duration::from_secs(1)).is_ok()
        })
        .await
        .unwrap();
        let ok_async = SharedStore::read(store, &fresh_key("again"), Duration::from_secs(1))
            .await
            .is_ok();
        if ok_blocking && ok_async {
            break;
        }
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    all_work(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_times_out_in_time_then_recovers() {
    let Some(binary) = server_binary("stopped_server") else {
        return;
    };
    let server = OwnServer::start(binary, &[]);
    let store = RedisStore::from_url(&server.url()).unwrap();
    all_work(&store).await;

    server.pause();
    // On the connections opened before, and on new ones (the kernel still accepts them).
    all_fail_with(&store, StoreFailure::TimedOut).await;
    all_fail_with(
        &RedisStore::from_url(&server.url()).unwrap(),
        StoreFailure::TimedOut,
    )
    .await;
    // A wait lasts its timeout, no more.
    let start = Instant::now();
    SharedStore::wait(&store, &fresh_key("stopped"), TIMEOUT)
        .await
        .unwrap();
    assert!(start.elapsed() <= TIMEOUT + SLACK);

    server.resume();
    works_again(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_unavailable_then_works_again_once_restarted() {
    let Some(binary) = server_binary("killed_server") else {
        return;
    };
    let mut server = OwnServer::start(binary, &[]);
    let store = RedisStore::from_url(&server.url()).unwrap();
    all_work(&store).await;
    // The subscriber is up.
    let start = Instant::now();
    SharedStore::wait(&store, &fresh_key("warm-up"), Duration::from_secs(3))
        .await
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(3));

    server.kill();
    all_fail_with(&store, StoreFailure::Unavailable).await;

    server.restart();
    works_again(&store).await;

    // The subscriber subscribed again: a write wakes a waiter well before its timeout. (A wait
    // may be woken by the new subscription itself; the loop waits again until the entry is there.)
    let key = fresh_key("after-restart");
    let waiter = {
        let (store, key) = (store.clone(), key.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(12);
            loop {
                SharedStore::wait(&store, &key, Duration::from_secs(8))
                    .await
                    .unwrap();
                let view = SharedStore::read(&store, &key, Duration::from_secs(1))
                    .await
                    .unwrap();
                if view.entry.is_some() {
                    return Instant::now();
                }
                assert!(Instant::now() < deadline, "never woken by the write");
            }
        })
    };
    // Time for the subscriber to connect again (it backs off up to 2 s between attempts).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let written = Instant::now();
    SharedStore::write(&store, &entry_write(&key, 16), Duration::from_secs(1))
        .await
        .unwrap();
    let woken = waiter.await.unwrap().saturating_duration_since(written);
    assert!(
        woken < Duration::from_secs(2),
        "woken {woken:?} after the write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_out_of_memory_refuses_writes_and_still_serves_reads() {
    let Some(binary) = server_binary("out_of_memory") else {
        return;
    };
    let server = OwnServer::start(binary, &[]);
    let mut redis = inspect(&server.url());
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query(&mut redis)
        .unwrap();
    let used: String = redis::cmd("INFO").arg("memory").query(&mut redis).unwrap();
    let used: u64 = used
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used + 512 * 1024)
        .query(&mut redis)
        .unwrap();
    let mut full = false;
    for i in 0..64 {
        if redis
            .set::<_, _, ()>(format!("filler:{i}"), vec![0_u8; 64 * 1024])
            .is_err()
        {
            full = true;
            break;
        }
    }
    assert!(full, "the server never ran out of memory");

    let store = RedisStore::from_url(&server.url()).unwrap();
    let key = fresh_key("oom");
    let write = entry_write(&key, 4096);
    let blocking = store.clone();
    let (k, w) = (key.clone(), write.clone());
    tokio::task::spawn_blocking(move || {
        let error = BlockingSharedStore::write(&blocking, &w, TIMEOUT).unwrap_err();
        assert_eq!(error.kind, StoreFailure::Refused, "{error}");
        assert!(
            BlockingSharedStore::read(&blocking, &k, TIMEOUT)
                .unwrap()
                .entry
                .is_none()
        );
    })
    .await
    .unwrap();
    let error = SharedStore::write(&store, &write, TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(error.kind, StoreFailure::Refused, "{error}");
    assert!(
        SharedStore::read(&store, &key, TIMEOUT)
            .await
            .unwrap()
            .entry
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_never_answers_times_out_in_time() {
    if shared_url("never_answers").is_none() {
        return;
    }
    // Connections complete (the kernel accepts them) but nothing ever reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "redis://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let store = RedisStore::from_url(&url).unwrap();
    all_fail_with(&store, StoreFailure::TimedOut).await;
    let start = Instant::now();
    SharedStore::wait(&store, &fresh_key("never"), TIMEOUT)
        .await
        .unwrap();
    assert!(start.elapsed() <= TIMEOUT + SLACK);
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_unavailable_and_no_error_quotes_the_password() {
    if shared_url("nothing_listening").is_none() {
        return;
    }
    let password = "s3cret-Pa55word";
    let url = format!("redis://admin:{password}@127.0.0.1:{}/0", free_port());
    let store = RedisStore::from_url(&url).unwrap();
    assert!(!format!("{store:?}").contains(password));
    all_fail_with(&store, StoreFailure::Unavailable).await;
    let key = fresh_key("password");
    let error = SharedStore::read(&store, &key, TIMEOUT).await.unwrap_err();
    assert_no_secret(&error, &[password, "admin"]);
    let blocking = store.clone();
    let error = tokio::task::spawn_blocking(move || {
        BlockingSharedStore::read(&blocking, &key, TIMEOUT).unwrap_err()
    })
    .await
    .unwrap();
    assert_no_secret(&error, &[password, "admin"]);
    // Nor does a URL that does not parse.
    let error = RedisStore::from_url(&format!("redis://:{password}@[::1/")).unwrap_err();
    assert!(
        !format!("{error} {error:?}").contains(password),
        "{error:?}"
    );
}

fn assert_no_secret(error: &StoreError, secrets: &[&str]) {
    let mut texts = vec![error.to_string(), format!("{error:?}")];
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        texts.push(cause.to_string());
        texts.push(format!("{cause:?}"));
        source = cause.source();
    }
    for text in texts {
        for secret in secrets {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_without_quoting_it() {
    let Some(binary) = server_binary("wrong_password") else {
        return;
    };
    let right = "r1ght-Pa55word";
    let server = OwnServer::start(binary, &["--requirepass", right]);
    let right_store =
        RedisStore::from_url(&format!("redis://:{right}@127.0.0.1:{}", server.port)).unwrap();
    all_work(&right_store).await;

    let wrong = "wr0ng-Pa55word";
    let store =
        RedisStore::from_url(&format!("redis://:{wrong}@127.0.0.1:{}", server.port)).unwrap();
    all_fail_with(&store, StoreFailure::Refused).await;
    let error = SharedStore::read(&store, &fresh_key("wrong"), TIMEOUT)
        .await
        .unwrap_err();
    assert_no_secret(&error, &[wrong, right]);
    let no_password = RedisStore::from_url(&server.url()).unwrap();
    let error = SharedStore::read(&no_password, &fresh_key("none"), TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(error.kind, StoreFailure::Refused);
    assert_no_secret(&error, &[right]);
}

/// A server that answers every chunk it reads with `reply`, whatever was asked.
fn fake_server(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "redis://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buffer = [0_u8; 4096];
                while let Ok(read) = stream.read(&mut buffer) {
                    if read == 0 || stream.write_all(reply).is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_that_are_not_redis_fail_in_time_and_never_panic() {
    if shared_url("not_redis").is_none() {
        return;
    }
    // (reply, whether it can never pass for an answer): `+OK` does answer `SET NX`, `:1` the
    // write script.
    for (reply, never_an_answer) in [
        (&b"%%% not redis at all\r\n"[..], true),
        (b"$99999999\r\nshort\r\n", true),
        (
            b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
            true,
        ),
        (b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n", false),
        (b":1\r\n:1\r\n:1\r\n:1\r\n", false),
    ] {
        let store = RedisStore::from_url(&fake_server(reply)).unwrap();
        let key = fresh_key("fake");
        let owner = LockOwner::new([3; 16]);
        let write = entry_write(&key, 16);
        let blocking = store.clone();
        let (k, w) = (key.clone(), write.clone());
        let results = tokio::task::spawn_blocking(move || {
            [
                bounded(|| BlockingSharedStore::read(&blocking, &k, TIMEOUT)).map(|_| ()),
                bounded(|| BlockingSharedStore::try_lock(&blocking, &k, &owner, TIMEOUT, TIMEOUT))
                    .map(|_| ()),
                bounded(|| BlockingSharedStore::write(&blocking, &w, TIMEOUT)),
            ]
        })
        .await
        .unwrap();
        let async_results = [
            bounded_async(SharedStore::read(&store, &key, TIMEOUT))
                .await
                .map(|_| ()),
            bounded_async(SharedStore::try_lock(
                &store, &key, &owner, TIMEOUT, TIMEOUT,
            ))
            .await
            .map(|_| ()),
            bounded_async(SharedStore::write(&store, &write, TIMEOUT)).await,
        ];
        for result in results.into_iter().chain(async_results) {
            match result {
                Err(error) => assert!(
                    matches!(error.kind, StoreFailure::Refused | StoreFailure::TimedOut),
                    "{error}"
                ),
                Ok(()) => assert!(!never_an_answer, "{reply:?} was taken for an answer"),
            }
        }
    }
}

#[test]
fn building_a_store_never_touches_the_network() {
    let start = Instant::now();
    let store = RedisStore::from_url("redis://192.0.2.1:6379").unwrap();
    let cluster =
        RedisStore::from_cluster_urls(["redis://192.0.2.1:7000", "redis://192.0.2.2:7000"]);
    let tls = RedisStore::from_url("rediss://:pw@192.0.2.1:6380").unwrap();
    assert!(start.elapsed() < Duration::from_millis(100));
    assert!(cluster.is_ok());
    assert!(format!("{tls:?}").contains("tls: true"));
    drop(store);
    assert!(RedisStore::from_cluster_urls(Vec::<String>::new()).is_err());
    assert!(RedisStore::from_url("http://127.0.0.1").is_err());
}
