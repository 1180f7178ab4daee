//! `logto-m2m api`: one call to Logto's Management API (or every page of a list), through the
//! library's blocking Management API calls, the answer printed as JSON with its secrets masked.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use logto_m2m::ErrorKind;
use logto_m2m::management_api::{self, BlockingManagementApi, ManagementApiError};
use logto_m2m::proto::http::Method;
use logto_m2m_ureq::UreqTransport;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::cli::ApiArgs;
use crate::exit::{CliError, Exit, output_failed};
use crate::json_colours;
use crate::settings;

/// The most bytes of a request body read from a file or standard input.
const MAX_DATA_BYTES: u64 = 4 * 1024 * 1024;
/// What a masked field's value becomes.
const MASK: &str = "[masked]";

/// Sends the request (or walks the list's pages), prints the JSON answer on standard output and
/// the status on standard error.
pub(crate) fn run(args: &ApiArgs) -> Result<(), CliError> {
    let (method, path) = method_and_path(args)?;
    if args.data.as_deref() == Some("-") && args.connection.secret_stdin {
        return Err(CliError::usage(
            "--data - and --secret-stdin both read standard input: give the secret through \
             LOGTO_APP_SECRET or --secret-file, or the data through --data @FILE",
        ));
    }
    let body = match &args.data {
        Some(data) => Some(read_data(data)?),
        None => None,
    };
    if args.paginate && method != Method::GET {
        return Err(CliError::usage(format!(
            "--paginate follows the pages of a list, which is read with GET, not {method}"
        )));
    }
    let config = settings::client_config(&args.connection)?;
    let manager = logto_m2m_ureq::token_manager_for(config);
    let api = match &args.tenant {
        Some(tenant) => management_api::cloud_token_params(tenant).and_then(|params| {
            BlockingManagementApi::for_manager_with(&manager, UreqTransport::new(), params)
        }),
        None => BlockingManagementApi::for_manager(&manager, UreqTransport::new()),
    }
    .map_err(|error| settings::config_error(&error))?;

    let (status, mut answer) = if args.paginate {
        let items = api
            .list::<Value>(&path)
            .collect::<Result<Vec<Value>, _>>()
            .map_err(|error| api_error(&error, &method, &path))?;
        ("200 OK (every page)".to_owned(), Some(Value::Array(items)))
    } else {
        let response = api
            .send(method.clone(), &path, body.map(|body| body.to_vec()))
            .map_err(|error| api_error(&error, &method, &path))?;
        let answer = if response.body().iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(response.json::<Value>().map_err(|error| {
                CliError::new(
                    Exit::Unavailable,
                    format!("{method} {path}: {error}; the endpoint may not be Logto's"),
                )
            })?)
        };
        (response.status().to_string(), answer)
    };

    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    if let Some(answer) = &mut answer {
        if !args.show_secrets {
            mask_secrets(answer);
        }
        let text = Zeroizing::new(if terminal && colours_wanted() {
            format!("{}\n", json_colours::pretty(answer))
        } else if terminal {
            format!("{answer:#}\n")
        } else {
            format!("{answer}\n")
        });
        let mut out = stdout.lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|error| output_failed(&error))?;
    }
    let _ = writeln!(std::io::stderr().lock(), "{method} {path}: {status}");
    Ok(())
}

/// Whether colours are welcome: not when `NO_COLOR` is set to anything but the empty string, or
/// `TERM` is `dumb`.
fn colours_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
}

/// The method (GET, or POST when there is a body, unless named) and the path with `--query`'s
/// parameters.
fn method_and_path(args: &ApiArgs) -> Result<(Method, String), CliError> {
    let (method, path) = match args.words.as_slice() {
        [path] if args.data.is_some() => (Method::POST, path),
        [path] => (Method::GET, path),
        [method, path] => {
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|_| CliError::usage(format!("{method:?} is not an HTTP method")))?;
            (method, path)
        }
        _ => {
            return Err(CliError::usage(
                "give a path (e.g. /api/applications), optionally after a method (e.g. PATCH)",
            ));
        }
    };
    if !path.starts_with('/') {
        return Err(CliError::usage(format!(
            "the path must start with '/', e.g. /api/applications, not {path:?}"
        )));
    }
    let mut path = path.clone();
    if !args.query.is_empty() {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for pair in &args.query {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(CliError::usage(format!(
                    "--query takes KEY=VALUE, not {pair:?}"
                )));
            };
            query.append_pair(key, value);
        }
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&query.finish());
    }
    Ok((method, path))
}

/// The body of `--data`: the JSON given, `@FILE`'s content, or `-`: standard input. It must be
/// JSON.
fn read_data(data: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let bytes = if data == "-" {
        read_capped(std::io::stdin().lock(), "standard input")?
    } else if let Some(file) = data.strip_prefix('@') {
        let opened = std::fs::File::open(Path::new(file)).map_err(|error| {
            CliError::usage(format!(
                "could not open {file} (from --data @{file}): {error}"
            ))
        })?;
        read_capped(opened, file)?
    } else {
        Zeroizing::new(data.as_bytes().to_vec())
    };
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        return Err(CliError::usage(format!(
            "--data must be JSON: {error} (line {}, column {})",
            error.line(),
            error.column()
        )));
    }
    Ok(bytes)
}

fn read_capped(source: impl Read, what: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut bytes = Zeroizing::new(Vec::new());
    source
        .take(MAX_DATA_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| CliError::usage(format!("could not read {what}: {error}")))?;
    if bytes.len() as u64 > MAX_DATA_BYTES {
        return Err(CliError::usage(format!(
            "{what} is longer than {MAX_DATA_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

/// A failed call: the library's sentence (scrubbed of secrets and tokens), what to do, and the
/// exit code: 6 for the API's 4xx, 7 for its 5xx.
fn api_error(error: &ManagementApiError, method: &Method, path: &str) -> CliError {
    let (exit, advice) = match error.status() {
        Some(status) if status.is_client_error() => (
            Exit::ApiClientError,
            match status.as_u16() {
                401 => {
                    "the token was refused (and a new one too, for a method sent once more); \
                     run again, and check that the endpoint is the Logto that issued it"
                }
                403 => "the app needs a role granting the Management API's scope `all`",
                404 => "check the path and the ids in it",
                _ => "check the method, the path, the query and the data",
            },
        ),
        Some(status) if status.is_server_error() => (Exit::ApiServerError, "try again later"),
        _ => match error.kind() {
            ErrorKind::Misuse => (Exit::Usage, "correct the configuration and run again"),
            ErrorKind::CredentialsRejected => (
                Exit::CredentialsRejected,
                "check the app id and secret (LOGTO_APP_ID, LOGTO_APP_SECRET)",
            ),
            ErrorKind::RequestRejected => (
                Exit::RequestRejected,
                "the app needs a role granting the Management API's scope `all`",
            ),
            ErrorKind::Throttled | ErrorKind::Transient | ErrorKind::InvalidResponse => (
                Exit::Unavailable,
                "check the endpoint and the network, and try again later",
            ),
            _ => (Exit::Failure, "check the endpoint"),
        },
    };
    CliError::new(exit, format!("{method} {path}: {error}; {advice}"))
}

/// Whether a field of this name carries a secret in Logto's answers: `secret`, `*Secret`,
/// `*_secret`, `secrets`, `password`, `*Password`, `*_password`, `passwordDigest`, access and
/// refresh tokens, private keys; in any case.
fn is_secret_field(name: &str) -> bool {
    let name: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect();
    [
        "secret",
        "secrets",
        "password",
        "token",
        "privatekey",
        "privatekeys",
    ]
    .iter()
    .any(|end| name.ends_with(end))
        || name.starts_with("password")
}

/// Replaces the value of every secret-carrying field, at any depth, by [`MASK`] (`null` and
/// booleans such as `hasPassword` stay).
fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, field) in map.iter_mut() {
                if is_secret_field(name) && !matches!(field, Value::Null | Value::Bool(_)) {
                    *field = Value::String(MASK.to_owned());
                } else {
                    mask_secrets(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_fields_are_masked_at_any_depth_in_any_case() {
        let mut answer = json!([{
            "id": "app-1",
            "name": "Backend",
            "secret": "s1",
            "oidcClientMetadata": {"redirectUris": []},
            "customClientMetadata": {"clientSecret": "s2", "client_secret": "s3"},
            "SECRET": "s4",
            "password": "p1",
            "passwordDigest": "p2",
            "hasPassword": true,
            "secrets": [{"name": "default", "value": "s5"}],
            "tokenEndpoint": "https://x/oidc/token",
            "accessToken": "eyJ.x.y",
            "nothing": null,
            "spa": {"secret": ""}
        }]);
        mask_secrets(&mut answer);
        let text = answer.to_string();
        for secret in ["s1", "s2", "s3", "s4", "s5", "p1", "p2", "eyJ.x.y"] {
            assert!(
                !text.contains(&format!("\"{secret}\"")),
                "{secret} in {text}"
            );
        }
        let app = &answer[0];
        assert_eq!(app["secret"], MASK);
        assert_eq!(app["name"], "Backend");
        assert_eq!(app["hasPassword"], true);
        assert_eq!(app["tokenEndpoint"], "https://x/oidc/token");
        assert_eq!(app["nothing"], Value::Null);
        assert_eq!(app["spa"]["secret"], MASK);
    }
}
