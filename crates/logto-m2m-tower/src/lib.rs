#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod layer;
mod replay_body;

pub use layer::{BearerToken, BearerTokenFuture, BearerTokenLayer};
pub use logto_m2m::bearer_retry::{BearerError, Replay};
pub use replay_body::{CloneBody, NeverReplay, ReplayBody};
