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
