//! Bytes in lowercase hexadecimal: the credentials fingerprint, store key ids and lock owners.

use std::fmt::Write;

/// `bytes` in lowercase hexadecimal, two characters a byte.
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}
