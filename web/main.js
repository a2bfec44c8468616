// The demo page: open (or recover) a database in IndexedDB, write sample songs, search them with a filter.
// Served by `cargo xtask serve`; the package in ./pkg is built by `cargo xtask wasm`.
import init, { VecDb } from "./pkg/vecdb_wasm.js";

const NAME = "vecdb-demo";
const DIMENSION = 16;
const GENRES = ["jazz", "rock", "classical", "electronic", "folk"];

// A seeded generator (splitmix32), so every visit makes the same songs for the same ids.
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

// Each genre has a direction; a song is its genre's direction plus noise.
const CENTERS = GENRES.map((_, index) => {
  const next = random(1000 + index);
  return Float32Array.from({ length: DIMENSION }, () => next() * 2 - 1);
});

function song(id) {
  const next = random(id + 1);
  const genreIndex = Math.floor(next() * GENRES.length);
  const vector = Float32Array.from(CENTERS[genreIndex], (value) => value + (next() * 2 - 1) * 0.6);
  const metadata = { genre: GENRES[genreIndex], year: 1950 + Math.floor(next() * 75), title: `Song ${id}` };
  return { id, vector, metadata };
}

const $ = (selector) => document.querySelector(selector);
let db;

function show(element, text, isError = false) {
  element.textContent = text;
  element.className = isError ? "error" : "muted";
}

function describeError(error) {
  return error && error.kind ? `${error.kind}: ${error.message}` : String(error);
}

function renderStats() {
  const stats = db.stats();
  const recovery = stats.recovery;
  const recovered = recovery.snapshotLsn === null
    ? `replayed ${recovery.operationsReplayed} operations from the log (no snapshot yet)`
    : `loaded the snapshot at LSN ${recovery.snapshotLsn} (${recovery.snapshotBytes} bytes), replayed ` +
      `${recovery.operationsReplayed} operations after it`;
  const rows = [
    ["status", "open"],
    ["vectors", `${stats.count} live, ${stats.deletedCount} deleted`],
    ["configuration", `${stats.dimension} dimensions, ${stats.metric}, M = ${stats.m}, ` +
      `efConstruction = ${stats.efConstruction}, efSearch = ${stats.efSearch}, ${stats.encoding}`],
    ["last write", `LSN ${stats.appliedLsn}`],
    ["last recovery", `${recovered}; up to LSN ${recovery.lastLsn}; opened in ${recovery.openMs.toFixed(0)} ms`],
    ["memory", `${(stats.memoryBytes / 1024).toFixed(0)} KiB`],
  ];
  const list = $("#stats");
  list.replaceChildren();
  for (const [term, description] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = description;
    dd.dataset.field = term;
    list.append(dt, dd);
  }
}

function nextId() {
  const ids = db.ids();
  return ids.length === 0 ? 0 : ids[ids.length - 1] + 1;
}

async function write(label, action) {
  const started = performance.now();
  try {
    const detail = await action();
    show($("#write-result"), `${label}: ${detail} in ${(performance.now() - started).toFixed(0)} ms (durable)`);
  } catch (error) {
    show($("#write-result"), `${label} failed: ${describeError(error)}`, true);
  }
  renderStats();
}

function search(event) {
  event?.preventDefault();
  const form = $("#search");
  const body = $("#hits tbody");
  body.replaceChildren();
  try {
    const like = db.get(Number(form.query.value));
    const filter = form.filter.value.trim();
    const started = performance.now();
    const hits = db.search(like.vector, Number(form.k.value), filter ? { filter } : {});
    const elapsed = performance.now() - started;
    for (const hit of hits) {
      const row = document.createElement("tr");
      for (const text of [hit.id, hit.distance.toFixed(4), JSON.stringify(hit.metadata)]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    }
    show($("#search-result"), `${hits.length} results in ${elapsed.toFixed(2)} ms`);
  } catch (error) {
    show($("#search-result"), describeError(error), true);
  }
}

async function main() {
  $("#name").textContent = NAME;
  await init();
  try {
    db = await VecDb.open(NAME, { dimension: DIMENSION, metric: "cosine" });
  } catch (error) {
    show($("#status"), `could not open: ${describeError(error)}`, true);
    return;
  }
  renderStats();
  $("#insert-one").onclick = () => write("insert", async () => {
    const { id, vector, metadata } = song(nextId());
    await db.insert(id, vector, metadata);
    return `song ${id} (${metadata.genre}, ${metadata.year})`;
  });
  $("#insert-batch").onclick = () => write("insertBatch", async () => {
    const first = nextId();
    await db.insertBatch(Array.from({ length: 200 }, (_, index) => song(first + index)));
    return `songs ${first} to ${first + 199}`;
  });
  $("#delete-last").onclick = () => write("delete", async () => {
    const id = nextId() - 1;
    await db.delete(id);
    return `song ${id}`;
  });
  $("#checkpoint").onclick = () => write("checkpoint", async () => {
    const info = await db.checkpoint();
    return `snapshot at LSN ${info.lsn}, ${info.snapshotBytes} bytes, ${info.segmentsDeleted} log segments dropped`;
  });
  $("#reset").onclick = async () => {
    await db.close();
    await VecDb.deleteDatabase(NAME);
    location.reload();
  };
  $("#search").onsubmit = search;
  if (db.stats().count > 0) search();
  window.demo = { db, song }; // for the console (and the end-to-end tests)
  document.body.dataset.ready = "true";
}

main();
