//! Arbitrary bytes as the body of every API route that takes one: the JSON extractor and
//! the handler's own checks (`api::bodies::check_body`) return a value or an error, never
//! panic. Allocations are bounded by libFuzzer's `-malloc_limit_mb` (`.ci/fuzz`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_gateway::api::bodies::{RequestBody, check_body};

fuzz_target!(|data: &[u8]| {
    for route in RequestBody::ALL {
        let _ = check_body(route, data);
    }
});
