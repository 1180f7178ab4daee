//! Fetch a Management API token from `LOGTO_ENDPOINT` / `LOGTO_APP_ID` / `LOGTO_APP_SECRET` and call
//! `GET /api/applications` with it.
//!
//! ```sh
//! LOGTO_ENDPOINT=https://my-tenant.logto.app LOGTO_APP_ID=... LOGTO_APP_SECRET=... \
//!     cargo run -p logto-m2m-ureq --example management_api_blocking
//! ```
//!
//! On Logto Cloud (`https://{tenant}.logto.app`) the Management API resource is
//! `https://{tenant}.logto.app/api`; on a self-hosted Logto it is `https://default.logto.app/api`.

use logto_m2m::proto::http::Request;
use logto_m2m::proto::management_api;
use logto_m2m::{BlockingTransport, TokenParams};
use logto_m2m_ureq::UreqTransport;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manager = match logto_m2m_ureq::token_manager_from_env() {
        Ok(manager) => manager,
        Err(error) => {
            eprintln!(
                "{error}: set LOGTO_ENDPOINT, LOGTO_APP_ID and LOGTO_APP_SECRET for your M2M app"
            );
            std::process::exit(2);
        }
    };
    let params = management_api_params(manager.config().endpoint_host())?;
    let request = manager.request(params)?;
    let token = manager.token(&request)?;
    println!("token: {token:?}");

    // The API call itself: a transport with a larger answer cap than a token response needs.
    let api = UreqTransport::builder()
        .max_response_bytes(4 * 1024 * 1024)
        .build();
    let mut call = Request::get(format!("{}/api/applications", manager.config().endpoint()))
        .body(Vec::new())?;
    logto_m2m::proto::authorize(&mut call, &token);
    let response = api.send(call)?;
    println!("GET /api/applications: {}", response.status());
    if response.status() == 401 {
        // The token was refused: drop it so the next call fetches a new one (the call is not replayed).
        let _ = manager.invalidate(&request, &token);
    }
    println!("{}", String::from_utf8_lossy(response.body()));
    Ok(())
}

/// Logto Cloud's Management API for `{tenant}.logto.app`, else self-hosted Logto's.
fn management_api_params(host: &str) -> Result<TokenParams, logto_m2m::proto::ConfigError> {
    match host.strip_suffix(".logto.app") {
        Some(tenant) => management_api::cloud_token_params(tenant),
        None => Ok(management_api::self_hosted_token_params()),
    }
}
