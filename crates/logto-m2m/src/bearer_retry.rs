//! The 401 rule, written once for every integration that sends requests to a resource server with
//! a token (the reqwest middleware, the tower layer, Management API calls):
//!
//! 1. Get the token, and set it as `Authorization: Bearer <token>`. When no token can be had, the
//!    token error comes back and nothing is sent: never an unauthenticated request.
//! 2. If the resource server answers 401, invalidate that token (only if it is still the current
//!    one: a token that another request already replaced is left alone).
//! 3. Send the request once more with a new token when it can be replayed: its body can be copied
//!    and its method is idempotent, or the caller opted in ([`Replay`]). Otherwise, and after a
//!    second 401, the 401 comes back as the answer.
//!
//! An integration says how its HTTP stack handles requests ([`BearerRequests`]) and sends them
//! ([`SendBearer`], or [`SendBearerBlocking`] for threads), then calls [`send_with_token`] (or
//! [`send_with_token_blocking`]).
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//!
//! use logto_m2m::bearer_retry::{BearerRequests, Replay, SendBearerBlocking, send_with_token_blocking};
//! use logto_m2m::proto::http::{Method, Request, Response, StatusCode};
//! use logto_m2m::{BlockingTokenManager, ClientConfig, Token, TokenParams};
//!
//! /// A resource server that refuses the first token it sees (revoked, say).
//! struct Api { calls: Vec<String> }
//!
//! impl BearerRequests for Api {
//!     type Request = Request<()>;
//!     type Response = Response<()>;
//!     fn method<'r>(&self, request: &'r Request<()>) -> &'r Method { request.method() }
//!     fn try_clone(&self, request: &Request<()>) -> Option<Request<()>> { Some(request.clone()) }
//!     fn set_token(&self, request: &mut Request<()>, token: &Token) {
//!         logto_m2m::proto::authorize(request, token);
//!     }
//!     fn status(&self, response: &Response<()>) -> StatusCode { response.status() }
//! }
//!
//! impl SendBearerBlocking for Api {
//!     type Error = Infallible;
//!     fn send(&mut self, request: Request<()>) -> Result<Response<()>, Infallible> {
//!         let authorization = request.headers()["authorization"].to_str().unwrap_or_default();
//!         self.calls.push(authorization.to_owned());
//!         let status = if self.calls.len() == 1 { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
//!         Ok(Response::builder().status(status).body(()).unwrap_or_default())
//!     }
//! }
//!
//! # let serial = std::sync::atomic::AtomicUsize::new(0);
//! # let logto = move |_: Request<Vec<u8>>| -> Result<Response<Vec<u8>>, std::io::Error> {
//! #     let n = serial.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//! #     Ok(Response::new(format!(r#"{{"access_token":"token-{n}","expires_in":3600,"token_type":"Bearer"}}"#).into_bytes()))
//! # };
//! let config = ClientConfig::builder("https://my-tenant.logto.app", "app-id", "app-secret").build()?;
//! let manager = BlockingTokenManager::new(logto, config);
//! let source = manager.source(TokenParams::for_resource("https://api.example.com"))?;
//!
//! let mut api = Api { calls: Vec::new() };
//! let request = Request::get("https://api.example.com/items").body(())?;
//! let response = send_with_token_blocking(&source, &mut api, request, Replay::default())?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(api.calls, ["Bearer token-0", "Bearer token-1"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::Future;

use logto_m2m_proto::http::{Extensions, Method, StatusCode};
use logto_m2m_proto::{Error, Token};

use crate::provider::{BlockingTokenProvider, TokenProvider};

/// Which requests the 401 rule sends again, with a new token, after a 401. Whatever this says, a
/// request whose body cannot be copied (a stream) is never sent again.
///
/// Set it for all requests on the integration, or for one request by putting it in the request's
/// extensions (see [`Replay::for_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Replay {
    /// Requests whose method is idempotent (RFC 9110 §9.2.2: `GET`, `HEAD`, `OPTIONS`, `TRACE`,
    /// `PUT`, `DELETE`): sending one twice has the effect of sending it once. The default.
    #[default]
    IdempotentMethods,
    /// Any request, `POST` and `PATCH` included: the caller knows that sending it twice is safe
    /// (a 401 means the server did not act on it, or the request carries an idempotency key).
    AnyMethod,
    /// None: a 401 invalidates the token and comes back as the answer.
    Never,
}

impl Replay {
    /// Whether a request with `method` may be sent again.
    #[must_use]
    pub fn allows(self, method: &Method) -> bool {
        match self {
            Self::IdempotentMethods => is_idempotent(method),
            Self::AnyMethod => true,
            Self::Never => false,
        }
    }

    /// The choice for one request: the `Replay` in its `extensions` if it has one (the caller's
    /// opt-in, or opt-out, for that request), else `self`, the integration's default.
    #[must_use]
    pub fn for_request(self, extensions: &Extensions) -> Self {
        extensions.get::<Self>().copied().unwrap_or(self)
    }
}

/// Whether sending a request with `method` twice has the effect of sending it once (RFC 9110
/// §9.2.2).
#[must_use]
pub fn is_idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// How the 401 rule handles one HTTP stack's requests and responses.
pub trait BearerRequests {
    /// The stack's request.
    type Request;
    /// The stack's response (at least its head).
    type Response;

    /// The request's method.
    fn method<'r>(&self, request: &'r Self::Request) -> &'r Method;

    /// A copy of the request to send again after a 401, or `None` when its body cannot be copied
    /// (a stream): then it is never sent again.
    fn try_clone(&self, request: &Self::Request) -> Option<Self::Request>;

    /// Sets `Authorization: Bearer <token>` on the request, replacing any `Authorization` it had
    /// (with [`proto::authorize`](logto_m2m_proto::authorize) for an `http::Request`: the value is
    /// marked sensitive).
    fn set_token(&self, request: &mut Self::Request, token: &Token);

    /// The response's status.
    fn status(&self, response: &Self::Response) -> StatusCode;
}

/// Sends a request on an async HTTP stack, for [`send_with_token`].
pub trait SendBearer: BearerRequests {
    /// The stack's error: no answer came back.
    type Error;

    /// Sends `request` and returns the answer, whatever its status.
    fn send(
        &mut self,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, Self::Error>> + Send;
}

/// Sends a request on a blocking HTTP stack, for [`send_with_token_blocking`].
pub trait SendBearerBlocking: BearerRequests {
    /// The stack's error: no answer came back.
    type Error;

    /// Sends `request` and returns the answer, whatever its status.
    ///
    /// # Errors
    ///
    /// When no answer came back.
    fn send(&mut self, request: Self::Request) -> Result<Self::Response, Self::Error>;
}

/// Why [`send_with_token`] has no answer: no token could be had (and nothing was sent), or the
/// HTTP stack failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError<E> {
    /// No token could be had: the request was not sent (or, after a 401, not sent again).
    #[error("no token for the request: {0}")]
    Token(#[source] Error),
    /// The HTTP stack failed to send the request or to receive the answer.
    #[error("the request failed: {0}")]
    Send(#[source] E),
}

/// Sends `request` with a token from `provider` on an async HTTP stack, by the 401 rule (see the
/// [module documentation](self)): on a 401, the token is invalidated and, when `replay` and the
/// body allow, the request is sent once more with a new token.
///
/// # Errors
///
/// [`BearerError::Token`] when no token could be had (nothing is sent without one),
/// [`BearerError::Send`] when the stack failed.
pub async fn send_with_token<P, C>(
    provider: &P,
    client: &mut C,
    request: C::Request,
    replay: Replay,
) -> Result<C::Response, BearerError<C::Error>>
where
    P: TokenProvider + ?Sized,
    C: SendBearer + Send,
    C::Request: Send,
{
    let token = provider.token().await.map_err(BearerError::Token)?;
    let spare = spare_copy(client, &request, replay);
    let response = client
        .send(with_token(client, request, &token))
        .await
        .map_err(BearerError::Send)?;
    if client.status(&response) != StatusCode::UNAUTHORIZED {
        return Ok(response);
    }
    provider.invalidate(&token);
    let Some(spare) = spare else {
        return Ok(response);
    };
    drop(response);
    let token = provider.token().await.map_err(BearerError::Token)?;
    client
        .send(with_token(client, spare, &token))
        .await
        .map_err(BearerError::Send)
}

/// [`send_with_token`] for threads: the same rule on a blocking HTTP stack.
///
/// # Errors
///
/// As [`send_with_token`].
pub fn send_with_token_blocking<P, C>(
    provider: &P,
    client: &mut C,
    request: C::Request,
    replay: Replay,
) -> Result<C::Response, BearerError<C::Error>>
where
    P: BlockingTokenProvider + ?Sized,
    C: SendBearerBlocking,
{
    let token = provider.token().map_err(BearerError::Token)?;
    let spare = spare_copy(client, &request, replay);
    let response = client
        .send(with_token(client, request, &token))
        .map_err(BearerError::Send)?;
    if client.status(&response) != StatusCode::UNAUTHORIZED {
        return Ok(response);
    }
    provider.invalidate(&token);
    let Some(spare) = spare else {
        return Ok(response);
    };
    drop(response);
    let token = provider.token().map_err(BearerError::Token)?;
    client
        .send(with_token(client, spare, &token))
        .map_err(BearerError::Send)
}

/// The copy to send after a 401, taken before the first send (whose body the stack consumes),
/// when the request may be replayed.
fn spare_copy<C: BearerRequests + ?Sized>(
    client: &C,
    request: &C::Request,
    replay: Replay,
) -> Option<C::Request> {
    if replay.allows(client.method(request)) {
        client.try_clone(request)
    } else {
        None
    }
}

fn with_token<C: BearerRequests + ?Sized>(
    client: &C,
    mut request: C::Request,
    token: &Token,
) -> C::Request {
    client.set_token(&mut request, token);
    request
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::collections::VecDeque;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};
    use std::time::{Instant, SystemTime};

    use logto_m2m_proto::http::{Request, Response};
    use logto_m2m_proto::{ClientConfig, ErrorKind, TokenParams, TokenRequest};

    use super::*;

    /// A provider handing out `token-0`, `token-1`, ... (a new one after each invalidation of
    /// the current one), failing from the `fail_from`-th token on.
    struct FakeProvider {
        request: TokenRequest,
        state: Mutex<ProviderState>,
    }

    struct ProviderState {
        serial: usize,
        fail_from: usize,
        current: Option<Arc<Token>>,
        invalidations: Vec<String>,
    }

    impl FakeProvider {
        fn new() -> Self {
            Self::failing_from(usize::MAX)
        }

        fn failing_from(fail_from: usize) -> Self {
            let config = ClientConfig::builder("https://tenant.logto.app", "app", "secret")
                .build()
                .unwrap();
            let params = TokenParams::for_resource("https://api.example.com");
            Self {
                request: TokenRequest::new(&config, params).unwrap(),
                state: Mutex::new(ProviderState {
                    serial: 0,
                    fail_from,
                    current: None,
                    invalidations: Vec::new(),
                }),
            }
        }

        fn answer(&self, status: u16, body: String) -> Result<Token, Error> {
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(body.into_bytes())
                .unwrap();
            self.request
                .parse_response(&response, Instant::now(), SystemTime::now())
        }

        fn token(&self) -> Result<Arc<Token>, Error> {
            let mut state = self.state.lock().unwrap();
            if let Some(current) = &state.current {
                return Ok(Arc::clone(current));
            }
            if state.serial >= state.fail_from {
                let body = r#"{"error":"invalid_client"}"#.to_owned();
                return Err(self.answer(401, body).unwrap_err());
            }
            let body = format!(
                r#"{{"access_token":"token-{}","expires_in":3600,"token_type":"Bearer"}}"#,
                state.serial
            );
            state.serial += 1;
            let token = Arc::new(self.answer(200, body).unwrap());
            state.current = Some(Arc::clone(&token));
            Ok(token)
        }

        fn invalidate(&self, token: &Token) -> bool {
            let mut state = self.state.lock().unwrap();
            let name = token.access_token().expose_secret().to_owned();
            let current = state
                .current
                .as_ref()
                .is_some_and(|current| current.access_token().expose_secret() == name);
            state.invalidations.push(name);
            if current {
                state.current = None;
            }
            current
        }

        fn invalidations(&self) -> Vec<String> {
            self.state.lock().unwrap().invalidations.clone()
        }

        /// A fresh provider in the same state, for the other form.
        fn twin(&self) -> Self {
            let state = self.state.lock().unwrap();
            let twin = Self::failing_from(state.fail_from);
            {
                let mut twin_state = twin.state.lock().unwrap();
                twin_state.serial = state.serial;
                twin_state.current = state.current.clone();
            }
            twin
        }
    }

    #[async_trait::async_trait]
    impl TokenProvider for FakeProvider {
        async fn token(&self) -> Result<Arc<Token>, Error> {
            Self::token(self)
        }
        fn invalidate(&self, token: &Token) -> bool {
            Self::invalidate(self, token)
        }
    }

    impl BlockingTokenProvider for FakeProvider {
        fn token(&self) -> Result<Arc<Token>, Error> {
            Self::token(self)
        }
        fn invalidate(&self, token: &Token) -> bool {
            Self::invalidate(self, token)
        }
    }

    /// A request whose body may be a stream (not copyable).
    #[derive(Debug, Clone)]
    struct FakeRequest {
        http: Request<&'static str>,
        stream: bool,
    }

    /// A resource server answering the statuses it is given, in order, and recording the
    /// `Authorization` of each request.
    #[derive(Default)]
    struct FakeApi {
        statuses: VecDeque<u16>,
        seen: Vec<(Method, String, &'static str)>,
        fail_sending: bool,
    }

    impl FakeApi {
        fn answering(statuses: &[u16]) -> Self {
            Self {
                statuses: statuses.iter().copied().collect(),
                ..Self::default()
            }
        }

        fn respond(&mut self, request: FakeRequest) -> Result<Response<()>, &'static str> {
            if self.fail_sending {
                return Err("connection refused");
            }
            let authorization = request
                .http
                .headers()
                .get("authorization")
                .map(|value| value.to_str().unwrap().to_owned())
                .unwrap_or_default();
            self.seen.push((
                request.http.method().clone(),
                authorization,
                request.http.body(),
            ));
            let status = self.statuses.pop_front().unwrap_or(200);
            Ok(Response::builder().status(status).body(()).unwrap())
        }

        fn authorizations(&self) -> Vec<&str> {
            self.seen.iter().map(|(_, auth, _)| auth.as_str()).collect()
        }
    }

    impl BearerRequests for FakeApi {
        type Request = FakeRequest;
        type Response = Response<()>;

        fn method<'r>(&self, request: &'r FakeRequest) -> &'r Method {
            request.http.method()
        }
        fn try_clone(&self, request: &FakeRequest) -> Option<FakeRequest> {
            (!request.stream).then(|| request.clone())
        }
        fn set_token(&self, request: &mut FakeRequest, token: &Token) {
            logto_m2m_proto::authorize(&mut request.http, token);
        }
        fn status(&self, response: &Response<()>) -> StatusCode {
            response.status()
        }
    }

    impl SendBearer for FakeApi {
        type Error = &'static str;
        fn send(
            &mut self,
            request: FakeRequest,
        ) -> impl Future<Output = Result<Response<()>, &'static str>> + Send {
            std::future::ready(self.respond(request))
        }
    }

    impl SendBearerBlocking for FakeApi {
        type Error = &'static str;
        fn send(&mut self, request: FakeRequest) -> Result<Response<()>, &'static str> {
            self.respond(request)
        }
    }

    fn request(method: Method, body: &'static str) -> FakeRequest {
        FakeRequest {
            http: Request::builder().method(method).body(body).unwrap(),
            stream: false,
        }
    }

    /// Runs a future that never waits (the fakes answer at once).
    fn ready<F: Future>(future: F) -> F::Output {
        let mut cx = Context::from_waker(Waker::noop());
        match pin!(future).poll(&mut cx) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the fakes never wait"),
        }
    }

    /// Sends with both forms (the async one on twins of the provider and the API), checks that
    /// they agree, and returns the blocking form's result.
    fn send(
        provider: &FakeProvider,
        api: &mut FakeApi,
        request: FakeRequest,
        replay: Replay,
    ) -> Result<Response<()>, BearerError<&'static str>> {
        let twin = provider.twin();
        let mut twin_api = FakeApi {
            statuses: api.statuses.clone(),
            fail_sending: api.fail_sending,
            ..FakeApi::default()
        };
        let async_result = ready(send_with_token(
            &twin,
            &mut twin_api,
            request.clone(),
            replay,
        ));
        let invalidated_before = provider.invalidations().len();
        let result = send_with_token_blocking(provider, api, request, replay);
        assert_eq!(twin_api.seen, api.seen);
        assert_eq!(
            twin.invalidations(),
            provider.invalidations()[invalidated_before..]
        );
        assert_eq!(
            async_result.as_ref().map(Response::status).map_err(|_| ()),
            result.as_ref().map(Response::status).map_err(|_| ())
        );
        result
    }

    #[test]
    fn the_token_is_set_and_a_success_is_not_sent_again() {
        let provider = FakeProvider::new();
        let mut api = FakeApi::answering(&[200]);
        let response = send(
            &provider,
            &mut api,
            request(Method::GET, ""),
            Replay::default(),
        )
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(api.authorizations(), ["Bearer token-0"]);
        assert!(provider.invalidations().is_empty());
    }

    #[test]
    fn a_401_invalidates_that_token_once_and_an_idempotent_request_is_sent_once_more() {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::HEAD] {
            let provider = FakeProvider::new();
            let mut api = FakeApi::answering(&[401, 200]);
            let response = send(
                &provider,
                &mut api,
                request(method.clone(), "{}"),
                Replay::default(),
            )
            .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{method}");
            assert_eq!(api.authorizations(), ["Bearer token-0", "Bearer token-1"]);
            assert_eq!(api.seen[1].0, method);
            assert_eq!(api.seen[1].2, "{}", "the same body again");
            assert_eq!(provider.invalidations(), ["token-0"]);
        }
    }

    #[test]
    fn a_non_idempotent_request_is_not_sent_again_unless_the_caller_opted_in() {
        for method in [Method::POST, Method::PATCH] {
            let provider = FakeProvider::new();
            let mut api = FakeApi::answering(&[401, 200]);
            let response = send(
                &provider,
                &mut api,
                request(method.clone(), "{}"),
                Replay::default(),
            )
            .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(api.authorizations(), ["Bearer token-0"]);
            assert_eq!(provider.invalidations(), ["token-0"], "still invalidated");

            let mut api = FakeApi::answering(&[401, 200]);
            let response = send(
                &provider,
                &mut api,
                request(method, "{}"),
                Replay::AnyMethod,
            )
            .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(api.authorizations(), ["Bearer token-1", "Bearer token-2"]);
        }
    }

    #[test]
    fn a_body_that_cannot_be_copied_or_never_is_not_sent_again() {
        let provider = FakeProvider::new();
        let mut api = FakeApi::answering(&[401, 200]);
        let mut streamed = request(Method::PUT, "chunks");
        streamed.stream = true;
        let response = send(&provider, &mut api, streamed, Replay::AnyMethod).unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(api.seen.len(), 1);

        let mut api = FakeApi::answering(&[401, 200]);
        let response = send(&provider, &mut api, request(Method::GET, ""), Replay::Never).unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(api.seen.len(), 1);
        assert_eq!(provider.invalidations(), ["token-0", "token-1"]);
    }

    #[test]
    fn a_second_401_comes_back_without_another_invalidation() {
        let provider = FakeProvider::new();
        let mut api = FakeApi::answering(&[401, 401, 200]);
        let response = send(
            &provider,
            &mut api,
            request(Method::GET, ""),
            Replay::default(),
        )
        .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(api.seen.len(), 2);
        assert_eq!(provider.invalidations(), ["token-0"]);
    }

    #[test]
    fn without_a_token_nothing_is_sent_and_the_token_error_comes_back() {
        let provider = FakeProvider::failing_from(0);
        let mut api = FakeApi::answering(&[200]);
        let error = send(
            &provider,
            &mut api,
            request(Method::GET, ""),
            Replay::default(),
        )
        .unwrap_err();
        let BearerError::Token(error) = error else {
            panic!("{error:?}");
        };
        assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
        assert!(api.seen.is_empty(), "no unauthenticated request");
    }

    #[test]
    fn without_a_new_token_after_a_401_the_request_is_not_sent_again() {
        let provider = FakeProvider::failing_from(1);
        let mut api = FakeApi::answering(&[401, 200]);
        let error = send(
            &provider,
            &mut api,
            request(Method::GET, ""),
            Replay::default(),
        )
        .unwrap_err();
        assert!(matches!(error, BearerError::Token(_)), "{error:?}");
        assert_eq!(
            api.authorizations(),
            ["Bearer token-0"],
            "sent once, with a token"
        );
        assert_eq!(provider.invalidations(), ["token-0"]);
    }

    #[test]
    fn a_stack_failure_is_not_retried() {
        let provider = FakeProvider::new();
        let mut api = FakeApi {
            fail_sending: true,
            ..FakeApi::default()
        };
        let error = send(
            &provider,
            &mut api,
            request(Method::GET, ""),
            Replay::default(),
        )
        .unwrap_err();
        assert!(matches!(error, BearerError::Send("connection refused")));
        assert!(provider.invalidations().is_empty());
    }

    #[test]
    fn a_request_can_opt_in_or_out_through_its_extensions() {
        let mut extensions = Extensions::new();
        assert_eq!(
            Replay::IdempotentMethods.for_request(&extensions),
            Replay::IdempotentMethods
        );
        extensions.insert(Replay::AnyMethod);
        assert_eq!(
            Replay::IdempotentMethods.for_request(&extensions),
            Replay::AnyMethod
        );
        assert!(Replay::AnyMethod.allows(&Method::POST));
        assert!(!Replay::IdempotentMethods.allows(&Method::POST));
        assert!(!Replay::Never.allows(&Method::GET));
    }
}
