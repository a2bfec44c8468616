//! What the database itself stores besides the log and snapshots (its configuration), and what it measures of the
//! store ([`Stats`]). Written once against [`AsyncStorageBackend`]: [`crate::Db`] runs these with `block_on`,
//! [`crate::AsyncDb`] awaits them.

use snapshot::parse_snapshot_key;
use storage_core::{AsyncStorageBackend, Key};

use super::config::{CONFIG_KEY, DbConfig};
use super::state::DatabaseState;
use crate::error::VecDbError;

/// The prefix of the log's segment keys (the log's default, which the database uses).
pub const WAL_KEY_PREFIX: &str = "wal/";

/// A database's counts and sizes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live (searchable) vectors.
    pub live_count: u64,
    /// Deleted vectors still in the graph as tombstones (until [`crate::Db::compact`]).
    pub deleted_count: u64,
    /// The LSN of the last operation applied.
    pub applied_lsn: u64,
    /// Operations the log holds (those after the oldest retained snapshot, which recovery may replay).
    pub wal_operations: u64,
    /// Bytes of log segments in the store.
    pub wal_bytes: u64,
    /// Log segments in the store.
    pub wal_segment_count: usize,
    /// The LSN of the newest snapshot (`None`: no snapshot yet).
    pub snapshot_lsn: Option<u64>,
    /// Snapshots in the store.
    pub snapshot_count: usize,
    /// Bytes of every snapshot in the store.
    pub snapshot_bytes: u64,
    /// Bytes of every value in the store (log, snapshots, configuration): the bytes on disk, without the file
    /// system's own overhead.
    pub bytes_on_disk: u64,
    /// About how many bytes of memory the index holds.
    pub memory_bytes: u64,
}

fn config_key() -> Result<Key, VecDbError> {
    Ok(Key::new(CONFIG_KEY)?)
}

/// The stored configuration.
pub(crate) async fn load_config<B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    location: &str,
) -> Result<DbConfig, VecDbError> {
    match backend.read(&config_key()?).await? {
        Some(bytes) => DbConfig::decode(&bytes),
        None => Err(VecDbError::NoDatabase { location: location.to_owned() }),
    }
}

/// Stores the configuration of a new database: the store must be empty. Durable and atomic on `Ok`, and written
/// before anything else, so a crash leaves either a whole configuration or an empty store.
pub(crate) async fn store_new_config<B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    config: &DbConfig,
    location: &str,
) -> Result<(), VecDbError> {
    config.validate()?;
    let keys = backend.list("").await?;
    if !keys.is_empty() {
        let holds_database = keys.iter().any(|key| key.as_str() == CONFIG_KEY);
        return Err(VecDbError::StoreNotEmpty { location: location.to_owned(), key_count: keys.len(), holds_database });
    }
    backend.atomic_write(&config_key()?, &config.encode()).await?;
    Ok(())
}

/// The configuration to open with: the stored one, which must equal `expected` when given.
pub(crate) async fn config_to_open<B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    expected: Option<&DbConfig>,
    location: &str,
) -> Result<DbConfig, VecDbError> {
    let stored = load_config(backend, location).await?;
    if let Some(expected) = expected {
        if let Some((field, stored, requested)) = stored.first_difference(expected) {
            return Err(VecDbError::ConfigMismatch { field, stored, requested });
        }
    }
    Ok(stored)
}

/// Checks that the recovered state carries the stored configuration.
pub(crate) fn check_recovered(state: &DatabaseState, stored: &DbConfig) -> Result<(), VecDbError> {
    if state.config() == stored {
        Ok(())
    } else {
        Err(VecDbError::Corrupt { offset: 0, reason: "the snapshot's configuration differs from vecdb/config" })
    }
}

/// Adds the state's counts to `stats`.
pub(crate) fn fill_state_stats(stats: &mut Stats, state: &DatabaseState) {
    stats.live_count = state.len() as u64;
    stats.deleted_count = state.index().deleted_count() as u64;
    stats.memory_bytes = state.index().heap_bytes() as u64;
}

/// Sizes of the store (the log, snapshots, every value), with the log's length estimated from its oldest segment's
/// name and `applied_lsn`.
pub(crate) async fn storage_stats<B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    applied_lsn: u64,
) -> Result<Stats, VecDbError> {
    let mut stats = Stats { applied_lsn, ..Stats::default() };
    let mut wal_first_lsn: Option<u64> = None;
    for key in backend.list("").await? {
        let length = backend.len(&key).await?.unwrap_or(0);
        stats.bytes_on_disk += length;
        if let Some(digits) = key.as_str().strip_prefix(WAL_KEY_PREFIX) {
            stats.wal_bytes += length;
            stats.wal_segment_count += 1;
            if let Ok(first) = digits.parse::<u64>() {
                wal_first_lsn = Some(wal_first_lsn.map_or(first, |known| known.min(first)));
            }
        } else if let Some(lsn) = parse_snapshot_key(&key) {
            stats.snapshot_count += 1;
            stats.snapshot_bytes += length;
            stats.snapshot_lsn = Some(stats.snapshot_lsn.map_or(lsn, |newest| newest.max(lsn)));
        }
    }
    stats.wal_operations = wal_first_lsn.map_or(0, |first| (applied_lsn + 1).saturating_sub(first));
    Ok(stats)
}
