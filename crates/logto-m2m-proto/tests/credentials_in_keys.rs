//! The token key carries a keyed fingerprint of the credentials: a token fetched with one secret is
//! never handed out for a request built with another, and the fingerprint is a fixed function of
//! the app id and secret (the same in every process), never the secret itself.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::time::{Instant, SystemTime};

use logto_m2m_proto::http::Response;
use logto_m2m_proto::{
    ClientConfig, ConfigError, CredentialsFingerprint, Jitter, Poll, TokenCache, TokenParams,
    TokenRequest,
};

fn config(secret: &str) -> ClientConfig {
    ClientConfig::builder("https://t.logto.app", "m2m-app", secret)
        .build()
        .unwrap()
}

fn request(config: &ClientConfig) -> TokenRequest {
    TokenRequest::new(config, TokenParams::for_resource("https://api.example.com")).unwrap()
}

#[test]
fn a_token_fetched_with_one_secret_is_never_handed_out_for_another() {
    let mut cache = TokenCache::default();
    let (now, wall) = (Instant::now(), SystemTime::now());
    let right = request(&config("right-secret"));
    let Poll::Fetch(fetch) = cache.poll(&right, now, wall) else {
        panic!("fetch")
    };
    let answer = Response::new(
        br#"{"access_token":"tok","expires_in":3600,"token_type":"Bearer"}"#.to_vec(),
    );
    cache
        .handle_response(fetch.ticket, now, wall, Jitter::NONE, &answer)
        .unwrap();
    assert!(matches!(cache.poll(&right, now, wall), Poll::Ready { .. }));

    let wrong = request(&config("wrong-secret"));
    assert_ne!(wrong.key(), right.key());
    match cache.poll(&wrong, now, wall) {
        Poll::Fetch(fetch) => {
            // Sent with its own secret, never the cached token's.
            let sent = fetch.request.headers()["authorization"].clone();
            assert_eq!(sent, wrong.to_http().headers()["authorization"]);
        }
        other => panic!("a token was handed out for another secret: {other:?}"),
    }
}

#[test]
fn the_fingerprint_depends_on_the_app_id_and_secret_only() {
    let a = config("secret-1");
    let again = config("secret-1");
    let other_endpoint = ClientConfig::builder("https://u.logto.app", "m2m-app", "secret-1")
        .build()
        .unwrap();
    assert_eq!(a.credentials_fingerprint(), again.credentials_fingerprint());
    assert_eq!(
        a.credentials_fingerprint(),
        other_endpoint.credentials_fingerprint()
    );
    assert_eq!(
        a.credentials_fingerprint(),
        CredentialsFingerprint::new("m2m-app", a.app_secret())
    );
    assert_ne!(
        a.credentials_fingerprint(),
        config("secret-2").credentials_fingerprint()
    );
    assert_eq!(request(&a).key(), request(&again).key());
    assert_eq!(request(&a).key().credentials(), a.credentials_fingerprint());
    let hex = a.credentials_fingerprint().to_hex();
    assert_eq!(hex.len(), 32);
    assert!(!hex.contains("secret"));
    // Equal configurations, whether or not built apart; another secret makes another one.
    assert_eq!(a, again);
    assert_ne!(a, config("secret-2"));
    assert_ne!(a, other_endpoint);
}

#[test]
fn a_configuration_with_another_secret_keeps_everything_else() {
    let a = ClientConfig::builder("https://t.logto.app", "m2m-app", "secret-1")
        .token_endpoint("https://t.logto.app/oidc/token2")
        .build()
        .unwrap();
    let rotated = a.with_app_secret("secret-2").unwrap();
    assert_eq!(rotated.app_secret().expose_secret(), "secret-2");
    assert_eq!(rotated.token_endpoint(), a.token_endpoint());
    assert_eq!(rotated.app_id(), a.app_id());
    assert_eq!(
        rotated.credentials_fingerprint(),
        config("secret-2").credentials_fingerprint()
    );
    assert_eq!(
        a.with_app_secret("").unwrap_err(),
        ConfigError::EmptyAppSecret
    );
}
