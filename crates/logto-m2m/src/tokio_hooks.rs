//! Tokio hooks for the async manager: refreshes ahead of expiry as tokio tasks, and tokio's timer
//! for backoffs and deadlines. Used by the tokio-based transport crates (hyper, reqwest).

use std::time::Duration;

use tokio::runtime::Handle;

use crate::builder::TokenManagerBuilder;

/// Sets tokio hooks on a manager builder: refreshes ahead of expiry run as tokio tasks, and calls
/// sleep through backoffs and time out on tokio's timer.
///
/// Called within a tokio runtime, the hooks use that runtime (through its `Handle`), wherever the
/// manager is used later. Called outside any runtime, the manager keeps its runtime-agnostic
/// [`DefaultSleeper`](crate::DefaultSleeper), and a refresh runs as a task on the runtime the
/// calling task runs on, if any (else it is not started, which the manager says once in a
/// `tracing` warning; the token is then fetched once it is no longer usable): nothing panics for
/// want of a runtime.
pub fn with_tokio<T>(builder: TokenManagerBuilder<T>) -> TokenManagerBuilder<T> {
    match Handle::try_current() {
        Ok(handle) => {
            let spawn_on = handle.clone();
            builder
                .spawner(move |task| {
                    spawn_on.spawn(task);
                })
                .sleeper(move |duration: Duration| {
                    let _runtime = handle.enter();
                    tokio::time::sleep(duration)
                })
        }
        Err(_) => builder.spawner(|task| {
            if let Ok(handle) = Handle::try_current() {
                handle.spawn(task);
            }
        }),
    }
}
