#![no_main]

use libfuzzer_sys::fuzz_target;
use logto_m2m_fuzz::checks::Mode;
use logto_m2m_fuzz::checks::state_machine::{StateMachineInput, check};

fuzz_target!(|input: StateMachineInput| check(&input, Mode::SkipKnownBugs));
