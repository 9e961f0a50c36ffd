//! The formats crate's behaviour, one module per concern:
//!
//! - `files`: `read_file` on uploads — gzip, zip exports with activities.csv, and hostile
//!   inputs (entity expansion, bombs, climbing entry names, too many entries).
//! - `fit_activity`: FIT activities read into recordings.
//! - `fit_reader`: Paceline's FIT reader gives what the fitparser walk gives, on the shared
//!   files, cut, chained and mutated.
//! - `round_trip`: recordings written as FIT, TCX, GPX and CSV read back the same.
//! - `xml_files`: TCX and GPX as other tools write them, read to tables of points.
//! - `plan_import`: the `.zwo`, FIT workout and JSON plan importers.

#![allow(
    clippy::cast_possible_truncation,
    reason = "test data are small numbers"
)]

mod files;
mod fit_activity;
mod fit_reader;
mod plan_import;
mod round_trip;
mod xml_files;

use std::path::PathBuf;

/// A file under `../shared/data`.
pub fn shared(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(path)
}

/// The shared FIT files, by name, sorted.
pub fn shared_fit_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(shared("fit"))
        .expect("shared fit folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "fit"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("fit readable"))
        })
        .collect()
}
