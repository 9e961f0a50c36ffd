//! QUIC uplink against a real quinn endpoint (the test gateway, in this process): the
//! certificate is pinned by its SHA-256, the hello must carry the device's token, and an
//! endpoint restart with 10 s of silence mid-session loses nothing and keeps the order.
//! This gateway takes no datagrams, so an agent asking for them (`quic_datagrams`) keeps
//! every frame on the stream. A second one takes datagrams and loses some, as a busy
//! gateway's socket does: the repeated acks bring them again on the stream, long before
//! the stall resend.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paceline_edge::agent::{
    Agent, AgentConfig, AgentEvent, AthleteConfig, GatewayConfig, QuicTrust, Source,
};
use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::uplink::quic::{ALPN, certificate_fingerprint, parse_fingerprint};
use paceline_schemas::hello::decode_hello;
use paceline_schemas::sample::{Contact, HeartRate};
use paceline_schemas::stream::{FrameReader, write_frame};
use paceline_schemas::{
    Ack, Command, Cue, CueCode, FrameKind, Payload, Sample, SampleValue, Severity, codec, seal,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::mpsc::UnboundedSender;

use paceline_testkit::ports::free_udp_port;
use paceline_testkit::wait_until;

use crate::harness::{Store, credentials};

struct TestCertificate {
    der: CertificateDer<'static>,
    pem: String,
    key: Vec<u8>,
}

fn certificate() -> TestCertificate {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    TestCertificate {
        der: certified.cert.der().clone(),
        pem: certified.cert.pem(),
        key: certified.key_pair.serialize_der(),
    }
}

fn server(addr: SocketAddr, cert: &TestCertificate) -> quinn::Endpoint {
    quinn::Endpoint::server(server_config(cert, false), addr).unwrap()
}

/// The test gateway's QUIC configuration: the certificate, TLS 1.3, the ALPN, and
/// datagrams taken or not.
fn server_config(cert: &TestCertificate, datagrams: bool) -> quinn::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone())),
        )
        .unwrap();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    // Without datagrams, a gateway as older ones: an agent asking for them keeps to the
    // stream.
    let mut transport = quinn::TransportConfig::default();
    if !datagrams {
        transport.datagram_receive_buffer_size(None);
    }
    config.transport_config(Arc::new(transport));
    config
}

/// A gateway that takes datagrams as frames of the connection's stream (acked on it, as
/// the real one) and loses the datagrams carrying the seqs in `lose` the first time.
fn serve_losing_datagrams(
    endpoint: quinn::Endpoint,
    device: DeviceCredentials,
    store: Arc<Mutex<Store>>,
    lose: Arc<Mutex<HashSet<u64>>>,
    datagrams: Arc<Mutex<Vec<u64>>>,
) {
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let (device, store) = (device.clone(), store.clone());
            let (lose, datagrams) = (lose.clone(), datagrams.clone());
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                let Ok((send, recv)) = connection.accept_bi().await else {
                    return;
                };
                let acks = spawn_ack_writer(send);
                tokio::spawn(read_stream(recv, device, store.clone(), acks.clone()));
                while let Ok(datagram) = connection.read_datagram().await {
                    let seq = codec::decode_frame(&datagram).unwrap().header.seq;
                    datagrams.lock().unwrap().push(seq);
                    if lose.lock().unwrap().remove(&seq) {
                        continue;
                    }
                    let ack = store.lock().unwrap().receive(&datagram);
                    if let Some(ack) = ack {
                        let _ = acks.send(ack);
                    }
                }
            });
        }
    });
}

/// Writes each ack it is handed onto the stream, length-prefixed, in order, until the
/// stream or every sender closes.
fn spawn_ack_writer(mut send: quinn::SendStream) -> UnboundedSender<Vec<u8>> {
    let (acks, mut to_write) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(ack) = to_write.recv().await {
            let mut out = Vec::new();
            write_frame(&mut out, &ack).unwrap();
            if send.write_all(&out).await.is_err() {
                return;
            }
        }
    });
    acks
}

/// Reads one stream: the hello (device and token checked), then frames into the store,
/// each ack the store answers handed to `acks`.
async fn read_stream(
    mut recv: quinn::RecvStream,
    device: DeviceCredentials,
    store: Arc<Mutex<Store>>,
    acks: UnboundedSender<Vec<u8>>,
) {
    let mut reader = FrameReader::new();
    let mut hello_seen = false;
    let mut buffer = vec![0u8; 16 * 1024];
    while let Ok(Some(n)) = recv.read(&mut buffer).await {
        reader.push(&buffer[..n]);
        while let Ok(Some(message)) = reader.next_frame() {
            if !hello_seen {
                let hello = decode_hello(&message).unwrap();
                assert_eq!(hello.device, device.device);
                assert_eq!(hello.token, device.token, "the hello carries the token");
                hello_seen = true;
                continue;
            }
            let ack = store.lock().unwrap().receive(&message);
            if let Some(ack) = ack
                && acks.send(ack).is_err()
            {
                return;
            }
        }
    }
}

/// Pushes `seconds` heart-rate samples, one a second at 100 bpm.
async fn push_heart_rate(push: &tokio::sync::mpsc::Sender<Sample>, seconds: u64) {
    for t_s in 0..seconds {
        push.send(Sample {
            t_ms: t_s * 1000,
            value: SampleValue::HeartRate(HeartRate {
                bpm: 100,
                contact: Contact::On,
                energy_kj: None,
                rr_1024: vec![],
            }),
        })
        .await
        .unwrap();
    }
}

fn serve(endpoint: quinn::Endpoint, device: DeviceCredentials, store: Arc<Mutex<Store>>) {
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let device = device.clone();
            let store = store.clone();
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((send, recv)) = connection.accept_bi().await {
                    let acks = spawn_ack_writer(send);
                    tokio::spawn(read_stream(recv, device.clone(), store.clone(), acks));
                }
            });
        }
    });
}

#[test]
fn fingerprints_parse_with_or_without_colons() {
    let plain = "ab".repeat(32);
    let colons = vec!["AB"; 32].join(":");
    assert_eq!(parse_fingerprint(&plain).unwrap(), [0xab; 32]);
    assert_eq!(parse_fingerprint(&colons).unwrap(), [0xab; 32]);
    assert!(parse_fingerprint("abc").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_restart_loses_nothing_and_keeps_order() {
    let port = free_udp_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let cert = certificate();
    let device = credentials("strap-quic");
    let store = Arc::new(Mutex::new(Store::new(device.key.clone())));
    let endpoint = server(addr, &cert);
    serve(endpoint.clone(), device.clone(), store.clone());

    let spool_dir = std::env::temp_dir().join(format!("paceline-edge-quic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool_dir);
    let pin = QuicTrust::Fingerprint(certificate_fingerprint(cert.der.as_ref()));
    let mut config = AgentConfig::new(
        GatewayConfig::quic(addr, pin),
        spool_dir.clone(),
        vec![AthleteConfig {
            name: "quic".into(),
            credentials: device.clone(),
            source: Source::Push,
        }],
    );
    config.resend_after_ms = 1_500;
    config.reconnect_max_ms = 500;
    config.shutdown_wait_ms = 15_000;
    // Asked for, but this gateway takes none: every frame still goes on the stream.
    config.gateway.quic_datagrams = true;
    let mut agent = Agent::start(config).await.unwrap();
    let session = agent.sessions()[&device.device].clone();
    let push = agent.sample_sender(&device.device).unwrap();
    let mut events = agent.events_from_start().unwrap();
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

    let mut pushed = Vec::new();
    let mut t_ms = 0;
    let mut push_for = async |duration: Duration, pushed: &mut Vec<Sample>| {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            t_ms += 1_000;
            let sample = Sample {
                t_ms,
                value: SampleValue::HeartRate(HeartRate {
                    bpm: 120 + u16::try_from(t_ms / 1000 % 40).unwrap(),
                    contact: Contact::On,
                    energy_kj: None,
                    rr_1024: vec![500],
                }),
            };
            pushed.push(sample.clone());
            push.send(sample).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };

    push_for(Duration::from_secs(2), &mut pushed).await;
    wait_until(
        "acks before the outage",
        Duration::from_secs(20),
        async || acked(&seen) >= 10,
    )
    .await;

    // The gateway's endpoint goes away for 10 s; the ride goes on.
    endpoint.close(0u32.into(), b"restart");
    drop(endpoint);
    let outage_started = Instant::now();
    let received_before = store.lock().unwrap().received.len();
    let acked_at_outage = acked(&seen);
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
    let endpoint = server(addr, &cert);
    serve(endpoint.clone(), device.clone(), store.clone());
    push_for(Duration::from_secs(2), &mut pushed).await;

    drop(push);
    agent.shutdown().await;
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
    let last_seq = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            AgentEvent::FrameSpooled { seq, .. } => Some(*seq),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, AgentEvent::UplinkStopped { unacked: 0, .. })),
        "everything acknowledged by the end of shutdown"
    );
    let store = store.lock().unwrap();
    store.assert_complete(&session, last_seq);
    assert_eq!(store.kinds(&session).last(), Some(&FrameKind::Command));
    assert_eq!(store.stored_samples(), pushed);
    let resent_after: Vec<u64> = store.received[received_before..]
        .iter()
        .filter(|r| r.duplicate)
        .map(|r| r.seq)
        .collect();
    assert!(
        resent_after.iter().all(|&seq| seq > acked_at_outage),
        "resent {resent_after:?} though the agent had seen an ack up to {acked_at_outage}"
    );
    drop(store);
    collector.abort();
    endpoint.close(0u32.into(), b"done");
    let _ = std::fs::remove_dir_all(&spool_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_datagrams_are_resent_on_the_stream_once_acks_repeat() {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let cert = certificate();
    let device = credentials("strap-datagrams");
    let store = Arc::new(Mutex::new(Store::new(device.key.clone())));
    store.lock().unwrap().hold_above_gap = true;
    // One lost alone, then two in a row.
    let lose: Arc<Mutex<HashSet<u64>>> = Arc::new(Mutex::new(HashSet::from([8, 15, 16])));
    let datagrams: Arc<Mutex<Vec<u64>>> = Arc::default();
    let endpoint = quinn::Endpoint::server(server_config(&cert, true), addr).unwrap();
    serve_losing_datagrams(
        endpoint.clone(),
        device.clone(),
        store.clone(),
        lose.clone(),
        datagrams.clone(),
    );

    let spool_dir =
        std::env::temp_dir().join(format!("paceline-edge-datagrams-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool_dir);
    let pin = QuicTrust::Fingerprint(certificate_fingerprint(cert.der.as_ref()));
    let mut config = AgentConfig::new(
        GatewayConfig::quic(addr, pin),
        spool_dir.clone(),
        vec![AthleteConfig {
            name: "datagrams".into(),
            credentials: device.clone(),
            source: Source::Push,
        }],
    );
    // Only the repeated acks can bring the lost frames back within this test.
    config.resend_after_ms = 600_000;
    config.gateway.quic_datagrams = true;
    config.shutdown_wait_ms = 20_000;
    let agent = Agent::start(config).await.unwrap();
    let session = agent.sessions()[&device.device].clone();
    let push = agent.sample_sender(&device.device).unwrap();
    let mut pushed = Vec::new();
    for t_s in 1..=30u16 {
        let sample = Sample {
            t_ms: u64::from(t_s) * 1000,
            value: SampleValue::HeartRate(HeartRate {
                bpm: 100 + t_s,
                contact: Contact::On,
                energy_kj: None,
                rr_1024: vec![],
            }),
        };
        pushed.push(sample.clone());
        push.send(sample).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    wait_until(
        "every sample stored, the lost ones too",
        Duration::from_secs(20),
        async || store.lock().unwrap().committed_of(&session) >= 30,
    )
    .await;
    assert!(
        lose.lock().unwrap().is_empty(),
        "seqs 8, 15 and 16 went as datagrams and were lost (datagrams: {:?})",
        datagrams.lock().unwrap()
    );
    let resent = agent
        .counters(&device.device)
        .unwrap()
        .datagrams_resent
        .load(Ordering::Relaxed);
    assert!(
        (3..=10).contains(&resent),
        "the three lost frames and the few sent after them went again on the stream: {resent}"
    );
    drop(push);
    agent.shutdown().await;
    let store = store.lock().unwrap();
    let last = store.stored.last().unwrap().seq;
    store.assert_complete(&session, last);
    assert_eq!(store.stored_samples(), pushed);
    drop(store);
    endpoint.close(0u32.into(), b"done");
    let _ = std::fs::remove_dir_all(&spool_dir);
}

#[tokio::test]
async fn a_wrong_pin_never_connects() {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let cert = certificate();
    let device = credentials("strap-wrong-pin");
    let store = Arc::new(Mutex::new(Store::new(device.key.clone())));
    let endpoint = server(addr, &cert);
    serve(endpoint.clone(), device.clone(), store.clone());
    let spool_dir = std::env::temp_dir().join(format!("paceline-edge-pin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&spool_dir);
    let mut config = AgentConfig::new(
        GatewayConfig::quic(addr, QuicTrust::Fingerprint([0x11; 32])),
        spool_dir.clone(),
        vec![AthleteConfig {
            name: "pin".into(),
            credentials: device.clone(),
            source: Source::Push,
        }],
    );
    config.shutdown_wait_ms = 100;
    let mut agent = Agent::start(config).await.unwrap();
    let mut events = agent.events_from_start().unwrap();
    let push = agent.sample_sender(&device.device).unwrap();
    push.send(Sample {
        t_ms: 0,
        value: SampleValue::HeartRate(HeartRate {
            bpm: 90,
            contact: Contact::On,
            energy_kj: None,
            rr_1024: vec![],
        }),
    })
    .await
    .unwrap();
    // The frame is spooled but never acknowledged: the handshake fails on the pin.
    let spooled = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(AgentEvent::FrameSpooled { seq, .. }) = events.recv().await {
                break seq;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(spooled, 1);
    drop(push);
    agent.shutdown().await;
    assert!(store.lock().unwrap().received.is_empty());
    // The certificate's own fingerprint in either form is what the gateway prints.
    let printed = hex::encode(certificate_fingerprint(cert.der.as_ref()));
    assert_eq!(
        parse_fingerprint(&printed).unwrap(),
        certificate_fingerprint(cert.der.as_ref())
    );
    endpoint.close(0u32.into(), b"done");
    let _ = std::fs::remove_dir_all(&spool_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_certificate_as_a_pem_file_is_trusted() {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let cert = certificate();
    let device = credentials("strap-pem");
    let store = Arc::new(Mutex::new(Store::new(device.key.clone())));
    let endpoint = server(addr, &cert);
    serve(endpoint.clone(), device.clone(), store.clone());
    let dir = std::env::temp_dir().join(format!("paceline-edge-pem-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pem_path = dir.join("gateway.pem");
    std::fs::write(&pem_path, &cert.pem).unwrap();
    let mut config = AgentConfig::new(
        GatewayConfig::quic(addr, QuicTrust::CaFile(pem_path)),
        dir.join("spool"),
        vec![AthleteConfig {
            name: "pem".into(),
            credentials: device.clone(),
            source: Source::Push,
        }],
    );
    config.shutdown_wait_ms = 10_000;
    let agent = Agent::start(config).await.unwrap();
    let session = agent.sessions()[&device.device].clone();
    let push = agent.sample_sender(&device.device).unwrap();
    push_heart_rate(&push, 5).await;
    wait_until(
        "frames stored over QUIC",
        Duration::from_secs(20),
        async || store.lock().unwrap().committed_of(&session) >= 1,
    )
    .await;
    drop(push);
    agent.shutdown().await;
    let store = store.lock().unwrap();
    let last = store.stored.last().unwrap().seq;
    store.assert_complete(&session, last);
    assert_eq!(store.kinds(&session).last(), Some(&FrameKind::Command));
    drop(store);
    endpoint.close(0u32.into(), b"done");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gateway as [`serve`], whose coach's "Session over" cue follows the `End` frame's ack
/// `delay` later (the real gateway makes it on another path than the ack).
fn serve_with_a_late_end_cue(
    endpoint: quinn::Endpoint,
    device: DeviceCredentials,
    store: Arc<Mutex<Store>>,
    delay: Duration,
) {
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let (device, store) = (device.clone(), store.clone());
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else {
                    return;
                };
                while let Ok((send, recv)) = connection.accept_bi().await {
                    let down = spawn_ack_writer(send);
                    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
                    tokio::spawn(read_stream(recv, device.clone(), store.clone(), acks));
                    let (store, key) = (store.clone(), device.key.clone());
                    tokio::spawn(async move {
                        while let Some(ack) = acked.recv().await {
                            let _ = down.send(ack.clone());
                            let to = codec::decode_frame(&ack).unwrap();
                            let Ok(Payload::Ack(Ack { committed_seq })) = seal::open(&key, &to)
                            else {
                                continue;
                            };
                            let end_acked = store.lock().unwrap().stored.iter().any(|r| {
                                r.seq == committed_seq
                                    && r.payload == Payload::Command(Command::End)
                            });
                            if !end_acked {
                                continue;
                            }
                            tokio::time::sleep(delay).await;
                            let cue = Cue {
                                session: to.header.session.clone(),
                                t_s: 5.0,
                                severity: Severity::Info,
                                code: CueCode::SessionEnd,
                                text: "Session over after 5 seconds. Well done.".to_owned(),
                                modification: None,
                            };
                            let sealed = store.lock().unwrap().seal_down(&to, Payload::Cue(cue));
                            let _ = down.send(sealed);
                        }
                    });
                }
            });
        }
    });
}

/// The athlete hears "Session over" even when it comes after the last ack: the draining
/// uplink listens for it a little longer instead of hanging up on the ack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_end_cue_after_the_last_ack_is_still_heard() {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let cert = certificate();
    let device = credentials("strap-end-cue");
    let store = Arc::new(Mutex::new(Store::new(device.key.clone())));
    let endpoint = server(addr, &cert);
    serve_with_a_late_end_cue(
        endpoint.clone(),
        device.clone(),
        store.clone(),
        Duration::from_millis(600),
    );
    let dir = std::env::temp_dir().join(format!("paceline-edge-end-cue-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = AgentConfig::new(
        GatewayConfig::quic(
            addr,
            QuicTrust::Fingerprint(certificate_fingerprint(cert.der.as_ref())),
        ),
        dir.join("spool"),
        vec![AthleteConfig {
            name: "end-cue".into(),
            credentials: device.clone(),
            source: Source::Push,
        }],
    );
    config.shutdown_wait_ms = 10_000;
    let mut agent = Agent::start(config).await.unwrap();
    let mut events = agent.events_from_start().unwrap();
    let push = agent.sample_sender(&device.device).unwrap();
    push_heart_rate(&push, 5).await;
    drop(push);
    agent.shutdown().await;
    let mut heard = Vec::new();
    let mut stopped_after = None;
    while let Ok(event) = events.try_recv() {
        match event {
            AgentEvent::CueReceived { cue, .. } => heard.push(cue.code),
            AgentEvent::UplinkStopped { unacked, .. } => {
                stopped_after = Some((heard.clone(), unacked));
            }
            _ => {}
        }
    }
    assert_eq!(
        stopped_after,
        Some((vec![CueCode::SessionEnd], 0)),
        "the uplink stops once everything is acked and the session-end cue heard"
    );
    endpoint.close(0u32.into(), b"done");
    let _ = std::fs::remove_dir_all(&dir);
}
