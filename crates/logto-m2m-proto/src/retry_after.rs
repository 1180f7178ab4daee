//! `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date, turned into a delay.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::{DATE, RETRY_AFTER};

/// Reads `Retry-After` from `headers` as a delay.
///
/// A date is measured against the answer's own `Date` header when it has one (both come from the
/// server's clock, so local clock skew does not matter), else against `wall_now`. A date in the
/// past gives zero. Anything unparseable is ignored.
#[must_use]
pub fn retry_after(headers: &HeaderMap, wall_now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurdly long numbers instead of refusing them; callers cap the delay anyway.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let reference = headers
        .get(DATE)
        .and_then(|date| date.to_str().ok())
        .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
        .unwrap_or(wall_now);
    Some(at.duration_since(reference).unwrap_or(Duration::ZERO))
}
