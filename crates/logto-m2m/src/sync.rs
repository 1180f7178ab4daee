//! The synchronization primitives of the blocking path: the standard library's, or `loom`'s when
//! the crate is built with `--cfg logto_m2m_loom` for the model check (`tests/model-check`).

#[cfg(logto_m2m_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(logto_m2m_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(logto_m2m_loom))]
pub(crate) use std::sync::atomic::AtomicU64;
#[cfg(not(logto_m2m_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// Starts `work` on a thread of its own named `name`.
///
/// # Errors
///
/// When no thread can be started; `work` is then dropped.
pub(crate) fn spawn_thread(
    name: &str,
    work: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    #[cfg(logto_m2m_loom)]
    let builder = loom::thread::Builder::new();
    #[cfg(not(logto_m2m_loom))]
    let builder = std::thread::Builder::new();
    builder.name(name.to_owned()).spawn(work).map(drop)
}

/// Blocks the calling thread for `duration` (under the model check, only lets other threads run:
/// its clock does not move by itself).
pub(crate) fn sleep(duration: std::time::Duration) {
    #[cfg(logto_m2m_loom)]
    {
        let _ = duration;
        loom::thread::yield_now();
    }
    #[cfg(not(logto_m2m_loom))]
    std::thread::sleep(duration);
}
