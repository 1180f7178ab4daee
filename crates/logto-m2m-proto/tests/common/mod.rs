//! Shared test helpers: the recorded Logto responses, and a fixed configuration.
#![allow(dead_code, unreachable_pub)]

use logto_m2m_proto::http::{HeaderName, HeaderValue, Response, StatusCode};
use logto_m2m_proto::{ClientConfig, TokenParams, TokenRequest};

/// One recorded answer of a real Logto core.
pub struct Recorded {
    pub name: String,
    pub response: Response<Vec<u8>>,
}

/// Loads tests/fixtures/logto-token-endpoint-responses.txt (at the repository root): `=== name`, a status line, the headers that
/// matter, then the body. A case that ran against two URLs repeats its status block; the last wins.
pub fn recorded_responses() -> Vec<Recorded> {
    let text = include_str!("../../../../tests/fixtures/logto-token-endpoint-responses.txt");
    let mut cases = Vec::new();
    let mut current: Option<(String, Response<Vec<u8>>)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            if let Some((name, response)) = current.take() {
                cases.push(Recorded { name, response });
            }
            current = Some((name.to_owned(), Response::new(Vec::new())));
        } else if let Some((_, response)) = current.as_mut() {
            if let Some(status) = line.strip_prefix("HTTP/1.1 ") {
                let code: u16 = status[..3].parse().unwrap();
                *response = Response::new(Vec::new());
                *response.status_mut() = StatusCode::from_u16(code).unwrap();
            } else if line.starts_with('{') {
                *response.body_mut() = line.as_bytes().to_vec();
            } else if let Some((name, value)) = line.split_once(": ") {
                response.headers_mut().append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
        }
    }
    if let Some((name, response)) = current {
        cases.push(Recorded { name, response });
    }
    cases
}

pub const APP_ID: &str = "m2m-app";
pub const APP_SECRET: &str = "m2m-secret";
pub const API: &str = "https://api.example.com";

pub fn config() -> ClientConfig {
    ClientConfig::builder("http://127.0.0.1:3001", APP_ID, APP_SECRET)
        .build()
        .unwrap()
}

pub fn request(params: TokenParams) -> TokenRequest {
    TokenRequest::new(&config(), params).unwrap()
}
