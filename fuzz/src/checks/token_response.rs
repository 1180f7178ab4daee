//! `token_response`: any status, headers and body as the token endpoint's answer. Parsing never
//! panics; a token always expires after it was asked for and lives no longer than the policy's
//! maximum; an error never shows the app secret.

use std::time::{Duration, Instant, SystemTime};

use arbitrary::Arbitrary;
use logto_m2m_proto::http::StatusCode;
use logto_m2m_proto::{
    CachePolicy, ClientAuthMethod, ClientConfig, Error, ExpiryPolicy, Jitter, TokenParams,
    TokenRequest, TokenType, retry_after,
};

use super::Mode;
use super::common::{self, API, APP_ID, ENDPOINT, Header, SECRET, any_status};
use super::wire::{Byte, Encode, List, Rest, U16, U32};

/// `default_expires_in` choices (low nibble of [`Setup::expiry`], modulo 8). Index 0 is the default.
pub const DEFAULT_LIFETIMES: [u64; 8] = [300, 1, 60, 3600, 86_400, 0, 315_360_000, u64::MAX];
/// `max_expires_in` choices (high nibble of [`Setup::expiry`], modulo 8). Index 0 is the default.
pub const MAX_LIFETIMES: [u64; 8] = [86_400, 1, 60, 3600, 300, 0, 315_360_000, u64::MAX];
/// Scopes a request can ask for (bits 0 to 5 of [`Setup::request`]).
pub const SCOPES: [&str; 6] = [
    "read:items",
    "write:items",
    "all",
    "org:read",
    "delete:items",
    "other",
];
/// [`Setup::request`] bit: also ask for an organization token.
pub const WITH_ORGANIZATION: u8 = 1 << 6;
/// [`Setup::request`] bit: `client_secret_post`.
pub const POST: u8 = 1 << 7;

/// The request the answer is parsed for.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug, Default)]
pub struct Setup {
    /// Low nibble: `default_expires_in` ([`DEFAULT_LIFETIMES`]); high nibble: `max_expires_in`
    /// ([`MAX_LIFETIMES`]).
    pub expiry: Byte,
    /// Bits 0 to 5: the [`SCOPES`] asked for; [`WITH_ORGANIZATION`]; [`POST`].
    pub request: Byte,
    /// The wall clock, in seconds after the Unix epoch.
    pub wall_clock: U32,
}

impl Encode for Setup {
    fn encode(&self, out: &mut Vec<u8>) {
        self.expiry.encode(out);
        self.request.encode(out);
        self.wall_clock.encode(out);
    }
}

impl Setup {
    /// The expiry policy chosen.
    pub fn expiry_policy(&self) -> ExpiryPolicy {
        let pick = |table: &[u64; 8], index: u8| {
            Duration::from_secs(table.get(usize::from(index % 8)).copied().unwrap_or(1))
        };
        ExpiryPolicy::default()
            .with_default_expires_in(pick(&DEFAULT_LIFETIMES, self.expiry.0 & 0x0F))
            .with_max_expires_in(pick(&MAX_LIFETIMES, self.expiry.0 >> 4))
    }

    /// The token request chosen, for the fixed app whose secret is `secret`.
    pub fn request(&self, secret: &str) -> TokenRequest {
        let bits = self.request.0;
        let method = if bits & POST != 0 {
            ClientAuthMethod::Post
        } else {
            ClientAuthMethod::Basic
        };
        let config = ClientConfig::builder(ENDPOINT, APP_ID, secret)
            .auth_method(method)
            .expiry_policy(self.expiry_policy())
            .build()
            .unwrap_or_else(|e| panic!("the fixed configuration is refused: {e}"));
        let mut params = TokenParams::for_resource(API);
        for (bit, scope) in SCOPES.iter().enumerate() {
            if bits & (1 << bit) != 0 {
                params = params.scope(*scope);
            }
        }
        if bits & WITH_ORGANIZATION != 0 {
            params = params.organization("org-1");
        }
        TokenRequest::new(&config, params)
            .unwrap_or_else(|e| panic!("the fixed request is refused: {e}"))
    }

    /// The wall clock chosen.
    pub fn wall_now(&self) -> SystemTime {
        common::wall_clock(self.wall_clock.0)
    }
}

/// An answer of the token endpoint.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug)]
pub struct TokenResponseInput {
    /// The request it answers.
    pub setup: Setup,
    /// The status, through [`any_status`].
    pub status: U16,
    /// The headers.
    pub headers: List<Header>,
    /// The body: the rest of the input.
    pub body: Rest,
}

impl Encode for TokenResponseInput {
    fn encode(&self, out: &mut Vec<u8>) {
        self.setup.encode(out);
        self.status.encode(out);
        self.headers.encode(out);
        self.body.encode(out);
    }
}

/// The checks.
pub fn check(input: &TokenResponseInput, _mode: Mode) {
    let request = input.setup.request(SECRET);
    let expiry = input.setup.expiry_policy();
    let status = any_status(input.status.0);
    let response = common::response(status, &input.headers.0, input.body.0.clone(), &|v| {
        v.to_vec()
    });
    let sent_at = Instant::now();
    let wall_now = input.setup.wall_now();
    match request.parse_response(&response, sent_at, wall_now) {
        Ok(token) => {
            assert!(status.is_success(), "a {status} answer gave a token");
            let lifetime = token.lifetime();
            // The policy as the parser applies it (a zero default or maximum means 1 s, the
            // default is held to the maximum).
            let applied = expiry.normalized();
            assert!(
                token.expires_at() > sent_at,
                "a token that expired when it was asked for (lifetime {lifetime:?}, {expiry:?})"
            );
            assert!(
                lifetime <= applied.max_expires_in,
                "a lifetime of {lifetime:?} is over the maximum ({expiry:?})"
            );
            assert_eq!(token.sent_at(), sent_at);
            assert_eq!(
                Some(token.expires_at()),
                sent_at.checked_add(token.lifetime())
            );
            let value = token.access_token().expose_secret();
            assert!(
                !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic()),
                "an access token a header cannot carry"
            );
            let scheme = match token.token_type() {
                TokenType::DPoP => "DPoP",
                _ => "Bearer",
            };
            let header = token.authorization_value();
            assert_eq!(header.as_bytes(), format!("{scheme} {value}").as_bytes());
            assert!(header.is_sensitive());

            let requested = request.params().requested_scopes();
            let (granted, not_granted) = (token.granted_scopes(), token.not_granted_scopes());
            for scope in requested.iter() {
                assert_ne!(
                    granted.contains(scope),
                    not_granted.contains(scope),
                    "scope {scope:?} must be either granted or not granted"
                );
            }
            for scope in not_granted.iter() {
                assert!(requested.contains(scope), "{scope:?} was never asked for");
            }

            // The cache's arithmetic on any parsed token.
            let policy = CachePolicy::default();
            let usable_until = policy.usable_until(&token);
            assert!(usable_until <= token.expires_at());
            if token.expires_at() > sent_at {
                assert!(usable_until > sent_at, "a token that is never usable");
            }
            for jitter in [0.0, 0.5, 0.999] {
                let refresh_at = policy.refresh_at(&token, Jitter::new(jitter));
                assert!(sent_at <= refresh_at && refresh_at <= usable_until);
            }
            let _ = format!("{token:?}");
        }
        Err(error) => {
            common::assert_no_secret(&error, SECRET);
            let _ = (error.kind(), error.is_retryable());
            match &error {
                Error::Server(server) => {
                    assert_eq!(server.status(), status);
                    assert!(
                        !status.is_success() || server.oauth().is_some(),
                        "a {status} answer without an OAuth error gave {error:?}"
                    );
                    assert_eq!(
                        server.retry_after(),
                        retry_after(response.headers(), wall_now)
                    );
                }
                Error::InvalidResponse(invalid) => {
                    assert!(
                        status.is_success(),
                        "a {status} answer is an unusable token"
                    );
                    assert_eq!(invalid.status(), status);
                }
                other => panic!("parsing gave {other:?}"),
            }
        }
    }
}

/// The status of a recorded answer, for [`TokenResponseInput::status`].
pub fn status_raw(status: StatusCode) -> U16 {
    U16(common::any_status_raw(status.as_u16()))
}
