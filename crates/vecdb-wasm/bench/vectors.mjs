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
