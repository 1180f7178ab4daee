//! List the tenant's applications (names and ids, never their secrets) through Logto's Management
//! API and update a user's custom data, blocking on ureq.
//!
//! ```sh
//! # Against the in-process test Logto (logto-m2m-testkit), when no LOGTO_* variable is set:
//! cargo run -p logto-m2m-ureq --example management_api_blocking
//!
//! # Against your tenant (the custom data of LOGTO_USER_ID is updated only when it is set):
//! LOGTO_ENDPOINT=https://my-tenant.logto.app LOGTO_APP_ID=... LOGTO_APP_SECRET=... \
//!     cargo run -p logto-m2m-ureq --example management_api_blocking
//! ```
//!
//! The Management API resource is chosen from the endpoint: `https://{tenant}.logto.app/api` on
//! Logto Cloud (`https://{tenant}.logto.app`), `https://default.logto.app/api` on a self-hosted
//! Logto. A Logto Cloud tenant behind a custom domain uses `https://{tenant}.logto.app` here.
//! Errors are printed as sentences (`Display`); no secret or token is printed.

use std::process::ExitCode;

use logto_m2m::management_api::BlockingManagementApi;
use logto_m2m_testkit::{TestServer, defaults};
use logto_m2m_ureq::UreqTransport;
use serde_json::{Map, json};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let testkit;
    let (manager, user_id) = if std::env::vars().any(|(name, _)| name.starts_with("LOGTO_")) {
        let user_id = std::env::var("LOGTO_USER_ID").ok();
        (logto_m2m_ureq::token_manager_from_env()?, user_id)
    } else {
        testkit = TestServer::start_default()?;
        println!(
            "No LOGTO_* variable set: calling the in-process test Logto at {}",
            testkit.endpoint()
        );
        let manager = logto_m2m_ureq::token_manager(
            testkit.endpoint(),
            defaults::APP_ID,
            defaults::APP_SECRET,
        )?;
        (manager, Some("user-1".to_owned()))
    };

    let api = BlockingManagementApi::for_manager(&manager, UreqTransport::new())?;
    let mut applications = api.list_applications();
    for application in &mut applications {
        let application = application?;
        println!(
            "application {} ({:?}): {}",
            application.id, application.application_type, application.name
        );
    }
    if let Some(total) = applications.total() {
        println!("{total} applications in all");
    }

    if let Some(user_id) = user_id {
        let mut update = Map::new();
        update.insert("lastSeenBy".to_owned(), json!("logto-m2m example"));
        let custom_data = api.update_user_custom_data(&user_id, &update)?;
        let keys: Vec<&String> = custom_data.keys().collect();
        println!("user {user_id}: customData now has the keys {keys:?}");
    }
    Ok(())
}
