//! Random jitter for the state machine, from the standard library's per-process random keys (no
//! random number generator crate needed for spreading refresh points).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use logto_m2m_proto::Jitter;

/// A fresh random jitter value.
pub(crate) fn random_jitter() -> Jitter {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    Jitter::from_bits(hasher.finish())
}
