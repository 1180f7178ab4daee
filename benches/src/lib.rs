//! Shared pieces of the `logto-m2m` benchmarks: the recorded Logto answer and the client setup
//! every bench uses (ours, `oauth2`'s and huskarl's), a recorder that keeps criterion's samples
//! so each bench can print its own summary, a timer for work split over threads, the summary
//! table, and the fleet simulation ([`fleet`]).
//!
//! The benches themselves are in `benches/` (see the README).

pub mod fleet;
pub mod huskarl;
pub mod table;
pub mod verify;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::sync::{Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

use criterion::Criterion;
use logto_m2m_proto::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use logto_m2m_proto::{ClientConfig, ConfigError, TokenParams};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    ClientCredentialsTokenRequest, ClientId, ClientSecret, EndpointNotSet, EndpointSet, Scope,
    TokenUrl,
};

/// The answers of a real Logto core, recorded once for every suite (`tests/fixtures/`).
const RECORDED: &str = include_str!("../../tests/fixtures/logto-token-endpoint-responses.txt");

/// The recorded case every bench uses: a `200` with a real ES384 JWT, `expires_in` 1800 and
/// `scope` `read:items write:items`, to a `client_secret_basic` request.
pub const GOOD_BASIC: &str = "good basic";

/// The Logto endpoint of the in-memory benches (nothing is sent there).
pub const ENDPOINT: &str = "https://my-tenant.logto.app";
/// Its token endpoint.
pub const TOKEN_ENDPOINT: &str = "https://my-tenant.logto.app/oidc/token";
/// The M2M app's id (the recorded tenant's).
pub const APP_ID: &str = "m2m-app";
/// The M2M app's secret (the recorded tenant's).
pub const APP_SECRET: &str = "m2m-secret";
/// The API resource the recorded token is for.
pub const RESOURCE: &str = "https://api.example.com";
/// The scopes the recorded request asked for (and got).
pub const SCOPES: [&str; 2] = ["read:items", "write:items"];

/// One recorded answer by case name: `=== name`, a status line, headers, then the JSON body.
#[must_use]
pub fn recorded_response(case: &str) -> Option<Response<Vec<u8>>> {
    let mut lines = RECORDED
        .lines()
        .skip_while(|line| *line != format!("=== {case}"));
    lines.next()?;
    let mut response = Response::new(Vec::new());
    for line in lines.take_while(|line| !line.starts_with("=== ")) {
        if let Some(status) = line.strip_prefix("HTTP/1.1 ") {
            let code = status.get(..3)?.parse().ok()?;
            *response.status_mut() = StatusCode::from_u16(code).ok()?;
        } else if line.starts_with('{') {
            *response.body_mut() = line.as_bytes().to_vec();
        } else if let Some((name, value)) = line.split_once(": ") {
            response.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            );
        }
    }
    Some(response)
}

/// A transport that answers every request with `response` (a copy of it, as a real transport hands
/// over a response it owns), without looking at the request beyond dropping it.
pub fn replay(
    response: Response<Vec<u8>>,
) -> impl Fn(Request<Vec<u8>>) -> Result<Response<Vec<u8>>, io::Error> + Clone + Send + Sync + 'static
{
    move |request| {
        drop(std::hint::black_box(request));
        Ok(response.clone())
    }
}

/// The configuration of the in-memory benches: [`ENDPOINT`], [`APP_ID`], [`APP_SECRET`], Basic
/// authentication (the default).
///
/// # Errors
///
/// None in practice: the values are valid.
pub fn config() -> Result<ClientConfig, ConfigError> {
    ClientConfig::builder(ENDPOINT, APP_ID, APP_SECRET).build()
}

/// The parameters of the recorded request: [`RESOURCE`] and [`SCOPES`].
pub fn params() -> TokenParams {
    TokenParams::for_resource(RESOURCE).scopes(SCOPES)
}

/// An `oauth2` 5 client with only its token endpoint set.
pub type Oauth2Client =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The `oauth2` 5 client for the same app and token endpoint as [`config`] (client secret sent
/// by HTTP Basic, its default).
///
/// # Errors
///
/// None in practice: [`TOKEN_ENDPOINT`] is a valid URL.
pub fn oauth2_client() -> Result<Oauth2Client, oauth2::url::ParseError> {
    Ok(BasicClient::new(ClientId::new(APP_ID.to_owned()))
        .set_client_secret(ClientSecret::new(APP_SECRET.to_owned()))
        .set_token_uri(TokenUrl::new(TOKEN_ENDPOINT.to_owned())?))
}

/// `oauth2`'s client-credentials request with the same parameters as [`params`], built afresh as
/// `oauth2` builds it for each exchange; `.request(&transport)` sends it. Inlined, so the timed
/// `oauth2` code is the same as if it were written out in the bench.
#[inline]
pub fn oauth2_request(
    client: &Oauth2Client,
) -> ClientCredentialsTokenRequest<'_, BasicErrorResponse, BasicTokenResponse> {
    client
        .exchange_client_credentials()
        .add_scope(Scope::new(SCOPES[0].to_owned()))
        .add_scope(Scope::new(SCOPES[1].to_owned()))
        .add_extra_param("resource", RESOURCE)
}

/// Criterion as every timed bench here runs it: `sample_size` samples after a 1 s warm-up, 3 s of
/// measurement, then the command line's options (`--test`, filters) on top.
#[must_use]
pub fn criterion(sample_size: usize) -> Criterion {
    Criterion::default()
        .sample_size(sample_size)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

/// Runs `threads` threads that each call `setup` (untimed), wait for each other, then run what it
/// returned. Returns the wall time from the first start to the last end.
///
/// # Panics
///
/// When a thread panics (the panic is passed on).
pub fn timed_on_threads<S, R>(threads: usize, setup: S) -> Duration
where
    S: Fn() -> R + Sync,
    R: FnOnce(),
{
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let run = setup();
                    barrier.wait();
                    let start = Instant::now();
                    run();
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let start = spans.iter().map(|span| span.0).min();
    let end = spans.iter().map(|span| span.1).max();
    match (start, end) {
        (Some(start), Some(end)) => end.saturating_duration_since(start),
        _ => Duration::ZERO,
    }
}

/// Keeps the `(iterations, elapsed)` of every routine call of each benchmark, so that a bench can
/// print its own summary from what criterion measured.
///
/// Criterion calls a routine first to warm up, then exactly `sample_size` times for its samples:
/// the summary uses the last `sample_size` calls (all of them under `--test` or `--quick`).
#[derive(Debug)]
pub struct Recorder {
    sample_size: usize,
    runs: Mutex<BTreeMap<String, Vec<(u64, Duration)>>>,
}

impl Recorder {
    /// A recorder for benches configured with `sample_size` samples.
    #[must_use]
    pub fn new(sample_size: usize) -> Self {
        Self {
            sample_size,
            runs: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one routine call of benchmark `id`, and returns `elapsed` for criterion.
    pub fn record(&self, id: &str, iters: u64, elapsed: Duration) -> Duration {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.to_owned())
            .or_default()
            .push((iters, elapsed));
        elapsed
    }

    /// The median over the samples of benchmark `id` of the time per iteration, in nanoseconds;
    /// `None` when it has fewer calls than samples (filtered out, or a `--test` run, which calls
    /// each routine once).
    #[must_use]
    pub fn median_ns(&self, id: &str) -> Option<f64> {
        let runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let calls = runs.get(id)?;
        let samples = calls.get(calls.len().checked_sub(self.sample_size)?..)?;
        #[allow(clippy::cast_precision_loss)] // Iteration counts stay far below 2^52.
        let mut per_iter: Vec<f64> = samples
            .iter()
            .filter(|(iters, _)| *iters > 0)
            .map(|(iters, elapsed)| elapsed.as_secs_f64() * 1e9 / *iters as f64)
            .collect();
        per_iter.sort_by(f64::total_cmp);
        median(&per_iter)
    }
}

/// The median of sorted values.
#[must_use]
pub fn median(sorted: &[f64]) -> Option<f64> {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted.get(mid).copied()
    } else {
        Some((sorted.get(mid.checked_sub(1)?)? + sorted.get(mid)?) / 2.0)
    }
}

/// Times two sides alternately, `rounds` times (which side goes first alternates too), and returns
/// the median of the per-round `ratio(a_seconds, b_seconds)`. Load from other processes that comes
/// and goes during the run weighs on both sides alike, unlike between two separate criterion
/// benchmarks.
pub fn interleaved_median(
    rounds: usize,
    mut a: impl FnMut() -> Duration,
    mut b: impl FnMut() -> Duration,
    ratio: impl Fn(f64, f64) -> f64,
) -> Option<f64> {
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|round| {
            let (a_time, b_time) = if round % 2 == 0 {
                let a_time = a();
                (a_time, b())
            } else {
                let b_time = b();
                (a(), b_time)
            };
            ratio(a_time.as_secs_f64(), b_time.as_secs_f64())
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    median(&ratios)
}

/// What a summary shows for a benchmark without enough samples.
pub const NOT_MEASURED: &str = "not measured (filtered out, or a --test run)";

/// Whether a measurement meets its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It does.
    Met,
    /// It does not.
    Missed,
    /// A reference row, with no target.
    Info,
}

impl Verdict {
    /// `Met` when `ok`, else `Missed`.
    #[must_use]
    pub fn of(ok: bool) -> Self {
        if ok { Self::Met } else { Self::Missed }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Missed => "MISSED",
            Self::Info => "",
        }
    }
}

/// A summary table, printed as Markdown.
#[derive(Debug)]
pub struct Summary {
    title: String,
    rows: Vec<[String; 4]>,
}

impl Summary {
    /// An empty table.
    #[must_use]
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    /// Adds a row: what was measured, the result, the target, and whether it is met.
    pub fn row(
        &mut self,
        what: impl Into<String>,
        result: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
    ) {
        self.rows.push([
            what.into(),
            result.into(),
            target.into(),
            verdict.label().to_owned(),
        ]);
    }

    /// The table as Markdown.
    #[must_use]
    pub fn render(&self) -> String {
        let header = ["measurement", "result", "target", "verdict"].map(str::to_owned);
        let mut widths = header.clone().map(|cell| cell.chars().count());
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String; 4]| {
            let mut out = String::from("|");
            for (cell, width) in cells.iter().zip(widths) {
                let _ = write!(out, " {cell:<width$} |");
            }
            out.push('\n');
            out
        };
        let mut out = format!("\n## {}\n\n", self.title);
        out.push_str(&line(&header));
        out.push('|');
        for width in widths {
            let _ = write!(out, "{}|", "-".repeat(width + 2));
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    /// Prints the table on standard output.
    pub fn print(&self) {
        println!("{}", self.render());
    }
}

/// `value` nanoseconds, with a precision that suits it.
#[must_use]
pub fn format_ns(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} ms", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.1} µs", value / 1e3)
    } else if value >= 100.0 {
        format!("{value:.0} ns")
    } else {
        format!("{value:.1} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_good_basic_answer_loads() {
        let response = recorded_response(GOOD_BASIC).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.body().starts_with(b"{\"access_token\":\"eyJ"));
        assert_eq!(
            response.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        assert!(recorded_response("no such case").is_none());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, 3.0, 7.0]), Some(3.0));
        assert_eq!(median(&[1.0, 3.0, 5.0, 7.0]), Some(4.0));
    }

    #[test]
    fn the_recorder_keeps_only_the_samples() {
        let recorder = Recorder::new(2);
        recorder.record("x", 1, Duration::from_nanos(1000)); // warm-up
        assert_eq!(recorder.median_ns("x"), None);
        recorder.record("x", 10, Duration::from_nanos(100));
        recorder.record("x", 20, Duration::from_nanos(400));
        assert_eq!(recorder.median_ns("x"), Some(15.0));
        assert_eq!(recorder.median_ns("y"), None);
    }
}
