//! [`WalOptions`], [`SyncPolicy`] and [`RecoveryMode`].

use storage_core::Key;

use crate::error::WalError;
use crate::format;

/// When an append is made durable, and what its `Ok` means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every append, batch and commit returns only once its record is durable (written and synced). Concurrent
    /// callers of the blocking [`crate::Wal`] share one sync (group commit). The default.
    #[default]
    EveryCommit,
    /// Appends return once the record is framed in memory; syncs are grouped. There is no background thread: the
    /// first append (or [`crate::Wal::sync`]) made when the unsynced records span at least `max_bytes`, or when the
    /// oldest of them was framed at least `max_delay_ms` ago, writes and syncs every framed record before returning.
    /// So an `Ok` means "framed; durable once [`crate::Wal::durable_lsn`] reaches it", and a record becomes durable
    /// no later than the first call past either bound (or an explicit `sync`, or `close`).
    Grouped {
        /// The longest a framed record waits before the next call syncs it.
        max_delay_ms: u64,
        /// The most unsynced record bytes before the next call syncs them.
        max_bytes: u64,
    },
    /// Appends are buffered in memory and written to the backend in chunks of about
    /// [`WalOptions::write_buffer_bytes_max`], never synced until the caller calls `sync` (or `close`). An `Ok`
    /// means "framed, with an LSN"; only `sync` returning makes records durable.
    Manual,
}

/// What `open` does with damage that is not a torn tail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Damage before the durable end (a bad record followed by proof that it was durable, a bad record in an older
    /// segment, an LSN gap) fails the open with [`WalError::Corrupted`]. The default.
    #[default]
    Strict,
    /// Keeps the valid prefix before the first damage, durably drops everything after it, and reports what was
    /// dropped in [`crate::RecoveryReport::salvage`]. Opt in only when losing acknowledged records is acceptable.
    SalvagePrefix,
}

/// How a log is laid out and when it syncs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Segments are stored under `<key_prefix>/<first LSN, 20 digits>`. Must make valid keys. Default `"wal"`.
    pub key_prefix: String,
    /// A segment is closed (synced) and a new one started before a record would take it past this size. A record
    /// larger than a whole segment gets a segment of its own. Between [`format::SEGMENT_BYTES_MIN`] and
    /// [`format::SEGMENT_BYTES_MAX`]; default [`format::SEGMENT_BYTES_DEFAULT`].
    pub segment_bytes_max: u64,
    /// The largest record payload (a batch counts its encoded payload: 4 bytes, then 4 per operation plus its
    /// bytes). At most [`format::RECORD_BYTES_MAX`]; default [`format::RECORD_BYTES_DEFAULT`].
    pub record_bytes_max: u64,
    /// Framed records are written to the backend once this many bytes are buffered (under
    /// [`SyncPolicy::Manual`] and [`SyncPolicy::Grouped`]). At most [`format::WRITE_BUFFER_BYTES_MAX`]; default
    /// [`format::WRITE_BUFFER_BYTES_DEFAULT`].
    pub write_buffer_bytes_max: u64,
    /// When appends become durable.
    pub sync_policy: SyncPolicy,
    /// What `open` does with damage that is not a torn tail.
    pub recovery_mode: RecoveryMode,
    /// Seeds the per-segment salts, for reproducible tests. `None` (the default) draws a seed from the process's
    /// hashing randomness, a counter and (natively) the time.
    pub salt_seed: Option<u64>,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            key_prefix: "wal".to_owned(),
            segment_bytes_max: format::SEGMENT_BYTES_DEFAULT,
            record_bytes_max: format::RECORD_BYTES_DEFAULT,
            write_buffer_bytes_max: format::WRITE_BUFFER_BYTES_DEFAULT,
            sync_policy: SyncPolicy::default(),
            recovery_mode: RecoveryMode::default(),
            salt_seed: None,
        }
    }
}

impl WalOptions {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), WalError> {
        let invalid = |reason: String| Err(WalError::InvalidOptions { reason });
        if Key::new(format::segment_key_text(&self.key_prefix, u64::MAX)).is_err() {
            return invalid(format!("key_prefix {:?} does not make valid segment keys", self.key_prefix));
        }
        if !(format::SEGMENT_BYTES_MIN..=format::SEGMENT_BYTES_MAX).contains(&self.segment_bytes_max) {
            return invalid(format!(
                "segment_bytes_max {} is outside {}..={}",
                self.segment_bytes_max,
                format::SEGMENT_BYTES_MIN,
                format::SEGMENT_BYTES_MAX
            ));
        }
        if !(1..=format::RECORD_BYTES_MAX).contains(&self.record_bytes_max) {
            return invalid(format!(
                "record_bytes_max {} is outside 1..={}",
                self.record_bytes_max,
                format::RECORD_BYTES_MAX
            ));
        }
        if !(1..=format::WRITE_BUFFER_BYTES_MAX).contains(&self.write_buffer_bytes_max) {
            return invalid(format!(
                "write_buffer_bytes_max {} is outside 1..={}",
                self.write_buffer_bytes_max,
                format::WRITE_BUFFER_BYTES_MAX
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated_at_their_limits() {
        assert!(WalOptions::default().validate().is_ok());
        let with = |change: fn(&mut WalOptions)| {
            let mut options = WalOptions::default();
            change(&mut options);
            options.validate()
        };
        assert!(with(|o| o.segment_bytes_max = format::SEGMENT_BYTES_MIN).is_ok());
        assert!(matches!(
            with(|o| o.segment_bytes_max = format::SEGMENT_BYTES_MIN - 1),
            Err(WalError::InvalidOptions { .. })
        ));
        assert!(with(|o| o.segment_bytes_max = format::SEGMENT_BYTES_MAX).is_ok());
        assert!(matches!(
            with(|o| o.segment_bytes_max = format::SEGMENT_BYTES_MAX + 1),
            Err(WalError::InvalidOptions { .. })
        ));
        assert!(with(|o| o.record_bytes_max = format::RECORD_BYTES_MAX).is_ok());
        assert!(matches!(
            with(|o| o.record_bytes_max = format::RECORD_BYTES_MAX + 1),
            Err(WalError::InvalidOptions { .. })
        ));
        assert!(matches!(with(|o| o.record_bytes_max = 0), Err(WalError::InvalidOptions { .. })));
        assert!(with(|o| o.write_buffer_bytes_max = format::WRITE_BUFFER_BYTES_MAX).is_ok());
        assert!(matches!(
            with(|o| o.write_buffer_bytes_max = format::WRITE_BUFFER_BYTES_MAX + 1),
            Err(WalError::InvalidOptions { .. })
        ));
        assert!(with(|o| o.key_prefix = "db/wal".to_owned()).is_ok());
        assert!(matches!(with(|o| o.key_prefix = "WAL".to_owned()), Err(WalError::InvalidOptions { .. })));
        assert!(matches!(with(|o| o.key_prefix = String::new()), Err(WalError::InvalidOptions { .. })));
        assert!(matches!(with(|o| o.key_prefix = "w".repeat(140)), Err(WalError::InvalidOptions { .. })));
    }
}
