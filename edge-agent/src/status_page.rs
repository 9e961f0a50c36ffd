//! A tiny local status page for a screen beside the bike or on a gym wall: one tile per
//! athlete (connected or not, frames spooled and acknowledged, the latest cue), served by
//! axum at `/` (HTML that refreshes itself) and `/status.json`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::response::{Html, Json};
use axum::routing::get;
use paceline_schemas::DeviceId;

use crate::agent::AgentEvent;
use crate::ble::SensorState;

/// What the page shows of one athlete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AthleteStatus {
    /// The uplink is connected.
    pub connected: bool,
    /// Frames spooled this run.
    pub frames_spooled: u64,
    /// Highest acknowledged seq of the current session.
    pub acked_seq: u64,
    /// Cues received.
    pub cues: u64,
    /// The latest cue: severity and text.
    pub last_cue: Option<(String, String)>,
    /// The spool refused samples.
    pub spool_full: bool,
    /// BLE sensors by service: "connected", "connected, battery 80 %", "lost: …".
    pub sensors: BTreeMap<u16, String>,
}

/// Every athlete's status, by name.
#[derive(Debug, Default)]
pub struct StatusBoard {
    names: HashMap<DeviceId, String>,
    athletes: BTreeMap<String, AthleteStatus>,
}

impl StatusBoard {
    /// A board for these athletes.
    pub fn new(names: &HashMap<DeviceId, String>) -> Self {
        Self {
            names: names.clone(),
            athletes: names
                .values()
                .map(|name| (name.clone(), AthleteStatus::default()))
                .collect(),
        }
    }

    /// The athletes, by name.
    pub fn athletes(&self) -> impl Iterator<Item = (&String, &AthleteStatus)> {
        self.athletes.iter()
    }

    /// Updates the board from one agent event.
    pub fn apply(&mut self, event: &AgentEvent) {
        let device = match event {
            AgentEvent::Connected { device }
            | AgentEvent::Disconnected { device, .. }
            | AgentEvent::FrameSpooled { device, .. }
            | AgentEvent::Acked { device, .. }
            | AgentEvent::CueReceived { device, .. }
            | AgentEvent::SpoolFull { device, .. }
            | AgentEvent::SensorStatus { device, .. } => device,
            _ => return,
        };
        let Some(name) = self.names.get(device) else {
            return;
        };
        let Some(status) = self.athletes.get_mut(name) else {
            return;
        };
        match event {
            AgentEvent::Connected { .. } => status.connected = true,
            AgentEvent::Disconnected { .. } => status.connected = false,
            AgentEvent::FrameSpooled { .. } => {
                status.frames_spooled += 1;
                status.spool_full = false;
            }
            AgentEvent::Acked { committed_seq, .. } => status.acked_seq = *committed_seq,
            AgentEvent::CueReceived { cue, .. } => {
                status.cues += 1;
                status.last_cue = Some((format!("{:?}", cue.severity), cue.text.clone()));
            }
            AgentEvent::SpoolFull { .. } => status.spool_full = true,
            AgentEvent::SensorStatus { status: sensor, .. } => {
                let text = match &sensor.state {
                    SensorState::Connected {
                        battery_pct: Some(pct),
                        ..
                    } => format!("{} connected, battery {pct} %", sensor.sensor),
                    SensorState::Connected { .. } => format!("{} connected", sensor.sensor),
                    SensorState::Lost { reason } => format!("{} lost: {reason}", sensor.sensor),
                };
                status.sensors.insert(sensor.service, text);
            }
            _ => {}
        }
    }

    /// The board as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.athletes
                .iter()
                .map(|(name, s)| {
                    serde_json::json!({
                        "name": name,
                        "connected": s.connected,
                        "frames_spooled": s.frames_spooled,
                        "acked_seq": s.acked_seq,
                        "cues": s.cues,
                        "spool_full": s.spool_full,
                        "sensors": s.sensors.iter().map(|(service, text)| (format!("0x{service:04x}"), serde_json::Value::from(text.as_str()))).collect::<serde_json::Map<_, _>>(),
                        "last_cue": s.last_cue.as_ref().map(|(severity, text)| serde_json::json!({"severity": severity, "text": text})),
                    })
                })
                .collect(),
        )
    }
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Paceline edge</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;background:#111;color:#eee;margin:1rem}
#tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));gap:.75rem}
.tile{background:#222;border-radius:.5rem;padding:.75rem}.name{font-size:1.3rem;font-weight:600}
.off{color:#f77}.on{color:#7f7}.cue{margin-top:.5rem;font-size:1.1rem}.Safety{color:#f55}.Warn{color:#fc5}
</style></head><body><h1>Paceline edge</h1><div id="tiles"></div>
<script>
async function refresh(){
  try{
    const athletes=await (await fetch('/status.json')).json();
    const tiles=document.getElementById('tiles');tiles.replaceChildren();
    for(const a of athletes){
      const t=document.createElement('div');t.className='tile';
      const n=document.createElement('div');n.className='name';n.textContent=a.name;t.append(n);
      const s=document.createElement('div');s.className=a.connected?'on':'off';
      s.textContent=(a.connected?'connected':'offline')+' · '+a.frames_spooled+' frames · acked '+a.acked_seq+(a.spool_full?' · SPOOL FULL':'');t.append(s);
      for(const [service,text] of Object.entries(a.sensors||{})){const d=document.createElement('div');d.textContent=service+' '+text;t.append(d);}
      if(a.last_cue){const c=document.createElement('div');c.className='cue '+a.last_cue.severity;c.textContent=a.last_cue.text;t.append(c);}
      tiles.append(t);
    }
  }catch(e){}
}
refresh();setInterval(refresh,1000);
</script></body></html>"#;

/// Serves the page on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, board: Arc<Mutex<StatusBoard>>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/status.json",
            get(move || {
                let board = board.clone();
                async move {
                    let board = board.lock().unwrap_or_else(|p| p.into_inner());
                    Json(board.to_json())
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "the status page has no authentication: anyone who can reach {addr} sees the \
             athletes' names, heart rates and cues (give a port alone to keep it on 127.0.0.1)"
        );
    }
    tracing::info!(%addr, "status page: http://{addr}/");
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use paceline_schemas::{Cue, CueCode, SessionId, Severity};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_page_and_its_json_show_each_athlete() {
        let device = DeviceId::new("bike-7").unwrap();
        let names = HashMap::from([(device.clone(), "Ana".to_owned())]);
        let board = Arc::new(Mutex::new(StatusBoard::new(&names)));
        {
            let mut board = board.lock().unwrap();
            board.apply(&AgentEvent::Connected {
                device: device.clone(),
            });
            board.apply(&AgentEvent::CueReceived {
                device: device.clone(),
                session: SessionId::new("s1").unwrap(),
                cue: Cue {
                    session: SessionId::new("s1").unwrap(),
                    t_s: 12.0,
                    severity: Severity::Safety,
                    code: CueCode::HrAboveCap,
                    text: "Ease off now".to_owned(),
                    modification: None,
                },
                received_at: std::time::Instant::now(),
                frame_sent_ms: 0,
            });
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        tokio::spawn(serve(addr, board));
        let get = |path: &'static str| async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
                    let request =
                        format!("GET {path} HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n");
                    stream.write_all(request.as_bytes()).await.unwrap();
                    let mut response = String::new();
                    stream.read_to_string(&mut response).await.unwrap();
                    return response;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the page never came up"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        let json = get("/status.json").await;
        assert!(json.starts_with("HTTP/1.1 200"), "{json}");
        assert!(
            json.contains(r#""name":"Ana""#) && json.contains(r#""connected":true"#),
            "{json}"
        );
        assert!(
            json.contains("Ease off now") && json.contains("Safety"),
            "{json}"
        );
        let page = get("/").await;
        assert!(page.contains("<title>Paceline edge</title>"), "{page}");
    }
}
