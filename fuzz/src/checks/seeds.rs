//! The seed corpus (and the reproducers of open bugs), as inputs: written to `fuzz/corpus/` and
//! `fuzz/regressions/` by the corpus test's generator, which also checks that the files are up to
//! date. Recorded Logto answers come in from the caller, which reads the proto crate's test data.

use std::fmt::Debug;

use arbitrary::Arbitrary;
use logto_m2m_proto::http::StatusCode;

use super::common::{EndpointInput, Header};
use super::discovery::DiscoveryInput;
use super::error_body::{self, ErrorBodyInput};
use super::request_building::{self, Pair, RequestInput, ResourceInput};
use super::retry_after::{self as retry, RetryAfterInput};
use super::secret_forms;
use super::state_machine::{Answer, Op, Ops, PolicyInput, StateMachineInput};
use super::token_response::{self, Setup, TokenResponseInput};
use super::wire::{Byte, Bytes, Encode, Flag, List, Maybe, Rest, U16, U32, to_bytes};

/// A recorded answer of a real Logto core.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The case's name.
    pub name: String,
    /// The status.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

/// One file of the corpus or of the regressions.
#[derive(Debug, Clone)]
pub struct Seed {
    /// `corpus` or `regressions`.
    pub dir: &'static str,
    /// The target.
    pub target: &'static str,
    /// The file name.
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// The prefix of every generated seed's file name (files found by fuzzing have other names).
pub const PREFIX: &str = "seed-";

/// A file name from a case name: lower case, runs of other characters as one `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Encodes `input` and checks that it decodes back to itself.
fn seed<T>(dir: &'static str, target: &'static str, name: &str, input: &T) -> Seed
where
    T: Encode + for<'a> Arbitrary<'a> + PartialEq + Debug,
{
    let bytes = to_bytes(input);
    let decoded: Option<T> = super::decode(&bytes);
    assert_eq!(
        decoded.as_ref(),
        Some(input),
        "{target}/{name} does not decode back to itself"
    );
    let name = if dir == "corpus" {
        format!("{PREFIX}{}", slug(name))
    } else {
        slug(name)
    };
    Seed {
        dir,
        target,
        name,
        bytes,
    }
}

fn headers(list: &[(&str, &str)]) -> List<Header> {
    List(
        list.iter()
            .map(|(name, value)| Header::new(name, value.as_bytes()))
            .collect(),
    )
}

/// A token answer: name, `Setup::expiry`, `Setup::request`, status, headers, body.
type TokenCase<'a> = (&'a str, u8, u8, u16, &'a [(&'a str, &'a str)], &'a str);
/// An error answer: name, secret suffix, status, headers, body.
type ErrorCase<'a> = (&'a str, &'a str, u16, &'a [(&'a str, &'a str)], &'a [u8]);

const JSON: (&str, &str) = ("content-type", "application/json; charset=utf-8");
/// Around when the answers were recorded (the tokens' `iat`).
const RECORDED_AT: u32 = 1_795_508_368;

/// The [`Setup::request`] bits of a recorded case: what its request asked for.
fn recorded_request_bits(case: &str) -> u8 {
    let scope = |name: &str| {
        let index = token_response::SCOPES
            .iter()
            .position(|s| *s == name)
            .unwrap_or_else(|| panic!("unknown scope {name}"));
        1u8 << index
    };
    let org = token_response::WITH_ORGANIZATION;
    match case {
        "good basic" => scope("read:items") | scope("write:items"),
        "good post (client_secret_post)" => scope("read:items") | token_response::POST,
        "json body" => scope("read:items"),
        "ungranted scope only" => scope("delete:items"),
        "mgmt api all" => scope("all"),
        "org token" => scope("org:read") | scope("other") | org,
        "org token no scope" => org,
        "org + resource" => scope("read:items") | scope("write:items") | org,
        _ => 0,
    }
}

fn recorded_headers(case: &Recorded) -> List<Header> {
    List(
        case.headers
            .iter()
            .map(|(name, value)| Header::new(name, value))
            .collect(),
    )
}

fn token_response_input(
    expiry: u8,
    request: u8,
    status: u16,
    headers: List<Header>,
    body: &[u8],
) -> TokenResponseInput {
    TokenResponseInput {
        setup: Setup {
            expiry: Byte(expiry),
            request: Byte(request),
            wall_clock: U32(RECORDED_AT),
        },
        status: token_response::status_raw(
            StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}")),
        ),
        headers,
        body: Rest(body.to_vec()),
    }
}

fn token_response_seeds(recorded: &[Recorded], out: &mut Vec<Seed>) {
    const T: &str = "token_response";
    for case in recorded {
        let input = token_response_input(
            0,
            recorded_request_bits(&case.name),
            case.status,
            recorded_headers(case),
            &case.body,
        );
        out.push(seed(
            "corpus",
            T,
            &format!("recorded {}", case.name),
            &input,
        ));
    }
    let read = 1;
    let cases: [TokenCase<'_>; 18] = [
        (
            "expires_in as string",
            0,
            read,
            200,
            &[JSON],
            r#"{"access_token":"abc.def","expires_in":"3600","token_type":"bearer","scope":"read:items"}"#,
        ),
        (
            "expires_in missing",
            0,
            read,
            200,
            &[JSON],
            r#"{"access_token":"abc","token_type":"Bearer"}"#,
        ),
        (
            "expires_in huge",
            0,
            0,
            200,
            &[JSON],
            r#"{"access_token":"abc","expires_in":1e30}"#,
        ),
        (
            "expires_in above u64",
            0,
            0,
            200,
            &[JSON],
            r#"{"access_token":"abc","expires_in":18446744073709551616}"#,
        ),
        (
            "expires_in float",
            0,
            0,
            200,
            &[JSON],
            r#"{"access_token":"abc","expires_in":3600.0}"#,
        ),
        (
            "expires_in fraction",
            0,
            0,
            200,
            &[JSON],
            r#"{"access_token":"abc","expires_in":1.5}"#,
        ),
        (
            "expires_in negative",
            0,
            0,
            200,
            &[JSON],
            r#"{"access_token":"abc","expires_in":-1}"#,
        ),
        (
            "expires_in zero",
            0,
            0,
            200,
            &[JSON],
            r#"{"access_token":"abc","expires_in":0}"#,
        ),
        (
            "dpop without content type",
            0,
            0,
            201,
            &[],
            r#"{"access_token":"abc","token_type":"DPoP","expires_in":60,"refresh_token":"x"}"#,
        ),
        (
            "text plain",
            0,
            read,
            200,
            &[("content-type", "text/plain")],
            r#"{"access_token":"abc","expires_in":1,"scope":"read:items extra"}"#,
        ),
        (
            "error in a 200",
            0,
            0,
            200,
            &[JSON],
            r#"{"error":"invalid_client","error_description":"m2m-secret is wrong"}"#,
        ),
        (
            "non-ascii token",
            0,
            0,
            200,
            &[JSON],
            r#"{"access_token":"tök","expires_in":60}"#,
        ),
        (
            "html",
            0,
            0,
            200,
            &[("content-type", "text/html")],
            "<html>ok</html>",
        ),
        ("array", 0, 0, 200, &[JSON], "[]"),
        (
            "throttled",
            0,
            0,
            429,
            &[
                JSON,
                ("retry-after", "120"),
                ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ],
            r#"{"code":"auth.exceed_token_limit","message":"m2m-secret"}"#,
        ),
        // Default lifetime 1 s, maximum 60 s: an hour is clamped.
        (
            "short policy",
            (2 << 4) | 1,
            0,
            200,
            &[JSON],
            r#"{"access_token":"abc","expires_in":3600}"#,
        ),
        // No maximum at all: a lifetime past the end of time.
        (
            "unbounded policy",
            (7 << 4) | 7,
            0,
            200,
            &[JSON],
            r#"{"access_token":"abc","expires_in":18446744073709551615}"#,
        ),
        (
            "all scopes and organization",
            0,
            0x7F,
            200,
            &[JSON],
            r#"{"access_token":"abc","expires_in":"60","scope":"all  other read:items"}"#,
        ),
    ];
    for (name, expiry, request, status, list, body) in cases {
        let input = token_response_input(expiry, request, status, headers(list), body.as_bytes());
        out.push(seed("corpus", T, name, &input));
    }
    // Fixed bugs: the expiry policy was used unchecked.
    let no_expires_in = br#"{"access_token":"abc","token_type":"Bearer"}"#;
    let zero_default = token_response_input(5, 0, 200, headers(&[JSON]), no_expires_in);
    out.push(seed("corpus", T, "zero default lifetime", &zero_default));
    // Default an hour, maximum a minute.
    let above = token_response_input((2 << 4) | 3, 0, 200, headers(&[JSON]), no_expires_in);
    out.push(seed("corpus", T, "default lifetime above max", &above));
}

fn error_body_input(
    suffix: &str,
    status: u16,
    list: &[(&str, &str)],
    body: &[u8],
) -> ErrorBodyInput {
    ErrorBodyInput {
        secret_suffix: error_body::suffix_bytes(suffix),
        status: error_body::status_raw(
            StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}")),
        ),
        wall_clock: U32(RECORDED_AT),
        headers: headers(list),
        body: Rest(body.to_vec()),
    }
}

fn error_body_seeds(recorded: &[Recorded], out: &mut Vec<Seed>) {
    const T: &str = "error_body";
    for case in recorded {
        // Success answers are sent with 500: this target only takes error statuses.
        let input = ErrorBodyInput {
            secret_suffix: Bytes::default(),
            status: error_body::status_raw(
                StatusCode::from_u16(case.status).unwrap_or_else(|e| panic!("{e}")),
            ),
            wall_clock: U32(RECORDED_AT),
            headers: recorded_headers(case),
            body: Rest(case.body.clone()),
        };
        out.push(seed(
            "corpus",
            T,
            &format!("recorded {}", case.name),
            &input,
        ));
    }
    let long = format!(
        r#"{{"error":"invalid_request","error_description":"{}@S and more"}}"#,
        "x".repeat(505)
    );
    let cases: [ErrorCase<'_>; 13] = [
        ("secret in description", "", 400, &[JSON], br#"{"error":"invalid_request","error_description":"bad secret @S"}"#),
        ("secret everywhere but the code", "Xy9", 401, &[JSON, ("www-authenticate", r#"Basic realm="@S", error="invalid_client""#)], br#"{"code":"oidc.@S","message":"@S@S","error":"invalid_client","error_description":"@S","error_uri":"https://e.example/@S"}"#),
        ("secret escaped in json", "", 400, &[JSON], br#"{"error":"invalid_client","error_description":"m2m\u002dsecret"}"#),
        ("secret in html", "A", 502, &[("content-type", "text/html")], b"<html><body>upstream said @S</body></html>"),
        ("secret in a non-object", "", 500, &[JSON], br#"["@S"]"#),
        ("secret in logto code and message", "_.", 400, &[JSON], br#"{"code":"@S","message":"@S"}"#),
        ("secret in invalid utf-8", "", 500, &[], b"\xff\xfe@S\xc3"),
        ("secret in a long description", "", 400, &[JSON], long.as_bytes()),
        ("quota with retry-after", "", 429, &[JSON, ("retry-after", "60")], br#"{"code":"auth.exceed_token_limit","message":"Token limit exceeded"}"#),
        ("unavailable with a retry-after date", "", 503, &[("retry-after", "Sun, 06 Nov 1994 08:51:37 GMT"), ("date", "Sun, 06 Nov 1994 08:49:37 GMT")], b""),
        ("control characters", "", 400, &[JSON], br#"{"error":"invalid_scope","error_description":"a\u0000b\n\n\tc\u001b[31m  "}"#),
        ("redirect", "", 302, &[("location", "https://e.example/@S")], b""),
        ("empty 500", "", 500, &[], b""),
    ];
    for (name, suffix, status, list, body) in cases {
        out.push(seed(
            "corpus",
            T,
            name,
            &error_body_input(suffix, status, list, body),
        ));
    }
    // Open bug: the OAuth error code is not scrubbed.
    let code = error_body_input("", 400, &[JSON], br#"{"error":"@S"}"#);
    out.push(seed("corpus", T, "secret in error code", &code));
    echo_seeds(out);
}

/// Seeds that echo each form of a secret whose encodings all differ, under every escape, in every
/// text that reaches an error: each JSON field, `WWW-Authenticate`, and an HTML page (also right
/// at the excerpt's cut).
fn echo_seeds(out: &mut Vec<Seed>) {
    const T: &str = "error_body";
    const SUFFIX: &str = "x +/&<>\"'\\%=:?#\u{e9}\u{1f980}";
    let marker = |marker: &[u8], wire: usize, escape: usize| {
        let mut bytes = marker.to_vec();
        bytes.push(error_body::echo_byte(wire, escape));
        bytes
    };
    let escapes = secret_forms::ESCAPES.len();
    let forms = secret_forms::wire_forms("app", "secret");
    for (wire, (name, _)) in forms.iter().enumerate() {
        let all = |with: &[u8]| -> Vec<u8> {
            let mut bytes = Vec::new();
            for escape in 0..escapes {
                bytes.extend_from_slice(b" (");
                bytes.extend_from_slice(&marker(with, wire, escape));
                bytes.push(b')');
            }
            bytes
        };
        let field = |escape: usize| marker(error_body::JSON_FORM_MARKER, wire, escape);
        let mut json = br#"{"error":""#.to_vec();
        json.extend_from_slice(&field(0));
        json.extend_from_slice(br#"","error_description":"echo"#);
        json.extend_from_slice(&all(error_body::JSON_FORM_MARKER));
        json.extend_from_slice(br#"","error_uri":"https://e.example/?c="#);
        json.extend_from_slice(&field(2));
        json.extend_from_slice(br#"","code":""#);
        json.extend_from_slice(&field(3));
        json.extend_from_slice(br#"","message":""#);
        json.extend_from_slice(&field(wire % escapes));
        json.extend_from_slice(br#""}"#);
        let mut input = error_body_input(SUFFIX, 401, &[JSON], &json);
        let mut realm = br#"Basic realm=""#.to_vec();
        realm.extend_from_slice(&marker(error_body::FORM_MARKER, wire, wire % escapes));
        realm.push(b'"');
        input
            .headers
            .0
            .push(Header::new("www-authenticate", &realm));
        out.push(seed(
            "corpus",
            T,
            &format!("echo of {name} in json"),
            &input,
        ));

        let mut page = b"<html><body>upstream echoed".to_vec();
        page.extend_from_slice(&all(error_body::FORM_MARKER));
        page.extend_from_slice(b"</body></html>");
        let html = [("content-type", "text/html")];
        let input = error_body_input(SUFFIX, 502, &html, &page);
        out.push(seed(
            "corpus",
            T,
            &format!("echo of {name} in html"),
            &input,
        ));

        let mut cut = vec![b'x'; 195];
        cut.extend_from_slice(&marker(error_body::FORM_MARKER, wire, 0));
        let input = error_body_input(SUFFIX, 500, &[], &cut);
        out.push(seed(
            "corpus",
            T,
            &format!("echo of {name} at the cut"),
            &input,
        ));
    }
}

fn retry_after_seeds(out: &mut Vec<Seed>) {
    const T: &str = "retry_after";
    let input = |flags: u8, delay: u16, shift: u16, date: &str, second: &str, value: &str| {
        RetryAfterInput {
            flags: Byte(flags),
            wall_clock: U32(RECORDED_AT),
            delay: U16(delay),
            shift: U16(shift),
            date: Bytes::from_text(date),
            second: Bytes::from_text(second),
            value: Rest(value.as_bytes().to_vec()),
        }
    };
    let date = "Sun, 06 Nov 1994 08:49:37 GMT";
    let cases = [
        ("delta", input(0, 0, 30, "", "", "120")),
        ("delta zero", input(0, 0, 0, "", "", "0")),
        ("delta with spaces", input(0, 0, 5, "", "", " \t42 ")),
        (
            "delta huge",
            input(0, 0, 5, "", "", "99999999999999999999999"),
        ),
        ("delta negative", input(0, 0, 5, "", "", "-5")),
        ("delta fraction", input(0, 0, 5, "", "", "1.5")),
        (
            "imf-fixdate",
            input(0, 0, 60, "", "", "Sun, 06 Nov 1994 08:51:37 GMT"),
        ),
        (
            "imf-fixdate with date",
            input(
                retry::WITH_DATE,
                0,
                60,
                date,
                "",
                "Sun, 06 Nov 1994 08:51:37 GMT",
            ),
        ),
        (
            "rfc 850 date",
            input(
                retry::WITH_DATE,
                0,
                1,
                date,
                "",
                "Sunday, 06-Nov-94 08:49:37 GMT",
            ),
        ),
        (
            "asctime date",
            input(retry::WITH_DATE, 0, 1, date, "", "Sun Nov  6 08:49:37 1994"),
        ),
        (
            "date in the past",
            input(
                retry::WITH_DATE,
                0,
                1,
                date,
                "",
                "Sat, 05 Nov 1994 08:49:37 GMT",
            ),
        ),
        (
            "bad date header",
            input(
                retry::WITH_DATE,
                0,
                7,
                "yesterday",
                "",
                "Sun, 06 Nov 1994 08:51:37 GMT",
            ),
        ),
        (
            "generated date",
            input(retry::GENERATED_VALUE, 90, 30, "", "", ""),
        ),
        (
            "generated date and date header",
            input(
                retry::GENERATED_VALUE | retry::WITH_DATE | retry::GENERATED_DATE,
                3600,
                600,
                "",
                "",
                "",
            ),
        ),
        (
            "two values",
            input(retry::SECOND_VALUE, 0, 1, "", "10", "20"),
        ),
        (
            "second value only",
            input(retry::SECOND_VALUE | retry::NO_VALUE, 0, 1, "", "10", ""),
        ),
        ("absent", input(retry::NO_VALUE, 0, 1, "", "", "")),
        ("empty", input(0, 0, 1, "", "", "")),
        ("not ascii", input(0, 0, 1, "", "", "12\u{e9}")),
        ("garbage", input(0, 0, 1, "", "", "soon, please")),
    ];
    for (name, input) in cases {
        out.push(seed("corpus", T, name, &input));
    }
}

fn discovery_seeds(out: &mut Vec<Seed>) {
    const T: &str = "discovery";
    let logto = r#"{"issuer":"@I","authorization_endpoint":"@I/auth","token_endpoint":"@I/token","jwks_uri":"@I/jwks","userinfo_endpoint":"@I/me","response_types_supported":["code","id_token","code id_token","none"],"grant_types_supported":["implicit","authorization_code","refresh_token","client_credentials","urn:ietf:params:oauth:grant-type:token-exchange"],"token_endpoint_auth_methods_supported":["none","client_secret_basic","client_secret_jwt","client_secret_post","private_key_jwt"],"scopes_supported":["openid","offline_access","profile","email"],"claims_parameter_supported":false}"#;
    let input = |endpoint: &str, insecure: bool, status: u16, list: &[(&str, &str)], body: &str| {
        DiscoveryInput {
            endpoint: EndpointInput::new(endpoint),
            allow_insecure_http: Flag(insecure),
            status: U16(super::common::any_status_raw(status)),
            wall_clock: U32(RECORDED_AT),
            headers: headers(list),
            body: Rest(body.as_bytes().to_vec()),
        }
    };
    let cases = [
        (
            "logto cloud",
            input("https://tenant.logto.app", false, 200, &[JSON], logto),
        ),
        (
            "logto on loopback",
            input("http://127.0.0.1:3001", false, 200, &[JSON], logto),
        ),
        (
            "logto under a path",
            input(
                "https://auth.example.com/logto/",
                false,
                200,
                &[JSON],
                logto,
            ),
        ),
        (
            "plain http allowed",
            input("http://auth.internal", true, 200, &[JSON], logto),
        ),
        (
            "plain http refused",
            input("http://auth.internal", false, 200, &[JSON], logto),
        ),
        (
            "ipv6",
            input("https://[::1]:8443", false, 200, &[JSON], logto),
        ),
        ("not a url", input("not a url", false, 200, &[JSON], logto)),
        (
            "wrong issuer",
            input(
                "https://tenant.logto.app",
                false,
                200,
                &[JSON],
                r#"{"issuer":"https://evil.example/oidc","token_endpoint":"https://evil.example/oidc/token","jwks_uri":"https://evil.example/oidc/jwks"}"#,
            ),
        ),
        (
            "missing jwks",
            input(
                "https://tenant.logto.app",
                false,
                200,
                &[JSON],
                r#"{"issuer":"@I","token_endpoint":"@I/token"}"#,
            ),
        ),
        (
            "post only",
            input(
                "https://tenant.logto.app",
                false,
                200,
                &[JSON],
                r#"{"issuer":"@I","token_endpoint":"@I/token","jwks_uri":"@I/jwks","token_endpoint_auth_methods_supported":["client_secret_post"],"grant_types_supported":["authorization_code"]}"#,
            ),
        ),
        (
            "no usable method",
            input(
                "https://tenant.logto.app",
                false,
                200,
                &[JSON],
                r#"{"issuer":"@I","token_endpoint":"@I/token","jwks_uri":"@I/jwks","token_endpoint_auth_methods_supported":["private_key_jwt",1,null]}"#,
            ),
        ),
        (
            "token endpoint elsewhere",
            input(
                "https://tenant.logto.app",
                false,
                200,
                &[JSON],
                r#"{"issuer":"@I","token_endpoint":"http://evil.example/token","jwks_uri":"@I/jwks"}"#,
            ),
        ),
        (
            "token endpoint with query",
            input(
                "https://tenant.logto.app",
                false,
                200,
                &[JSON],
                r#"{"issuer":"@I","token_endpoint":"@I/token?x=1","jwks_uri":"@I/jwks"}"#,
            ),
        ),
        (
            "not found",
            input(
                "https://tenant.logto.app",
                false,
                404,
                &[("content-type", "text/html")],
                "<html>Not Found</html>",
            ),
        ),
        (
            "server error json",
            input(
                "https://tenant.logto.app",
                false,
                500,
                &[JSON, ("retry-after", "5")],
                r#"{"code":"internal","message":"oops"}"#,
            ),
        ),
        (
            "not json",
            input(
                "https://tenant.logto.app",
                false,
                200,
                &[JSON],
                "{\"issuer\":",
            ),
        ),
        (
            "array",
            input("https://tenant.logto.app", false, 200, &[JSON], "[]"),
        ),
    ];
    for (name, input) in cases {
        out.push(seed("corpus", T, name, &input));
    }
}

struct Req<'a> {
    endpoint: &'a str,
    token_endpoint: Option<&'a str>,
    app_id: &'a str,
    secret: &'a str,
    flags: u8,
    resources: &'a [&'a str],
    organization: Option<&'a str>,
    scopes: &'a [&'a str],
    extra: &'a [(&'a str, &'a str)],
}

const BASIC: Req<'static> = Req {
    endpoint: "https://tenant.logto.app",
    token_endpoint: None,
    app_id: "m2m-app",
    secret: "m2m-secret",
    flags: 0,
    resources: &["https://api.example.com"],
    organization: None,
    scopes: &["read:items", "write:items"],
    extra: &[],
};

impl Req<'_> {
    fn input(&self) -> RequestInput {
        RequestInput {
            endpoint: EndpointInput::new(self.endpoint),
            token_endpoint: Maybe(self.token_endpoint.map(EndpointInput::new)),
            app_id: Bytes::from_text(self.app_id),
            app_secret: Bytes::from_text(self.secret),
            flags: Byte(self.flags),
            resources: List(
                self.resources
                    .iter()
                    .map(|r| ResourceInput::new(r))
                    .collect(),
            ),
            organization: Maybe(self.organization.map(Bytes::from_text)),
            scopes: List(self.scopes.iter().map(|s| Bytes::from_text(s)).collect()),
            extra: List(self.extra.iter().map(|(n, v)| Pair::new(n, v)).collect()),
        }
    }
}

fn request_building_seeds(out: &mut Vec<Seed>) {
    const T: &str = "request_building";
    let post = request_building::POST;
    let insecure = request_building::INSECURE;
    let cases = [
        ("basic", BASIC),
        (
            "post",
            Req {
                flags: post,
                ..BASIC
            },
        ),
        (
            "organization only",
            Req {
                resources: &[],
                organization: Some("org-1"),
                scopes: &["org:read"],
                ..BASIC
            },
        ),
        (
            "resource and organization",
            Req {
                organization: Some("org-1"),
                ..BASIC
            },
        ),
        (
            "default resource",
            Req {
                resources: &[],
                scopes: &[],
                flags: request_building::DEFAULT_RESOURCE,
                ..BASIC
            },
        ),
        (
            "no resource nor organization",
            Req {
                resources: &[],
                ..BASIC
            },
        ),
        (
            "two resources",
            Req {
                resources: &["https://api.example.com", "urn:example:api"],
                ..BASIC
            },
        ),
        (
            "scope with a space",
            Req {
                scopes: &["read items"],
                ..BASIC
            },
        ),
        (
            "scope with a quote",
            Req {
                scopes: &["read\"items"],
                ..BASIC
            },
        ),
        (
            "empty scope",
            Req {
                scopes: &[""],
                ..BASIC
            },
        ),
        (
            "duplicate scopes",
            Req {
                scopes: &["write:items", "read:items", "write:items", "a!#[]~"],
                ..BASIC
            },
        ),
        (
            "reserved extra",
            Req {
                extra: &[("scope", "all")],
                ..BASIC
            },
        ),
        (
            "extras",
            Req {
                extra: &[("audience", "a b"), ("x&y", "=%+ é"), ("", "")],
                ..BASIC
            },
        ),
        (
            "special credentials",
            Req {
                app_id: "app:id%+/ é&=",
                secret: "p@ss:w0rd+/% é&=:",
                ..BASIC
            },
        ),
        (
            "special credentials post",
            Req {
                app_id: "app:id%+/ é&=",
                secret: "p@ss:w0rd+/% é&=:",
                flags: post,
                ..BASIC
            },
        ),
        (
            "empty app id",
            Req {
                app_id: "",
                ..BASIC
            },
        ),
        (
            "empty secret",
            Req {
                secret: "",
                ..BASIC
            },
        ),
        (
            "plain http refused",
            Req {
                endpoint: "http://auth.internal",
                ..BASIC
            },
        ),
        (
            "plain http allowed",
            Req {
                endpoint: "http://auth.internal",
                flags: insecure | post,
                ..BASIC
            },
        ),
        (
            "loopback",
            Req {
                endpoint: "http://127.0.0.1:3001",
                ..BASIC
            },
        ),
        (
            "localhost with slash",
            Req {
                endpoint: "http://localhost:3001/",
                ..BASIC
            },
        ),
        (
            "ipv6",
            Req {
                endpoint: "https://[::1]:8443",
                ..BASIC
            },
        ),
        (
            "under a path",
            Req {
                endpoint: "https://auth.example.com/logto/",
                ..BASIC
            },
        ),
        (
            "token endpoint override",
            Req {
                token_endpoint: Some("https://tenant.logto.app/oidc/token"),
                ..BASIC
            },
        ),
        (
            "token endpoint elsewhere",
            Req {
                token_endpoint: Some("https://other.example/token/"),
                ..BASIC
            },
        ),
        (
            "token endpoint insecure",
            Req {
                token_endpoint: Some("http://auth.internal"),
                ..BASIC
            },
        ),
        (
            "management api via custom domain",
            Req {
                endpoint: "https://auth.example.com/logto/",
                resources: &["https://other.logto.app/api"],
                scopes: &["all"],
                ..BASIC
            },
        ),
        (
            "management api on logto cloud",
            Req {
                resources: &["https://tenant.logto.app/api"],
                scopes: &["all"],
                ..BASIC
            },
        ),
        (
            "self-hosted management api",
            Req {
                endpoint: "http://127.0.0.1:3001",
                resources: &["https://default.logto.app/api"],
                scopes: &["all"],
                ..BASIC
            },
        ),
        (
            "resource with fragment",
            Req {
                resources: &["https://api.example.com#fragment"],
                ..BASIC
            },
        ),
        (
            "resource with white space",
            Req {
                resources: &[" https://api.example.com"],
                ..BASIC
            },
        ),
        (
            "relative resource",
            Req {
                resources: &["relative/api"],
                ..BASIC
            },
        ),
        (
            "urn resource",
            Req {
                resources: &["urn:example:api"],
                ..BASIC
            },
        ),
        (
            "not a url",
            Req {
                endpoint: "not a url",
                ..BASIC
            },
        ),
        (
            "endpoint with query",
            Req {
                endpoint: "https://a.example/?x=1",
                ..BASIC
            },
        ),
        (
            "endpoint with user info",
            Req {
                endpoint: "https://user:pw@a.example/",
                ..BASIC
            },
        ),
        (
            "unicode endpoint",
            Req {
                endpoint: "https://b\u{fc}cher.example/",
                ..BASIC
            },
        ),
        (
            "empty organization",
            Req {
                organization: Some(""),
                ..BASIC
            },
        ),
    ];
    for (name, req) in cases {
        out.push(seed("corpus", T, name, &req.input()));
    }
}

fn state_machine_seeds(out: &mut Vec<Seed>) {
    use Op::{
        Advance, Cancel, Invalidate, JumpToTimeout, Poll, Replay, Respond, Suspend, TransportError,
        WallBack,
    };
    const T: &str = "state_machine";
    let token = |expires_in: u8| Answer::Token {
        expires_in,
        form: 0,
    };
    let hour = token(0);
    let respond = |answer: Answer| Respond { ticket: 0, answer };
    let to_timeout = |key: u8| JumpToTimeout { key, offset: 0 };
    let two_keys = PolicyInput {
        keys: Byte(1),
        ..PolicyInput::default()
    };
    let three_keys = PolicyInput {
        keys: Byte(2),
        ..PolicyInput::default()
    };
    let cases: Vec<(&str, PolicyInput, Vec<Op>)> = vec![
        (
            "fetch and refresh",
            two_keys.clone(),
            vec![
                Poll { key: 0 },
                Poll { key: 0 },
                respond(hour.clone()),
                Poll { key: 0 },
                to_timeout(0),
                Poll { key: 0 },
                Poll { key: 0 },
                respond(hour.clone()),
                Poll { key: 0 },
                Advance {
                    scale: 3,
                    amount: 2,
                },
                Poll { key: 0 },
            ],
        ),
        (
            "failures and backoff",
            two_keys.clone(),
            vec![
                Poll { key: 0 },
                respond(Answer::Retryable),
                Poll { key: 0 },
                to_timeout(0),
                Poll { key: 0 },
                respond(Answer::Throttled { retry_after: 30 }),
                Poll { key: 0 },
                JumpToTimeout { key: 0, offset: 1 },
                Poll { key: 0 },
                JumpToTimeout { key: 0, offset: 2 },
                Poll { key: 0 },
                respond(Answer::Rejection),
                Poll { key: 0 },
                to_timeout(3),
                Poll { key: 0 },
                TransportError { ticket: 0, kind: 2 },
                to_timeout(0),
                Poll { key: 0 },
                respond(Answer::Garbage),
                Advance {
                    scale: 2,
                    amount: 5,
                },
                Poll { key: 0 },
                respond(Answer::Unavailable { retry_after: 3 }),
            ],
        ),
        (
            "three keys and eviction",
            two_keys.clone(),
            vec![
                Poll { key: 0 },
                Poll { key: 1 },
                respond(hour.clone()),
                Poll { key: 2 },
                Respond {
                    ticket: 1,
                    answer: hour.clone(),
                },
                respond(hour.clone()),
                Poll { key: 0 },
                Poll { key: 1 },
                Poll { key: 2 },
                Replay {
                    spent: 0,
                    answer: hour.clone(),
                },
            ],
        ),
        (
            "busy keys are kept",
            PolicyInput::default(),
            vec![
                Poll { key: 0 },
                Poll { key: 1 },
                Poll { key: 0 },
                respond(Answer::Retryable),
                Poll { key: 1 },
                Poll { key: 0 },
                to_timeout(0),
                Poll { key: 1 },
                respond(hour.clone()),
                Poll { key: 2 },
                Poll { key: 1 },
                respond(Answer::Rejection),
                Poll { key: 0 },
                to_timeout(1),
                Poll { key: 2 },
            ],
        ),
        (
            "suspend and wall clock set back",
            two_keys.clone(),
            vec![
                Poll { key: 0 },
                respond(hour.clone()),
                Poll { key: 0 },
                Suspend {
                    scale: 2,
                    amount: 48,
                },
                Poll { key: 0 },
                respond(Answer::Retryable),
                Poll { key: 0 },
                Suspend {
                    scale: 3,
                    amount: 2,
                },
                Poll { key: 0 },
                to_timeout(0),
                Poll { key: 0 },
                respond(hour.clone()),
                WallBack {
                    scale: 3,
                    amount: 24,
                },
                Poll { key: 0 },
                to_timeout(0),
                Poll { key: 0 },
                Advance {
                    scale: 2,
                    amount: 59,
                },
                Poll { key: 0 },
            ],
        ),
        (
            "invalidate",
            three_keys,
            vec![
                Poll { key: 0 },
                respond(hour.clone()),
                Poll { key: 1 },
                respond(hour.clone()),
                Invalidate { key: 0, token: 0 },
                Invalidate { key: 0, token: 1 },
                Poll { key: 0 },
                Poll { key: 1 },
                to_timeout(1),
                Poll { key: 1 },
                Invalidate { key: 1, token: 1 },
                respond(hour.clone()),
                Invalidate { key: 1, token: 2 },
                Poll { key: 1 },
            ],
        ),
        (
            "cancel and abandon",
            two_keys,
            vec![
                Poll { key: 0 },
                Cancel { ticket: 0 },
                Poll { key: 0 },
                Advance {
                    scale: 1,
                    amount: 61,
                },
                Poll { key: 0 },
                Respond {
                    ticket: 0,
                    answer: hour.clone(),
                },
                Poll { key: 0 },
                Replay {
                    spent: 0,
                    answer: hour.clone(),
                },
                respond(hour.clone()),
                to_timeout(0),
                Poll { key: 0 },
                Cancel { ticket: 0 },
                Poll { key: 0 },
            ],
        ),
        (
            "short lifetimes",
            PolicyInput {
                keys: Byte(2),
                margin: Byte(2),
                ..PolicyInput::default()
            },
            vec![
                Poll { key: 0 },
                respond(token(2)),
                Poll { key: 0 },
                Advance {
                    scale: 0,
                    amount: 250,
                },
                Poll { key: 0 },
                to_timeout(0),
                Poll { key: 0 },
                respond(token(3)),
                to_timeout(0),
                Poll { key: 0 },
                Poll { key: 0 },
                respond(token(11)),
                Poll { key: 0 },
                respond(Answer::Token {
                    expires_in: 1,
                    form: 7,
                }),
            ],
        ),
        (
            "refresh fails until the token is unusable",
            PolicyInput {
                keys: Byte(1),
                refresh: Byte(1 | (2 << 3)),
                backoff: Byte(2 | (3 << 2)),
                ..PolicyInput::default()
            },
            vec![
                Poll { key: 0 },
                respond(token(8)),
                to_timeout(0),
                Poll { key: 0 },
                respond(Answer::Retryable),
                Poll { key: 0 },
                to_timeout(0),
                Poll { key: 0 },
                TransportError { ticket: 0, kind: 3 },
                to_timeout(0),
                Poll { key: 0 },
                to_timeout(0),
                Poll { key: 0 },
                respond(Answer::CredentialsRejected),
                Poll { key: 0 },
            ],
        ),
        (
            "raw answers",
            PolicyInput {
                keys: Byte(0),
                in_flight: Byte(2),
                ..PolicyInput::default()
            },
            vec![
                Poll { key: 0 },
                respond(Answer::Raw {
                    status: 100,
                    body: Bytes::from_text(r#"{"access_token":"x","expires_in":"30"}"#),
                }),
                Poll { key: 1 },
                respond(Answer::Raw {
                    status: 100,
                    body: Bytes::from_text(r#"{"access_token":"y","expires_in":30}"#),
                }),
                Poll { key: 1 },
                Invalidate { key: 1, token: 0 },
                Poll { key: 1 },
                Advance {
                    scale: 0,
                    amount: 20,
                },
                Poll { key: 1 },
                respond(Answer::Raw {
                    status: 400,
                    body: Bytes::from_text(r#"{"error":"invalid_scope"}"#),
                }),
            ],
        ),
    ];
    for (name, policy, ops) in cases {
        let input = StateMachineInput {
            policy,
            ops: Ops(ops),
        };
        out.push(seed("corpus", T, name, &input));
    }
    shared_store_seeds(out);
    // Open bug: a NaN refresh ratio panics when a token arrives.
    let first_token = Ops(vec![Poll { key: 0 }, respond(hour)]);
    for (name, refresh) in [
        ("nan refresh ratio", 7),
        ("nan refresh jitter ratio", 7 << 3),
    ] {
        let input = StateMachineInput {
            policy: PolicyInput {
                refresh: Byte(refresh),
                ..PolicyInput::default()
            },
            ops: first_token.clone(),
        };
        out.push(seed("corpus", T, name, &input));
    }
}

/// Every seed and open-bug reproducer. `recorded` are the recorded Logto answers.
pub fn all(recorded: &[Recorded]) -> Vec<Seed> {
    let mut out = Vec::new();
    token_response_seeds(recorded, &mut out);
    error_body_seeds(recorded, &mut out);
    retry_after_seeds(&mut out);
    discovery_seeds(&mut out);
    request_building_seeds(&mut out);
    state_machine_seeds(&mut out);
    out
}

/// `state_machine` with replicas sharing a store (`keys` = `max_keys` index + 3 × replicas + 12 ×
/// skew index): a fleet fetch, adoption by the others and a refresh for the fleet; the lock held
/// and the wait; every kind of refused entry; store failures opening the breaker; lost writes.
fn shared_store_seeds(out: &mut Vec<Seed>) {
    use Op::{
        Advance, Cancel, Invalidate, JumpToTimeout, Poll, Respond, StoreAnswer, StoreEntry,
        StoreFail, StoreMode, Suspend, Switch, WallBack,
    };
    const T: &str = "state_machine";
    let hour = Answer::Token {
        expires_in: 0,
        form: 0,
    };
    let respond = || Respond {
        ticket: 0,
        answer: hour.clone(),
    };
    let honest = |how: u8| StoreAnswer { step: 0, how };
    let fleet = |replicas: u8, skew: u8| PolicyInput {
        keys: Byte(2 + 3 * replicas + 12 * skew),
        ..PolicyInput::default()
    };
    // Replica 0 reads, locks, fetches and publishes.
    let fetch_for_fleet = vec![Poll { key: 0 }, honest(0), honest(0), respond()];
    let cases: Vec<(&str, PolicyInput, Vec<Op>)> = vec![
        (
            "shared fetch adopt and refresh",
            fleet(3, 0),
            [
                fetch_for_fleet.clone(),
                vec![
                    Switch { replica: 1 },
                    Poll { key: 0 },
                    honest(0),
                    Poll { key: 0 },
                    Switch { replica: 2 },
                    Poll { key: 0 },
                    honest(0),
                    JumpToTimeout { key: 0, offset: 0 },
                    Poll { key: 0 },
                    honest(0),
                    honest(0),
                    respond(),
                    Switch { replica: 0 },
                    JumpToTimeout { key: 0, offset: 0 },
                    Poll { key: 0 },
                    honest(0),
                    Poll { key: 0 },
                    Switch { replica: 1 },
                    JumpToTimeout { key: 0, offset: 1 },
                    Poll { key: 0 },
                ],
            ]
            .concat(),
        ),
        (
            "shared lock held and wait",
            fleet(2, 1),
            vec![
                Poll { key: 1 },
                honest(0),
                honest(0),
                Switch { replica: 1 },
                Poll { key: 1 },
                honest(0),
                Advance {
                    scale: 0,
                    amount: 200,
                },
                honest(0),
                honest(0),
                Switch { replica: 0 },
                respond(),
                Switch { replica: 1 },
                honest(0),
                honest(0),
                Poll { key: 1 },
                Poll { key: 2 },
                honest(0),
                StoreAnswer { step: 0, how: 3 },
                Advance {
                    scale: 1,
                    amount: 11,
                },
                honest(0),
                honest(0),
            ],
        ),
        (
            "shared refused entries",
            fleet(2, 0),
            [
                fetch_for_fleet,
                vec![
                    Switch { replica: 1 },
                    Poll { key: 0 },
                    StoreAnswer { step: 0, how: 4 },
                    Cancel { ticket: 0 },
                    Poll { key: 0 },
                    StoreAnswer { step: 0, how: 5 },
                    Cancel { ticket: 0 },
                    Poll { key: 1 },
                    StoreAnswer { step: 0, how: 6 },
                    Cancel { ticket: 0 },
                    Poll { key: 0 },
                    StoreEntry {
                        step: 0,
                        entry: Bytes::from_text("lm2m\u{1}not a sealed entry at all, only text"),
                    },
                    Cancel { ticket: 0 },
                    Poll { key: 0 },
                    honest(0),
                    Invalidate { key: 0, token: 0 },
                    Poll { key: 0 },
                    honest(0),
                    honest(0),
                    respond(),
                    WallBack {
                        scale: 0,
                        amount: 0,
                    },
                    Suspend {
                        scale: 2,
                        amount: 50,
                    },
                    Poll { key: 0 },
                ],
            ]
            .concat(),
        ),
        (
            "shared store failures and breaker",
            fleet(2, 0),
            vec![
                Poll { key: 0 },
                StoreFail { step: 0, kind: 0 },
                respond(),
                Poll { key: 1 },
                honest(0),
                StoreFail { step: 0, kind: 1 },
                respond(),
                Poll { key: 2 },
                StoreFail { step: 0, kind: 2 },
                respond(),
                Switch { replica: 1 },
                StoreMode { mode: 1 },
                Poll { key: 0 },
                honest(0),
                honest(0),
                respond(),
                StoreMode { mode: 2 },
                StoreMode { mode: 0 },
                Switch { replica: 0 },
                Advance {
                    scale: 1,
                    amount: 16,
                },
                Invalidate { key: 0, token: 0 },
                Poll { key: 0 },
                honest(0),
                honest(0),
                respond(),
            ],
        ),
    ];
    for (name, policy, ops) in cases {
        let input = StateMachineInput {
            policy,
            ops: Ops(ops),
        };
        out.push(seed("corpus", T, name, &input));
    }
}
