//! The simulated token endpoint: answers every token request with a new access token, as Logto's
//! JSON, and remembers when each token really expires.

use std::time::Duration;

use logto_m2m_proto::http::{Response, StatusCode, header};

/// A token endpoint issuing tokens of one lifetime and scope.
#[derive(Debug)]
pub struct SimEndpoint {
    lifetime: Duration,
    scope: String,
    /// The point of the run at which each token issued expires: token `sim-token-N` is the N-th.
    expiries: Vec<Duration>,
}

/// What every access token of the endpoint starts with; its serial number follows.
const TOKEN_PREFIX: &str = "sim-token-";

impl SimEndpoint {
    /// An endpoint issuing tokens that live `lifetime`, granting `scope`.
    #[must_use]
    pub fn new(lifetime: Duration, scope: &str) -> Self {
        Self {
            lifetime,
            scope: scope.to_owned(),
            expiries: Vec::new(),
        }
    }

    /// The answer to a token request handled at `at`: `200` with a new token, `expires_in` the
    /// lifetime.
    pub fn issue(&mut self, at: Duration) -> Response<Vec<u8>> {
        self.expiries.push(at + self.lifetime);
        let access_token = format!("{TOKEN_PREFIX}{}", self.expiries.len());
        let body = serde_json::json!({
            "access_token": access_token,
            "expires_in": self.lifetime.as_secs(),
            "token_type": "Bearer",
            "scope": self.scope,
        });
        let mut response = Response::new(body.to_string().into_bytes());
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
    }

    /// How many tokens it issued.
    #[must_use]
    pub fn issued(&self) -> usize {
        self.expiries.len()
    }

    /// When `access_token` really expires, if this endpoint issued it.
    #[must_use]
    pub fn expiry_of(&self, access_token: &str) -> Option<Duration> {
        let serial: usize = access_token.strip_prefix(TOKEN_PREFIX)?.parse().ok()?;
        self.expiries.get(serial.checked_sub(1)?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logto_m2m_proto::TokenRequest;
    use std::time::{Instant, SystemTime};

    #[test]
    fn its_answers_parse_as_logto_tokens() {
        let mut endpoint = SimEndpoint::new(Duration::from_secs(3600), "read:items write:items");
        let response = endpoint.issue(Duration::from_secs(5));
        let request = TokenRequest::new(&crate::config().unwrap(), crate::params()).unwrap();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let token = request.parse_response(&response, now, wall).unwrap();
        assert_eq!(token.access_token().expose_secret(), "sim-token-1");
        assert_eq!(token.lifetime(), Duration::from_secs(3600));
        assert!(token.warnings().is_empty(), "{:?}", token.warnings());
        assert_eq!(
            endpoint.expiry_of("sim-token-1"),
            Some(Duration::from_secs(3605))
        );
        assert_eq!(endpoint.issued(), 1);
    }
}
