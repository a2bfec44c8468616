//! The JavaScript API (wasm32 only): [`VecDb`], the durable database on IndexedDB, and [`VecIndex`], the
//! in-memory HNSW index alone. The TypeScript declarations of the option and result objects are the
//! `typescript_custom_section` below; wasm-bindgen writes them into the package's `.d.ts`.

use std::future::Future;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Float64Array, Object, Promise, Reflect};
use storage_core::PersistenceError;
use storage_idb::SharedIndexedDbBackend;
use vecdb::metadata::METADATA_KEYS_MAX;
use vecdb::{AsyncDb, DbConfig, HnswIndex, Metadata, Record, SearchOptions, Value, VecDbError};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::cell::WriteCell;
use crate::error::WasmError;
use crate::options::{OpenOptions, count_from_number, encoding_name, id_from_number, id_to_number, metric_name};

#[wasm_bindgen(typescript_custom_section)]
const TYPESCRIPT_TYPES: &str = r#"
/** Options of `VecDb.open` and `new VecIndex`. A database keeps the options it was created with. */
export interface OpenOptions {
  /** Components per vector, 1 to 4096. Required. */
  dimension: number;
  /** "cosine" (default; vectors are normalized), "l2" (squared Euclidean) or "dot" (negated inner product). */
  metric?: "cosine" | "l2" | "dot";
  /** Links per node, 2 to 128 (default 16). */
  m?: number;
  /** Search breadth while inserting, 1 to 4096 (default 200). */
  efConstruction?: number;
  /** Default search breadth, 1 to 4096 (default 64). */
  efSearch?: number;
  /** "f32" (default) or "sq8" (8-bit quantized traversal, re-ranked in f32). */
  encoding?: "f32" | "sq8";
}

/** Metadata of one vector: keys of the form [a-z_][a-z0-9_.]* (at most 64), values strings, finite numbers or booleans. */
export type Metadata = Record<string, string | number | boolean>;

/** One record of `insertBatch`. Ids are safe non-negative integers (0 to Number.MAX_SAFE_INTEGER). */
export interface InsertRecord {
  id: number;
  vector: Float32Array | number[];
  metadata?: Metadata;
}

/** Options of `search`. */
export interface SearchOptions {
  /** A filter expression over metadata, e.g. `genre = "jazz" and year >= 1990`. */
  filter?: string;
  /** Search breadth (default: the database's efSearch; at least k is used). */
  ef?: number;
}

/** One search result: closest first; smaller distances are closer under every metric. */
export interface SearchHit {
  id: number;
  distance: number;
  metadata: Metadata;
}

/** A stored vector (normalized under cosine) and its metadata. */
export interface StoredRecord {
  id: number;
  vector: Float32Array;
  metadata: Metadata;
}

/** What opening the database found and did. */
export interface RecoveryInfo {
  /** The snapshot recovery started from (null: none yet). */
  snapshotLsn: number | null;
  snapshotBytes: number;
  /** Log records (a batch is one) and operations replayed after the snapshot. */
  entriesReplayed: number;
  operationsReplayed: number;
  /** The last LSN in the recovered state. */
  lastLsn: number;
  /** Bytes of a torn log tail cut off (always 0 on IndexedDB: its transactions are atomic). */
  tornBytesTruncated: number;
  /** Newer snapshots skipped as corrupt. */
  skippedSnapshots: number;
  /** Milliseconds `VecDb.open` took, IndexedDB included. */
  openMs: number;
}

/** In-memory counts: `stats()` answers without touching IndexedDB. */
export interface DbStats {
  name: string;
  /** Live (searchable) vectors. */
  count: number;
  /** Deleted vectors still in the graph as tombstones. */
  deletedCount: number;
  /** The LSN of the last write applied. */
  appliedLsn: number;
  dimension: number;
  metric: "cosine" | "l2" | "dot";
  encoding: "f32" | "sq8";
  m: number;
  efConstruction: number;
  efSearch: number;
  /** About how many bytes of memory the index holds. */
  memoryBytes: number;
  recovery: RecoveryInfo;
}

/** What the database holds in IndexedDB (`storageStats()` lists the store). */
export interface StorageStats {
  liveCount: number;
  deletedCount: number;
  appliedLsn: number;
  walOperations: number;
  walBytes: number;
  walSegmentCount: number;
  snapshotLsn: number | null;
  snapshotCount: number;
  snapshotBytes: number;
  bytesOnDisk: number;
  memoryBytes: number;
}

/** What a checkpoint wrote. */
export interface CheckpointInfo {
  lsn: number;
  snapshotBytes: number;
  segmentsDeleted: number;
}

/** The result of `VecIndex.search`: ids and distances, closest first. */
export interface IndexHits {
  ids: Float64Array;
  distances: Float32Array;
}

/**
 * Every error the API throws or rejects with is an `Error` (name "VecDbError") with these properties. `kind` is
 * one of: "InvalidId", "InvalidArgument", "Busy", "Closed", "Storage", and the database's own kinds
 * ("DimensionMismatch", "NonFiniteValue", "ZeroVectorUnderCosine", "EmptyBatch", "KIsZero", "UnknownId",
 * "LimitExceeded", "InvalidConfig", "Filter", "MetadataTooLarge", "MetadataTooManyKeys", "MetadataKeyInvalid",
 * "MetadataStringTooLong", "MetadataNonFiniteNumber", "Corrupt", "Durability", "NoDatabase", "ConfigMismatch").
 */
export interface VecDbError extends Error {
  kind: string;
  /** For storage failures, the storage error's kind: "DiskFull" (the quota), "Locked", "Poisoned", "Corrupted", "Backend", ... */
  storageKind?: string;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// A `Metadata` object (typed for TypeScript; read field by field).
    #[wasm_bindgen(typescript_type = "Metadata")]
    pub type MetadataObject;
    /// A `SearchOptions` object.
    #[wasm_bindgen(typescript_type = "SearchOptions")]
    pub type SearchOptionsObject;
    /// An `OpenOptions` object.
    #[wasm_bindgen(typescript_type = "OpenOptions")]
    pub type OpenOptionsObject;
}

/// The value of an optional object argument (`undefined` when left out or `null`).
fn optional(value: Option<impl Into<JsValue>>) -> JsValue {
    value.map_or(JsValue::UNDEFINED, Into::into)
}

/// The JavaScript `Error` for `error`: its message, `name = "VecDbError"`, `kind` and (for storage failures)
/// `storageKind`.
fn js_error(error: WasmError) -> JsValue {
    let object = js_sys::Error::new(&error.to_string());
    object.set_name("VecDbError");
    set(&object, "kind", &JsValue::from_str(error.kind()));
    if let Some(storage_kind) = error.storage_kind() {
        set(&object, "storageKind", &JsValue::from_str(storage_kind));
    }
    object.into()
}

/// Sets a property of a plain object we created (that cannot fail).
fn set(target: &JsValue, key: &str, value: &JsValue) {
    // Reflect.set fails only on frozen objects and throwing setters; ours are fresh plain objects.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn number(value: u64) -> JsValue {
    // Counts, LSNs and sizes stay far below 2^53 (they count operations and bytes of one origin's storage).
    JsValue::from_f64(value as f64)
}

fn optional_number(value: Option<u64>) -> JsValue {
    value.map_or(JsValue::NULL, number)
}

/// A property of an options object; `undefined` when `object` is not an object or lacks it.
fn field(object: &JsValue, key: &str) -> JsValue {
    if object.is_object() {
        Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// An optional number option (`undefined` or `null`: absent).
fn optional_number_field(object: &JsValue, key: &'static str) -> Result<Option<f64>, WasmError> {
    let value = field(object, key);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.as_f64().map(Some).ok_or_else(|| WasmError::argument(key, "must be a number"))
}

/// An optional string option (`undefined` or `null`: absent).
fn optional_string_field(object: &JsValue, key: &'static str) -> Result<Option<String>, WasmError> {
    let value = field(object, key);
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.as_string().map(Some).ok_or_else(|| WasmError::argument(key, "must be a string"))
}

/// The options object of `VecDb.open` / `new VecIndex` (`None` when `undefined` or `null`).
fn read_open_options(value: &JsValue) -> Result<Option<OpenOptions>, WasmError> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    if !value.is_object() {
        return Err(WasmError::argument("options", "must be an object"));
    }
    Ok(Some(OpenOptions {
        dimension: optional_number_field(value, "dimension")?,
        metric: optional_string_field(value, "metric")?,
        m: optional_number_field(value, "m")?,
        ef_construction: optional_number_field(value, "efConstruction")?,
        ef_search: optional_number_field(value, "efSearch")?,
        encoding: optional_string_field(value, "encoding")?,
    }))
}

fn read_id(value: &JsValue) -> Result<u64, WasmError> {
    match value.as_f64() {
        Some(number) => id_from_number(number),
        None => Err(WasmError::InvalidId {
            reason: format!(
                "{} is not a number (ids are safe non-negative integer numbers)",
                value.js_typeof().as_string().unwrap_or_default()
            ),
        }),
    }
}

/// A vector: a `Float32Array`, a `Float64Array` or an array of numbers. A vector longer than the dimension is
/// refused before it is copied.
fn read_vector(value: &JsValue, dimension: usize) -> Result<Vec<f32>, WasmError> {
    let mismatch = |found: u32| VecDbError::DimensionMismatch { expected: dimension, found: found as usize };
    if let Some(array) = value.dyn_ref::<Float32Array>() {
        if array.length() as usize != dimension {
            return Err(mismatch(array.length()).into());
        }
        return Ok(array.to_vec());
    }
    if let Some(array) = value.dyn_ref::<Float64Array>() {
        if array.length() as usize != dimension {
            return Err(mismatch(array.length()).into());
        }
        return Ok(array.to_vec().into_iter().map(|component| component as f32).collect());
    }
    if let Some(array) = value.dyn_ref::<Array>() {
        if array.length() as usize != dimension {
            return Err(mismatch(array.length()).into());
        }
        let mut vector = Vec::with_capacity(dimension);
        for component in array.iter() {
            let component =
                component.as_f64().ok_or_else(|| WasmError::argument("vector", "components must be numbers"))?;
            vector.push(component as f32);
        }
        return Ok(vector);
    }
    Err(WasmError::argument("vector", "must be a Float32Array or an array of numbers"))
}

/// Metadata from a plain object of strings, numbers and booleans (`undefined` or `null`: none). The database
/// checks keys, lengths and numbers when the record is written.
fn read_metadata(value: &JsValue) -> Result<Metadata, WasmError> {
    let mut metadata = Metadata::new();
    if value.is_undefined() || value.is_null() {
        return Ok(metadata);
    }
    if !value.is_object() || Array::is_array(value) {
        return Err(WasmError::argument("metadata", "must be a plain object"));
    }
    let keys = Object::keys(value.unchecked_ref::<Object>());
    if keys.length() as usize > METADATA_KEYS_MAX {
        return Err(VecDbError::MetadataTooManyKeys { count: keys.length() as usize, limit: METADATA_KEYS_MAX }.into());
    }
    for key in keys.iter() {
        let item = Reflect::get(value, &key).unwrap_or(JsValue::UNDEFINED);
        let key = key.as_string().unwrap_or_default();
        let item = if let Some(text) = item.as_string() {
            Value::String(text)
        } else if let Some(number) = item.as_f64() {
            Value::Number(number)
        } else if let Some(flag) = item.as_bool() {
            Value::Bool(flag)
        } else {
            return Err(WasmError::argument(
                "metadata",
                format!("the value of {key:?} is not a string, number or boolean"),
            ));
        };
        metadata.insert(key, item);
    }
    Ok(metadata)
}

fn metadata_to_js(metadata: Option<&Metadata>) -> JsValue {
    let object: JsValue = Object::new().into();
    for (key, value) in metadata.into_iter().flatten() {
        let value = match value {
            Value::String(text) => JsValue::from_str(text),
            Value::Number(number) => JsValue::from_f64(*number),
            Value::Bool(flag) => JsValue::from_bool(*flag),
        };
        set(&object, key, &value);
    }
    object
}

/// A promise for `future`, rejected with the JavaScript error of its `WasmError`.
fn spawn(future: impl Future<Output = Result<JsValue, WasmError>> + 'static) -> Promise {
    spawn_boxed(Box::pin(future))
}

/// [`spawn`] for every future type at once: one instantiation of `future_to_promise` and its wrapper, not one per
/// method (smaller module; a write's promise pays one allocation, nothing next to its IndexedDB transaction).
#[inline(never)]
fn spawn_boxed(future: std::pin::Pin<Box<dyn Future<Output = Result<JsValue, WasmError>>>>) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move { future.await.map_err(js_error) })
}

/// A promise already rejected with `error`.
fn rejected(error: WasmError) -> Promise {
    Promise::reject(&js_error(error))
}

#[wasm_bindgen(inline_js = r#"
export function vecdb_acquire_lock(name, wait_ms) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (!locks) return Promise.resolve(null);
  return new Promise((resolve) => {
    const signal = AbortSignal.timeout(wait_ms);
    locks.request(name, { mode: "exclusive", signal }, () => new Promise((release) => resolve(release)))
      .catch(() => resolve(undefined));
  });
}
"#)]
extern "C" {
    /// Asks for the exclusive Web Lock `name`, waiting at most `wait_ms`: resolves with the function that releases
    /// it, with `undefined` when another tab or worker kept it that long, or with `null` where there are no Web
    /// Locks.
    #[wasm_bindgen(js_name = vecdb_acquire_lock)]
    fn acquire_lock(name: &str, wait_ms: f64) -> Promise;
}

/// How long `VecDb.open` waits for another handle on the same database to close (a page being reloaded or a tab
/// being closed lets go of it within milliseconds).
pub const OPEN_LOCK_WAIT_MS: u32 = 3_000;

/// The exclusive Web Lock `vecdb:<name>`, held while a database is open: one writer per database across the
/// origin's tabs and workers (two would append to the same log). The browser releases it when the holder's page
/// or worker goes away, a crash included.
struct TabLock {
    release: Option<js_sys::Function>,
}

impl TabLock {
    async fn acquire(name: &str) -> Result<Self, WasmError> {
        let answer =
            wasm_bindgen_futures::JsFuture::from(acquire_lock(&format!("vecdb:{name}"), f64::from(OPEN_LOCK_WAIT_MS)))
                .await
                .map_err(|error| {
                    WasmError::argument("locks", error.as_string().unwrap_or_else(|| "Web Locks failed".into()))
                })?;
        if answer.is_undefined() {
            return Err(PersistenceError::Locked {
                location: format!("IndexedDB database {name:?} (open in another tab or worker)"),
            }
            .into());
        }
        Ok(Self { release: answer.dyn_into::<js_sys::Function>().ok() })
    }
}

impl Drop for TabLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }
}

/// An open database and the lock that makes it the only writer (dropped after the database, so the connection is
/// closed before another tab can open it).
struct Database {
    inner: AsyncDb<SharedIndexedDbBackend>,
    _lock: TabLock,
}

impl std::ops::Deref for Database {
    type Target = AsyncDb<SharedIndexedDbBackend>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Database {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

/// The configuration stored in the database (`None`: none, and `AsyncDb::open` will say so).
async fn stored_config(backend: &SharedIndexedDbBackend) -> Result<Option<DbConfig>, WasmError> {
    let key = storage_core::Key::new(vecdb::db::CONFIG_KEY)?;
    match storage_core::AsyncStorageBackend::read(backend, &key).await? {
        Some(bytes) => Ok(Some(DbConfig::decode(&bytes)?)),
        None => Ok(None),
    }
}

/// A durable vector database in IndexedDB: every write is logged, and its promise resolves once the write is on
/// disk (an IndexedDB transaction with durability "strict" completed). Reopening (after a reload, a closed tab or a
/// crash) recovers every acknowledged write.
#[wasm_bindgen]
pub struct VecDb {
    name: String,
    config: DbConfig,
    cell: Rc<WriteCell<Database>>,
    open_ms: f64,
}

#[wasm_bindgen]
impl VecDb {
    /// Opens the IndexedDB database `name` of this origin, recovering its state, or creates it with `options`
    /// when it holds none. One handle per database at a time across the origin's tabs and workers (a Web Lock):
    /// when another keeps it open for `OPEN_LOCK_WAIT_MS` (3 s), this rejects with kind "Storage", storageKind
    /// "Locked". For an existing database `options` may be left out; the fields given must match the
    /// stored configuration (else a "ConfigMismatch" error), and the fields left out take the stored values.
    pub async fn open(name: String, options: Option<OpenOptionsObject>) -> Result<VecDb, JsValue> {
        Self::open_inner(name, &optional(options)).await.map_err(js_error)
    }

    async fn open_inner(name: String, options: &JsValue) -> Result<VecDb, WasmError> {
        let started = js_sys::Date::now();
        let options = read_open_options(options)?;
        let lock = TabLock::acquire(&name).await?;
        let backend = SharedIndexedDbBackend::open(&name).await?;
        let empty = storage_core::AsyncStorageBackend::list(&backend, "").await?.is_empty();
        let database = match (empty, options) {
            (true, None) => {
                return Err(WasmError::argument("options", "a new database needs options with its dimension"));
            }
            (true, Some(options)) => AsyncDb::create(backend, options.database_config()?).await?,
            (false, options) => {
                // Compare the given options with the stored configuration before recovering anything. (Not
                // `AsyncDb::open_with_config`: it compares whole configurations, defaults included, and its
                // messages format floats, which would pull Rust's float printing into the module.)
                if let (Some(options), Some(stored)) = (options, stored_config(&backend).await?) {
                    options.check_against(&stored.index)?;
                }
                AsyncDb::open(backend).await?
            }
        };
        let config = *database.config();
        let database = Database { inner: database, _lock: lock };
        Ok(VecDb { name, config, cell: WriteCell::new(database), open_ms: js_sys::Date::now() - started })
    }

    /// Deletes the IndexedDB database `name` (close every handle on it first, or this fails with "Storage" /
    /// storageKind "Locked" and the deletion waits for them).
    #[wasm_bindgen(js_name = deleteDatabase)]
    pub async fn delete_database(name: String) -> Result<(), JsValue> {
        storage_idb::IndexedDbBackend::delete_database(&name).await.map_err(|error| js_error(error.into()))
    }

    /// The IndexedDB database's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Inserts `id` with `vector` and `metadata`, or replaces them when `id` is live. Resolves with the write's
    /// log sequence number once it is durable; writes run in call order, so starting several without awaiting
    /// is fine.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn insert(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] vector: JsValue,
        metadata: Option<MetadataObject>,
    ) -> Promise {
        let prepared = (|| {
            let id = read_id(&id)?;
            let vector = read_vector(&vector, self.config.index.dimension)?;
            let metadata = read_metadata(&optional(metadata))?;
            Ok::<_, WasmError>((id, vector, metadata, self.cell.write()?))
        })();
        match prepared {
            Err(error) => rejected(error),
            Ok((id, vector, metadata, turn)) => spawn(async move {
                let mut lease = turn.await?;
                let lsn = lease.value()?.insert(id, &vector, metadata).await?;
                Ok(number(lsn))
            }),
        }
    }

    /// Inserts (or replaces) every record as one atomic, durable unit: after a crash all of them are back or none.
    /// Resolves with the batch's last log sequence number.
    #[wasm_bindgen(js_name = insertBatch, unchecked_return_type = "Promise<number>")]
    pub fn insert_batch(&self, #[wasm_bindgen(unchecked_param_type = "InsertRecord[]")] records: JsValue) -> Promise {
        let prepared = (|| {
            let records = read_records(&records, self.config.index.dimension)?;
            Ok::<_, WasmError>((records, self.cell.write()?))
        })();
        match prepared {
            Err(error) => rejected(error),
            Ok((records, turn)) => spawn(async move {
                let mut lease = turn.await?;
                let range = lease.value()?.insert_batch(records).await?;
                Ok(number(*range.end()))
            }),
        }
    }

    /// Deletes a live id. Resolves with the write's log sequence number once durable; an unknown id rejects with
    /// "UnknownId".
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn delete(&self, #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue) -> Promise {
        let prepared = read_id(&id).and_then(|id| Ok((id, self.cell.write()?)));
        match prepared {
            Err(error) => rejected(error),
            Ok((id, turn)) => spawn(async move {
                let mut lease = turn.await?;
                Ok(number(lease.value()?.delete(id).await?))
            }),
        }
    }

    /// Replaces the metadata of a live id (an empty object removes it). Resolves with the write's log sequence
    /// number once durable.
    #[wasm_bindgen(js_name = updateMetadata, unchecked_return_type = "Promise<number>")]
    pub fn update_metadata(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue,
        metadata: Option<MetadataObject>,
    ) -> Promise {
        let metadata = optional(metadata);
        let prepared = (|| Ok::<_, WasmError>((read_id(&id)?, read_metadata(&metadata)?, self.cell.write()?)))();
        match prepared {
            Err(error) => rejected(error),
            Ok((id, metadata, turn)) => spawn(async move {
                let mut lease = turn.await?;
                Ok(number(lease.value()?.update_metadata(id, metadata).await?))
            }),
        }
    }

    /// Writes a snapshot and drops the log before it, so the next open replays less.
    #[wasm_bindgen(unchecked_return_type = "Promise<CheckpointInfo>")]
    pub fn checkpoint(&self) -> Promise {
        match self.cell.write() {
            Err(error) => rejected(error),
            Ok(turn) => spawn(async move {
                let mut lease = turn.await?;
                let report = lease.value()?.checkpoint().await?;
                let info: JsValue = Object::new().into();
                set(&info, "lsn", &number(report.lsn));
                set(&info, "snapshotBytes", &number(report.snapshot_bytes));
                set(&info, "segmentsDeleted", &number(report.segments_deleted as u64));
                Ok(info)
            }),
        }
    }

    /// Rebuilds the graph without tombstones (ids stay), then checkpoints.
    #[wasm_bindgen(unchecked_return_type = "Promise<CheckpointInfo>")]
    pub fn compact(&self) -> Promise {
        match self.cell.write() {
            Err(error) => rejected(error),
            Ok(turn) => spawn(async move {
                let mut lease = turn.await?;
                let report = lease.value()?.compact().await?;
                let info: JsValue = Object::new().into();
                set(&info, "lsn", &number(report.lsn));
                set(&info, "snapshotBytes", &number(report.snapshot_bytes));
                set(&info, "segmentsDeleted", &number(report.segments_deleted as u64));
                Ok(info)
            }),
        }
    }

    /// The `k` nearest live vectors to `query`, closest first, with their metadata. Synchronous: it sees every
    /// write whose promise has resolved, and throws "Busy" while a write is pending (called, not yet resolved).
    #[wasm_bindgen(unchecked_return_type = "SearchHit[]")]
    pub fn search(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Float32Array | number[]")] query: JsValue,
        k: f64,
        options: Option<SearchOptionsObject>,
    ) -> Result<Array, JsValue> {
        self.search_inner(&query, k, &optional(options)).map_err(js_error)
    }

    fn search_inner(&self, query: &JsValue, k: f64, options: &JsValue) -> Result<Array, WasmError> {
        let query = read_vector(query, self.config.index.dimension)?;
        let k = count_from_number("k", k)?;
        let mut search_options = match optional_string_field(options, "filter")? {
            Some(filter) => SearchOptions::filtered(&filter)?,
            None => SearchOptions::default(),
        };
        if let Some(ef) = optional_number_field(options, "ef")? {
            search_options.ef = Some(count_from_number("ef", ef)?);
        }
        self.cell.read(|database| {
            let hits = database.search(&query, k, &search_options)?;
            let state = database.state();
            let results = Array::new_with_length(hits.len() as u32);
            for (index, hit) in hits.iter().enumerate() {
                let object: JsValue = Object::new().into();
                set(&object, "id", &JsValue::from_f64(id_to_number(hit.id)));
                set(&object, "distance", &JsValue::from_f64(f64::from(hit.distance)));
                set(&object, "metadata", &metadata_to_js(state.metadata(hit.id)));
                results.set(index as u32, object);
            }
            Ok(results)
        })?
    }

    /// The stored vector (normalized under cosine) and metadata of a live id; throws "UnknownId" otherwise.
    #[wasm_bindgen(unchecked_return_type = "StoredRecord")]
    pub fn get(&self, #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue) -> Result<JsValue, JsValue> {
        let get = || {
            let id = read_id(&id)?;
            let record: Record = self.cell.read(|database| database.get(id))??;
            let object: JsValue = Object::new().into();
            set(&object, "id", &JsValue::from_f64(id_to_number(record.id)));
            set(&object, "vector", &Float32Array::from(record.vector.as_slice()).into());
            set(&object, "metadata", &metadata_to_js(Some(&record.metadata)));
            Ok::<_, WasmError>(object)
        };
        get().map_err(js_error)
    }

    /// Whether `id` is live.
    pub fn contains(&self, #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue) -> Result<bool, JsValue> {
        read_id(&id).and_then(|id| self.cell.read(|database| database.state().contains(id))).map_err(js_error)
    }

    /// Every live id, ascending.
    #[wasm_bindgen(unchecked_return_type = "number[]")]
    pub fn ids(&self) -> Result<Array, JsValue> {
        self.cell
            .read(|database| database.state().ids().into_iter().map(|id| JsValue::from_f64(id_to_number(id))).collect())
            .map_err(js_error)
    }

    /// Counts, the configuration and the last recovery, from memory.
    #[wasm_bindgen(unchecked_return_type = "DbStats")]
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        self.cell
            .read(|database| {
                let index = database.state().index();
                let config = &self.config.index;
                let stats: JsValue = Object::new().into();
                set(&stats, "name", &JsValue::from_str(&self.name));
                set(&stats, "count", &number(index.len() as u64));
                set(&stats, "deletedCount", &number(index.deleted_count() as u64));
                set(&stats, "appliedLsn", &number(database.applied_lsn()));
                set(&stats, "dimension", &number(config.dimension as u64));
                set(&stats, "metric", &JsValue::from_str(metric_name(config.metric)));
                set(&stats, "encoding", &JsValue::from_str(encoding_name(config.encoding)));
                set(&stats, "m", &number(config.m as u64));
                set(&stats, "efConstruction", &number(config.ef_construction as u64));
                set(&stats, "efSearch", &number(config.ef_search as u64));
                set(&stats, "memoryBytes", &number(index.heap_bytes() as u64));
                let report = database.recovery_report();
                let recovery: JsValue = Object::new().into();
                set(&recovery, "snapshotLsn", &optional_number(report.snapshot_lsn));
                set(&recovery, "snapshotBytes", &number(report.snapshot_bytes));
                set(&recovery, "entriesReplayed", &number(report.entries_replayed));
                set(&recovery, "operationsReplayed", &number(report.operations_replayed));
                set(&recovery, "lastLsn", &number(report.last_lsn));
                set(&recovery, "tornBytesTruncated", &number(report.wal.torn_bytes_truncated));
                set(&recovery, "skippedSnapshots", &number(report.skipped_snapshots.len() as u64));
                set(&recovery, "openMs", &JsValue::from_f64(self.open_ms));
                set(&stats, "recovery", &recovery);
                stats
            })
            .map_err(js_error)
    }

    /// What the database holds in IndexedDB: log and snapshot sizes (it lists the store, so it is a promise and
    /// waits its turn behind earlier writes).
    #[wasm_bindgen(js_name = storageStats, unchecked_return_type = "Promise<StorageStats>")]
    pub fn storage_stats(&self) -> Promise {
        match self.cell.write() {
            Err(error) => rejected(error),
            Ok(turn) => spawn(async move {
                let mut lease = turn.await?;
                let stats = lease.value()?.stats().await?;
                let object: JsValue = Object::new().into();
                set(&object, "liveCount", &number(stats.live_count));
                set(&object, "deletedCount", &number(stats.deleted_count));
                set(&object, "appliedLsn", &number(stats.applied_lsn));
                set(&object, "walOperations", &number(stats.wal_operations));
                set(&object, "walBytes", &number(stats.wal_bytes));
                set(&object, "walSegmentCount", &number(stats.wal_segment_count as u64));
                set(&object, "snapshotLsn", &optional_number(stats.snapshot_lsn));
                set(&object, "snapshotCount", &number(stats.snapshot_count as u64));
                set(&object, "snapshotBytes", &number(stats.snapshot_bytes));
                set(&object, "bytesOnDisk", &number(stats.bytes_on_disk));
                set(&object, "memoryBytes", &number(stats.memory_bytes));
                Ok(object)
            }),
        }
    }

    /// Waits for earlier writes, then closes the IndexedDB connection. Every later call rejects (or throws) with
    /// "Closed"; closing again resolves at once.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        match self.cell.write() {
            Err(WasmError::Closed) => Promise::resolve(&JsValue::UNDEFINED),
            Err(error) => rejected(error),
            Ok(turn) => spawn(async move {
                match turn.await {
                    Ok(lease) => lease.close(),
                    Err(WasmError::Closed) => {}
                    Err(error) => return Err(error),
                }
                Ok(JsValue::UNDEFINED)
            }),
        }
    }
}

/// The records of `insertBatch`, at most `BATCH_ITEMS_MAX` (checked before any is read).
fn read_records(value: &JsValue, dimension: usize) -> Result<Vec<Record>, WasmError> {
    let array = value.dyn_ref::<Array>().ok_or_else(|| WasmError::argument("records", "must be an array"))?;
    let length = array.length() as usize;
    if length > vecdb::db::BATCH_ITEMS_MAX {
        return Err(VecDbError::LimitExceeded {
            what: "BATCH_ITEMS_MAX",
            value: length as u64,
            limit: vecdb::db::BATCH_ITEMS_MAX as u64,
        }
        .into());
    }
    let mut records = Vec::with_capacity(length);
    for item in array.iter() {
        if !item.is_object() {
            return Err(WasmError::argument("records", "every record must be an object {id, vector, metadata}"));
        }
        records.push(Record::new(
            read_id(&field(&item, "id"))?,
            read_vector(&field(&item, "vector"), dimension)?,
            read_metadata(&field(&item, "metadata"))?,
        ));
    }
    Ok(records)
}

/// The HNSW index alone, in memory (nothing is stored): for ephemeral search and for measuring the engine.
#[wasm_bindgen]
pub struct VecIndex {
    index: HnswIndex,
}

#[wasm_bindgen]
impl VecIndex {
    /// An empty index with these options (the same as `VecDb.open`'s).
    #[wasm_bindgen(constructor)]
    pub fn new(options: OpenOptionsObject) -> Result<VecIndex, JsValue> {
        let options = JsValue::from(options);
        let build = || {
            let options = read_open_options(&options)?.ok_or_else(|| WasmError::argument("options", "are required"))?;
            Ok::<_, WasmError>(VecIndex { index: HnswIndex::new(options.index_config()?)? })
        };
        build().map_err(js_error)
    }

    /// Inserts one vector under `id` (an id that is live is refused with "DuplicateId").
    pub fn add(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue,
        vector: &[f32],
    ) -> Result<(), JsValue> {
        let mut add = || {
            self.index.insert(read_id(&id)?, vector)?;
            Ok::<_, WasmError>(())
        };
        add().map_err(js_error)
    }

    /// Inserts the rows of `vectors` (row-major, `dimension` components each) under the ids `firstId`,
    /// `firstId + 1`, ...; returns how many were inserted.
    #[wasm_bindgen(js_name = addBatch)]
    pub fn add_batch(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "number")] first_id: JsValue,
        vectors: &[f32],
    ) -> Result<u32, JsValue> {
        let mut add = || {
            let dimension = self.index.config().dimension;
            if vectors.len() % dimension != 0 {
                return Err(WasmError::argument("vectors", format!("length is not a multiple of {dimension}")));
            }
            let first_id = read_id(&first_id)?;
            let mut count = 0_u32;
            for (row_index, row) in vectors.chunks_exact(dimension).enumerate() {
                let id = first_id + row_index as u64;
                id_from_number(id_to_number(id))?;
                self.index.insert(id, row)?;
                count += 1;
            }
            Ok::<_, WasmError>(count)
        };
        add().map_err(js_error)
    }

    /// The `k` nearest vectors to `query`, closest first, searching with breadth `ef` (default: `efSearch`).
    #[wasm_bindgen(unchecked_return_type = "IndexHits")]
    pub fn search(&self, query: &[f32], k: f64, ef: Option<f64>) -> Result<JsValue, JsValue> {
        let search = || {
            let k = count_from_number("k", k)?;
            let ef = ef.map(|ef| count_from_number("ef", ef)).transpose()?;
            let hits = self.index.search(query, k, ef, None)?;
            let ids: Vec<f64> = hits.iter().map(|&(id, _)| id_to_number(id)).collect();
            let distances: Vec<f32> = hits.iter().map(|&(_, distance)| distance).collect();
            let object: JsValue = Object::new().into();
            set(&object, "ids", &Float64Array::from(ids.as_slice()).into());
            set(&object, "distances", &Float32Array::from(distances.as_slice()).into());
            Ok::<_, WasmError>(object)
        };
        search().map_err(js_error)
    }

    /// Marks a live id deleted (it is never returned again).
    pub fn delete(&mut self, #[wasm_bindgen(unchecked_param_type = "number")] id: JsValue) -> Result<(), JsValue> {
        let mut delete = || {
            self.index.mark_deleted(read_id(&id)?)?;
            Ok::<_, WasmError>(())
        };
        delete().map_err(js_error)
    }

    /// Live vectors.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> f64 {
        self.index.len() as f64
    }

    /// About how many bytes of memory the index holds.
    #[wasm_bindgen(js_name = memoryBytes)]
    pub fn memory_bytes(&self) -> f64 {
        self.index.heap_bytes() as f64
    }
}
