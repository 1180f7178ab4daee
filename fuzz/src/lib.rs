//! The fuzz targets' checks, kept out of `fuzz_targets/` so that the stable corpus test of
//! `logto-m2m-proto` (`tests/fuzz_corpus.rs`) runs exactly the same code on every corpus file.
//!
//! This crate depends only on `logto-m2m-proto` and `arbitrary`: the proto crate's test includes
//! [`checks`] as a module of its own.

pub mod checks;
