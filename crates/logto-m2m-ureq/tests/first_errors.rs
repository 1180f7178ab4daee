//! The five errors a first user meets, as this library prints them: the main README's
//! "Troubleshooting" section quotes these messages, and this test keeps them true.
#![allow(clippy::unwrap_used)]

use logto_m2m::management_api;
use logto_m2m_testkit::{TestServer, defaults};
use logto_m2m_ureq::{ErrorCode, ErrorKind, TokenParams};

#[test]
fn the_five_first_errors_and_their_messages() {
    let logto = TestServer::start_default().unwrap();

    // 1. Wrong secret.
    let manager =
        logto_m2m_ureq::token_manager(logto.endpoint(), defaults::APP_ID, "not-the-secret")
            .unwrap();
    let error = manager
        .source(TokenParams::for_resource(defaults::RESOURCE))
        .unwrap()
        .token()
        .unwrap_err();
    println!("wrong secret: {error}");
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
    assert_eq!(error.oauth_error_code(), Some(&ErrorCode::InvalidClient));
    assert_eq!(
        error.to_string(),
        "token endpoint answered 401 Unauthorized: invalid_client (client authentication failed)"
    );

    let manager =
        logto_m2m_ureq::token_manager(logto.endpoint(), defaults::APP_ID, defaults::APP_SECRET)
            .unwrap();
    // 2. Unknown resource (not registered as an API resource, or mistyped).
    let error = manager
        .source(TokenParams::for_resource("https://api.example.org"))
        .unwrap()
        .token()
        .unwrap_err();
    println!("unknown resource: {error}");
    assert_eq!(error.oauth_error_code(), Some(&ErrorCode::InvalidTarget));
    assert_eq!(
        error.to_string(),
        "token endpoint answered 400 Bad Request: invalid_target (resource indicator is missing, or unknown)"
    );

    // 3. Organization the app is not associated with.
    let error = manager
        .source(TokenParams::for_organization(
            defaults::UNKNOWN_ORGANIZATION,
        ))
        .unwrap()
        .token()
        .unwrap_err();
    println!("organization not associated: {error}");
    assert_eq!(error.oauth_error_code(), Some(&ErrorCode::AccessDenied));
    assert_eq!(
        error.to_string(),
        "token endpoint answered 403 Forbidden: access_denied (app has not associated with the organization)"
    );

    // 4. Logto Cloud's Management API through a custom domain: refused before anything is sent.
    let custom_domain = logto_m2m_ureq::token_manager(
        "https://auth.example.com",
        defaults::APP_ID,
        defaults::APP_SECRET,
    )
    .unwrap();
    let error = custom_domain
        .source(management_api::cloud_token_params("my-tenant").unwrap())
        .unwrap_err();
    println!("management api through a custom domain: {error}");
    assert_eq!(
        error.to_string(),
        "Logto Cloud issues Management API tokens only from https://{tenant}.logto.app: a token minted \
         on the custom domain \"auth.example.com\" carries an issuer the Management API does not accept"
    );

    // 5. Plain http to a host that is not loopback: refused before anything is sent.
    let error = logto_m2m_ureq::token_manager(
        "http://logto.internal:3001",
        defaults::APP_ID,
        defaults::APP_SECRET,
    )
    .unwrap_err();
    println!("plain http to a remote host: {error}");
    assert_eq!(
        error.to_string(),
        "refusing plain http to non-loopback host \"logto.internal\": the app secret would travel \
         unencrypted (use https, or opt in with allow_insecure_http)"
    );
    assert_eq!(logto.token_requests(), 3);
}
