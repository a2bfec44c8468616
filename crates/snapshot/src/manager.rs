//! Saving and loading snapshots through a storage backend: retention and fallback.
//!
//! The logic lives once, in async functions over [`AsyncStorageBackend`]; [`SnapshotManager`] runs them with
//! [`block_on`] for native (sync) backends and [`AsyncSnapshotManager`] awaits them (IndexedDB).

use storage_core::{AsyncStorageBackend, Key, StorageBackend, block_on};

use crate::error::{SkippedSnapshot, SnapshotError};
use crate::format::{
    PRODUCER_SECTION_TAG, SnapshotReader, SnapshotWriter, StateDigest, decode_producer, encode_producer,
};

/// Where snapshots live: `snapshot/<lsn, 20 digits>`.
pub const SNAPSHOT_KEY_PREFIX: &str = "snapshot/";
/// The most snapshots one store may retain.
pub const RETAIN_COUNT_MAX: usize = 16;

/// A state that can be written to and read from a snapshot.
pub trait Snapshot: Sized {
    /// The producer's name, stored in every snapshot and checked on load (at most 64 bytes).
    const PRODUCER: &'static str;
    /// The producer's configuration, stored in the snapshot's producer section; handed back to
    /// [`Self::decode_sections`].
    fn configuration(&self) -> Vec<u8>;
    /// About how many bytes [`Self::encode_sections`] writes, so the buffer is allocated once.
    fn snapshot_bytes_hint(&self) -> usize;
    /// Writes the state's sections (any tags but [`PRODUCER_SECTION_TAG`]).
    fn encode_sections(&self, writer: &mut SnapshotWriter) -> Result<(), SnapshotError>;
    /// Rebuilds the state from its configuration and the validated snapshot.
    fn decode_sections(configuration: &[u8], reader: &SnapshotReader<'_>) -> Result<Self, SnapshotError>;
    /// The digest of the state's logical content (the same state always gives the same digest).
    fn digest(&self) -> StateDigest;
}

/// How snapshots are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// How many of the newest snapshots to keep (1 to [`RETAIN_COUNT_MAX`]; default 2, so a corrupt newest
    /// snapshot can fall back to the previous one).
    pub retain_count: usize,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        Self { retain_count: 2 }
    }
}

impl SnapshotOptions {
    fn validate(&self) -> Result<(), SnapshotError> {
        if self.retain_count == 0 || self.retain_count > RETAIN_COUNT_MAX {
            return Err(SnapshotError::InvalidOption {
                reason: format!("retain_count {} is outside 1..={RETAIN_COUNT_MAX}", self.retain_count),
            });
        }
        Ok(())
    }
}

/// A snapshot written by `save`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedSnapshot {
    /// Its key.
    pub key: Key,
    /// The LSN it covers.
    pub lsn: u64,
    /// Its size.
    pub size_bytes: u64,
    /// Older snapshots deleted by retention.
    pub deleted: Vec<Key>,
}

/// A state loaded by `load_latest`.
#[derive(Debug)]
pub struct LoadedSnapshot<S> {
    /// The state.
    pub state: S,
    /// The LSN it covers: replay the WAL from `lsn + 1`.
    pub lsn: u64,
    /// Its key.
    pub key: Key,
    /// Its size.
    pub size_bytes: u64,
    /// Its digest, verified against the loaded state.
    pub digest: StateDigest,
    /// Newer snapshots that were rejected (non-empty means this is a fallback).
    pub skipped: Vec<SkippedSnapshot>,
}

/// The key of the snapshot covering `lsn`.
pub fn snapshot_key(lsn: u64) -> Result<Key, SnapshotError> {
    Ok(Key::new(format!("{SNAPSHOT_KEY_PREFIX}{lsn:020}"))?)
}

/// The LSN a snapshot key names, or `None` for keys under the prefix that are not snapshots.
pub fn parse_snapshot_key(key: &Key) -> Option<u64> {
    let digits = key.as_str().strip_prefix(SNAPSHOT_KEY_PREFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encodes `state` as a whole snapshot covering `lsn` (one buffer, sized by the state's hint).
pub fn encode_snapshot<S: Snapshot>(state: &S, lsn: u64) -> Result<Vec<u8>, SnapshotError> {
    let configuration = state.configuration();
    let mut writer = SnapshotWriter::with_capacity(state.snapshot_bytes_hint().saturating_add(configuration.len()));
    writer.begin_section(PRODUCER_SECTION_TAG)?;
    encode_producer(S::PRODUCER, &configuration, writer.buffer())?;
    writer.end_section()?;
    drop(configuration);
    state.encode_sections(&mut writer)?;
    writer.finish(lsn, state.digest())
}

/// Decodes and fully verifies a snapshot: checksums, producer, and the digest of the decoded state.
pub fn decode_snapshot<S: Snapshot>(bytes: &[u8]) -> Result<(S, u64, StateDigest), SnapshotError> {
    let reader = SnapshotReader::parse(bytes)?;
    let (producer, configuration) = decode_producer(reader.section(PRODUCER_SECTION_TAG)?)?;
    if producer != S::PRODUCER {
        return Err(SnapshotError::ProducerMismatch { expected: S::PRODUCER.to_owned(), found: producer.to_owned() });
    }
    let state = S::decode_sections(configuration, &reader)?;
    let stored = reader.header().state_digest;
    let computed = state.digest();
    if stored != computed {
        return Err(SnapshotError::DigestMismatch { key: String::new(), stored, computed });
    }
    Ok((state, reader.header().lsn, stored))
}

/// The snapshots in the store, oldest first, as (LSN, key).
pub async fn list_snapshots<B: AsyncStorageBackend + ?Sized>(backend: &B) -> Result<Vec<(u64, Key)>, SnapshotError> {
    let mut found: Vec<(u64, Key)> = backend
        .list(SNAPSHOT_KEY_PREFIX)
        .await?
        .into_iter()
        .filter_map(|key| parse_snapshot_key(&key).map(|lsn| (lsn, key)))
        .collect();
    // (LSN, key) pairs are unique: an unstable sort gives the same order.
    found.sort_unstable();
    Ok(found)
}

/// Writes `state` as the snapshot covering `lsn` (durable and atomic on `Ok`), then deletes all but the newest
/// `options.retain_count` snapshots, oldest first. On `Err` the previous snapshots are intact.
pub async fn save<S: Snapshot, B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    state: &S,
    lsn: u64,
    options: &SnapshotOptions,
) -> Result<SavedSnapshot, SnapshotError> {
    options.validate()?;
    let key = snapshot_key(lsn)?;
    let bytes = encode_snapshot(state, lsn)?;
    backend.atomic_write(&key, &bytes).await?;
    let size_bytes = bytes.len() as u64;
    drop(bytes);
    let existing = list_snapshots(backend).await?;
    let excess = existing.len().saturating_sub(options.retain_count);
    let mut deleted = Vec::new();
    for (old_lsn, old_key) in existing.into_iter().take(excess) {
        if old_lsn < lsn {
            backend.delete(&old_key).await?;
            deleted.push(old_key);
        }
    }
    Ok(SavedSnapshot { key, lsn, size_bytes, deleted })
}

/// Loads the newest valid snapshot, falling back to older ones when the newest is corrupt. `Ok(None)` when there
/// are no snapshots at all; [`SnapshotError::AllCorrupt`] when there are some but none is valid. Storage errors
/// stop the search (they say nothing about the snapshot's bytes).
pub async fn load_latest<S: Snapshot, B: AsyncStorageBackend + ?Sized>(
    backend: &B,
) -> Result<Option<LoadedSnapshot<S>>, SnapshotError> {
    let mut skipped = Vec::new();
    for (lsn, key) in list_snapshots(backend).await?.into_iter().rev() {
        let Some(bytes) = backend.read(&key).await? else {
            continue;
        };
        let attempt = decode_snapshot::<S>(&bytes).and_then(|(state, stored_lsn, digest)| {
            if stored_lsn == lsn {
                Ok((state, digest))
            } else {
                Err(SnapshotError::Corrupted {
                    key: String::new(),
                    offset: 16,
                    reason: format!("header LSN {stored_lsn} does not match the key's LSN {lsn}"),
                })
            }
        });
        match attempt.map_err(|error| error.in_key(key.as_str())) {
            Ok((state, digest)) => {
                let size_bytes = bytes.len() as u64;
                return Ok(Some(LoadedSnapshot { state, lsn, key, size_bytes, digest, skipped }));
            }
            Err(error) if error.is_bad_snapshot() => {
                let reason = match &error {
                    SnapshotError::DigestMismatch { stored, computed, .. } => {
                        format!("state digest mismatch: stored {stored}, recomputed {computed}")
                    }
                    other => other.to_string(),
                };
                skipped.push(SkippedSnapshot { key: key.as_str().to_owned(), lsn, reason });
            }
            Err(error) => return Err(error),
        }
    }
    if skipped.is_empty() { Ok(None) } else { Err(SnapshotError::AllCorrupt { skipped }) }
}

/// Snapshots over a blocking backend.
pub struct SnapshotManager<B> {
    backend: B,
    options: SnapshotOptions,
}

impl<B: StorageBackend> SnapshotManager<B> {
    /// A manager keeping snapshots in `backend`.
    pub fn new(backend: B, options: SnapshotOptions) -> Result<Self, SnapshotError> {
        options.validate()?;
        Ok(Self { backend, options })
    }
    /// See [`save`].
    pub fn save<S: Snapshot>(&self, state: &S, lsn: u64) -> Result<SavedSnapshot, SnapshotError> {
        block_on(save(&self.backend, state, lsn, &self.options))
    }
    /// See [`load_latest`].
    pub fn load_latest<S: Snapshot>(&self) -> Result<Option<LoadedSnapshot<S>>, SnapshotError> {
        block_on(load_latest(&self.backend))
    }
    /// See [`list_snapshots`].
    pub fn list(&self) -> Result<Vec<(u64, Key)>, SnapshotError> {
        block_on(list_snapshots(&self.backend))
    }
    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }
}

/// Snapshots over an asynchronous backend (IndexedDB).
pub struct AsyncSnapshotManager<B> {
    backend: B,
    options: SnapshotOptions,
}

impl<B: AsyncStorageBackend> AsyncSnapshotManager<B> {
    /// A manager keeping snapshots in `backend`.
    pub fn new(backend: B, options: SnapshotOptions) -> Result<Self, SnapshotError> {
        options.validate()?;
        Ok(Self { backend, options })
    }
    /// See [`save`].
    pub async fn save<S: Snapshot>(&self, state: &S, lsn: u64) -> Result<SavedSnapshot, SnapshotError> {
        save(&self.backend, state, lsn, &self.options).await
    }
    /// See [`load_latest`].
    pub async fn load_latest<S: Snapshot>(&self) -> Result<Option<LoadedSnapshot<S>>, SnapshotError> {
        load_latest(&self.backend).await
    }
    /// See [`list_snapshots`].
    pub async fn list(&self) -> Result<Vec<(u64, Key)>, SnapshotError> {
        list_snapshots(&self.backend).await
    }
    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }
}
