//! The provider traits through `Arc<dyn ...>`, as application code holds them: a token source of
//! either form behind the trait, `authorize` returning the token it set, and a 401 invalidating
//! exactly that token.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{FakeLogto, config, params};
use logto_m2m::proto::http::{Request, Response};
use logto_m2m::{
    AsyncTokenManager, BlockingTokenManager, BlockingTokenProvider, ErrorKind, TokenProvider,
    Transport,
};

/// The fake endpoint as an async transport, answering at once.
fn transport(fake: &Arc<FakeLogto>) -> impl Transport + 'static {
    let fake = Arc::clone(fake);
    move |request: Request<Vec<u8>>| {
        fake.arrive(&request);
        let response = fake.answer(&request);
        async move { Ok::<Response<Vec<u8>>, std::io::Error>(response) }
    }
}

/// What application code looks like: it names no manager, transport or runtime.
struct ApiClient {
    tokens: Arc<dyn TokenProvider>,
}

impl ApiClient {
    /// The header value of the next call, and the token it carries.
    async fn authorization(&self) -> (String, Arc<logto_m2m::Token>) {
        let token = self.tokens.token().await.unwrap();
        let mut call = Request::new(());
        logto_m2m::proto::authorize(&mut call, &token);
        let value = call.headers()["authorization"].to_str().unwrap().to_owned();
        (value, token)
    }
}

#[tokio::test]
async fn an_async_source_behind_arc_dyn_token_provider() {
    let fake = FakeLogto::new(3600, Duration::ZERO);
    let manager = AsyncTokenManager::new(transport(&fake), config());
    let source = manager.source(params()).unwrap();
    let client = ApiClient {
        tokens: Arc::new(source.clone()),
    };

    let (value, token) = client.authorization().await;
    assert_eq!(value, "Bearer token-0");
    assert_eq!(client.authorization().await.0, "Bearer token-0", "cached");
    assert_eq!(fake.requests(), 1);

    // A 401 for that token: dropped once, and the next call fetches a new one.
    assert!(client.tokens.invalidate(&token));
    assert!(!client.tokens.invalidate(&token));
    assert_eq!(client.authorization().await.0, "Bearer token-1");
    assert_eq!(fake.requests(), 2);

    // `authorize` returns the token it set: invalidating it drops exactly that one.
    let mut call = Request::new(());
    let set = source.authorize(&mut call).await.unwrap();
    assert_eq!(set.access_token().expose_secret(), "token-1");
    assert_eq!(call.headers()["authorization"], "Bearer token-1");
    assert!(client.tokens.invalidate(&set));
    // The stale token of before is not the current one: invalidating it again drops nothing.
    assert!(!client.tokens.invalidate(&token));
    assert_eq!(client.authorization().await.0, "Bearer token-2");

    // No token: the error comes back through the trait object.
    fake.fail_with(401);
    let current = client.tokens.token().await.unwrap();
    assert!(client.tokens.invalidate(&current));
    let error = client.tokens.token().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CredentialsRejected);
}

#[test]
fn a_blocking_source_behind_arc_dyn_blocking_token_provider() {
    let fake = FakeLogto::new(3600, Duration::ZERO);
    let manager = BlockingTokenManager::new(fake.blocking(), config());
    let source = manager.source(params()).unwrap();
    let provider: Arc<dyn BlockingTokenProvider> = Arc::new(source.clone());

    let mut call = Request::new(());
    let set = source.authorize(&mut call).unwrap();
    assert_eq!(call.headers()["authorization"], "Bearer token-0");
    assert_eq!(
        provider.token().unwrap().access_token().expose_secret(),
        "token-0"
    );
    assert!(provider.invalidate(&set));
    assert!(!provider.invalidate(&set));
    assert_eq!(
        provider.token().unwrap().access_token().expose_secret(),
        "token-1"
    );
    assert_eq!(fake.requests(), 2);

    // Shared across threads as application code would.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let provider = Arc::clone(&provider);
            std::thread::spawn(move || provider.token().unwrap())
        })
        .collect();
    for handle in handles {
        assert_eq!(
            handle.join().unwrap().access_token().expose_secret(),
            "token-1"
        );
    }
    assert_eq!(fake.requests(), 2);
}
