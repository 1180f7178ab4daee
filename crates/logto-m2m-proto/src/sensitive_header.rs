//! Header values that carry a secret (`Basic <credentials>`, `Bearer <token>`): built without a
//! copy that outlives them, marked sensitive, and zeroized when their last clone is dropped.

use bytes::Bytes;
use http::HeaderValue;
use zeroize::Zeroizing;

/// Turns `value` into a sensitive header value that owns it: clones share the buffer, and the
/// buffer is zeroized when the last of them is dropped (an `http::HeaderValue` built from a `&str`
/// holds a copy that nothing ever clears). `None` if `value` is not a valid header value.
pub(crate) fn sensitive_header_value(value: Zeroizing<String>) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_maybe_shared(Bytes::from_owner(value)).ok()?;
    header.set_sensitive(true);
    Some(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sensitive_value_is_marked_sensitive_and_keeps_its_bytes() {
        let header = sensitive_header_value(Zeroizing::new("Bearer abc.def".to_owned()));
        let header = header.expect("visible ASCII is a valid header value");
        assert!(header.is_sensitive());
        assert_eq!(header.as_bytes(), b"Bearer abc.def");
        // A clone shares the buffer, which lives on until the last clone is dropped.
        let clone = header.clone();
        drop(header);
        assert!(clone.is_sensitive());
        assert_eq!(clone.as_bytes(), b"Bearer abc.def");
    }

    #[test]
    fn a_value_a_header_cannot_carry_is_refused() {
        assert!(sensitive_header_value(Zeroizing::new("Bearer a\nb".to_owned())).is_none());
    }
}
