//! The one I/O driver, written once against [`AsyncStorageBackend`]: it carries out the cores' intents and feeds
//! them the bytes they ask for. The blocking [`crate::Wal`] runs these functions with [`storage_core::block_on`]
//! (futures of a sync backend finish on their first poll); the [`crate::AsyncWal`] awaits them.

use std::mem;

use storage_core::{AsyncStorageBackend, Key, PersistenceError};

use crate::entry::Entry;
use crate::error::WalError;
use crate::format::READ_CHUNK_BYTES;
use crate::options::WalOptions;
use crate::reader::{ReplayAction, ReplayCursor};
use crate::recovery::{Recovery, RecoveryAction, RecoveryReport};
use crate::writer_core::{Intent, WriterCore};

/// Carries out `intents` in order, stopping at the first failure.
pub(crate) async fn execute<B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    intents: &[Intent],
) -> Result<(), PersistenceError> {
    for intent in intents {
        execute_one(backend, intent).await?;
    }
    Ok(())
}

/// Carries out one intent.
async fn execute_one<B: AsyncStorageBackend + ?Sized>(backend: &B, intent: &Intent) -> Result<(), PersistenceError> {
    match intent {
        Intent::CreateSegment { key, header } => backend.atomic_write(key, header).await,
        Intent::Append { key, bytes } => backend.append(key, bytes).await,
        Intent::Sync { key } => backend.sync(key).await,
        Intent::Truncate { key, length_bytes } => backend.truncate(key, *length_bytes).await,
        Intent::Delete { key } => backend.delete(key).await.map(drop),
        Intent::Rewrite { key, length_bytes } => {
            let bytes = backend.read_range(key, 0, *length_bytes).await?;
            if bytes.len() as u64 != *length_bytes {
                return Err(PersistenceError::Corrupted {
                    key: key.to_string(),
                    offset: bytes.len() as u64,
                    reason: format!("the segment shrank below the {length_bytes} bytes recovery validated"),
                });
            }
            backend.atomic_write(key, &bytes).await
        }
    }
}

/// Recovers the log under `options.key_prefix`: scans it, truncates a torn tail (durably), salvages when asked,
/// and returns a writer ready to append after the durable end.
pub(crate) async fn open<B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    options: &WalOptions,
    salt_seed: u64,
) -> Result<(WriterCore, RecoveryReport), WalError> {
    options.validate()?;
    let keys = backend.list(&format!("{}/", options.key_prefix)).await?;
    let mut recovery = Recovery::new(&options.key_prefix, options.recovery_mode, keys, READ_CHUNK_BYTES)?;
    loop {
        match recovery.poll() {
            RecoveryAction::Len(key) => recovery.handle_len(backend.len(&key).await?),
            RecoveryAction::Read { key, offset, length } => {
                let bytes = backend.read_range(&key, offset, length).await?;
                recovery.handle_read(offset, bytes);
            }
            RecoveryAction::Done => break,
        }
    }
    let outcome = recovery.finish()?;
    let deferred = settle(backend, outcome.intents).await?;
    let mut report = outcome.report;
    let mut core = WriterCore::new(options, outcome.log, salt_seed)?;
    if !deferred.is_empty() {
        report.unproven_bytes_pending = mem::take(&mut report.unproven_bytes_rewritten);
        core.defer(deferred, outcome.proven_lsn);
    }
    // A log without a segment gets its first one now, so that an open log always exists on the backend.
    if let Some(flush) = core.take_flush(false, 0) {
        let result = execute(backend, &flush.intents).await;
        core.complete_flush(flush, result)?;
    }
    Ok((core, report))
}

/// Carries out recovery's `intents` in order. When the unproven tail's rewrite fails because the storage is full,
/// the log can still be read (the bytes on the backend are the ones recovery validated: an `atomic_write` that
/// fails changes nothing), so that intent and the ones after it are returned, to run before the first write.
/// Every other failure is returned as the error.
async fn settle<B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    mut intents: Vec<Intent>,
) -> Result<Vec<Intent>, PersistenceError> {
    for index in 0..intents.len() {
        let Some(intent) = intents.get(index) else { break };
        match execute_one(backend, intent).await {
            Err(PersistenceError::DiskFull { .. }) if matches!(intent, Intent::Rewrite { .. }) => {
                return Ok(intents.split_off(index));
            }
            result => result?,
        }
    }
    Ok(Vec::new())
}

/// The next entry of a replay, or `None` at its end.
pub(crate) async fn replay_next<B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    cursor: &mut ReplayCursor,
) -> Result<Option<Entry>, WalError> {
    loop {
        match cursor.poll()? {
            ReplayAction::Len(key) => cursor.handle_len(backend.len(&key).await?)?,
            ReplayAction::Read { key, offset, length } => {
                let bytes = backend.read_range(&key, offset, length).await?;
                cursor.handle_read(offset, bytes);
            }
            ReplayAction::Entry(entry) => return Ok(Some(entry)),
            ReplayAction::Done => return Ok(None),
        }
    }
}

/// Deletes `keys` oldest first; answers how many were deleted and the failure that stopped it, if any.
pub(crate) async fn delete_segments<B: AsyncStorageBackend + ?Sized>(
    backend: &B,
    keys: &[Key],
) -> (usize, Result<(), PersistenceError>) {
    for (index, key) in keys.iter().enumerate() {
        if let Err(error) = backend.delete(key).await {
            return (index, Err(error));
        }
    }
    (keys.len(), Ok(()))
}
