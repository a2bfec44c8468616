//! Format fixture: a committed v1 snapshot must keep loading to the same state, and today's writer must produce
//! the same bytes (otherwise it is a format change: bump the version and keep the old fixture readable).
//! Regenerate with `UPDATE_EXPECT=1 cargo test -p snapshot --test fixtures`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use snapshot::testing::VectorState;
use snapshot::{Snapshot, decode_snapshot, encode_snapshot};

#[test]
fn the_v1_snapshot_fixture_loads_and_todays_writer_writes_the_same_bytes() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/vectors-lsn-7.snapshot");
    let mut state = VectorState::new(3);
    for id in [1u64, 5, 9, 1000] {
        state.vectors.insert(id, vec![id as f32, -0.5, 1.0e-3 * id as f32]);
    }
    let generated = encode_snapshot(&state, 7).unwrap();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read(&path).unwrap();
    assert!(committed == generated, "today's writer writes different bytes from the committed v1 snapshot");
    let (loaded, lsn, digest) = decode_snapshot::<VectorState>(&committed).unwrap();
    assert_eq!((loaded.clone(), lsn), (state, 7));
    assert_eq!(digest, loaded.digest());
}
