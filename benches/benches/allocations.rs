//! `allocations`: heap allocations per cached get and per token fetch, counted by a
//! `#[global_allocator]` that wraps the system allocator.
//!
//! Each operation runs once untimed (first-use initialisations), then `RUNS` times between two
//! readings of the counters; the table gives allocation calls and bytes per operation. A
//! `realloc` counts as one allocation call of its new size. Only this thread runs while counting
//! (no runtime, no background thread; async calls are polled with a no-op waker, and every
//! in-memory answer is ready at once), so every counted allocation is the operation's own.
//!
//! Not a criterion bench: counts are exact, and the counting allocator would skew timings.
#![allow(clippy::expect_used, clippy::panic)] // A bench that cannot set itself up has nothing to measure.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Instant, SystemTime};

use logto_m2m::{AsyncTokenManager, BlockingTokenManager};
use logto_m2m_benches::{
    GOOD_BASIC, Summary, Verdict, config, oauth2_client, oauth2_request, params, recorded_response,
    replay,
};
use logto_m2m_proto::TokenRequest;
use logto_m2m_proto::http::Request;

/// The counting allocator. This is the only unsafe code in the workspace: a global allocator is
/// an `unsafe impl GlobalAlloc`, so this module alone allows `unsafe_code` (denied everywhere
/// else in this crate, forbidden in every other crate). It adds two relaxed atomic increments to
/// each allocation and passes everything to `System` unchanged.
#[allow(unsafe_code)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicU64, Ordering};

    static CALLS: AtomicU64 = AtomicU64::new(0);
    static BYTES: AtomicU64 = AtomicU64::new(0);

    /// Counts allocation calls and bytes, then lets `System` do the work.
    #[derive(Debug)]
    pub(crate) struct Counting;

    fn count(size: usize) {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }

    // SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
    // `GlobalAlloc` contract holds exactly as it does for `System`.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count(layout.size());
            // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count(layout.size());
            // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded as is; `ptr` came from `System` through this allocator.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count(new_size);
            // SAFETY: forwarded as is; `ptr` came from `System` through this allocator.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Allocation calls and bytes so far.
    pub(crate) fn totals() -> (u64, u64) {
        (CALLS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed))
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

const RUNS: u32 = 1_000;

/// Allocation calls and bytes per run of `op`, after one untimed run.
fn per_op(mut op: impl FnMut()) -> (f64, f64) {
    op();
    let (calls, bytes) = counting::totals();
    for _ in 0..RUNS {
        op();
    }
    let (calls_after, bytes_after) = counting::totals();
    #[allow(clippy::cast_precision_loss)] // Counts stay far below 2^52.
    let per = |delta: u64| delta as f64 / f64::from(RUNS);
    (per(calls_after - calls), per(bytes_after - bytes))
}

/// Polls `future` once with a no-op waker; it must be ready.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an in-memory call must be ready at once"),
    }
}

struct Row {
    what: &'static str,
    measured: (f64, f64),
    target: Option<f64>,
}

fn main() {
    let response = recorded_response(GOOD_BASIC).expect("the recorded good basic answer");
    let config = config().expect("a valid configuration");
    let request = TokenRequest::new(&config, params()).expect("valid parameters");
    let transport = replay(response.clone());
    let mut rows = Vec::new();
    let mut row = |what, target, measured| {
        rows.push(Row {
            what,
            measured,
            target,
        });
    };

    // Cached gets.
    let blocking = BlockingTokenManager::new(transport.clone(), config.clone());
    let blocking_source = blocking.source(params()).expect("valid parameters");
    blocking_source.token().expect("the first fetch");
    row(
        "cached get: blocking TokenSource::token()",
        Some(0.0),
        per_op(|| {
            black_box(blocking_source.token()).ok();
        }),
    );
    row(
        "cached get: blocking TokenSource::with_token(..)",
        Some(0.0),
        per_op(|| {
            black_box(blocking_source.with_token(|token| black_box(token.lifetime()))).ok();
        }),
    );
    let reply = transport.clone();
    let asynchronous =
        AsyncTokenManager::new(move |sent| std::future::ready(reply(sent)), config.clone());
    let async_source = asynchronous.source(params()).expect("valid parameters");
    ready(async_source.token()).expect("the first fetch");
    row(
        "cached get: async TokenSource::token()",
        Some(0.0),
        per_op(|| {
            black_box(ready(async_source.token())).ok();
        }),
    );
    row(
        "cached get: async TokenSource::with_token(..)",
        Some(0.0),
        per_op(|| {
            black_box(ready(
                async_source.with_token(|token| black_box(token.lifetime())),
            ))
            .ok();
        }),
    );
    row(
        "cached get: blocking manager.token(&request)",
        None,
        per_op(|| {
            black_box(blocking.token(&request)).ok();
        }),
    );
    row(
        "cached get: async manager.token(&request)",
        None,
        per_op(|| {
            black_box(ready(asynchronous.token(&request))).ok();
        }),
    );

    // Fetches, in parts.
    row(
        "fetch: TokenRequest::to_http",
        None,
        per_op(|| {
            black_box(request.to_http());
        }),
    );
    row(
        "fetch: TokenRequest::parse_response",
        None,
        per_op(|| {
            black_box(request.parse_response(&response, Instant::now(), SystemTime::now())).ok();
        }),
    );
    row(
        "fetch: to_http + parse_response",
        None,
        per_op(|| {
            black_box(request.to_http());
            black_box(request.parse_response(&response, Instant::now(), SystemTime::now())).ok();
        }),
    );
    let owned_params = params();
    row(
        "fetch: TokenRequest::new + to_http + parse_response",
        None,
        per_op(|| {
            let Ok(request) = TokenRequest::new(&config, owned_params.clone()) else {
                return;
            };
            black_box(request.to_http());
            black_box(request.parse_response(&response, Instant::now(), SystemTime::now())).ok();
        }),
    );
    row(
        "in-memory transport alone (copy of the response)",
        None,
        per_op(|| {
            black_box(transport(Request::new(Vec::new()))).ok();
        }),
    );
    let token = blocking.token(&request).expect("a cached token");
    let mut token = Some(token);
    row(
        "fetch through the blocking manager (invalidate + token, closure transport)",
        None,
        per_op(|| {
            if let Some(current) = token.take() {
                blocking.invalidate(&request, &current);
            }
            token = blocking.token(&request).ok();
        }),
    );
    let mut token = ready(asynchronous.token(&request)).ok();
    row(
        "fetch through the async manager (invalidate + token, closure transport)",
        None,
        per_op(|| {
            if let Some(current) = token.take() {
                asynchronous.invalidate(&request, &current);
            }
            token = ready(asynchronous.token(&request)).ok();
        }),
    );

    // oauth2 5, the same exchange through the same in-memory transport.
    let client = oauth2_client().expect("a valid token URL");
    row(
        "oauth2 5: exchange_client_credentials().request (with transport)",
        None,
        per_op(|| {
            let token = oauth2_request(&client).request(&transport);
            black_box(token).ok();
        }),
    );
    row(
        "ours, same work: to_http + transport + parse_response",
        None,
        per_op(|| {
            let answer = transport(request.to_http());
            let token = answer
                .map(|answer| request.parse_response(&answer, Instant::now(), SystemTime::now()));
            black_box(token).ok();
        }),
    );

    // Token verification with a cached key: ours against jsonwebtoken 10 (rust_crypto), the
    // same checks (see `logto_m2m_benches::verify`).
    let verify = logto_m2m_benches::verify::setup().expect("the verify setup");
    row(
        "verify: logto-m2m-verify, cached-key ES384 token",
        None,
        per_op(|| {
            black_box(logto_m2m_benches::verify::ours(&verify)).expect("valid");
        }),
    );
    row(
        "verify: jsonwebtoken 10 (rust_crypto), same checks",
        None,
        per_op(|| {
            black_box(logto_m2m_benches::verify::jsonwebtoken(&verify)).expect("valid");
        }),
    );

    let mut summary = Summary::new(format!(
        "allocations: heap allocation calls and bytes per operation (mean of {RUNS} runs)"
    ));
    for Row {
        what,
        measured: (calls, bytes),
        target,
    } in rows
    {
        let result = format!("{calls:.1} allocs, {bytes:.0} bytes");
        match target {
            Some(target) => summary.row(
                what,
                result,
                format!("{target:.0} allocs"),
                Verdict::of(calls <= target),
            ),
            None => summary.row(what, result, "", Verdict::Info),
        }
    }
    summary.print();
}
