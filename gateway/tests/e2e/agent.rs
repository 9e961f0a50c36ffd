//! The edge agent itself (in this test process) against a real `paceline serve`: simulated
//! athletes over QUIC with the certificate pinned by fingerprint (`quic_datagrams` on:
//! frames in datagrams once the first is acked), and over MQTT.

use paceline_edge::agent::{AgentEvent, GatewayConfig};
use paceline_edge::simulator::{Scenario, SimulatorConfig};
use paceline_schemas::CueCode;
use paceline_testkit::riders;

use crate::harness::*;

async fn ride_with_the_agent(
    gateway: &Gateway,
    config: GatewayConfig,
    creds: &Creds,
    spool: &std::path::Path,
) {
    let athlete = riders::simulated(
        "ana",
        creds.clone(),
        SimulatorConfig {
            scenario: Scenario::Overheat,
            duration_s: Some(12),
            ..SimulatorConfig::default()
        },
    );
    let mut agent = riders::start_agent(config, spool, vec![athlete], |_| {}).await;
    // Every event from the start: the first step cue can arrive before a later
    // subscription would.
    let mut events = agent
        .events_from_start()
        .unwrap_or_else(|| agent.subscribe());
    tokio::time::timeout(DEADLINE, agent.wait_finished())
        .await
        .expect("the ride ends and its end frame is acknowledged");
    let mut cues = Vec::new();
    let mut acked = 0;
    let mut spooled = 0;
    let mut session = None;
    while let Ok(event) = events.try_recv() {
        match event {
            AgentEvent::CueReceived { cue, .. } => cues.push(cue.code),
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
    // The plan's first step starts with the ride; the session's end cue comes after the
    // end frame's ack, and the agent waits for it before it hangs up.
    assert_eq!(
        (cues.first(), cues.last()),
        (Some(&CueCode::StepStart), Some(&CueCode::SessionEnd)),
        "the rider heard the step start first and \"Session over\" last: {cues:?}"
    );
    assert!(spooled > 12, "12 s of HR and power");
    assert_eq!(
        acked, spooled,
        "every frame, the end command included, is acknowledged"
    );
    let session = session.unwrap();
    let conn = gateway.db();
    let (status, summary) = wait_until("the agent's session to be ended", DEADLINE, async || {
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
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "ana");
    gateway.assign_plan("gym-1", "ana", SHORT_PLAN);
    let mut config = gateway.quic_uplink_pinned();
    config.quic_datagrams = true;
    let spool = gateway.data_dir.join("spool-quic");
    ride_with_the_agent(&gateway, config, &creds, &spool).await;
    // Once its first frame was acked, the agent sent the rest as datagrams.
    let datagrams = gateway
        .counter(
            "paceline_frames_received_total",
            "transport=\"QuicDatagram\"",
        )
        .await;
    assert!(datagrams >= 10.0, "{datagrams} frames in datagrams");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_agent_rides_over_mqtt() {
    let gateway = paceline().start().await;
    let creds = gateway.pair("gym-1", "ben");
    gateway.assign_plan("gym-1", "ben", SHORT_PLAN);
    let config = gateway.mqtt_uplink();
    let spool = gateway.data_dir.join("spool-mqtt");
    ride_with_the_agent(&gateway, config, &creds, &spool).await;
}
