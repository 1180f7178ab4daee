//! The input formats' building blocks.
//!
//! Every input is decoded through `arbitrary`, but with hand-written `Arbitrary` impls built on
//! whole bytes only (one byte for a choice or a length, big-endian for wider numbers, the rest of
//! the input for a body). Unlike the formats of `arbitrary`'s own impls (length prefixes read from
//! the end, continuation bits), these are trivial to write by hand, so the seed corpus can hold
//! real responses, and they stay the same whatever version of `arbitrary` is used. Each type also
//! has an [`Encode`] impl, its exact inverse, which the seed generator uses.

use std::fmt;

use arbitrary::{Arbitrary, Result, Unstructured};

/// Writes a value in the format its `Arbitrary` impl reads.
pub trait Encode {
    /// Appends the bytes that decode to `self`.
    fn encode(&self, out: &mut Vec<u8>);
}

/// Encodes a value that is decoded with `arbitrary_take_rest` (a whole input).
pub fn to_bytes(value: &impl Encode) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// One byte; 0 once the input is used up.
pub fn byte(u: &mut Unstructured<'_>) -> Result<u8> {
    u8::arbitrary(u)
}

/// Two bytes, big-endian.
pub fn u16_be(u: &mut Unstructured<'_>) -> Result<u16> {
    Ok(u16::from_be_bytes([byte(u)?, byte(u)?]))
}

/// Four bytes, big-endian.
pub fn u32_be(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(u32::from_be_bytes([byte(u)?, byte(u)?, byte(u)?, byte(u)?]))
}

/// A byte string of at most 255 bytes: a length byte, then the bytes (fewer if the input ends).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes of `text` (at most 255).
    pub fn from_text(text: &str) -> Self {
        Self(text.as_bytes().to_vec())
    }

    /// The bytes as text, invalid UTF-8 replaced.
    pub fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl<'a> Arbitrary<'a> for Bytes {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let len = usize::from(byte(u)?).min(u.len());
        Ok(Self(u.bytes(len)?.to_vec()))
    }
}

impl Encode for Bytes {
    fn encode(&self, out: &mut Vec<u8>) {
        let len = u8::try_from(self.0.len()).unwrap_or_else(|_| {
            panic!(
                "a Bytes field holds at most 255 bytes, not {}",
                self.0.len()
            )
        });
        out.push(len);
        out.extend_from_slice(&self.0);
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{:?}", self.lossy())
    }
}

/// All the bytes left: always the last field of an input.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Rest(pub Vec<u8>);

impl<'a> Arbitrary<'a> for Rest {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let len = u.len();
        Ok(Self(u.bytes(len)?.to_vec()))
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> Result<Self> {
        Ok(Self(u.take_rest().to_vec()))
    }
}

impl Encode for Rest {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl fmt::Debug for Rest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// A list of at most 255 items: a count byte, then the items (fewer if the input ends first).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct List<T>(pub Vec<T>);

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for List<T> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let count = byte(u)?;
        let mut items = Vec::new();
        for _ in 0..count {
            if u.is_empty() {
                break;
            }
            items.push(T::arbitrary(u)?);
        }
        Ok(Self(items))
    }
}

impl<T: Encode> Encode for List<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        let count = u8::try_from(self.0.len())
            .unwrap_or_else(|_| panic!("a List holds at most 255 items, not {}", self.0.len()));
        out.push(count);
        for item in &self.0 {
            item.encode(out);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// An optional value: a flag byte (odd: present), then the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Maybe<T>(pub Option<T>);

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for Maybe<T> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(if byte(u)? & 1 == 1 {
            Some(T::arbitrary(u)?)
        } else {
            None
        }))
    }
}

impl<T: Encode> Encode for Maybe<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match &self.0 {
            Some(value) => {
                out.push(1);
                value.encode(out);
            }
            None => out.push(0),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Maybe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A flag: one byte, odd for true.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Flag(pub bool);

impl<'a> Arbitrary<'a> for Flag {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(byte(u)? & 1 == 1))
    }
}

impl Encode for Flag {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.0));
    }
}

/// A raw byte, for choices and small numbers.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Byte(pub u8);

impl<'a> Arbitrary<'a> for Byte {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(byte(u)?))
    }
}

impl Encode for Byte {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
}

/// Two bytes, big-endian.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct U16(pub u16);

impl<'a> Arbitrary<'a> for U16 {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(u16_be(u)?))
    }
}

impl Encode for U16 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
    }
}

/// Four bytes, big-endian.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct U32(pub u32);

impl<'a> Arbitrary<'a> for U32 {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(u32_be(u)?))
    }
}

impl Encode for U32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
    }
}
