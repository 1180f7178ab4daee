//! The `WWW-Authenticate: Bearer …` challenge of RFC 6750 §3.

/// `Bearer error="…", error_description="…"[, scope="…"]`. Quotes and backslashes in the values
/// are escaped as RFC 9110 §5.6.4 says, and any byte outside visible ASCII and space is dropped,
/// so the result is always a valid header value.
pub(crate) fn bearer(error: &str, description: &str, scope: Option<&str>) -> String {
    let mut out = String::with_capacity(64 + description.len());
    out.push_str("Bearer error=");
    quoted(&mut out, error);
    out.push_str(", error_description=");
    quoted(&mut out, description);
    if let Some(scope) = scope {
        out.push_str(", scope=");
        quoted(&mut out, scope);
    }
    out
}

fn quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn challenges_are_quoted_and_escaped() {
        assert_eq!(
            bearer("insufficient_scope", "d", Some("a b")),
            r#"Bearer error="insufficient_scope", error_description="d", scope="a b""#
        );
        assert_eq!(
            bearer("invalid_token", "x\"y\\z\né", None),
            r#"Bearer error="invalid_token", error_description="x\"y\\z""#
        );
    }
}
