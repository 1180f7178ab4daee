//! `logto-m2m demo`: the whole client-credentials flow, run against the test server in this
//! process, each step said as it happens, and a final table counted from the server's log.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logto_m2m::bearer_retry::{
    BearerRequests, Replay, SendBearerBlocking, send_with_token_blocking,
};
use logto_m2m::management_api::{self, BlockingManagementApi};
use logto_m2m::proto::http::{Method, Request, Response, StatusCode};
use logto_m2m::proto::{Jitter, redacted};
use logto_m2m::{CachePolicy, Token, TokenParams};
use logto_m2m_testkit::{ApiResource, App, Config, Fault, RetryAfter, TestServer, defaults};
use logto_m2m_ureq::UreqTransport;

use crate::describe;
use crate::exit::{CliError, output_failed};
use crate::times;

/// The short-lived resource the refresh ahead is shown on, and its tokens' lifetime.
const SHORT_LIVED: &str = "https://reports.example.com";
const SHORT_LIVED_TTL_SECS: u64 = 4;
/// The longest the demo waits for something it started (a refresh in the background).
const WAIT_LIMIT: Duration = Duration::from_secs(5);

/// Runs the demo, writing to standard output.
pub(crate) fn run() -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut demo = Demo::start(stdout.lock())?;
    demo.walk_through()
        .map_err(|failure| failure.into_cli_error())
}

/// Why the demo stopped: its output failed, or a step did not go as the library promises.
enum Failure {
    Output(std::io::Error),
    Step(String),
}

impl Failure {
    fn into_cli_error(self) -> CliError {
        match self {
            Self::Output(error) => output_failed(&error),
            Self::Step(what) => CliError::failure(format!(
                "the demo stopped: {what}; run `cargo test -p logto-m2m-cli` to see which part fails"
            )),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Output(error)
    }
}

fn step_failed(what: impl std::fmt::Display) -> Failure {
    Failure::Step(what.to_string())
}

/// A token source of the demo's manager.
type Source = logto_m2m::TokenSource<Manager>;
type Manager = logto_m2m::BlockingTokenManager<UreqTransport>;

/// One row of the final table: what the demo asked for, and what the server's log shows.
struct Row {
    step: &'static str,
    tokens_served: usize,
    requests: usize,
    faulted: usize,
}

struct Demo<W> {
    out: W,
    logto: TestServer,
    manager: Manager,
    policy: CachePolicy,
    rows: Vec<Row>,
    /// Token requests in the server's log when the current step began, and of those faulted.
    seen: (usize, usize),
}

/// The demo's tenant: the testkit's default one, plus an API whose tokens live a few seconds.
fn tenant() -> Result<Config, CliError> {
    let default = Config::logto_default();
    let mut builder = Config::builder()
        .resource(
            ApiResource::new(SHORT_LIVED)
                .ttl(SHORT_LIVED_TTL_SECS)
                .scopes(["read:reports"]),
        )
        .organization(defaults::ORGANIZATION)
        .management_data(default.management_data().clone());
    for resource in default.resources() {
        builder = builder.resource(resource.clone());
    }
    for app in default.apps() {
        let app: App = app.clone().grant(SHORT_LIVED, ["read:reports"]);
        builder = builder.app(app);
    }
    builder
        .build()
        .map_err(|error| CliError::failure(format!("the demo's tenant was refused: {error}")))
}

impl<W: Write> Demo<W> {
    fn start(out: W) -> Result<Self, CliError> {
        let logto = TestServer::start(tenant()?).map_err(|error| {
            CliError::failure(format!(
                "could not start the test server on 127.0.0.1: {error}"
            ))
        })?;
        // No jitter on the refresh point, so that the demo knows when it comes.
        let policy = CachePolicy::default().with_refresh_jitter_ratio(0.0);
        let manager = logto_m2m_ureq::token_manager_builder(
            logto.endpoint(),
            defaults::APP_ID,
            defaults::APP_SECRET,
        )
        .map_err(|error| {
            CliError::failure(format!("the demo's configuration was refused: {error}"))
        })?
        .cache_policy(policy)
        .build();
        Ok(Self {
            out,
            logto,
            manager,
            policy,
            rows: Vec::new(),
            seen: (0, 0),
        })
    }

    fn walk_through(&mut self) -> Result<(), Failure> {
        writeln!(
            self.out,
            "logto-m2m demo: the client-credentials flow, against a Logto-compatible server in this \
             process\n(endpoint {}, app {}; nothing leaves this machine)\n",
            self.logto.endpoint(),
            defaults::APP_ID
        )?;
        let api = self.first_token_and_the_cache()?;
        self.refresh_ahead()?;
        self.unauthorized(&api)?;
        self.management_api()?;
        self.throttled()?;
        self.table()
    }

    /// The log's token requests since the step began, and how many of them a fault answered.
    fn since_step(&self) -> (usize, usize) {
        let log = self.logto.requests();
        let tokens: Vec<_> = log.iter().filter(|r| r.is_token_request()).collect();
        let faulted = tokens.iter().filter(|r| r.fault().is_some()).count();
        (
            tokens.len().saturating_sub(self.seen.0),
            faulted.saturating_sub(self.seen.1),
        )
    }

    fn end_step(&mut self, step: &'static str, tokens_served: usize) -> (usize, usize) {
        let (requests, faulted) = self.since_step();
        self.seen = (self.seen.0 + requests, self.seen.1 + faulted);
        self.rows.push(Row {
            step,
            tokens_served,
            requests,
            faulted,
        });
        (requests, faulted)
    }

    fn first_token_and_the_cache(&mut self) -> Result<Source, Failure> {
        let params = TokenParams::for_resource(defaults::RESOURCE).scopes([
            "read:items",
            "write:items",
            "delete:items",
        ]);
        writeln!(
            self.out,
            "1. The token request\n   A token for {} with the scopes read:items write:items \
             delete:items.\n   This is what is sent (the secret redacted):\n",
            defaults::RESOURCE
        )?;
        let request = self.manager.request(params.clone()).map_err(step_failed)?;
        for line in redacted(&request.to_http()).to_string().lines() {
            writeln!(self.out, "     {line}")?;
        }

        let api = self.manager.source(params).map_err(step_failed)?;
        let token = api.token().map_err(step_failed)?;
        let (requests, _) = self.end_step("1-2 first token", 1);
        writeln!(
            self.out,
            "\n2. The answer, and a narrowed scope\n   Logto answered with a {} token, lifetime {}, \
             granted {}.\n   Not granted: {} (Logto narrows the scopes silently to what the app's \
             roles allow;\n   the library tells).\n   Requests sent to Logto: {requests}.\n",
            describe::token_type(token.token_type()),
            times::duration(token.lifetime()),
            token.granted_scopes().to_wire(),
            token.not_granted_scopes().to_wire(),
        )?;

        let again = api.token().map_err(step_failed)?;
        let same = Arc::ptr_eq(&token, &again);
        let (requests, _) = self.end_step("3 from the cache", 1);
        writeln!(
            self.out,
            "3. The second call, from the cache\n   {} token again, {} request sent to Logto.\n",
            if same { "The same" } else { "A different" },
            if requests == 0 {
                "with no".to_owned()
            } else {
                requests.to_string()
            },
        )?;
        Ok(api)
    }

    fn refresh_ahead(&mut self) -> Result<(), Failure> {
        let source = self
            .manager
            .source(TokenParams::for_resource(SHORT_LIVED).scope("read:reports"))
            .map_err(step_failed)?;
        let first = source.token().map_err(step_failed)?;
        let refresh_in = self
            .policy
            .refresh_at(&first, Jitter::NONE)
            .saturating_duration_since(Instant::now());
        writeln!(
            self.out,
            "4. Refresh ahead of expiry\n   {SHORT_LIVED} issues tokens for {}: the first one is \
             fetched, and its refresh is due in {:.1}s,\n   before it stops being handed out \
             ({} margin before expiry).",
            times::duration(first.lifetime()),
            refresh_in.as_secs_f64(),
            times::duration(self.policy.margin_for(&first)),
        )?;
        std::thread::sleep(refresh_in + Duration::from_millis(100));
        let during = source.token().map_err(step_failed)?;
        let mut served = 2;
        writeln!(
            self.out,
            "   After {:.1}s, a call gets {} token at once, and the refresh is sent in the background.",
            refresh_in.as_secs_f64() + 0.1,
            if Arc::ptr_eq(&first, &during) {
                "the current"
            } else {
                "a new"
            },
        )?;
        let refreshed = self.wait_for_new_token(&source, &first, &mut served)?;
        let (requests, _) = self.end_step("4 refresh ahead", served);
        writeln!(
            self.out,
            "   The next call gets the refreshed token, lifetime {}: no caller waited for it \
             ({requests} requests sent in this step).\n",
            times::duration(refreshed.lifetime()),
        )?;
        Ok(())
    }

    /// Calls until the token differs from `old`: the refresh in the background has landed.
    fn wait_for_new_token(
        &self,
        source: &Source,
        old: &Arc<Token>,
        served: &mut usize,
    ) -> Result<Arc<Token>, Failure> {
        let deadline = Instant::now() + WAIT_LIMIT;
        // The request is in the server's log before its answer is read: give the answer a moment.
        while self.since_step().0 < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        loop {
            let token = source.token().map_err(step_failed)?;
            *served += 1;
            if !Arc::ptr_eq(&token, old) {
                return Ok(token);
            }
            if Instant::now() >= deadline {
                return Err(step_failed("the refresh ahead did not land within 5 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn unauthorized(&mut self, api: &Source) -> Result<(), Failure> {
        let current = api.token().map_err(step_failed)?;
        let mut items = RevokingApi {
            revoked: vec![current.access_token().expose_secret().to_owned()],
            answers: Vec::new(),
        };
        let call = Request::get(format!("{}/items", defaults::RESOURCE))
            .body(())
            .map_err(step_failed)?;
        let response = send_with_token_blocking(api, &mut items, call, Replay::default())
            .map_err(step_failed)?;
        let answers: Vec<String> = items
            .answers
            .iter()
            .map(|s| s.as_u16().to_string())
            .collect();
        let (requests, _) = self.end_step("5 a 401 and the invalidation", 1 + items.answers.len());
        writeln!(
            self.out,
            "5. A 401 from the API, and the invalidation\n   The API (here, in this process) has \
             revoked the token and answers GET /items with 401.\n   By the 401 rule the token is \
             invalidated, a new one is fetched ({requests} request), and the GET is sent once \
             more.\n   The API answered: {}; the call returns {}.\n",
            answers.join(", then "),
            response.status().as_u16(),
        )?;
        Ok(())
    }

    fn management_api(&mut self) -> Result<(), Failure> {
        let resource = management_api::token_params(&self.manager.config())
            .map_err(step_failed)?
            .resource_indicator()
            .unwrap_or_default()
            .to_owned();
        let api = BlockingManagementApi::for_manager(&self.manager, UreqTransport::new())
            .map_err(step_failed)?;
        let api_calls_before = self.api_calls();
        // Typed applications: their secrets are never read, so never printed.
        let applications = api
            .list_applications()
            .collect::<Result<Vec<_>, _>>()
            .map_err(step_failed)?;
        let api_calls = self.api_calls().saturating_sub(api_calls_before);
        let (requests, _) = self.end_step("6 the Management API", 1);
        writeln!(
            self.out,
            "6. A Management API call\n   A token for Logto's Management API ({resource}, scope all) \
             from the\n   same manager ({requests} request), and GET /api/applications sent with it \
             by the 401 rule\n   ({api_calls} request to the API). The applications, names and ids \
             (never their secrets):\n"
        )?;
        for application in &applications {
            writeln!(self.out, "     {:<20} {}", application.name, application.id)?;
        }
        writeln!(self.out)?;
        Ok(())
    }

    /// The Management API requests in the server's log.
    fn api_calls(&self) -> usize {
        self.logto
            .requests()
            .iter()
            .filter(|request| request.path().starts_with("/api/"))
            .count()
    }

    fn throttled(&mut self) -> Result<(), Failure> {
        self.logto
            .inject(Fault::TooManyRequests(RetryAfter::Seconds(1)), 1);
        let source = self
            .manager
            .source(
                TokenParams::for_organization(defaults::ORGANIZATION)
                    .scope(defaults::ORGANIZATION_SCOPE),
            )
            .map_err(step_failed)?;
        let started = Instant::now();
        let token = source.token().map_err(step_failed)?;
        let waited = started.elapsed();
        let (requests, faulted) = self.end_step("7 a 429 and the recovery", 1);
        writeln!(
            self.out,
            "7. A 429 with Retry-After, and the recovery\n   Logto is made to answer the next \
             token request with 429 Too Many Requests and Retry-After: 1.\n   A token for \
             organization {} is asked for: {requests} requests sent, {faulted} answered 429; the \
             manager waited as told\n   and the call returned a token for {} after {}.\n",
            defaults::ORGANIZATION,
            token.granted_scopes().to_wire(),
            times::duration(waited),
        )?;
        Ok(())
    }

    fn table(&mut self) -> Result<(), Failure> {
        writeln!(
            self.out,
            "Requests sent and tokens served (requests counted from the server's log):\n"
        )?;
        writeln!(
            self.out,
            "   {:<30} {:>13} {:>14} {:>12}",
            "step", "tokens served", "requests sent", "of them 429"
        )?;
        let (mut served, mut requests, mut faulted) = (0, 0, 0);
        for row in &self.rows {
            writeln!(
                self.out,
                "   {:<30} {:>13} {:>14} {:>12}",
                row.step, row.tokens_served, row.requests, row.faulted
            )?;
            served += row.tokens_served;
            requests += row.requests;
            faulted += row.faulted;
        }
        writeln!(
            self.out,
            "   {:<30} {:>13} {:>14} {:>12}\n",
            "total", served, requests, faulted
        )?;
        let logged = self.logto.token_requests();
        if logged != requests {
            return Err(step_failed(format!(
                "the server logged {logged} token requests, the steps {requests}"
            )));
        }
        writeln!(
            self.out,
            "With your own Logto: set LOGTO_ENDPOINT, LOGTO_APP_ID and LOGTO_APP_SECRET, and run\n   \
             logto-m2m token --resource <your API identifier>"
        )?;
        self.out.flush()?;
        Ok(())
    }
}

/// The API of step 5: it answers 401 to a token it has revoked, and 200 to any other.
struct RevokingApi {
    revoked: Vec<String>,
    answers: Vec<StatusCode>,
}

impl BearerRequests for RevokingApi {
    type Request = Request<()>;
    type Response = Response<()>;

    fn method<'r>(&self, request: &'r Request<()>) -> &'r Method {
        request.method()
    }

    fn try_clone(&self, request: &Request<()>) -> Option<Request<()>> {
        Some(request.clone())
    }

    fn set_token(&self, request: &mut Request<()>, token: &Token) {
        logto_m2m::proto::authorize(request, token);
    }

    fn status(&self, response: &Response<()>) -> StatusCode {
        response.status()
    }
}

impl SendBearerBlocking for RevokingApi {
    type Error = std::convert::Infallible;

    fn send(&mut self, request: Request<()>) -> Result<Response<()>, Self::Error> {
        let token = request
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let status = match token {
            Some(token) if !self.revoked.iter().any(|revoked| revoked == token) => StatusCode::OK,
            _ => StatusCode::UNAUTHORIZED,
        };
        self.answers.push(status);
        let mut response = Response::new(());
        *response.status_mut() = status;
        Ok(response)
    }
}
