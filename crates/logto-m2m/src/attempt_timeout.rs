//! The time one attempt may take, which the managers hand to the transport with each request.

use std::time::Duration;

use logto_m2m_proto::http::Request;

/// The longest the exchange of one request may take: what is left of the calling `token()`'s time
/// budget ([`RetryPolicy::max_wait`](crate::RetryPolicy::max_wait)) when the request was handed to
/// the transport, or, for a refresh in the background, the time until the request would count as
/// abandoned ([`CachePolicy::in_flight_timeout`](logto_m2m_proto::CachePolicy::in_flight_timeout)).
///
/// The managers put it in the extensions of every request they send. A transport honours it by
/// ending the exchange (with a timeout error) within `min(its own timeout, this)`, as
/// [`limit`](Self::limit) computes: the `logto-m2m-ureq` and `logto-m2m-hyper` transports do. The
/// async manager also races every send against it on its timer, so a transport that ignores it
/// cannot hold an async call longer; a blocking call can only be bounded by its transport.
///
/// ```
/// use std::time::Duration;
/// use logto_m2m::AttemptTimeout;
/// # let request = logto_m2m::proto::http::Request::new(Vec::<u8>::new());
/// let own_timeout = Duration::from_secs(10);
/// let timeout = AttemptTimeout::limit(&request, own_timeout);
/// assert!(timeout <= own_timeout);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptTimeout(pub Duration);

impl AttemptTimeout {
    /// The timeout to use for `request` on a transport whose own timeout is `own`: the smaller of
    /// `own` and the request's [`AttemptTimeout`], if it has one.
    #[must_use]
    pub fn limit<B>(request: &Request<B>, own: Duration) -> Duration {
        request
            .extensions()
            .get::<Self>()
            .map_or(own, |attempt| own.min(attempt.0))
    }
}
