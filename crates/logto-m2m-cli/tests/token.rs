//! `logto-m2m token` through the real binary, against the test server.

#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{CANARY_SECRET, bare, canary_server, is_jwt, logto_m2m, text};
use logto_m2m_testkit::{Fault, RetryAfter, defaults};
use serde_json::Value;

#[test]
fn prints_the_token_alone_and_nothing_on_a_standard_error_that_is_not_a_terminal() {
    let logto = canary_server();
    let out = logto_m2m(&logto)
        .args([
            "token",
            "--resource",
            defaults::RESOURCE,
            "--scope",
            "read:items",
        ])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(is_jwt(token), "{stdout:?}");
    assert!(out.get_output().stderr.is_empty());
    assert!(!stdout.contains(CANARY_SECRET));

    let sent = &logto.requests()[0];
    assert_eq!(sent.client_id(), Some(defaults::APP_ID));
    assert_eq!(sent.param("resource"), Some(defaults::RESOURCE));
    assert_eq!(sent.param("scope"), Some("read:items"));
    let claims = common::claims(token);
    assert_eq!(claims["scope"], "read:items");
}

#[test]
fn the_header_format_is_the_authorization_value() {
    let logto = canary_server();
    let out = logto_m2m(&logto)
        .args([
            "token",
            "--resource",
            defaults::RESOURCE,
            "--format",
            "header",
        ])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    let token = stdout
        .strip_prefix("Bearer ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .expect("Bearer <token>");
    assert!(is_jwt(token));
}

#[test]
fn json_tells_everything_but_the_token_unless_asked() {
    let logto = canary_server();
    let out = logto_m2m(&logto)
        .env("LOGTO_RESOURCE", defaults::RESOURCE)
        .env("LOGTO_SCOPES", "read:items delete:items")
        .args(["token", "--format", "json"])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    let json: Value = serde_json::from_str(&stdout).expect("JSON");
    let keys: Vec<&str> = json
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "expires_at",
            "for",
            "granted_scopes",
            "lifetime_secs",
            "not_granted_scopes",
            "token_type",
            "warnings"
        ]
    );
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["for"], defaults::RESOURCE);
    assert_eq!(json["lifetime_secs"], defaults::RESOURCE_TTL);
    assert_eq!(json["granted_scopes"], serde_json::json!(["read:items"]));
    assert_eq!(
        json["not_granted_scopes"],
        serde_json::json!(["delete:items"])
    );
    assert_eq!(json["warnings"], serde_json::json!([]));
    let expires_at = json["expires_at"].as_str().expect("a string");
    assert!(
        expires_at.len() == 20 && expires_at.ends_with('Z') && expires_at.contains('T'),
        "{expires_at}"
    );
    assert!(!stdout.contains("eyJ"), "no token in {stdout}");
    assert!(!stdout.contains(CANARY_SECRET));
    assert!(out.get_output().stderr.is_empty());

    insta::with_settings!({filters => vec![(r#""expires_at": "[^"]+""#, r#""expires_at": "[time]""#)]}, {
        insta::assert_snapshot!("token_json", stdout);
    });

    let out = logto_m2m(&logto)
        .args([
            "token",
            "--resource",
            defaults::RESOURCE,
            "--format",
            "json-with-token",
        ])
        .assert()
        .success();
    let json: Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert!(is_jwt(json["access_token"].as_str().expect("the token")));
}

#[test]
fn the_management_api_and_organizations_are_targets_of_their_own() {
    let logto = canary_server();
    let out = logto_m2m(&logto)
        .env("LOGTO_RESOURCE", defaults::RESOURCE)
        .args(["token", "--management-api", "--format", "json"])
        .assert()
        .success();
    let json: Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(json["for"], defaults::MANAGEMENT_API);
    assert_eq!(json["granted_scopes"], serde_json::json!(["all"]));

    let out = logto_m2m(&logto)
        .env("LOGTO_RESOURCE", defaults::RESOURCE)
        .args([
            "token",
            "--organization",
            defaults::ORGANIZATION,
            "--scope",
            defaults::ORGANIZATION_SCOPE,
        ])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    let sent = logto.requests();
    let last = sent.last().expect("a request");
    assert_eq!(last.param("organization_id"), Some(defaults::ORGANIZATION));
    assert_eq!(
        last.param("resource"),
        None,
        "the flag replaces LOGTO_RESOURCE"
    );
    assert!(is_jwt(stdout.trim_end()));

    bare()
        .args(["token", "--management-api", "--organization", "org-1"])
        .assert()
        .code(2);
}

#[test]
fn the_secret_comes_from_a_file_or_standard_input_never_from_a_flag() {
    let logto = canary_server();
    let dir = std::env::temp_dir().join(format!("logto-m2m-cli-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let file = dir.join("secret");
    std::fs::write(&file, format!("{CANARY_SECRET}\n")).expect("the secret file");

    let mut from_file = logto_m2m(&logto);
    from_file.env_remove("LOGTO_APP_SECRET");
    from_file
        .args(["token", "--resource", defaults::RESOURCE, "--secret-file"])
        .arg(&file)
        .assert()
        .success();

    let mut from_stdin = logto_m2m(&logto);
    from_stdin.env("LOGTO_APP_SECRET", "not-the-secret");
    from_stdin
        .args(["token", "--resource", defaults::RESOURCE, "--secret-stdin"])
        .write_stdin(format!("{CANARY_SECRET}\r\n"))
        .assert()
        .success();
    assert_eq!(logto.token_requests(), 2);
    std::fs::remove_dir_all(&dir).expect("cleaned up");

    let out = bare()
        .args(["token", "--app-secret", CANARY_SECRET])
        .assert()
        .code(2);
    assert!(text(&out.get_output().stderr).contains("unexpected argument"));

    let out = logto_m2m(&logto)
        .args([
            "token",
            "--resource",
            defaults::RESOURCE,
            "--secret-file",
            "/nonexistent/secret",
        ])
        .assert()
        .code(2);
    assert!(text(&out.get_output().stderr).contains("--secret-file"));
}

#[test]
fn a_missing_setting_is_named_with_its_variable_and_its_flag() {
    let out = bare()
        .args(["token", "--resource", defaults::RESOURCE])
        .assert()
        .code(2);
    assert_eq!(
        text(&out.get_output().stderr),
        "error: LOGTO_ENDPOINT is not set: set it, or pass --endpoint\n"
    );

    let logto = canary_server();
    let out = logto_m2m(&logto).arg("token").assert().code(2);
    assert!(
        text(&out.get_output().stderr).starts_with("error: no token target: pass --resource URI")
    );
    assert_eq!(logto.token_requests(), 0);

    let out = logto_m2m(&logto)
        .args([
            "token",
            "--endpoint",
            "https://t.logto.app/oidc/token",
            "--resource",
            defaults::RESOURCE,
        ])
        .assert()
        .code(2);
    let stderr = text(&out.get_output().stderr);
    assert!(
        stderr.contains("give Logto's base URL \"https://t.logto.app\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("(from --endpoint or LOGTO_ENDPOINT)"),
        "{stderr}"
    );
}

#[test]
fn refused_credentials_exit_3_in_one_sentence_without_the_secret() {
    let logto = canary_server();
    let out = logto_m2m(&logto)
        .env("LOGTO_APP_ID", "other-app")
        .args(["token", "--resource", defaults::RESOURCE])
        .assert()
        .code(3);
    let stderr = text(&out.get_output().stderr);
    assert!(out.get_output().stdout.is_empty());
    assert!(!stderr.contains(CANARY_SECRET));
    assert_eq!(stderr.lines().count(), 1);
    assert!(!stderr.contains("{ "), "no Debug dump: {stderr}");
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]")]}, {
        insta::assert_snapshot!("token_credentials_rejected", stderr);
    });
}

#[test]
fn a_refused_request_exits_4() {
    let logto = canary_server();
    let out = logto_m2m(&logto)
        .args(["token", "--resource", "https://unknown.example.com"])
        .assert()
        .code(4);
    let stderr = text(&out.get_output().stderr);
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]")]}, {
        insta::assert_snapshot!("token_request_rejected", stderr);
    });
}

#[test]
fn throttled_or_unreachable_exits_5() {
    let logto = canary_server();
    logto.inject(Fault::TooManyRequests(RetryAfter::Seconds(3600)), 10);
    let out = logto_m2m(&logto)
        .args(["token", "--resource", defaults::RESOURCE])
        .assert()
        .code(5);
    let stderr = text(&out.get_output().stderr);
    assert!(stderr.contains("429"), "{stderr}");
    assert!(
        stderr.contains("Logto asks to slow down; try again in"),
        "{stderr}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let endpoint = format!("http://{}", closed.local_addr().expect("its address"));
    drop(closed);
    let out = logto_m2m(&logto)
        .args([
            "token",
            "--resource",
            defaults::RESOURCE,
            "--endpoint",
            &endpoint,
        ])
        .assert()
        .code(5);
    let stderr = text(&out.get_output().stderr);
    assert!(
        stderr.contains("check the endpoint and the network"),
        "{stderr}"
    );
    assert!(!stderr.contains(CANARY_SECRET));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = bare().args(["completions", shell]).assert().success();
        assert!(
            text(&out.get_output().stdout).contains("logto-m2m"),
            "{shell}"
        );
    }
}

#[test]
fn a_canary_token_shows_only_in_the_formats_that_print_it() {
    let canary_token = "canary-token-3c7a1e";
    let logto = canary_server();
    let answer = serde_json::json!({
        "access_token": canary_token, "token_type": "Bearer", "expires_in": 3600, "scope": "read:items"
    });
    for (format, shown) in [
        ("token", true),
        ("header", true),
        ("json", false),
        ("json-with-token", true),
    ] {
        logto.inject(
            Fault::json(logto_m2m_testkit::http::StatusCode::OK, &answer),
            1,
        );
        let out = logto_m2m(&logto)
            .args([
                "token",
                "--resource",
                defaults::RESOURCE,
                "--format",
                format,
            ])
            .assert()
            .success();
        let stdout = text(&out.get_output().stdout);
        assert_eq!(stdout.contains(canary_token), shown, "{format}: {stdout}");
        assert!(out.get_output().stderr.is_empty(), "{format}");
    }
}

#[test]
fn an_error_answer_quoting_the_secret_is_not_repeated() {
    let logto = canary_server();
    let answer = serde_json::json!({
        "error": "invalid_request",
        "error_description": format!("client_secret {CANARY_SECRET} is malformed"),
    });
    logto.inject(
        Fault::json(logto_m2m_testkit::http::StatusCode::BAD_REQUEST, &answer),
        1,
    );
    let out = logto_m2m(&logto)
        .args(["token", "--resource", defaults::RESOURCE])
        .assert()
        .code(4);
    let stderr = text(&out.get_output().stderr);
    assert!(!stderr.contains(CANARY_SECRET), "{stderr}");
    assert!(stderr.contains("invalid_request"), "{stderr}");
}
