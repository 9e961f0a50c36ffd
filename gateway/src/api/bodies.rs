//! Every request body the API accepts, decoded and checked exactly as its handler does
//! before it reads the caller or the database: the JSON extractor ([`ApiJson`], by way of
//! `axum::Json::from_bytes`, so the same deserialiser and the same rejections) and then
//! each handler's own checks of the fields. [`check_body`] is the entry point of the
//! gateway's fuzz target (`gateway/fuzz`, `api_bodies`) and of a 20,000-input mutation test
//! here that runs with every `cargo test`: for any bytes it returns a value or an
//! [`ApiError`], never panics.
//!
//! [`ApiJson`]: super::ApiJson

use paceline_formats::plan_import::{PlanFormat, import_plan};
use serde::de::DeserializeOwned;

use super::admin::{InvitationRequest, UserUpdate, invitation_lifetime_s};
use super::athletes::{CreateAthlete, NextPlan, parse_profile};
use super::auth::{LoginRequest, RefreshRequest, RegisterRequest, check_name, check_registration};
use super::chat::{ChatBody, TermBody};
use super::insights::{FeedbackBody, LibraryFormat, daily_csv_days, library_tracks};
use super::passwords::PasswordChange;
use super::planning::{
    CalendarUrlBody, DailyBody, LifeEventBody, PlanningSettings, calendar_records, life_record,
};
use super::privacy::{DeleteAccount, PrivacySettings};
use super::sessions::parse_command;
use super::sms::{CodeBody, PhoneBody};
use super::sync::ConnectBody;
use super::{ApiError, MAX_BODY_BYTES, json_rejection};
use crate::accounts::password::policy_violation;
use crate::accounts::tokens::digest;

/// A route that takes a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// `POST /auth/register`.
    Register,
    /// `POST /auth/login`.
    Login,
    /// `POST /auth/refresh`.
    Refresh,
    /// `POST /invitations`.
    Invitation,
    /// `PATCH /users/{id}`.
    UserUpdate,
    /// `POST /athletes`.
    CreateAthlete,
    /// `PUT /athletes/{id}/profile`.
    Profile,
    /// `PUT /athletes/{id}/next-plan`.
    NextPlan,
    /// `POST /sessions/{id}/commands`.
    Command,
    /// `POST /plans` (a plan file, not JSON: `.zwo`, FIT workout or plan JSON).
    PlanUpload,
    /// `POST /me/password`.
    PasswordChange,
    /// `PUT /athletes/{id}/daily/{date}`.
    Daily,
    /// `PUT /athletes/{id}/planning-settings`.
    PlanningSettings,
    /// `POST /athletes/{id}/life-events` (JSON).
    LifeEvent,
    /// `POST /athletes/{id}/life-events` (an iCalendar file, `text/calendar`).
    LifeEventCalendar,
    /// `POST /athletes/{id}/life-events/calendar` (a calendar's URL).
    CalendarUrl,
    /// `POST /chat`.
    Chat,
    /// `PUT /me/terms`.
    Term,
    /// `POST /athletes/{id}/daily.csv` (a CSV of the day's extra values).
    DailyCsv,
    /// `POST /athletes/{id}/insights/feedback`.
    InsightFeedback,
    /// `PUT /me/music` (an M3U or CSV music library, told apart by its first line here).
    MusicLibrary,
    /// `POST /connections/{provider}` and `POST /connections/{provider}/sync`.
    Connect,
    /// `DELETE /me` (the password, re-entered).
    DeleteAccount,
    /// `PUT /admin/privacy`.
    PrivacySettings,
    /// `PUT /me/phone`.
    Phone,
    /// `POST /me/phone/confirm`.
    PhoneCode,
    /// `POST /webhooks/sms` (Twilio's form; its signature is checked over the same pairs).
    SmsWebhook,
}

impl RequestBody {
    /// Every route with a body.
    pub const ALL: [RequestBody; 27] = [
        RequestBody::Register,
        RequestBody::Login,
        RequestBody::Refresh,
        RequestBody::Invitation,
        RequestBody::UserUpdate,
        RequestBody::CreateAthlete,
        RequestBody::Profile,
        RequestBody::NextPlan,
        RequestBody::Command,
        RequestBody::PlanUpload,
        RequestBody::PasswordChange,
        RequestBody::Daily,
        RequestBody::PlanningSettings,
        RequestBody::LifeEvent,
        RequestBody::LifeEventCalendar,
        RequestBody::CalendarUrl,
        RequestBody::Chat,
        RequestBody::Term,
        RequestBody::DailyCsv,
        RequestBody::InsightFeedback,
        RequestBody::MusicLibrary,
        RequestBody::Connect,
        RequestBody::DeleteAccount,
        RequestBody::PrivacySettings,
        RequestBody::Phone,
        RequestBody::PhoneCode,
        RequestBody::SmsWebhook,
    ];
}

/// Decodes `bytes` as `route`'s body and runs the handler's checks on it. A body over
/// [`MAX_BODY_BYTES`] is refused, as the server's body limit does.
pub fn check_body(route: RequestBody, bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        ));
    }
    match route {
        RequestBody::Register => {
            check_registration(&json::<RegisterRequest>(bytes)?)?;
        }
        RequestBody::Login => {
            let body = json::<LoginRequest>(bytes)?;
            let _email = body.email.trim().to_lowercase();
        }
        RequestBody::Refresh => {
            let _digest = digest(&json::<RefreshRequest>(bytes)?.refresh_token);
        }
        RequestBody::Invitation => {
            invitation_lifetime_s(&json::<InvitationRequest>(bytes)?)?;
        }
        RequestBody::UserUpdate => {
            json::<UserUpdate>(bytes)?;
        }
        RequestBody::CreateAthlete => {
            let body = json::<CreateAthlete>(bytes)?;
            check_name(&body.name, "name")?;
            if let Some(profile) = &body.profile {
                parse_profile(profile)?;
            }
        }
        RequestBody::Profile => {
            parse_profile(&json::<serde_json::Value>(bytes)?)?;
        }
        RequestBody::NextPlan => {
            json::<NextPlan>(bytes)?;
        }
        RequestBody::Command => {
            parse_command(&json::<serde_json::Value>(bytes)?)?;
        }
        RequestBody::PasswordChange => {
            let body = json::<PasswordChange>(bytes)?;
            if let Some(why) = policy_violation(&body.new_password) {
                return Err(ApiError::bad_request("weak_password", why));
            }
        }
        RequestBody::Daily => {
            json::<DailyBody>(bytes)?.patch()?;
        }
        RequestBody::PlanningSettings => {
            json::<PlanningSettings>(bytes)?.check()?;
        }
        RequestBody::LifeEvent => {
            life_record(json::<LifeEventBody>(bytes)?)?;
        }
        RequestBody::LifeEventCalendar => {
            calendar_records(bytes)?;
        }
        RequestBody::CalendarUrl => {
            // The URL's checks need the network's answer (its addresses); the handler's
            // first is that it parses, which the fetch does.
            json::<CalendarUrlBody>(bytes)?;
        }
        RequestBody::Chat => {
            json::<ChatBody>(bytes)?.check()?;
        }
        RequestBody::Term => {
            json::<TermBody>(bytes)?.check()?;
        }
        RequestBody::Connect => {
            json::<ConnectBody>(bytes)?;
        }
        RequestBody::DeleteAccount => {
            json::<DeleteAccount>(bytes)?;
        }
        RequestBody::PrivacySettings => {
            json::<PrivacySettings>(bytes)?.check()?;
        }
        RequestBody::Phone => {
            let phone = json::<PhoneBody>(bytes)?.phone;
            crate::chat::sms::e164(&phone).ok_or_else(|| {
                ApiError::bad_request("invalid_field", "phone: not an E.164 number")
            })?;
        }
        RequestBody::PhoneCode => {
            let code = json::<CodeBody>(bytes)?.code;
            let _digest = crate::chat::sms::code_digest(1, "+15550104477", &code);
        }
        RequestBody::SmsWebhook => {
            let params = paceline_chat::sms::parse_form(bytes)
                .map_err(|e| ApiError::bad_request("invalid_form", e.to_string()))?;
            let _ = paceline_chat::sms::verify_signature(
                "https://paceline.example/webhooks/sms",
                &params,
                "token",
                "",
            );
            paceline_chat::sms::Inbound::from_params(&params)
                .map_err(|e| ApiError::bad_request("invalid_form", e.to_string()))?;
        }
        RequestBody::DailyCsv => {
            daily_csv_days(bytes)?;
        }
        RequestBody::InsightFeedback => {
            json::<FeedbackBody>(bytes)?.check()?;
        }
        RequestBody::MusicLibrary => {
            library_tracks(LibraryFormat::of(None, bytes), bytes)?;
        }
        RequestBody::PlanUpload => {
            for file_name in ["upload", "plan.zwo", "plan.fit", "plan.json"] {
                if PlanFormat::detect(file_name, bytes).is_some() {
                    // An unreadable plan is answered 422 by the handler.
                    let _ = import_plan(file_name, bytes);
                }
            }
        }
    }
    Ok(())
}

/// The JSON extractor's decoding of a body (its content type already accepted).
fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    axum::Json::<T>::from_bytes(bytes)
        .map(|axum::Json(value)| value)
        .map_err(|rejection| json_rejection(&rejection))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_bodies_pass_and_broken_ones_are_refused() {
        let good = [
            (
                RequestBody::Register,
                r#"{"email":"a@b.example","password":"correct horse battery","name":"Ana","tenant":"Gym"}"#,
            ),
            (
                RequestBody::Login,
                r#"{"email":"a@b.example","password":"x"}"#,
            ),
            (RequestBody::Refresh, r#"{"refresh_token":"plr_x"}"#),
            (RequestBody::Invitation, r#"{"role":"athlete"}"#),
            (RequestBody::UserUpdate, r#"{"disabled":true}"#),
            (
                RequestBody::CreateAthlete,
                r#"{"name":"Bo","profile":{"name":"Bo","hr_max":190}}"#,
            ),
            (RequestBody::Profile, r#"{"name":"Bo","hr_max":190}"#),
            (RequestBody::NextPlan, r#"{"plan_id":3}"#),
            (RequestBody::Command, r#"{"kind":"time_left","minutes":35}"#),
            (
                RequestBody::PasswordChange,
                r#"{"current_password":"x","new_password":"correct horse battery"}"#,
            ),
            (
                RequestBody::Daily,
                r#"{"hrv_ms":55,"resting_hr_bpm":50,"energy":4,"note":null,"caffeine_mg":150,"body_weight_kg":null}"#,
            ),
            (
                RequestBody::PlanningSettings,
                r#"{"goal":{"kind":"event","event":"Race","date":"2027-05-01"},"equipment":["trainer"]}"#,
            ),
            (
                RequestBody::LifeEvent,
                r#"{"kind":"travel","from":"2026-12-10","to":"2026-12-12","minutes_available":35}"#,
            ),
            (
                RequestBody::CalendarUrl,
                r#"{"url":"https://calendar.example/private-0a1b/basic.ics"}"#,
            ),
            (
                RequestBody::LifeEventCalendar,
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:20261210\r\nSUMMARY:Trip\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            ),
            (
                RequestBody::Chat,
                r#"{"message":"only 35 minutes today","conversation_id":3,"athlete_id":7}"#,
            ),
            (
                RequestBody::Term,
                r#"{"term":"dhamaka","meaning":{"kind":"workout","sport":"dance"},"confidence":0.8}"#,
            ),
            (RequestBody::Connect, r#"{"athlete_id":7}"#),
            (
                RequestBody::DeleteAccount,
                r#"{"password":"correct horse"}"#,
            ),
            (RequestBody::PrivacySettings, r#"{"raw_samples_days":365}"#),
            (
                RequestBody::DailyCsv,
                "date,energy_kcal,caffeine_mg,work_hours\n2026-12-01,2400,150,8\n2026-12-02,,200,\n",
            ),
            (
                RequestBody::InsightFeedback,
                r#"{"input":"sleep_s","output":"check_in_energy","lag_days":1,"helpful":true}"#,
            ),
            (
                RequestBody::MusicLibrary,
                "#EXTM3U\n#EXTINF:215,Artist - Song\n#EXTBPM:128\nmusic/song.mp3\n",
            ),
            (RequestBody::Phone, r#"{"phone":"+1 555-010-4477"}"#),
            (RequestBody::PhoneCode, r#"{"code":"123456"}"#),
            (
                RequestBody::SmsWebhook,
                "From=%2B15550104477&To=%2B15550009999&Body=only+35+minutes+today&MessageSid=SM1",
            ),
        ];
        for (route, body) in good {
            assert_eq!(
                check_body(route, body.as_bytes()).map_err(|e| e.code),
                Ok(()),
                "{route:?}"
            );
        }
        for route in RequestBody::ALL {
            if matches!(
                route,
                RequestBody::PlanUpload
                    | RequestBody::LifeEventCalendar
                    | RequestBody::DailyCsv
                    | RequestBody::MusicLibrary
                    | RequestBody::SmsWebhook
            ) {
                continue;
            }
            let refused = check_body(route, b"{\"email\":").expect_err("a truncated body");
            assert_eq!(refused.code, "invalid_body", "{route:?}");
        }
        let weak = r#"{"email":"a@b.example","password":"short","name":"Ana","tenant":"Gym"}"#;
        assert_eq!(
            check_body(RequestBody::Register, weak.as_bytes()).map_err(|e| e.code),
            Err("weak_password")
        );
        let long = format!(r#"{{"message":"{}"}}"#, "a".repeat(4_001));
        let refused = check_body(RequestBody::Chat, long.as_bytes()).unwrap_err();
        assert!(
            refused.message.starts_with("message: "),
            "{}",
            refused.message
        );
        let refused = check_body(RequestBody::Daily, br#"{"body_fat_pct":90}"#).unwrap_err();
        assert!(
            refused.message.starts_with("body_fat_pct: "),
            "{}",
            refused.message
        );
        let refused =
            check_body(RequestBody::Term, br#"{"term":"","meaning":"dance"}"#).unwrap_err();
        assert!(refused.message.starts_with("term: "), "{}", refused.message);
        let refused =
            check_body(RequestBody::DailyCsv, b"date,coffee\n2026-12-01,1\n").unwrap_err();
        assert_eq!(refused.code, "invalid_csv");
        assert!(
            refused.message.starts_with("line 1: "),
            "{}",
            refused.message
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            check_body(RequestBody::Login, &big).map_err(|e| e.code),
            Err("body_too_large")
        );
    }

    /// Real bodies (the e2e tests' and `.ci/fuzz`'s seeds) and hostile shapes.
    const SEEDS: [&str; 21] = [
        r#"{"email":"admin@riverside.example","password":"correct horse battery","name":"Gym Admin","tenant":"Riverside"}"#,
        r#"{"email":"ana@riverside.example","password":"correct horse battery","name":"Ana","invitation":"pli_0123"}"#,
        r#"{"refresh_token":"plr_0123456789abcdef"}"#,
        r#"{"role":"athlete","athlete_id":3,"expires_in_s":86400}"#,
        r#"{"role":"gym-admin","disabled":false}"#,
        r#"{"name":"Ana","profile":{"name":"Ana","age":38,"sex":"female","weight_kg":64.0,"hr_max":186,"hr_rest":52,"lthr":168,"hr_cap":176,"ftp":240,"cp":250,"w_prime_j":18000,"rpe_only":false}}"#,
        r#"{"plan_id":7}"#,
        r#"{"kind":"override_target","target":{"kind":"power_w","low_w":300,"high_w":320},"duration_s":60}"#,
        r#"{"kind":"time_left","minutes":35}"#,
        r#"{"name":"Bad","profile":{"hr_max":"high","hr_rest":1e400,"age":-1}}"#,
        r#"{"expires_in_s":18446744073709551615,"role":"athlete","athlete_id":-9223372036854775808}"#,
        "<workout_file><workout><SteadyState Duration=\"60\" Power=\"0.5\"/></workout></workout_file>",
        r#"{"hrv_ms":55,"resting_hr_bpm":300,"sleep_s":28800,"sleep_score":85,"stress":30,"energy":4,"mood":5,"soreness":2,"note":"ok"}"#,
        r#"{"goal":{"kind":"event","event":"Berlin","date":"2027-09-26"},"availability_min":{"mon":45,"tue":60,"wed":0,"thu":60,"fri":30,"sat":120,"sun":90},"equipment":["hr_strap"],"constraints":{"injuries":["knee"],"avoid_sports":["swimming"]},"sport":"run"}"#,
        r#"{"kind":"busy","from":"2026-12-10","to":"2026-12-09","minutes_available":35,"summary":"Only 35 minutes"}"#,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@t\r\nDTSTART;VALUE=DATE:20261210\r\nDTEND:20261212T090000Z\r\nSUMMARY:Flight\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        r#"{"message":"ran 10 miles this morning in 1:20","conversation_id":1,"athlete_id":2}"#,
        r#"{"term":"the hill loop","meaning":"a run workout","confidence":1e400}"#,
        "date,energy_kcal,carbohydrate_g,protein_g,caffeine_mg,alcohol_units,body_weight_kg,body_fat_pct,work_hours,work_stress\n2026-12-01,2400,300,120,150,0,64.5,18,8,4\n2026-12-02,\"2,5\",,,,,,,,\n",
        r#"{"input":"work_stress","output":"decoupling_pct","lag_days":9,"helpful":false}"#,
        "#EXTM3U\n#EXTINF:215,Artist - Song\n#EXTBPM:128\nmusic/song.mp3\n#EXTINF:-1,x\npath,title\n",
    ];

    /// The cheap, always-on half of the `api_bodies` fuzz target (which is opt-in in
    /// `.ci/fuzz`, its build being long): 20,000 inputs mutated from [`SEEDS`] by a fixed
    /// generator — bytes flipped, inserted, cut, spliced, nested deep — through every
    /// route's decoder and checks. Failing means a panic, whose input the message names.
    #[test]
    fn twenty_thousand_mutated_bodies_never_panic() {
        let mut state = 0x5eed_u64;
        let mut next = move |bound: usize| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            usize::try_from((z ^ (z >> 31)) % bound.max(1) as u64).unwrap_or(0)
        };
        let alphabet = b"{}[]\":,.-+0123456789eE \\u00nulltruefalse\xff\x00\xc3";
        for _ in 0..20_000 {
            let mut body = SEEDS[next(SEEDS.len())].as_bytes().to_vec();
            for _ in 0..=next(4) {
                let at = next(body.len() + 1);
                match next(6) {
                    0 if at < body.len() => body[at] = alphabet[next(alphabet.len())],
                    1 => body.insert(at, alphabet[next(alphabet.len())]),
                    2 => body.truncate(at),
                    3 => {
                        let other = SEEDS[next(SEEDS.len())].as_bytes();
                        let from = next(other.len());
                        body.splice(at..at, other[from..].iter().copied());
                    }
                    4 => {
                        let depth = next(5_000);
                        let mut deep = vec![b'['; depth];
                        deep.extend(std::iter::repeat_n(b']', depth));
                        body.splice(at..at, deep);
                    }
                    _ => body.truncate(body.len().min(MAX_BODY_BYTES)),
                }
            }
            for route in RequestBody::ALL {
                let outcome = std::panic::catch_unwind(|| check_body(route, &body));
                assert!(
                    outcome.is_ok(),
                    "{route:?} panicked on {:?}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }
}
