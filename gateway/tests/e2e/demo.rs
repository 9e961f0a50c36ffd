//! `paceline demo` as a newcomer first sees it: a real process on ephemeral ports, its
//! stdout and stderr read as a file reads them.
//!
//! Self-contained on purpose (no harness): it runs the binary the way the README says.

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

/// The cue codes the demo promises within the first two minutes of a ride, with six
/// riders: on plan, too hard, overheating, too easy, on plan, flaky sensors.
const EARLY_CODES: [&str; 6] = [
    "step_start",
    "above_target",
    "below_target",
    "hr_above_cap",
    "hr_signal_lost",
    "hr_signal_back",
];

/// Two minutes of ride time, and a little for starting up.
const DEADLINE: Duration = Duration::from_secs(140);

/// Names of the six demo athletes, as the demo's cue lines begin.
const NAMES: [&str; 6] = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Femi"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_every_promised_cue_within_two_minutes_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paceline"))
        .arg("demo")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--http", &http.to_string()])
        .args(["--mqtt", &free_tcp().to_string()])
        .args(["--quic", &free_udp().to_string()])
        // The duration is a backstop only: the test stops the demo once it has seen enough.
        .args(["--athletes", "6", "--duration-s", "300"])
        .env_remove("PACELINE_LOG")
        .env_remove("PACELINE_LOG_JSON")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start paceline demo");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    let stdout_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    // Wait for every promised kind of cue in the database and a safety cue on stdout.
    let deadline = Instant::now() + DEADLINE;
    let db = dir.path().join("paceline.db");
    let mut out: Vec<String> = Vec::new();
    let mut logged_in = false;
    loop {
        if !logged_in && let Some(password) = password_in(&out) {
            log_in(http, &password).await;
            logged_in = true;
        }
        let first_seen = first_seen_codes(&db);
        let missing: Vec<&str> = EARLY_CODES
            .into_iter()
            .filter(|code| !first_seen.iter().any(|(c, _)| c == code))
            .collect();
        if missing.is_empty() && logged_in && out.iter().any(|l| is_safety_line(l)) {
            break;
        }
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => out.push(line),
                None => panic!("the demo ended early:\n{}", out.join("\n")),
            },
            // The database fills between lines too: look again at least once a second.
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = tokio::time::sleep_until(deadline) => {
                let _ = child.kill();
                panic!(
                    "within {DEADLINE:?}: cue codes {missing:?} never stored, or no safety \
                     line or login yet; seen {first_seen:?}; stdout:\n{}",
                    out.join("\n")
                );
            }
        }
    }
    let first_seen = first_seen_codes(&db);

    // Stop it the way Ctrl-C does and read the rest.
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM the demo");
    let exit = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.recv().await {
            out.push(line);
        }
    })
    .await;
    assert!(exit.is_ok(), "the demo stops within 30 s of SIGTERM");
    let status = child.wait().unwrap();
    stdout_reader.join().unwrap();
    let stderr = stderr_reader.join().unwrap();
    let stdout = out.join("\n");
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");

    // Each promised kind of cue within the first two minutes of ride time.
    for code in EARLY_CODES {
        let t_s = first_seen
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, t)| *t)
            .unwrap();
        assert!(
            t_s <= 120.0,
            "{code} first at {t_s} s of the ride: {first_seen:?}"
        );
    }

    // (a) Cue lines, one per cue, a safety cue among them.
    let headings = out
        .iter()
        .position(|l| l.starts_with("athlete    ride  level   cue"))
        .unwrap_or_else(|| panic!("the cue headings:\n{stdout}"));
    let cues = &out[headings + 1..];
    assert!(cues.len() >= 10, "{stdout}");
    for line in cues {
        assert!(is_cue_line(line), "not a cue line: {line:?}\n{stdout}");
    }
    assert!(
        cues.iter()
            .any(|l| l.starts_with("Chloe") && is_safety_line(l) && l.contains("cap")),
        "the overheating rider's safety cue:\n{stdout}"
    );

    // (b) No colour when not a terminal, and no routine logs on stdout or by default.
    assert!(
        !stdout.contains('\u{1b}'),
        "ANSI escapes on stdout:\n{stdout}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes on stderr:\n{stderr}"
    );
    for level in [" TRACE ", " DEBUG ", " INFO ", " WARN ", " ERROR "] {
        assert!(!stdout.contains(level), "a log line on stdout:\n{stdout}");
    }
    for level in [" TRACE ", " DEBUG ", " INFO "] {
        assert!(
            !stderr.contains(level),
            "routine logs on stderr by default:\n{stderr}"
        );
    }

    // (c) Where the board is and how to log in (the login itself was tried above).
    assert!(
        stdout.contains(&format!("Live board  http://{http}/board")),
        "{stdout}"
    );
    assert!(
        stdout.contains("email coach@demo-gym.paceline.local  password "),
        "{stdout}"
    );
    for name in NAMES {
        assert!(
            out[..headings]
                .iter()
                .any(|l| l.split_whitespace().any(|word| word == name)),
            "{name} is introduced:\n{stdout}"
        );
    }
    assert!(stdout.contains("Ctrl-C"), "{stdout}");
}

/// `Name      m:ss  level   text`, the name one of the riders.
fn is_cue_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let (Some(name), Some(time), Some(level)) = (words.next(), words.next(), words.next()) else {
        return false;
    };
    let time_ok = time
        .split_once(':')
        .is_some_and(|(m, s)| m.parse::<u32>().is_ok() && s.len() == 2 && s.parse::<u32>().is_ok());
    NAMES.contains(&name)
        && time_ok
        && ["info", "warn", "SAFETY"].contains(&level)
        && words.next().is_some()
}

fn is_safety_line(line: &str) -> bool {
    is_cue_line(line) && line.split_whitespace().nth(2) == Some("SAFETY")
}

/// The demo login's password, from the start block's login line.
fn password_in(out: &[String]) -> Option<String> {
    out.iter()
        .find(|l| l.contains("email coach@demo-gym.paceline.local"))
        .and_then(|l| l.split("password ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

/// Logs in as the demo's head coach, as the board's login page does.
async fn log_in(http: SocketAddr, password: &str) {
    let response = reqwest::Client::new()
        .post(format!("http://{http}/api/v1/auth/login"))
        .json(&serde_json::json!({
            "email": "coach@demo-gym.paceline.local",
            "password": password,
        }))
        .send()
        .await
        .expect("the login request");
    assert_eq!(response.status(), 200, "the printed login works");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["access_token"].is_string(), "{body}");
}

/// Each cue code stored so far with the earliest ride time it was heard at, s.
fn first_seen_codes(db: &Path) -> Vec<(String, f64)> {
    if !db.exists() {
        return Vec::new();
    }
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let Ok(mut query) =
        conn.prepare("SELECT code, min(t_s) FROM cues GROUP BY code ORDER BY min(t_s)")
    else {
        return Vec::new();
    };
    query
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

fn free_tcp() -> SocketAddr {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .unwrap()
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .unwrap()
}
