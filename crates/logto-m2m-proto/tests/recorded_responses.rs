//! Every recorded answer of a real Logto core parses to the right typed outcome.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{API, recorded_responses, request};
use logto_m2m_proto::{Error, ErrorCode, ErrorKind, ServerErrorReason, TokenParams, TokenType};

/// What a case must parse to.
enum Expect {
    Token {
        lifetime: u64,
        granted: &'static [&'static str],
        not_granted: &'static [&'static str],
    },
    Refused {
        status: u16,
        code: ErrorCode,
        kind: ErrorKind,
        www_authenticate: bool,
    },
}

/// The parameters each recorded request asked for (what matters to the parser: the scopes).
fn params_for(case: &str) -> TokenParams {
    let api = TokenParams::for_resource(API);
    match case {
        "good basic" => api.scopes(["read:items", "write:items"]),
        "good post (client_secret_post)" | "json body" => api.scope("read:items"),
        "ungranted scope only" => api.scope("delete:items"),
        "mgmt api all" => TokenParams::for_resource("https://default.logto.app/api").scope("all"),
        "org token" => TokenParams::for_organization("org-1").scopes(["org:read", "other"]),
        "org token no scope" => TokenParams::for_organization("org-1"),
        "org + resource" => api
            .organization("org-1")
            .scopes(["read:items", "write:items"]),
        _ => api,
    }
}

fn expectation(case: &str) -> Expect {
    use ErrorCode as C;
    use ErrorKind as K;
    let refused = |status, code, kind| Expect::Refused {
        status,
        code,
        kind,
        www_authenticate: false,
    };
    match case {
        "good basic" => Expect::Token {
            lifetime: 1800,
            granted: &["read:items", "write:items"],
            not_granted: &[],
        },
        "good post (client_secret_post)" | "json body" => Expect::Token {
            lifetime: 1800,
            granted: &["read:items"],
            not_granted: &[],
        },
        "no scope" => Expect::Token {
            lifetime: 1800,
            granted: &[],
            not_granted: &[],
        },
        "ungranted scope only" => Expect::Token {
            lifetime: 1800,
            granted: &[],
            not_granted: &["delete:items"],
        },
        "mgmt api all" => Expect::Token {
            lifetime: 3600,
            granted: &["all"],
            not_granted: &[],
        },
        "org token" => Expect::Token {
            lifetime: 3600,
            granted: &["org:read"],
            not_granted: &["other"],
        },
        "org token no scope" => Expect::Token {
            lifetime: 3600,
            granted: &[],
            not_granted: &[],
        },
        "org + resource" => Expect::Token {
            lifetime: 1800,
            granted: &["read:items"],
            not_granted: &["write:items"],
        },
        "bad secret basic" => Expect::Refused {
            status: 401,
            code: C::InvalidClient,
            kind: K::CredentialsRejected,
            www_authenticate: true,
        },
        "bad secret post" => refused(401, C::InvalidClient, K::CredentialsRejected),
        "unknown client" => refused(400, C::InvalidClient, K::CredentialsRejected),
        "unknown resource"
        | "relative resource"
        | "resource with fragment"
        | "missing resource"
        | "two resources"
        | "parse_error=false unknown resource" => {
            refused(400, C::InvalidTarget, K::RequestRejected)
        }
        "org not associated" => refused(403, C::AccessDenied, K::RequestRejected),
        "unsupported grant" => refused(400, C::UnsupportedGrantType, K::RequestRejected),
        "no auth"
        | "wrong grant for client"
        | "no grant_type"
        | "dup scope"
        | "both basic and post secret"
        | "malformed basic" => refused(400, C::InvalidRequest, K::RequestRejected),
        other => panic!("no expectation for recorded case {other:?}"),
    }
}

#[test]
fn all_26_recorded_logto_responses_parse_to_their_typed_outcome() {
    let cases = recorded_responses();
    assert_eq!(cases.len(), 26, "the fixture file holds 26 cases");
    let sent_at = Instant::now();
    for case in cases {
        let name = case.name.as_str();
        let parsed =
            request(params_for(name)).parse_response(&case.response, sent_at, SystemTime::now());
        match (expectation(name), parsed) {
            (
                Expect::Token {
                    lifetime,
                    granted,
                    not_granted,
                },
                Ok(token),
            ) => {
                assert_eq!(token.lifetime(), Duration::from_secs(lifetime), "{name}");
                assert_eq!(
                    token.expires_at(),
                    sent_at + Duration::from_secs(lifetime),
                    "{name}"
                );
                assert_eq!(token.token_type(), &TokenType::Bearer, "{name}");
                assert!(
                    token.access_token().expose_secret().starts_with("eyJ"),
                    "{name}"
                );
                assert_eq!(
                    token.granted_scopes().iter().collect::<Vec<_>>(),
                    granted,
                    "{name}"
                );
                assert_eq!(
                    token.not_granted_scopes().iter().collect::<Vec<_>>(),
                    not_granted,
                    "{name}"
                );
                assert!(
                    token.warnings().is_empty(),
                    "{name}: {:?}",
                    token.warnings()
                );
                assert!(token.extra_fields().is_empty(), "{name}");
            }
            (
                Expect::Refused {
                    status,
                    code,
                    kind,
                    www_authenticate,
                },
                Err(error),
            ) => {
                assert_eq!(error.status().map(|s| s.as_u16()), Some(status), "{name}");
                assert_eq!(error.kind(), kind, "{name}");
                assert!(!error.is_retryable(), "{name}");
                let Error::Server(server) = &error else {
                    panic!("{name}: expected a server error, got {error:?}");
                };
                let oauth = server.oauth().unwrap();
                assert_eq!(oauth.code, code, "{name}");
                assert!(oauth.description.is_some(), "{name}");
                assert_eq!(
                    server.logto_code(),
                    Some(format!("oidc.{}", code.as_str()).as_str()),
                    "{name}"
                );
                assert!(server.logto_message().is_some(), "{name}");
                assert_eq!(
                    server.www_authenticate().is_some(),
                    www_authenticate,
                    "{name}"
                );
                assert!(
                    matches!(server.reason(), ServerErrorReason::OAuth(_)),
                    "{name}"
                );
            }
            (Expect::Token { .. }, Err(error)) => panic!("{name}: expected a token, got {error}"),
            (Expect::Refused { .. }, Ok(token)) => {
                panic!("{name}: expected an error, got {token:?}")
            }
        }
    }
}

#[test]
fn the_www_authenticate_challenge_is_kept_verbatim() {
    let case = recorded_responses()
        .into_iter()
        .find(|c| c.name == "bad secret basic")
        .unwrap();
    let error = request(params_for(&case.name))
        .parse_response(&case.response, Instant::now(), SystemTime::now())
        .unwrap_err();
    let Error::Server(server) = error else {
        panic!()
    };
    assert_eq!(
        server.www_authenticate(),
        Some(
            r#"Basic realm="http://127.0.0.1:3001/oidc", error="invalid_client", error_description="client authentication failed""#
        )
    );
}
