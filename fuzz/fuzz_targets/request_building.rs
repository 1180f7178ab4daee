#![no_main]

use libfuzzer_sys::fuzz_target;
use logto_m2m_fuzz::checks::Mode;
use logto_m2m_fuzz::checks::request_building::{RequestInput, check};

fuzz_target!(|input: RequestInput| check(&input, Mode::SkipKnownBugs));
