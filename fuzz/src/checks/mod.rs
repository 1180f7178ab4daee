//! One module per fuzz target, each with its input type (decoded through `arbitrary` from the
//! fuzzer's bytes) and its `check` function, which panics when a property of `logto-m2m-proto`
//! does not hold. The fuzz targets in `fuzz_targets/` and the stable corpus test
//! (`crates/logto-m2m-proto/tests/fuzz_corpus.rs`) both call [`run`] or the `check` functions.

pub mod common;
pub mod discovery;
pub mod error_body;
pub mod known_bugs;
pub mod request_building;
pub mod retry_after;
pub mod secret_forms;
pub mod seeds;
pub mod shared_flight;
pub mod state_machine;
pub mod token_response;
pub mod wire;

use arbitrary::{Arbitrary, Unstructured};

/// Whether the checks step around the open bugs listed in [`known_bugs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Step around the known open bugs, so that fuzzing keeps looking for new ones. The fuzz
    /// targets and the corpus use this mode.
    SkipKnownBugs,
    /// Assert every property, known open bugs included. Regression inputs use this mode.
    Strict,
}

impl Mode {
    /// Whether the open bug `bug` (one of the [`known_bugs`] flags) is stepped around.
    pub fn skips(self, bug: bool) -> bool {
        bug && self == Self::SkipKnownBugs
    }
}

/// The fuzz targets, by name (the file names in `fuzz_targets/` and the corpus folders).
pub const TARGETS: [&str; 6] = [
    "token_response",
    "error_body",
    "retry_after",
    "discovery",
    "request_building",
    "state_machine",
];

/// Decodes `data` as the fuzz target does (`arbitrary_take_rest` on the whole input).
pub fn decode<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Option<T> {
    T::arbitrary_take_rest(Unstructured::new(data)).ok()
}

/// Runs `target`'s checks on the raw input `data`, exactly as the fuzz target does. Returns false
/// for an unknown target.
pub fn run(target: &str, data: &[u8], mode: Mode) -> bool {
    match target {
        "token_response" => run_with(data, |input| token_response::check(input, mode)),
        "error_body" => run_with(data, |input| error_body::check(input, mode)),
        "retry_after" => run_with(data, |input| retry_after::check(input, mode)),
        "discovery" => run_with(data, |input| discovery::check(input, mode)),
        "request_building" => run_with(data, |input| request_building::check(input, mode)),
        "state_machine" => run_with(data, |input| state_machine::check(input, mode)),
        _ => return false,
    }
    true
}

fn run_with<'a, T: Arbitrary<'a>>(data: &'a [u8], check: impl FnOnce(&T)) {
    // libfuzzer-sys skips an input that does not decode; none of these formats ever fails to.
    if let Some(input) = decode::<T>(data) {
        check(&input);
    }
}
