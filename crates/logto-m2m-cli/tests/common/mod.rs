//! The test server with a canary tenant, and the real binary pointed at it.

#![allow(dead_code, unreachable_pub)]

use assert_cmd::Command;
use logto_m2m_testkit::{
    ApiResource, App, Config, ManagementData, OrganizationMembership, TestServer, defaults,
};

/// The app secret of the canary tenant: it must never show where secrets must not.
pub const CANARY_SECRET: &str = "canary-secret-5f1d9b2e";

/// Every variable the command reads, removed from the test's environment before setting any.
pub const VARS: [&str; 8] = [
    "LOGTO_ENDPOINT",
    "LOGTO_APP_ID",
    "LOGTO_APP_SECRET",
    "LOGTO_RESOURCE",
    "LOGTO_SCOPES",
    "LOGTO_ORGANIZATION_ID",
    "LOGTO_AUTH_METHOD",
    "LOGTO_ALLOW_INSECURE_HTTP",
];

/// The testkit's default tenant, with the app's secret replaced by the canary.
pub fn canary_server() -> TestServer {
    canary_server_with(ManagementData::empty())
}

/// The canary tenant, whose Management API serves `data`.
pub fn canary_server_with(data: ManagementData) -> TestServer {
    let config = Config::builder()
        .resource(
            ApiResource::new(defaults::RESOURCE)
                .ttl(defaults::RESOURCE_TTL)
                .scopes(defaults::RESOURCE_SCOPES),
        )
        .resource(ApiResource::management_api("default"))
        .organization(defaults::ORGANIZATION)
        .app(
            App::new(defaults::APP_ID, CANARY_SECRET)
                .grant(defaults::RESOURCE, defaults::GRANTED_SCOPES)
                .grant(defaults::MANAGEMENT_API, [defaults::MANAGEMENT_API_SCOPE])
                .organization(
                    OrganizationMembership::new(defaults::ORGANIZATION)
                        .scopes([defaults::ORGANIZATION_SCOPE]),
                ),
        )
        .management_data(data)
        .build()
        .expect("the canary tenant is valid");
    TestServer::start(config).expect("the test server starts")
}

/// The binary with a clean environment: no `LOGTO_*` variable of the machine running the tests.
pub fn bare() -> Command {
    let mut command = Command::cargo_bin("logto-m2m").expect("the binary is built");
    for var in VARS {
        command.env_remove(var);
    }
    // The help text wraps at this width whatever the terminal running the tests.
    command.env("COLUMNS", "100");
    command.timeout(std::time::Duration::from_secs(60));
    command
}

/// The binary configured for `server` through the environment, the canary as the secret.
pub fn logto_m2m(server: &TestServer) -> Command {
    let mut command = bare();
    command
        .env("LOGTO_ENDPOINT", server.endpoint())
        .env("LOGTO_APP_ID", defaults::APP_ID)
        .env("LOGTO_APP_SECRET", CANARY_SECRET);
    command
}

/// Standard output and standard error of a finished command, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("the output is UTF-8")
}

/// Whether `text` looks like a JWT: three base64url parts.
pub fn is_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The claims of a JWT, decoded without verification.
pub fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
