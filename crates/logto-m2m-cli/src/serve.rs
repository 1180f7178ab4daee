//! `logto-m2m testkit serve`: the test server for other programs' tests, in any language, until
//! Ctrl-C.

use std::io::Write;
use std::sync::mpsc;

use logto_m2m_testkit::{Config, TestServer, defaults};

use crate::cli::ServeArgs;
use crate::exit::{CliError, output_failed};

/// Serves until Ctrl-C (or SIGTERM), then stops the server, which closes every connection and
/// frees the port.
pub(crate) fn run(args: &ServeArgs) -> Result<(), CliError> {
    let (stop, stopped) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })
    .map_err(|error| CliError::failure(format!("could not handle Ctrl-C: {error}")))?;

    let logto = TestServer::start_on_port(Config::logto_default(), args.port).map_err(|error| {
        let advice = if error.kind() == std::io::ErrorKind::AddrInUse {
            "choose another with --port, or --port 0 for any free one"
        } else {
            "check that 127.0.0.1 can be listened on"
        };
        CliError::failure(format!(
            "could not start the test server on 127.0.0.1:{}: {error}; {advice}",
            args.port
        ))
    })?;
    let ttl = args.token_ttl.unwrap_or(defaults::RESOURCE_TTL);
    if args.token_ttl.is_some() {
        logto.set_resource_ttl(defaults::RESOURCE, Some(ttl));
    }

    let mut stdout = std::io::stdout().lock();
    write!(
        stdout,
        "Logto test server on {endpoint} (Ctrl-C stops it)\n\n\
         LOGTO_ENDPOINT={endpoint}\n\
         LOGTO_APP_ID={app_id}\n\
         LOGTO_APP_SECRET={app_secret}\n\
         LOGTO_RESOURCE={resource}\n\n\
         Its tenant: the API {resource} (scopes {scopes}; the app is granted {granted}; tokens \
         live {ttl} s),\nthe Management API {management} (scope {management_scope}), and the \
         organization {organization} (scope {organization_scope}).\n\
         Token endpoint {token_endpoint}, issuer {issuer}, key set {jwks}.\n",
        endpoint = logto.endpoint(),
        app_id = defaults::APP_ID,
        app_secret = defaults::APP_SECRET,
        resource = defaults::RESOURCE,
        scopes = defaults::RESOURCE_SCOPES.join(" "),
        granted = defaults::GRANTED_SCOPES.join(" "),
        management = defaults::MANAGEMENT_API,
        management_scope = defaults::MANAGEMENT_API_SCOPE,
        organization = defaults::ORGANIZATION,
        organization_scope = defaults::ORGANIZATION_SCOPE,
        token_endpoint = logto.token_endpoint(),
        issuer = logto.issuer(),
        jwks = logto.jwks_uri(),
    )
    .and_then(|()| stdout.flush())
    .map_err(|error| output_failed(&error))?;

    // Only the handler sends, and it lives as long as the process: an error cannot come, and
    // would mean stopping all the same.
    let _ = stopped.recv();
    let served = logto.token_requests();
    logto.shutdown();
    let noun = if served == 1 { "request" } else { "requests" };
    writeln!(stdout, "Stopped after {served} token {noun}.")
        .and_then(|()| stdout.flush())
        .map_err(|error| output_failed(&error))
}
