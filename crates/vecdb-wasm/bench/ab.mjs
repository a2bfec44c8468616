// A/B of two or more builds of the package (`VecIndex`) in one Node process: each builds its index on the same
// vectors, then the searches alternate between the builds, round by round, so that the machine's drift hits every
// build alike. It prints each build's index build time and the median and best queries per second at each `ef`, and
// checks that every build returns the same ids as the first. Used for the size cuts in docs/browser.md.
//
//   node crates/vecdb-wasm/bench/ab.mjs [--data data/glove-50] [--count N] [--rounds R] [--efs 16,64,256] PKG...
//
// PKG is a wasm-bindgen `--target web` output directory (`cargo xtask wasm` writes web/pkg; copy it aside before
// building the next variant). `--data DIR` reads glove-50 as `cargo xtask dataset glove-50` writes it (the first
// `--count` rows of `base-100k.f32`, the 1,000 rows of `queries-1k.f32`, normalized); without it the vectors are the
// seeded synthetic set hnsw.mjs uses (vectors.mjs `synthetic`: 100 Gaussian clusters, 50 dimensions). Cosine,
// M = 16, ef_construction = 200, k = 10.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { normalizeRows, readF32, synthetic } from "./vectors.mjs";

const DIMENSION = 50;
const K = 10;

const options = { data: null, count: 20000, rounds: 9, efs: [16, 64, 256], packages: [] };
for (let index = 2; index < process.argv.length; index += 1) {
  const [flag, value] = [process.argv[index], process.argv[index + 1]];
  switch (flag) {
    case "--data": options.data = value; index += 1; break;
    case "--count": options.count = Number(value); index += 1; break;
    case "--rounds": options.rounds = Number(value); index += 1; break;
    case "--efs": options.efs = value.split(",").map(Number); index += 1; break;
    default:
      if (flag.startsWith("--")) throw new Error(`unknown flag ${flag}`);
      options.packages.push(resolve(flag));
  }
}
if (options.packages.length < 2) throw new Error("name at least two package directories");

let base;
let queries;
if (options.data) {
  base = normalizeRows(readF32(join(options.data, "base-100k.f32")).slice(0, options.count * DIMENSION), DIMENSION);
  queries = normalizeRows(readF32(join(options.data, "queries-1k.f32")).slice(0, 1000 * DIMENSION), DIMENSION);
} else {
  ({ base, queries } = synthetic(options.count, 1000, DIMENSION, 100, 42));
}
const count = base.length / DIMENSION;
const queryCount = queries.length / DIMENSION;

const builds = [];
for (const directory of options.packages) {
  const module = await import(`${join(directory, "vecdb_wasm.js")}?${directory}`);
  await module.default({ module_or_path: readFileSync(join(directory, "vecdb_wasm_bg.wasm")) });
  const started = performance.now();
  const index = new module.VecIndex({ dimension: DIMENSION, metric: "cosine", m: 16, efConstruction: 200, efSearch: 64 });
  for (let id = 0; id < count; id += 1) index.add(id, base.subarray(id * DIMENSION, (id + 1) * DIMENSION));
  builds.push({ directory, index, buildSeconds: (performance.now() - started) / 1000, rates: {}, answers: {} });
}

for (let round = 0; round < options.rounds; round += 1) {
  for (const ef of options.efs) {
    for (const build of builds) {
      const started = performance.now();
      const answers = [];
      for (let query = 0; query < queryCount; query += 1) {
        answers.push(build.index.search(queries.subarray(query * DIMENSION, (query + 1) * DIMENSION), K, ef).ids.join(","));
      }
      (build.rates[ef] ??= []).push(queryCount / ((performance.now() - started) / 1000));
      build.answers[ef] = answers.join(";");
    }
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`${options.data ? `glove-50 (${options.data})` : "synthetic"}: ${count} x ${DIMENSION}, ${queryCount} queries, ${options.rounds} rounds`);
for (const build of builds) {
  const same = options.efs.every((ef) => build.answers[ef] === builds[0].answers[ef]);
  const rates = options.efs.map((ef) => `ef ${ef}: median ${median(build.rates[ef]).toFixed(0)}, best ${Math.max(...build.rates[ef]).toFixed(0)}`);
  console.log(`${build.directory}\n  build ${build.buildSeconds.toFixed(1)} s | ${rates.join(" | ")} QPS | same ids as the first: ${same}`);
}
