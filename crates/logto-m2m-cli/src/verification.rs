//! `logto-m2m inspect --verify`: the token checked as an API protected by Logto checks it, with
//! `logto-m2m-verify`, against the key set of the configured Logto.

use logto_m2m::{ENDPOINT_VAR, ORGANIZATION_ID_VAR, RESOURCE_VAR};
use logto_m2m_ureq::UreqTransport;
use logto_m2m_verify::{Audience, BlockingVerifier, RequiredScopes, VerifyError};

use crate::cli::InspectArgs;
use crate::exit::{CliError, Exit};

/// The prefix of an organization token's audience.
const ORGANIZATION_AUDIENCE: &str = "urn:logto:organization:";

/// Verifies `token`; the line that says what was checked, or why it was refused.
pub(crate) fn verify(
    token: &str,
    token_audience: Option<&str>,
    args: &InspectArgs,
) -> Result<String, CliError> {
    let endpoint = setting(args.endpoint.as_deref(), ENDPOINT_VAR).ok_or_else(|| {
        CliError::usage(format!(
            "--verify needs Logto's endpoint, whose keys sign the token: set {ENDPOINT_VAR}, or pass --endpoint"
        ))
    })?;
    let resource = setting(args.resource.as_deref(), RESOURCE_VAR);
    let organization = setting(args.organization.as_deref(), ORGANIZATION_ID_VAR);
    let (audience, said) = match (&resource, &organization, token_audience) {
        (Some(resource), Some(_), _) => (
            Audience::OrganizationResource(resource.clone()),
            resource.clone(),
        ),
        (Some(resource), None, _) => (Audience::Resource(resource.clone()), resource.clone()),
        (None, Some(organization), _) => (
            Audience::Organization(organization.clone()),
            format!("{ORGANIZATION_AUDIENCE}{organization}"),
        ),
        (None, None, Some(aud)) => match aud.strip_prefix(ORGANIZATION_AUDIENCE) {
            Some(organization) => (
                Audience::Organization(organization.to_owned()),
                format!("{aud} (the token's own; pass --organization to require yours)"),
            ),
            None => (
                Audience::Resource(aud.to_owned()),
                format!("{aud} (the token's own; pass --resource to require yours)"),
            ),
        },
        (None, None, None) => {
            return Err(CliError::usage(format!(
                "--verify needs the audience to check and the token names none: pass --resource or --organization (or set {RESOURCE_VAR})"
            )));
        }
    };
    let verifier =
        BlockingVerifier::new(UreqTransport::new(), &endpoint, audience).map_err(|error| {
            CliError::usage(format!(
                "{error} (from --endpoint or {ENDPOINT_VAR}): correct it and run again"
            ))
        })?;
    let verified = verifier
        .verify(token, &RequiredScopes::none())
        .map_err(|error| refused(&error, &endpoint))?;
    if let Some(organization) = &organization {
        if resource.is_some() {
            verified
                .require_organization(organization)
                .map_err(|error| refused(&VerifyError::from(error), &endpoint))?;
        }
    }
    Ok(format!(
        "verified against {endpoint}: the signature ({}, key {}) by its key set, the issuer, the \
         audience {said}, and the times",
        verified.algorithm(),
        verified.key_id(),
    ))
}

fn refused(error: &VerifyError, endpoint: &str) -> CliError {
    if error.is_retryable() {
        CliError::new(
            Exit::Unavailable,
            format!(
                "could not verify the token: {error}; check that {endpoint} is Logto's endpoint and reachable, and try again"
            ),
        )
    } else {
        CliError::new(
            Exit::TokenRefused,
            format!("the token does not verify: {error}"),
        )
    }
}

/// The flag's value, else the variable's (unset and empty alike count as absent).
fn setting(flag: Option<&str>, variable: &str) -> Option<String> {
    flag.map(str::to_owned)
        .or_else(|| std::env::var(variable).ok())
        .filter(|value| !value.is_empty())
}
