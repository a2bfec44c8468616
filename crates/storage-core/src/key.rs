//! Validated storage keys.

use std::fmt;

use crate::error::{KeyError, PersistenceError};

/// The longest key, in bytes. Fits in one file name (255 bytes on ext4) with room for a temp prefix and suffix.
pub const KEY_BYTES_MAX: usize = 160;

/// A validated key: 1 to [`KEY_BYTES_MAX`] bytes of `[a-z0-9_.-]` in segments separated by `/`.
///
/// Rules, chosen so every backend can store a key faithfully and flatly (one directory on the file system):
/// - characters: ASCII lowercase letters, digits, `_`, `-`, `.` and `/`;
/// - `/` separates non-empty segments: no leading, trailing or doubled `/`;
/// - no segment starts with `.`: names starting with `.` are reserved for a backend's own files (temp files,
///   the lock file), so a key can never collide with them.
///
/// Keys sort bytewise, which is how [`crate::StorageBackend::list`] orders them.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    /// Validates `text` as a key.
    pub fn new(text: impl Into<String>) -> Result<Self, PersistenceError> {
        let text = text.into();
        match validate(&text) {
            Ok(()) => Ok(Self(text)),
            Err(reason) => Err(PersistenceError::InvalidKey { key: text, reason }),
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the key begins with `prefix` (a plain string prefix, not a segment prefix).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.0.starts_with(prefix)
    }
}

fn validate(text: &str) -> Result<(), KeyError> {
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    if text.len() > KEY_BYTES_MAX {
        return Err(KeyError::TooLong { length_bytes: text.len(), limit_bytes: KEY_BYTES_MAX });
    }
    if let Some((position, character)) = text
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | '/')))
    {
        return Err(KeyError::BadCharacter { position, character });
    }
    for segment in text.split('/') {
        if segment.is_empty() {
            return Err(KeyError::EmptySegment);
        }
        if segment.starts_with('.') {
            return Err(KeyError::ReservedSegment { segment: segment.to_owned() });
        }
    }
    Ok(())
}

impl fmt::Display for Key {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Key({:?})", self.0)
    }
}

impl TryFrom<&str> for Key {
    type Error = PersistenceError;
    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Self::new(text)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        let actual = match Key::new(text) {
            Ok(key) => format!("ok {key}"),
            Err(PersistenceError::InvalidKey { reason, .. }) => format!("invalid: {reason}"),
            Err(other) => format!("unexpected error: {other}"),
        };
        assert_eq!(actual, expected, "key {text:?}");
    }

    #[test]
    fn keys_are_validated_with_a_typed_reason() {
        check("wal/00000000000000000001", "ok wal/00000000000000000001");
        check("snapshot.v1", "ok snapshot.v1");
        check("a-b_c/d.e", "ok a-b_c/d.e");
        check("", "invalid: the key is empty");
        check("Wal", "invalid: character 'W' at byte 0 is not allowed (use a-z 0-9 _ - . /)");
        check("wal seg", "invalid: character ' ' at byte 3 is not allowed (use a-z 0-9 _ - . /)");
        check("wal/é", "invalid: character 'é' at byte 4 is not allowed (use a-z 0-9 _ - . /)");
        check("/wal", "invalid: a segment between '/' separators is empty");
        check("wal/", "invalid: a segment between '/' separators is empty");
        check("wal//x", "invalid: a segment between '/' separators is empty");
        check(".lock", "invalid: segment \".lock\" starts with '.', which is reserved for backend files");
        check("wal/..", "invalid: segment \"..\" starts with '.', which is reserved for backend files");
    }

    #[test]
    fn the_key_length_limit_is_enforced_at_the_limit() {
        let at_limit = "k".repeat(KEY_BYTES_MAX);
        check(&at_limit, &format!("ok {at_limit}"));
        check(&"k".repeat(KEY_BYTES_MAX + 1), "invalid: the key is 161 bytes long; the limit is 160");
    }
}
