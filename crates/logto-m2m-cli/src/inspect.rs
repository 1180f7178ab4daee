//! `logto-m2m inspect`: an access token's header and claims, decoded and shown, without
//! verification (and said so).

use std::io::{IsTerminal, Read, Write};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::cli::InspectArgs;
use crate::exit::{CliError, Exit, output_failed};
use crate::times;
use crate::verification;

/// The longest token read: Logto's are about 1 KiB.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// The header fields shown, in order.
const HEADER_FIELDS: [&str; 3] = ["alg", "kid", "typ"];
/// The claims shown, in order; `iat` and `exp` as times.
const CLAIMS: [&str; 8] = [
    "iss",
    "sub",
    "client_id",
    "aud",
    "scope",
    "organization_id",
    "iat",
    "exp",
];

/// A JWT's header and claims, decoded; the signature is left alone.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) header: Map<String, Value>,
    pub(crate) claims: Map<String, Value>,
}

/// Reads the token, decodes it and prints what it says.
pub(crate) fn run(args: &InspectArgs) -> Result<(), CliError> {
    let token = read_token(args.token.as_deref())?;
    let token = bare_token(&token);
    let decoded = decode(token)?;
    let mut report = render(&decoded, SystemTime::now());
    if args.verify {
        let audience = decoded.claims.get("aud").and_then(Value::as_str);
        let verified = verification::verify(token, audience, args)?;
        report.replace_range(..report.find('\n').unwrap_or(0), &verified);
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(report.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| output_failed(&error))
}

/// The token from the argument, or from standard input for `-` or no argument.
fn read_token(argument: Option<&str>) -> Result<Zeroizing<String>, CliError> {
    match argument {
        Some(token) if token != "-" => Ok(Zeroizing::new(token.to_owned())),
        _ => {
            let stdin = std::io::stdin();
            if argument.is_none() && stdin.is_terminal() {
                return Err(CliError::usage(
                    "no token to inspect: give it as an argument, or pipe it in \
                     (e.g. `logto-m2m token | logto-m2m inspect`)",
                ));
            }
            let mut bytes = Zeroizing::new(Vec::new());
            stdin
                .lock()
                .take(MAX_TOKEN_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|error| {
                    CliError::usage(format!(
                        "could not read the token from standard input: {error}"
                    ))
                })?;
            if bytes.len() as u64 > MAX_TOKEN_BYTES {
                return Err(malformed(&format!(
                    "it is longer than {MAX_TOKEN_BYTES} bytes"
                )));
            }
            let text = std::str::from_utf8(&bytes).map_err(|_| malformed("it is not text"))?;
            Ok(Zeroizing::new(text.to_owned()))
        }
    }
}

/// The token without blanks around it and without a `Bearer ` prefix (as copied from a header).
fn bare_token(token: &str) -> &str {
    let token = token.trim();
    match token.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => token,
    }
}

fn malformed(reason: &str) -> CliError {
    CliError::new(
        Exit::TokenMalformed,
        format!(
            "the token is not a JWT access token: {reason}; give the access token itself, as `logto-m2m token` prints it"
        ),
    )
}

/// Decodes a compact JWS's header and claims. Errors say what is wrong, never what the token holds.
pub(crate) fn decode(token: &str) -> Result<Decoded, CliError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, _signature] = parts.as_slice() else {
        return Err(malformed(&format!(
            "it has {} parts separated by dots, not 3",
            parts.len()
        )));
    };
    Ok(Decoded {
        header: json_object(header, "its header is")?,
        claims: json_object(claims, "its claims are")?,
    })
}

fn json_object(part: &str, what: &str) -> Result<Map<String, Value>, CliError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| malformed(&format!("{what} not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(&format!("{what} not a JSON object"))),
    }
}

/// The report: a warning that nothing was verified, the header, then the claims.
pub(crate) fn render(decoded: &Decoded, now: SystemTime) -> String {
    let mut out = String::from(
        "not verified: decoded only; the signature, issuer, audience and expiry were not checked \
         (--verify checks them)\n",
    );
    out.push_str("header\n");
    for name in HEADER_FIELDS {
        line(&mut out, name, decoded.header.get(name).map(text));
    }
    out.push_str("claims\n");
    for name in CLAIMS {
        let value = decoded.claims.get(name);
        let shown = match (name, value) {
            ("iat" | "exp", Some(Value::Number(seconds))) => {
                match seconds.as_u64().and_then(times::from_unix) {
                    Some(at) => Some(time(name, at, now)),
                    None => value.map(text),
                }
            }
            _ => value.map(text),
        };
        line(&mut out, name, shown);
    }
    let others: Vec<&str> = decoded
        .claims
        .keys()
        .map(String::as_str)
        .filter(|name| !CLAIMS.contains(name))
        .collect();
    if !others.is_empty() {
        line(&mut out, "others", Some(printable(&others.join(", "))));
    }
    out
}

fn line(out: &mut String, name: &str, value: Option<String>) {
    let value = value.unwrap_or_else(|| "(absent)".to_owned());
    out.push_str(&format!("  {name:<16} {value}\n"));
}

fn time(name: &str, at: SystemTime, now: SystemTime) -> String {
    let relative = times::relative(at, now);
    let note = if name == "exp" && at <= now {
        format!("expired {relative}")
    } else {
        relative
    };
    format!("{} ({note})", times::rfc3339(at))
}

/// A claim's value on one line: strings as they are, arrays joined by commas, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => printable(s),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => printable(&other.to_string()),
    }
}

/// `s` with control characters escaped, so that a token cannot move the terminal's cursor.
fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_default().to_string()
    } else {
        s.to_owned()
    }
}
