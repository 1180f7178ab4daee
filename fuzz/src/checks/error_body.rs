//! `error_body`: an error answer (any status that is not 2xx, headers, body) parses to a server
//! error that never shows the app secret in any form it takes on the wire, even when the answer
//! echoes it in any of them, and whose texts are short and printable.
//!
//! The app secret is [`SECRET`] followed by a fuzzed suffix, whose characters make the encodings
//! differ (space, `+`, `/`, `&`, `<`, `"`, `\`, `%`, non-ASCII...). Every `@S` in the body and in
//! header values is replaced by the secret, and every `@F` followed by a byte `b` by its form
//! number `b` (modulo their count) of [`echoes`]: percent-encoded, inside the base64 Basic
//! credentials, JSON- or HTML-escaped... so that the fuzzer can put any of them anywhere (`@J`
//! escapes the echo once more for a JSON string, so that a JSON field holds it as it is).

use arbitrary::Arbitrary;
use logto_m2m_proto::http::StatusCode;
use logto_m2m_proto::{ClientConfig, Error, ErrorKind, TokenParams, TokenRequest, retry_after};

use super::Mode;
use super::common::{self, API, APP_ID, ENDPOINT, Header, SECRET, error_status};
use super::secret_forms::{self, ESCAPES};
use super::wire::{Bytes, Encode, List, Rest, U16, U32};

/// Replaced by the app secret in the body and in header values.
pub const SECRET_MARKER: &[u8] = b"@S";
/// Followed by one byte `b`, replaced by the echo `b % count` of [`echoes`].
pub const FORM_MARKER: &[u8] = b"@F";
/// Like [`FORM_MARKER`], but the echo is escaped once more for a JSON string, so that it reaches
/// a JSON field as it is.
pub const JSON_FORM_MARKER: &[u8] = b"@J";
/// The characters of the secret's suffix (a suffix byte `b` stands for
/// `SUFFIX_ALPHABET[b % len]`): 64 that every encoding leaves alone, then some that each encoding
/// writes its own way. No `[` or `]`: a match can then never be an artefact of the `[redacted]`
/// replacement.
pub const SUFFIX_ALPHABET: [char; 80] = [
    'A',
    'B',
    'C',
    'D',
    'E',
    'F',
    'G',
    'H',
    'I',
    'J',
    'K',
    'L',
    'M',
    'N',
    'O',
    'P',
    'Q',
    'R',
    'S',
    'T',
    'U',
    'V',
    'W',
    'X',
    'Y',
    'Z',
    'a',
    'b',
    'c',
    'd',
    'e',
    'f',
    'g',
    'h',
    'i',
    'j',
    'k',
    'l',
    'm',
    'n',
    'o',
    'p',
    'q',
    'r',
    's',
    't',
    'u',
    'v',
    'w',
    'x',
    'y',
    'z',
    '0',
    '1',
    '2',
    '3',
    '4',
    '5',
    '6',
    '7',
    '8',
    '9',
    '.',
    '_',
    ' ',
    '+',
    '/',
    '&',
    '<',
    '>',
    '"',
    '\'',
    '\\',
    '%',
    '=',
    ':',
    '?',
    '#',
    '\u{e9}',
    '\u{1f980}',
];
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
    /// The headers; `@S` and `@F` in values are replaced by the secret's forms.
    pub headers: List<Header>,
    /// The body: the rest of the input; `@S` and `@F` are replaced by the secret's forms.
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
            SUFFIX_ALPHABET
                .get(usize::from(*b) % SUFFIX_ALPHABET.len())
                .copied()
                .unwrap_or('x')
        }));
        secret
    }
}

/// The bytes of [`ErrorBodyInput::secret_suffix`] that give `suffix` (of [`SUFFIX_ALPHABET`]).
pub fn suffix_bytes(suffix: &str) -> Bytes {
    Bytes(
        suffix
            .chars()
            .map(|c| {
                let index = SUFFIX_ALPHABET.iter().position(|a| *a == c);
                u8::try_from(index.unwrap_or_else(|| panic!("{c} is not in the alphabet")))
                    .unwrap_or(0)
            })
            .collect(),
    )
}

/// The echoes `@F` stands for, in a fixed order: every form the secret takes on the wire
/// ([`secret_forms::wire_forms`]) under every escape of [`ESCAPES`].
pub fn echoes(secret: &str) -> Vec<String> {
    secret_forms::wire_forms(APP_ID, secret)
        .into_iter()
        .flat_map(|(_, text)| {
            (0..ESCAPES.len()).map(move |escape| secret_forms::escape(&text, escape))
        })
        .collect()
}

/// The `@F` byte that stands for the echo of the `wire`-th form of [`secret_forms::wire_forms`]
/// under the `escape`-th escape of [`ESCAPES`].
pub fn echo_byte(wire: usize, escape: usize) -> u8 {
    u8::try_from(wire * ESCAPES.len() + escape).unwrap_or(0)
}

/// `bytes` with every `@S` replaced by the secret and every `@F` or `@J` and its byte by that
/// echo.
fn substitute(bytes: &[u8], secret: &str, echoes: &[String]) -> Vec<u8> {
    let echo = |which: u8| -> &str {
        echoes
            .get(usize::from(which) % echoes.len().max(1))
            .map_or("", String::as_str)
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(&first) = rest.first() {
        let which = rest.get(FORM_MARKER.len()).copied();
        if rest.starts_with(SECRET_MARKER) {
            out.extend_from_slice(secret.as_bytes());
            rest = rest.get(SECRET_MARKER.len()..).unwrap_or_default();
        } else if let (true, Some(which)) = (rest.starts_with(FORM_MARKER), which) {
            out.extend_from_slice(echo(which).as_bytes());
            rest = rest.get(FORM_MARKER.len() + 1..).unwrap_or_default();
        } else if let (true, Some(which)) = (rest.starts_with(JSON_FORM_MARKER), which) {
            out.extend_from_slice(secret_forms::escape(echo(which), 1).as_bytes());
            rest = rest.get(JSON_FORM_MARKER.len() + 1..).unwrap_or_default();
        } else {
            out.push(first);
            rest = rest.get(1..).unwrap_or_default();
        }
    }
    out
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
    let echoes = echoes(&secret);
    let substitute = |bytes: &[u8]| substitute(bytes, &secret, &echoes);
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
    // What the accessors return is printed as it is, not through `Debug`.
    let forms = secret_forms::all_forms(APP_ID, &secret);
    let oauth_texts = server.oauth().map(|oauth| {
        [
            Some(oauth.code.as_str()),
            oauth.description.as_deref(),
            oauth.uri.as_deref(),
        ]
    });
    for text in [
        server.body_excerpt(),
        server.www_authenticate(),
        server.logto_code(),
        server.logto_message(),
    ]
    .into_iter()
    .chain(oauth_texts.into_iter().flatten())
    .flatten()
    {
        if let Some(form) = secret_forms::shown(text, false, &forms) {
            panic!("an accessor shows the secret as {}: {text}", form.name);
        }
    }
    if let Some(excerpt) = server.body_excerpt() {
        assert!(!excerpt.is_empty());
        assert_short_and_printable("the body excerpt", excerpt, MAX_EXCERPT_CHARS);
    }
}
