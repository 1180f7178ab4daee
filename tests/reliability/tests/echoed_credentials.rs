//! A token endpoint that echoes the credentials it received (the `Authorization` header, the
//! `client_secret_post` body), as they arrived and re-encoded, over real loopback HTTP through both
//! stacks: the error the caller gets shows the secret in none of its forms.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use logto_m2m::proto::http::{HeaderValue, Request, StatusCode, header};
use logto_m2m::{
    AsyncTokenManager, BlockingTokenManager, ClientAuthMethod, ClientConfig, Error, RetryPolicy,
    Token, TokenParams, TokenRequest,
};
use logto_m2m_hyper::HyperTransport;
use logto_m2m_testkit::{ApiResource, App, CannedResponse, Config, Fault, TestServer, defaults};
use logto_m2m_ureq::UreqTransport;

/// A secret whose characters every encoding writes its own way.
const SECRET: &str = "echo s+/&<\"\\%é-3b7c";

/// `text` as the content of a JSON string, with everything but letters and digits as `\uXXXX`
/// (lower-case hex), as a strict encoder writes it.
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

/// What `sent` carries of the secret: its `Authorization` value and its body, as sent; and the
/// forms of the secret in them (the raw one too).
fn credentials(sent: &Request<Vec<u8>>) -> (String, Vec<String>) {
    let authorization = sent
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = String::from_utf8(sent.body().clone()).unwrap();
    let mut forms = vec![SECRET.to_owned()];
    if let Some(base64) = authorization.strip_prefix("Basic ") {
        forms.push(base64.trim_end_matches('=').to_owned());
    }
    if let Some(form) = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("client_secret="))
    {
        forms.extend([form.to_owned(), lower_hex(form)]);
    }
    (format!("{authorization} {body}"), forms)
}

/// Answers that echo `echo` (ASCII: what went on the wire) and the raw secret: a 401 with the
/// echo in `WWW-Authenticate` and in the JSON error's texts, and a 502 HTML page.
fn echoing_faults(echo: &str) -> Vec<(&'static str, Fault)> {
    let www_authenticate = format!(r#"Basic realm="{echo} {}""#, lower_hex(echo));
    let texts = format!("{SECRET} {echo} {}", lower_hex(echo));
    let json = format!(
        r#"{{"error":"invalid_client","error_description":"{0}","message":"{0}","code":"{0}"}}"#,
        json_escaped(&texts)
    );
    let rejection = CannedResponse::new(StatusCode::UNAUTHORIZED)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&www_authenticate).unwrap(),
        )
        .body(json);
    let page = CannedResponse::new(StatusCode::BAD_GATEWAY)
        .header(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))
        .body(format!("<html><body><pre>{texts}</pre></body></html>"));
    vec![
        (
            "a 401 echoing in JSON and WWW-Authenticate",
            Fault::Respond(rejection),
        ),
        ("a 502 HTML page", Fault::Respond(page)),
    ]
}

/// Panics if anything a caller can read of `error` shows one of `forms`.
fn assert_clean(what: &str, error: &Error, forms: &[String]) {
    let mut printed = vec![
        error.to_string(),
        format!("{error:?}"),
        format!("{error:#?}"),
    ];
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        printed.push(inner.to_string());
        source = inner.source();
    }
    let Error::Server(server) = error else {
        panic!("{what}: not a server error: {error:?}");
    };
    printed.extend(
        [
            server.body_excerpt(),
            server.www_authenticate(),
            server.logto_code(),
            server.logto_message(),
            server
                .oauth()
                .and_then(|oauth| oauth.description.as_deref()),
        ]
        .into_iter()
        .flatten()
        .map(str::to_owned),
    );
    for text in &printed {
        for form in forms {
            let escaped = format!("{form:?}");
            let escaped = escaped.trim_matches('"');
            assert!(
                !text.contains(form.as_str()) && !text.contains(escaped),
                "{what}: shows the secret as {form:?}: {text}"
            );
        }
    }
    assert!(
        printed.iter().any(|text| text.contains("[redacted]")),
        "{what}: the echo did not reach the error: {printed:#?}"
    );
}

/// One token call on `stack` ("ureq" or "hyper") with `config`: the error it fails with.
fn failed_call(stack: &str, config: ClientConfig, params: TokenParams) -> Error {
    let retry = RetryPolicy::default().with_max_attempts(1);
    let result: Result<Arc<Token>, Error> = if stack == "ureq" {
        let manager = BlockingTokenManager::builder(UreqTransport::builder().build(), config)
            .retry_policy(retry)
            .build_blocking();
        manager.source(params).unwrap().token()
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let manager = logto_m2m_hyper::with_tokio(AsyncTokenManager::builder(
            HyperTransport::builder().build(),
            config,
        ))
        .retry_policy(retry)
        .build_async();
        let source = manager.source(params).unwrap();
        runtime.block_on(source.token())
    };
    result.expect_err("the server answers with an error")
}

#[test]
fn echoed_credentials_never_reach_the_callers_error() {
    let server_config = Config::builder()
        .app(App::new(defaults::APP_ID, SECRET).grant(defaults::RESOURCE, ["read:items"]))
        .resource(ApiResource::new(defaults::RESOURCE).scopes(["read:items"]))
        .build()
        .unwrap();
    let server = TestServer::start(server_config).unwrap();
    let params = TokenParams::for_resource(defaults::RESOURCE).scope("read:items");
    for stack in ["ureq", "hyper"] {
        for method in [ClientAuthMethod::Basic, ClientAuthMethod::Post] {
            let config = ClientConfig::builder(server.endpoint(), defaults::APP_ID, SECRET)
                .auth_method(method)
                .build()
                .unwrap();
            let sent = TokenRequest::new(&config, params.clone())
                .unwrap()
                .to_http();
            let (echo, forms) = credentials(&sent);
            for (answer, fault) in echoing_faults(&echo) {
                let what = format!("{stack}, {method:?}, {answer}");
                server.reset_log();
                server.inject(fault, 1);
                let error = failed_call(stack, config.clone(), params.clone());
                // The echo is of what arrived: the server received exactly what was echoed.
                let requests = server.requests();
                let received = requests.first().expect("one token request");
                assert_eq!(
                    received.header("authorization").unwrap_or_default(),
                    sent.headers()
                        .get(header::AUTHORIZATION)
                        .map_or("", |value| value.to_str().unwrap()),
                    "{what}"
                );
                assert_eq!(
                    received.param("client_secret"),
                    (method == ClientAuthMethod::Post).then_some(SECRET),
                    "{what}"
                );
                assert_clean(&what, &error, &forms);
            }
        }
    }
}
