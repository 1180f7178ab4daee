//! Scrubbing the app secret, in every form it takes on the wire, from text a server sent back.
//!
//! A server, proxy or WAF may echo what we sent: the `Authorization: Basic` value (the base64 of
//! `form-urlencode(id) ":" form-urlencode(secret)`), the `client_secret_post` body (the
//! form-encoded secret), or the secret itself, re-escaped for JSON or HTML on the way back. A
//! [`Scrubber`] finds all of these in a text and replaces each with `[redacted]`.
//!
//! It looks for a few targets — the raw secret, and the base64 (standard and URL-safe, padded or
//! not) of `form(id):form(secret)`, of `id:secret` and of the secret alone — and matches each
//! target's bytes one at a time, where every byte may appear in the text in any of the ways an
//! encoder writes it:
//!
//! - as itself; a space also as `+`;
//! - percent-encoded, `%HH` with hex digits in either case;
//! - backslash-escaped: `\"`, `\\`, `\/` or `\` before any ASCII punctuation, `\n`-style controls,
//!   `\xHH`, and `\uHHHH` in either case (with surrogate pairs beyond the BMP);
//! - as an HTML character reference: `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;` and the named
//!   references of the other ASCII punctuation, decimal `&#39;` and hex `&#x27;` (any case, leading
//!   zeros, `;` optional where HTML allows it).
//!
//! The URL escapes are read on top of the text's: a `%` written `\u0025` or `&#37;`, or itself
//! percent-encoded (`%252F`), still starts a percent escape. So every encoder's choices, and any mix
//! of them inside one echo, are caught without listing every combination. Deeper nestings
//! (`&amp;#47;`, a JSON escape of a JSON escape) are not decoded.
//!
//! Matching happens on the whole text, before any truncation, so that a cut never leaves part of
//! a secret behind. Its work is bounded: past a budget proportional to the text's length, the whole
//! text is redacted rather than returned unchecked. The scrubber is built only on the error path,
//! and its targets are zeroized when it is dropped.

use std::collections::HashSet;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// What a match is replaced with: the same whatever the secret and its form, so that no output
/// tells the secret's length.
const REDACTED: &str = "[redacted]";

/// Work allowed per byte of text and per target (a real text costs one or two steps per byte).
const BUDGET_PER_BYTE: usize = 64;

/// The most leading zeros and digits read in a numeric escape (`&#0000039;`).
const MAX_REFERENCE_DIGITS: usize = 16;

/// HTML named character references of ASCII characters (matched case-insensitively).
const NAMED_REFERENCES: &[(&str, u8)] = &[
    ("amp", b'&'),
    ("lt", b'<'),
    ("gt", b'>'),
    ("quot", b'"'),
    ("apos", b'\''),
    ("sol", b'/'),
    ("bsol", b'\\'),
    ("plus", b'+'),
    ("equals", b'='),
    ("percnt", b'%'),
    ("num", b'#'),
    ("excl", b'!'),
    ("dollar", b'$'),
    ("lpar", b'('),
    ("rpar", b')'),
    ("ast", b'*'),
    ("comma", b','),
    ("period", b'.'),
    ("colon", b':'),
    ("semi", b';'),
    ("quest", b'?'),
    ("commat", b'@'),
    ("lsqb", b'['),
    ("rsqb", b']'),
    ("lowbar", b'_'),
    ("grave", b'`'),
    ("lcub", b'{'),
    ("rcub", b'}'),
    ("verbar", b'|'),
    ("vert", b'|'),
    ("tilde", b'~'),
    ("hat", b'^'),
    ("hyphen", b'-'),
    ("dash", b'-'),
    ("nbsp", b' '),
];

/// Named references that HTML also reads without the final `;`.
const LEGACY_REFERENCES: [&str; 4] = ["amp", "lt", "gt", "quot"];

/// One form to look for: its bytes, and how many `=` of base64 padding may follow it.
struct Target {
    bytes: Zeroizing<Vec<u8>>,
    padding: usize,
}

/// Finds every form of one app secret in a text and replaces it with `[redacted]`.
pub(crate) struct Scrubber {
    targets: Vec<Target>,
    /// Bytes at which a match may start: a target's first byte, or the start of an escape.
    may_start: [bool; 256],
}

impl Scrubber {
    /// The scrubber for the app `app_id` with `secret`. Scrubs nothing if the secret is empty.
    pub(crate) fn new(app_id: &str, secret: &str) -> Self {
        let mut targets = Vec::new();
        if !secret.is_empty() {
            targets.push(Target {
                bytes: Zeroizing::new(secret.as_bytes().to_vec()),
                padding: 0,
            });
            let form = |text: &str| {
                let mut encoded = Zeroizing::new(String::new());
                encoded.extend(form_urlencoded::byte_serialize(text.as_bytes()));
                encoded
            };
            let basic = |id: &str, secret: &str| {
                let mut credentials = Zeroizing::new(String::with_capacity(id.len() + 1));
                credentials.push_str(id);
                credentials.push(':');
                credentials.push_str(secret);
                credentials
            };
            let sent = basic(&form(app_id), &form(secret));
            let raw = basic(app_id, secret);
            for plain in [sent.as_bytes(), raw.as_bytes(), secret.as_bytes()] {
                for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                    let mut encoded = Zeroizing::new(String::new());
                    engine.encode_string(plain, &mut encoded);
                    targets.push(Target {
                        bytes: Zeroizing::new(encoded.as_bytes().to_vec()),
                        padding: (3 - plain.len() % 3) % 3,
                    });
                }
            }
        }
        let mut may_start = [false; 256];
        let mark = |table: &mut [bool; 256], byte: u8| {
            if let Some(entry) = table.get_mut(usize::from(byte)) {
                *entry = true;
            }
        };
        for byte in [b'%', b'\\', b'&'] {
            mark(&mut may_start, byte);
        }
        for target in &targets {
            if let Some(&first) = target.bytes.first() {
                mark(&mut may_start, first);
                if first == b' ' {
                    mark(&mut may_start, b'+');
                }
            }
        }
        Self { targets, may_start }
    }

    /// `text` with every form of the secret replaced by `[redacted]`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let budget = text
            .len()
            .saturating_add(64)
            .saturating_mul(BUDGET_PER_BYTE)
            .saturating_mul(self.targets.len());
        self.scrub_within(text, Budget(budget))
    }

    /// [`scrub`](Self::scrub) with at most `budget` steps of matching; all of `text` is redacted
    /// if they are not enough.
    fn scrub_within(&self, text: &str, mut budget: Budget) -> String {
        let bytes = text.as_bytes();
        let mut spans: Vec<Range<usize>> = Vec::new();
        let mut search = Search::default();
        for (start, &first) in bytes.iter().enumerate() {
            if !self
                .may_start
                .get(usize::from(first))
                .copied()
                .unwrap_or(true)
            {
                continue;
            }
            for target in &self.targets {
                match search.longest_match(bytes, start, target, &mut budget) {
                    Ok(Some(end)) => spans.push(start..end),
                    Ok(None) => {}
                    // Out of budget: nothing of this text is trusted to be clean.
                    Err(Exhausted) => return REDACTED.to_owned(),
                }
            }
        }
        replace_spans(text, spans)
    }
}

/// Steps of matching left for one text.
struct Budget(usize);

/// The budget ran out.
struct Exhausted;

/// The buffers of a search, kept from one start position to the next.
#[derive(Default)]
struct Search {
    /// (text position, target bytes matched) pairs still to explore.
    stack: Vec<(usize, usize)>,
    /// The pairs already pushed.
    seen: HashSet<(usize, usize)>,
    /// The encodings found at one position.
    steps: Vec<(usize, usize)>,
}

impl Search {
    /// The end of the longest match of `target` starting at `start` (padding included), if any.
    fn longest_match(
        &mut self,
        text: &[u8],
        start: usize,
        target: &Target,
        budget: &mut Budget,
    ) -> Result<Option<usize>, Exhausted> {
        let want = target.bytes.as_slice();
        self.stack.clear();
        self.seen.clear();
        self.stack.push((start, 0));
        let mut end = None;
        while let Some((at, matched)) = self.stack.pop() {
            budget.0 = budget.0.checked_sub(1).ok_or(Exhausted)?;
            let Some(rest) = want.get(matched..) else {
                continue;
            };
            if rest.is_empty() {
                end = end.max(Some(skip_padding(text, at, target.padding)));
                continue;
            }
            self.steps.clear();
            encodings_at(text, at, rest, &mut self.steps);
            for &(advance, consumed) in &self.steps {
                let next = (at + advance, matched + consumed);
                if self.seen.insert(next) {
                    self.stack.push(next);
                }
            }
        }
        Ok(end)
    }
}

/// The position after up to `padding` `=` (in any encoding) at `at`.
fn skip_padding(text: &[u8], mut at: usize, padding: usize) -> usize {
    let mut steps = Vec::new();
    for _ in 0..padding {
        steps.clear();
        encodings_at(text, at, b"=", &mut steps);
        match steps.iter().map(|&(advance, _)| advance).max() {
            Some(advance) => at += advance,
            None => break,
        }
    }
    at
}

/// What one unit of text reads as: a character (its UTF-8 bytes), or one byte (`\xHH`).
#[derive(Clone, Copy)]
struct Unit {
    /// The text bytes it takes.
    len: usize,
    decoded: [u8; 4],
    decoded_len: usize,
}

impl Unit {
    fn char(len: usize, c: char) -> Self {
        let mut decoded = [0; 4];
        let decoded_len = c.encode_utf8(&mut decoded).len();
        Self {
            len,
            decoded,
            decoded_len,
        }
    }

    fn byte(len: usize, byte: u8) -> Self {
        Self {
            len,
            decoded: [byte, 0, 0, 0],
            decoded_len: 1,
        }
    }

    fn bytes(&self) -> &[u8] {
        self.decoded.get(..self.decoded_len).unwrap_or_default()
    }

    /// The ASCII byte it reads as, if it is one.
    fn ascii(&self) -> Option<u8> {
        match self.bytes() {
            [byte] if byte.is_ascii() => Some(*byte),
            _ => None,
        }
    }
}

/// Every way the text at `at` encodes a prefix of `want`, as (text bytes, `want` bytes) pairs.
///
/// Two layers: the text's own escapes (JSON, backslash, HTML) give characters ([`units_at`]);
/// a URL's escapes (`%HH`, `+` for a space) are read on top of those, so that a `%` written
/// `\u0025` or `&#37;`, or itself percent-encoded (`%252F`), still counts.
fn encodings_at(text: &[u8], at: usize, want: &[u8], out: &mut Vec<(usize, usize)>) {
    let (Some(&byte), Some(&wanted)) = (text.get(at), want.first()) else {
        return;
    };
    if !matches!(byte, b'%' | b'\\' | b'&' | b'+') {
        // The common case, kept fast: a byte that starts no escape stands for itself.
        if byte == wanted {
            out.push((1, 1));
        }
        return;
    }
    let mut units = Vec::new();
    units_at(text, at, &mut units);
    for unit in &units {
        if want.starts_with(unit.bytes()) {
            out.push((unit.len, unit.decoded_len));
        }
        match unit.ascii() {
            Some(b'+') if wanted == b' ' => out.push((unit.len, 1)),
            Some(b'%') => {
                let mut introducers = vec![unit.len];
                // `%25` is a `%` too: the same URL encoded twice.
                percent_escapes(text, at + unit.len, &mut |len, byte| {
                    if byte == b'%' {
                        introducers.push(unit.len + len);
                    }
                });
                for introducer in introducers {
                    percent_escapes(text, at + introducer, &mut |len, byte| {
                        if byte == wanted {
                            out.push((introducer + len, 1));
                        }
                    });
                }
            }
            _ => {}
        }
    }
}

/// Calls `found(len, byte)` for every two hex digits at `at` (each in any text encoding): the
/// text bytes they take and the byte they stand for.
fn percent_escapes(text: &[u8], at: usize, found: &mut dyn FnMut(usize, u8)) {
    let hex_digits = |at: usize| -> Vec<(usize, u8)> {
        let mut units = Vec::new();
        units_at(text, at, &mut units);
        units
            .iter()
            .filter_map(|unit| {
                let digit = char::from(unit.ascii()?).to_digit(16)?;
                Some((unit.len, u8::try_from(digit).ok()?))
            })
            .collect()
    };
    for (high_len, high) in hex_digits(at) {
        for (low_len, low) in hex_digits(at + high_len) {
            found(high_len + low_len, (high << 4) | low);
        }
    }
}

/// Every way the text at `at` reads as one character: as itself, or through one escape.
fn units_at(text: &[u8], at: usize, out: &mut Vec<Unit>) {
    let Some(rest) = text.get(at..) else {
        return;
    };
    if let Some(c) = first_char(rest) {
        out.push(Unit::char(c.len_utf8(), c));
    }
    match rest.first() {
        Some(b'\\') => backslash_units(rest, out),
        Some(b'&') => reference_units(rest, out),
        _ => {}
    }
}

/// `\"`, `\\`, `\/`, `\` before any ASCII punctuation, `\n`-style controls, `\xHH`, `\uHHHH`.
fn backslash_units(rest: &[u8], out: &mut Vec<Unit>) {
    let Some(&escaped) = rest.get(1) else {
        return;
    };
    if escaped.is_ascii_punctuation() {
        out.push(Unit::byte(2, escaped));
    }
    let control = match escaped {
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'0' => Some(0),
        _ => None,
    };
    if let Some(control) = control {
        out.push(Unit::byte(2, control));
    }
    match escaped {
        b'x' | b'X' => {
            if let Some(byte) = hex_byte(rest.get(2..4)) {
                out.push(Unit::byte(4, byte));
            }
        }
        b'u' | b'U' => {
            if let Some((len, c)) = unicode_escape(rest) {
                out.push(Unit::char(len, c));
            }
        }
        _ => {}
    }
}

/// `\uHHHH` (a surrogate pair is two of them) at the start of `rest`: its length and character.
fn unicode_escape(rest: &[u8]) -> Option<(usize, char)> {
    let unit = |at: usize| -> Option<u32> {
        let escape = rest.get(at..at + 2)?;
        if escape.first() != Some(&b'\\') || !matches!(escape.get(1), Some(b'u' | b'U')) {
            return None;
        }
        let digits = rest.get(at + 2..at + 6)?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let high = unit(0)?;
    if (0xD800..0xDC00).contains(&high) {
        let low = unit(6)?;
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        return Some((12, char::from_u32(code)?));
    }
    Some((6, char::from_u32(high)?))
}

/// `&name;`, `&#NN;` and `&#xHH;` at the start of `rest`.
fn reference_units(rest: &[u8], out: &mut Vec<Unit>) {
    if rest.get(1) == Some(&b'#') {
        let (radix, digits_at) = match rest.get(2) {
            Some(b'x' | b'X') => (16, 3),
            _ => (10, 2),
        };
        let digits = rest
            .get(digits_at..)
            .unwrap_or_default()
            .iter()
            .take(MAX_REFERENCE_DIGITS)
            .take_while(|b| {
                if radix == 16 {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        let Some(code) = rest
            .get(digits_at..digits_at + digits)
            .filter(|digits| !digits.is_empty())
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u32::from_str_radix(digits, radix).ok())
            .and_then(char::from_u32)
        else {
            return;
        };
        let len = digits_at + digits;
        out.push(Unit::char(len, code));
        if rest.get(len) == Some(&b';') {
            out.push(Unit::char(len + 1, code));
        }
        return;
    }
    for &(name, value) in NAMED_REFERENCES {
        let Some(found) = rest.get(1..=name.len()) else {
            continue;
        };
        if !found.eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        if rest.get(name.len() + 1) == Some(&b';') {
            out.push(Unit::byte(name.len() + 2, value));
        } else if LEGACY_REFERENCES.contains(&name) {
            out.push(Unit::byte(name.len() + 1, value));
        }
    }
}

/// The byte two hex digits (either case) stand for.
fn hex_byte(digits: Option<&[u8]>) -> Option<u8> {
    let digits = digits?;
    if digits.len() != 2 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// The character at the start of `bytes`, if they start with one.
fn first_char(bytes: &[u8]) -> Option<char> {
    let len = bytes.len().min(4);
    let head = bytes.get(..len)?;
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(head.get(..error.valid_up_to())?).ok()?,
    };
    valid.chars().next()
}

/// `text` with the (possibly overlapping) byte ranges in `spans` replaced by `[redacted]`, each
/// widened to whole characters.
fn replace_spans(text: &str, spans: Vec<Range<usize>>) -> String {
    if spans.is_empty() {
        return text.to_owned();
    }
    let mut spans: Vec<Range<usize>> = spans
        .into_iter()
        .map(|span| {
            let mut start = span.start.min(text.len());
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = span.end.min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            start..end
        })
        .collect();
    spans.sort_by_key(|span| span.start);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut spans = spans.into_iter().peekable();
    while let Some(span) = spans.next() {
        let mut end = span.end;
        while let Some(next) = spans.next_if(|next| next.start <= end) {
            end = end.max(next.end);
        }
        out.push_str(text.get(copied..span.start).unwrap_or_default());
        out.push_str(REDACTED);
        copied = end;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(secret: &str, text: &str) -> String {
        Scrubber::new("app", secret).scrub(text)
    }

    #[test]
    fn the_raw_secret_is_replaced_wherever_it_is() {
        assert_eq!(
            scrub("s3cr3t", "a s3cr3t b s3cr3t"),
            "a [redacted] b [redacted]"
        );
        assert_eq!(scrub("s3cr3t", "nothing here"), "nothing here");
        assert_eq!(scrub("", "nothing here"), "nothing here");
    }

    #[test]
    fn percent_form_json_and_html_encodings_are_replaced() {
        let secret = "a b+/&<\"\\%é";
        for echo in [
            "a+b%2B%2F%26%3C%22%5C%25%C3%A9",
            "a%20b%2b%2f%26%3c%22%5c%25%c3%a9",
            "a b+\\/&<\\\"\\\\%\\u00e9",
            "a b+/\\u0026\\u003C\\u0022\\u005c%\\u00E9",
            "a b+/&amp;&lt;&quot;\\%é",
            "a&#32;b&#x2B;&#47;&#38;&#x3c;&#34;&#92;&#37;&#233;",
            "a&nbsp;b+&sol;&AMP;&lt&quot;&bsol;&percnt;&#xE9;",
            // Escapes inside escapes: a `%` JSON- or HTML-escaped, or itself percent-encoded.
            "a\\u002520b%2b%25&#x32;F&#37;26%253c\\u0022\\\\%25%C3%a9",
        ] {
            assert_eq!(
                scrub(secret, &format!("<{echo}>")),
                "<[redacted]>",
                "{echo}"
            );
        }
    }

    #[test]
    fn characters_beyond_the_bmp_match_as_surrogate_pairs() {
        assert_eq!(scrub("k🦀y", "k\\ud83e\\uDD80y"), "[redacted]");
        assert_eq!(scrub("k🦀y", "k&#129408;y"), "[redacted]");
    }

    #[test]
    fn every_base64_of_the_credentials_is_replaced_with_its_padding() {
        let cases = [
            "Basic YXBwOmElMkZiK2M=", // form(id):form(secret), what is sent
            "YXBwOmElMkZiK2M",        // without padding
            "YXBwOmEvYiBj",           // raw id:secret
            "YS9iIGM=",               // the secret alone
            "YXBwOmElMkZiK2M%3D",     // padding percent-encoded
        ];
        for echo in cases {
            let scrubbed = scrub("a/b c", echo);
            assert!(scrubbed.ends_with("[redacted]"), "{echo}: {scrubbed}");
            assert!(
                !scrubbed.contains("YX") && !scrubbed.contains("YS"),
                "{scrubbed}"
            );
        }
    }

    #[test]
    fn overlapping_and_adjacent_matches_leave_nothing_behind() {
        assert_eq!(scrub("abab", "ababab"), "[redacted]");
        assert_eq!(scrub("aa", "aaaa x aa"), "[redacted] x [redacted]");
        assert_eq!(scrub("xy", "xyxy"), "[redacted]");
    }

    #[test]
    fn the_replacement_does_not_tell_the_secret_length() {
        assert_eq!(
            scrub("short", "<short>"),
            scrub("a-much-longer-one", "<a-much-longer-one>")
        );
    }

    #[test]
    fn a_text_too_costly_to_check_is_redacted_whole() {
        let scrubber = Scrubber::new("app", "s3cr3t");
        assert_eq!(scrubber.scrub_within("s3cr3", Budget(3)), "[redacted]");
        assert_eq!(scrubber.scrub_within("s3cr3", Budget(1000)), "s3cr3");
    }

    #[test]
    fn long_ambiguous_texts_stay_within_the_budget() {
        // Every `%` may be itself, start an escape, or start `%25`; every `&` a reference.
        let text = format!("{}{}", "%25".repeat(5000), "&amp;".repeat(5000));
        for secret in ["%25%25%25%25%25%25x", "%&&&&&&&&&&&&&x", "&amp;&amp;x"] {
            let scrubber = Scrubber::new("app", secret);
            assert_eq!(scrubber.scrub(&text), text, "{secret}");
        }
    }

    #[test]
    fn cuts_inside_multibyte_characters_widen_to_whole_characters() {
        assert_eq!(scrub("é", "xéx"), "x[redacted]x");
        assert_eq!(scrub("ab", "é\u{3000}ab"), "é\u{3000}[redacted]");
    }

    /// `c` written the `how`-th way an encoder may write it.
    fn encode_char(c: char, how: u8) -> String {
        let mut utf8 = [0; 4];
        let bytes = c.encode_utf8(&mut utf8).as_bytes();
        let mut utf16 = [0; 2];
        let units = c.encode_utf16(&mut utf16);
        match how % 10 {
            1 => bytes.iter().map(|b| format!("%{b:02X}")).collect(),
            2 => bytes.iter().map(|b| format!("%{b:02x}")).collect(),
            3 => form_urlencoded::byte_serialize(bytes).collect(),
            4 => units.iter().map(|u| format!("\\u{u:04x}")).collect(),
            5 => units.iter().map(|u| format!("\\u{u:04X}")).collect(),
            6 => match c {
                '"' | '\\' | '/' => format!("\\{c}"),
                _ => c.to_string(),
            },
            7 => format!("&#{};", u32::from(c)),
            8 => format!("&#x{:X};", u32::from(c)),
            9 => match c {
                '&' => "&amp;".to_owned(),
                '<' => "&lt;".to_owned(),
                '>' => "&gt;".to_owned(),
                '"' => "&quot;".to_owned(),
                '\'' => "&#39;".to_owned(),
                _ => c.to_string(),
            },
            _ => c.to_string(),
        }
    }

    proptest::proptest! {
        /// Whatever each character's encoding, mixed inside one echo, the echo is gone.
        #[test]
        fn any_mix_of_encodings_is_scrubbed(
            secret in "[a-z +/&<>\"'\\\\%=:é🦀]{3,24}",
            hows in proptest::collection::vec(0_u8..10, 24),
            before in "[a-z ]{0,8}",
            after in "[a-z ]{0,8}",
        ) {
            proptest::prop_assume!(!REDACTED.contains(secret.as_str()));
            let echo: String = secret
                .chars()
                .zip(hows.iter().cycle())
                .map(|(c, how)| encode_char(c, *how))
                .collect();
            let scrubbed = scrub(&secret, &format!("{before}{echo}{after}"));
            proptest::prop_assert!(!scrubbed.contains(&echo), "{echo} in {scrubbed}");
            proptest::prop_assert!(!scrubbed.contains(secret.as_str()), "{secret} in {scrubbed}");
            proptest::prop_assert!(scrubbed.contains(REDACTED));
        }
    }
}
