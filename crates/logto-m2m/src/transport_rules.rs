//! What every transport does around the calls into its HTTP stack, written once: refusing
//! redirects, the declared and the streamed body cap, a body buffer that leaves no copy of a token
//! behind, a request body wiped after sending, and sorting failures into [`TransportErrorKind`].
//!
//! `logto-m2m-ureq` and `logto-m2m-hyper` are built on it; a transport of your own can be too:
//!
//! ```
//! use logto_m2m::proto::http::{Response, StatusCode};
//! use logto_m2m::transport_rules::{BodyBuffer, RefusedResponse};
//!
//! // The head arrived: refuse a redirect or a declared length over the cap before reading.
//! let head = Response::builder().status(StatusCode::OK).body(())?;
//! let (parts, ()) = head.into_parts();
//! let mut body = BodyBuffer::for_head(&parts, Some(27), 64 * 1024)?;
//! // Each chunk as the HTTP stack hands it over; a chunk past the cap is refused, not kept.
//! body.push(br#"{"access_token":"eyJ.x.y","#)?;
//! let response: Response<Vec<u8>> = body.into_response(parts);
//! assert_eq!(response.body().len(), 26);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::error::Error as StdError;
use std::io;

use logto_m2m_proto::http::response::Parts;
use logto_m2m_proto::http::{Extensions, Response, StatusCode, header};
use logto_m2m_proto::{TransportError, TransportErrorKind};
use zeroize::{Zeroize, Zeroizing};

use crate::transport::IntoTransportError;

/// The default cap on a response body: 64 KiB, far more than any token response.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The default cap on a response's status line and headers: 64 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// The longest `Location` kept in a [`RefusedResponse::Redirect`].
const MAX_LOCATION_CHARS: usize = 512;
/// How much a blocking read asks for at a time.
const READ_CHUNK: usize = 8 * 1024;

/// The response body cap for one request, in its extensions, in place of the transport's own:
/// a Management API call expects larger answers than a token request. Transports built on these
/// rules read it with [`ResponseBodyCap::for_request`] (the ureq, hyper and reqwest transports
/// do); one that ignores it applies its own cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseBodyCap(pub usize);

impl ResponseBodyCap {
    /// The cap for a request with these `extensions`: the [`ResponseBodyCap`] among them, else
    /// `default` (the transport's own).
    #[must_use]
    pub fn for_request(extensions: &Extensions, default: usize) -> usize {
        extensions.get::<Self>().map_or(default, |cap| cap.0)
    }
}

/// An answer a transport refuses to hand to the parser: the server's (or a proxy's) doing, kind
/// [`ErrorKind::ResponseRefused`](logto_m2m_proto::ErrorKind::ResponseRefused), never retried on
/// its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefusedResponse {
    /// The server answered with a redirect (3xx), which is never followed: following it could
    /// send the app secret to another host.
    #[error("refusing to follow a redirect ({status}) to {location:?}")]
    Redirect {
        /// The redirect's status.
        status: StatusCode,
        /// Its `Location` header, if it had a readable one (cut to a few hundred characters).
        location: Option<String>,
    },
    /// The body was larger than the body cap (declared so, or found so while reading, which
    /// stopped at the cap).
    #[error("response body larger than the {limit}-byte body cap")]
    BodyTooLarge {
        /// The body cap, in bytes.
        limit: u64,
    },
    /// The status line and headers were larger than the header cap.
    #[error("response status line and headers larger than the {limit}-byte header cap")]
    HeadersTooLarge {
        /// The header cap, in bytes.
        limit: u64,
    },
}

impl RefusedResponse {
    /// A body over `limit` bytes.
    #[must_use]
    pub fn body_too_large(limit: usize) -> Self {
        Self::BodyTooLarge {
            limit: u64::try_from(limit).unwrap_or(u64::MAX),
        }
    }

    /// A head over `limit` bytes.
    #[must_use]
    pub fn headers_too_large(limit: usize) -> Self {
        Self::HeadersTooLarge {
            limit: u64::try_from(limit).unwrap_or(u64::MAX),
        }
    }

    /// How this refusal is retried: [`Redirect`](TransportErrorKind::Redirect),
    /// [`BodyTooLarge`](TransportErrorKind::BodyTooLarge) or
    /// [`HeadersTooLarge`](TransportErrorKind::HeadersTooLarge), none of them retryable.
    #[must_use]
    pub fn kind(&self) -> TransportErrorKind {
        match self {
            Self::Redirect { .. } => TransportErrorKind::Redirect,
            Self::BodyTooLarge { .. } => TransportErrorKind::BodyTooLarge,
            Self::HeadersTooLarge { .. } => TransportErrorKind::HeadersTooLarge,
        }
    }
}

impl IntoTransportError for RefusedResponse {
    fn transport_error_kind(&self) -> TransportErrorKind {
        self.kind()
    }
}

/// Refuses a redirect, whatever else the head says.
///
/// # Errors
///
/// [`RefusedResponse::Redirect`] for any 3xx status.
pub fn refuse_redirect(head: &Parts) -> Result<(), RefusedResponse> {
    if !head.status.is_redirection() {
        return Ok(());
    }
    let location = head
        .headers
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(|location| location.chars().take(MAX_LOCATION_CHARS).collect());
    Err(RefusedResponse::Redirect {
        status: head.status,
        location,
    })
}

/// A response body read up to its cap, into a buffer that never leaves a copy behind: growing it
/// moves the bytes to a larger buffer and zeroizes the old one, and a refused body is zeroized
/// when the buffer is dropped.
///
/// [`into_response`](Self::into_response) hands the bytes over without a copy; the manager
/// zeroizes them once parsed (the token is copied once, into its zeroizing newtype).
pub struct BodyBuffer {
    bytes: Zeroizing<Vec<u8>>,
    max_body_bytes: usize,
}

impl std::fmt::Debug for BodyBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyBuffer")
            .field("len", &self.bytes.len())
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl BodyBuffer {
    /// Checks the head before any of the body is read, and makes the buffer for it: refuses a
    /// redirect and a `declared_len` (the stack's `Content-Length`) over `max_body_bytes`, and
    /// pre-sizes the buffer for a declared length within the cap.
    ///
    /// # Errors
    ///
    /// [`RefusedResponse::Redirect`] or [`RefusedResponse::BodyTooLarge`].
    pub fn for_head(
        head: &Parts,
        declared_len: Option<u64>,
        max_body_bytes: usize,
    ) -> Result<Self, RefusedResponse> {
        refuse_redirect(head)?;
        let capacity = match declared_len {
            Some(len) if usize::try_from(len).map_or(true, |len| len > max_body_bytes) => {
                return Err(RefusedResponse::body_too_large(max_body_bytes));
            }
            Some(len) => usize::try_from(len).unwrap_or(0),
            None => 0,
        };
        Ok(Self {
            bytes: Zeroizing::new(Vec::with_capacity(capacity)),
            max_body_bytes,
        })
    }

    /// Appends one chunk as the HTTP stack hands it over. A chunk that would take the body past
    /// the cap is refused whole, before any of it is kept.
    ///
    /// # Errors
    ///
    /// [`RefusedResponse::BodyTooLarge`].
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), RefusedResponse> {
        let needed = self
            .bytes
            .len()
            .checked_add(chunk.len())
            .filter(|needed| *needed <= self.max_body_bytes)
            .ok_or_else(|| RefusedResponse::body_too_large(self.max_body_bytes))?;
        if needed > self.bytes.capacity() {
            // Grow by hand: `Vec`'s own growth frees the old buffer without zeroizing it.
            let capacity = needed
                .max(self.bytes.capacity().saturating_mul(2))
                .min(self.max_body_bytes);
            let mut grown = Zeroizing::new(Vec::with_capacity(capacity));
            grown.extend_from_slice(&self.bytes);
            // The old buffer is zeroized as it is dropped here.
            self.bytes = grown;
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// Reads `reader` to its end into the buffer, through a scratch buffer that is zeroized
    /// afterwards; stops at the first chunk past the cap.
    ///
    /// # Errors
    ///
    /// [`ReadBodyError::Refused`] past the cap, [`ReadBodyError::Read`] when reading failed.
    pub fn read_from(&mut self, mut reader: impl io::Read) -> Result<(), ReadBodyError> {
        let mut scratch = Zeroizing::new([0_u8; READ_CHUNK]);
        loop {
            let read = match reader.read(&mut scratch[..]) {
                Ok(0) => return Ok(()),
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadBodyError::Read(e)),
            };
            let chunk = scratch.get(..read).unwrap_or_default();
            self.push(chunk).map_err(ReadBodyError::Refused)?;
        }
    }

    /// How many bytes were read so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing was read so far.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The whole response, the bytes moved out without a copy.
    #[must_use]
    pub fn into_response(mut self, head: Parts) -> Response<Vec<u8>> {
        Response::from_parts(head, std::mem::take(&mut *self.bytes))
    }
}

/// Why [`BodyBuffer::read_from`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadBodyError {
    /// The body went past the cap.
    #[error(transparent)]
    Refused(RefusedResponse),
    /// The reader failed.
    #[error(transparent)]
    Read(io::Error),
}

/// A request body (or any buffer) that is zeroized when dropped, for HTTP stacks that take an
/// owned body and drop it themselves once sent: `bytes::Bytes::from_owner(WipeOnDrop::new(body))`
/// wipes the bytes when the stack drops its last reference.
#[derive(Clone)]
pub struct WipeOnDrop<B: Zeroize>(B);

impl<B: Zeroize> WipeOnDrop<B> {
    /// Wraps `buffer`.
    pub fn new(buffer: B) -> Self {
        Self(buffer)
    }
}

impl<B: Zeroize + AsRef<[u8]>> AsRef<[u8]> for WipeOnDrop<B> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref()
    }
}

impl<B: Zeroize> Drop for WipeOnDrop<B> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<B: Zeroize> std::fmt::Debug for WipeOnDrop<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WipeOnDrop([redacted])")
    }
}

/// An error and its sources, outermost first.
pub fn error_chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// An error's message followed by its sources', skipping repeats: HTTP stacks' own messages
/// ("error sending request", "client error (Connect)") say little without their causes.
#[must_use]
pub fn describe_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    let mut last = String::new();
    for e in error_chain(error) {
        let message = e.to_string();
        if message.is_empty() || last.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
        last = message;
    }
    text
}

/// How an i/o failure is retried: refused, unreachable or unresolved is
/// [`Connect`](TransportErrorKind::Connect), timed out is [`Timeout`](TransportErrorKind::Timeout),
/// invalid input is [`InvalidRequest`](TransportErrorKind::InvalidRequest), anything else
/// [`Io`](TransportErrorKind::Io).
#[must_use]
pub fn io_error_kind(error: &io::Error) -> TransportErrorKind {
    use io::ErrorKind as K;
    match error.kind() {
        K::ConnectionRefused
        | K::NotFound
        | K::AddrNotAvailable
        | K::HostUnreachable
        | K::NetworkUnreachable => TransportErrorKind::Connect,
        K::TimedOut | K::WouldBlock => TransportErrorKind::Timeout,
        K::InvalidInput => TransportErrorKind::InvalidRequest,
        _ => TransportErrorKind::Io,
    }
}

/// The kind of the outermost error in `error`'s chain that says one: a [`RefusedResponse`], a
/// [`TransportError`], or an [`io::Error`] (through [`io_error_kind`]). `None` when none does.
#[must_use]
pub fn kind_in_chain(error: &(dyn StdError + 'static)) -> Option<TransportErrorKind> {
    error_chain(error).find_map(|e| {
        if let Some(refused) = e.downcast_ref::<RefusedResponse>() {
            Some(refused.kind())
        } else if let Some(transport) = e.downcast_ref::<TransportError>() {
            Some(transport.kind())
        } else {
            let io = e.downcast_ref::<io::Error>()?;
            // An i/o error's `source()` skips the error it wraps: look at that one first.
            let wrapped = io.get_ref().and_then(|inner| kind_in_chain(inner));
            Some(wrapped.unwrap_or_else(|| io_error_kind(io)))
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn head(status: u16, location: Option<&str>) -> Parts {
        let mut builder = Response::builder().status(status);
        if let Some(location) = location {
            builder = builder.header(header::LOCATION, location);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn every_redirect_is_refused_with_its_location_cut_short() {
        let long = format!("https://elsewhere.example/{}", "a".repeat(2000));
        for status in [301, 302, 303, 307, 308] {
            let refused = refuse_redirect(&head(status, Some(&long))).unwrap_err();
            let RefusedResponse::Redirect {
                status: got,
                location,
            } = &refused
            else {
                panic!("{refused:?}");
            };
            assert_eq!(got.as_u16(), status);
            assert_eq!(location.as_deref().map(str::len), Some(MAX_LOCATION_CHARS));
            assert_eq!(refused.kind(), TransportErrorKind::Redirect);
        }
        for status in [200, 400, 401, 429, 500, 502] {
            assert!(refuse_redirect(&head(status, None)).is_ok(), "{status}");
        }
    }

    #[test]
    fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let refused = BodyBuffer::for_head(&head(200, None), Some(101), 100).unwrap_err();
        assert_eq!(refused, RefusedResponse::BodyTooLarge { limit: 100 });
        assert_eq!(
            BodyBuffer::for_head(&head(200, None), Some(u64::MAX), 100).unwrap_err(),
            RefusedResponse::BodyTooLarge { limit: 100 }
        );
        let buffer = BodyBuffer::for_head(&head(200, None), Some(100), 100).unwrap();
        assert!(buffer.is_empty());
    }

    #[test]
    fn the_streamed_body_stops_at_the_cap_and_keeps_nothing_past_it() {
        let mut buffer = BodyBuffer::for_head(&head(200, None), None, 10).unwrap();
        buffer.push(b"0123").unwrap();
        buffer.push(b"456789").unwrap();
        assert_eq!(buffer.len(), 10);
        assert_eq!(
            buffer.push(b"x").unwrap_err(),
            RefusedResponse::BodyTooLarge { limit: 10 }
        );
        assert_eq!(buffer.len(), 10);
        let response = buffer.into_response(head(200, None));
        assert_eq!(response.body(), b"0123456789");
    }

    #[test]
    fn growing_never_goes_past_the_cap_nor_loses_bytes() {
        let mut buffer = BodyBuffer::for_head(&head(200, None), None, 1000).unwrap();
        let mut expected = Vec::new();
        for i in 0..200_u8 {
            let chunk = [i; 7];
            if buffer.push(&chunk).is_err() {
                break;
            }
            expected.extend_from_slice(&chunk);
            assert!(buffer.bytes.capacity() <= 1000);
        }
        assert_eq!(expected.len(), 994);
        assert_eq!(buffer.into_response(head(200, None)).body(), &expected);
    }

    #[test]
    fn reading_stops_at_the_first_chunk_past_the_cap() {
        let endless = io::repeat(b'x');
        let mut buffer = BodyBuffer::for_head(&head(200, None), None, 20_000).unwrap();
        let error = buffer.read_from(endless).unwrap_err();
        assert!(matches!(
            error,
            ReadBodyError::Refused(RefusedResponse::BodyTooLarge { limit: 20_000 })
        ));
        let mut buffer = BodyBuffer::for_head(&head(200, None), None, 20_000).unwrap();
        buffer.read_from(&[b'y'; 20_000][..]).unwrap();
        assert_eq!(buffer.len(), 20_000);
    }

    /// A buffer whose wiping is observed.
    struct Observed {
        bytes: Vec<u8>,
        wiped: Arc<AtomicUsize>,
    }

    impl Zeroize for Observed {
        fn zeroize(&mut self) {
            self.bytes.zeroize();
            self.wiped.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl AsRef<[u8]> for Observed {
        fn as_ref(&self) -> &[u8] {
            &self.bytes
        }
    }

    #[test]
    fn a_shared_body_is_wiped_when_its_last_holder_drops_it() {
        let wiped = Arc::new(AtomicUsize::new(0));
        let body = bytes::Bytes::from_owner(WipeOnDrop::new(Observed {
            bytes: b"client_secret=s3cr3t".to_vec(),
            wiped: Arc::clone(&wiped),
        }));
        let sent = body.clone();
        drop(body);
        assert_eq!(wiped.load(Ordering::SeqCst), 0, "a clone still holds it");
        assert_eq!(&sent[..], b"client_secret=s3cr3t");
        drop(sent);
        assert_eq!(wiped.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn failures_are_sorted_by_the_outermost_error_that_says_what_it_is() {
        let refused: Box<dyn StdError + Send + Sync> =
            Box::new(RefusedResponse::headers_too_large(10));
        assert_eq!(
            kind_in_chain(&*refused),
            Some(TransportErrorKind::HeadersTooLarge)
        );
        let wrapped = io::Error::other(RefusedResponse::body_too_large(10));
        assert_eq!(
            kind_in_chain(&wrapped),
            Some(TransportErrorKind::BodyTooLarge)
        );
        let refused_connection = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            kind_in_chain(&refused_connection),
            Some(TransportErrorKind::Connect)
        );
        assert_eq!(
            io_error_kind(&io::Error::from(io::ErrorKind::TimedOut)),
            TransportErrorKind::Timeout
        );
        assert_eq!(
            io_error_kind(&io::Error::from(io::ErrorKind::ConnectionReset)),
            TransportErrorKind::Io
        );
        assert_eq!(kind_in_chain(&std::fmt::Error), None);
    }

    #[test]
    fn a_chain_is_described_outermost_first_without_repeats() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] io::Error);
        let inner = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(
            describe_chain(&Outer(inner)),
            "error sending request: connection refused"
        );
        #[derive(Debug, thiserror::Error)]
        #[error("timed out: {0}")]
        struct Repeats(#[source] io::Error);
        let inner = io::Error::new(io::ErrorKind::TimedOut, "deadline");
        assert_eq!(describe_chain(&Repeats(inner)), "timed out: deadline");
    }
}
