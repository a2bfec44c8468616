//! `cargo xtask e2e`: the JavaScript API in real headless Chromium, through WebDriver (chromedriver), against
//! `web/e2e.html` served by [`super::serve`]. Every test uses its own Chromium profile directory, so IndexedDB
//! starts empty and survives exactly what the test does to the browser.
//!
//! - `api`: the API's behaviour: results, filters, typed errors and their `kind`, write order, `Busy`, `Closed`,
//!   checkpoint, reopen from the snapshot (`e2e.apiChecks` in web/e2e.js).
//! - `reload`: insert, reload the page, the data is there and searchable, with the same results; after a
//!   checkpoint the next reload recovers from the snapshot plus the log after it.
//! - `close-tab`: a writer runs batches and single inserts without end; the tab is closed in the middle; a new tab
//!   recovers a prefix of the writes that contains every acknowledged one, with no batch cut in half.
//! - `kill-browser`: the same, but every Chromium process is killed with SIGKILL mid-write (a crash: no unload,
//!   nothing flushed), and a new browser on the same profile recovers.
//! - `quota`: the origin's storage quota is cut to [`QUOTA_BYTES`] (DevTools protocol); batches are inserted until
//!   one fails, which must be a `Durability` error with `storageKind` `"DiskFull"` that changed nothing; the page is
//!   reloaded and the database opened under the same quota, which must work (searches included) while a write
//!   fails with `DiskFull`, then with the quota restored: exactly the acknowledged records come back each time.
//! - `measure`: insert throughput and search latency in the browser (printed, not asserted).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::serve::Server;
use super::webdriver::{Chromedriver, Session};

/// How long a page may take to load the package and set `window.e2eReady`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many acknowledged writes the crash tests wait for before cutting.
const ACKS_BEFORE_CUT: u64 = 30;
/// How long the crash tests wait for those acknowledgements.
const ACKS_TIMEOUT: Duration = Duration::from_secs(60);
/// The origin's storage quota in the `quota` test: room for some dozens of batches of [`QUOTA_BATCH_SIZE`].
const QUOTA_BYTES: u64 = 2 * 1024 * 1024;
/// Records per batch in the `quota` test.
const QUOTA_BATCH_SIZE: u64 = 500;
/// Records per batch in the crash tests (web/e2e.js `startWriting` alternates a batch and as many single inserts).
const CRASH_BATCH_SIZE: u64 = 10;

/// Runs every end-to-end test (building the package first); fails when any fails.
pub fn e2e() -> Result<(), String> {
    let started = Instant::now();
    super::build(&super::BuildOptions::default())?;
    let root = crate::workspace_root();
    let server = Server::start(&root.join("web"), 0)?;
    let driver = Chromedriver::start()?;
    let profiles = super::target_directory()?.join("e2e-profiles").join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&profiles);
    std::fs::create_dir_all(&profiles).map_err(|error| format!("{}: {error}", profiles.display()))?;
    let context = Context { url: format!("{}/e2e.html", server.url()), driver, profiles };
    let tests: [(&str, Test); 6] = [
        ("api", api),
        ("reload", reload),
        ("close-tab", close_tab),
        ("kill-browser", kill_browser),
        ("quota", quota),
        ("measure", measure),
    ];
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in tests {
        let test_started = Instant::now();
        match test(&context) {
            Ok(detail) => {
                passed += 1;
                eprintln!("e2e {name} ... ok ({:.1} s): {detail}", test_started.elapsed().as_secs_f64());
            }
            Err(error) => {
                eprintln!("e2e {name} ... FAILED ({:.1} s): {error}", test_started.elapsed().as_secs_f64());
                failed.push(name);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&context.profiles);
    eprintln!("e2e: {passed} passed, {} failed in {:.1} s", failed.len(), started.elapsed().as_secs_f64());
    if failed.is_empty() { Ok(()) } else { Err(format!("end-to-end tests failed: {}", failed.join(", "))) }
}

/// One test: what it found (printed) or why it failed.
type Test = fn(&Context) -> Result<String, String>;

struct Context {
    url: String,
    driver: Chromedriver,
    profiles: PathBuf,
}

impl Context {
    /// A browser with a fresh profile named `name` (or the existing one of that name), on the test page.
    fn browser(&self, name: &str) -> Result<Session, String> {
        let session = self.driver.session(&self.profile(name))?;
        self.load(&session)?;
        Ok(session)
    }

    fn profile(&self, name: &str) -> PathBuf {
        self.profiles.join(name)
    }

    fn load(&self, session: &Session) -> Result<(), String> {
        session.navigate(&self.url)?;
        session.wait_for("window.e2eReady === true", READY_TIMEOUT).map(|_| ())
    }
}

/// Quits the session whatever the test's outcome.
fn with_browser(
    context: &Context,
    name: &str,
    test: impl FnOnce(&Session) -> Result<String, String>,
) -> Result<String, String> {
    let session = context.browser(name)?;
    let outcome = test(&session);
    let _ = session.quit();
    outcome
}

fn api(context: &Context) -> Result<String, String> {
    with_browser(context, "api", |session| {
        let failures = session.evaluate("e2e.apiChecks('e2e-api')")?;
        let failures = failures.as_array().ok_or_else(|| format!("apiChecks returned {failures}"))?;
        if failures.is_empty() {
            Ok("every API check passed".to_owned())
        } else {
            Err(failures.iter().map(|failure| failure.as_str().unwrap_or_default()).collect::<Vec<_>>().join("; "))
        }
    })
}

fn number(value: &Value, pointer: &str) -> Result<u64, String> {
    value.pointer(pointer).and_then(Value::as_u64).ok_or_else(|| format!("no number at {pointer} in {value}"))
}

fn ids_of(value: &Value) -> Result<Vec<u64>, String> {
    value["ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
        .ok_or_else(|| format!("no ids in {value}"))
}

fn hit_ids(hits: &Value) -> Vec<u64> {
    hits.as_array().map(|hits| hits.iter().filter_map(|hit| hit["id"].as_u64()).collect()).unwrap_or_default()
}

fn reload(context: &Context) -> Result<String, String> {
    with_browser(context, "reload", |session| {
        session.evaluate("e2e.reset('e2e-reload')")?;
        session.evaluate("e2e.open('e2e-reload')")?;
        session.evaluate("e2e.insertBatches(0, 5, 20)")?;
        let before = session.evaluate("e2e.search(7, 5, 'parity = \"odd\" and bucket >= 3')")?;
        let before_ids = hit_ids(&before);
        if before_ids.len() != 5 || before_ids.iter().any(|id| id % 2 == 0 || id % 10 < 3) {
            return Err(format!("the filtered search before the reload is wrong: {before}"));
        }

        session.refresh()?;
        session.wait_for("window.e2eReady === true", READY_TIMEOUT)?;
        let stats = session.evaluate("e2e.open('e2e-reload')")?;
        let recovered = session.evaluate("e2e.recovered()")?;
        let ids = ids_of(&recovered)?;
        if ids != (0..100).collect::<Vec<u64>>() || recovered["mismatched"] != Value::Array(Vec::new()) {
            return Err(format!("after the reload: {recovered}"));
        }
        if number(&stats, "/recovery/operationsReplayed")? != 100 || !stats["recovery"]["snapshotLsn"].is_null() {
            return Err(format!("the first reload should replay 100 operations from the log: {stats}"));
        }
        let after = session.evaluate("e2e.search(7, 5, 'parity = \"odd\" and bucket >= 3')")?;
        if hit_ids(&after) != before_ids {
            return Err(format!("search results changed across the reload: {before} then {after}"));
        }

        // A checkpoint, 40 more records, a reload: the snapshot plus the 40 operations after it.
        session.evaluate("window.db.checkpoint()")?;
        session.evaluate("e2e.insertBatches(100, 2, 20)")?;
        session.refresh()?;
        session.wait_for("window.e2eReady === true", READY_TIMEOUT)?;
        let stats = session.evaluate("e2e.open('e2e-reload')")?;
        let recovered = session.evaluate("e2e.recovered()")?;
        let replayed = number(&stats, "/recovery/operationsReplayed")?;
        if ids_of(&recovered)? != (0..140).collect::<Vec<u64>>()
            || replayed != 40
            || stats["recovery"]["snapshotLsn"].is_null()
        {
            return Err(format!("after the checkpoint and reload: {stats} {recovered}"));
        }
        Ok(format!(
            "100 records back after a reload (filtered search unchanged: {before_ids:?}); after a checkpoint, 140 back \
             from the snapshot + {replayed} logged operations, opened in {:.0} ms",
            stats["recovery"]["openMs"].as_f64().unwrap_or_default()
        ))
    })
}

/// Starts the endless writer in the session's page and waits for [`ACKS_BEFORE_CUT`] acknowledgements; returns
/// the acknowledged ids read right before the caller cuts.
fn start_writer_and_wait(session: &Session, database: &str) -> Result<Vec<u64>, String> {
    session.evaluate(&format!("e2e.reset('{database}')"))?;
    session.evaluate(&format!("e2e.open('{database}')"))?;
    session.execute(&format!("return e2e.startWriting({CRASH_BATCH_SIZE});"), &[])?;
    session.wait_for(&format!("window.writerError || window.acked.length >= {ACKS_BEFORE_CUT}"), ACKS_TIMEOUT)?;
    let state = session.execute("return { acked: window.acked, error: window.writerError };", &[])?;
    if !state["error"].is_null() {
        return Err(format!("the writer failed: {}", state["error"]));
    }
    Ok(state["acked"].as_array().map(|acked| acked.iter().filter_map(Value::as_u64).collect()).unwrap_or_default())
}

/// Checks what a reopened page recovered: ids `0..n` (a prefix of the writes), every acknowledged id among them,
/// no batch cut in half, every record as written.
fn check_recovered_prefix(session: &Session, database: &str, acked: &[u64]) -> Result<String, String> {
    let (stats, count) = open_recovered_prefix(session, database)?;
    let last_acked = acked.iter().copied().max().ok_or("no write was acknowledged")?;
    if count <= last_acked {
        return Err(format!("acknowledged id {last_acked} is lost: only ids 0..{count} came back"));
    }
    // Ids 20j..20j+10 are one batch, 20j+10..20j+20 single inserts: a prefix may end anywhere but inside a batch.
    let within_cycle = count % (2 * CRASH_BATCH_SIZE);
    if (1..CRASH_BATCH_SIZE).contains(&within_cycle) {
        return Err(format!("a batch was cut in half: {count} ids came back"));
    }
    Ok(format!(
        "{} writes acknowledged (last id {last_acked}); recovered ids 0..{count} ({} operations replayed, torn bytes {})",
        acked.len(),
        number(&stats, "/recovery/operationsReplayed")?,
        number(&stats, "/recovery/tornBytesTruncated")?
    ))
}

/// `scheme://host:port` of `url`.
fn origin_of(url: &str) -> Result<&str, String> {
    let after_scheme = url.find("://").map(|index| index + 3).ok_or_else(|| format!("no scheme in {url}"))?;
    let end = url[after_scheme..].find('/').map_or(url.len(), |index| after_scheme + index);
    Ok(&url[..end])
}

/// Opens `database` in the session's page and reads what it recovered: its stats, and the number `n` of records,
/// which must be ids `0..n` (a prefix of the writes), each record as written for its id.
fn open_recovered_prefix(session: &Session, database: &str) -> Result<(Value, u64), String> {
    let stats = session.evaluate(&format!("e2e.open('{database}')"))?;
    let recovered = session.evaluate("e2e.recovered()")?;
    let ids = ids_of(&recovered)?;
    let count = ids.len() as u64;
    if ids != (0..count).collect::<Vec<u64>>() {
        return Err(format!("the recovered ids are not a prefix 0..n: {ids:?}"));
    }
    if recovered["mismatched"] != Value::Array(Vec::new()) {
        return Err(format!("records differ from what was written: {}", recovered["mismatched"]));
    }
    Ok((stats, count))
}

/// Opens `database` in a freshly loaded page and checks that exactly ids `0..count` came back, as written.
fn check_exactly(context: &Context, session: &Session, database: &str, count: u64) -> Result<(), String> {
    context.load(session)?;
    let (_, recovered) = open_recovered_prefix(session, database)?;
    if recovered != count {
        return Err(format!("expected ids 0..{count}, found ids 0..{recovered}"));
    }
    Ok(())
}

fn quota(context: &Context) -> Result<String, String> {
    with_browser(context, "quota", |session| {
        let origin = origin_of(&context.url)?;
        session.devtools("Storage.overrideQuotaForOrigin", json!({ "origin": origin, "quotaSize": QUOTA_BYTES }))?;
        session.evaluate("e2e.reset('e2e-quota')")?;
        session.evaluate("e2e.open('e2e-quota')")?;
        let outcome = session.evaluate(&format!("e2e.fillUntilError({QUOTA_BATCH_SIZE}, 1000)"))?;
        let acked = number(&outcome, "/acked")?;
        // The log's append failed: `Durability` (the vecdb error around it), with the storage cause's kind.
        if outcome["kind"] != "Durability" || outcome["storageKind"] != "DiskFull" {
            return Err(format!(
                "expected a Durability error with storageKind DiskFull after {acked} records: {outcome}"
            ));
        }
        if acked == 0 {
            return Err("the quota left no room for a single batch".to_owned());
        }
        let in_memory = ids_of(&session.evaluate("e2e.recovered()")?)?;
        if in_memory != (0..acked).collect::<Vec<u64>>() {
            return Err(format!(
                "after the failed batch the open database holds {} ids, not 0..{acked}",
                in_memory.len()
            ));
        }
        // Under the exhausted quota the database still opens (recovery defers the rewrite of the log's unsealed
        // tail, which needs room) with exactly the acknowledged records, searches work, and the next write fails
        // with DiskFull, changing nothing.
        check_exactly(context, session, "e2e-quota", acked)
            .map_err(|error| format!("reopened under the quota: {error}"))?;
        let hits = hit_ids(&session.evaluate("e2e.search(7, 3)")?);
        if hits.first() != Some(&7) {
            return Err(format!("a search under the quota did not find record 7 first: {hits:?}"));
        }
        let refused = session.evaluate(&format!("e2e.insertOne({acked})"))?;
        if refused["kind"] != "Durability" || refused["storageKind"] != "DiskFull" {
            return Err(format!("a write under the quota: expected Durability/DiskFull, got {refused}"));
        }
        let count = number(&session.evaluate("window.db.stats()")?, "/count")?;
        if count != acked {
            return Err(format!("the refused write changed the database: {count} records, not {acked}"));
        }
        session.devtools("Storage.overrideQuotaForOrigin", json!({ "origin": origin }))?;
        check_exactly(context, session, "e2e-quota", acked)
            .map_err(|error| format!("reopened with the quota restored: {error}"))?;
        Ok(format!(
            "a {} KiB quota: {acked} records acknowledged, then {} ({}); reopened under the quota with exactly those \
             records (searchable; a write refused with DiskFull); with the quota restored, exactly the {acked} came back",
            QUOTA_BYTES / 1024,
            outcome["storageKind"].as_str().unwrap_or_default(),
            outcome["message"].as_str().unwrap_or_default()
        ))
    })
}

fn close_tab(context: &Context) -> Result<String, String> {
    with_browser(context, "close-tab", |session| {
        let writer_tab = session.window_handle()?;
        let spare_tab = session.new_tab()?;
        session.switch_to(&writer_tab)?;
        let acked = start_writer_and_wait(session, "e2e-close-tab")?;
        session.close_tab()?;
        session.switch_to(&spare_tab)?;
        context.load(session)?;
        check_recovered_prefix(session, "e2e-close-tab", &acked)
    })
}

fn kill_browser(context: &Context) -> Result<String, String> {
    let session = context.browser("kill-browser")?;
    let acked = match start_writer_and_wait(&session, "e2e-kill-browser") {
        Ok(acked) => acked,
        Err(error) => {
            let _ = session.quit();
            return Err(error);
        }
    };
    let killed = session.kill_browser()?;
    // The same profile, a new browser: what the killed one had made durable.
    with_browser(context, "kill-browser", |session| {
        check_recovered_prefix(session, "e2e-kill-browser", &acked)
            .map(|detail| format!("{killed} Chromium processes killed with SIGKILL; {detail}"))
    })
}

fn measure(context: &Context) -> Result<String, String> {
    with_browser(context, "measure", |session| {
        // 10,000 vectors of 50 dimensions: 50 single inserts, then batches of 500; 500 queries, k = 10.
        let figures = session.evaluate("e2e.measure('e2e-measure', 10000, 50, 500, 50, 500)")?;
        let get = |key: &str| figures[key].as_f64().unwrap_or(f64::NAN);
        if figures["reopenedCount"].as_u64() != Some(10_000) {
            return Err(format!("the measured database did not reopen whole: {figures}"));
        }
        Ok(format!(
            "10,000 x 50 (cosine): single inserts {:.0}/s, batches of 500 {:.0} vectors/s; search k=10 mean {:.3} ms \
             (best of 3 passes), \
             median {:.3} ms (p99 {:.3} ms), with a filter median {:.3} ms (p99 {:.3} ms); checkpoint {:.0} ms \
             ({:.1} MiB), reopen {:.0} ms; timer {}",
            get("singleInsertsPerSecond"),
            get("batchInsertsPerSecond"),
            get("searchMeanMs"),
            get("searchMedianMs"),
            get("searchP99Ms"),
            get("filteredMedianMs"),
            get("filteredP99Ms"),
            get("checkpointMs"),
            get("snapshotBytes") / f64::from(1 << 20),
            get("reopenMs"),
            figures["timerResolution"].as_str().unwrap_or("?")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_hits_are_read_from_the_pages_json() {
        let recovered: Value = serde_json::json!({ "ids": [0, 1, 2], "mismatched": [] });
        assert_eq!(ids_of(&recovered).unwrap(), vec![0, 1, 2]);
        assert!(ids_of(&serde_json::json!({})).is_err());
        let hits = serde_json::json!([{ "id": 3, "distance": 0.1 }, { "id": 9, "distance": 0.2 }]);
        assert_eq!(hit_ids(&hits), vec![3, 9]);
        assert_eq!(number(&serde_json::json!({ "a": { "b": 4 } }), "/a/b").unwrap(), 4);
    }
}
