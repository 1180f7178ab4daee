//! The async verifier on the hyper transport (tokio), against the testkit's Logto-compatible
//! server on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::{ShiftedClock, issued_token};
use logto_m2m::TokenParams;
use logto_m2m::proto::TransportError;
use logto_m2m::{IntoTransportError as _, Transport};
use logto_m2m_hyper::HyperTransport;
use logto_m2m_testkit::{KeyKind, TestKey, TestServer, defaults};
use logto_m2m_verify::http::{Request, Response};
use logto_m2m_verify::{AsyncVerifier, Audience, InvalidToken, RequiredScopes, VerifyError};
use serde_json::json;

fn verifier<T: Transport>(
    transport: T,
    server: &TestServer,
    clock: &ShiftedClock,
) -> AsyncVerifier<T> {
    AsyncVerifier::new(
        transport,
        server.endpoint(),
        Audience::Resource(defaults::RESOURCE.to_owned()),
    )
    .unwrap()
    .with_clock(clock.reader())
}

/// A token from the testkit, through the blocking client, off the runtime's threads.
async fn api_token(server: &TestServer) -> String {
    let params = TokenParams::for_resource(defaults::RESOURCE).scopes(["read:items"]);
    tokio::task::block_in_place(|| issued_token(server, params))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testkit_tokens_verify_and_a_herd_fetches_once() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let verifier = verifier(HyperTransport::new(), &server, &clock);
    let token = Arc::new(api_token(&server).await);

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let verifier = verifier.clone();
            let token = Arc::clone(&token);
            tokio::spawn(async move {
                verifier
                    .verify(&token, &RequiredScopes::all(["read:items"]))
                    .await
            })
        })
        .collect();
    for task in tasks {
        let verified = task.await.unwrap().unwrap();
        assert_eq!(verified.subject(), defaults::APP_ID);
        assert_eq!(verified.scopes(), ["read:items"]);
    }
    assert_eq!(
        (server.discovery_requests(), server.jwks_requests()),
        (1, 1)
    );
    let error = verifier
        .verify(&token, &RequiredScopes::all(["write:items"]))
        .await
        .unwrap_err();
    assert_eq!(error.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_before_and_after_a_rotation_verify() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let verifier = verifier(HyperTransport::new(), &server, &clock);
    let before = api_token(&server).await;
    verifier.refresh().await.unwrap();

    server.rotate_key(KeyKind::Rs256).unwrap();
    let after = api_token(&server).await;
    clock.advance(Duration::from_secs(31));
    let none = RequiredScopes::none();
    assert_eq!(
        verifier
            .verify(&after, &none)
            .await
            .unwrap()
            .algorithm()
            .as_str(),
        "RS256"
    );
    assert_eq!(
        verifier
            .verify(&before, &none)
            .await
            .unwrap()
            .algorithm()
            .as_str(),
        "ES384"
    );
    assert_eq!(server.jwks_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_kid_flood_sends_one_key_set_request_per_cooldown() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let verifier = verifier(HyperTransport::new(), &server, &clock);
    verifier.refresh().await.unwrap();
    clock.advance(Duration::from_secs(31));

    let stranger = TestKey::generate(KeyKind::Es384).unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let token = stranger
                .sign_with_header(
                    &json!({"alg":"ES384","typ":"at+jwt","kid":format!("forged-{i}")}),
                    &json!({"sub":"x","iss":server.issuer(),"aud":defaults::RESOURCE,"iat":now,"exp":now+60}),
                )
                .unwrap();
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify(&token, &RequiredScopes::none()).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().unwrap_err(),
            VerifyError::InvalidToken(InvalidToken::UnknownKey)
        );
    }
    assert_eq!(server.jwks_requests(), 2, "the load and one refetch");
}

/// A transport whose first request never completes; the others go through hyper.
struct HangsOnce {
    inner: HyperTransport,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl Transport for HangsOnce {
    type Error = TransportError;

    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, TransportError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        self.inner
            .send(request)
            .await
            .map_err(|e| e.into_transport_error())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_dropped_midway_hands_the_slot_back() {
    let server = TestServer::start_default().unwrap();
    let clock = ShiftedClock::default();
    let transport = HangsOnce {
        inner: HyperTransport::new(),
        calls: AtomicUsize::new(0),
    };
    let verifier = verifier(transport, &server, &clock);
    let token = api_token(&server).await;
    let none = RequiredScopes::none();

    // The first caller's fetch hangs; a second caller waits for it.
    let waiting = {
        let verifier = verifier.clone();
        let token = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            verifier.verify(&token, &RequiredScopes::none()).await
        })
    };
    let first =
        tokio::time::timeout(Duration::from_millis(500), verifier.verify(&token, &none)).await;
    assert!(
        first.is_err(),
        "the hanging fetch timed out and was dropped"
    );
    // Dropping it woke the waiter at once. The dropped fetch still counts as an attempt (else
    // callers that hang up could defeat the cooldown), so the waiter is told the keys are not
    // loaded yet: a 503, not a verdict on the token.
    let woken = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("the waiter was woken")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(woken, VerifyError::KeysUnavailable(_)),
        "{woken:?}"
    );
    assert!(woken.is_retryable());
    // After the retry delay (5 s) the next caller fetches and verifies.
    clock.advance(Duration::from_secs(5));
    let verified = verifier.verify(&token, &none).await.unwrap();
    assert_eq!(verified.subject(), defaults::APP_ID);
    assert_eq!(
        (server.discovery_requests(), server.jwks_requests()),
        (1, 1)
    );
}

/// A transport that never answers holds neither the caller that fetches nor the ones waiting for
/// its fetch longer than the fetch timeout, on the default runtime-agnostic timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_that_never_answers_holds_no_caller_past_the_fetch_timeout() {
    let server = TestServer::start_default().unwrap();
    let token = Arc::new(api_token(&server).await);
    let never = |_request: Request<Vec<u8>>| async {
        std::future::pending::<Result<Response<Vec<u8>>, std::io::Error>>().await
    };
    let endpoint = server.endpoint();
    let verifier = AsyncVerifier::from_parts(
        never,
        logto_m2m_verify::KeySet::new(
            endpoint,
            logto_m2m_verify::KeySetPolicy::default().fetch_timeout(Duration::from_millis(300)),
        )
        .unwrap(),
        logto_m2m_verify::Validation::new(
            endpoint,
            Audience::Resource(defaults::RESOURCE.to_owned()),
        )
        .unwrap(),
    );
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let verifier = verifier.clone();
            let token = Arc::clone(&token);
            tokio::spawn(async move {
                verifier
                    .verify(&token, &RequiredScopes::all(["read:items"]))
                    .await
            })
        })
        .collect();
    for task in tasks {
        let outcome = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("every caller returns")
            .unwrap();
        assert!(outcome.is_err(), "no key set, no verdict: {outcome:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}
