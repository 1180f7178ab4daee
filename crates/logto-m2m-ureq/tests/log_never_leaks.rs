//! ureq's protocol crate hex-dumps every request and response at `trace` (log target
//! `ureq_proto`), credentials and token included, and nothing in ureq or this transport can turn
//! that off. This pins the filter the README documents: with it, a logger at `trace` for
//! everything else never sees the secret, the Basic credentials or the token in any form; without
//! it, the same exchange puts all of them in the log (so this test can fail).
//!
//! One test in its own binary: a `log` logger is installed once per process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../tests/support/raw_http_server.rs"]
mod support;

use std::sync::Mutex;

use base64::Engine as _;
use logto_m2m::{BlockingTokenManager, ClientAuthMethod, ClientConfig, TokenParams};
use logto_m2m_ureq::UreqTransport;
use support::{TestServer, response};

/// The filter the README and the crate docs tell users to add.
const DOCUMENTED_FILTER: &str = "trace,ureq_proto=debug";

const APP_ID: &str = "canary-app";
const SECRET: &str = "Canary-Secret/7Qx+Zp9wLm";
const TOKEN: &str = "eyJhbGciOiJFUzM4NCJ9.Q2FuYXJ5VG9rZW4tbmV2ZXItbG9nZ2Vk.c2lnbmF0dXJl";

/// One captured record, and whether the documented filter lets it through.
struct Captured {
    passes_filter: bool,
    target: String,
    message: String,
}

struct CapturingLogger {
    filter: env_filter::Filter,
    records: Mutex<Vec<Captured>>,
}

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let captured = Captured {
            passes_filter: self.filter.matches(record),
            target: record.target().to_owned(),
            message: record.args().to_string(),
        };
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(captured);
    }

    fn flush(&self) {}
}

/// The bytes of a run of ureq-proto hex-dump rows (`504f 5354 202f ... POST./`): the secret
/// is split over rows of 16 bytes, so it is looked for in the bytes they carry, joined.
fn hex_dumped_bytes<'a>(records: impl Iterator<Item = &'a Captured>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for record in records {
        for group in record.message.split_whitespace().take(8) {
            if group.len() != 4 {
                break;
            }
            for pair in [&group[..2], &group[2..]] {
                if let Ok(byte) = u8::from_str_radix(pair, 16) {
                    bytes.push(byte);
                }
            }
        }
    }
    bytes
}

/// Every form the credentials and the token take on the wire.
fn secret_forms() -> Vec<(&'static str, String)> {
    let encoded_secret: String = form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    // RFC 6749 §2.3.1: the id and the secret are form-encoded before base64.
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{APP_ID}:{encoded_secret}"));
    vec![
        ("the secret", SECRET.to_owned()),
        ("the form-encoded secret", encoded_secret),
        ("the Basic credentials", basic),
        ("the access token", TOKEN.to_owned()),
    ]
}

/// Which secret forms appear in `records`, as text or in the bytes of their hex dumps.
fn leaked(records: &[&Captured]) -> Vec<&'static str> {
    let text: String = records
        .iter()
        .map(|r| r.message.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let dumped = hex_dumped_bytes(
        records
            .iter()
            .copied()
            .filter(|r| r.target.starts_with("ureq_proto")),
    );
    let dumped = String::from_utf8_lossy(&dumped);
    secret_forms()
        .into_iter()
        .filter(|(_, form)| text.contains(form.as_str()) || dumped.contains(form.as_str()))
        .map(|(name, _)| name)
        .collect()
}

fn fetch_token(server: &TestServer, method: ClientAuthMethod) {
    let config = ClientConfig::builder(server.url(""), APP_ID, SECRET)
        .auth_method(method)
        .build()
        .unwrap();
    let manager = BlockingTokenManager::new(UreqTransport::new(), config);
    let token = manager
        .source(TokenParams::for_resource("https://api.example.com"))
        .unwrap()
        .token()
        .unwrap();
    assert_eq!(token.access_token().expose_secret(), TOKEN);
}

#[test]
fn the_documented_filter_keeps_credentials_and_tokens_out_of_a_trace_log() {
    assert!(
        include_str!("../README.md").contains("RUST_LOG=trace,ureq_proto=debug")
            && include_str!("../src/lib.rs").contains("#![doc = include_str!(\"../README.md\")]"),
        "the README, which is the crate docs, documents the filter this test pins"
    );
    let logger: &'static CapturingLogger = Box::leak(Box::new(CapturingLogger {
        filter: env_filter::Builder::new()
            .try_parse(DOCUMENTED_FILTER)
            .unwrap()
            .build(),
        records: Mutex::new(Vec::new()),
    }));
    log::set_logger(logger).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let body = format!(r#"{{"access_token":"{TOKEN}","expires_in":3600,"token_type":"Bearer"}}"#);
    let server = TestServer::always(&response(
        "200 OK",
        &[("content-type", "application/json")],
        &body,
    ));
    fetch_token(&server, ClientAuthMethod::Basic);
    fetch_token(&server, ClientAuthMethod::Post);
    assert_eq!(server.received().len(), 2);

    let records = logger.records.lock().unwrap();
    let all: Vec<&Captured> = records.iter().collect();
    let kept: Vec<&Captured> = records.iter().filter(|r| r.passes_filter).collect();
    assert!(
        kept.iter().any(|r| r.target.starts_with("ureq")),
        "the filter keeps ureq's own records"
    );
    assert_eq!(
        leaked(&kept),
        Vec::<&str>::new(),
        "with {DOCUMENTED_FILTER:?}, a trace log leaked these"
    );
    // Without the filter, ureq_proto's trace records carry the request head (the Basic
    // credentials) and the response body (the token). ureq-proto 0.7 does not dump the request
    // body, so a `client_secret_post` secret does not show; the filter covers it either way.
    let unfiltered = leaked(&all);
    for form in ["the Basic credentials", "the access token"] {
        assert!(unfiltered.contains(&form), "{form} not in {unfiltered:?}");
    }
}
