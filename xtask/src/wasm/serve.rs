//! A tiny static HTTP server for `web/` (the demo page, the end-to-end test page and the wasm package in
//! `web/pkg/`), on 127.0.0.1 only. `GET` and `HEAD`, one request per connection (`Connection: close`), no caching
//! (`Cache-Control: no-store`, so a reload always gets the newest build). Pages are cross-origin isolated
//! (`Cross-Origin-Opener-Policy` and `-Embedder-Policy`), which gives `performance.now()` its fine resolution
//! (5 µs rather than 100 µs) for the latencies the tests measure.
//!
//! Bounded: a request head of at most [`REQUEST_HEAD_BYTES_MAX`], [`CONNECTIONS_MAX`] connections at once (more
//! get `503`), [`SOCKET_TIMEOUT_MS`] per read and write, files of at most [`FILE_BYTES_MAX`], and paths that stay
//! inside the served directory (no `..`, no absolute paths, no backslashes).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest request head (request line and headers) read.
pub const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Connections served at once.
pub const CONNECTIONS_MAX: usize = 32;
/// Read and write timeout of each connection.
pub const SOCKET_TIMEOUT_MS: u64 = 10_000;
/// The largest file served.
pub const FILE_BYTES_MAX: u64 = 64 << 20;
/// How often the accept loop checks whether to stop.
const ACCEPT_POLL_MS: u64 = 10;

/// A running server; dropping it stops it.
pub struct Server {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `root` on `127.0.0.1:port` (`port` 0: any free port).
    pub fn start(root: &Path, port: u16) -> Result<Self, String> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|error| format!("could not listen on 127.0.0.1:{port}: {error}"))?;
        let address = listener.local_addr().map_err(|error| error.to_string())?;
        listener.set_nonblocking(true).map_err(|error| error.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || accept_loop(&listener, &root, &stop))
        };
        Ok(Self { address, stop, thread: Some(thread) })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, root: &Path, stop: &AtomicBool) {
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_millis(SOCKET_TIMEOUT_MS)));
                let _ = stream.set_write_timeout(Some(Duration::from_millis(SOCKET_TIMEOUT_MS)));
                if open.fetch_add(1, Ordering::AcqRel) >= CONNECTIONS_MAX {
                    open.fetch_sub(1, Ordering::AcqRel);
                    let _ = respond(&stream, 503, "text/plain", b"too many connections", true);
                    continue;
                }
                let open = Arc::clone(&open);
                let root = root.to_path_buf();
                std::thread::spawn(move || {
                    let _ = serve_connection(stream, &root);
                    open.fetch_sub(1, Ordering::AcqRel);
                });
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS)),
        }
    }
}

/// Reads the request head (up to the blank line, at most [`REQUEST_HEAD_BYTES_MAX`]).
fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut buffer = [0_u8; 2048];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        if head.len() > REQUEST_HEAD_BYTES_MAX {
            return Ok(None);
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(buffer.get(..read).unwrap_or_default());
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

fn serve_connection(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let Some(head) = read_head(&mut stream)? else {
        return respond(&stream, 431, "text/plain", b"request head too large", true);
    };
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let with_body = match method {
        "GET" => true,
        "HEAD" => false,
        _ => return respond(&stream, 405, "text/plain", b"only GET and HEAD", true),
    };
    let Some(path) = resolve(root, target) else {
        return respond(&stream, 400, "text/plain", b"bad path", with_body);
    };
    match std::fs::metadata(&path) {
        Ok(metadata) if metadata.is_file() && metadata.len() <= FILE_BYTES_MAX => {
            let body = std::fs::read(&path)?;
            respond(&stream, 200, content_type(&path), &body, with_body)
        }
        Ok(metadata) if metadata.is_file() => respond(&stream, 413, "text/plain", b"file too large", with_body),
        _ => respond(&stream, 404, "text/plain", b"not found", with_body),
    }
}

/// The file a request target names under `root` (`/` is `index.html`; a query or fragment is ignored), or `None`
/// for a path that could leave `root`.
pub fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let relative = path.strip_prefix('/')?;
    let relative = if relative.is_empty() || relative.ends_with('/') {
        format!("{relative}index.html")
    } else {
        relative.to_owned()
    };
    let mut resolved = root.to_path_buf();
    for segment in relative.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains(['\\', ':', '%']) {
            return None;
        }
        resolved.push(segment);
    }
    Some(resolved)
}

/// The `Content-Type` for a file, by extension (`application/wasm` for `.wasm`, which streaming compilation
/// requires).
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|extension| extension.to_str()).unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "ts" | "md" | "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn respond(
    mut stream: &TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         Cross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n\
         Connection: close\r\n\r\n",
        status_text(status),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_root_only() {
        let root = Path::new("/srv/web");
        assert_eq!(resolve(root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(root, "/pkg/vecdb_wasm.js?v=1"), Some(root.join("pkg").join("vecdb_wasm.js")));
        assert_eq!(resolve(root, "/docs/"), Some(root.join("docs").join("index.html")));
        for bad in ["/../etc/passwd", "/pkg/../../x", "//etc/passwd", "relative", "/a\\b", "/%2e%2e/x", "/./x"] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }

    #[test]
    fn wasm_is_served_as_application_wasm() {
        assert_eq!(content_type(Path::new("pkg/vecdb_wasm_bg.wasm")), "application/wasm");
        assert!(content_type(Path::new("main.js")).starts_with("text/javascript"));
        assert!(content_type(Path::new("index.html")).starts_with("text/html"));
        assert_eq!(content_type(Path::new("data.bin")), "application/octet-stream");
    }

    #[test]
    fn the_server_answers_get_head_and_refuses_the_rest() {
        let root = std::env::temp_dir().join(format!("xtask-serve-test-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("index.html"), "<p>hi</p>").unwrap();
        let server = Server::start(&root, 0).unwrap();
        let request = |text: &str| {
            let mut stream = TcpStream::connect(server.address).unwrap();
            stream.write_all(text.as_bytes()).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        };
        let get = request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n") && get.ends_with("<p>hi</p>"), "{get}");
        assert!(get.contains("Content-Type: text/html") && get.contains("Cross-Origin-Opener-Policy: same-origin"));
        let head = request("HEAD /index.html HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"), "{head}");
        assert!(request("GET /missing.js HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(request("GET /../secret HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(request("POST / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        drop(server);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
