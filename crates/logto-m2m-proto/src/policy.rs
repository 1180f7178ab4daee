//! When tokens are refreshed and failures retried: the knobs of the state machine, each default with
//! its reason, and the arithmetic on them. No decisions are taken here; the state machine takes them.

use std::time::{Duration, Instant, SystemTime};

use crate::error::Error;
use crate::token::Token;

/// A caller-supplied random value in `[0, 1)` that spreads refresh points and backoff delays, so
/// that many clients do not act in lockstep. The core never draws random numbers itself.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Jitter(f64);

impl Jitter {
    /// No jitter: the latest refresh point and the full backoff delay.
    pub const NONE: Self = Self(0.0);

    /// A jitter value; anything outside `[0, 1)` (or NaN) is clamped into it.
    #[must_use]
    pub fn new(value: f64) -> Self {
        if value.is_nan() || value < 0.0 {
            Self(0.0)
        } else if value >= 1.0 {
            Self(1.0 - f64::EPSILON)
        } else {
            Self(value)
        }
    }

    /// A jitter value from 64 random bits (for example from `rand::random::<u64>()`).
    #[must_use]
    pub fn from_bits(bits: u64) -> Self {
        // 53 bits of mantissa: exact, and always below 1.
        #[allow(clippy::cast_precision_loss)]
        let value = (bits >> 11) as f64 / (1u64 << 53) as f64;
        Self::new(value)
    }

    /// The value, in `[0, 1)`.
    #[must_use]
    pub fn value(self) -> f64 {
        self.0
    }
}

const DEFAULT_REFRESH_RATIO: f64 = 0.8;

/// `duration × factor` for a `factor` in `[0, 1]`, without the panic of `Duration::mul_f64` when
/// the product rounds past the largest `Duration` (`Duration::MAX × 1.0` does).
fn scaled(duration: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(duration.as_secs_f64() * factor)
        .unwrap_or(duration)
        .min(duration)
}

/// `value`, or `fallback` when it is NaN or infinite.
fn finite_or(value: f64, fallback: f64) -> f64 {
    if value.is_finite() { value } else { fallback }
}

/// The state machine's policy. Every default is what the peers that got it right use, or safer.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct CachePolicy {
    /// A token is never handed out within this margin of its expiry, so that it does not expire on
    /// its way to the resource server. Default 60 s, as Logto's own SDK and Duende use (x/oauth2 uses
    /// 10 s, MSAL 5 min). It never exceeds half the token's lifetime, so a 10 s token stays usable.
    pub expiry_margin: Duration,
    /// Where in the usable lifetime (from sending the request to `expires_at - margin`) the refresh
    /// ahead starts. Default 0.8: early enough for a few retries before the token stops being served.
    pub refresh_ratio: f64,
    /// How far the caller's [`Jitter`] moves the refresh point earlier, as a fraction of the usable
    /// lifetime. Default 0.1: refresh points fall between 70% and 80%.
    pub refresh_jitter_ratio: f64,
    /// The first retry delay after a transient failure. Default 1 s.
    pub backoff_initial: Duration,
    /// The largest retry delay of the exponential backoff (doubling from `backoff_initial`).
    /// Default 60 s.
    pub backoff_max: Duration,
    /// The longest `Retry-After` honoured; longer ones are cut to this. Default 1 h (MSAL's cap).
    pub retry_after_max: Duration,
    /// How long a rejection (credentials or request refused) is remembered before the next caller
    /// may try again, so that a hot loop cannot hammer the token endpoint. Default 5 s.
    pub negative_cache: Duration,
    /// How long a request may stay in flight before it counts as abandoned and another is allowed.
    /// Default 60 s: longer than any sane transport timeout, so it only catches a lost ticket.
    pub in_flight_timeout: Duration,
    /// The most keys the cache holds. To make room, the least recently used idle key goes first;
    /// a key with a request in flight or a backoff running is kept until that is over, and while
    /// every key is so busy a new key is refused with [`Error::CacheFull`]. Default 1024.
    pub max_keys: usize,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            expiry_margin: Duration::from_secs(60),
            refresh_ratio: DEFAULT_REFRESH_RATIO,
            refresh_jitter_ratio: 0.1,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            retry_after_max: Duration::from_secs(60 * 60),
            negative_cache: Duration::from_secs(5),
            in_flight_timeout: Duration::from_secs(60),
            max_keys: 1024,
        }
    }
}

/// The `with_*` setters of a policy struct: `with! { Policy; /// doc  with_x: x: Type; ... }`.
macro_rules! with {
    ($policy:ty; $($(#[$doc:meta])* $name:ident: $field:ident: $ty:ty;)*) => {
        impl $policy {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}
pub(crate) use with;

with! {
    CachePolicy;
    /// Sets [`expiry_margin`](Self::expiry_margin).
    with_expiry_margin: expiry_margin: Duration;
    /// Sets [`refresh_ratio`](Self::refresh_ratio) (clamped to `[0.1, 1]` when used; NaN or
    /// infinite means the default).
    with_refresh_ratio: refresh_ratio: f64;
    /// Sets [`refresh_jitter_ratio`](Self::refresh_jitter_ratio) (clamped to `[0, refresh_ratio)`
    /// when used; NaN or infinite means none).
    with_refresh_jitter_ratio: refresh_jitter_ratio: f64;
    /// Sets [`backoff_initial`](Self::backoff_initial).
    with_backoff_initial: backoff_initial: Duration;
    /// Sets [`backoff_max`](Self::backoff_max).
    with_backoff_max: backoff_max: Duration;
    /// Sets [`retry_after_max`](Self::retry_after_max).
    with_retry_after_max: retry_after_max: Duration;
    /// Sets [`negative_cache`](Self::negative_cache).
    with_negative_cache: negative_cache: Duration;
    /// Sets [`in_flight_timeout`](Self::in_flight_timeout).
    with_in_flight_timeout: in_flight_timeout: Duration;
    /// Sets [`max_keys`](Self::max_keys) (at least 1).
    with_max_keys: max_keys: usize;
}

impl CachePolicy {
    /// The margin used for `token`: the configured margin, but at most half its lifetime.
    #[must_use]
    pub fn margin_for(&self, token: &Token) -> Duration {
        self.expiry_margin.min(token.lifetime() / 2)
    }

    /// The last instant at which `token` may be handed out (exclusive): `expires_at - margin`.
    #[must_use]
    pub fn usable_until(&self, token: &Token) -> Instant {
        token
            .expires_at()
            .checked_sub(self.margin_for(token))
            .unwrap_or_else(|| token.sent_at())
    }

    /// The same by the wall clock: `expires_at_wall - margin`.
    #[must_use]
    pub fn usable_until_wall(&self, token: &Token) -> SystemTime {
        token
            .expires_at_wall()
            .checked_sub(self.margin_for(token))
            .unwrap_or_else(|| token.sent_at_wall())
    }

    /// When the refresh ahead of `token` starts: at `refresh_ratio` of its usable lifetime, moved
    /// earlier by `jitter × refresh_jitter_ratio`.
    #[must_use]
    pub fn refresh_at(&self, token: &Token, jitter: Jitter) -> Instant {
        let usable_until = self.usable_until(token);
        token
            .sent_at()
            .checked_add(self.refresh_offset(token, jitter))
            .map_or(usable_until, |at| at.min(usable_until))
    }

    /// The same by the wall clock: as long after `sent_at_wall`.
    #[must_use]
    pub fn refresh_at_wall(&self, token: &Token, jitter: Jitter) -> SystemTime {
        let usable_until = self.usable_until_wall(token);
        token
            .sent_at_wall()
            .checked_add(self.refresh_offset(token, jitter))
            .map_or(usable_until, |at| at.min(usable_until))
    }

    /// How long after sending the refresh ahead of `token` starts.
    fn refresh_offset(&self, token: &Token, jitter: Jitter) -> Duration {
        let usable = self
            .usable_until(token)
            .saturating_duration_since(token.sent_at());
        let ratio = finite_or(self.refresh_ratio, DEFAULT_REFRESH_RATIO).clamp(0.1, 1.0);
        let spread = finite_or(self.refresh_jitter_ratio, 0.0).clamp(0.0, ratio - 0.05);
        let fraction = (ratio - spread * jitter.value()).clamp(0.05, 1.0);
        scaled(usable, fraction)
    }

    /// The delay before the next attempt after `failures` consecutive failures (1 for the first),
    /// the last being `error`.
    ///
    /// Retryable errors back off exponentially from `backoff_initial`, doubling up to `backoff_max`,
    /// shortened by up to half by `jitter`; rejections wait `negative_cache`. A `Retry-After` from
    /// the server lengthens the delay, up to `retry_after_max`.
    #[must_use]
    pub fn retry_delay(&self, failures: u32, error: &Error, jitter: Jitter) -> Duration {
        let delay = if error.is_retryable() {
            let exponent = failures.saturating_sub(1).min(32);
            let base = self
                .backoff_initial
                .saturating_mul(1u32 << exponent.min(31))
                .min(self.backoff_max);
            scaled(base, 1.0 - 0.5 * jitter.value())
        } else {
            self.negative_cache
        };
        match error.retry_after() {
            Some(asked) => delay.max(asked.min(self.retry_after_max)),
            None => delay,
        }
    }

    /// The longest delay [`retry_delay`](Self::retry_delay) can give.
    #[must_use]
    pub fn max_retry_delay(&self) -> Duration {
        self.backoff_max
            .max(self.negative_cache)
            .max(self.retry_after_max)
    }
}
