//! The edge agent itself (in this test process) against a real `paceline serve`: simulated
//! athletes over QUIC with the certificate pinned by fingerprint, and over MQTT.

use paceline_edge::agent::{
    Agent, AgentConfig, AgentEvent, AthleteConfig, GatewayConfig, QuicTrust, Source,
};
use paceline_edge::credentials::DeviceCredentials;
use paceline_edge::simulator::{Scenario, SimulatorConfig};
use paceline_edge::uplink::quic::certificate_fingerprint;

use crate::harness::*;

async fn ride_with_the_agent(
    gateway: &Gateway,
    config: GatewayConfig,
    creds: &Creds,
    spool: &std::path::Path,
) {
    let athlete = AthleteConfig {
        name: "ana".to_owned(),
        credentials: DeviceCredentials {
            tenant: creds.tenant.clone(),
            device: creds.device.clone(),
            key: creds.key.clone(),
            token: creds.token.clone(),
        },
        source: Source::Simulator {
            config: SimulatorConfig {
                scenario: Scenario::Overheat,
                duration_s: Some(12),
                ..SimulatorConfig::default()
            },
            speed: 1.0,
        },
    };
    let mut agent = Agent::start(AgentConfig::new(config, spool.to_owned(), vec![athlete]))
        .await
        .unwrap();
    let mut events = agent.subscribe();
    tokio::time::timeout(DEADLINE, agent.wait_finished())
        .await
        .expect("the ride ends and its end frame is acknowledged");
    let mut cues = 0;
    let mut acked = 0;
    let mut spooled = 0;
    let mut session = None;
    while let Ok(event) = events.try_recv() {
        match event {
            AgentEvent::CueReceived { .. } => cues += 1,
            AgentEvent::Acked {
                committed_seq,
                session: s,
                ..
            } => {
                acked = acked.max(committed_seq);
                session = Some(s);
            }
            AgentEvent::FrameSpooled { seq, .. } => spooled = spooled.max(seq),
            _ => {}
        }
    }
    assert!(cues >= 1, "the rider heard at least the step cue");
    assert!(spooled > 12, "12 s of HR and power");
    assert_eq!(
        acked, spooled,
        "every frame, the end command included, is acknowledged"
    );
    let session = session.unwrap();
    let conn = gateway.db();
    let (status, summary) = wait_until("the agent's session to be ended", || {
        session_status(&conn, &session).filter(|(status, _)| status == "ended")
    })
    .await;
    assert_eq!(status, "ended");
    assert!(summary.is_some());
    let (frames, distinct, _) = stored_counts(&conn, &session);
    assert_eq!(
        (frames, distinct),
        (
            i64::try_from(spooled).unwrap(),
            i64::try_from(spooled).unwrap()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_agent_rides_over_quic_with_a_pinned_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &[]).await;
    let creds = gateway.pair("gym-1", "ana");
    let pin = certificate_fingerprint(&gateway.cert_der());
    let config = GatewayConfig::quic(gateway.quic, QuicTrust::Fingerprint(pin));
    ride_with_the_agent(&gateway, config, &creds, &dir.path().join("spool-quic")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_agent_rides_over_mqtt() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &[]).await;
    let creds = gateway.pair("gym-1", "ben");
    let config = GatewayConfig::mqtt(gateway.mqtt);
    ride_with_the_agent(&gateway, config, &creds, &dir.path().join("spool-mqtt")).await;
}
