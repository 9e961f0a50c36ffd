//! Every request body the API accepts, decoded and checked exactly as its handler does
//! before it reads the caller or the database: the JSON extractor ([`ApiJson`], by way of
//! `axum::Json::from_bytes`, so the same deserialiser and the same rejections) and then
//! each handler's own checks of the fields. [`check_body`] is the entry point of the
//! gateway's fuzz target (`gateway/fuzz`, `api_bodies`): for any bytes it returns a value
//! or an [`ApiError`], never panics.
//!
//! [`ApiJson`]: super::ApiJson

use paceline_coach::plan_import::{PlanFormat, import_plan};
use serde::de::DeserializeOwned;

use super::admin::{InvitationRequest, UserUpdate, invitation_lifetime_s};
use super::athletes::{CreateAthlete, NextPlan, parse_profile};
use super::auth::{LoginRequest, RefreshRequest, RegisterRequest, check_name, check_registration};
use super::sessions::parse_command;
use super::{ApiError, MAX_BODY_BYTES, json_rejection};
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
}

impl RequestBody {
    /// Every route with a body.
    pub const ALL: [RequestBody; 10] = [
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
        ];
        for (route, body) in good {
            assert_eq!(
                check_body(route, body.as_bytes()).map_err(|e| e.code),
                Ok(()),
                "{route:?}"
            );
        }
        for route in RequestBody::ALL {
            if route == RequestBody::PlanUpload {
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
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            check_body(RequestBody::Login, &big).map_err(|e| e.code),
            Err("body_too_large")
        );
    }
}
