//! Behaviour of the HNSW index: recall against exact search, tombstones, filters, encoding, bad input, limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use proptest::prelude::*;
use vecdb::index::{DIMENSION_MAX, EF_MAX, IndexError, K_MAX, M_MAX};
use vecdb::{HnswConfig, HnswIndex, Metric, QuantizationRange, VectorEncoding};

const DIMENSION: usize = 32;
const METRICS: [Metric; 3] = [Metric::L2, Metric::Cosine, Metric::DotProduct];

fn encodings() -> [VectorEncoding; 3] {
    [
        VectorEncoding::F32,
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained },
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min: -8.0, max: 8.0 } },
    ]
}

fn config(metric: Metric, encoding: VectorEncoding) -> HnswConfig {
    let mut config = HnswConfig::new(DIMENSION, metric);
    // Small parameters keep debug-build tests fast; recall stays well above 0.95 on these sizes.
    config.m = 12;
    config.ef_construction = 64;
    config.encoding = encoding;
    config
}

fn build(config: HnswConfig, vectors: &[f32]) -> HnswIndex {
    let mut index = HnswIndex::new(config).unwrap();
    for (id, row) in vectors.chunks_exact(config.dimension).enumerate() {
        index.insert(id as u64 * 10, row).unwrap();
    }
    index
}

fn rows(vectors: &[f32]) -> std::slice::ChunksExact<'_, f32> {
    vectors.chunks_exact(DIMENSION)
}

fn mean_recall(index: &HnswIndex, queries: &[f32], ef: usize, filter: Option<&dyn Fn(u32) -> bool>) -> f64 {
    let mut total = 0.0;
    for query in rows(queries) {
        let found = index.search(query, 10, Some(ef), filter).unwrap();
        let truth = index.exact_search(query, 10, filter).unwrap();
        total += support::recall(&found, &truth);
    }
    total / (queries.len() / DIMENSION) as f64
}

#[test]
fn recall_at_10_is_at_least_0_95_at_ef_64_for_every_metric() {
    let data = support::clustered(3_000, DIMENSION, 30, 1);
    let queries = support::clustered(50, DIMENSION, 30, 1_000_001);
    for metric in METRICS {
        let index = build(config(metric, VectorEncoding::F32), &data);
        let recall = mean_recall(&index, &queries, 64, None);
        eprintln!("{metric:?}: recall@10 {recall}");
        assert!(recall >= 0.95, "{metric:?}: recall@10 {recall}");
    }
}

#[test]
fn quantized_recall_at_10_is_at_least_0_95_at_ef_64_for_both_ranges() {
    let data = support::clustered(1_500, DIMENSION, 20, 22);
    let queries = support::clustered(50, DIMENSION, 20, 1_000_022);
    for encoding in &encodings()[1..] {
        let index = build(config(Metric::Cosine, *encoding), &data);
        let recall = mean_recall(&index, &queries, 64, None);
        eprintln!("{encoding:?}: recall@10 {recall}");
        assert!(recall >= 0.95, "{encoding:?}: recall@10 {recall}");
    }
}

#[test]
fn results_are_sorted_closest_first_with_exact_distances() {
    let data = support::clustered(500, DIMENSION, 10, 2);
    for metric in METRICS {
        let index =
            build(config(metric, VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained }), &data);
        let query = &data[..DIMENSION];
        let found = index.search(query, 20, None, None).unwrap();
        assert_eq!(found.len(), 20);
        assert!(found.windows(2).all(|pair| pair[0].1 <= pair[1].1), "{metric:?}: {found:?}");
        // Distances are f32 distances to the stored vectors, even with quantized traversal.
        let exact = index.exact_search(query, 20, None).unwrap();
        for (id, distance) in &found {
            if let Some((_, expected)) = exact.iter().find(|(other, _)| other == id) {
                assert_eq!(distance, expected);
            }
        }
        assert_eq!(found[0].0, 0, "{metric:?}: the query itself is the nearest");
    }
}

#[test]
fn tombstoned_ids_are_never_returned() {
    let data = support::clustered(600, DIMENSION, 10, 3);
    let queries = support::clustered(20, DIMENSION, 10, 4);
    for metric in METRICS {
        let mut index = build(config(metric, VectorEncoding::F32), &data);
        let deleted: Vec<u64> = (0..600).filter(|i| i % 3 != 0).map(|i| i * 10).collect();
        for &id in &deleted {
            index.mark_deleted(id).unwrap();
        }
        assert_eq!(index.len(), 200);
        assert_eq!(index.deleted_count(), 400);
        for query in rows(&queries) {
            let found = index.search(query, 50, Some(64), None).unwrap();
            assert_eq!(found.len(), 50, "{metric:?}: k results while enough live vectors remain");
            assert!(found.iter().all(|(id, _)| id % 30 == 0), "{metric:?}: {found:?}");
            let exact = index.exact_search(query, 50, None).unwrap();
            assert!(exact.iter().all(|(id, _)| id % 30 == 0));
        }
        // Deleting everything leaves nothing to find, without error.
        for id in index.ids().collect::<Vec<_>>() {
            index.mark_deleted(id).unwrap();
        }
        assert!(index.is_empty());
        assert!(index.search(&queries[..DIMENSION], 5, None, None).unwrap().is_empty());
    }
}

#[test]
fn delete_and_reinsert_an_id_replaces_its_vector() {
    let data = support::clustered(200, DIMENSION, 5, 5);
    let mut index = build(config(Metric::L2, VectorEncoding::F32), &data);
    assert!(matches!(index.insert(0, &data[..DIMENSION]), Err(IndexError::DuplicateId { id: 0 })));
    assert!(matches!(index.mark_deleted(7), Err(IndexError::UnknownId { id: 7 })));
    index.mark_deleted(0).unwrap();
    assert!(index.is_deleted(0) && !index.contains(0));
    assert!(matches!(index.mark_deleted(0), Err(IndexError::UnknownId { id: 0 })));
    let replacement = vec![100.0; DIMENSION];
    index.insert(0, &replacement).unwrap();
    assert!(index.contains(0) && !index.is_deleted(0));
    assert_eq!(index.vector(0).unwrap(), &replacement[..]);
    assert_eq!(index.len(), 200);
    assert_eq!(index.node_count(), 201);
    let found = index.search(&replacement, 1, None, None).unwrap();
    assert_eq!(found, vec![(0, 0.0)]);
    let old = index.search(&data[..DIMENSION], 3, None, None).unwrap();
    assert!(old.iter().all(|(id, distance)| *id != 0 || *distance > 1.0), "the old vector is gone: {old:?}");
}

/// A filter over ids: `id / 10 % modulus == remainder` (ids are `row * 10`).
fn id_filter(index: &HnswIndex, modulus: u64, remainder: u64) -> impl Fn(u32) -> bool + '_ {
    move |node| index.external_id(node).is_some_and(|id| id / 10 % modulus == remainder)
}

#[test]
fn filtered_search_returns_only_matches_and_k_results_even_at_1_percent() {
    let data = support::clustered(2_000, DIMENSION, 30, 6);
    let queries = support::clustered(20, DIMENSION, 30, 7);
    for encoding in encodings() {
        let index = build(config(Metric::Cosine, encoding), &data);
        // 1% selective: 20 matching vectors.
        let selective = id_filter(&index, 100, 7);
        for query in rows(&queries) {
            let found = index.search(query, 10, Some(32), Some(&selective)).unwrap();
            assert_eq!(found.len(), 10, "{encoding:?}");
            assert!(found.iter().all(|(id, _)| id / 10 % 100 == 7));
            let exact = index.exact_search(query, 10, Some(&selective)).unwrap();
            assert!(support::recall(&found, &exact) >= 0.9, "{found:?} vs {exact:?}");
            // The caller's count sends a selective filter straight to exact search.
            let counted = index.search_with_matching_count(query, 10, Some(32), &selective, 20).unwrap();
            assert_eq!(counted, exact);
        }
        // Half the vectors match: the graph search handles it, with good recall.
        let half = id_filter(&index, 2, 1);
        let recall = mean_recall(&index, &queries, 64, Some(&half));
        assert!(recall >= 0.95, "{encoding:?}: filtered recall {recall}");
        for query in rows(&queries) {
            let found = index.search(query, 10, Some(64), Some(&half)).unwrap();
            assert_eq!(found.len(), 10);
            assert!(found.iter().all(|(id, _)| id / 10 % 2 == 1));
        }
        // Fewer matches than k: all of them.
        let five = |node: u32| node < 5;
        let found = index.search(&queries[..DIMENSION], 10, None, Some(&five)).unwrap();
        let mut ids: Vec<u64> = found.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [0, 10, 20, 30, 40]);
        let nothing = |_: u32| false;
        assert!(index.search(&queries[..DIMENSION], 10, None, Some(&nothing)).unwrap().is_empty());
    }
}

#[test]
fn filters_combine_with_tombstones() {
    let data = support::clustered(1_000, DIMENSION, 10, 8);
    let mut index = build(config(Metric::L2, VectorEncoding::F32), &data);
    for id in (0..1_000).filter(|i| i % 20 == 0) {
        index.mark_deleted(id * 10).unwrap();
    }
    let filter = id_filter(&index, 10, 0); // rows 0, 10, 20, ...: half of them deleted
    let found = index.search(&data[..DIMENSION], 40, Some(64), Some(&filter)).unwrap();
    assert_eq!(found.len(), 40);
    assert!(found.iter().all(|(id, _)| id / 10 % 10 == 0 && id / 10 % 20 != 0), "{found:?}");
}

fn encode(index: &HnswIndex) -> Vec<u8> {
    let mut bytes = Vec::new();
    index.encode_into(&mut bytes);
    bytes
}

#[test]
fn encode_decode_round_trip_keeps_results_digest_and_future_inserts() {
    let data = support::clustered(400, DIMENSION, 10, 9);
    let queries = support::clustered(10, DIMENSION, 10, 10);
    for metric in METRICS {
        for encoding in encodings() {
            let mut index = build(config(metric, encoding), &data[..300 * DIMENSION]);
            for id in [10, 20, 990] {
                index.mark_deleted(id).unwrap();
            }
            let bytes = encode(&index);
            let mut decoded = HnswIndex::decode(&bytes).unwrap();
            assert_eq!(decoded.config(), index.config());
            assert_eq!(decoded.digest(), index.digest());
            assert_eq!(encode(&decoded), bytes, "{metric:?} {encoding:?}: canonical encoding");
            for query in rows(&queries) {
                assert_eq!(
                    decoded.search(query, 10, None, None).unwrap(),
                    index.search(query, 10, None, None).unwrap()
                );
            }
            // The level generator's state is kept: later inserts build the same graph in both.
            for (offset, row) in rows(&data[300 * DIMENSION..]).enumerate() {
                let id = 5_000 + offset as u64;
                assert_eq!(index.insert(id, row).unwrap(), decoded.insert(id, row).unwrap());
            }
            assert_eq!(encode(&decoded), encode(&index));
            assert_eq!(decoded.digest(), index.digest());
        }
    }
    let empty = HnswIndex::new(config(Metric::L2, encodings()[1])).unwrap();
    let decoded = HnswIndex::decode(&encode(&empty)).unwrap();
    assert_eq!(decoded.digest(), empty.digest());
    assert!(decoded.is_empty());
}

#[test]
fn digest_depends_on_logical_state_only() {
    let data = support::clustered(100, DIMENSION, 5, 11);
    let forward = build(config(Metric::L2, VectorEncoding::F32), &data);
    let mut backward = HnswIndex::new(config(Metric::L2, VectorEncoding::F32)).unwrap();
    for (id, row) in rows(&data).enumerate().rev() {
        backward.insert(id as u64 * 10, row).unwrap();
    }
    assert_ne!(encode(&forward), encode(&backward));
    assert_eq!(forward.digest(), backward.digest(), "the same ids and vectors in another order");
    let mut changed = build(config(Metric::L2, VectorEncoding::F32), &data);
    changed.mark_deleted(0).unwrap();
    assert_ne!(changed.digest(), forward.digest());
    let mut other_config = config(Metric::L2, VectorEncoding::F32);
    other_config.ef_search += 1;
    assert_ne!(build(other_config, &data).digest(), forward.digest());
}

#[test]
fn builds_are_deterministic_for_a_seed() {
    let data = support::clustered(300, DIMENSION, 5, 12);
    let first = build(config(Metric::Cosine, VectorEncoding::F32), &data);
    let second = build(config(Metric::Cosine, VectorEncoding::F32), &data);
    assert_eq!(encode(&first), encode(&second));
    let mut reseeded = config(Metric::Cosine, VectorEncoding::F32);
    reseeded.seed += 1;
    assert_ne!(encode(&build(reseeded, &data)), encode(&first));
}

#[test]
fn rebuild_without_tombstones_keeps_ids_and_drops_deleted_nodes() {
    let data = support::clustered(500, DIMENSION, 10, 13);
    let queries = support::clustered(20, DIMENSION, 10, 14);
    let mut index = build(config(Metric::L2, VectorEncoding::F32), &data);
    for id in (0..500).filter(|i| i % 4 == 1).map(|i| i * 10) {
        index.mark_deleted(id).unwrap();
    }
    let rebuilt = index.rebuild_without_tombstones().unwrap();
    assert_eq!(rebuilt.node_count(), 375);
    assert_eq!(rebuilt.deleted_count(), 0);
    assert_eq!(rebuilt.ids().collect::<Vec<_>>(), index.ids().collect::<Vec<_>>());
    for id in index.ids() {
        assert_eq!(rebuilt.vector(id), index.vector(id));
    }
    // Same as inserting the live vectors into a fresh index, in node order.
    let mut fresh = HnswIndex::new(*index.config()).unwrap();
    for id in index.ids() {
        fresh.insert(id, index.vector(id).unwrap()).unwrap();
    }
    assert_eq!(encode(&rebuilt), encode(&fresh));
    for query in rows(&queries) {
        assert_eq!(rebuilt.exact_search(query, 10, None).unwrap(), index.exact_search(query, 10, None).unwrap());
    }
    assert!(mean_recall(&rebuilt, &queries, 64, None) >= 0.95);
}

#[test]
fn searches_run_concurrently_with_identical_results() {
    fn shareable<T: Send + Sync>() {}
    shareable::<HnswIndex>();
    let data = support::clustered(800, DIMENSION, 10, 15);
    let queries = support::clustered(40, DIMENSION, 10, 16);
    let index = build(config(Metric::Cosine, VectorEncoding::F32), &data);
    let expected: Vec<_> = rows(&queries).map(|query| index.search(query, 10, None, None).unwrap()).collect();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..3 {
                    for (query, expected) in rows(&queries).zip(&expected) {
                        assert_eq!(&index.search(query, 10, None, None).unwrap(), expected);
                    }
                }
            });
        }
    });
}

#[test]
fn bad_input_gets_typed_errors_and_changes_nothing() {
    let data = support::clustered(50, DIMENSION, 3, 17);
    let mut index = build(config(Metric::Cosine, VectorEncoding::F32), &data);
    let before = encode(&index);
    let good = vec![1.0; DIMENSION];
    let short = vec![1.0; DIMENSION - 1];
    let mut nan = good.clone();
    nan[3] = f32::NAN;
    let mut infinite = good.clone();
    infinite[5] = f32::INFINITY;
    let zero = vec![0.0; DIMENSION];

    assert!(matches!(index.insert(1, &short), Err(IndexError::DimensionMismatch { expected: 32, found: 31 })));
    assert!(matches!(index.insert(1, &nan), Err(IndexError::NonFiniteValue { index: 3 })));
    assert!(matches!(index.insert(1, &infinite), Err(IndexError::NonFiniteValue { index: 5 })));
    assert!(matches!(index.insert(1, &zero), Err(IndexError::ZeroVectorUnderCosine)));
    assert!(matches!(index.insert(0, &good), Err(IndexError::DuplicateId { id: 0 })));
    assert!(matches!(index.validate_insert(1, &nan), Err(IndexError::NonFiniteValue { index: 3 })));
    assert!(index.validate_insert(1, &good).is_ok());
    assert!(matches!(index.mark_deleted(1), Err(IndexError::UnknownId { id: 1 })));

    assert!(matches!(index.search(&good, 0, None, None), Err(IndexError::KIsZero)));
    assert!(matches!(index.exact_search(&good, 0, None), Err(IndexError::KIsZero)));
    assert!(matches!(index.search(&short, 1, None, None), Err(IndexError::DimensionMismatch { .. })));
    assert!(matches!(index.search(&nan, 1, None, None), Err(IndexError::NonFiniteValue { index: 3 })));
    assert!(matches!(index.search(&zero, 1, None, None), Err(IndexError::ZeroVectorUnderCosine)));
    assert!(matches!(index.exact_search(&zero, 1, None), Err(IndexError::ZeroVectorUnderCosine)));
    assert!(matches!(index.search(&good, K_MAX + 1, None, None), Err(IndexError::LimitExceeded { what: "K_MAX", .. })));
    assert!(matches!(
        index.search(&good, 1, Some(EF_MAX + 1), None),
        Err(IndexError::LimitExceeded { what: "EF_MAX", .. })
    ));
    assert_eq!(encode(&index), before, "failed calls changed nothing");

    // Zero vectors are fine where nothing is normalized.
    let mut l2 = HnswIndex::new(config(Metric::L2, VectorEncoding::F32)).unwrap();
    l2.insert(1, &zero).unwrap();
    assert_eq!(l2.search(&zero, 1, None, None).unwrap(), vec![(1, 0.0)]);
    let empty = HnswIndex::new(config(Metric::DotProduct, VectorEncoding::F32)).unwrap();
    assert!(empty.search(&good, 3, None, None).unwrap().is_empty());
}

#[test]
fn limits_work_at_the_limit() {
    // k = K_MAX and ef = EF_MAX on a small index: everything comes back.
    let data = support::clustered(300, DIMENSION, 5, 18);
    let index = build(config(Metric::L2, VectorEncoding::F32), &data);
    assert_eq!(index.search(&data[..DIMENSION], K_MAX, Some(EF_MAX), None).unwrap().len(), 300);
    assert_eq!(index.exact_search(&data[..DIMENSION], K_MAX, None).unwrap().len(), 300);

    // M = M_MAX: nodes keep up to 2 * M_MAX links on layer 0.
    let mut wide = config(Metric::L2, VectorEncoding::F32);
    wide.m = M_MAX;
    wide.ef_construction = 300;
    let index = build(wide, &data);
    let most_links = (0..300).map(|node| index.links(node, 0).len()).max().unwrap();
    assert!(most_links > M_MAX && most_links <= 2 * M_MAX, "{most_links}");
    assert_eq!(index.search(&data[..DIMENSION], 10, None, None).unwrap()[0].0, 0);

    // dimension = DIMENSION_MAX.
    let mut tall = HnswConfig::new(DIMENSION_MAX, Metric::Cosine);
    tall.encoding = VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained };
    let mut index = HnswIndex::new(tall).unwrap();
    let mut rng = support::Rng(19);
    let vectors: Vec<Vec<f32>> = (0..20).map(|_| (0..DIMENSION_MAX).map(|_| rng.gaussian() as f32).collect()).collect();
    for (id, vector) in vectors.iter().enumerate() {
        index.insert(id as u64, vector).unwrap();
    }
    assert_eq!(index.search(&vectors[7], 1, None, None).unwrap()[0].0, 7);
    let bytes = encode(&index);
    assert_eq!(HnswIndex::decode(&bytes).unwrap().digest(), index.digest());
    let too_tall = HnswConfig::new(DIMENSION_MAX + 1, Metric::Cosine);
    assert!(matches!(HnswIndex::new(too_tall), Err(IndexError::LimitExceeded { what: "DIMENSION_MAX", .. })));
}

#[test]
fn decode_rejects_structural_corruption() {
    let data = support::clustered(50, DIMENSION, 3, 20);
    let index = build(config(Metric::L2, VectorEncoding::F32), &data);
    let bytes = encode(&index);
    assert!(matches!(HnswIndex::decode(&bytes[..bytes.len() - 1]), Err(IndexError::Corrupt { .. })));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(HnswIndex::decode(&trailing), Err(IndexError::Corrupt { .. })));
    let mut magic = bytes.clone();
    magic[0] ^= 1;
    assert!(matches!(HnswIndex::decode(&magic), Err(IndexError::Corrupt { offset: 0, .. })));
    let mut version = bytes.clone();
    version[8] = 2;
    assert!(matches!(HnswIndex::decode(&version), Err(IndexError::Corrupt { offset: 12, .. })));
    // A node count of u32::MAX with a few bytes behind it: refused before any allocation.
    let node_count_offset = 8 + 4 + 4 + 1 + 4 + 4 + 4 + 1 + 8 + 8;
    let mut huge = bytes.clone();
    huge[node_count_offset..node_count_offset + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(HnswIndex::decode(&huge), Err(IndexError::Corrupt { .. })));
    assert!(HnswIndex::decode(&[]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn decoding_truncated_or_bit_flipped_bytes_never_panics(
        metric_index in 0..3_usize,
        encoding_index in 0..3_usize,
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0..8_u8), 1..4),
    ) {
        let mut small = HnswConfig::new(4, METRICS[metric_index]);
        small.m = 3;
        small.ef_construction = 8;
        small.encoding = encodings()[encoding_index];
        let data = support::clustered(40, 4, 3, 21);
        let mut index = build(small, &data);
        index.mark_deleted(30).unwrap();
        let bytes = encode(&index);
        let query = [0.5, -0.25, 1.0, 0.125];

        let truncated = &bytes[..cut.index(bytes.len())];
        prop_assert!(HnswIndex::decode(truncated).is_err());

        let mut flipped = bytes.clone();
        for (position, bit) in flips {
            flipped[position.index(bytes.len())] ^= 1 << bit;
        }
        if let Ok(decoded) = HnswIndex::decode(&flipped) {
            // Whatever decodes must be usable without panics.
            let _ = decoded.search(&query, 5, None, None);
            let _ = decoded.exact_search(&query, 5, None);
            let _ = decoded.digest();
            let mut decoded = decoded;
            let _ = decoded.insert(1_000_000, &query);
            let _ = decoded.rebuild_without_tombstones();
        }
    }
}
