//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream` that reports exactly what came
//! over the wire: resets, early closes and incomplete bodies included.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine as _;

/// Bound for every socket read or write in the tests.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A request to send.
#[derive(Clone, Debug)]
pub(crate) struct RawRequest {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawRequest {
    pub(crate) fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `POST /oidc/token` with a form body built from `params`.
    pub(crate) fn token(params: &[(&str, &str)]) -> Self {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        Self::new("POST", "/oidc/token")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn basic(self, id: &str, secret: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        self.header("Authorization", &format!("Basic {token}"))
    }

    pub(crate) fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub(crate) fn to_bytes(&self, addr: SocketAddr, close: bool) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: {addr}\r\n",
            self.method, self.target
        );
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if close {
            out.push_str("Connection: close\r\n");
        }
        if !self.body.is_empty() || self.method == "POST" {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// How the body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    /// All announced bytes (or the terminating chunk, or EOF for close-delimited bodies).
    Complete,
    /// The connection closed (FIN) before the body was complete.
    ClosedEarly,
    /// The connection was reset before the body was complete.
    Reset,
}

/// A response as received.
#[derive(Clone, Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) end: BodyEnd,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Connects with timeouts set.
pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the response.
pub(crate) fn send(addr: SocketAddr, request: &RawRequest) -> io::Result<RawResponse> {
    let mut stream = connect(addr);
    stream.write_all(&request.to_bytes(addr, true))?;
    read_response(&mut stream, usize::MAX)
}

/// Sends and expects a complete response.
pub(crate) fn exchange(addr: SocketAddr, request: &RawRequest) -> RawResponse {
    let response = send(addr, request).expect("exchange");
    assert_eq!(
        response.end,
        BodyEnd::Complete,
        "incomplete response: {response:?}"
    );
    response
}

/// A reader that remembers bytes read past what was asked for.
struct Wire<'a> {
    stream: &'a mut TcpStream,
    buffered: Vec<u8>,
    eof: bool,
}

enum Fill {
    Data,
    Eof,
    Reset,
}

impl Wire<'_> {
    fn fill(&mut self) -> io::Result<Fill> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(Fill::Eof)
            }
            Ok(n) => {
                self.buffered.extend_from_slice(&chunk[..n]);
                Ok(Fill::Data)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(Fill::Reset),
            Err(e) => Err(e),
        }
    }

    /// Reads a line ending in CRLF (without it); `None` when the stream ended first.
    fn line(&mut self) -> io::Result<Result<String, BodyEnd>> {
        loop {
            if let Some(i) = self.buffered.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buffered[..i]).into_owned();
                self.buffered.drain(..i + 2);
                return Ok(Ok(line));
            }
            match self.fill()? {
                Fill::Data => {}
                Fill::Eof => return Ok(Err(BodyEnd::ClosedEarly)),
                Fill::Reset => return Ok(Err(BodyEnd::Reset)),
            }
        }
    }

    /// Moves up to `n` bytes into `out`; stops early at EOF or reset.
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<Result<(), BodyEnd>> {
        let mut left = n;
        loop {
            let k = left.min(self.buffered.len());
            out.extend(self.buffered.drain(..k));
            left -= k;
            if left == 0 {
                return Ok(Ok(()));
            }
            match self.fill()? {
                Fill::Data => {}
                Fill::Eof => return Ok(Err(BodyEnd::ClosedEarly)),
                Fill::Reset => return Ok(Err(BodyEnd::Reset)),
            }
        }
    }
}

/// Reads one response, keeping at most `body_limit` body bytes (reading stops there, as a
/// client with a size cap would).
pub(crate) fn read_response(stream: &mut TcpStream, body_limit: usize) -> io::Result<RawResponse> {
    let mut wire = Wire {
        stream,
        buffered: Vec::new(),
        eof: false,
    };
    let status_line = match wire.line()? {
        Ok(l) => l,
        Err(BodyEnd::Reset) => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "reset before the status line",
            ));
        }
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the status line",
            ));
        }
    };
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let line = wire
            .line()?
            .map_err(|_| io::Error::new(io::ErrorKind::UnexpectedEof, "closed in the head"))?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').expect("header line");
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut response = RawResponse {
        status,
        headers,
        body: Vec::new(),
        end: BodyEnd::Complete,
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length: Option<usize> = response
        .header("content-length")
        .map(|v| v.parse().unwrap());
    let mut body = Vec::new();
    let end = if chunked {
        loop {
            let size_line = match wire.line()? {
                Ok(l) => l,
                Err(end) => break end,
            };
            let size = usize::from_str_radix(size_line.trim(), 16).expect("chunk size");
            if size == 0 {
                let _ = wire.line()?;
                break BodyEnd::Complete;
            }
            if let Err(end) =
                wire.take(size.min(body_limit - body.len().min(body_limit)), &mut body)?
            {
                break end;
            }
            if body.len() >= body_limit {
                break BodyEnd::Complete;
            }
            if let Err(end) = wire.take(2, &mut Vec::new())? {
                break end;
            }
        }
    } else if let Some(length) = length {
        match wire.take(length.min(body_limit), &mut body)? {
            Ok(()) => BodyEnd::Complete,
            Err(end) => end,
        }
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        BodyEnd::Complete
    } else {
        loop {
            if body.len() >= body_limit {
                break BodyEnd::Complete;
            }
            let k = wire.buffered.len();
            body.extend(wire.buffered.drain(..k));
            if wire.eof {
                break BodyEnd::Complete;
            }
            match wire.fill()? {
                Fill::Data => {}
                Fill::Eof => {}
                Fill::Reset => break BodyEnd::Reset,
            }
        }
    };
    response.body = body;
    response.end = end;
    Ok(response)
}

/// Decodes a base64url JWT segment into JSON text.
pub(crate) fn jwt_segment(segment: &str) -> String {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .expect("base64url segment");
    String::from_utf8(bytes).expect("utf-8 segment")
}

/// The keys of a JSON object, in document order (`serde_json` sorts its maps, so scan the text).
pub(crate) fn key_order(json_text: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(json_text).expect("json");
    let serde_json::Value::Object(map) = value else {
        panic!("not an object: {json_text}")
    };
    let mut keys: Vec<(usize, String)> = map
        .keys()
        .map(|k| {
            let needle = format!("{}:", serde_json::Value::String(k.clone()));
            (json_text.find(&needle).expect("key in text"), k.clone())
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}
