//! The configuration of a command: flags laid over the `LOGTO_*` variables, then read by the
//! library's own `config_from_vars` and `params_from_vars`, so that each variable means exactly
//! what it means to a program using the library.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use logto_m2m::{
    APP_ID_VAR, APP_SECRET_VAR, ClientConfig, ConfigError, ENDPOINT_VAR, EnvError,
    ORGANIZATION_ID_VAR, RESOURCE_VAR, SCOPES_VAR, TokenParams, management_api,
};
use zeroize::Zeroizing;

use crate::cli::{Connection, Target};
use crate::exit::CliError;

/// The most bytes read from a secret file or standard input: a secret is far shorter.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Values given on the command line (or read from the secret's file), by the variable they
/// replace; any other variable comes from the process environment.
#[derive(Default)]
struct Overlay {
    values: HashMap<&'static str, Zeroizing<String>>,
    /// Variables the target flags replace as a group: set, or cleared when absent here.
    cleared: Vec<&'static str>,
}

impl Overlay {
    fn set(&mut self, variable: &'static str, value: impl Into<String>) {
        self.values.insert(variable, Zeroizing::new(value.into()));
    }

    fn lookup(&self, variable: &str) -> Option<OsString> {
        if let Some(value) = self.values.get(variable) {
            return Some(OsString::from(value.as_str()));
        }
        if self.cleared.contains(&variable) {
            return None;
        }
        std::env::var_os(variable)
    }
}

/// The client configuration: `--endpoint`, `--app-id`, and the secret from `--secret-file` or
/// `--secret-stdin`, over the environment.
pub(crate) fn client_config(connection: &Connection) -> Result<ClientConfig, CliError> {
    let mut overlay = Overlay::default();
    if let Some(endpoint) = &connection.endpoint {
        overlay.set(ENDPOINT_VAR, endpoint.as_str());
    }
    if let Some(app_id) = &connection.app_id {
        overlay.set(APP_ID_VAR, app_id.as_str());
    }
    if let Some(path) = &connection.secret_file {
        overlay
            .values
            .insert(APP_SECRET_VAR, read_secret_file(path)?);
    } else if connection.secret_stdin {
        overlay.values.insert(
            APP_SECRET_VAR,
            read_secret(std::io::stdin().lock(), "standard input")?,
        );
    }
    logto_m2m::config_from_vars(|name| overlay.lookup(name)).map_err(|error| env_error(&error))
}

/// What token to ask for. When a target flag is given (`--resource`, `--management-api`,
/// `--organization`), `LOGTO_RESOURCE` and `LOGTO_ORGANIZATION_ID` are ignored; `--scope` replaces
/// `LOGTO_SCOPES`.
pub(crate) fn token_params(
    target: &Target,
    config: &ClientConfig,
) -> Result<TokenParams, CliError> {
    let mut overlay = Overlay::default();
    if !target.scopes.is_empty() {
        overlay.set(SCOPES_VAR, target.scopes.join(" "));
    }
    if target.management_api {
        let mut params =
            management_api::token_params(config).map_err(|error| config_error(&error))?;
        for scope in &target.scopes {
            params = params.scope(scope.as_str());
        }
        params.validate().map_err(|error| config_error(&error))?;
        return Ok(params);
    }
    if target.resource.is_some() || target.organization.is_some() {
        overlay.cleared = vec![RESOURCE_VAR, ORGANIZATION_ID_VAR];
        if let Some(resource) = &target.resource {
            overlay.set(RESOURCE_VAR, resource.as_str());
        }
        if let Some(organization) = &target.organization {
            overlay.set(ORGANIZATION_ID_VAR, organization.as_str());
        }
    }
    logto_m2m::params_from_vars(|name| overlay.lookup(name)).map_err(|error| env_error(&error))
}

fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let file = std::fs::File::open(path).map_err(|error| {
        CliError::usage(format!(
            "could not open the secret file {}: {error}; check the path given to --secret-file",
            path.display()
        ))
    })?;
    read_secret(file, &format!("the secret file {}", path.display()))
}

/// The first line of `source` (read up to its newline, so that a person typing it at a terminal
/// ends with Enter), at most [`MAX_SECRET_BYTES`] long, in a buffer zeroized on drop.
fn read_secret(source: impl Read, what: &str) -> Result<Zeroizing<String>, CliError> {
    let mut bytes = Zeroizing::new(Vec::new());
    BufReader::new(source.take(MAX_SECRET_BYTES + 1))
        .read_until(b'\n', &mut bytes)
        .map_err(|error| {
            CliError::usage(format!(
                "could not read the app secret from {what}: {error}"
            ))
        })?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(CliError::usage(format!(
            "{what} is longer than {MAX_SECRET_BYTES} bytes: it should hold the app secret alone"
        )));
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Err(CliError::usage(format!(
            "{what} is not UTF-8 text: it should hold the app secret alone"
        )));
    };
    let secret = text.trim();
    if secret.is_empty() {
        return Err(CliError::usage(format!(
            "{what} holds no app secret: put the secret of the machine-to-machine app on its first line"
        )));
    }
    Ok(Zeroizing::new(secret.to_owned()))
}

/// The flag that stands for `variable`, if there is one.
fn flag_for(variable: &str) -> Option<&'static str> {
    match variable {
        ENDPOINT_VAR => Some("--endpoint"),
        APP_ID_VAR => Some("--app-id"),
        APP_SECRET_VAR => Some("--secret-file or --secret-stdin"),
        RESOURCE_VAR => Some("--resource"),
        ORGANIZATION_ID_VAR => Some("--organization"),
        SCOPES_VAR => Some("--scope"),
        _ => None,
    }
}

/// A configuration error, with the flag that can fix it.
pub(crate) fn env_error(error: &EnvError) -> CliError {
    let message = match error {
        EnvError::Missing { variable } => match flag_for(variable) {
            Some(flag) => format!("{variable} is not set: set it, or pass {flag}"),
            None => format!("{variable} is not set: set it"),
        },
        EnvError::NoResourceOrOrganization => format!(
            "no token target: pass --resource URI, --organization ID or --management-api \
             (or set {RESOURCE_VAR} or {ORGANIZATION_ID_VAR})"
        ),
        EnvError::Invalid { variable, source } => match flag_for(variable) {
            Some(flag) => format!("{source} (from {flag} or {variable}): correct it and run again"),
            None => format!("{source} (from {variable}): correct it and run again"),
        },
        other => format!("{other}: correct it and run again"),
    };
    CliError::usage(message)
}

pub(crate) fn config_error(error: &ConfigError) -> CliError {
    CliError::usage(format!("{error}: correct it and run again"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str) -> ClientConfig {
        ClientConfig::builder(endpoint, "app", "secret")
            .build()
            .unwrap()
    }

    #[test]
    fn management_api_takes_the_librarys_choice_of_cloud_or_self_hosted() {
        let target = Target {
            resource: None,
            management_api: true,
            organization: None,
            scopes: Vec::new(),
        };
        for endpoint in [
            "https://my-tenant.logto.app",
            "https://auth.example.com",
            "http://127.0.0.1:3001",
        ] {
            let config = config(endpoint);
            let params = token_params(&target, &config).unwrap();
            let expected = management_api::token_params(&config).unwrap();
            assert_eq!(
                params.resource_indicator(),
                expected.resource_indicator(),
                "{endpoint}"
            );
            assert_eq!(params.requested_scopes().to_wire(), "all");
        }
    }

    #[test]
    fn a_secret_is_the_first_line_trimmed_and_never_empty_or_huge() {
        assert_eq!(
            *read_secret(&b"  s3cret \r\nsecond line"[..], "input").unwrap(),
            "s3cret"
        );
        let empty = read_secret(&b"\n"[..], "input").unwrap_err();
        assert!(empty.to_string().starts_with("input holds no app secret"));
        let huge = vec![b'x'; 64 * 1024 + 1];
        assert!(
            read_secret(&huge[..], "input")
                .unwrap_err()
                .to_string()
                .contains("longer than")
        );
        assert!(
            read_secret(&b"\xff\xfe"[..], "input")
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
    }
}
