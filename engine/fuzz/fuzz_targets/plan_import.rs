//! Arbitrary bytes as a `.zwo`, a FIT workout and a JSON plan: each importer returns a
//! plan or an error naming the element, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_formats::plan_import::{import_fit_workout, import_json, import_zwo};

fuzz_target!(|data: &[u8]| {
    let _ = import_zwo("fuzz.zwo", data);
    let _ = import_fit_workout("fuzz.fit", data);
    let _ = import_json("fuzz.json", data);
});
