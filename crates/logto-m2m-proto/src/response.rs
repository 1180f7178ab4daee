//! Parsing the token endpoint's answer into a [`Token`] or a typed error.
//!
//! Any 2xx with a usable JSON body is a success, except one that carries an OAuth `error`. Tolerated
//! deviations are listed in [`Token::warnings`]. Error bodies are parsed as OAuth errors (RFC 6749
//! §5.2) in Logto's envelope, as Logto Cloud's quota answer, or kept as a short excerpt.
//!
//! Nothing from a success body ever goes into an error value, and the app secret, in every form it
//! takes on the wire (see [`crate::scrub`]), is scrubbed from every text copied out of an answer,
//! before any of it is cut short.

use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Response, StatusCode};
use serde_json::{Map, Value};

use crate::error::{
    Error, ErrorCode, InvalidResponse, OAuthError, ResponseProblem, ServerError, ServerErrorReason,
};
use crate::request::TokenRequest;
use crate::retry_after::retry_after;
use crate::scopes::Scopes;
use crate::scrub::Scrubber;
use crate::secret::AccessToken;
use crate::success_body::{FieldValue, Shape, TokenFields, read_body};
use crate::token::{ParseWarning, Token, TokenType};

/// The longest text copied from an answer into an error (description, message, excerpt).
const MAX_TEXT_CHARS: usize = 512;
/// The longest excerpt of a non-JSON body.
const MAX_EXCERPT_CHARS: usize = 200;
/// Logto Cloud's code for an exceeded token quota.
const QUOTA_EXCEEDED_CODE: &str = "auth.exceed_token_limit";

pub(crate) fn parse_token_response<B: AsRef<[u8]>>(
    request: &TokenRequest,
    response: &Response<B>,
    sent_at: Instant,
    sent_at_wall: SystemTime,
    wall_now: SystemTime,
) -> Result<Token, Error> {
    let status = response.status();
    let headers = response.headers();
    let body = response.body().as_ref();
    // Built only on the error path: the success path never pays for it.
    let scrubber = || request.scrubber();

    if !status.is_success() {
        let scrubber = scrubber();
        let scrub = |text: &str| scrub_for_print(&scrubber, text);
        return Err(server_error(status, headers, body, wall_now, &scrub).into());
    }

    let invalid = |problem| InvalidResponse { status, problem };
    let mut fields = TokenFields::default();
    match read_body(body, &mut fields) {
        Ok(Shape::Object) => {}
        Ok(Shape::NotAnObject) => return Err(invalid(ResponseProblem::NotAnObject).into()),
        Err(error) => return Err(invalid(malformed_json(body, &error)).into()),
    }
    if fields.extra.get("error").is_some_and(Value::is_string) {
        // A 2xx that carries an OAuth error is an error (seen behind some proxies and servers).
        let scrubber = scrubber();
        let scrub = |text: &str| scrub_for_print(&scrubber, text);
        return Err(error_from_object(status, headers, &fields.extra, wall_now, &scrub).into());
    }

    let mut warnings = Vec::new();
    check_content_type(headers, &mut warnings, scrubber);
    Ok(build_token(request, fields, (sent_at, sent_at_wall), warnings).map_err(invalid)?)
}

fn build_token(
    request: &TokenRequest,
    fields: TokenFields<'_>,
    (sent_at, sent_at_wall): (Instant, SystemTime),
    mut warnings: Vec<ParseWarning>,
) -> Result<Token, ResponseProblem> {
    let access_token = match fields.access_token {
        Some(FieldValue::Str(token)) if !token.is_empty() => token,
        _ => return Err(ResponseProblem::MissingAccessToken),
    };
    if !is_visible_ascii(&access_token) {
        return Err(ResponseProblem::InvalidAccessToken);
    }
    let access_token = AccessToken::new(access_token.into_owned());
    let token_type = match fields.token_type {
        Some(FieldValue::Str(kind)) => TokenType::parse(&kind),
        None | Some(FieldValue::Other(Value::Null)) => {
            warnings.push(ParseWarning::TokenTypeMissing);
            TokenType::Bearer
        }
        Some(FieldValue::Other(_)) => return Err(ResponseProblem::InvalidTokenType),
    };
    let policy = request.config().expiry_policy().normalized();
    let lifetime = match fields.expires_in {
        None | Some(FieldValue::Other(Value::Null)) => {
            warnings.push(ParseWarning::ExpiresInMissing {
                assumed: policy.default_expires_in,
            });
            policy.default_expires_in
        }
        Some(value) => {
            let secs = expires_in_secs(&value, &mut warnings)?;
            let announced = Duration::from_secs(secs);
            if announced > policy.max_expires_in {
                warnings.push(ParseWarning::ExpiresInClamped {
                    announced_secs: secs,
                    clamped_to: policy.max_expires_in,
                });
                policy.max_expires_in
            } else {
                announced
            }
        }
    };
    let past_the_end = || ResponseProblem::InvalidExpiresIn {
        found: "a lifetime past the end of time".to_owned(),
    };
    let expires_at = sent_at.checked_add(lifetime).ok_or_else(past_the_end)?;
    let expires_at_wall = sent_at_wall
        .checked_add(lifetime)
        .ok_or_else(past_the_end)?;
    let requested_scopes = request.params().requested_scopes();
    let granted_scopes = match fields.scope {
        None | Some(FieldValue::Other(Value::Null)) => Scopes::new(),
        // What Logto answers when it grants everything asked for: share the request's list.
        Some(FieldValue::Str(scope)) if scope == request.scope_sent() => requested_scopes.clone(),
        Some(FieldValue::Str(scope)) => Scopes::from_wire(&scope),
        Some(FieldValue::Other(_)) => return Err(ResponseProblem::InvalidScope),
    };
    let not_granted_scopes = requested_scopes.missing_from(&granted_scopes);
    Ok(Token {
        access_token,
        token_type,
        sent_at,
        sent_at_wall,
        lifetime,
        expires_at,
        expires_at_wall,
        granted_scopes,
        not_granted_scopes,
        extra: fields.extra,
        warnings,
    })
}

/// Whether every byte is visible ASCII (`%x21-7E`), as an access token must be. Written without an
/// early exit so that the compiler vectorizes it: a JWT is several hundred bytes.
fn is_visible_ascii(text: &str) -> bool {
    text.bytes().fold(true, |all, b| all & b.is_ascii_graphic())
}

/// `expires_in` as whole seconds: a positive JSON integer, or (tolerated, with a warning) a string
/// of digits. Huge numbers saturate (and are clamped by the caller).
fn expires_in_secs(
    value: &FieldValue<'_>,
    warnings: &mut Vec<ParseWarning>,
) -> Result<u64, ResponseProblem> {
    let invalid = |found: &str| ResponseProblem::InvalidExpiresIn {
        found: found.to_owned(),
    };
    let secs = match value {
        FieldValue::Other(Value::Number(number)) => {
            if let Some(secs) = number.as_u64() {
                secs
            } else if number.as_i64().is_some() {
                return Err(invalid("a negative number"));
            } else {
                let float = number.as_f64().unwrap_or(f64::NAN);
                if float.is_finite() && float > 0.0 && float.fract() == 0.0 {
                    // A whole number too large for u64, or written as 3600.0.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let secs = float.min(u64::MAX as f64) as u64;
                    secs
                } else {
                    return Err(invalid("a negative or fractional number"));
                }
            }
        }
        FieldValue::Str(text) => {
            let text = text.trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("a string that is not a whole number"));
            }
            warnings.push(ParseWarning::ExpiresInAsString);
            text.parse::<u64>().unwrap_or(u64::MAX)
        }
        FieldValue::Other(Value::String(_)) => {
            return Err(invalid("a string that is not a whole number"));
        }
        FieldValue::Other(Value::Bool(_)) => return Err(invalid("a boolean")),
        FieldValue::Other(Value::Array(_)) => return Err(invalid("an array")),
        FieldValue::Other(Value::Object(_)) => return Err(invalid("an object")),
        FieldValue::Other(Value::Null) => return Err(invalid("null")),
    };
    if secs == 0 {
        return Err(invalid("zero"));
    }
    Ok(secs)
}

/// Warns about a missing or non-JSON `Content-Type`; the warning quotes the header (scrubbed with
/// the scrubber `scrubber` builds, only then).
fn check_content_type(
    headers: &HeaderMap,
    warnings: &mut Vec<ParseWarning>,
    scrubber: impl FnOnce() -> Scrubber,
) {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        warnings.push(ParseWarning::ContentTypeMissing);
        return;
    };
    let bytes = value.as_bytes();
    let mime = bytes
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let is_json = mime.eq_ignore_ascii_case(b"application/json")
        || (starts_with_ignore_case(mime, b"application/")
            && ends_with_ignore_case(mime, b"+json"));
    if !is_json {
        let content_type = scrub_for_print(&scrubber(), &String::from_utf8_lossy(bytes));
        warnings.push(ParseWarning::UnexpectedContentType {
            content_type: printable_excerpt(&content_type, 100),
        });
    }
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

fn ends_with_ignore_case(text: &[u8], suffix: &[u8]) -> bool {
    text.len()
        .checked_sub(suffix.len())
        .and_then(|start| text.get(start..))
        .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
}

pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ResponseProblem> {
    serde_json::from_slice(body).map_err(|e| malformed_json(body, &e))
}

/// What was wrong with a body that is not JSON.
fn malformed_json(body: &[u8], error: &serde_json::Error) -> ResponseProblem {
    let category = if std::str::from_utf8(body).is_err() {
        "not UTF-8"
    } else if error.is_eof() {
        "end of input"
    } else {
        "syntax"
    };
    ResponseProblem::MalformedJson {
        line: error.line(),
        column: error.column(),
        category,
    }
}

/// The error for a non-2xx answer.
pub(crate) fn server_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    wall_now: SystemTime,
    scrub: &dyn Fn(&str) -> String,
) -> ServerError {
    if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) {
        return error_from_object(status, headers, &object, wall_now, scrub);
    }
    let excerpt = printable_excerpt(&scrub(&String::from_utf8_lossy(body)), MAX_EXCERPT_CHARS);
    ServerError {
        body_excerpt: (!excerpt.is_empty()).then_some(excerpt),
        ..base_error(status, headers, wall_now, scrub)
    }
}

/// The error for a JSON object answer: an OAuth error, Logto's quota answer, or another Logto error.
fn error_from_object(
    status: StatusCode,
    headers: &HeaderMap,
    object: &Map<String, Value>,
    wall_now: SystemTime,
    scrub: &dyn Fn(&str) -> String,
) -> ServerError {
    let text = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .map(|value| printable_excerpt(&scrub(value), MAX_TEXT_CHARS))
    };
    let logto_code = text("code");
    let reason = if let Some(code) = object.get("error").and_then(Value::as_str) {
        ServerErrorReason::OAuth(OAuthError {
            code: ErrorCode::parse(&printable_excerpt(&scrub(code), MAX_TEXT_CHARS)),
            description: text("error_description"),
            uri: text("error_uri"),
        })
    } else if logto_code.as_deref() == Some(QUOTA_EXCEEDED_CODE) {
        ServerErrorReason::QuotaExceeded
    } else if logto_code.is_some() {
        ServerErrorReason::Logto
    } else {
        ServerErrorReason::UnexpectedStatus
    };
    ServerError {
        reason,
        logto_code,
        logto_message: text("message"),
        ..base_error(status, headers, wall_now, scrub)
    }
}

fn base_error(
    status: StatusCode,
    headers: &HeaderMap,
    wall_now: SystemTime,
    scrub: &dyn Fn(&str) -> String,
) -> ServerError {
    ServerError {
        status,
        reason: ServerErrorReason::UnexpectedStatus,
        logto_code: None,
        logto_message: None,
        www_authenticate: headers.get(WWW_AUTHENTICATE).map(|value| {
            printable_excerpt(
                &scrub(&String::from_utf8_lossy(value.as_bytes())),
                MAX_TEXT_CHARS,
            )
        }),
        retry_after: retry_after(headers, wall_now),
        body_excerpt: None,
    }
}

/// At most `max_chars` characters of `text`, white space runs folded to one space and control
/// characters replaced, with `…` when shortened.
pub(crate) fn printable_excerpt(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let mut last_space = true;
    for c in text.chars() {
        if chars == max_chars {
            out.push('…');
            break;
        }
        if c.is_whitespace() {
            if last_space {
                continue;
            }
            out.push(' ');
            last_space = true;
        } else if c.is_control() {
            out.push('\u{FFFD}');
            last_space = false;
        } else {
            out.push(c);
            last_space = false;
        }
        chars += 1;
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// `text` with every form of the app secret scrubbed, before any of it is cut short: once as it
/// came, and once more as [`printable_excerpt`] prints it, whose folding of white space and
/// control characters could otherwise join the parts of a secret.
fn scrub_for_print(scrubber: &Scrubber, text: &str) -> String {
    let scrubbed = scrubber.scrub(text);
    scrubber.scrub(&printable_excerpt(&scrubbed, usize::MAX))
}
