//! The gateway on an external MQTT broker (a cluster such as EMQX) instead of its
//! embedded rumqttd: the larger install of `deploy/cluster/`.
//!
//! **Ingress.** The gateway connects to the broker as one MQTT client
//! ([`Settings::mqtt_broker`](crate::settings::Settings), user `mqtt_broker_user`) and
//! subscribes to the uplinks through a shared subscription
//! (`$share/paceline/pl/v1/+/+/up` by default), so the broker splits devices among the
//! gateways of one group; with a sticky strategy (EMQX's `hash_clientid`) a device's frames
//! always reach the same gateway, whose engine holds the device's coach. Every frame goes
//! through [`Live::on_frame`] exactly as from the embedded broker: opened with the device
//! key, checked against the topic it came on, stored, acknowledged after the commit.
//! Acks and cues go back on the devices' `down` topics through the same client.
//!
//! The client runs on a thread of its own (`mqtt-ingress`, with a one-thread runtime),
//! because [`Live::on_frame`] may wait (for the writer's queue); it reconnects by itself
//! (a second apart) and subscribes again after every CONNACK (clean sessions: a frame
//! published while no gateway listened is never acknowledged, so its device resends it).
//!
//! **Device authentication at the broker.** The broker calls back to the gateway over
//! HTTP, in the shape of EMQX's HTTP authenticator and authorizer:
//! `POST /internal/mqtt/auth` with `{"clientid","username","password"}` and
//! `POST /internal/mqtt/acl` with `{"clientid","username","topic","action"}`, each answered
//! `{"result":"allow"}` or `{"result":"deny"}` — or `{"result":"ignore"}` for a device
//! this gateway does not know, so that a broker with one hook per gateway (tenant shards,
//! each gateway with its own database) asks the next one. The broker proves itself with
//! `Authorization: Bearer <mqtt_hook_secret>`; without that setting the hooks are not
//! served at all. A device may connect with client id = username = its device id and its
//! token as the password, publish only on its own `up` topic and subscribe only to its
//! own `down` topic; the gateway's own user (with `mqtt_broker_password`) may do anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use paceline_schemas::MAX_FRAME_BYTES;
use paceline_schemas::topic::{Direction, Topic};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::live::{DeviceStanding, Live, Origin};
use crate::settings::ExternalBroker;

/// Requests to the broker queued before publishing fails (and the frame is counted as
/// not sent): acks and cues are small, and a device resends what it did not hear acked.
const CLIENT_QUEUE_REQUESTS: usize = 65_536;

/// Why the gateway could not start on the external broker.
#[derive(Debug, thiserror::Error)]
pub enum ExternalBrokerError {
    /// The broker's address is not `host:port`.
    #[error("mqtt_broker {0:?}: expected host:port")]
    Address(String),
    /// A thread could not be started.
    #[error("starting the MQTT ingress thread: {0}")]
    Thread(std::io::Error),
}

/// The client's options for `broker`.
fn options(broker: &ExternalBroker) -> Result<MqttOptions, ExternalBrokerError> {
    let (host, port) = broker
        .address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .filter(|(host, _)| !host.is_empty())
        .ok_or_else(|| ExternalBrokerError::Address(broker.address.clone()))?;
    let client_id = format!("{}-{}", broker.user, std::process::id());
    let mut options = MqttOptions::new(client_id, host.trim_matches(['[', ']']), port);
    options
        .set_keep_alive(Duration::from_secs(10))
        .set_clean_session(true)
        .set_max_packet_size(MAX_FRAME_BYTES + 1024, MAX_FRAME_BYTES + 1024);
    if let Some(password) = &broker.password {
        options.set_credentials(broker.user.clone(), password.expose().to_owned());
    }
    Ok(options)
}

/// The gateway's client of the external broker.
pub struct BrokerClient {
    /// What the downlink publishes with.
    pub client: AsyncClient,
    /// True while the gateway is connected and subscribed to the uplinks (the gateway is
    /// not ready without it: frames published meanwhile reach nobody).
    pub subscribed: Arc<AtomicBool>,
}

/// Connects to the broker and feeds every uplink to `live`, from a thread of its own.
pub fn start(
    broker: &ExternalBroker,
    live: Arc<std::sync::OnceLock<Arc<Live>>>,
) -> Result<BrokerClient, ExternalBrokerError> {
    let options = options(broker)?;
    let (client, mut eventloop) = AsyncClient::new(options, CLIENT_QUEUE_REQUESTS);
    let subscribed = Arc::new(AtomicBool::new(false));
    let is_subscribed = Arc::clone(&subscribed);
    let subscriber = client.clone();
    let subscription = broker.subscription.clone();
    let address = broker.address.clone();
    std::thread::Builder::new()
        .name("mqtt-ingress".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    tracing::error!(error = %err, "the MQTT ingress runtime did not start");
                    return;
                }
            };
            runtime.block_on(async move {
                let mut connected = false;
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            tracing::info!(broker = %address, %subscription, "connected to the MQTT broker");
                            connected = true;
                            if let Err(err) =
                                subscriber.try_subscribe(subscription.clone(), QoS::AtLeastOnce)
                            {
                                tracing::error!(error = %err, "subscribing to the uplinks failed");
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(ack))) => {
                            let granted = ack.return_codes.iter().all(|code| {
                                matches!(code, rumqttc::SubscribeReasonCode::Success(_))
                            });
                            if !granted {
                                tracing::error!(%subscription, "the broker refused the uplink subscription");
                            }
                            is_subscribed.store(granted, Ordering::Relaxed);
                        }
                        Ok(Event::Incoming(Packet::Publish(publish))) => {
                            let Some(live) = live.get() else { continue };
                            live.on_frame(
                                &publish.payload,
                                Origin::Mqtt {
                                    topic: &publish.topic,
                                },
                            );
                        }
                        Ok(_) => {}
                        Err(err) => {
                            if connected {
                                tracing::warn!(broker = %address, error = %err, "lost the MQTT broker; reconnecting");
                            } else {
                                tracing::warn!(broker = %address, error = %err, "cannot reach the MQTT broker; retrying");
                            }
                            connected = false;
                            is_subscribed.store(false, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        })
        .map_err(ExternalBrokerError::Thread)?;
    Ok(BrokerClient { client, subscribed })
}

/// What the hooks share.
#[derive(Clone)]
struct HookState {
    live: Arc<Live>,
    secret_sha256: [u8; 32],
    gateway_user: String,
    gateway_password_sha256: Option<[u8; 32]>,
}

/// The broker's authentication request (EMQX HTTP authenticator).
#[derive(Debug, Deserialize)]
struct AuthRequest {
    clientid: String,
    username: String,
    password: String,
}

/// The broker's authorization request (EMQX HTTP authorizer).
#[derive(Debug, Deserialize)]
struct AclRequest {
    clientid: String,
    username: String,
    topic: String,
    action: String,
}

/// The hooks' routes, if the broker has a secret to call them with.
pub fn hooks_router(live: Arc<Live>, broker: &ExternalBroker) -> Option<Router> {
    let secret = broker.hook_secret.as_ref()?;
    let state = HookState {
        live,
        secret_sha256: sha256(secret.expose()),
        gateway_user: broker.user.clone(),
        gateway_password_sha256: broker.password.as_ref().map(|p| sha256(p.expose())),
    };
    Some(
        Router::new()
            .route("/internal/mqtt/auth", post(auth))
            .route("/internal/mqtt/acl", post(acl))
            .with_state(state),
    )
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Compares digests, so the time taken says nothing about where two secrets differ.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn decision(allow: bool) -> Response {
    answer(if allow { "allow" } else { "deny" })
}

fn answer(result: &str) -> Response {
    axum::Json(json!({ "result": result })).into_response()
}

fn caller_is_broker(state: &HookState, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| same_digest(&sha256(token), &state.secret_sha256))
}

fn refused() -> Response {
    crate::http::error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the broker's hook secret is missing or wrong",
    )
}

/// A hook's request, if the broker proved itself and the body is well-formed; the JSON
/// error to answer otherwise.
fn hook_request<T: serde::de::DeserializeOwned>(
    state: &HookState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Box<Response>> {
    if !caller_is_broker(state, headers) {
        return Err(Box::new(refused()));
    }
    serde_json::from_slice(body).map_err(|err| {
        Box::new(crate::http::error(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            &err.to_string(),
        ))
    })
}

async fn auth(
    State(state): State<HookState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request: AuthRequest = match hook_request(&state, &headers, &body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    if request.username == state.gateway_user {
        let allow = state
            .gateway_password_sha256
            .is_some_and(|expected| same_digest(&sha256(&request.password), &expected));
        return decision(allow);
    }
    // As at the embedded broker: the client id is the device's own id.
    let live = Arc::clone(&state.live);
    let verdict = tokio::task::spawn_blocking(move || {
        if live.device_standing(&request.username) == DeviceStanding::Unknown {
            return "ignore";
        }
        let allow = request.clientid == request.username
            && live.authenticate(None, &request.username, &request.password);
        if allow { "allow" } else { "deny" }
    })
    .await
    .unwrap_or("deny");
    answer(verdict)
}

async fn acl(
    State(state): State<HookState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request: AclRequest = match hook_request(&state, &headers, &body) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    if request.username == state.gateway_user {
        // Authenticated by its password at CONNECT.
        return decision(true);
    }
    let wanted = match request.action.as_str() {
        "publish" => Direction::Up,
        "subscribe" => Direction::Down,
        _ => return decision(false),
    };
    let live = Arc::clone(&state.live);
    let username = request.username.clone();
    let standing = tokio::task::spawn_blocking(move || live.device_standing(&username))
        .await
        .unwrap_or(DeviceStanding::Revoked);
    let tenant = match standing {
        DeviceStanding::Unknown => return answer("ignore"),
        DeviceStanding::Revoked => return decision(false),
        DeviceStanding::Active(tenant) => tenant,
    };
    let allow = request.clientid == request.username
        && Topic::parse(&request.topic).is_ok_and(|topic| {
            topic.tenant == tenant
                && topic.device.as_str() == request.username
                && topic.direction == wanted
        });
    decision(allow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_address_must_be_host_and_port() {
        let broker = |address: &str| ExternalBroker {
            address: address.to_owned(),
            user: "paceline-gateway".to_owned(),
            password: None,
            subscription: "pl/v1/+/+/up".to_owned(),
            hook_secret: None,
        };
        assert!(options(&broker("emqx:1883")).is_ok());
        assert!(options(&broker("[::1]:1883")).is_ok());
        for bad in ["emqx", ":1883", "emqx:port", "emqx:70000"] {
            let err = options(&broker(bad)).unwrap_err().to_string();
            assert!(err.contains("expected host:port"), "{bad}: {err}");
        }
    }

    #[test]
    fn digests_compare_equal_only_when_equal() {
        assert!(same_digest(&sha256("a secret"), &sha256("a secret")));
        assert!(!same_digest(&sha256("a secret"), &sha256("a secreT")));
    }
}
