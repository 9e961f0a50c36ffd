//! Which worker owns a session.
//!
//! The route is a stable hash of the session id (FNV-1a, the same in every process and on
//! every run), so a session's records always meet the same coach; timely sends a record to
//! worker `route % peers`. Ticks are routed to a worker by its index.

use paceline_schemas::SessionId;
use paceline_schemas::engine::EngineRecord;

/// The route of a session's records.
pub fn session_route(session: &SessionId) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    session.as_str().bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// A record with its route: the session's for session inputs, `worker` for ticks.
pub fn routed(record: EngineRecord, worker: usize) -> (u64, EngineRecord) {
    let route = match &record {
        EngineRecord::Session(input) => session_route(&input.session),
        EngineRecord::Tick(_) => worker as u64,
    };
    (route, record)
}
