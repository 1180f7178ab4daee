//! axum integration: the [`RequireScopes`] layer checks each request's bearer token with an
//! [`AsyncVerifier`] and answers refusals itself (401 or 403 with the RFC 6750 challenge, or 503
//! when the keys are unavailable); handlers behind it take the [`Verified`] token.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use logto_m2m_verify::axum::{RequireScopes, Verified};
//! use logto_m2m_verify::{AsyncVerifier, Audience, RequiredScopes};
//!
//! async fn items(Verified(token): Verified) -> String {
//!     format!("hello {}", token.subject())
//! }
//!
//! # fn app<T: logto_m2m::Transport + 'static>(transport: T) -> Result<Router, Box<dyn std::error::Error>> {
//! let verifier = AsyncVerifier::new(
//!     transport,
//!     "https://my-tenant.logto.app",
//!     Audience::Resource("https://api.example.com".into()),
//! )?;
//! let app = Router::new().route(
//!     "/items",
//!     get(items).layer(RequireScopes::new(verifier, RequiredScopes::all(["read:items"]))),
//! );
//! # Ok(app)
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::request::Parts;
use logto_m2m::Transport;

use crate::asynchronous::AsyncVerifier;
use crate::claims::VerifiedToken;
use crate::error::VerifyError;
use crate::scopes::RequiredScopes;

/// A tower layer that lets a request through only with a valid bearer token granting
/// `required`; the [`VerifiedToken`] goes into the request's extensions, for [`Verified`].
pub struct RequireScopes<T> {
    verifier: AsyncVerifier<T>,
    required: Arc<RequiredScopes>,
}

impl<T> Clone for RequireScopes<T> {
    fn clone(&self) -> Self {
        Self {
            verifier: self.verifier.clone(),
            required: Arc::clone(&self.required),
        }
    }
}

impl<T> fmt::Debug for RequireScopes<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl<T> RequireScopes<T> {
    /// Checks tokens with `verifier` and requires `required` of them.
    pub fn new(verifier: AsyncVerifier<T>, required: RequiredScopes) -> Self {
        Self {
            verifier,
            required: Arc::new(required),
        }
    }
}

impl<S, T> tower_layer::Layer<S> for RequireScopes<T> {
    type Service = RequireScopesService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopesService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RequireScopes`] wraps around a route.
pub struct RequireScopesService<S, T> {
    inner: S,
    layer: RequireScopes<T>,
}

impl<S: Clone, T> Clone for RequireScopesService<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, T> fmt::Debug for RequireScopesService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesService")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<S, T> tower_service::Service<Request> for RequireScopesService<S, T>
where
    S: tower_service::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    T: Transport + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The clone that was made ready is the one to call (tower's usual swap).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let layer = self.layer.clone();
        Box::pin(async move {
            let verdict = layer
                .verifier
                .verify_header(request.headers().get(AUTHORIZATION), &layer.required)
                .await;
            match verdict {
                Ok(token) => {
                    request.extensions_mut().insert(token);
                    inner.call(request).await
                }
                Err(error) => Ok(error.into_response()),
            }
        })
    }
}

/// The token that [`RequireScopes`] verified, for handlers behind it. Without the layer in
/// front, extracting it answers 401 (no verified token).
#[derive(Debug, Clone)]
pub struct Verified(pub VerifiedToken);

impl<S: Send + Sync> FromRequestParts<S> for Verified {
    type Rejection = VerifyError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, VerifyError> {
        parts
            .extensions
            .get::<VerifiedToken>()
            .cloned()
            .map(Self)
            .ok_or(VerifyError::Missing)
    }
}

impl IntoResponse for VerifyError {
    /// The status, the `WWW-Authenticate` challenge (none for a 503), `Cache-Control: no-store`
    /// and a JSON body `{"error", "error_description"}` with the same fixed texts.
    fn into_response(self) -> Response {
        let description = match &self {
            Self::InvalidToken(e) => e.description(),
            Self::Forbidden(e) => e.description(),
            Self::Missing => "no bearer token",
            Self::KeysUnavailable(_) => "the issuer's keys are unavailable",
        };
        // RFC 6750 §3.1: no error code when the request carried no token.
        let code = match &self {
            Self::Missing => None,
            Self::KeysUnavailable(_) => Some("temporarily_unavailable"),
            other => other.error_code(),
        };
        let body = match code {
            Some(code) => serde_json::json!({ "error": code, "error_description": description }),
            None => serde_json::json!({ "error_description": description }),
        };
        let mut response = (self.status(), body.to_string()).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.www_authenticate() {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
