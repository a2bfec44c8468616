// The page `cargo xtask e2e` drives (xtask/src/wasm/e2e.rs): helpers on `window.e2e` that the WebDriver side
// calls, and that keep what the test needs to check after a reload, a closed tab or a killed browser.
//
// Acknowledged writes: after each `await` of a write resolves, its last id is pushed onto `window.acked` at once
// (synchronously, in the same task), so whatever the test reads from `window.acked` was acknowledged by the
// database before the test read it.
import init, { VecDb } from "./pkg/vecdb_wasm.js";

const DIMENSION = 8;

function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

// The record for an id is a function of the id, so a recovered record can be checked against it.
function record(id, dimension = DIMENSION) {
  const next = random(id * 7919 + 17);
  const vector = Float32Array.from({ length: dimension }, () => next() * 2 - 1);
  return { id, vector, metadata: { parity: id % 2 === 0 ? "even" : "odd", bucket: id % 10, tagged: id % 3 === 0 } };
}

function kindOf(error) {
  return error && error.kind ? error.kind : `not a VecDbError: ${error}`;
}

window.acked = [];
window.writerError = null;

const e2e = {
  async reset(name) {
    if (window.db) {
      await window.db.close();
      window.db = null;
    }
    await VecDb.deleteDatabase(name);
    return true;
  },

  async open(name) {
    window.db = await VecDb.open(name, { dimension: DIMENSION, metric: "l2", m: 8, efConstruction: 64 });
    return window.db.stats();
  },

  // Inserts `batches` batches of `batchSize` records with ids from `firstId` on, in order.
  async insertBatches(firstId, batches, batchSize) {
    for (let batch = 0; batch < batches; batch += 1) {
      const first = firstId + batch * batchSize;
      await window.db.insertBatch(Array.from({ length: batchSize }, (_, index) => record(first + index)));
      window.acked.push(first + batchSize - 1);
    }
    return window.db.stats().count;
  },

  // Inserts batches of `batchSize` records (ids from 0 on) until a write fails or `batchesMax` succeeded; returns
  // how many records were acknowledged and the failure's kind, storage kind and message.
  async fillUntilError(batchSize, batchesMax) {
    window.acked = [];
    let next = 0;
    for (let batch = 0; batch < batchesMax; batch += 1) {
      try {
        await window.db.insertBatch(Array.from({ length: batchSize }, (_, index) => record(next + index)));
      } catch (error) {
        return { acked: next, kind: kindOf(error), storageKind: error.storageKind ?? null, message: String(error.message) };
      }
      next += batchSize;
      window.acked.push(next - 1);
    }
    return { acked: next, kind: null, storageKind: null, message: null };
  },

  // Inserts the record of `id` alone; returns null, or the failure's kind and storage kind.
  async insertOne(id) {
    try {
      await window.db.insert(id, record(id).vector, record(id).metadata);
      return null;
    } catch (error) {
      return { kind: kindOf(error), storageKind: error.storageKind ?? null };
    }
  },

  // Starts writing batches of `batchSize` (ids 0, 1, 2, ...) and never stops: the test kills the tab or the
  // browser in the middle. Every second write is a single insert, so both kinds are cut.
  startWriting(batchSize) {
    window.acked = [];
    (async () => {
      let next = 0;
      for (;;) {
        if (next % (2 * batchSize) === 0) {
          await window.db.insertBatch(Array.from({ length: batchSize }, (_, index) => record(next + index)));
          next += batchSize;
        } else {
          for (let index = 0; index < batchSize; index += 1) {
            await window.db.insert(next, record(next).vector, record(next).metadata);
            next += 1;
          }
        }
        window.acked.push(next - 1);
      }
    })().catch((error) => { window.writerError = String(error); });
    return true;
  },

  // What was recovered: the ids, and whether every record equals the one written for its id.
  recovered() {
    const db = window.db;
    const ids = db.ids();
    const mismatched = [];
    for (const id of ids) {
      const stored = db.get(id);
      const expected = record(id);
      const sameVector = stored.vector.every((value, index) => value === expected.vector[index]);
      const sameMetadata = JSON.stringify(stored.metadata) === JSON.stringify(
        Object.fromEntries(Object.entries(expected.metadata).sort(([a], [b]) => (a < b ? -1 : 1))));
      if (!sameVector || !sameMetadata) mismatched.push(id);
    }
    return { ids, mismatched, stats: db.stats() };
  },

  search(id, k, filter) {
    return window.db.search(record(id).vector, k, filter ? { filter } : {});
  },

  // The JavaScript API's behaviour in a real browser: returns the names of the checks that failed, with why.
  async apiChecks(name) {
    const failures = [];
    const check = (label, condition, detail = "") => { if (!condition) failures.push(`${label} ${detail}`); };
    const rejects = async (label, kind, action) => {
      try {
        await action();
        failures.push(`${label}: no error (expected ${kind})`);
      } catch (error) {
        check(label, error instanceof Error && error.kind === kind && error.name === "VecDbError",
          `: expected ${kind}, got ${kindOf(error)} (${error && error.message})`);
      }
    };
    await VecDb.deleteDatabase(name);
    await rejects("open without options", "InvalidArgument", () => VecDb.open(name));
    await rejects("open with a bad metric", "InvalidArgument", () => VecDb.open(name, { dimension: 3, metric: "euclid" }));
    await rejects("open with dimension 0", "InvalidConfig", () => VecDb.open(name, { dimension: 0 }));
    const db = await VecDb.open(name, { dimension: 3, metric: "cosine" });
    check("name", db.name === name);
    await db.insert(1, new Float32Array([1, 0, 0]), { genre: "jazz", year: 1959 });
    await db.insert(2, [0, 1, 0], { genre: "rock", year: 1971 });
    await db.insertBatch([
      { id: 3, vector: [1, 0.1, 0], metadata: { genre: "jazz", year: 1999 } },
      { id: 4, vector: new Float32Array([0.9, 0.2, 0.1]) },
      { id: Number.MAX_SAFE_INTEGER, vector: [0, 0, 1], metadata: { genre: "ambient", live: true } },
    ]);
    check("count", db.stats().count === 5, JSON.stringify(db.stats()));
    const hits = db.search(new Float32Array([1, 0, 0]), 3);
    check("nearest first", hits.length === 3 && hits[0].id === 1 && hits[0].distance <= hits[1].distance, JSON.stringify(hits));
    check("metadata in hits", hits[0].metadata.genre === "jazz" && hits[0].metadata.year === 1959, JSON.stringify(hits[0]));
    const jazz = db.search([1, 0, 0], 5, { filter: 'genre = "jazz" and year >= 1990' });
    check("filter", jazz.length === 1 && jazz[0].id === 3, JSON.stringify(jazz));
    check("ef option", db.search([1, 0, 0], 2, { ef: 100 }).length === 2);
    check("largest safe id", db.get(Number.MAX_SAFE_INTEGER).metadata.live === true);
    check("contains", db.contains(4) && !db.contains(5));
    check("ids ascending", JSON.stringify(db.ids()) === JSON.stringify([1, 2, 3, 4, Number.MAX_SAFE_INTEGER]));
    await rejects("fractional id", "InvalidId", () => db.insert(1.5, [1, 0, 0]));
    await rejects("negative id", "InvalidId", () => db.insert(-1, [1, 0, 0]));
    await rejects("unsafe id", "InvalidId", () => db.insert(2 ** 53, [1, 0, 0]));
    await rejects("string id", "InvalidId", () => db.insert("7", [1, 0, 0]));
    await rejects("BigInt id", "InvalidId", () => db.insert(7n, [1, 0, 0]));
    await rejects("wrong dimension", "DimensionMismatch", () => db.insert(7, [1, 0]));
    await rejects("NaN component", "NonFiniteValue", () => db.insert(7, [NaN, 0, 0]));
    await rejects("zero vector under cosine", "ZeroVectorUnderCosine", () => db.insert(7, [0, 0, 0]));
    await rejects("not a vector", "InvalidArgument", () => db.insert(7, "1,0,0"));
    await rejects("bad metadata key", "MetadataKeyInvalid", () => db.insert(7, [1, 0, 0], { "Bad-Key": 1 }));
    await rejects("bad metadata value", "InvalidArgument", () => db.insert(7, [1, 0, 0], { tags: ["a"] }));
    await rejects("empty batch", "EmptyBatch", () => db.insertBatch([]));
    await rejects("bad record in a batch", "DimensionMismatch", () => db.insertBatch([
      { id: 8, vector: [1, 0, 0] }, { id: 9, vector: [1] }]));
    check("a failed batch writes nothing", !db.contains(8));
    await rejects("delete an unknown id", "UnknownId", () => db.delete(42));
    await rejects("k = 0", "KIsZero", () => db.search([1, 0, 0], 0));
    await rejects("bad filter", "Filter", () => db.search([1, 0, 0], 3, { filter: "year >" }));
    await rejects("get an unknown id", "UnknownId", () => db.get(42));
    // A synchronous read while a write is in flight is refused; after the write it sees it.
    const pending = db.insert(10, [0.5, 0.5, 0], { genre: "pop" });
    await rejects("search during a write", "Busy", () => db.search([1, 0, 0], 1));
    await pending;
    check("search after the write", db.search([0.5, 0.5, 0], 1)[0].id === 10);
    // Writes started without awaiting run in call order.
    const order = [db.delete(10), db.insert(10, [0, 0.5, 0.5]), db.updateMetadata(10, { genre: "folk" })];
    const lsns = await Promise.all(order);
    check("writes in call order", lsns[0] < lsns[1] && lsns[1] < lsns[2], JSON.stringify(lsns));
    check("upsert and metadata update", db.get(10).metadata.genre === "folk" && db.get(10).vector[0] === 0);
    await db.delete(4);
    check("deleted ids are not found", !db.search([0.9, 0.2, 0.1], 5).some((hit) => hit.id === 4));
    check("tombstone counted", db.stats().deletedCount >= 1);
    const info = await db.checkpoint();
    check("checkpoint", info.lsn === db.stats().appliedLsn && info.snapshotBytes > 0, JSON.stringify(info));
    const storage = await db.storageStats();
    check("storage stats", storage.snapshotLsn === info.lsn && storage.bytesOnDisk > 0, JSON.stringify(storage));
    // One handle per database (a Web Lock): a second open waits for none and is refused.
    try {
      await VecDb.open(name);
      failures.push("a second open of an open database: no error (expected Storage / Locked)");
    } catch (error) {
      check("a second open is Locked", error.kind === "Storage" && error.storageKind === "Locked",
        `: ${kindOf(error)} / ${error.storageKind} (${error.message})`);
    }
    await db.close();
    await db.close();
    await rejects("open with other options", "ConfigMismatch", () => VecDb.open(name, { dimension: 3, metric: "l2" }));
    await rejects("insert after close", "Closed", () => db.insert(11, [1, 0, 0]));
    await rejects("search after close", "Closed", () => db.search([1, 0, 0], 1));
    const reopened = await VecDb.open(name);
    const stats = reopened.stats();
    check("reopen from the snapshot", stats.count === 5 && stats.recovery.snapshotLsn === info.lsn &&
      stats.recovery.operationsReplayed === 0, JSON.stringify(stats));
    check("metric kept", stats.metric === "cosine");
    await reopened.close();
    await VecDb.deleteDatabase(name);
    return failures;
  },

  // Insert throughput and search latency in this browser, on `count` vectors of `dimension` (cosine, defaults).
  async measure(name, count, dimension, batchSize, singles, queries) {
    await VecDb.deleteDatabase(name);
    const db = await VecDb.open(name, { dimension, metric: "cosine" });
    const records = Array.from({ length: count }, (_, id) => record(id, dimension));
    let started = performance.now();
    for (let id = 0; id < singles; id += 1) await db.insert(id, records[id].vector, records[id].metadata);
    const singleMs = performance.now() - started;
    started = performance.now();
    for (let first = singles; first < count; first += batchSize) {
      await db.insertBatch(records.slice(first, Math.min(first + batchSize, count)));
    }
    const batchMs = performance.now() - started;
    const latencies = [];
    const filtered = [];
    // Warm up (the engine tiers hot WebAssembly up to its optimizing compiler), then time each query alone and
    // all of them together: the mean does not depend on the timer's resolution, and the fastest of 3 passes is
    // the least disturbed by other work on the machine.
    const vectors = Array.from({ length: queries }, (_, query) => record(count + query, dimension).vector);
    for (const vector of vectors) db.search(vector, 10);
    let searchMeanMs = Infinity;
    let begin;
    for (let pass = 0; pass < 3; pass += 1) {
      begin = performance.now();
      for (const vector of vectors) db.search(vector, 10);
      searchMeanMs = Math.min(searchMeanMs, (performance.now() - begin) / queries);
    }
    for (let query = 0; query < queries; query += 1) {
      const vector = vectors[query];
      begin = performance.now();
      db.search(vector, 10);
      latencies.push(performance.now() - begin);
      begin = performance.now();
      db.search(vector, 10, { filter: "bucket < 5 and tagged = true" });
      filtered.push(performance.now() - begin);
    }
    const percentile = (values, p) => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
    };
    started = performance.now();
    const checkpoint = await db.checkpoint();
    const checkpointMs = performance.now() - started;
    await db.close();
    started = performance.now();
    const reopened = await VecDb.open(name);
    const reopenMs = performance.now() - started;
    const reopenedCount = reopened.stats().count;
    await reopened.close();
    await VecDb.deleteDatabase(name);
    return {
      count, dimension, singles, batchSize,
      singleInsertsPerSecond: singles / (singleMs / 1000),
      batchInsertsPerSecond: (count - singles) / (batchMs / 1000),
      searchMeanMs, searchMedianMs: percentile(latencies, 0.5), searchP99Ms: percentile(latencies, 0.99),
      timerResolution: self.crossOriginIsolated ? "5 us (cross-origin isolated)" : "100 us",
      filteredMedianMs: percentile(filtered, 0.5), filteredP99Ms: percentile(filtered, 0.99),
      checkpointMs, snapshotBytes: checkpoint.snapshotBytes, reopenMs, reopenedCount,
    };
  },
};

await init();
window.e2e = e2e;
window.e2eReady = true;
