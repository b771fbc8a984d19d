//! Fuzzes the authorization request parser and validator with arbitrary query strings: they
//! must answer with a page error, a redirect error or a request, never panic. The body is
//! `oidc_provider::fuzz::authorize_request`, which `cargo test` also runs over
//! `fuzz/seeds/authorize_request/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = oidc_provider::fuzz::authorize_request(data);
});
