//! [`BearerTokenLayer`] and the [`BearerToken`] service it makes: the 401 rule of
//! [`logto_m2m::bearer_retry`] around any `tower` service of `http::Request`s.

use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use logto_m2m::bearer_retry::{BearerError, BearerRequests, Replay, SendBearer, send_with_token};
use logto_m2m::{Token, TokenProvider};
use logto_m2m_proto::http::{Method, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::replay_body::{CloneBody, ReplayBody};

/// Wraps a service of `http::Request`s in a [`BearerToken`]: every request gets
/// `Authorization: Bearer <token>` from a [`TokenProvider`]; on a 401, that token is invalidated
/// (if it is still the current one) and the request is sent once more with a new token when it can
/// be replayed: its body can be copied (by the layer's [`ReplayBody`], by default [`CloneBody`])
/// and its method is idempotent (see [`Replay`]), or the request opted in with a [`Replay`] in its
/// extensions. When no token can be had, nothing is sent and [`BearerError::Token`] comes back.
pub struct BearerTokenLayer<C = CloneBody> {
    provider: Arc<dyn TokenProvider>,
    replay: Replay,
    replay_body: C,
}

impl BearerTokenLayer {
    /// A layer taking its tokens from `provider`, replaying idempotent requests whose body is
    /// `Clone` after a 401.
    pub fn new(provider: impl TokenProvider + 'static) -> Self {
        Self::from_arc(Arc::new(provider))
    }

    /// A layer taking its tokens from a shared `provider`.
    pub fn from_arc(provider: Arc<dyn TokenProvider>) -> Self {
        Self {
            provider,
            replay: Replay::default(),
            replay_body: CloneBody,
        }
    }
}

impl<C> BearerTokenLayer<C> {
    /// Which requests are sent again after a 401, unless a request's extensions say otherwise.
    /// Default: [`Replay::IdempotentMethods`].
    #[must_use]
    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }

    /// How request bodies are copied to be sent again: [`CloneBody`] (the default) for bodies
    /// that are `Clone`, [`NeverReplay`](crate::NeverReplay) for streams, or your own
    /// [`ReplayBody`].
    pub fn replay_body<D>(self, replay_body: D) -> BearerTokenLayer<D> {
        BearerTokenLayer {
            provider: self.provider,
            replay: self.replay,
            replay_body,
        }
    }
}

impl<C: Clone> Clone for BearerTokenLayer<C> {
    fn clone(&self) -> Self {
        Self {
            provider: Arc::clone(&self.provider),
            replay: self.replay,
            replay_body: self.replay_body.clone(),
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for BearerTokenLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerTokenLayer")
            .field("replay", &self.replay)
            .field("replay_body", &self.replay_body)
            .finish_non_exhaustive()
    }
}

impl<S, C: Clone> Layer<S> for BearerTokenLayer<C> {
    type Service = BearerToken<S, C>;

    fn layer(&self, inner: S) -> BearerToken<S, C> {
        BearerToken {
            inner,
            provider: Arc::clone(&self.provider),
            replay: self.replay,
            replay_body: self.replay_body.clone(),
        }
    }
}

/// A service that sends each request through `S` with a Bearer token, by the 401 rule; made by
/// [`BearerTokenLayer`].
pub struct BearerToken<S, C = CloneBody> {
    inner: S,
    provider: Arc<dyn TokenProvider>,
    replay: Replay,
    replay_body: C,
}

impl<S: Clone, C: Clone> Clone for BearerToken<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            provider: Arc::clone(&self.provider),
            replay: self.replay,
            replay_body: self.replay_body.clone(),
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug> fmt::Debug for BearerToken<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("inner", &self.inner)
            .field("replay", &self.replay)
            .field("replay_body", &self.replay_body)
            .finish_non_exhaustive()
    }
}

/// The future of a [`BearerToken`] call.
pub type BearerTokenFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, BearerError<E>>> + Send>>;

impl<S, C, B, R> Service<Request<B>> for BearerToken<S, C>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    C: ReplayBody<B>,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = BearerError<S::Error>;
    type Future = BearerTokenFuture<Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BearerError::Send)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The service that was made ready goes with this call; a clone stays for the next one.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let provider = Arc::clone(&self.provider);
        let replay = self.replay.for_request(request.extensions());
        let mut client = Inner {
            service: inner,
            replay_body: self.replay_body.clone(),
            bodies: PhantomData,
        };
        Box::pin(async move { send_with_token(&*provider, &mut client, request, replay).await })
    }
}

/// The wrapped service, as the 401 rule sends through it, for requests with bodies `B` and
/// responses with bodies `R`.
struct Inner<S, C, B, R> {
    service: S,
    replay_body: C,
    bodies: PhantomData<fn(B) -> R>,
}

impl<S, C, B, R> BearerRequests for Inner<S, C, B, R>
where
    S: Service<Request<B>, Response = Response<R>>,
    C: ReplayBody<B>,
{
    type Request = Request<B>;
    type Response = Response<R>;

    fn method<'r>(&self, request: &'r Request<B>) -> &'r Method {
        request.method()
    }

    fn try_clone(&self, request: &Request<B>) -> Option<Request<B>> {
        let body = self.replay_body.try_copy(request.body())?;
        let mut copy = Request::new(body);
        copy.method_mut().clone_from(request.method());
        copy.uri_mut().clone_from(request.uri());
        *copy.version_mut() = request.version();
        copy.headers_mut().clone_from(request.headers());
        copy.extensions_mut().clone_from(request.extensions());
        Some(copy)
    }

    fn set_token(&self, request: &mut Request<B>, token: &Token) {
        logto_m2m_proto::authorize(request, token);
    }

    fn status(&self, response: &Response<R>) -> StatusCode {
        response.status()
    }
}

impl<S, C, B, R> SendBearer for Inner<S, C, B, R>
where
    S: Service<Request<B>, Response = Response<R>> + Send,
    S::Future: Send,
    C: ReplayBody<B>,
    B: Send,
{
    type Error = S::Error;

    async fn send(&mut self, request: Request<B>) -> Result<Response<R>, S::Error> {
        // Ready already for the first send (the caller polled it); polled again for a replay.
        poll_fn(|cx| self.service.poll_ready(cx)).await?;
        self.service.call(request).await
    }
}
