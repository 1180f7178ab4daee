//! What the library's results mean, in words: a token's warnings, and a failed token request as
//! one sentence with what to do and the exit code of its kind.

use std::time::Duration;

use logto_m2m::proto::TokenType;
use logto_m2m::{Error, ErrorKind, ParseWarning, TokenRequest};

use crate::exit::{CliError, Exit};
use crate::times;

/// A warning about a token answer, in words.
pub(crate) fn warning(warning: &ParseWarning) -> String {
    match warning {
        ParseWarning::ExpiresInAsString => "expires_in came as a string, not a number".to_owned(),
        ParseWarning::ExpiresInMissing { assumed } => {
            format!(
                "no expires_in: a lifetime of {} was assumed",
                times::duration(*assumed)
            )
        }
        ParseWarning::ExpiresInClamped {
            announced_secs,
            clamped_to,
        } => format!(
            "expires_in of {announced_secs} s was cut to {}",
            times::duration(*clamped_to)
        ),
        ParseWarning::TokenTypeMissing => "no token_type: Bearer was assumed".to_owned(),
        ParseWarning::ContentTypeMissing => "the answer had no Content-Type".to_owned(),
        ParseWarning::UnexpectedContentType { content_type } => {
            format!("the answer's Content-Type was {content_type:?}, not JSON")
        }
        _ => "the answer had something unusual in it".to_owned(),
    }
}

/// A token's type as Logto writes it.
pub(crate) fn token_type(token_type: &TokenType) -> &str {
    match token_type {
        TokenType::Bearer => "Bearer",
        TokenType::DPoP => "DPoP",
        TokenType::Other(other) => other,
        _ => "unknown",
    }
}

/// What a token request is for: `https://api.example.com`, `organization org-1`, or both.
pub(crate) fn target(request: &TokenRequest) -> String {
    let params = request.params();
    match (params.resource_indicator(), params.organization_id()) {
        (Some(resource), Some(organization)) => {
            format!("{resource} in organization {organization}")
        }
        (Some(resource), None) => resource.to_owned(),
        (None, Some(organization)) => format!("organization {organization}"),
        (None, None) => "the default API".to_owned(),
    }
}

/// A failed token request: what failed (the library's own message, which holds no secret), what
/// to do, and the exit code of its kind.
pub(crate) fn token_error(error: &Error, request: &TokenRequest) -> CliError {
    let (exit, advice) = match error.kind() {
        ErrorKind::Misuse => (
            Exit::Usage,
            "correct the configuration and run again".to_owned(),
        ),
        ErrorKind::CredentialsRejected => (
            Exit::CredentialsRejected,
            "check the app id and secret (LOGTO_APP_ID, LOGTO_APP_SECRET) against the \
             machine-to-machine app in Logto's console"
                .to_owned(),
        ),
        ErrorKind::RequestRejected => (
            Exit::RequestRejected,
            "check the resource (the API identifier exactly as Logto's console shows it), the \
             scopes and the organization, and that the app has a role granting them"
                .to_owned(),
        ),
        ErrorKind::Throttled => (
            Exit::Unavailable,
            match error.retry_after() {
                Some(delay) => format!(
                    "Logto asks to slow down; try again in {}",
                    times::duration(delay.max(Duration::from_secs(1)))
                ),
                None => "Logto asks to slow down; try again later".to_owned(),
            },
        ),
        ErrorKind::Transient | ErrorKind::InvalidResponse => (
            Exit::Unavailable,
            "check the endpoint and the network, and try again later".to_owned(),
        ),
        _ => (
            Exit::Failure,
            "check the endpoint: something between here and Logto answers in its place".to_owned(),
        ),
    };
    CliError::new(
        exit,
        format!(
            "could not get a token for {} from {}: {error}; {advice}",
            target(request),
            request.config().token_endpoint()
        ),
    )
}
