//! The checks of the `verify_parsers` target: `logto-m2m-verify`'s token and key set parsers on
//! any bytes. Kept apart from [`crate::checks`] (which is `logto-m2m-proto`'s) so that
//! `crates/logto-m2m-verify/tests/fuzz_corpus.rs` can include this file alone.
//!
//! Input: a key set document, a `0xFF` byte, then a token (bytes that are not UTF-8 are a token
//! that cannot be sent in a header, and are skipped). Without `0xFF` the whole input is the
//! token, checked against an empty key set.

use std::time::{Duration, UNIX_EPOCH};

use logto_m2m_verify::http::{HeaderValue, Response, StatusCode};
use logto_m2m_verify::{
    Audience, Forbidden, InvalidToken, Jwks, KeySet, KeySetPolicy, RequiredScopes, Validation,
    VerifyError,
};

/// The endpoint the checks use; the seeds' tokens are issued by `{ENDPOINT}/oidc`.
pub const ENDPOINT: &str = "https://tenant.logto.app";
/// The resource the seeds' tokens are for.
pub const RESOURCE: &str = "https://api.example.com";
/// The check's clock: the seeds' tokens are valid at this instant.
pub const NOW_SECS: u64 = 1_800_000_000;
/// The largest key set document and key count used.
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// The most keys.
pub const MAX_KEYS: usize = 16;

/// Splits the input into a key set document and a token.
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[], data),
    }
}

/// The properties; panics when one does not hold. Returns whether the token verified (for the
/// resource or as an organization token).
pub fn check(data: &[u8]) -> bool {
    let (document, token) = split(data);
    let now = UNIX_EPOCH + Duration::from_secs(NOW_SECS);

    // The key set parser: bounded, and only usable keys, each kid once.
    let keys = match Jwks::parse(document, MAX_DOCUMENT, MAX_KEYS) {
        Ok(keys) => {
            assert!(!keys.is_empty() && keys.len() <= MAX_KEYS);
            let kids: Vec<&str> = keys.iter().map(|k| k.kid()).collect();
            for (i, kid) in kids.iter().enumerate() {
                assert!(!kid.is_empty());
                assert!(!kids[..i].contains(kid), "kid {kid} twice");
            }
            keys
        }
        Err(_) => Jwks::default(),
    };

    // The same document through the key set state machine, as a discovery answer and as the key
    // set answer: never a panic, never more keys than the limit.
    let mut key_set = KeySet::new(ENDPOINT, KeySetPolicy::default()).expect("a valid endpoint");
    if let Some(fetch) = key_set.poll(now) {
        let discovery = format!(
            r#"{{"issuer":"{ENDPOINT}/oidc","token_endpoint":"{ENDPOINT}/oidc/token","jwks_uri":"{ENDPOINT}/oidc/jwks"}}"#
        );
        let _ = key_set.handle_response(fetch.ticket, &Response::new(document.to_vec()), now);
        if let Some(fetch) = key_set.poll(now + Duration::from_secs(5)) {
            if let Ok(Some(jwks)) =
                key_set.handle_response(fetch.ticket, &Response::new(discovery.into_bytes()), now)
            {
                let _ =
                    key_set.handle_response(jwks.ticket, &Response::new(document.to_vec()), now);
                if let Some(loaded) = key_set.keys() {
                    assert!(loaded.len() <= MAX_KEYS);
                }
            }
        }
    }

    // The token parser and checks.
    let Ok(token) = std::str::from_utf8(token) else {
        return false;
    };
    let mut verified_once = false;
    for audience in [
        Audience::Resource(RESOURCE.to_owned()),
        Audience::AnyOrganization,
    ] {
        let validation = Validation::new(ENDPOINT, audience).expect("a valid configuration");
        let required = RequiredScopes::all(["read:items"]);
        match validation.verify(&keys, token, &required, now) {
            Ok(verified) => {
                verified_once = true;
                assert!(keys.find(verified.key_id()).is_some());
                assert!(verified.has_scope("read:items"));
                assert!(verified.expires_at() + Duration::from_secs(60) > now);
                assert!(!verified.subject().is_empty());
            }
            Err(error) => check_error(&error, token),
        }
    }
    verified_once
}

/// Every text an error of a token check can show by itself: `Display` and `Debug` of each
/// reason. A token part found in an error's text is a leak only when it is not one of these (a
/// token may spell `lidToken(Malformed`).
fn fixed_texts() -> String {
    let reasons = [
        InvalidToken::Malformed,
        InvalidToken::TooLarge,
        InvalidToken::Unsigned,
        InvalidToken::SymmetricAlgorithm,
        InvalidToken::UnsupportedAlgorithm,
        InvalidToken::AlgorithmMismatch,
        InvalidToken::MissingKeyId,
        InvalidToken::UnknownKey,
        InvalidToken::BadSignature,
        InvalidToken::CriticalHeader,
        InvalidToken::WrongType,
        InvalidToken::MalformedClaims,
        InvalidToken::MissingClaim("iss"),
        InvalidToken::MissingClaim("aud"),
        InvalidToken::MissingClaim("exp"),
        InvalidToken::MissingClaim("sub"),
        InvalidToken::MissingClaim("organization_id"),
        InvalidToken::WrongIssuer,
        InvalidToken::WrongAudience,
        InvalidToken::Expired,
        InvalidToken::NotYetValid,
        InvalidToken::IssuedInTheFuture,
    ];
    let mut errors: Vec<VerifyError> = reasons.into_iter().map(VerifyError::from).collect();
    errors.push(Forbidden::OrganizationMismatch.into());
    errors.push(
        Forbidden::MissingScopes {
            required: "read:items".to_owned(),
        }
        .into(),
    );
    errors.iter().map(|e| format!("{e}\n{e:?}\n")).collect()
}

/// An error never quotes the token, and answers with a valid status and challenge.
fn check_error(error: &VerifyError, token: &str) {
    let texts = [error.to_string(), format!("{error:?}")];
    let fixed = fixed_texts();
    for part in token.split('.').filter(|p| p.len() >= 16) {
        for text in &texts {
            assert!(
                !text.contains(part) || fixed.contains(part),
                "{text:?} quotes the token"
            );
        }
    }
    match error {
        VerifyError::InvalidToken(_) => assert_eq!(error.status(), StatusCode::UNAUTHORIZED),
        VerifyError::Forbidden(_) => assert_eq!(error.status(), StatusCode::FORBIDDEN),
        other => panic!("a key set in hand gives no {other:?}"),
    }
    let challenge: HeaderValue = error.www_authenticate().expect("a challenge");
    assert!(
        challenge
            .to_str()
            .is_ok_and(|c| c.starts_with("Bearer error="))
    );
}
