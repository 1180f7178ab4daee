//! Which HTTP versions the transport offers a token endpoint in the TLS handshake: HTTP/1.1 only
//! (no `h2` in ALPN), unless HTTP/2 is asked for. Read from the `ClientHello` the transport sends to a loopback
//! listener (no certificate is needed: the handshake stops there).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use logto_m2m::Transport;
use logto_m2m_hyper::HyperTransport;
use logto_m2m_hyper::http::Request;

/// Reads one TLS record holding a `ClientHello` and returns the protocols its ALPN extension lists.
fn alpn_protocols(record: &[u8]) -> Vec<String> {
    let u16_at = |at: usize| usize::from(u16::from_be_bytes([record[at], record[at + 1]]));
    assert_eq!(record[0], 22, "a handshake record");
    assert_eq!(record[5], 1, "a ClientHello");
    // Record header (5), handshake header (4), version (2), random (32).
    let mut at = 5 + 4 + 2 + 32;
    at += 1 + usize::from(record[at]); // session id
    at += 2 + u16_at(at); // cipher suites
    at += 1 + usize::from(record[at]); // compression methods
    let extensions_end = at + 2 + u16_at(at);
    at += 2;
    while at < extensions_end {
        let (kind, len) = (u16_at(at), u16_at(at + 2));
        at += 4;
        if kind == 16 {
            let mut protocols = Vec::new();
            let mut p = at + 2;
            while p < at + len {
                let n = usize::from(record[p]);
                protocols.push(String::from_utf8(record[p + 1..p + 1 + n].to_vec()).unwrap());
                p += 1 + n;
            }
            return protocols;
        }
        at += len;
    }
    Vec::new()
}

/// The ALPN protocols `transport` offers to an `https` token endpoint.
fn offered(transport: &HyperTransport) -> Vec<String> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).unwrap();
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut record = header.to_vec();
        record.resize(5 + len, 0);
        stream.read_exact(&mut record[5..]).unwrap();
        tx.send(alpn_protocols(&record)).unwrap();
        // Dropping the stream ends the handshake: the transport reports a connect error.
    });
    let request = Request::post(format!("https://127.0.0.1:{port}/oidc/token"))
        .body(b"grant_type=client_credentials".to_vec())
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(runtime.block_on(transport.send(request)).is_err());
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

#[test]
fn http_1_1_only_by_default() {
    // No ALPN extension at all, or one that lists HTTP/1.1 only: never h2.
    let offered = offered(&HyperTransport::new());
    assert!(offered.is_empty() || offered == ["http/1.1"], "{offered:?}");
}

#[test]
fn http_2_when_asked() {
    let transport = HyperTransport::builder().http2(true).build();
    assert_eq!(offered(&transport), ["h2", "http/1.1"]);
}
