//! One token against one key set: the signature with the key's own algorithm, Logto's claims,
//! the scopes, and hostile tokens, each refused with its typed reason. No IO; a synthetic clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{APP, ENDPOINT, ISSUER, RESOURCE, claims, jwks_json, key, secs, t0, with};
use hmac::Mac as _;
use logto_m2m_testkit::{KeyKind, TestKey};
use logto_m2m_verify::http::StatusCode;
use logto_m2m_verify::{
    Algorithm, Audience, Forbidden, InvalidToken, Jwks, RequiredScopes, Validation, VerifiedToken,
    VerifyError,
};
use serde_json::{Value, json};

fn validation(audience: Audience) -> Validation {
    Validation::new(ENDPOINT, audience).unwrap()
}

fn resource() -> Validation {
    validation(Audience::Resource(RESOURCE.to_owned()))
}

fn keys(keys: &[&TestKey]) -> Jwks {
    Jwks::parse(jwks_json(keys).as_bytes(), 64 * 1024, 16).unwrap()
}

fn verify_at(
    validation: &Validation,
    jwks: &Jwks,
    token: &str,
    required: &RequiredScopes,
    now: SystemTime,
) -> Result<VerifiedToken, VerifyError> {
    let result = validation.verify(jwks, token, required, now);
    if let Err(e) = &result {
        // Nothing of the token in any rendering of the error.
        let texts = [e.to_string(), format!("{e:?}")];
        for part in token.split('.').filter(|p| p.len() > 8) {
            for text in &texts {
                assert!(!text.contains(part), "{text} quotes the token");
            }
        }
    }
    result
}

fn verify(validation: &Validation, jwks: &Jwks, token: &str) -> Result<VerifiedToken, VerifyError> {
    verify_at(validation, jwks, token, &RequiredScopes::none(), t0())
}

fn invalid(validation: &Validation, jwks: &Jwks, token: &str) -> InvalidToken {
    match verify(validation, jwks, token) {
        Err(VerifyError::InvalidToken(reason)) => reason,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

fn header_b64(header: &Value) -> String {
    URL_SAFE_NO_PAD.encode(header.to_string())
}

#[test]
fn logto_tokens_of_every_supported_algorithm_verify() {
    for kind in [KeyKind::Es384, KeyKind::Es256, KeyKind::Rs256] {
        let k = key(kind);
        let token = k.sign(&claims(t0())).unwrap();
        let verified = verify(&resource(), &keys(&[&k]), &token).unwrap();
        assert_eq!(verified.subject(), APP);
        assert_eq!(verified.client_id(), Some(APP));
        assert_eq!(verified.audience(), RESOURCE);
        assert_eq!(verified.scopes(), ["read:items", "write:items"]);
        assert!(verified.has_scope("write:items"));
        assert_eq!(verified.organization_id(), None);
        assert_eq!(verified.expires_at(), t0() + Duration::from_secs(3600));
        assert_eq!(verified.issued_at(), Some(t0()));
        assert_eq!(verified.jwt_id(), Some("abc"));
        assert_eq!(verified.key_id(), k.kid());
        assert_eq!(verified.algorithm().as_str(), kind.alg());
    }
}

#[test]
fn the_key_is_found_by_kid_among_several() {
    let (a, b, c) = (
        key(KeyKind::Es384),
        key(KeyKind::Rs256),
        key(KeyKind::Es256),
    );
    let jwks = keys(&[&a, &b, &c]);
    for k in [&a, &b, &c] {
        let token = k.sign(&claims(t0())).unwrap();
        assert_eq!(
            verify(&resource(), &jwks, &token).unwrap().key_id(),
            k.kid()
        );
    }
    let stranger = key(KeyKind::Es384);
    let token = stranger.sign(&claims(t0())).unwrap();
    assert_eq!(
        invalid(&resource(), &jwks, &token),
        InvalidToken::UnknownKey
    );
}

#[test]
fn required_scopes_all_of_or_any_of() {
    let k = key(KeyKind::Es384);
    let jwks = keys(&[&k]);
    let token = k.sign(&claims(t0())).unwrap();
    let v = resource();
    let check = |required: RequiredScopes| verify_at(&v, &jwks, &token, &required, t0());

    assert!(check(RequiredScopes::all(["read:items"])).is_ok());
    assert!(check(RequiredScopes::all(["read:items", "write:items"])).is_ok());
    assert!(check(RequiredScopes::any(["delete:items", "write:items"])).is_ok());
    assert!(check(RequiredScopes::any(Vec::<String>::new())).is_ok());

    let error = check(RequiredScopes::all(["read:items", "delete:items"])).unwrap_err();
    assert_eq!(
        error,
        VerifyError::Forbidden(Forbidden::MissingScopes {
            required: "read:items delete:items".to_owned()
        })
    );
    assert_eq!(error.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        error.www_authenticate().unwrap(),
        r#"Bearer error="insufficient_scope", error_description="the token lacks required scopes", scope="read:items delete:items""#
    );
    assert!(check(RequiredScopes::any(["delete:items"])).is_err());

    // No scope claim at all: Logto omits it when nothing is granted.
    let bare = k.sign(&with(claims(t0()), "scope", Value::Null)).unwrap();
    let verified = verify(&v, &jwks, &bare).unwrap();
    assert!(verified.scopes().is_empty());
    assert!(verify_at(&v, &jwks, &bare, &RequiredScopes::all(["read:items"]), t0()).is_err());
}

#[test]
fn organization_tokens_and_organization_level_resources() {
    let k = key(KeyKind::Es384);
    let jwks = keys(&[&k]);
    let org_token = k
        .sign(&with(
            with(claims(t0()), "aud", json!("urn:logto:organization:org-1")),
            "scope",
            json!("org:read"),
        ))
        .unwrap();

    let verified = verify(
        &validation(Audience::Organization("org-1".into())),
        &jwks,
        &org_token,
    )
    .unwrap();
    assert_eq!(verified.organization_id(), Some("org-1"));
    assert_eq!(verified.audience(), "urn:logto:organization:org-1");
    assert_eq!(
        invalid(
            &validation(Audience::Organization("org-2".into())),
            &jwks,
            &org_token
        ),
        InvalidToken::WrongAudience
    );
    let any = verify(&validation(Audience::AnyOrganization), &jwks, &org_token).unwrap();
    assert!(any.require_organization("org-1").is_ok());
    let mismatch = any.require_organization("org-2").unwrap_err();
    assert_eq!(mismatch, Forbidden::OrganizationMismatch);
    let mismatch = VerifyError::from(mismatch);
    assert_eq!(mismatch.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        mismatch.www_authenticate().unwrap(),
        r#"Bearer error="insufficient_scope", error_description="the token is for another organization""#
    );
    // A resource token is not an organization token.
    let resource_token = k.sign(&claims(t0())).unwrap();
    assert_eq!(
        invalid(
            &validation(Audience::AnyOrganization),
            &jwks,
            &resource_token
        ),
        InvalidToken::WrongAudience
    );

    // Organization-level API resource: aud is the resource, organization_id is required.
    let level = validation(Audience::OrganizationResource(RESOURCE.into()));
    let with_org = k
        .sign(&with(claims(t0()), "organization_id", json!("org-1")))
        .unwrap();
    let verified = verify(&level, &jwks, &with_org).unwrap();
    assert_eq!(verified.organization_id(), Some("org-1"));
    assert!(verified.require_organization("org-1").is_ok());
    assert!(verified.require_organization("org-9").is_err());
    assert_eq!(
        invalid(&level, &jwks, &resource_token),
        InvalidToken::MissingClaim("organization_id")
    );
}

#[test]
fn claims_that_do_not_fit_are_refused() {
    let k = key(KeyKind::Es384);
    let jwks = keys(&[&k]);
    let v = resource();
    let base = claims(t0());
    let cases = [
        (
            with(base.clone(), "iss", json!("https://evil.logto.app/oidc")),
            InvalidToken::WrongIssuer,
        ),
        (
            with(base.clone(), "iss", json!(format!("{ISSUER}/"))),
            InvalidToken::WrongIssuer,
        ),
        (
            with(base.clone(), "iss", json!(ENDPOINT)),
            InvalidToken::WrongIssuer,
        ),
        (
            with(base.clone(), "iss", Value::Null),
            InvalidToken::MissingClaim("iss"),
        ),
        (
            with(base.clone(), "aud", json!("https://other.example.com")),
            InvalidToken::WrongAudience,
        ),
        (
            with(base.clone(), "aud", json!(["a", "b"])),
            InvalidToken::WrongAudience,
        ),
        (
            with(base.clone(), "aud", Value::Null),
            InvalidToken::MissingClaim("aud"),
        ),
        (
            with(base.clone(), "exp", Value::Null),
            InvalidToken::MissingClaim("exp"),
        ),
        (
            with(base.clone(), "sub", Value::Null),
            InvalidToken::MissingClaim("sub"),
        ),
        (
            with(base.clone(), "exp", json!("soon")),
            InvalidToken::MalformedClaims,
        ),
        (
            with(base.clone(), "exp", json!(-1)),
            InvalidToken::MalformedClaims,
        ),
        (
            with(base.clone(), "exp", json!(1e300)),
            InvalidToken::MalformedClaims,
        ),
        (
            with(base.clone(), "scope", json!(["read:items"])),
            InvalidToken::MalformedClaims,
        ),
        (
            json!(["not", "an", "object"]),
            InvalidToken::MalformedClaims,
        ),
    ];
    for (claims, expected) in cases {
        let token = k.sign(&claims).unwrap();
        assert_eq!(invalid(&v, &jwks, &token), expected, "{claims}");
    }
    // An audience array that holds the resource is accepted.
    let token = k.sign(&with(base, "aud", json!(["x", RESOURCE]))).unwrap();
    assert_eq!(verify(&v, &jwks, &token).unwrap().audience(), RESOURCE);
}

#[test]
fn times_are_checked_with_the_leeway() {
    let k = key(KeyKind::Es384);
    let jwks = keys(&[&k]);
    let v = resource();
    let token = k.sign(&claims(t0())).unwrap();
    let exp = t0() + Duration::from_secs(3600);
    let at = |now| verify_at(&v, &jwks, &token, &RequiredScopes::none(), now);

    assert!(
        at(exp + Duration::from_secs(59)).is_ok(),
        "within the 60 s leeway"
    );
    assert_eq!(
        at(exp + Duration::from_secs(60)).unwrap_err(),
        VerifyError::InvalidToken(InvalidToken::Expired)
    );
    let strict = resource().leeway(Duration::ZERO);
    assert!(
        verify_at(&strict, &jwks, &token, &RequiredScopes::none(), exp).is_err(),
        "expired at exp"
    );

    // Issued in the future (the issuer's clock is ahead of ours by more than the leeway).
    assert_eq!(
        at(t0() - Duration::from_secs(61)).unwrap_err(),
        VerifyError::InvalidToken(InvalidToken::IssuedInTheFuture)
    );
    assert!(at(t0() - Duration::from_secs(59)).is_ok());
    let nbf = k
        .sign(&with(claims(t0()), "nbf", json!(secs(t0()) + 600)))
        .unwrap();
    assert_eq!(
        verify_at(&v, &jwks, &nbf, &RequiredScopes::none(), t0()).unwrap_err(),
        VerifyError::InvalidToken(InvalidToken::NotYetValid)
    );
    // Fractional NumericDates are valid JSON numbers.
    let fractional = k
        .sign(&with(claims(t0()), "exp", json!(secs(t0()) as f64 + 10.5)))
        .unwrap();
    assert!(verify(&v, &jwks, &fractional).is_ok());
}

#[test]
fn expired_token_answers_401_invalid_token() {
    let k = key(KeyKind::Es384);
    let token = k.sign(&claims(t0() - Duration::from_secs(7200))).unwrap();
    let error = verify(&resource(), &keys(&[&k]), &token).unwrap_err();
    assert_eq!(error, VerifyError::InvalidToken(InvalidToken::Expired));
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error.error_code(), Some("invalid_token"));
    assert_eq!(
        error.www_authenticate().unwrap(),
        r#"Bearer error="invalid_token", error_description="the token has expired""#
    );
    assert!(!error.is_retryable());
    assert_eq!(VerifyError::Missing.www_authenticate().unwrap(), "Bearer");
}

#[test]
fn alg_none_is_refused() {
    let k = key(KeyKind::Es384);
    let jwks = keys(&[&k]);
    for alg in ["none", "None", "NONE"] {
        let header = header_b64(&json!({"alg": alg, "typ": "at+jwt", "kid": k.kid()}));
        let payload = URL_SAFE_NO_PAD.encode(claims(t0()).to_string());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            let reason = invalid(&resource(), &jwks, &token);
            assert!(
                matches!(reason, InvalidToken::Unsigned | InvalidToken::Malformed),
                "{reason:?}"
            );
        }
        assert_eq!(
            invalid(&resource(), &jwks, &format!("{header}.{payload}.")),
            InvalidToken::Unsigned
        );
    }
}

#[test]
fn hs256_with_the_public_key_as_secret_is_refused() {
    // The classic confusion: sign with HMAC, using the public key (as the verifier would hold
    // it) as the HMAC secret.
    for k in [key(KeyKind::Es384), key(KeyKind::Rs256)] {
        let jwks = keys(&[&k]);
        for secret in [k.jwk().to_string(), jwks_json(&[&k])] {
            for alg in ["HS256", "HS384", "HS512"] {
                let header = header_b64(&json!({"alg": alg, "typ": "at+jwt", "kid": k.kid()}));
                let payload = URL_SAFE_NO_PAD.encode(claims(t0()).to_string());
                let input = format!("{header}.{payload}");
                let mut mac =
                    hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(input.as_bytes());
                let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
                assert_eq!(
                    invalid(&resource(), &jwks, &format!("{input}.{signature}")),
                    InvalidToken::SymmetricAlgorithm
                );
            }
        }
    }
}

#[test]
fn a_header_alg_that_disagrees_with_the_key_is_refused() {
    let rsa = key(KeyKind::Rs256);
    let ec = key(KeyKind::Es384);
    let p256 = key(KeyKind::Es256);
    let jwks = keys(&[&rsa, &ec, &p256]);
    // An ES384 header on the RSA key (signed with RSA, so only the algorithm check stops it).
    let es384_on_rsa = rsa
        .sign_with_header(
            &json!({"alg":"ES384","typ":"at+jwt","kid":rsa.kid()}),
            &claims(t0()),
        )
        .unwrap();
    assert_eq!(
        invalid(&resource(), &jwks, &es384_on_rsa),
        InvalidToken::AlgorithmMismatch
    );
    // RS256 header on the EC key.
    let rs_on_ec = ec
        .sign_with_header(
            &json!({"alg":"RS256","typ":"at+jwt","kid":ec.kid()}),
            &claims(t0()),
        )
        .unwrap();
    assert_eq!(
        invalid(&resource(), &jwks, &rs_on_ec),
        InvalidToken::AlgorithmMismatch
    );
    // ES256 header naming the P-384 key.
    let es256_on_p384 = p256
        .sign_with_header(
            &json!({"alg":"ES256","typ":"at+jwt","kid":ec.kid()}),
            &claims(t0()),
        )
        .unwrap();
    assert_eq!(
        invalid(&resource(), &jwks, &es256_on_p384),
        InvalidToken::AlgorithmMismatch
    );
}

#[test]
fn a_signature_from_the_wrong_curve_or_key_is_refused() {
    let ec = key(KeyKind::Es384);
    let p256 = key(KeyKind::Es256);
    let other = key(KeyKind::Es384);
    let jwks = keys(&[&ec]);
    // Signed on P-256, header claiming ES384 and the P-384 key's kid.
    let wrong_curve = p256
        .sign_with_header(
            &json!({"alg":"ES384","typ":"at+jwt","kid":ec.kid()}),
            &claims(t0()),
        )
        .unwrap();
    assert_eq!(
        invalid(&resource(), &jwks, &wrong_curve),
        InvalidToken::BadSignature
    );
    // Signed by another P-384 key under this key's kid.
    let impostor = other
        .sign_with_header(
            &json!({"alg":"ES384","typ":"at+jwt","kid":ec.kid()}),
            &claims(t0()),
        )
        .unwrap();
    assert_eq!(
        invalid(&resource(), &jwks, &impostor),
        InvalidToken::BadSignature
    );
    // A genuine token whose claims were changed.
    let genuine = ec.sign(&claims(t0())).unwrap();
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_claims = with(
        claims(t0()),
        "scope",
        json!("read:items write:items delete:items"),
    );
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
        parts[2]
    );
    assert_eq!(
        invalid(&resource(), &jwks, &forged),
        InvalidToken::BadSignature
    );
    // A truncated or empty signature.
    let cut = &genuine[..genuine.len() - 4];
    assert_eq!(invalid(&resource(), &jwks, cut), InvalidToken::BadSignature);
    let empty = format!("{}.{}.", parts[0], parts[1]);
    assert_eq!(
        invalid(&resource(), &jwks, &empty),
        InvalidToken::BadSignature
    );
}

#[test]
fn the_type_must_be_at_jwt() {
    let k = key(KeyKind::Es384);
    let jwks = keys(&[&k]);
    for (typ, ok) in [
        (json!("at+jwt"), true),
        (json!("AT+JWT"), true),
        (json!("application/at+jwt"), true),
        (json!("JWT"), false),
        (json!("jwt"), false),
        (json!(1), false),
        (Value::Null, false),
    ] {
        let mut header = json!({"alg":"ES384","kid":k.kid()});
        if !typ.is_null() {
            header["typ"] = typ.clone();
        }
        let token = k.sign_with_header(&header, &claims(t0())).unwrap();
        let result = verify(&resource(), &jwks, &token);
        if ok {
            assert!(result.is_ok(), "{typ}: {result:?}");
        } else {
            assert!(
                matches!(
                    result,
                    Err(VerifyError::InvalidToken(
                        InvalidToken::WrongType | InvalidToken::Malformed
                    ))
                ),
                "{typ}: {result:?}"
            );
        }
    }
    let id_token = k
        .sign_with_header(
            &json!({"alg":"ES384","typ":"JWT","kid":k.kid()}),
            &claims(t0()),
        )
        .unwrap();
    assert_eq!(
        invalid(&resource(), &jwks, &id_token),
        InvalidToken::WrongType
    );
}

#[test]
fn hostile_headers_are_refused_without_work() {
    let k = key(KeyKind::Es384);
    let jwks = keys(&[&k]);
    let payload = URL_SAFE_NO_PAD.encode(claims(t0()).to_string());
    let token_with = |header: &str| format!("{}.{payload}.AAAA", URL_SAFE_NO_PAD.encode(header));

    // Huge header.
    let huge = format!(
        r#"{{"alg":"ES384","typ":"at+jwt","kid":"{}","x":"{}"}}"#,
        k.kid(),
        "a".repeat(100_000)
    );
    assert_eq!(
        invalid(&resource(), &jwks, &token_with(&huge)),
        InvalidToken::TooLarge
    );
    let big = format!(
        r#"{{"alg":"ES384","typ":"at+jwt","x":"{}"}}"#,
        "a".repeat(2_000)
    );
    assert_eq!(
        invalid(&resource(), &jwks, &token_with(&big)),
        InvalidToken::TooLarge
    );
    // Deeply nested headers: within the size limit the nesting is skipped without recursion
    // (an unknown member) or refused (a known one); beyond it nothing is decoded.
    let nested = |member: &str, depth: usize| {
        format!(
            r#"{{"alg":"ES384","typ":"at+jwt","kid":"{}","{member}":{}0{}}}"#,
            k.kid(),
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    assert_eq!(
        invalid(&resource(), &jwks, &token_with(&nested("x", 300))),
        InvalidToken::BadSignature
    );
    assert_eq!(
        invalid(&resource(), &jwks, &token_with(&nested("typ", 300))),
        InvalidToken::Malformed
    );
    assert_eq!(
        invalid(&resource(), &jwks, &token_with(&nested("x", 100_000))),
        InvalidToken::TooLarge
    );
    // Not JSON, not an object, duplicate members, crit, no kid, unknown algorithms.
    let cases = [
        ("not json", InvalidToken::Malformed),
        (r#"["ES384"]"#, InvalidToken::Malformed),
        (
            r#"{"alg":"ES384","alg":"none","typ":"at+jwt","kid":"k"}"#,
            InvalidToken::Malformed,
        ),
        (
            r#"{"alg":"ES384","typ":"at+jwt","kid":"k","crit":["b64"],"b64":false}"#,
            InvalidToken::CriticalHeader,
        ),
        (
            r#"{"alg":"ES384","typ":"at+jwt"}"#,
            InvalidToken::MissingKeyId,
        ),
        (
            r#"{"alg":"ES384","typ":"at+jwt","kid":""}"#,
            InvalidToken::MissingKeyId,
        ),
        (
            r#"{"alg":"PS256","typ":"at+jwt","kid":"k"}"#,
            InvalidToken::UnsupportedAlgorithm,
        ),
        (
            r#"{"alg":"ES512","typ":"at+jwt","kid":"k"}"#,
            InvalidToken::UnsupportedAlgorithm,
        ),
        (
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k"}"#,
            InvalidToken::UnsupportedAlgorithm,
        ),
        (
            r#"{"alg":"es384","typ":"at+jwt","kid":"k"}"#,
            InvalidToken::UnsupportedAlgorithm,
        ),
        (r#"{"typ":"at+jwt","kid":"k"}"#, InvalidToken::Malformed),
    ];
    for (header, expected) in cases {
        assert_eq!(
            invalid(&resource(), &jwks, &token_with(header)),
            expected,
            "{header}"
        );
    }
    // Malformed compact forms.
    let genuine = k.sign(&claims(t0())).unwrap();
    for token in [
        String::new(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{genuine}.x"),
        genuine.replacen('.', "=.", 1),
        format!(" {genuine}"),
        // `+` is not in the base64url alphabet.
        format!("{}+", &genuine[..genuine.len() - 1]),
    ] {
        assert!(verify(&resource(), &jwks, &token).is_err(), "{token}");
    }
    // A token over the size limit.
    let long = format!("{genuine}{}", "A".repeat(20_000));
    assert_eq!(invalid(&resource(), &jwks, &long), InvalidToken::TooLarge);
}

#[test]
fn key_sets_skip_keys_that_cannot_sign_access_tokens() {
    let ec = key(KeyKind::Es384);
    let mut jwk: Value = ec.jwk().clone();
    let mut variants = Vec::new();
    for (member, value) in [
        ("use", json!("enc")),
        ("alg", json!("ES256")),
        ("crv", json!("P-521")),
        ("kid", json!("")),
        ("x", json!("AAAA")),
        ("y", json!(URL_SAFE_NO_PAD.encode([0u8; 48]))),
    ] {
        let mut v = jwk.clone();
        v[member] = value;
        variants.push(v);
    }
    jwk["kid"] = json!("good");
    variants.push(json!({"kty":"oct","kid":"h","k":"c2VjcmV0"}));
    variants.push(jwk);
    let document = json!({ "keys": variants }).to_string();
    let jwks = Jwks::parse(document.as_bytes(), 64 * 1024, 16).unwrap();
    assert_eq!(jwks.len(), 1);
    assert_eq!(jwks.iter().next().unwrap().kid(), "good");
    assert_eq!(jwks.iter().next().unwrap().algorithm(), Algorithm::Es384);

    // RSA keys under 2048 bits are refused.
    let rsa = key(KeyKind::Rs256);
    let mut small = rsa.jwk().clone();
    small["n"] = json!(URL_SAFE_NO_PAD.encode([0xffu8; 128]));
    let document = json!({ "keys": [small] }).to_string();
    assert!(Jwks::parse(document.as_bytes(), 64 * 1024, 16).is_err());
}
