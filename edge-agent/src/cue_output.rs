//! Where cues go: the console, speech through `espeak-ng` (when installed; probed once),
//! and the [`crate::status_page`]. One task reads the agent's events and serves all three.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use paceline_schemas::{Cue, DeviceId, Severity};
use tokio::sync::{broadcast, mpsc};

use crate::agent::AgentEvent;
use crate::config::CueSettings;
use crate::status_page::{AthleteStatus, StatusBoard};

/// Cues waiting to be spoken; more are dropped rather than spoken late.
const SPEECH_QUEUE: usize = 4;

/// Whether `espeak-ng` can be run.
pub async fn espeak_available() -> bool {
    tokio::process::Command::new("espeak-ng")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

/// One console line for a cue.
pub fn console_line(name: &str, cue: &Cue) -> String {
    let severity = match cue.severity {
        Severity::Info => "info",
        Severity::Warn => "WARN",
        Severity::Safety => "SAFETY",
    };
    format!("[{name}] {severity} {:?}: {}", cue.code, cue.text)
}

#[allow(
    clippy::print_stdout,
    reason = "printing cues on the console is this output's job"
)]
fn print_console(line: &str) {
    println!("{line}");
}

async fn speak(mut texts: mpsc::Receiver<String>) {
    while let Some(text) = texts.recv().await {
        let spoken = tokio::process::Command::new("espeak-ng")
            .arg("--")
            .arg(&text)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
        if let Err(e) = spoken {
            tracing::warn!(error = %e, "espeak-ng failed; speech is off");
            return;
        }
    }
}

/// Starts the cue outputs on the agent's events. `names` maps devices to athletes' names.
/// Returns the status board the status page reads.
pub async fn start(
    settings: &CueSettings,
    mut events: broadcast::Receiver<AgentEvent>,
    names: HashMap<DeviceId, String>,
) -> Arc<Mutex<StatusBoard>> {
    let speech = if settings.speech {
        if espeak_available().await {
            tracing::info!("speech: cues are spoken through espeak-ng");
            let (tx, rx) = mpsc::channel(SPEECH_QUEUE);
            tokio::spawn(speak(rx));
            Some(tx)
        } else {
            tracing::warn!("speech is off: espeak-ng is not installed (cues go to the console)");
            None
        }
    } else {
        None
    };
    let board = Arc::new(Mutex::new(StatusBoard::new(&names)));
    let console = settings.console;
    let task_board = board.clone();
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if let AgentEvent::CueReceived { device, cue, .. } = &event {
                let name = names.get(device).map_or(device.as_str(), String::as_str);
                if console {
                    print_console(&console_line(name, cue));
                }
                if let Some(speech) = &speech {
                    // A full queue drops the cue from speech (it is still on the console).
                    let _ = speech.try_send(cue.text.clone());
                }
            }
            let mut board = task_board.lock().unwrap_or_else(|p| p.into_inner());
            board.apply(&event);
        }
    });
    board
}

/// A status line per athlete, for the console.
pub fn summary(board: &StatusBoard) -> Vec<String> {
    board
        .athletes()
        .map(|(name, status): (&String, &AthleteStatus)| {
            format!(
                "{name}: {} · {} frames spooled · acked to {} · {} cues",
                if status.connected {
                    "connected"
                } else {
                    "offline"
                },
                status.frames_spooled,
                status.acked_seq,
                status.cues
            )
        })
        .collect()
}
