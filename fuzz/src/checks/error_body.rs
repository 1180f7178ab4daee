//! `error_body`: an error answer (any status that is not 2xx, headers, body) parses to a server
//! error that never shows the app secret, even when the answer echoes it, and whose texts are
//! short and printable.
//!
//! The app secret is [`SECRET`] followed by a fuzzed suffix. Every `@S` in the body and in header
//! values is replaced by the secret, so that the fuzzer can put it anywhere.

use arbitrary::Arbitrary;
use logto_m2m_proto::http::StatusCode;
use logto_m2m_proto::{ClientConfig, Error, ErrorKind, TokenParams, TokenRequest, retry_after};

use super::Mode;
use super::common::{self, API, APP_ID, ENDPOINT, Header, SECRET, error_status};
use super::wire::{Bytes, Encode, List, Rest, U16, U32};

/// Replaced by the app secret in the body and in header values.
pub const SECRET_MARKER: &[u8] = b"@S";
/// The characters of the secret's suffix (a suffix byte `b` stands for `SUFFIX_ALPHABET[b % 64]`).
/// No white space, no `[` or `]`: a match can then never be an artefact of the excerpts' white
/// space folding or of the `[redacted]` replacement.
pub const SUFFIX_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
/// The longest text copied from an answer (description, message, code...), in characters.
const MAX_TEXT_CHARS: usize = 512;
/// The longest excerpt of a body that is not an error JSON, in characters.
const MAX_EXCERPT_CHARS: usize = 200;

/// An error answer.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug)]
pub struct ErrorBodyInput {
    /// Appended to [`SECRET`] to make the app secret (through [`SUFFIX_ALPHABET`]).
    pub secret_suffix: Bytes,
    /// The status, through [`error_status`].
    pub status: U16,
    /// The wall clock, in seconds after the Unix epoch (for `Retry-After` dates).
    pub wall_clock: U32,
    /// The headers; `@S` in values is replaced by the secret.
    pub headers: List<Header>,
    /// The body: the rest of the input; `@S` is replaced by the secret.
    pub body: Rest,
}

impl Encode for ErrorBodyInput {
    fn encode(&self, out: &mut Vec<u8>) {
        self.secret_suffix.encode(out);
        self.status.encode(out);
        self.wall_clock.encode(out);
        self.headers.encode(out);
        self.body.encode(out);
    }
}

impl ErrorBodyInput {
    /// The app secret.
    pub fn secret(&self) -> String {
        let mut secret = SECRET.to_owned();
        secret.extend(self.secret_suffix.0.iter().map(|b| {
            char::from(
                SUFFIX_ALPHABET
                    .get(usize::from(b % 64))
                    .copied()
                    .unwrap_or(b'x'),
            )
        }));
        secret
    }
}

/// The bytes of [`ErrorBodyInput::secret_suffix`] that give `suffix` (of [`SUFFIX_ALPHABET`]).
pub fn suffix_bytes(suffix: &str) -> Bytes {
    Bytes(
        suffix
            .bytes()
            .map(|c| {
                let index = SUFFIX_ALPHABET.iter().position(|a| *a == c);
                u8::try_from(index.unwrap_or_else(|| panic!("{c} is not in the alphabet")))
                    .unwrap_or(0)
            })
            .collect(),
    )
}

/// The raw status for an error answer with `status` (a 2xx becomes 5xx).
pub fn status_raw(status: StatusCode) -> U16 {
    let status = if status.is_success() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        status
    };
    U16(common::any_status_raw(status.as_u16()))
}

fn assert_short_and_printable(what: &str, text: &str, max_chars: usize) {
    // `…` marks a shortened text.
    let count = text.chars().count();
    assert!(
        count <= max_chars + 1,
        "{what} has {count} characters, over {max_chars}"
    );
    assert!(
        !text.chars().any(char::is_control),
        "{what} has control characters: {text:?}"
    );
}

/// The checks.
pub fn check(input: &ErrorBodyInput, _mode: Mode) {
    let secret = input.secret();
    let substitute = |bytes: &[u8]| common::replace(bytes, SECRET_MARKER, secret.as_bytes());
    let status = error_status(input.status.0);
    let response = common::response(
        status,
        &input.headers.0,
        substitute(&input.body.0),
        &substitute,
    );
    let wall_now = common::wall_clock(input.wall_clock.0);
    let config = ClientConfig::builder(ENDPOINT, APP_ID, secret.as_str())
        .build()
        .unwrap_or_else(|e| panic!("the fixed configuration is refused: {e}"));
    let request = TokenRequest::new(&config, TokenParams::for_resource(API))
        .unwrap_or_else(|e| panic!("the fixed request is refused: {e}"));

    let error = match request.parse_response(&response, std::time::Instant::now(), wall_now) {
        Ok(token) => panic!("a {status} answer gave a token: {token:?}"),
        Err(error) => error,
    };
    common::assert_no_secret(&error, &secret);
    let Error::Server(server) = &error else {
        panic!("a {status} answer is not a server error: {error:?}");
    };
    assert_eq!(error.status(), Some(status));
    assert_eq!(server.status(), status);
    assert_eq!(
        server.retry_after(),
        retry_after(response.headers(), wall_now)
    );
    if status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE && server.retry_after().is_some())
    {
        assert_eq!(error.kind(), ErrorKind::Throttled);
    }
    if let Some(oauth) = server.oauth() {
        assert_short_and_printable("the error code", oauth.code.as_str(), MAX_TEXT_CHARS);
        for text in [&oauth.description, &oauth.uri].into_iter().flatten() {
            assert_short_and_printable("an OAuth text", text, MAX_TEXT_CHARS);
        }
    }
    for text in [
        server.logto_code(),
        server.logto_message(),
        server.www_authenticate(),
    ]
    .into_iter()
    .flatten()
    {
        assert_short_and_printable("a Logto text", text, MAX_TEXT_CHARS);
    }
    if let Some(excerpt) = server.body_excerpt() {
        assert!(!excerpt.is_empty());
        assert_short_and_printable("the body excerpt", excerpt, MAX_EXCERPT_CHARS);
    }
}
