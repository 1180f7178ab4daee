//! One pass over a token endpoint's JSON answer: the four fields a token is made of, borrowed from
//! the body wherever the JSON text allows it, and every other field kept as JSON.
//!
//! This is what makes parsing a success cheap: no `serde_json::Value` tree of the whole answer, no
//! map of its keys, and the access token copied exactly once (into its zeroizing newtype). The
//! fields are kept with their JSON type so that the parser can name what was wrong with them.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The value of one known field: a string (borrowed from the body unless it had escapes), or any
/// other JSON value.
#[derive(Debug)]
pub(crate) enum FieldValue<'a> {
    /// A JSON string.
    Str(Cow<'a, str>),
    /// Any other JSON value: number, boolean, null, array or object.
    Other(Value),
}

/// A JSON object answer, split into the token fields and the rest.
#[derive(Debug, Default)]
pub(crate) struct TokenFields<'a> {
    pub(crate) access_token: Option<FieldValue<'a>>,
    pub(crate) token_type: Option<FieldValue<'a>>,
    pub(crate) expires_in: Option<FieldValue<'a>>,
    pub(crate) scope: Option<FieldValue<'a>>,
    /// Every other field (an OAuth `error` among them), as JSON.
    pub(crate) extra: Map<String, Value>,
}

/// The shape of a whole answer body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A JSON object: its fields were read.
    Object,
    /// Valid JSON, but not an object (which no token endpoint should send).
    NotAnObject,
}

/// Reads `body` in one pass, into `fields` (filled in place: no copy of them is moved around). A
/// repeated field keeps its last value, as `serde_json::Value` does.
///
/// # Errors
///
/// `serde_json`'s error for a body that is not JSON.
pub(crate) fn read_body<'a>(
    body: &'a [u8],
    fields: &mut TokenFields<'a>,
) -> Result<Shape, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let shape = FieldsReader(fields).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(shape)
}

/// Fills a [`TokenFields`] from an object, or tells that the value is not one.
struct FieldsReader<'f, 'de>(&'f mut TokenFields<'de>);

impl<'de> DeserializeSeed<'de> for FieldsReader<'_, 'de> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldsReader<'_, 'de> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let fields = self.0;
        while let Some(FieldName(name)) = map.next_key()? {
            let slot = match &*name {
                "access_token" => &mut fields.access_token,
                "token_type" => &mut fields.token_type,
                "expires_in" => &mut fields.expires_in,
                "scope" => &mut fields.scope,
                _ => {
                    let value = map.next_value()?;
                    fields.extra.insert(name.into_owned(), value);
                    continue;
                }
            };
            map.next_value_seed(FieldSlot(slot))?;
        }
        Ok(Shape::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::NotAnObject)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::NotAnObject)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::NotAnObject)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::NotAnObject)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::NotAnObject)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::NotAnObject)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::NotAnObject)
    }
}

/// An object key, borrowed from the body unless it had escapes.
struct FieldName<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for FieldName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;

        impl<'de> Visitor<'de> for NameVisitor {
            type Value = FieldName<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Borrowed(name)))
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Owned(name.to_owned())))
            }

            fn visit_string<E: de::Error>(self, name: String) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Owned(name)))
            }
        }

        deserializer.deserialize_str(NameVisitor)
    }
}

/// Reads one field's value straight into its slot in [`TokenFields`].
struct FieldSlot<'s, 'de>(&'s mut Option<FieldValue<'de>>);

impl<'de> DeserializeSeed<'de> for FieldSlot<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSlot<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<(), E> {
        *self.0 = Some(FieldValue::Str(Cow::Borrowed(text)));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        *self.0 = Some(FieldValue::Str(Cow::Owned(text.to_owned())));
        Ok(())
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<(), E> {
        *self.0 = Some(FieldValue::Str(Cow::Owned(text)));
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        *self.0 = Some(FieldValue::Other(Value::Bool(value)));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        *self.0 = Some(FieldValue::Other(Value::from(value)));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        *self.0 = Some(FieldValue::Other(Value::from(value)));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        *self.0 = Some(FieldValue::Other(Value::from(value)));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        *self.0 = Some(FieldValue::Other(Value::Null));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        *self.0 = Some(FieldValue::Other(Value::deserialize(
            SeqAccessDeserializer::new(seq),
        )?));
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        *self.0 = Some(FieldValue::Other(Value::deserialize(
            MapAccessDeserializer::new(map),
        )?));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &str) -> TokenFields<'_> {
        let mut fields = TokenFields::default();
        let shape = read_body(body.as_bytes(), &mut fields).expect("JSON");
        assert_eq!(shape, Shape::Object);
        fields
    }

    fn shape(body: &str) -> Result<Shape, serde_json::Error> {
        read_body(body.as_bytes(), &mut TokenFields::default())
    }

    #[test]
    fn borrows_plain_strings_and_copies_escaped_ones() {
        let read = fields(r#"{"access_token":"abc","token_type":"Be\u0061rer"}"#);
        assert!(matches!(
            read.access_token,
            Some(FieldValue::Str(Cow::Borrowed("abc")))
        ));
        assert!(
            matches!(read.token_type, Some(FieldValue::Str(Cow::Owned(ref kind))) if kind == "Bearer")
        );
    }

    #[test]
    fn keeps_other_types_and_unknown_fields() {
        let read = fields(
            r#"{"expires_in":3600,"scope":null,"id_token":"x","n":[1,{"a":2}],"error":5,"access_token":{"k":true}}"#,
        );
        assert!(matches!(read.expires_in, Some(FieldValue::Other(ref v)) if v == 3600));
        assert!(matches!(read.scope, Some(FieldValue::Other(Value::Null))));
        assert!(
            matches!(read.access_token, Some(FieldValue::Other(ref v)) if *v == serde_json::json!({"k": true}))
        );
        assert_eq!(
            Value::Object(read.extra),
            serde_json::json!({"id_token": "x", "n": [1, {"a": 2}], "error": 5})
        );
    }

    #[test]
    fn a_repeated_field_keeps_its_last_value_and_escaped_keys_are_matched() {
        let read = fields(r#"{"access_token":"a","\u0061ccess_token":"b"}"#);
        assert!(matches!(read.access_token, Some(FieldValue::Str(ref t)) if t == "b"));
    }

    #[test]
    fn answers_that_are_not_objects_or_not_json() {
        for body in ["[1,[2]]", "\"x\"", "1", "-1", "1.5", "true", "null"] {
            assert_eq!(shape(body).ok(), Some(Shape::NotAnObject), "{body}");
        }
        for body in ["", "{", "{} x", "{\"a\":}", "[1,]"] {
            assert!(shape(body).is_err(), "{body}");
        }
    }
}
