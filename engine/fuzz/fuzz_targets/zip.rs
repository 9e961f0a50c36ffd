//! Arbitrary bytes as an upload (`read_file`): zip archives, gzip streams and the files in
//! them, within small limits (entries, sizes, ratio), never a panic or an allocation past
//! the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paceline_formats::{Limits, read_file};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bytes: 1024 * 1024,
        max_archive_bytes: 4 * 1024 * 1024,
        max_entries: 64,
        max_ratio: 200,
        max_points: 1000,
        max_text_bytes: 256,
        max_xml_nodes: 20_000,
    };
    let _ = read_file("upload.zip", data, &limits);
    let _ = read_file("upload.gz", data, &limits);
});
