//! [`DbConfig`]: everything that defines a database, stored durably at create and identical after every open.
//!
//! # Where it is stored
//! Twice, in the same encoding: under the key [`CONFIG_KEY`] (written once by `create` with `atomic_write`, before
//! anything else, so a store either has a whole configuration or none), and as the producer configuration of every
//! snapshot. `open` reads the key, and checks that the recovered state carries the same configuration.
//!
//! # Encoding (version 1), all integers little-endian
//! ```text
//! magic                 8 bytes  "VDBCONF\0"
//! format version        u32      1 (see ConfigFormatVersion)
//! dimension             u32
//! metric                u8       0 = L2, 1 = cosine, 2 = dot product
//! m                     u32
//! ef_construction       u32
//! ef_search             u32
//! encoding              u8       0 = f32, 1 = 8-bit trained ranges, 2 = 8-bit fixed range
//!   (encoding 2)        f32 min, f32 max
//! seed                  u64
//! sync policy           u8       0 = every commit, 1 = grouped, 2 = manual
//!   (grouped)           u64 max_delay_ms, u64 max_bytes
//! checkpoint ops max    u8 present (0 or 1), u64 value (0 when absent)
//! checkpoint bytes max  u8 present (0 or 1), u64 value (0 when absent)
//! snapshots retained    u32
//! checksum              u32      CRC-32 (IEEE, as crc32fast computes it) of every byte before it
//! ```
//! The encoding is canonical: decoding rejects anything [`DbConfig::encode`] would not write.

use std::fmt;

use snapshot::{DurableOptions, RETAIN_COUNT_MAX, SnapshotOptions};
use wal::WalOptions;

use crate::codec::{Reader, WriteLe};
use crate::error::VecDbError;
use crate::index::{HnswConfig, Metric, QuantizationRange, VectorEncoding, encoding};

/// The key holding the stored configuration.
pub const CONFIG_KEY: &str = "vecdb/config";
/// First bytes of an encoded configuration.
pub const CONFIG_MAGIC: [u8; 8] = *b"VDBCONF\0";
/// The longest encoded configuration (the actual largest is 91 bytes).
pub const CONFIG_BYTES_MAX: usize = 128;

/// Versions of the configuration encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigFormatVersion {
    /// The format in the module docs.
    V1 = 1,
}

impl ConfigFormatVersion {
    /// The version written by this code.
    pub const CURRENT: Self = Self::V1;
}

/// When a write is durable, and so what its `Ok` means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// Every write returns only once it is durable (written and synced); concurrent writers share one sync (group
    /// commit). The default, and the only policy under which an acknowledged write survives power loss.
    #[default]
    EveryCommit,
    /// Writes return once logged in memory; the first write (or [`crate::Db::sync`]) made when the unsynced log
    /// spans at least `max_bytes`, or its oldest record is at least `max_delay_ms` old, syncs them all. A crash loses
    /// at most that window.
    Grouped {
        /// The longest a logged write waits before the next call syncs it.
        max_delay_ms: u64,
        /// The most unsynced log bytes before the next call syncs them.
        max_bytes: u64,
    },
    /// Writes are durable only after [`crate::Db::sync`], [`crate::Db::checkpoint`] or a clean close.
    Manual,
}

/// When the database checkpoints by itself (writes a snapshot and drops the log below it), besides explicit
/// [`crate::Db::checkpoint`] calls. Recovery replays only the log after the newest snapshot, so these bound how long
/// an open takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// After this many operations since the last checkpoint (`None`: never by count; `Some(0)` is invalid).
    pub operations_max: Option<u64>,
    /// After this many bytes of logged operations since the last checkpoint (`None`: never by size; `Some(0)` is
    /// invalid). Default 64 MiB.
    pub log_bytes_max: Option<u64>,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self { operations_max: None, log_bytes_max: Some(64 << 20) }
    }
}

/// How writes are made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durability {
    /// When a write is durable.
    pub sync_policy: SyncPolicy,
    /// When to checkpoint by itself.
    pub checkpoint: CheckpointPolicy,
    /// How many of the newest snapshots to keep, `1..=RETAIN_COUNT_MAX` (default 2, so a corrupt newest snapshot
    /// falls back to the previous one and the log after it).
    pub snapshots_retained: usize,
}

impl Default for Durability {
    fn default() -> Self {
        Self { sync_policy: SyncPolicy::default(), checkpoint: CheckpointPolicy::default(), snapshots_retained: 2 }
    }
}

/// Everything that defines a database. Every field is stored at create and comes back identical at open.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DbConfig {
    /// The index: dimension, metric, `M`, `ef_construction`, default `ef_search`, vector encoding, level seed.
    pub index: HnswConfig,
    /// How writes are made durable.
    pub durability: Durability,
}

impl DbConfig {
    /// A configuration with the index defaults of [`HnswConfig::new`] (`M = 16`, `ef_construction = 200`,
    /// `ef_search = 64`, `f32`) and the default [`Durability`] (every write durable when it returns).
    pub fn new(dimension: usize, metric: Metric) -> Self {
        Self { index: HnswConfig::new(dimension, metric), durability: Durability::default() }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`VecDbError::LimitExceeded`] or [`VecDbError::InvalidConfig`].
    pub fn validate(&self) -> Result<(), VecDbError> {
        self.index.validate()?;
        let durability = &self.durability;
        if durability.snapshots_retained == 0 {
            return Err(VecDbError::InvalidConfig { reason: "durability.snapshots_retained must be at least 1" });
        }
        if durability.snapshots_retained > RETAIN_COUNT_MAX {
            return Err(VecDbError::LimitExceeded {
                what: "RETAIN_COUNT_MAX",
                value: durability.snapshots_retained as u64,
                limit: RETAIN_COUNT_MAX as u64,
            });
        }
        if durability.checkpoint.operations_max == Some(0) || durability.checkpoint.log_bytes_max == Some(0) {
            return Err(VecDbError::InvalidConfig { reason: "a checkpoint limit of 0 would checkpoint forever" });
        }
        Ok(())
    }

    /// The encoding of the module docs.
    pub fn encode(&self) -> Vec<u8> {
        let narrow = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(CONFIG_BYTES_MAX);
        out.extend_from_slice(&CONFIG_MAGIC);
        out.put_u32(ConfigFormatVersion::CURRENT as u32);
        encoding::write_config(&self.index, &mut out);
        match self.durability.sync_policy {
            SyncPolicy::EveryCommit => out.put_u8(0),
            SyncPolicy::Grouped { max_delay_ms, max_bytes } => {
                out.put_u8(1);
                out.put_u64(max_delay_ms);
                out.put_u64(max_bytes);
            }
            SyncPolicy::Manual => out.put_u8(2),
        }
        for limit in [self.durability.checkpoint.operations_max, self.durability.checkpoint.log_bytes_max] {
            out.put_u8(u8::from(limit.is_some()));
            out.put_u64(limit.unwrap_or(0));
        }
        out.put_u32(narrow(self.durability.snapshots_retained));
        let checksum = storage_core::crc32::hash(&out);
        out.put_u32(checksum);
        out
    }

    /// Decodes and validates a configuration written by [`Self::encode`].
    ///
    /// # Errors
    /// [`VecDbError::Corrupt`] for bytes that are not a canonical encoding of a valid configuration.
    pub fn decode(bytes: &[u8]) -> Result<Self, VecDbError> {
        if bytes.len() > CONFIG_BYTES_MAX {
            return Err(VecDbError::Corrupt { offset: CONFIG_BYTES_MAX, reason: "longer than CONFIG_BYTES_MAX" });
        }
        let Some(body_length) = bytes.len().checked_sub(4) else {
            return Err(VecDbError::Corrupt { offset: 0, reason: "too short for a configuration" });
        };
        let (body, stored) = bytes.split_at(body_length);
        let stored = stored.try_into().map(u32::from_le_bytes).unwrap_or(0);
        if storage_core::crc32::hash(body) != stored {
            return Err(VecDbError::Corrupt { offset: body_length, reason: "configuration checksum mismatch" });
        }
        let mut reader = Reader::new(body);
        if reader.take(CONFIG_MAGIC.len())? != CONFIG_MAGIC {
            return Err(VecDbError::Corrupt { offset: 0, reason: "not a vecdb configuration (bad magic)" });
        }
        if reader.u32()? != ConfigFormatVersion::CURRENT as u32 {
            return Err(VecDbError::Corrupt { offset: 8, reason: "unsupported configuration format version" });
        }
        let index = encoding::read_config_fields(&mut reader)?;
        let sync_policy = match reader.u8()? {
            0 => SyncPolicy::EveryCommit,
            1 => SyncPolicy::Grouped { max_delay_ms: reader.u64()?, max_bytes: reader.u64()? },
            2 => SyncPolicy::Manual,
            _ => return Err(reader.corrupt("unknown sync policy").into()),
        };
        let mut limits = [None, None];
        for limit in &mut limits {
            let present = reader.u8()?;
            let value = reader.u64()?;
            *limit = match (present, value) {
                (0, 0) => None,
                (1, value) => Some(value),
                _ => return Err(reader.corrupt("malformed checkpoint limit").into()),
            };
        }
        let snapshots_retained = reader.u32()? as usize;
        reader.finish()?;
        let [operations_max, log_bytes_max] = limits;
        let config = Self {
            index,
            durability: Durability {
                sync_policy,
                checkpoint: CheckpointPolicy { operations_max, log_bytes_max },
                snapshots_retained,
            },
        };
        config.validate().map_err(|_| VecDbError::Corrupt { offset: 0, reason: "configuration out of its limits" })?;
        Ok(config)
    }

    /// The first field (by its path, e.g. `"index.m"`) whose value differs between `self` (stored) and `other`
    /// (requested), with both values as text; `None` when the two are equal.
    pub fn first_difference(&self, other: &Self) -> Option<(&'static str, String, String)> {
        let (a, b) = (&self.index, &other.index);
        let (stored, requested) = (&self.durability, &other.durability);
        // Every field goes through one `{:?}` (integers print the same with `{:?}` as with `{}`): one code path for
        // ten fields keeps the browser module smaller.
        let fields: [(&'static str, &dyn fmt::Debug, &dyn fmt::Debug); 10] = [
            ("index.dimension", &a.dimension, &b.dimension),
            ("index.metric", &a.metric, &b.metric),
            ("index.m", &a.m, &b.m),
            ("index.ef_construction", &a.ef_construction, &b.ef_construction),
            ("index.ef_search", &a.ef_search, &b.ef_search),
            ("index.encoding", &EncodingText(a.encoding), &EncodingText(b.encoding)),
            ("index.seed", &a.seed, &b.seed),
            ("durability.sync_policy", &stored.sync_policy, &requested.sync_policy),
            ("durability.checkpoint", &stored.checkpoint, &requested.checkpoint),
            ("durability.snapshots_retained", &stored.snapshots_retained, &requested.snapshots_retained),
        ];
        let text = |value: &dyn fmt::Debug| format!("{value:?}");
        // Compare the encodings as well, so a difference the text does not show (the bits of an f32) is caught.
        let differs = self.encode() != other.encode();
        fields
            .into_iter()
            .map(|(field, stored, requested)| (field, text(stored), text(requested)))
            .find(|(_, stored, requested)| stored != requested)
            .or_else(|| {
                differs.then(|| ("index.encoding", text(&EncodingText(a.encoding)), text(&EncodingText(b.encoding))))
            })
    }

    /// The options of the durable layer: the log with every record size the database can write, the sync policy,
    /// snapshot retention and automatic checkpoints.
    pub(crate) fn durable_options(&self) -> DurableOptions {
        let sync_policy = match self.durability.sync_policy {
            SyncPolicy::EveryCommit => wal::SyncPolicy::EveryCommit,
            SyncPolicy::Grouped { max_delay_ms, max_bytes } => wal::SyncPolicy::Grouped { max_delay_ms, max_bytes },
            SyncPolicy::Manual => wal::SyncPolicy::Manual,
        };
        DurableOptions {
            wal: WalOptions { record_bytes_max: wal::format::RECORD_BYTES_MAX, sync_policy, ..WalOptions::default() },
            snapshot: SnapshotOptions { retain_count: self.durability.snapshots_retained },
            checkpoint: snapshot::CheckpointPolicy {
                operations_max: self.durability.checkpoint.operations_max,
                log_bytes_max: self.durability.checkpoint.log_bytes_max,
            },
        }
    }
}

/// A [`VectorEncoding`] as its derived `Debug` prints it, but with the floats of a fixed range printed by
/// [`f32_text`]: Rust's float printing (about 20 KB) stays out of the browser module.
struct EncodingText(VectorEncoding);

impl fmt::Debug for EncodingText {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            VectorEncoding::F32 => formatter.write_str("F32"),
            VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained } => {
                formatter.write_str("ScalarQuantized8 { range: Trained }")
            }
            VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min, max } } => write!(
                formatter,
                "ScalarQuantized8 {{ range: Fixed {{ min: {}, max: {} }} }}",
                f32_text(min),
                f32_text(max)
            ),
            // `VectorEncoding` is non-exhaustive (it lives in vecdb-index); every encoding it has is named above.
            _ => formatter.write_str("another encoding"),
        }
    }
}

/// An `f32` as text without Rust's float printing: an integer of magnitude up to 2^24 as `{:?}` prints it (`7.0`,
/// `-0.0`: below 2^24 the integer's digits are the shortest that read back as it), any other value as its IEEE 754
/// bits (`f32 bits 0xc0200000` for -2.5).
fn f32_text(value: f32) -> String {
    // 2^24: up to it, every integer is an f32 and its digits are the shortest text of it.
    const INTEGER_LIMIT: f32 = 16_777_216.0;
    if value == 0.0 && value.is_sign_negative() {
        String::from("-0.0")
    } else if value.fract() == 0.0 && value.abs() <= INTEGER_LIMIT {
        format!("{}.0", value as i32)
    } else {
        format!("f32 bits {:#010x}", value.to_bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<DbConfig> {
        let mut configs = Vec::new();
        for metric in [Metric::L2, Metric::Cosine, Metric::DotProduct] {
            for encoding in [
                VectorEncoding::F32,
                VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained },
                VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min: -2.5, max: 7.0 } },
            ] {
                for sync_policy in [
                    SyncPolicy::EveryCommit,
                    SyncPolicy::Grouped { max_delay_ms: 5, max_bytes: 1 << 20 },
                    SyncPolicy::Manual,
                ] {
                    let mut config = DbConfig::new(17, metric);
                    config.index.encoding = encoding;
                    config.index.m = 7;
                    config.index.ef_construction = 33;
                    config.index.ef_search = 21;
                    config.index.seed = 99;
                    config.durability.sync_policy = sync_policy;
                    config.durability.checkpoint = CheckpointPolicy { operations_max: Some(1000), log_bytes_max: None };
                    config.durability.snapshots_retained = RETAIN_COUNT_MAX;
                    configs.push(config);
                }
            }
        }
        configs
    }

    #[test]
    fn every_configuration_round_trips_through_its_encoding() {
        for config in every_variant() {
            let bytes = config.encode();
            assert!(bytes.len() <= CONFIG_BYTES_MAX, "{} bytes", bytes.len());
            assert_eq!(DbConfig::decode(&bytes).unwrap(), config);
            assert_eq!(config.first_difference(&config), None);
        }
    }

    #[test]
    fn damaged_configurations_are_rejected_with_a_typed_error() {
        let bytes = DbConfig::new(8, Metric::L2).encode();
        for offset in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[offset] ^= 0x10;
            assert!(matches!(DbConfig::decode(&flipped), Err(VecDbError::Corrupt { .. })), "byte {offset}");
        }
        for length in 0..bytes.len() {
            assert!(matches!(DbConfig::decode(&bytes[..length]), Err(VecDbError::Corrupt { .. })));
        }
        assert!(DbConfig::decode(&[0; CONFIG_BYTES_MAX + 1]).is_err());
    }

    #[test]
    fn the_first_difference_names_the_field() {
        let stored = DbConfig::new(8, Metric::L2);
        let mut requested = stored;
        requested.index.ef_search = 99;
        assert_eq!(stored.first_difference(&requested), Some(("index.ef_search", "64".to_owned(), "99".to_owned())));
        let mut requested = stored;
        requested.durability.snapshots_retained = 3;
        assert!(matches!(stored.first_difference(&requested), Some(("durability.snapshots_retained", _, _))));
    }

    /// `first_difference` as it was written before it formatted every field through `&dyn Debug` (but for the
    /// floats of a fixed range that are not integers, which it shows by their bits).
    fn first_difference_reference(stored: &DbConfig, other: &DbConfig) -> Option<(&'static str, String, String)> {
        let (a, b) = (&stored.index, &other.index);
        let fields: [(&'static str, String, String); 10] = [
            ("index.dimension", a.dimension.to_string(), b.dimension.to_string()),
            ("index.metric", format!("{:?}", a.metric), format!("{:?}", b.metric)),
            ("index.m", a.m.to_string(), b.m.to_string()),
            ("index.ef_construction", a.ef_construction.to_string(), b.ef_construction.to_string()),
            ("index.ef_search", a.ef_search.to_string(), b.ef_search.to_string()),
            ("index.encoding", encoding_reference(a.encoding), encoding_reference(b.encoding)),
            ("index.seed", a.seed.to_string(), b.seed.to_string()),
            (
                "durability.sync_policy",
                format!("{:?}", stored.durability.sync_policy),
                format!("{:?}", other.durability.sync_policy),
            ),
            (
                "durability.checkpoint",
                format!("{:?}", stored.durability.checkpoint),
                format!("{:?}", other.durability.checkpoint),
            ),
            (
                "durability.snapshots_retained",
                stored.durability.snapshots_retained.to_string(),
                other.durability.snapshots_retained.to_string(),
            ),
        ];
        let differs = stored.encode() != other.encode();
        fields.into_iter().find(|(_, stored, requested)| stored != requested).or_else(|| {
            differs.then(|| ("index.encoding", encoding_reference(a.encoding), encoding_reference(b.encoding)))
        })
    }

    /// The derived `Debug` of `encoding`, with each bound that is not an integer up to 2^24 shown by its bits.
    fn encoding_reference(encoding: VectorEncoding) -> String {
        let mut text = format!("{encoding:?}");
        if let VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min, max } } = encoding {
            for (name, value) in [("min", min), ("max", max)] {
                if !(value.fract() == 0.0 && value.abs() <= 16_777_216.0) {
                    text = text
                        .replace(&format!("{name}: {value:?}"), &format!("{name}: f32 bits {:#010x}", value.to_bits()));
                }
            }
        }
        text
    }

    #[test]
    fn floats_print_as_debug_does_or_as_their_bits() {
        let integers = [0.0, -0.0, 1.0, -1.0, 7.0, 255.0, -1000.0, 16_777_215.0, 16_777_216.0, -16_777_216.0];
        for value in integers {
            assert_eq!(f32_text(value), format!("{value:?}"));
        }
        assert_eq!(f32_text(-2.5), "f32 bits 0xc0200000");
        assert_eq!(f32_text(16_777_218.0), "f32 bits 0x4b800001");
        assert_eq!(f32_text(1e-7), format!("f32 bits {:#010x}", 1e-7_f32.to_bits()));
        assert_eq!(f32_text(f32::NAN), format!("f32 bits {:#010x}", f32::NAN.to_bits()));
        let stored = DbConfig::new(8, Metric::L2);
        let mut requested = stored;
        requested.index.encoding =
            VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min: -1.0, max: 0.5 } };
        assert_eq!(
            stored.first_difference(&requested),
            Some((
                "index.encoding",
                "F32".to_owned(),
                "ScalarQuantized8 { range: Fixed { min: -1.0, max: f32 bits 0x3f000000 } }".to_owned()
            ))
        );
    }

    #[test]
    fn the_first_difference_is_the_same_text_as_before() {
        let mut configs = every_variant();
        let mut changed = DbConfig::new(4096, Metric::Cosine);
        changed.index.seed = u64::MAX;
        changed.index.encoding =
            VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min: -0.0, max: 1e-7 } };
        configs.push(changed);
        let mut negative_zero = changed;
        negative_zero.index.encoding =
            VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min: 0.0, max: 1e-7 } };
        configs.push(negative_zero);
        configs.push(DbConfig::new(8, Metric::L2));
        for stored in &configs {
            for requested in &configs {
                assert_eq!(stored.first_difference(requested), first_difference_reference(stored, requested));
            }
        }
    }

    #[test]
    fn durability_options_are_validated() {
        let mut config = DbConfig::new(8, Metric::L2);
        config.durability.snapshots_retained = 0;
        assert!(matches!(config.validate(), Err(VecDbError::InvalidConfig { .. })));
        config.durability.snapshots_retained = RETAIN_COUNT_MAX + 1;
        assert!(matches!(config.validate(), Err(VecDbError::LimitExceeded { what: "RETAIN_COUNT_MAX", .. })));
        config.durability.snapshots_retained = 1;
        config.durability.checkpoint.operations_max = Some(0);
        assert!(matches!(config.validate(), Err(VecDbError::InvalidConfig { .. })));
    }
}
