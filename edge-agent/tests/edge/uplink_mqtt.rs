//! MQTT uplink against a real rumqttd broker (a child process, so it can be killed and
//! restarted on the same port) and a test gateway that stores and acks: a 10 s broker
//! outage mid-session loses nothing, keeps the order, and never resends past the ack.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paceline_edge::agent::{Agent, AgentConfig, AgentEvent, AthleteConfig, GatewayConfig, Source};
use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::simulator::{Scenario, SimulatedAthlete, SimulatorConfig};
use paceline_schemas::cue::{Cue, CueCode, Severity};
use paceline_schemas::{Command, DeviceKey, FrameKind, Payload, SessionId, codec};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use paceline_testkit::ports::{free_tcp_port, listening, loopback};
use paceline_testkit::process::{kill, spawn_role};
use paceline_testkit::wait_until;

use crate::harness::{Store, credentials};

const BROKER_PORT_ENV: &str = "PACELINE_EDGE_TEST_BROKER_PORT";
const BROKER_AUTH_ENV: &str = "PACELINE_EDGE_TEST_BROKER_AUTH";
const GATEWAY_USER: &str = "test-gateway";
const GATEWAY_PASSWORD: &str = "gateway-password";

/// The broker of the outage test: rumqttd on `port`, with username/password `auth`.
fn broker_config(port: u16, auth: HashMap<String, String>) -> rumqttd::Config {
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: 70 * 1024,
        max_inflight_count: 100,
        auth: Some(auth),
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "test".to_owned(),
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 200,
            max_segment_size: 1024 * 1024,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..rumqttd::Config::default()
    }
}

/// The child role of the outage test (with its variables set): the broker, until killed.
/// Run as a plain test, it starts the same broker in-process and checks that it accepts
/// the right password and refuses a wrong one, so the broker the outage test kills and
/// restarts is itself tested.
#[test]
fn broker_process() {
    if let Ok(port) = std::env::var(BROKER_PORT_ENV) {
        let auth: HashMap<String, String> = std::env::var(BROKER_AUTH_ENV)
            .unwrap()
            .split(',')
            .map(|pair| {
                let (user, password) = pair.split_once('=').unwrap();
                (user.to_owned(), password.to_owned())
            })
            .collect();
        rumqttd::Broker::new(broker_config(port.parse().unwrap(), auth))
            .start()
            .unwrap();
        return;
    }
    let port = free_tcp_port();
    let auth = HashMap::from([("strap-1".to_owned(), "right".to_owned())]);
    // The broker runs until this test binary exits.
    std::thread::spawn(move || {
        if let Err(e) = rumqttd::Broker::new(broker_config(port, auth)).start() {
            panic!("the in-process broker stopped: {e}");
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        wait_until(
            "the broker to listen",
            Duration::from_secs(20),
            async || listening(loopback(port)).await,
        )
        .await;
        assert_eq!(connect(port, "strap-1", "right").await, Ok(()));
        assert!(connect(port, "strap-1", "wrong").await.is_err());
        assert!(connect(port, "nobody", "right").await.is_err());
    });
}

/// Connects as `user`: Ok on an accepting CONNACK, else why not.
async fn connect(port: u16, user: &str, password: &str) -> Result<(), String> {
    let mut options = MqttOptions::new(user, "127.0.0.1", port);
    options.set_credentials(user, password);
    let (_client, mut events) = AsyncClient::new(options, 10);
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.poll())
            .await
            .expect("the broker answers within 10 s");
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                return match ack.code {
                    rumqttc::ConnectReturnCode::Success => Ok(()),
                    refused => Err(format!("{refused:?}")),
                };
            }
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn spawn_broker(port: u16, device: &DeviceCredentials) -> std::process::Child {
    let auth = format!(
        "{}={},{GATEWAY_USER}={GATEWAY_PASSWORD}",
        device.device,
        device.token.expose_hex()
    );
    spawn_role(
        "uplink_mqtt::broker_process",
        &[(BROKER_PORT_ENV, port.to_string()), (BROKER_AUTH_ENV, auth)],
        Stdio::null(),
    )
}

/// Whether the test gateway also sends, after the first frame it stores, an impossible
/// ack (genuine key, far past anything sent) and a forged one (wrong key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acks {
    Honest,
    AlsoHostile,
}

/// The test gateway: subscribes to every uplink, stores, acks on the device's down topic,
/// and sends a cue for every tenth stored frame (and, with [`Acks::AlsoHostile`], the
/// hostile acks once). Returns once the broker has granted its subscription, so no frame
/// the agent publishes afterwards goes to nobody.
async fn spawn_gateway(
    port: u16,
    store: Arc<Mutex<Store>>,
    acks: Acks,
) -> tokio::task::JoinHandle<()> {
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel::<()>();
    let mut subscribed_tx = Some(subscribed_tx);
    let gateway = tokio::spawn(async move {
        let mut options = MqttOptions::new(GATEWAY_USER, "127.0.0.1", port);
        options
            .set_credentials(GATEWAY_USER, GATEWAY_PASSWORD)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(70 * 1024, 70 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let mut forged_sent = acks == Acks::Honest;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client
                        .subscribe("pl/v1/+/+/up", QoS::AtLeastOnce)
                        .await
                        .unwrap();
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = subscribed_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let down = publish.topic.replace("/up", "/down");
                    let (ack, extra) = {
                        let mut store = store.lock().unwrap();
                        let ack = store.receive(&publish.payload);
                        let mut extra = Vec::new();
                        if ack.is_some() {
                            let frame = codec::decode_frame(&publish.payload).unwrap();
                            let stored = store.stored.len();
                            if stored.is_multiple_of(10) && !store.stored.last().unwrap().duplicate
                            {
                                let cue = Cue {
                                    session: frame.header.session.clone(),
                                    t_s: stored as f64,
                                    severity: Severity::Info,
                                    code: CueCode::StepStart,
                                    text: format!("cue after {stored} frames"),
                                    modification: None,
                                };
                                let genuine = store.seal_down(&frame, Payload::Cue(cue.clone()));
                                store.cues_sent += 1;
                                extra.push(genuine.clone());
                                if acks == Acks::AlsoHostile && store.cues_sent == 1 {
                                    // The same cue replayed, an older one released late,
                                    // and one whose body names another ride: none spoken.
                                    extra.push(genuine);
                                    extra.push(store.seal_down_as(
                                        &frame,
                                        1,
                                        Payload::Cue(cue.clone()),
                                    ));
                                    let mut unbound = cue;
                                    unbound.session = SessionId::new("another-ride").unwrap();
                                    extra.push(store.seal_down(&frame, Payload::Cue(unbound)));
                                }
                            }
                            if !forged_sent {
                                forged_sent = true;
                                // A genuine but impossible ack (far past anything sent): the
                                // agent must not release frames it has not sent.
                                extra.push(store.seal_down(
                                    &frame,
                                    Payload::Ack(paceline_schemas::Ack {
                                        committed_seq: frame.header.seq + 1_000_000,
                                    }),
                                ));
                                let mut forger = Store::new(DeviceKey::generate());
                                extra.push(forger.seal_down(
                                    &frame,
                                    Payload::Ack(paceline_schemas::Ack {
                                        committed_seq: u64::MAX,
                                    }),
                                ));
                            }
                        }
                        (ack, extra)
                    };
                    for bytes in ack.into_iter().chain(extra) {
                        let _ = client
                            .publish(down.as_str(), QoS::AtLeastOnce, false, bytes)
                            .await;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(20), subscribed)
        .await
        .expect("the test gateway's subscription is granted within 20 s")
        .expect("the test gateway runs until it is subscribed");
    gateway
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_loses_nothing_and_keeps_order() {
    let port = free_tcp_port();
    let device = credentials("strap-mqtt");
    let mut broker = spawn_broker(port, &device);
    wait_until(
        "the broker to listen",
        Duration::from_secs(20),
        async || listening(loopback(port)).await,
    )
    .await;

    let store = Arc::new(Mutex::new(Store::new(device.key.clone())));
    let gateway = spawn_gateway(port, store.clone(), Acks::AlsoHostile).await;

    let spool_dir = std::env::temp_dir().join(format!("paceline-edge-mqtt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool_dir);
    let mut config = AgentConfig::new(
        GatewayConfig::mqtt(SocketAddr::from(([127, 0, 0, 1], port))),
        spool_dir.clone(),
        vec![AthleteConfig {
            name: "mqtt".into(),
            credentials: device.clone(),
            source: Source::Push,
        }],
    );
    config.resend_after_ms = 1_500;
    config.reconnect_max_ms = 500;
    config.shutdown_wait_ms = 15_000;
    let mut agent = Agent::start(config).await.unwrap();
    let mut events = agent.events_from_start().unwrap();
    let session = agent.sessions()[&device.device].clone();
    let push = agent.sample_sender(&device.device).unwrap();

    // Everything the agent says, collected in the background.
    let seen: Arc<Mutex<Vec<AgentEvent>>> = Arc::default();
    let collector = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                seen.lock().unwrap().push(event);
            }
        })
    };
    let acked = |seen: &Mutex<Vec<AgentEvent>>| {
        seen.lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                AgentEvent::Acked { committed_seq, .. } => Some(*committed_seq),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    };

    // A simulated athlete's samples, pushed at 10× real time, 100 ms apart.
    let mut athlete = SimulatedAthlete::new(SimulatorConfig {
        scenario: Scenario::Intervals,
        ..SimulatorConfig::default()
    });
    let mut pushed = Vec::new();
    let mut virtual_ms = 0;
    let mut push_for = async |duration: Duration, pushed: &mut Vec<paceline_schemas::Sample>| {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            virtual_ms += 1_000;
            for sample in athlete.samples_at(virtual_ms) {
                pushed.push(sample.clone());
                push.send(sample).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    push_for(Duration::from_secs(2), &mut pushed).await;
    wait_until(
        "acks before the outage",
        Duration::from_secs(20),
        async || acked(&seen) >= 10,
    )
    .await;
    wait_until("a cue", Duration::from_secs(20), async || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, AgentEvent::CueReceived { .. }))
    })
    .await;

    // The replayed, late and unbound copies of the first cue are dropped and counted.
    wait_until(
        "the three hostile cues to be dropped",
        Duration::from_secs(20),
        async || {
            agent
                .counters(&device.device)
                .unwrap()
                .cues_dropped
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 3
        },
    )
    .await;

    // The broker dies for 10 s while the ride goes on.
    kill(broker);
    let outage_started = Instant::now();
    push_for(Duration::from_millis(300), &mut pushed).await;
    let acked_at_outage = acked(&seen);
    let received_before = store.lock().unwrap().received.len();
    wait_until("the agent notices", Duration::from_secs(10), async || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, AgentEvent::Disconnected { .. }))
    })
    .await;
    push_for(
        Duration::from_secs(10).saturating_sub(outage_started.elapsed()),
        &mut pushed,
    )
    .await;
    broker = spawn_broker(port, &device);
    wait_until(
        "the broker to listen",
        Duration::from_secs(20),
        async || listening(loopback(port)).await,
    )
    .await;
    push_for(Duration::from_secs(2), &mut pushed).await;

    // The ride ends: the End command is spooled and everything must be acknowledged.
    drop(push);
    let spooled_last = || {
        seen.lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                AgentEvent::FrameSpooled { seq, .. } => Some(*seq),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    };
    agent.shutdown().await;
    // The collector drains the channel in the background: wait for the last event.
    wait_until(
        "the uplink's stop event",
        Duration::from_secs(10),
        async || {
            seen.lock()
                .unwrap()
                .iter()
                .any(|e| matches!(e, AgentEvent::UplinkStopped { .. }))
        },
    )
    .await;
    let last_seq = spooled_last();
    let end_seq = seen.lock().unwrap().iter().find_map(|e| match e {
        AgentEvent::SessionEnded { end_seq, .. } => Some(*end_seq),
        _ => None,
    });
    assert_eq!(end_seq, Some(last_seq), "the End frame takes the last seq");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, AgentEvent::UplinkStopped { unacked: 0, .. })),
        "everything acknowledged by the end of shutdown"
    );

    let store = store.lock().unwrap();
    store.assert_complete(&session, last_seq);
    let kinds = store.kinds(&session);
    assert_eq!(kinds.last(), Some(&FrameKind::Command));
    assert!(
        kinds[..kinds.len() - 1]
            .iter()
            .all(|k| *k == FrameKind::Samples)
    );
    match &store.stored.last().unwrap().payload {
        Payload::Command(command) => assert_eq!(*command, Command::End),
        other => panic!("last frame is {other:?}"),
    }
    // Every sample pushed arrived once, in order.
    assert_eq!(store.stored_samples(), pushed);
    // Resends after the outage never went back past what the agent knew was acked.
    let resent_after: Vec<u64> = store.received[received_before..]
        .iter()
        .filter(|r| r.duplicate)
        .map(|r| r.seq)
        .collect();
    assert!(
        resent_after.iter().all(|&seq| seq > acked_at_outage),
        "resent {resent_after:?} though the agent had seen an ack up to {acked_at_outage}"
    );
    assert!(
        store.received[..received_before]
            .iter()
            .all(|r| !r.duplicate),
        "no resend before the outage"
    );
    let cues_sent = store.cues_sent;
    drop(store);
    let events = seen.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AgentEvent::DownFrameRejected { .. })),
        "the forged ack was dropped"
    );
    let cues_heard: Vec<&Cue> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::CueReceived { cue, .. } => Some(cue),
            _ => None,
        })
        .collect();
    let mut texts: Vec<&str> = cues_heard.iter().map(|c| c.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    assert!(!cues_heard.is_empty() && cues_heard.len() <= cues_sent);
    assert_eq!(
        texts.len(),
        cues_heard.len(),
        "no cue heard twice (the replayed and the late copy were dropped): {texts:?}"
    );
    assert!(
        cues_heard.iter().all(|c| c.session == session),
        "only cues of the ride under way are heard"
    );

    assert!(
        events
            .iter()
            .filter(|e| matches!(e, AgentEvent::Connected { .. }))
            .count()
            >= 2
    );
    drop(events);
    collector.abort();
    gateway.abort();
    kill(broker);
    let _ = std::fs::remove_dir_all(&spool_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_command_rides_to_the_end_and_prints_cues() {
    let port = free_tcp_port();
    let device = credentials("strap-cli");
    let broker = spawn_broker(port, &device);
    wait_until(
        "the broker to listen",
        Duration::from_secs(20),
        async || listening(loopback(port)).await,
    )
    .await;
    let store = Arc::new(Mutex::new(Store::new(device.key.clone())));
    let gateway = spawn_gateway(port, store.clone(), Acks::Honest).await;

    let dir = std::env::temp_dir().join(format!("paceline-edge-simulate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let credentials_file = dir.join("devices.toml");
    std::fs::write(
        &credentials_file,
        format!(
            "[[device]]\ntenant = \"{}\"\ndevice = \"{}\"\nkey = \"{}\"\ntoken = \"{}\"\n",
            device.tenant,
            device.device,
            device.key.expose_hex(),
            device.token.expose_hex()
        ),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_paceline-edge"))
        .args([
            "simulate",
            "--scenario",
            "overheat",
            "--speed",
            "50",
            "--duration-s",
            "60",
            "--no-speech",
        ])
        .arg("--credentials")
        .arg(&credentials_file)
        .arg("--spool-dir")
        .arg(dir.join("spool"))
        .args(["--mqtt", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The ride ends by itself once its End frame is acknowledged.
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("[strap-cli] info StepStart: cue after 10 frames"),
        "{stdout}"
    );
    let store = store.lock().unwrap();
    let session = store.stored.first().unwrap().session.clone();
    let last = store.stored.last().unwrap().seq;
    store.assert_complete(&session, last);
    assert_eq!(store.kinds(&session).last(), Some(&FrameKind::Command));
    let samples: usize = store
        .stored
        .iter()
        .map(|r| match &r.payload {
            Payload::Samples(batch) => batch.samples().len(),
            _ => 0,
        })
        .sum();
    // 60 s of HR at 1 Hz and power at 4 Hz (0 ms included, 60,000 ms not).
    assert_eq!(samples, 60 + 240);
    drop(store);
    gateway.abort();
    kill(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_command_replays_a_csv_file_through_the_config() {
    let port = free_tcp_port();
    let device = credentials("bike-file");
    let broker = spawn_broker(port, &device);
    wait_until(
        "the broker to listen",
        Duration::from_secs(20),
        async || listening(loopback(port)).await,
    )
    .await;
    let store = Arc::new(Mutex::new(Store::new(device.key.clone())));
    let gateway = spawn_gateway(port, store.clone(), Acks::Honest).await;

    let dir = std::env::temp_dir().join(format!("paceline-edge-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("time_s,heart_rate,power,cadence,speed\n");
    for t in 0..30 {
        csv.push_str(&format!("{t},{},{},90,\n", 100 + t, 200 + t));
    }
    std::fs::write(dir.join("ride.csv"), csv).unwrap();
    std::fs::write(
        dir.join("agent.toml"),
        format!(
            "[gateway]\nmqtt = \"127.0.0.1:{port}\"\n[spool]\ndir = \"{}\"\n[cues]\nspeech = false\n\
             [[athlete]]\nname = \"File rider\"\ntenant = \"{}\"\ndevice = \"{}\"\nkey = \"{}\"\ntoken = \"{}\"\n\
             source = {{ kind = \"file\", path = \"{}\", speed = 100.0 }}\n",
            dir.join("spool").display(),
            device.tenant,
            device.device,
            device.key.expose_hex(),
            device.token.expose_hex(),
            dir.join("ride.csv").display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_paceline-edge"))
        .arg("run")
        .arg("--config")
        .arg(dir.join("agent.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let store = store.lock().unwrap();
    let session = store.stored.first().unwrap().session.clone();
    store.assert_complete(&session, store.stored.last().unwrap().seq);
    let heart_rates: Vec<u16> = store
        .stored
        .iter()
        .filter_map(|r| match &r.payload {
            Payload::Samples(batch) => Some(batch.samples().to_vec()),
            _ => None,
        })
        .flatten()
        .filter_map(|s| match s.value {
            paceline_schemas::SampleValue::HeartRate(hr) => Some(hr.bpm),
            _ => None,
        })
        .collect();
    assert_eq!(
        heart_rates,
        (100..130).collect::<Vec<u16>>(),
        "every row, in order"
    );
    assert_eq!(store.kinds(&session).last(), Some(&FrameKind::Command));
    drop(store);
    gateway.abort();
    kill(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_the_gateway_missed_is_resent_when_acks_stall() {
    let port = free_tcp_port();
    let device = credentials("strap-lost");
    let broker = spawn_broker(port, &device);
    wait_until(
        "the broker to listen",
        Duration::from_secs(20),
        async || listening(loopback(port)).await,
    )
    .await;
    let store = Arc::new(Mutex::new(Store::new(device.key.clone())));
    store.lock().unwrap().lose_once = Some(5);
    let gateway = spawn_gateway(port, store.clone(), Acks::Honest).await;
    let spool_dir = std::env::temp_dir().join(format!("paceline-edge-lost-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool_dir);
    let mut config = AgentConfig::new(
        GatewayConfig::mqtt(SocketAddr::from(([127, 0, 0, 1], port))),
        spool_dir.clone(),
        vec![AthleteConfig {
            name: "lost".into(),
            credentials: device.clone(),
            source: Source::Push,
        }],
    );
    config.resend_after_ms = 1_000;
    config.shutdown_wait_ms = 10_000;
    let agent = Agent::start(config).await.unwrap();
    let session = agent.sessions()[&device.device].clone();
    let push = agent.sample_sender(&device.device).unwrap();
    // Frames keep flowing every 100 ms (for 15 s at least), faster than the stall check:
    // it must still fire, and the acks pass the lost frame while they flow.
    let feeder = tokio::spawn(async move {
        let mut athlete = SimulatedAthlete::new(SimulatorConfig::default());
        for second in 1..=150u64 {
            for sample in athlete.samples_at(second * 1000) {
                push.send(sample).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    wait_until(
        "acks past the lost frame while frames keep flowing",
        Duration::from_secs(20),
        async || {
            let committed = store.lock().unwrap().committed_of(&session);
            assert!(
                committed >= 25 || !feeder.is_finished(),
                "acks stalled at the lost frame while frames kept flowing (committed {committed})"
            );
            (committed >= 25)
                .then_some(())
                .ok_or_else(|| format!("committed {committed}"))
        },
    )
    .await;
    feeder.abort();
    let _ = feeder.await; // ends the pushes
    agent.shutdown().await;
    let store = store.lock().unwrap();
    let last = store.stored.last().unwrap().seq;
    store.assert_complete(&session, last);
    assert!(store.received.iter().any(|r| r.duplicate || r.seq == 5));
    drop(store);
    gateway.abort();
    kill(broker);
    let _ = std::fs::remove_dir_all(&spool_dir);
}
