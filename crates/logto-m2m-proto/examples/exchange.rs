//! The main job until the CLI exists: for a sample configuration, print the exact HTTP request that
//! would be sent (secret redacted), then the typed result of parsing recorded Logto responses.
//!
//! Run with `cargo run -p logto-m2m-proto --example exchange`. Set `LOGTO_ENDPOINT`, `LOGTO_APP_ID`
//! and `LOGTO_APP_SECRET` to print the request for your own app instead of the embedded sample.

use std::time::{Instant, SystemTime};

use logto_m2m_proto::http::{Response, StatusCode};
use logto_m2m_proto::{ClientConfig, Error, TokenParams, TokenRequest, redacted};

/// Answers recorded from a real Logto core (status, body); the JWT of the success is shortened.
const RECORDED: [(&str, u16, &str); 3] = [
    (
        "success",
        200,
        r#"{"access_token":"eyJhbGciOiJFUzM4NCIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJtMm0tYXBwIn0.sig","expires_in":1800,"token_type":"Bearer","scope":"read:items"}"#,
    ),
    (
        "wrong secret",
        401,
        r#"{"code":"oidc.invalid_client","message":"An OIDC error occurred: oidc.invalid_client.","error":"invalid_client","error_description":"client authentication failed"}"#,
    ),
    (
        "unknown resource",
        400,
        r#"{"code":"oidc.invalid_target","message":"Invalid resource indicator.","error":"invalid_target","error_description":"resource indicator is missing, or unknown"}"#,
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let config = ClientConfig::builder(
        var("LOGTO_ENDPOINT", "https://my-tenant.logto.app"),
        var("LOGTO_APP_ID", "m2m-app"),
        var("LOGTO_APP_SECRET", "m2m-secret"),
    )
    .build()?;
    let params =
        TokenParams::for_resource("https://api.example.com").scopes(["read:items", "write:items"]);
    let request = TokenRequest::new(&config, params)?;

    println!("# The request that would be sent (secret redacted)\n");
    println!("{}\n", redacted(&request.to_http()));

    let sent_at = Instant::now();
    for (name, status, body) in RECORDED {
        let mut response = Response::new(body.as_bytes().to_vec());
        *response.status_mut() = StatusCode::from_u16(status)?;
        response
            .headers_mut()
            .insert("content-type", "application/json; charset=utf-8".parse()?);
        println!("# Logto answer: {name} ({status})\n");
        match request.parse_response(&response, sent_at, SystemTime::now()) {
            Ok(token) => {
                println!("token type:      {:?}", token.token_type());
                println!("lifetime:        {:?}", token.lifetime());
                println!(
                    "granted scopes:  {:?}",
                    token.granted_scopes().iter().collect::<Vec<_>>()
                );
                println!(
                    "not granted:     {:?}",
                    token.not_granted_scopes().iter().collect::<Vec<_>>()
                );
                println!("warnings:        {:?}", token.warnings());
                println!("debug (redacted): {token:?}\n");
            }
            Err(error) => {
                println!("error:           {error}");
                println!(
                    "kind:            {:?} (retryable: {})",
                    error.kind(),
                    error.is_retryable()
                );
                if let Error::Server(server) = &error {
                    println!("logto code:      {:?}", server.logto_code());
                }
                println!();
            }
        }
    }
    Ok(())
}
