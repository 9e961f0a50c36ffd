//! The web UI: plain HTML, CSS and a little vanilla JavaScript, embedded in the binary
//! (no build step) and served at `/`, `/login`, `/board`, `/live/{session}`, `/sessions`,
//! `/sessions/{id}` and `/plans`, with the assets under `/assets/`.
//!
//! **Invariants.** The pages are static: they hold no tenant data and need no login to be
//! fetched. Everything they show comes from `/api/v1` with the access token the login page
//! keeps in `sessionStorage`, so the API's tenant scoping and roles are the only ones. Text
//! from the API is put into the page as text, never as markup.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// A page or an asset: its content type and its text.
struct Asset {
    content_type: &'static str,
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";

const LOGIN: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/login.html"),
};
const BOARD: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/board.html"),
};
const LIVE: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/live.html"),
};
const SESSIONS: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/sessions.html"),
};
const SESSION: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/session.html"),
};
const PLANS: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/plans.html"),
};
const STYLE: Asset = Asset {
    content_type: "text/css; charset=utf-8",
    body: include_str!("assets/app.css"),
};
const SCRIPT: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("assets/app.js"),
};

fn serve(asset: &'static Asset) -> Response {
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}

/// The UI's routes (no state: the pages talk to `/api/v1` themselves).
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/board") }))
        .route("/login", get(|| async { serve(&LOGIN) }))
        .route("/board", get(|| async { serve(&BOARD) }))
        .route("/live/{session}", get(|| async { serve(&LIVE) }))
        .route("/sessions", get(|| async { serve(&SESSIONS) }))
        .route("/sessions/{id}", get(|| async { serve(&SESSION) }))
        .route("/plans", get(|| async { serve(&PLANS) }))
        .route("/assets/app.css", get(|| async { serve(&STYLE) }))
        .route("/assets/app.js", get(|| async { serve(&SCRIPT) }))
}
