//! Bugs these targets found in `logto-m2m-proto` that are not fixed yet.
//!
//! While a bug is open, its flag here is `true`, [`Mode::SkipKnownBugs`](super::Mode) steps
//! around it (narrowly: the rest of the input is still checked), its reproducer is kept in
//! `fuzz/regressions/<target>/` and `fuzz/regressions/open-bugs.txt` names it. The stable corpus
//! test runs each listed reproducer in strict mode and expects it to still fail.
//!
//! Once a bug is fixed: delete its flag and every use of it, remove its line from
//! `open-bugs.txt`, and move the reproducer to `fuzz/corpus/<target>/`, where it guards against
//! the bug coming back.

// No bug is open. The five these targets found (the OAuth `error` code copied unscrubbed, an
// unchecked `ExpiryPolicy`, NaN ratios in `CachePolicy`) are fixed, and their reproducers are in
// the corpus.
