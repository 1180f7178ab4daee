//! `logto-m2m inspect` through the real binary, on tokens of the test server.

#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{bare, canary_server, logto_m2m, text};
use logto_m2m_testkit::{TestServer, defaults};

fn token(logto: &TestServer, args: &[&str]) -> String {
    let out = logto_m2m(logto).arg("token").args(args).assert().success();
    text(&out.get_output().stdout).trim_end().to_owned()
}

fn filters(logto: &TestServer) -> Vec<(String, String)> {
    vec![
        (regex_escape(&logto.kid()), "[kid]".to_owned()),
        (
            r"127\.0\.0\.1:\d+".to_owned(),
            "127.0.0.1:[port]".to_owned(),
        ),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \([^)]*\)".to_owned(),
            "[time] ([relative])".to_owned(),
        ),
        (r"jti, |, jti|jti".to_owned(), "[jti]".to_owned()),
    ]
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn decodes_a_resource_token_says_it_is_not_verified_and_shows_the_time_left() {
    let logto = canary_server();
    let token = token(
        &logto,
        &[
            "--resource",
            defaults::RESOURCE,
            "--scope",
            "read:items",
            "--scope",
            "write:items",
        ],
    );

    let out = bare().args(["inspect", &token]).assert().success();
    let stdout = text(&out.get_output().stdout);
    assert!(
        stdout.starts_with("not verified: decoded only;"),
        "{stdout}"
    );
    assert!(stdout.contains("  alg              ES384\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("  kid              {}\n", logto.kid())),
        "{stdout}"
    );
    assert!(stdout.contains("  typ              at+jwt\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("  iss              {}\n", logto.issuer())),
        "{stdout}"
    );
    assert!(
        stdout.contains("  aud              https://api.example.com\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  scope            read:items write:items\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  organization_id  (absent)\n"), "{stdout}");
    assert!(
        stdout.contains("(in 29m"),
        "exp is about 30 minutes ahead: {stdout}"
    );
    assert!(!stdout.contains(&token), "the token itself is not printed");
    assert!(out.get_output().stderr.is_empty());

    let settings = filters(&logto);
    let filters: Vec<(&str, &str)> = settings
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!("inspect_resource_token", stdout);
    });
}

#[test]
fn reads_standard_input_for_a_dash_or_nothing_and_ignores_a_bearer_prefix() {
    let logto = canary_server();
    let token = token(
        &logto,
        &[
            "--organization",
            defaults::ORGANIZATION,
            "--scope",
            defaults::ORGANIZATION_SCOPE,
        ],
    );
    for args in [&["inspect", "-"][..], &["inspect"][..]] {
        let out = bare()
            .args(args)
            .write_stdin(format!("Bearer {token}\n"))
            .assert()
            .success();
        let stdout = text(&out.get_output().stdout);
        assert!(stdout.contains("  scope            org:read\n"), "{stdout}");
        assert!(
            stdout.contains("  aud              urn:logto:organization:org-1\n"),
            "{stdout}"
        );
    }
}

#[test]
fn an_expired_token_says_so_and_absent_fields_are_named() {
    // A hand-made token with an exp in the past.
    let header = "eyJhbGciOiJFUzM4NCIsInR5cCI6ImF0K2p3dCJ9"; // {"alg":"ES384","typ":"at+jwt"}
    let claims = "eyJleHAiOjEwMDAsImlhdCI6MTAwfQ"; // {"exp":1000,"iat":100}
    let out = bare()
        .args(["inspect", &format!("{header}.{claims}.c2ln")])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    assert!(
        stdout.contains("  exp              1970-01-01T00:16:40Z (expired "),
        "{stdout}"
    );
    assert!(stdout.contains("  kid              (absent)\n"), "{stdout}");
}

#[test]
fn what_is_not_a_jwt_exits_8_without_quoting_it() {
    let canary = "canary-token-part-9d8e7f";
    for (input, reason) in [
        (canary.to_owned(), "it has 1 parts separated by dots, not 3"),
        (
            format!("{canary}.{canary}.{canary}"),
            "its header is not a JSON object",
        ),
        (format!("e30.{canary}!.x"), "its claims are not base64url"),
        ("e30.W10.x".to_owned(), "its claims are not a JSON object"),
    ] {
        let out = bare().args(["inspect", &input]).assert().code(8);
        let stderr = text(&out.get_output().stderr);
        assert!(stderr.contains(reason), "{input}: {stderr}");
        assert!(!stderr.contains(canary), "{stderr}");
        assert!(out.get_output().stdout.is_empty());
    }
}

#[test]
fn verify_checks_the_signature_issuer_audience_and_times_against_the_endpoint() {
    let logto = canary_server();
    let token = token(
        &logto,
        &["--resource", defaults::RESOURCE, "--scope", "read:items"],
    );
    let verify = |args: &[&str]| {
        let mut command = bare();
        command
            .env("LOGTO_ENDPOINT", logto.endpoint())
            .args(["inspect", "--verify", &token])
            .args(args);
        command.assert()
    };

    let out = verify(&[]).success();
    let stdout = text(&out.get_output().stdout);
    let first = stdout.lines().next().expect("a first line");
    assert_eq!(
        first,
        format!(
            "verified against {}: the signature (ES384, key {}) by its key set, the issuer, the \
             audience {} (the token's own; pass --resource to require yours), and the times",
            logto.endpoint(),
            logto.kid(),
            defaults::RESOURCE
        )
    );
    assert!(
        stdout.contains("  scope            read:items\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("not verified"), "{stdout}");

    let out = verify(&["--resource", defaults::RESOURCE]).success();
    let first = text(&out.get_output().stdout);
    assert!(
        first.contains("audience https://api.example.com, and the times"),
        "{first}"
    );

    let out = verify(&["--resource", "https://other.example.com"]).code(9);
    let stderr = text(&out.get_output().stderr);
    assert_eq!(
        stderr,
        "error: the token does not verify: the token is for another audience\n"
    );
    assert!(out.get_output().stdout.is_empty());
}

#[test]
fn verify_refuses_a_token_signed_elsewhere_or_tampered_with_and_never_quotes_it() {
    let logto = canary_server();
    let elsewhere = canary_server();
    let foreign = token(&elsewhere, &["--resource", defaults::RESOURCE]);
    let out = bare()
        .args([
            "inspect",
            "--verify",
            "--endpoint",
            logto.endpoint(),
            &foreign,
        ])
        .assert()
        .code(9);
    let stderr = text(&out.get_output().stderr);
    assert!(
        stderr.starts_with("error: the token does not verify: "),
        "{stderr}"
    );
    assert!(!stderr.contains(&foreign));

    // The same claims with one more scope, under the original signature.
    let genuine = token(
        &logto,
        &["--resource", defaults::RESOURCE, "--scope", "read:items"],
    );
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut claims = common::claims(&genuine);
    claims["scope"] = "read:items write:items".into();
    let tampered = {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).expect("JSON"));
        format!("{}.{encoded}.{}", parts[0], parts[2])
    };
    let out = bare()
        .env("LOGTO_ENDPOINT", logto.endpoint())
        .args(["inspect", "--verify", &tampered])
        .assert()
        .code(9);
    assert_eq!(
        text(&out.get_output().stderr),
        "error: the token does not verify: the token's signature is invalid\n"
    );
}

#[test]
fn verify_checks_the_organization_and_needs_an_endpoint_that_answers() {
    let logto = canary_server();
    let token = token(
        &logto,
        &[
            "--organization",
            defaults::ORGANIZATION,
            "--scope",
            defaults::ORGANIZATION_SCOPE,
        ],
    );
    bare()
        .args(["inspect", "--verify", "--endpoint", logto.endpoint()])
        .args(["--organization", defaults::ORGANIZATION, &token])
        .assert()
        .success();
    bare()
        .args(["inspect", "--verify", "--endpoint", logto.endpoint()])
        .args(["--organization", defaults::UNKNOWN_ORGANIZATION, &token])
        .assert()
        .code(9);

    let out = bare()
        .args(["inspect", "--verify", &token])
        .assert()
        .code(2);
    assert!(text(&out.get_output().stderr).contains("set LOGTO_ENDPOINT, or pass --endpoint"));
    bare()
        .args(["inspect", "--endpoint", logto.endpoint(), &token])
        .assert()
        .code(2);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let endpoint = format!("http://{}", closed.local_addr().expect("its address"));
    drop(closed);
    let out = bare()
        .args(["inspect", "--verify", "--endpoint", &endpoint, &token])
        .assert()
        .code(5);
    let stderr = text(&out.get_output().stderr);
    assert!(
        stderr.starts_with("error: could not verify the token: "),
        "{stderr}"
    );
    assert!(!stderr.contains(&token));
}
