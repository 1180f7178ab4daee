//! [`BearerTokenMiddleware`]: the 401 rule of [`logto_m2m::bearer_retry`] as a
//! `reqwest-middleware` [`Middleware`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use logto_m2m::bearer_retry::{BearerError, BearerRequests, Replay, SendBearer, send_with_token};
use logto_m2m::{Token, TokenProvider};
use logto_m2m_proto::http::{self, Extensions, Method, StatusCode};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

/// Sets `Authorization: Bearer <token>` on every request from a
/// [`ClientWithMiddleware`](reqwest_middleware::ClientWithMiddleware); on a 401 from the resource
/// server, invalidates that token (if it is still the current one) and sends the request once more
/// with a new token when it can be replayed: its body can be copied and its method is idempotent
/// (by default: see [`Replay`]), or the request opted in with
/// `.with_extension(Replay::AnyMethod)`. When no token can be had, nothing is sent and the token
/// error comes back as [`reqwest_middleware::Error::Middleware`] (downcast it to
/// [`logto_m2m::Error`]).
///
/// It takes any [`TokenProvider`]: a [`TokenSource`](logto_m2m::TokenSource) of an async token
/// manager, or a fake in tests.
#[derive(Clone)]
pub struct BearerTokenMiddleware {
    provider: Arc<dyn TokenProvider>,
    replay: Replay,
}

impl fmt::Debug for BearerTokenMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerTokenMiddleware")
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl BearerTokenMiddleware {
    /// A middleware taking its tokens from `provider`, replaying idempotent requests after a 401.
    pub fn new(provider: impl TokenProvider + 'static) -> Self {
        Self::from_arc(Arc::new(provider))
    }

    /// A middleware taking its tokens from a shared `provider`.
    pub fn from_arc(provider: Arc<dyn TokenProvider>) -> Self {
        Self {
            provider,
            replay: Replay::default(),
        }
    }

    /// Which requests are sent again after a 401, unless a request's extensions say otherwise.
    /// Default: [`Replay::IdempotentMethods`].
    #[must_use]
    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }
}

#[async_trait::async_trait]
impl Middleware for BearerTokenMiddleware {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let replay = self.replay.for_request(extensions);
        let mut rest = RestOfChain { next, extensions };
        send_with_token(&*self.provider, &mut rest, request, replay)
            .await
            .map_err(|error| match error {
                BearerError::Send(error) => error,
                BearerError::Token(error) => reqwest_middleware::Error::middleware(error),
                other => reqwest_middleware::Error::middleware(other),
            })
    }
}

/// The middlewares after this one, and the client: what the 401 rule sends through.
struct RestOfChain<'a> {
    next: Next<'a>,
    extensions: &'a mut Extensions,
}

impl BearerRequests for RestOfChain<'_> {
    type Request = Request;
    type Response = Response;

    fn method<'r>(&self, request: &'r Request) -> &'r Method {
        request.method()
    }

    fn try_clone(&self, request: &Request) -> Option<Request> {
        request.try_clone()
    }

    fn set_token(&self, request: &mut Request, token: &Token) {
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, token.authorization_value());
    }

    fn status(&self, response: &Response) -> StatusCode {
        response.status()
    }
}

impl SendBearer for RestOfChain<'_> {
    type Error = reqwest_middleware::Error;

    fn send(
        &mut self,
        request: Request,
    ) -> impl Future<Output = Result<Response, reqwest_middleware::Error>> + Send {
        self.next.clone().run(request, self.extensions)
    }
}
