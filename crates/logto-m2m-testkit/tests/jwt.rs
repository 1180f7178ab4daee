//! Access tokens are ES384 JWTs that verify against the served JWKS; discovery points at it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{RawRequest, exchange, jwt_segment};
use logto_m2m_testkit::{KeyKind, TestKey, TestServer, defaults};
use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;
use sha2::Digest as _;

fn token(server: &TestServer, params: &[(&str, &str)]) -> String {
    let request = RawRequest::token(params).basic(defaults::APP_ID, defaults::APP_SECRET);
    let response = exchange(server.addr(), &request);
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["access_token"].as_str().unwrap().to_owned()
}

fn jwks(server: &TestServer) -> Value {
    let response = exchange(server.addr(), &RawRequest::new("GET", "/oidc/jwks"));
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/jwk-set+json")
    );
    assert_eq!(
        response.header("cache-control"),
        Some("no-cache, max-age=0, must-revalidate")
    );
    response.json()
}

fn verifying_key(jwk: &Value) -> VerifyingKey {
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
    assert_eq!((x.len(), y.len()), (48, 48));
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    VerifyingKey::from_sec1_bytes(&sec1).unwrap()
}

fn verify(token: &str, key: &VerifyingKey) -> Result<(), p384::ecdsa::Error> {
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap())?;
    key.verify(signing_input.as_bytes(), &signature)
}

#[test]
fn the_jwks_holds_one_p384_key_named_by_its_thumbprint() {
    let server = TestServer::start_default().unwrap();
    let jwks = jwks(&server);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-384");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["alg"], "ES384");
    assert_eq!(jwk["kid"], server.kid());
    // RFC 7638 thumbprint, recomputed.
    let canonical = format!(
        r#"{{"crv":"P-384","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    let thumbprint = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()));
    assert_eq!(jwk["kid"], thumbprint.as_str());
    assert_eq!(
        serde_json::from_str::<Value>(&server.jwks_json()).unwrap(),
        jwks
    );
}

#[test]
fn every_kind_of_token_verifies_and_carries_logtos_claims() {
    let server = TestServer::start_default().unwrap();
    let jwk = jwks(&server)["keys"][0].clone();
    let key = verifying_key(&jwk);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let cases: [(&[(&str, &str)], Value); 4] = [
        (
            &[
                ("grant_type", "client_credentials"),
                ("resource", defaults::RESOURCE),
                ("scope", "write:items read:items delete:items read:items"),
            ],
            serde_json::json!({"aud": defaults::RESOURCE, "scope": "write:items read:items", "ttl": 1800}),
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("resource", defaults::MANAGEMENT_API),
                ("scope", "all"),
            ],
            serde_json::json!({"aud": defaults::MANAGEMENT_API, "scope": "all", "ttl": 3600}),
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("organization_id", defaults::ORGANIZATION),
                ("scope", "other org:read"),
            ],
            serde_json::json!({"aud": "urn:logto:organization:org-1", "scope": "org:read", "ttl": 3600}),
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("organization_id", defaults::ORGANIZATION),
                ("resource", defaults::RESOURCE),
                ("scope", "read:items write:items"),
            ],
            serde_json::json!({"aud": defaults::RESOURCE, "scope": "read:items", "ttl": 1800, "organization_id": "org-1"}),
        ),
    ];
    let mut jtis = Vec::new();
    for (params, expected) in cases {
        let jwt = token(&server, params);
        verify(&jwt, &key).unwrap_or_else(|e| panic!("{params:?}: {e}"));

        let parts: Vec<&str> = jwt.split('.').collect();
        let header: Value = serde_json::from_str(&jwt_segment(parts[0])).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg":"ES384","typ":"at+jwt","kid":server.kid()})
        );
        let claims: Value = serde_json::from_str(&jwt_segment(parts[1])).unwrap();
        assert_eq!(claims["aud"], expected["aud"], "{params:?}");
        assert_eq!(claims["scope"], expected["scope"], "{params:?}");
        assert_eq!(
            claims.get("organization_id"),
            expected.get("organization_id")
        );
        assert_eq!(claims["sub"], defaults::APP_ID);
        assert_eq!(claims["client_id"], defaults::APP_ID);
        assert_eq!(claims["iss"], server.issuer());
        let iat = claims["iat"].as_u64().unwrap();
        assert!(iat.abs_diff(now) <= 60, "iat {iat} vs now {now}");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - iat,
            expected["ttl"].as_u64().unwrap()
        );
        jtis.push(claims["jti"].as_str().unwrap().to_owned());

        // Any change breaks the signature.
        let mut tampered_claims = claims.clone();
        tampered_claims["scope"] = Value::from("all");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
            parts[2]
        );
        assert!(verify(&tampered, &key).is_err());
    }
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), 4, "token ids are unique");
}

#[test]
fn each_server_has_its_own_key() {
    let a = TestServer::start_default().unwrap();
    let b = TestServer::start_default().unwrap();
    assert_ne!(a.kid(), b.kid());
    let jwt = token(
        &a,
        &[
            ("grant_type", "client_credentials"),
            ("resource", defaults::RESOURCE),
        ],
    );
    let b_key = verifying_key(&jwks(&b)["keys"][0]);
    assert!(verify(&jwt, &b_key).is_err());
}

#[test]
fn discovery_points_at_the_token_endpoint_and_the_jwks() {
    let server = TestServer::start_default().unwrap();
    for path in [
        "/oidc/.well-known/openid-configuration",
        "/oidc/.well-known/oauth-authorization-server",
    ] {
        let response = exchange(server.addr(), &RawRequest::new("GET", path));
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(
            response.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        let doc = response.json();
        assert_eq!(doc["issuer"], server.issuer());
        assert_eq!(doc["token_endpoint"], server.token_endpoint().as_str());
        assert_eq!(doc["jwks_uri"], server.jwks_uri().as_str());
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["ES384"])
        );
        let methods = doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        for m in ["client_secret_basic", "client_secret_post"] {
            assert!(methods.contains(&Value::from(m)), "{m}");
        }
        let grants = doc["grant_types_supported"].as_array().unwrap();
        assert!(grants.contains(&Value::from("client_credentials")));
    }
    assert_eq!(
        server.token_endpoint(),
        format!("{}/oidc/token", server.endpoint())
    );
    assert_eq!(
        server.jwks_uri(),
        format!("{}/oidc/jwks", server.endpoint())
    );
}

#[test]
fn a_rotation_serves_the_new_key_and_the_previous_one() {
    let server = TestServer::start_default().unwrap();
    let first = server.kid();
    let params = [
        ("grant_type", "client_credentials"),
        ("resource", defaults::RESOURCE),
    ];
    let before = token(&server, &params);

    let second = server.rotate_key(KeyKind::Es384).unwrap();
    assert_ne!(second, first);
    assert_eq!(server.kid(), second);
    let document = jwks(&server);
    let kids: Vec<&str> = document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        [second.as_str(), first.as_str()],
        "new key first, previous kept"
    );
    let after = token(&server, &params);
    let header = |jwt: &str| -> Value {
        serde_json::from_str(&jwt_segment(jwt.split('.').next().unwrap())).unwrap()
    };
    assert_eq!(header(&before)["kid"], first.as_str());
    assert_eq!(header(&after)["kid"], second.as_str());
    // Both tokens verify against the served key set.
    verify(&before, &verifying_key(&document["keys"][1])).unwrap();
    verify(&after, &verifying_key(&document["keys"][0])).unwrap();

    // A rotation to RSA: RS256 tokens; the oldest key leaves the set.
    let rsa = server.rotate_key(KeyKind::Rs256).unwrap();
    let document = jwks(&server);
    let keys = document["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["kid"], rsa.as_str());
    assert_eq!(keys[1]["kid"], second.as_str());
    let rsa_token = token(&server, &params);
    assert_eq!(header(&rsa_token)["alg"], "RS256");
    assert_eq!(server.keys().len(), 2);
    assert_eq!(server.signing_key().kind(), KeyKind::Rs256);
    assert_eq!(server.jwks_requests(), 2);
}

#[test]
fn a_server_can_start_with_an_rsa_or_p256_key() {
    for kind in [KeyKind::Rs256, KeyKind::Es256] {
        let key = TestKey::generate(kind).unwrap();
        let kid = key.kid().to_owned();
        let server =
            TestServer::start_with_key(logto_m2m_testkit::Config::logto_default(), key).unwrap();
        assert_eq!(server.kid(), kid);
        let jwt = token(
            &server,
            &[
                ("grant_type", "client_credentials"),
                ("resource", defaults::RESOURCE),
            ],
        );
        let header: Value =
            serde_json::from_str(&jwt_segment(jwt.split('.').next().unwrap())).unwrap();
        assert_eq!(header["alg"], kind.alg());
        assert_eq!(header["kid"], kid.as_str());
        assert_eq!(server.discovery_requests(), 0);
    }
}
