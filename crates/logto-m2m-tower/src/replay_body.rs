//! How [`BearerToken`](crate::BearerToken) copies a request body to send the request again after
//! a 401.

/// Copies a request body of type `B` to send the request again, or says it cannot be copied (a
/// stream): then the request is never sent again. Implement it for your own strategy.
pub trait ReplayBody<B>: Clone + Send + Sync + 'static {
    /// A copy of `body`, or `None` when it cannot be copied.
    fn try_copy(&self, body: &B) -> Option<B>;
}

/// Copies bodies that are `Clone`: `http_body_util::Full<Bytes>`, `Empty`, `String`, `Vec<u8>`,
/// `Bytes`... The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneBody;

impl<B: Clone> ReplayBody<B> for CloneBody {
    fn try_copy(&self, body: &B) -> Option<B> {
        Some(body.clone())
    }
}

/// Copies nothing: a request is never sent again after a 401 (which still invalidates the token).
/// For bodies that are streams and not `Clone`: `hyper::body::Incoming` (an axum or hyper proxy
/// forwarding what it received), `axum::body::Body`, tonic's streaming bodies.
#[derive(Debug, Clone, Copy, Default)]
pub struct NeverReplay;

impl<B> ReplayBody<B> for NeverReplay {
    fn try_copy(&self, _: &B) -> Option<B> {
        None
    }
}
