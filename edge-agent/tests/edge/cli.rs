//! The command line: help a newcomer can follow, BLE absence is exit status 3, bad
//! configurations name what is wrong.

use std::process::Command;

fn exe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_paceline-edge"))
}

#[test]
fn help_lists_every_subcommand() {
    let out = exe().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["run", "simulate", "scan", "decode"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn scan_without_bluetooth_is_one_line_and_status_3() {
    let out = exe().args(["scan", "--seconds", "1"]).output().unwrap();
    match out.status.code() {
        // A machine with an adapter scans; CI and this project's machines have none.
        Some(0) => {}
        Some(3) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
            assert!(stderr.contains("Bluetooth is not available"), "{stderr}");
        }
        other => panic!("scan exited with {other:?}: {out:?}"),
    }
}

#[test]
fn a_config_without_athletes_is_refused_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("paceline-edge-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.toml");
    std::fs::write(&path, "[gateway]\ntransport = \"mqtt\"\n").unwrap();
    let out = exe().args(["run", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no [[athlete]]"), "{stderr}");
    std::fs::write(&path, "[gateway]\ntransport = \"carrier-pigeon\"\n[[athlete]]\ndevice = \"d\"\ntenant = \"t\"\nkey = \"00\"\ntoken = \"00\"\nsource = { kind = \"simulator\" }\n").unwrap();
    let out = exe().args(["run", "--config"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("64 hex digits") || stderr.contains("transport"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_deploy_example_configuration_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/edge-agent/agent.toml"
    );
    let file = paceline_edge::config::ConfigFile::read(std::path::Path::new(path)).unwrap();
    let config = file.to_agent_config().unwrap();
    assert_eq!(config.athletes.len(), 1);
    assert!(matches!(
        config.athletes[0].source,
        paceline_edge::agent::Source::Ble(_)
    ));
    assert_eq!(config.gateway.mqtt_port, 1883);
    assert!(file.cues.speech);
}
