//! Arbitrary bytes as a GPX track: a recording or an error naming what failed, never a
//! panic; within small limits, so that a point or node count past them is an error too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_formats::{Limits, gpx};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_points: 500,
        max_xml_nodes: 20_000,
        ..Limits::default()
    };
    if let Ok(recording) = gpx::read_recording(data, &limits) {
        // What is read writes and reads back.
        let written = gpx::write_recording(&recording);
        let _ = gpx::read_recording(&written, &Limits::default());
    }
});
