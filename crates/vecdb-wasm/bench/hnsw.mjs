// HNSW in V8: our WebAssembly build (`VecIndex`, the index `VecDb` searches) against the npm package
// hnswlib-wasm, in the same Node process, on the same data, one thread: build time, recall@10 and queries per
// second over several `ef`. Run by `cargo xtask wasm-bench` (which builds the package and installs
// hnswlib-wasm@0.8.2 with npm); by hand:
//
//   node crates/vecdb-wasm/bench/hnsw.mjs --pkg web/pkg --hnswlib <node_modules>/hnswlib-wasm/dist/hnswlib.js \
//     --data data/glove-50 [--efs 16,32,64,96,128,256] [--only ours|hnswlib] [--json out.json]
//
// Data: `--data DIR` reads `base-100k.f32`, `queries-1k.f32` and `truth-100k-distances.f32` (raw little-endian
// f32, row-major; `cargo xtask dataset glove-50` writes them). Without it (or when they are missing) the script
// makes a seeded synthetic set of the same shape (100,000 x 50, 1,000 queries, 100 Gaussian clusters) and computes
// its exact top-10 by brute force; the report says which data it ran on.
//
// Queries per second: every query, one after another, after a warm-up pass; the fastest of three passes.
// Recall@10 is counted the ann-benchmarks way: a returned id counts when its true distance is within the 10th
// true distance (plus 1e-3). Both indexes use cosine, M = 16, ef_construction = 200, k = 10.
import { readFileSync, existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { normalizeRows, readF32, synthetic } from "./vectors.mjs";

const K = 10;
const M = 16;
const EF_CONSTRUCTION = 200;
const EPSILON = 1e-3;
// Passes over the queries at each ef; the fastest counts.
const REPEATS = 3;

function parseArguments(argv) {
  const options = { efs: [16, 32, 48, 64, 96, 128, 256], only: null, data: null, json: null, count: 100_000 };
  for (let index = 0; index < argv.length; index += 1) {
    const [flag, value] = [argv[index], argv[index + 1]];
    switch (flag) {
      case "--pkg": options.pkg = value; index += 1; break;
      case "--hnswlib": options.hnswlib = value; index += 1; break;
      case "--data": options.data = value; index += 1; break;
      case "--efs": options.efs = value.split(",").map(Number); index += 1; break;
      case "--only": options.only = value; index += 1; break;
      case "--json": options.json = value; index += 1; break;
      case "--count": options.count = Number(value); index += 1; break;
      default: throw new Error(`unknown argument ${flag}`);
    }
  }
  if (!options.pkg) throw new Error("--pkg DIR (the wasm-bindgen package) is required");
  return options;
}

function dot(a, aOffset, b, bOffset, dimension) {
  let sum = 0;
  for (let column = 0; column < dimension; column += 1) sum += a[aOffset + column] * b[bOffset + column];
  return sum;
}

// The 10th-nearest true cosine distance of each query, by brute force over normalized rows.
function bruteForceThresholds(base, queries, dimension) {
  const count = base.length / dimension;
  const thresholds = new Float32Array(queries.length / dimension);
  for (let query = 0; query < thresholds.length; query += 1) {
    const best = new Float64Array(K).fill(Infinity);
    for (let row = 0; row < count; row += 1) {
      const distance = 1 - dot(base, row * dimension, queries, query * dimension, dimension);
      if (distance < best[K - 1]) {
        let position = K - 1;
        while (position > 0 && best[position - 1] > distance) { best[position] = best[position - 1]; position -= 1; }
        best[position] = distance;
      }
    }
    thresholds[query] = best[K - 1];
  }
  return thresholds;
}

function loadData(options) {
  const dimension = 50;
  const files = options.data && ["base-100k.f32", "queries-1k.f32", "truth-100k-distances.f32"].map((name) => join(options.data, name));
  if (files && files.every(existsSync)) {
    const base = normalizeRows(readF32(files[0]), dimension).subarray(0, options.count * dimension);
    const queries = normalizeRows(readF32(files[1]), dimension);
    const truth = readF32(files[2]);
    const truthK = truth.length / (queries.length / dimension);
    let thresholds;
    if (options.count === 100_000) {
      thresholds = Float32Array.from({ length: queries.length / dimension }, (_, query) => truth[query * truthK + K - 1]);
    } else {
      thresholds = bruteForceThresholds(base, queries, dimension);
    }
    return { name: `glove-50 (${options.data})`, dimension, base, queries, thresholds };
  }
  const started = performance.now();
  const { base, queries } = synthetic(options.count, 1000, dimension, 100, 42);
  normalizeRows(base, dimension);
  normalizeRows(queries, dimension);
  const thresholds = bruteForceThresholds(base, queries, dimension);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  return { name: `synthetic: 100 Gaussian clusters, seeded (glove-50 files not found; truth by brute force in ${seconds} s)`, dimension, base, queries, thresholds };
}

function recallOf(data, query, ids) {
  const { base, queries, dimension, thresholds } = data;
  let found = 0;
  for (const id of ids) {
    const distance = 1 - dot(base, id * dimension, queries, query * dimension, dimension);
    if (distance <= thresholds[query] + EPSILON) found += 1;
  }
  return found / K;
}

// Runs every query at every ef: recall@10 and queries per second (searches only, one after another).
function measureSearch(data, efs, setEf, search) {
  const { queries, dimension } = data;
  const queryCount = queries.length / dimension;
  const rows = [];
  // Warm up: V8 runs WebAssembly in its baseline compiler first and tiers hot functions up to its optimizing
  // compiler in the background, so every query runs once at the largest ef before anything is timed.
  setEf(Math.max(...efs));
  for (let query = 0; query < queryCount; query += 1) search(queries.subarray(query * dimension, (query + 1) * dimension));
  for (const ef of efs) {
    setEf(ef);
    // The fastest of REPEATS passes: other processes on a shared machine only ever slow a pass down.
    const results = new Array(queryCount);
    let seconds = Infinity;
    for (let repeat = 0; repeat < REPEATS; repeat += 1) {
      const started = performance.now();
      for (let query = 0; query < queryCount; query += 1) {
        results[query] = search(queries.subarray(query * dimension, (query + 1) * dimension));
      }
      seconds = Math.min(seconds, (performance.now() - started) / 1000);
    }
    let recall = 0;
    for (let query = 0; query < queryCount; query += 1) recall += recallOf(data, query, results[query]);
    rows.push({ ef, recall: recall / queryCount, qps: queryCount / seconds });
  }
  return rows;
}

async function runOurs(data, options) {
  const pkg = resolve(options.pkg);
  const module = await import(join(pkg, "vecdb_wasm.js"));
  await module.default({ module_or_path: readFileSync(join(pkg, "vecdb_wasm_bg.wasm")) });
  const { dimension, base } = data;
  const index = new module.VecIndex({ dimension, metric: "cosine", m: M, efConstruction: EF_CONSTRUCTION, efSearch: 64 });
  const count = base.length / dimension;
  const started = performance.now();
  for (let id = 0; id < count; id += 1) index.add(id, base.subarray(id * dimension, (id + 1) * dimension));
  const buildSeconds = (performance.now() - started) / 1000;
  let currentEf = 64;
  const rows = measureSearch(data, options.efs, (ef) => { currentEf = ef; },
    (query) => index.search(query, K, currentEf).ids);
  const memoryBytes = index.memoryBytes();
  index.free();
  return { name: "vecdb-wasm (this build)", buildSeconds, rows, memoryBytes };
}

async function runHnswlib(data, options) {
  // hnswlib-wasm is an Emscripten build for the web: it wants `window`, and mounts an IndexedDB file system it
  // does not need here (its mount fails in Node without affecting the index).
  globalThis.window ??= globalThis;
  const saved = { log: console.log, warn: console.warn, error: console.error };
  console.log = console.warn = console.error = () => {};
  let library;
  try {
    const { loadHnswlib } = await import(resolve(options.hnswlib));
    library = await loadHnswlib();
  } finally {
    setTimeout(() => Object.assign(console, saved), 200);
  }
  await new Promise((done) => setTimeout(done, 300));
  const { dimension, base } = data;
  const count = base.length / dimension;
  const index = new library.HierarchicalNSW("cosine", dimension, "");
  index.initIndex(count, M, EF_CONSTRUCTION, 100);
  const started = performance.now();
  for (let id = 0; id < count; id += 1) index.addPoint(base.subarray(id * dimension, (id + 1) * dimension), id, false);
  const buildSeconds = (performance.now() - started) / 1000;
  const rows = measureSearch(data, options.efs, (ef) => index.setEfSearch(ef),
    (query) => index.searchKnn(query, K, undefined).neighbors);
  return { name: "hnswlib-wasm 0.8.2", buildSeconds, rows };
}

function printReport(data, results) {
  console.log(`data: ${data.name}: ${data.base.length / data.dimension} x ${data.dimension}, ` +
    `${data.queries.length / data.dimension} queries, cosine, M = ${M}, ef_construction = ${EF_CONSTRUCTION}, k = ${K}, ` +
    `one thread, Node ${process.version} (V8 ${process.versions.v8})`);
  for (const result of results) {
    console.log(`\n${result.name}: build ${result.buildSeconds.toFixed(1)} s` +
      (result.memoryBytes ? `, index memory ${(result.memoryBytes / 2 ** 20).toFixed(1)} MiB` : ""));
    console.log("      ef   recall@10        QPS");
    for (const row of result.rows) {
      console.log(`${String(row.ef).padStart(8)}   ${row.recall.toFixed(4).padStart(9)}   ${row.qps.toFixed(0).padStart(8)}`);
    }
  }
  if (results.length === 2) {
    // The QPS of each at the first ef where its recall reaches 0.95.
    const at95 = (result) => result.rows.find((row) => row.recall >= 0.95);
    const [ours, theirs] = results.map(at95);
    if (ours && theirs) {
      console.log(`\nat recall@10 >= 0.95: ours ${ours.qps.toFixed(0)} QPS (ef ${ours.ef}, recall ${ours.recall.toFixed(4)}), ` +
        `hnswlib-wasm ${theirs.qps.toFixed(0)} QPS (ef ${theirs.ef}, recall ${theirs.recall.toFixed(4)}): ` +
        `${(ours.qps / theirs.qps).toFixed(2)}x; build ${results[0].buildSeconds.toFixed(1)} s vs ${results[1].buildSeconds.toFixed(1)} s`);
    }
  }
}

const options = parseArguments(process.argv.slice(2));
const data = loadData(options);
const results = [];
if (options.only !== "hnswlib") results.push(await runOurs(data, options));
if (options.only !== "ours") {
  if (!options.hnswlib) throw new Error("--hnswlib PATH (hnswlib-wasm's dist/hnswlib.js) is required");
  results.push(await runHnswlib(data, options));
}
printReport(data, results);
if (options.json) writeFileSync(options.json, JSON.stringify({ data: data.name, results }, null, 2));
