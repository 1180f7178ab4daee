//! A loopback HTTP/1.1 server that writes exact raw responses, for transport tests.
//!
//! It listens on 127.0.0.1 only, handles each connection on its own thread (requests in sequence,
//! keep-alive), records what it received, counts accepted connections and, for flood replies,
//! how many bytes it managed to write before the client went away. Every thread stops by itself:
//! the accept loop after a deadline, a flood after a hard byte bound.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use logto_m2m_proto::http;

/// How long a test server accepts connections before it stops by itself.
const ACCEPT_DEADLINE: Duration = Duration::from_secs(30);
/// The most a flood writes, so that even a client that never stops reading ends the test.
pub const FLOOD_HARD_LIMIT: u64 = 64 * 1024 * 1024;
/// 50 MiB: the Content-Length a flood declares.
pub const FLOOD_DECLARED_LENGTH: u64 = 50 * 1024 * 1024;

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Write these bytes (status line, headers and body) and keep the connection.
    Raw(Vec<u8>),
    /// Sleep, then write these bytes.
    Slow(Duration, Vec<u8>),
    /// Write the first bytes (a head and part of the body), sleep, then write the rest.
    Stall(Vec<u8>, Duration, Vec<u8>),
    /// Write a 200 head, then body bytes until the client stops reading and closes (or the hard
    /// limit): with `Content-Length: 50 MiB` or, when `chunked`, an endless chunked body.
    Flood {
        /// Whether the body is chunked (endless) rather than declared as 50 MiB.
        chunked: bool,
    },
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request line, e.g. `POST /oidc/token HTTP/1.1`.
    pub request_line: String,
    /// The header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (read by Content-Length).
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running loopback server.
pub struct TestServer {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
    floods: Mutex<Receiver<u64>>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    /// Starts a server whose answer to the `n`-th request (from 0, over all connections) is
    /// `reply(n)`.
    pub fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let accepts = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (flood_tx, flood_rx) = mpsc::channel();
        let reply = Arc::new(reply);
        let requests = Arc::new(AtomicUsize::new(0));
        {
            let accepts = Arc::clone(&accepts);
            let received = Arc::clone(&received);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let deadline = Instant::now() + ACCEPT_DEADLINE;
                while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            accepts.fetch_add(1, Ordering::SeqCst);
                            let conn = Connection {
                                received: Arc::clone(&received),
                                reply: Arc::clone(&reply),
                                requests: Arc::clone(&requests),
                                floods: flood_tx.clone(),
                            };
                            thread::spawn(move || conn.serve(stream));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => break,
                    }
                }
            });
        }
        Self {
            addr,
            accepts,
            received,
            floods: Mutex::new(flood_rx),
            stop,
        }
    }

    /// Starts a server that answers every request with the same raw bytes.
    pub fn always(response: &[u8]) -> Self {
        let response = response.to_vec();
        Self::start(move |_| Reply::Raw(response.clone()))
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many connections were accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits (at most `limit`) for a flood to end and returns how many body bytes it wrote.
    pub fn flood_written(&self, limit: Duration) -> Option<u64> {
        self.floods.lock().expect("lock").recv_timeout(limit).ok()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct Connection<F> {
    received: Arc<Mutex<Vec<Received>>>,
    reply: Arc<F>,
    requests: Arc<AtomicUsize>,
    floods: Sender<u64>,
}

impl<F: Fn(usize) -> Reply> Connection<F> {
    fn serve(self, stream: TcpStream) {
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(ACCEPT_DEADLINE))
            .expect("read timeout");
        let mut writer = stream.try_clone().expect("clone stream");
        let mut reader = BufReader::new(stream);
        while let Some(request) = read_request(&mut reader) {
            self.received.lock().expect("lock").push(request);
            let n = self.requests.fetch_add(1, Ordering::SeqCst);
            match (self.reply)(n) {
                Reply::Raw(bytes) => {
                    if writer.write_all(&bytes).is_err() {
                        return;
                    }
                }
                Reply::Slow(delay, bytes) => {
                    thread::sleep(delay);
                    if writer.write_all(&bytes).is_err() {
                        return;
                    }
                }
                Reply::Stall(first, delay, rest) => {
                    if writer.write_all(&first).is_err() {
                        return;
                    }
                    thread::sleep(delay);
                    if writer.write_all(&rest).is_err() {
                        return;
                    }
                }
                Reply::Flood { chunked } => {
                    let written = flood(&mut writer, chunked);
                    let _ = self.floods.send(written);
                    return;
                }
            }
        }
    }
}

/// Writes a 200 head and then body bytes until a write fails or the hard limit; returns the body
/// bytes written (chunk framing included).
fn flood(writer: &mut TcpStream, chunked: bool) -> u64 {
    let head = if chunked {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_owned()
    } else {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {FLOOD_DECLARED_LENGTH}\r\n\r\n"
        )
    };
    if writer.write_all(head.as_bytes()).is_err() {
        return 0;
    }
    let payload = vec![b'a'; 16 * 1024];
    let piece = if chunked {
        let mut piece = format!("{:x}\r\n", payload.len()).into_bytes();
        piece.extend_from_slice(&payload);
        piece.extend_from_slice(b"\r\n");
        piece
    } else {
        payload
    };
    let limit = if chunked {
        FLOOD_HARD_LIMIT
    } else {
        FLOOD_DECLARED_LENGTH
    };
    let mut written = 0_u64;
    while written < limit {
        match writer.write(&piece) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    written
}

/// Reads one request (head, then a Content-Length body); `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Received> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body,
    })
}

/// A complete raw response with a Content-Length body.
pub fn response(status_line: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status_line}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

/// A port on 127.0.0.1 that nothing listens on: bound, then released.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A listener that should never be connected to, and a way to check that it was not.
pub struct Untouched {
    listener: TcpListener,
}

impl Untouched {
    /// Binds a listener on 127.0.0.1 and does not accept on it.
    pub fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        Self { listener }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listener.local_addr().expect("addr"))
    }

    /// Whether any connection is waiting in the backlog (a completed connect lands there even
    /// though nothing accepts).
    pub fn was_connected(&self) -> bool {
        self.listener.accept().is_ok()
    }
}

/// A token-endpoint-like POST to `url`.
pub fn token_request(url: &str) -> http::Request<Vec<u8>> {
    http::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(b"grant_type=client_credentials&resource=https%3A%2F%2Fapi.example".to_vec())
        .expect("request")
}

/// A server on 127.0.0.1 that answers its first connection with plain HTTP at once, whatever the
/// client sent (so a TLS handshake fails), then closes it. Returns its address.
pub fn plain_http_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(&response("400 Bad Request", &[], "not tls"));
            let _ = stream.shutdown(std::net::Shutdown::Write);
            // Drain what the client sends until it gives up, so the close is orderly.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
    });
    addr
}
