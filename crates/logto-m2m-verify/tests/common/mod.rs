//! Shared pieces of the tests: a synthetic clock, Logto-shaped claims, key sets and answers.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use logto_m2m_testkit::{KeyKind, TestKey};
use logto_m2m_verify::http::{Response, StatusCode};
use serde_json::{Value, json};

pub const ENDPOINT: &str = "https://tenant.logto.app";
pub const ISSUER: &str = "https://tenant.logto.app/oidc";
pub const DISCOVERY_URL: &str = "https://tenant.logto.app/oidc/.well-known/openid-configuration";
pub const JWKS_URL: &str = "https://tenant.logto.app/oidc/jwks";
pub const RESOURCE: &str = "https://api.example.com";
pub const APP: &str = "m2m-app";

/// The synthetic clock's start: a whole second, so that `iat` equals it.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims as Logto writes them for a resource token issued at `iat`, living an hour.
pub fn claims(iat: SystemTime) -> Value {
    let iat = secs(iat);
    json!({
        "jti": "abc",
        "sub": APP,
        "iat": iat,
        "exp": iat + 3600,
        "scope": "read:items write:items",
        "client_id": APP,
        "iss": ISSUER,
        "aud": RESOURCE,
    })
}

/// `claims` with `name` set to `value` (or removed when `value` is null).
pub fn with(mut claims: Value, name: &str, value: Value) -> Value {
    let object = claims.as_object_mut().unwrap();
    if value.is_null() {
        object.remove(name);
    } else {
        object.insert(name.to_owned(), value);
    }
    claims
}

pub fn key(kind: KeyKind) -> TestKey {
    TestKey::generate(kind).unwrap()
}

pub fn jwks_json(keys: &[&TestKey]) -> String {
    let keys: Vec<&Value> = keys.iter().map(|k| k.jwk()).collect();
    json!({ "keys": keys }).to_string()
}

pub fn discovery_json(issuer: &str, jwks_uri: &str) -> String {
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": jwks_uri,
    })
    .to_string()
}

pub fn ok(body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    Response::new(body.into())
}

pub fn status(code: u16, body: &str) -> Response<Vec<u8>> {
    let mut r = Response::new(body.as_bytes().to_vec());
    *r.status_mut() = StatusCode::from_u16(code).unwrap();
    r
}

/// A wall clock that tests move forward: the system time plus an offset.
#[derive(Clone, Default)]
pub struct ShiftedClock(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl ShiftedClock {
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }

    pub fn advance(&self, by: Duration) {
        self.0
            .fetch_add(by.as_secs(), std::sync::atomic::Ordering::SeqCst);
    }

    pub fn reader(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let clock = self.clone();
        move || clock.now()
    }
}

/// A token from the testkit's token endpoint, through the blocking client.
pub fn issued_token(
    server: &logto_m2m_testkit::TestServer,
    params: logto_m2m::TokenParams,
) -> String {
    let config = logto_m2m::ClientConfig::builder(
        server.endpoint(),
        logto_m2m_testkit::defaults::APP_ID,
        logto_m2m_testkit::defaults::APP_SECRET,
    )
    .build()
    .unwrap();
    let manager = logto_m2m_ureq::token_manager_for(config);
    let token = manager.source(params).unwrap().token().unwrap();
    token.access_token().expose_secret().to_owned()
}
