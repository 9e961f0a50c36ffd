//! The gateway's HTTP API (reqwest) and its live WebSockets (tokio-tungstenite): any
//! request, and the usual set-up steps (register a gym, log in, invite, create an
//! athlete, pair a device) as one call each that fails the test if refused.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use paceline_edge::credentials::DeviceCredentials;
use paceline_schemas::{DeviceId, DeviceKey, DeviceToken, TenantId};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;

use crate::gateway::{Gateway, PROFILE};
use crate::wait::DEADLINE;

/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// The API of one gateway.
#[derive(Clone)]
pub struct Api {
    /// `http://addr/api/v1`.
    pub base: String,
    http: std::net::SocketAddr,
    client: reqwest::Client,
}

/// A response: status, JSON body (Null when not JSON), raw bytes, headers.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// The body as JSON.
    pub json: Value,
    /// The raw body.
    pub bytes: Vec<u8>,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Api {
    /// The API of `gateway`.
    pub fn of(gateway: &Gateway) -> Api {
        Api {
            base: format!("http://{}/api/v1", gateway.http),
            http: gateway.http,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// Any request.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap().to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            json,
            bytes,
            headers,
        }
    }

    /// A request with a raw body.
    pub async fn post_raw(&self, path: &str, token: &str, body: Vec<u8>) -> Reply {
        self.try_post_raw(path, token, body)
            .await
            .expect("the API answers")
    }

    /// A request with a raw body; `None` if the connection failed before a reply.
    pub async fn try_post_raw(&self, path: &str, token: &str, body: Vec<u8>) -> Option<Reply> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.ok()?.to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Some(Reply {
            status,
            json,
            bytes,
            headers,
        })
    }

    /// GET.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Registers a new gym with `email` as its gym-admin; the token pair.
    pub async fn register_gym(&self, email: &str, tenant: &str) -> Value {
        let reply = self
            .post(
                "/auth/register",
                None,
                json!({"email": email, "password": PASSWORD, "name": "Gym Admin", "tenant": tenant}),
            )
            .await;
        assert_eq!(reply.status, 201, "register: {}", reply.json);
        reply.json
    }

    /// Logs in; the reply.
    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Invites into the caller's tenant and registers the invitee; their token pair.
    pub async fn invite_and_register(
        &self,
        token: &str,
        role: &str,
        email: &str,
        athlete_id: Option<i64>,
    ) -> Value {
        let mut body = json!({"role": role});
        if let Some(id) = athlete_id {
            body["athlete_id"] = json!(id);
        }
        let invite = self.post("/invitations", Some(token), body).await;
        assert_eq!(invite.status, 201, "invite: {}", invite.json);
        let reply = self
            .post(
                "/auth/register",
                None,
                json!({"email": email, "password": PASSWORD, "name": email,
                    "invitation": invite.json["code"]}),
            )
            .await;
        assert_eq!(reply.status, 201, "register by invitation: {}", reply.json);
        reply.json
    }

    /// Logs in and returns the access token; fails the test if refused.
    pub async fn access_token(&self, email: &str, password: &str) -> String {
        let reply = self.login(email, password).await;
        assert_eq!(reply.status, 200, "login: {}", reply.json);
        access(&reply.json)
    }

    /// Creates an athlete with the shared test profile; its id.
    pub async fn create_athlete(&self, token: &str, name: &str) -> i64 {
        let profile: Value = serde_json::from_str(PROFILE).unwrap();
        let reply = self
            .post(
                "/athletes",
                Some(token),
                json!({"name": name, "profile": profile}),
            )
            .await;
        assert_eq!(reply.status, 201, "create athlete: {}", reply.json);
        reply.json["id"].as_i64().unwrap()
    }

    /// Pairs a device for an athlete; its credentials.
    pub async fn pair(&self, token: &str, athlete_id: i64) -> DeviceCredentials {
        let reply = self
            .post(
                &format!("/athletes/{athlete_id}/devices"),
                Some(token),
                json!({}),
            )
            .await;
        assert_eq!(reply.status, 201, "pair: {}", reply.json);
        let text = |k: &str| reply.json[k].as_str().unwrap().to_owned();
        DeviceCredentials {
            tenant: TenantId::new(text("tenant")).unwrap(),
            device: DeviceId::new(text("device")).unwrap(),
            key: DeviceKey::from_hex(&text("key")).unwrap(),
            token: DeviceToken::from_hex(&text("token")).unwrap(),
        }
    }

    /// Opens a live WebSocket (`/live/board` or `/live/sessions/{id}`) with the token in
    /// an `Authorization: Bearer` header, at 5 samples a second.
    pub async fn live(&self, path: &str, token: &str) -> Live {
        self.try_live(path, token)
            .await
            .unwrap_or_else(|(status, body)| {
                panic!("the live WebSocket opens: HTTP {status} {body}")
            })
    }

    /// Opens a live WebSocket with `Authorization: Bearer`, or the HTTP status and JSON
    /// body it was refused with.
    pub async fn try_live(&self, path: &str, token: &str) -> Result<Live, (u16, Value)> {
        self.open_live(&format!("{path}?rate_hz=5"), Some(token))
            .await
    }

    /// Opens a live WebSocket without a header, as a browser does, and sends the token
    /// as its first message `{"type":"auth","access_token":…}`; or the HTTP status and
    /// JSON body the upgrade was refused with.
    pub async fn try_live_first_message(
        &self,
        path: &str,
        token: &str,
    ) -> Result<Live, (u16, Value)> {
        let mut live = self.open_live(&format!("{path}?rate_hz=5"), None).await?;
        live.send_json(&json!({"type": "auth", "access_token": token}))
            .await;
        Ok(live)
    }

    /// Opens a live WebSocket at `path_and_query` (as given), with the token in an
    /// `Authorization: Bearer` header if any; or the HTTP status and JSON body it was
    /// refused with.
    pub async fn open_live(
        &self,
        path_and_query: &str,
        token: Option<&str>,
    ) -> Result<Live, (u16, Value)> {
        let url = format!("ws://{}/api/v1{path_and_query}", self.http);
        let mut request = url.into_client_request().expect("a WebSocket request");
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("a header");
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Live {
                socket,
                seen: Vec::new(),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err((response.status().as_u16(), body))
            }
            Err(e) => panic!("the live WebSocket failed: {e}"),
        }
    }
}

/// A live WebSocket and every message it brought.
pub struct Live {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// Messages so far.
    pub seen: Vec<Value>,
}

impl Live {
    /// Reads until a message satisfies `want` (or fails the test at the deadline).
    pub async fn wait_for(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.seen.iter().find(|m| want(m)) {
            return found.clone();
        }
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {:?}", self.seen));
            match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    self.seen.push(value.clone());
                    if want(&value) {
                        return value;
                    }
                }
                Some(Ok(Message::Ping(p))) => {
                    let _ = self.socket.send(Message::Pong(p)).await;
                }
                Some(Ok(_)) => {}
                other => panic!("the live socket ended waiting for {what}: {other:?}"),
            }
        }
    }

    /// Reads until the server closes the socket (or fails the test after `within`): the
    /// close frame's code and reason, `None` if the connection ended without one.
    pub async fn wait_closed(&mut self, what: &str, within: Duration) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {:?}", self.seen));
            match next {
                Some(Ok(Message::Text(text))) => {
                    self.seen.push(serde_json::from_str(&text).unwrap());
                }
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return None,
            }
        }
    }

    /// Sends a JSON text message.
    pub async fn send_json(&mut self, value: &Value) -> bool {
        self.socket
            .send(Message::Text(value.to_string().into()))
            .await
            .is_ok()
    }

    /// Sends a text message of `len` bytes.
    pub async fn send_text(&mut self, len: usize) -> bool {
        self.socket
            .send(Message::Text("x".repeat(len).into()))
            .await
            .is_ok()
    }

    /// Reads whatever arrives for `window` (to check what did *not* arrive).
    pub async fn drain_for(&mut self, window: Duration) {
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout_at(deadline, self.socket.next()).await
        {
            if let Message::Text(text) = message {
                self.seen.push(serde_json::from_str(&text).unwrap());
            }
        }
    }
}

/// An access token from a token pair.
pub fn access(pair: &Value) -> String {
    pair["access_token"].as_str().unwrap().to_owned()
}

/// The error code of a reply.
pub fn code(reply: &Reply) -> &str {
    reply.json["error"]["code"].as_str().unwrap_or("")
}
