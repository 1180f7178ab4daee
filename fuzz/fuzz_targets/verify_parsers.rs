#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    logto_m2m_fuzz::verify::check(data);
});
