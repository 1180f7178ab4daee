#![no_main]

use libfuzzer_sys::fuzz_target;
use logto_m2m_fuzz::checks::Mode;
use logto_m2m_fuzz::checks::discovery::{DiscoveryInput, check};

fuzz_target!(|input: DiscoveryInput| check(&input, Mode::SkipKnownBugs));
