//! Captures all tracing output of a run (fetch, failure, refresh ahead, backoff, invalidation) with
//! a canary secret and a canary token, and checks that neither appears, while the events do: not
//! even when the server echoes what it was sent (the `Authorization` header, the
//! `client_secret_post` body), as it is or re-encoded.
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{
    BlockingTokenManager, CachePolicy, ClientAuthMethod, ClientConfig, RetryPolicy, TokenParams,
};

/// A secret whose characters every encoding writes its own way.
const SECRET: &str = "CANARY SECRET+/&<\"\\%é-5d1e";
const TOKEN: &str = "CANARY-TOKEN-a07f";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `text` as a JSON encoder that escapes everything but letters and digits writes it.
fn json_escaped(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                let mut units = [0; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|unit| format!("\\u{unit:04x}"))
                    .collect()
            }
        })
        .collect()
}

/// `text` with its percent escapes' hex digits in lower case.
fn lower_hex(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        let (before, escape) = rest.split_at(at);
        out.push_str(before);
        let escape = escape.get(..3).unwrap_or(escape);
        out.push_str(&escape.to_ascii_lowercase());
        rest = rest.get(at + escape.len()..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// What the server echoes of `request`: its `Authorization` value and its body, as sent, with its
/// percent escapes in lower case, and JSON-escaped; and the forms of the secret these hold.
fn echo(request: &Request<Vec<u8>>) -> (String, Vec<String>) {
    let authorization = request
        .headers()
        .get("authorization")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = String::from_utf8(request.body().clone()).unwrap();
    let sent = format!("{authorization} {body}");
    let echo = format!("{sent} | {} | {}", lower_hex(&sent), json_escaped(&sent));
    let mut forms = vec![SECRET.to_owned()];
    if let Some(base64) = authorization.strip_prefix("Basic ") {
        forms.push(base64.trim_end_matches('=').to_owned());
    }
    if let Some(form) = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("client_secret="))
    {
        forms.extend([form.to_owned(), lower_hex(form), json_escaped(form)]);
    }
    (echo, forms)
}

#[test]
fn no_tracing_output_contains_the_secret_or_a_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let answers = Arc::new(AtomicUsize::new(0));
    let echoed = Arc::new(Mutex::new(Vec::new()));
    let transport = {
        let answers = Arc::clone(&answers);
        let echoed = Arc::clone(&echoed);
        move |request: Request<Vec<u8>>| -> Result<Response<Vec<u8>>, std::io::Error> {
            let n = answers.fetch_add(1, Ordering::SeqCst);
            tracing::trace!(request = ?request, "transport saw a request");
            let (status, body) = match n {
                // A 503 that echoes the secret and the request, then tokens with 2 s lifetimes.
                0 => {
                    let (echo, forms) = echo(&request);
                    echoed.lock().unwrap().extend(forms);
                    let description = serde_like_json(&format!("{SECRET} {echo}"));
                    (
                        503,
                        format!(
                            r#"{{"error":"temporarily_unavailable","error_description":"{description}","message":"{description}"}}"#
                        ),
                    )
                }
                _ => (
                    200,
                    format!(
                        r#"{{"access_token":"{TOKEN}-{n}","expires_in":2,"token_type":"Bearer"}}"#
                    ),
                ),
            };
            Ok(Response::builder()
                .status(status)
                .body(body.into_bytes())
                .unwrap())
        }
    };
    let config = ClientConfig::builder("http://127.0.0.1:1", "m2m-app", SECRET)
        .build()
        .unwrap();
    let manager = BlockingTokenManager::builder(transport, config)
        .cache_policy(CachePolicy::default().with_backoff_initial(Duration::from_millis(10)))
        .retry_policy(RetryPolicy::default().with_max_attempts(3))
        .build_blocking();
    let source = manager
        .source(TokenParams::for_resource("https://api.example.com").scope("read:items"))
        .unwrap();
    let _ = source.token().unwrap(); // a failure with backoff, then a token
    std::thread::sleep(Duration::from_millis(900)); // past the refresh point
    let _ = source.token().unwrap(); // refresh ahead in the background
    std::thread::sleep(Duration::from_millis(200));
    let current = source.token().unwrap();
    assert!(source.invalidate(&current));
    let _ = source.token().unwrap();
    assert!(answers.load(Ordering::SeqCst) >= 4);

    // With client_secret_post, a server that echoes the body in an HTML page, then in a JSON error.
    let post_answers = Arc::new(AtomicUsize::new(0));
    let post_transport = {
        let echoed = Arc::clone(&echoed);
        let post_answers = Arc::clone(&post_answers);
        move |request: Request<Vec<u8>>| -> Result<Response<Vec<u8>>, std::io::Error> {
            let (echo, forms) = echo(&request);
            echoed.lock().unwrap().extend(forms);
            let (status, body) = if post_answers.fetch_add(1, Ordering::SeqCst) == 0 {
                (502, format!("<html><body>{echo}</body></html>"))
            } else {
                let description = serde_like_json(&echo);
                let json =
                    format!(r#"{{"error":"invalid_client","error_description":"{description}"}}"#);
                (401, json)
            };
            Ok(Response::builder()
                .status(status)
                .header("www-authenticate", r#"Basic realm="logto""#)
                .body(body.into_bytes())
                .unwrap())
        }
    };
    let post_config = ClientConfig::builder("http://127.0.0.1:1", "m2m-app", SECRET)
        .auth_method(ClientAuthMethod::Post)
        .build()
        .unwrap();
    let post_manager = BlockingTokenManager::builder(post_transport, post_config)
        .cache_policy(CachePolicy::default().with_backoff_initial(Duration::from_millis(10)))
        .retry_policy(RetryPolicy::default().with_max_attempts(2))
        .build_blocking();
    let post_source = post_manager
        .source(TokenParams::for_resource("https://api.example.com").scope("write:items"))
        .unwrap();
    assert!(post_source.token().is_err());
    assert_eq!(post_answers.load(Ordering::SeqCst), 2);

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for event in [
        "token fetch started",
        "token fetch failed",
        "backing off",
        "token fetched",
        "refreshing ahead",
        "token invalidated",
    ] {
        assert!(
            output.contains(event),
            "missing event {event:?} in:\n{output}"
        );
    }
    assert!(output.contains("https://api.example.com") && output.contains("read:items"));
    assert!(
        output.contains("[redacted]"),
        "the echo did not reach the log:\n{output}"
    );
    let echoed = echoed.lock().unwrap().clone();
    assert!(echoed.len() >= 5, "the server echoed nothing: {echoed:?}");
    for form in echoed {
        assert!(
            !output.contains(&form),
            "the secret leaked into tracing as {form:?}:\n{output}"
        );
    }
    assert!(
        !output.contains(TOKEN),
        "a token leaked into tracing:\n{output}"
    );
}

/// `text` as the content of a JSON string (quotes and backslashes escaped).
fn serde_like_json(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
