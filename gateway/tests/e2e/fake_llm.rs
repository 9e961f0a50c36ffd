//! A local server that speaks the OpenAI-compatible `POST /v1/chat/completions` protocol,
//! scripted by the test: each request takes the next scripted answer (tool calls, plain
//! text, garbage bytes, an error status, or an answer held back for a while) and is
//! recorded with its `Authorization` header, so a test can check what the gateway sent.
//! With nothing scripted it answers a plain "Keep it up!".

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// A chat completion with this assistant message (`content`, `tool_calls`).
    Message(Value),
    /// These bytes with status 200, as `application/json` (whatever they are).
    Raw(&'static str),
    /// An error status with a JSON error body.
    Status(u16),
    /// This answer, after waiting this long.
    Slow(Duration, Box<Scripted>),
}

/// A message calling one tool with `arguments` (a JSON object, sent as a string).
pub fn tool_call(name: &str, arguments: Value) -> Scripted {
    Scripted::Message(json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": name, "arguments": arguments.to_string()}}]}))
}

/// A message with text only.
pub fn text(content: &str) -> Scripted {
    Scripted::Message(json!({"role": "assistant", "content": content}))
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The body (`Value::Null` if it was not JSON).
    pub body: Value,
}

#[derive(Default)]
struct Script {
    answers: VecDeque<Scripted>,
    received: Vec<Received>,
}

/// The running server; stops when dropped.
pub struct FakeLlm {
    /// Its base URL, `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn completion(message: Value) -> Value {
    let finish = if message.get("tool_calls").is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    json!({"id": "chatcmpl-fake", "object": "chat.completion", "created": 1_796_558_400,
        "model": "fake-coach",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
}

async fn answer(scripted: Scripted) -> Response {
    let mut scripted = scripted;
    while let Scripted::Slow(wait, then) = scripted {
        tokio::time::sleep(wait).await;
        scripted = *then;
    }
    match scripted {
        Scripted::Message(m) => axum::Json(completion(m)).into_response(),
        Scripted::Raw(bytes) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Scripted::Status(code) => (
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(json!({"error": {"message": "scripted failure", "type": "server_error"}})),
        )
            .into_response(),
        Scripted::Slow(..) => unreachable!("unwrapped above"),
    }
}

async fn completions(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let next = {
        let mut s = script.lock().unwrap();
        s.received.push(Received {
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        s.answers.pop_front()
    };
    answer(next.unwrap_or_else(|| text("Keep it up!"))).await
}

impl FakeLlm {
    /// Starts one on an ephemeral loopback port.
    pub async fn start() -> FakeLlm {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeLlm {
            base_url: format!("http://{addr}/v1"),
            script,
            task,
        }
    }

    /// Scripts the next answer.
    pub fn then(&self, answer: Scripted) {
        self.script.lock().unwrap().answers.push_back(answer);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }
}
