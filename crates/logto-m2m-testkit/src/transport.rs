//! Byte-level misbehaviour: response bodies that are huge or endless, and a socket wrapper that
//! resets the connection or cuts a response off after a chosen number of body bytes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

const FILLER_LEN: usize = 16 * 1024;
static A_FILLER: [u8; FILLER_LEN] = [b'a'; FILLER_LEN];
static SPACE_FILLER: [u8; FILLER_LEN] = [b' '; FILLER_LEN];

/// Which byte a generated body repeats.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Filler {
    A,
    Space,
}

impl Filler {
    fn chunk(self, len: usize) -> Bytes {
        let all = match self {
            Self::A => Bytes::from_static(&A_FILLER),
            Self::Space => Bytes::from_static(&SPACE_FILLER),
        };
        all.slice(..len.min(FILLER_LEN))
    }
}

/// A response body the server can stream without holding it in memory.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// Bytes known up front (`Content-Length`).
    Full(Option<Bytes>),
    /// Frames of unannounced length (`Transfer-Encoding: chunked`).
    Chunked(VecDeque<Bytes>),
    /// `head`, then `filler_len` filler bytes, then `tail` (`Content-Length` of the sum).
    Sized {
        head: Option<Bytes>,
        filler: Filler,
        filler_len: u64,
        tail: Option<Bytes>,
    },
    /// `head`, then filler forever (chunked).
    Endless { head: Option<Bytes> },
}

impl ResponseBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }

    pub(crate) fn empty() -> Self {
        Self::Full(None)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = match this {
            Self::Full(bytes) => bytes.take(),
            Self::Chunked(frames) => frames.pop_front(),
            Self::Sized {
                head,
                filler,
                filler_len,
                tail,
            } => {
                if let Some(h) = head.take() {
                    Some(h)
                } else if *filler_len > 0 {
                    let n = usize::try_from(*filler_len)
                        .unwrap_or(FILLER_LEN)
                        .min(FILLER_LEN);
                    *filler_len -= n as u64;
                    Some(filler.chunk(n))
                } else {
                    tail.take()
                }
            }
            Self::Endless { head } => {
                Some(head.take().unwrap_or_else(|| Filler::A.chunk(FILLER_LEN)))
            }
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Chunked(frames) => frames.is_empty(),
            Self::Sized {
                head,
                filler_len,
                tail,
                ..
            } => head.is_none() && *filler_len == 0 && tail.is_none(),
            Self::Endless { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len() as u64);
        match self {
            Self::Full(bytes) => SizeHint::with_exact(len(bytes)),
            Self::Sized {
                head,
                filler_len,
                tail,
                ..
            } => SizeHint::with_exact(len(head) + filler_len + len(tail)),
            Self::Chunked(_) | Self::Endless { .. } => SizeHint::default(),
        }
    }
}

/// What the socket wrapper does with the next response bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum IoMode {
    /// Pass everything through.
    #[default]
    Pass,
    /// Reset the connection at the first write.
    Reset,
    /// Let the response head through, then `keep` body bytes, then fail and close.
    Cut(CutState),
    /// The connection was reset or cut: every write fails.
    Broken,
}

/// Progress of [`IoMode::Cut`]: how far the `\r\n\r\n` that ends the head has been seen, and how
/// many body bytes may still go out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CutState {
    matched: u8,
    keep: usize,
}

impl CutState {
    pub(crate) fn keep(keep: usize) -> Self {
        Self { matched: 0, keep }
    }

    fn in_body(self) -> bool {
        self.matched == 4
    }

    /// Consumes one byte if allowed.
    fn step(&mut self, b: u8) -> bool {
        if self.in_body() {
            if self.keep == 0 {
                return false;
            }
            self.keep -= 1;
            return true;
        }
        let expected = if self.matched % 2 == 0 { b'\r' } else { b'\n' };
        self.matched = if b == expected {
            self.matched + 1
        } else if b == b'\r' {
            1
        } else {
            0
        };
        true
    }

    /// How many bytes of `buf` may be written.
    fn allowed(self, buf: &[u8]) -> usize {
        let mut probe = self;
        buf.iter().take_while(|&&b| probe.step(b)).count()
    }

    fn advance(&mut self, written: &[u8]) {
        for &b in written {
            self.step(b);
        }
    }
}

/// Shared between a connection's socket wrapper and its request handler.
pub(crate) type IoControl = Arc<Mutex<IoMode>>;

pub(crate) fn set_mode(control: &IoControl, mode: IoMode) {
    *control.lock().unwrap_or_else(PoisonError::into_inner) = mode;
}

/// A TCP stream that obeys an [`IoControl`].
pub(crate) struct FaultIo {
    inner: TcpStream,
    control: IoControl,
}

impl FaultIo {
    pub(crate) fn new(inner: TcpStream, control: IoControl) -> Self {
        Self { inner, control }
    }
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "connection cut by a fault")
}

impl AsyncRead for FaultIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let mut mode = this.control.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *mode {
            IoMode::Pass => Pin::new(&mut this.inner).poll_write(cx, buf),
            IoMode::Broken => Poll::Ready(Err(broken())),
            IoMode::Reset => {
                *mode = IoMode::Broken;
                // Zero linger turns the close that follows into a RST.
                let _ = socket2::SockRef::from(&this.inner).set_linger(Some(Duration::ZERO));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "connection reset by a fault",
                )))
            }
            IoMode::Cut(state) => {
                let allowed = state.allowed(buf);
                let Some(part) = buf.get(..allowed).filter(|p| !p.is_empty()) else {
                    *mode = IoMode::Broken;
                    return Poll::Ready(Err(broken()));
                };
                let result = Pin::new(&mut this.inner).poll_write(cx, part);
                if let Poll::Ready(Ok(n)) = result {
                    state.advance(part.get(..n).unwrap_or_default());
                }
                result
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_the_head_and_the_chosen_body_bytes() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789";
        let state = CutState::keep(4);
        let n = state.allowed(response);
        assert_eq!(
            &response[..n],
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123"
        );
        // Written in two pieces, the same cut.
        let (a, b) = response.split_at(20);
        let mut state = CutState::keep(4);
        let n1 = state.allowed(a);
        state.advance(&a[..n1]);
        let n2 = state.allowed(b);
        assert_eq!(n1 + n2, n);
    }
}
