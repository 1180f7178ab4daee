//! The randomness the managers hand the state machine (which takes none of its own): jitter for
//! refresh points and backoffs, and for the shared store, lock owners and the nonces entries are
//! sealed with.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use logto_m2m_proto::{Jitter, LockOwner};
use rand_core::{OsRng, RngCore};

/// A fresh random jitter value, from the standard library's per-process random keys (spreading
/// refresh points needs no cryptographic quality).
pub(crate) fn random_jitter() -> Jitter {
    Jitter::from_bits(std_random_u64())
}

fn std_random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}

/// `N` bytes from the operating system's random source. Should it fail (it does not on any
/// supported system), the bytes come from the standard library's random keys, which still never
/// repeat within a process: what a nonce or a lock owner needs is to be unique.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if OsRng.try_fill_bytes(&mut bytes).is_err() {
        for chunk in bytes.chunks_mut(8) {
            let word = std_random_u64().to_le_bytes();
            for (to, from) in chunk.iter_mut().zip(word) {
                *to = from;
            }
        }
    }
    bytes
}

/// A fresh owner for a lock in the shared store.
pub(crate) fn lock_owner() -> LockOwner {
    LockOwner::new(random_bytes())
}

/// A fresh nonce to seal a shared store entry with.
pub(crate) fn entry_nonce() -> [u8; 24] {
    random_bytes()
}
