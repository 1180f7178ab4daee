//! What goes wrong: building a store ([`RedisConfigError`]), and running a command (a
//! [`StoreError`] whose kind says who is at fault and whose message never quotes a credential).

use std::fmt;

use logto_m2m::StoreError;
use logto_m2m_proto::StoreFailure;
use redis::{ErrorKind, RedisError, ServerErrorKind};
use zeroize::Zeroizing;

/// Why a [`RedisStore`](crate::RedisStore) could not be built. It never quotes the URL (which may
/// carry a password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// The environment variable is not set (or not valid Unicode).
    #[error("{0} is not set")]
    MissingEnv(&'static str),
    /// The URL is not a Redis URL this store can use (`redis://`, `rediss://`, or
    /// `redis+unix://` / `unix://`).
    #[error("the Redis URL is not valid: {0}")]
    InvalidUrl(String),
    /// The root certificates given for `rediss://` hold no certificate, or one that cannot be
    /// read or used as a trust anchor.
    #[error("the TLS root certificates are not usable: {0}")]
    RootCertificates(String),
    /// A Redis Cluster constructor was given no node.
    #[error("a Redis Cluster needs at least one node URL")]
    NoClusterNode,
}

/// The credentials a store's URLs carry, to be cut out of every message it reports.
#[derive(Default, Clone)]
pub(crate) struct Redactor {
    secrets: Vec<Zeroizing<String>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").finish_non_exhaustive()
    }
}

const REDACTED: &str = "[redacted]";

/// The longest message a store error keeps (a malformed reply could be long).
const MAX_MESSAGE: usize = 512;

impl Redactor {
    /// Adds a secret (a password, a user name, a whole userinfo) to cut out.
    pub(crate) fn add(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|known| known.as_str() == secret) {
            self.secrets.push(Zeroizing::new(secret.to_owned()));
            // Longest first, so that a secret containing another is cut out whole.
            self.secrets
                .sort_by_key(|known| std::cmp::Reverse(known.len()));
        }
    }

    /// `message` with every secret replaced, and cut to a bounded length.
    pub(crate) fn clean(&self, message: &str) -> String {
        let mut cleaned = message.to_owned();
        for secret in &self.secrets {
            if cleaned.contains(secret.as_str()) {
                let replaced = cleaned.replace(secret.as_str(), REDACTED);
                // The copy that held the secret is wiped before it is dropped.
                drop(Zeroizing::new(std::mem::replace(&mut cleaned, replaced)));
            }
        }
        if cleaned.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !cleaned.is_char_boundary(end) {
                end -= 1;
            }
            cleaned.truncate(end);
            cleaned.push_str("...");
        }
        cleaned
    }

    /// The store error for a failed command.
    pub(crate) fn store_error(&self, error: &RedisError) -> StoreError {
        let message = Zeroizing::new(error.to_string());
        StoreError::new(failure_kind(error), RedisFailure(self.clean(&message)))
    }
}

/// A Redis client error, as reported: its message with credentials cut out. The original error is
/// not kept (its chain could quote what the message no longer does).
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub(crate) struct RedisFailure(pub(crate) String);

/// Who is at fault for `error`: a store that did not answer in time, one that could not be reached
/// (or is not ready: loading, cluster down), or one that answered with an error (or with a reply
/// this store cannot use).
pub(crate) fn failure_kind(error: &RedisError) -> StoreFailure {
    if error.is_timeout() {
        return StoreFailure::TimedOut;
    }
    if error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal() {
        return StoreFailure::Unavailable;
    }
    match error.kind() {
        ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => StoreFailure::Unavailable,
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown,
        ) => StoreFailure::Unavailable,
        _ => StoreFailure::Refused,
    }
}

/// The error of an operation that ran out of its time.
pub(crate) fn timed_out() -> StoreError {
    StoreError::message(
        StoreFailure::TimedOut,
        "redis: no answer within the operation's timeout",
    )
}

/// The error of a reply that is not what the command returns.
pub(crate) fn unexpected_reply(command: &'static str) -> StoreError {
    StoreError::new(
        StoreFailure::Refused,
        RedisFailure(format!("unexpected reply to {command}")),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_secret_is_cut_out_longest_first() {
        let mut redactor = Redactor::default();
        redactor.add("pass");
        redactor.add("user:password");
        let cleaned = redactor.clean("failed for user:password and pass at host");
        assert_eq!(cleaned, "failed for [redacted] and [redacted] at host");
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let cleaned = Redactor::default().clean(&"é".repeat(400));
        assert!(cleaned.len() <= MAX_MESSAGE + 3);
        assert!(cleaned.ends_with("..."));
    }

    #[test]
    fn timeouts_refusals_and_replies_are_told_apart() {
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(failure_kind(&timeout), StoreFailure::TimedOut);
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(failure_kind(&refused), StoreFailure::Unavailable);
        let reply = RedisError::from((ErrorKind::UnexpectedReturnType, "bad"));
        assert_eq!(failure_kind(&reply), StoreFailure::Refused);
    }
}
