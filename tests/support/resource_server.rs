//! A loopback API (resource server) for the tests of the integrations that send a token: it
//! answers 200 with a small JSON body unless told to answer otherwise for the next requests (a 401,
//! a redirect...), and records the `Authorization` of every request.
//!
//! Built on `raw_http_server.rs`, which the including test declares as `mod support` beside it.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::support::{Received, Reply, TestServer, response};

/// The body of a 200.
pub const OK_BODY: &str = r#"{"items":[]}"#;

/// A running loopback API.
pub struct ResourceServer {
    raw: TestServer,
    script: Arc<Mutex<VecDeque<Vec<u8>>>>,
}

impl ResourceServer {
    /// Starts an API that answers 200 until told otherwise.
    pub fn start() -> Self {
        let script: Arc<Mutex<VecDeque<Vec<u8>>>> = Arc::default();
        let next = Arc::clone(&script);
        let raw = TestServer::start(move |_| {
            let scripted = next.lock().expect("lock").pop_front();
            Reply::Raw(scripted.unwrap_or_else(|| {
                response("200 OK", &[("content-type", "application/json")], OK_BODY)
            }))
        });
        Self { raw, script }
    }

    /// Answers the next request 401, as a resource server does for a revoked or expired token.
    pub fn refuse_next_token(&self) {
        self.answer_next(response(
            "401 Unauthorized",
            &[("www-authenticate", r#"Bearer error="invalid_token""#)],
            "",
        ));
    }

    /// Answers the next request with these raw bytes (after those already queued).
    pub fn answer_next(&self, raw: Vec<u8>) {
        self.script.lock().expect("lock").push_back(raw);
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        self.raw.url(path)
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.raw.received()
    }

    /// The `Authorization` of each request received so far (`None` for a request without one).
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.received()
            .iter()
            .map(|request| request.header("authorization").map(str::to_owned))
            .collect()
    }
}
