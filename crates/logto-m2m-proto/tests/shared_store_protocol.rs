//! The shared store's protocol in the state machine, driven step by step for several replicas on
//! synthetic clocks against a store simulated in memory: adoption, the lock, waiting, fetching for
//! the fleet, refusals of tampered, foreign and expired entries, store failures and the breaker,
//! refresh ahead across replicas, invalidation, and clock skew.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    BreakerChange, CachePolicy, ClientConfig, EntryRefusal, Jitter, LockOwner, Poll, SharedStep,
    SharedStorePolicy, StoreFailure, StoreKey, StoreNext, StoreOp, StoreView, StoreWrite, Ticket,
    Token, TokenCache, TokenParams, TokenRequest,
};

/// The store, simulated: entries and locks with their expiry (on the shared true clock).
#[derive(Default)]
struct Store {
    entries: HashMap<String, (Vec<u8>, Instant)>,
    locks: HashMap<String, (LockOwner, Instant)>,
}

impl Store {
    fn read(&self, key: &StoreKey, now: Instant) -> StoreView {
        let entry = self
            .entries
            .get(key.id())
            .filter(|(_, until)| now < *until)
            .map(|(bytes, _)| bytes.clone());
        let locked = self
            .locks
            .get(key.id())
            .is_some_and(|(_, until)| now < *until);
        StoreView::new(entry, locked)
    }

    fn try_lock(&mut self, key: &StoreKey, owner: LockOwner, ttl: Duration, now: Instant) -> bool {
        if self
            .locks
            .get(key.id())
            .is_some_and(|(_, until)| now < *until)
        {
            return false;
        }
        self.locks.insert(key.id().to_owned(), (owner, now + ttl));
        true
    }

    fn write(&mut self, write: &StoreWrite, now: Instant) {
        if let Some(entry) = &write.entry {
            self.entries.insert(
                write.key.id().to_owned(),
                (entry.bytes.clone(), now + entry.ttl),
            );
        }
        if let Some(owner) = write.release {
            if self
                .locks
                .get(write.key.id())
                .is_some_and(|(held, _)| *held == owner)
            {
                self.locks.remove(write.key.id());
            }
        }
    }

    /// The one entry there is.
    fn only_entry(&mut self) -> &mut Vec<u8> {
        assert_eq!(self.entries.len(), 1);
        &mut self.entries.values_mut().next().unwrap().0
    }
}

/// One replica: its cache, and how far its wall clock is off the true one.
struct Replica {
    cache: TokenCache,
    request: TokenRequest,
    wall_offset: i64,
    owners: u8,
}

/// The true clock, and the fleet's token endpoint counting its requests.
struct World {
    t0: Instant,
    w0: SystemTime,
    now: Instant,
    store: Store,
    requests: usize,
}

const LIFETIME: u64 = 3600;

fn policy() -> SharedStorePolicy {
    SharedStorePolicy::default()
}

fn token_response(token: &str) -> Response<Vec<u8>> {
    Response::builder()
        .header("content-type", "application/json")
        .body(
            format!(
                r#"{{"access_token":"{token}","expires_in":{LIFETIME},"token_type":"Bearer","scope":"read"}}"#
            )
            .into_bytes(),
        )
        .unwrap()
}

fn error_response() -> Response<Vec<u8>> {
    Response::builder()
        .status(503)
        .header("content-type", "application/json")
        .body(br#"{"error":"temporarily_unavailable"}"#.to_vec())
        .unwrap()
}

impl World {
    fn new() -> Self {
        let t0 = Instant::now();
        Self {
            t0,
            w0: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            now: t0,
            store: Store::default(),
            requests: 0,
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn replica(&self, wall_offset: i64) -> Replica {
        Replica::with_config(&common::config(), wall_offset)
    }

    fn wall(&self, replica: &Replica) -> SystemTime {
        let wall = self.w0 + (self.now - self.t0);
        if replica.wall_offset >= 0 {
            wall + Duration::from_secs(replica.wall_offset.unsigned_abs())
        } else {
            wall - Duration::from_secs(replica.wall_offset.unsigned_abs())
        }
    }

    /// Hands `answer` back for `ticket` and carries out what the flight owes the store.
    fn answer(
        &mut self,
        replica: &mut Replica,
        ticket: Ticket,
        response: &Response<Vec<u8>>,
    ) -> Result<Arc<Token>, logto_m2m_proto::Error> {
        let (now, wall) = (self.now, self.wall(replica));
        let kept = ticket.clone();
        let result = replica
            .cache
            .handle_response(ticket, now, wall, Jitter::NONE, response);
        let token = result.as_deref().ok();
        if let Some(write) =
            replica
                .cache
                .store_write(&kept, token, now, wall, Jitter::NONE, [7; 24])
        {
            self.store.write(&write, now);
        }
        result
    }

    /// Drives a flight that starts with `step` through the store until it adopts a token, sends a
    /// token request (answered at once with `token_value`), or must wait: the outcome, and the
    /// refusals seen on the way.
    /// Drives a flight that waited from its next read of the store (`ticket` and `key` as the
    /// wait left them).
    fn read_again(
        &mut self,
        replica: &mut Replica,
        ticket: Ticket,
        key: StoreKey,
        token_value: &str,
    ) -> (Flight, Vec<EntryRefusal>) {
        let op = StoreOp::Read;
        self.drive(replica, SharedStep { ticket, key, op }, token_value)
    }

    fn drive(
        &mut self,
        replica: &mut Replica,
        step: SharedStep,
        token_value: &str,
    ) -> (Flight, Vec<EntryRefusal>) {
        let SharedStep {
            mut ticket,
            key,
            mut op,
        } = step;
        let mut refused = Vec::new();
        for _ in 0..10 {
            let (now, wall) = (self.now, self.wall(replica));
            let answer = match op {
                StoreOp::Read => {
                    let view = self.store.read(&key, now);
                    replica
                        .cache
                        .handle_store_read(&ticket, now, wall, Jitter::NONE, Ok(view))
                }
                StoreOp::Lock { ttl } => {
                    replica.owners += 1;
                    let owner = LockOwner::new([replica.owners; 16]);
                    let won = self.store.try_lock(&key, owner, ttl, now);
                    replica
                        .cache
                        .handle_store_lock(&ticket, now, wall, Ok(won.then_some(owner)))
                }
                StoreOp::Wait { until } => return (Flight::Waits { ticket, key, until }, refused),
                _ => panic!("unknown op"),
            };
            refused.extend(answer.refused);
            match answer.next {
                StoreNext::Op(next) => op = next,
                StoreNext::Adopted(token) => return (Flight::Adopted(token), refused),
                StoreNext::Fetch(fetch) => {
                    ticket = fetch.ticket;
                    self.requests += 1;
                    let result = self.answer(replica, ticket, &token_response(token_value));
                    return (Flight::Fetched(result.unwrap()), refused);
                }
                StoreNext::Over => return (Flight::Over, refused),
                _ => panic!("unknown next"),
            }
        }
        panic!("the flight did not end within 10 store operations")
    }

    /// Polls `replica` and drives whatever flight it starts.
    fn poll(&mut self, replica: &mut Replica, token_value: &str) -> Outcome {
        let (now, wall) = (self.now, self.wall(replica));
        match replica.cache.poll(&replica.request, now, wall) {
            Poll::Ready { token, .. } => Outcome::Served(token),
            Poll::Shared(step) => {
                let (flight, refused) = self.drive(replica, step, token_value);
                Outcome::Flight(flight, refused)
            }
            Poll::ReadyAndShared { token, step } => {
                let (flight, _) = self.drive(replica, step, token_value);
                Outcome::Refresh(token, flight)
            }
            Poll::Fetch(fetch) => {
                self.requests += 1;
                self.answer(replica, fetch.ticket, &token_response(token_value))
                    .unwrap();
                Outcome::Plain
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

impl Replica {
    fn with_config(config: &ClientConfig, wall_offset: i64) -> Self {
        Self {
            cache: TokenCache::default().with_shared_store(policy()),
            request: TokenRequest::new(
                config,
                TokenParams::for_resource(common::API).scope("read"),
            )
            .unwrap(),
            wall_offset,
            owners: 0,
        }
    }
}

#[derive(Debug)]
enum Flight {
    Adopted(Arc<Token>),
    Fetched(Arc<Token>),
    Waits {
        ticket: Ticket,
        key: StoreKey,
        until: Instant,
    },
    Over,
}

#[derive(Debug)]
enum Outcome {
    Served(Arc<Token>),
    Flight(Flight, Vec<EntryRefusal>),
    Refresh(Arc<Token>, Flight),
    Plain,
}

fn value(token: &Token) -> &str {
    token.access_token().expose_secret()
}

fn fetched(outcome: Outcome) -> Arc<Token> {
    match outcome {
        Outcome::Flight(Flight::Fetched(token), _) => token,
        other => panic!("expected a fetch for the fleet, got {other:?}"),
    }
}

/// The token of a fetch for the fleet that came after the store's entry was refused, for
/// `refusal` alone.
fn fetched_after(refusal: EntryRefusal, outcome: Outcome) -> Arc<Token> {
    match outcome {
        Outcome::Flight(Flight::Fetched(token), refused) => {
            assert_eq!(refused, [refusal]);
            token
        }
        other => panic!("expected a fetch after a refused entry, got {other:?}"),
    }
}

fn adopted(outcome: Outcome) -> Arc<Token> {
    match outcome {
        Outcome::Flight(Flight::Adopted(token), _) => token,
        other => panic!("expected an adoption, got {other:?}"),
    }
}

#[test]
fn the_first_replica_fetches_for_the_fleet_and_the_others_adopt_its_token() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let mut b = world.replica(0);
    let mut c = world.replica(0);

    let token = fetched(world.poll(&mut a, "tok-1"));
    assert_eq!(world.requests, 1);
    assert!(world.store.locks.is_empty(), "the lock was released");
    let entry = &world.store.entries.values().next().unwrap();
    // The store keeps the entry as long as the token is usable: lifetime less the 60 s margin.
    assert_eq!(entry.1, world.now + Duration::from_secs(LIFETIME - 60));

    world.advance(Duration::from_secs(5));
    for replica in [&mut b, &mut c] {
        let adopted = adopted(world.poll(replica, "never"));
        assert_eq!(value(&adopted), value(&token));
        assert_eq!(adopted.granted_scopes().to_wire(), "read");
        // Served from its own cache from then on.
        assert!(matches!(world.poll(replica, "never"), Outcome::Served(_)));
    }
    assert_eq!(world.requests, 1, "one token request for the fleet");
}

#[test]
fn the_entry_reveals_no_token_and_its_key_name_no_part_of_the_token_key() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let _ = fetched(world.poll(&mut a, "tok-secret-value"));
    let (name, (bytes, _)) = world.store.entries.iter().next().unwrap();
    let text = String::from_utf8_lossy(bytes);
    for hidden in [
        "tok-secret-value",
        "read",
        common::API,
        common::APP_ID,
        "127.0.0.1",
    ] {
        assert!(!text.contains(hidden), "the entry shows {hidden}");
        assert!(!name.contains(hidden), "the key name shows {hidden}");
    }
    assert_eq!(name.len(), 64);
    assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn a_replica_that_finds_the_lock_held_waits_for_the_entry_and_adopts_it() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let mut b = world.replica(0);
    let now = world.now;

    // A takes the lock and sends its request; its answer has not come yet.
    let Poll::Shared(step) = a.cache.poll(&a.request, now, world.wall(&a)) else {
        panic!()
    };
    let a_ticket = step.ticket;
    let read = a.cache.handle_store_read(
        &a_ticket,
        now,
        world.wall(&a),
        Jitter::NONE,
        Ok(world.store.read(&step.key, now)),
    );
    assert!(matches!(read.next, StoreNext::Op(StoreOp::Lock { .. })));
    let owner = LockOwner::new([1; 16]);
    assert!(
        world
            .store
            .try_lock(&step.key, owner, policy().lock_ttl, now)
    );
    let StoreNext::Fetch(fetch) = a
        .cache
        .handle_store_lock(&a_ticket, now, world.wall(&a), Ok(Some(owner)))
        .next
    else {
        panic!()
    };

    // B finds no entry and the lock held: it waits, at most the lock's lifetime.
    let Outcome::Flight(Flight::Waits { ticket, key, until }, _) = world.poll(&mut b, "never")
    else {
        panic!()
    };
    assert_eq!(until, now + policy().lock_ttl);

    // A's answer comes and is published; B reads again and adopts it.
    world.advance(Duration::from_millis(300));
    world.requests += 1;
    let token = world
        .answer(&mut a, fetch.ticket, &token_response("tok-a"))
        .unwrap();
    let (flight, _) = world.read_again(&mut b, ticket, key, "never");
    let Flight::Adopted(adopted) = flight else {
        panic!("{flight:?}")
    };
    assert_eq!(value(&adopted), value(&token));
    assert_eq!(world.requests, 1);
}

#[test]
fn once_the_lock_holder_went_quiet_for_the_lock_lifetime_a_waiter_fetches_and_publishes() {
    let mut world = World::new();
    let mut b = world.replica(0);
    let key = StoreKey::of(b.request.key());
    // A replica took the lock and died.
    assert!(
        world
            .store
            .try_lock(&key, LockOwner::new([9; 16]), policy().lock_ttl, world.now)
    );

    let Outcome::Flight(Flight::Waits { ticket, key, until }, _) = world.poll(&mut b, "never")
    else {
        panic!()
    };
    // Still held just before the lock's time: wait again, until the same instant.
    world.advance(policy().lock_ttl - Duration::from_millis(1));
    let (flight, _) = world.read_again(&mut b, ticket.clone(), key.clone(), "never");
    assert!(matches!(flight, Flight::Waits { until: again, .. } if again == until));
    // At the lock's time the store has dropped it: B takes it and fetches.
    world.advance(Duration::from_millis(1));
    let (flight, _) = world.read_again(&mut b, ticket, key, "tok-b");
    assert!(matches!(flight, Flight::Fetched(_)), "{flight:?}");
    assert_eq!(world.requests, 1);
    assert_eq!(world.store.entries.len(), 1, "published for the others");
}

#[test]
fn a_lock_held_past_its_time_without_the_store_dropping_it_still_ends_the_wait_with_a_fetch() {
    let mut world = World::new();
    let mut b = world.replica(0);
    let key = StoreKey::of(b.request.key());
    // A lock that the store keeps far longer than the policy's lifetime (set by someone else).
    assert!(world.store.try_lock(
        &key,
        LockOwner::new([9; 16]),
        Duration::from_secs(3600),
        world.now
    ));
    let Outcome::Flight(Flight::Waits { ticket, key, .. }, _) = world.poll(&mut b, "never") else {
        panic!()
    };
    world.advance(policy().lock_ttl);
    let (flight, _) = world.read_again(&mut b, ticket, key, "tok-b");
    assert!(matches!(flight, Flight::Fetched(_)), "{flight:?}");
    // It publishes without a lock to release.
    assert_eq!(world.store.entries.len(), 1);
}

/// Fetches a token with replica `a`, then lets `tamper` change the stored entry, and returns what
/// replica `b` (with `b_config`) refuses, and that it fetched its own.
fn refusal_after(
    tamper: impl FnOnce(&mut Store, &StoreKey),
    b_config: &ClientConfig,
) -> Vec<EntryRefusal> {
    let mut world = World::new();
    let mut a = world.replica(0);
    let mut b = Replica::with_config(b_config, 0);
    let _ = fetched(world.poll(&mut a, "tok-a"));
    tamper(&mut world.store, &StoreKey::of(b.request.key()));
    match world.poll(&mut b, "tok-b") {
        Outcome::Flight(Flight::Fetched(token), refused) => {
            assert_eq!(value(&token), "tok-b", "a refused entry is never served");
            assert_eq!(world.requests, 2);
            refused
        }
        other => panic!("expected a fetch, got {other:?}"),
    }
}

#[test]
fn tampered_truncated_and_unknown_entries_are_refused_with_their_reason_and_never_served() {
    let config = common::config();
    let flip_last = |store: &mut Store, _: &StoreKey| {
        let entry = store.only_entry();
        let last = entry.len() - 1;
        entry[last] ^= 1;
    };
    assert_eq!(refusal_after(flip_last, &config), [EntryRefusal::Forged]);
    let truncate = |store: &mut Store, _: &StoreKey| store.only_entry().truncate(30);
    assert_eq!(refusal_after(truncate, &config), [EntryRefusal::Malformed]);
    let garbage = |store: &mut Store, _: &StoreKey| {
        *store.only_entry() =
            b"not an entry at all, but long enough to pass the size check of entries".to_vec();
    };
    assert_eq!(refusal_after(garbage, &config), [EntryRefusal::Malformed]);
    let version = |store: &mut Store, _: &StoreKey| store.only_entry()[4] = 2;
    assert_eq!(
        refusal_after(version, &config),
        [EntryRefusal::UnknownVersion]
    );
}

#[test]
fn an_entry_moved_to_another_key_does_not_open() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let _ = fetched(world.poll(&mut a, "tok-a"));
    let other = TokenRequest::new(
        &common::config(),
        TokenParams::for_resource("https://other.example.com").scope("read"),
    )
    .unwrap();
    let mut b = world.replica(0);
    b.request = other;
    let moved = world.store.only_entry().clone();
    world.store.entries.insert(
        StoreKey::of(b.request.key()).id().to_owned(),
        (moved, world.now + Duration::from_secs(60)),
    );
    let token = fetched_after(EntryRefusal::Forged, world.poll(&mut b, "tok-b"));
    assert_eq!(value(&token), "tok-b");
}

#[test]
fn an_entry_written_under_another_app_secret_is_refused_as_other_credentials() {
    let rotated = ClientConfig::builder("http://127.0.0.1:3001", common::APP_ID, "rotated-secret")
        .build()
        .unwrap();
    // The other secret's replica has its own key: copy the entry there, as a rotation's leftover.
    let copy = |store: &mut Store, b_key: &StoreKey| {
        let entry = store.only_entry().clone();
        store.entries.insert(
            b_key.id().to_owned(),
            (entry, Instant::now() + Duration::from_secs(3600)),
        );
    };
    assert_eq!(
        refusal_after(copy, &rotated),
        [EntryRefusal::OtherCredentials]
    );
    // And rotating the secret gives new store keys: the old entries are orphaned.
    let old = TokenRequest::new(&common::config(), TokenParams::for_resource(common::API)).unwrap();
    let new = TokenRequest::new(&rotated, TokenParams::for_resource(common::API)).unwrap();
    assert_ne!(StoreKey::of(old.key()), StoreKey::of(new.key()));
}

#[test]
fn an_entry_past_its_usable_life_is_refused_as_expired() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let _ = fetched(world.poll(&mut a, "tok-a"));
    // The store kept it longer than its TTL (a replica's TTL is not trusted): at 3600 - 60 - 30 s
    // (the skew allowance) it is over for a reader.
    let key = world.store.entries.keys().next().unwrap().clone();
    world.store.entries.get_mut(&key).unwrap().1 = world.now + Duration::from_secs(10 * LIFETIME);
    world.advance(Duration::from_secs(LIFETIME - 90));
    let mut b = world.replica(0);
    let token = fetched_after(EntryRefusal::Expired, world.poll(&mut b, "tok-b"));
    assert_eq!(value(&token), "tok-b");
}

#[test]
fn with_clocks_thirty_seconds_apart_no_replica_uses_a_token_past_its_real_expiry_less_its_margin() {
    for (writer, reader) in [(30, 0), (0, -30), (15, -15), (-30, 0), (0, 30)] {
        let mut world = World::new();
        let mut a = world.replica(writer);
        let mut b = world.replica(reader);
        let token = fetched(world.poll(&mut a, "tok-a"));
        // The true expiry: when the request was sent by the true clock, plus the lifetime.
        let real_expiry = world.now + Duration::from_secs(LIFETIME);
        world.advance(Duration::from_secs(100));
        let adopted = adopted(world.poll(&mut b, "never"));
        assert_eq!(value(&adopted), value(&token));
        let usable_until = adopted.expires_at() - Duration::from_secs(60);
        assert!(
            usable_until <= real_expiry - Duration::from_secs(60),
            "writer {writer:+} s, reader {reader:+} s: usable {:?} past the real expiry less the margin",
            usable_until - (real_expiry - Duration::from_secs(60))
        );
        // And not needlessly short: at most the skew allowance plus the clocks' difference early.
        let early = (real_expiry - Duration::from_secs(60)) - usable_until;
        assert!(early <= Duration::from_secs(60), "{early:?} early");
        // By the reader's own wall clock, too.
        let reader_wall_at_real_expiry = world.wall(&b) + (real_expiry - world.now);
        assert!(adopted.expires_at_wall() <= reader_wall_at_real_expiry + Duration::from_secs(30));
    }
}

#[test]
fn an_entry_that_claims_more_life_than_its_lifetime_is_refused() {
    let mut world = World::new();
    // The writer's clock is two minutes ahead: beyond the 30 s the policy allows.
    let mut a = world.replica(120);
    let mut b = world.replica(0);
    let _ = fetched(world.poll(&mut a, "tok-a"));
    let _ = fetched_after(EntryRefusal::FromTheFuture, world.poll(&mut b, "tok-b"));
}

/// Forgets `replica`'s key and polls it: the start of a new flight.
fn new_flight(world: &World, replica: &mut Replica) -> Poll {
    let (now, wall) = (world.now, world.wall(replica));
    replica.cache.remove(replica.request.key());
    replica.cache.poll(&replica.request, now, wall)
}

/// Hands `result` back as the read of `step`.
fn read(
    world: &World,
    replica: &mut Replica,
    step: &SharedStep,
    result: Result<StoreView, StoreFailure>,
) -> logto_m2m_proto::StoreAnswer {
    let (now, wall) = (world.now, world.wall(replica));
    replica
        .cache
        .handle_store_read(&step.ticket, now, wall, Jitter::NONE, result)
}

#[test]
fn a_store_that_fails_sends_the_flight_to_a_plain_request_and_the_breaker_opens_and_probes() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let mut changes = Vec::new();
    for round in 0..policy().breaker_failures {
        let Poll::Shared(step) = new_flight(&world, &mut a) else {
            panic!("round {round}: the store is still asked")
        };
        let answer = read(&world, &mut a, &step, Err(StoreFailure::TimedOut));
        changes.extend(answer.breaker);
        let StoreNext::Fetch(fetch) = answer.next else {
            panic!()
        };
        // A plain request: nothing owed to the store.
        let (now, wall) = (world.now, world.wall(&a));
        let kept = fetch.ticket.clone();
        let response = token_response("tok");
        let token = a
            .cache
            .handle_response(fetch.ticket, now, wall, Jitter::NONE, &response)
            .unwrap();
        let write = a
            .cache
            .store_write(&kept, Some(&token), now, wall, Jitter::NONE, [1; 24]);
        assert!(write.is_none());
    }
    assert_eq!(changes, [BreakerChange::Opened]);
    assert!(a.cache.store_breaker_open());

    // Open: flights do not ask the store.
    assert!(matches!(new_flight(&world, &mut a), Poll::Fetch(_)));

    // After the open time, one flight probes; it succeeds and the breaker closes.
    world.advance(policy().breaker_open_for);
    let Poll::Shared(step) = new_flight(&world, &mut a) else {
        panic!("the probe")
    };
    let answer = read(&world, &mut a, &step, Ok(StoreView::default()));
    assert_eq!(answer.breaker, Some(BreakerChange::Closed));
    assert!(!a.cache.store_breaker_open());
}

#[test]
fn a_failed_probe_keeps_the_breaker_open_for_another_round() {
    let mut world = World::new();
    let mut a = world.replica(0);
    for _ in 0..policy().breaker_failures {
        let Poll::Shared(step) = new_flight(&world, &mut a) else {
            panic!()
        };
        let _ = read(&world, &mut a, &step, Err(StoreFailure::Unavailable));
    }
    world.advance(policy().breaker_open_for);
    let Poll::Shared(probe) = new_flight(&world, &mut a) else {
        panic!()
    };
    let (now, wall) = (world.now, world.wall(&a));
    let answer = a
        .cache
        .handle_store_lock(&probe.ticket, now, wall, Err(StoreFailure::Refused));
    assert_eq!(answer.breaker, None, "it was open already");
    assert!(a.cache.store_breaker_open());
    assert!(matches!(new_flight(&world, &mut a), Poll::Fetch(_)));
}

#[test]
fn refresh_ahead_is_done_once_for_the_fleet_and_each_replica_adopts_it_at_its_own_refresh_point() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let mut b = world.replica(0);
    let first = fetched(world.poll(&mut a, "tok-1"));
    let _ = adopted(world.poll(&mut b, "never"));

    // At the refresh point (80 % of 3540 s with no jitter), A refreshes for the fleet.
    world.advance(Duration::from_secs(2832));
    let Outcome::Refresh(served, Flight::Fetched(second)) = world.poll(&mut a, "tok-2") else {
        panic!()
    };
    assert_eq!(
        value(&served),
        value(&first),
        "the old token is served meanwhile"
    );
    assert_eq!(value(&second), "tok-2");
    assert_eq!(world.requests, 2);

    // B reaches its refresh point a little later and adopts the newer token.
    world.advance(Duration::from_secs(20));
    let Outcome::Refresh(served, Flight::Adopted(adopted)) = world.poll(&mut b, "never") else {
        panic!()
    };
    assert_eq!(value(&served), value(&first));
    assert_eq!(value(&adopted), "tok-2");
    assert_eq!(world.requests, 2, "one refresh for the fleet");
    assert!(
        matches!(world.poll(&mut b, "never"), Outcome::Served(token) if value(&token) == "tok-2")
    );
}

#[test]
fn a_token_invalidated_after_a_401_is_never_adopted_again() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let token = fetched(world.poll(&mut a, "tok-1"));
    assert!(a.cache.invalidate(a.request.key(), &token, world.now));
    let new = fetched_after(EntryRefusal::Rejected, world.poll(&mut a, "tok-2"));
    assert_eq!(value(&new), "tok-2");
    // The others adopt the new one.
    let mut b = world.replica(0);
    assert_eq!(value(&adopted(world.poll(&mut b, "never"))), "tok-2");
}

#[test]
fn a_token_invalidated_after_a_401_is_not_adopted_again_after_its_slot_was_evicted() {
    let mut world = World::new();
    let mut a = world.replica(0);
    a.cache = TokenCache::new(CachePolicy::default().with_max_keys(1)).with_shared_store(policy());
    let token = fetched(world.poll(&mut a, "tok-1"));
    assert!(a.cache.invalidate(a.request.key(), &token, world.now));
    // Another key takes the only slot: the first key's slot is evicted.
    let other = TokenRequest::new(
        &common::config(),
        TokenParams::for_resource("https://other.example.com"),
    )
    .unwrap();
    let (now, wall) = (world.now, world.wall(&a));
    assert!(matches!(a.cache.poll(&other, now, wall), Poll::Shared(_)));
    a.cache.remove(other.key());
    let new = fetched_after(EntryRefusal::Rejected, world.poll(&mut a, "tok-2"));
    assert_eq!(value(&new), "tok-2");
}

#[test]
fn an_entry_older_than_a_token_refused_by_the_resource_server_is_not_adopted() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let mut b = world.replica(0);
    let _first = fetched(world.poll(&mut a, "tok-1"));
    let old_entry = world.store.only_entry().clone();
    // B gets a newer token of its own (the store lost the entry), and a 401 for it.
    world.store.entries.clear();
    world.advance(Duration::from_secs(10));
    let newer = fetched(world.poll(&mut b, "tok-2"));
    assert!(b.cache.invalidate(b.request.key(), &newer, world.now));
    // The older entry comes back (a replay): B does not adopt it either.
    let name = world.store.entries.keys().next().unwrap().clone();
    world
        .store
        .entries
        .insert(name, (old_entry, world.now + Duration::from_secs(60)));
    let token = fetched_after(EntryRefusal::Rejected, world.poll(&mut b, "tok-3"));
    assert_eq!(value(&token), "tok-3");
}

#[test]
fn a_failed_token_request_of_the_lock_holder_releases_the_lock_and_publishes_nothing() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let (now, wall) = (world.now, world.wall(&a));
    let Poll::Shared(step) = a.cache.poll(&a.request, now, wall) else {
        panic!()
    };
    let _ = read(&world, &mut a, &step, Ok(StoreView::default()));
    let owner = LockOwner::new([3; 16]);
    assert!(
        world
            .store
            .try_lock(&step.key, owner, policy().lock_ttl, now)
    );
    let StoreNext::Fetch(fetch) = a
        .cache
        .handle_store_lock(&step.ticket, now, wall, Ok(Some(owner)))
        .next
    else {
        panic!()
    };
    let kept = fetch.ticket.clone();
    assert!(
        a.cache
            .handle_response(fetch.ticket, now, wall, Jitter::NONE, &error_response())
            .is_err()
    );
    let write = a
        .cache
        .store_write(&kept, None, now, wall, Jitter::NONE, [2; 24])
        .unwrap();
    assert_eq!(write.entry, None);
    assert_eq!(write.release, Some(owner));
    world.store.write(&write, now);
    assert!(world.store.locks.is_empty());
    assert!(world.store.entries.is_empty());
}

#[test]
fn a_store_result_for_a_cancelled_flight_changes_nothing() {
    let world = World::new();
    let mut a = world.replica(0);
    let (now, wall) = (world.now, world.wall(&a));
    let Poll::Shared(step) = a.cache.poll(&a.request, now, wall) else {
        panic!()
    };
    a.cache.cancel(step.ticket.clone(), now);
    let answer = read(&world, &mut a, &step, Ok(StoreView::default()));
    assert!(matches!(answer.next, StoreNext::Over));
    // The next poll starts a new flight.
    assert!(matches!(
        a.cache.poll(&a.request, now, wall),
        Poll::Shared(_)
    ));
}

#[test]
fn the_wall_clock_jumping_past_an_adopted_tokens_expiry_ends_it() {
    let mut world = World::new();
    let mut a = world.replica(0);
    let mut b = world.replica(0);
    let _ = fetched(world.poll(&mut a, "tok-1"));
    let _ = adopted(world.poll(&mut b, "never"));
    // B's machine sleeps two hours: its monotonic clock stands still, its wall clock does not.
    b.wall_offset += 2 * 3600;
    // A's entry is over too by B's clock: refused, and B fetches.
    let token = fetched_after(EntryRefusal::Expired, world.poll(&mut b, "tok-2"));
    assert_eq!(value(&token), "tok-2");
}
