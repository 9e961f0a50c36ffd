//! The activity library: import files (one or many, archives too), manual entry, list,
//! detail with sources and provenance, unmerge, delete, export, chart samples, and the
//! tenant's source precedence. The rules are in `paceline-activities`, the writes in
//! [`crate::jobs::library`], the SQL in [`crate::store::activities`]; these handlers parse,
//! check who may see what (an activity is visible when its athlete is) and answer.
//!
//! An import answers one result per file (per activity of an archive): one bad file fails
//! alone, and a failed file stores nothing (each file is its own transaction).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use paceline_activities::{Field, ManualEntry, ManualEntryError, Precedence, QuantityKind};
use paceline_formats::{Format, Recording, Sport};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiState, Auth, DRAIN_REFUSED_BYTES, athlete_visible,
    audit, drain_refused, require_admin,
};
use crate::accounts::Principal;
use crate::jobs::library::{self, Owner};
use crate::store::activities::{self as rows, ActivityRecord, CopyExtras, ListFilter};

/// The largest page of `GET /athletes/{id}/activities`.
pub const MAX_PAGE: u32 = 200;
/// The most points `GET /activities/{id}/samples` returns.
pub const MAX_CHART_POINTS: usize = 2000;

pub use crate::jobs::library::ImportLimits;

/// An activity of the library.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityView {
    /// Id.
    pub id: i64,
    /// The athlete.
    pub athlete_id: i64,
    /// Sport (`cycling`, `indoor_cycling`, `running`, …).
    pub sport: String,
    /// Start, RFC 3339 UTC.
    pub start: String,
    /// Start, ms since the epoch.
    pub start_ms: i64,
    /// The local offset from UTC at the start, s, when known.
    pub local_offset_s: Option<i32>,
    /// Elapsed time, s.
    pub duration_s: f64,
    /// Time in motion, s.
    pub moving_s: Option<f64>,
    /// Distance, m.
    pub distance_m: Option<f64>,
    /// Ascent, m.
    pub ascent_m: Option<f64>,
    /// Mean heart rate, bpm.
    pub hr_avg_bpm: Option<f64>,
    /// Highest heart rate, bpm.
    pub hr_max_bpm: Option<u16>,
    /// Mean power, W.
    pub power_avg_w: Option<f64>,
    /// Highest power, W.
    pub power_max_w: Option<u16>,
    /// Normalized power, W.
    pub np_w: Option<f64>,
    /// Training load (TSS or its equivalent).
    pub tss: Option<f64>,
    /// Intensity factor (NP / FTP).
    pub intensity_factor: Option<f64>,
    /// How the load was found: `power`, `heart_rate`, `manual`, `rpe`.
    pub load_method: Option<String>,
    /// Energy, kcal.
    pub energy_kcal: Option<f64>,
    /// Name.
    pub name: Option<String>,
    /// Perceived exertion, 1–10.
    pub rpe: Option<u8>,
    /// Note.
    pub note: Option<String>,
    /// Why its clock is not believed (`starts_in_future`, `starts_before_1990`): never
    /// merged automatically.
    pub flagged_reason: Option<String>,
    /// The kinds of its copies (source badges): `paceline`, `file`, `strava`, `garmin`,
    /// `manual`.
    pub source_kinds: Vec<String>,
}

fn view(record: &ActivityRecord) -> ActivityView {
    let m = &record.merged;
    let f = &m.fields;
    ActivityView {
        id: record.id,
        athlete_id: record.athlete_id,
        sport: m.sport.name().to_owned(),
        start: paceline_formats::time::format_utc(m.start_ms),
        start_ms: m.start_ms,
        local_offset_s: m.local_offset_s,
        duration_s: m.duration_s,
        moving_s: f.moving_s,
        distance_m: f.distance_m,
        ascent_m: f.ascent_m,
        hr_avg_bpm: f.hr_avg_bpm,
        hr_max_bpm: f.hr_max_bpm,
        power_avg_w: f.power_avg_w,
        power_max_w: f.power_max_w,
        np_w: f.np_w,
        tss: f.load.map(|l| l.tss),
        intensity_factor: f.load.and_then(|l| l.intensity_factor),
        load_method: f.load.map(|l| l.method.as_str().to_owned()),
        energy_kcal: f.energy_kcal,
        name: f.name.clone(),
        rpe: f.rpe,
        note: f.note.clone(),
        flagged_reason: record.flagged_reason.clone(),
        source_kinds: record.source_kinds.clone(),
    }
}

/// One copy of an activity.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    /// Id (provenance names it).
    pub id: i64,
    /// `paceline`, `file`, `strava`, `garmin` or `manual`.
    pub kind: String,
    /// A file's format: `fit`, `tcx`, `gpx`, `csv`.
    pub format: Option<String>,
    /// The source's own id of the activity.
    pub external_id: Option<String>,
    /// The uploaded file's name.
    pub file_name: Option<String>,
    /// Its start, RFC 3339 UTC.
    pub start: String,
    /// Its elapsed time, s.
    pub duration_s: f64,
    /// Whether it holds samples.
    pub has_samples: bool,
    /// A manual entry's values as typed (`{"distance": {"original": "10 mi", "unit": "mi",
    /// "si_value": 16093.44}, …}`).
    #[schema(value_type = Option<Object>)]
    pub manual_original: Option<Value>,
}

/// An activity with its copies and where each field came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityDetail {
    /// The activity.
    #[serde(flatten)]
    pub activity: ActivityView,
    /// Its copies, oldest first.
    pub sources: Vec<SourceView>,
    /// Field name → the id of the copy that gave it.
    pub provenance: BTreeMap<String, i64>,
}

/// A page of activities.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityPage {
    /// Newest first.
    pub items: Vec<ActivityView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// `GET /athletes/{id}/activities` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// Starting at or after: ms since the epoch or RFC 3339.
    pub from: Option<String>,
    /// Starting before: ms since the epoch or RFC 3339.
    pub to: Option<String>,
    /// Only this sport (`cycling`, `running`, …).
    pub sport: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

/// `POST /athletes/{id}/activities/import` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The file's name, for a raw (not multipart) body.
    pub filename: Option<String>,
}

/// One file's (or one archive entry's) result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// The file's name (`export.zip/activities/1.fit.gz` for an archive entry).
    pub file: String,
    /// `imported`, `merged`, `duplicate`, `flagged` or `failed`.
    pub status: String,
    /// The activity it is in (or duplicates).
    pub activity_id: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The results of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResults {
    /// One per file or archive entry.
    pub results: Vec<ImportResult>,
}

/// `POST /athletes/{id}/activities`: an activity typed by hand, values as people type
/// them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualBody {
    /// Sport (`running`, `cycling`, `Ride`, …).
    pub sport: String,
    /// Start: RFC 3339 (`2026-12-01T07:30:00+01:00`, the offset kept) or ms since the epoch.
    #[schema(value_type = Object)]
    pub start: Value,
    /// Duration: `1:20:00`, `45 min`, `1h 5m`, `3600 s`.
    pub duration: String,
    /// Distance: `10 km`, `10 mi`, `5000 m`.
    pub distance: Option<String>,
    /// Energy: `500 kcal`, `2000 kJ`.
    pub energy: Option<String>,
    /// Ascent: `300 m`, `1000 ft`.
    pub ascent: Option<String>,
    /// Training load, TSS (0–2000).
    pub load_tss: Option<f64>,
    /// Perceived exertion, 1–10.
    pub rpe: Option<u8>,
    /// Name.
    pub name: Option<String>,
    /// Note.
    pub note: Option<String>,
}

/// What a manual entry became.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManualResult {
    /// `imported`, `merged`, `duplicate` or `flagged`.
    pub status: String,
    /// The activity.
    pub activity: ActivityDetail,
}

/// `POST /activities/{id}/unmerge`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmergeBody {
    /// The copy to split out.
    pub source_id: i64,
}

/// An activity split in two.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnmergeResult {
    /// The activity of the copies that stay.
    pub activity: ActivityDetail,
    /// The new activity of the copy split out.
    pub split: ActivityDetail,
}

/// A tenant's source precedence, best first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrecedenceBody {
    /// Class names: `file_fit`, `paceline`, `garmin`, `strava`, `file_xml`, `file_csv`,
    /// `manual`; those left out follow in the default order.
    pub order: Vec<String>,
}

/// One point of the chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChartPoint {
    /// Time since the start, s.
    pub t_s: f64,
    /// Heart rate, bpm.
    pub hr: Option<u16>,
    /// Power, W.
    pub power: Option<u16>,
    /// Cadence, rpm.
    pub cadence: Option<f32>,
    /// Speed, m/s.
    pub speed: Option<f32>,
}

/// The samples of an activity, thinned for a chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChartSamples {
    /// The copy they come from.
    pub source_id: i64,
    /// At most 2,000, evenly spread.
    pub points: Vec<ChartPoint>,
}

fn not_found() -> ApiError {
    ApiError::not_found("activity")
}

/// The athlete, if the caller may see them, as an owner; 404 otherwise.
fn visible_athlete(
    conn: &rusqlite::Connection,
    p: &Principal,
    athlete_row: i64,
) -> Result<Owner, ApiError> {
    if athlete_visible(conn, p, athlete_row)? {
        super::sharing::require_shared(conn, p, athlete_row, super::sharing::Shared::History)?;
        Ok(Owner {
            tenant_row: p.tenant_row,
            athlete_row,
        })
    } else {
        Err(ApiError::not_found("athlete"))
    }
}

/// The activity, if the caller may see its athlete; 404 otherwise.
fn visible_activity(
    conn: &rusqlite::Connection,
    p: &Principal,
    id: i64,
) -> Result<ActivityRecord, ApiError> {
    let record = rows::activity(conn, p.tenant_row, id)?.ok_or_else(not_found)?;
    if athlete_visible(conn, p, record.athlete_id)?
        && super::sharing::coach_may_see(
            conn,
            p,
            record.athlete_id,
            super::sharing::Shared::History,
        )?
    {
        Ok(record)
    } else {
        Err(not_found())
    }
}

fn detail(
    conn: &rusqlite::Connection,
    tenant_row: i64,
    record: &ActivityRecord,
) -> Result<ActivityDetail, ApiError> {
    let sources = rows::sources_of(conn, tenant_row, record.id)?
        .into_iter()
        .map(|s| SourceView {
            id: s.stored.id.0,
            kind: s.stored.copy.kind.as_str().to_owned(),
            format: s.stored.copy.format.map(|f| f.as_str().to_owned()),
            external_id: s.stored.copy.external_id.clone(),
            file_name: s.file_name,
            start: paceline_formats::time::format_utc(s.stored.copy.start_ms),
            duration_s: s.stored.copy.duration_s,
            has_samples: s.has_samples,
            manual_original: s.manual_original,
        })
        .collect();
    let provenance = record
        .merged
        .provenance
        .iter()
        .map(|(field, copy)| (field.as_str().to_owned(), copy.0))
        .collect();
    Ok(ActivityDetail {
        activity: view(record),
        sources,
        provenance,
    })
}

fn too_large(limits: ImportLimits) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_too_large",
        format!(
            "an import is limited to {} bytes in all (and {} bytes a file)",
            limits.max_upload_bytes, limits.max_file_bytes
        ),
    )
}

/// One file of an upload: its name and bytes, or why it was refused.
type UploadedFile = (String, Result<Vec<u8>, String>);

/// The files of a multipart upload: each within the file cap (a larger one is a failed
/// file, read past), all within the upload cap (or 413, once the rest is read: [`drain_refused`]).
async fn multipart_files(
    mut multipart: Multipart,
    limits: ImportLimits,
) -> Result<Vec<UploadedFile>, ApiError> {
    let mut files = Vec::new();
    let mut total: u64 = 0;
    let over_total = |total: u64| total > limits.max_upload_bytes;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) if over_total(total) => break,
            Err(e) => return Err(ApiError::bad_request("invalid_multipart", e.body_text())),
        };
        let name = field
            .file_name()
            .or_else(|| field.name())
            .unwrap_or("upload")
            .to_owned();
        let mut field = field;
        let mut bytes = Vec::new();
        let mut over = false;
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) if over_total(total) => return Err(too_large(limits)),
                Err(e) => return Err(ApiError::bad_request("invalid_multipart", e.body_text())),
            };
            total += chunk.len() as u64;
            if over_total(total) {
                // Refused: what is still coming is read and thrown away (up to a bound).
                if total - limits.max_upload_bytes > DRAIN_REFUSED_BYTES {
                    return Err(too_large(limits));
                }
                bytes = Vec::new();
                continue;
            }
            let cap = if bytes.is_empty() {
                limits.cap_of(&chunk)
            } else {
                limits.cap_of(&bytes)
            };
            if over || (bytes.len() + chunk.len()) as u64 > cap {
                over = true;
                bytes = Vec::new();
                continue;
            }
            bytes.extend_from_slice(&chunk);
        }
        if over_total(total) {
            continue;
        }
        let bytes = if over {
            Err(format!(
                "the file is larger than {} bytes",
                limits.max_file_bytes
            ))
        } else {
            Ok(bytes)
        };
        files.push((name, bytes));
    }
    if over_total(total) {
        return Err(too_large(limits));
    }
    Ok(files)
}

fn result(outcome: library::FileOutcome) -> ImportResult {
    match outcome.result {
        Ok(imported) => ImportResult {
            file: outcome.file,
            status: imported.status.as_str().to_owned(),
            activity_id: Some(imported.activity_id),
            error: None,
        },
        Err(error) => ImportResult {
            file: outcome.file,
            status: "failed".to_owned(),
            activity_id: None,
            error: Some(error),
        },
    }
}

/// Import activity files: a multipart form with one or many files (FIT, TCX, GPX, CSV,
/// gzip'd, or zip archives of them such as Garmin's and Strava's bulk exports), or one file
/// as the raw body with `?filename=`. One result per activity; one bad file fails alone.
#[utoipa::path(post, path = "/api/v1/athletes/{id}/activities/import", tag = "activities",
    params(("id" = i64, Path, description = "athlete id"), ImportQuery),
    request_body(content = Vec<u8>, description = "multipart/form-data with files, or one file as the raw body",
        content_type = "application/octet-stream"),
    responses((status = 200, body = ImportResults), (status = 404, description = "no such athlete visible"),
        (status = 413, description = "the upload is over its size cap")),
    security(("bearer" = [])))]
pub async fn import_activities(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    request: Request,
) -> Result<Json<ImportResults>, ApiError> {
    let limits = state.import_limits;
    let owner = state
        .read(move |conn| visible_athlete(conn, &p, id))
        .await?;
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limits.max_upload_bytes) {
        let body = request.into_body().into_data_stream();
        drain_refused(body, announced, limits.max_upload_bytes).await;
        return Err(too_large(limits));
    }
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let files = if is_multipart {
        let multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| ApiError::bad_request("invalid_multipart", e.body_text()))?;
        multipart_files(multipart, limits).await?
    } else {
        let mut body = request.into_body().into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request("invalid_body", format!("reading the body: {e}"))
            })?;
            if (bytes.len() + chunk.len()) as u64 > limits.max_upload_bytes {
                drain_refused(body, None, limits.max_upload_bytes).await;
                return Err(too_large(limits));
            }
            bytes.extend_from_slice(&chunk);
        }
        let name = q.filename.unwrap_or_else(|| "upload".to_owned());
        vec![(name, Ok(bytes))]
    };
    if files.is_empty() {
        return Err(ApiError::bad_request(
            "no_files",
            "send one or more files (multipart/form-data), or one file as the body with ?filename=",
        ));
    }
    let now = state.now_ms();
    let api = state.clone();
    let results = tokio::task::spawn_blocking(move || {
        let store = api.live.store();
        files
            .into_iter()
            .flat_map(|(name, bytes)| match bytes {
                Ok(bytes) => library::import_file(store, owner, &name, &bytes, limits, now)
                    .into_iter()
                    .map(result)
                    .collect(),
                Err(error) => vec![ImportResult {
                    file: name,
                    status: "failed".to_owned(),
                    activity_id: None,
                    error: Some(error),
                }],
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| ApiError::internal())?;
    Ok(Json(ImportResults { results }))
}

/// A time given as ms since the epoch or RFC 3339: `(unix_ms, offset_s)`.
fn parse_time(text: &str) -> Option<(i64, Option<i32>)> {
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Some((ms, None));
    }
    paceline_formats::time::parse(text).map(|t| (t.unix_ms, t.offset_s))
}

fn bad_time(what: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_query",
        format!("{what}: give ms since the epoch or an RFC 3339 time"),
    )
}

/// An athlete's activities, newest first, filtered by start and sport, a page at a time.
#[utoipa::path(get, path = "/api/v1/athletes/{id}/activities", tag = "activities",
    params(("id" = i64, Path, description = "athlete id"), ActivityQuery),
    responses((status = 200, body = ActivityPage), (status = 400, description = "bad filter"),
        (status = 404, description = "no such athlete visible")),
    security(("bearer" = [])))]
pub async fn list_activities(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> Result<Json<ActivityPage>, ApiError> {
    let from_ms = match &q.from {
        Some(t) => parse_time(t).ok_or_else(|| bad_time("from"))?.0,
        None => i64::MIN,
    };
    let to_ms = match &q.to {
        Some(t) => parse_time(t).ok_or_else(|| bad_time("to"))?.0,
        None => i64::MAX,
    };
    let after = match &q.cursor {
        Some(cursor) => Some(
            cursor
                .split_once('_')
                .and_then(|(s, i)| Some((s.parse().ok()?, i.parse().ok()?)))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_query", "cursor: not a cursor this API gave")
                })?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit: from 1 to {MAX_PAGE}"),
        ));
    }
    let filter = ListFilter {
        from_ms,
        to_ms,
        sport: q.sport.map(|s| Sport::from_name(&s).name().to_owned()),
        after,
        limit,
    };
    let page = state
        .read(move |conn| {
            let owner = visible_athlete(conn, &p, id)?;
            Ok(rows::list_activities(
                conn,
                owner.tenant_row,
                owner.athlete_row,
                &filter,
            )?)
        })
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| {
            page.last()
                .map(|r| format!("{}_{}", r.merged.start_ms, r.id))
        })
        .flatten();
    Ok(Json(ActivityPage {
        items: page.iter().map(view).collect(),
        next_cursor,
    }))
}

fn field_error(e: &ManualEntryError) -> ApiError {
    let field = match e {
        ManualEntryError::Quantity(q) => match q.kind {
            QuantityKind::Duration => "duration",
            QuantityKind::Distance => "distance",
            QuantityKind::Energy => "energy",
            QuantityKind::Elevation => "ascent",
        },
        ManualEntryError::ZeroDuration(_) => "duration",
        ManualEntryError::Rpe(_) => "rpe",
        ManualEntryError::LoadTss(_) => "load_tss",
        ManualEntryError::NameTooLong => "name",
        ManualEntryError::NoteTooLong => "note",
    };
    invalid_field(field, e.to_string())
}

fn invalid_field(field: &str, message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        format!("{field}: {message}"),
    )
}

fn typed(q: &paceline_activities::Quantity) -> Value {
    json!({"original": q.original, "unit": q.unit, "si_value": q.si_value})
}

/// Enter an activity by hand, values as typed ("10 mi", "1:20:00", "45 min", "500 kcal"):
/// stored in SI with the original kept; merged with a recorded copy of the same workout.
#[utoipa::path(post, path = "/api/v1/athletes/{id}/activities", tag = "activities",
    params(("id" = i64, Path, description = "athlete id")),
    request_body = ManualBody,
    responses((status = 201, body = ManualResult), (status = 404, description = "no such athlete visible"),
        (status = 422, description = "a value that does not read; the message names the field")),
    security(("bearer" = [])))]
pub async fn create_manual(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ManualBody>,
) -> Result<Response, ApiError> {
    let (start_ms, local_offset_s) = match &body.start {
        Value::Number(n) => (
            n.as_i64()
                .ok_or_else(|| invalid_field("start", "not whole ms".into()))?,
            None,
        ),
        Value::String(s) => parse_time(s).ok_or_else(|| {
            invalid_field(
                "start",
                format!("{s:?}: expected an RFC 3339 time like 2026-12-01T07:30:00+01:00"),
            )
        })?,
        _ => {
            return Err(invalid_field(
                "start",
                "expected an RFC 3339 time or ms".into(),
            ));
        }
    };
    let sport = Sport::from_name(&body.sport);
    if sport == Sport::Other && !body.sport.trim().eq_ignore_ascii_case("other") {
        return Err(invalid_field(
            "sport",
            format!(
                "{:?}: not a sport Paceline knows (cycling, running, swimming, …)",
                body.sport
            ),
        ));
    }
    let entry = ManualEntry {
        sport,
        start_ms,
        local_offset_s,
        duration: body.duration,
        distance: body.distance,
        energy: body.energy,
        ascent: body.ascent,
        load_tss: body.load_tss,
        rpe: body.rpe,
        name: body.name,
        note: body.note,
    };
    let valid = entry.validate().map_err(|e| field_error(&e))?;
    let mut original = serde_json::Map::new();
    original.insert("duration".into(), typed(&valid.duration));
    for (name, q) in [
        ("distance", &valid.distance),
        ("energy", &valid.energy),
        ("ascent", &valid.ascent),
    ] {
        if let Some(q) = q {
            original.insert(name.into(), typed(q));
        }
    }
    let original = Value::Object(original);
    let now = state.now_ms();
    let result = state
        .write(move |tx| {
            let owner = visible_athlete(tx, &p, id)?;
            let imported = library::import_copy(
                tx,
                owner,
                &valid.copy,
                CopyExtras {
                    manual_original: Some(&original),
                    ..CopyExtras::default()
                },
                now,
            )?;
            let record = rows::activity(tx, p.tenant_row, imported.activity_id)?
                .ok_or_else(ApiError::internal)?;
            Ok(ManualResult {
                status: imported.status.as_str().to_owned(),
                activity: detail(tx, p.tenant_row, &record)?,
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(result)).into_response())
}

/// An activity with its copies (`sources`) and which copy gave each field (`provenance`).
#[utoipa::path(get, path = "/api/v1/activities/{id}", tag = "activities",
    params(("id" = i64, Path, description = "activity id")),
    responses((status = 200, body = ActivityDetail), (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn get_activity(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ActivityDetail>, ApiError> {
    let found = state
        .read(move |conn| {
            let record = visible_activity(conn, &p, id)?;
            detail(conn, p.tenant_row, &record)
        })
        .await?;
    Ok(Json(found))
}

/// Split a copy out of an activity into an activity of its own.
#[utoipa::path(post, path = "/api/v1/activities/{id}/unmerge", tag = "activities",
    params(("id" = i64, Path, description = "activity id")),
    request_body = UnmergeBody,
    responses((status = 200, body = UnmergeResult), (status = 404, description = "not visible, or not one of its copies"),
        (status = 409, description = "the activity's only copy")),
    security(("bearer" = [])))]
pub async fn unmerge_activity(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UnmergeBody>,
) -> Result<Json<UnmergeResult>, ApiError> {
    let now = state.now_ms();
    let result = state
        .write(move |tx| {
            let record = visible_activity(tx, &p, id)?;
            let owner = Owner {
                tenant_row: p.tenant_row,
                athlete_row: record.athlete_id,
            };
            let new_id =
                library::split(tx, owner, id, body.source_id, now).map_err(|e| match e {
                    library::SplitError::Rule(paceline_activities::UnmergeError::NotACopy(_)) => {
                        ApiError::not_found("source copy of this activity")
                    }
                    library::SplitError::Rule(rule) => {
                        ApiError::conflict("only_copy", rule.to_string())
                    }
                    library::SplitError::Store(e) => ApiError::from(e),
                })?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "activity.unmerge",
                Some(&format!("activity:{id}")),
                Some(&json!({"source_id": body.source_id, "new_activity_id": new_id})),
                now,
            )?;
            let remaining = rows::activity(tx, p.tenant_row, id)?.ok_or_else(ApiError::internal)?;
            let split = rows::activity(tx, p.tenant_row, new_id)?.ok_or_else(ApiError::internal)?;
            Ok(UnmergeResult {
                activity: detail(tx, p.tenant_row, &remaining)?,
                split: detail(tx, p.tenant_row, &split)?,
            })
        })
        .await?;
    Ok(Json(result))
}

/// Delete an activity and all its copies (audited).
#[utoipa::path(delete, path = "/api/v1/activities/{id}", tag = "activities",
    params(("id" = i64, Path, description = "activity id")),
    responses((status = 204, description = "deleted"), (status = 404, description = "not visible")),
    security(("bearer" = [])))]
pub async fn delete_activity(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let now = state.now_ms();
    state
        .write(move |tx| {
            let record = visible_activity(tx, &p, id)?;
            rows::delete_activity(tx, p.tenant_row, id)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "activity.delete",
                Some(&format!("activity:{id}")),
                Some(&json!({"athlete_id": record.athlete_id, "sources": record.source_kinds})),
                now,
            )?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The recording of the copy provenance names for the activity's samples.
fn samples_recording(
    conn: &rusqlite::Connection,
    p: &Principal,
    id: i64,
) -> Result<(ActivityRecord, i64, Recording), ApiError> {
    let record = visible_activity(conn, p, id)?;
    let no_samples = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_samples",
            "this activity has no recorded samples (a manual entry?)",
        )
    };
    let source = *record
        .merged
        .provenance
        .get(&Field::Samples)
        .ok_or_else(no_samples)?;
    let fit = rows::source_samples(conn, p.tenant_row, source.0)?.ok_or_else(no_samples)?;
    let mut recording = paceline_formats::fit::activity::read_recording(&fit).map_err(|e| {
        tracing::error!(error = %e, source = source.0, "stored samples do not read");
        ApiError::internal()
    })?;
    recording.sport = record.merged.sport;
    recording.name = record.merged.fields.name.clone();
    recording.local_offset_s = record.merged.local_offset_s;
    Ok((record, source.0, recording))
}

async fn export(
    state: ApiState,
    p: Principal,
    id: i64,
    format: Format,
) -> Result<Response, ApiError> {
    let (record, recording) = state
        .read(move |conn| {
            let (record, _, mut recording) = samples_recording(conn, &p, id)?;
            // Marked as this activity's export: imported again, it is a duplicate of it.
            recording.device = Some(library::export_device(
                record.id,
                recording.device.as_deref(),
            ));
            Ok((record, recording))
        })
        .await?;
    let (bytes, content_type) = match format {
        Format::Fit => (
            paceline_formats::fit::write::write_recording(&recording),
            "application/vnd.ant.fit",
        ),
        Format::Tcx => (
            paceline_formats::tcx::write_recording(&recording),
            "application/vnd.garmin.tcx+xml",
        ),
        Format::Gpx => (
            paceline_formats::gpx::write_recording(&recording),
            "application/gpx+xml",
        ),
        Format::Csv => (
            paceline_formats::csv::write_recording(&recording),
            "text/csv; charset=utf-8",
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"paceline-activity-{}.{}\"",
                    record.id,
                    format.extension()
                ),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// The activity as a FIT file.
#[utoipa::path(get, path = "/api/v1/activities/{id}/export.fit", tag = "activities",
    params(("id" = i64, Path, description = "activity id")),
    responses((status = 200, content_type = "application/vnd.ant.fit", body = Vec<u8>),
        (status = 404, description = "not visible, or no samples (`no_samples`)")),
    security(("bearer" = [])))]
pub async fn export_fit(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    export(state, p, id, Format::Fit).await
}

/// The activity as a TCX file.
#[utoipa::path(get, path = "/api/v1/activities/{id}/export.tcx", tag = "activities",
    params(("id" = i64, Path, description = "activity id")),
    responses((status = 200, content_type = "application/vnd.garmin.tcx+xml", body = String),
        (status = 404, description = "not visible, or no samples (`no_samples`)")),
    security(("bearer" = [])))]
pub async fn export_tcx(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    export(state, p, id, Format::Tcx).await
}

/// The activity as a GPX file.
#[utoipa::path(get, path = "/api/v1/activities/{id}/export.gpx", tag = "activities",
    params(("id" = i64, Path, description = "activity id")),
    responses((status = 200, content_type = "application/gpx+xml", body = String),
        (status = 404, description = "not visible, or no samples (`no_samples`)")),
    security(("bearer" = [])))]
pub async fn export_gpx(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    export(state, p, id, Format::Gpx).await
}

/// The activity as a CSV file.
#[utoipa::path(get, path = "/api/v1/activities/{id}/export.csv", tag = "activities",
    params(("id" = i64, Path, description = "activity id")),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 404, description = "not visible, or no samples (`no_samples`)")),
    security(("bearer" = [])))]
pub async fn export_csv(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    export(state, p, id, Format::Csv).await
}

/// The activity's samples for a chart: time, heart rate, power, cadence, speed, at most
/// 2,000 points evenly spread.
#[utoipa::path(get, path = "/api/v1/activities/{id}/samples", tag = "activities",
    params(("id" = i64, Path, description = "activity id")),
    responses((status = 200, body = ChartSamples), (status = 404, description = "not visible, or no samples (`no_samples`)")),
    security(("bearer" = [])))]
pub async fn activity_samples(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ChartSamples>, ApiError> {
    let (source_id, recording) = state
        .read(move |conn| {
            let (_, source, recording) = samples_recording(conn, &p, id)?;
            Ok((source, recording))
        })
        .await?;
    let step = recording.points.len().div_ceil(MAX_CHART_POINTS).max(1);
    let points = recording
        .points
        .iter()
        .step_by(step)
        .map(|pt| ChartPoint {
            t_s: pt.t_ms as f64 / 1000.0,
            hr: pt.heart_rate_bpm,
            power: pt.power_w,
            cadence: pt.cadence_rpm,
            speed: pt.speed_mps,
        })
        .collect();
    Ok(Json(ChartSamples { source_id, points }))
}

/// The tenant's source precedence, best first.
#[utoipa::path(get, path = "/api/v1/tenant/activity-precedence", tag = "activities",
    responses((status = 200, body = PrecedenceBody)), security(("bearer" = [])))]
pub async fn get_precedence(
    State(state): State<ApiState>,
    Auth(p): Auth,
) -> Result<Json<PrecedenceBody>, ApiError> {
    let precedence = state
        .read(move |conn| Ok(rows::precedence(conn, p.tenant_row)?))
        .await?;
    Ok(Json(PrecedenceBody {
        order: precedence.names().into_iter().map(str::to_owned).collect(),
    }))
}

/// Set the tenant's source precedence (gym-admin): every merged activity is merged
/// afresh under it.
#[utoipa::path(put, path = "/api/v1/tenant/activity-precedence", tag = "activities",
    request_body = PrecedenceBody,
    responses((status = 200, body = PrecedenceBody), (status = 403, description = "not a gym-admin"),
        (status = 422, description = "an unknown or repeated class name")),
    security(("bearer" = [])))]
pub async fn put_precedence(
    State(state): State<ApiState>,
    Auth(p): Auth,
    ApiJson(body): ApiJson<PrecedenceBody>,
) -> Result<Json<PrecedenceBody>, ApiError> {
    require_admin(&p)?;
    let precedence =
        Precedence::parse(&body.order).map_err(|e| invalid_field("order", e.to_string()))?;
    let now = state.now_ms();
    let order = precedence.names().into_iter().map(str::to_owned).collect();
    state
        .write(move |tx| {
            library::set_precedence(tx, p.tenant_row, &precedence, now)?;
            audit(
                tx,
                p.tenant_row,
                Some(p.user_row),
                "activity.precedence",
                None,
                Some(&json!({"order": precedence.names()})),
                now,
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(PrecedenceBody { order }))
}
