//! `logto-m2m api` through the real binary against the test server's Management API: masking,
//! pagination, a PATCH with data, the 401 rule, exit codes, and no secret or token on standard
//! error.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{CANARY_SECRET, bare, canary_server_with, logto_m2m, text};
use logto_m2m_testkit::http::StatusCode;
use logto_m2m_testkit::{Fault, ManagementData, TestServer, defaults};
use serde_json::{Value, json};

/// Another application's secret, in the Management API's answers only.
const WEB_APP_SECRET: &str = "web-app-canary-7c41";

fn server() -> TestServer {
    canary_server_with(
        ManagementData::empty()
            .application(ManagementData::application_json(
                defaults::APP_ID,
                "Backend service",
                "MachineToMachine",
                CANARY_SECRET,
            ))
            .application(ManagementData::application_json(
                "web-app",
                "Web app",
                "Traditional",
                WEB_APP_SECRET,
            ))
            .user(
                ManagementData::user_json("user-1", "alice")
                    .with_custom_data(json!({"plan": "free"})),
            ),
    )
}

/// Management API requests the server received (faulted ones included).
fn api_requests(server: &TestServer) -> Vec<(String, Option<String>)> {
    server
        .requests()
        .iter()
        .filter(|r| r.path().starts_with("/api/"))
        .map(|r| (r.method().to_string(), r.query().map(str::to_owned)))
        .collect()
}

/// Standard error holds neither the canary secrets nor anything shaped like a token.
/// The next Management API call is answered 401, as Logto answers a token it no longer accepts.
fn refuse_the_next_api_call(server: &TestServer) {
    server.inject_api(
        Fault::json(
            StatusCode::UNAUTHORIZED,
            &json!({"code": "auth.unauthorized", "message": "Unauthorized"}),
        ),
        1,
    );
}

fn assert_clean_stderr(stderr: &str) {
    assert!(!stderr.contains(CANARY_SECRET), "{stderr}");
    assert!(!stderr.contains(WEB_APP_SECRET), "{stderr}");
    assert!(!stderr.contains("eyJ"), "{stderr}");
}

#[test]
fn applications_are_printed_with_their_secrets_masked() {
    let server = server();
    let output = logto_m2m(&server)
        .args(["api", "/api/applications"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(!stdout.contains(CANARY_SECRET), "{stdout}");
    assert!(!stdout.contains(WEB_APP_SECRET), "{stdout}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = answer
        .as_array()
        .unwrap()
        .iter()
        .map(|app| app["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Backend service", "Web app"]);
    assert_eq!(answer[1]["secret"], "[masked]");
    // Not a terminal: one line of raw JSON.
    assert_eq!(stdout.lines().count(), 1);
    assert!(stderr.contains("GET /api/applications: 200 OK"), "{stderr}");
    assert_clean_stderr(&stderr);
}

#[test]
fn show_secrets_prints_them() {
    let server = server();
    let output = logto_m2m(&server)
        .args(["api", "GET", "/api/applications", "--show-secrets"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer[1]["secret"], WEB_APP_SECRET);
    assert_clean_stderr(&text(&output.stderr));
}

#[test]
fn paginate_follows_every_page_into_one_array() {
    let mut data = ManagementData::empty();
    for i in 0..250 {
        data = data.application(ManagementData::application_json(
            &format!("app-{i:03}"),
            &format!("App {i}"),
            "MachineToMachine",
            &format!("secret-{i}"),
        ));
    }
    let server = canary_server_with(data);
    let output = logto_m2m(&server)
        .args(["api", "/api/applications", "--paginate"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let items = answer.as_array().unwrap();
    assert_eq!(items.len(), 250);
    assert_eq!(items[0]["id"], "app-000");
    assert_eq!(items[249]["id"], "app-249");
    assert!(items.iter().all(|item| item["secret"] == "[masked]"));
    let queries: Vec<Option<String>> = api_requests(&server).into_iter().map(|r| r.1).collect();
    assert_eq!(
        queries,
        [1, 2, 3]
            .map(|page| Some(format!("page={page}&page_size=100")))
            .to_vec()
    );
}

#[test]
fn patch_sends_the_data_and_prints_the_answer() {
    let server = server();
    let output = logto_m2m(&server)
        .args([
            "api",
            "patch",
            "/api/users/user-1/custom-data",
            "--data",
            r#"{"customData":{"tier":"gold"}}"#,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer, json!({"plan": "free", "tier": "gold"}));
    assert_eq!(
        server.user("user-1").unwrap()["customData"],
        json!({"plan": "free", "tier": "gold"})
    );

    // The same from standard input, with a query parameter encoded.
    let output = logto_m2m(&server)
        .args([
            "api",
            "PATCH",
            "/api/users/user-1/custom-data",
            "--data",
            "-",
        ])
        .args(["--query", "note=a b&c"])
        .write_stdin(r#"{"customData":{"tier":"silver"}}"#)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        api_requests(&server).last().unwrap(),
        &("PATCH".to_owned(), Some("note=a+b%26c".to_owned()))
    );
}

#[test]
fn a_401_invalidates_the_token_and_a_get_is_sent_once_more() {
    let server = server();
    refuse_the_next_api_call(&server);
    let output = logto_m2m(&server)
        .args(["api", "/api/applications"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        api_requests(&server).len(),
        2,
        "sent once more after the 401"
    );
    let tokens = server
        .requests()
        .iter()
        .filter(|r| r.is_token_request())
        .count();
    assert_eq!(
        tokens, 2,
        "the refused token was invalidated and a new one asked for"
    );
    assert_clean_stderr(&text(&output.stderr));
}

#[test]
fn the_apis_4xx_exits_6_and_its_5xx_exits_7() {
    let server = server();
    let output = logto_m2m(&server)
        .args(["api", "PATCH", "/api/users/nobody/custom-data"])
        .args(["--data", r#"{"customData":{}}"#])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("404"), "{stderr}");
    assert!(stderr.contains("entity.not_exists_with_id"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_clean_stderr(&stderr);

    server.inject_api(
        Fault::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"code": "unavailable", "message": format!("down; secret {CANARY_SECRET}")}),
        ),
        1,
    );
    let output = logto_m2m(&server)
        .args(["api", "/api/applications"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(7));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("503"), "{stderr}");
    assert_clean_stderr(&stderr);
}

#[test]
fn bad_data_is_refused_before_anything_is_sent() {
    let server = server();
    let output = logto_m2m(&server)
        .args(["api", "POST", "/api/users", "--data", "{not json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--data must be JSON"));
    assert!(server.requests().is_empty());
}

#[test]
fn a_patch_is_not_sent_again_after_a_401() {
    let server = server();
    refuse_the_next_api_call(&server);
    let output = logto_m2m(&server)
        .args(["api", "PATCH", "/api/users/user-1/custom-data"])
        .args(["--data", r#"{"customData":{"tier":"gold"}}"#])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    assert_eq!(api_requests(&server).len(), 1, "a PATCH is not replayed");
    assert_eq!(
        server.user("user-1").unwrap()["customData"],
        json!({"plan": "free"})
    );
    let stderr = text(&output.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert_clean_stderr(&stderr);
}

/// A Logto Cloud tenant's Management API through a custom domain is refused with the reason,
/// before anything is sent; through `{tenant}.logto.app` it is that tenant's resource.
#[test]
fn a_cloud_tenant_through_a_custom_domain_is_refused_with_the_reason() {
    let output = bare()
        .env("LOGTO_ENDPOINT", "https://auth.example.com")
        .env("LOGTO_APP_ID", "m2m-app")
        .env("LOGTO_APP_SECRET", CANARY_SECRET)
        .args(["api", "--tenant", "my-tenant", "/api/applications"])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("custom domain"), "{stderr}");
    assert!(stderr.contains("logto.app"), "{stderr}");
    assert_clean_stderr(&stderr);
}
