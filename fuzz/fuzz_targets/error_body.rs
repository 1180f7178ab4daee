#![no_main]

use libfuzzer_sys::fuzz_target;
use logto_m2m_fuzz::checks::Mode;
use logto_m2m_fuzz::checks::error_body::{ErrorBodyInput, check};

fuzz_target!(|input: ErrorBodyInput| check(&input, Mode::SkipKnownBugs));
