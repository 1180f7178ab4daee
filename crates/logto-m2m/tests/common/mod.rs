//! A fake Logto token endpoint as a transport closure: counts requests, answers after a delay, with
//! the lifetime and failures the test sets. (Real HTTP is tested in the transport crates and the
//! conformance suite; here the managers' concurrency and state handling are.)
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod synthetic;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{ClientConfig, TokenParams};

pub const API: &str = "https://api.example.com";

pub fn config() -> ClientConfig {
    ClientConfig::builder("http://127.0.0.1:1", "m2m-app", "m2m-secret")
        .build()
        .unwrap()
}

pub fn params() -> TokenParams {
    TokenParams::for_resource(API).scope("read:items")
}

/// What the fake endpoint answers.
#[derive(Debug)]
pub struct FakeLogto {
    pub requests: AtomicUsize,
    pub lifetime_secs: AtomicU64,
    /// 0: answer tokens; otherwise this status with an OAuth error.
    pub fail_status: AtomicU64,
    pub delay: Duration,
    serial: AtomicU64,
}

impl FakeLogto {
    pub fn new(lifetime_secs: u64, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            requests: AtomicUsize::new(0),
            lifetime_secs: AtomicU64::new(lifetime_secs),
            fail_status: AtomicU64::new(0),
            delay,
            serial: AtomicU64::new(0),
        })
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn fail_with(&self, status: u16) {
        self.fail_status.store(u64::from(status), Ordering::SeqCst);
    }

    /// Counts a request as it arrives (before any delay).
    pub fn arrive(&self, request: &Request<Vec<u8>>) {
        assert_eq!(request.method(), "POST");
        self.requests.fetch_add(1, Ordering::SeqCst);
    }

    /// The answer to `request`, counted by [`arrive`](Self::arrive) first.
    pub fn answer(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        assert!(
            request
                .body()
                .starts_with(b"grant_type=client_credentials&")
        );
        let status = self.fail_status.load(Ordering::SeqCst);
        let body = match status {
            0 => format!(
                r#"{{"access_token":"token-{}","expires_in":{},"token_type":"Bearer","scope":"read:items"}}"#,
                self.serial.fetch_add(1, Ordering::SeqCst),
                self.lifetime_secs.load(Ordering::SeqCst)
            ),
            401 => {
                r#"{"error":"invalid_client","error_description":"client authentication failed"}"#
                    .to_owned()
            }
            _ => r#"{"error":"server_error"}"#.to_owned(),
        };
        Response::builder()
            .status(if status == 0 { 200 } else { status as u16 })
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap()
    }

    /// A blocking transport answering after the delay.
    pub fn blocking(
        self: &Arc<Self>,
    ) -> impl Fn(Request<Vec<u8>>) -> Result<Response<Vec<u8>>, std::io::Error> + Send + Sync + 'static
    {
        let fake = Arc::clone(self);
        move |request| {
            fake.arrive(&request);
            std::thread::sleep(fake.delay);
            Ok(fake.answer(&request))
        }
    }
}
