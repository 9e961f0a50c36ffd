//! Same cues, in the same per-session order, for the bare coach, the inline batch (no
//! dataflow: what a one-worker `paceline-engine replay` runs), 1 worker, 4 workers and 2
//! processes.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use paceline_coach::CoachConfig;
use paceline_engine::dataflow::{BatchSource, run_batch, run_batch_inline};
use paceline_engine::pool::CoachPool;
use paceline_engine::replay::{ReplayJob, ordered_outputs, write_outputs};
use paceline_schemas::engine::SessionOutput;

use crate::{plan, profile, shared};

const INPUTS: [&str; 4] = [
    "fit/garmin-fenix-5-bike.fit",
    "fit/sample-activity-indoor-trainer.fit",
    "fit/activity-small-fenix2-run.fit",
    "fit/compressed-speed-distance.fit",
];

fn job() -> ReplayJob {
    let paths: Vec<_> = INPUTS.iter().map(|p| shared(p)).collect();
    ReplayJob::from_files(
        profile(),
        Some(plan("vo2-intervals-45.zwo")),
        Some(30),
        &paths,
    )
}

fn as_lines(job: &ReplayJob, outputs: Vec<SessionOutput>) -> String {
    let outputs = ordered_outputs(job, outputs);
    let mut text = Vec::new();
    write_outputs(&outputs, &mut text, None).expect("writes to memory");
    String::from_utf8(text).expect("utf-8")
}

/// The coaches driven directly, one pool, no dataflow.
fn bare(job: &ReplayJob) -> String {
    let mut pool = CoachPool::new(CoachConfig::default());
    let mut outputs = Vec::new();
    for i in 0..job.len() {
        for record in job.records(i).expect("shared inputs read") {
            pool.handle(record, &mut |o| outputs.push(o));
        }
    }
    as_lines(job, outputs)
}

fn dataflow(job: &ReplayJob, workers: usize) -> String {
    let job_arc = Arc::new(job.clone());
    let outcome = run_batch(
        timely::Config::process(workers),
        CoachConfig::default(),
        job_arc as Arc<dyn BatchSource>,
        Arc::new(AtomicU64::new(0)),
    )
    .expect("the dataflow runs");
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    as_lines(job, outcome.outputs)
}

fn inline(job: &ReplayJob) -> String {
    let mut counted = Vec::new();
    let outcome = run_batch_inline(CoachConfig::default(), job, &mut |n| counted.push(n));
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    let records: usize = (0..job.len())
        .map(|i| job.records(i).expect("shared inputs read").count())
        .sum();
    assert_eq!(
        counted.last().copied(),
        Some(records as u64),
        "the last count is every record"
    );
    assert!(counted.is_sorted(), "counts only grow: {counted:?}");
    // Already in order: putting them in order changes nothing.
    let lines = as_lines(job, outcome.outputs.clone());
    let mut unsorted = Vec::new();
    write_outputs(&outcome.outputs, &mut unsorted, None).expect("writes to memory");
    assert_eq!(String::from_utf8(unsorted).expect("utf-8"), lines);
    lines
}

#[test]
fn one_and_four_workers_match_the_bare_coach() {
    let job = job();
    let expected = bare(&job);
    let cues = expected.lines().filter(|l| l.contains("\"code\"")).count();
    assert!(cues > 20, "the sessions should say something: {cues} cues");
    assert_eq!(
        expected.lines().filter(|l| l.contains("\"np_w\"")).count(),
        INPUTS.len(),
        "a summary per session"
    );
    assert_eq!(inline(&job), expected, "inline, no dataflow");
    assert_eq!(dataflow(&job, 1), expected, "1 worker");
    assert_eq!(dataflow(&job, 4), expected, "4 workers");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn two_processes_over_loopback_match_the_bare_coach() {
    let job = job();
    let expected = bare(&job);
    let dir = std::env::temp_dir().join(format!("paceline-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let hostfile = dir.join("hosts.txt");
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .expect("hostfile");
    let out = dir.join("cues.jsonl");
    let mut children = Vec::new();
    for process in 0..2 {
        let mut command = Command::new(env!("CARGO_BIN_EXE_paceline-engine"));
        command
            .args([
                "worker",
                "-w",
                "2",
                "-n",
                "2",
                "-p",
                &process.to_string(),
                "-h",
            ])
            .arg(&hostfile)
            .arg("--profile")
            .arg(shared("plans/athlete-profile.json"))
            .arg("--plan")
            .arg(shared("plans/vo2-intervals-45.zwo"))
            .args(["--budget-min", "30", "--out"])
            .arg(&out)
            .args(INPUTS.iter().map(|p| shared(p)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        children.push(command.spawn().expect("worker starts"));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for mut child in children {
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("a worker process did not finish within 120 s");
            }
            std::thread::park_timeout(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        if let Some(err) = child.stderr.take() {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                stderr.push_str(&line);
                stderr.push('\n');
            }
        }
        assert!(status.success(), "worker failed: {status}\n{stderr}");
    }
    let written = std::fs::read_to_string(&out).expect("process 0 wrote the cues");
    assert_eq!(written, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `replay` with one worker (inline, no dataflow) and with two (timely) write the same
/// bytes: cues, summaries and the exit status.
#[test]
fn the_inline_replay_process_writes_what_the_dataflow_writes() {
    let dir = std::env::temp_dir().join(format!("paceline-inline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let run = |workers: &str| {
        let out = dir.join(format!("cues-{workers}.jsonl"));
        let summary = dir.join(format!("summary-{workers}.json"));
        let output = Command::new(env!("CARGO_BIN_EXE_paceline-engine"))
            .args(["replay", "--workers", workers, "--profile"])
            .arg(shared("plans/athlete-profile.json"))
            .arg("--plan")
            .arg(shared("plans/vo2-intervals-45.zwo"))
            .args(["--budget-min", "30", "--out"])
            .arg(&out)
            .arg("--summary")
            .arg(&summary)
            .args(INPUTS.iter().map(|p| shared(p)))
            .arg(shared("fit/activity-settings-nodata.fit"))
            .output()
            .expect("replay runs");
        let cues = std::fs::read_to_string(&out).expect("cues written");
        let summaries = std::fs::read_to_string(&summary).expect("summaries written");
        (output.status.code(), cues, summaries, output.stderr)
    };
    let (inline_status, inline_cues, inline_summaries, inline_stderr) = run("1");
    let (status, cues, summaries, stderr) = run("2");
    assert_eq!(inline_status, Some(2), "a bad input is exit status 2");
    assert_eq!(inline_status, status);
    assert!(
        inline_cues.lines().count() > 20,
        "the sessions say something:\n{inline_cues}"
    );
    assert_eq!(inline_cues, cues);
    assert_eq!(
        inline_summaries.matches("\"np_w\"").count(),
        INPUTS.len(),
        "{inline_summaries}"
    );
    assert_eq!(inline_summaries, summaries);
    assert_eq!(
        String::from_utf8_lossy(&inline_stderr),
        String::from_utf8_lossy(&stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
