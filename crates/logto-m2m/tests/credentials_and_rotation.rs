//! Credentials and token keys on both managers: a request built with another secret is refused and
//! never served the cached token, a wrong secret does not poison the key for the right one, and a
//! secret rotation takes effect (sources follow it, old tokens are not handed out for the new
//! secret, and a request in flight under the old secret does not land in the new key).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logto_m2m::proto::http::header::AUTHORIZATION;
use logto_m2m::proto::http::{HeaderValue, Request, Response};
use logto_m2m::proto::{ConfigError, Error};
use logto_m2m::{
    AsyncTokenManager, BlockingTokenManager, ClientConfig, ErrorKind, TokenParams, TokenRequest,
};

/// What the async transport returns.
type Answer = std::future::Ready<Result<Response<Vec<u8>>, std::io::Error>>;

const SECRETS: [&str; 3] = ["old-secret", "new-secret", "wrong-secret"];

fn config(secret: &str) -> ClientConfig {
    ClientConfig::builder("http://127.0.0.1:1", "m2m-app", secret)
        .build()
        .unwrap()
}

fn params() -> TokenParams {
    TokenParams::for_resource("https://api.example.com").scope("read:items")
}

/// A token endpoint that knows the app's secrets: it tells which one a request carries, accepts
/// those in `accepted` (answering a token named after the secret) and refuses the others with
/// `invalid_client`. Requests carrying `hold` wait until the test lets them go.
struct Endpoint {
    basic_values: Vec<(HeaderValue, &'static str)>,
    accepted: Mutex<Vec<&'static str>>,
    sent: Mutex<Vec<&'static str>>,
    served: AtomicUsize,
    hold: Mutex<Option<(&'static str, mpsc::Receiver<()>)>>,
}

impl Endpoint {
    fn new(accepted: &[&'static str]) -> Arc<Self> {
        let basic_values = SECRETS
            .iter()
            .map(|secret| {
                let request = TokenRequest::new(&config(secret), params()).unwrap();
                let value = request.to_http().headers()[AUTHORIZATION].clone();
                (value, *secret)
            })
            .collect();
        Arc::new(Self {
            basic_values,
            accepted: Mutex::new(accepted.to_vec()),
            sent: Mutex::new(Vec::new()),
            served: AtomicUsize::new(0),
            hold: Mutex::new(None),
        })
    }

    fn sent(&self) -> Vec<&'static str> {
        self.sent.lock().unwrap().clone()
    }

    /// Requests with `secret` wait for a message on the returned sender (10 s at most).
    fn hold(&self, secret: &'static str) -> mpsc::Sender<()> {
        let (release, wait) = mpsc::channel();
        *self.hold.lock().unwrap() = Some((secret, wait));
        release
    }

    fn answer(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let value = &request.headers()[AUTHORIZATION];
        let secret = self
            .basic_values
            .iter()
            .find(|(known, _)| known == value)
            .map_or("unknown", |(_, secret)| *secret);
        self.sent.lock().unwrap().push(secret);
        let held = {
            let mut hold = self.hold.lock().unwrap();
            match hold.take() {
                Some((held, wait)) if held == secret => Some(wait),
                other => {
                    *hold = other;
                    None
                }
            }
        };
        if let Some(wait) = held {
            wait.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        let (status, body) = if self.accepted.lock().unwrap().contains(&secret) {
            let n = self.served.fetch_add(1, Ordering::SeqCst);
            (
                200,
                format!(
                    r#"{{"access_token":"{secret}-{n}","expires_in":3600,"token_type":"Bearer","scope":"read:items"}}"#
                ),
            )
        } else {
            (401, r#"{"error":"invalid_client"}"#.to_owned())
        };
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap()
    }

    fn blocking(
        self: &Arc<Self>,
    ) -> impl Fn(Request<Vec<u8>>) -> Result<Response<Vec<u8>>, std::io::Error> + Send + Sync + 'static
    {
        let endpoint = Arc::clone(self);
        move |request| Ok(endpoint.answer(&request))
    }

    fn asynchronous(
        self: &Arc<Self>,
    ) -> impl Fn(Request<Vec<u8>>) -> Answer + Send + Sync + 'static {
        let endpoint = Arc::clone(self);
        move |request| std::future::ready(Ok(endpoint.answer(&request)))
    }
}

fn value(token: &logto_m2m::Token) -> &str {
    token.access_token().expose_secret()
}

fn assert_foreign(error: &Error) {
    assert_eq!(error.kind(), ErrorKind::Misuse, "{error}");
    assert!(
        matches!(error, Error::Config(ConfigError::ForeignRequest)),
        "{error:?}"
    );
}

#[test]
fn a_request_built_with_another_secret_is_refused_and_never_served_the_cached_token() {
    let endpoint = Endpoint::new(&["old-secret"]);
    let manager = BlockingTokenManager::new(endpoint.blocking(), config("old-secret"));
    let right = manager.request(params()).unwrap();
    assert_eq!(value(&manager.token(&right).unwrap()), "old-secret-0");

    let wrong = TokenRequest::new(&config("wrong-secret"), params()).unwrap();
    assert_ne!(wrong.key(), right.key(), "the key carries the credentials");
    assert_foreign(&manager.token(&wrong).unwrap_err());
    assert_eq!(
        endpoint.sent(),
        ["old-secret"],
        "nothing sent for the refused request"
    );

    // The same configuration built again belongs to the manager.
    let rebuilt = TokenRequest::new(&config("old-secret"), params()).unwrap();
    assert_eq!(value(&manager.token(&rebuilt).unwrap()), "old-secret-0");
}

#[test]
fn a_wrong_secret_first_does_not_poison_the_key_for_the_right_one() {
    let endpoint = Endpoint::new(&["old-secret"]);
    let manager = BlockingTokenManager::new(endpoint.blocking(), config("old-secret"));
    let wrong = TokenRequest::new(&config("wrong-secret"), params()).unwrap();
    assert_foreign(&manager.token(&wrong).unwrap_err());
    let right = manager.request(params()).unwrap();
    assert_eq!(value(&manager.token(&right).unwrap()), "old-secret-0");
    assert_eq!(endpoint.sent(), ["old-secret"]);
}

#[test]
fn a_blocking_manager_rotates_its_secret() {
    let endpoint = Endpoint::new(&["old-secret", "new-secret"]);
    let manager = BlockingTokenManager::new(endpoint.blocking(), config("old-secret"));
    let source = manager.source(params()).unwrap();
    let before = manager.request(params()).unwrap();
    assert_eq!(
        source.with_token(|t| value(t).to_owned()).unwrap(),
        "old-secret-0"
    );

    assert!(matches!(
        manager.rotate_secret(""),
        Err(ConfigError::EmptyAppSecret)
    ));
    assert_eq!(manager.config().app_secret().expose_secret(), "old-secret");
    manager.rotate_secret("new-secret").unwrap();
    assert_eq!(manager.config().app_secret().expose_secret(), "new-secret");

    // The source follows the rotation at once: the old token is not handed out for the new secret.
    assert_eq!(
        source.with_token(|t| value(t).to_owned()).unwrap(),
        "new-secret-1"
    );
    assert_eq!(value(&source.token().unwrap()), "new-secret-1");
    assert_eq!(endpoint.sent(), ["old-secret", "new-secret"]);
    // A request built before the rotation is refused; one built after shares the source's token.
    assert_foreign(&manager.token(&before).unwrap_err());
    let after = manager.request(params()).unwrap();
    assert_eq!(value(&manager.token(&after).unwrap()), "new-secret-1");
    assert_eq!(endpoint.sent(), ["old-secret", "new-secret"]);
}

#[test]
fn an_async_manager_rotates_its_secret() {
    let endpoint = Endpoint::new(&["old-secret", "new-secret"]);
    let manager = AsyncTokenManager::new(endpoint.asynchronous(), config("old-secret"));
    let source = manager.source(params()).unwrap();
    let before = manager.request(params()).unwrap();
    smol::block_on(async {
        assert_eq!(value(&source.token().await.unwrap()), "old-secret-0");
        manager.rotate_secret("new-secret").unwrap();
        assert_eq!(value(&source.token().await.unwrap()), "new-secret-1");
        assert_foreign(&manager.token(&before).await.unwrap_err());
        let after = manager.request(params()).unwrap();
        assert_eq!(value(&manager.token(&after).await.unwrap()), "new-secret-1");
    });
    assert_eq!(endpoint.sent(), ["old-secret", "new-secret"]);
}

#[test]
fn a_request_in_flight_under_the_old_secret_does_not_land_in_the_new_key() {
    let endpoint = Endpoint::new(&["old-secret", "new-secret"]);
    let manager = BlockingTokenManager::new(endpoint.blocking(), config("old-secret"));
    let source = manager.source(params()).unwrap();
    let release = endpoint.hold("old-secret");
    let in_flight = {
        let source = source.clone();
        std::thread::spawn(move || value(&source.token().unwrap()).to_owned())
    };
    // Wait (bounded) until the old-secret request is on the wire.
    for _ in 0..1000 {
        if !endpoint.sent().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(endpoint.sent(), ["old-secret"]);

    manager.rotate_secret("new-secret").unwrap();
    let rotated = value(&source.token().unwrap()).to_owned();
    assert_eq!(rotated, "new-secret-0");
    release.send(()).unwrap();
    // The call that sent the old secret gets its own answer...
    assert_eq!(in_flight.join().unwrap(), "old-secret-1");
    // ...which never replaces the token of the new key.
    assert_eq!(value(&source.token().unwrap()), "new-secret-0");
    let after = manager.request(params()).unwrap();
    assert_eq!(value(&manager.token(&after).unwrap()), "new-secret-0");
    assert_eq!(endpoint.sent(), ["old-secret", "new-secret"]);
}
