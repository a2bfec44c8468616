// Vector files and helpers shared by the benchmark scripts (hnsw.mjs, ab.mjs).
import { readFileSync } from "node:fs";

// A raw little-endian f32 file (row-major), as `cargo xtask dataset glove-50` writes them.
export function readF32(path) {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice();
}

// Scales every row of `values` to unit length in place (rows of zeros stay zero); returns `values`.
export function normalizeRows(values, dimension) {
  for (let row = 0; row < values.length / dimension; row += 1) {
    let norm = 0;
    for (let column = 0; column < dimension; column += 1) norm += values[row * dimension + column] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let column = 0; column < dimension; column += 1) values[row * dimension + column] /= norm;
  }
  return values;
}

// A seeded generator (splitmix32) and Gaussian samples (Box-Muller).
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (((z ^ (z >>> 16)) >>> 0) + 0.5) / 4294967296;
  };
}

// `count` base and `queryCount` query vectors of `dimension` floats around `clusters` Gaussian centers, from `seed`.
export function synthetic(count, queryCount, dimension, clusters, seed) {
  const next = random(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  const centers = Array.from({ length: clusters }, () => Float32Array.from({ length: dimension }, gaussian));
  const make = (rows) => {
    const values = new Float32Array(rows * dimension);
    for (let row = 0; row < rows; row += 1) {
      const center = centers[Math.floor(next() * clusters)];
      for (let column = 0; column < dimension; column += 1) {
        values[row * dimension + column] = center[column] + 0.35 * gaussian();
      }
    }
    return values;
  };
  return { base: make(count), queries: make(queryCount) };
}
