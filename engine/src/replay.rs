//! The replay job: recorded sessions in, cues and summaries out.
//!
//! Each input is its own session, named after its file (`garmin-edge-500-activity`, with
//! `-2`, `-3` … for repeats). A session's records are: `open` (profile and plan), its
//! samples in time order with `now_ms` = the sample time, a "minutes left" command after
//! the first sample when a budget is given, and `end` at the last sample's time. So `t_s`
//! in cues is seconds from the session's first sample.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use paceline_schemas::command::{Command, TimeLeft};
use paceline_schemas::engine::{
    EngineRecord, OutputBody, SessionCommand, SessionEvent, SessionInput, SessionOutput,
    SessionSetup,
};
use paceline_schemas::sample::Sample;
use paceline_schemas::{AthleteProfile, SessionId, SessionSummary, WorkoutPlan};

use crate::activity::{MAX_ACTIVITY_BYTES, decode_activity};
use crate::dataflow::BatchSource;

/// Where a session's samples come from.
#[derive(Debug, Clone)]
pub enum InputSource {
    /// A FIT or CSV recording on disk.
    File(PathBuf),
    /// Samples already in memory (tests, benchmarks).
    Samples(Vec<Sample>),
}

/// One session of a replay.
#[derive(Debug, Clone)]
pub struct ReplayInput {
    /// Its session id.
    pub session: SessionId,
    /// Its name in messages (the path as given).
    pub name: String,
    /// Its samples.
    pub source: InputSource,
}

/// A whole replay: who rides, what, and the recordings.
#[derive(Debug, Clone)]
pub struct ReplayJob {
    /// The athlete.
    pub profile: AthleteProfile,
    /// The plan, if any.
    pub plan: Option<WorkoutPlan>,
    /// Minutes available, if the athlete had a time budget.
    pub budget_min: Option<u32>,
    /// The sessions, in output order.
    pub inputs: Vec<ReplayInput>,
}

impl ReplayJob {
    /// A job over files, with session ids derived from the file names.
    pub fn from_files(
        profile: AthleteProfile,
        plan: Option<WorkoutPlan>,
        budget_min: Option<u32>,
        paths: &[PathBuf],
    ) -> ReplayJob {
        let ids = session_ids(paths);
        let inputs = paths
            .iter()
            .zip(ids)
            .map(|(path, session)| ReplayInput {
                session,
                name: path.display().to_string(),
                source: InputSource::File(path.clone()),
            })
            .collect();
        ReplayJob {
            profile,
            plan,
            budget_min,
            inputs,
        }
    }

    fn samples(&self, input: &ReplayInput) -> Result<Vec<Sample>, String> {
        match &input.source {
            InputSource::Samples(samples) => Ok(samples.clone()),
            InputSource::File(path) => {
                let size = std::fs::metadata(path)
                    .map_err(|e| format!("{}: {e}", input.name))?
                    .len();
                if size > MAX_ACTIVITY_BYTES as u64 {
                    return Err(format!(
                        "{}: {size} bytes is more than an activity may have ({MAX_ACTIVITY_BYTES})",
                        input.name
                    ));
                }
                let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", input.name))?;
                decode_activity(&bytes).map_err(|e| format!("{}: {e}", input.name))
            }
        }
    }
}

impl BatchSource for ReplayJob {
    fn len(&self) -> usize {
        self.inputs.len()
    }

    fn records(&self, index: usize) -> Result<Vec<EngineRecord>, String> {
        let input = self
            .inputs
            .get(index)
            .ok_or_else(|| format!("no input {index}"))?;
        let mut samples = self.samples(input)?;
        if samples.is_empty() {
            return Err(format!("{}: no samples", input.name));
        }
        if !samples.is_sorted_by_key(|s| s.t_ms) {
            samples.sort_by_key(|s| s.t_ms);
        }
        Ok(session_records(
            &input.session,
            &self.profile,
            self.plan.as_ref(),
            self.budget_min,
            samples,
        ))
    }
}

/// The records of one recorded session, in the order the coach must see them.
pub fn session_records(
    session: &SessionId,
    profile: &AthleteProfile,
    plan: Option<&WorkoutPlan>,
    budget_min: Option<u32>,
    samples: Vec<Sample>,
) -> Vec<EngineRecord> {
    let first_ms = samples.first().map_or(0, |s| s.t_ms);
    let last_ms = samples.last().map_or(0, |s| s.t_ms);
    let record = |now_ms, event| {
        EngineRecord::Session(SessionInput {
            session: session.clone(),
            now_ms,
            event,
        })
    };
    let mut records = Vec::with_capacity(samples.len() + 3);
    records.push(record(
        first_ms,
        SessionEvent::Open(SessionSetup {
            profile: profile.clone(),
            plan: plan.cloned(),
        }),
    ));
    for (i, sample) in samples.into_iter().enumerate() {
        let now = sample.t_ms;
        records.push(record(now, SessionEvent::Sample(sample)));
        if i == 0
            && let Some(minutes) = budget_min
        {
            let command = Command::TimeLeft(TimeLeft { minutes });
            records.push(record(
                now,
                SessionEvent::Command(SessionCommand { command }),
            ));
        }
    }
    records.push(record(
        last_ms,
        SessionEvent::Command(SessionCommand {
            command: Command::End,
        }),
    ));
    records
}

/// Session ids from file stems: characters outside `A-Z a-z 0-9 - _ . :` become `-`, at
/// most 60 bytes, and repeats get `-2`, `-3`, ….
pub fn session_ids(paths: &[PathBuf]) -> Vec<SessionId> {
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut base: String = stem
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .take(56)
                .collect();
            if base.is_empty() {
                base = format!("session-{}", i + 1);
            }
            let count = seen.entry(base.clone()).or_insert(0);
            *count += 1;
            let id = if *count == 1 {
                base
            } else {
                format!("{base}-{count}")
            };
            SessionId::new(id).unwrap_or_else(|_| {
                SessionId::new(format!("session-{}", i + 1)).expect("a valid id")
            })
        })
        .collect()
}

/// Outputs of a replay put back in order: by input, then by each session's sequence.
pub fn ordered_outputs(job: &ReplayJob, mut outputs: Vec<SessionOutput>) -> Vec<SessionOutput> {
    let position: BTreeMap<&SessionId, usize> = job
        .inputs
        .iter()
        .enumerate()
        .map(|(i, input)| (&input.session, i))
        .collect();
    outputs.sort_by_key(|o| {
        (
            position.get(&o.session).copied().unwrap_or(usize::MAX),
            o.seq,
        )
    });
    outputs
}

/// What a replay wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// Cue lines written.
    pub cues: usize,
    /// Summaries written.
    pub summaries: usize,
    /// Sessions the coach refused, with the reason.
    pub rejected: Vec<String>,
}

/// Writes cues as JSON lines to `cues`; summaries to `summaries` if given (one object for
/// one session, an array for several), else after the cues, one per line.
pub fn write_outputs(
    outputs: &[SessionOutput],
    cues: &mut dyn Write,
    summaries: Option<&mut dyn Write>,
) -> std::io::Result<Written> {
    let mut written = Written::default();
    let mut collected: Vec<&SessionSummary> = Vec::new();
    for output in outputs {
        match &output.output {
            OutputBody::Cue(cue) => {
                writeln!(
                    cues,
                    "{}",
                    paceline_schemas::codec::to_json(cue).map_err(std::io::Error::other)?
                )?;
                written.cues += 1;
            }
            OutputBody::Summary(summary) => collected.push(summary),
            OutputBody::Rejected(rejection) => written
                .rejected
                .push(format!("{}: {}", output.session, rejection.reason)),
        }
    }
    written.summaries = collected.len();
    match summaries {
        Some(out) => {
            let text = if collected.len() == 1 {
                paceline_schemas::codec::to_json_pretty(collected[0])
            } else {
                paceline_schemas::codec::to_json_pretty(&collected)
            };
            writeln!(out, "{}", text.map_err(std::io::Error::other)?)?;
        }
        None => {
            for summary in collected {
                writeln!(
                    cues,
                    "{}",
                    paceline_schemas::codec::to_json(summary).map_err(std::io::Error::other)?
                )?;
            }
        }
    }
    Ok(written)
}
