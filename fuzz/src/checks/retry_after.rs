//! `retry_after`: any `Retry-After` value (and optionally a `Date` header) never panics; a
//! delta-seconds value gives exactly that delay; a date gives the time from the reference clock to
//! it; a later wall clock never lengthens the delay.

use std::time::Duration;

use arbitrary::Arbitrary;
use logto_m2m_proto::http::header::{DATE, RETRY_AFTER};
use logto_m2m_proto::http::{HeaderMap, HeaderValue};
use logto_m2m_proto::retry_after;

use super::Mode;
use super::common;
use super::wire::{Byte, Bytes, Encode, Rest, U16, U32};

/// [`RetryAfterInput::flags`] bit: send a `Date` header (`date`, or generated with [`GENERATED_DATE`]).
pub const WITH_DATE: u8 = 1;
/// [`RetryAfterInput::flags`] bit: send a second `Retry-After` (`second`) after the first.
pub const SECOND_VALUE: u8 = 1 << 1;
/// [`RetryAfterInput::flags`] bit: send no first `Retry-After`.
pub const NO_VALUE: u8 = 1 << 2;
/// [`RetryAfterInput::flags`] bit: the first `Retry-After` is the IMF-fixdate of the wall clock
/// plus `delay` seconds, instead of `value`.
pub const GENERATED_VALUE: u8 = 1 << 3;
/// [`RetryAfterInput::flags`] bit: the `Date` header is the IMF-fixdate of the wall clock, instead
/// of `date`.
pub const GENERATED_DATE: u8 = 1 << 4;

/// Headers for `retry_after`.
#[derive(Arbitrary, Clone, PartialEq, Eq, Debug)]
pub struct RetryAfterInput {
    /// [`WITH_DATE`], [`SECOND_VALUE`], [`NO_VALUE`], [`GENERATED_VALUE`], [`GENERATED_DATE`].
    pub flags: Byte,
    /// The wall clock, in seconds after the Unix epoch.
    pub wall_clock: U32,
    /// The delay of a generated `Retry-After` date, in seconds.
    pub delay: U16,
    /// How far the wall clock moves for the second call, in seconds.
    pub shift: U16,
    /// The `Date` header's bytes.
    pub date: Bytes,
    /// The second `Retry-After`'s bytes.
    pub second: Bytes,
    /// The first `Retry-After`'s bytes: the rest of the input.
    pub value: Rest,
}

impl Encode for RetryAfterInput {
    fn encode(&self, out: &mut Vec<u8>) {
        self.flags.encode(out);
        self.wall_clock.encode(out);
        self.delay.encode(out);
        self.shift.encode(out);
        self.date.encode(out);
        self.second.encode(out);
        self.value.encode(out);
    }
}

/// `secs` after the Unix epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let time = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let weekday = DAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    let month_name = MONTHS
        .get((month as usize).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}

/// What `retry_after` must give for the first `Retry-After` value `value`, when that can be told
/// without parsing dates: `Some(Some(delay))` for delta-seconds, `Some(None)` for a value that is
/// not visible ASCII, `None` for anything else.
fn expected_delta(value: &[u8]) -> Option<Option<Duration>> {
    if !value
        .iter()
        .all(|b| (0x20..0x7F).contains(b) || *b == b'\t')
    {
        return Some(None);
    }
    let trimmed = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .and_then(|start| {
            let end = value.iter().rposition(|b| !matches!(b, b' ' | b'\t'))?;
            value.get(start..=end)
        })
        .unwrap_or_default();
    if trimmed.is_empty() || !trimmed.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let secs = trimmed.iter().try_fold(0u64, |n, digit| {
        n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    });
    Some(Some(Duration::from_secs(secs.unwrap_or(u64::MAX))))
}

/// The checks.
pub fn check(input: &RetryAfterInput, _mode: Mode) {
    let flags = input.flags.0;
    let wall_secs = u64::from(input.wall_clock.0);
    let wall = common::wall_clock(input.wall_clock.0);
    let shift = Duration::from_secs(u64::from(input.shift.0));
    let delay = Duration::from_secs(u64::from(input.delay.0));

    let mut headers = HeaderMap::new();
    let mut add = |name, bytes: &[u8]| {
        if let Ok(value) = HeaderValue::from_bytes(bytes) {
            headers.append(name, value);
        }
    };
    if flags & NO_VALUE == 0 {
        if flags & GENERATED_VALUE != 0 {
            add(
                RETRY_AFTER,
                imf_fixdate(wall_secs + delay.as_secs()).as_bytes(),
            );
        } else {
            add(RETRY_AFTER, &input.value.0);
        }
    }
    if flags & SECOND_VALUE != 0 {
        add(RETRY_AFTER, &input.second.0);
    }
    if flags & WITH_DATE != 0 {
        if flags & GENERATED_DATE != 0 {
            add(DATE, imf_fixdate(wall_secs).as_bytes());
        } else {
            add(DATE, &input.date.0);
        }
    }

    let now = retry_after(&headers, wall);
    let later = retry_after(&headers, wall + shift);
    assert_eq!(
        now.is_some(),
        later.is_some(),
        "whether Retry-After parses depends on the clock"
    );
    if let (Some(now), Some(later)) = (now, later) {
        assert!(later <= now, "a later clock gave a longer delay");
        assert!(
            now - later <= shift,
            "moving the clock by {shift:?} shortened the delay by more"
        );
    }

    let Some(first) = headers.get(RETRY_AFTER) else {
        assert_eq!(now, None, "no Retry-After, yet a delay");
        return;
    };
    if let Some(expected) = expected_delta(first.as_bytes()) {
        assert_eq!(now, expected, "Retry-After {first:?}");
        assert_eq!(later, expected, "Retry-After {first:?}, later clock");
    }
    let generated_first = flags & (NO_VALUE | GENERATED_VALUE) == GENERATED_VALUE;
    if generated_first {
        let date_header = flags & WITH_DATE != 0;
        let generated_date = flags & GENERATED_DATE != 0;
        if !date_header {
            assert_eq!(now, Some(delay), "Retry-After {first:?} at the wall clock");
            assert_eq!(
                later,
                Some(delay.saturating_sub(shift)),
                "a later wall clock"
            );
        } else if generated_date {
            // Measured against the answer's own Date: the local clock does not matter.
            assert_eq!(now, Some(delay), "Retry-After {first:?} against its Date");
            assert_eq!(later, Some(delay), "Retry-After {first:?} against its Date");
        }
    }
}
