//! Local Strava and Garmin servers for tests and benchmarks: a dev-only stand-in that
//! speaks the parts of their HTTP APIs Paceline uses, so connect, backfill, delta,
//! webhooks, push and ping, refresh, `needs_reauth` and rate-limit pauses can be tested
//! with real processes.
//!
//! - OAuth (`/oauth/authorize`, `/oauth/token`, `/oauth/deauthorize`) and API v3
//!   (`/api/v3/athlete/activities`, `/api/v3/activities/{id}`, `…/streams`,
//!   `/api/v3/push_subscriptions`), answering with `X-RateLimit-*` and
//!   `X-ReadRateLimit-*` headers and 429 past a limit.
//! - Garmin OAuth 2.0 with PKCE S256 (`/oauth2Confirm`, `/di-oauth2-service/oauth/token`),
//!   `/wellness-api/rest/user/{id,permissions,registration}`, ping callbacks
//!   (`/wellness-api/rest/{summary}`), and `/admin/garmin/notify` sending push, ping and
//!   deregistration notifications to the gateway.
//! - Activities seeded from the FIT files of `--fit-dir`, copied `--activities` times
//!   over the 80 days before now; the JSON is paceline-sync's own serde types.
//! - `/admin/…` scripts it: faults (status codes, 429s, slow answers, `invalid_grant`,
//!   `access_denied`), rate-limit counters, token lifetime, activities added, renamed
//!   and deleted with their webhook events, revocations, and deliveries duplicated and
//!   reordered.
//!
//! `paceline-providers --listen 127.0.0.1:0` prints one JSON line on stdout once it
//! listens: `{"listen": "127.0.0.1:PORT", "strava_base_url": "http://127.0.0.1:PORT", …}`.
//! Point `PACELINE_STRAVA_BASE_URL` at `strava_base_url` and `PACELINE_GARMIN_BASE_URL`
//! at `garmin_base_url` (the same origin: the paths do not collide).

mod admin;
mod garmin;
mod seed;
mod strava;
mod world;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use clap::Parser;
use url::Url;

use crate::world::{FaultKind, RateState, Shared, World, lock, now_s};

/// Local Strava and Garmin servers for tests (dev only).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Folder of FIT files to seed activities from (default: the repository's shared
    /// test data, when it is where the workspace expects it).
    #[arg(long, env = "PACELINE_PROVIDERS_FIT_DIR")]
    fit_dir: Option<PathBuf>,
    /// How many activities to seed for the default athlete.
    #[arg(long, default_value_t = 10)]
    activities: usize,
    /// The app's client id.
    #[arg(long, default_value = "paceline-test-client")]
    client_id: String,
    /// The app's client secret.
    #[arg(long, default_value = "paceline-test-secret")]
    client_secret: String,
    /// The athlete the authorize page logs in.
    #[arg(long, default_value_t = 134_815)]
    athlete_id: u64,
    /// Overall limits, "15-minute,daily" (Strava's defaults).
    #[arg(long, default_value = "200,2000")]
    rate_limit: String,
    /// Read limits, "15-minute,daily".
    #[arg(long, default_value = "100,1000")]
    read_rate_limit: String,
    /// Access-token lifetime, s (Strava: 6 hours).
    #[arg(long, default_value_t = 21_600)]
    token_lifetime_s: i64,
}

fn limits(value: &str) -> anyhow::Result<(u32, u32)> {
    let (short, daily) = value
        .split_once(',')
        .with_context(|| format!("{value:?} is not \"15-minute,daily\""))?;
    Ok((
        short
            .trim()
            .parse()
            .with_context(|| format!("{short:?} is not a number"))?,
        daily
            .trim()
            .parse()
            .with_context(|| format!("{daily:?} is not a number"))?,
    ))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "paceline-providers: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let fit_dir = args.fit_dir.unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/fit"
        ))
    });
    let seeds = seed::read_fit_dir(&fit_dir)?;
    let now = now_s();
    let count = i64::try_from(args.activities).context("--activities is too large")?;
    if count > 100_000 {
        bail!("--activities is at most 100,000");
    }
    // Spread over the 80 days before now, oldest first.
    let spacing_s = (80 * 86_400) / count.max(1);
    let mut activities = BTreeMap::new();
    // The copies of one seed share its streams (1,000 copies of a 4,700-point ride would
    // otherwise hold hundreds of MB).
    let mut shared_streams: Vec<Option<Arc<paceline_sync::strava::StreamSet>>> =
        vec![None; seeds.len()];
    for k in 0..count {
        let id = 1_000_001 + u64::try_from(k).unwrap_or(0);
        let which = usize::try_from(k).unwrap_or(0) % seeds.len();
        let start_s = now - (count - k) * spacing_s;
        let mut seeded = seed::activity(&seeds[which], id, args.athlete_id, start_s);
        match &shared_streams[which] {
            Some(streams) => seeded.streams = Arc::clone(streams),
            None => shared_streams[which] = Some(Arc::clone(&seeded.streams)),
        }
        activities.insert(id, seeded);
    }
    let world: Shared = Arc::new(Mutex::new(World {
        client_id: args.client_id,
        client_secret: args.client_secret,
        default_athlete_id: args.athlete_id,
        token_lifetime_s: args.token_lifetime_s.max(1),
        activities,
        seeds,
        codes: BTreeMap::new(),
        access: BTreeMap::new(),
        refresh: BTreeMap::new(),
        counter: 0,
        rate: RateState::new(limits(&args.rate_limit)?, limits(&args.read_rate_limit)?),
        faults: Vec::new(),
        subscription: None,
        hits: BTreeMap::new(),
        garmin_callbacks: BTreeMap::new(),
    }));

    let app = Router::new()
        .route("/oauth/authorize", get(strava::authorize))
        .route("/oauth/token", post(strava::token))
        .route("/oauth/deauthorize", post(strava::deauthorize))
        .route("/api/v3/athlete/activities", get(strava::activities))
        .route("/api/v3/activities/{id}", get(strava::activity))
        .route("/api/v3/activities/{id}/streams", get(strava::streams))
        .route(
            "/api/v3/push_subscriptions",
            post(strava::subscribe).get(strava::subscriptions),
        )
        .route(
            "/api/v3/push_subscriptions/{id}",
            delete(strava::unsubscribe),
        )
        .route("/oauth2Confirm", get(garmin::authorize))
        .route("/di-oauth2-service/oauth/token", post(garmin::token))
        .route("/wellness-api/rest/user/id", get(garmin::user_id))
        .route(
            "/wellness-api/rest/user/permissions",
            get(garmin::permissions),
        )
        .route(
            "/wellness-api/rest/user/registration",
            delete(garmin::deregister),
        )
        .route("/wellness-api/rest/{summary}", get(garmin::callback))
        .route(
            "/wellness-api/rest/backfill/{summary}",
            get(garmin::backfill),
        )
        .route("/admin/garmin/notify", post(garmin::notify))
        .route("/admin/state", get(admin::state))
        .route(
            "/admin/faults",
            post(admin::add_faults).delete(admin::clear_faults),
        )
        .route("/admin/rate", post(admin::set_rate))
        .route("/admin/token-lifetime", post(admin::token_lifetime))
        .route("/admin/strava/activities", post(admin::add_activity))
        .route(
            "/admin/strava/activities/{id}",
            delete(admin::delete_activity),
        )
        .route(
            "/admin/strava/activities/{id}/rename",
            post(admin::rename_activity),
        )
        .route("/admin/strava/revoke", post(admin::revoke))
        .route("/admin/strava/deliver", post(admin::deliver_events))
        .layer(middleware::from_fn_with_state(
            world.clone(),
            faults_and_limits,
        ))
        .with_state(world.clone());

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let base = format!("http://{bound}");
    let line = serde_json::json!({
        "listen": bound.to_string(),
        "strava_base_url": base,
        "garmin_base_url": base,
        "activities": lock(&world).activities.len(),
    });
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}").context("writing the address to stdout")?;
        stdout.flush().context("flushing stdout")?;
    }
    axum::serve(listener, app).await.context("serving")?;
    Ok(())
}

fn json_error(status: StatusCode, message: &str) -> Response {
    strava::fault(status, message, "Application", "", "fault")
}

/// Every request but `/admin/…`: counted; a scripted fault if one matches; for API
/// reads, the rate-limit count and headers (429 past a limit).
async fn faults_and_limits(State(world): State<Shared>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with("/admin") {
        return next.run(request).await;
    }
    let fault = {
        let mut world = lock(&world);
        *world.hits.entry(path.clone()).or_insert(0) += 1;
        world.take_fault(&path)
    };
    match fault {
        None => {}
        Some(FaultKind::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms.min(120_000))).await
        }
        Some(FaultKind::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return json_error(status, status.canonical_reason().unwrap_or("Fault"));
        }
        Some(FaultKind::TooManyRequests) => {
            let headers = lock(&world).rate.headers();
            return with_headers(
                strava::fault(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Rate Limit Exceeded",
                    "Application",
                    "rate limit",
                    "exceeded",
                ),
                &headers,
            );
        }
        Some(FaultKind::InvalidGrant) if path.starts_with("/di-oauth2-service") => {
            return garmin::oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "scripted fault");
        }
        Some(FaultKind::InvalidGrant) => {
            return strava::fault(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "RefreshToken",
                "refresh_token",
                "invalid",
            );
        }
        Some(FaultKind::AccessDenied) => {
            let query = request.uri().query().unwrap_or("");
            let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let Some(Ok(mut redirect)) = params.get("redirect_uri").map(|u| Url::parse(u)) else {
                return json_error(StatusCode::BAD_REQUEST, "Bad Request");
            };
            {
                let mut pairs = redirect.query_pairs_mut();
                if let Some(state) = params.get("state") {
                    pairs.append_pair("state", state);
                }
                pairs.append_pair("error", "access_denied");
            }
            return Redirect::to(redirect.as_str()).into_response();
        }
    }
    if path.starts_with("/api/v3/") && !path.starts_with("/api/v3/push_subscriptions") {
        let (over, headers) = {
            let mut world = lock(&world);
            let over = world.rate.count_read(now_s());
            (over, world.rate.headers())
        };
        if over {
            return with_headers(
                strava::fault(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Rate Limit Exceeded",
                    "Application",
                    "rate limit",
                    "exceeded",
                ),
                &headers,
            );
        }
        return with_headers(next.run(request).await, &headers);
    }
    next.run(request).await
}

fn with_headers(mut response: Response, headers: &[(&'static str, String)]) -> Response {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}
