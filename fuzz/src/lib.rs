//! The fuzz targets' checks, kept out of `fuzz_targets/` so that the stable corpus test of
//! `logto-m2m-proto` (`tests/fuzz_corpus.rs`) runs exactly the same code on every corpus file.
//!
//! [`checks`] depends only on `logto-m2m-proto` and `arbitrary`: the proto crate's test includes
//! it as a module of its own. [`verify`] holds the checks of `logto-m2m-verify`'s parsers, which
//! that crate's `tests/fuzz_corpus.rs` includes the same way.

pub mod checks;
pub mod verify;
