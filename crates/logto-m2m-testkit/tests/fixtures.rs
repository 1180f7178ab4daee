//! Replays the curl requests that produced the recorded Logto responses
//! (`tests/fixtures/logto-token-endpoint-requests.sh` at the repository root) against the test server and compares each
//! answer with the recording (`tests/fixtures/logto-token-endpoint-responses.txt`): status, `error`,
//! the error body, `WWW-Authenticate`, `cache-control`, `Content-Type`, the body's keys in order,
//! and for tokens the JWT header and claims.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;
use common::{RawRequest, exchange, jwt_segment, key_order};
use logto_m2m_testkit::TestServer;
use serde_json::Value;

const REQUESTS: &str = include_str!("../../../tests/fixtures/logto-token-endpoint-requests.sh");
const RESPONSES: &str = include_str!("../../../tests/fixtures/logto-token-endpoint-responses.txt");
/// The issuer of the recording.
const RECORDED_ISSUER: &str = "http://127.0.0.1:3001/oidc";

/// One recorded case: a name, the requests curl sent (one per URL) and what came back.
struct Case {
    name: String,
    requests: Vec<RawRequest>,
    heads: Vec<RecordedHead>,
    body: String,
}

#[derive(Debug, Default)]
struct RecordedHead {
    status: u16,
    headers: Vec<(String, String)>,
}

impl RecordedHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits a shell line into words, expanding `$B`, `$BAD` and `$U` and honouring quotes.
fn shell_words(line: &str, vars: &[(&str, String)]) -> Vec<String> {
    fn expand(
        out: &mut String,
        chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
        vars: &[(&str, String)],
    ) {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        let value = vars
            .iter()
            .find(|(k, _)| *k == name)
            .unwrap_or_else(|| panic!("unknown variable ${name}"));
        out.push_str(&value.1);
    }
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    let mut current: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = current.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = current.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = current.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '$' => expand(w, &mut chars, vars),
                        _ => w.push(c),
                    }
                }
            }
            '$' => expand(current.get_or_insert_with(String::new), &mut chars, vars),
            _ => current.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = current {
        words.push(w);
    }
    words
}

/// curl's `--data-urlencode` escaping: everything but unreserved characters.
fn curl_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The requests of one `run NAME curl-args...` line.
fn requests_of(words: &[String]) -> Vec<RawRequest> {
    let mut headers = Vec::new();
    let mut data = Vec::new();
    let mut urls = vec!["$U".to_owned()];
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        match w.as_str() {
            "-H" => {
                let (k, v) = words[i + 1].split_once(':').unwrap();
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
                i += 2;
            }
            "-d" | "--data" => {
                data.push(words[i + 1].clone());
                i += 2;
            }
            "--data-urlencode" => {
                let arg = &words[i + 1];
                data.push(match arg.split_once('=') {
                    Some(("", content)) => curl_escape(content),
                    Some((name, content)) => format!("{name}={}", curl_escape(content)),
                    None => curl_escape(arg),
                });
                i += 2;
            }
            other if other.starts_with('-') => panic!("unhandled curl option {other}"),
            url => {
                urls.push(url.to_owned());
                i += 1;
            }
        }
    }
    let body = data.join("&");
    if !data.is_empty()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push((
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ));
    }
    urls.iter()
        .map(|u| {
            let target = u.replacen("$U", "/oidc/token", 1);
            let mut r = RawRequest::new("POST", &target).body(body.clone());
            for (k, v) in &headers {
                r = r.header(k, v);
            }
            r
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let vars = [
        ("B", b64("m2m-app:m2m-secret")),
        ("BAD", b64("m2m-app:wrong")),
        // Kept symbolic so that a URL with a query stays recognisable.
        ("U", "$U".to_owned()),
    ];
    let mut cases: Vec<Case> = REQUESTS
        .lines()
        .filter(|l| l.starts_with("run \""))
        .map(|l| {
            let words = shell_words(l, &vars);
            Case {
                name: words[1].clone(),
                requests: requests_of(&words[2..]),
                heads: Vec::new(),
                body: String::new(),
            }
        })
        .collect();

    let mut blocks = RESPONSES.split("=== ").filter(|b| !b.trim().is_empty());
    for case in &mut cases {
        let block = blocks.next().expect("a response block per request");
        let mut lines = block.lines();
        assert_eq!(
            lines.next(),
            Some(case.name.as_str()),
            "responses are in request order"
        );
        for line in lines {
            if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
                case.heads.push(RecordedHead {
                    status: rest[..3].parse().unwrap(),
                    headers: Vec::new(),
                });
            } else if line.starts_with('{') {
                case.body = line.to_owned();
            } else if let Some((k, v)) = line.split_once(": ") {
                let head = case.heads.last_mut().expect("status line first");
                head.headers.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    assert!(
        blocks.next().is_none(),
        "as many response blocks as requests"
    );
    cases
}

#[test]
fn the_fixture_files_hold_26_cases() {
    let cases = cases();
    assert_eq!(cases.len(), 26);
    for case in &cases {
        assert_eq!(case.requests.len(), case.heads.len(), "{}", case.name);
        assert!(!case.body.is_empty(), "{}", case.name);
    }
}

#[test]
fn the_server_reproduces_every_recorded_logto_response() {
    let server = TestServer::start_default().unwrap();
    let addr = server.addr();
    let mut compared = 0;
    for case in cases() {
        for (index, (request, head)) in case.requests.iter().zip(&case.heads).enumerate() {
            let name = format!("{} (request {})", case.name, index + 1);
            let response = exchange(addr, request);
            assert_eq!(
                response.status,
                head.status,
                "{name}: status; body {}",
                response.text()
            );
            for h in ["content-type", "cache-control"] {
                assert_eq!(response.header(h), head.header(h), "{name}: {h}");
            }
            assert_eq!(response.header("cache-control"), Some("no-store"), "{name}");
            assert_eq!(response.header("pragma"), None, "{name}: no Pragma");
            let expected_www = head
                .header("www-authenticate")
                .map(|v| v.replace(RECORDED_ISSUER, server.issuer()));
            assert_eq!(
                response.header("www-authenticate").map(str::to_owned),
                expected_www,
                "{name}: WWW-Authenticate"
            );
            assert!(response.header_count("www-authenticate") <= 1, "{name}");

            let body = response.json();
            // curl wrote only the first URL's body to the file; the others went to the terminal.
            if index > 0 {
                // `?parse_error=false`: the raw OAuth error, without Logto's envelope.
                let recorded: Value = serde_json::from_str(&case.body).unwrap();
                assert_eq!(
                    key_order(&response.text()),
                    ["error", "error_description"],
                    "{name}"
                );
                assert_eq!(body["error"], recorded["error"], "{name}");
                assert_eq!(
                    body["error_description"], recorded["error_description"],
                    "{name}"
                );
                compared += 1;
                continue;
            }
            assert_eq!(
                key_order(&response.text()),
                key_order(&case.body),
                "{name}: body keys"
            );
            let recorded: Value = serde_json::from_str(&case.body).unwrap();
            if recorded.get("access_token").is_none() {
                assert_eq!(body, recorded, "{name}: error body");
            } else {
                for k in ["expires_in", "token_type", "scope"] {
                    assert_eq!(body.get(k), recorded.get(k), "{name}: {k}");
                }
                compare_jwts(
                    &name,
                    body["access_token"].as_str().unwrap(),
                    recorded["access_token"].as_str().unwrap(),
                    &server,
                );
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 27, "26 cases, one of which sends two requests");
    assert_eq!(server.token_requests(), 27);
}

fn compare_jwts(name: &str, ours: &str, recorded: &str, server: &TestServer) {
    let ours: Vec<&str> = ours.split('.').collect();
    let recorded: Vec<&str> = recorded.split('.').collect();
    assert_eq!(ours.len(), 3, "{name}");

    let (header, recorded_header) = (jwt_segment(ours[0]), jwt_segment(recorded[0]));
    assert_eq!(
        key_order(&header),
        key_order(&recorded_header),
        "{name}: JWT header keys"
    );
    let header: Value = serde_json::from_str(&header).unwrap();
    let recorded_header: Value = serde_json::from_str(&recorded_header).unwrap();
    assert_eq!(header["alg"], recorded_header["alg"], "{name}");
    assert_eq!(header["typ"], recorded_header["typ"], "{name}");
    assert_eq!(header["kid"], server.kid(), "{name}");
    assert_eq!(
        header["kid"].as_str().unwrap().len(),
        43,
        "{name}: SHA-256 thumbprint"
    );

    let (claims, recorded_claims) = (jwt_segment(ours[1]), jwt_segment(recorded[1]));
    assert_eq!(
        key_order(&claims),
        key_order(&recorded_claims),
        "{name}: claim order"
    );
    let claims: Value = serde_json::from_str(&claims).unwrap();
    let recorded_claims: Value = serde_json::from_str(&recorded_claims).unwrap();
    for k in ["organization_id", "sub", "scope", "client_id", "aud"] {
        assert_eq!(claims.get(k), recorded_claims.get(k), "{name}: claim {k}");
    }
    assert_eq!(claims["iss"], server.issuer(), "{name}");
    let lifetime = |c: &Value| c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap();
    assert_eq!(
        lifetime(&claims),
        lifetime(&recorded_claims),
        "{name}: exp - iat"
    );
    assert_eq!(
        claims["jti"].as_str().unwrap().len(),
        recorded_claims["jti"].as_str().unwrap().len(),
        "{name}: jti"
    );
    // ES384 signatures are 96 bytes.
    assert_eq!(ours[2].len(), recorded[2].len(), "{name}: signature size");
}
