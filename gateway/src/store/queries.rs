//! The SQL of the live path, in one place: every statement on `devices`, `sessions`,
//! `frames`, `samples` and `cues`, and the few on other tables that the live loop runs
//! per frame or per session (`tenant_usage`, the athlete's profile and next plan, a cue's
//! `modifications` row).
//!
//! Each statement is a named constant (or, where the API adds the caller's filters, a
//! function that returns the text) whose doc says what it does and which index serves
//! it; callers prepare it as they did when it was inline (`prepare_cached` on the hot
//! path). The tests below hold every statement to its query plan on a store built by the
//! real migrations, so a statement that stops using its index fails a test naming it.
//!
//! Statements the privacy registry generates for every table (retention's prunes in
//! `jobs::maintenance`, a person's deletion in `privacy::deletion`) are built from that
//! registry and stay with it; the tests' own fixtures and checks stay in the tests.

// ---------------------------------------------------------------------------------------
// devices

/// A device by its id (unique across tenants), with its tenant's slug: through
/// `UNIQUE(device_id)`, the tenant by its primary key.
pub(crate) const DEVICE_BY_ID: &str =
    "SELECT d.id, d.tenant_id, t.slug, d.athlete_id, d.key_sealed, d.token_sha256,
        d.revoked_ms IS NOT NULL
 FROM devices d JOIN tenants t ON t.id = d.tenant_id
 WHERE d.device_id = ?1";

/// Pairs a new device (its key sealed, its token as a digest); writes only.
pub(crate) const INSERT_DEVICE: &str =
    "INSERT INTO devices (tenant_id, device_id, athlete_id, key_sealed, token_sha256, created_ms)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// The tenant's devices not revoked (the tenant-devices quota): through the tenant's
/// prefix of `devices_by_athlete`.
pub(crate) const ACTIVE_DEVICE_COUNT: &str =
    "SELECT count(*) FROM devices WHERE tenant_id = ?1 AND revoked_ms IS NULL";

/// The athlete of a tenant's device, before it is revoked: through `UNIQUE(device_id)`.
pub(crate) const DEVICE_ATHLETE: &str =
    "SELECT athlete_id FROM devices WHERE tenant_id = ?1 AND device_id = ?2";

/// Revokes a tenant's device (the first revocation's time is kept): through
/// `UNIQUE(device_id)`.
pub(crate) const REVOKE_DEVICE: &str = "UPDATE devices SET revoked_ms = COALESCE(revoked_ms, ?1) WHERE tenant_id = ?2 AND device_id = ?3";

/// An athlete's device ids (closed before the athlete's deletion): through
/// `devices_by_athlete`.
pub(crate) const ATHLETE_DEVICE_IDS: &str =
    "SELECT device_id FROM devices WHERE tenant_id = ?1 AND athlete_id = ?2";

/// An athlete's first device not revoked (the demo's): through `devices_by_athlete`.
pub(crate) const FIRST_ACTIVE_DEVICE: &str = "SELECT id, device_id, key_sealed FROM devices
 WHERE tenant_id = ?1 AND athlete_id = ?2 AND revoked_ms IS NULL
 ORDER BY id LIMIT 1";

/// Replaces a device's token digest (the demo hands out a fresh token): by primary key.
pub(crate) const SET_DEVICE_TOKEN: &str =
    "UPDATE devices SET token_sha256 = ?1 WHERE tenant_id = ?2 AND id = ?3";

/// The tenant's devices not revoked that have sent nothing since `?2` (the console's
/// silent devices), with their newest frame's time: devices through `devices_by_tenant`,
/// each one's sessions through `UNIQUE(device_row, session_id)`. The unary `+` keeps
/// `s.tenant_id` a check, not an index key: without it SQLite read every session of the
/// tenant for each device (through `sessions_by_athlete`).
pub(crate) const SILENT_DEVICES: &str =
    "SELECT d.device_id, d.athlete_id, a.name, max(s.last_frame_ms), d.created_ms
 FROM devices d JOIN athletes a ON a.id = d.athlete_id AND a.tenant_id = d.tenant_id
 LEFT JOIN sessions s ON s.device_row = d.id AND +s.tenant_id = d.tenant_id
 WHERE d.tenant_id = ?1 AND d.revoked_ms IS NULL
 GROUP BY d.id
 HAVING coalesce(max(s.last_frame_ms), d.created_ms) < ?2
 ORDER BY coalesce(max(s.last_frame_ms), d.created_ms), d.id LIMIT 500";

/// The devices of the athletes a caller may see (`athlete_visible` is the API's
/// `ATHLETE_VISIBLE` on athletes `a`), or of one athlete (`:only`): through
/// `devices_by_tenant`, in pairing order.
pub(crate) fn visible_devices(athlete_visible: &str) -> String {
    format!(
        "SELECT d.device_id, d.athlete_id, d.created_ms, d.revoked_ms
         FROM devices d JOIN athletes a ON a.id = d.athlete_id
         WHERE d.tenant_id = :tenant AND {athlete_visible}
           AND (:only IS NULL OR d.athlete_id = :only)
         ORDER BY d.id LIMIT 5000"
    )
}

// ---------------------------------------------------------------------------------------
// sessions

/// The highest session row (the live loop numbers new sessions from the next): the
/// primary key's last entry.
pub(crate) const MAX_SESSION_ROW: &str = "SELECT coalesce(max(id), 0) FROM sessions";

/// A device's session by the id the device gave it, with whether it is open and its
/// contiguous ack: through `UNIQUE(device_row, session_id)`.
pub(crate) const SESSION_BY_DEVICE: &str = "SELECT id, status = 'open', acked_seq FROM sessions
 WHERE tenant_id = ?1 AND device_row = ?2 AND session_id = ?3";

/// When a device's sessions opened since `?3` (the sessions-per-day quota): through
/// `sessions_by_tenant` (tenant, start time).
pub(crate) const SESSIONS_OPENED_SINCE: &str = "SELECT started_ms FROM sessions
 WHERE tenant_id = ?1 AND device_row = ?2 AND started_ms > ?3";

/// Opens a session under the row the live loop chose; nothing if the row or the device's
/// session id is taken. Writes only.
pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions
   (id, tenant_id, device_row, athlete_id, session_id, plan_id, status, started_ms,
    last_frame_ms)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?7)
 ON CONFLICT DO NOTHING";

/// Brings a session's row up to what is committed (its contiguous ack, its newest
/// frame); never moves either back: by primary key.
pub(crate) const UPDATE_SESSION_ROW: &str = "UPDATE sessions SET acked_seq = max(acked_seq, ?1),
        last_frame_ms = max(last_frame_ms, ?2)
 WHERE id = ?3";

/// A session's stored contiguous ack (the writer's ack state of a session it does not
/// hold): by primary key.
pub(crate) const SESSION_ACKED_SEQ: &str = "SELECT acked_seq FROM sessions WHERE id = ?1";

/// Ends (or rejects) a tenant's session, keeping a summary stored before when none is
/// given: by primary key.
pub(crate) const END_SESSION: &str = "UPDATE sessions SET status = ?1, ended_ms = ?2,
        summary_json = coalesce(?3, summary_json)
 WHERE tenant_id = ?4 AND id = ?5";

/// Ends every open session whose newest frame is older than `?2` (the stale sweep, every
/// tenant): it reads every open session through the partial index `sessions_open` (the
/// sessions that ended are not in it), once a sweep, never per frame.
pub(crate) const END_STALE_SESSIONS: &str = "UPDATE sessions SET status = 'ended', ended_ms = ?1
 WHERE status = 'open' AND last_frame_ms < ?2";

/// A tenant's session's summary with its sample and cue counts: the session by primary
/// key, the counts through `samples_by_session` and `cues_by_session`.
pub(crate) const SESSION_DETAIL: &str = "SELECT summary_json,
        (SELECT COUNT(*) FROM samples WHERE tenant_id = ?1 AND session_row = ?2),
        (SELECT COUNT(*) FROM cues WHERE tenant_id = ?1 AND session_row = ?2)
 FROM sessions WHERE tenant_id = ?1 AND id = ?2";

/// A tenant's session's summary: by primary key.
pub(crate) const SESSION_SUMMARY: &str =
    "SELECT summary_json FROM sessions WHERE tenant_id = ?1 AND id = ?2";

/// The tenant's open sessions, counted (the console): through the partial index
/// `sessions_open`, which holds only open sessions.
pub(crate) const OPEN_SESSION_COUNT: &str =
    "SELECT count(*) FROM sessions WHERE tenant_id = ?1 AND status = 'open'";

/// The columns of a session as the API shows it, in the order its row reader takes them
/// (sessions `s`, athletes `a`, devices `d`).
const SESSION_COLUMNS: &str = "s.id, s.athlete_id, a.name, d.device_id, s.session_id, s.status,
    s.started_ms, s.last_frame_ms, s.ended_ms, s.plan_id";

/// The session `:id` of the tenant if `athlete_scope` (the API's `athlete_scope` on
/// `s.athlete_id`) admits it: the session, its athlete and device by primary key.
pub(crate) fn visible_session(athlete_scope: &str) -> String {
    format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s
         JOIN athletes a ON a.id = s.athlete_id JOIN devices d ON d.id = s.device_row
         WHERE s.tenant_id = :tenant AND s.id = :id AND {athlete_scope}"
    )
}

/// A page of the tenant's sessions that pass `filters` (the caller's scope and the
/// filters given, joined by `AND`; `s.id < :before` among them), newest first: through
/// `sessions_by_tenant_id`, or `sessions_by_athlete` when one athlete is asked for.
pub(crate) fn session_page(filters: &str) -> String {
    format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s
         JOIN athletes a ON a.id = s.athlete_id JOIN devices d ON d.id = s.device_row
         WHERE s.tenant_id = :tenant AND {filters}
         ORDER BY s.id DESC LIMIT :limit"
    )
}

/// The tenant's open sessions of the athletes a caller may see (`athlete_visible` as in
/// [`visible_devices`]), by athlete name (the live board): through the tenant's prefix
/// of the partial index `sessions_open` (open sessions only), each athlete by primary
/// key.
pub(crate) fn open_sessions(athlete_visible: &str) -> String {
    format!(
        "SELECT s.id, s.athlete_id, a.name FROM sessions s JOIN athletes a ON a.id = s.athlete_id
         WHERE s.tenant_id = :tenant AND s.status = 'open' AND {athlete_visible}
         ORDER BY a.name LIMIT 1000"
    )
}

/// Up to `?1` ended sessions the activity library has not taken, oldest first: the
/// partial index `sessions_for_library` holds exactly those.
pub(crate) const ENDED_SESSIONS_FOR_LIBRARY: &str =
    "SELECT id, tenant_id, athlete_id, started_ms FROM sessions
 WHERE status = 'ended' AND library_ms IS NULL ORDER BY id LIMIT ?1";

/// Marks a tenant's session as taken into the library: by primary key.
pub(crate) const MARK_SESSION_IN_LIBRARY: &str =
    "UPDATE sessions SET library_ms = ?1 WHERE id = ?2 AND tenant_id = ?3";

// ---------------------------------------------------------------------------------------
// frames

/// Stores a frame straight into `frames` (the writer without its inbox); nothing if its
/// (device, session, seq) is stored already. Writes only.
pub(crate) const INSERT_FRAME: &str = "INSERT OR IGNORE INTO frames
   (tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms, send_time, body)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Appends a live frame to the writer's inbox (migration 22). Writes only: the writer's
/// own ack state has already ruled out a duplicate.
pub(crate) const INSERT_FRAME_INBOX: &str = "INSERT INTO frames_inbox
   (tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms, send_time, body)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Moves the inbox's frames into `frames`, sorted so that each session's index entries
/// go in together (one leaf written per session per move).
pub(crate) const MOVE_FRAMES_INBOX: &str = "INSERT OR IGNORE INTO frames
   (tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms, send_time, body)
 SELECT tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms, send_time, body
 FROM frames_inbox ORDER BY device_row, session_row, seq";

/// Empties the frame inbox once moved (no `WHERE`: SQLite frees its pages whole).
pub(crate) const CLEAR_FRAMES_INBOX: &str = "DELETE FROM frames_inbox";

/// Moves the inbox's frames of sessions `?1..=?2` (a slice) into `frames`, each
/// session's together: a scan of the inbox (a second of frames), no index.
pub(crate) const MOVE_FRAMES_INBOX_SLICE: &str = "INSERT OR IGNORE INTO frames
   (tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms, send_time, body)
 SELECT tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms, send_time, body
 FROM frames_inbox WHERE session_row BETWEEN ?1 AND ?2
 ORDER BY device_row, session_row, seq";

/// Removes a moved slice's frames from the inbox.
pub(crate) const CLEAR_FRAMES_INBOX_SLICE: &str =
    "DELETE FROM frames_inbox WHERE session_row BETWEEN ?1 AND ?2";

/// The seqs a session holds above its contiguous ack (a resume; the writer's ack state):
/// through `UNIQUE(device_row, session_row, seq)`, so only this session's moved frames
/// are read, and the writer's inbox (a second or so of every session's frames) whole.
pub(crate) const STORED_SEQS_ABOVE: &str = "SELECT seq FROM frames
 WHERE device_row = ?1 AND session_row = ?2 AND seq > ?3 AND tenant_id = ?4
 UNION
 SELECT seq FROM frames_inbox
 WHERE device_row = ?1 AND session_row = ?2 AND seq > ?3 AND tenant_id = ?4
 ORDER BY seq";

/// A session's newest stored device status: through the partial index
/// `frames_device_status` (migration 3), one entry read, and the writer's inbox whole.
pub(crate) const LATEST_DEVICE_STATUS: &str = "SELECT seq, body FROM
 (SELECT seq, body FROM frames
   WHERE device_row = ?1 AND session_row = ?2 AND kind = 'device_status' AND tenant_id = ?3
   ORDER BY seq DESC LIMIT 1)
 UNION ALL
 SELECT seq, body FROM frames_inbox
 WHERE device_row = ?1 AND session_row = ?2 AND kind = 'device_status' AND tenant_id = ?3
 ORDER BY seq DESC LIMIT 1";

// ---------------------------------------------------------------------------------------
// samples

/// Stores one sample of a stored frame straight into `samples` (the writer without its
/// inbox). Writes only.
pub(crate) const INSERT_SAMPLE: &str = "INSERT INTO samples
   (session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate, power_w,
    cadence, speed_mps)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Appends one sample of a live frame to the writer's inbox (migration 22). Writes only.
pub(crate) const INSERT_SAMPLE_INBOX: &str = "INSERT INTO samples_inbox
   (session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate, power_w,
    cadence, speed_mps)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Moves the inbox's samples into `samples`, each session's together and by time.
pub(crate) const MOVE_SAMPLES_INBOX: &str = "INSERT INTO samples
   (session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate, power_w,
    cadence, speed_mps)
 SELECT session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate, power_w,
    cadence, speed_mps
 FROM samples_inbox ORDER BY session_row, t_ms";

/// Empties the sample inbox once moved.
pub(crate) const CLEAR_SAMPLES_INBOX: &str = "DELETE FROM samples_inbox";

/// Moves the inbox's samples of sessions `?1..=?2` (a slice) into `samples`.
pub(crate) const MOVE_SAMPLES_INBOX_SLICE: &str = "INSERT INTO samples
   (session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate, power_w,
    cadence, speed_mps)
 SELECT session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate, power_w,
    cadence, speed_mps
 FROM samples_inbox WHERE session_row BETWEEN ?1 AND ?2 ORDER BY session_row, t_ms";

/// Removes a moved slice's samples from the inbox.
pub(crate) const CLEAR_SAMPLES_INBOX_SLICE: &str =
    "DELETE FROM samples_inbox WHERE session_row BETWEEN ?1 AND ?2";

/// A page of a tenant's session's samples in storage order, after rowid `?3` (the API):
/// through `samples_by_session`; the session's samples are sorted by rowid for each page
/// (no index orders a session's samples by rowid).
pub(crate) const SESSION_SAMPLES_PAGE: &str =
    "SELECT rowid, t_ms, kind, heart_rate, power_w, cadence, speed_mps FROM samples
 WHERE tenant_id = ?1 AND session_row = ?2 AND rowid > ?3 ORDER BY rowid LIMIT ?4";

/// All of a tenant's session's samples by sensor time (exports, the FIT file, the
/// library): through `samples_by_session` (session, time), in its order.
pub(crate) const SESSION_SAMPLES_BY_TIME: &str =
    "SELECT t_ms, kind, heart_rate, power_w, cadence, speed_mps FROM samples
 WHERE tenant_id = ?1 AND session_row = ?2 ORDER BY t_ms, rowid";

/// Up to `?5` of a tenant's session's samples after (time, rowid) `(?3, ?4)`, by sensor
/// time (an export's page): through `samples_by_session`, starting at the key.
pub(crate) const SESSION_SAMPLES_PAGE_BY_TIME: &str =
    "SELECT t_ms, rowid, kind, heart_rate, power_w, cadence, speed_mps FROM samples
 WHERE tenant_id = ?1 AND session_row = ?2 AND (t_ms, rowid) > (?3, ?4)
 ORDER BY t_ms, rowid LIMIT ?5";

// ---------------------------------------------------------------------------------------
// cues

/// Stores a cue the coach gave. Writes only.
pub(crate) const INSERT_CUE: &str = "INSERT INTO cues
   (session_row, tenant_id, output_seq, t_s, severity, code, text, modification_json,
    created_ms)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Stores the workout change a cue carried. Writes only.
pub(crate) const INSERT_MODIFICATION: &str =
    "INSERT INTO modifications (session_row, tenant_id, cue_id, kind, params_json, created_ms)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// A tenant's session's cues in output order: through `cues_by_session` (session,
/// output seq), in its order.
pub(crate) const SESSION_CUES: &str =
    "SELECT output_seq, t_s, severity, code, text, modification_json, created_ms FROM cues
 WHERE tenant_id = ?1 AND session_row = ?2 ORDER BY output_seq LIMIT 10000";

// ---------------------------------------------------------------------------------------
// what else the live loop reads or writes per frame or session

/// Adds frame bytes to a tenant's stored total (in the transaction that stores them).
/// Writes only (the conflict is found by the primary key).
pub(crate) const ADD_TENANT_STORED_BYTES: &str =
    "INSERT INTO tenant_usage (tenant_id, stored_bytes) VALUES (?1, ?2)
 ON CONFLICT (tenant_id) DO UPDATE
    SET stored_bytes = stored_bytes + excluded.stored_bytes";

/// The bytes of frames a tenant stores (the tenant-storage quota): by primary key.
pub(crate) const TENANT_STORED_BYTES: &str =
    "SELECT stored_bytes FROM tenant_usage WHERE tenant_id = ?1";

/// An athlete's profile and the plan for their next session (a session opening): by
/// primary key.
pub(crate) const ATHLETE_PROFILE_AND_NEXT_PLAN: &str =
    "SELECT profile_json, next_plan_id FROM athletes WHERE tenant_id = ?1 AND id = ?2";

/// A tenant's plan: by primary key.
pub(crate) const PLAN_JSON: &str = "SELECT plan_json FROM plans WHERE tenant_id = ?1 AND id = ?2";

/// Clears an athlete's next plan once a session took it (unless another was assigned
/// meanwhile): by primary key.
pub(crate) const CLEAR_NEXT_PLAN: &str = "UPDATE athletes SET next_plan_id = NULL
 WHERE tenant_id = ?1 AND id = ?2 AND next_plan_id = ?3";

/// The steps of `sql`'s query plan (`EXPLAIN QUERY PLAN`, every parameter bound to 1),
/// for the plan tests of this module and of the other store modules.
#[cfg(test)]
pub(crate) fn query_plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("does not prepare: {e}\n{sql}"));
    let values = std::iter::repeat_n(1_i64, stmt.parameter_count());
    stmt.query_map(rusqlite::params_from_iter(values), |r| {
        r.get::<_, String>(3)
    })
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::api::ATHLETE_VISIBLE;
    use crate::store::{Store, prepare_data_dir};

    /// The caller scopes `athlete_scope` gives the API's session queries, one per role.
    const GYM_ADMIN_SCOPE: &str = "1 = 1";
    const COACH_SCOPE: &str = "s.athlete_id IN (SELECT athlete_id FROM coach_athletes
                   WHERE tenant_id = :tenant AND coach_user_id = :user)";
    const ATHLETE_SCOPE: &str = "s.athlete_id = :athlete";

    /// A session by primary key, its athlete and device likewise.
    const SESSION_BY_KEY_WITH_ATHLETE_AND_DEVICE: &[&str] = &[
        "SEARCH s USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)",
    ];

    /// Every statement of this module with the plan it must have on a store built by
    /// the real migrations: one row per statement (per caller scope for the API's
    /// statements that take one). An empty plan is an INSERT of values: it reads nothing.
    fn statements() -> Vec<(&'static str, String, &'static [&'static str])> {
        let s = |sql: &str| sql.to_owned();
        vec![
            // devices
            (
                "DEVICE_BY_ID",
                s(DEVICE_BY_ID),
                &[
                    "SEARCH d USING INDEX sqlite_autoindex_devices_1 (device_id=?)",
                    "SEARCH t USING INTEGER PRIMARY KEY (rowid=?)",
                ],
            ),
            ("INSERT_DEVICE", s(INSERT_DEVICE), &[]),
            (
                "ACTIVE_DEVICE_COUNT",
                s(ACTIVE_DEVICE_COUNT),
                &["SEARCH devices USING INDEX devices_by_athlete (tenant_id=?)"],
            ),
            (
                "DEVICE_ATHLETE",
                s(DEVICE_ATHLETE),
                &["SEARCH devices USING INDEX sqlite_autoindex_devices_1 (device_id=?)"],
            ),
            (
                "REVOKE_DEVICE",
                s(REVOKE_DEVICE),
                &["SEARCH devices USING INDEX sqlite_autoindex_devices_1 (device_id=?)"],
            ),
            (
                "ATHLETE_DEVICE_IDS",
                s(ATHLETE_DEVICE_IDS),
                &["SEARCH devices USING INDEX devices_by_athlete (tenant_id=? AND athlete_id=?)"],
            ),
            (
                "FIRST_ACTIVE_DEVICE",
                s(FIRST_ACTIVE_DEVICE),
                &["SEARCH devices USING INDEX devices_by_athlete (tenant_id=? AND athlete_id=?)"],
            ),
            (
                "SET_DEVICE_TOKEN",
                s(SET_DEVICE_TOKEN),
                &["SEARCH devices USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
            (
                "SILENT_DEVICES",
                s(SILENT_DEVICES),
                &[
                    "SEARCH d USING INDEX devices_by_tenant (tenant_id=?)",
                    "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
                    "SEARCH s USING INDEX sqlite_autoindex_sessions_1 (device_row=?) LEFT-JOIN",
                    "USE TEMP B-TREE FOR ORDER BY",
                ],
            ),
            (
                "visible_devices",
                visible_devices(ATHLETE_VISIBLE),
                &[
                    "SEARCH d USING INDEX devices_by_tenant (tenant_id=?)",
                    "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
                    "CORRELATED SCALAR SUBQUERY 1",
                    "SEARCH ca USING INDEX sqlite_autoindex_coach_athletes_1 (coach_user_id=? AND athlete_id=?)",
                ],
            ),
            // sessions
            ("MAX_SESSION_ROW", s(MAX_SESSION_ROW), &["SEARCH sessions"]),
            (
                "SESSION_BY_DEVICE",
                s(SESSION_BY_DEVICE),
                &[
                    "SEARCH sessions USING INDEX sqlite_autoindex_sessions_1 (device_row=? AND session_id=?)",
                ],
            ),
            (
                "SESSIONS_OPENED_SINCE",
                s(SESSIONS_OPENED_SINCE),
                &["SEARCH sessions USING INDEX sessions_by_tenant (tenant_id=? AND started_ms>?)"],
            ),
            ("INSERT_SESSION", s(INSERT_SESSION), &[]),
            (
                "UPDATE_SESSION_ROW",
                s(UPDATE_SESSION_ROW),
                &["SEARCH sessions USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
            (
                "SESSION_ACKED_SEQ",
                s(SESSION_ACKED_SEQ),
                &["SEARCH sessions USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
            (
                "END_SESSION",
                s(END_SESSION),
                &["SEARCH sessions USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
            // The one scan, on purpose, of open sessions only: see the statement's doc.
            (
                "END_STALE_SESSIONS",
                s(END_STALE_SESSIONS),
                &["SCAN sessions USING INDEX sessions_open"],
            ),
            (
                "SESSION_DETAIL",
                s(SESSION_DETAIL),
                &[
                    "SEARCH sessions USING INTEGER PRIMARY KEY (rowid=?)",
                    "SCALAR SUBQUERY 1",
                    "SEARCH samples USING INDEX samples_by_session (session_row=?)",
                    "SCALAR SUBQUERY 2",
                    "SEARCH cues USING INDEX cues_by_session (session_row=?)",
                ],
            ),
            (
                "SESSION_SUMMARY",
                s(SESSION_SUMMARY),
                &["SEARCH sessions USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
            (
                "OPEN_SESSION_COUNT",
                s(OPEN_SESSION_COUNT),
                &["SEARCH sessions USING COVERING INDEX sessions_open (tenant_id=?)"],
            ),
            (
                "visible_session (gym-admin)",
                visible_session(GYM_ADMIN_SCOPE),
                SESSION_BY_KEY_WITH_ATHLETE_AND_DEVICE,
            ),
            (
                "visible_session (coach)",
                visible_session(COACH_SCOPE),
                &[
                    "SEARCH s USING INTEGER PRIMARY KEY (rowid=?)",
                    "LIST SUBQUERY 1",
                    "SEARCH coach_athletes USING INDEX coach_athletes_by_athlete (tenant_id=?)",
                    "CREATE BLOOM FILTER",
                    "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
                    "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)",
                ],
            ),
            (
                "visible_session (athlete)",
                visible_session(ATHLETE_SCOPE),
                SESSION_BY_KEY_WITH_ATHLETE_AND_DEVICE,
            ),
            (
                "session_page (gym-admin)",
                session_page(&format!("{GYM_ADMIN_SCOPE} AND s.id < :before")),
                &[
                    "SEARCH s USING INDEX sessions_by_tenant_id (tenant_id=? AND id<?)",
                    "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
                    "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)",
                ],
            ),
            (
                "session_page (coach)",
                session_page(&format!("{COACH_SCOPE} AND s.id < :before")),
                &[
                    "SEARCH s USING INDEX sessions_by_tenant_id (tenant_id=? AND id<?)",
                    "LIST SUBQUERY 1",
                    "SEARCH coach_athletes USING INDEX coach_athletes_by_athlete (tenant_id=?)",
                    "CREATE BLOOM FILTER",
                    "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
                    "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)",
                ],
            ),
            (
                "session_page (athlete)",
                session_page(&format!("{ATHLETE_SCOPE} AND s.id < :before")),
                &[
                    "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
                    "SEARCH s USING INDEX sessions_by_athlete (tenant_id=? AND athlete_id=? AND id<?)",
                    "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)",
                ],
            ),
            (
                "open_sessions",
                open_sessions(ATHLETE_VISIBLE),
                &[
                    "SEARCH s USING INDEX sessions_open (tenant_id=?)",
                    "SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
                    "CORRELATED SCALAR SUBQUERY 1",
                    "SEARCH ca USING INDEX sqlite_autoindex_coach_athletes_1 (coach_user_id=? AND athlete_id=?)",
                    "USE TEMP B-TREE FOR ORDER BY",
                ],
            ),
            (
                "ENDED_SESSIONS_FOR_LIBRARY",
                s(ENDED_SESSIONS_FOR_LIBRARY),
                &["SCAN sessions USING INDEX sessions_for_library"],
            ),
            (
                "MARK_SESSION_IN_LIBRARY",
                s(MARK_SESSION_IN_LIBRARY),
                &["SEARCH sessions USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
            // frames
            ("INSERT_FRAME", s(INSERT_FRAME), &[]),
            ("INSERT_FRAME_INBOX", s(INSERT_FRAME_INBOX), &[]),
            (
                "MOVE_FRAMES_INBOX",
                s(MOVE_FRAMES_INBOX),
                &["SCAN frames_inbox", "USE TEMP B-TREE FOR ORDER BY"],
            ),
            (
                "CLEAR_FRAMES_INBOX",
                s(CLEAR_FRAMES_INBOX),
                &["SCAN frames_inbox"],
            ),
            (
                "MOVE_FRAMES_INBOX_SLICE",
                s(MOVE_FRAMES_INBOX_SLICE),
                &["SCAN frames_inbox", "USE TEMP B-TREE FOR ORDER BY"],
            ),
            (
                "CLEAR_FRAMES_INBOX_SLICE",
                s(CLEAR_FRAMES_INBOX_SLICE),
                &["SCAN frames_inbox"],
            ),
            (
                "STORED_SEQS_ABOVE",
                s(STORED_SEQS_ABOVE),
                &[
                    "MERGE (UNION)",
                    "LEFT",
                    "SEARCH frames USING INDEX sqlite_autoindex_frames_1 (device_row=? AND session_row=? AND seq>?)",
                    "RIGHT",
                    "SCAN frames_inbox",
                    "USE TEMP B-TREE FOR ORDER BY",
                ],
            ),
            (
                "LATEST_DEVICE_STATUS",
                s(LATEST_DEVICE_STATUS),
                &[
                    "MERGE (UNION ALL)",
                    "LEFT",
                    "CO-ROUTINE (subquery-1)",
                    "SEARCH frames USING INDEX frames_device_status (device_row=? AND session_row=?)",
                    "SCAN (subquery-1)",
                    "USE TEMP B-TREE FOR ORDER BY",
                    "RIGHT",
                    "SCAN frames_inbox",
                    "USE TEMP B-TREE FOR ORDER BY",
                ],
            ),
            // samples
            ("INSERT_SAMPLE", s(INSERT_SAMPLE), &[]),
            ("INSERT_SAMPLE_INBOX", s(INSERT_SAMPLE_INBOX), &[]),
            (
                "MOVE_SAMPLES_INBOX",
                s(MOVE_SAMPLES_INBOX),
                &["SCAN samples_inbox", "USE TEMP B-TREE FOR ORDER BY"],
            ),
            (
                "CLEAR_SAMPLES_INBOX",
                s(CLEAR_SAMPLES_INBOX),
                &["SCAN samples_inbox"],
            ),
            (
                "MOVE_SAMPLES_INBOX_SLICE",
                s(MOVE_SAMPLES_INBOX_SLICE),
                &["SCAN samples_inbox", "USE TEMP B-TREE FOR ORDER BY"],
            ),
            (
                "CLEAR_SAMPLES_INBOX_SLICE",
                s(CLEAR_SAMPLES_INBOX_SLICE),
                &["SCAN samples_inbox"],
            ),
            (
                "SESSION_SAMPLES_PAGE",
                s(SESSION_SAMPLES_PAGE),
                &[
                    "SEARCH samples USING INDEX samples_by_session (session_row=?)",
                    "USE TEMP B-TREE FOR ORDER BY",
                ],
            ),
            (
                "SESSION_SAMPLES_BY_TIME",
                s(SESSION_SAMPLES_BY_TIME),
                &["SEARCH samples USING INDEX samples_by_session (session_row=?)"],
            ),
            (
                "SESSION_SAMPLES_PAGE_BY_TIME",
                s(SESSION_SAMPLES_PAGE_BY_TIME),
                &["SEARCH samples USING INDEX samples_by_session (session_row=? AND t_ms>?)"],
            ),
            // cues
            ("INSERT_CUE", s(INSERT_CUE), &[]),
            ("INSERT_MODIFICATION", s(INSERT_MODIFICATION), &[]),
            (
                "SESSION_CUES",
                s(SESSION_CUES),
                &["SEARCH cues USING INDEX cues_by_session (session_row=?)"],
            ),
            // the rest of the live loop's
            ("ADD_TENANT_STORED_BYTES", s(ADD_TENANT_STORED_BYTES), &[]),
            (
                "TENANT_STORED_BYTES",
                s(TENANT_STORED_BYTES),
                &["SEARCH tenant_usage USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
            (
                "ATHLETE_PROFILE_AND_NEXT_PLAN",
                s(ATHLETE_PROFILE_AND_NEXT_PLAN),
                &["SEARCH athletes USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
            (
                "PLAN_JSON",
                s(PLAN_JSON),
                &["SEARCH plans USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
            (
                "CLEAR_NEXT_PLAN",
                s(CLEAR_NEXT_PLAN),
                &["SEARCH athletes USING INTEGER PRIMARY KEY (rowid=?)"],
            ),
        ]
    }

    #[test]
    fn every_live_path_statement_has_its_query_plan() {
        let dir = tempfile::tempdir().unwrap();
        prepare_data_dir(dir.path()).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut wrong = Vec::new();
        for (name, sql, expected) in statements() {
            let steps = store.read(|conn| Ok(query_plan(conn, &sql))).unwrap();
            // A scan walks a whole table or index (`SCAN frames`, `SCAN s USING INDEX x`):
            // only where the row expects it (END_STALE_SESSIONS, the library's partial
            // index, the writer's inbox: a second or so of frames, read whole).
            let scans: Vec<&String> = steps
                .iter()
                .filter(|step| step.starts_with("SCAN ") && !expected.contains(&step.as_str()))
                .collect();
            if !scans.is_empty() {
                wrong.push(format!(
                    "{name}: scans {scans:?}\n  plan: {steps:?}\n  {sql}"
                ));
            } else if steps != expected {
                wrong.push(format!(
                    "{name}: plan {steps:?}\n  expected {expected:?}\n  {sql}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    }
}
