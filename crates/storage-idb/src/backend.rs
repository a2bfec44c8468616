//! [`IndexedDbBackend`]: the [`AsyncStorageBackend`] on IndexedDB (wasm32 only).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use indexed_db_futures::KeyRange;
use indexed_db_futures::database::Database;
use indexed_db_futures::error::{
    Error as IdbError, OpenDbError, SerialisationError, SimpleValueError, UnexpectedDataError,
};
use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{Transaction, TransactionDurability, TransactionMode, TransactionOptions};
use js_sys::{Array, Function, Reflect, Uint8Array};
use storage_core::{AsyncStorageBackend, Key, Operation, PersistenceError, Result};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use crate::layout::{
    self, CHUNKS_STORE, DATABASE_SCHEMA_VERSION, LENGTHS_STORE, VALUE_BYTES_MAX, appended_length, plan_read,
    truncate_cut, window_start,
};

/// A store of named byte values in one IndexedDB database, keeping the [`storage_core::StorageBackend`] contract
/// through [`AsyncStorageBackend`] (see the crate docs for the layout, durability and error mapping).
///
/// Not `Send`: it lives on the browser thread (a window or a worker) that opened it. Dropping it closes the
/// connection.
pub struct IndexedDbBackend {
    database_name: String,
    database: Database,
    /// Why the connection was closed under us (a version change from another connection, or the browser), if it was.
    closed: Rc<RefCell<Option<String>>>,
    /// The first failed write transaction or sync, as the `Poisoned` error every later call gets.
    poison: RefCell<Option<PersistenceError>>,
    /// The `versionchange` and `close` handlers, kept alive while the connection is (unset on drop).
    _on_version_change: Closure<dyn FnMut(JsValue)>,
    _on_close: Closure<dyn FnMut(JsValue)>,
}

impl std::fmt::Debug for IndexedDbBackend {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("IndexedDbBackend")
            .field("database_name", &self.database_name)
            .field("closed", &*self.closed.borrow())
            .field("poisoned", &self.poison.borrow().is_some())
            .finish_non_exhaustive()
    }
}

impl IndexedDbBackend {
    /// Opens (creating or upgrading when needed) the IndexedDB database `database_name` of this origin.
    ///
    /// Errors: [`PersistenceError::Locked`] when the upgrade is blocked by another connection that does not close
    /// (the upgrade then finishes in the background once it closes, and that connection is closed at once);
    /// [`PersistenceError::Backend`] with `VersionError` when the database was written by a newer schema version,
    /// or with the `DOMException` name of any other failure; [`PersistenceError::Corrupted`] when the database
    /// exists at this schema version without this crate's object stores.
    pub async fn open(database_name: &str) -> Result<Self> {
        Self::open_at_version(database_name, DATABASE_SCHEMA_VERSION).await
    }

    /// [`Self::open`] at schema `version` (tests open at a higher one to provoke upgrades).
    pub(crate) async fn open_at_version(database_name: &str, version: u32) -> Result<Self> {
        // The `blocked` and `upgradeneeded` handlers are set on the request directly, not through
        // `indexed_db_futures`' listeners: those format the crate's errors (floats included) into a JS error,
        // which would keep Rust's float printing in the browser module.
        let request = Database::open(database_name)
            .with_version(version)
            .build()
            .map_err(|error| open_error(database_name, error))?;
        let blocked = BlockedSignal::new();
        let on_blocked = Closure::<dyn FnMut(JsValue)>::new({
            let blocked = Rc::clone(&blocked);
            move |_event: JsValue| blocked.raise()
        });
        let on_upgrade_needed = Closure::<dyn FnMut(JsValue) -> std::result::Result<(), JsValue>>::new(
            // A thrown error aborts the upgrade, and the open request then fails with it.
            |event: JsValue| create_missing_stores(&event),
        );
        let raw_request = request.as_sys().clone();
        for (handler, function) in [
            ("onblocked", on_blocked.as_ref().unchecked_ref::<Function>()),
            ("onupgradeneeded", on_upgrade_needed.as_ref().unchecked_ref::<Function>()),
        ] {
            if let Err(error) = Reflect::set(&raw_request, &JsValue::from_str(handler), function) {
                return Err(js_error(Operation::Open, database_name, &error));
            }
        }
        let database = match until_blocked(request, &blocked).await {
            Opening::Finished(result) => {
                for handler in ["onblocked", "onupgradeneeded"] {
                    let _ = Reflect::set(&raw_request, &JsValue::from_str(handler), &JsValue::NULL);
                }
                result.map_err(|error| open_error(database_name, error))?
            }
            Opening::Blocked(request) => {
                // The open request cannot be cancelled: let it finish once the other connection closes (running
                // the upgrade, so its handler lives until then), then close its connection so it blocks nobody.
                wasm_bindgen_futures::spawn_local(async move {
                    let _handlers = (on_blocked, on_upgrade_needed);
                    if let Ok(database) = request.await {
                        database.close();
                    }
                });
                return Err(PersistenceError::Locked { location: database_name.to_owned() });
            }
        };
        for store in [CHUNKS_STORE, LENGTHS_STORE] {
            if !database.object_store_names().any(|name| name == store) {
                database.close();
                return Err(PersistenceError::Corrupted {
                    key: String::new(),
                    offset: 0,
                    reason: format!(
                        "the IndexedDB database {database_name:?} has no object store {store:?}: it was not written \
                         by storage-idb"
                    ),
                });
            }
        }
        let closed = Rc::new(RefCell::new(None));
        let on_version_change = Closure::<dyn FnMut(JsValue)>::new({
            let closed = Rc::clone(&closed);
            let connection = database.as_sys().clone();
            move |event: JsValue| {
                let new_version =
                    Reflect::get(&event, &JsValue::from_str("newVersion")).ok().and_then(|value| value.as_f64());
                let reason = match new_version {
                    // A version is an integer: printed as one, without Rust's float printing.
                    Some(version) => {
                        format!("another connection upgrades the database to version {}", number_text(version))
                    }
                    None => String::from("another connection deletes the database"),
                };
                // Closing at once lets the other connection go on; our transactions already started still finish.
                connection.close();
                closed.borrow_mut().get_or_insert(reason);
            }
        });
        let on_close = Closure::<dyn FnMut(JsValue)>::new({
            let closed = Rc::clone(&closed);
            move |_event: JsValue| {
                closed.borrow_mut().get_or_insert_with(|| {
                    String::from("the browser closed the connection (storage cleared or a storage failure)")
                });
            }
        });
        database.as_sys().set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        database.as_sys().set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self {
            database_name: database_name.to_owned(),
            database,
            closed,
            poison: RefCell::new(None),
            _on_version_change: on_version_change,
            _on_close: on_close,
        })
    }

    /// Deletes the IndexedDB database `database_name` with everything in it. Open handles on it close themselves
    /// (they answer the version change); a connection that does not close makes this fail with
    /// [`PersistenceError::Locked`], and the deletion then happens once it closes.
    pub async fn delete_database(database_name: &str) -> Result<()> {
        let operation = Operation::Delete;
        let request = Database::delete_by_name(database_name).map_err(|error| open_error(database_name, error))?;
        let blocked = BlockedSignal::new();
        let on_blocked = Closure::<dyn FnMut(JsValue)>::new({
            let blocked = Rc::clone(&blocked);
            move |_event: JsValue| blocked.raise()
        });
        let raw_request = request.as_sys().clone();
        let installed =
            Reflect::set(&raw_request, &JsValue::from_str("onblocked"), on_blocked.as_ref().unchecked_ref());
        if let Err(error) = installed {
            return Err(js_error(operation, database_name, &error));
        }
        let outcome = until_blocked(request, &blocked).await;
        let _ = Reflect::set(&raw_request, &JsValue::from_str("onblocked"), &JsValue::NULL);
        match outcome {
            Opening::Finished(result) => result.map_err(|error| idb_error(operation, database_name, error)),
            Opening::Blocked(request) => {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = request.await;
                });
                Err(PersistenceError::Locked { location: database_name.to_owned() })
            }
        }
    }

    /// The name of the IndexedDB database.
    pub fn database_name(&self) -> &str {
        &self.database_name
    }

    /// True once a failed write transaction or sync has poisoned this handle (see the crate docs).
    pub fn is_poisoned(&self) -> bool {
        self.poison.borrow().is_some()
    }

    /// How many chunk records hold `key`'s value: one per non-empty append (more for appends over
    /// [`crate::CHUNK_BYTES_MAX`]), for diagnostics and tests. A missing key has none.
    pub async fn chunk_count(&self, key: &Key) -> Result<u64> {
        let context = Context { operation: Operation::Len, key: key.as_str() };
        let transaction = self.transaction(context, TransactionMode::Readonly)?;
        let chunks = transaction.object_store(CHUNKS_STORE).map_err(|error| context.idb(error))?;
        let count = chunks
            .count()
            .with_query::<JsValue, _>(chunk_range(key, 0, None))
            .primitive()
            .map_err(|error| context.idb(error))?
            .await
            .map_err(|error| context.idb(error))?;
        Ok(u64::from(count))
    }

    /// Fails with the poison or the closed connection, if any: the check every call starts with.
    fn check(&self, context: Context<'_>) -> Result<()> {
        if let Some(poisoned) = self.poison.borrow().as_ref() {
            return Err(poisoned.poisoned_by(context.operation, context.key));
        }
        if let Some(reason) = self.closed.borrow().as_ref() {
            return Err(PersistenceError::Backend {
                operation: context.operation,
                key: context.key.to_owned(),
                message: format!(
                    "InvalidStateError: the connection to IndexedDB database {:?} is closed ({reason}); open it again",
                    self.database_name
                ),
            });
        }
        Ok(())
    }

    /// Poisons the handle with `error` (the first poisoning wins) and hands `error` back.
    fn poison(&self, error: PersistenceError, context: Context<'_>) -> PersistenceError {
        let mut poison = self.poison.borrow_mut();
        if poison.is_none() {
            *poison = Some(error.poisoned_by(context.operation, context.key));
        }
        error
    }

    /// A transaction over both object stores: read-only, or read-write with `strict` durability.
    fn transaction(&self, context: Context<'_>, mode: TransactionMode) -> Result<Transaction<'_>> {
        self.check(context)?;
        let stores = [CHUNKS_STORE, LENGTHS_STORE];
        let built = if mode == TransactionMode::Readwrite {
            self.database
                .transaction(stores)
                .with_mode(TransactionMode::Readwrite)
                .with_options(TransactionOptions::new().with_durability(TransactionDurability::Strict))
                .build()
        } else {
            self.database.transaction(stores).build()
        };
        built.map_err(|error| context.idb(error))
    }

    /// Commits `transaction` and waits for its `complete` event (with `strict` durability: on disk). On failure,
    /// the transaction's own error (a `QuotaExceededError` reported at commit) wins over the generic abort.
    async fn commit(&self, transaction: Transaction<'_>, context: Context<'_>) -> Result<()> {
        let raw = transaction.as_sys().clone();
        match transaction.commit().await {
            Ok(()) => Ok(()),
            Err(error) => Err(match raw.error() {
                Some(exception) => js_error(context.operation, context.key, exception.as_ref()),
                None => context.idb(error),
            }),
        }
    }

    /// Runs a write (`body` in a read-write transaction, then a strict commit), poisoning the handle when it fails
    /// unless the failure left nothing in doubt.
    async fn write<T>(&self, context: Context<'_>, body: impl AsyncFnOnce(&Stores<'_>) -> Result<T>) -> Result<T> {
        // A poisoned or closed handle refuses the call before anything happens (and poisons nothing more).
        self.check(context)?;
        let outcome = async {
            let transaction = self.transaction(context, TransactionMode::Readwrite)?;
            let stores = Stores::of(&transaction, context)?;
            let value = body(&stores).await?;
            drop(stores);
            self.commit(transaction, context).await?;
            Ok(value)
        }
        .await;
        outcome.map_err(|error| if leaves_nothing_in_doubt(&error) { error } else { self.poison(error, context) })
    }
}

/// Errors after which nothing is in doubt, so the handle stays healthy: the call was refused before anything was
/// written (`NotFound`, `InvalidArgument`), or the quota was exceeded (`DiskFull`), which aborts the whole
/// transaction: IndexedDB rolls it back, the old value is untouched and the call may be retried.
fn leaves_nothing_in_doubt(error: &PersistenceError) -> bool {
    matches!(
        error,
        PersistenceError::NotFound { .. }
            | PersistenceError::InvalidArgument { .. }
            | PersistenceError::DiskFull { .. }
    )
}

impl Drop for IndexedDbBackend {
    fn drop(&mut self) {
        let connection = self.database.as_sys();
        connection.set_onversionchange(None);
        connection.set_onclose(None);
        // Transactions already started still finish; no new one can start.
        connection.close();
    }
}

/// The operation and key of a call, for its errors.
#[derive(Clone, Copy)]
struct Context<'a> {
    operation: Operation,
    key: &'a str,
}

impl Context<'_> {
    fn idb(self, error: IdbError) -> PersistenceError {
        idb_error(self.operation, self.key, error)
    }

    fn corrupted(self, offset: u64, reason: impl Into<String>) -> PersistenceError {
        PersistenceError::Corrupted { key: self.key.to_owned(), offset, reason: reason.into() }
    }
}

/// The two object stores of one transaction, with the requests the calls make.
struct Stores<'a> {
    chunks: ObjectStore<'a>,
    lengths: ObjectStore<'a>,
    context: Context<'a>,
}

impl<'a> Stores<'a> {
    fn of(transaction: &'a Transaction<'_>, context: Context<'a>) -> Result<Self> {
        Ok(Self {
            chunks: transaction.object_store(CHUNKS_STORE).map_err(|error| context.idb(error))?,
            lengths: transaction.object_store(LENGTHS_STORE).map_err(|error| context.idb(error))?,
            context,
        })
    }

    /// The stored length of `key`, or `None` when the key is missing. A length that is not an exact integer in
    /// `0..=VALUE_BYTES_MAX` is corruption.
    async fn length(&self, key: &Key) -> Result<Option<u64>> {
        let context = self.context;
        let stored: Option<JsValue> = self
            .lengths
            .get::<JsValue, JsValue, _>(JsValue::from_str(key.as_str()))
            .primitive()
            .map_err(|error| context.idb(error))?
            .await
            .map_err(|error| context.idb(error))?;
        let Some(stored) = stored else { return Ok(None) };
        match stored.as_f64() {
            Some(length) if length >= 0.0 && length <= VALUE_BYTES_MAX as f64 && length.fract() == 0.0 => {
                Ok(Some(length as u64))
            }
            _ => Err(context.corrupted(0, format!("the stored length {stored:?} is not a byte count"))),
        }
    }

    async fn put_length(&self, key: &Key, length: u64) -> Result<()> {
        let context = self.context;
        self.lengths
            .put(JsValue::from_f64(length as f64))
            .with_key(JsValue::from_str(key.as_str()))
            .without_key_type()
            .primitive()
            .map_err(|error| context.idb(error))?
            .await
            .map_err(|error| context.idb(error))
    }

    /// Writes `data` as new chunks from value offset `start` (one record per chunk, never touching older ones).
    async fn put_chunks(&self, key: &Key, start: u64, data: &[u8]) -> Result<()> {
        let context = self.context;
        for (offset, range) in layout::chunks(start, data.len()) {
            let bytes = data.get(range).ok_or_else(|| context.corrupted(offset, "chunk plan out of the data"))?;
            self.chunks
                .put(JsValue::from(Uint8Array::from(bytes)))
                .with_key(chunk_key(key, offset))
                .without_key_type()
                .primitive()
                .map_err(|error| context.idb(error))?
                .await
                .map_err(|error| context.idb(error))?;
        }
        Ok(())
    }

    /// Deletes every chunk of `key` at offset `start` or later.
    async fn delete_chunks_from(&self, key: &Key, start: u64) -> Result<()> {
        let context = self.context;
        self.chunks
            .delete::<JsValue, _>(chunk_range(key, start, None))
            .primitive()
            .map_err(|error| context.idb(error))?
            .await
            .map_err(|error| context.idb(error))
    }

    /// The offsets and bytes of the chunks of `key` whose offsets lie in `start..end` (`None`: to the end).
    async fn chunks_in(&self, key: &Key, start: u64, end: Option<u64>) -> Result<Vec<(u64, Uint8Array)>> {
        let context = self.context;
        let range = chunk_range(key, start, end);
        let keys = self
            .chunks
            .get_all_keys::<JsValue>()
            .with_query::<JsValue, _>(range.clone())
            .primitive()
            .map_err(|error| context.idb(error))?
            .await
            .map_err(|error| context.idb(error))?;
        let values = self
            .chunks
            .get_all::<JsValue>()
            .with_query::<JsValue, _>(range)
            .primitive()
            .map_err(|error| context.idb(error))?
            .await
            .map_err(|error| context.idb(error))?;
        let mut found = Vec::new();
        for (chunk_key, value) in keys.zip(values) {
            let chunk_key = chunk_key.map_err(|error| context.idb(error))?;
            let value = value.map_err(|error| context.idb(error))?;
            let offset = chunk_offset(&chunk_key)
                .ok_or_else(|| context.corrupted(start, format!("the chunk key {chunk_key:?} is not [key, offset]")))?;
            let bytes = value
                .dyn_into::<Uint8Array>()
                .map_err(|value| context.corrupted(offset, format!("the chunk value {value:?} is not a Uint8Array")))?;
            found.push((offset, bytes));
        }
        Ok(found)
    }

    /// Bytes `start..end` of `key` (whose length is `length`), assembled from its chunks and validated.
    async fn read_bytes(&self, key: &Key, start: u64, end: u64, length: u64) -> Result<Vec<u8>> {
        let context = self.context;
        if start >= end {
            return Ok(Vec::new());
        }
        let chunks = self.chunks_in(key, window_start(start), Some(end)).await?;
        let sizes: Vec<(u64, usize)> =
            chunks.iter().map(|(offset, bytes)| (*offset, bytes.length() as usize)).collect();
        let pieces = plan_read(key.as_str(), start, end, length, &sizes)?;
        let total = usize::try_from(end - start).map_err(|_| PersistenceError::InvalidArgument {
            operation: context.operation,
            key: key.to_string(),
            reason: format!("{} bytes do not fit in this platform's memory", end - start),
        })?;
        let mut bytes = vec![0; total];
        let mut position = 0;
        for piece in pieces {
            let size = piece.within.len();
            let (Some((_, chunk)), Some(target)) = (chunks.get(piece.chunk), bytes.get_mut(position..position + size))
            else {
                return Err(context.corrupted(start, "read plan out of the chunks"));
            };
            chunk.subarray(piece.within.start as u32, piece.within.end as u32).copy_to(target);
            position += size;
        }
        Ok(bytes)
    }
}

impl AsyncStorageBackend for IndexedDbBackend {
    fn backend_name(&self) -> &'static str {
        "indexeddb"
    }

    async fn read(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let context = Context { operation: Operation::Read, key: key.as_str() };
        let transaction = self.transaction(context, TransactionMode::Readonly)?;
        let stores = Stores::of(&transaction, context)?;
        let Some(length) = stores.length(key).await? else { return Ok(None) };
        stores.read_bytes(key, 0, length, length).await.map(Some)
    }

    async fn read_range(&self, key: &Key, offset: u64, length: u64) -> Result<Vec<u8>> {
        let context = Context { operation: Operation::ReadRange, key: key.as_str() };
        let transaction = self.transaction(context, TransactionMode::Readonly)?;
        let stores = Stores::of(&transaction, context)?;
        let Some(value_length) = stores.length(key).await? else {
            return Err(PersistenceError::NotFound { operation: context.operation, key: key.to_string() });
        };
        let start = offset.min(value_length);
        let end = offset.saturating_add(length).min(value_length);
        stores.read_bytes(key, start, end, value_length).await
    }

    async fn len(&self, key: &Key) -> Result<Option<u64>> {
        let context = Context { operation: Operation::Len, key: key.as_str() };
        let transaction = self.transaction(context, TransactionMode::Readonly)?;
        Stores::of(&transaction, context)?.length(key).await
    }

    async fn append(&self, key: &Key, data: &[u8]) -> Result<()> {
        let context = Context { operation: Operation::Append, key: key.as_str() };
        self.write(context, async |stores| {
            let length = stores.length(key).await?.unwrap_or(0);
            let Some(new_length) = appended_length(length, data.len()) else {
                return Err(PersistenceError::InvalidArgument {
                    operation: context.operation,
                    key: key.to_string(),
                    reason: format!(
                        "appending {} bytes to {length} would pass the value limit of {VALUE_BYTES_MAX} bytes",
                        data.len()
                    ),
                });
            };
            stores.put_chunks(key, length, data).await?;
            stores.put_length(key, new_length).await
        })
        .await
    }

    async fn sync(&self, key: &Key) -> Result<()> {
        // Every append, truncate, atomic_write and delete committed with strict durability before returning, so
        // there is nothing to flush. A read-only transaction over both stores still makes `sync` a barrier: it
        // starts only after every read-write transaction created before it has finished.
        let context = Context { operation: Operation::Sync, key: key.as_str() };
        self.check(context)?;
        let outcome = async {
            let transaction = self.transaction(context, TransactionMode::Readonly)?;
            self.commit(transaction, context).await
        }
        .await;
        outcome.map_err(|error| if leaves_nothing_in_doubt(&error) { error } else { self.poison(error, context) })
    }

    async fn atomic_write(&self, key: &Key, data: &[u8]) -> Result<()> {
        let context = Context { operation: Operation::AtomicWrite, key: key.as_str() };
        let Some(length) = appended_length(0, data.len()) else {
            return Err(PersistenceError::InvalidArgument {
                operation: context.operation,
                key: key.to_string(),
                reason: format!("{} bytes pass the value limit of {VALUE_BYTES_MAX} bytes", data.len()),
            });
        };
        self.write(context, async |stores| {
            stores.delete_chunks_from(key, 0).await?;
            stores.put_chunks(key, 0, data).await?;
            stores.put_length(key, length).await
        })
        .await
    }

    async fn truncate(&self, key: &Key, length: u64) -> Result<()> {
        let context = Context { operation: Operation::Truncate, key: key.as_str() };
        self.write(context, async |stores| {
            let Some(current) = stores.length(key).await? else {
                return Err(PersistenceError::NotFound { operation: context.operation, key: key.to_string() });
            };
            if length > current {
                return Err(PersistenceError::InvalidArgument {
                    operation: context.operation,
                    key: key.to_string(),
                    reason: format!("cannot grow the value from {current} to {length} bytes"),
                });
            }
            if length == current {
                return Ok(());
            }
            if length > 0 {
                let last_byte = length - 1;
                let candidates = stores.chunks_in(key, window_start(last_byte), Some(length)).await?;
                let Some((offset, bytes)) = candidates.last() else {
                    return Err(context.corrupted(last_byte, format!("no chunk holds byte {last_byte}")));
                };
                if let Some(keep) = truncate_cut(length, (*offset, bytes.length() as usize)) {
                    stores
                        .chunks
                        .put(JsValue::from(bytes.slice(0, keep as u32)))
                        .with_key(chunk_key(key, *offset))
                        .without_key_type()
                        .primitive()
                        .map_err(|error| context.idb(error))?
                        .await
                        .map_err(|error| context.idb(error))?;
                }
            }
            stores.delete_chunks_from(key, length).await?;
            stores.put_length(key, length).await
        })
        .await
    }

    async fn delete(&self, key: &Key) -> Result<bool> {
        let context = Context { operation: Operation::Delete, key: key.as_str() };
        self.write(context, async |stores| {
            let existed = stores.length(key).await?.is_some();
            if existed {
                stores.delete_chunks_from(key, 0).await?;
                stores
                    .lengths
                    .delete::<JsValue, _>(JsValue::from_str(key.as_str()))
                    .primitive()
                    .map_err(|error| context.idb(error))?
                    .await
                    .map_err(|error| context.idb(error))?;
            }
            Ok(existed)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Key>> {
        let context = Context { operation: Operation::List, key: prefix };
        let transaction = self.transaction(context, TransactionMode::Readonly)?;
        let lengths = transaction.object_store(LENGTHS_STORE).map_err(|error| context.idb(error))?;
        let request = if prefix.is_empty() {
            lengths.get_all_keys::<JsValue>().primitive()
        } else {
            // Keys are ASCII, so every key starting with `prefix` sorts below `prefix` + U+FFFF.
            let range = KeyRange::Bound(
                JsValue::from_str(prefix),
                false,
                JsValue::from_str(&format!("{prefix}\u{ffff}")),
                true,
            );
            lengths.get_all_keys::<JsValue>().with_query::<JsValue, _>(range).primitive()
        };
        let names = request.map_err(|error| context.idb(error))?.await.map_err(|error| context.idb(error))?;
        let mut keys = Vec::new();
        for name in names {
            let name = name.map_err(|error| context.idb(error))?;
            let text =
                name.as_string().ok_or_else(|| context.corrupted(0, format!("the key {name:?} is not a string")))?;
            let key =
                Key::new(text).map_err(|error| context.corrupted(0, format!("a stored key is invalid: {error}")))?;
            if key.has_prefix(prefix) {
                keys.push(key);
            }
        }
        // Keys are unique: an unstable sort gives the same order (and keeps the stable sort out of the module).
        keys.sort_unstable();
        Ok(keys)
    }
}

/// The chunk key `[key, offset]`.
fn chunk_key(key: &Key, offset: u64) -> JsValue {
    Array::of2(&JsValue::from_str(key.as_str()), &JsValue::from_f64(offset as f64)).into()
}

/// The chunk keys of `key` with offsets in `start..end`, or `start..` (up to +Infinity) for `None`.
fn chunk_range(key: &Key, start: u64, end: Option<u64>) -> KeyRange<JsValue> {
    match end {
        Some(end) => KeyRange::Bound(chunk_key(key, start), false, chunk_key(key, end), true),
        None => KeyRange::Bound(
            chunk_key(key, start),
            false,
            Array::of2(&JsValue::from_str(key.as_str()), &JsValue::from_f64(f64::INFINITY)).into(),
            false,
        ),
    }
}

/// The offset of a chunk key `[key, offset]`, when it is one.
fn chunk_offset(chunk_key: &JsValue) -> Option<u64> {
    let parts = chunk_key.dyn_ref::<Array>()?;
    let offset = parts.get(1).as_f64()?;
    (parts.length() == 2 && offset >= 0.0 && offset <= VALUE_BYTES_MAX as f64 && offset.fract() == 0.0)
        .then_some(offset as u64)
}

/// Maps an `indexed_db_futures` error (see the crate docs for the table). The crate's errors are not formatted
/// with their own `Display`: `SimpleValueError` prints an `f64`, which would keep Rust's float printing in the
/// browser module. Each variant gets the crate's text, with numbers printed by [`number_text`].
fn idb_error(operation: Operation, key: &str, error: IdbError) -> PersistenceError {
    let backend = |message: String| PersistenceError::Backend { operation, key: key.to_owned(), message };
    match error {
        IdbError::DomException(exception) => js_error(operation, key, &JsValue::from(exception)),
        IdbError::MissingData(UnexpectedDataError::TransactionAborted) => {
            backend(String::from("AbortError: the transaction was aborted"))
        }
        IdbError::Serialisation(error) => PersistenceError::Corrupted {
            key: key.to_owned(),
            offset: 0,
            reason: format!("unexpected stored value: {}", serialisation_text(&error)),
        },
        IdbError::MissingData(missing) => backend(format!("Error: Missing data: {missing}")),
        IdbError::Unknown(thrown) => backend(format!("Error: Generic JS error: {thrown}")),
    }
}

/// The text of a [`SerialisationError`] (the crate's own `Display` text, but for numbers).
fn serialisation_text(error: &SerialisationError) -> String {
    match error {
        SerialisationError::SimpleValue(error) => format!("Simple value parse error: {}", simple_value_text(error)),
        SerialisationError::Serde(error) => error.to_string(),
    }
}

/// The text of a [`SimpleValueError`]: the crate's own `Display` text, with the `f64` printed by [`number_text`].
fn simple_value_text(error: &SimpleValueError) -> String {
    match error {
        SimpleValueError::NotAString(_) => String::from("Not a string"),
        SimpleValueError::NotANumber(_) => String::from("Not a number"),
        SimpleValueError::NotABoolean(_) => String::from("Not a boolean"),
        SimpleValueError::DynCast(_) => String::from("Dynamic cast failed"),
        SimpleValueError::TooLarge(number) => format!("The value is too large: {}", number_text(*number)),
        SimpleValueError::TooSmall(number) => format!("The value is too small: {}", number_text(*number)),
        SimpleValueError::Signed(number) => format!("The value is signed: {}", number_text(*number)),
        SimpleValueError::Switch(errors) if errors.is_empty() => {
            String::from("Errors performing `TryFromJs` on `Switch`: [empty]")
        }
        SimpleValueError::Switch(errors) => {
            let texts: Vec<String> = errors.iter().map(|error| format!("`{}`", simple_value_text(error))).collect();
            format!("Errors performing `TryFromJs` on `Switch`: {}", texts.join(", "))
        }
        SimpleValueError::Other(error) => error.to_string(),
    }
}

/// An `f64` as text without Rust's float printing: an integer as an integer (`-0` for negative zero), any other
/// value as its IEEE 754 bits in hex (`f64 bits 0x3ff8000000000000` for 1.5).
pub(crate) fn number_text(number: f64) -> String {
    // 2^63: every integer-valued f64 below it in magnitude fits in an i64 exactly.
    const INTEGER_LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if number == 0.0 && number.is_sign_negative() {
        String::from("-0")
    } else if number.fract() == 0.0 && number.abs() < INTEGER_LIMIT {
        (number as i64).to_string()
    } else {
        format!("f64 bits {:#018x}", number.to_bits())
    }
}

fn open_error(database_name: &str, error: OpenDbError) -> PersistenceError {
    let message = match error {
        OpenDbError::Base(error) => return idb_error(Operation::Open, database_name, error),
        OpenDbError::VersionZero => "Version cannot be zero",
        OpenDbError::UnsupportedEnvironment => "Unsupported environment",
        OpenDbError::NullFactory => "The `indexedDB` getter returned `null` or `undefined`",
    };
    PersistenceError::Backend {
        operation: Operation::Open,
        key: database_name.to_owned(),
        message: format!("NotSupportedError: {message}"),
    }
}

/// Maps a thrown JS value (a `DOMException` or another error) by its `name` and `message`.
fn js_error(operation: Operation, key: &str, value: &JsValue) -> PersistenceError {
    let text = |field: &str| Reflect::get(value, &JsValue::from_str(field)).ok().and_then(|found| found.as_string());
    let name = text("name").unwrap_or_else(|| String::from("Error"));
    let message = text("message").unwrap_or_else(|| format!("{value:?}"));
    layout::dom_exception_error(operation, key, &name, &message)
}

/// The `upgradeneeded` handler: creates whichever of this crate's object stores is missing (idempotent, so every
/// version runs it).
fn create_missing_stores(event: &JsValue) -> std::result::Result<(), JsValue> {
    let field = |object: &JsValue, name: &str| Reflect::get(object, &JsValue::from_str(name));
    let database = field(&field(event, "target")?, "result")?;
    let names = field(&database, "objectStoreNames")?;
    let contains: Function = field(&names, "contains")?.dyn_into()?;
    let create: Function = field(&database, "createObjectStore")?.dyn_into()?;
    for store in [CHUNKS_STORE, LENGTHS_STORE] {
        let name = JsValue::from_str(store);
        if !contains.call1(&names, &name)?.is_truthy() {
            create.call1(&database, &name)?;
        }
    }
    Ok(())
}

/// Set by a `blocked` event; wakes the task waiting on the request.
struct BlockedSignal {
    raised: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl BlockedSignal {
    fn new() -> Rc<Self> {
        Rc::new(Self { raised: Cell::new(false), waker: RefCell::new(None) })
    }

    fn raise(&self) {
        self.raised.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// How waiting on an open or delete request ended.
enum Opening<R: PollUnpinned> {
    /// The request finished (well or not).
    Finished(R::Output),
    /// Another connection blocks it; the request is still pending.
    Blocked(R),
}

/// Waits for `request` until it finishes or `blocked` is raised, whichever comes first.
async fn until_blocked<R: PollUnpinned>(request: R, blocked: &BlockedSignal) -> Opening<R> {
    let mut request = Some(request);
    poll_fn(move |context| {
        let Some(pending) = request.as_mut() else {
            // Polled again after finishing: poll_fn's caller never does this.
            return Poll::Pending;
        };
        if let Poll::Ready(output) = pending.poll_unpinned(context) {
            request = None;
            return Poll::Ready(Opening::Finished(output));
        }
        if blocked.raised.get() {
            return match request.take() {
                Some(pending) => Poll::Ready(Opening::Blocked(pending)),
                None => Poll::Pending,
            };
        }
        *blocked.waker.borrow_mut() = Some(context.waker().clone());
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    use super::*;

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    async fn write_transactions_ask_for_strict_durability() {
        let name = "durability";
        IndexedDbBackend::delete_database(name).await.unwrap();
        let backend = IndexedDbBackend::open(name).await.unwrap();
        let context = Context { operation: Operation::Append, key: "k" };
        let write = backend.transaction(context, TransactionMode::Readwrite).unwrap();
        let durability = Reflect::get(write.as_sys(), &JsValue::from_str("durability")).unwrap();
        assert_eq!(durability.as_string().as_deref(), Some("strict"), "IDBTransaction.durability");
        assert_eq!(write.mode(), TransactionMode::Readwrite);
        drop(write);
        let read = backend.transaction(context, TransactionMode::Readonly).unwrap();
        assert_eq!(read.mode(), TransactionMode::Readonly);
    }

    #[wasm_bindgen_test]
    async fn a_failed_write_transaction_poisons_the_handle_and_a_reopen_sees_the_old_value() {
        let name = "poisoned";
        IndexedDbBackend::delete_database(name).await.unwrap();
        let backend = IndexedDbBackend::open(name).await.unwrap();
        let key = Key::new("k").unwrap();
        backend.atomic_write(&key, b"old").await.unwrap();
        let context = Context { operation: Operation::AtomicWrite, key: "k" };
        let error = backend
            .write(context, async |stores| {
                stores.delete_chunks_from(&key, 0).await?;
                stores.put_chunks(&key, 0, b"new").await?;
                // NaN is no IndexedDB key: the request fails with a DataError, as a storage failure would.
                stores
                    .chunks
                    .put(JsValue::from(Uint8Array::from(&b"x"[..])))
                    .with_key(JsValue::from_f64(f64::NAN))
                    .without_key_type()
                    .primitive()
                    .map_err(|error| context.idb(error))?
                    .await
                    .map_err(|error| context.idb(error))
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&error, PersistenceError::Backend { message, .. } if message.starts_with("DataError")),
            "{error}"
        );
        assert!(backend.is_poisoned());
        let later = backend.read(&key).await.unwrap_err();
        assert!(
            matches!(&later, PersistenceError::Poisoned { operation: Operation::AtomicWrite, key, .. } if key == "k"),
            "{later}"
        );
        drop(backend);
        let reopened = IndexedDbBackend::open(name).await.unwrap();
        assert_eq!(reopened.read(&key).await.unwrap().as_deref(), Some(&b"old"[..]), "the transaction was rolled back");
    }

    #[wasm_bindgen_test]
    async fn an_upgrade_blocked_by_a_connection_that_stays_open_is_locked_and_finishes_in_the_background() {
        let name = "blocked-upgrade";
        IndexedDbBackend::delete_database(name).await.unwrap();
        drop(IndexedDbBackend::open(name).await.unwrap());
        // A raw connection with no versionchange handler: it never closes by itself, so it blocks upgrades.
        let holder = Database::open(name).await.unwrap();
        let error = IndexedDbBackend::open_at_version(name, DATABASE_SCHEMA_VERSION + 1).await.unwrap_err();
        assert!(matches!(&error, PersistenceError::Locked { location } if location == name), "{error}");
        holder.close();
        // The blocked request now upgrades in the background, then closes its connection.
        let upgraded = IndexedDbBackend::open_at_version(name, DATABASE_SCHEMA_VERSION + 1).await.unwrap();
        assert_eq!(upgraded.database.version(), f64::from(DATABASE_SCHEMA_VERSION + 1));
        upgraded.atomic_write(&Key::new("k").unwrap(), b"v").await.unwrap();
        drop(upgraded);
        // Had the background connection stayed open, this upgrade would be blocked (Locked).
        let again = IndexedDbBackend::open_at_version(name, DATABASE_SCHEMA_VERSION + 2).await.unwrap();
        assert_eq!(again.read(&Key::new("k").unwrap()).await.unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[wasm_bindgen_test]
    fn numbers_print_as_integers_or_as_their_bits() {
        assert_eq!(number_text(3.0), "3");
        assert_eq!(number_text(-42.0), "-42");
        assert_eq!(number_text(0.0), "0");
        assert_eq!(number_text(-0.0), "-0");
        assert_eq!(number_text(9_007_199_254_740_993.0), "9007199254740992");
        assert_eq!(number_text(1.5), "f64 bits 0x3ff8000000000000");
        assert_eq!(number_text(f64::NAN), format!("f64 bits {:#018x}", f64::NAN.to_bits()));
        assert_eq!(number_text(f64::INFINITY), "f64 bits 0x7ff0000000000000");
        assert_eq!(number_text(1e300), format!("f64 bits {:#018x}", 1e300_f64.to_bits()));
    }

    #[wasm_bindgen_test]
    fn simple_value_errors_read_as_the_crate_prints_them() {
        // With integer numbers the text is the crate's own `Display` (which prints the f64 with Rust's float
        // printing, only in this test).
        let errors = [
            SimpleValueError::NotAString(JsValue::NULL),
            SimpleValueError::NotANumber(JsValue::NULL),
            SimpleValueError::NotABoolean(JsValue::NULL),
            SimpleValueError::DynCast(JsValue::NULL),
            SimpleValueError::TooLarge(1e15),
            SimpleValueError::TooSmall(-7.0),
            SimpleValueError::Signed(-1.0),
            SimpleValueError::Switch(Vec::new()),
            SimpleValueError::Switch(vec![SimpleValueError::NotAString(JsValue::NULL), SimpleValueError::Signed(-2.0)]),
        ];
        for error in &errors {
            assert_eq!(simple_value_text(error), error.to_string());
        }
        assert_eq!(
            simple_value_text(&SimpleValueError::TooLarge(0.5)),
            "The value is too large: f64 bits 0x3fe0000000000000"
        );
        let corrupted = idb_error(Operation::Read, "k", IdbError::from(SimpleValueError::Signed(-3.0)));
        assert!(
            matches!(&corrupted, PersistenceError::Corrupted { key, reason, .. }
                if key == "k" && reason == "unexpected stored value: Simple value parse error: The value is signed: -3"),
            "{corrupted}"
        );
        let missing = idb_error(Operation::Read, "k", IdbError::from(UnexpectedDataError::NoEventTarget));
        assert!(
            matches!(&missing, PersistenceError::Backend { message, .. } if message == "Error: Missing data: No event target."),
            "{missing}"
        );
        let unsupported = open_error("db", OpenDbError::NullFactory);
        let expected = format!("NotSupportedError: {}", OpenDbError::NullFactory);
        assert!(
            matches!(&unsupported, PersistenceError::Backend { message, .. } if *message == expected),
            "{unsupported}"
        );
    }
}
