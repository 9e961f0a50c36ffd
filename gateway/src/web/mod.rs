//! The web UI: plain HTML, CSS and a little vanilla JavaScript, embedded in the binary
//! (no build step) and served at `/`, `/login`, `/board`, `/live/{session}`, `/sessions`,
//! `/sessions/{id}`, `/plans`, `/library`, `/athletes/{id}/library`, `/activities/{id}`,
//! `/today`, `/athletes/{id}/today`, `/insights`, `/athletes/{id}/insights`, `/chat`,
//! `/athletes/{id}/chat`, `/connections`, `/athletes/{id}/connections` and the owner's
//! console (`/console/users`, `/invitations`, `/health`, `/data-quality`, `/audit`; its
//! link shows for gym-admins only, and its API answers them only), with the assets
//! under `/assets/`. The security headers (CSP without inline scripts, no framing) are
//! added to every response by [`crate::http::router`].
//!
//! **Invariants.** The pages are static: they hold no tenant data and need no login to be
//! fetched. Everything they show comes from `/api/v1` with the access token the login page
//! keeps in `sessionStorage`, so the API's tenant scoping and roles are the only ones. Text
//! from the API is put into the page as text, never as markup.

use axum::Router;
use axum::extract::Query;
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
const LIBRARY: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/library.html"),
};
const ACTIVITY: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/activity.html"),
};
const TODAY: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/today.html"),
};
const INSIGHTS: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/insights.html"),
};
const CHAT: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/chat.html"),
};
const CONNECTIONS: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/connections.html"),
};
const CONSOLE: Asset = Asset {
    content_type: HTML,
    body: include_str!("assets/console.html"),
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
        ],
        asset.body,
    )
        .into_response()
}

/// Whether `next` (the login page's `?next=`, decoded) is a path on this site: it starts
/// with one `/`, not `//` or `/\` (which browsers read as `//`, another host), and holds
/// no backslash or control character anywhere (browsers drop tabs and newlines, so
/// `/\t/evil.example` would become `//evil.example`).
pub fn is_local_path(next: &str) -> bool {
    let mut chars = next.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && !next.chars().any(|c| c == '\\' || c.is_control())
}

/// The login page; with a `next` that is not a path on this site, a redirect to the login
/// page without it, so the page's script never sees it (the script checks it again).
async fn login(Query(query): Query<Vec<(String, String)>>) -> Response {
    let leaves = query
        .iter()
        .any(|(key, value)| key == "next" && !is_local_path(value));
    if leaves {
        Redirect::to("/login").into_response()
    } else {
        serve(&LOGIN)
    }
}

/// The UI's routes (no state: the pages talk to `/api/v1` themselves).
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/board") }))
        .route("/login", get(login))
        .route("/board", get(|| async { serve(&BOARD) }))
        .route("/live/{session}", get(|| async { serve(&LIVE) }))
        .route("/sessions", get(|| async { serve(&SESSIONS) }))
        .route("/sessions/{id}", get(|| async { serve(&SESSION) }))
        .route("/plans", get(|| async { serve(&PLANS) }))
        .route("/library", get(|| async { serve(&LIBRARY) }))
        .route("/athletes/{id}/library", get(|| async { serve(&LIBRARY) }))
        .route("/activities/{id}", get(|| async { serve(&ACTIVITY) }))
        .route("/today", get(|| async { serve(&TODAY) }))
        .route("/athletes/{id}/today", get(|| async { serve(&TODAY) }))
        .route("/insights", get(|| async { serve(&INSIGHTS) }))
        .route(
            "/athletes/{id}/insights",
            get(|| async { serve(&INSIGHTS) }),
        )
        .route("/chat", get(|| async { serve(&CHAT) }))
        .route("/athletes/{id}/chat", get(|| async { serve(&CHAT) }))
        .route("/connections", get(|| async { serve(&CONNECTIONS) }))
        .route(
            "/athletes/{id}/connections",
            get(|| async { serve(&CONNECTIONS) }),
        )
        .route(
            "/console",
            get(|| async { Redirect::temporary("/console/users") }),
        )
        .route("/console/users", get(|| async { serve(&CONSOLE) }))
        .route("/console/invitations", get(|| async { serve(&CONSOLE) }))
        .route("/console/health", get(|| async { serve(&CONSOLE) }))
        .route("/console/data-quality", get(|| async { serve(&CONSOLE) }))
        .route("/console/audit", get(|| async { serve(&CONSOLE) }))
        .route("/assets/app.css", get(|| async { serve(&STYLE) }))
        .route("/assets/app.js", get(|| async { serve(&SCRIPT) }))
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn only_paths_on_this_site_are_followed_after_login() {
        for local in [
            "/",
            "/board",
            "/live/s-1?x=1",
            "/sessions/7#cues",
            "/a//b",
            "/%2F%5C",
        ] {
            assert!(is_local_path(local), "{local:?} is a path on this site");
        }
        for elsewhere in [
            "",
            "board",
            "//evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "/\t/evil.example",
            "/\n/evil.example",
            "/x\\y",
            " /board",
        ] {
            assert!(!is_local_path(elsewhere), "{elsewhere:?} leaves the site");
        }
    }
}
