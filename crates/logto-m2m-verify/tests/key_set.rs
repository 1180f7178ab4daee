//! The key set state machine, on a synthetic clock, with answers built in the test: no IO.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, SystemTime};

use common::{
    DISCOVERY_URL, ENDPOINT, ISSUER, JWKS_URL, discovery_json, jwks_json, key, ok, status, t0,
};
use logto_m2m_testkit::{KeyKind, TestKey};
use logto_m2m_verify::http::Method;
use logto_m2m_verify::{Fetch, KeySet, KeySetError, KeySetPolicy, Lookup};

const SECOND: Duration = Duration::from_secs(1);

fn key_set() -> KeySet {
    KeySet::new(ENDPOINT, KeySetPolicy::default()).unwrap()
}

/// Runs the first fetch (discovery, then the key set) to a loaded key set with `keys`.
fn loaded(keys: &[&TestKey], now: SystemTime) -> KeySet {
    let mut set = key_set();
    let fetch = set.poll(now).expect("a first fetch");
    answer_both(&mut set, fetch, keys, now);
    set
}

fn answer_both(set: &mut KeySet, discovery: Fetch, keys: &[&TestKey], now: SystemTime) {
    assert_eq!(discovery.request.uri(), DISCOVERY_URL);
    let jwks = set
        .handle_response(discovery.ticket, &ok(discovery_json(ISSUER, JWKS_URL)), now)
        .unwrap()
        .expect("the key set fetch follows discovery");
    answer_jwks(set, jwks, keys, now);
}

fn answer_jwks(set: &mut KeySet, fetch: Fetch, keys: &[&TestKey], now: SystemTime) {
    assert_eq!(fetch.request.method(), Method::GET);
    assert_eq!(fetch.request.uri(), JWKS_URL);
    let next = set
        .handle_response(fetch.ticket, &ok(jwks_json(keys)), now)
        .unwrap();
    assert!(next.is_none());
}

fn expect_fetch(lookup: Lookup) -> Fetch {
    match lookup {
        Lookup::Fetch(fetch) => fetch,
        other => panic!("expected a fetch, got {other:?}"),
    }
}

fn expect_found(lookup: Lookup, kid: &str) -> Option<Fetch> {
    match lookup {
        Lookup::Found { key, refresh } => {
            assert_eq!(key.kid(), kid);
            refresh
        }
        other => panic!("expected the key {kid}, got {other:?}"),
    }
}

#[test]
fn starts_with_discovery_then_the_jwks_uri() {
    let k = key(KeyKind::Es384);
    let mut set = key_set();
    assert!(set.keys().is_none());
    assert_eq!(set.poll_timeout(), None);

    let discovery = expect_fetch(set.lookup(k.kid(), t0()));
    assert_eq!(discovery.request.method(), Method::GET);
    assert_eq!(discovery.request.uri(), DISCOVERY_URL);
    // Single flight: nothing else starts while it is out.
    assert!(set.poll(t0()).is_none());
    assert!(matches!(
        set.lookup(k.kid(), t0()),
        Lookup::Wait { generation: 0 }
    ));

    answer_both(&mut set, discovery, &[&k], t0());
    assert_eq!(set.generation(), 1);
    assert_eq!(set.jwks_uri().unwrap(), JWKS_URL);
    assert_eq!(set.keys().unwrap().len(), 1);
    assert!(expect_found(set.lookup(k.kid(), t0()), k.kid()).is_none());
    assert_eq!(set.poll_timeout(), Some(t0() + Duration::from_secs(600)));
}

#[test]
fn keys_are_refetched_after_their_max_age_and_kept_while_that_fails() {
    let k = key(KeyKind::Es384);
    let mut set = loaded(&[&k], t0());
    let later = t0() + Duration::from_secs(599);
    assert!(expect_found(set.lookup(k.kid(), later), k.kid()).is_none());

    let due = t0() + Duration::from_secs(600);
    let refresh = expect_found(set.lookup(k.kid(), due), k.kid()).expect("a refetch");
    assert_eq!(refresh.request.uri(), JWKS_URL, "no second discovery");
    // While it is in flight the key is still used, with no second fetch.
    assert!(expect_found(set.lookup(k.kid(), due), k.kid()).is_none());
    let error = set
        .handle_response(refresh.ticket, &status(503, "down"), due)
        .unwrap_err();
    assert_eq!(error, KeySetError::Status(503.try_into().unwrap()));
    // Still verifying with the known key while the refetch fails.
    assert!(expect_found(set.lookup(k.kid(), due + SECOND), k.kid()).is_none());
    // The next attempt waits for the cooldown.
    let retry = expect_found(set.lookup(k.kid(), due + 30 * SECOND), k.kid()).expect("a retry");
    answer_jwks(&mut set, retry, &[&k], due + 30 * SECOND);
    assert!(set.last_error().is_none());
}

#[test]
fn an_unknown_kid_asks_for_one_refetch_per_cooldown() {
    let k = key(KeyKind::Es384);
    let mut set = loaded(&[&k], t0());

    // Ten seconds after the load the cooldown (30 s, counted from the last fetch) still runs.
    let early = t0() + 10 * SECOND;
    assert!(matches!(set.lookup("forged", early), Lookup::Unknown));

    let now = t0() + 30 * SECOND;
    let refetch = expect_fetch(set.lookup("forged-1", now));
    assert_eq!(refetch.request.uri(), JWKS_URL);
    // A flood of forged kids while it is in flight: they wait for it, nothing more is sent.
    for i in 0..10_000 {
        let lookup = set.lookup(&format!("forged-{i}"), now + SECOND);
        assert!(matches!(lookup, Lookup::Wait { .. }), "{lookup:?}");
    }
    answer_jwks(&mut set, refetch, &[&k], now + SECOND);
    // And after it, for the rest of the cooldown: refused at once, still nothing sent.
    let mut fetches = 0;
    for i in 0..10_000u32 {
        let at = now + SECOND + Duration::from_millis(u64::from(i) * 2);
        match set.lookup(&format!("flood-{i}"), at) {
            Lookup::Unknown => {}
            Lookup::Fetch(f) => {
                fetches += 1;
                answer_jwks(&mut set, f, &[&k], at);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fetches, 0, "the flood spans 20 s, within the cooldown");
    // The known key kept working throughout.
    assert!(expect_found(set.lookup(k.kid(), now + 20 * SECOND), k.kid()).is_none());

    // A flood over 5 minutes: one fetch per 30 s cooldown, no more.
    let start = now + 30 * SECOND;
    let mut fetches = 0;
    for i in 0..3_000u32 {
        let at = start + Duration::from_millis(u64::from(i) * 100);
        if let Lookup::Fetch(f) = set.lookup(&format!("flood-{i}"), at) {
            fetches += 1;
            answer_jwks(&mut set, f, &[&k], at);
        }
    }
    assert_eq!(fetches, 10, "300 s of flood, one refetch per 30 s");
}

#[test]
fn a_rotation_is_picked_up_by_the_refetch_and_both_keys_verify() {
    let old = key(KeyKind::Es384);
    let new = key(KeyKind::Es384);
    let mut set = loaded(&[&old], t0());

    let now = t0() + 45 * SECOND;
    let refetch = expect_fetch(set.lookup(new.kid(), now));
    // Logto serves the new key and the previous one during a rotation.
    answer_jwks(&mut set, refetch, &[&new, &old], now);
    assert!(expect_found(set.lookup(new.kid(), now), new.kid()).is_none());
    assert!(expect_found(set.lookup(old.kid(), now), old.kid()).is_none());
    assert_eq!(set.keys().unwrap().len(), 2);
}

#[test]
fn a_rotation_to_rsa_is_picked_up() {
    let ec = key(KeyKind::Es384);
    let rsa = key(KeyKind::Rs256);
    let mut set = loaded(&[&ec], t0());
    let now = t0() + 31 * SECOND;
    let refetch = expect_fetch(set.lookup(rsa.kid(), now));
    answer_jwks(&mut set, refetch, &[&rsa, &ec], now);
    let keys = set.keys().unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| k.algorithm().as_str())
            .collect::<Vec<_>>(),
        ["RS256", "ES384"]
    );
}

#[test]
fn without_keys_failures_are_retried_after_the_unavailable_delay() {
    let mut set = key_set();
    let discovery = set.poll(t0()).unwrap();
    set.handle_transport_error(
        discovery.ticket,
        logto_m2m_proto::TransportError::new(
            logto_m2m_proto::TransportErrorKind::Connect,
            std::io::Error::other("refused"),
        ),
    );
    match set.lookup("kid", t0() + SECOND) {
        Lookup::Unavailable(KeySetError::Transport(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(set.poll_timeout(), Some(t0() + 5 * SECOND));
    assert!(set.poll(t0() + 4 * SECOND).is_none());
    let retry = set.poll(t0() + 5 * SECOND).expect("a retry");
    assert_eq!(retry.request.uri(), DISCOVERY_URL);
}

#[test]
fn discovery_must_name_the_issuer_and_a_jwks_uri_on_its_origin() {
    for (issuer, jwks_uri) in [
        ("https://other.logto.app/oidc", JWKS_URL),
        (ISSUER, "https://attacker.example/jwks"),
        (ISSUER, "http://tenant.logto.app/oidc/jwks"),
        (ISSUER, "https://tenant.logto.app:8443/oidc/jwks"),
        (ISSUER, "not a url"),
    ] {
        let mut set = key_set();
        let discovery = set.poll(t0()).unwrap();
        let error = set
            .handle_response(
                discovery.ticket,
                &ok(discovery_json(issuer, jwks_uri)),
                t0(),
            )
            .unwrap_err();
        // Refused by the discovery parser (issuer, origin) or by the key set's own origin check.
        assert!(
            matches!(
                error,
                KeySetError::Discovery(_) | KeySetError::ForeignJwksUri
            ),
            "{issuer} {jwks_uri}: {error}"
        );
        assert!(set.keys().is_none());
        assert!(set.jwks_uri().is_none());
        assert!(!set.is_fetching(t0()));
    }
}

#[test]
fn bad_key_set_documents_are_refused_and_the_old_keys_kept() {
    let k = key(KeyKind::Es384);
    let ten_thousand = {
        let one = k.jwk().to_string();
        let keys = vec![one.as_str(); 10_000].join(",");
        format!(r#"{{"keys":[{keys}]}}"#)
    };
    let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "a".repeat(70_000));
    let nested = format!(
        r#"{{"keys":[{{"kty":{}1{}}}]}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let oct = r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#.to_owned();
    let cases: Vec<(String, KeySetError)> = vec![
        (ten_thousand, KeySetError::TooLarge { limit: 65_536 }),
        (huge, KeySetError::TooLarge { limit: 65_536 }),
        (nested, KeySetError::Malformed),
        ("[]".to_owned(), KeySetError::Malformed),
        (r#"{"keys":{}}"#.to_owned(), KeySetError::Malformed),
        (oct, KeySetError::NoUsableKey),
        (r#"{"keys":[]}"#.to_owned(), KeySetError::NoUsableKey),
    ];
    for (i, (body, expected)) in cases.into_iter().enumerate() {
        let now = t0() + Duration::from_secs(60 * (i as u64 + 1));
        let mut set = loaded(&[&k], t0());
        let refetch = expect_fetch(set.lookup("other", now));
        let error = set
            .handle_response(refetch.ticket, &ok(body), now)
            .unwrap_err();
        assert_eq!(error, expected);
        assert!(expect_found(set.lookup(k.kid(), now), k.kid()).is_none());
    }

    // 10,000 keys within the size limit are refused by the key count.
    let small = r#"{"kty":"EC"}"#;
    let body = format!(r#"{{"keys":[{}]}}"#, vec![small; 10_000].join(","));
    let policy = KeySetPolicy::default().max_document_bytes(1 << 20);
    let mut set = KeySet::new(ENDPOINT, policy).unwrap();
    let discovery = set.poll(t0()).unwrap();
    let jwks = set
        .handle_response(
            discovery.ticket,
            &ok(discovery_json(ISSUER, JWKS_URL)),
            t0(),
        )
        .unwrap()
        .unwrap();
    let error = set
        .handle_response(jwks.ticket, &ok(body), t0())
        .unwrap_err();
    assert_eq!(error, KeySetError::TooManyKeys { limit: 16 });
}

#[test]
fn answers_to_a_stale_ticket_change_nothing() {
    let k = key(KeyKind::Es384);
    let mut set = key_set();
    let first = set.poll(t0()).unwrap();
    // The fetch is lost: after the fetch timeout another one starts.
    assert!(set.is_fetching(t0() + 29 * SECOND));
    assert!(set.poll(t0() + 29 * SECOND).is_none());
    let second = set
        .poll(t0() + 30 * SECOND)
        .expect("the lost fetch is given up");
    assert!(matches!(set.last_error(), Some(KeySetError::Transport(_))));
    let stale = set
        .handle_response(first.ticket, &ok(discovery_json(ISSUER, JWKS_URL)), t0())
        .unwrap();
    assert!(stale.is_none());
    assert!(set.jwks_uri().is_none());
    answer_both(&mut set, second, &[&k], t0() + 30 * SECOND);
    assert_eq!(set.keys().unwrap().len(), 1);
}

#[test]
fn a_cancelled_fetch_frees_the_slot_but_keeps_the_cooldown() {
    let k = key(KeyKind::Es384);
    let mut set = loaded(&[&k], t0());
    let now = t0() + 40 * SECOND;
    let refetch = expect_fetch(set.lookup("new", now));
    let generation = set.generation();
    set.cancel(refetch.ticket);
    assert_eq!(set.generation(), generation + 1);
    assert!(matches!(set.lookup("new", now + SECOND), Lookup::Unknown));
    assert!(matches!(
        set.lookup("new", now + 30 * SECOND),
        Lookup::Fetch(_)
    ));
}

#[test]
fn a_clock_that_goes_back_delays_fetches_by_one_cooldown_at_most() {
    let k = key(KeyKind::Es384);
    let mut set = loaded(&[&k], t0());
    let past = t0() - Duration::from_secs(86_400);
    assert!(matches!(set.lookup("new", past), Lookup::Unknown));
    assert!(matches!(
        set.lookup("new", past + 30 * SECOND),
        Lookup::Fetch(_)
    ));
}

#[test]
fn requests_ask_for_json() {
    let mut set = key_set();
    let discovery = set.poll(t0()).unwrap();
    assert_eq!(discovery.request.headers()["accept"], "application/json");
    let jwks = set
        .handle_response(
            discovery.ticket,
            &ok(discovery_json(ISSUER, JWKS_URL)),
            t0(),
        )
        .unwrap()
        .unwrap();
    assert!(
        jwks.request.headers()["accept"]
            .to_str()
            .unwrap()
            .contains("application/jwk-set+json")
    );
    assert!(jwks.request.body().is_empty());
}

#[test]
fn endpoints_are_checked() {
    assert!(KeySet::new("http://tenant.logto.app", KeySetPolicy::default()).is_err());
    assert!(KeySet::new("not a url", KeySetPolicy::default()).is_err());
    assert!(KeySet::new("http://127.0.0.1:3001", KeySetPolicy::default()).is_ok());
}
