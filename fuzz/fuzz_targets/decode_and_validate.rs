//! Any bytes as a `CreateCustomerRequest` (the customer message every create and
//! import row carries), decoded and validated as the service does before it
//! touches state: must answer, never panic, whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap_or_default();
    let _ = involve_profiles::api::decode_and_validate(bytes, today);
});
