//! A token provider that counts the invalidations it is asked for, around a real one: what the
//! tests of the integrations see of the 401 rule.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use logto_m2m::{Token, TokenProvider};

/// Counts invalidations, and hands everything to `inner`.
pub struct Counting {
    inner: Arc<dyn TokenProvider>,
    invalidations: AtomicUsize,
}

impl Counting {
    /// Counts around `inner`.
    pub fn new(inner: impl TokenProvider + 'static) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(inner),
            invalidations: AtomicUsize::new(0),
        })
    }

    /// How many invalidations were asked for so far.
    pub fn invalidations(&self) -> usize {
        self.invalidations.load(Ordering::SeqCst)
    }

    /// `Bearer <the current token>`.
    pub async fn current_authorization(&self) -> String {
        let token = self.inner.token().await.expect("a token");
        format!("Bearer {}", token.access_token().expose_secret())
    }
}

#[async_trait::async_trait]
impl TokenProvider for Counting {
    async fn token(&self) -> Result<Arc<Token>, logto_m2m::Error> {
        self.inner.token().await
    }

    fn invalidate(&self, token: &Token) -> bool {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.inner.invalidate(token)
    }
}
