#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod asynchronous;
mod blocking;
mod commands;
mod error;
mod key_names;
mod notifications;
mod root_certificates;
mod store;

pub use error::RedisConfigError;
pub use key_names::DEFAULT_PREFIX;
/// The store traits this store implements, and their error.
pub use logto_m2m::{BlockingSharedStore, SharedStore, StoreError};
/// The redis crate version this store is built on.
pub use redis;
pub use store::{REDIS_URL_ENV, RedisStore};
