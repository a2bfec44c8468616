//! The demo's embedded dataset: clustered vectors with metadata, generated deterministically from a seed so that
//! nothing is downloaded and any process can regenerate the vector of any id (the demo's writer child and the
//! parent that checks what survived).

use vecdb::{Metadata, Value};

/// Categories of the demo's metadata.
pub const CATEGORIES: [&str; 5] = ["news", "sports", "science", "art", "music"];

/// First year of the demo's `year` metadata.
pub const YEAR_FIRST: u64 = 1990;
/// Number of distinct years.
pub const YEAR_COUNT: u64 = 35;

/// Query vectors are drawn from this id range, so they never coincide with stored ones.
const QUERY_ID_OFFSET: u64 = 1 << 48;

/// splitmix64: one step.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seeded stream of uniform and Gaussian draws.
struct Draws(u64);

impl Draws {
    fn unit(&mut self) -> f64 {
        (splitmix64(&mut self.0) >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn gaussian(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A mixture of Gaussian clusters in `dimension` dimensions.
#[derive(Clone, Debug)]
pub struct Synthetic {
    dimension: usize,
    seed: u64,
    centers: Vec<Vec<f64>>,
    spreads: Vec<f64>,
}

impl Synthetic {
    /// `clusters` (at least 1) clusters with centers drawn from N(0, 1) around a shared offset and spreads of 0.6
    /// to 1.0: overlapping, like real embeddings.
    pub fn new(dimension: usize, clusters: usize, seed: u64) -> Self {
        let mut draws = Draws(seed);
        let offset: Vec<f64> = (0..dimension).map(|_| draws.gaussian() * 0.5).collect();
        let centers =
            (0..clusters.max(1)).map(|_| offset.iter().map(|shift| shift + 1.5 * draws.gaussian()).collect()).collect();
        let spreads = (0..clusters.max(1)).map(|_| 0.6 + 0.4 * draws.unit()).collect();
        Self { dimension, seed, centers, spreads }
    }

    fn hash(&self, id: u64) -> u64 {
        let mut state = self.seed ^ id.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        splitmix64(&mut state)
    }

    fn cluster(&self, id: u64) -> usize {
        (self.hash(id) % self.centers.len() as u64) as usize
    }

    fn sample(&self, id: u64) -> Vec<f32> {
        let cluster = self.cluster(id);
        let mut draws = Draws(self.hash(id) ^ 0x5151_5151);
        let spread = self.spreads.get(cluster).copied().unwrap_or(1.0);
        self.centers
            .get(cluster)
            .map(|center| center.iter().map(|&mean| (mean + spread * draws.gaussian()) as f32).collect())
            .unwrap_or_else(|| vec![0.0; self.dimension])
    }

    /// The vector of `id` (the same in every process).
    pub fn vector(&self, id: u64) -> Vec<f32> {
        self.sample(id)
    }

    /// The `index`-th query vector: from the same distribution, never one of the stored vectors.
    pub fn query(&self, index: u64) -> Vec<f32> {
        self.sample(QUERY_ID_OFFSET + index)
    }

    /// The metadata of `id`: a `category` tied to its cluster (with some noise), a `year`, and its `cluster`.
    pub fn metadata(&self, id: u64) -> Metadata {
        let cluster = self.cluster(id);
        let noise = self.hash(id.wrapping_add(0xABCD)) % 100;
        let category = if noise < 80 { cluster % CATEGORIES.len() } else { noise as usize % CATEGORIES.len() };
        let mut metadata = Metadata::new();
        metadata.insert("category".into(), Value::from(CATEGORIES.get(category).copied().unwrap_or("news")));
        metadata.insert("year".into(), Value::from((YEAR_FIRST + (self.hash(id) >> 20) % YEAR_COUNT) as f64));
        metadata.insert("cluster".into(), Value::from(cluster as f64));
        metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_id_gives_the_same_vector_and_metadata_every_time() {
        let (a, b) = (Synthetic::new(8, 10, 42), Synthetic::new(8, 10, 42));
        for id in [0, 1, 999, u64::MAX] {
            assert_eq!(a.vector(id), b.vector(id));
            assert_eq!(a.metadata(id), b.metadata(id));
            assert!(a.vector(id).iter().all(|value| value.is_finite()));
        }
        assert_ne!(a.vector(1), a.vector(2));
        assert_ne!(a.query(1), a.vector(1));
    }
}
