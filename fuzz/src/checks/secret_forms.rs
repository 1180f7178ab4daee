//! Every form the app secret takes on the wire, and the escaped forms a server, proxy or WAF may
//! echo it back in: what the oracles put into answers and look for in everything printed.
//!
//! Written from the protocol, not from the library's scrubber: the `client_secret_post` body
//! carries `form-urlencode(secret)`, the `Authorization` header `Basic base64(form-urlencode(id)
//! ":" form-urlencode(secret))` (RFC 6749 §2.3.1), and an echo may percent-encode either in either
//! hex case, decode the Basic value's base64 back to `id:secret`, drop its padding, or escape any
//! of these for JSON or HTML.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// One form of the secret: how it is written, and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form {
    /// What the form is, e.g. `base64 of form(id):form(secret), JSON \u escapes`.
    pub name: String,
    /// The text.
    pub text: String,
}

/// The forms the secret takes on the wire, before any escaping, by name.
pub fn wire_forms(app_id: &str, secret: &str) -> Vec<(&'static str, String)> {
    let form = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let sent = format!("{}:{}", form(app_id), form(secret));
    let raw = format!("{app_id}:{secret}");
    vec![
        ("raw", secret.to_owned()),
        ("form-urlencoded", form(secret)),
        (
            "percent-encoded, upper-case hex",
            percent_encode(secret, true),
        ),
        (
            "percent-encoded, lower-case hex",
            percent_encode(secret, false),
        ),
        (
            "the Basic value",
            format!("Basic {}", STANDARD.encode(&sent)),
        ),
        ("base64 of form(id):form(secret)", STANDARD.encode(&sent)),
        (
            "base64 of form(id):form(secret), unpadded",
            STANDARD_NO_PAD.encode(&sent),
        ),
        ("base64 of id:secret", STANDARD.encode(&raw)),
        (
            "base64 of id:secret, unpadded",
            STANDARD_NO_PAD.encode(&raw),
        ),
    ]
}

/// The ways an echo may escape a form, by name.
pub const ESCAPES: [&str; 9] = [
    "as is",
    "JSON",
    "JSON with \\/",
    "JSON \\u escapes, lower-case hex",
    "JSON \\u escapes, upper-case hex",
    "HTML named references",
    "HTML with &#x27;",
    "HTML decimal references",
    "HTML hex references",
];

/// `text` escaped the `escape`-th way of [`ESCAPES`].
pub fn escape(text: &str, escape: usize) -> String {
    let every_special = |encode: &dyn Fn(char) -> String| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_string()
                } else {
                    encode(c)
                }
            })
            .collect()
    };
    let utf16 = |c: char, upper: bool| -> String {
        let mut units = [0; 2];
        c.encode_utf16(&mut units)
            .iter()
            .map(|u| {
                if upper {
                    format!("\\u{u:04X}")
                } else {
                    format!("\\u{u:04x}")
                }
            })
            .collect()
    };
    let html = |apostrophe: &str| -> String {
        text.chars()
            .map(|c| match c {
                '&' => "&amp;".to_owned(),
                '<' => "&lt;".to_owned(),
                '>' => "&gt;".to_owned(),
                '"' => "&quot;".to_owned(),
                '\'' => apostrophe.to_owned(),
                _ => c.to_string(),
            })
            .collect()
    };
    match escape {
        1 => json(text),
        2 => json(text).replace('/', "\\/"),
        3 => every_special(&|c| utf16(c, false)),
        4 => every_special(&|c| utf16(c, true)),
        5 => html("&#39;"),
        6 => html("&#x27;"),
        7 => every_special(&|c| format!("&#{};", u32::from(c))),
        8 => every_special(&|c| format!("&#x{:x};", u32::from(c))),
        _ => text.to_owned(),
    }
}

/// Every wire form under every escape, without repeats.
pub fn all_forms(app_id: &str, secret: &str) -> Vec<Form> {
    let mut forms: Vec<Form> = Vec::new();
    for (wire, text) in wire_forms(app_id, secret) {
        for (index, how) in ESCAPES.iter().enumerate() {
            let text = escape(&text, index);
            if forms.iter().all(|form| form.text != text) {
                forms.push(Form {
                    name: format!("{wire}, {how}"),
                    text,
                });
            }
        }
    }
    forms
}

/// `text` as a JSON string's content (what `serde_json` writes between the quotes).
fn json(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Every byte outside RFC 3986's unreserved characters as `%HH` (a space is `%20`).
fn percent_encode(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// `text` as `Debug` prints it inside a string, without the quotes.
pub fn debug_escaped(text: &str) -> String {
    let printed = format!("{text:?}");
    printed
        .strip_prefix('"')
        .and_then(|p| p.strip_suffix('"'))
        .unwrap_or(&printed)
        .to_owned()
}

/// The first form of `forms` that `printed` shows: as is in a `Display` text, as `Debug` escapes
/// it in a `Debug` one (which quotes every string it prints).
pub fn shown<'a>(printed: &str, is_debug: bool, forms: &'a [Form]) -> Option<&'a Form> {
    forms.iter().find(|form| {
        if is_debug {
            printed.contains(&debug_escaped(&form.text))
        } else {
            printed.contains(&form.text)
        }
    })
}
