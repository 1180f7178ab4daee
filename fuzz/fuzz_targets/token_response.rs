#![no_main]

use libfuzzer_sys::fuzz_target;
use logto_m2m_fuzz::checks::Mode;
use logto_m2m_fuzz::checks::token_response::{TokenResponseInput, check};

fuzz_target!(|input: TokenResponseInput| check(&input, Mode::SkipKnownBugs));
