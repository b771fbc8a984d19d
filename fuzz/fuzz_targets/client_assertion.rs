//! Fuzzes client authentication at the token endpoint: arbitrary Authorization headers, form
//! fields and JWT client assertions must be refused cleanly, never panic or be accepted. The
//! body is `oidc_provider::fuzz::client_assertion`, which `cargo test` also runs over
//! `fuzz/seeds/client_assertion/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = oidc_provider::fuzz::client_assertion(data);
});
