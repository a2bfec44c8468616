//! The snapshot file format, as plain code over bytes (see docs/snapshot.md for the byte-by-byte spec).
//!
//! ```text
//! [header: 64 bytes][section payloads ...][section table: 32 bytes per section]
//! ```
//! The header names the LSN the state covers, the state's digest and where the table is; every section and table
//! entry is checksummed. Writing goes into one buffer ([`SnapshotWriter`]), so a save holds one copy of the
//! encoded state; reading ([`SnapshotReader::parse`]) validates everything before any section is handed out.

use crate::error::SnapshotError;

/// The first eight bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"VDBSNAP\0";
/// Header size in bytes.
pub const HEADER_BYTES: usize = 64;
/// One section-table entry, in bytes.
pub const TABLE_ENTRY_BYTES: usize = 32;
/// The most sections one snapshot may hold.
pub const SECTIONS_MAX: u32 = 64;
/// The largest snapshot we write or read: 16 GiB (bounds allocations from a corrupted header).
pub const SNAPSHOT_BYTES_MAX: u64 = 16 << 30;
/// The section every snapshot carries: the producer's name and configuration.
pub const PRODUCER_SECTION_TAG: u32 = 0;
/// The longest producer name.
pub const PRODUCER_NAME_BYTES_MAX: usize = 64;

const _: () = assert!(HEADER_BYTES as u64 + SECTIONS_MAX as u64 * TABLE_ENTRY_BYTES as u64 <= SNAPSHOT_BYTES_MAX);

/// Snapshot format versions this code reads. Writing always uses [`FormatVersion::CURRENT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatVersion {
    /// The first format (this file's layout).
    V1 = 1,
}

impl FormatVersion {
    /// The version new snapshots are written in.
    pub const CURRENT: Self = Self::V1;

    fn from_u16(value: u16) -> Option<Self> {
        match value {
            1 => Some(Self::V1),
            _ => None,
        }
    }
}

/// A 128-bit digest of a whole state (a "state root"): xxh3-128 over per-part digests, computed by the state from its
/// logical content. Recovery recomputes it from the loaded state and compares it with the stored one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct StateDigest(pub u128);

impl std::fmt::Display for StateDigest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{:032x}", self.0)
    }
}

/// Builds a [`StateDigest`] as a two-level tree: each part (say, one section's logical content) is hashed on its own
/// ([`DigestBuilder::part`]), and the root hashes the ordered list of (tag, part digest).
#[derive(Default)]
pub struct DigestBuilder {
    parts: Vec<u8>,
}

impl DigestBuilder {
    /// A builder with no parts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a part whose bytes are already at hand.
    pub fn part(&mut self, tag: u32, bytes: &[u8]) -> &mut Self {
        self.part_digest(tag, xxhash_rust::xxh3::xxh3_128(bytes))
    }

    /// Adds a part hashed elsewhere (streamed with [`PartHasher`]).
    pub fn part_digest(&mut self, tag: u32, digest: u128) -> &mut Self {
        self.parts.extend_from_slice(&tag.to_le_bytes());
        self.parts.extend_from_slice(&digest.to_le_bytes());
        self
    }

    /// The root.
    pub fn finish(&self) -> StateDigest {
        StateDigest(xxhash_rust::xxh3::xxh3_128(&self.parts))
    }
}

/// Streams one part's bytes into a digest without gathering them first.
pub struct PartHasher(xxhash_rust::xxh3::Xxh3);

impl Default for PartHasher {
    fn default() -> Self {
        Self(xxhash_rust::xxh3::Xxh3::new())
    }
}

impl PartHasher {
    /// An empty hasher.
    pub fn new() -> Self {
        Self::default()
    }
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    /// The part's digest.
    pub fn finish(&self) -> u128 {
        self.0.digest128()
    }
}

/// What the header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The format the file is in.
    pub format_version: FormatVersion,
    /// The last LSN whose effect the state includes.
    pub lsn: u64,
    /// The whole file's length.
    pub total_bytes: u64,
    /// The state's digest.
    pub state_digest: StateDigest,
    /// How many sections the table lists.
    pub section_count: u32,
}

/// One section as the table lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    /// The producer's tag for the section (`PRODUCER_SECTION_TAG` is reserved).
    pub tag: u32,
    /// Byte offset of the payload in the file.
    pub offset: u64,
    /// Payload length.
    pub length: u64,
    /// CRC32 of the payload.
    pub crc32: u32,
}

/// Writes a snapshot into one buffer: header placeholder, then sections, then the table; [`Self::finish`] fills in
/// checksums and the header. Reserve the expected size up front ([`Self::with_capacity`]) so the buffer never
/// reallocates (a reallocation briefly holds two copies).
pub struct SnapshotWriter {
    buffer: Vec<u8>,
    sections: Vec<SectionEntry>,
    open_section: Option<(u32, usize)>,
}

impl SnapshotWriter {
    /// A writer whose buffer holds `payload_bytes` of sections without reallocating.
    pub fn with_capacity(payload_bytes: usize) -> Self {
        let capacity = payload_bytes
            .saturating_add(HEADER_BYTES)
            .saturating_add(SECTIONS_MAX as usize * TABLE_ENTRY_BYTES)
            .saturating_add(PRODUCER_NAME_BYTES_MAX + 64);
        let mut buffer = Vec::with_capacity(capacity);
        buffer.resize(HEADER_BYTES, 0);
        Self { buffer, sections: Vec::new(), open_section: None }
    }

    /// Starts a section: bytes written through [`Self::buffer`] until [`Self::end_section`] belong to it.
    pub fn begin_section(&mut self, tag: u32) -> Result<(), SnapshotError> {
        if self.open_section.is_some() {
            return Err(SnapshotError::Encode { reason: "a section is already open".to_owned() });
        }
        if self.sections.len() >= SECTIONS_MAX as usize {
            return Err(SnapshotError::Encode { reason: format!("more than {SECTIONS_MAX} sections") });
        }
        if self.sections.iter().any(|section| section.tag == tag) {
            return Err(SnapshotError::Encode { reason: format!("section tag {tag} written twice") });
        }
        self.open_section = Some((tag, self.buffer.len()));
        Ok(())
    }

    /// The buffer to append the open section's bytes to.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    /// Closes the open section.
    pub fn end_section(&mut self) -> Result<(), SnapshotError> {
        let (tag, start) = self
            .open_section
            .take()
            .ok_or_else(|| SnapshotError::Encode { reason: "no section is open".to_owned() })?;
        let payload = self.buffer.get(start..).unwrap_or_default();
        self.sections.push(SectionEntry {
            tag,
            offset: start as u64,
            length: payload.len() as u64,
            crc32: storage_core::crc32::hash(payload),
        });
        Ok(())
    }

    /// Writes a whole section from `bytes`.
    pub fn section(&mut self, tag: u32, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.begin_section(tag)?;
        self.buffer.extend_from_slice(bytes);
        self.end_section()
    }

    /// Appends the table, fills in the header, and returns the finished file.
    pub fn finish(mut self, lsn: u64, state_digest: StateDigest) -> Result<Vec<u8>, SnapshotError> {
        if self.open_section.is_some() {
            return Err(SnapshotError::Encode { reason: "a section was left open".to_owned() });
        }
        let table_offset = self.buffer.len() as u64;
        for section in &self.sections {
            let mut entry = [0u8; TABLE_ENTRY_BYTES];
            put(&mut entry, 0, &section.tag.to_le_bytes());
            put(&mut entry, 4, &section.crc32.to_le_bytes());
            put(&mut entry, 8, &section.offset.to_le_bytes());
            put(&mut entry, 16, &section.length.to_le_bytes());
            let entry_crc = storage_core::crc32::hash(entry.get(..28).unwrap_or_default());
            put(&mut entry, 28, &entry_crc.to_le_bytes());
            self.buffer.extend_from_slice(&entry);
        }
        let total_bytes = self.buffer.len() as u64;
        if total_bytes > SNAPSHOT_BYTES_MAX {
            return Err(SnapshotError::TooLarge { size_bytes: total_bytes, limit_bytes: SNAPSHOT_BYTES_MAX });
        }
        let mut header = [0u8; HEADER_BYTES];
        put(&mut header, 0, &MAGIC);
        put(&mut header, 8, &(FormatVersion::CURRENT as u16).to_le_bytes());
        put(&mut header, 12, &(self.sections.len() as u32).to_le_bytes());
        put(&mut header, 16, &lsn.to_le_bytes());
        put(&mut header, 24, &total_bytes.to_le_bytes());
        put(&mut header, 32, &table_offset.to_le_bytes());
        put(&mut header, 40, &state_digest.0.to_le_bytes());
        let header_crc = storage_core::crc32::hash(header.get(..60).unwrap_or_default());
        put(&mut header, 60, &header_crc.to_le_bytes());
        put(&mut self.buffer, 0, &header);
        Ok(self.buffer)
    }
}

fn put(target: &mut [u8], offset: usize, bytes: &[u8]) {
    if let Some(slot) = target.get_mut(offset..offset + bytes.len()) {
        slot.copy_from_slice(bytes);
    }
}

fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    bytes.get(offset..offset + 2).and_then(|slice| slice.try_into().ok()).map(u16::from_le_bytes).unwrap_or(0)
}
fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    bytes.get(offset..offset + 4).and_then(|slice| slice.try_into().ok()).map(u32::from_le_bytes).unwrap_or(0)
}
fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    bytes.get(offset..offset + 8).and_then(|slice| slice.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
}
fn u128_at(bytes: &[u8], offset: usize) -> u128 {
    bytes.get(offset..offset + 16).and_then(|slice| slice.try_into().ok()).map(u128::from_le_bytes).unwrap_or(0)
}

/// Reads just the header, for listings (`verify`, `info`) that must not load the state. Validates magic, version
/// and the header checksum.
pub fn parse_header(bytes: &[u8]) -> Result<SnapshotHeader, SnapshotError> {
    let corrupted = |offset: u64, reason: String| SnapshotError::Corrupted { key: String::new(), offset, reason };
    let header = bytes
        .get(..HEADER_BYTES)
        .ok_or_else(|| corrupted(0, format!("{} bytes is shorter than the {HEADER_BYTES}-byte header", bytes.len())))?;
    if header.get(..8) != Some(&MAGIC[..]) {
        return Err(corrupted(0, "bad magic: not a snapshot".to_owned()));
    }
    let stored_crc = u32_at(header, 60);
    let computed_crc = storage_core::crc32::hash(header.get(..60).unwrap_or_default());
    if stored_crc != computed_crc {
        return Err(corrupted(60, format!("header checksum {stored_crc:#010x}, computed {computed_crc:#010x}")));
    }
    let version = u16_at(header, 8);
    let format_version =
        FormatVersion::from_u16(version).ok_or(SnapshotError::UnsupportedVersion { found: version })?;
    Ok(SnapshotHeader {
        format_version,
        lsn: u64_at(header, 16),
        total_bytes: u64_at(header, 24),
        state_digest: StateDigest(u128_at(header, 40)),
        section_count: u32_at(header, 12),
    })
}

/// A parsed, fully validated snapshot: every checksum matched. Sections borrow from the file's bytes.
pub struct SnapshotReader<'bytes> {
    bytes: &'bytes [u8],
    header: SnapshotHeader,
    sections: Vec<SectionEntry>,
}

impl<'bytes> SnapshotReader<'bytes> {
    /// Validates `bytes` as a whole snapshot: header, table entries, every section's checksum, bounds.
    pub fn parse(bytes: &'bytes [u8]) -> Result<Self, SnapshotError> {
        let corrupted = |offset: u64, reason: String| SnapshotError::Corrupted { key: String::new(), offset, reason };
        let header = parse_header(bytes)?;
        if header.total_bytes != bytes.len() as u64 {
            return Err(corrupted(
                24,
                format!("header says {} bytes, the value holds {}", header.total_bytes, bytes.len()),
            ));
        }
        if header.section_count > SECTIONS_MAX {
            return Err(corrupted(12, format!("{} sections; the limit is {SECTIONS_MAX}", header.section_count)));
        }
        let table_offset = u64_at(bytes, 32);
        let table_bytes = u64::from(header.section_count) * TABLE_ENTRY_BYTES as u64;
        if table_offset < HEADER_BYTES as u64 || table_offset.checked_add(table_bytes) != Some(header.total_bytes) {
            return Err(corrupted(32, format!("section table at {table_offset} does not end the file")));
        }
        let mut sections = Vec::with_capacity(header.section_count as usize);
        for index in 0..header.section_count as usize {
            let entry_offset = table_offset as usize + index * TABLE_ENTRY_BYTES;
            let entry = bytes.get(entry_offset..entry_offset + TABLE_ENTRY_BYTES).unwrap_or_default();
            let stored = u32_at(entry, 28);
            if storage_core::crc32::hash(entry.get(..28).unwrap_or_default()) != stored {
                return Err(corrupted(entry_offset as u64, format!("section table entry {index}: bad checksum")));
            }
            let section = SectionEntry {
                tag: u32_at(entry, 0),
                crc32: u32_at(entry, 4),
                offset: u64_at(entry, 8),
                length: u64_at(entry, 16),
            };
            let end = section.offset.checked_add(section.length);
            if section.offset < HEADER_BYTES as u64 || end.is_none_or(|end| end > table_offset) {
                return Err(corrupted(entry_offset as u64, format!("section {index} lies outside the payload area")));
            }
            if sections.iter().any(|other: &SectionEntry| other.tag == section.tag) {
                return Err(corrupted(entry_offset as u64, format!("section tag {} appears twice", section.tag)));
            }
            let payload = bytes.get(section.offset as usize..(section.offset + section.length) as usize);
            let computed = storage_core::crc32::hash(payload.unwrap_or_default());
            if computed != section.crc32 {
                return Err(corrupted(
                    section.offset,
                    format!("section tag {} checksum {:#010x}, computed {computed:#010x}", section.tag, section.crc32),
                ));
            }
            sections.push(section);
        }
        Ok(Self { bytes, header, sections })
    }

    /// The header.
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    /// The table.
    pub fn sections(&self) -> &[SectionEntry] {
        &self.sections
    }

    /// The payload of the section tagged `tag`, or a typed error naming it.
    pub fn section(&self, tag: u32) -> Result<&'bytes [u8], SnapshotError> {
        let entry =
            self.sections.iter().find(|section| section.tag == tag).ok_or(SnapshotError::MissingSection { tag })?;
        self.bytes
            .get(entry.offset as usize..(entry.offset + entry.length) as usize)
            .ok_or(SnapshotError::MissingSection { tag })
    }
}

/// Encodes the producer section: name, then the producer's configuration bytes.
pub fn encode_producer(name: &str, configuration: &[u8], out: &mut Vec<u8>) -> Result<(), SnapshotError> {
    if name.len() > PRODUCER_NAME_BYTES_MAX {
        return Err(SnapshotError::Encode { reason: format!("producer name longer than {PRODUCER_NAME_BYTES_MAX}") });
    }
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(configuration);
    Ok(())
}

/// Splits the producer section into (name, configuration bytes).
pub fn decode_producer(section: &[u8]) -> Result<(&str, &[u8]), SnapshotError> {
    let corrupted = |reason: &str| SnapshotError::Corrupted {
        key: String::new(),
        offset: 0,
        reason: format!("producer section: {reason}"),
    };
    let (&length, rest) = section.split_first().ok_or_else(|| corrupted("empty"))?;
    let name = rest.get(..usize::from(length)).ok_or_else(|| corrupted("name runs past the section"))?;
    let name = std::str::from_utf8(name).map_err(|_| corrupted("name is not UTF-8"))?;
    Ok((name, rest.get(usize::from(length)..).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut writer = SnapshotWriter::with_capacity(64);
        let mut producer = Vec::new();
        encode_producer("test", b"dimension=3", &mut producer).unwrap();
        writer.section(PRODUCER_SECTION_TAG, &producer).unwrap();
        writer.section(7, b"seven").unwrap();
        writer.begin_section(9).unwrap();
        writer.buffer().extend_from_slice(b"nine, streamed");
        writer.end_section().unwrap();
        writer.finish(42, StateDigest(0xfeed)).unwrap()
    }

    #[test]
    fn a_written_snapshot_parses_back_with_its_sections() {
        let bytes = sample();
        let reader = SnapshotReader::parse(&bytes).unwrap();
        assert_eq!(reader.header().lsn, 42);
        assert_eq!(reader.header().state_digest, StateDigest(0xfeed));
        assert_eq!(reader.header().format_version, FormatVersion::V1);
        assert_eq!(reader.section(7).unwrap(), b"seven");
        assert_eq!(reader.section(9).unwrap(), b"nine, streamed");
        let (name, configuration) = decode_producer(reader.section(PRODUCER_SECTION_TAG).unwrap()).unwrap();
        assert_eq!((name, configuration), ("test", &b"dimension=3"[..]));
        assert!(matches!(reader.section(8), Err(SnapshotError::MissingSection { tag: 8 })));
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let bytes = sample();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(SnapshotReader::parse(&flipped).is_err(), "bit {bit} flipped went unnoticed");
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let bytes = sample();
        for length in 0..bytes.len() {
            assert!(SnapshotReader::parse(&bytes[..length]).is_err(), "truncation to {length} went unnoticed");
        }
    }

    #[test]
    fn writer_misuse_is_a_typed_error() {
        let mut writer = SnapshotWriter::with_capacity(0);
        writer.section(1, b"a").unwrap();
        assert!(matches!(writer.section(1, b"b"), Err(SnapshotError::Encode { .. })));
        assert!(matches!(writer.end_section(), Err(SnapshotError::Encode { .. })));
        writer.begin_section(2).unwrap();
        assert!(matches!(writer.begin_section(3), Err(SnapshotError::Encode { .. })));
        assert!(matches!(writer.finish(1, StateDigest(0)), Err(SnapshotError::Encode { .. })));
    }

    #[test]
    fn the_section_limit_is_enforced_at_the_limit() {
        let mut writer = SnapshotWriter::with_capacity(0);
        for tag in 0..SECTIONS_MAX {
            writer.section(tag, &[tag as u8]).unwrap();
        }
        assert!(matches!(writer.section(SECTIONS_MAX, b"x"), Err(SnapshotError::Encode { .. })));
        let bytes = writer.finish(1, StateDigest(1)).unwrap();
        assert_eq!(SnapshotReader::parse(&bytes).unwrap().sections().len(), SECTIONS_MAX as usize);
    }

    #[test]
    fn an_unknown_format_version_is_a_typed_error() {
        let mut bytes = sample();
        bytes[8] = 2;
        let crc = crc32fast::hash(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(SnapshotReader::parse(&bytes), Err(SnapshotError::UnsupportedVersion { found: 2 })));
    }

    #[test]
    fn the_writer_never_reallocates_when_the_hint_is_right() {
        let payload_bytes = 1 << 20;
        let mut writer = SnapshotWriter::with_capacity(payload_bytes);
        let capacity = writer.buffer().capacity();
        writer.section(1, &vec![3u8; payload_bytes]).unwrap();
        let bytes = writer.finish(9, StateDigest(9)).unwrap();
        assert_eq!(bytes.capacity(), capacity, "the buffer grew: a save would have held two copies");
    }
}
