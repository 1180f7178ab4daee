//! huskarl 0.11, the peer of the `hot_path` and `stampede` benches: its in-memory token cache
//! (`InMemoryTokenCache`) over a client-credentials grant (`GrantTokenSource` over
//! `ClientCredentialsGrant`), for the same app, resource and scopes as ours, sending its token
//! requests through the same transport as ours (an in-memory closure, or the hyper transport
//! over loopback HTTP), so that only the token handling differs.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use huskarl::cache::{GrantTokenSource, InMemoryRefreshTokenStore, InMemoryTokenCache};
use huskarl::core::client_auth::ClientSecret;
use huskarl::core::http::{HttpClient, HttpResponse, Idempotency};
use huskarl::core::platform::MaybeSendBoxFuture;
use huskarl::core::secrets::{ProvidedSecret, SecretString};
use huskarl::core::{EndpointUrl, Error, RetryAdvice};
use huskarl::grant::client_credentials::{
    ClientCredentialsGrant, ClientCredentialsGrantParameters,
};
use logto_m2m_proto::http::{Request, Response};

/// huskarl's cached client-credentials token source: what its users call `token()` on.
pub type HuskarlCache =
    InMemoryTokenCache<GrantTokenSource<ClientCredentialsGrant, InMemoryRefreshTokenStore>>;

/// huskarl's HTTP client over a transport of ours: a closure that sends an
/// `http::Request<Vec<u8>>` and returns the whole `http::Response<Vec<u8>>` (what the
/// `logto-m2m` transports are), so that both sides send through the same HTTP stack.
#[derive(Debug, Clone)]
pub struct SameTransport<F>(pub F);

impl<F, Fut, E> HttpClient for SameTransport<F>
where
    F: Fn(Request<Vec<u8>>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Response<Vec<u8>>, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    fn execute(
        &self,
        request: Request<Bytes>,
        _idempotency: Idempotency,
    ) -> MaybeSendBoxFuture<'_, Result<HttpResponse, Error>> {
        let sent = (self.0)(request.map(|body| body.to_vec()));
        Box::pin(async move {
            let (parts, body) = sent
                .await
                .map_err(|error| Error::new(RetryAdvice::RETRY, error))?
                .into_parts();
            Ok(HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body: Bytes::from(body),
            })
        })
    }
}

/// huskarl's cache for the app `app_id` / `app_secret` at `token_endpoint`, asking for `resource`
/// and `scopes` (the secret sent by HTTP Basic, as ours sends it), through `http`. Built as
/// huskarl's `cached_client` example builds it, with its default timing (30 s margin, jittered
/// refresh ahead).
///
/// # Errors
///
/// When huskarl refuses `token_endpoint`.
pub fn huskarl_cache(
    token_endpoint: &str,
    app_id: &str,
    app_secret: &str,
    resource: &str,
    scopes: &[&str],
    http: impl HttpClient + 'static,
) -> Result<Arc<HuskarlCache>, Error> {
    let secret = ProvidedSecret::new(SecretString::new(app_secret));
    let grant = ClientCredentialsGrant::builder()
        .client_id(app_id)
        .client_auth(
            ClientSecret::builder()
                .client_secret(secret)
                .prefer_basic_auth(true)
                .build(),
        )
        .token_endpoint(EndpointUrl::try_from(token_endpoint)?)
        .http_client(http)
        .build();
    let source = GrantTokenSource::builder()
        .grant(grant)
        .grant_parameters(
            ClientCredentialsGrantParameters::builder()
                .scope(scopes.iter().map(|scope| (*scope).to_owned()).collect())
                .resource(vec![resource.to_owned()])
                .build(),
        )
        .refresh_store(InMemoryRefreshTokenStore::default())
        .build();
    Ok(Arc::new(
        InMemoryTokenCache::builder().source(source).build(),
    ))
}
