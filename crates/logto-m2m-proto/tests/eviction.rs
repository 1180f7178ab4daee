//! Room for more keys than `max_keys` (per-organization tokens in a multi-tenant service, say)
//! never costs a key its single flight or its backoff: a busy slot (a request in flight, a backoff
//! running) is never evicted before that is over, the least recently used idle slot goes first,
//! and a new key is refused with `CacheFull` when every slot is busy.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    CachePolicy, Error, ErrorKind, Jitter, Poll, SlotState, TokenCache, TokenParams, TokenRequest,
};

fn request(resource: &str) -> TokenRequest {
    common::request(TokenParams::for_resource(resource))
}

fn answer(status: u16, body: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn token() -> Response<Vec<u8>> {
    answer(
        200,
        r#"{"access_token":"tok","expires_in":3600,"token_type":"Bearer"}"#,
    )
}

fn unavailable() -> Response<Vec<u8>> {
    answer(503, r#"{"error":"temporarily_unavailable"}"#)
}

struct Clock {
    t0: Instant,
    w0: SystemTime,
}

impl Clock {
    fn new() -> Self {
        Self {
            t0: Instant::now(),
            w0: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        }
    }

    fn at(&self, millis: u64) -> (Instant, SystemTime) {
        let d = Duration::from_millis(millis);
        (self.t0 + d, self.w0 + d)
    }
}

fn poll(cache: &mut TokenCache, request: &TokenRequest, clock: &Clock, millis: u64) -> Poll {
    let (now, wall) = clock.at(millis);
    cache.poll(request, now, wall)
}

#[test]
fn a_failing_key_keeps_its_backoff_when_other_keys_need_room() {
    let mut cache = TokenCache::new(CachePolicy::default().with_max_keys(1));
    let clock = Clock::new();
    let failing = request("https://failing.example");
    let Poll::Fetch(fetch) = poll(&mut cache, &failing, &clock, 0) else {
        panic!("fetch")
    };
    let (now, wall) = clock.at(0);
    cache
        .handle_response(fetch.ticket, now, wall, Jitter::NONE, &unavailable())
        .unwrap_err();
    // Other keys come and go while it backs off (1 s): none takes its slot.
    for (i, millis) in [10, 500, 999].into_iter().enumerate() {
        let other = request(&format!("https://tenant-{i}.example"));
        let Poll::Failed { error, retry_at } = poll(&mut cache, &other, &clock, millis) else {
            panic!("room was made by evicting a key in backoff")
        };
        assert!(
            matches!(error, Error::CacheFull { max_keys: 1 }),
            "{error:?}"
        );
        assert_eq!(error.kind(), ErrorKind::Transient);
        assert_eq!(retry_at, clock.at(1000).0);
    }
    // The failing key is not re-requested before its backoff ends...
    assert!(matches!(
        poll(&mut cache, &failing, &clock, 999),
        Poll::Failed { .. }
    ));
    // ...and once it has, another key may take the slot.
    let other = request("https://tenant-late.example");
    assert!(matches!(
        poll(&mut cache, &other, &clock, 1000),
        Poll::Fetch(_)
    ));
    assert_eq!(cache.state(failing.key()), None);
}

#[test]
fn a_key_in_flight_is_fetched_once_when_other_keys_need_room() {
    let mut cache = TokenCache::new(CachePolicy::default().with_max_keys(2));
    let clock = Clock::new();
    let (a, b, c) = (
        request("https://a.example"),
        request("https://b.example"),
        request("https://c.example"),
    );
    let Poll::Fetch(a_fetch) = poll(&mut cache, &a, &clock, 0) else {
        panic!("fetch")
    };
    let Poll::Fetch(_b_fetch) = poll(&mut cache, &b, &clock, 0) else {
        panic!("fetch")
    };
    assert!(matches!(
        poll(&mut cache, &c, &clock, 1),
        Poll::Failed {
            error: Error::CacheFull { .. },
            ..
        }
    ));
    // a is still in flight: its callers wait for it, nobody sends a second request.
    assert!(matches!(
        poll(&mut cache, &a, &clock, 2),
        Poll::Pending { .. }
    ));
    let (now, wall) = clock.at(3);
    cache
        .handle_response(a_fetch.ticket, now, wall, Jitter::NONE, &token())
        .unwrap();
    // a now holds a token with nothing in flight: it is the one that makes room for c.
    assert!(matches!(poll(&mut cache, &c, &clock, 4), Poll::Fetch(_)));
    assert_eq!(cache.state(a.key()), None);
    assert_eq!(cache.state(b.key()), Some(SlotState::Fetching));
    assert_eq!(cache.len(), 2);
}

#[test]
fn the_least_recently_used_idle_key_makes_room_and_busy_keys_are_skipped() {
    let mut cache = TokenCache::new(CachePolicy::default().with_max_keys(3));
    let clock = Clock::new();
    let keys: Vec<TokenRequest> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| request(&format!("https://{k}.example")))
        .collect();
    let [a, b, c, d] = keys.as_slice() else {
        panic!()
    };
    // a fails (oldest, busy), b and c hold tokens (idle).
    for (key, answer) in [(a, unavailable()), (b, token()), (c, token())] {
        let Poll::Fetch(fetch) = poll(&mut cache, key, &clock, 0) else {
            panic!("fetch")
        };
        let (now, wall) = clock.at(0);
        let _ = cache.handle_response(fetch.ticket, now, wall, Jitter::NONE, &answer);
    }
    assert!(matches!(poll(&mut cache, b, &clock, 1), Poll::Ready { .. }));
    // c is now the least recently used idle key.
    assert!(matches!(poll(&mut cache, d, &clock, 2), Poll::Fetch(_)));
    assert_eq!(cache.state(a.key()), Some(SlotState::Failed));
    assert_eq!(cache.state(b.key()), Some(SlotState::Ready));
    assert_eq!(cache.state(c.key()), None);
}

#[test]
fn many_keys_through_a_small_cache_stay_within_the_bound() {
    let mut cache = TokenCache::new(CachePolicy::default().with_max_keys(16));
    let clock = Clock::new();
    for i in 0..2000u64 {
        let key = request(&format!("https://tenant-{i}.example"));
        match poll(&mut cache, &key, &clock, i) {
            Poll::Fetch(fetch) => {
                let (now, wall) = clock.at(i);
                let answer = if i % 3 == 0 { unavailable() } else { token() };
                let _ = cache.handle_response(fetch.ticket, now, wall, Jitter::NONE, &answer);
            }
            Poll::Failed {
                error: Error::CacheFull { .. },
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        assert!(cache.len() <= 16);
    }
}
