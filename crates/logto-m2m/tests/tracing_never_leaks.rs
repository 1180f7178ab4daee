//! Captures all tracing output of a run (fetch, failure, refresh ahead, backoff, invalidation) with
//! a canary secret and a canary token, and checks that neither appears, while the events do.
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{BlockingTokenManager, CachePolicy, ClientConfig, RetryPolicy, TokenParams};

const SECRET: &str = "CANARY-SECRET-5d1e";
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
    let transport = {
        let answers = Arc::clone(&answers);
        move |request: Request<Vec<u8>>| -> Result<Response<Vec<u8>>, std::io::Error> {
            let n = answers.fetch_add(1, Ordering::SeqCst);
            tracing::trace!(request = ?request, "transport saw a request");
            let (status, body) = match n {
                // A 503 that echoes the secret, then tokens with 2 s lifetimes.
                0 => (
                    503,
                    format!(
                        r#"{{"error":"temporarily_unavailable","error_description":"{SECRET}"}}"#
                    ),
                ),
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
        !output.contains(SECRET),
        "the secret leaked into tracing:\n{output}"
    );
    assert!(
        !output.contains(TOKEN),
        "a token leaked into tracing:\n{output}"
    );
}
