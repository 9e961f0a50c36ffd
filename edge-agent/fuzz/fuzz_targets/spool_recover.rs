//! Arbitrary bytes as a spool file left by an earlier run (torn by a crash, or damaged on
//! disk): `Spool::open` recovers a spool or returns an error, never panics, and recovery
//! is idempotent — reopening what it left (corrupt regions skipped and rewritten away, a
//! torn tail cut) finds the same frames and nothing more to skip or cut.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use paceline_edge::spool::{SPOOL_FILE, Spool};

/// A folder of this process's own, reused by every run.
fn folder() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("paceline-spool-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = folder();
    // A clean slate: compaction may have left a renamed file behind.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("a scratch folder");
    std::fs::write(dir.join(SPOOL_FILE), data).expect("write the spool file");
    let Ok((spool, _)) = Spool::open(dir, 1024 * 1024, 60_000) else {
        return;
    };
    let first: Vec<(String, u64)> = spool
        .entries()
        .map(|e| (e.session.to_string(), e.seq))
        .collect();
    drop(spool);
    let (again, recovery) =
        Spool::open(dir, 1024 * 1024, 60_000).expect("a recovered spool reopens");
    let second: Vec<(String, u64)> = again
        .entries()
        .map(|e| (e.session.to_string(), e.seq))
        .collect();
    assert_eq!(
        first, second,
        "reopening a recovered spool changed its frames"
    );
    assert_eq!(
        recovery.truncated_bytes, 0,
        "a recovered spool was cut again"
    );
    assert_eq!(
        (recovery.skipped_bytes, recovery.skipped_regions),
        (0, 0),
        "a recovered spool still had corrupt regions"
    );
});
