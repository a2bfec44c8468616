//! Seeded data for tests and benches: a splitmix64 generator, Gaussian draws, clustered datasets, recall.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

/// splitmix64: small, fast, good enough for test data, and the same on every platform.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..bound.
    pub fn below(&mut self, bound: usize) -> usize {
        (self.unit() * bound as f64) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A mixture of `clusters` Gaussian clusters in `dimension` dimensions: centers drawn from N(0, 1), each
/// cluster with its own weight and spread (1.2 to 2.0: clusters overlap, so that recall at a given ef
/// is close to what GloVe-50 gives), a shared offset so vectors are not centered at the
/// origin (as with real embeddings). Returns `count` row-major vectors.
pub fn clustered(count: usize, dimension: usize, clusters: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let offset: Vec<f64> = (0..dimension).map(|_| rng.gaussian() * 0.5).collect();
    let centers: Vec<Vec<f64>> =
        (0..clusters).map(|_| offset.iter().map(|shift| shift + rng.gaussian()).collect()).collect();
    let spreads: Vec<f64> = (0..clusters).map(|_| 1.2 + 0.8 * rng.unit()).collect();
    // Cluster weights: skewed like real data (a few big clusters, many small ones).
    let weights: Vec<f64> = (0..clusters).map(|_| rng.unit().powi(2) + 0.05).collect();
    let total: f64 = weights.iter().sum();
    let mut values = Vec::with_capacity(count * dimension);
    for _ in 0..count {
        let mut pick = rng.unit() * total;
        let mut cluster = 0;
        while cluster + 1 < clusters && pick >= weights[cluster] {
            pick -= weights[cluster];
            cluster += 1;
        }
        for &center in &centers[cluster] {
            values.push((center + spreads[cluster] * rng.gaussian()) as f32);
        }
    }
    values
}

/// Fraction of `truth`'s ids found in `found`.
pub fn recall(found: &[(u64, f32)], truth: &[(u64, f32)]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let hits = truth.iter().filter(|(id, _)| found.iter().any(|(other, _)| other == id)).count();
    hits as f64 / truth.len() as f64
}
