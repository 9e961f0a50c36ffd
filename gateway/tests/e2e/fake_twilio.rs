//! A local server that speaks Twilio's REST API for sending messages
//! (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, basic auth with the account and
//! its auth token, form fields `To`, `From`, `Body`): it answers 201 with the message's
//! JSON, 401 to any other credentials, and records every message taken.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

/// One message taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// `To`.
    pub to: String,
    /// `From`.
    pub from: String,
    /// `Body`.
    pub body: String,
}

#[derive(Clone)]
struct Account {
    sid: String,
    token: String,
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// The running server; stops when dropped.
pub struct FakeTwilio {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub base_url: String,
    sent: Arc<Mutex<Vec<Sent>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn messages(
    State(account): State<Account>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", account.sid, account.token))
    );
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if sid.trim_end_matches(".json") != account.sid || auth != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        )
            .into_response();
    }
    let get = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let sent = Sent {
        to: get("To"),
        from: get("From"),
        body: get("Body"),
    };
    account.sent.lock().unwrap().push(sent.clone());
    (
        StatusCode::CREATED,
        axum::Json(
            json!({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued",
            "to": sent.to, "from": sent.from, "body": sent.body, "account_sid": account.sid}),
        ),
    )
        .into_response()
}

impl FakeTwilio {
    /// Starts one for this account on an ephemeral loopback port.
    pub async fn start(account_sid: &str, auth_token: &str) -> FakeTwilio {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
            .with_state(Account {
                sid: account_sid.to_owned(),
                token: auth_token.to_owned(),
                sent: Arc::clone(&sent),
            });
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeTwilio {
            base_url: format!("http://{addr}"),
            sent,
            task,
        }
    }

    /// Every message taken so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}
