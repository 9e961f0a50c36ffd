//! The database schema, as numbered migrations. `PRAGMA user_version` records how many
//! have run; each runs once, in its own transaction, in order. Migrations are only
//! appended: a released one is never edited.

/// The migrations, in order; migration `n` (1-based) brings the schema to version `n`.
pub const MIGRATIONS: &[&str] = &[
    // 1: tenants, athletes, plans, devices, sessions, frames, samples, cues, modifications.
    r#"
    CREATE TABLE tenants (
        id          INTEGER PRIMARY KEY,
        slug        TEXT NOT NULL UNIQUE,
        name        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE TABLE plans (
        id          INTEGER PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
        name        TEXT NOT NULL,
        format      TEXT NOT NULL,
        plan_json   TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX plans_by_tenant ON plans(tenant_id);
    CREATE TABLE athletes (
        id            INTEGER PRIMARY KEY,
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
        name          TEXT NOT NULL,
        profile_json  TEXT NOT NULL,
        next_plan_id  INTEGER REFERENCES plans(id),
        created_ms    INTEGER NOT NULL,
        UNIQUE (tenant_id, name)
    );
    CREATE TABLE devices (
        id            INTEGER PRIMARY KEY,
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
        device_id     TEXT NOT NULL UNIQUE,
        athlete_id    INTEGER NOT NULL REFERENCES athletes(id),
        key_sealed    BLOB NOT NULL,
        token_sha256  BLOB NOT NULL,
        created_ms    INTEGER NOT NULL,
        revoked_ms    INTEGER
    );
    CREATE INDEX devices_by_tenant ON devices(tenant_id);
    CREATE TABLE sessions (
        id             INTEGER PRIMARY KEY,
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
        device_row     INTEGER NOT NULL REFERENCES devices(id),
        athlete_id     INTEGER NOT NULL REFERENCES athletes(id),
        session_id     TEXT NOT NULL,
        plan_id        INTEGER REFERENCES plans(id),
        status         TEXT NOT NULL CHECK (status IN ('open', 'ended', 'rejected')),
        started_ms     INTEGER NOT NULL,
        last_frame_ms  INTEGER NOT NULL,
        ended_ms       INTEGER,
        acked_seq      INTEGER NOT NULL DEFAULT 0,
        summary_json   TEXT,
        UNIQUE (device_row, session_id)
    );
    CREATE INDEX sessions_by_tenant ON sessions(tenant_id, started_ms);
    CREATE TABLE frames (
        id           INTEGER PRIMARY KEY,
        tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
        device_row   INTEGER NOT NULL REFERENCES devices(id),
        session_row  INTEGER NOT NULL REFERENCES sessions(id),
        seq          INTEGER NOT NULL,
        kind         TEXT NOT NULL,
        sent_ms      INTEGER NOT NULL,
        received_ms  INTEGER NOT NULL,
        send_time    TEXT NOT NULL CHECK (send_time IN ('plausible', 'stale', 'far_future')),
        body         BLOB NOT NULL,
        UNIQUE (device_row, session_row, seq)
    );
    CREATE TABLE samples (
        session_row  INTEGER NOT NULL REFERENCES sessions(id),
        tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
        frame_seq    INTEGER NOT NULL,
        t_ms         INTEGER NOT NULL,
        received_ms  INTEGER NOT NULL,
        kind         TEXT NOT NULL,
        heart_rate   INTEGER,
        power_w      REAL,
        cadence      REAL,
        speed_mps    REAL
    );
    CREATE INDEX samples_by_session ON samples(session_row, t_ms);
    CREATE TABLE cues (
        id                 INTEGER PRIMARY KEY,
        session_row        INTEGER NOT NULL REFERENCES sessions(id),
        tenant_id          INTEGER NOT NULL REFERENCES tenants(id),
        output_seq         INTEGER NOT NULL,
        t_s                REAL NOT NULL,
        severity           TEXT NOT NULL,
        code               TEXT NOT NULL,
        text               TEXT NOT NULL,
        modification_json  TEXT,
        created_ms         INTEGER NOT NULL
    );
    CREATE INDEX cues_by_session ON cues(session_row, output_seq);
    CREATE TABLE modifications (
        id           INTEGER PRIMARY KEY,
        session_row  INTEGER NOT NULL REFERENCES sessions(id),
        tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
        cue_id       INTEGER NOT NULL REFERENCES cues(id),
        kind         TEXT NOT NULL,
        params_json  TEXT NOT NULL,
        created_ms   INTEGER NOT NULL
    );
    CREATE INDEX modifications_by_session ON modifications(session_row);
    "#,
];
