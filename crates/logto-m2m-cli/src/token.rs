//! `logto-m2m token`: one token, printed for scripts.

use std::io::{IsTerminal, Write};
use std::time::SystemTime;

use logto_m2m::Token;
use serde_json::{Value, json};
use zeroize::{Zeroize, Zeroizing};

use crate::cli::{TokenArgs, TokenFormat};
use crate::describe;
use crate::exit::{CliError, output_failed};
use crate::settings;
use crate::times;

/// Gets the token and prints it in the asked format on standard output; on a terminal, a one-line
/// summary on standard error.
pub(crate) fn run(args: &TokenArgs) -> Result<(), CliError> {
    let config = settings::client_config(&args.connection)?;
    let params = settings::token_params(&args.target, &config)?;
    let manager = logto_m2m_ureq::token_manager_for(config);
    let request = manager
        .request(params)
        .map_err(|error| settings::config_error(&error))?;
    let token = manager
        .token(&request)
        .map_err(|error| describe::token_error(&error, &request))?;

    let output = render(&token, &describe::target(&request), args.format);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| output_failed(&error))?;
    let stderr = std::io::stderr();
    if stderr.is_terminal() {
        let _ = writeln!(
            stderr.lock(),
            "{}",
            summary(&token, &describe::target(&request))
        );
    }
    Ok(())
}

/// What standard output gets, ending with a newline, in a buffer zeroized on drop.
fn render(token: &Token, target: &str, format: TokenFormat) -> Zeroizing<String> {
    let secret = token.access_token().expose_secret();
    Zeroizing::new(match format {
        TokenFormat::Token => format!("{secret}\n"),
        TokenFormat::Header => format!("Bearer {secret}\n"),
        TokenFormat::Json => format!("{:#}\n", facts(token, target)),
        TokenFormat::JsonWithToken => {
            let mut value = facts(token, target);
            if let Value::Object(map) = &mut value {
                map.insert("access_token".to_owned(), Value::String(secret.to_owned()));
            }
            let text = format!("{value:#}\n");
            // The copy of the token in the JSON value is wiped; `text` is the caller's to wipe.
            if let Some(Value::String(copy)) = value.get_mut("access_token") {
                copy.zeroize();
            }
            text
        }
    })
}

/// What is known about the token, without the token.
fn facts(token: &Token, target: &str) -> Value {
    let expires_at = token.expires_at_wall();
    json!({
        "token_type": describe::token_type(token.token_type()),
        "for": target,
        "expires_at": times::rfc3339(expires_at),
        "lifetime_secs": token.lifetime().as_secs(),
        "granted_scopes": token.granted_scopes().iter().collect::<Vec<_>>(),
        "not_granted_scopes": token.not_granted_scopes().iter().collect::<Vec<_>>(),
        "warnings": token.warnings().iter().map(describe::warning).collect::<Vec<_>>(),
    })
}

/// One line for a person at a terminal: lifetime, scopes not granted, warnings.
fn summary(token: &Token, target: &str) -> String {
    let expires_at = token.expires_at_wall();
    let mut line = format!(
        "logto-m2m: {} token for {target}, lifetime {}, expires {} ({})",
        describe::token_type(token.token_type()),
        times::duration(token.lifetime()),
        times::rfc3339(expires_at),
        times::relative(expires_at, SystemTime::now()),
    );
    if !token.not_granted_scopes().is_empty() {
        line.push_str(&format!(
            "; not granted: {}",
            token.not_granted_scopes().to_wire()
        ));
    }
    for warning in token.warnings() {
        line.push_str(&format!("; warning: {}", describe::warning(warning)));
    }
    line
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime};

    use logto_m2m::proto::http::Response;
    use logto_m2m::{ClientConfig, TokenParams, TokenRequest};

    use super::*;

    const TOKEN: &str = "canary.token.value";

    fn token(body: &str) -> Token {
        let config = ClientConfig::builder("https://t.logto.app", "app", "secret")
            .build()
            .unwrap();
        let params = TokenParams::for_resource("https://api.example.com").scopes(["a", "b"]);
        let request = TokenRequest::new(&config, params).unwrap();
        let response = Response::builder()
            .header("content-type", "application/json")
            .body(body.to_owned())
            .unwrap();
        request
            .parse_response(&response, Instant::now(), SystemTime::now())
            .unwrap()
    }

    #[test]
    fn each_format_prints_the_token_only_where_it_says_so() {
        let token = token(&format!(
            r#"{{"access_token":"{TOKEN}","token_type":"Bearer","expires_in":"60","scope":"a"}}"#
        ));
        let target = "https://api.example.com";
        assert_eq!(
            *render(&token, target, TokenFormat::Token),
            format!("{TOKEN}\n")
        );
        assert_eq!(
            *render(&token, target, TokenFormat::Header),
            format!("Bearer {TOKEN}\n")
        );
        let json = render(&token, target, TokenFormat::Json);
        assert!(!json.contains(TOKEN));
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["not_granted_scopes"], json!(["b"]));
        assert_eq!(
            value["warnings"],
            json!(["expires_in came as a string, not a number"])
        );
        let with_token: Value =
            serde_json::from_str(&render(&token, target, TokenFormat::JsonWithToken)).unwrap();
        assert_eq!(with_token["access_token"], TOKEN);
    }

    #[test]
    fn the_terminal_summary_says_lifetime_scopes_not_granted_and_warnings_but_not_the_token() {
        let token = token(&format!(
            r#"{{"access_token":"{TOKEN}","expires_in":3600,"scope":"a"}}"#
        ));
        let line = summary(&token, "https://api.example.com");
        assert!(
            line.starts_with(
                "logto-m2m: Bearer token for https://api.example.com, lifetime 1h, expires "
            ),
            "{line}"
        );
        assert!(
            line.contains("(in 59m 59s)") || line.contains("(in 1h)"),
            "{line}"
        );
        assert!(
            line.ends_with("; not granted: b; warning: no token_type: Bearer was assumed"),
            "{line}"
        );
        assert!(!line.contains(TOKEN));
    }
}
