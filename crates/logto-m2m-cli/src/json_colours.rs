//! JSON for a person at a terminal: indented as `serde_json`'s pretty printer does, with keys,
//! strings, numbers and literals in colours (`anstyle`'s ANSI styles).

use std::fmt::Write;

use anstyle::{AnsiColor, Style};
use serde_json::Value;

const KEY: Style = AnsiColor::Blue.on_default().bold();
const STRING: Style = AnsiColor::Green.on_default();
const NUMBER: Style = AnsiColor::Cyan.on_default();
const LITERAL: Style = AnsiColor::Yellow.on_default();

/// `value` indented by two spaces a level, coloured, without a final newline.
pub(crate) fn pretty(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

fn styled(out: &mut String, style: Style, text: &str) {
    let _ = write!(out, "{style}{text}{style:#}");
}

/// A JSON string literal, escaped as `serde_json` escapes it.
fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

fn indent(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_value(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Null => styled(out, LITERAL, "null"),
        Value::Bool(flag) => styled(out, LITERAL, if *flag { "true" } else { "false" }),
        Value::Number(number) => styled(out, NUMBER, &number.to_string()),
        Value::String(text) => styled(out, STRING, &quoted(text)),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                styled(out, KEY, &quoted(key));
                out.push_str(": ");
                write_value(out, item, depth + 1);
            }
            indent(out, depth);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn without_its_colours_it_is_serde_jsons_pretty_json() {
        let value = json!({
            "id": "app-1",
            "quote": "a \"b\"\n",
            "n": 1.5,
            "ok": true,
            "none": null,
            "empty": [],
            "nested": {"list": [1, {"k": "v"}], "obj": {}}
        });
        let coloured = pretty(&value);
        assert!(coloured.contains("\u{1b}["), "it is coloured");
        assert_eq!(strip_styles(&coloured), format!("{value:#}"));
    }

    /// `text` without its ANSI escape sequences (`ESC [ ... m`).
    fn strip_styles(text: &str) -> String {
        let mut plain = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }
}
