//! The blocking verifier on the ureq transport, against the testkit's Logto-compatible server
//! on loopback: key set fetches counted on the server, rotations, forged kid floods.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use common::{ShiftedClock, issued_token};
use logto_m2m::TokenParams;
use logto_m2m_testkit::{Config, KeyKind, TestKey, TestServer, defaults};
use logto_m2m_ureq::UreqTransport;
use logto_m2m_verify::http::{HeaderValue, StatusCode};
use logto_m2m_verify::{
    Audience, BlockingVerifier, InvalidToken, KeySetError, RequiredScopes, VerifyError,
};
use serde_json::json;

fn verifier(server: &TestServer, clock: &ShiftedClock) -> BlockingVerifier<UreqTransport> {
    BlockingVerifier::new(
        UreqTransport::new(),
        server.endpoint(),
        Audience::Resource(defaults::RESOURCE.to_owned()),
    )
    .unwrap()
    .with_clock(clock.reader())
}

fn api_token(server: &TestServer) -> String {
    issued_token(
        server,
        TokenParams::for_resource(defaults::RESOURCE).scopes(["read:items", "write:items"]),
    )
}

/// A token signed by a key the server never had, under `kid`.
fn forged(server: &TestServer, stranger: &TestKey, kid: &str) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    stranger
        .sign_with_header(
            &json!({"alg":"ES384","typ":"at+jwt","kid":kid}),
            &json!({"sub":"x","iss":server.issuer(),"aud":defaults::RESOURCE,"iat":now,"exp":now+60}),
        )
        .unwrap()
}

#[test]
fn testkit_tokens_verify_after_one_discovery_and_one_key_set_fetch() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let verifier = verifier(&server, &clock);
    let token = api_token(&server);

    let verified = verifier
        .verify(&token, &RequiredScopes::all(["read:items"]))
        .unwrap();
    assert_eq!(verified.subject(), defaults::APP_ID);
    assert_eq!(verified.client_id(), Some(defaults::APP_ID));
    assert_eq!(verified.scopes(), ["read:items", "write:items"]);
    assert_eq!(verified.key_id(), server.kid());
    assert_eq!(
        (server.discovery_requests(), server.jwks_requests()),
        (1, 1)
    );

    for _ in 0..20 {
        verifier.verify(&token, &RequiredScopes::none()).unwrap();
    }
    let missing = verifier
        .verify(&token, &RequiredScopes::all(["delete:items"]))
        .unwrap_err();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        (server.discovery_requests(), server.jwks_requests()),
        (1, 1)
    );

    // After the max age (10 min) one refetch, and the token still verifies meanwhile.
    clock.advance(Duration::from_secs(601));
    verifier.verify(&token, &RequiredScopes::none()).unwrap();
    verifier.verify(&token, &RequiredScopes::none()).unwrap();
    assert_eq!(
        (server.discovery_requests(), server.jwks_requests()),
        (1, 2)
    );
}

#[test]
fn tokens_from_before_and_after_a_rotation_verify() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let verifier = verifier(&server, &clock);
    let before = api_token(&server);
    verifier.verify(&before, &RequiredScopes::none()).unwrap();

    let new_kid = server.rotate_key(KeyKind::Es384).unwrap();
    let after = api_token(&server);
    // Within the cooldown after the last fetch, the new key is not fetched yet.
    assert_eq!(
        verifier
            .verify(&after, &RequiredScopes::none())
            .unwrap_err(),
        VerifyError::InvalidToken(InvalidToken::UnknownKey)
    );
    assert_eq!(server.jwks_requests(), 1);

    clock.advance(Duration::from_secs(31));
    assert_eq!(
        verifier
            .verify(&after, &RequiredScopes::none())
            .unwrap()
            .key_id(),
        new_kid
    );
    verifier.verify(&before, &RequiredScopes::none()).unwrap();
    assert_eq!(server.jwks_requests(), 2, "one refetch for the new kid");

    // A second rotation, to RSA: the oldest key leaves the set.
    server.rotate_key(KeyKind::Rs256).unwrap();
    let rsa = api_token(&server);
    clock.advance(Duration::from_secs(31));
    let verified = verifier.verify(&rsa, &RequiredScopes::none()).unwrap();
    assert_eq!(verified.algorithm().as_str(), "RS256");
    verifier.verify(&after, &RequiredScopes::none()).unwrap();
    assert_eq!(
        verifier
            .verify(&before, &RequiredScopes::none())
            .unwrap_err(),
        VerifyError::InvalidToken(InvalidToken::UnknownKey)
    );
    assert_eq!(server.jwks_requests(), 3);
}

#[test]
fn an_rsa_tenant_verifies() {
    let key = TestKey::generate(KeyKind::Rs256).unwrap();
    let server = TestServer::start_with_key(Config::logto_default(), key).unwrap();
    let clock = ShiftedClock::default();
    let verified = verifier(&server, &clock)
        .verify(&api_token(&server), &RequiredScopes::all(["write:items"]))
        .unwrap();
    assert_eq!(verified.algorithm().as_str(), "RS256");
}

#[test]
fn a_forged_kid_flood_sends_one_key_set_request_per_cooldown() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let verifier = Arc::new(verifier(&server, &clock));
    let genuine = api_token(&server);
    verifier.verify(&genuine, &RequiredScopes::none()).unwrap();
    clock.advance(Duration::from_secs(31));
    let stranger = TestKey::generate(KeyKind::Es384).unwrap();

    // 8 threads, 50 forged tokens each, all within one cooldown.
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let verifier = Arc::clone(&verifier);
            let barrier = Arc::clone(&barrier);
            let tokens: Vec<String> = (0..50)
                .map(|i| forged(&server, &stranger, &format!("forged-{t}-{i}")))
                .collect();
            std::thread::spawn(move || {
                barrier.wait();
                for token in tokens {
                    assert_eq!(
                        verifier
                            .verify(&token, &RequiredScopes::none())
                            .unwrap_err(),
                        VerifyError::InvalidToken(InvalidToken::UnknownKey)
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(server.jwks_requests(), 2, "the load and one refetch");
    // The genuine token kept verifying.
    verifier.verify(&genuine, &RequiredScopes::none()).unwrap();

    // Each later cooldown allows one more, however many forged tokens arrive.
    for round in 0..3 {
        clock.advance(Duration::from_secs(31));
        for i in 0..20 {
            let token = forged(&server, &stranger, &format!("later-{round}-{i}"));
            assert!(verifier.verify(&token, &RequiredScopes::none()).is_err());
        }
        assert_eq!(server.jwks_requests(), 3 + round);
    }
    assert_eq!(server.discovery_requests(), 1);
}

#[test]
fn a_cold_start_herd_sends_one_discovery_and_one_key_set_request() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let verifier = Arc::new(verifier(&server, &clock));
    let token = api_token(&server);
    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let verifier = Arc::clone(&verifier);
            let barrier = Arc::clone(&barrier);
            let token = token.clone();
            std::thread::spawn(move || {
                barrier.wait();
                verifier.verify(&token, &RequiredScopes::none()).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        (server.discovery_requests(), server.jwks_requests()),
        (1, 1)
    );
}

#[test]
fn an_unreachable_issuer_answers_503_and_the_token_is_not_judged() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let verifier = BlockingVerifier::new(
        UreqTransport::new(),
        &endpoint,
        Audience::Resource(defaults::RESOURCE.to_owned()),
    )
    .unwrap();
    assert!(matches!(verifier.refresh(), Err(KeySetError::Transport(_))));
    let token = TestKey::generate(KeyKind::Es384)
        .unwrap()
        .sign(&json!({"sub": "x"}))
        .unwrap();
    let error = verifier
        .verify(&token, &RequiredScopes::none())
        .unwrap_err();
    assert!(
        matches!(error, VerifyError::KeysUnavailable(_)),
        "{error:?}"
    );
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(error.www_authenticate().is_none());
    assert!(error.is_retryable());
}

#[test]
fn refresh_loads_the_keys_before_the_first_request() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let verifier = verifier(&server, &clock);
    verifier.refresh().unwrap();
    assert_eq!(
        (server.discovery_requests(), server.jwks_requests()),
        (1, 1)
    );
    verifier.refresh().unwrap();
    verifier
        .verify(&api_token(&server), &RequiredScopes::none())
        .unwrap();
    assert_eq!(server.jwks_requests(), 1);
}

#[test]
fn the_authorization_header_is_read_as_rfc_6750_says() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let verifier = verifier(&server, &clock);
    let token = api_token(&server);
    let none = RequiredScopes::none();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let value = HeaderValue::from_str(&format!("{scheme} {token}")).unwrap();
        verifier.verify_header(Some(&value), &none).unwrap();
    }
    assert_eq!(
        verifier.verify_header(None, &none).unwrap_err(),
        VerifyError::Missing
    );
    let basic = HeaderValue::from_static("Basic bTJtLWFwcDptMm0tc2VjcmV0");
    assert_eq!(
        verifier.verify_header(Some(&basic), &none).unwrap_err(),
        VerifyError::Missing
    );
    for bad in ["Bearer", "Bearer ", "Bearer a b", "Bearer {json}"] {
        let value = HeaderValue::from_str(bad).unwrap();
        assert_eq!(
            verifier.verify_header(Some(&value), &none).unwrap_err(),
            VerifyError::InvalidToken(InvalidToken::Malformed),
            "{bad}"
        );
    }
}
