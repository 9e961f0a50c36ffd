//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    activities, admin, athletes, auth, charts, chat, console, devices, digest, impersonation,
    insights, live_ws, passwords, planning, plans, preferences, privacy, sessions, sharing, sms,
    sync, webhooks,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Paceline API",
        description = "Accounts, athletes, devices, plans, sessions, the activity library, planning and live streams of a Paceline gateway. \
            Errors are JSON {\"error\":{\"code\",\"message\"}}.",
    ),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::me,
        admin::tenant, admin::tenant_usage, admin::create_invitation, admin::list_invitations,
        admin::revoke_invitation, admin::list_users,
        admin::update_user, admin::audit_log,
        passwords::change_password, passwords::reset_password,
        athletes::list_athletes, athletes::create_athlete, athletes::get_athlete,
        athletes::put_profile, athletes::assign_next_plan, athletes::link_coach,
        athletes::unlink_coach,
        devices::pair_device, devices::list_athlete_devices, devices::list_devices,
        devices::revoke_device,
        plans::upload_plan, plans::list_plans, plans::get_plan,
        sessions::list_sessions, sessions::get_session, sessions::session_samples,
        sessions::session_cues, sessions::session_summary, sessions::send_command,
        sessions::export_csv, sessions::export_fit,
        charts::session_chart, charts::plan_chart,
        live_ws::live_session, live_ws::live_board,
        activities::import_activities, activities::list_activities, activities::create_manual,
        activities::get_activity, activities::unmerge_activity, activities::delete_activity,
        activities::export_fit, activities::export_tcx, activities::export_gpx,
        activities::export_csv, activities::activity_samples, activities::get_precedence,
        activities::put_precedence,
        planning::put_daily, planning::list_daily, planning::get_load, planning::fitness_chart, planning::get_recovery,
        planning::get_settings, planning::put_settings, planning::plan_today,
        planning::start_plan_today, planning::list_plans, planning::create_life_events, planning::import_calendar_url,
        planning::list_life_events, planning::delete_life_event,
        chat::post_chat, chat::list_conversations, chat::get_conversation, chat::get_terms,
        sms::get_phone, sms::put_phone, sms::delete_phone, sms::confirm_phone, chat::put_term, chat::delete_term,
        insights::import_daily_csv, insights::activity_efficiency, insights::efficiency_trend,
        insights::efficiency_chart, insights::get_correlations, insights::correlation_scatter,
        insights::post_feedback, insights::list_feedback, insights::put_music,
        insights::plan_playlist, digest::unsubscribe_page, digest::unsubscribe,
        sync::connect, sync::callback, sync::list_connections, sync::sync_now, sync::disconnect,
        sync::list_jobs, sync::retry_job,
        privacy::delete_me, privacy::delete_user, privacy::export_me, privacy::export_tenant,
        privacy::get_export, privacy::download_export, privacy::get_privacy,
        privacy::put_privacy, privacy::search_audit,
        impersonation::start, impersonation::end_current, auth::me_here,
        sharing::get_sharing, sharing::put_sharing,
        console::health, console::data_quality,
        webhooks::strava_challenge, webhooks::strava_event, webhooks::garmin_notification,
        preferences::get_preferences, preferences::put_preference,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Register, log in, refresh, log out"),
        (name = "tenant", description = "The gym or team: users, invitations, audit log"),
        (name = "athletes", description = "Athletes, profiles, coaches, next plans"),
        (name = "devices", description = "Pairing and revoking edge agents"),
        (name = "plans", description = "Workout plans"),
        (name = "sessions", description = "Recorded and live sessions, exports, commands"),
        (name = "live", description = "Live WebSockets"),
        (name = "activities", description = "The activity library: imports, manual entries, merges, exports"),
        (name = "planning", description = "Daily metrics and check-ins, training load, recovery, planning settings, daily plans, life events"),
        (name = "chat", description = "The coach chat: messages that act on the athlete's own data, and the user's learned terms"),
        (name = "insights", description = "The day's nutrition, body and work values from CSV, efficiency per activity and its trend, what works (correlations), feedback, playlists"),
        (name = "privacy", description = "Your data: export it, delete your account; a gym's export, retention and audit search"),
        (name = "sync", description = "Provider connections (Strava over OAuth), sync now, and the sync job runner's dead letters"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
