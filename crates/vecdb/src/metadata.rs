//! Per-vector metadata: a small map of keys to string, number or bool values, its limits and its encoding.
//!
//! # Limits
//! | what | constant |
//! |---|---|
//! | keys per map | [`METADATA_KEYS_MAX`] |
//! | bytes per key | [`METADATA_KEY_BYTES_MAX`] |
//! | bytes per string value | [`METADATA_STRING_BYTES_MAX`] |
//! | encoded bytes per map | [`METADATA_ENCODED_BYTES_MAX`] |
//!
//! Keys have the form `[a-z_][a-z0-9_.]*` and are not a reserved word of the filter language (`and`, `or`,
//! `not`, `true`, `false`), so every key can be named in a [`crate::Filter`]. Numbers are finite.
//!
//! # Encoding (little-endian)
//! ```text
//! key count        u16
//! per key, keys strictly ascending (the BTreeMap's order):
//!   key length     u8, then the key's bytes
//!   tag            u8: 0 = string, 1 = number, 2 = bool
//!   string         u16 length, then UTF-8 bytes
//!   number         f64
//!   bool           u8 (0 or 1)
//! ```
//! The encoding is canonical: a map has exactly one encoding, and decoding rejects anything else.

use std::collections::BTreeMap;

use crate::codec::{Reader, WriteLe};
use crate::error::VecDbError;

/// Most keys in one map.
pub const METADATA_KEYS_MAX: usize = 64;
/// Most bytes in one key.
pub const METADATA_KEY_BYTES_MAX: usize = 64;
/// Most bytes in one string value.
pub const METADATA_STRING_BYTES_MAX: usize = 1024;
/// Most bytes of one encoded map.
pub const METADATA_ENCODED_BYTES_MAX: usize = 8 * 1024;

const _: () = assert!(METADATA_KEYS_MAX <= u16::MAX as usize, "the key count is a u16");
const _: () = assert!(METADATA_KEY_BYTES_MAX <= u8::MAX as usize, "key lengths are a u8");
const _: () = assert!(METADATA_STRING_BYTES_MAX <= u16::MAX as usize, "string lengths are a u16");
const _: () = assert!(METADATA_STRING_BYTES_MAX + METADATA_KEY_BYTES_MAX + 6 <= METADATA_ENCODED_BYTES_MAX);

const TAG_STRING: u8 = 0;
const TAG_NUMBER: u8 = 1;
const TAG_BOOL: u8 = 2;

/// Words of the filter language that cannot be keys.
pub const RESERVED_WORDS: [&str; 5] = ["and", "or", "not", "true", "false"];

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// UTF-8 text.
    String(String),
    /// A finite number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Self::Number(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

/// A vector's metadata: keys in ascending order.
pub type Metadata = BTreeMap<String, Value>;

/// Why `key` is not a valid key, or `None` when it is.
pub fn key_problem(key: &str) -> Option<&'static str> {
    let mut bytes = key.bytes();
    match bytes.next() {
        None => return Some("empty"),
        Some(first) if !(first.is_ascii_lowercase() || first == b'_') => {
            return Some("must start with a-z or _");
        }
        Some(_) => {}
    }
    if key.len() > METADATA_KEY_BYTES_MAX {
        return Some("longer than METADATA_KEY_BYTES_MAX");
    }
    if !bytes.all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'.') {
        return Some("may hold only a-z 0-9 _ .");
    }
    if RESERVED_WORDS.contains(&key) {
        return Some("a reserved word of the filter language");
    }
    None
}

/// A key cut for an error message.
fn key_for_message(key: &str) -> String {
    key.chars().take(METADATA_KEY_BYTES_MAX + 8).collect()
}

/// The length of the encoding of `metadata` (whether or not it is valid).
pub fn encoded_len(metadata: &Metadata) -> usize {
    2 + metadata
        .iter()
        .map(|(key, value)| {
            1 + key.len()
                + 1
                + match value {
                    Value::String(text) => 2 + text.len(),
                    Value::Number(_) => 8,
                    Value::Bool(_) => 1,
                }
        })
        .sum::<usize>()
}

/// Checks `metadata` against every limit and rule of the [module docs](self).
///
/// # Errors
/// [`VecDbError::MetadataTooManyKeys`], [`VecDbError::MetadataKeyInvalid`],
/// [`VecDbError::MetadataStringTooLong`], [`VecDbError::MetadataNonFiniteNumber`],
/// [`VecDbError::MetadataTooLarge`].
pub fn validate(metadata: &Metadata) -> Result<(), VecDbError> {
    if metadata.len() > METADATA_KEYS_MAX {
        return Err(VecDbError::MetadataTooManyKeys { count: metadata.len(), limit: METADATA_KEYS_MAX });
    }
    for (key, value) in metadata {
        if let Some(reason) = key_problem(key) {
            return Err(VecDbError::MetadataKeyInvalid { key: key_for_message(key), reason });
        }
        match value {
            Value::String(text) if text.len() > METADATA_STRING_BYTES_MAX => {
                return Err(VecDbError::MetadataStringTooLong {
                    key: key.clone(),
                    length_bytes: text.len(),
                    limit_bytes: METADATA_STRING_BYTES_MAX,
                });
            }
            Value::Number(number) if !number.is_finite() => {
                return Err(VecDbError::MetadataNonFiniteNumber { key: key.clone() });
            }
            _ => {}
        }
    }
    let encoded_bytes = encoded_len(metadata);
    if encoded_bytes > METADATA_ENCODED_BYTES_MAX {
        return Err(VecDbError::MetadataTooLarge { encoded_bytes, limit_bytes: METADATA_ENCODED_BYTES_MAX });
    }
    Ok(())
}

/// Validates `metadata` and appends its encoding to `out` (nothing is appended on error).
///
/// # Errors
/// As [`validate`].
pub fn encode_into(metadata: &Metadata, out: &mut Vec<u8>) -> Result<(), VecDbError> {
    validate(metadata)?;
    // Validated: every length fits its field.
    let narrow_u8 = |length: usize| u8::try_from(length).unwrap_or(u8::MAX);
    let narrow_u16 = |length: usize| u16::try_from(length).unwrap_or(u16::MAX);
    out.reserve(encoded_len(metadata));
    out.put_u16(narrow_u16(metadata.len()));
    for (key, value) in metadata {
        out.put_u8(narrow_u8(key.len()));
        out.extend_from_slice(key.as_bytes());
        match value {
            Value::String(text) => {
                out.put_u8(TAG_STRING);
                out.put_u16(narrow_u16(text.len()));
                out.extend_from_slice(text.as_bytes());
            }
            Value::Number(number) => {
                out.put_u8(TAG_NUMBER);
                out.put_f64(*number);
            }
            Value::Bool(flag) => {
                out.put_u8(TAG_BOOL);
                out.put_u8(u8::from(*flag));
            }
        }
    }
    Ok(())
}

/// Decodes metadata that fills `bytes` exactly.
///
/// # Errors
/// [`VecDbError::Corrupt`] for anything that is not a canonical encoding of valid metadata.
pub fn decode(bytes: &[u8]) -> Result<Metadata, VecDbError> {
    let (metadata, length) = decode_prefix(bytes)?;
    if length != bytes.len() {
        return Err(VecDbError::Corrupt { offset: length, reason: "trailing bytes after the metadata" });
    }
    Ok(metadata)
}

/// Decodes metadata at the start of `bytes`; returns it and the number of bytes it took.
///
/// # Errors
/// As [`decode`].
pub fn decode_prefix(bytes: &[u8]) -> Result<(Metadata, usize), VecDbError> {
    let bounded = bytes.get(..METADATA_ENCODED_BYTES_MAX).unwrap_or(bytes);
    let mut reader = Reader::new(bounded);
    let count = usize::from(reader.u16()?);
    if count > METADATA_KEYS_MAX {
        return Err(reader.corrupt("more keys than METADATA_KEYS_MAX").into());
    }
    let mut metadata = Metadata::new();
    for _ in 0..count {
        let key_offset = reader.offset();
        let key_length = usize::from(reader.u8()?);
        let key = std::str::from_utf8(reader.take(key_length)?)
            .map_err(|_| VecDbError::Corrupt { offset: key_offset, reason: "a key is not UTF-8" })?;
        if key_problem(key).is_some() {
            return Err(VecDbError::Corrupt { offset: key_offset, reason: "an invalid key" });
        }
        if metadata.last_key_value().is_some_and(|(last, _)| last.as_str() >= key) {
            return Err(VecDbError::Corrupt { offset: key_offset, reason: "keys are not strictly ascending" });
        }
        let value = match reader.u8()? {
            TAG_STRING => {
                let value_offset = reader.offset();
                let length = usize::from(reader.u16()?);
                if length > METADATA_STRING_BYTES_MAX {
                    return Err(reader.corrupt("a string longer than METADATA_STRING_BYTES_MAX").into());
                }
                let text = std::str::from_utf8(reader.take(length)?)
                    .map_err(|_| VecDbError::Corrupt { offset: value_offset, reason: "a string is not UTF-8" })?;
                Value::String(text.to_owned())
            }
            TAG_NUMBER => {
                let number = reader.f64()?;
                if !number.is_finite() {
                    return Err(reader.corrupt("a number is not finite").into());
                }
                Value::Number(number)
            }
            TAG_BOOL => match reader.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return Err(reader.corrupt("a bool is not 0 or 1").into()),
            },
            _ => return Err(reader.corrupt("unknown value tag").into()),
        };
        metadata.insert(key.to_owned(), value);
    }
    Ok((metadata, reader.offset()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(metadata: &Metadata) -> Result<Vec<u8>, VecDbError> {
        let mut out = Vec::new();
        encode_into(metadata, &mut out).map(|()| out)
    }

    #[test]
    fn keys_follow_the_filter_field_grammar() {
        for good in ["a", "_", "genre", "a.b_c9", &"k".repeat(METADATA_KEY_BYTES_MAX)] {
            assert_eq!(key_problem(good), None, "{good}");
        }
        for bad in ["", "9a", "A", "a-b", "a b", "é", "and", "true", &"k".repeat(METADATA_KEY_BYTES_MAX + 1)] {
            assert!(key_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn metadata_limits_are_accepted_at_the_limit_and_rejected_past_it() {
        // Keys: exactly the limit.
        let many: Metadata = (0..METADATA_KEYS_MAX).map(|i| (format!("k{i}"), Value::Bool(true))).collect();
        assert!(validate(&many).is_ok());
        let mut too_many = many.clone();
        too_many.insert("extra".into(), Value::Bool(false));
        assert!(matches!(validate(&too_many), Err(VecDbError::MetadataTooManyKeys { count: 65, limit: 64 })));

        // String value: exactly the limit.
        let mut text = Metadata::new();
        text.insert("t".into(), Value::String("x".repeat(METADATA_STRING_BYTES_MAX)));
        assert!(validate(&text).is_ok());
        text.insert("t".into(), Value::String("x".repeat(METADATA_STRING_BYTES_MAX + 1)));
        assert!(matches!(validate(&text), Err(VecDbError::MetadataStringTooLong { length_bytes: 1025, .. })));

        // Encoded size: fill to exactly the limit, then one byte more.
        let mut full = Metadata::new();
        let entry_bytes = |key: &str, length: usize| 1 + key.len() + 1 + 2 + length;
        let mut total = 2;
        let mut index = 0;
        while total + entry_bytes("s00", METADATA_STRING_BYTES_MAX) <= METADATA_ENCODED_BYTES_MAX {
            let key = format!("s{index:02}");
            total += entry_bytes(&key, METADATA_STRING_BYTES_MAX);
            full.insert(key, Value::String("y".repeat(METADATA_STRING_BYTES_MAX)));
            index += 1;
        }
        let rest = METADATA_ENCODED_BYTES_MAX - total - entry_bytes("zz", 0);
        full.insert("zz".into(), Value::String("z".repeat(rest)));
        assert_eq!(encoded_len(&full), METADATA_ENCODED_BYTES_MAX);
        let bytes = encode(&full).unwrap();
        assert_eq!(bytes.len(), METADATA_ENCODED_BYTES_MAX);
        assert_eq!(decode(&bytes).unwrap(), full);
        full.insert("zz".into(), Value::String("z".repeat(rest + 1)));
        assert!(matches!(validate(&full), Err(VecDbError::MetadataTooLarge { encoded_bytes: 8193, .. })));
        let mut out = vec![1, 2];
        assert!(encode_into(&full, &mut out).is_err());
        assert_eq!(out, [1, 2], "nothing appended on error");
    }

    #[test]
    fn bad_keys_and_numbers_get_typed_errors() {
        let mut bad = Metadata::new();
        bad.insert("Upper".into(), Value::Bool(true));
        assert!(matches!(validate(&bad), Err(VecDbError::MetadataKeyInvalid { .. })));
        let mut nan = Metadata::new();
        nan.insert("n".into(), Value::Number(f64::NAN));
        assert!(matches!(validate(&nan), Err(VecDbError::MetadataNonFiniteNumber { .. })));
    }

    #[test]
    fn decode_rejects_non_canonical_or_corrupt_bytes() {
        let mut metadata = Metadata::new();
        metadata.insert("a".into(), Value::Number(1.5));
        metadata.insert("b".into(), "text".into());
        metadata.insert("c".into(), true.into());
        let bytes = encode(&metadata).unwrap();
        assert_eq!(decode(&bytes).unwrap(), metadata);
        for length in 0..bytes.len() {
            assert!(decode(&bytes[..length]).is_err(), "truncated to {length}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(decode(&trailing), Err(VecDbError::Corrupt { .. })));
        assert_eq!(decode_prefix(&trailing).unwrap(), (metadata, bytes.len()));
        // Swap the order of keys "a" and "b" by renaming "b" to "a".
        let mut unordered = bytes.clone();
        let position = unordered.windows(2).position(|pair| pair == [1, b'b']).unwrap();
        unordered[position + 1] = b'a';
        assert!(matches!(
            decode(&unordered),
            Err(VecDbError::Corrupt { reason: "keys are not strictly ascending", .. })
        ));
        assert!(matches!(decode(&[0xFF, 0xFF]), Err(VecDbError::Corrupt { .. })));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                ".{0,40}".prop_map(Value::String),
                (-1e12_f64..1e12).prop_map(Value::Number),
                any::<bool>().prop_map(Value::Bool),
            ]
        }

        proptest! {
            #[test]
            fn metadata_round_trips_through_its_encoding(
                entries in proptest::collection::btree_map("[a-z_][a-z0-9_.]{0,20}", value(), 0..20)
            ) {
                let metadata: Metadata =
                    entries.into_iter().filter(|(key, _)| key_problem(key).is_none()).collect();
                let mut bytes = Vec::new();
                encode_into(&metadata, &mut bytes).unwrap();
                prop_assert_eq!(bytes.len(), encoded_len(&metadata));
                prop_assert_eq!(decode(&bytes).unwrap(), metadata);
            }

            #[test]
            fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                if let Ok(metadata) = decode(&bytes) {
                    prop_assert!(validate(&metadata).is_ok());
                }
            }
        }
    }
}
