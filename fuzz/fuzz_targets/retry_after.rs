#![no_main]

use libfuzzer_sys::fuzz_target;
use logto_m2m_fuzz::checks::Mode;
use logto_m2m_fuzz::checks::retry_after::{RetryAfterInput, check};

fuzz_target!(|input: RetryAfterInput| check(&input, Mode::SkipKnownBugs));
