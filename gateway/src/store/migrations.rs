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
    // 2: accounts, tenant membership, invitations, coach links, refresh-token families,
    // the audit log, session commands, sealed server secrets; indexes the API reads by.
    r#"
    CREATE TABLE users (
        id             INTEGER PRIMARY KEY,
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
        email          TEXT NOT NULL UNIQUE,
        name           TEXT NOT NULL,
        password_hash  TEXT NOT NULL,
        role           TEXT NOT NULL CHECK (role IN ('athlete', 'coach', 'gym-admin')),
        athlete_id     INTEGER REFERENCES athletes(id),
        created_ms     INTEGER NOT NULL,
        disabled_ms    INTEGER
    );
    CREATE INDEX users_by_tenant ON users(tenant_id);
    CREATE TABLE invitations (
        id            INTEGER PRIMARY KEY,
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
        code_sha256   BLOB NOT NULL UNIQUE,
        role          TEXT NOT NULL CHECK (role IN ('athlete', 'coach', 'gym-admin')),
        athlete_id    INTEGER REFERENCES athletes(id),
        created_by    INTEGER NOT NULL REFERENCES users(id),
        created_ms    INTEGER NOT NULL,
        expires_ms    INTEGER NOT NULL,
        used_ms       INTEGER,
        used_by       INTEGER REFERENCES users(id)
    );
    CREATE INDEX invitations_by_tenant ON invitations(tenant_id);
    CREATE TABLE coach_athletes (
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
        coach_user_id  INTEGER NOT NULL REFERENCES users(id),
        athlete_id     INTEGER NOT NULL REFERENCES athletes(id),
        created_ms     INTEGER NOT NULL,
        PRIMARY KEY (coach_user_id, athlete_id)
    );
    CREATE INDEX coach_athletes_by_athlete ON coach_athletes(tenant_id, athlete_id);
    CREATE TABLE auth_families (
        id           INTEGER PRIMARY KEY,
        user_id      INTEGER NOT NULL REFERENCES users(id),
        created_ms   INTEGER NOT NULL,
        revoked_ms   INTEGER,
        revoked_why  TEXT
    );
    CREATE INDEX auth_families_by_user ON auth_families(user_id);
    CREATE TABLE refresh_tokens (
        id            INTEGER PRIMARY KEY,
        family_id     INTEGER NOT NULL REFERENCES auth_families(id),
        token_sha256  BLOB NOT NULL UNIQUE,
        issued_ms     INTEGER NOT NULL,
        expires_ms    INTEGER NOT NULL,
        used_ms       INTEGER
    );
    CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);
    CREATE TABLE audit_log (
        id          INTEGER PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
        user_id     INTEGER REFERENCES users(id),
        action      TEXT NOT NULL,
        target      TEXT,
        detail_json TEXT,
        at_ms       INTEGER NOT NULL
    );
    CREATE INDEX audit_by_tenant ON audit_log(tenant_id, id);
    CREATE TABLE session_commands (
        id            INTEGER PRIMARY KEY,
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
        session_row   INTEGER NOT NULL REFERENCES sessions(id),
        user_id       INTEGER REFERENCES users(id),
        command_json  TEXT NOT NULL,
        at_ms         INTEGER NOT NULL
    );
    CREATE INDEX session_commands_by_session ON session_commands(tenant_id, session_row);
    CREATE TABLE server_secrets (
        name        TEXT PRIMARY KEY,
        sealed      BLOB NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_tenant_id ON sessions(tenant_id, id);
    CREATE INDEX sessions_by_athlete ON sessions(tenant_id, athlete_id, id);
    CREATE INDEX devices_by_athlete ON devices(tenant_id, athlete_id);
    "#,
    // 3: the latest device status of a session, found without reading its other frames
    // (a resumed session shows its batteries again at once).
    r#"
    CREATE INDEX frames_device_status ON frames(device_row, session_row, seq)
        WHERE kind = 'device_status';
    "#,
    // 4: invitations a gym-admin has revoked (`DELETE /invitations/{id}`) admit no one.
    r#"
    ALTER TABLE invitations ADD COLUMN revoked_ms INTEGER;
    "#,
    // 5: a temporary password from a gym-admin's reset stops working at this time (NULL:
    // the user chose their password, which does not expire).
    r#"
    ALTER TABLE users ADD COLUMN password_expires_ms INTEGER;
    "#,
    // 6: the bytes of frames each tenant stores, kept by the writer in the transaction
    // that stores them (the tenant-storage quota reads one row, never the frames).
    r#"
    CREATE TABLE tenant_usage (
        tenant_id     INTEGER PRIMARY KEY REFERENCES tenants(id),
        stored_bytes  INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO tenant_usage (tenant_id, stored_bytes)
        SELECT tenant_id, sum(length(body)) FROM frames GROUP BY tenant_id;
    "#,
    // 7: the activity library: activities (the merged view, each field from the best
    // copy, `provenance_json` naming which), their source copies (one row per imported
    // copy, the samples as a FIT file written by paceline-formats), a tenant's source
    // precedence, and which ended live sessions the library job has taken.
    r#"
    CREATE TABLE activities (
        id              INTEGER PRIMARY KEY,
        tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id      INTEGER NOT NULL REFERENCES athletes(id),
        sport           TEXT NOT NULL,
        start_ms        INTEGER NOT NULL,
        local_offset_s  INTEGER,
        duration_s      REAL NOT NULL,
        moving_s        REAL,
        distance_m      REAL,
        ascent_m        REAL,
        hr_avg_bpm      REAL,
        hr_max_bpm      INTEGER,
        power_avg_w     REAL,
        power_max_w     INTEGER,
        np_w            REAL,
        tss             REAL,
        intensity_factor REAL,
        load_method     TEXT,
        energy_kcal     REAL,
        name            TEXT,
        rpe             INTEGER,
        note            TEXT,
        flagged_reason  TEXT,
        provenance_json TEXT NOT NULL,
        created_ms      INTEGER NOT NULL,
        updated_ms      INTEGER NOT NULL
    );
    CREATE INDEX activities_by_athlete_start
        ON activities(tenant_id, athlete_id, start_ms DESC, id DESC);
    CREATE TABLE activity_sources (
        id                    INTEGER PRIMARY KEY,
        activity_id           INTEGER NOT NULL REFERENCES activities(id),
        tenant_id             INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id            INTEGER NOT NULL REFERENCES athletes(id),
        kind                  TEXT NOT NULL,
        format                TEXT,
        external_id           TEXT,
        content_sha256        BLOB,
        sport                 TEXT NOT NULL,
        start_ms              INTEGER NOT NULL,
        local_offset_s        INTEGER,
        duration_s            REAL NOT NULL,
        fields_json           TEXT NOT NULL,
        file_name             TEXT,
        manual_original_json  TEXT,
        samples_fit           BLOB,
        created_ms            INTEGER NOT NULL
    );
    CREATE INDEX activity_sources_by_activity ON activity_sources(activity_id);
    CREATE INDEX activity_sources_by_external_id
        ON activity_sources(tenant_id, athlete_id, kind, external_id)
        WHERE external_id IS NOT NULL;
    CREATE INDEX activity_sources_by_sha256
        ON activity_sources(tenant_id, athlete_id, content_sha256)
        WHERE content_sha256 IS NOT NULL;
    CREATE INDEX activity_sources_by_start
        ON activity_sources(tenant_id, athlete_id, start_ms);
    CREATE TABLE activity_precedence (
        tenant_id    INTEGER PRIMARY KEY REFERENCES tenants(id),
        order_json   TEXT NOT NULL,
        updated_ms   INTEGER NOT NULL
    );
    ALTER TABLE sessions ADD COLUMN library_ms INTEGER;
    CREATE INDEX sessions_for_library ON sessions(id)
        WHERE status = 'ended' AND library_ms IS NULL;
    "#,
    // 8: planning: daily metrics and check-ins (one row per athlete, local day and
    // source), the daily plans generated (with the inputs they came from and their
    // digest), life events, and each athlete's planning settings (goal, availability,
    // equipment, constraints) as JSON.
    r#"
    CREATE TABLE daily_metrics (
        tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id      INTEGER NOT NULL REFERENCES athletes(id),
        date            TEXT NOT NULL,
        source          TEXT NOT NULL CHECK (source IN ('manual', 'garmin')),
        resting_hr_bpm  REAL,
        hrv_ms          REAL,
        sleep_s         REAL,
        sleep_score     REAL,
        stress          REAL,
        energy          INTEGER,
        mood            INTEGER,
        soreness        INTEGER,
        note            TEXT,
        updated_ms      INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX daily_metrics_by_day
        ON daily_metrics(tenant_id, athlete_id, date, source);
    CREATE TABLE daily_plans (
        id             INTEGER PRIMARY KEY,
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id     INTEGER NOT NULL REFERENCES athletes(id),
        date           TEXT NOT NULL,
        plan_json      TEXT NOT NULL,
        why_json       TEXT NOT NULL,
        inputs_json    TEXT NOT NULL,
        inputs_digest  TEXT NOT NULL,
        plan_id        INTEGER REFERENCES plans(id),
        created_ms     INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX daily_plans_by_day ON daily_plans(tenant_id, athlete_id, date);
    CREATE TABLE life_events (
        id                 INTEGER PRIMARY KEY,
        tenant_id          INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id         INTEGER NOT NULL REFERENCES athletes(id),
        kind               TEXT NOT NULL,
        from_date          TEXT NOT NULL,
        to_date            TEXT NOT NULL,
        minutes_available  INTEGER,
        summary            TEXT,
        external_id        TEXT,
        created_ms         INTEGER NOT NULL
    );
    CREATE INDEX life_events_by_athlete ON life_events(tenant_id, athlete_id, from_date);
    CREATE UNIQUE INDEX life_events_by_external_id
        ON life_events(tenant_id, athlete_id, external_id) WHERE external_id IS NOT NULL;
    CREATE TABLE planning_settings (
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id     INTEGER NOT NULL REFERENCES athletes(id),
        settings_json  TEXT NOT NULL,
        updated_ms     INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, athlete_id)
    );
    "#,
    // 9: insights: the day's nutrition, body and work values beside the daily metrics;
    // each athlete's correlation report cached with the digest of the inputs it was
    // computed from; "was this helpful?" feedback on findings; each user's music library
    // (tracks with BPM, from an M3U or CSV).
    r#"
    ALTER TABLE daily_metrics ADD COLUMN energy_kcal REAL;
    ALTER TABLE daily_metrics ADD COLUMN carbohydrate_g REAL;
    ALTER TABLE daily_metrics ADD COLUMN protein_g REAL;
    ALTER TABLE daily_metrics ADD COLUMN caffeine_mg REAL;
    ALTER TABLE daily_metrics ADD COLUMN alcohol_units REAL;
    ALTER TABLE daily_metrics ADD COLUMN body_weight_kg REAL;
    ALTER TABLE daily_metrics ADD COLUMN body_fat_pct REAL;
    ALTER TABLE daily_metrics ADD COLUMN work_hours REAL;
    ALTER TABLE daily_metrics ADD COLUMN work_stress REAL;
    CREATE TABLE insight_reports (
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id     INTEGER NOT NULL REFERENCES athletes(id),
        days           INTEGER NOT NULL,
        inputs_digest  TEXT NOT NULL,
        report_json    TEXT NOT NULL,
        computed_ms    INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, athlete_id, days)
    );
    CREATE TABLE insight_feedback (
        id          INTEGER PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id  INTEGER NOT NULL REFERENCES athletes(id),
        user_id     INTEGER NOT NULL REFERENCES users(id),
        input       TEXT NOT NULL,
        output      TEXT NOT NULL,
        lag_days    INTEGER NOT NULL,
        helpful     INTEGER NOT NULL CHECK (helpful IN (0, 1)),
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX insight_feedback_by_tenant ON insight_feedback(tenant_id, id DESC);
    CREATE TABLE music_libraries (
        tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
        user_id      INTEGER NOT NULL REFERENCES users(id),
        format       TEXT NOT NULL,
        tracks_json  TEXT NOT NULL,
        updated_ms   INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, user_id)
    );
    "#,
    // 10: the coach chat.
    // Conversations per athlete (with what the last reply waits for: a destructive tool
    // to confirm, terms read back, a proposed term), their messages, and each user's
    // learned terms (one row per meaning, confidence in tenths).
    r#"
    CREATE TABLE chat_conversations (
        id            INTEGER PRIMARY KEY,
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id    INTEGER NOT NULL REFERENCES athletes(id),
        user_id       INTEGER NOT NULL REFERENCES users(id),
        pending_json  TEXT NOT NULL,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL
    );
    CREATE INDEX chat_conversations_by_user ON chat_conversations(tenant_id, user_id, id);
    CREATE TABLE chat_messages (
        id               INTEGER PRIMARY KEY,
        tenant_id        INTEGER NOT NULL REFERENCES tenants(id),
        conversation_id  INTEGER NOT NULL REFERENCES chat_conversations(id),
        athlete_id       INTEGER NOT NULL REFERENCES athletes(id),
        user_id          INTEGER NOT NULL REFERENCES users(id),
        role             TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        text             TEXT NOT NULL,
        intent           TEXT,
        details_json     TEXT,
        created_ms       INTEGER NOT NULL
    );
    CREATE INDEX chat_messages_by_conversation ON chat_messages(tenant_id, conversation_id, id);
    CREATE INDEX chat_messages_by_user ON chat_messages(tenant_id, user_id, created_ms);
    CREATE TABLE chat_terms (
        tenant_id          INTEGER NOT NULL REFERENCES tenants(id),
        user_id            INTEGER NOT NULL REFERENCES users(id),
        seq                INTEGER NOT NULL,
        phrase             TEXT NOT NULL,
        meaning_json       TEXT NOT NULL,
        confidence_tenths  INTEGER NOT NULL CHECK (confidence_tenths BETWEEN 0 AND 10),
        created_ms         INTEGER NOT NULL,
        last_used_ms       INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, user_id, seq)
    );
    "#,
    // 11: provider sync: the durable job runner's jobs (a payload of paceline-sync's `Job`,
    // its dedup key, state, run-at, attempts, last error), each athlete's provider
    // connections (tokens sealed with the server key), and the pending OAuth states (by
    // their SHA-256, single use, 10 minutes).
    r#"
    CREATE TABLE sync_jobs (
        id          INTEGER PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
        provider    TEXT NOT NULL,
        kind        TEXT NOT NULL,
        payload     TEXT NOT NULL,
        dedup_key   TEXT NOT NULL,
        state       TEXT NOT NULL
                    CHECK (state IN ('queued', 'running', 'done', 'retry', 'dead')),
        run_at_s    INTEGER NOT NULL,
        attempts    INTEGER NOT NULL,
        last_error  TEXT,
        created_ms  INTEGER NOT NULL,
        updated_ms  INTEGER NOT NULL
    );
    CREATE INDEX sync_jobs_due ON sync_jobs(state, provider, run_at_s);
    CREATE INDEX sync_jobs_by_key ON sync_jobs(tenant_id, dedup_key, state);
    CREATE INDEX sync_jobs_by_tenant ON sync_jobs(tenant_id, state, id);
    CREATE TABLE provider_connections (
        id                INTEGER PRIMARY KEY,
        tenant_id         INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id        INTEGER NOT NULL REFERENCES athletes(id),
        user_id           INTEGER NOT NULL REFERENCES users(id),
        provider          TEXT NOT NULL,
        provider_user_id  TEXT,
        status            TEXT NOT NULL
                          CHECK (status IN ('connected', 'needs_reauth', 'revoked')),
        tokens_sealed     BLOB,
        expires_at_s      INTEGER,
        newest_start_s    INTEGER,
        last_sync_ms      INTEGER,
        last_error        TEXT,
        created_ms        INTEGER NOT NULL,
        updated_ms        INTEGER NOT NULL,
        UNIQUE (tenant_id, athlete_id, provider)
    );
    CREATE INDEX provider_connections_by_owner
        ON provider_connections(provider, provider_user_id);
    CREATE TABLE oauth_states (
        state_sha256  BLOB PRIMARY KEY,
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
        user_id       INTEGER NOT NULL REFERENCES users(id),
        athlete_id    INTEGER NOT NULL REFERENCES athletes(id),
        provider      TEXT NOT NULL,
        created_s     INTEGER NOT NULL
    );
    "#,
    // 12: the weekly digest: one row per (user, week) sent or being sent, claimed before
    // the mail goes out so no restart sends a week twice; the users who unsubscribed.
    r#"
    CREATE TABLE digest_sends (
        tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
        user_id      INTEGER NOT NULL REFERENCES users(id),
        athlete_id   INTEGER NOT NULL REFERENCES athletes(id),
        week_start   TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('claimed', 'sent', 'failed')),
        attempts     INTEGER NOT NULL,
        retry_at_ms  INTEGER NOT NULL,
        last_error   TEXT,
        updated_ms   INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, user_id, week_start)
    );
    CREATE TABLE digest_optouts (
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
        user_id     INTEGER NOT NULL REFERENCES users(id),
        created_ms  INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, user_id)
    );
    "#,
    // 13: (issue 25) privacy: where an audited request came from (the client's address);
    // the audit searched by action and append-only (what was done, by which tenant and
    // when never changes; a deletion only clears the personal columns, retention only
    // removes whole old entries); data exports (a job per request: its state, the zip
    // in the data folder, the download link's digest, single use, expiring); each
    // tenant's retention of raw samples.
    r#"
    ALTER TABLE audit_log ADD COLUMN ip TEXT;
    CREATE INDEX audit_by_tenant_action ON audit_log(tenant_id, action, id);
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OF id, tenant_id, action, at_ms ON audit_log
    BEGIN
        SELECT RAISE(ABORT, 'the audit log is append-only');
    END;
    CREATE TABLE privacy_exports (
        id             INTEGER PRIMARY KEY,
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
        user_id        INTEGER NOT NULL REFERENCES users(id),
        scope          TEXT NOT NULL CHECK (scope IN ('user', 'tenant')),
        state          TEXT NOT NULL
                       CHECK (state IN ('queued', 'running', 'ready', 'failed', 'downloaded', 'expired')),
        file_name      TEXT,
        bytes          INTEGER,
        token_sha256   BLOB,
        expires_ms     INTEGER,
        downloaded_ms  INTEGER,
        error          TEXT,
        created_ms     INTEGER NOT NULL,
        updated_ms     INTEGER NOT NULL
    );
    CREATE INDEX privacy_exports_by_user ON privacy_exports(tenant_id, user_id, id);
    CREATE UNIQUE INDEX privacy_exports_by_token ON privacy_exports(token_sha256)
        WHERE token_sha256 IS NOT NULL;
    CREATE TABLE tenant_privacy_settings (
        tenant_id         INTEGER PRIMARY KEY REFERENCES tenants(id),
        raw_samples_days  INTEGER NOT NULL,
        updated_ms        INTEGER NOT NULL
    );
    "#,
    // 14: the coach chat by SMS: each user's phone (one per user; a number linked to one user
    // at a time, once its code is confirmed; the code kept as a SHA-256 digest for ten
    // minutes, five tries), STOP honoured per number, the SMS conversation continued; and
    // the message ids seen (repeats from Twilio are ignored).
    r#"
    CREATE TABLE sms_phones (
        tenant_id        INTEGER NOT NULL REFERENCES tenants(id),
        user_id          INTEGER NOT NULL REFERENCES users(id),
        athlete_id       INTEGER NOT NULL REFERENCES athletes(id),
        phone            TEXT NOT NULL,
        code_sha256      BLOB,
        code_expires_ms  INTEGER,
        code_attempts    INTEGER NOT NULL DEFAULT 0,
        verified_ms      INTEGER,
        opted_out        INTEGER NOT NULL DEFAULT 0,
        conversation_id  INTEGER REFERENCES chat_conversations(id),
        created_ms       INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, user_id)
    );
    CREATE UNIQUE INDEX sms_phones_linked ON sms_phones(phone) WHERE verified_ms IS NOT NULL;
    CREATE TABLE sms_inbound (
        message_sid  TEXT PRIMARY KEY,
        received_ms  INTEGER NOT NULL
    );
    "#,
    // 15: provider sync (issue 22): a Garmin connect's PKCE verifier, sealed with the server
    // key, kept with its state for the callback.
    r#"
    ALTER TABLE oauth_states ADD COLUMN pkce_verifier_sealed BLOB;
    "#,
    // 16: read-only impersonation ("view as", issue 25): who views whom, through which of
    // their logins, until when, and how it ended.
    r#"
    CREATE TABLE impersonations (
        id             INTEGER PRIMARY KEY,
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
        admin_user_id  INTEGER NOT NULL REFERENCES users(id),
        family_id      INTEGER NOT NULL REFERENCES auth_families(id),
        user_id        INTEGER NOT NULL REFERENCES users(id),
        started_ms     INTEGER NOT NULL,
        expires_ms     INTEGER NOT NULL,
        ended_ms       INTEGER,
        end_reason     TEXT
    );
    CREATE INDEX impersonations_open ON impersonations(tenant_id, ended_ms, expires_ms);
    "#,
    // 17: what an athlete shares with linked coaches (issue 25): per coach, or for all
    // coaches when coach_user_id is NULL; no row means everything is shared.
    r#"
    CREATE TABLE coach_sharing (
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id     INTEGER NOT NULL REFERENCES athletes(id),
        coach_user_id  INTEGER REFERENCES users(id),
        live           INTEGER NOT NULL,
        history        INTEGER NOT NULL,
        health         INTEGER NOT NULL,
        updated_ms     INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX coach_sharing_once
        ON coach_sharing(tenant_id, athlete_id, IFNULL(coach_user_id, 0));
    "#,
    // 18: provider sync (issue 22): each provider app's rate-limit pause (the quota is per
    // application, not per athlete), so a restarted gateway keeps it; Garmin's user
    // metrics (VO2max, fitness age) beside the other daily metrics.
    r#"
    CREATE TABLE sync_quotas (
        provider        TEXT PRIMARY KEY,
        limits_json     TEXT NOT NULL,
        seen_s          INTEGER NOT NULL,
        paused_until_s  INTEGER,
        updated_ms      INTEGER NOT NULL
    );
    ALTER TABLE daily_metrics ADD COLUMN vo2max_ml_kg_min REAL;
    ALTER TABLE daily_metrics ADD COLUMN fitness_age_years REAL;
    "#,
    // 19: SMS limits per number (issue 24): messages in per hour and out per day, counted
    // under the number's SHA-256 digest (no number kept), with whether the one notice
    // went out; kept two days.
    r#"
    CREATE TABLE sms_number_counts (
        number_sha256    BLOB NOT NULL,
        direction        TEXT NOT NULL,
        window_start_ms  INTEGER NOT NULL,
        count            INTEGER NOT NULL,
        PRIMARY KEY (number_sha256, direction, window_start_ms)
    );
    "#,
    // 20: preferences with confidence (issue 24): stated in the chat or observed from skipped
    // sessions, confirmed or corrected by the athlete; the planner reads the observed
    // ones not corrected.
    r#"
    CREATE TABLE athlete_preferences (
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
        athlete_id  INTEGER NOT NULL REFERENCES athletes(id),
        preference  TEXT NOT NULL,
        source      TEXT NOT NULL,
        confidence  REAL NOT NULL,
        status      TEXT NOT NULL,
        updated_ms  INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, athlete_id, preference)
    );
    "#,
    // 21: a tenant's open sessions through a partial index (issue 20): the live board and
    // the console find them without reading every session the tenant ever had. A
    // session's row updates while it streams leave the index alone (its keys never
    // change until the session ends).
    r#"
    CREATE INDEX sessions_open ON sessions (tenant_id) WHERE status = 'open';
    "#,
    // 22: the writer's inbox (issue 20): a live session's frames and samples are appended
    // here in arrival order, with no per-session index to update, and moved into `frames`
    // and `samples` sorted by session in one statement every second or so, so that a
    // session's index leaf is written once per move instead of once per frame. The foreign
    // keys are those of `frames` and `samples` (a deletion follows them).
    r#"
    CREATE TABLE frames_inbox (
        tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
        device_row   INTEGER NOT NULL REFERENCES devices(id),
        session_row  INTEGER NOT NULL REFERENCES sessions(id),
        seq          INTEGER NOT NULL,
        kind         TEXT NOT NULL,
        sent_ms      INTEGER NOT NULL,
        received_ms  INTEGER NOT NULL,
        send_time    TEXT NOT NULL,
        body         BLOB NOT NULL
    );
    CREATE TABLE samples_inbox (
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
    -- Everything stored, moved or not (an operator's count, the tests' checks).
    CREATE VIEW stored_frames AS
        SELECT tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms,
               send_time, body FROM frames
        UNION ALL
        SELECT tenant_id, device_row, session_row, seq, kind, sent_ms, received_ms,
               send_time, body FROM frames_inbox;
    CREATE VIEW stored_samples AS
        SELECT session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate,
               power_w, cadence, speed_mps FROM samples
        UNION ALL
        SELECT session_row, tenant_id, frame_seq, t_ms, received_ms, kind, heart_rate,
               power_w, cadence, speed_mps FROM samples_inbox;
    "#,
];
