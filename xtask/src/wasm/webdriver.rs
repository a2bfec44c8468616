//! A minimal WebDriver client (the W3C protocol as chromedriver speaks it), over raw HTTP/1.1 on 127.0.0.1 with
//! `serde_json`: start chromedriver, open a headless Chromium session with its own profile directory, navigate,
//! run scripts, open and close tabs, and kill the browser the hard way (SIGKILL to its processes, found by the
//! profile directory on their command line).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Debian's chromedriver and Chromium.
pub const CHROMEDRIVER_PATH: &str = "/usr/bin/chromedriver";
/// See [`CHROMEDRIVER_PATH`].
pub const CHROMIUM_PATH: &str = "/usr/bin/chromium";

/// Chromium's flags: headless, as root (no sandbox), in a container with a small `/dev/shm`, and quiet (no
/// background networking, component updates, sync or first-run pages). `--user-data-dir` is added per session.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

/// How long one WebDriver command may take (scripts included: their own timeout is [`SCRIPT_TIMEOUT_MS`]).
const COMMAND_TIMEOUT_MS: u64 = 120_000;
/// The session's script timeout (an `executeAsync` that has not called back by then fails).
pub const SCRIPT_TIMEOUT_MS: u64 = 90_000;
/// The longest HTTP answer read from chromedriver.
const RESPONSE_BYTES_MAX: usize = 64 << 20;
/// How long chromedriver may take to answer `/status` after it starts.
const STARTUP_TIMEOUT_MS: u64 = 20_000;

/// A chromedriver process, killed when dropped.
pub struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    /// Starts chromedriver on a free port of 127.0.0.1 and waits until it is ready.
    pub fn start() -> Result<Self, String> {
        let port = free_port()?;
        let child = Command::new(CHROMEDRIVER_PATH)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("could not start {CHROMEDRIVER_PATH}: {error}"))?;
        let driver = Self { child, port };
        let started = Instant::now();
        loop {
            if let Ok(status) = request(port, "GET", "/status", None) {
                if status["value"]["ready"].as_bool() == Some(true) {
                    return Ok(driver);
                }
            }
            if started.elapsed() > Duration::from_millis(STARTUP_TIMEOUT_MS) {
                return Err(format!("chromedriver did not get ready on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens a headless Chromium with its profile in `user_data_dir` (reuse a directory to see what an earlier
    /// browser stored).
    pub fn session(&self, user_data_dir: &Path) -> Result<Session, String> {
        let mut arguments: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| (*flag).to_owned()).collect();
        arguments.push(format!("--user-data-dir={}", user_data_dir.display()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": CHROMIUM_PATH, "args": arguments },
                    "timeouts": { "script": SCRIPT_TIMEOUT_MS, "pageLoad": 60_000 },
                    "unhandledPromptBehavior": "dismiss"
                }
            }
        });
        let answer = request(self.port, "POST", "/session", Some(&capabilities))?;
        let id = answer["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("chromedriver gave no session: {answer}"))?
            .to_owned();
        Ok(Session { port: self.port, id, user_data_dir: user_data_dir.to_path_buf() })
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session. [`Session::quit`] ends it; [`Session::kill_browser`] kills the browser without asking.
pub struct Session {
    port: u16,
    id: String,
    user_data_dir: PathBuf,
}

impl Session {
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let answer = request(self.port, method, &format!("/session/{}{path}", self.id), body)?;
        Ok(answer["value"].clone())
    }

    /// Loads `url` and waits for it (the load event).
    pub fn navigate(&self, url: &str) -> Result<(), String> {
        self.command("POST", "/url", Some(&json!({ "url": url }))).map(|_| ())
    }

    /// Reloads the page.
    pub fn refresh(&self) -> Result<(), String> {
        self.command("POST", "/refresh", Some(&json!({}))).map(|_| ())
    }

    /// Runs the Chrome DevTools Protocol command `command` with `parameters` on the current page's target
    /// (chromedriver's `goog/cdp/execute`), and returns its result.
    pub fn devtools(&self, command: &str, parameters: Value) -> Result<Value, String> {
        self.command("POST", "/goog/cdp/execute", Some(&json!({ "cmd": command, "params": parameters })))
    }

    /// Runs `script` (a function body; `arguments` are its arguments) and returns what it returns.
    pub fn execute(&self, script: &str, arguments: &[Value]) -> Result<Value, String> {
        self.command("POST", "/execute/sync", Some(&json!({ "script": script, "args": arguments })))
    }

    /// Runs `script` (a function body whose last argument is the callback) and returns what it calls back with.
    pub fn execute_async(&self, script: &str, arguments: &[Value]) -> Result<Value, String> {
        self.command("POST", "/execute/async", Some(&json!({ "script": script, "args": arguments })))
    }

    /// Awaits the promise `expression` evaluates to (an expression over `window`), and returns its value; a
    /// rejection is an error with the rejection's `kind` and message.
    pub fn evaluate(&self, expression: &str) -> Result<Value, String> {
        let script = format!(
            "const done = arguments[arguments.length - 1];\n\
             Promise.resolve().then(() => ({expression})).then(\n\
               (value) => done({{ ok: value === undefined ? null : value }}),\n\
               (error) => done({{ error: String(error && error.kind ? error.kind + ': ' + error.message : error) }}));"
        );
        let answer = self.execute_async(&script, &[])?;
        match answer.get("error") {
            Some(error) => Err(format!("{expression}: {}", error.as_str().unwrap_or_default())),
            None => Ok(answer.get("ok").cloned().unwrap_or(Value::Null)),
        }
    }

    /// Polls `expression` (synchronous, over `window`) until it is truthy or `timeout` passes.
    pub fn wait_for(&self, expression: &str, timeout: Duration) -> Result<Value, String> {
        let started = Instant::now();
        loop {
            let value = self.execute(&format!("return ({expression});"), &[])?;
            if !(value.is_null() || value == json!(false) || value == json!(0) || value == json!("")) {
                return Ok(value);
            }
            if started.elapsed() > timeout {
                return Err(format!("timed out after {:?} waiting for {expression}", timeout));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The current tab's handle.
    pub fn window_handle(&self) -> Result<String, String> {
        self.command("GET", "/window", None)?.as_str().map(str::to_owned).ok_or_else(|| "no window handle".to_owned())
    }

    /// Opens a new tab (not switching to it) and returns its handle.
    pub fn new_tab(&self) -> Result<String, String> {
        let value = self.command("POST", "/window/new", Some(&json!({ "type": "tab" })))?;
        value["handle"].as_str().map(str::to_owned).ok_or_else(|| format!("no handle in {value}"))
    }

    /// Makes `handle` the current tab.
    pub fn switch_to(&self, handle: &str) -> Result<(), String> {
        self.command("POST", "/window", Some(&json!({ "handle": handle }))).map(|_| ())
    }

    /// Closes the current tab (the page gets no chance to finish what it was doing).
    pub fn close_tab(&self) -> Result<(), String> {
        self.command("DELETE", "/window", None).map(|_| ())
    }

    /// Ends the session (closing the browser).
    pub fn quit(self) -> Result<(), String> {
        request(self.port, "DELETE", &format!("/session/{}", self.id), None).map(|_| ())
    }

    /// Kills this session's browser with SIGKILL, with every process it started (renderers, utility processes):
    /// a crash, no unload, nothing flushed. The browser is found by its profile directory on the command line.
    /// Returns how many processes were killed.
    pub fn kill_browser(self) -> Result<usize, String> {
        let marker = format!("--user-data-dir={}", self.user_data_dir.display());
        let browsers = processes_with_argument(&marker);
        if browsers.is_empty() {
            return Err(format!("no Chromium process has {marker}"));
        }
        let pids = with_descendants(&browsers);
        // Stop them all first so none reacts to another's death, then kill them all: only processes of the
        // browser this session started (chromedriver spawned it for us).
        for signal in ["-STOP", "-KILL"] {
            for pid in &pids {
                let _ = Command::new("kill").args([signal, &pid.to_string()]).status();
            }
        }
        // chromedriver notices that its browser is gone; deleting the session may fail, which is fine.
        let _ = request(self.port, "DELETE", &format!("/session/{}", self.id), None);
        Ok(pids.len())
    }
}

/// `roots` and every process descended from them (by the parent id in `/proc/<pid>/stat`).
fn with_descendants(roots: &[u32]) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (command) state ppid ...`: the command may hold spaces and parentheses, so split after the last ')'.
            let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<u32>().ok()?;
            Some((pid, parent))
        })
        .collect();
    let mut found = roots.to_vec();
    let mut index = 0;
    while let Some(&pid) = found.get(index) {
        for &(child, parent) in &parents {
            if parent == pid && !found.contains(&child) {
                found.push(child);
            }
        }
        index += 1;
    }
    found
}

/// The ids of processes one of whose command-line arguments is exactly `argument`.
fn processes_with_argument(argument: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(command_line) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if command_line.split(|&byte| byte == 0).any(|word| word == argument.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    listener.local_addr().map(|address| address.port()).map_err(|error| error.to_string())
}

/// One HTTP/1.1 request to chromedriver; the JSON answer, or an error with WebDriver's message.
fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|error| format!("chromedriver {method} {path}: {error}"))?;
    let timeout = Some(Duration::from_millis(COMMAND_TIMEOUT_MS));
    stream.set_read_timeout(timeout).map_err(|error| error.to_string())?;
    stream.set_write_timeout(timeout).map_err(|error| error.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .map_err(|error| error.to_string())?;
    // chromedriver answers `Connection: close` but keeps the socket open: read until the answer is complete.
    let mut answer = Vec::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    while !is_complete(&answer) {
        if answer.len() > RESPONSE_BYTES_MAX {
            return Err(format!("chromedriver {method} {path}: the answer is over {RESPONSE_BYTES_MAX} bytes"));
        }
        let read = stream.read(&mut buffer).map_err(|error| format!("chromedriver {method} {path}: {error}"))?;
        if read == 0 {
            break;
        }
        answer.extend_from_slice(buffer.get(..read).unwrap_or_default());
    }
    let (status, body) = parse_response(&answer)?;
    let value: Value = serde_json::from_slice(&body).map_err(|error| {
        format!("chromedriver {method} {path}: bad JSON ({error}): {}", String::from_utf8_lossy(&body))
    })?;
    if status != 200 {
        let error = &value["value"];
        return Err(format!(
            "chromedriver {method} {path}: {} {}: {}",
            status,
            error["error"].as_str().unwrap_or_default(),
            error["message"].as_str().unwrap_or_default().lines().next().unwrap_or_default()
        ));
    }
    Ok(value)
}

/// Whether `answer` holds a whole HTTP/1.1 response: its head, then `Content-Length` bytes or a chunked body's last
/// chunk. (Without either, the body ends when the connection closes.)
fn is_complete(answer: &[u8]) -> bool {
    let Some(split) = answer.windows(4).position(|window| window == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(answer.get(..split).unwrap_or_default()).to_ascii_lowercase();
    let body = answer.get(split + 4..).unwrap_or_default();
    if let Some(length) = head.lines().find_map(|line| line.strip_prefix("content-length:")) {
        return length.trim().parse::<usize>().is_ok_and(|length| body.len() >= length);
    }
    if head.lines().any(|line| line.starts_with("transfer-encoding:") && line.contains("chunked")) {
        return body.ends_with(b"0\r\n\r\n");
    }
    false
}

/// The status code and body of an HTTP/1.1 response (a `Content-Length` body, a chunked one, or everything to
/// the end).
fn parse_response(answer: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = answer.windows(4).position(|window| window == b"\r\n\r\n").ok_or("no HTTP head in the answer")?;
    let head = String::from_utf8_lossy(answer.get(..split).unwrap_or_default()).into_owned();
    let rest = answer.get(split + 4..).unwrap_or_default();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    };
    if header("transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked")) {
        return Ok((status, dechunk(rest)?));
    }
    let body = match header("content-length").and_then(|length| length.parse::<usize>().ok()) {
        Some(length) => rest.get(..length).ok_or("the answer is shorter than its Content-Length")?.to_vec(),
        None => rest.to_vec(),
    };
    Ok((status, body))
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|window| window == b"\r\n").ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(rest.get(..line_end).unwrap_or_default()).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = rest.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(rest.get(..size).ok_or("truncated chunk")?);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_a_length_chunked_or_to_the_end() {
        let with_length = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}garbage";
        assert_eq!(parse_response(with_length).unwrap(), (200, b"{}".to_vec()));
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (404, b"{\"a\":1}".to_vec()));
        let to_end = b"HTTP/1.1 500 x\r\nConnection: close\r\n\r\n{\"b\":2}";
        assert_eq!(parse_response(to_end).unwrap(), (500, b"{\"b\":2}".to_vec()));
        assert!(parse_response(b"nonsense").is_err());
        assert!(is_complete(with_length) && is_complete(chunked));
        assert!(!is_complete(b"HTTP/1.1 200 OK\r\nContent-Length:3\r\n\r\n{}"));
        assert!(is_complete(b"HTTP/1.1 200 OK\r\nContent-Length:2\r\n\r\n{}"));
        assert!(!is_complete(to_end), "no length: read to the end");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_err());
    }

    #[test]
    fn processes_are_found_by_an_exact_argument() {
        let marker = format!("--xtask-marker-{}", std::process::id());
        assert!(processes_with_argument(&marker).is_empty());
        let own = std::env::args().next().unwrap_or_default();
        assert!(processes_with_argument(&own).contains(&std::process::id()));
        let own_tree = with_descendants(&[std::process::id()]);
        assert_eq!(own_tree.first(), Some(&std::process::id()));
        assert!(with_descendants(&[1]).len() > own_tree.len(), "init is an ancestor of this process");
    }
}
