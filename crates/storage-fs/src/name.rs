//! The mapping between keys and file names, and the names the backend keeps for itself.
//!
//! Every value lives flat in the store's one directory. A key's file name is the key with each `/` replaced by
//! `%`. The mapping is a bijection onto the names of key files because `%` is not a key character, and it never
//! produces a name starting with `.` because no key segment starts with `.`. Names starting with `.` are the
//! backend's own: the lock file and temp files.

use storage_core::Key;

/// The character that stands for `/` in file names. Not a key character, so the mapping is reversible.
pub(crate) const SEPARATOR_IN_FILE_NAME: char = '%';

/// The lock file's name. Starts with `.`, so it can never be a key's file.
pub(crate) const LOCK_FILE_NAME: &str = ".lock";

/// Every temp file's name starts with this; a name with this prefix found at open is an orphan of a crash.
pub(crate) const TEMP_FILE_PREFIX: &str = ".tmp-";

/// The longest file name the backend makes, in bytes: a temp name for the longest key, the largest process id
/// (10 decimal digits) and the largest counter (20 digits). ext4 and xfs allow 255.
pub(crate) const FILE_NAME_BYTES_MAX: usize = TEMP_FILE_PREFIX.len() + storage_core::KEY_BYTES_MAX + 1 + 10 + 1 + 20;

const _: () = assert!(FILE_NAME_BYTES_MAX <= 255, "temp file names must fit in one ext4/xfs name");

/// The name of the file that holds `key`'s value.
pub(crate) fn file_name(key: &Key) -> String {
    key.as_str().replace('/', "%")
}

/// The key whose value `name` holds, or `None` for the backend's own files (names starting with `.`) and for files
/// that are no key's (anything else the directory may hold).
pub(crate) fn key_from_file_name(name: &str) -> Option<Key> {
    if name.starts_with('.') || name.contains('/') {
        return None;
    }
    Key::new(name.replace(SEPARATOR_IN_FILE_NAME, "/")).ok()
}

/// A temp file name for an atomic replace of the file `target`, unique among this process's temp files (the
/// `counter`) and across processes (the `process_id`).
pub(crate) fn temp_file_name(target: &str, process_id: u32, counter: u64) -> String {
    format!("{TEMP_FILE_PREFIX}{target}-{process_id}-{counter}")
}

/// True for names of temp files (live ones of this handle, or orphans of a crash when seen at open).
pub(crate) fn is_temp_file_name(name: &str) -> bool {
    name.starts_with(TEMP_FILE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Key {
        Key::new(text).unwrap()
    }

    #[test]
    fn keys_map_to_flat_names_and_back() {
        for (text, name) in [
            ("wal/00000000000000000001", "wal%00000000000000000001"),
            ("manifest", "manifest"),
            ("a/b/c.d-e_f", "a%b%c.d-e_f"),
            ("a.b/c..", "a.b%c.."),
        ] {
            assert_eq!(file_name(&key(text)), name);
            assert_eq!(key_from_file_name(name), Some(key(text)));
        }
    }

    #[test]
    fn the_backend_files_and_foreign_names_are_never_keys() {
        for name in [".lock", ".tmp-wal%1-7-0", ".", "..", "README", "a%%b", "%a", "a%", "a%.b", "", "a b"] {
            assert_eq!(key_from_file_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn temp_names_are_recognised_and_never_collide_with_keys() {
        let name = temp_file_name(&file_name(&key("wal/1")), 4242, 7);
        assert_eq!(name, ".tmp-wal%1-4242-7");
        assert!(is_temp_file_name(&name));
        assert_eq!(key_from_file_name(&name), None);
        assert!(!is_temp_file_name(LOCK_FILE_NAME));
        assert!(!is_temp_file_name("tmp-wal"));
    }

    #[test]
    fn the_longest_key_gives_a_temp_name_within_the_file_name_limit() {
        let longest = key(&"k".repeat(storage_core::KEY_BYTES_MAX));
        let name = temp_file_name(&file_name(&longest), u32::MAX, u64::MAX);
        assert_eq!(name.len(), FILE_NAME_BYTES_MAX);
    }
}
